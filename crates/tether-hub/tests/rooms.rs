//! A hub behind a real `tether::Server` on loopback, with tether clients as
//! members: fan-out, the subprotocol's acks and retries, resume, and the
//! members that are too slow or too loud.

use std::time::Duration;

use futures_util::StreamExt;
use tether::{CloseCode, Error, MaybeTlsStream, Message, WebSocket};
use tether_hub::protocol::PROTOCOL;
use tether_hub::{Hub, HubConfig, MemberLimits};

type Client = WebSocket<MaybeTlsStream>;

/// A hub on a free port; returns its `ws://127.0.0.1:PORT` base.
async fn start(hub: &Hub) -> String {
    // A long closing handshake: a member closed for not reading must still
    // be able to read its close frame when it starts reading again.
    let config = tether::Config::default().close_timeout(Duration::from_secs(60));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = tether::Server::from_listener(listener, config);
    let base = format!("ws://{}", server.local_addr().unwrap());
    let decide = hub.clone();
    let hub = hub.clone();
    let server = server.on_request(move |request| decide.decide(request));
    tokio::spawn(server.serve(move |ws, _peer| {
        let hub = hub.clone();
        async move {
            let _ = hub.serve(ws).await;
        }
    }));
    base
}

async fn raw(base: &str, room: &str) -> Client {
    tether::connect(&format!("{base}/rooms/{room}")).await.unwrap()
}

async fn v1(url: &str) -> Client {
    let ws = tether::connect_with(url).protocol(PROTOCOL).connect().await.unwrap();
    assert_eq!(ws.protocol(), Some(PROTOCOL));
    ws
}

async fn next(ws: &mut Client) -> Message {
    tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a message in time").unwrap().unwrap()
}

