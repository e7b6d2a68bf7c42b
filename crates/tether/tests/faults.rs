//! Production behaviour against real faults on loopback: a black-holed
//! path, silent and non-reading peers, a server going away and coming
//! back, graceful shutdown, and racing inside `select!`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tether::proto::handshake::client::{ClientHandshake, ClientRequest};
use tether::{Backpressure, CloseCode, ConnectionEvent, Error, Message, ReconnectPolicy, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// An echo server on its own task; returns its address and shutdown handle.
async fn echo_server(listener: TcpListener, config: tether::Config) -> tether::ShutdownHandle {
    let server = Server::from_listener(listener, config).grace_period(Duration::from_secs(2));
    let handle = server.shutdown_handle();
    tokio::spawn(server.serve(|mut ws, _| async move {
        while let Some(Ok(m)) = ws.next().await {
            if ws.send(m).await.is_err() {
                break;
            }
        }
    }));
    handle
}

async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    (listener, url)
}

/// A TCP relay that can start swallowing everything without closing: a
/// black hole, as when a NAT or a cable drops the path.
async fn relay_to(target: std::net::SocketAddr) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let hole = Arc::new(AtomicBool::new(false));
    let flag = hole.clone();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(target).await.unwrap();
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        let pump = |mut r: tokio::net::tcp::OwnedReadHalf,
                    mut w: tokio::net::tcp::OwnedWriteHalf,
                    hole: Arc<AtomicBool>| async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match r.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if !hole.load(Ordering::SeqCst) && w.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        };
        let a = tokio::spawn(pump(cr, sw, flag.clone()));
        let b = tokio::spawn(pump(sr, cw, flag));
        let _ = tokio::join!(a, b);
    });
    (url, hole)
}

#[tokio::test]
async fn keepalive_detects_a_black_holed_peer() {
    let (listener, _) = bind().await;
    let target = listener.local_addr().unwrap();
    let _server = echo_server(listener, tether::Config::default()).await;
    let (url, hole) = relay_to(target).await;
    let (interval, pong_timeout) = (Duration::from_millis(200), Duration::from_millis(300));
    let config = tether::Config::default().keepalive(Some(interval), pong_timeout);
    let mut ws = tether::connect_with(&url).config(config).connect().await.unwrap();
    ws.send(Message::text("alive")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("alive"));
    // Ping cycles complete while the path works (pings go out as we read).
    let _ = timeout(interval * 3, ws.next()).await;
    ws.send(Message::text("still")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("still"));
    let rtt = ws.rtt().expect("round-trip time of the last ping");
    assert!(rtt < Duration::from_millis(100), "{rtt:?}");

    hole.store(true, Ordering::SeqCst);
    let cut = Instant::now();
    let end = timeout(Duration::from_secs(5), ws.next()).await.expect("keepalive must notice");
    assert!(matches!(end, Some(Err(Error::KeepaliveTimeout { .. }))), "{end:?}");
    let took = cut.elapsed();
    assert!(took <= interval + pong_timeout + Duration::from_millis(250), "noticed after {took:?}");
}

#[tokio::test]
async fn idle_timeout_closes_with_1001() {
    let (listener, url) = bind().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let config = tether::Config::default().idle_timeout(Some(Duration::from_millis(300)));
        let mut ws = tether::accept_with(tcp, config, |_| Ok(tether::Accept::new())).await.unwrap();
        let started = Instant::now();
        (ws.next().await, started.elapsed())
    });
    let quiet = tether::Config::default().keepalive(None, Duration::from_secs(1));
    let mut client = tether::connect_with(&url).config(quiet).connect().await.unwrap();
    assert!(client.next().await.is_none());
    assert_eq!(client.close_code(), Some(CloseCode::GOING_AWAY));
    assert_eq!(client.close_reason(), Some("idle timeout"));
    let (end, after) = server.await.unwrap();
    assert!(matches!(end, Some(Err(Error::IdleTimeout(_)))), "{end:?}");
    assert!(after >= Duration::from_millis(300) && after < Duration::from_secs(3), "{after:?}");
}

