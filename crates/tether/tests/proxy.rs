//! `ws://` and `wss://` through proxies, all on loopback: real proxy
//! servers from Debian's packages (tinyproxy for HTTP `CONNECT`, microsocks
//! for SOCKS5; `scripts/install-servers.sh` installs them) and in-test
//! proxies for the failures, each asserted by its error variant.

#![cfg(feature = "rustls")]

mod common;

use std::time::Duration;

use common::{trusting, EchoServer};
use futures_util::StreamExt;
use tether::{CloseCode, Error, Message, Proxy, ProxyError};
use tether_testkit::pki::{Leaf, TestPki};
use tether_testkit::proxies::{Behaviour, FakeProxy, RealProxy};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

/// Connects to `url` through `proxy`, echoes a text and a binary message,
/// closes; `tls` is used for `wss://`.
async fn echo_through(url: &str, proxy: &str, pki: &TestPki) {
    let proxy: Proxy = proxy.parse().unwrap();
    let mut ws = tether::connect_with(url)
        .proxy(proxy.clone())
        .tls(trusting(pki))
        .protocol("chat.v2")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{url} through {proxy}: {e}"));
    assert_eq!(ws.protocol(), Some("chat.v2"));
    ws.send(Message::text("through the proxy")).await.unwrap();
    ws.send(Message::binary(vec![7u8; 70_000])).await.unwrap();
    assert_eq!(timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap(), Message::text("through the proxy"));
    assert_eq!(timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap(), Message::binary(vec![7u8; 70_000]));
    ws.close(CloseCode::NORMAL, "bye").await.unwrap();
}

/// Connects to `url` through `proxy`, expecting a failure.
async fn error_via(url: &str, proxy: &str) -> Error {
    tether::connect_with(url).proxy(proxy.parse().unwrap()).connect().await.unwrap_err()
}

/// A `ws://` URL where nothing listens.
fn nobody_there() -> String {
    format!("ws://{}/", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap())
}

/// `ws://` and `wss://` (by name and by address) through one proxy URL.
async fn both_schemes_through(proxy: &str) {
    let pki = TestPki::new();
    let plain = EchoServer::plain().await;
    let tls = EchoServer::tls(&pki, Leaf::Good).await;
    echo_through(&plain.url("ws", "127.0.0.1"), proxy, &pki).await;
    echo_through(&tls.url("wss", "localhost"), proxy, &pki).await;
    echo_through(&tls.url("wss", "127.0.0.1"), proxy, &pki).await;
}

// ------------------------------------------------------------ tinyproxy

#[tokio::test]
async fn tinyproxy_tunnels_ws_and_wss() {
    let proxy = RealProxy::tinyproxy(None);
    both_schemes_through(&proxy.url()).await;
}

#[tokio::test]
async fn tinyproxy_with_basic_auth() {
    let proxy = RealProxy::tinyproxy(Some(("tether", "s3cret")));
    both_schemes_through(&proxy.url()).await;

    let server = EchoServer::plain().await;
    // tinyproxy: 407 without credentials, 401 with wrong ones.
    for (auth, what) in [(None, "407"), (Some(("tether", "wrong")), "were refused")] {
        let url = proxy.url_with(auth);
        let err = error_via(&server.url("ws", "127.0.0.1"), &url).await;
        assert!(matches!(err.proxy(), Some(ProxyError::Auth { .. })), "{url}: {err:?}");
        assert!(err.to_string().contains(what), "{err}");
    }
}

#[tokio::test]
async fn tinyproxy_cannot_reach_the_server() {
    let proxy = RealProxy::tinyproxy(None);
    let err = error_via(&nobody_there(), &proxy.url()).await;
    assert!(matches!(err.proxy(), Some(ProxyError::Refused { status: Some(_), .. })), "{err:?}");
    assert!(err.http_status().is_some_and(|s| s.is_server_error()), "{err:?}");
}

// ------------------------------------------------------------ microsocks

#[tokio::test]
async fn microsocks_tunnels_ws_and_wss() {
    let proxy = RealProxy::microsocks(None);
    both_schemes_through(&proxy.url()).await;
    // socks5h: the proxy resolves "localhost" itself.
    both_schemes_through(&proxy.url().replace("socks5://", "socks5h://")).await;
}

#[tokio::test]
async fn microsocks_with_user_and_password() {
    let proxy = RealProxy::microsocks(Some(("tether", "s3cret")));
    both_schemes_through(&proxy.url()).await;

    let server = EchoServer::plain().await;
    for auth in [None, Some(("tether", "wrong")), Some(("nobody", "s3cret"))] {
        let url = proxy.url_with(auth);
        let err = error_via(&server.url("ws", "127.0.0.1"), &url).await;
        assert!(matches!(err.proxy(), Some(ProxyError::Auth { .. })), "{url}: {err:?}");
    }
}

#[tokio::test]
async fn microsocks_cannot_reach_the_server() {
    let proxy = RealProxy::microsocks(None);
    let err = error_via(&nobody_there(), &proxy.url()).await;
    assert!(
        matches!(err.proxy(), Some(ProxyError::Refused { status: None, reason, .. }) if reason.contains("refused")),
        "{err:?}"
    );
}

// ------------------------------------------------------------ in-test proxies

/// Connects to a plain echo server through `proxy_url`; returns the error.
async fn fails_through(proxy_url: &str) -> Error {
    let server = EchoServer::plain().await;
    let config = tether::Config::default().connect_timeout(Duration::from_millis(500));
    tether::connect_with(&server.url("ws", "127.0.0.1"))
        .proxy(proxy_url.parse().unwrap())
        .config(config)
        .connect()
        .await
        .unwrap_err()
}