/// Waits until `room` has `n` members (joins finish after the handshake).
async fn members(hub: &Hub, room: &str, n: usize) {
    for _ in 0..1000 {
        if hub.member_count(room) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("room {room} has {} members, not {n}", hub.member_count(room));
}

/// The JSON header line and the payload of a `tether.hub.v1` message.
fn envelope(message: &Message) -> (serde_json::Value, Vec<u8>) {
    let bytes = message.as_bytes();
    let end = bytes.iter().position(|&b| b == b'\n').expect("a header line");
    (serde_json::from_slice(&bytes[..end]).unwrap(), bytes[end + 1..].to_vec())
}

fn publish(id: &str, text: &str) -> Message {
    Message::text(format!("{{\"type\":\"publish\",\"id\":\"{id}\"}}\n{text}"))
}

#[tokio::test]
async fn every_member_gets_every_message_of_its_room_in_one_order() {
    let hub = Hub::default();
    let base = start(&hub).await;
    let mut a = raw(&base, "lobby").await;
    let mut b = raw(&base, "lobby").await;
    let mut elsewhere = raw(&base, "other").await;
    members(&hub, "lobby", 2).await;

    a.send(Message::text("from a")).await.unwrap();
    b.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    hub.publish("lobby", Message::text("from the server")).await;
    let seen_a: Vec<Message> = vec![next(&mut a).await, next(&mut a).await, next(&mut a).await];
    let seen_b: Vec<Message> = vec![next(&mut b).await, next(&mut b).await, next(&mut b).await];
    assert_eq!(seen_a, seen_b, "one order for every member, the sender included");
    assert!(seen_a.contains(&Message::binary(vec![1, 2, 3])), "binary stays binary");
    assert!(seen_a.contains(&Message::text("from a")), "text stays text");
    assert_eq!(hub.position("lobby").unwrap().offset, 3);

    hub.publish("other", Message::text("only here")).await;
    assert_eq!(next(&mut elsewhere).await, Message::text("only here"), "rooms are apart");

    // Each frame written is timed once: 3 messages × 2 members + 1 elsewhere.
    let latency = written(&hub, 7).await;
    assert!(latency.sum > Duration::ZERO && latency.sum < Duration::from_secs(7 * 10));
    assert_eq!(latency.cumulative().last(), Some((None, 7)));

    a.close(CloseCode::NORMAL, "").await.unwrap();
    members(&hub, "lobby", 1).await;
    b.close(CloseCode::NORMAL, "").await.unwrap();
    members(&hub, "lobby", 0).await;
    let stats = hub.stats();
    assert_eq!((stats.published, stats.delivered), (4, 7));
    assert_eq!(stats.delivery_latency.count, 7);
}

/// Waits until the hub has timed `n` frames written to members (the writer
/// records a frame once its socket took it, which may be just after the
/// member read it).
async fn written(hub: &Hub, n: u64) -> tether_hub::LatencyHistogram {
    for _ in 0..1000 {
        let latency = hub.stats().delivery_latency;
        if latency.count >= n {
            assert_eq!(latency.count, n);
            return latency;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{} frames timed, not {n}", hub.stats().delivery_latency.count);
}

#[tokio::test]
async fn publishes_are_acknowledged_once_ordered_and_retries_are_not_ordered_twice() {
    let hub = Hub::default();
    let base = start(&hub).await;
    let mut writer = v1(&format!("{base}/rooms/chat")).await;
    let mut reader = v1(&format!("{base}/rooms/chat")).await;
    for ws in [&mut writer, &mut reader] {
        let (joined, _) = envelope(&next(ws).await);
        assert_eq!(joined["type"], "joined");
    }

    writer.send(publish("w-1", "hello")).await.unwrap();
    let (header, body) = envelope(&next(&mut writer).await);
    assert_eq!(
        (header["type"].as_str(), header["offset"].as_u64(), &body[..]),
        (Some("message"), Some(1), &b"hello"[..])
    );
    let (ack, _) = envelope(&next(&mut writer).await);
    assert_eq!((ack["type"].as_str(), ack["id"].as_str(), ack["offset"].as_u64()), (Some("ack"), Some("w-1"), Some(1)));
    assert_eq!(ack["epoch"], header["epoch"]);

    // The same id again (a retry after a lost ack): acknowledged, not ordered.
    writer.send(publish("w-1", "hello")).await.unwrap();
    let (ack, _) = envelope(&next(&mut writer).await);
    assert_eq!((ack["type"].as_str(), ack["offset"].as_u64()), (Some("ack"), Some(1)));
    writer.send(publish("w-2", "world")).await.unwrap();

    let offsets: Vec<u64> = [next(&mut reader).await, next(&mut reader).await]
        .iter()
        .map(|m| envelope(m).0["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [1, 2], "the retry was not delivered again");

    writer.send(Message::text("no header line")).await.unwrap();
    while writer.next().await.is_some() {}
    assert_eq!(writer.close_code(), Some(CloseCode::POLICY_VIOLATION));
}

#[tokio::test]
async fn a_member_that_comes_back_gets_exactly_what_it_missed() {
    let hub = Hub::new(HubConfig::default().history(5));
    let base = start(&hub).await;
    let mut client = v1(&format!("{base}/rooms/feed")).await;
    let (joined, _) = envelope(&next(&mut client).await);
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    hub.publish("feed", Message::text("1")).await;
    let (seen, _) = envelope(&next(&mut client).await);
    assert_eq!(seen["offset"], 1);
    client.close(CloseCode::NORMAL, "").await.unwrap();
    members(&hub, "feed", 0).await;

    for text in ["2", "3", "4"] {
        hub.publish("feed", Message::text(text)).await;
    }
    let mut back = v1(&format!("{base}/rooms/feed?since={epoch}:1")).await;
    hub.publish("feed", Message::text("5")).await;
    let mut got = Vec::new();
    for _ in 0..4 {
        let (header, body) = envelope(&next(&mut back).await);
        got.push((header["offset"].as_u64().unwrap(), String::from_utf8(body).unwrap()));
    }
    let want: Vec<(u64, String)> = (2..=5).map(|i| (i, i.to_string())).collect();
    assert_eq!(got, want, "no gap, no duplicate, in order");

    // Too far back for a history of 5, and an epoch the room never had.
    for _ in 0..5 {
        hub.publish("feed", Message::text("more")).await;
    }
    let mut late = v1(&format!("{base}/rooms/feed?since={epoch}:2")).await;
    assert_eq!(envelope(&next(&mut late).await).0["reason"], "history trimmed");
    let mut stranger = v1(&format!("{base}/rooms/feed?since=0000000000000001:2")).await;
    let (gap, _) = envelope(&next(&mut stranger).await);
    assert_eq!((gap["type"].as_str(), gap["reason"].as_str()), (Some("gap"), Some("epoch changed")));
    assert_eq!(gap["offset"], 10);
}

/// A member that never reads is closed once its queue is over its bound;
/// the others get everything, and the room does not wait for it.
#[tokio::test]
async fn a_member_that_does_not_read_is_closed_and_the_room_goes_on() {
    let limits = MemberLimits::default().queue(256 << 10, CloseCode::TRY_AGAIN_LATER);
    let hub = Hub::new(HubConfig::default().member(limits));
    let base = start(&hub).await;
    let mut stalled = raw(&base, "busy").await;
    let mut fast = raw(&base, "busy").await;
    members(&hub, "busy", 2).await;
    // Incompressible: compressed, the frames would all fit in the socket's buffers.
    let payload = incompressible(64 << 10, 0x2545_f491_4f6c_dd1d);
    let mut received = 0;
    for _ in 0..400 {
        hub.publish("busy", Message::binary(payload.clone())).await;
        assert_eq!(next(&mut fast).await.as_bytes().len(), payload.len());
        received += 1;
    }
    assert_eq!(received, 400);
    assert_eq!(hub.stats().overflowed, 1, "the stalled member overflowed once");
    // Reading now, it finds what got through, then the close.
    while let Some(item) = stalled.next().await {
        item.unwrap();
    }
    assert_eq!(stalled.close_code(), Some(CloseCode::TRY_AGAIN_LATER));
    members(&hub, "busy", 1).await;
}

/// A member that does not read for a while: on this one-thread runtime
/// the room's drain sends its frames straight to its socket until the
/// socket is full, the one it took in part is finished by the member's
/// task, the rest queue; a message the member sends meanwhile takes its
/// connection back. Read at last, every frame arrives whole, once, in order.
#[tokio::test]
async fn a_member_that_reads_late_gets_every_frame_whole_and_in_order() {
    let limits = MemberLimits::default().queue(64 << 20, CloseCode::TRY_AGAIN_LATER);
    // No compression: a compressed member's frames are never sent straight.
    let hub = Hub::new(HubConfig::default().member(limits).deflate(None));
    let base = start(&hub).await;
    let mut late = raw(&base, "feed").await;
    members(&hub, "feed", 1).await;
    let payload = |i: u64| incompressible(48 << 10, 0x9e37_79b9_7f4a_7c15 ^ i);
    for i in 0..300u64 {
        hub.publish("feed", Message::binary(payload(i))).await;
        if i == 150 {
            late.send(Message::text("mine")).await.unwrap();
        }
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (mut next_i, mut mine) = (0, 0);
    while next_i < 300 || mine == 0 {
        match next(&mut late).await {
            Message::Text(t) => {
                assert_eq!(t.as_str(), "mine");
                mine += 1;
            }
            message => {
                assert!(message.as_bytes() == payload(next_i).as_slice(), "frame {next_i} whole and in its place");
                next_i += 1;
            }
        }
    }
    assert_eq!((next_i, mine), (300, 1));
    let latency = written(&hub, 301).await;
    let stats = hub.stats();
    assert_eq!(latency.count, stats.delivered);
    // The drain wrote the first frames, until the socket was full (whether
    // it stopped inside a frame depends on the kernel: the unit tests of
    // the member queue cover that part).
    assert!(stats.sent_straight > 0, "{stats:?}");
    late.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn in_a_lossy_room_a_slow_member_loses_old_messages_not_its_place() {
    let limits = MemberLimits::default().queue(128 << 10, CloseCode::TRY_AGAIN_LATER);
    let hub = Hub::new(HubConfig::default().member(limits));
    hub.set_lossy("prices", true);
    let base = start(&hub).await;
    let mut stalled = raw(&base, "prices").await;
    members(&hub, "prices", 1).await;
    for i in 0..400u32 {
        let mut payload = vec![0u8; 32 << 10];
        payload[..4].copy_from_slice(&i.to_be_bytes());
        hub.publish("prices", Message::binary(payload)).await;
    }
    hub.publish("prices", Message::text("last")).await;
    assert!(hub.stats().dropped > 0);
    assert_eq!(hub.stats().overflowed, 0);
    let mut last_seen = None;
    loop {
        let message = next(&mut stalled).await;
        if message == Message::text("last") {
            break;
        }
        let i = u32::from_be_bytes(message.as_bytes()[..4].try_into().unwrap());
        assert!(last_seen.is_none_or(|prev| i > prev), "what arrives is in order");
        last_seen = Some(i);
    }
    assert_eq!(hub.member_count("prices"), 1, "still a member");
}

#[tokio::test]
async fn members_that_publish_too_fast_or_too_large_are_closed() {
    let limits = MemberLimits::default().publish_rate(Some(20)).max_message(1000);
    let hub = Hub::new(HubConfig::default().member(limits));
    let base = start(&hub).await;

    let mut big = raw(&base, "r").await;
    big.send(Message::binary(vec![0u8; 1001])).await.unwrap();
    while big.next().await.is_some() {}
    assert_eq!(big.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));

    let mut loud = raw(&base, "r").await;
    for _ in 0..100 {
        if loud.send(Message::text("spam")).await.is_err() {
            break;
        }
    }
    let ended = loop {
        match loud.next().await {
            Some(Ok(_)) => continue,
            Some(Err(e)) => break Err::<(), Error>(e),
            None => break Ok(()),
        }
    };
    assert!(ended.is_ok(), "{ended:?}");
    assert_eq!(loud.close_code(), Some(CloseCode::POLICY_VIOLATION));
    assert!(hub.stats().published <= 21, "{} published", hub.stats().published);
}

/// A frame over `max_message` is refused (1009) as its header arrives:
/// the hub does not wait for, nor buffer, a payload it will refuse.
#[tokio::test]
async fn a_message_over_the_limit_is_refused_before_its_payload_arrives() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hub = Hub::new(HubConfig::default().member(MemberLimits::default().max_message(1000)));
    let base = start(&hub).await;
    let addr = base.trim_start_matches("ws://");
    let mut member = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /rooms/big HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    member.write_all(request.as_bytes()).await.unwrap();
    members(&hub, "big", 1).await;
    // A masked binary frame announcing 1 MiB, and none of its payload.
    let mut head = vec![0x82, 0x80 | 127];
    head.extend_from_slice(&(1u64 << 20).to_be_bytes());
    head.extend_from_slice(&[1, 2, 3, 4]);
    member.write_all(&head).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = member.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
            // The 101 response, then a close frame: 0x88, length, code.
            if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let frame = &got[at + 4..];
                if frame.len() >= 4 || n == 0 {
                    break frame.to_vec();
                }
            }
        }
    })
    .await
    .expect("closed without the payload");
    assert_eq!(closed[0], 0x88, "{closed:?}");
    assert_eq!(u16::from_be_bytes([closed[2], closed[3]]), 1009);
    // The hub reads until the member goes (it may still be sending), then
    // counts it like a publish refused once whole.
    drop(member);
    for _ in 0..200 {
        if hub.stats().refused == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!((hub.stats().refused, hub.stats().received, hub.stats().published), (1, 1, 0));
}

/// Rooms the settings name lossy (by name, or by prefix) are lossy from
/// the moment they are made: a member that does not read loses its oldest
/// messages there, and is closed in any other room, with the code the
/// settings chose (1008 here; 1013 by default).
#[tokio::test]
async fn rooms_the_settings_name_start_lossy() {
    let config = HubConfig::default().lossy_room("prices:*").lossy_room("ticker");
    let limits = MemberLimits::default().queue(256 << 10, CloseCode::POLICY_VIOLATION);
    let hub = Hub::new(config.member(limits));
    let base = start(&hub).await;
    for (seed, room) in [(1u64, "prices:eur"), (2, "ticker"), (3, "chat")] {
        let lossy = room != "chat";
        let mut slow = raw(&base, room).await;
        members(&hub, room, 1).await;
        let (dropped, overflowed) = (hub.stats().dropped, hub.stats().overflowed);
        // Until its socket and its queue are full: frames dropped, or the member closed.
        for i in 0.. {
            let stats = hub.stats();
            if stats.dropped > dropped || stats.overflowed > overflowed {
                break;
            }
            assert!(i < 100_000, "{room}: neither dropped nor closed");
            hub.publish(room, Message::binary(incompressible(16 << 10, seed << 32 | i))).await;
            tokio::task::yield_now().await;
        }
        if lossy {
            assert_eq!(hub.stats().overflowed, overflowed, "{room}: closed");
            hub.publish(room, Message::text("last")).await;
            while next(&mut slow).await != Message::text("last") {}
        } else {
            assert_eq!(hub.stats().dropped, dropped, "{room}: dropped");
            while slow.next().await.is_some() {}
            assert_eq!(slow.close_code(), Some(CloseCode::POLICY_VIOLATION));
        }
    }
}

/// A room with no member and no publish for `room_ttl` is forgotten,
/// history and all, when the hub next looks a room up; one with members
/// stays however quiet.
#[tokio::test]
async fn an_abandoned_room_is_forgotten_after_its_ttl() {
    let ttl = Duration::from_secs(1);
    let hub = Hub::new(HubConfig::default().room_ttl(ttl));
    let base = start(&hub).await;
    hub.publish("abandoned", Message::text("anyone?")).await;
    assert!(hub.position("abandoned").is_some());
    let _member = raw(&base, "kept").await;
    members(&hub, "kept", 1).await;
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    // Any lookup sweeps (at most every quarter of the TTL).
    hub.publish("other", Message::text("x")).await;
    assert_eq!(hub.position("abandoned"), None, "forgotten");
    assert!(hub.position("kept").is_some(), "a room with a member stays");
    assert_eq!(hub.stats().rooms, 2, "kept and other");
}

#[tokio::test]
async fn only_rooms_are_served() {
    let hub = Hub::default();
    let base = start(&hub).await;
    let err = tether::connect(&format!("{base}/chat")).await.unwrap_err();
    assert_eq!(err.http_status(), Some(http::StatusCode::NOT_FOUND));
    let err = tether::connect(&format!("{base}/rooms/bad%20name")).await.unwrap_err();
    assert_eq!(err.http_status(), Some(http::StatusCode::BAD_REQUEST));
}

/// A member that never reads, not even its close: once its socket is full
/// and its queue overflows, the hub queues the close and the closing
/// deadline ends the session (the member leaves its room), instead of a
/// write that waits forever.
#[tokio::test]
async fn a_member_that_never_reads_leaves_by_the_closing_deadline() {
    let limits = MemberLimits::default().queue(256 << 10, CloseCode::TRY_AGAIN_LATER);
    let hub = Hub::new(HubConfig::default().member(limits));
    let config = tether::Config::default().close_timeout(Duration::from_millis(500));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = tether::Server::from_listener(listener, config);
    let addr = server.local_addr().unwrap();
    let (decide, serve) = (hub.clone(), hub.clone());
    tokio::spawn(server.on_request(move |r| decide.decide(r)).serve(move |ws, _| {
        let hub = serve.clone();
        async move {
            let _ = hub.serve(ws).await;
        }
    }));
    // A handshake by hand, and then not a byte read.
    let mut deaf = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /rooms/deaf HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tokio::io::AsyncWriteExt::write_all(&mut deaf, request.as_bytes()).await.unwrap();
    members(&hub, "deaf", 1).await;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    while hub.stats().overflowed == 0 {
        // Incompressible, so that the socket's buffers fill.
        seed += 1;
        let payload = incompressible(64 << 10, seed);
        hub.publish("deaf", Message::binary(payload)).await;
        tokio::task::yield_now().await;
    }
    members(&hub, "deaf", 0).await;
    drop(deaf);
}

/// `len` bytes that deflate cannot shrink (xorshift from `seed`).
fn incompressible(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}
