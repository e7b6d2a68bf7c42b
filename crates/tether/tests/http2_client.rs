//! tether's client over HTTP/2 (RFC 8441): the policy on the builder
//! (prior knowledge over `ws://`, ALPN over `wss://`, the fallback to
//! HTTP/1.1), the shared `http2::Client` with 100 WebSockets on one
//! connection (one of them stalled) through a proxy, and each failure as its
//! typed error against h2 servers that misbehave on purpose.

#![cfg(all(feature = "http2", feature = "rustls"))]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tether::http2::{Client, Http2Policy};
use tether::tls::ServerTls;
use tether::{Error, Http2Error, Message, Proxy, Server, ShutdownHandle, WebSocket};
use tether_testkit::pki::{Leaf, TestPki};
use tether_testkit::proxies::{Behaviour, FakeProxy};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

/// A `tether::Server` (HTTP/1.1 and HTTP/2 on one port): echoes; `/stall`
/// reads nothing until `release` gets a permit. Reports, per WebSocket,
/// whether it came over HTTP/2.
struct Running {
    addr: SocketAddr,
    http2: mpsc::UnboundedReceiver<bool>,
    release: Arc<Semaphore>,
    shutdown: ShutdownHandle,
}

async fn serve(tls: Option<ServerTls>) -> Running {
    serve_with(tls, |server| server).await
}

async fn serve_with(tls: Option<ServerTls>, setup: impl FnOnce(Server) -> Server) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = setup(Server::from_listener(listener, tether::Config::default())).on_request(|req| {
        let chosen = req.protocols().iter().find(|p| *p == "chat.v2").cloned();
        Ok(tether::Accept::new().protocol(chosen).header("x-served-by", "tether-test"))
    });
    let shutdown = server.shutdown_handle();
    let (report, http2) = mpsc::unbounded_channel();
    let release = Arc::new(Semaphore::new(0));
    let released = release.clone();
    let handler = move |mut ws: WebSocket<tether::MaybeTlsStream>, _: SocketAddr| {
        let (report, released) = (report.clone(), released.clone());
        async move {
            let _ = report.send(ws.get_ref().is_http2());
            if ws.request_path() == Some("/stall") {
                let _permit = released.acquire().await;
            }
            while let Some(Ok(message)) = ws.next().await {
                if ws.send(message).await.is_err() {
                    break;
                }
            }
        }
    };
    match tls {
        Some(tls) => tokio::spawn(server.serve_tls(tls, handler)),
        None => tokio::spawn(server.serve(handler)),
    };
    Running { addr, http2, release, shutdown }
}

fn server_tls(pki: &TestPki) -> ServerTls {
    let id = pki.identity(Leaf::Good);
    ServerTls::from_pem_files(&id.cert, &id.key).unwrap()
}

async fn echo(ws: &mut WebSocket<tether::MaybeTlsStream>, message: Message) {
    ws.send(message.clone()).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), message);
}

#[tokio::test]
async fn h2c_with_prior_knowledge_echoes_with_subprotocol_and_compression() {
    let mut server = serve(None).await;
    let url = format!("ws://{}/echo?x=1", server.addr);
    // A small receive window: the 3 MiB echo below needs many WINDOW_UPDATEs.
    let builder = tether::connect_with(&url).http2(Http2Policy::Only).http2_stream_window(16 * 1024);
    let connect = builder.protocol("chat.v2").connect_with_response();
    let (mut ws, response) = timeout(LIMIT, connect).await.unwrap().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.headers["x-served-by"], "tether-test");
    assert!(ws.get_ref().is_http2() && !ws.get_ref().is_tls());
    assert_eq!(ws.protocol(), Some("chat.v2"));
    assert!(ws.compression().is_some());
    assert!(server.http2.recv().await.unwrap(), "the server saw an extended CONNECT");
    // A ping's pong comes back over the stream before the echo after it.
    ws.ping(b"h2-ping").await.unwrap();
    echo(&mut ws, Message::text("over h2c")).await;
    assert_eq!(ws.last_pong().map(|p| &p[..]), Some(&b"h2-ping"[..]));
    // Larger than the windows of both sides: flow control moves it.
    let big: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    echo(&mut ws, Message::binary(big)).await;
    ws.close(tether::CloseCode::NORMAL, "bye").await.unwrap();
    assert_eq!(ws.close_frame().unwrap().code, tether::CloseCode::NORMAL);
}

