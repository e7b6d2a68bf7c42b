//! One test file for both backends: each case runs natively against the
//! tokio backend (`cargo test -p tether-ws --test backends`, with the test
//! server in-process) and in headless Chromium against the browser backend
//! (`scripts/wasm-test.sh`, through `wasm-bindgen-test`, with the server
//! started by the script and its URLs compiled in). What the backends do
//! alike is asserted once; the differences `docs/wasm.md` lists are
//! asserted per backend, under `cfg(target_arch = "wasm32")`. In the
//! browser the script runs them twice: through `WebSocketStream` and, with
//! `TETHER_BACKENDS_PATH=websocket`, through the plain `WebSocket`.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use tether::prelude::*;
use tether::{ConnectionEvent, Error, ProtocolError, ReconnectPolicy, SendError};

#[path = "../examples/five_steps/mod.rs"]
mod five_steps;
#[cfg(not(target_arch = "wasm32"))]
#[path = "backends/server.rs"]
mod server;

#[cfg(not(target_arch = "wasm32"))]
use server::CLOSE_4001_REASON;
/// The reason `/close4001` gives (the server's constant, which the browser
/// build cannot compile).
#[cfg(target_arch = "wasm32")]
const CLOSE_4001_REASON: &str = "the test server says goodbye";

/// Where the test server listens.
struct Urls {
    base: String,
    refused: String,
}

impl Urls {
    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Each case as a native tokio test and a browser test.
macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        #[cfg(not(target_arch = "wasm32"))]
        mod native {
            $(
                #[tokio::test]
                async fn $name() {
                    let urls = super::server::start().await;
                    super::$name(&super::Urls { base: urls.base, refused: urls.refused }).await;
                }
            )*
        }

        #[cfg(target_arch = "wasm32")]
        mod browser {
            wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
            $(
                #[wasm_bindgen_test::wasm_bindgen_test]
                async fn $name() {
                    super::$name(&super::compiled_urls()).await;
                }
            )*
        }
    };
}

cases!(
    text_binary_and_empty,
    one_mebibyte,
    utf8_text_stays_text,
    subprotocol,
    server_closes_with_4001,
    client_closes_with_1000,
    split_halves,
    bad_urls,
    refused_connection,
    http_403,
    close_codes,
    message_over_the_limit,
    backpressure_against_a_server_that_stops_reading,
    seed_five_steps,
    reconnecting_client,
);

/// The browser cannot read the environment: `scripts/wasm-test.sh` sets
/// these when it compiles the tests (building without them fails, saying so).
#[cfg(target_arch = "wasm32")]
fn compiled_urls() -> Urls {
    Urls {
        base: env!("TETHER_BACKENDS_URL", "set by scripts/wasm-test.sh: the test server's ws:// base URL").into(),
        refused: env!("TETHER_BACKENDS_REFUSED", "set by scripts/wasm-test.sh: a ws:// URL where nothing listens")
            .into(),
    }
}

/// The settings of every case.
#[cfg(not(target_arch = "wasm32"))]
fn config() -> tether::Config {
    tether::Config::default()
}

/// The settings of every case, with the browser API the script chose.
#[cfg(target_arch = "wasm32")]
fn config() -> tether::Config {
    tether::Config::default().websocket_stream(use_stream())
}

/// Whether the browser cases go through `WebSocketStream` (the default)
/// or the plain `WebSocket` (`TETHER_BACKENDS_PATH=websocket` at build time).
#[cfg(target_arch = "wasm32")]
fn use_stream() -> bool {
    option_env!("TETHER_BACKENDS_PATH") != Some("websocket")
}

/// Connects with [`config`].
async fn connect(url: &str) -> Result<tether::WebSocket, Error> {
    tether::connect_with(url).config(config()).connect().await
}

async fn echo_of(ws: &mut tether::WebSocket, message: Message) -> Message {
    ws.send(message).await.expect("send");
    ws.next().await.expect("an echo, not the end").expect("an echo, not an error")
}

async fn text_binary_and_empty(urls: &Urls) {
    let mut ws = connect(&urls.at("/echo")).await.expect("connect");
    let messages =
        [Message::text("Hello!"), Message::binary(vec![0, 1, 2, 255]), Message::text(""), Message::binary(Vec::new())];
    for message in messages {
        assert_eq!(echo_of(&mut ws, message.clone()).await, message);
    }
    ws.close(CloseCode::NORMAL, "").await.expect("close");
}