#[tokio::test]
async fn in_test_http_proxy_auth_refusal_and_garbage() {
    let creds = Some(("me".to_owned(), "p@ss:word".to_owned()));
    let proxy = FakeProxy::http(Behaviour::Tunnel(creds)).await;
    // Percent-encoded credentials arrive decoded, in the Basic header.
    let pki = TestPki::new();
    let tls = EchoServer::tls(&pki, Leaf::Good).await;
    echo_through(&tls.url("wss", "localhost"), &format!("http://me:p%40ss%3Aword@{}", proxy.addr), &pki).await;
    assert_eq!(proxy.targets(), [format!("localhost:{}", tls.addr.port())]);

    let err = fails_through(&format!("http://{}", proxy.addr)).await;
    assert!(matches!(err.proxy(), Some(ProxyError::Auth { .. })), "{err:?}");
    let err = fails_through(&format!("http://me:nope@{}", proxy.addr)).await;
    assert!(matches!(err.proxy(), Some(ProxyError::Auth { reason, .. }) if reason.contains("\"me\"")), "{err:?}");

    let refusing = FakeProxy::http(Behaviour::Refuse).await;
    let err = fails_through(&format!("http://{}", refusing.addr)).await;
    assert!(matches!(err.proxy(), Some(ProxyError::Refused { status: Some(s), .. }) if *s == 403), "{err:?}");

    let garbage = FakeProxy::http(Behaviour::Garbage).await;
    let err = fails_through(&format!("http://{}", garbage.addr)).await;
    assert!(matches!(err.proxy(), Some(ProxyError::Protocol { protocol: "HTTP CONNECT", .. })), "{err:?}");
}

#[tokio::test]
async fn in_test_socks5_proxy_auth_refusal_and_garbage() {
    let proxy = FakeProxy::socks5(Behaviour::Tunnel(Some(("me".into(), "pw".into())))).await;
    let pki = TestPki::new();
    let tls = EchoServer::tls(&pki, Leaf::Good).await;
    echo_through(&tls.url("wss", "localhost"), &format!("socks5h://me:pw@{}", proxy.addr), &pki).await;
    echo_through(&tls.url("wss", "localhost"), &format!("socks5://me:pw@{}", proxy.addr), &pki).await;
    // socks5h sends the name; socks5 resolves it here and sends an address.
    let targets = proxy.targets();
    assert_eq!(targets[0], format!("localhost:{}", tls.addr.port()));
    assert!(
        targets[1].ends_with(&format!(":{}", tls.addr.port())) && !targets[1].starts_with("localhost"),
        "{targets:?}"
    );

    let err = fails_through(&format!("socks5://{}", proxy.addr)).await;
    assert!(
        matches!(err.proxy(), Some(ProxyError::Auth { reason, .. }) if reason.contains("user:password@")),
        "{err:?}"
    );
    let err = fails_through(&format!("socks5://me:nope@{}", proxy.addr)).await;
    assert!(matches!(err.proxy(), Some(ProxyError::Auth { .. })), "{err:?}");

    let refusing = FakeProxy::socks5(Behaviour::Refuse).await;
    let err = fails_through(&format!("socks5://{}", refusing.addr)).await;
    assert!(
        matches!(err.proxy(), Some(ProxyError::Refused { reason, .. }) if reason.contains("not allowed")),
        "{err:?}"
    );

    let garbage = FakeProxy::socks5(Behaviour::Garbage).await;
    let err = fails_through(&format!("socks5://{}", garbage.addr)).await;
    assert!(matches!(err.proxy(), Some(ProxyError::Protocol { protocol: "SOCKS5", .. })), "{err:?}");
}

#[tokio::test]
async fn a_silent_proxy_hits_the_connect_timeout() {
    for socks in [false, true] {
        let proxy =
            if socks { FakeProxy::socks5(Behaviour::Silent).await } else { FakeProxy::http(Behaviour::Silent).await };
        let scheme = if socks { "socks5" } else { "http" };
        let started = std::time::Instant::now();
        let err = fails_through(&format!("{scheme}://{}", proxy.addr)).await;
        assert!(
            matches!(err, Error::ConnectTimeout { ref addr, timeout } if addr.contains("through proxy") && timeout == Duration::from_millis(500)),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[tokio::test]
async fn a_proxy_that_is_not_there_is_refused() {
    let err = fails_through(nobody_there().replace("ws://", "http://").trim_end_matches('/')).await;
    assert!(matches!(err, Error::Refused { ref addr, .. } if addr.ends_with("(the proxy)")), "{err:?}");
    let err = fails_through("socks5://no-such-proxy.invalid:1080").await;
    assert!(matches!(err, Error::Dns { .. }), "{err:?}");
}

#[tokio::test]
async fn socks5_resolves_locally_and_socks5h_does_not() {
    // With socks5:// a bad name fails here, as DNS, before the proxy is asked.
    let proxy = FakeProxy::socks5(Behaviour::Tunnel(None)).await;
    let err = error_via("ws://no-such-host.invalid:80/", &format!("socks5://{}", proxy.addr)).await;
    assert!(matches!(err, Error::Dns { .. }), "{err:?}");
    assert!(proxy.targets().is_empty());
    // With socks5h:// the proxy gets the name (and here cannot resolve it).
    let err = error_via("ws://no-such-host.invalid:80/", &format!("socks5h://{}", proxy.addr)).await;
    assert!(matches!(err.proxy(), Some(ProxyError::Refused { .. })), "{err:?}");
    assert_eq!(proxy.targets(), ["no-such-host.invalid:80"]);
}
