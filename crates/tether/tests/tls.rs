//! `wss://` over loopback: a tether client against a tether TLS server,
//! with a CA and certificates made when the test starts, and every TLS
//! failure named by its own error variant.

#![cfg(feature = "rustls")]

mod common;

use std::time::Duration;

use common::{trusting, EchoServer};
use futures_util::StreamExt;
use tether::tls::{ClientTls, Roots, ServerTls};
use tether::{CloseCode, CloseFrame, Error, Message, TlsError};
use tether_testkit::pki::{Leaf, TestPki};
use tokio::net::TcpListener;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn wss_echo_with_a_private_ca_by_name_and_by_address() {
    let pki = TestPki::new();
    let mut server = EchoServer::tls(&pki, Leaf::Good).await;
    for url in [server.url("wss", "localhost"), server.url("wss", "127.0.0.1")] {
        let (mut ws, response) = tether::connect_with(&url)
            .tls(trusting(&pki))
            .protocol("chat.v1")
            .protocol("chat.v2")
            .connect_with_response()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(ws.get_ref().is_tls());
        assert_eq!(ws.get_ref().alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(ws.protocol(), Some("chat.v2"));
        assert_eq!(response.headers.get("x-served-by").unwrap(), "tether-test");

        let blob: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        ws.send(Message::text("Hello over TLS!")).await.unwrap();
        ws.send(Message::binary(blob.clone())).await.unwrap();
        assert_eq!(timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap(), Message::text("Hello over TLS!"));
        assert_eq!(timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap(), Message::binary(blob));
        ws.close(CloseCode(4000), "tls bye").await.unwrap();
        assert_eq!(ws.close_frame(), Some(&CloseFrame::new(CloseCode(4000), "tls bye")));
        let at_server = timeout(LIMIT, server.outcomes.recv()).await.unwrap().unwrap().unwrap();
        assert_eq!(at_server, Some(CloseFrame::new(CloseCode(4000), "tls bye")));
    }
}

#[tokio::test]
async fn wss_over_ipv6_loopback() {
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let tls = ServerTls::from_pem_files(&id.cert, &id.key).unwrap();
    let listener = TcpListener::bind("[::1]:0").await.expect("IPv6 loopback");
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tether::accept(tls.accept(tcp).await.unwrap()).await.unwrap();
        while let Some(Ok(m)) = ws.next().await {
            ws.send(m).await.unwrap();
        }
    });
    let mut ws = tether::connect_with(&format!("wss://[::1]:{port}/")).tls(trusting(&pki)).connect().await.unwrap();
    ws.send(Message::text("v6")).await.unwrap();
    assert_eq!(timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap(), Message::text("v6"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

/// Connects with the test CA trusted; returns the client's error and what
/// the server saw.
async fn failure(leaf: Leaf, host: &str) -> (Error, Error) {
    let pki = TestPki::new();
    let mut server = EchoServer::tls(&pki, leaf).await;
    let err = tether::connect_with(&server.url("wss", host)).tls(trusting(&pki)).connect().await.unwrap_err();
    let at_server = timeout(LIMIT, server.outcomes.recv()).await.unwrap().unwrap().unwrap_err();
    (err, at_server)
}

#[tokio::test]
async fn unknown_issuer_is_its_own_error() {
    let (err, at_server) = failure(Leaf::UnknownIssuer, "localhost").await;
    assert!(matches!(err.tls(), Some(TlsError::UnknownIssuer { host, .. }) if host == "localhost"), "{err:?}");
    assert!(matches!(
        err.tls_cause(),
        Some(tether::tls::rustls::Error::InvalidCertificate(tether::tls::rustls::CertificateError::UnknownIssuer))
    ));
    assert!(err.to_string().contains("not signed by a trusted certificate authority"), "{err}");
    // The server learns why from the client's alert.
    assert!(matches!(at_server.tls(), Some(TlsError::Handshake { .. })), "{at_server:?}");
    assert!(at_server.tls_cause().is_some(), "{at_server:?}");
}

#[tokio::test]
async fn name_mismatch_is_its_own_error() {
    let (err, _) = failure(Leaf::WrongName, "localhost").await;
    assert!(matches!(err.tls(), Some(TlsError::NameMismatch { .. })), "{err:?}");
    assert!(err.to_string().contains("other.invalid"), "the error lists the names the certificate holds: {err}");
    // An address the certificate does not list is a mismatch too.
    let (err, _) = failure(Leaf::WrongName, "127.0.0.1").await;
    assert!(matches!(err.tls(), Some(TlsError::NameMismatch { .. })), "{err:?}");
}

#[tokio::test]
async fn expired_certificate_is_its_own_error() {
    let (err, _) = failure(Leaf::Expired, "localhost").await;
    assert!(matches!(err.tls(), Some(TlsError::Expired { .. })), "{err:?}");
    assert!(err.to_string().contains("expired"), "{err}");
}

#[tokio::test]
async fn default_roots_do_not_trust_a_private_ca() {
    let pki = TestPki::new();
    let server = EchoServer::tls(&pki, Leaf::Good).await;
    let err = tether::connect(&server.url("wss", "localhost")).await.unwrap_err();
    assert!(matches!(err.tls(), Some(TlsError::UnknownIssuer { .. })), "{err:?}");
}

#[tokio::test]
async fn insecure_mode_accepts_any_certificate() {
    for leaf in [Leaf::UnknownIssuer, Leaf::Expired, Leaf::WrongName] {
        let pki = TestPki::new();
        let server = EchoServer::tls(&pki, leaf).await;
        let tls = ClientTls::new().danger_accept_invalid_certs(true);
        assert!(tls.is_insecure());
        let mut ws = tether::connect_with(&server.url("wss", "localhost")).tls(tls).connect().await.unwrap();
        ws.send(Message::text("anyway")).await.unwrap();
        assert_eq!(timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap(), Message::text("anyway"));
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    }
}

#[tokio::test]
async fn a_server_that_does_not_speak_tls_is_a_handshake_failure() {
    // A plain ws:// server answers the ClientHello with an HTTP 400.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(tether::accept(tcp));
        }
    });
    let err = tether::connect(&format!("wss://localhost:{port}/")).await.unwrap_err();
    assert!(matches!(err.tls(), Some(TlsError::Handshake { .. })), "{err:?}");
    assert!(err.tls_cause().is_some(), "rustls saw a record that is not TLS: {err:?}");

    // A server that hangs up at once: the cause is the IO error.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            drop(tcp);
        }
    });
    let err = tether::connect(&format!("wss://localhost:{port}/")).await.unwrap_err();
    assert!(matches!(err.tls(), Some(TlsError::Handshake { .. })), "{err:?}");
    assert!(err.tls_cause().is_none(), "{err:?}");
}