/// The client takes DATA frames of 64 KiB (`SETTINGS_MAX_FRAME_SIZE`), so
/// a server sends a 16 KiB message in one frame, not two.
#[tokio::test]
async fn the_client_announces_frames_of_64_kib() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let connecting = tokio::spawn(async move { tether::connect_with(&url).http2(Http2Policy::Only).connect().await });
    let (mut tcp, _) = timeout(LIMIT, listener.accept()).await.unwrap().unwrap();
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".len();
    let settings = timeout(LIMIT, common::first_http2_settings(&mut tcp, preface)).await.unwrap();
    assert!(settings.contains(&(0x5, 64 * 1024)), "{settings:?}");
    connecting.abort();
}

#[tokio::test]
async fn over_tls_the_policy_decides_and_alpn_falls_back_to_http1() {
    let pki = TestPki::new();
    let mut server = serve(Some(server_tls(&pki))).await;
    let url = format!("wss://localhost:{}/echo", server.addr.port());
    for (policy, http2) in [(Http2Policy::IfOffered, true), (Http2Policy::Only, true), (Http2Policy::Never, false)] {
        let connect = tether::connect_with(&url).tls(common::trusting(&pki)).http2(policy).connect();
        let mut ws = timeout(LIMIT, connect).await.unwrap().unwrap();
        assert_eq!(ws.get_ref().is_http2(), http2, "{policy:?}");
        assert!(ws.get_ref().is_tls());
        assert_eq!(server.http2.recv().await.unwrap(), http2);
        echo(&mut ws, Message::text(format!("{policy:?}"))).await;
    }
    // A server that offers only http/1.1: IfOffered falls back, Only fails.
    let http1 = common::EchoServer::tls(&pki, Leaf::Good).await;
    let url = http1.url("wss", "localhost");
    let builder = || tether::connect_with(&url).tls(common::trusting(&pki));
    let mut ws = builder().http2(Http2Policy::IfOffered).connect().await.unwrap();
    assert!(!ws.get_ref().is_http2());
    echo(&mut ws, Message::text("fallback")).await;
    let e = builder().http2(Http2Policy::Only).connect().await.unwrap_err();
    assert!(matches!(e.http2(), Some(Http2Error::NotOffered { .. })), "{e}");
}

#[tokio::test]
async fn over_ws_if_offered_stays_on_http1() {
    let mut server = serve(None).await;
    let url = format!("ws://{}/", server.addr);
    let mut ws = tether::connect_with(&url).http2(Http2Policy::IfOffered).connect().await.unwrap();
    assert!(!ws.get_ref().is_http2());
    assert!(!server.http2.recv().await.unwrap());
    echo(&mut ws, Message::text("h1")).await;
}

