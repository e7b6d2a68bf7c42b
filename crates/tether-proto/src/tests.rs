//! Connection tests over an in-memory client/server pair.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::*;

/// What one side decoded, in order.
type Events = Vec<Result<Event, ProtocolError>>;

/// Two connected endpoints with a byte pipe each way, like quinn-proto's `Pair`.
struct Pair {
    client: Connection,
    server: Connection,
    to_server: BytesMut,
    to_client: BytesMut,
}

impl Pair {
    fn new() -> Self {
        Self::with_config(Config::default())
    }

    fn with_config(config: Config) -> Self {
        Pair {
            client: Connection::new(Role::Client, config),
            server: Connection::new(Role::Server, config),
            to_server: BytesMut::new(),
            to_client: BytesMut::new(),
        }
    }

    /// Moves every queued byte to the other side.
    fn transmit(&mut self) {
        drain(&mut self.client, &mut self.to_server);
        drain(&mut self.server, &mut self.to_client);
    }

    /// Delivers everything and collects what each side decodes, until quiet.
    fn drive(&mut self) -> (Events, Events) {
        let (mut at_client, mut at_server) = (Vec::new(), Vec::new());
        loop {
            self.transmit();
            let before = at_client.len() + at_server.len();
            read_all(&mut self.server, &mut self.to_server, &mut at_server);
            read_all(&mut self.client, &mut self.to_client, &mut at_client);
            if at_client.len() + at_server.len() == before
                && self.client.output().is_empty()
                && self.server.output().is_empty()
            {
                return (at_client, at_server);
            }
        }
    }
}

fn drain(conn: &mut Connection, dst: &mut BytesMut) {
    let out = conn.output();
    while !out.is_empty() {
        let chunk = out.first_chunk().to_vec();
        dst.extend_from_slice(&chunk);
        out.advance(chunk.len());
    }
}

fn read_all(conn: &mut Connection, input: &mut BytesMut, events: &mut Events) {
    loop {
        match conn.read_event(input) {
            Ok(Some(e)) => events.push(Ok(e)),
            Ok(None) => return,
            Err(e) => {
                events.push(Err(e));
                return;
            }
        }
    }
}

/// Feeds `bytes` to a fresh connection of `role`, returning its events and what it queued.
fn feed(role: Role, bytes: &[u8]) -> (Events, Vec<u8>) {
    feed_with(role, Config::default(), bytes)
}

fn feed_with(role: Role, config: Config, bytes: &[u8]) -> (Events, Vec<u8>) {
    let mut conn = Connection::new(role, config);
    let mut input = BytesMut::from(bytes);
    let mut events = Vec::new();
    read_all(&mut conn, &mut input, &mut events);
    let mut out = BytesMut::new();
    drain(&mut conn, &mut out);
    (events, out.to_vec())
}

/// An unmasked server frame.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![b0];
    let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: None, payload_len: payload.len() as u64 };
    let mut buf = [0u8; frame::MAX_HEADER_LEN];
    let n = h.encode(&mut buf);
    v.extend_from_slice(&buf[1..n]);
    v.extend_from_slice(payload);
    v
}

/// A masked client frame.
fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let h =
        FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: Some(key), payload_len: payload.len() as u64 };
    let mut buf = [0u8; frame::MAX_HEADER_LEN];
    let n = h.encode(&mut buf);
    let mut v = vec![b0];
    v.extend_from_slice(&buf[1..n]);
    let mut p = payload.to_vec();
    mask::apply_mask(&mut p, key, 0);
    v.extend_from_slice(&p);
    v
}

fn close_code_sent(out: &[u8]) -> Option<u16> {
    let (h, n) = FrameHeader::parse(out).ok()??;
    let mut payload = out.get(n..n + h.payload_len as usize)?.to_vec();
    if let Some(key) = h.mask {
        mask::apply_mask(&mut payload, key, 0);
    }
    (h.opcode == OpCode::Close && payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))
}