async fn one_mebibyte(urls: &Urls) {
    let mut ws = connect(&urls.at("/echo")).await.expect("connect");
    let binary = Message::binary(noise(1 << 20, 0));
    assert_eq!(echo_of(&mut ws, binary.clone()).await, binary);
    let text = Message::text("ü".repeat(1 << 19));
    assert_eq!(text.len(), 1 << 20);
    assert_eq!(echo_of(&mut ws, text.clone()).await, text);
    ws.close(CloseCode::NORMAL, "").await.expect("close");
}

async fn utf8_text_stays_text(urls: &Urls) {
    let mut ws = connect(&urls.at("/echo")).await.expect("connect");
    let text = "héllo wörld ✓ 日本語 🎉 \u{10FFFF}";
    match echo_of(&mut ws, Message::text(text)).await {
        Message::Text(echo) => assert_eq!(echo, text),
        other => panic!("text came back as {other:?}"),
    }
    // Bytes that happen to be UTF-8 stay binary.
    assert_eq!(echo_of(&mut ws, Message::binary(&b"abc"[..])).await, Message::binary(&b"abc"[..]));
    ws.close(CloseCode::NORMAL, "").await.expect("close");
}

async fn subprotocol(urls: &Urls) {
    let ws = tether::connect_with(&urls.at("/echo"))
        .config(config())
        .protocols(["x.unknown"])
        .protocol("chat.v1")
        .connect()
        .await
        .expect("connect");
    assert_eq!(ws.protocol(), Some("chat.v1"));
    let plain = connect(&urls.at("/echo")).await.expect("connect");
    assert_eq!(plain.protocol(), None);
}

async fn server_closes_with_4001(urls: &Urls) {
    let mut ws = connect(&urls.at("/close4001")).await.expect("connect");
    assert!(ws.next().await.is_none(), "a clean close ends the stream without an error");
    let frame = ws.close_frame().expect("the server's close frame");
    assert_eq!(frame.code, CloseCode(4001));
    assert_eq!(frame.reason, CLOSE_4001_REASON);
    assert_eq!(ws.close_code(), Some(CloseCode(4001)));
    assert!(matches!(ws.send(Message::text("late")).await, Err(Error::Closed)));
}

async fn client_closes_with_1000(urls: &Urls) {
    let mut ws = connect(&urls.at("/echo")).await.expect("connect");
    assert_eq!(echo_of(&mut ws, Message::text("before")).await, Message::text("before"));
    ws.close(CloseCode::NORMAL, "bye").await.expect("a clean closing handshake");
    let frame = ws.close_frame().expect("the server's answer");
    assert_eq!((frame.code, frame.reason.as_str()), (CloseCode::NORMAL, "bye"));
    assert!(ws.next().await.is_none());
    assert!(matches!(ws.send(Message::text("late")).await, Err(Error::Closed)));
}

async fn split_halves(urls: &Urls) {
    let ws = connect(&urls.at("/echo")).await.expect("connect");
    let (tx, mut rx) = ws.split();
    let other = tx.clone();
    tx.send("one").await.expect("send");
    other.try_send("two").expect("room for a small message");
    for expected in ["one", "two"] {
        assert_eq!(rx.next().await.expect("an echo").expect("no error"), Message::text(expected));
    }
    other.close(CloseCode::NORMAL, "done").await.expect("close");
    assert!(rx.next().await.is_none());
    assert_eq!(rx.close_frame().map(|f| f.code), Some(CloseCode::NORMAL));
    assert!(matches!(tx.try_send("late"), Err(Error::Closed)));
}

async fn bad_urls(urls: &Urls) {
    let http = urls.at("/echo").replacen("ws://", "http://", 1);
    for url in [http.as_str(), "not a url", "ws://"] {
        let error = connect(url).await.expect_err(url);
        assert!(matches!(error, Error::Url { .. }), "{url}: {error:?}");
    }
}

async fn refused_connection(urls: &Urls) {
    let error = connect(&urls.refused).await.expect_err("nothing listens there");
    // The browser reports every failure before the handshake alike.
    #[cfg(target_arch = "wasm32")]
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    #[cfg(not(target_arch = "wasm32"))]
    assert!(matches!(error, Error::Refused { .. }), "{error:?}");
}

