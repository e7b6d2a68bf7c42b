//! The library over real loopback TCP: a tether client against a tether
//! server, and each against hand-made misbehaving peers.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tether::proto::handshake::client::{ClientHandshake, ClientRequest};
use tether::proto::{mask::apply_mask, FrameHeader, OpCode};
use tether::{CloseCode, CloseFrame, Error, MaybeTlsStream, Message, WebSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

type Client = WebSocket<MaybeTlsStream>;
type Server = WebSocket<TcpStream>;

/// A connected client and server.
async fn pair() -> (Client, Server) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tether::accept(tcp).await.unwrap()
    });
    let client = tether::connect(&url).await.unwrap();
    (client, server.await.unwrap())
}

/// A server task that echoes every message until the connection ends.
async fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut ws = tether::accept(tcp).await.unwrap();
                while let Some(Ok(m)) = ws.next().await {
                    if ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    url
}

async fn next(ws: &mut Client) -> Message {
    timeout(Duration::from_secs(10), ws.next()).await.expect("timed out").expect("stream ended").expect("error")
}

fn png_sized_blob() -> Vec<u8> {
    let mut blob = b"\x89PNG\r\n\x1a\n".to_vec();
    blob.extend((0..150_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    blob
}

#[tokio::test]
async fn text_binary_and_empty_messages_keep_their_type() {
    let mut ws = tether::connect(&echo_server().await).await.unwrap();
    let blob = png_sized_blob();
    ws.send(Message::text("Hello!")).await.unwrap();
    ws.send(Message::binary(blob.clone())).await.unwrap();
    ws.send(Message::text("")).await.unwrap();
    ws.send(Message::binary(Vec::new())).await.unwrap();
    ws.send(Message::text("κόσμε 🚀")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("Hello!"));
    assert_eq!(next(&mut ws).await, Message::binary(blob));
    assert_eq!(next(&mut ws).await, Message::text(""));
    assert_eq!(next(&mut ws).await, Message::binary(Vec::new()));
    assert_eq!(next(&mut ws).await.as_text(), Some("κόσμε 🚀"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn a_16_mib_message_round_trips() {
    let mut ws = tether::connect(&echo_server().await).await.unwrap();
    let big: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).await.unwrap();
    let back = next(&mut ws).await;
    assert!(back.as_bytes() == &big[..], "16 MiB echo differs");
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn limits_close_with_1009() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let config = tether::Config::default().max_message_size(1000);
        let mut ws = tether::accept_with(tcp, config, |_| Ok(tether::Accept::new())).await.unwrap();
        ws.next().await
    });
    let mut client = tether::connect(&url).await.unwrap();
    client.send(Message::binary(vec![0u8; 1001])).await.unwrap();
    // The server reads until the client closes TCP too, so both run at once.
    let (at_server, at_client) = tokio::join!(server, client.next());
    let at_server = at_server.unwrap();
    assert!(matches!(at_server, Some(Err(Error::Protocol(tether::ProtocolError::MessageTooLarge { .. })))));
    assert_eq!(at_client.map(|r| r.is_ok()), None, "clean end after the server's close");
    assert_eq!(client.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let mut ws = tether::connect(&echo_server().await).await.unwrap();
    ws.ping(b"p1").await.unwrap();
    ws.send(Message::text("after")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("after"));
    assert_eq!(ws.last_pong().map(|b| &b[..]), Some(&b"p1"[..]));
}

#[tokio::test]
async fn close_from_client_is_read_on_both_sides() {
    let (mut client, mut server) = pair().await;
    let server = tokio::spawn(async move {
        assert!(server.next().await.is_none(), "a clean close ends the stream");
        server.close_frame().cloned()
    });
    client.close(CloseCode(4001), "client bye").await.unwrap();
    let expected = CloseFrame::new(CloseCode(4001), "client bye");
    assert_eq!(server.await.unwrap(), Some(expected.clone()));
    assert_eq!(client.close_frame(), Some(&expected), "the server echoes the code and reason");
    assert_eq!(client.close_code(), Some(CloseCode(4001)));
    assert!(matches!(client.send(Message::text("late")).await, Err(Error::Closed)));
}

#[tokio::test]
async fn close_from_server_is_read_on_both_sides() {
    let (mut client, mut server) = pair().await;
    let server = tokio::spawn(async move {
        server.send(Message::text("before close")).await.unwrap();
        server.close(CloseCode::GOING_AWAY, "server bye").await.unwrap();
        server.close_frame().cloned()
    });
    assert_eq!(next(&mut client).await, Message::text("before close"));
    assert!(client.next().await.is_none());
    assert_eq!(client.close_frame(), Some(&CloseFrame::new(CloseCode::GOING_AWAY, "server bye")));
    assert_eq!(client.close_reason(), Some("server bye"));
    assert_eq!(server.await.unwrap(), Some(CloseFrame::new(CloseCode::GOING_AWAY, "server bye")));
}

#[tokio::test]
async fn messages_sent_before_close_are_delivered() {
    let (mut client, mut server) = pair().await;
    for i in 0..1000 {
        client.feed(Message::text(format!("m{i}"))).await.unwrap();
    }
    SinkExt::close(&mut client).await.unwrap(); // flushes, then close 1000
    let mut got = 0;
    while let Some(m) = server.next().await {
        assert_eq!(m.unwrap(), Message::text(format!("m{got}")));
        got += 1;
    }
    assert_eq!(got, 1000);
    assert_eq!(server.close_code(), Some(CloseCode::NORMAL));
}

#[tokio::test]
async fn abrupt_disconnect_is_an_error_with_its_cause() {
    let (mut client, server) = pair().await;
    drop(server);
    match timeout(Duration::from_secs(5), client.next()).await.unwrap() {
        Some(Err(Error::Io(e))) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
        other => panic!("expected an io error, got {other:?}"),
    }
    assert!(client.next().await.is_none());
    assert_eq!(client.close_code(), Some(CloseCode::ABNORMAL));
}

#[tokio::test]
async fn peer_aborting_mid_message_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = tether::accept(tcp).await.unwrap();
        let mut ws = ws;
        let tcp = ws.get_mut();
        // The start of a 1000-byte binary frame, then nothing.
        let _ = tcp.write_all(&[0x82, 0x7E, 0x03, 0xE8, 1, 2, 3]).await;
    });
    let mut client = tether::connect(&url).await.unwrap();
    let end = timeout(Duration::from_secs(5), client.next()).await.unwrap();
    assert!(matches!(end, Some(Err(Error::Io(_)))), "{end:?}");
}

