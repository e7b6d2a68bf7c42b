//! Peers nobody here wrote against the `axum_echo` example's router: the
//! clients of Python `websockets` and Node `ws` (`interop/peers`, installed
//! by `scripts/install-peers.sh`, which the test command runs first) run
//! their checks over HTTP/1.1, as they do against `tether echo`, and Python's
//! `h2` package over cleartext HTTP/2.

#[path = "../examples/axum_echo.rs"]
#[allow(dead_code)] // its `main` is the example's, not ours
mod axum_echo;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cache() -> PathBuf {
    std::env::var_os("TETHER_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/tether"))
}

/// The Python peer `script` (in `interop/peers`), run by the venv
/// `scripts/install-peers.sh` installs.
fn python_script(script: &str) -> Command {
    let python = std::env::var_os("TETHER_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join("peers/venv/bin/python"));
    assert!(python.exists(), "{} missing: run scripts/install-peers.sh", python.display());
    let mut cmd = Command::new(python);
    cmd.arg(repo().join("interop/peers").join(script));
    cmd
}

/// The Python peer on `websockets`.
fn python() -> Command {
    python_script("py_peer.py")
}

/// The Node peer, as `scripts/install-peers.sh` installs it.
fn node() -> Command {
    let modules =
        std::env::var_os("NODE_PATH").map(PathBuf::from).unwrap_or_else(|| cache().join("peers/node/node_modules"));
    assert!(modules.join("ws").exists(), "{} missing: run scripts/install-peers.sh", modules.display());
    let mut cmd = Command::new("node");
    cmd.env("NODE_PATH", modules).arg(repo().join("interop/peers/node_peer.js"));
    cmd
}

/// Serves the example's app on a loopback port; returns its WebSocket URL.
async fn axum_echo() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, axum_echo::app()).await.unwrap() });
    url
}

/// Runs the peer's client checks against the example; all must pass.
async fn peer_client(name: &str, mut peer: Command) {
    let url = axum_echo().await;
    let run = peer.args(["client", &url]).kill_on_drop(true).output();
    let out = tokio::time::timeout(Duration::from_secs(180), run).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{name} client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for check in ["text", "binary", "empty_text", "empty_binary", "large", "fragmented", "utf8", "ping", "close"] {
        assert!(stdout.lines().any(|l| l == format!("ok {check}")), "{name}: no `ok {check}` in\n{stdout}");
    }
    assert!(stdout.contains("closed 4001 bye-from-peer"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_against_axum_echo() {
    peer_client("Python", python()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_against_axum_echo() {
    peer_client("Node", node()).await;
}

/// Python's `h2` package drives extended CONNECT frame by frame against the
/// example over cleartext HTTP/2 with prior knowledge (axum's `http2`
/// feature), malformed requests included (`interop/peers/py_h2_peer.py`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_h2_drives_extended_connect_against_axum_echo_over_h2c() {
    let url = axum_echo().await;
    let run = python_script("py_h2_peer.py").args(["client", &url, "--page", "/"]).kill_on_drop(true).output();
    let out = tokio::time::timeout(Duration::from_secs(180), run).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "py_h2_peer failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let checks = ["settings", "echo_text", "echo_binary", "ping", "multiplexed", "close", "no_protocol"];
    for check in checks.iter().chain(&["wrong_protocol", "no_version", "wrong_version", "page"]) {
        assert!(stdout.lines().any(|l| l == format!("ok {check}")), "no `ok {check}` in\n{stdout}");
    }
}