/// Upgrades a raw TCP connection and then never reads from it.
async fn non_reading_client(url_addr: std::net::SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(url_addr).await.unwrap();
    let request = ClientRequest { host: url_addr.to_string(), path: "/".into(), ..Default::default() };
    let (hs, bytes) = ClientHandshake::new(&request).unwrap();
    tcp.write_all(&bytes).await.unwrap();
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
        if hs.read_response(&buf).unwrap().is_some() {
            return tcp;
        }
    }
}

async fn flood_until_policy_fires(policy: Backpressure) -> (Error, usize, usize) {
    let (listener, _) = bind().await;
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let config = tether::Config::default().backpressure(policy).deflate(None);
        let mut ws = tether::accept_with(tcp, config, |_| Ok(tether::Accept::new())).await.unwrap();
        let chunk = Message::binary(vec![0u8; 64 * 1024]);
        let mut most = 0;
        for sent in 0.. {
            if let Err(e) = ws.feed(chunk.clone()).await {
                return (e, most, sent);
            }
            most = most.max(ws.buffered_amount());
        }
        unreachable!()
    });
    let _client = non_reading_client(addr).await;
    timeout(Duration::from_secs(20), server).await.expect("the policy must fire").unwrap()
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_with_memory_bounded() {
    let limit = 1 << 20;
    let (error, most, sent) =
        flood_until_policy_fires(Backpressure::Close { limit, code: CloseCode::TRY_AGAIN_LATER }).await;
    assert!(matches!(error, Error::SlowConsumer { .. }), "{error}");
    assert!(most <= limit + 64 * 1024 + 64, "queue peaked at {most} bytes");
    assert!(sent > 16, "the socket buffers took some first ({sent} messages)");
    let (error, most, _) = flood_until_policy_fires(Backpressure::Drop { limit }).await;
    assert!(matches!(error, Error::SlowConsumer { .. }), "{error}");
    assert!(most <= limit + 64 * 1024 + 64, "queue peaked at {most} bytes");
}

#[tokio::test]
async fn by_default_send_waits_and_try_send_reports_full() {
    let (listener, _) = bind().await;
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let config = tether::Config::default().deflate(None);
        let ws = tether::accept_with(tcp, config, |_| Ok(tether::Accept::new())).await.unwrap();
        let (tx, _rx) = ws.split();
        let chunk = Message::binary(vec![0u8; 64 * 1024]);
        loop {
            match tx.try_send(chunk.clone()) {
                Ok(()) => {}
                Err(Error::Full) => break,
                Err(e) => panic!("{e}"),
            }
        }
        // send() now waits instead of growing the queue.
        timeout(Duration::from_millis(300), tx.send(chunk)).await.is_err()
    });
    let _client = non_reading_client(addr).await;
    assert!(server.await.unwrap(), "send must wait while the peer does not read");
}

#[tokio::test]
async fn graceful_shutdown_closes_every_client_with_1001() {
    let (listener, url) = bind().await;
    let server = Server::from_listener(listener, tether::Config::default()).grace_period(Duration::from_secs(3));
    let handle = server.shutdown_handle();
    let serving = tokio::spawn(server.serve(|mut ws, _| async move {
        while let Some(Ok(m)) = ws.next().await {
            let _ = ws.send(m).await;
        }
    }));
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut ws = tether::connect(&url).await.unwrap();
        ws.send(Message::text("hi")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hi"));
        clients.push(ws);
    }
    let started = Instant::now();
    handle.shutdown();
    for ws in &mut clients {
        assert!(timeout(Duration::from_secs(5), ws.next()).await.unwrap().is_none());
        assert_eq!(ws.close_code(), Some(CloseCode::GOING_AWAY));
    }
    timeout(Duration::from_secs(5), serving).await.unwrap().unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "clients answered: no need to wait out the grace period");
    assert!(tether::connect(&url).await.is_err(), "no longer accepting");
}