#[tokio::test]
async fn refused_upgrade_carries_status_and_body() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = tcp.read(&mut buf).await;
        let body = "you shall not pass";
        let response = format!("HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        tcp.write_all(response.as_bytes()).await.unwrap();
    });
    let err = tether::connect(&url).await.unwrap_err();
    assert_eq!(err.http_status(), Some(http::StatusCode::FORBIDDEN));
    assert!(err.to_string().contains("you shall not pass"), "{err}");
}

#[tokio::test]
async fn connect_errors_say_what_failed() {
    let unused = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let err = tether::connect(&format!("ws://{unused}/")).await.unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    let err = tether::connect("ws://no-such-host.invalid/").await.unwrap_err();
    assert!(matches!(err, Error::Dns { .. }), "{err}");
    let err = tether::connect("http://127.0.0.1/").await.unwrap_err();
    assert!(matches!(err, Error::Url { .. }), "{err}");
}

#[tokio::test]
async fn server_picks_a_subprotocol_or_rejects() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tether::accept_with(tcp, tether::Config::default(), |req| {
                if req.head().uri().path() == "/private" {
                    return Err(tether::Reject::new(http::StatusCode::UNAUTHORIZED, "login first"));
                }
                let chosen = req.protocols().iter().find(|p| *p == "v2").cloned();
                Ok(tether::Accept::new().protocol(chosen).header("x-served-by", "tether"))
            })
            .await;
        }
    });
    let ws = tether::connect_with(&format!("ws://{addr}/")).protocol("v1").protocol("v2").connect().await.unwrap();
    assert_eq!(ws.protocol(), Some("v2"));
    let err = tether::connect(&format!("ws://{addr}/private")).await.unwrap_err();
    assert_eq!(err.http_status(), Some(http::StatusCode::UNAUTHORIZED));
    assert!(err.to_string().contains("login first"));
}

#[tokio::test]
async fn bad_request_gets_400_with_reason() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tether::accept(tcp).await
    });
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("missing header Upgrade"), "{answer}");
    assert!(matches!(server.await.unwrap(), Err(Error::Handshake(_))));
}

/// Upgrades a raw TCP stream by hand, to write frames tether would not.
async fn raw_client(url_addr: std::net::SocketAddr) -> (TcpStream, BytesMut) {
    let mut tcp = TcpStream::connect(url_addr).await.unwrap();
    let request = ClientRequest { host: url_addr.to_string(), path: "/".into(), ..Default::default() };
    let (hs, bytes) = ClientHandshake::new(&request).unwrap();
    tcp.write_all(&bytes).await.unwrap();
    let mut buf = BytesMut::new();
    loop {
        tcp.read_buf(&mut buf).await.unwrap();
        if let Some((_, n)) = hs.read_response(&buf).unwrap() {
            let _ = buf.split_to(n);
            return (tcp, buf);
        }
    }
}

