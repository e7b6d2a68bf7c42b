//! `tether bench` against `tether echo`: the load generator end to end.

use std::process::Stdio;

use tokio::time::timeout;

use tether_testkit::pki::TestPki;

use crate::support::{by_name, tether_bin, tether_echo_tls, Server, LIMIT};

/// A smoke run of `tether bench`: a few hundred messages through `tether
/// echo` on a current-thread runtime, every byte checked, text and binary.
#[tokio::test]
async fn bench_smoke_run_against_tether_echo_checks_every_echo() {
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", "127.0.0.1:0", "--threads", "1", "--quiet"]).stderr(Stdio::null());
    let mut server = Server::start(cmd).await;
    for kind in ["text", "binary"] {
        let out = tether_bin()
            .args(["bench", "echo", &server.url, "-c", "4", "-k", "8", "-s", "300", "-m", "100", "--check"])
            .args(["--kind", kind, "--json", "--quiet"])
            .output();
        let out = timeout(LIMIT, out).await.unwrap().unwrap();
        assert!(out.status.success(), "{out:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        assert_eq!(report["errors"], 0, "{report}");
        assert_eq!(report["ops"], 400, "{report}");
        assert_eq!(report["kind"], kind);
        assert_eq!(report["check"], true);
        assert!(report["msg_per_s"].as_f64().unwrap() > 0.0, "{report}");
        assert!(report["p99_us"].as_f64().unwrap() >= report["p50_us"].as_f64().unwrap(), "{report}");
    }
    // A server that is gone is an error, not an empty report.
    let _ = server.child.kill().await;
    let _ = server.child.wait().await;
    let out = tether_bin().args(["bench", "echo", &server.url, "-m", "1", "--quiet"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no connection"), "{out:?}");
}

/// `--http2` and `--tether-client`: the echo and setup workloads on
/// tether's own client against `tether echo` (h2c with prior knowledge,
/// then HTTP/1.1), every echoed byte checked; flags the path cannot honour
/// are refused.
#[tokio::test]
async fn bench_over_http2_and_http1_on_tethers_client() {
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", "127.0.0.1:0", "--threads", "1", "--quiet"]).stderr(Stdio::null());
    let server = Server::start(cmd).await;
    for (flag, transport, per_conn) in [("--http2", "http2", 3), ("--tether-client", "http1", 1)] {
        let out = tether_bin()
            .args(["bench", "echo", &server.url, "-c", "5", "-s", "2KiB", "-m", "30", flag])
            .args(["--streams-per-conn", "3", "--json", "--quiet"])
            .output();
        let out = timeout(LIMIT, out).await.unwrap().unwrap();
        assert!(out.status.success(), "{out:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        assert_eq!((report["errors"].as_u64(), report["ops"].as_u64()), (Some(0), Some(150)), "{report}");
        assert_eq!(report["transport"], transport);
        assert_eq!(report["per_connection"], per_conn);
        assert_eq!(report["check"], true);

        let mut setup = tether_bin();
        setup.args(["bench", "setup", &server.url, "-c", "4", "-d", "0.3", "-w", "0.1", flag, "--json", "--quiet"]);
        let out = timeout(LIMIT, setup.output()).await.unwrap().unwrap();
        assert!(out.status.success(), "{out:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        assert_eq!(report["errors"], 0, "{report}");
        assert!(report["setups_per_s"].as_f64().unwrap() > 0.0, "{report}");
        assert_eq!(report["transport"], transport);
    }
    let out = tether_bin().args(["bench", "echo", &server.url, "-k", "4", "--http2", "--quiet"]).output();
    let out = timeout(LIMIT, out).await.unwrap().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("one at a time"), "{out:?}");
}

/// The idle workload with a compressed message: the server must accept
/// permessage-deflate, every echo is inflated and checked, and the report
/// carries the server's memory and the kernel's socket memory.
#[tokio::test]
async fn idle_run_with_a_compressed_message_reports_memory() {
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", "127.0.0.1:0", "--threads", "1", "--quiet"]).stderr(Stdio::null());
    let server = Server::start(cmd).await;
    let pid = server.child.id().expect("the server runs").to_string();
    let out = tether_bin()
        .args(["bench", "idle", &server.url, "-c", "20", "-s", "200", "--deflate", "--server-pid", &pid])
        .args(["--json", "--quiet"])
        .output();
    let out = timeout(LIMIT, out).await.unwrap().unwrap();
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!((report["held"].as_u64(), report["deflate"].as_bool()), (Some(20), Some(true)), "{report}");
    assert!(report["rss_kb_after"].as_u64().unwrap() > 0, "{report}");
    assert!(report["kernel_slab_kb_per_conn"].is_number(), "{report}");
    assert!(report["kernel_tcp_buffers_kb_per_conn"].is_number(), "{report}");
}

/// `tether bench` over wss:// against `tether echo --tls-cert`: the CA of
/// `--ca` is trusted, by address and by name, the pinned suite is what the
/// report says was negotiated, every byte is checked; no `--ca` is refused.
#[tokio::test]
async fn bench_over_wss_with_a_private_ca() {
    let pki = TestPki::new();
    let server = tether_echo_tls(&pki).await;
    let ca = pki.ca.to_str().unwrap();
    for url in [server.url.clone(), by_name(&server.url)] {
        let out = tether_bin()
            .args(["bench", "echo", &url, "-c", "3", "-s", "20KiB", "-m", "20", "--check", "--ca", ca])
            .args(["--json", "--quiet"])
            .output();
        let out = timeout(LIMIT, out).await.unwrap().unwrap();
        assert!(out.status.success(), "{out:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        assert_eq!((report["errors"].as_u64(), report["ops"].as_u64()), (Some(0), Some(60)), "{report}");
        assert_eq!(report["tls"], "TLS13_AES_128_GCM_SHA256 X25519");
    }
    let setup = tether_bin()
        .args(["bench", "setup", &server.url, "-c", "2", "-d", "0.3", "-w", "0.1", "--ca", ca])
        .args(["--tls-suite", "TLS13_CHACHA20_POLY1305_SHA256", "--json", "--quiet"])
        .output();
    let out = timeout(LIMIT, setup).await.unwrap().unwrap();
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["tls"], "TLS13_CHACHA20_POLY1305_SHA256 X25519");
    let out = tether_bin().args(["bench", "echo", &server.url, "-m", "1", "--quiet"]).output();
    let out = timeout(LIMIT, out).await.unwrap().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ca FILE"), "{out:?}");
}