#[tokio::test]
async fn reconnects_after_the_server_goes_away_and_delivers_the_outbox_in_order() {
    let (listener, url) = bind().await;
    let addr = listener.local_addr().unwrap();
    // The first server runs on a task we can kill: aborting it drops every
    // connection without a close frame, as a crashed process would.
    let server = Server::from_listener(listener, tether::Config::default());
    let first = tokio::spawn(server.serve(|mut ws, _| async move {
        while let Some(Ok(m)) = ws.next().await {
            let _ = ws.send(m).await;
        }
    }));
    let policy = ReconnectPolicy::default().delays(Duration::from_millis(50), Duration::from_millis(200)).outbox(500);
    let greetings = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = greetings.clone();
    let mut client = tether::connect_with(&url)
        .reconnect(policy)
        .on_connect(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            vec![Message::text(format!("hello #{n}"))]
        })
        .start();
    let mut events = client.events().unwrap();
    let tx = client.sender();
    assert_eq!(events.next().await, Some(ConnectionEvent::Connecting { attempt: 0 }));
    assert_eq!(events.next().await, Some(ConnectionEvent::Open));
    assert_eq!(client.next().await, Some(Message::text("hello #0")));
    tx.send("before").await.unwrap();
    assert_eq!(client.next().await, Some(Message::text("before")));

    first.abort(); // the server crashes mid-session
    loop {
        match timeout(Duration::from_secs(5), events.next()).await.unwrap() {
            Some(ConnectionEvent::Reconnecting { reason, .. }) => {
                assert!(reason.contains("connection lost"), "{reason}");
                break;
            }
            Some(_) => {}
            None => panic!("events ended"),
        }
    }
    for i in 0..300 {
        tx.send(format!("m{i}")).await.unwrap(); // held in the outbox
    }
    // The server stays down through another failed attempt.
    loop {
        match timeout(Duration::from_secs(5), events.next()).await.unwrap() {
            Some(ConnectionEvent::Reconnecting { attempt: 2.., .. }) => break,
            Some(_) => {}
            None => panic!("events ended"),
        }
    }
    let listener = TcpListener::bind(addr).await.unwrap();
    let _second = echo_server(listener, tether::Config::default()).await;
    let greeting = timeout(Duration::from_secs(10), client.next()).await.unwrap();
    assert_eq!(greeting, Some(Message::text("hello #1")), "the hook runs first on reconnect");
    for i in 0..300 {
        let m = timeout(Duration::from_secs(10), client.next()).await.unwrap();
        assert_eq!(m, Some(Message::text(format!("m{i}"))), "exactly once, in order");
    }
    client.close(CloseCode::NORMAL, "done").await;
    assert_eq!(timeout(Duration::from_secs(5), client.next()).await.unwrap(), None);
}

/// Without an outbox, sending while away fails at once, and a close while
/// the client waits out its backoff ends it then, not at the next connect
/// (which, with the server gone for good, never comes).
#[tokio::test]
async fn without_an_outbox_a_close_while_away_ends_the_client() {
    let (listener, url) = bind().await;
    let server = Server::from_listener(listener, tether::Config::default());
    let first = tokio::spawn(server.serve(|mut ws, _| async move { while let Some(Ok(_)) = ws.next().await {} }));
    let policy = ReconnectPolicy::default().delays(Duration::from_secs(30), Duration::from_secs(30));
    let mut client = tether::connect_with(&url).reconnect(policy).start();
    let mut events = client.events().unwrap();
    let tx = client.sender();
    while events.next().await != Some(ConnectionEvent::Open) {}
    first.abort();
    loop {
        match timeout(Duration::from_secs(5), events.next()).await.unwrap() {
            Some(ConnectionEvent::Reconnecting { .. }) => break,
            Some(_) => {}
            None => panic!("events ended"),
        }
    }
    assert!(matches!(tx.send("while away").await, Err(tether::Error::Disconnected)));
    timeout(Duration::from_secs(5), client.close(CloseCode::NORMAL, "bye")).await.expect("the close is taken at once");
    assert_eq!(timeout(Duration::from_secs(5), client.next()).await.expect("the stream ends"), None);
}

