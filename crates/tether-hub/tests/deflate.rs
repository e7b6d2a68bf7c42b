//! permessage-deflate in a room: the hub adds `server_no_context_takeover`
//! (and `client_no_context_takeover`) to its answer, so members with the
//! same window get one shared compressed frame per message, read off the
//! wire here byte by byte; a member that offers no compression gets the
//! plain frame.

use std::time::Duration;

use bytes::BytesMut;
use tether::proto::handshake::extensions::{parse_extensions, DeflateParams};
use tether::proto::{Config, Connection, DeflateConfig, Event, Role};
use tether::Message;
use tether_hub::Hub;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A hub on a free port; returns its `127.0.0.1:PORT`.
async fn start(hub: &Hub) -> String {
    let server = tether::Server::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let (decide, serve) = (hub.clone(), hub.clone());
    tokio::spawn(server.on_request(move |r| decide.decide(r)).serve(move |ws, _| {
        let hub = serve.clone();
        async move {
            let _ = hub.serve(ws).await;
        }
    }));
    addr
}

/// A member speaking WebSocket by hand, so the frames it receives can be
/// looked at before they are decoded.
struct RawMember {
    tcp: TcpStream,
    buf: BytesMut,
    /// Decodes what arrives, with the parameters the hub agreed to.
    decoder: Connection,
    agreed: Option<DeflateParams>,
    /// Bytes received since the handshake.
    wire_bytes: usize,
}

impl RawMember {
    async fn join(addr: &str, room: &str, offer: Option<&str>) -> RawMember {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let extensions = offer.map_or(String::new(), |o| format!("Sec-WebSocket-Extensions: {o}\r\n"));
        let request = format!(
            "GET /rooms/{room} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut buf = BytesMut::new();
        let end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            assert!(tcp.read_buf(&mut buf).await.unwrap() > 0, "the hub hung up during the handshake");
        };
        let head = String::from_utf8(buf.split_to(end).to_vec()).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let answer: Vec<&str> = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-extensions"))
            .map(|(_, value)| value.trim())
            .collect();
        let agreed = DeflateParams::check_response(&parse_extensions(answer).unwrap(), &DeflateConfig::default())
            .expect("a valid answer");
        let mut decoder = Connection::new(Role::Client, Config::default());
        if let Some(params) = agreed {
            decoder = decoder.with_deflate(params, &DeflateConfig::default());
        }
        let wire_bytes = buf.len();
        RawMember { tcp, buf, decoder, agreed, wire_bytes }
    }

    /// The first byte of the next frame (FIN, RSV1..3, opcode) and the
    /// message it carries.
    async fn next(&mut self) -> (u8, Message) {
        while self.buf.is_empty() {
            self.read().await;
        }
        let first = self.buf[0];
        loop {
            if let Some(event) = self.decoder.read_event(&mut self.buf).unwrap() {
                match event {
                    Event::Message(message) => return (first, message),
                    other => panic!("unexpected {other:?}"),
                }
            }
            self.read().await;
        }
    }

    async fn read(&mut self) {
        let read = tokio::time::timeout(Duration::from_secs(10), self.tcp.read_buf(&mut self.buf));
        let n = read.await.expect("a frame in time").unwrap();
        assert!(n > 0, "closed");
        self.wire_bytes += n;
    }
}

/// Waits until `room` has `n` members (a join ends after the handshake).
async fn members(hub: &Hub, room: &str, n: usize) {
    for _ in 0..1000 {
        if hub.member_count(room) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("room {room} has {} members, not {n}", hub.member_count(room));
}

const FIN_RSV1_TEXT: u8 = 0xc1;
const FIN_TEXT: u8 = 0x81;

#[tokio::test]
async fn members_share_compressed_frames_and_hold_no_context() {
    let hub = Hub::default();
    let addr = start(&hub).await;
    let mut compressed = Vec::new();
    for offer in ["permessage-deflate; client_max_window_bits", "permessage-deflate"] {
        for _ in 0..3 {
            compressed.push(RawMember::join(&addr, "news", Some(offer)).await);
        }
    }
    // A member that caps the hub's window gets frames of that window.
    let mut small_window = RawMember::join(&addr, "news", Some("permessage-deflate; server_max_window_bits=10")).await;
    let mut plain = RawMember::join(&addr, "news", None).await;
    members(&hub, "news", 8).await;

    for member in compressed.iter().chain([&small_window]) {
        let agreed = member.agreed.expect("compression agreed");
        assert!(agreed.server_no_context_takeover, "the hub adds server_no_context_takeover: {agreed:?}");
        assert!(agreed.client_no_context_takeover, "and client_no_context_takeover: {agreed:?}");
    }
    assert_eq!(small_window.agreed.unwrap().server_max_window_bits, Some(10));
    assert_eq!(plain.agreed, None);

    // Two messages: each is compressed alone, so each inflates on its own.
    let texts: Vec<String> = (0..2)
        .map(|n| (0..3000).map(|i| ["price ", "volume ", "tick "][(i + n) % 3]).collect::<String>() + &n.to_string())
        .collect();
    for text in &texts {
        hub.publish("news", Message::text(text.clone())).await;
    }
    for member in compressed.iter_mut().chain([&mut small_window]) {
        for text in &texts {
            let (first, message) = member.next().await;
            assert_eq!(first, FIN_RSV1_TEXT, "a compressed frame");
            assert_eq!(message, Message::text(text.clone()));
        }
    }
    for text in &texts {
        assert_eq!(plain.next().await, (FIN_TEXT, Message::text(text.clone())));
    }
    let total: usize = texts.iter().map(String::len).sum();
    assert!(compressed.iter().all(|m| m.wire_bytes < total / 10), "compressed, not just flagged");
    assert!(plain.wire_bytes > total);

    // A member's compressed publish (the hub reads it, dropping the
    // decompressor after it) reaches everyone.
    let mut tether_member = tether::connect(&format!("ws://{addr}/rooms/news")).await.unwrap();
    assert!(tether_member.compression().is_some_and(|p| p.client_no_context_takeover));
    members(&hub, "news", 9).await;
    let loud = "ab".repeat(5000);
    tether_member.send(Message::text(loud.clone())).await.unwrap();
    for member in compressed.iter_mut().chain([&mut small_window, &mut plain]) {
        assert_eq!(member.next().await.1, Message::text(loud.clone()));
    }
    let echoed = futures_util::StreamExt::next(&mut tether_member).await.unwrap().unwrap();
    assert_eq!(echoed, Message::text(loud));
}

#[tokio::test]
async fn compression_can_be_turned_off_for_members() {
    let hub = Hub::new(tether_hub::HubConfig::default().deflate(None));
    let addr = start(&hub).await;
    let mut member = RawMember::join(&addr, "r", Some("permessage-deflate; client_max_window_bits")).await;
    assert_eq!(member.agreed, None);
    members(&hub, "r", 1).await;
    let text = "z".repeat(4000);
    hub.publish("r", Message::text(text.clone())).await;
    assert_eq!(member.next().await, (FIN_TEXT, Message::text(text)));
}
