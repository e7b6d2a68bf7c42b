//! Property tests: whatever is sent arrives the same, however it is
//! fragmented, masked, compressed, or cut into pieces on the way.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tether_proto::{
    CloseCode, CloseFrame, Config, Connection, DeflateConfig, DeflateParams, Event, Message, OpCode, ProtocolError,
    Role,
};

/// Everything `conn` queued, as one byte string.
fn wire(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    let q = conn.output();
    while !q.is_empty() {
        let chunk = q.first_chunk().to_vec();
        q.advance(chunk.len());
        out.extend_from_slice(&chunk);
    }
    out
}

/// Feeds `bytes` to `conn` in the given piece sizes; returns its events.
fn receive(conn: &mut Connection, bytes: &[u8], pieces: &[usize]) -> Vec<Result<Event, ProtocolError>> {
    let mut events = Vec::new();
    let mut input = BytesMut::new();
    let mut rest = bytes;
    let mut sizes = pieces.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&usize::MAX)).clamp(1, rest.len());
        input.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match conn.read_event(&mut input) {
                Ok(Some(e)) => events.push(Ok(e)),
                Ok(None) => break,
                Err(e) => {
                    events.push(Err(e));
                    return events;
                }
            }
        }
    }
    events
}

fn message() -> impl Strategy<Value = Message> {
    let size = prop_oneof![0usize..130, 120usize..70_000];
    prop_oneof![
        size.clone()
            .prop_flat_map(|n| proptest::string::string_regex(&format!("[a-zé🚀 ]{{0,{n}}}")).unwrap())
            .prop_map(Message::text),
        size.prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n)).prop_map(Message::binary),
    ]
}

fn pair(deflate: bool) -> (Connection, Connection) {
    let client = Connection::new(Role::Client, Config::default());
    let server = Connection::new(Role::Server, Config::default());
    if deflate {
        let config = DeflateConfig::default().threshold(0);
        (client.with_deflate(DeflateParams::default(), &config), server.with_deflate(DeflateParams::default(), &config))
    } else {
        (client, server)
    }
}

/// Sends `m` in `parts` fragments (deflate applies only to whole messages).
fn send_fragmented(conn: &mut Connection, m: &Message, parts: usize) {
    if parts <= 1 {
        conn.send(m.clone()).unwrap();
        return;
    }
    let (opcode, bytes) = match m {
        Message::Text(t) => (OpCode::Text, t.clone().into_bytes()),
        Message::Binary(b) => (OpCode::Binary, b.clone()),
    };
    let step = bytes.len() / parts + 1;
    let chunks: Vec<Bytes> =
        (0..parts).map(|i| bytes.slice((i * step).min(bytes.len())..((i + 1) * step).min(bytes.len()))).collect();
    for (i, chunk) in chunks.into_iter().enumerate() {
        let op = if i == 0 { opcode } else { OpCode::Continuation };
        conn.send_frame(op, i + 1 == parts, chunk).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn messages_round_trip_both_ways(
        messages in proptest::collection::vec((message(), 1usize..5), 1..6),
        deflate in any::<bool>(),
        client_to_server in any::<bool>(),
        pieces in proptest::collection::vec(1usize..3000, 1..8),
    ) {
        let (mut client, mut server) = pair(deflate);
        let (sender, receiver) = if client_to_server { (&mut client, &mut server) } else { (&mut server, &mut client) };
        for (m, parts) in &messages {
            send_fragmented(sender, m, *parts);
        }
        let bytes = wire(sender);
        let events = receive(receiver, &bytes, &pieces);
        let got: Vec<Message> = events.into_iter().map(|e| match e {
            Ok(Event::Message(m)) => m,
            other => panic!("unexpected {other:?}"),
        }).collect();
        let want: Vec<Message> = messages.into_iter().map(|(m, _)| m).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn any_split_of_the_stream_gives_the_same_events(
        messages in proptest::collection::vec(message(), 0..4),
        code in prop_oneof![Just(1000u16), 3000u16..5000],
        deflate in any::<bool>(),
        pieces in proptest::collection::vec(1usize..200, 1..10),
    ) {
        let (mut client, _) = pair(deflate);
        for m in &messages {
            client.send(m.clone()).unwrap();
        }
        client.send_ping(b"ping").unwrap();
        client.send_close(Some(&CloseFrame::new(CloseCode(code), "bye"))).unwrap();
        let bytes = wire(&mut client);
        let (_, mut whole) = pair(deflate);
        let (_, mut split) = pair(deflate);
        let all_at_once = receive(&mut whole, &bytes, &[usize::MAX]);
        prop_assert_eq!(receive(&mut split, &bytes, &pieces), all_at_once.clone());
        prop_assert!(matches!(all_at_once.last(), Some(Ok(Event::Close(Some(f)))) if f.code.0 == code));
    }
}

/// Every split point of a short exchange, exhaustively.
#[test]
fn every_split_point_of_a_short_stream() {
    let (mut client, _) = pair(true);
    client.send(Message::text("héllo")).unwrap();
    client.send_frame(OpCode::Binary, false, Bytes::from_static(b"ab")).unwrap();
    client.send_ping(b"p").unwrap();
    client.send_frame(OpCode::Continuation, true, Bytes::from_static(b"cd")).unwrap();
    client.send_close(Some(&CloseFrame::new(CloseCode::NORMAL, ""))).unwrap();
    let bytes = wire(&mut client);
    let (_, mut whole) = pair(true);
    let expected = receive(&mut whole, &bytes, &[usize::MAX]);
    assert_eq!(expected.len(), 4);
    for a in 1..bytes.len() {
        for b in a..bytes.len() {
            let (_, mut server) = pair(true);
            let events = receive(&mut server, &bytes, &[a, b - a + 1, usize::MAX]);
            assert_eq!(events, expected, "split at {a} and {b}");
        }
    }
}
