//! End-to-end tests of the `tether` binary, and interop with peers nobody
//! here wrote: Python `websockets` and Node `ws` (installed by
//! `scripts/install-peers.sh`, which the test command runs first).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use tether::{CloseCode, CloseFrame, Error, Message};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);

fn tether_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tether"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cache() -> PathBuf {
    std::env::var_os("TETHER_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/tether"))
}

/// A running process whose first stdout line is its URL.
struct Server {
    child: Child,
    url: String,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Server {
    async fn start(mut cmd: Command) -> Server {
        cmd.stdout(Stdio::piped()).stdin(Stdio::null()).kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn server");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = timeout(LIMIT, lines.next_line()).await.expect("server start timed out").unwrap().expect("no URL");
        assert!(url.starts_with("ws://127.0.0.1:"), "unexpected first line {url:?}");
        Server { child, url, lines }
    }

    /// The next stdout line after the URL.
    async fn line(&mut self) -> String {
        timeout(Duration::from_secs(20), self.lines.next_line())
            .await
            .expect("no line in time")
            .unwrap()
            .unwrap_or_default()
    }
}

async fn tether_echo() -> Server {
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", "127.0.0.1:0"]).stderr(Stdio::null());
    Server::start(cmd).await
}

#[derive(Clone, Copy, Debug)]
enum Peer {
    Python,
    Node,
}

impl Peer {
    fn command(self) -> Command {
        let peers = repo().join("tests/peers");
        match self {
            Peer::Python => {
                let python = std::env::var_os("TETHER_PEER_PYTHON")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| cache().join("peers/venv/bin/python"));
                assert!(python.exists(), "{} missing: run scripts/install-peers.sh", python.display());
                let mut cmd = Command::new(python);
                cmd.arg(peers.join("py_peer.py"));
                cmd
            }
            Peer::Node => {
                let modules = std::env::var_os("NODE_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| cache().join("peers/node/node_modules"));
                assert!(modules.join("ws").exists(), "{} missing: run scripts/install-peers.sh", modules.display());
                let mut cmd = Command::new("node");
                cmd.env("NODE_PATH", modules).arg(peers.join("node_peer.js"));
                cmd
            }
        }
    }

    async fn server(self) -> Server {
        let mut cmd = self.command();
        cmd.args(["server", "--lifetime", "300"]).stderr(Stdio::inherit());
        Server::start(cmd).await
    }
}

// ---------------------------------------------------------------- the CLI

#[tokio::test]
async fn connect_pipes_lines_through_echo_and_closes_cleanly() {
    let server = tether_echo().await;
    let mut child = tether_bin()
        .args(["connect", &server.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all("hello\nwörld\n\nlast line\n".as_bytes()).await.unwrap();
    drop(stdin); // EOF: close after the echoes in flight
    let out = timeout(LIMIT, child.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout.clone()).unwrap(), "hello\nwörld\n\nlast line\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("closed: 1000"), "{out:?}");
}

#[tokio::test]
async fn connect_failure_is_one_line_and_nonzero() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = tether_bin().args(["connect", &format!("ws://{unused}/")]).output().await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("refused"), "{err}");
}

#[tokio::test]
async fn demo_runs_the_five_steps_on_an_embedded_server() {
    let out = timeout(LIMIT, tether_bin().arg("demo").output()).await.unwrap().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(stdout, "echo: Hello!\necho: <binary 8 bytes: 89 50 4e 47 0d 0a 1a 0a>\nclosed: 1000 bye\n");
}

#[tokio::test]
async fn echo_serves_many_clients_at_once() {
    let server = tether_echo().await;
    let mut tasks = Vec::new();
    for c in 0..20 {
        let url = server.url.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = tether::connect(&url).await.unwrap();
            for i in 0..50 {
                let text = format!("{c}-{i}");
                ws.send(Message::text(text.clone())).await.unwrap();
                assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(text));
            }
            ws.send(Message::binary(vec![c as u8; 1000])).await.unwrap();
            assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(vec![c as u8; 1000]));
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        }));
    }
    for t in tasks {
        timeout(LIMIT, t).await.unwrap().unwrap();
    }
}

// ---------------------------------------------------------------- interop

