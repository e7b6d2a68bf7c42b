//! Hubs sharing rooms through a real `redis-server` (started by each test on
//! a free loopback port, without persistence): one order across hubs,
//! resume on another hub, and the faults — Redis restarted (epoch changes),
//! Redis hanging (rooms go local, then rejoin), a hub killed (its members
//! leave the counts) — and the ways in: `rediss://`, a password, an ACL user.
#![cfg(feature = "redis")]

use std::time::Duration;

use futures_util::StreamExt;
use tether::{MaybeTlsStream, Message, WebSocket};
use tether_hub::protocol::{epoch_text, PROTOCOL};
use tether_hub::{Hub, HubConfig, RedisOptions};
use tether_testkit::redis::RedisServer as Redis;

type Client = WebSocket<MaybeTlsStream>;

async fn hub_on(redis: &Redis) -> (Hub, String) {
    hub_with(RedisOptions::new(redis.url())).await
}

/// A hub on Redis with `options`, up, behind a server on a free port.
async fn hub_with(options: RedisOptions) -> (Hub, String) {
    let hub = Hub::with_redis(HubConfig::default(), options).unwrap();
    for _ in 0..500 {
        if hub.backplane_up() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(hub.backplane_up(), "the hub reached Redis");
    let server = tether::Server::bind("127.0.0.1:0").await.unwrap();
    let base = format!("ws://{}", server.local_addr().unwrap());
    let (decide, serve) = (hub.clone(), hub.clone());
    tokio::spawn(server.on_request(move |r| decide.decide(r)).serve(move |ws, _| {
        let hub = serve.clone();
        async move {
            let _ = hub.serve(ws).await;
        }
    }));
    (hub, base)
}

async fn v1(url: &str) -> Client {
    tether::connect_with(url).protocol(PROTOCOL).connect().await.unwrap()
}

async fn next(ws: &mut Client) -> Message {
    tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a message in time").unwrap().unwrap()
}

fn envelope(message: &Message) -> (serde_json::Value, String) {
    let bytes = message.as_bytes();
    let end = bytes.iter().position(|&b| b == b'\n').unwrap();
    (serde_json::from_slice(&bytes[..end]).unwrap(), String::from_utf8_lossy(&bytes[end + 1..]).into_owned())
}

/// The next room message (skipping acks and notices): offset and payload.
async fn next_message(ws: &mut Client) -> (String, u64, String) {
    loop {
        let (header, body) = envelope(&next(ws).await);
        if header["type"] == "message" {
            return (header["epoch"].as_str().unwrap().to_owned(), header["offset"].as_u64().unwrap(), body);
        }
    }
}

fn publish(id: &str, text: &str) -> Message {
    Message::text(format!("{{\"type\":\"publish\",\"id\":\"{id}\"}}\n{text}"))
}

#[tokio::test]
async fn hubs_on_one_redis_share_a_room_in_one_order() {
    let redis = Redis::start();
    let (hub_a, a) = hub_on(&redis).await;
    let (hub_b, b) = hub_on(&redis).await;
    let mut on_a = v1(&format!("{a}/rooms/chat")).await;
    let mut on_b = v1(&format!("{b}/rooms/chat")).await;
    let mut also_b = v1(&format!("{b}/rooms/chat")).await;
    for ws in [&mut on_a, &mut on_b, &mut also_b] {
        assert_eq!(envelope(&next(ws).await).0["type"], "joined");
    }
    // Publishers on both hubs at once, and the application on each.
    for i in 0..20 {
        on_a.send(publish(&format!("a{i}"), &format!("a{i}"))).await.unwrap();
        on_b.send(publish(&format!("b{i}"), &format!("b{i}"))).await.unwrap();
    }
    hub_a.publish("chat", "from hub a").await;
    hub_b.publish("chat", "from hub b").await;
    let mut orders = Vec::new();
    for ws in [&mut on_a, &mut on_b, &mut also_b] {
        let mut seen = Vec::new();
        for _ in 0..42 {
            seen.push(next_message(ws).await);
        }
        orders.push(seen);
    }
    assert_eq!(orders[0], orders[1], "hub a and hub b deliver one order");
    assert_eq!(orders[1], orders[2]);
    let offsets: Vec<u64> = orders[0].iter().map(|(_, o, _)| *o).collect();
    assert_eq!(offsets, (1..=42).collect::<Vec<_>>(), "offsets from Redis, no gap, no duplicate");
    assert_eq!(hub_a.stats().backplane_failures, 0);
}

#[tokio::test]
async fn a_member_resumes_on_another_hub_with_nothing_lost() {
    let redis = Redis::start();
    let (hub_a, a) = hub_on(&redis).await;
    let (_hub_b, b) = hub_on(&redis).await;
    let mut member = v1(&format!("{a}/rooms/feed")).await;
    next(&mut member).await; // joined
    hub_a.publish("feed", "1").await;
    let (epoch, offset, _) = next_message(&mut member).await;
    drop(member); // its hub went away, say

    for text in ["2", "3", "4"] {
        hub_a.publish("feed", text).await;
    }
    let mut back = v1(&format!("{b}/rooms/feed?since={epoch}:{offset}")).await;
    hub_a.publish("feed", "5").await;
    let mut got = Vec::new();
    for _ in 0..4 {
        let (_, offset, body) = next_message(&mut back).await;
        got.push((offset, body));
    }
    let want: Vec<(u64, String)> = (2..=5).map(|i| (i, i.to_string())).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn redis_restarted_without_its_data_changes_the_epoch() {
    let redis = Redis::start();
    let (hub, base) = hub_on(&redis).await;
    let mut member = v1(&format!("{base}/rooms/r")).await;
    next(&mut member).await;
    hub.publish("r", "before").await;
    let (old_epoch, _, _) = next_message(&mut member).await;

    let redis = redis.restart();
    // The hub notices, reconnects, and the room takes Redis's new epoch.
    let mut published = hub.publish("r", "after").await;
    for _ in 0..500 {
        if !published.local && hub.backplane_up() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        published = hub.publish("r", "after").await;
    }
    assert!(!published.local, "back in Redis's order");
    let new_epoch = tether_hub::protocol::epoch_text(published.position.epoch);
    assert_ne!(new_epoch, old_epoch, "nothing pretends the old offsets still exist");
    // The member saw the change said plainly.
    let mut told = false;
    loop {
        let (header, body) = envelope(&next(&mut member).await);
        told |= header["type"] == "gap" && header["reason"] == "epoch changed";
        if header["type"] == "message" && header["epoch"] == new_epoch.as_str() && body == "after" {
            break;
        }
    }
    assert!(told, "a gap notice before the new epoch's messages");
    let mut stale = v1(&format!("{base}/rooms/r?since={old_epoch}:1")).await;
    let (gap, _) = envelope(&next(&mut stale).await);
    assert_eq!((gap["type"].as_str(), gap["reason"].as_str()), (Some("gap"), Some("epoch changed")));
    // The restarted Redis lost the scripts too: the member counts, written
    // by script hash, load theirs again and the link stays up.
    let failures = hub.stats().backplane_failures;
    let mut conn = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let mut written = Vec::new();
    for _ in 0..150 {
        written = redis::cmd("HVALS").arg("tether:hub:{r}:members").query_async(&mut conn).await.unwrap();
        if written.iter().any(|count: &String| count.starts_with("2:")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let written: Vec<String> = written;
    assert!(written.len() == 1 && written[0].starts_with("2:"), "the count is written again: {written:?}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(hub.backplane_up());
    assert_eq!(hub.stats().backplane_failures, failures, "no failure from the counts' refresh");
    drop(redis);
}

#[tokio::test]
async fn a_hanging_redis_is_detected_rooms_go_local_then_rejoin() {
    let redis = Redis::start();
    let (hub_a, a) = hub_on(&redis).await;
    let (hub_b, b) = hub_on(&redis).await;
    let mut on_a = v1(&format!("{a}/rooms/x")).await;
    let mut on_b = v1(&format!("{b}/rooms/x")).await;
    next(&mut on_a).await;
    next(&mut on_b).await;

    redis.signal("-STOP");
    // Within the command timeout the publish gives up on Redis: local order.
    let started = std::time::Instant::now();
    on_a.send(publish("during", "during the outage")).await.unwrap();
    let mut ack = None;
    while ack.is_none() {
        let (header, body) = envelope(&next(&mut on_a).await);
        if header["type"] == "ack" {
            ack = Some(header);
        } else if header["type"] == "message" {
            assert_eq!(body, "during the outage", "local members keep talking");
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5), "detected by a timeout, not waited on");
    let ack = ack.unwrap();
    assert_eq!(ack["local"], true, "the ack says the message is local only");
    let local_position = format!("{}:{}", ack["epoch"].as_str().unwrap(), ack["offset"]);
    assert!(!hub_a.backplane_up());
    // A room first used during the outage is local too.
    let mut newcomer = v1(&format!("{a}/rooms/new-during-outage")).await;
    next(&mut newcomer).await; // joined
    newcomer.send(publish("n-1", "hello")).await.unwrap();
    loop {
        let (header, _) = envelope(&next(&mut newcomer).await);
        if header["type"] == "ack" {
            assert_eq!(header["local"], true, "{header}");
            break;
        }
    }

    redis.signal("-CONT");
    for _ in 0..500 {
        if hub_a.backplane_up() && hub_b.backplane_up() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(hub_a.backplane_up() && hub_b.backplane_up(), "the hubs rejoin by themselves");
    // Cross-hub delivery resumes, subscriptions restored.
    let published = hub_a.publish("x", "after the outage").await;
    assert!(!published.local);
    loop {
        let (header, body) = envelope(&next(&mut on_b).await);
        if header["type"] == "message" && body == "after the outage" {
            assert_eq!(header["offset"].as_u64(), Some(published.position.offset));
            break;
        }
    }
    assert!(hub_a.stats().backplane_failures >= 1);
    assert!(hub_a.stats().backplane_reconnects >= 1, "{:?}", hub_a.stats());
    // A member that saw the outage's local order and comes back after it,
    // on either hub, is told that what it missed cannot be given.
    for base in [&a, &b] {
        let mut back = v1(&format!("{base}/rooms/x?since={local_position}")).await;
        let (header, _) = envelope(&next(&mut back).await);
        assert_eq!(header["type"], "gap", "{header}");
        assert_eq!(header["reason"], "epoch changed", "{header}");
        assert_eq!(header["epoch"].as_str(), Some(epoch_text(published.position.epoch).as_str()), "{header}");
    }
}

/// `MAXLEN ~` trims a room's stream by whole nodes, so a member whose
/// position fell out of it is found by the stream's first entry, not by
/// the history's length: it gets a gap, then the messages that follow.
#[tokio::test]
async fn a_member_resuming_before_the_trimmed_history_is_told_so() {
    let redis = Redis::start();
    let (hub, base) = hub_with(RedisOptions::new(redis.url()).history(10)).await;
    let mut first = None;
    for i in 1..=600 {
        let published = hub.publish("t", format!("m{i}")).await;
        assert!(!published.local);
        first.get_or_insert(published.position);
    }
    let first = first.unwrap();
    let since = format!("{}:{}", epoch_text(first.epoch), first.offset);
    let mut late = v1(&format!("{base}/rooms/t?since={since}")).await;
    let (header, _) = envelope(&next(&mut late).await);
    assert_eq!(header["type"], "gap", "{header}");
    assert_eq!(header["reason"], "history trimmed", "{header}");
    // One that resumes within what is kept gets exactly the rest.
    let recent = format!("{}:{}", epoch_text(first.epoch), first.offset + 595);
    let mut near = v1(&format!("{base}/rooms/t?since={recent}")).await;
    for i in 597..=600 {
        assert_eq!(next_message(&mut near).await.2, format!("m{i}"));
    }
}

/// Two hubs share a room; a publish on one reaches a member of the other.
async fn assert_shared(a: &Hub, b: &str, room: &str) {
    let mut on_b = v1(&format!("{b}/rooms/{room}")).await;
    assert_eq!(envelope(&next(&mut on_b).await).0["type"], "joined");
    let published = a.publish(room, "across").await;
    assert!(!published.local, "ordered by Redis");
    let (_, offset, body) = next_message(&mut on_b).await;
    assert_eq!((offset, body.as_str()), (published.position.offset, "across"));
}

#[tokio::test]
async fn hubs_share_rooms_over_tls_to_redis() {
    use tether_testkit::pki::{Leaf, TestPki};
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let redis = Redis::start_tls(&id.cert, &id.key, &pki.ca);
    assert!(redis.url().starts_with("rediss://"));
    let ca = std::fs::read(&pki.ca).unwrap();
    let (hub_a, _) = hub_with(RedisOptions::new(redis.url()).root_cert(ca.clone())).await;
    let (_hub_b, b) = hub_with(RedisOptions::new(redis.url()).root_cert(ca)).await;
    assert_shared(&hub_a, &b, "secure").await;
}

#[tokio::test]
async fn hubs_log_in_with_a_password_or_as_an_acl_user_kept_to_the_hub_keys() {
    // The default user needs a password; "hub" may touch only the hub's
    // keys and channels, which is all a hub needs.
    let redis = Redis::start_with(&[
        "--requirepass",
        "s3cret",
        "--user",
        "hub",
        "on",
        ">hub-pw",
        "~tether:hub:*",
        "&tether:hub:*",
        "+@all",
    ]);
    let port = redis.port();
    let (hub_b, b) = hub_with(RedisOptions::new(format!("redis://hub:hub-pw@127.0.0.1:{port}/"))).await;
    let (hub_a, _) = hub_with(RedisOptions::new(format!("redis://:s3cret@127.0.0.1:{port}/"))).await;
    assert_shared(&hub_a, &b, "guarded").await;
    assert_eq!(hub_b.total_members("guarded").await, 1, "counts work for the ACL user too");
    assert_eq!(hub_b.stats().backplane_failures, 0);
}

/// A hub in a runtime of its own, so that it can die at once: shutting the
/// runtime down drops every task of the hub, with no goodbye to Redis.
fn doomed_hub(redis: &Redis) -> (tokio::runtime::Runtime, String) {
    let url = redis.url();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (hub, base) = runtime.block_on(hub_with(RedisOptions::new(url)));
        drop(hub); // its tasks hold what they need
        (runtime, base)
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn a_killed_hubs_members_leave_the_counts_within_the_stated_time() {
    let redis = Redis::start();
    let (hub_a, a) = hub_on(&redis).await;
    let (doomed, b) = doomed_hub(&redis);
    let mut members = Vec::new();
    for base in [&a, &b, &b, &b] {
        let mut ws = v1(&format!("{base}/rooms/count")).await;
        assert_eq!(envelope(&next(&mut ws).await).0["type"], "joined");
        members.push(ws);
    }
    // Another room, other counts: each hub writes all its rooms' counts in
    // one round trip, each to its own room.
    for base in [&a, &a, &b] {
        let mut ws = v1(&format!("{base}/rooms/other")).await;
        assert_eq!(envelope(&next(&mut ws).await).0["type"], "joined");
        members.push(ws);
    }
    // Each hub writes its count every second.
    let mut total = 0;
    for _ in 0..300 {
        total = hub_a.total_members("count").await;
        if total == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(total, 4, "both hubs' members counted");
    // Without waiting on Redis: what the last refresh read.
    for _ in 0..300 {
        if hub_a.members_everywhere("count") == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hub_a.members_everywhere("count"), 4);
    for _ in 0..300 {
        if hub_a.members_everywhere("other") == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hub_a.members_everywhere("other"), 3);

    doomed.shutdown_background();
    let killed = std::time::Instant::now();
    loop {
        let total = hub_a.total_members("count").await;
        if total == 1 {
            break;
        }
        assert_eq!(total, 4, "the dead hub's count stands until it expires");
        assert!(killed.elapsed() < tether_hub::MEMBER_COUNT_TTL + Duration::from_secs(1), "not expired in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone = killed.elapsed();
    assert!(gone <= tether_hub::MEMBER_COUNT_TTL + Duration::from_millis(500), "{gone:?}");
    assert_eq!(hub_a.member_count("count"), 1);
    for _ in 0..300 {
        if hub_a.members_everywhere("count") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hub_a.members_everywhere("count"), 1, "the next refresh forgets the dead hub too");
    assert_eq!(hub_a.total_members("other").await, 2);
}

/// A room's keys expire a TTL after its last message, so abandoned rooms
/// do not pile up in Redis; a member coming back to one is told its
/// history is gone (a new epoch), not served a made-up one.
#[tokio::test]
async fn an_abandoned_rooms_keys_expire_in_redis() {
    let redis = Redis::start();
    let ttl = Duration::from_secs(2);
    let (hub, base) = hub_with(RedisOptions::new(redis.url()).ttl(ttl)).await;
    let mut last = None;
    for i in 1..=3 {
        last = Some(hub.publish("gone", format!("m{i}")).await.position);
    }
    let last = last.unwrap();
    let mut conn = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys = || redis::cmd("KEYS").arg("tether:hub:{gone}:*").clone();
    let live: Vec<String> = keys().query_async(&mut conn).await.unwrap();
    assert!(live.len() >= 3, "{live:?}");
    for key in &live {
        let ttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut conn).await.unwrap();
        assert!((1..=2000).contains(&ttl), "{key}: {ttl} ms");
    }
    let mut left = live;
    for _ in 0..200 {
        left = keys().query_async(&mut conn).await.unwrap();
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(left.is_empty(), "still there: {left:?}");
    let since = format!("{}:{}", epoch_text(last.epoch), last.offset);
    let mut back = v1(&format!("{base}/rooms/gone?since={since}")).await;
    let (header, _) = envelope(&next(&mut back).await);
    assert_eq!((header["type"].as_str(), header["reason"].as_str()), (Some("gap"), Some("epoch changed")), "{header}");
}
