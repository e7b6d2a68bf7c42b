//! wss:// from the command line: `tether echo` with a certificate,
//! `tether connect` trusting a private CA, the OS store or nothing, and the
//! one-line errors when TLS fails.

use futures_util::StreamExt;
use tether::{CloseCode, Message};
use tether_testkit::pki::{Leaf, TestPki};

use crate::support::{
    assert_echoed, by_name, next, open, stderr, tether_bin, tether_connect, tether_echo_tls, tether_echo_with, INPUT,
};

#[tokio::test]
async fn cli_wss_echo_with_a_custom_ca() {
    let pki = TestPki::new();
    let server = tether_echo_tls(&pki).await;
    let ca = pki.ca.to_str().unwrap();
    for url in [server.url.clone(), by_name(&server.url)] {
        assert_echoed(&tether_connect(&["--ca", ca, &url], INPUT, &[]).await);
    }
    // The library client against the CLI server.
    let mut ws = open(&by_name(&server.url), Some(&pki)).await;
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::binary(vec![1, 2, 3]));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn cli_connect_to_a_library_tls_server() {
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let tls = tether::tls::ServerTls::from_pem_files(&id.cert, &id.key).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tether::accept(tls.accept(tcp).await.unwrap()).await.unwrap();
        while let Some(Ok(m)) = ws.next().await {
            ws.send(m).await.unwrap();
        }
    });
    let url = format!("wss://localhost:{port}/");
    assert_echoed(&tether_connect(&["--ca", pki.ca.to_str().unwrap(), &url], INPUT, &[]).await);
}

#[tokio::test]
async fn cli_tls_failures_are_one_actionable_line() {
    let pki = TestPki::new();
    let server = tether_echo_tls(&pki).await;
    // Not trusted by the built-in roots.
    let out = tether_connect(&[&by_name(&server.url)], INPUT, &[]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not signed by a trusted certificate authority") && err.contains("--ca FILE"), "{err}");
    // --insecure connects anyway, and says what it costs.
    let out = tether_connect(&["--insecure", &by_name(&server.url)], INPUT, &[]).await;
    assert_echoed(&out);
    assert!(stderr(&out).contains("warning: --insecure"), "{}", stderr(&out));
    // A CA file that is not there.
    let out = tether_connect(&["--ca", "/nonexistent/ca.pem", &server.url], INPUT, &[]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/nonexistent/ca.pem"), "{}", stderr(&out));
    // The server's certificate does not name the host.
    let wrong = pki.identity(Leaf::WrongName);
    let (cert, key) = (wrong.cert.to_str().unwrap(), wrong.key.to_str().unwrap());
    let server = tether_echo_with(&["--tls-cert", cert, "--tls-key", key]).await;
    let out = tether_connect(&["--ca", pki.ca.to_str().unwrap(), &server.url], INPUT, &[]).await;
    assert!(stderr(&out).contains("not valid for that name"), "{}", stderr(&out));
}

#[tokio::test]
async fn echo_with_a_bad_key_file_fails_at_once() {
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let out = tether_bin()
        .args(["echo", "--listen", "127.0.0.1:0", "--tls-cert", id.cert.to_str().unwrap(), "--tls-key"])
        .arg(&pki.ca) // a certificate, not a key
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no URL is printed");
    assert!(stderr(&out).contains("private key"), "{}", stderr(&out));
}

#[tokio::test]
async fn os_roots_are_read_and_combine_with_ca() {
    let pki = TestPki::new();
    let server = tether_echo_tls(&pki).await;
    let url = by_name(&server.url);
    // The OS store loads (else a "TLS setup" error), and does not hold the test CA.
    let out = tether_connect(&["--os-roots", &url], INPUT, &[]).await;
    assert!(stderr(&out).contains("not signed by a trusted certificate authority"), "{}", stderr(&out));
    assert_echoed(&tether_connect(&["--os-roots", "--ca", pki.ca.to_str().unwrap(), &url], INPUT, &[]).await);
}