/// The peer's own client runs its checks against `tether echo`.
async fn peer_client_against_tether_echo(peer: Peer) {
    let server = tether_echo().await;
    let mut cmd = peer.command();
    let out = timeout(LIMIT, cmd.args(["client", &server.url]).output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{peer:?} client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for check in ["text", "binary", "empty_text", "empty_binary", "large", "fragmented", "utf8", "ping", "close"] {
        assert!(stdout.lines().any(|l| l == format!("ok {check}")), "{peer:?}: no `ok {check}` in\n{stdout}");
    }
    assert!(stdout.contains("closed 4001 bye-from-peer"), "{stdout}");
}

#[tokio::test]
async fn python_client_against_tether_echo() {
    peer_client_against_tether_echo(Peer::Python).await;
}

#[tokio::test]
async fn node_client_against_tether_echo() {
    peer_client_against_tether_echo(Peer::Node).await;
}

async fn next(ws: &mut tether::WebSocket<tether::MaybeTlsStream>) -> Option<Result<Message, Error>> {
    timeout(Duration::from_secs(20), ws.next()).await.expect("timed out")
}

/// The library client against the peer's server, case by case.
async fn library_client_against_peer(peer: Peer) {
    let mut server = peer.server().await;
    let url = server.url.clone();

    let mut ws = tether::connect(&url).await.unwrap();
    let blob: Vec<u8> = (0..300 * 1024u32).map(|i| (i * 7 % 256) as u8).collect();
    let large: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 253) as u8).collect();
    let cases = [
        Message::text("Hello!"),
        Message::binary(blob),
        Message::text(""),
        Message::binary(Vec::new()),
        Message::text("héllo wörld ✓ 🚀"),
        Message::binary(large),
    ];
    for m in cases {
        ws.send(m.clone()).await.unwrap();
        let back = next(&mut ws).await.unwrap().unwrap();
        assert!(back == m, "{peer:?}: a {}-byte message came back different", m.len());
    }
    // The peer sends one text message in 4 fragments.
    ws.send(Message::text("fragment:4:hello, fragments")).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::text("hello, fragments"));
    // The peer pings us and reports our automatic pong.
    ws.send(Message::text("ping:x1")).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::text("pong:x1"));
    // We ping the peer; its pong arrives before the echo that follows.
    ws.ping("p9").await.unwrap();
    ws.send(Message::text("after ping")).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::text("after ping"));
    assert_eq!(ws.last_pong().map(|b| &b[..]), Some(&b"p9"[..]));
    // We close with a code and reason: the peer reads them, and echoes them.
    ws.close(CloseCode(4003), "lib-bye").await.unwrap();
    assert_eq!(ws.close_frame(), Some(&CloseFrame::new(CloseCode(4003), "lib-bye")));
    assert_eq!(server.line().await, "closed 4003 lib-bye");

    // The peer closes with a code and reason: we read them, and echo them.
    let mut ws = tether::connect(&url).await.unwrap();
    ws.send(Message::text("close:4004:srv-bye")).await.unwrap();
    assert!(next(&mut ws).await.is_none(), "a clean close ends the stream");
    assert_eq!(ws.close_frame(), Some(&CloseFrame::new(CloseCode(4004), "srv-bye")));
    assert_eq!(server.line().await, "closed 4004 srv-bye");

    // The peer aborts in the middle of a message: an error, not a hang.
    let mut ws = tether::connect(&url).await.unwrap();
    ws.send(Message::text("abort")).await.unwrap();
    match next(&mut ws).await {
        Some(Err(Error::Io(_))) => {}
        other => panic!("{peer:?}: expected an io error, got {other:?}"),
    }
    assert_eq!(ws.close_code(), Some(CloseCode::ABNORMAL));
    assert_eq!(server.line().await, "closed 1006 ");
    let _ = server.child.kill().await;
}

#[tokio::test]
async fn library_client_against_python_server() {
    library_client_against_peer(Peer::Python).await;
}

#[tokio::test]
async fn library_client_against_node_server() {
    library_client_against_peer(Peer::Node).await;
}

/// `tether connect` against the peer's server: fragments arrive whole, and
/// the server's close code and reason are printed.
async fn cli_against_peer(peer: Peer) {
    let mut server = peer.server().await;
    let mut child = tether_bin()
        .args(["connect", &server.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello\nfragment:3:abc\nclose:4002:peer bye\n").await.unwrap();
    // Keep stdin open: the server's close must be the one that ends this.
    let out = timeout(LIMIT, child.wait_with_output()).await.unwrap().unwrap();
    drop(stdin);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout.clone()).unwrap(), "hello\nabc\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("closed: 4002 peer bye"), "{out:?}");
    assert_eq!(server.line().await, "closed 4002 peer bye");
    let _ = server.child.kill().await;
}

#[tokio::test]
async fn cli_against_python_server() {
    cli_against_peer(Peer::Python).await;
}

#[tokio::test]
async fn cli_against_node_server() {
    cli_against_peer(Peer::Node).await;
}

// ---------------------------------------------------------------- the load generator

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
