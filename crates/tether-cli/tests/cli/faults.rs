//! Production faults: SIGTERM with clients connected (plain and over TLS),
//! and a server killed under a client.

use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use tether::tls::{ClientTls, Roots};
use tether::{CloseCode, Error, Message};
use tether_testkit::pki::{Leaf, TestPki};
use tokio::time::timeout;

use crate::support::{by_name, next, signal, tether_bin, tether_echo, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_100_clients_with_1001_then_exits() {
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", "127.0.0.1:0", "--grace", "3"]).stderr(Stdio::null());
    let mut server = Server::start(cmd).await;
    let mut clients = Vec::new();
    for _ in 0..100 {
        let mut ws = tether::connect(&server.url).await.unwrap();
        ws.send(Message::text("hi")).await.unwrap();
        assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::text("hi"));
        clients.push(ws);
    }
    let started = std::time::Instant::now();
    signal(&server.child, "TERM");
    let waiters: Vec<_> = clients
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let end = timeout(Duration::from_secs(10), ws.next()).await.expect("close in time");
                assert!(end.is_none(), "{end:?}");
                ws.close_code()
            })
        })
        .collect();
    for w in waiters {
        assert_eq!(w.await.unwrap(), Some(CloseCode::GOING_AWAY));
    }
    let status = timeout(Duration::from_secs(5), server.child.wait()).await.expect("exit within the deadline").unwrap();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
}

/// Over TLS too, `tether echo` checks origins, negotiates its subprotocol,
/// and closes every connection with 1001 on SIGTERM before it exits.
#[tokio::test]
async fn tls_echo_checks_origins_and_closes_with_1001_on_sigterm() {
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let (cert, key) = (id.cert.to_str().unwrap(), id.key.to_str().unwrap());
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", "127.0.0.1:0", "--grace", "3", "--protocol", "chat.v2"])
        .args(["--allow-origin", "https://good.example", "--tls-cert", cert, "--tls-key", key])
        .stderr(Stdio::null());
    let mut server = Server::start(cmd).await;
    let url = by_name(&server.url);
    let tls = || ClientTls::new().roots(Roots::Empty).add_ca_pem_file(&pki.ca).unwrap();
    let evil = tether::connect_with(&url).tls(tls()).origin("https://evil.example").connect().await;
    assert_eq!(evil.unwrap_err().http_status(), Some(http::StatusCode::FORBIDDEN));
    let mut ws = tether::connect_with(&url)
        .tls(tls())
        .origin("https://good.example")
        .protocol("chat.v2")
        .connect()
        .await
        .unwrap();
    assert_eq!(ws.protocol(), Some("chat.v2"));
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::text("hi"));
    signal(&server.child, "TERM");
    assert!(timeout(Duration::from_secs(10), ws.next()).await.expect("close in time").is_none());
    assert_eq!(ws.close_code(), Some(CloseCode::GOING_AWAY));
    let status = timeout(Duration::from_secs(5), server.child.wait()).await.expect("exit in time").unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn killed_server_ends_the_stream_with_an_io_error() {
    let mut server = tether_echo().await;
    let mut ws = tether::connect(&server.url).await.unwrap();
    ws.send(Message::text("before")).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::text("before"));
    server.child.start_kill().unwrap(); // SIGKILL: no close frame, the kernel closes the socket
    match next(&mut ws).await {
        Some(Err(Error::Io(e))) => {
            assert!(matches!(e.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset), "{e}")
        }
        other => panic!("expected an io error, got {other:?}"),
    }
}