fn client_frame(opcode: OpCode, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let h = FrameHeader { fin, rsv: 0, opcode, mask, payload_len: payload.len() as u64 };
    let mut head = [0u8; 14];
    let n = h.encode(&mut head);
    let mut out = head[..n].to_vec();
    let mut body = payload.to_vec();
    if let Some(key) = mask {
        apply_mask(&mut body, key, 0);
    }
    out.extend_from_slice(&body);
    out
}

#[tokio::test]
async fn server_reassembles_fragments_with_a_ping_in_between() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tether::accept(tcp).await.unwrap();
        ws.next().await
    });
    let (mut tcp, _) = raw_client(addr).await;
    let key = Some([9, 8, 7, 6]);
    let mut wire = client_frame(OpCode::Text, false, b"frag-0 ", key);
    wire.extend(client_frame(OpCode::Ping, true, b"between", key));
    wire.extend(client_frame(OpCode::Continuation, false, "κό".as_bytes(), key));
    wire.extend(client_frame(OpCode::Continuation, true, b" end", key));
    tcp.write_all(&wire).await.unwrap();
    let got = server.await.unwrap().unwrap().unwrap();
    assert_eq!(got, Message::text("frag-0 κό end"));
    // The pong came back, unmasked.
    let mut pong = [0u8; 9];
    tcp.read_exact(&mut pong).await.unwrap();
    assert_eq!(&pong, b"\x8a\x07between");
}

#[tokio::test]
async fn protocol_violation_closes_with_its_code() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tether::accept(tcp).await.unwrap();
        let first = ws.next().await;
        (first, ws.next().await.is_none())
    });
    let (mut tcp, _) = raw_client(addr).await;
    tcp.write_all(&client_frame(OpCode::Text, true, b"unmasked", None)).await.unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.unwrap(); // the server closes TCP after its close frame
    assert_eq!(&answer[..4], &[0x88, answer[1], 0x03, 0xEA], "close 1002");
    drop(tcp); // the server reads until we close too
    let (first, ended) = server.await.unwrap();
    match first {
        Some(Err(e)) => assert_eq!(e.close_code(), Some(CloseCode::PROTOCOL_ERROR)),
        other => panic!("{other:?}"),
    }
    assert!(ended);
}

const N: u32 = 10_000;

/// Sends N tagged messages from one task while receiving the other side's N here.
async fn exchange<S>(tx: tether::Sender<S>, mut rx: tether::Receiver<S>, tag: &'static str) -> tether::Receiver<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let sender = tokio::spawn(async move {
        for i in 0..N {
            tx.send(Message::text(format!("{tag}{i}"))).await.unwrap();
        }
    });
    let other = if tag == "c" { "s" } else { "c" };
    for i in 0..N {
        let m = rx.next().await.unwrap().unwrap();
        assert_eq!(m, Message::text(format!("{other}{i}")));
    }
    sender.await.unwrap();
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_move_10_000_messages_each_way_in_order() {
    let (client, server) = pair().await;
    let (ctx, crx) = client.split();
    let (stx, srx) = server.split();
    let c = tokio::spawn(exchange(ctx.clone(), crx, "c"));
    let s = tokio::spawn(exchange(stx, srx, "s"));
    let (mut crx, mut srx) = (c.await.unwrap(), s.await.unwrap());
    ctx.close(CloseCode::NORMAL, "done").await.unwrap();
    assert!(srx.next().await.is_none());
    assert!(crx.next().await.is_none());
    assert_eq!(crx.close_frame(), Some(CloseFrame::new(CloseCode::NORMAL, "done")));
}

#[tokio::test]
async fn cloned_sender_try_send_from_a_plain_callback() {
    let ws = tether::connect(&echo_server().await).await.unwrap();
    let (tx, mut rx) = ws.split();
    let callback_tx = tx.clone();
    let on_click = move |text: &str| callback_tx.try_send(Message::text(text));
    for i in 0..100 {
        on_click(&format!("click {i}")).unwrap();
    }
    for i in 0..100 {
        let m = timeout(Duration::from_secs(5), rx.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(m, Message::text(format!("click {i}")));
    }
    tx.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(rx.next().await.is_none());
}

#[tokio::test]
async fn next_inside_select_loses_nothing() {
    let (mut client, mut server) = pair().await;
    tokio::spawn(async move {
        for i in 0..2000u32 {
            server.feed(Message::binary(Bytes::from(i.to_be_bytes().to_vec()))).await.unwrap();
            if i % 7 == 0 {
                server.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
        }
        SinkExt::close(&mut server).await.unwrap();
        while server.next().await.is_some() {}
    });
    let mut expected = 0u32;
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            m = client.next() => match m {
                Some(m) => {
                    assert_eq!(m.unwrap().as_bytes(), expected.to_be_bytes());
                    expected += 1;
                }
                None => break,
            },
            _ = tokio::task::yield_now() => ticks += 1,
        }
    }
    assert_eq!(expected, 2000);
    assert!(ticks > 0, "the other branch did win sometimes");
}