#[tokio::test]
async fn a_hundred_websockets_share_one_connection_through_a_proxy_while_one_is_stalled() {
    let server = serve(None).await;
    let proxy = FakeProxy::http(Behaviour::Tunnel(None)).await;
    let proxy_url: Proxy = format!("http://{}", proxy.addr).parse().unwrap();
    let open = tether::connect_with(&format!("ws://{}/", server.addr)).proxy(proxy_url).http2_client();
    let client = timeout(LIMIT, open).await.unwrap().unwrap();
    assert_eq!(client.max_streams(), 100, "the server's SETTINGS_MAX_CONCURRENT_STREAMS");

    // One WebSocket that neither side reads: its sender fills the windows
    // and waits.
    let (stalled_tx, mut stalled_rx) = client.connect("/stall").await.unwrap().split();
    let chunk = Bytes::from(vec![7u8; 64 * 1024]);
    let stalled = tokio::spawn({
        let chunk = chunk.clone();
        async move {
            for _ in 0..64 {
                // Uncompressed: 4 MiB of one byte would deflate to nothing.
                stalled_tx.send_uncompressed(Message::Binary(chunk.clone())).await.unwrap();
            }
        }
    });

    // 99 more keep echoing meanwhile, on the same connection.
    let mut others = Vec::new();
    for i in 0..99 {
        others.push(client.connect(&format!("/echo/{i}")).await.unwrap());
    }
    let rounds = others.iter_mut().enumerate().map(|(i, ws)| async move {
        for round in 0..20 {
            let payload = vec![(i + round) as u8; 4096];
            ws.send(Message::binary(payload.clone())).await.unwrap();
            assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(payload));
        }
    });
    timeout(LIMIT, futures_util::future::join_all(rounds)).await.expect("the 99 others kept echoing");
    assert!(!stalled.is_finished(), "4 MiB cannot fit in the windows of a stream nobody reads");
    assert_eq!(proxy.targets().len(), 1, "one TCP connection for the 100 WebSockets");

    // Released, the stalled one catches up.
    server.release.add_permits(1);
    for _ in 0..64 {
        let echoed = timeout(LIMIT, stalled_rx.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(echoed, Message::Binary(chunk.clone()));
    }
    stalled.await.unwrap();
}

#[tokio::test]
async fn the_shared_client_reports_the_end_of_its_connection() {
    let server = serve(None).await;
    let client = Client::open(&format!("ws://{}", server.addr)).await.unwrap();
    let mut ws = client.connect("/a").await.unwrap();
    echo(&mut ws, Message::text("a")).await;
    assert!(!client.is_closed());
    // Another origin is refused before anything is sent.
    let e = client.connect("ws://example.com/").await.unwrap_err();
    assert!(matches!(e, Error::Url { .. }), "{e}");

    server.shutdown.shutdown();
    // The server's graceful shutdown closes the WebSocket with 1001, then the connection.
    assert!(timeout(LIMIT, ws.next()).await.unwrap().is_none());
    assert_eq!(ws.close_frame().unwrap().code, tether::CloseCode::GOING_AWAY);
    let end = timeout(LIMIT, client.closed()).await.unwrap();
    assert!(matches!(end, Ok(()) | Err(Http2Error::GoAway { code: 0, .. })), "{end:?}");
    assert!(client.is_closed());
    let e = client.connect("/b").await.unwrap_err();
    assert!(e.http2().is_some() || matches!(e, Error::Io(_)), "{e}");
}

#[tokio::test]
async fn connect_waits_for_a_free_stream_when_the_server_allows_no_more() {
    let server = serve_with(None, |server| server.max_streams_per_connection(2)).await;
    let client = Client::open(&format!("ws://{}", server.addr)).await.unwrap();
    assert_eq!(client.max_streams(), 2);
    let mut first = client.connect("/1").await.unwrap();
    let _second = client.connect("/2").await.unwrap();
    // Both streams are taken: the third is queued in h2 (not sent, so not
    // refused) until one ends.
    let third = tokio::spawn({
        let client = client.clone();
        async move { client.connect("/3").await }
    });
    tokio::task::yield_now().await;
    first.close(tether::CloseCode::NORMAL, "").await.unwrap();
    drop(first);
    let mut ws = timeout(LIMIT, third).await.unwrap().unwrap().expect("no REFUSED_STREAM: it waited");
    echo(&mut ws, Message::text("third")).await;
}

/// What a misbehaving h2 server does with each extended CONNECT.
#[derive(Clone, Copy)]
enum Misbehave {
    /// Announces no SETTINGS_ENABLE_CONNECT_PROTOCOL.
    NoExtendedConnect,
    /// RST_STREAM REFUSED_STREAM.
    Refuse,
    /// GOAWAY ENHANCE_YOUR_CALM, then closes.
    GoAway,
    /// 403 with a body.
    Forbid,
}

