//! Server defences: origin allow-list, per-address cap, slow and oversized
//! handshakes.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tether::{Message, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// A running echo server: its address, its URL, and one message each time a
/// connection's handler returns.
struct Started {
    addr: std::net::SocketAddr,
    url: String,
    handler_ended: mpsc::UnboundedReceiver<()>,
}

async fn start(build: impl FnOnce(Server) -> Server, config: tether::Config) -> Started {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = build(Server::from_listener(listener, config));
    let (ended, handler_ended) = mpsc::unbounded_channel();
    tokio::spawn(server.serve(move |mut ws, _| {
        let ended = ended.clone();
        async move {
            while let Some(Ok(m)) = ws.next().await {
                if ws.send(m).await.is_err() {
                    break;
                }
            }
            // The server frees the connection's per-address slot right after
            // this returns, in the same poll.
            let _ = ended.send(());
        }
    }));
    Started { addr, url: format!("ws://{addr}/"), handler_ended }
}

async fn echo_once(url: &str) -> Result<(), tether::Error> {
    let mut ws = tether::connect(url).await?;
    ws.send(Message::text("ping?")).await?;
    assert_eq!(ws.next().await.unwrap()?, Message::text("ping?"));
    Ok(())
}

#[tokio::test]
async fn origins_outside_the_allow_list_get_403() {
    let Started { url, .. } = start(|s| s.allow_origins(["https://app.example.com"]), tether::Config::default()).await;
    let evil = tether::connect_with(&url).origin("https://evil.example").connect().await.unwrap_err();
    assert_eq!(evil.http_status(), Some(http::StatusCode::FORBIDDEN));
    assert!(evil.to_string().contains("origin https://evil.example is not allowed"), "{evil}");
    let good = tether::connect_with(&url).origin("https://APP.example.com").connect().await;
    assert!(good.is_ok(), "case-insensitive match");
    echo_once(&url).await.expect("no Origin: not a browser, accepted");
}

#[tokio::test]
async fn connections_per_address_are_capped() {
    let Started { url, mut handler_ended, .. } =
        start(|s| s.max_connections_per_ip(2), tether::Config::default()).await;
    let a = tether::connect(&url).await.unwrap();
    let _b = tether::connect(&url).await.unwrap();
    assert!(tether::connect(&url).await.is_err(), "a third from 127.0.0.1 is dropped");
    drop(a);
    // a's handler ends; on this single-threaded runtime its slot is free by
    // the time this task runs again.
    handler_ended.recv().await.unwrap();
    echo_once(&url).await.expect("a slot is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_neither_starves_others_nor_lingers() {
    let config = tether::Config::default().handshake_timeout(Duration::from_secs(1));
    let Started { addr, url, .. } = start(|s| s, config).await;
    // 300 connections trickling a handshake one byte at a time.
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"G").await.unwrap();
        slow.push(tcp);
    }
    let trickle = tokio::spawn(async move {
        let started = Instant::now();
        let mut closed_after = Vec::new();
        for tcp in &mut slow {
            let _ = tcp.write_all(b"E").await;
        }
        // Each is cut off by the handshake timeout: reads end (EOF or reset).
        for tcp in &mut slow {
            let mut buf = [0u8; 64];
            let _ = timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.expect("server must drop it");
            closed_after.push(started.elapsed());
        }
        closed_after
    });
    // Meanwhile a real client is served at once.
    let t = Instant::now();
    echo_once(&url).await.unwrap();
    assert!(t.elapsed() < Duration::from_millis(500), "starved: {:?}", t.elapsed());
    let closed = trickle.await.unwrap();
    assert!(closed.iter().all(|d| *d < Duration::from_secs(3)), "slow handshakes linger");
}

#[tokio::test]
async fn oversized_handshakes_are_refused() {
    let Started { addr, .. } = start(|s| s, tether::Config::default()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut request = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    request.extend_from_slice(b"X-Pad: ");
    request.extend(std::iter::repeat_n(b'a', 20_000));
    let _ = tcp.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("larger than 16384 bytes"), "{answer}");
}

#[tokio::test]
async fn pending_handshakes_are_bounded() {
    let config = tether::Config::default().handshake_timeout(Duration::from_secs(30));
    let (failed, mut handshakes_failed) = mpsc::unbounded_channel();
    let bounded = |s: Server| {
        s.max_pending_handshakes(5).on_handshake_error(move |_, _| {
            let _ = failed.send(());
        })
    };
    let Started { addr, url, .. } = start(bounded, config).await;
    let mut idle = Vec::new();
    for _ in 0..5 {
        // A handshake begun, then stalled (one that has not begun is held
        // back by the kernel: see the next test).
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"G").await.unwrap();
        idle.push(tcp);
    }
    // The listener's queue is first in, first out: the server accepts (and
    // takes a permit for) each of the five before it sees the sixth.
    assert!(tether::connect(&url).await.is_err(), "a sixth handshake is dropped while five are pending");
    drop(idle);
    // Each of the five fails at end of file; its permit is released right
    // after the report, before this single-threaded runtime runs this task.
    for _ in 0..5 {
        handshakes_failed.recv().await.unwrap();
    }
    echo_once(&url).await.expect("room again once they are gone");
}

/// The server defers accepting until a connection speaks (Linux's
/// `TCP_DEFER_ACCEPT`), so connections that say nothing take no handshake
/// slot from those that do, for the second the kernel holds them.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn silent_connections_take_no_handshake_slot() {
    let Started { addr, url, .. } = start(|s| s.max_pending_handshakes(2), tether::Config::default()).await;
    echo_once(&url).await.expect("the server runs (it sets up its listener as it starts)");
    let silent: Vec<TcpStream> =
        futures_util::future::try_join_all((0..4).map(|_| TcpStream::connect(addr))).await.unwrap();
    let t = Instant::now();
    echo_once(&url).await.expect("served while four silent connections wait");
    assert!(t.elapsed() < Duration::from_millis(500), "{:?}", t.elapsed());
    drop(silent);

    // Without deferral, two silent connections fill both slots.
    let Started { addr, url, .. } =
        start(|s| s.max_pending_handshakes(2).defer_accept(false), tether::Config::default()).await;
    echo_once(&url).await.expect("the server runs");
    let silent: Vec<TcpStream> =
        futures_util::future::try_join_all((0..2).map(|_| TcpStream::connect(addr))).await.unwrap();
    assert!(tether::connect(&url).await.is_err(), "a third handshake is dropped while two are pending");
    drop(silent);
}
