//! Each workload end to end against a `tether` echo server on loopback, in
//! this process (so `/proc/self` stands in for the server's pid).

use std::time::Duration;

use futures_util::StreamExt;
use tether_bench::echo_load::{self, EchoPlan};
use tether_bench::fanout_load::{self, FanoutPlan};
use tether_bench::idle_load::{self, IdlePlan};
mod common;

use common::options;
use tether_bench::{setup_load, Kind, Target};
use tokio::net::TcpListener;

/// An echo server on a free port; returns its URL.
async fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = tether::Server::from_listener(listener, tether::Config::default());
    tokio::spawn(server.serve(|mut ws, _| async move {
        while let Some(Ok(message)) = ws.next().await {
            if ws.send(message).await.is_err() {
                return;
            }
        }
    }));
    url
}

#[tokio::test]
async fn echo_load_counts_every_checked_echo() {
    let url = echo_server().await;
    let mut options = options(&url);
    // Bounded by the message count, not the clock.
    options.duration = Duration::from_secs(30);
    for (kind, deflate) in [(Kind::Text, false), (Kind::Binary, false), (Kind::Text, true)] {
        let mut target = Target::parse(&url).unwrap();
        target.deflate = deflate;
        let plan = EchoPlan { conns: 3, in_flight: 4, size: 500, kind, check: true, messages: Some(40), rate: None };
        let report = echo_load::run(target, plan, &options).await.unwrap();
        assert_eq!((report.errors, report.ops), (0, 120), "{kind:?} deflate {deflate}: {:?}", report.error_samples);
        assert_eq!(report.bytes, 120 * 500);
        let json = report.to_json();
        assert_eq!(json["deflate"], deflate);
        assert!(json["p50_us"].as_f64().unwrap() > 0.0, "{json}");
    }
}

#[tokio::test]
async fn setup_load_completes_handshakes_and_closes() {
    let url = echo_server().await;
    let report = setup_load::run(Target::parse(&url).unwrap(), 2, &options(&url)).await.unwrap();
    assert_eq!(report.errors, 0, "{:?}", report.error_samples);
    assert!(report.ops > 0, "no setup completed in the window");
    assert_eq!(report.latency.as_ref().map(|h| h.len()), Some(report.ops));
    assert!(report.server_cpu.is_some(), "the server's CPU time is read");
}

#[tokio::test]
async fn idle_load_holds_the_connections_and_reads_memory() {
    let url = echo_server().await;
    let plan = IdlePlan { conns: 8, size: 20, hold: Duration::ZERO, answer_pings: 0 };
    let report = idle_load::run(Target::parse(&url).unwrap(), plan, &options(&url)).await.unwrap();
    assert_eq!((report.errors, report.held), (0, 8), "{:?}", report.error_samples);
    assert!(report.rss_kb.is_some_and(|(before, with)| before > 0 && with > 0), "{:?}", report.rss_kb);
}

/// With `answer_pings`, every connection answers the server's keepalive
/// pings (two here) before the reading: the server measures each round trip.
#[tokio::test]
async fn idle_load_can_answer_the_keepalive_pings() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let config = tether::Config::default().keepalive(Some(Duration::from_millis(200)), Duration::from_secs(10));
    let (measured, mut rtts) = tokio::sync::mpsc::unbounded_channel();
    let server = tether::Server::from_listener(listener, config);
    tokio::spawn(server.serve(move |mut ws, _| {
        let measured = measured.clone();
        async move {
            // An idle connection: read (which answers nothing here) until
            // the first pong has been measured.
            while ws.rtt().is_none() {
                if tokio::time::timeout(Duration::from_millis(10), ws.next()).await.is_ok_and(|m| m.is_none()) {
                    return;
                }
            }
            let _ = measured.send(ws.last_pong().is_none());
            while ws.next().await.is_some() {}
        }
    }));
    let plan = IdlePlan { conns: 4, size: 0, hold: Duration::ZERO, answer_pings: 2 };
    let report = idle_load::run(Target::parse(&url).unwrap(), plan, &options(&url)).await.unwrap();
    assert_eq!((report.errors, report.held), (0, 4), "{:?}", report.error_samples);
    for _ in 0..4 {
        let measured = tokio::time::timeout(Duration::from_secs(10), rtts.recv()).await;
        assert_eq!(measured, Ok(Some(true)), "measured, and the keepalive pong is not kept");
    }
}

#[tokio::test]
async fn setup_load_needs_a_websocket_server() {
    let target = Target::parse("tcp://127.0.0.1:9/").unwrap();
    let err = setup_load::run(target, 1, &options("tcp://127.0.0.1:9/")).await.unwrap_err();
    assert!(err.contains("needs a WebSocket server"), "{err}");
}

/// A hub on a free port; returns its room URL.
async fn hub_server(hub: tether_hub::Hub) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/rooms/bench", listener.local_addr().unwrap());
    let decide = hub.clone();
    let server = tether::Server::from_listener(listener, tether::Config::default());
    tokio::spawn(server.on_request(move |r| decide.decide(r)).serve(move |ws, _| {
        let hub = hub.clone();
        async move {
            let _ = hub.serve(ws).await;
        }
    }));
    url
}

#[tokio::test]
async fn fanout_load_sees_every_message_once_in_every_room() {
    let url = hub_server(tether_hub::Hub::default()).await;
    let mut options = options(&url);
    options.warmup = Duration::from_millis(300);
    options.duration = Duration::from_millis(700);
    let plan = FanoutPlan { members: 12, publishers: 3, size: 64, rate: 300.0, rooms: 3 };
    let report = fanout_load::run(vec![Target::parse(&url).unwrap()], plan, &options).await.unwrap();
    let json = report.to_json();
    assert_eq!(report.errors, 0, "{:?}", report.error_samples);
    assert_eq!((json["lost"].as_u64(), json["duplicated"].as_u64()), (Some(0), Some(0)), "{json}");
    // 3 rooms of 4 members, each room one publisher at 100/s: 1,200 deliveries/s.
    let per_s = report.ops_per_s();
    assert!((900.0..=1500.0).contains(&per_s), "{per_s} deliveries/s");
    assert!(json["p99_us"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn fanout_load_counts_what_a_lossy_room_drops() {
    // Members whose queue holds two messages: a burst loses the rest.
    let limits = tether_hub::MemberLimits::default().queue(2 * 1030, tether::CloseCode::TRY_AGAIN_LATER);
    let hub = tether_hub::Hub::new(tether_hub::HubConfig::default().member(limits));
    hub.set_lossy("bench", true);
    let url = hub_server(hub).await;
    let mut options = options(&url);
    options.warmup = Duration::from_millis(200);
    options.duration = Duration::from_millis(500);
    let plan = FanoutPlan { members: 50, publishers: 1, size: 1024, rate: 20_000.0, rooms: 1 };
    let report = fanout_load::run(vec![Target::parse(&url).unwrap()], plan, &options).await.unwrap();
    let json = report.to_json();
    assert!(json["lost"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(json["duplicated"].as_u64(), Some(0));
}
