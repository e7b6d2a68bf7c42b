//! The publish hook: it sees the room, the member (and who the application
//! said it is) and the message; a refused `tether.hub.v1` member gets a
//! `refused` envelope and stays, a refused raw member is closed with 1008;
//! application publishes are not asked. And the join check an application
//! puts in front of `Hub::decide`: a token, the room's name.

use std::time::Duration;

use futures_util::StreamExt;
use tether::{CloseCode, MaybeTlsStream, Message, WebSocket};
use tether_hub::protocol::PROTOCOL;
use tether_hub::{Hub, HubConfig, Join, Refusal};

type Client = WebSocket<MaybeTlsStream>;

/// A hub whose members are who their `?user=NAME` says (an application
/// would check a token here); returns its `ws://127.0.0.1:PORT` base.
async fn start(hub: &Hub) -> String {
    let server = tether::Server::bind("127.0.0.1:0").await.unwrap();
    let base = format!("ws://{}", server.local_addr().unwrap());
    let (decide, serve) = (hub.clone(), hub.clone());
    tokio::spawn(server.on_request(move |r| decide.decide(r)).serve(move |ws, _| {
        let hub = serve.clone();
        async move {
            let query = ws.request_query().unwrap_or_default().to_owned();
            let mut join = Join::parse(ws.request_path().unwrap_or_default(), Some(&query), ws.protocol()).unwrap();
            join.user = query.split('&').find_map(|p| p.strip_prefix("user=")).map(str::to_owned);
            let _ = hub.serve_join(ws, join).await;
        }
    }));
    base
}

fn hub() -> Hub {
    Hub::new(HubConfig::default().on_publish(|attempt| {
        if attempt.room == "news" && attempt.user != Some("editor") {
            return Err(Refusal::new(format!("member {} may not post news", attempt.member)));
        }
        if attempt.size() > 10 {
            return Err(Refusal::new("at most 10 bytes here"));
        }
        Ok(())
    }))
}

async fn next(ws: &mut Client) -> Message {
    tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a message in time").unwrap().unwrap()
}

fn header(message: &Message) -> (serde_json::Value, Vec<u8>) {
    let bytes = message.as_bytes();
    let end = bytes.iter().position(|&b| b == b'\n').expect("a header line");
    (serde_json::from_slice(&bytes[..end]).unwrap(), bytes[end + 1..].to_vec())
}

fn publish(id: &str, text: &str) -> Message {
    Message::text(format!("{{\"type\":\"publish\",\"id\":\"{id}\"}}\n{text}"))
}

#[tokio::test]
async fn a_refused_v1_publish_gets_a_refused_envelope_and_the_member_stays() {
    let hub = hub();
    let base = start(&hub).await;
    let mut v1 = tether::connect_with(&format!("{base}/rooms/chat")).protocol(PROTOCOL).connect().await.unwrap();
    assert_eq!(header(&next(&mut v1).await).0["type"], "joined");

    v1.send(publish("big-1", "far more than ten bytes")).await.unwrap();
    let (refused, _) = header(&next(&mut v1).await);
    assert_eq!(
        (refused["type"].as_str(), refused["id"].as_str(), refused["reason"].as_str()),
        (Some("refused"), Some("big-1"), Some("at most 10 bytes here"))
    );
    v1.send(publish("ok-1", "short")).await.unwrap();
    let (message, payload) = header(&next(&mut v1).await);
    assert_eq!(
        (message["type"].as_str(), message["offset"].as_u64(), &payload[..]),
        (Some("message"), Some(1), &b"short"[..])
    );
    assert_eq!(header(&next(&mut v1).await).0["type"], "ack");
    assert_eq!(hub.stats().refused, 1);
    assert_eq!(hub.position("chat").unwrap().offset, 1, "the refused message was not ordered");
}

#[tokio::test]
async fn the_hook_sees_who_the_member_is_and_closes_a_refused_raw_member_with_1008() {
    let hub = hub();
    let base = start(&hub).await;
    let mut editor = tether::connect(&format!("{base}/rooms/news?user=editor")).await.unwrap();
    let mut reader = tether::connect(&format!("{base}/rooms/news?user=reader")).await.unwrap();
    editor.send(Message::text("headline")).await.unwrap();
    assert_eq!(next(&mut editor).await, Message::text("headline"));
    assert_eq!(next(&mut reader).await, Message::text("headline"));

    reader.send(Message::text("spam")).await.unwrap();
    while let Some(item) = reader.next().await {
        item.unwrap();
    }
    assert_eq!(reader.close_code(), Some(CloseCode::POLICY_VIOLATION));
    let reason = reader.close_reason().unwrap_or_default().to_owned();
    assert!(reason.ends_with("may not post news"), "{reason}");

    // The application's own publishes are not asked.
    hub.publish("news", Message::text("from the application, and long")).await;
    assert_eq!(next(&mut editor).await, Message::text("from the application, and long"));
    assert_eq!(hub.position("news").unwrap().offset, 2, "spam was not ordered");
}

/// Joins are the application's to refuse before the hub sees them: its own
/// `on_request` checks the token (here a header) and the room, then hands
/// the request to `Hub::decide`. Refused handshakes get the status chosen
/// and never become members.
#[tokio::test]
async fn a_join_the_application_refuses_is_answered_with_its_status() {
    use tether::Reject;
    let hub = Hub::default();
    let server = tether::Server::bind("127.0.0.1:0").await.unwrap();
    let base = format!("ws://{}", server.local_addr().unwrap());
    let (decide, serve) = (hub.clone(), hub.clone());
    let check = move |request: &tether::Request| {
        let token = request.head().headers().get("authorization").and_then(|v| v.to_str().ok());
        let Some(user) = token.and_then(|t| t.strip_prefix("Bearer ")).filter(|u| ["ann", "root"].contains(u)) else {
            return Err(Reject::new(http::StatusCode::UNAUTHORIZED, "a valid token, please"));
        };
        if request.head().uri().path() == "/rooms/admin" && user != "root" {
            return Err(Reject::new(http::StatusCode::FORBIDDEN, "not your room"));
        }
        decide.decide(request)
    };
    tokio::spawn(server.on_request(check).serve(move |ws, _| {
        let hub = serve.clone();
        async move {
            let _ = hub.serve(ws).await;
        }
    }));
    let join = |room: &str, token: Option<&str>| {
        let mut builder = tether::connect_with(&format!("{base}/rooms/{room}"));
        if let Some(token) = token {
            builder = builder.header("Authorization", format!("Bearer {token}"));
        }
        builder.connect()
    };
    let status = |e: tether::Error| e.http_status();
    assert_eq!(join("lobby", None).await.map_err(status).err(), Some(Some(http::StatusCode::UNAUTHORIZED)));
    assert_eq!(join("lobby", Some("eve")).await.map_err(status).err(), Some(Some(http::StatusCode::UNAUTHORIZED)));
    assert_eq!(join("admin", Some("ann")).await.map_err(status).err(), Some(Some(http::StatusCode::FORBIDDEN)));
    let mut root = join("admin", Some("root")).await.unwrap();
    let mut ann = join("lobby", Some("ann")).await.unwrap();
    ann.send(Message::text("hi")).await.unwrap();
    assert_eq!(next(&mut ann).await, Message::text("hi"));
    root.send(Message::text("sudo")).await.unwrap();
    assert_eq!(next(&mut root).await, Message::text("sudo"));
    assert_eq!((hub.member_count("lobby"), hub.member_count("admin")), (1, 1), "the refused never joined");
}
