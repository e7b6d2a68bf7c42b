//! `tether hub` as a process: Python `websockets` and Node `ws` clients as
//! members of one room, the metrics, the origin check, the graceful
//! shutdown, and a `tether.hub.v1` client resuming through it.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tether::{CloseCode, Message};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::time::timeout;

use tether_testkit::pki::{Leaf, TestPki};

use crate::peers::Peer;
use crate::support::{by_name, next, open, signal, tether_bin, Server, LIMIT};

const PROTOCOL: &str = "tether.hub.v1";

/// `tether hub` on a free port, with more arguments.
async fn tether_hub(args: &[&str]) -> Server {
    let mut cmd = tether_bin();
    cmd.args(["hub", "--listen", "127.0.0.1:0"]).args(args).stderr(Stdio::null());
    Server::start(cmd).await
}

/// `HOST:PORT` of a server's `ws://HOST:PORT/` URL.
fn authority(server: &Server) -> &str {
    server.url.trim_start_matches("ws://").trim_end_matches('/')
}

/// A plain HTTP GET: the status and the body.
async fn get(server: &Server, path: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(authority(server)).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", authority(server));
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut reply = String::new();
    // The server closes the connection after its answer.
    timeout(LIMIT, tcp.read_to_string(&mut reply)).await.unwrap().unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, body.to_owned())
}

