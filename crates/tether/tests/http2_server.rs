//! `tether::Server` over HTTP/2 (RFC 8441), driven by the h2 crate's client:
//! cleartext with prior knowledge and TLS with ALPN `h2` next to HTTP/1.1 on
//! the same port, the same checks and negotiation as HTTP/1.1, many
//! WebSockets on one connection with one of them stalled, the limits, and a
//! graceful shutdown (GOAWAY, then 1001 on every WebSocket).

#![cfg(all(feature = "http2", feature = "rustls"))]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use tether::http2::H2Stream;
use tether::tls::ServerTls;
use tether::{Accept, CloseCode, Message, Role, Server, ShutdownHandle, WebSocket};
use tether_testkit::pki::{Leaf, TestPki};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

/// What the server's handler saw of one WebSocket.
#[derive(Debug)]
struct Seen {
    path: String,
    http2: bool,
    tls: bool,
}

/// A running server: its address, what its handler saw, its shutdown.
struct Running {
    addr: SocketAddr,
    seen: mpsc::UnboundedReceiver<Seen>,
    shutdown: ShutdownHandle,
    served: JoinHandle<std::io::Result<()>>,
    /// Wakes the handler of `/stall`, which does not read before.
    release: Arc<Notify>,
}

/// Serves an echo (`/stall` does not read until released), with a page at
/// `/`, the subprotocol `chat.v2` when offered and an `x-served-by` header.
async fn start(setup: impl FnOnce(Server) -> Server, tls: Option<ServerTls>) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = setup(Server::from_listener(listener, tether::Config::default()))
        .on_request(|req| {
            let chosen = req.protocols().iter().find(|p| *p == "chat.v2").cloned();
            Ok(Accept::new().protocol(chosen).header("x-served-by", "tether-test"))
        })
        .respond_http(|req| match req.uri().path() {
            "/" => http::Response::new(Bytes::from_static(b"<!doctype html><p>page")),
            _ => http::Response::builder().status(404).body(Bytes::new()).unwrap(),
        })
        .grace_period(Duration::from_secs(5));
    let shutdown = server.shutdown_handle();
    let (report, seen) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let released = release.clone();
    let handler = move |mut ws: WebSocket<tether::MaybeTlsStream>, _peer: SocketAddr| {
        let (report, released) = (report.clone(), released.clone());
        async move {
            let path = ws.request_path().unwrap_or_default().to_owned();
            let _ =
                report.send(Seen { path: path.clone(), http2: ws.get_ref().is_http2(), tls: ws.get_ref().is_tls() });
            if path == "/stall" {
                released.notified().await;
            }
            while let Some(Ok(message)) = ws.next().await {
                if ws.send(message).await.is_err() {
                    break;
                }
            }
        }
    };
    let served = match tls {
        Some(tls) => tokio::spawn(server.serve_tls(tls, handler)),
        None => tokio::spawn(server.serve(handler)),
    };
    Running { addr, seen, shutdown, served, release }
}

/// One HTTP/2 client connection (the h2 crate), settings exchanged.
struct Conn {
    send: SendRequest<Bytes>,
    authority: String,
    scheme: &'static str,
    /// The connection's task: ends when the connection does.
    driver: JoinHandle<Result<(), h2::Error>>,
}

impl Conn {
    async fn cleartext(addr: SocketAddr) -> Conn {
        Conn::over(TcpStream::connect(addr).await.unwrap(), addr, "http").await
    }

