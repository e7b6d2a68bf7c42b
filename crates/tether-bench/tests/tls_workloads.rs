//! The workloads over TLS (`wss://` and a raw `tls://` echo) against servers
//! in this process with a certificate of tether-testkit's PKI: every byte
//! checked, the one pinned cipher suite negotiated, and a certificate the
//! generator does not trust refused.

use std::time::Duration;

use futures_util::StreamExt;
use tether_bench::echo_load::{self, EchoPlan};
use tether_bench::idle_load::{self, IdlePlan};
use tether_bench::tls::{ClientTls, DEFAULT_SUITE};
mod common;

use common::options;
use tether_bench::{setup_load, Kind, Target};
use tether_testkit::pki::{Leaf, TestPki};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A tether echo server over TLS on a free port; returns its URL.
async fn wss_server(pki: &TestPki) -> String {
    wss_server_with(pki, Leaf::Good).await
}

/// The same with a certificate of the caller's choice.
async fn wss_server_with(pki: &TestPki, leaf: Leaf) -> String {
    let id = pki.identity(leaf);
    let tls = tether::tls::ServerTls::from_pem_files(&id.cert, &id.key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("wss://{}/", listener.local_addr().unwrap());
    let server = tether::Server::from_listener(listener, tether::Config::default());
    tokio::spawn(server.serve_tls(tls, |mut ws, _| async move {
        while let Some(Ok(message)) = ws.next().await {
            if ws.send(message).await.is_err() {
                return;
            }
        }
    }));
    url
}

/// A raw TLS echo (no WebSocket) on a free port; returns its URL.
async fn raw_tls_server(pki: &TestPki) -> String {
    let id = pki.identity(Leaf::Good);
    let tls = tether::tls::ServerTls::from_pem_files(&id.cert, &id.key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("tls://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = tls.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = tls.accept(tcp).await else { return };
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    if stream.write_all(&buf[..n]).await.is_err() || stream.flush().await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn target(url: &str, ca: &std::path::Path, suite: &str) -> Target {
    Target::parse(url).unwrap().with_tls(&ClientTls::new(ca, suite).unwrap())
}

fn plan(size: usize, messages: u64) -> EchoPlan {
    EchoPlan { conns: 3, in_flight: 2, size, kind: Kind::Binary, check: true, messages: Some(messages), rate: None }
}

#[tokio::test]
async fn wss_echo_checks_every_byte_with_the_pinned_suite() {
    let pki = TestPki::new();
    let url = wss_server(&pki).await;
    let mut options = options(&url);
    // Bounded by the message count, not the clock.
    options.duration = Duration::from_secs(30);
    for (size, suite) in [(20, DEFAULT_SUITE), (40_000, DEFAULT_SUITE), (1000, "TLS13_AES_256_GCM_SHA384")] {
        let report = echo_load::run(target(&url, &pki.ca, suite), plan(size, 30), &options).await.unwrap();
        assert_eq!((report.errors, report.ops), (0, 90), "{size} B: {:?}", report.error_samples);
        assert_eq!(report.bytes, 90 * size as u64);
        assert_eq!(report.to_json()["tls"], format!("{suite} X25519"));
    }
}

#[tokio::test]
async fn raw_tls_echo_is_a_target_too() {
    let pki = TestPki::new();
    let url = raw_tls_server(&pki).await;
    let mut options = options(&url);
    options.duration = Duration::from_secs(30);
    let report = echo_load::run(target(&url, &pki.ca, DEFAULT_SUITE), plan(16 * 1024, 20), &options).await.unwrap();
    assert_eq!((report.errors, report.ops), (0, 60), "{:?}", report.error_samples);
    assert_eq!(report.to_json()["tls"], format!("{DEFAULT_SUITE} X25519"));
}

#[tokio::test]
async fn wss_setup_makes_full_handshakes_and_closes() {
    let pki = TestPki::new();
    let url = wss_server(&pki).await;
    let report = setup_load::run(target(&url, &pki.ca, DEFAULT_SUITE), 2, &options(&url)).await.unwrap();
    assert_eq!(report.errors, 0, "{:?}", report.error_samples);
    assert!(report.ops > 0, "no setup completed in the window");
    assert_eq!(report.to_json()["tls"], format!("{DEFAULT_SUITE} X25519"));
}

#[tokio::test]
async fn wss_idle_connections_are_held() {
    let pki = TestPki::new();
    let url = wss_server(&pki).await;
    let plan = IdlePlan { conns: 4, size: 20, hold: Duration::ZERO, answer_pings: 0 };
    let report = idle_load::run(target(&url, &pki.ca, DEFAULT_SUITE), plan, &options(&url)).await.unwrap();
    assert_eq!((report.errors, report.held), (0, 4), "{:?}", report.error_samples);
}

#[tokio::test]
async fn an_untrusted_certificate_or_no_ca_is_refused() {
    let pki = TestPki::new();
    let url = wss_server(&pki).await;
    // One client config that has verified a good certificate still checks
    // another one: an expired certificate of the same CA is refused.
    let tls = ClientTls::new(&pki.ca, DEFAULT_SUITE).unwrap();
    let report = echo_load::run(Target::parse(&url).unwrap().with_tls(&tls), plan(20, 1), &options(&url)).await;
    assert_eq!(report.unwrap().errors, 0);
    let expired = wss_server_with(&pki, Leaf::Expired).await;
    let to_expired = Target::parse(&expired).unwrap().with_tls(&tls);
    let err = echo_load::run(to_expired, plan(20, 1), &options(&expired)).await.unwrap_err();
    assert!(err.contains("certificate expired"), "{err}");
    let stranger = TestPki::new();
    let err = echo_load::run(target(&url, &stranger.ca, DEFAULT_SUITE), plan(20, 1), &options(&url)).await.unwrap_err();
    // Its CA bears the same name as the trusted one: the signature fails.
    assert!(err.contains("invalid peer certificate"), "{err}");
    let err = echo_load::run(Target::parse(&url).unwrap(), plan(20, 1), &options(&url)).await.unwrap_err();
    assert!(err.contains("--ca"), "{err}");
    let err = ClientTls::new(&pki.ca, "TLS_NOPE").unwrap_err();
    assert!(err.contains(DEFAULT_SUITE), "the known suites are listed: {err}");
    let missing = pki.dir().join("missing.pem");
    assert!(ClientTls::new(&missing, DEFAULT_SUITE).is_err());
}