/// A server that greets each connection with its own name and the query of
/// the request, then echoes.
fn greeting_server(listener: TcpListener, name: &'static str) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let server = Server::from_listener(listener, tether::Config::default());
    tokio::spawn(server.serve(move |mut ws, _| async move {
        let query = ws.request_query().unwrap_or_default().to_owned();
        if ws.send(Message::text(format!("{name} {query}"))).await.is_err() {
            return;
        }
        while let Some(Ok(m)) = ws.next().await {
            let _ = ws.send(m).await;
        }
    }))
}

#[tokio::test]
async fn after_a_server_dies_the_next_url_is_tried_and_each_url_rewritten() {
    let (first, url_a) = bind().await;
    let (second, url_b) = bind().await;
    let a = greeting_server(first, "a");
    let _b = greeting_server(second, "b");
    let policy = ReconnectPolicy::default().delays(Duration::from_millis(20), Duration::from_millis(50));
    let connects = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = connects.clone();
    let mut client = tether::connect_with(&url_a)
        .reconnect(policy)
        .urls([url_b.clone()])
        .rewrite_url(move |url| format!("{url}?n={}", counter.fetch_add(1, Ordering::SeqCst)))
        .start();
    assert_eq!(timeout(Duration::from_secs(5), client.next()).await.unwrap(), Some(Message::text("a n=0")));
    a.abort(); // the first server dies: the next connect goes to the second
    assert_eq!(timeout(Duration::from_secs(5), client.next()).await.unwrap(), Some(Message::text("b n=1")));
    client.close(CloseCode::NORMAL, "").await;
}

#[tokio::test]
async fn no_reconnect_after_a_4xx_or_past_the_attempt_limit() {
    let (listener, url) = bind().await;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tether::accept_with(tcp, tether::Config::default(), |_| {
                Err(tether::Reject::new(http::StatusCode::FORBIDDEN, "no"))
            })
            .await;
        }
    });
    let mut client = tether::connect_with(&url).reconnect(ReconnectPolicy::default()).start();
    let mut events = client.events().unwrap();
    assert_eq!(events.next().await, Some(ConnectionEvent::Connecting { attempt: 0 }));
    match events.next().await {
        Some(ConnectionEvent::Closed { reason: Some(why) }) => assert!(why.contains("403"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.next().await, None);

    let unused = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let policy =
        ReconnectPolicy::default().delays(Duration::from_millis(10), Duration::from_millis(20)).max_attempts(2);
    let mut client = tether::connect_with(&format!("ws://{unused}/")).reconnect(policy).start();
    let mut events = client.events().unwrap();
    let mut reconnects = 0;
    while let Some(event) = timeout(Duration::from_secs(5), events.next()).await.unwrap() {
        match event {
            ConnectionEvent::Reconnecting { reason, .. } => {
                reconnects += 1;
                assert!(reason.contains("refused"), "{reason}");
            }
            ConnectionEvent::Closed { reason } => {
                assert!(reason.unwrap().contains("gave up after 2 attempts"));
                break;
            }
            _ => {}
        }
    }
    assert_eq!(reconnects, 2);
    assert!(matches!(client.sender().send("x").await, Err(Error::Disconnected | Error::Closed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_and_send_raced_in_select_lose_nothing() {
    const N: u32 = 5000;
    let (listener, url) = bind().await;
    let _server = echo_server(listener, tether::Config::default()).await;
    let (tx, mut rx) = tether::connect(&url).await.unwrap().split();
    let mut sent = 0u32;
    let mut received = 0u32;
    let mut sending = Box::pin(tx.send(Message::text("0")));
    while received < N {
        tokio::select! {
            m = rx.next() => {
                // next() is re-created every turn: cancelling it loses nothing.
                assert_eq!(m.unwrap().unwrap(), Message::text(received.to_string()));
                received += 1;
            }
            done = &mut sending, if sent < N => {
                done.unwrap();
                sent += 1;
                sending = Box::pin(tx.send(Message::text(sent.to_string())));
            }
        }
    }
    assert_eq!((sent, received), (N, N));
}
