//! Each workload end to end against a `tether` echo server on loopback, in
//! this process (so `/proc/self` stands in for the server's pid).

use std::time::Duration;

use futures_util::StreamExt;
use tether_bench::echo_load::{self, EchoPlan};
use tether_bench::idle_load::{self, IdlePlan};
use tether_bench::{setup_load, Kind, RunOptions, Target};
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

fn options(url: &str) -> RunOptions {
    RunOptions {
        url: url.to_owned(),
        duration: Duration::from_millis(300),
        warmup: Duration::from_millis(50),
        server_pid: Some(std::process::id()),
        source: None,
        quiet: true,
    }
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
    let plan = IdlePlan { conns: 8, size: 20, hold: Duration::ZERO };
    let report = idle_load::run(Target::parse(&url).unwrap(), plan, &options(&url)).await.unwrap();
    assert_eq!((report.errors, report.held), (0, 8), "{:?}", report.error_samples);
    assert!(report.rss_kb.is_some_and(|(before, with)| before > 0 && with > 0), "{:?}", report.rss_kb);
}

#[tokio::test]
async fn setup_load_needs_a_websocket_server() {
    let target = Target::parse("tcp://127.0.0.1:9/").unwrap();
    let err = setup_load::run(target, 1, &options("tcp://127.0.0.1:9/")).await.unwrap_err();
    assert!(err.contains("needs a WebSocket server"), "{err}");
}
