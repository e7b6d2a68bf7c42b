//! `tether echo --static DIR`: the files of DIR over plain HTTP (and HTTPS
//! with a certificate) on the WebSocket port, with their content types,
//! and nothing outside DIR, however the path is spelled.

use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use tether::{CloseCode, Message};
use tether_testkit::pki::{Leaf, TestPki};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use crate::support::{tether_echo_with, LIMIT};

/// DIR with an app in it, and a secret beside DIR (plus a symlink to it).
fn site(tmp: &Path) -> String {
    let site = tmp.join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("index.html"), "<!doctype html><title>static</title>").unwrap();
    std::fs::write(site.join("pkg/app.js"), "export {};").unwrap();
    std::fs::write(site.join("pkg/app_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(tmp.join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(tmp.join("secret.txt"), site.join("leak.txt")).unwrap();
    site.to_str().unwrap().to_owned()
}

/// Sends one raw request and reads the answer until the server closes.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, request: &str) -> String {
    io.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    timeout(LIMIT, io.read_to_end(&mut answer)).await.unwrap().unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn request(addr: &str, method: &str, path: &str) -> String {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    exchange(tcp, &format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")).await
}

fn status(answer: &str) -> &str {
    answer.split(' ').nth(1).unwrap_or("")
}

#[tokio::test]
async fn echo_static_serves_dir_and_nothing_outside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let server = tether_echo_with(&["--static", &site(tmp.path())]).await;
    let addr = server.url.trim_start_matches("ws://").trim_end_matches('/').to_owned();

    let index = request(&addr, "GET", "/").await;
    assert!(index.starts_with("HTTP/1.1 200 OK\r\n"), "{index}");
    assert!(index.contains("content-type: text/html; charset=utf-8\r\n") && index.ends_with("<title>static</title>"));
    let wasm = request(&addr, "GET", "/pkg/app_bg.wasm").await;
    assert!(wasm.contains("content-type: application/wasm\r\n") && wasm.ends_with("\0asm\x01\0\0\0"), "{wasm}");
    let js = request(&addr, "HEAD", "/pkg/app.js").await;
    assert!(js.contains("content-type: text/javascript; charset=utf-8\r\n"), "{js}");
    assert!(js.contains("Content-Length: 10\r\n") && js.ends_with("\r\n\r\n"), "HEAD has no body: {js}");

    for path in ["/../secret.txt", "/%2e%2e/secret.txt", "/pkg/%2E%2E/%2e%2e/secret.txt", "/..%2fsecret.txt"] {
        assert_eq!(status(&request(&addr, "GET", path).await), "400", "{path}");
    }
    for path in ["/leak.txt", "//etc/passwd", "/missing.png"] {
        assert_eq!(status(&request(&addr, "GET", path).await), "404", "{path}");
    }
    let post = request(&addr, "POST", "/").await;
    assert!(post.starts_with("HTTP/1.1 405 ") && post.contains("allow: GET\r\n"), "{post}");

    // The WebSockets still work on the same port, /image included.
    let mut ws = tether::connect(&format!("{}image", server.url)).await.unwrap();
    let png = timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(png, Message::Binary(ref b) if b.starts_with(b"\x89PNG")), "{png:?}");
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap(), Message::text("hi"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn echo_static_over_tls() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let (cert, key) = (id.cert.to_str().unwrap(), id.key.to_str().unwrap());
    let server = tether_echo_with(&["--static", &site(tmp.path()), "--tls-cert", cert, "--tls-key", key]).await;
    let addr = server.url.trim_start_matches("wss://").trim_end_matches('/').to_owned();

    let tls = tether::tls::ClientTls::new().roots(tether::tls::Roots::Empty).add_ca_pem_file(&pki.ca).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&tls.build().unwrap()));
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let io = connector.connect(name, tcp).await.unwrap();
    let answer = exchange(io, "GET /pkg/app_bg.wasm HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.contains("content-type: application/wasm\r\n"));
}

#[tokio::test]
async fn echo_static_needs_a_directory() {
    let out = crate::support::tether_bin()
        .args(["echo", "--listen", "127.0.0.1:0", "--static", "/nonexistent/dir"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--static /nonexistent/dir"));
}
