//! `tether connect --http2`: WebSockets over HTTP/2 (RFC 8441) from the
//! command line, against `tether echo` in cleartext (prior knowledge) and
//! over TLS (ALPN `h2`), and the one-line error against a server that does
//! not speak HTTP/2.

use std::process::Stdio;

use tether_testkit::pki::{Leaf, TestPki};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::timeout;

use crate::support::{assert_echoed, by_name, stderr, tether_bin, tether_connect, Server, INPUT, LIMIT};

/// `tether echo` with stderr piped, to see which protocol carried each WebSocket.
async fn echo_server(args: &[&str]) -> (Server, tokio::io::Lines<BufReader<tokio::process::ChildStderr>>) {
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", "127.0.0.1:0"]).args(args).stderr(Stdio::piped());
    let mut server = Server::start(cmd).await;
    let log = BufReader::new(server.child.stderr.take().unwrap()).lines();
    (server, log)
}

/// Reads the server's log until a line says a WebSocket came over HTTP/2.
async fn wait_for_http2(log: &mut tokio::io::Lines<BufReader<tokio::process::ChildStderr>>) -> String {
    loop {
        let line = timeout(LIMIT, log.next_line()).await.unwrap().unwrap().expect("stderr ended");
        if line.contains("over HTTP/2") {
            return line;
        }
    }
}

#[tokio::test]
async fn connect_http2_with_prior_knowledge_over_ws() {
    let (server, mut log) = echo_server(&[]).await;
    let out = tether_connect(&["--http2", &server.url], INPUT, &[]).await;
    assert_echoed(&out);
    assert!(stderr(&out).contains("protocol: HTTP/2 (extended CONNECT)"), "{}", stderr(&out));
    assert!(wait_for_http2(&mut log).await.contains("WebSocket / over HTTP/2"));
}

#[tokio::test]
async fn connect_http2_over_tls_with_alpn() {
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let (cert, key) = (id.cert.to_str().unwrap(), id.key.to_str().unwrap());
    let (server, mut log) = echo_server(&["--tls-cert", cert, "--tls-key", key]).await;
    let url = by_name(&server.url);
    let out = tether_connect(&["--http2", "--ca", pki.ca.to_str().unwrap(), &url], INPUT, &[]).await;
    assert_echoed(&out);
    assert!(stderr(&out).contains("protocol: HTTP/2 (extended CONNECT)"), "{}", stderr(&out));
    assert!(wait_for_http2(&mut log).await.contains("(extended CONNECT, TLS)"));
}

#[tokio::test]
async fn connect_http2_to_an_http1_only_server_is_one_line_with_a_hint() {
    // The library's HTTP/1.1-only server: accept() on a plain listener.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(tether::accept(tcp));
        }
    });
    let out = tether_connect(&["--http2", &format!("ws://{addr}/")], INPUT, &[]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("does not speak HTTP/2") && err.contains("--http2"), "{err}");
}