async fn h2_server(behaviour: Misbehave) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut builder = h2::server::Builder::new();
                if !matches!(behaviour, Misbehave::NoExtendedConnect) {
                    builder.enable_connect_protocol();
                }
                let Ok(mut conn) = builder.handshake::<_, Bytes>(tcp).await else { return };
                while let Some(Ok((_request, mut respond))) = conn.accept().await {
                    match behaviour {
                        Misbehave::NoExtendedConnect => {}
                        Misbehave::Refuse => respond.send_reset(h2::Reason::REFUSED_STREAM),
                        Misbehave::GoAway => {
                            conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                            // Drive the GOAWAY out; the connection then ends.
                            let _ = std::future::poll_fn(|cx| conn.poll_closed(cx)).await;
                            return;
                        }
                        Misbehave::Forbid => {
                            let response = http::Response::builder().status(403).body(()).unwrap();
                            let mut body = respond.send_response(response, false).unwrap();
                            let _ = body.send_data(Bytes::from_static(b"not you"), true);
                        }
                    }
                }
            });
        }
    });
    addr
}

async fn h2c_error(behaviour: Misbehave) -> Error {
    let addr = h2_server(behaviour).await;
    let connect = tether::connect_with(&format!("ws://{addr}/")).http2(Http2Policy::Only).connect();
    timeout(LIMIT, connect).await.unwrap().unwrap_err()
}

#[tokio::test]
async fn a_server_without_extended_connect_is_its_own_error() {
    let e = h2c_error(Misbehave::NoExtendedConnect).await;
    assert!(matches!(e.http2(), Some(Http2Error::ExtendedConnectDisabled { .. })), "{e}");
    assert!(e.to_string().contains("SETTINGS_ENABLE_CONNECT_PROTOCOL"));
}

#[tokio::test]
async fn a_refused_stream_is_its_own_error() {
    let e = h2c_error(Misbehave::Refuse).await;
    assert_eq!(e.http2(), Some(Http2Error::RefusedStream), "{e}");
}

#[tokio::test]
async fn a_goaway_is_an_error_with_its_code() {
    let e = h2c_error(Misbehave::GoAway).await;
    assert_eq!(e.http2(), Some(Http2Error::GoAway { code: 0xb, remote: true }), "{e}");
    assert!(e.to_string().contains("ENHANCE_YOUR_CALM"), "{e}");
}

#[tokio::test]
async fn a_refusal_is_an_http_status_with_the_start_of_its_body() {
    match h2c_error(Misbehave::Forbid).await {
        Error::HttpStatus { status, body, .. } => {
            assert_eq!(status, 403);
            assert_eq!(&*body, b"not you");
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn prior_knowledge_against_an_http1_server_says_it_does_not_speak_http2() {
    let http1 = common::EchoServer::plain().await;
    let connect = tether::connect_with(&http1.url("ws", "127.0.0.1")).http2(Http2Policy::Only).connect();
    let e = timeout(LIMIT, connect).await.unwrap().unwrap_err();
    assert!(matches!(e.http2(), Some(Http2Error::Protocol(_))), "{e}");
    assert!(e.to_string().contains("does not speak HTTP/2"), "{e}");
}

#[tokio::test]
async fn wss_over_http2_through_a_socks5_proxy() {
    let pki = TestPki::new();
    let mut server = serve(Some(server_tls(&pki))).await;
    let proxy = FakeProxy::socks5(Behaviour::Tunnel(None)).await;
    let proxy_url: Proxy = format!("socks5h://{}", proxy.addr).parse().unwrap();
    let url = format!("wss://localhost:{}/echo", server.addr.port());
    let connect =
        tether::connect_with(&url).tls(common::trusting(&pki)).proxy(proxy_url).http2(Http2Policy::Only).connect();
    let mut ws = timeout(LIMIT, connect).await.unwrap().unwrap();
    assert!(ws.get_ref().is_http2() && ws.get_ref().is_tls());
    assert!(server.http2.recv().await.unwrap());
    echo(&mut ws, Message::text("tunnelled")).await;
    assert_eq!(proxy.targets(), vec![format!("localhost:{}", server.addr.port())]);
}