    async fn over<T: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
        io: T,
        addr: SocketAddr,
        scheme: &'static str,
    ) -> Conn {
        let (send, mut connection) = h2::client::handshake(io).await.unwrap();
        let mut ping = connection.ping_pong().unwrap();
        let driver = tokio::spawn(connection);
        // The server's SETTINGS come before its answer to our PING.
        ping.ping(h2::Ping::opaque()).await.unwrap();
        assert!(send.is_extended_connect_protocol_enabled(), "SETTINGS_ENABLE_CONNECT_PROTOCOL");
        Conn { send, authority: addr.to_string(), scheme, driver }
    }

    /// Sends `request` (its URI a path) with no body; the response and the
    /// request's stream.
    async fn request(&mut self, mut request: http::Request<()>) -> (http::Response<RecvStream>, SendStream<Bytes>) {
        let uri = format!("{}://{}{}", self.scheme, self.authority, request.uri());
        *request.uri_mut() = uri.parse().unwrap();
        let mut send = self.send.clone().ready().await.unwrap();
        let (response, stream) = send.send_request(request, false).unwrap();
        (response.await.unwrap(), stream)
    }

    /// An extended CONNECT for `path` with `:protocol` and the version
    /// header, then `headers`; `None` protocol makes it a plain CONNECT.
    fn connect_request(protocol: Option<&'static str>, path: &str, headers: &[(&str, &str)]) -> http::Request<()> {
        let mut request = http::Request::builder().method(http::Method::CONNECT).uri(path);
        if let Some(protocol) = protocol {
            request = request.extension(h2::ext::Protocol::from_static(protocol));
        }
        let mut request = request.header("sec-websocket-version", "13").body(()).unwrap();
        for (name, value) in headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
            match *value {
                "" => request.headers_mut().remove(name),
                value => request.headers_mut().insert(name, value.parse().unwrap()),
            };
        }
        request
    }

    /// Opens a WebSocket at `path`; the response head and the client's WebSocket.
    async fn websocket(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (http::response::Parts, WebSocket<H2Stream>) {
        let (response, send) = self.request(Self::connect_request(Some("websocket"), path, headers)).await;
        let (parts, body) = response.into_parts();
        assert_eq!(parts.status, 200, "{parts:?}");
        let answer = parts.headers.get_all("sec-websocket-extensions").iter().map(|v| v.to_str().unwrap());
        let answer = tether::proto::handshake::extensions::parse_extensions(answer).unwrap();
        let deflate = tether::DeflateParams::check_response(&answer, &tether::DeflateConfig::default()).unwrap();
        let ws = WebSocket::from_parts(
            H2Stream::new(send, body),
            Role::Client,
            BytesMut::new(),
            tether::Config::default(),
            None,
            deflate,
        );
        (parts, ws)
    }

    /// The status and body of a request answered without a WebSocket.
    async fn status(&mut self, request: http::Request<()>) -> (u16, http::HeaderMap, String) {
        let (response, _) = self.request(request).await;
        let (parts, mut body) = response.into_parts();
        let mut text = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            text.extend_from_slice(&chunk);
        }
        (parts.status.as_u16(), parts.headers, String::from_utf8_lossy(&text).into_owned())
    }
}

async fn next_message<S>(ws: &mut WebSocket<S>) -> Message
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    timeout(LIMIT, ws.next()).await.expect("a message in time").expect("open").expect("no error")
}

#[tokio::test]
async fn h2c_echo_goes_through_the_same_decisions_and_negotiation() {
    let mut server = start(|s| s, None).await;
    let mut conn = Conn::cleartext(server.addr).await;
    let offer = [
        ("sec-websocket-protocol", "chat.v1, chat.v2"),
        ("sec-websocket-extensions", "permessage-deflate; client_max_window_bits"),
    ];
    let (head, mut ws) = conn.websocket("/echo?x=1", &offer).await;
    assert_eq!(head.headers["sec-websocket-protocol"], "chat.v2");
    assert_eq!(head.headers["x-served-by"], "tether-test");
    assert!(head.headers["sec-websocket-extensions"].to_str().unwrap().starts_with("permessage-deflate"));
    assert!(head.headers.get("sec-websocket-accept").is_none(), "RFC 8441 has no accept key");
    let seen = server.seen.recv().await.unwrap();
    assert_eq!((seen.path.as_str(), seen.http2, seen.tls), ("/echo", true, false));

    ws.send(Message::text("Hello over h2c!")).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::text("Hello over h2c!"));
    // Larger than the stream windows of both sides: flow control moves it,
    // compressed (repetitive JSON) and not.
    let json = "{\"hello\":\"world\"},".repeat(60_000);
    ws.send(Message::text(json.clone())).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::text(json));
    let noise: Vec<u8> = (0..1_500_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    ws.send(Message::binary(noise.clone())).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::binary(noise));
    ws.close(CloseCode(4000), "h2 bye").await.unwrap();
    assert_eq!(ws.close_frame().unwrap().code, CloseCode(4000));
}

