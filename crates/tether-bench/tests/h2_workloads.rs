//! The workloads on tether's own client (`h2_load`) end to end against a
//! `tether::Server` in this process, over HTTP/2 (h2c with prior knowledge)
//! and HTTP/1.1, the server counting which protocol each WebSocket came by.
#![cfg(feature = "http2")]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tether::Message;
use tether_bench::h2_load::{self, EchoPlan, Transport};
use tether_bench::RunOptions;
use tokio::net::TcpListener;

/// WebSockets the server took over HTTP/2 and over HTTP/1.1.
#[derive(Default)]
struct Seen {
    h2: AtomicUsize,
    h1: AtomicUsize,
}

/// An echo server on a free port that flips the first byte of every echo
/// when `corrupt` (right lengths, wrong bytes); returns its URL.
async fn echo_server(corrupt: bool) -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    let server = tether::Server::from_listener(listener, tether::Config::default());
    tokio::spawn(server.serve(move |mut ws, _| {
        let counter = if ws.get_ref().is_http2() { &counts.h2 } else { &counts.h1 };
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            while let Some(Ok(message)) = ws.next().await {
                let message = match message {
                    Message::Binary(b) if corrupt && !b.is_empty() => {
                        let mut v = b.to_vec();
                        v[0] ^= 0xff;
                        Message::binary(v)
                    }
                    other => other,
                };
                if ws.send(message).await.is_err() {
                    return;
                }
            }
        }
    }));
    (url, seen)
}

fn options(url: &str, duration: Duration) -> RunOptions {
    RunOptions { duration, ..common::options(url) }
}

#[tokio::test]
async fn echo_counts_every_checked_message_over_both_protocols() {
    for (transport, h2, h1) in [(Transport::Http2 { per_conn: 2 }, 5, 0), (Transport::Http1, 0, 5)] {
        let (url, seen) = echo_server(false).await;
        // Bounded by the message count, not the clock.
        let plan = EchoPlan { conns: 5, size: 1000, messages: Some(40), transport };
        let report = h2_load::echo(plan, &options(&url, Duration::from_secs(30))).await.unwrap();
        assert_eq!((report.errors, report.ops), (0, 200), "{transport:?}: {:?}", report.error_samples);
        assert_eq!(report.bytes, 200 * 1000);
        assert_eq!((seen.h2.load(Ordering::SeqCst), seen.h1.load(Ordering::SeqCst)), (h2, h1), "{transport:?}");
        let json = report.to_json();
        assert_eq!(json["transport"], if h2 > 0 { "http2" } else { "http1" });
        assert!(json["msg_per_server_cpu_s"].as_f64().unwrap() > 0.0, "{json}");
    }
}

#[tokio::test]
async fn echo_of_wrong_bytes_scores_zero() {
    let (url, _) = echo_server(true).await;
    let plan = EchoPlan { conns: 2, size: 100, messages: Some(10), transport: Transport::Http2 { per_conn: 2 } };
    let report = h2_load::echo(plan, &options(&url, Duration::from_secs(30))).await.unwrap();
    assert_eq!((report.ops, report.errors), (0, 2), "{:?}", report.error_samples);
    assert!(report.error_samples[0].contains("differ"), "{:?}", report.error_samples);
}

#[tokio::test]
async fn echo_refuses_messages_larger_than_the_buffers() {
    let plan = EchoPlan { conns: 1, size: h2_load::MAX_SIZE + 1, messages: Some(1), transport: Transport::Http1 };
    assert!(h2_load::echo(plan, &options("ws://127.0.0.1:9/", Duration::from_secs(1))).await.is_err());
}

#[tokio::test]
async fn setup_opens_and_closes_streams_on_shared_connections() {
    for transport in [Transport::Http2 { per_conn: 4 }, Transport::Http1] {
        let (url, seen) = echo_server(false).await;
        let report = h2_load::setup(8, transport, &options(&url, Duration::from_millis(300))).await.unwrap();
        assert_eq!(report.errors, 0, "{transport:?}: {:?}", report.error_samples);
        assert!(report.ops > 0, "{transport:?}");
        let (h2, h1) = (seen.h2.load(Ordering::SeqCst), seen.h1.load(Ordering::SeqCst));
        // Every counted cycle was one WebSocket of the protocol asked for.
        match transport {
            Transport::Http2 { .. } => assert!(h2 as u64 >= report.ops && h1 == 0, "{h2} {h1}"),
            Transport::Http1 => assert!(h1 as u64 >= report.ops && h2 == 0, "{h2} {h1}"),
        }
        assert!(report.to_json()["setups_per_s"].as_f64().unwrap() > 0.0);
    }
}
