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
    /// The peer with permessage-deflate on (accepted as a server, offered as a client).
    fn command_with_deflate(self) -> Command {
        let mut cmd = self.command();
        cmd.env("PEER_DEFLATE", "1");
        cmd
    }

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

    async fn deflate_server(self) -> Server {
        let mut cmd = self.command_with_deflate();
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
    run_peer_client(peer.command()).await;
}

async fn run_peer_client(mut cmd: Command) {
    let peer = format!("{:?}", cmd.as_std().get_args().next());
    let server = tether_echo().await;
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

// ------------------------------------------------------ interop, compressed

#[tokio::test]
async fn python_client_with_deflate_against_tether_echo() {
    run_peer_client(Peer::Python.command_with_deflate()).await;
}

#[tokio::test]
async fn node_client_with_deflate_against_tether_echo() {
    run_peer_client(Peer::Node.command_with_deflate()).await;
}

/// Text and binary of many sizes through a peer that compresses, with ours on.
async fn library_client_with_deflate_against_peer(peer: Peer) {
    let server = peer.deflate_server().await;
    let mut ws = tether::connect(&server.url).await.unwrap();
    assert!(ws.compression().is_some(), "{peer:?} accepted permessage-deflate");
    let corpus: String =
        (0..).map(|i| format!("line {i}: the quick brown fox jumps over the lazy dog\n")).take(400_000).collect();
    for size in [0usize, 1, 100, 1023, 1024, 5000, 65_536, 1 << 20, 16 << 20] {
        let text = Message::text(&corpus[..size]);
        ws.send(text.clone()).await.unwrap();
        assert!(next(&mut ws).await.unwrap().unwrap() == text, "{peer:?}: {size}-byte text differs");
        let binary: Vec<u8> = (0..size as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        ws.send(Message::binary(binary.clone())).await.unwrap();
        assert!(next(&mut ws).await.unwrap().unwrap() == Message::binary(binary), "{peer:?}: {size}-byte binary");
    }
    ws.send_uncompressed(Message::text("plain")).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::text("plain"));
    ws.send(Message::text("fragment:3:compressed fragments")).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::text("compressed fragments"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn library_client_with_deflate_against_python_server() {
    library_client_with_deflate_against_peer(Peer::Python).await;
}

#[tokio::test]
async fn library_client_with_deflate_against_node_server() {
    library_client_with_deflate_against_peer(Peer::Node).await;
}

#[tokio::test]
async fn no_deflate_flags_turn_compression_off() {
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", "127.0.0.1:0", "--no-deflate"]).stderr(Stdio::null());
    let server = Server::start(cmd).await;
    let ws = tether::connect(&server.url).await.unwrap();
    assert!(ws.compression().is_none());
    let server = tether_echo().await;
    let ws = tether::connect(&server.url).await.unwrap();
    assert!(ws.compression().is_some(), "tether echo accepts permessage-deflate by default");
}

// ------------------------------------------------------ production faults

fn signal(child: &Child, name: &str) {
    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("kill").args([&format!("-{name}"), &pid]).status().unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_100_clients_with_1001_then_exits() {
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", "127.0.0.1:0", "--grace", "3"]).stderr(Stdio::null());
    let mut server = Server::start(cmd).await;
    let mut clients = Vec::new();
    for _ in 0..100 {
        let mut ws = tether::connect(&server.url).await.unwrap();
        ws.send(Message::text("hi")).await.unwrap();
        assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::text("hi"));
        clients.push(ws);
    }
    let started = std::time::Instant::now();
    signal(&server.child, "TERM");
    let waiters: Vec<_> = clients
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let end = timeout(Duration::from_secs(10), ws.next()).await.expect("close in time");
                assert!(end.is_none(), "{end:?}");
                ws.close_code()
            })
        })
        .collect();
    for w in waiters {
        assert_eq!(w.await.unwrap(), Some(CloseCode::GOING_AWAY));
    }
    let status = timeout(Duration::from_secs(5), server.child.wait()).await.expect("exit within the deadline").unwrap();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn killed_server_ends_the_stream_with_an_io_error() {
    let mut server = tether_echo().await;
    let mut ws = tether::connect(&server.url).await.unwrap();
    ws.send(Message::text("before")).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::text("before"));
    server.child.start_kill().unwrap(); // SIGKILL: no close frame, the kernel closes the socket
    match next(&mut ws).await {
        Some(Err(Error::Io(e))) => {
            assert!(matches!(e.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset), "{e}")
        }
        other => panic!("expected an io error, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_reconnect_survives_a_server_restart() {
    let mut first = tether_echo().await;
    let addr = first.url.trim_start_matches("ws://").trim_end_matches('/').to_owned();
    let mut child = tether_bin()
        .args(["connect", "--reconnect", &first.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = async |out: &mut Lines<BufReader<ChildStdout>>| {
        timeout(Duration::from_secs(20), out.next_line()).await.expect("line in time").unwrap().unwrap()
    };
    stdin.write_all(b"one\n").await.unwrap();
    assert_eq!(line(&mut out).await, "one");
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stdin.write_all(b"two\nthree\n").await.unwrap(); // typed while disconnected
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", &addr]).stderr(Stdio::null());
    let _second = Server::start(cmd).await;
    assert_eq!(line(&mut out).await, "two");
    assert_eq!(line(&mut out).await, "three");
    drop(stdin);
    let output = timeout(LIMIT, child.wait_with_output()).await.unwrap().unwrap();
    assert!(output.status.success());
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("reconnecting (attempt 1"), "{log}");
    assert!(log.matches("open").count() >= 2, "{log}");
}
