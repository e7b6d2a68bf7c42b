//! `tether connect` through proxies (tinyproxy, microsocks, and ones that
//! misbehave), chosen by flag or by the environment as curl reads it, and
//! its named timeouts.

use tether_testkit::pki::TestPki;
use tether_testkit::proxies::{Behaviour, FakeProxy, RealProxy};

use crate::support::{assert_echoed, by_name, stderr, tether_connect, tether_echo, tether_echo_tls, Server, INPUT};

/// What the proxy tests reach through the proxies: `tether echo` over
/// wss:// (by name, as `wss`, trusting the CA file `ca`) and over ws://.
struct Targets {
    wss: String,
    ca: String,
    plain: Server,
    _tls: Server,
    _pki: TestPki,
}

async fn targets() -> Targets {
    let pki = TestPki::new();
    let tls = tether_echo_tls(&pki).await;
    let ca = pki.ca.to_str().unwrap().to_owned();
    Targets { wss: by_name(&tls.url), ca, plain: tether_echo().await, _tls: tls, _pki: pki }
}

#[tokio::test]
async fn cli_timeouts_are_named() {
    let silent = FakeProxy::http(Behaviour::Silent).await;
    let server = tether_echo().await;
    let proxy = format!("http://{}", silent.addr);
    let out = tether_connect(&["--proxy", &proxy, "--connect-timeout", "0.3", &server.url], INPUT, &[]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("timed out after 300ms") && stderr(&out).contains("--connect-timeout"),
        "{}",
        stderr(&out)
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let out = tether_connect(&["--handshake-timeout", "0.3", &url], INPUT, &[]).await;
    assert!(
        stderr(&out).contains("handshake timed out") && stderr(&out).contains("--handshake-timeout"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn cli_through_tinyproxy_and_microsocks() {
    let Targets { wss, ca, plain, .. } = &targets().await;
    let tiny = RealProxy::tinyproxy(Some(("cli", "pw")));
    let socks = RealProxy::microsocks(Some(("cli", "pw")));
    for proxy in [tiny.url(), socks.url(), socks.url().replace("socks5:", "socks5h:")] {
        assert_echoed(&tether_connect(&["--proxy", &proxy, "--ca", ca, wss], INPUT, &[]).await);
        assert_echoed(&tether_connect(&["-x", &proxy, &plain.url], INPUT, &[]).await);
    }
    let out = tether_connect(&["--proxy", &tiny.url_with(None), &plain.url], INPUT, &[]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("requires authentication") && stderr(&out).contains("USER:PASSWORD@"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn cli_reads_the_proxy_environment_like_curl() {
    let Targets { wss, ca, plain, .. } = &targets().await;
    let socks = RealProxy::microsocks(None);
    let tiny = RealProxy::tinyproxy(None);
    let dead = format!("http://{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap());

    // HTTPS_PROXY for wss://, http_proxy for ws://: a dead proxy proves it is used.
    let out = tether_connect(&["--ca", ca, wss], INPUT, &[("HTTPS_PROXY", &dead)]).await;
    assert!(stderr(&out).contains("(the proxy)"), "{}", stderr(&out));
    assert_echoed(&tether_connect(&["--ca", ca, wss], INPUT, &[("HTTPS_PROXY", &socks.url())]).await);
    assert_echoed(&tether_connect(&[&plain.url], INPUT, &[("http_proxy", &tiny.url())]).await);
    // ALL_PROXY covers both.
    assert_echoed(&tether_connect(&["--ca", ca, wss], INPUT, &[("ALL_PROXY", &tiny.url())]).await);
    // Upper-case HTTP_PROXY is ignored, as curl does.
    assert_echoed(&tether_connect(&[&plain.url], INPUT, &[("HTTP_PROXY", &dead)]).await);
    // NO_PROXY exempts hosts; --proxy "" ignores the environment.
    assert_echoed(
        &tether_connect(&["--ca", ca, wss], INPUT, &[("HTTPS_PROXY", &dead), ("NO_PROXY", "localhost")]).await,
    );
    assert_echoed(&tether_connect(&[&plain.url], INPUT, &[("all_proxy", &dead), ("no_proxy", "127.0.0.0/8")]).await);
    assert_echoed(&tether_connect(&["--proxy", "", &plain.url], INPUT, &[("all_proxy", &dead)]).await);
    // --proxy wins over the environment.
    assert_echoed(&tether_connect(&["--proxy", &socks.url(), &plain.url], INPUT, &[("all_proxy", &dead)]).await);
}