/// The value of sample `name` in a Prometheus text page.
fn metric(page: &str, name: &str) -> u64 {
    let line = page.lines().find(|l| l.split(' ').next() == Some(name)).unwrap_or_else(|| panic!("no {name}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Waits until `room` has `count` members on this hub: a member that saw
/// its handshake through may not have joined its room yet.
async fn wait_members(server: &Server, room: &str, count: u64) {
    let wait = async {
        loop {
            let (_, body) = get(server, &format!("/rooms/{room}/info")).await;
            let info: Value = serde_json::from_str(&body).unwrap();
            if info["here"] == count {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    timeout(LIMIT, wait).await.unwrap_or_else(|_| panic!("{room} never had {count} members"));
}

/// Waits until the hub's link to Redis is up: until then its rooms are
/// local, and what is published there does not reach the other hubs.
async fn wait_backplane(server: &Server) {
    let wait = async {
        while metric(&get(server, "/metrics").await.1, "tether_hub_backplane_up") != 1 {
            tokio::task::yield_now().await;
        }
    };
    timeout(LIMIT, wait).await.expect("the hub reached Redis");
}

/// A peer in member mode (interop/peers/README.md): commands on stdin,
/// what it receives on stdout.
struct Member {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Member {
    async fn join(peer: Peer, url: &str) -> Member {
        Member::spawn(peer.command(), peer, url).await
    }

    /// A member with permessage-deflate offered.
    async fn join_compressed(peer: Peer, url: &str) -> Member {
        Member::spawn(peer.command_with_deflate(), peer, url).await
    }

    async fn spawn(mut cmd: tokio::process::Command, peer: Peer, url: &str) -> Member {
        cmd.args(["member", url]).stdin(Stdio::piped()).stdout(Stdio::piped()).kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut member = Member { _child: child, stdin, lines };
        assert_eq!(member.line().await, "open", "{peer:?}");
        member
    }

    async fn send(&mut self, command: &str) {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn line(&mut self) -> String {
        timeout(LIMIT, self.lines.next_line()).await.expect("no line in time").unwrap().expect("ended")
    }
}

#[tokio::test]
async fn python_and_node_members_share_a_room_then_sigterm_closes_them_with_1001() {
    let mut hub = tether_hub(&[]).await;
    let room = format!("{}rooms/lobby", hub.url);
    let mut members = vec![
        Member::join(Peer::Python, &room).await,
        Member::join(Peer::Python, &room).await,
        Member::join(Peer::Node, &room).await,
    ];
    wait_members(&hub, "lobby", 3).await;
    let (status, before) = get(&hub, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(metric(&before, "tether_hub_members"), 3);
    assert_eq!(metric(&before, "tether_hub_connections"), 3);

    // Every member publishes at once, text and binary.
    let sent = [
        (0, "text:from python 1 ✓", "text from python 1 ✓"),
        (0, "binary:00ff01", "binary 00ff01"),
        (1, "text:from python 2", "text from python 2"),
        (2, "text:from node", "text from node"),
        (2, "binary:0a0b", "binary 0a0b"),
    ];
    for (who, command, _) in sent {
        members[who].send(command).await;
    }
    let mut seen = Vec::new();
    for member in &mut members {
        let mut got = Vec::new();
        for _ in 0..sent.len() {
            got.push(member.line().await);
        }
        seen.push(got);
    }
    assert_eq!(seen[0], seen[1], "one order for every member");
    assert_eq!(seen[0], seen[2], "one order for every member");
    let mut expected: Vec<&str> = sent.iter().map(|(_, _, line)| *line).collect();
    let mut got: Vec<&str> = seen[0].iter().map(String::as_str).collect();
    // Each sender's messages keep their order.
    let position = |line: &str| got.iter().position(|l| *l == line).unwrap();
    assert!(position("text from python 1 ✓") < position("binary 00ff01"));
    assert!(position("text from node") < position("binary 0a0b"));
    expected.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, expected, "every message once, the sender's own included, text as text, binary as binary");

    let (_, after) = get(&hub, "/metrics").await;
    let moved = |name: &str| metric(&after, name) - metric(&before, name);
    assert_eq!(moved("tether_hub_messages_published_total"), 5);
    assert_eq!(moved("tether_hub_deliveries_total"), 15);
    assert!(moved("tether_hub_bytes_out_total") >= 15 * 2);
    assert_eq!(metric(&after, "tether_hub_rooms"), 1);
    assert!(after.contains("# TYPE tether_hub_deliveries_total counter\n"));
    // Every frame written is timed once in the latency histogram (the
    // writer records it just after the socket took it: wait for the last).
    let timed = async {
        loop {
            let (_, page) = get(&hub, "/metrics").await;
            let count = metric(&page, "tether_hub_delivery_latency_seconds_count");
            if count >= 15 {
                return (count, page);
            }
            tokio::task::yield_now().await;
        }
    };
    let (count, page) = timeout(LIMIT, timed).await.expect("15 frames timed");
    assert_eq!(count, 15);
    let inf = page.lines().find(|l| l.starts_with("tether_hub_delivery_latency_seconds_bucket{le=\"+Inf\"}"));
    assert_eq!(inf, Some("tether_hub_delivery_latency_seconds_bucket{le=\"+Inf\"} 15"));
    assert!(page.contains("# TYPE tether_hub_delivery_latency_seconds histogram\n"));

    signal(&hub.child, "TERM");
    for member in &mut members {
        assert_eq!(member.line().await, "closed 1001 server shutting down");
    }
    let status = timeout(LIMIT, hub.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn allow_origin_refuses_a_foreign_origin_with_403() {
    let hub = tether_hub(&["--allow-origin", "http://good.example"]).await;
    let room = format!("{}rooms/lobby", hub.url);
    let refused = tether::connect_with(&room).origin("http://evil.example").connect().await.unwrap_err();
    assert_eq!(refused.http_status(), Some(http::StatusCode::FORBIDDEN), "{refused}");
    let mut ws = tether::connect_with(&room).origin("http://good.example").connect().await.unwrap();
    ws.send(Message::text("welcome")).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::text("welcome"));
}

/// The member flags reach the hub: `--no-deflate` turns compression off,
/// `--max-message` is enforced as a frame's header arrives (1009), what
/// members send is counted on /metrics, `--max-per-ip` caps connections
/// per address; a code no endpoint may send is refused at the command line.
#[tokio::test]
async fn the_hubs_member_flags_take_effect() {
    let hub =
        tether_hub(&["--no-deflate", "--max-message", "1000", "--overflow-code", "1008", "--lossy", "feed:*"]).await;
    let room = format!("{}rooms/lobby", hub.url);
    let mut ws = open(&room, None).await;
    assert!(ws.compression().is_none(), "compression agreed despite --no-deflate");
    ws.send(Message::text("welcome")).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::text("welcome"));
    let (_, page) = get(&hub, "/metrics").await;
    assert_eq!(metric(&page, "tether_hub_messages_in_total"), 1);
    assert_eq!(metric(&page, "tether_hub_bytes_in_total"), 7);
    assert_eq!(metric(&page, "tether_hub_backplane_reconnects_total"), 0);
    ws.send(Message::binary(vec![0u8; 1001])).await.unwrap();
    while let Some(Ok(_)) = next(&mut ws).await {}
    assert_eq!(ws.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));

    drop(ws);

    // --max-per-ip: a second member from 127.0.0.1 is dropped while the first stays.
    let capped = tether_hub(&["--max-per-ip", "1"]).await;
    let room = format!("{}rooms/lobby", capped.url);
    let mut first = open(&room, None).await;
    assert!(tether::connect(&room).await.is_err(), "a second connection from one address");
    first.send(Message::text("still here")).await.unwrap();
    assert_eq!(next(&mut first).await.unwrap().unwrap(), Message::text("still here"));

    let refused =
        tether_bin().args(["hub", "--listen", "127.0.0.1:0", "--overflow-code", "1005"]).output().await.unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("1005: not a code an endpoint may send"), "{stderr}");
}

#[tokio::test]
async fn with_a_certificate_the_hub_serves_wss() {
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let hub = tether_hub(&["--tls-cert", id.cert.to_str().unwrap(), "--tls-key", id.key.to_str().unwrap()]).await;
    assert!(hub.url.starts_with("wss://127.0.0.1:"), "{}", hub.url);
    let room = by_name(&format!("{}rooms/secure", hub.url));
    let mut a = open(&room, Some(&pki)).await;
    // A member that got its own message back has joined.
    a.send(Message::text("a is in")).await.unwrap();
    assert_eq!(next(&mut a).await.unwrap().unwrap(), Message::text("a is in"));
    let mut b = open(&room, Some(&pki)).await;
    b.send(Message::text("b is in")).await.unwrap();
    for ws in [&mut b, &mut a] {
        assert_eq!(next(ws).await.unwrap().unwrap(), Message::text("b is in"));
    }
    a.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    for ws in [&mut a, &mut b] {
        assert_eq!(next(ws).await.unwrap().unwrap(), Message::binary(vec![1, 2, 3]));
    }
}

/// Splits a `tether.hub.v1` frame into its header and payload.
fn envelope(message: Message) -> (Value, String) {
    let text = message.as_text().expect("a text message").to_owned();
    let (header, payload) = text.split_once('\n').expect("a header line");
    (serde_json::from_str(header).unwrap(), payload.to_owned())
}

/// The next `tether.hub.v1` frame of `ws`.
async fn next_envelope(ws: &mut tether::WebSocket<tether::MaybeTlsStream>) -> (Value, String) {
    envelope(next(ws).await.unwrap().unwrap())
}

#[tokio::test]
async fn a_hub_v1_client_resumes_with_exactly_what_it_missed() {
    let hub = tether_hub(&[]).await;
    let url = format!("{}rooms/resume", hub.url);
    let mut v1 = tether::connect_with(&url).protocol(PROTOCOL).connect().await.unwrap();
    assert_eq!(v1.protocol(), Some(PROTOCOL));
    let (joined, _) = next_envelope(&mut v1).await;
    assert_eq!((joined["type"].as_str(), joined["offset"].as_u64()), (Some("joined"), Some(0)));
    let epoch = joined["epoch"].as_str().unwrap().to_owned();

    let mut raw = tether::connect(&url).await.unwrap();
    wait_members(&hub, "resume", 2).await;
    // A raw member's message reaches the raw member as it was sent, and
    // the v1 member with its offset.
    raw.send(Message::text("one")).await.unwrap();
    assert_eq!(next(&mut raw).await.unwrap().unwrap(), Message::text("one"));
    let (header, payload) = next_envelope(&mut v1).await;
    assert_eq!(
        (header["type"].as_str(), header["offset"].as_u64(), payload.as_str()),
        (Some("message"), Some(1), "one")
    );

    v1.close(CloseCode::NORMAL, "away").await.unwrap();
    for text in ["two", "three"] {
        raw.send(Message::text(text)).await.unwrap();
        // Its own copy back: the message is ordered.
        assert_eq!(next(&mut raw).await.unwrap().unwrap(), Message::text(text));
    }

    let since = format!("{url}?since={epoch}:1");
    let mut back = tether::connect_with(&since).protocol(PROTOCOL).connect().await.unwrap();
    wait_members(&hub, "resume", 2).await;
    raw.send(Message::text("four")).await.unwrap();
    assert_eq!(next(&mut raw).await.unwrap().unwrap(), Message::text("four"));
    for (offset, text) in [(2, "two"), (3, "three"), (4, "four")] {
        let (header, payload) = next_envelope(&mut back).await;
        assert_eq!((header["offset"].as_u64(), payload.as_str()), (Some(offset), text), "{header}");
        assert_eq!(header["epoch"].as_str(), Some(epoch.as_str()));
    }

    // A publish with an id is acknowledged with its offset; a retry of the
    // same id is acknowledged again, not published twice.
    for _ in 0..2 {
        back.send(Message::text("{\"type\":\"publish\",\"id\":\"t-1\"}\nfive")).await.unwrap();
    }
    let (header, payload) = next_envelope(&mut back).await;
    assert_eq!((header["offset"].as_u64(), payload.as_str()), (Some(5), "five"));
    for _ in 0..2 {
        let (ack, _) = next_envelope(&mut back).await;
        assert_eq!(
            (ack["type"].as_str(), ack["id"].as_str(), ack["offset"].as_u64()),
            (Some("ack"), Some("t-1"), Some(5))
        );
    }
    raw.send(Message::text("six")).await.unwrap();
    assert_eq!(next(&mut raw).await.unwrap().unwrap(), Message::text("five"));
    assert_eq!(next(&mut raw).await.unwrap().unwrap(), Message::text("six"), "five once only");
    let (header, payload) = next_envelope(&mut back).await;
    assert_eq!((header["offset"].as_u64(), payload.as_str()), (Some(6), "six"));
}

/// The next room message through `tether.hub.v1`, skipping acks and notices.
async fn next_room_message(ws: &mut tether::WebSocket<tether::MaybeTlsStream>) -> (String, u64, String) {
    loop {
        let (header, payload) = next_envelope(ws).await;
        if header["type"] == "message" {
            return (header["epoch"].as_str().unwrap().to_owned(), header["offset"].as_u64().unwrap(), payload);
        }
    }
}

/// A `redis-server` and two `tether hub` processes on it, both linked.
async fn two_hubs_on_redis() -> (tether_testkit::redis::RedisServer, Server, Server) {
    let redis = tether_testkit::redis::RedisServer::start();
    let url = redis.url();
    let (a, b) = (tether_hub(&["--redis", &url]).await, tether_hub(&["--redis", &url]).await);
    wait_backplane(&a).await;
    wait_backplane(&b).await;
    (redis, a, b)
}

/// Two `tether hub` processes on one `redis-server`: one room, one order;
/// then one hub is killed (SIGKILL) and its member resumes on the other with
/// nothing lost and nothing twice.
#[tokio::test]
async fn two_hubs_share_rooms_through_redis_and_a_killed_hubs_member_resumes_on_the_other() {
    let (_redis, hub_a, hub_b) = two_hubs_on_redis().await;
    let room_a = format!("{}rooms/shared", hub_a.url);
    let room_b = format!("{}rooms/shared", hub_b.url);
    let mut on_a = tether::connect_with(&room_a).protocol(PROTOCOL).connect().await.unwrap();
    let mut on_b = tether::connect_with(&room_b).protocol(PROTOCOL).connect().await.unwrap();
    assert_eq!(next_envelope(&mut on_a).await.0["type"], "joined");
    assert_eq!(next_envelope(&mut on_b).await.0["type"], "joined");

    for i in 1..=5 {
        let id = format!("b-{i}");
        on_b.send(Message::text(format!("{{\"type\":\"publish\",\"id\":\"{id}\"}}\nmessage {i}"))).await.unwrap();
    }
    let mut seen_on_a = Vec::new();
    for _ in 1..=5 {
        seen_on_a.push(next_room_message(&mut on_a).await);
    }
    let epoch = seen_on_a[0].0.clone();
    let want: Vec<(String, u64, String)> = (1..=5).map(|i| (epoch.clone(), i, format!("message {i}"))).collect();
    assert_eq!(seen_on_a, want, "hub a delivers what hub b's member published, in Redis's order");

    // Hub a dies without a word; its member finds the connection gone.
    signal(&hub_a.child, "KILL");
    while let Some(Ok(_)) = next(&mut on_a).await {}
    for i in 6..=8 {
        let id = format!("b-{i}");
        on_b.send(Message::text(format!("{{\"type\":\"publish\",\"id\":\"{id}\"}}\nmessage {i}"))).await.unwrap();
    }
    let since = format!("{room_b}?since={epoch}:5");
    let mut back = tether::connect_with(&since).protocol(PROTOCOL).connect().await.unwrap();
    let mut resumed = Vec::new();
    for _ in 6..=8 {
        resumed.push(next_room_message(&mut back).await);
    }
    let want: Vec<(String, u64, String)> = (6..=8).map(|i| (epoch.clone(), i, format!("message {i}"))).collect();
    assert_eq!(resumed, want, "nothing lost, nothing twice");
}

/// `tether connect --reconnect` to a room of one hub, with a second hub of
/// the same Redis as `--also`: when the first hub is killed it resumes on
/// the second and prints what was published meanwhile, in order, once; a
/// typed line is published to the room.
#[tokio::test]
async fn tether_connect_reconnect_resumes_on_another_hub() {
    let (_redis, hub_a, hub_b) = two_hubs_on_redis().await;
    let room_a = format!("{}rooms/away", hub_a.url);
    let room_b = format!("{}rooms/away", hub_b.url);
    let mut cmd = crate::support::connect_command(&["--reconnect", &room_a, "--also", &room_b]);
    cmd.kill_on_drop(true);
    let mut client = cmd.spawn().unwrap();
    let mut stdin = client.stdin.take().unwrap();
    let mut printed = BufReader::new(client.stdout.take().unwrap()).lines();
    let mut publisher = tether::connect_with(&room_b).protocol(PROTOCOL).connect().await.unwrap();
    next_envelope(&mut publisher).await; // joined
    wait_members(&hub_a, "away", 1).await;

    let publish = |i: u32| Message::text(format!("{{\"type\":\"publish\",\"id\":\"p-{i}\"}}\nline {i}"));
    publisher.send(publish(1)).await.unwrap();
    let line = timeout(LIMIT, printed.next_line()).await.unwrap().unwrap();
    assert_eq!(line.as_deref(), Some("line 1"));

    signal(&hub_a.child, "KILL");
    for i in 2..=4 {
        publisher.send(publish(i)).await.unwrap();
    }
    for i in 2..=4 {
        let line = timeout(LIMIT, printed.next_line()).await.unwrap().unwrap();
        assert_eq!(line, Some(format!("line {i}")), "resumed on hub b: in order, once");
    }
    stdin.write_all(b"typed after the failover\n").await.unwrap();
    // The publisher sees its own four lines first, then the typed one.
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(next_room_message(&mut publisher).await.2);
    }
    assert_eq!(seen, ["line 1", "line 2", "line 3", "line 4", "typed after the failover"]);
    drop(stdin);
    let status = timeout(LIMIT, client.wait()).await.unwrap().unwrap();
    assert!(status.success());
}

/// A hub killed (-9) and started again on its address: `tether connect
/// --reconnect` with that one URL waits for it, resumes from Redis's
/// history and prints what another hub's member published meanwhile, in
/// order, once.
#[tokio::test]
async fn tether_connect_reconnect_resumes_on_the_same_hub_once_it_is_back() {
    let (redis, hub_a, hub_b) = two_hubs_on_redis().await;
    let url = redis.url();
    let room_a = format!("{}rooms/back", hub_a.url);
    let mut cmd = crate::support::connect_command(&["--reconnect", &room_a]);
    cmd.kill_on_drop(true);
    let mut client = cmd.spawn().unwrap();
    let stdin = client.stdin.take().unwrap();
    let mut printed = BufReader::new(client.stdout.take().unwrap()).lines();
    let mut publisher =
        tether::connect_with(&format!("{}rooms/back", hub_b.url)).protocol(PROTOCOL).connect().await.unwrap();
    next_envelope(&mut publisher).await; // joined
    wait_members(&hub_a, "back", 1).await;
    let publish = |i: u32| Message::text(format!("{{\"type\":\"publish\",\"id\":\"q-{i}\"}}\nline {i}"));
    publisher.send(publish(1)).await.unwrap();
    let line = timeout(LIMIT, printed.next_line()).await.unwrap().unwrap();
    assert_eq!(line.as_deref(), Some("line 1"));

    let mut hub_a = hub_a;
    signal(&hub_a.child, "KILL");
    let _ = hub_a.child.wait().await;
    for i in 2..=4 {
        publisher.send(publish(i)).await.unwrap();
    }
    // The same address again.
    let listen = authority(&hub_a).to_owned();
    let mut again = tether_bin();
    again.args(["hub", "--listen", &listen, "--redis", &url]).stderr(Stdio::null());
    let back = Server::start(again).await;
    assert_eq!(back.url, hub_a.url);
    for i in 2..=4 {
        let line = timeout(LIMIT, printed.next_line()).await.unwrap().unwrap();
        assert_eq!(line, Some(format!("line {i}")), "resumed on the restarted hub: in order, once");
    }
    publisher.send(publish(5)).await.unwrap();
    let line = timeout(LIMIT, printed.next_line()).await.unwrap().unwrap();
    assert_eq!(line.as_deref(), Some("line 5"), "live again");
    drop(stdin);
    let status = timeout(LIMIT, client.wait()).await.unwrap().unwrap();
    assert!(status.success());
}

/// In a room, end of input while no hub answers ends the client at once,
/// saying what the hub never confirmed, rather than waiting for a hub that
/// may never come back.
#[tokio::test]
async fn tether_connect_in_a_room_ends_with_its_input_while_no_hub_answers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = crate::support::connect_command(&["--reconnect", &format!("ws://127.0.0.1:{port}/rooms/gone")]);
    cmd.kill_on_drop(true);
    let mut client = cmd.spawn().unwrap();
    let mut stdin = client.stdin.take().unwrap();
    stdin.write_all(b"a line for nobody\n").await.unwrap();
    drop(stdin);
    let output =
        timeout(Duration::from_secs(20), client.wait_with_output()).await.expect("ends with its input").unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("1 line(s) sent to the room were not confirmed"), "{stderr}");
}

/// Three `tether hub` processes on one `redis-server`, with Python
/// `websockets` and Node `ws` members on each, most of them compressing:
/// every member gets every message, its own included, in one order, and a
/// large message arrives whole through the shared compressed frames.
#[tokio::test]
async fn python_and_node_members_on_three_hubs_get_one_order_compressed_or_not() {
    let redis = tether_testkit::redis::RedisServer::start();
    let url = redis.url();
    let hubs = [
        tether_hub(&["--redis", &url]).await,
        tether_hub(&["--redis", &url]).await,
        tether_hub(&["--redis", &url]).await,
    ];
    for hub in &hubs {
        wait_backplane(hub).await;
    }
    let room = |hub: &Server| format!("{}rooms/mixed", hub.url);
    let mut members = vec![
        Member::join_compressed(Peer::Python, &room(&hubs[0])).await,
        Member::join_compressed(Peer::Node, &room(&hubs[0])).await,
        Member::join(Peer::Python, &room(&hubs[1])).await,
        Member::join_compressed(Peer::Node, &room(&hubs[1])).await,
        Member::join_compressed(Peer::Python, &room(&hubs[1])).await,
        Member::join(Peer::Node, &room(&hubs[2])).await,
    ];
    wait_members(&hubs[0], "mixed", 2).await;
    wait_members(&hubs[1], "mixed", 3).await;
    wait_members(&hubs[2], "mixed", 1).await;

    let large = "compress me ".repeat(400);
    let mut expected = Vec::new();
    for (i, member) in members.iter_mut().enumerate() {
        member.send(&format!("text:member {i} says hi")).await;
        expected.push(format!("text member {i} says hi"));
    }
    members[3].send(&format!("text:{large}")).await;
    expected.push(format!("text {large}"));
    members[0].send("binary:00ff").await;
    expected.push("binary 00ff".into());

    let mut seen = Vec::new();
    for member in &mut members {
        let mut got = Vec::new();
        for _ in 0..expected.len() {
            got.push(member.line().await);
        }
        seen.push(got);
    }
    for other in &seen[1..] {
        assert_eq!(&seen[0], other, "one order on every hub, for every member");
    }
    let mut got = seen[0].clone();
    got.sort_unstable();
    expected.sort_unstable();
    assert_eq!(got, expected, "every message once, the sender's own included");
    let (_, metrics) = get(&hubs[1], "/metrics").await;
    assert_eq!(metric(&metrics, "tether_hub_backplane_failures_total"), 0);
}

/// `tether hub --redis rediss://... --redis-ca FILE`: TLS to Redis, the
/// server's certificate checked against the given CA; publishes are ordered
/// by Redis (the ack does not say `local`).
#[tokio::test]
async fn a_hub_reaches_redis_over_tls_with_its_own_ca() {
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let redis = tether_testkit::redis::RedisServer::start_tls(&id.cert, &id.key, &pki.ca);
    let url = redis.url();
    let hub = tether_hub(&["--redis", &url, "--redis-ca", pki.ca.to_str().unwrap()]).await;
    let room = format!("{}rooms/tls", hub.url);
    let mut ws = tether::connect_with(&room).protocol(PROTOCOL).connect().await.unwrap();
    assert_eq!(next_envelope(&mut ws).await.0["type"], "joined");
    // The link comes up in the background: until then acks say `local`.
    let mut i = 0;
    let ack = loop {
        i += 1;
        ws.send(Message::text(format!("{{\"type\":\"publish\",\"id\":\"t-{i}\"}}\nhello"))).await.unwrap();
        let ack = loop {
            let (header, _) = next_envelope(&mut ws).await;
            if header["type"] == "ack" {
                break header;
            }
        };
        if ack.get("local").is_none() || i == 200 {
            break ack;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    assert!(ack.get("local").is_none(), "ordered by Redis over TLS: {ack}");
    // The ack leaves once Redis has ordered the message; the hub counts it
    // when Redis's announcement comes back, which may be a moment later.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, metrics) = get(&hub, "/metrics").await;
        let published = metric(&metrics, "tether_hub_messages_published_total");
        if published == i || std::time::Instant::now() > deadline {
            assert_eq!(published, i);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