/// A server on `accept_or_respond` that serves "page" at `/`, 404
/// elsewhere, and echoes WebSocket messages; each outcome goes to the channel.
async fn page_and_echo_server() -> (std::net::SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (log, outcomes) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let page = |req: &http::Request<()>| {
                    let (status, body) = if req.uri().path() == "/" { (200, "page") } else { (404, "no") };
                    http::Response::builder().status(status).body(Bytes::from_static(body.as_bytes())).unwrap()
                };
                let outcome =
                    tether::accept_or_respond(tcp, tether::Config::default(), |_| Ok(tether::Accept::new()), page);
                let line = match outcome.await {
                    Ok(tether::Accepted::WebSocket(mut ws)) => {
                        while let Some(Ok(m)) = ws.next().await {
                            let _ = ws.send(m).await;
                        }
                        "websocket".to_owned()
                    }
                    Ok(tether::Accepted::Http { request, status }) => {
                        format!("{} {} {status}", request.method(), request.uri())
                    }
                    Err(e) => format!("error: {e}"),
                };
                let _ = log.send(line);
            });
        }
    });
    (addr, outcomes)
}

async fn outcome(outcomes: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    timeout(Duration::from_secs(10), outcomes.recv()).await.unwrap().unwrap()
}

async fn raw_exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer))
        .await
        .expect("server closes after answering")
        .unwrap();
    String::from_utf8(answer).unwrap()
}

#[tokio::test]
async fn accept_or_respond_serves_plain_http_and_websocket_on_one_port() {
    let (addr, mut outcomes) = page_and_echo_server().await;

    let answer = raw_exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("Content-Length: 4\r\n") && answer.ends_with("\r\n\r\npage"), "{answer}");
    assert_eq!(outcome(&mut outcomes).await, "GET / 200 OK");

    let answer = raw_exchange(addr, "HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n") && answer.ends_with("\r\n\r\n"), "{answer}");
    assert_eq!(outcome(&mut outcomes).await, "HEAD /missing 404 Not Found");

    // A broken upgrade is still refused by the library, not handed over as plain HTTP.
    let answer =
        raw_exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    assert!(outcome(&mut outcomes).await.starts_with("error: WebSocket handshake failed"));
    let answer = raw_exchange(addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{answer}");
    assert!(answer.contains("allow: GET\r\n"), "{answer}");
    assert!(outcome(&mut outcomes).await.starts_with("error:"));

    let mut ws = tether::connect(&format!("ws://{addr}/")).await.unwrap();
    ws.send(Message::text("Hello!")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("Hello!"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(outcome(&mut outcomes).await, "websocket");
}

/// Counts the writes a transport is asked for.
struct CountingWrites<S> {
    inner: S,
    writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for CountingWrites<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for CountingWrites<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn a_burst_fed_while_reading_goes_out_in_one_write() {
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let writes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let io = CountingWrites { inner: server, writes: writes.clone() };
    let mut ws =
        WebSocket::from_parts(io, tether::Role::Server, BytesMut::new(), tether::Config::default(), None, None);
    let key = Some([1, 2, 3, 4]);
    let mut wire = Vec::new();
    for i in 0..100u8 {
        wire.extend(client_frame(OpCode::Binary, true, &[i; 10], key));
    }
    client.write_all(&wire).await.unwrap();
    // The echo loop of `tether echo`: feed only, the stream writes.
    for i in 0..100u8 {
        let m = ws.next().await.unwrap().unwrap();
        assert_eq!(m, Message::binary(vec![i; 10]));
        ws.feed(m).await.unwrap();
    }
    assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 0, "nothing written while messages were buffered");
    assert!(timeout(Duration::from_millis(50), ws.next()).await.is_err(), "no 101st message");
    assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 1, "the 100 echoes went out in one write");
    let mut echoed = vec![0u8; 100 * 12];
    client.read_exact(&mut echoed).await.unwrap();
    for (i, frame) in echoed.chunks(12).enumerate() {
        assert_eq!(frame[..2], [0x82, 10]);
        assert!(frame[2..].iter().all(|&b| b == i as u8));
    }
}
