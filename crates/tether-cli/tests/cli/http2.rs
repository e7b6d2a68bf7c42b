//! `tether echo` over HTTP/2 (RFC 8441): Python's `h2` package (installed by
//! `scripts/install-peers.sh`) drives extended CONNECT frame by frame over
//! TLS with ALPN `h2` (`interop/peers/py_h2_peer.py`), and `tether echo`
//! says on stderr which protocol carried each WebSocket.

use std::path::PathBuf;
use std::process::Stdio;

use tether_testkit::pki::{Leaf, TestPki};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

use crate::support::{repo, tether_bin, Server, LIMIT};

/// The Python HTTP/2 peer, as `scripts/install-peers.sh` installs it.
fn py_h2_peer() -> Command {
    let python = std::env::var_os("TETHER_PEER_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("TETHER_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/tether"));
        cache.join("peers/venv/bin/python")
    });
    assert!(python.exists(), "{} missing: run scripts/install-peers.sh", python.display());
    let mut cmd = Command::new(python);
    cmd.arg(repo().join("interop/peers/py_h2_peer.py"));
    cmd
}

#[tokio::test]
async fn python_h2_drives_extended_connect_against_tether_echo_over_tls() {
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", "127.0.0.1:0", "--tls-cert"]).arg(&id.cert).arg("--tls-key").arg(&id.key);
    cmd.stderr(Stdio::piped());
    let mut server = Server::start(cmd).await;
    let mut log = BufReader::new(server.child.stderr.take().unwrap()).lines();
    let url = server.url.replace("127.0.0.1", "localhost") + "h2-echo";
    let run = py_h2_peer().args(["client", &url, "--page", "/", "--ca"]).arg(&pki.ca).kill_on_drop(true).output();
    let out = timeout(LIMIT, run).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "py_h2_peer failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for check in [
        "settings",
        "echo_text",
        "echo_binary",
        "ping",
        "multiplexed",
        "close",
        "no_protocol",
        "wrong_protocol",
        "no_version",
        "wrong_version",
        "page",
    ] {
        assert!(stdout.lines().any(|l| l == format!("ok {check}")), "no `ok {check}` in\n{stdout}");
    }
    // The server logged how the WebSockets came.
    let mut lines = Vec::new();
    while lines.iter().filter(|l: &&String| l.contains("over HTTP/2 (extended CONNECT, TLS)")).count() < 2 {
        let line = timeout(LIMIT, log.next_line()).await.unwrap().unwrap().expect("stderr ended");
        lines.push(line);
    }
    assert!(lines.iter().any(|l| l.ends_with(": WebSocket /h2-echo over HTTP/2 (extended CONNECT, TLS)")), "{lines:?}");
}