#[tokio::test]
async fn malformed_requests_get_4xx_and_plain_gets_get_the_page() {
    let server = start(|s| s.allow_origins(["https://good.example"]), None).await;
    let mut conn = Conn::cleartext(server.addr).await;
    // No `:protocol`: a plain CONNECT (to an authority) is not a WebSocket.
    let mut plain = Conn::connect_request(None, "/", &[]);
    *plain.uri_mut() = http::Uri::default();
    let uri: http::Uri = server.addr.to_string().parse().unwrap();
    let plain_connect = {
        let mut send = conn.send.clone().ready().await.unwrap();
        *plain.uri_mut() = uri;
        let (response, _) = send.send_request(plain, false).unwrap();
        response.await.unwrap().status().as_u16()
    };
    assert_eq!(plain_connect, 400);
    let (status, _, body) = conn.status(Conn::connect_request(Some("webtransport"), "/", &[])).await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) =
        conn.status(Conn::connect_request(Some("websocket"), "/", &[("sec-websocket-version", "")])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Sec-WebSocket-Version"), "{body}");
    let (status, headers, _) =
        conn.status(Conn::connect_request(Some("websocket"), "/", &[("sec-websocket-version", "8")])).await;
    assert_eq!(status, 426);
    assert_eq!(headers["sec-websocket-version"], "13");
    // The origin check of the HTTP/1.1 path applies too.
    let (status, _, _) =
        conn.status(Conn::connect_request(Some("websocket"), "/", &[("origin", "https://evil.example")])).await;
    assert_eq!(status, 403);
    let (head, _ws) = conn.websocket("/", &[("origin", "https://good.example")]).await;
    assert_eq!(head.status, 200);
    // Plain requests: the page, its length, nothing for HEAD, 404 elsewhere;
    // another method is no WebSocket handshake.
    let (status, headers, body) = conn.status(http::Request::get("/").body(()).unwrap()).await;
    assert_eq!((status, body.as_str()), (200, "<!doctype html><p>page"));
    assert_eq!(headers["content-length"], "22");
    let (status, headers, body) = conn.status(http::Request::head("/").body(()).unwrap()).await;
    assert_eq!((status, body.as_str(), headers["content-length"].to_str().unwrap()), (200, "", "22"));
    let (status, _, _) = conn.status(http::Request::get("/missing").body(()).unwrap()).await;
    assert_eq!(status, 404);
    let (status, headers, _) = conn.status(http::Request::post("/").body(()).unwrap()).await;
    // 405, as over HTTP/1.1, naming the method a WebSocket over HTTP/2 needs.
    assert_eq!((status, headers["allow"].to_str().unwrap()), (405, "CONNECT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_websockets_share_one_connection_and_a_stalled_one_stalls_no_other() {
    let mut server = start(|s| s, None).await;
    let mut conn = Conn::cleartext(server.addr).await;
    assert_eq!(conn.send.current_max_send_streams(), Server::DEFAULT_MAX_STREAMS as usize);
    // The stalled WebSocket: its handler does not read. The client sends it
    // more than a stream's window, which stays unread in the server.
    let (_, stalled) = conn.websocket("/stall", &[]).await;
    let (stalled_tx, mut stalled_rx) = stalled.split();
    let blob = Message::binary(vec![7u8; 64 * 1024]);
    let flood = tokio::spawn(async move {
        for _ in 0..16 {
            stalled_tx.send(blob.clone()).await.unwrap();
        }
        stalled_tx
    });
    let mut others = Vec::new();
    for i in 0..99 {
        let (_, ws) = conn.websocket(&format!("/ws/{i}"), &[]).await;
        others.push(ws);
    }
    // Every other WebSocket echoes 64 KiB while the stalled one holds its window.
    let echoes = others.into_iter().enumerate().map(|(i, mut ws)| async move {
        let payload = vec![i as u8; 64 * 1024];
        ws.send(Message::binary(payload.clone())).await.unwrap();
        assert_eq!(next_message(&mut ws).await, Message::binary(payload));
        ws
    });
    let others = timeout(LIMIT, futures_util::future::join_all(echoes)).await.expect("the others kept moving");
    assert!(!flood.is_finished(), "the stalled stream's window should hold back its sender");
    let mut paths: Vec<String> = Vec::new();
    while let Ok(seen) = server.seen.try_recv() {
        assert!(seen.http2);
        paths.push(seen.path);
    }
    assert_eq!(paths.len(), 100);
    // Released, the stalled WebSocket catches up: all 1 MiB comes back.
    // (A permit, in case its handler is not waiting yet.)
    server.release.notify_one();
    let echoed = async {
        for _ in 0..16 {
            let echoed = stalled_rx.next().await.unwrap().unwrap();
            assert_eq!(echoed.len(), 64 * 1024);
        }
    };
    let (stalled_tx, ()) = timeout(LIMIT, async { tokio::join!(flood, echoed) }).await.unwrap();
    stalled_tx.unwrap().close(CloseCode::NORMAL, "").await.unwrap();
    drop(others);
}

#[tokio::test]
async fn shutdown_sends_goaway_and_1001_to_every_websocket_on_the_connection() {
    let server = start(|s| s, None).await;
    let mut conn = Conn::cleartext(server.addr).await;
    let (_, mut first) = conn.websocket("/a", &[]).await;
    let (_, mut second) = conn.websocket("/b", &[]).await;
    first.send(Message::text("one")).await.unwrap();
    assert_eq!(next_message(&mut first).await, Message::text("one"));
    server.shutdown.shutdown();
    for ws in [&mut first, &mut second] {
        assert!(timeout(LIMIT, ws.next()).await.unwrap().is_none(), "the stream ends after the close");
        assert_eq!(ws.close_frame().unwrap().code, CloseCode::GOING_AWAY);
    }
    // The server is done once both closing handshakes are; the connection
    // ended with a GOAWAY (no error), and no new stream can open.
    timeout(LIMIT, server.served).await.unwrap().unwrap().unwrap();
    timeout(LIMIT, conn.driver).await.unwrap().unwrap().unwrap();
    assert!(conn.send.ready().await.is_err());
}

#[tokio::test]
async fn limits_count_tcp_connections_and_streams_per_connection() {
    let server = start(|s| s.max_connections_per_ip(1).max_streams_per_connection(3), None).await;
    let mut conn = Conn::cleartext(server.addr).await;
    assert_eq!(conn.send.current_max_send_streams(), 3);
    // Three WebSockets on the one connection the address may hold.
    let mut open = Vec::new();
    for path in ["/1", "/2", "/3"] {
        let (_, mut ws) = conn.websocket(path, &[]).await;
        ws.send(Message::text(path)).await.unwrap();
        assert_eq!(next_message(&mut ws).await, Message::text(path));
        open.push(ws);
    }
    // A second TCP connection from the same address is dropped unanswered.
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    second.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = timeout(LIMIT, second.read_to_end(&mut answer)).await.unwrap();
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
}

#[tokio::test]
async fn a_connection_without_streams_gets_goaway_after_the_handshake_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = tether::Config::default();
    config.handshake_timeout = Duration::from_millis(300);
    tokio::spawn(Server::from_listener(listener, config).serve(|_, _| async {}));
    let conn = Conn::cleartext(addr).await;
    // Ends cleanly: GOAWAY, then the server closes.
    timeout(LIMIT, conn.driver).await.unwrap().unwrap().unwrap();
}

/// The server takes DATA frames of 64 KiB (`SETTINGS_MAX_FRAME_SIZE`), so
/// a client sends a 16 KiB message in one frame, not two.
#[tokio::test]
async fn the_server_announces_frames_of_64_kib() {
    let server = start(|s| s, None).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    // The preface and an empty SETTINGS.
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0").await.unwrap();
    let settings = timeout(LIMIT, common::first_http2_settings(&mut tcp, 0)).await.unwrap();
    assert!(settings.contains(&(0x5, 64 * 1024)), "{settings:?}");
}

#[tokio::test]
async fn without_http2_the_preface_is_refused_as_http11() {
    let server = start(|s| s.http2(false), None).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    timeout(LIMIT, tcp.read_to_end(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 400"), "{}", String::from_utf8_lossy(&answer));
}

#[tokio::test]
async fn tls_offers_h2_and_http11_on_one_port() {
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let mut server = start(|s| s, Some(ServerTls::from_pem_files(&id.cert, &id.key).unwrap())).await;
    // A client that offers h2 gets it, and its WebSocket is an extended CONNECT.
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(&pki.ca).unwrap();
    for cert in <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut conn = Conn::over(tls, server.addr, "https").await;
    let (_, mut ws) = conn.websocket("/secure", &[]).await;
    ws.send(Message::text("Hello over h2!")).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::text("Hello over h2!"));
    let seen = server.seen.recv().await.unwrap();
    assert_eq!((seen.path.as_str(), seen.http2, seen.tls), ("/secure", true, true));
    // tether's own client offers http/1.1 only, and gets it on the same port.
    let client_tls = tether::tls::ClientTls::new().add_ca_pem_file(&pki.ca).unwrap();
    let url = format!("wss://localhost:{}/plain", server.addr.port());
    let mut ws11 = tether::connect_with(&url).tls(client_tls).connect().await.unwrap();
    assert_eq!(ws11.get_ref().alpn_protocol(), Some(&b"http/1.1"[..]));
    ws11.send(Message::text("Hello over HTTP/1.1!")).await.unwrap();
    assert_eq!(next_message(&mut ws11).await, Message::text("Hello over HTTP/1.1!"));
    let seen = server.seen.recv().await.unwrap();
    assert_eq!((seen.path.as_str(), seen.http2, seen.tls), ("/plain", false, true));
}