async fn http_403(urls: &Urls) {
    let error = connect(&urls.at("/403")).await.expect_err("the server refuses");
    // The browser hides the status: the same error as a refused connection.
    #[cfg(target_arch = "wasm32")]
    {
        assert!(matches!(error, Error::Connect { .. }), "{error:?}");
        assert_eq!(error.http_status(), None);
    }
    #[cfg(not(target_arch = "wasm32"))]
    assert_eq!(error.http_status(), Some(http::StatusCode::FORBIDDEN), "{error:?}");
}

async fn close_codes(urls: &Urls) {
    let mut ws = connect(&urls.at("/echo")).await.expect("connect");
    // Codes no endpoint may send, and over-long reasons, fail on both.
    let no_status = ws.close(CloseCode::NO_STATUS, "").await;
    assert!(matches!(no_status, Err(Error::Send(SendError::InvalidCloseCode(1005)))), "{no_status:?}");
    let long = ws.close(CloseCode::NORMAL, &"x".repeat(124)).await;
    assert!(matches!(long, Err(Error::Send(SendError::CloseReasonTooLong(124)))), "{long:?}");
    // 1001 is valid on the wire, but browsers let scripts send only 1000
    // and 3000–4999: a typed error there, and the connection stays usable.
    let going_away = ws.close(CloseCode::GOING_AWAY, "leaving").await;
    #[cfg(target_arch = "wasm32")]
    {
        assert!(matches!(going_away, Err(Error::Send(SendError::InvalidCloseCode(1001)))), "{going_away:?}");
        assert_eq!(echo_of(&mut ws, Message::text("still open")).await, Message::text("still open"));
        ws.close(CloseCode(4000), "application code").await.expect("3000–4999 are allowed");
        assert_eq!(ws.close_frame().map(|f| f.code), Some(CloseCode(4000)));
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        going_away.expect("the tokio backend sends 1001");
        assert_eq!(ws.close_frame().map(|f| f.code), Some(CloseCode::GOING_AWAY));
    }
}

async fn message_over_the_limit(urls: &Urls) {
    let config = config().max_message_size(1000);
    let mut ws = tether::connect_with(&urls.at("/echo")).config(config).connect().await.expect("connect");
    assert_eq!(echo_of(&mut ws, Message::binary(vec![7; 1000])).await, Message::binary(vec![7; 1000]));
    ws.send(Message::binary(vec![7; 1001])).await.expect("sending is not limited");
    let error = ws.next().await.expect("the end").expect_err("the echo is over the limit");
    assert!(matches!(error, Error::Protocol(ProtocolError::MessageTooLarge { max: 1000, .. })), "{error:?}");
    assert!(ws.next().await.is_none());
}