#[tokio::test]
async fn a_silent_tls_server_hits_the_handshake_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp); // accepted, never answered
        }
    });
    let config = tether::Config::default().handshake_timeout(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let err = tether::connect_with(&format!("wss://localhost:{port}/")).config(config).connect().await.unwrap_err();
    assert!(matches!(err, Error::HandshakeTimeout(d) if d == Duration::from_millis(300)), "{err:?}");
    assert!(err.is_timeout());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn tls_setup_errors_name_the_file() {
    let pki = TestPki::new();
    let missing = pki.dir().join("missing.pem");
    let err = ClientTls::new().add_ca_pem_file(&missing).unwrap_err();
    assert!(matches!(err.tls(), Some(TlsError::Config(m)) if m.contains("missing.pem")), "{err:?}");
    // A key file is not a CA file.
    let key = &pki.identity(Leaf::Good).key;
    let err = ClientTls::new().add_ca_pem_file(key).unwrap_err();
    assert!(matches!(err.tls(), Some(TlsError::Config(m)) if m.contains("no CERTIFICATE")), "{err:?}");
    // Certificate and key that do not belong together.
    let good = pki.identity(Leaf::Good);
    let other = pki.identity(Leaf::Expired);
    let err = ServerTls::from_pem_files(&good.cert, &other.key).unwrap_err();
    assert!(matches!(err.tls(), Some(TlsError::Config(_))), "{err:?}");
    // Only custom roots, none added: said before any connection is made.
    let err = ClientTls::new().roots(Roots::Empty).build().unwrap_err();
    assert!(matches!(err.tls(), Some(TlsError::Config(m)) if m.contains("no trusted root")), "{err:?}");
}

#[tokio::test]
async fn a_rustls_config_of_ones_own_is_used_as_given() {
    let pki = TestPki::new();
    let server = EchoServer::tls(&pki, Leaf::Good).await;
    let config = trusting(&pki).build().unwrap();
    // Shared by several connections.
    for _ in 0..3 {
        let tls = ClientTls::from_rustls_config(config.clone());
        let mut ws = tether::connect_with(&server.url("wss", "localhost")).tls(tls).connect().await.unwrap();
        ws.send(Message::text("shared")).await.unwrap();
        assert_eq!(timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap(), Message::text("shared"));
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    }
}

/// `Server::serve_tls` keeps every part of the plain server: the origin
/// check, the caller's subprotocol and headers, the report of failed
/// handshakes, and the graceful shutdown that closes each connection with 1001.
#[tokio::test]
async fn a_tls_server_checks_origins_and_shuts_down_gracefully() {
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let tls = ServerTls::from_pem_files(&id.cert, &id.key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (report, mut failures) = tokio::sync::mpsc::unbounded_channel();
    let server = tether::Server::from_listener(listener, tether::Config::default())
        .allow_origins(["https://good.example"])
        .on_handshake_error(move |_, e| {
            let _ = report.send(e.to_string());
        })
        .on_request(|req| {
            let chosen = req.protocols().iter().find(|p| *p == "chat.v2").cloned();
            Ok(tether::Accept::new().protocol(chosen).header("x-served-by", "tether-tls"))
        });
    let shutdown = server.shutdown_handle();
    let serving = tokio::spawn(server.serve_tls(tls, |mut ws, _| async move {
        while let Some(Ok(message)) = ws.next().await {
            if ws.send(message).await.is_err() {
                break;
            }
        }
    }));
    let url = format!("wss://localhost:{port}/");

    let evil = tether::connect_with(&url).tls(trusting(&pki)).origin("https://evil.example").connect().await;
    assert_eq!(evil.unwrap_err().http_status(), Some(http::StatusCode::FORBIDDEN));
    let failure = timeout(LIMIT, failures.recv()).await.unwrap().unwrap();
    assert!(failure.contains("https://evil.example"), "{failure}");
    // A client that does not trust the certificate fails the TLS handshake.
    let untrusting = ClientTls::new().roots(Roots::Empty);
    assert!(tether::connect_with(&url).tls(untrusting).connect().await.is_err());
    let failure = timeout(LIMIT, failures.recv()).await.unwrap().unwrap();
    assert!(failure.to_lowercase().contains("tls"), "{failure}");

    let (mut ws, response) = tether::connect_with(&url)
        .tls(trusting(&pki))
        .origin("https://good.example")
        .protocol("chat.v1")
        .protocol("chat.v2")
        .connect_with_response()
        .await
        .unwrap();
    assert!(ws.get_ref().is_tls());
    assert_eq!(ws.protocol(), Some("chat.v2"));
    assert_eq!(response.headers.get("x-served-by").unwrap(), "tether-tls");
    ws.send(Message::text("over tls")).await.unwrap();
    assert_eq!(timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap(), Message::text("over tls"));

    // A client's close is answered: the server's close frame waits in the
    // TLS session for its close_notify, and both leave in one write.
    let mut leaving =
        tether::connect_with(&url).tls(trusting(&pki)).origin("https://good.example").connect().await.unwrap();
    timeout(LIMIT, leaving.close(CloseCode(4000), "tls bye")).await.unwrap().unwrap();
    assert_eq!(leaving.close_frame(), Some(&CloseFrame::new(CloseCode(4000), "tls bye")));
    assert!(timeout(LIMIT, leaving.next()).await.unwrap().is_none());

    shutdown.shutdown();
    assert!(timeout(LIMIT, ws.next()).await.unwrap().is_none(), "the stream ends cleanly");
    assert_eq!(ws.close_frame().map(|f| f.code), Some(CloseCode::GOING_AWAY));
    timeout(LIMIT, serving).await.unwrap().unwrap().unwrap();
}