fn message(e: &Result<Event, ProtocolError>) -> &Message {
    match e {
        Ok(Event::Message(m)) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn rfc_5_7_examples_decode() {
    let (ev, _) = feed(Role::Client, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(message(&ev[0]), &Message::text("Hello"));
    let (ev, _) = feed(Role::Server, &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    assert_eq!(message(&ev[0]), &Message::text("Hello"));
    let (ev, _) = feed(Role::Client, &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);
    assert_eq!(ev.len(), 1);
    assert_eq!(message(&ev[0]), &Message::text("Hello"));
    // An unmasked ping is answered with a pong carrying the same payload.
    let (ev, out) = feed(Role::Client, &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(ev[0], Ok(Event::Ping(Bytes::from_static(b"Hello"))));
    let (h, n) = FrameHeader::parse(&out).unwrap().unwrap();
    assert_eq!(h.opcode, OpCode::Pong);
    let mut p = out[n..].to_vec();
    mask::apply_mask(&mut p, h.mask.unwrap(), 0);
    assert_eq!(p, b"Hello");
    // 256 bytes and 64 KiB binary messages in single unmasked frames.
    let mut big = vec![0x82, 0x7E, 0x01, 0x00];
    big.extend(std::iter::repeat_n(7, 256));
    let (ev, _) = feed(Role::Client, &big);
    assert_eq!(message(&ev[0]).len(), 256);
    let mut huge = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0];
    huge.extend(std::iter::repeat_n(9, 65536));
    let (ev, _) = feed(Role::Client, &huge);
    assert_eq!(message(&ev[0]).len(), 65536);
}

#[test]
fn messages_round_trip_both_ways() {
    let mut p = Pair::new();
    p.client.send(Message::text("hi server")).unwrap();
    p.client.send(Message::binary(vec![0u8; 100_000])).unwrap();
    p.client.send(Message::text("")).unwrap();
    p.server.send(Message::binary(vec![1u8; 70_000])).unwrap();
    p.server.send(Message::binary(Vec::new())).unwrap();
    let (at_client, at_server) = p.drive();
    assert_eq!(message(&at_server[0]), &Message::text("hi server"));
    assert_eq!(message(&at_server[1]).len(), 100_000);
    assert_eq!(message(&at_server[2]), &Message::text(""));
    assert_eq!(message(&at_client[0]).as_bytes(), &[1u8; 70_000][..]);
    assert_eq!(message(&at_client[1]), &Message::binary(Vec::new()));
}

#[test]
fn fragmented_messages_with_interleaved_control_frames() {
    let mut p = Pair::new();
    p.client.send_frame(OpCode::Text, false, Bytes::from_static("κό".as_bytes())).unwrap();
    p.client.send_ping(b"mid").unwrap();
    // Cut inside a two-byte code point.
    let s = "σμε".as_bytes();
    p.client.send_frame(OpCode::Continuation, false, Bytes::copy_from_slice(&s[..1])).unwrap();
    p.client.send_frame(OpCode::Continuation, true, Bytes::copy_from_slice(&s[1..])).unwrap();
    let (at_client, at_server) = p.drive();
    assert_eq!(at_server[0], Ok(Event::Ping(Bytes::from_static(b"mid"))));
    assert_eq!(message(&at_server[1]), &Message::text("κόσμε"));
    assert_eq!(at_client, vec![Ok(Event::Pong(Bytes::from_static(b"mid")))]);
}

#[test]
fn split_at_every_byte_gives_the_same_events() {
    let mut p = Pair::new();
    p.client.send(Message::text("héllo")).unwrap();
    p.client.send_ping(b"x").unwrap();
    p.client.send(Message::binary(vec![5u8; 300])).unwrap();
    p.client.send_close(Some(&CloseFrame::new(CloseCode(4000), "done"))).unwrap();
    let mut wire = BytesMut::new();
    drain(&mut p.client, &mut wire);
    let (whole, _) = feed(Role::Server, &wire);
    for cut in 0..wire.len() {
        let mut conn = Connection::new(Role::Server, Config::default());
        let mut events = Vec::new();
        let mut input = BytesMut::from(&wire[..cut]);
        read_all(&mut conn, &mut input, &mut events);
        input.extend_from_slice(&wire[cut..]);
        read_all(&mut conn, &mut input, &mut events);
        assert_eq!(events, whole, "cut at {cut}");
    }
}

#[test]
fn closing_handshake_started_by_client() {
    let mut p = Pair::new();
    p.client.send(Message::text("last")).unwrap();
    p.client.send_close(Some(&CloseFrame::new(CloseCode::NORMAL, "bye"))).unwrap();
    assert_eq!(p.client.state(), State::Closing);
    assert_eq!(p.client.send(Message::text("late")), Err(SendError::Closed));
    let (at_client, at_server) = p.drive();
    assert_eq!(message(&at_server[0]), &Message::text("last"));
    let expected = Some(CloseFrame::new(CloseCode::NORMAL, "bye"));
    assert_eq!(at_server[1], Ok(Event::Close(expected.clone())));
    assert_eq!(at_client, vec![Ok(Event::Close(expected.clone()))], "the server echoes code and reason");
    assert_eq!(p.server.state(), State::Closed);
    assert_eq!(p.client.state(), State::Closed);
    assert_eq!(p.server.peer_close(), expected.as_ref());
    assert_eq!(p.client.peer_close(), expected.as_ref());
}

#[test]
fn closing_handshake_started_by_server_without_code() {
    let mut p = Pair::new();
    p.server.send_close(None).unwrap();
    let (at_client, at_server) = p.drive();
    assert_eq!(at_client, vec![Ok(Event::Close(None))]);
    assert_eq!(at_server, vec![Ok(Event::Close(None))]);
    assert_eq!(p.client.peer_close(), None);
}

#[test]
fn data_still_arrives_while_closing_but_nothing_is_sent_after_close() {
    let mut p = Pair::new();
    p.server.send_close(Some(&CloseFrame::new(CloseCode::GOING_AWAY, ""))).unwrap();
    p.client.send(Message::text("in flight")).unwrap();
    let (at_client, at_server) = p.drive();
    assert_eq!(message(&at_server[0]), &Message::text("in flight"));
    assert!(matches!(at_server[1], Ok(Event::Close(_))));
    assert!(matches!(at_client[0], Ok(Event::Close(_))));
    // Pings after close are not answered.
    let mut input = BytesMut::from(&masked(0x89, b"late")[..]);
    assert_eq!(p.server.read_event(&mut input), Ok(None));
    assert!(p.server.output().is_empty());
}

#[test]
fn violations_map_to_close_codes() {
    use ProtocolError as E;
    let cases: Vec<(Role, Vec<u8>, ProtocolError, u16)> = vec![
        (Role::Client, frame(0xC1, b"x"), E::ReservedBits(0b100), 1002),
        (Role::Client, frame(0xA2, b"x"), E::ReservedBits(0b010), 1002),
        (Role::Client, frame(0x83, b""), E::ReservedOpcode(3), 1002),
        (Role::Client, frame(0x8B, b""), E::ReservedOpcode(0xB), 1002),
        (Role::Client, frame(0x89, &[0; 126]), E::ControlFrameTooLong(126), 1002),
        (Role::Client, frame(0x09, b""), E::FragmentedControlFrame, 1002),
        (Role::Server, frame(0x81, b"x"), E::UnmaskedFrame, 1002),
        (Role::Client, masked(0x81, b"x"), E::MaskedFrame, 1002),
        (Role::Client, frame(0x80, b"x"), E::UnexpectedContinuation, 1002),
        (Role::Client, [frame(0x01, b"a"), frame(0x81, b"b")].concat(), E::ExpectedContinuation, 1002),
        (Role::Client, frame(0x81, b"\xce\xba\xff"), E::InvalidUtf8, 1007),
        (Role::Client, frame(0x88, b"\x03"), E::InvalidCloseFrame, 1002),
        (Role::Client, frame(0x88, &999u16.to_be_bytes()), E::InvalidCloseCode(999), 1002),
        (Role::Client, frame(0x88, &1005u16.to_be_bytes()), E::InvalidCloseCode(1005), 1002),
        (Role::Client, frame(0x88, &1015u16.to_be_bytes()), E::InvalidCloseCode(1015), 1002),
        (Role::Client, frame(0x88, &2999u16.to_be_bytes()), E::InvalidCloseCode(2999), 1002),
        (Role::Client, frame(0x88, &5000u16.to_be_bytes()), E::InvalidCloseCode(5000), 1002),
        (Role::Client, frame(0x88, b"\x03\xe8\xff"), E::InvalidUtf8, 1007),
    ];
    for (role, bytes, error, code) in cases {
        let (events, out) = feed(role, &bytes);
        assert_eq!(events.last(), Some(&Err(error.clone())), "{bytes:x?}");
        assert_eq!(error.close_code().0, code);
        assert_eq!(close_code_sent(&out), Some(code), "{error}");
    }
}

#[test]
fn valid_close_codes_are_echoed() {
    for code in [1000u16, 1001, 1002, 1003, 1007, 1010, 1011, 1014, 3000, 4999] {
        let (events, out) = feed(Role::Client, &frame(0x88, &code.to_be_bytes()));
        assert_eq!(events, vec![Ok(Event::Close(Some(CloseFrame::new(CloseCode(code), ""))))]);
        assert_eq!(close_code_sent(&out), Some(code));
    }
}

#[test]
fn invalid_utf8_fails_fast_inside_an_incomplete_frame() {
    // A text frame announcing 100 bytes; an invalid sequence arrives in the
    // first 10, before the frame (let alone the message) is complete.
    let mut bytes = vec![0x01, 100];
    bytes.extend_from_slice(b"valid \xed\xa0\x80x");
    let (events, out) = feed(Role::Client, &bytes);
    assert_eq!(events, vec![Err(ProtocolError::InvalidUtf8)]);
    assert_eq!(close_code_sent(&out), Some(1007));
}

#[test]
fn truncated_code_point_at_message_end_is_invalid() {
    let bytes = [frame(0x01, b"ab\xe2\x82"), frame(0x80, b"")].concat();
    let (events, _) = feed(Role::Client, &bytes);
    assert_eq!(events, vec![Err(ProtocolError::InvalidUtf8)]);
}

#[test]
fn limits_give_1009_before_the_payload_arrives() {
    let config = Config::default().max_frame_size(1000).max_message_size(1500);
    let (events, out) = feed_with(Role::Client, config, &[0x82, 0x7E, 0x03, 0xE9]);
    assert_eq!(events, vec![Err(ProtocolError::FrameTooLarge { size: 1001, max: 1000 })]);
    assert_eq!(close_code_sent(&out), Some(1009));
    let two = [frame(0x02, &[0; 1000]), vec![0x80, 0x7E, 0x02, 0x00]].concat();
    let (events, out) = feed_with(Role::Client, config, &two);
    assert_eq!(events, vec![Err(ProtocolError::MessageTooLarge { size: 1512, max: 1500 })]);
    assert_eq!(close_code_sent(&out), Some(1009));
}

#[test]
fn failed_connection_ignores_further_input() {
    let bytes = [frame(0x83, b""), frame(0x81, b"after")].concat();
    let mut conn = Connection::new(Role::Client, Config::default());
    let mut input = BytesMut::from(&bytes[..]);
    assert!(conn.read_event(&mut input).is_err());
    assert_eq!(conn.state(), State::Failed);
    assert_eq!(conn.read_event(&mut input), Ok(None));
    assert_eq!(conn.send(Message::text("x")), Err(SendError::Closed));
}

#[test]
fn send_rejects_misuse() {
    let mut c = Connection::new(Role::Client, Config::default());
    assert_eq!(c.send_ping(&[0; 126]), Err(SendError::ControlFrameTooLong(126)));
    assert_eq!(c.send_frame(OpCode::Close, true, Bytes::new()), Err(SendError::ControlOpcode(8)));
    assert_eq!(c.send_close(Some(&CloseFrame::new(CloseCode(1005), ""))), Err(SendError::InvalidCloseCode(1005)));
    let long = "x".repeat(124);
    assert_eq!(c.send_close(Some(&CloseFrame::new(CloseCode(1000), long))), Err(SendError::CloseReasonTooLong(124)));
    assert_eq!(c.state(), State::Open);
}

#[test]
fn payloads_are_not_copied_on_receive() {
    let bytes = frame(0x82, &[3u8; 5000]);
    let mut input = BytesMut::from(&bytes[..]);
    let base = input.as_ptr() as usize;
    let mut conn = Connection::new(Role::Client, Config::default());
    let Ok(Some(Event::Message(Message::Binary(b)))) = conn.read_event(&mut input) else { panic!() };
    assert_eq!(b.as_ptr() as usize, base + 4, "payload is a slice of the read buffer");
}

#[test]
fn client_masks_with_fresh_keys() {
    let mut c = Connection::new(Role::Client, Config::default());
    c.send(Message::text("a")).unwrap();
    c.send(Message::text("a")).unwrap();
    let mut out = BytesMut::new();
    drain(&mut c, &mut out);
    let (h1, n1) = FrameHeader::parse(&out).unwrap().unwrap();
    let (h2, _) = FrameHeader::parse(&out[n1 + 1..]).unwrap().unwrap();
    assert!(h1.mask.is_some() && h2.mask.is_some());
    assert_ne!(h1.mask, h2.mask);
}

fn deflate_pair(params: DeflateParams, config: DeflateConfig) -> Pair {
    let mut p = Pair::new();
    p.client = Connection::new(Role::Client, Config::default()).with_deflate(params, &config);
    p.server = Connection::new(Role::Server, Config::default()).with_deflate(params, &config);
    p
}

#[test]
#[cfg_attr(miri, ignore = "tens of kilobytes through zlib: too slow under Miri; runs natively")]
fn compressed_messages_round_trip_with_rsv1_on_the_wire() {
    for params in [
        DeflateParams::default(),
        DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(9),
            client_max_window_bits: Some(10),
        },
    ] {
        let mut p = deflate_pair(params, DeflateConfig::default());
        let text = "tether ".repeat(1000);
        p.client.send(Message::text(text.clone())).unwrap();
        p.client.send(Message::text("short")).unwrap(); // under the threshold: plain
        let mut wire = BytesMut::new();
        drain(&mut p.client, &mut wire);
        let (h, _) = FrameHeader::parse(&wire).unwrap().unwrap();
        assert_eq!(h.rsv, 0b100, "RSV1 marks the compressed message");
        assert!(h.payload_len < 200, "7000 bytes of repeats compress well: {}", h.payload_len);
        p.to_server.extend_from_slice(&wire);
        p.server.send(Message::binary(vec![7u8; 50_000])).unwrap();
        p.server.send_with(Message::binary(vec![7u8; 50_000]), false).unwrap();
        let (at_client, at_server) = p.drive();
        assert_eq!(message(&at_server[0]), &Message::text(text.clone()));
        assert_eq!(message(&at_server[1]), &Message::text("short"));
        assert_eq!(message(&at_client[0]), &Message::binary(vec![7u8; 50_000]));
        assert_eq!(message(&at_client[1]), &Message::binary(vec![7u8; 50_000]));
    }
}

/// With context takeover, a compressor that compressed nothing for a whole
/// keepalive interval is dropped at the next ping; the peer, which keeps its
/// window, still inflates what a fresh compressor sends.
#[test]
#[cfg_attr(miri, ignore = "three compressors through zlib: too slow under Miri; runs natively")]
fn a_compressor_unused_for_a_keepalive_interval_is_dropped() {
    let (t0, s) = (Instant::now(), Duration::from_secs(1));
    let mut p = deflate_pair(DeflateParams::default(), DeflateConfig::default());
    p.server = p.server.with_timers(TimerConfig::default().keepalive(Some(20 * s), 10 * s), t0);
    let text = |word: &str| Message::text(word.repeat(500));
    let messages = |events: &Events| -> Vec<Message> {
        events.iter().filter_map(|e| if let Ok(Event::Message(m)) = e { Some(m.clone()) } else { None }).collect()
    };

    p.server.send(text("alpha ")).unwrap();
    let (at_client, _) = p.drive();
    assert_eq!(messages(&at_client), [text("alpha ")]);
    keepalive_round(&mut p, t0 + 20 * s);
    assert!(p.server.holds_compressor(), "it compressed during this interval: kept");
    keepalive_round(&mut p, t0 + 40 * s);
    assert!(!p.server.holds_compressor(), "nothing compressed for an interval: dropped");

    p.server.send(text("beta ")).unwrap();
    p.server.send(text("alpha ")).unwrap();
    assert!(p.server.holds_compressor(), "made again for the next message");
    let mut wire = BytesMut::new();
    drain(&mut p.server, &mut wire);
    let (h, _) = FrameHeader::parse(&wire).unwrap().unwrap();
    assert_eq!(h.rsv, 0b100, "still compressed");
    p.to_client.extend_from_slice(&wire);
    let (at_client, _) = p.drive();
    assert_eq!(messages(&at_client), [text("beta "), text("alpha ")], "the client kept its window throughout");
}

/// Runs the server's keepalive ping due at `at` and hands it the client's pong.
fn keepalive_round(p: &mut Pair, at: Instant) {
    assert!(matches!(p.server.handle_timeout(at), Some(TimerEvent::Ping(_))));
    let (_, at_server) = p.drive();
    let Some(Ok(Event::Pong(payload))) = at_server.last() else { panic!("no pong: {at_server:?}") };
    assert!(p.server.handle_pong(payload, at), "it answers the keepalive ping");
}

/// A client frame with the given first byte, compressed payload, masked.
fn compressed_client_frames(text: &[u8]) -> Vec<u8> {
    let mut c = Connection::new(Role::Client, Config::default())
        .with_deflate(DeflateParams::default(), &DeflateConfig::default().threshold(0));
    c.send(Message::binary(text.to_vec())).unwrap();
    let mut out = BytesMut::new();
    drain(&mut c, &mut out);
    out.to_vec()
}

#[test]
#[cfg_attr(miri, ignore = "tens of kilobytes through zlib: too slow under Miri; runs natively")]
fn rsv1_rules_and_compressed_failures() {
    let on = |bytes: &[u8]| {
        let mut conn = Connection::new(Role::Server, Config::default().max_message_size(10_000))
            .with_deflate(DeflateParams::default(), &DeflateConfig::default());
        let mut input = BytesMut::from(bytes);
        let mut events = Vec::new();
        read_all(&mut conn, &mut input, &mut events);
        let mut out = BytesMut::new();
        drain(&mut conn, &mut out);
        (events, close_code_sent(&out))
    };
    // RSV1 on a continuation frame or a control frame.
    let (ev, code) = on(&[masked(0x02, b"a"), masked(0xC0, b"b")].concat());
    assert_eq!((ev.last(), code), (Some(&Err(ProtocolError::ReservedBits(0b100))), Some(1002)));
    let (ev, _) = on(&masked(0xC9, b"p"));
    assert_eq!(ev.last(), Some(&Err(ProtocolError::ReservedBits(0b100))));
    // Without negotiation RSV1 is reserved.
    let (ev, _) = feed(Role::Server, &masked(0xC2, b"x"));
    assert_eq!(ev.last(), Some(&Err(ProtocolError::ReservedBits(0b100))));
    // A compressed text message that inflates to invalid UTF-8: 1007.
    let mut bytes = compressed_client_frames(b"ok \xff\xfe bad");
    bytes[0] = (bytes[0] & 0xF0) | 0x1; // binary -> text
    let (ev, code) = on(&bytes);
    assert_eq!((ev.last(), code), (Some(&Err(ProtocolError::InvalidUtf8)), Some(1007)));
    // A small frame that inflates past the message limit: 1009, early.
    let (ev, code) = on(&compressed_client_frames(&[0u8; 1 << 20]));
    assert!(matches!(ev.last(), Some(Err(ProtocolError::MessageTooLarge { .. }))));
    assert_eq!(code, Some(1009));
    // Garbage behind RSV1: 1007.
    let (ev, code) = on(&masked(0xC2, &[0xff, 0xff, 0xff, 0x01]));
    assert_eq!((ev.last(), code), (Some(&Err(ProtocolError::InvalidCompressedData)), Some(1007)));
}

#[test]
fn the_send_queue_exists_only_while_bytes_wait() {
    let mut conn = Connection::new(Role::Server, Config::default());
    assert!(!conn.holds_queue() && conn.buffered() == 0, "an idle connection holds none");
    conn.send(Message::Binary(Bytes::from_static(b"hi"))).unwrap();
    conn.send_ping(b"").unwrap();
    assert_eq!(conn.buffered(), 6);
    assert_eq!(conn.output().first_chunk(), &[0x82, 2, b'h', b'i', 0x89, 0][..]);
    conn.advance_output(5);
    assert!(conn.holds_queue() && conn.buffered() == 1);
    conn.advance_output(1);
    assert!(!conn.holds_queue() && conn.buffered() == 0, "let go once written out");
    conn.send_pong(b"x").unwrap();
    conn.clear_output();
    assert!(!conn.holds_queue() && conn.buffered() == 0);
}

/// A queue one connection let go, written out, is the next one's on the
/// thread: it brings its buffer and none of the bytes or frames it held.
#[test]
fn a_queue_let_go_carries_nothing_to_the_next_connection() {
    let shared = PreparedMessage::new(&Message::Binary(Bytes::from_static(b"shared")));
    let mut a = Connection::new(Role::Server, Config::default());
    a.send(Message::Binary(Bytes::from_static(b"first"))).unwrap();
    let n = a.buffered();
    a.advance_output(n);
    a.send_prepared(&shared).unwrap();
    assert_eq!(a.output().first_chunk(), &shared.frame()[..], "not behind the bytes written");
    let n = a.buffered();
    a.advance_output(n);
    assert!(!a.holds_queue());
    let mut b = Connection::new(Role::Server, Config::default());
    b.send(Message::Text("b".into())).unwrap();
    assert_eq!(b.output().first_chunk(), &[0x81, 1, b'b'][..], "only its own bytes");
    assert_eq!(b.buffered(), 3);
    let n = b.buffered();
    b.advance_output(n);
    drop((a, b));
    // The spare dropped its reference to the shared frame.
    let frame = shared.frame().clone();
    drop(shared);
    assert!(frame.is_unique(), "no queue keeps a shared frame");
}