/// Browser only, plain `WebSocket` path: the tokio backend has no receive
/// queue (it stops reading the socket instead), nor does the
/// `WebSocketStream` path, so an application that does not read never fails there.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
async fn browser_receive_queue_is_bounded() {
    const LIMIT: usize = 64 * 1024;
    let urls = compiled_urls();
    let config = config().websocket_stream(false).receive_buffer_size(LIMIT);
    let ws = tether::connect_with(&urls.at("/echo")).config(config).connect().await.expect("connect");
    let (tx, mut rx) = ws.split();
    let mut control = connect(&urls.at("/echo")).await.expect("connect");
    // Send without reading: the echoes pile up until the bound closes the connection.
    let mut sent = 0;
    loop {
        match tx.send(Message::binary(vec![1; 16 * 1024])).await {
            Ok(()) => sent += 1,
            Err(Error::Closed) => break,
            Err(e) => panic!("send failed: {e}"),
        }
        assert!(sent < 64, "no overflow after {sent} echoes of 16 KiB");
        assert_eq!(echo_of(&mut control, Message::text("tick")).await, Message::text("tick"));
    }
    // What was queued is delivered, then the typed error, then the end.
    let mut delivered = 0;
    let error = loop {
        match rx.next().await.expect("an error before the end") {
            Ok(_) => delivered += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(error, Error::ReceiveBufferFull { limit: LIMIT }), "{error:?}");
    assert!((1..=LIMIT / (16 * 1024)).contains(&delivered), "{delivered} messages delivered");
    assert!(rx.next().await.is_none());
    assert_eq!(rx.close_code(), Some(CloseCode(4008)));
}

/// Browser only: the script's choice of path is the one taken (Chromium
/// has `WebSocketStream`).
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
async fn browser_path_as_chosen() {
    let urls = compiled_urls();
    let ws = connect(&urls.at("/echo")).await.expect("connect");
    assert_eq!(ws.uses_websocket_stream(), use_stream());
    let plain = tether::connect_with(&urls.at("/echo")).config(config().websocket_stream(false));
    assert!(!plain.connect().await.expect("connect").uses_websocket_stream());
}

/// Browser only, `WebSocketStream` path: an application that does not read
/// paces the socket, as the tokio backend does. Far more than the plain
/// path's receive bound comes back unread without `ReceiveBufferFull`, the
/// sender then stalls (the browser stopped reading, so the echo server
/// stopped too), and every message arrives, in order, once read.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
async fn browser_stream_paces_the_receive_side() {
    const LIMIT: usize = 64 * 1024;
    const CHUNK: usize = 16 * 1024;
    const COUNT: u64 = 2048;
    let urls = compiled_urls();
    // The bound that ends the plain path's connection after 4 unread
    // chunks; 2048 of them (32 MiB) come back here.
    let config = tether::Config::default().websocket_stream(true).receive_buffer_size(LIMIT);
    let ws = tether::connect_with(&urls.at("/echo")).config(config).connect().await.expect("connect");
    assert!(ws.uses_websocket_stream(), "Chromium has WebSocketStream");
    let (tx, mut rx) = ws.split();
    let mut control = connect(&urls.at("/echo")).await.expect("connect");
    let sent = std::cell::Cell::new(0_u64);
    {
        let sending = async {
            for n in 0..COUNT {
                tx.send(Message::binary(noise(CHUNK, n))).await.expect("send");
                sent.set(n + 1);
            }
        };
        let reading = async {
            // Read nothing while the sender makes progress: until it sent
            // everything, or an echo round trip on another connection saw
            // it stuck (the paced peer waits for this side to read). On the
            // plain path the echoes would overflow the bound meanwhile: 4008,
            // and the next send fails.
            let mut before = 0;
            while sent.get() < COUNT && (before == 0 || sent.get() > before) {
                before = sent.get();
                assert_eq!(echo_of(&mut control, Message::text("tick")).await, Message::text("tick"));
            }
            // Far more than the plain path's bound went out unread, and the
            // sender then stalled short of 32 MiB: the browser stopped reading
            // the socket, and TCP the echo server (here it stalls near 9 MiB
            // of loopback and browser buffers).
            let unread = sent.get() as usize * CHUNK;
            assert!(unread > 4 * LIMIT, "only {unread} bytes sent before reading");
            assert!(sent.get() < COUNT, "all {unread} bytes went out unread: the browser did not pace");
            for n in 0..COUNT {
                let message = rx.next().await.expect("no end").expect("no ReceiveBufferFull, no error");
                assert_eq!(message, Message::binary(noise(CHUNK, n)), "message {n}");
            }
        };
        let (mut sending, mut reading) = (pin!(sending), pin!(reading));
        let (mut sent_all, mut read_all) = (false, false);
        poll_fn(|cx| {
            sent_all = sent_all || sending.as_mut().poll(cx).is_ready();
            read_all = read_all || reading.as_mut().poll(cx).is_ready();
            if sent_all && read_all {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
    tx.close(CloseCode::NORMAL, "").await.expect("close");
    assert!(rx.next().await.is_none());
    control.close(CloseCode::NORMAL, "").await.expect("close");
}

async fn backpressure_against_a_server_that_stops_reading(urls: &Urls) {
    const LIMIT: usize = 64 * 1024;
    const CHUNK: usize = 16 * 1024;
    let config = config().write_buffer_size(LIMIT);
    let ws = tether::connect_with(&urls.at("/stall")).config(config).connect().await.expect("connect");
    let (tx, _rx) = ws.split();
    let mut control = connect(&urls.at("/echo")).await.expect("connect");
    // Incompressible and each one different, so permessage-deflate (whose
    // window would find a repeated message) cannot shrink what queues up.
    let chunk = |n: u64| Message::binary(noise(CHUNK, n));
    let mut sent = 0_u64;
    // Fill up to the bound, let the transport (kernel or browser) move bytes
    // during an echo round trip on another connection, and again, until the
    // bound is still reached after a round trip: nothing drains any more.
    loop {
        let before = sent;
        loop {
            match tx.try_send(chunk(sent)) {
                Ok(()) => sent += 1,
                Err(Error::Full) => break,
                Err(e) => panic!("try_send failed after {sent} messages: {e}"),
            }
            assert!(tx.buffered_amount() <= LIMIT + CHUNK, "{} bytes buffered", tx.buffered_amount());
        }
        if sent == before {
            break;
        }
        assert!(sent < 16 * 1024, "still not full after {sent} messages of {CHUNK} bytes");
        assert_eq!(echo_of(&mut control, Message::text("tick")).await, Message::text("tick"));
        // Hand the transport what it takes now, without waiting (the tokio
        // backend writes queued bytes when polled; the browser's flush is a no-op).
        let mut flush = pin!(tx.flush());
        let _ = poll_fn(|cx| Poll::Ready(flush.as_mut().poll(cx))).await;
    }
    // The transport took bytes until the server's window closed: what stays
    // buffered here is the bound's worth of what was sent.
    let total = sent as usize * CHUNK;
    assert!(total > 4 * LIMIT, "only {total} bytes left before the buffer stayed full");
    assert!(tx.buffered_amount() <= LIMIT + CHUNK, "{} bytes buffered", tx.buffered_amount());
    // The producer now waits...
    let mut waiting = pin!(tx.send(chunk(sent)));
    let first = poll_fn(|cx| Poll::Ready(waiting.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "send must wait while the buffer is over its bound");
    assert!(tx.buffered_amount() <= LIMIT + CHUNK, "{} bytes buffered", tx.buffered_amount());
    // ...until the server reads again (the browser has no event for that:
    // the wasm backend's timer notices `bufferedAmount` fell).
    let mut resume = connect(&urls.at("/resume")).await.expect("connect");
    assert!(resume.next().await.is_none());
    waiting.await.expect("the waiting send completes once the server reads");
    assert!(tx.buffered_amount() <= LIMIT + CHUNK, "{} bytes buffered", tx.buffered_amount());
    tx.close(CloseCode::NORMAL, "").await.expect("close");
    control.close(CloseCode::NORMAL, "").await.expect("close");
}

async fn seed_five_steps(urls: &Urls) {
    let lines = RefCell::new(Vec::new());
    five_steps::five_steps(&urls.at("/echo"), |line| lines.borrow_mut().push(line)).await.expect("five steps");
    assert_eq!(lines.into_inner(), ["echo: Hello!", "echo: 4 bytes of binary", "closed: 1000 bye"]);
}

async fn reconnecting_client(urls: &Urls) {
    let policy = ReconnectPolicy::default().delays(Duration::from_millis(10), Duration::from_millis(50));
    let mut client = tether::connect_with(&urls.at("/drop-after-one")).config(config()).reconnect(policy).start();
    let mut events = client.events().expect("the events, once");
    let sender = client.sender();
    // The server drops each connection after one echo: the client comes back.
    for round in ["one", "two", "three"] {
        loop {
            match events.next().await.expect("events until closed") {
                ConnectionEvent::Open => break,
                ConnectionEvent::Closed { reason } => panic!("closed: {reason:?}"),
                _ => {}
            }
        }
        sender.send(round).await.expect("connected");
        assert_eq!(client.next().await, Some(Message::text(round)));
        loop {
            match events.next().await.expect("events until closed") {
                ConnectionEvent::Reconnecting { attempt, .. } => break assert_eq!(attempt, 1),
                ConnectionEvent::Closed { reason } => panic!("closed: {reason:?}"),
                _ => {}
            }
        }
    }
    client.close(CloseCode::NORMAL, "").await;
    loop {
        if let ConnectionEvent::Closed { reason } = events.next().await.expect("a Closed event") {
            break assert_eq!(reason, None, "a deliberate close");
        }
    }
}

/// Bytes no compressor can shrink (xorshift), the same for the same `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect()
}
