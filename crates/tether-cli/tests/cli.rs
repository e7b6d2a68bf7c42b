//! End-to-end tests of the `tether` binary, and interop with peers nobody
//! here wrote: Python `websockets` and Node `ws` (installed by
//! `scripts/install-peers.sh`, which the test command runs first).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use tether::tls::{ClientTls, Roots};
use tether::{CloseCode, CloseFrame, Error, Message};
use tether_testkit::pki::{Leaf, TestPki};
use tether_testkit::proxies::{Behaviour, FakeProxy, RealProxy};
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
        assert!(
            url.starts_with("ws://127.0.0.1:") || url.starts_with("wss://127.0.0.1:"),
            "unexpected first line {url:?}"
        );
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
    tether_echo_with(&[]).await
}

/// `tether echo` on a free port, with more arguments.
async fn tether_echo_with(args: &[&str]) -> Server {
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", "127.0.0.1:0"]).args(args).stderr(Stdio::null());
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
        let peers = repo().join("interop/peers");
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
        self.server_with(&[]).await
    }

    async fn server_with(self, args: &[&str]) -> Server {
        let mut cmd = self.command();
        cmd.args(["server", "--lifetime", "300"]).args(args).stderr(Stdio::inherit());
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
    peer_client_against(peer, &tether_echo().await.url, &[]).await;
}

/// The peer's client checks against `url`, with more client arguments.
async fn peer_client_against(peer: Peer, url: &str, args: &[&str]) {
    peer_command_against(peer, peer.command(), url, args).await;
}

async fn peer_command_against(peer: Peer, mut cmd: Command, url: &str, args: &[&str]) {
    let out = timeout(LIMIT, cmd.args(["client", url]).args(args).output()).await.unwrap().unwrap();
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
    library_client_against(peer, peer.server().await, None).await;
}

/// Connects to `url`, trusting the test CA when there is one.
async fn open(url: &str, pki: Option<&TestPki>) -> tether::WebSocket<tether::MaybeTlsStream> {
    let mut builder = tether::connect_with(url);
    if let Some(pki) = pki {
        builder = builder.tls(ClientTls::new().roots(Roots::Empty).add_ca_pem_file(&pki.ca).unwrap());
    }
    builder.connect().await.unwrap_or_else(|e| panic!("{url}: {e}"))
}

async fn library_client_against(peer: Peer, mut server: Server, pki: Option<&TestPki>) {
    let url = server.url.clone();

    let mut ws = open(&url, pki).await;
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
    let mut ws = open(&url, pki).await;
    ws.send(Message::text("close:4004:srv-bye")).await.unwrap();
    assert!(next(&mut ws).await.is_none(), "a clean close ends the stream");
    assert_eq!(ws.close_frame(), Some(&CloseFrame::new(CloseCode(4004), "srv-bye")));
    assert_eq!(server.line().await, "closed 4004 srv-bye");

    // The peer aborts in the middle of a message: an error, not a hang.
    let mut ws = open(&url, pki).await;
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
    cli_against(peer.server().await, &[]).await;
}

async fn cli_against(mut server: Server, args: &[&str]) {
    let mut child = tether_bin()
        .args(["connect", &server.url])
        .args(args)
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
    peer_command_against(Peer::Python, Peer::Python.command_with_deflate(), &tether_echo().await.url, &[]).await;
}

#[tokio::test]
async fn node_client_with_deflate_against_tether_echo() {
    peer_command_against(Peer::Node, Peer::Node.command_with_deflate(), &tether_echo().await.url, &[]).await;
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

    // Every message compressed, empty ones too, between non-empty ones.
    let config = tether::Config::default().deflate(Some(tether::DeflateConfig::default().threshold(0)));
    let mut ws = tether::connect_with(&server.url).config(config).connect().await.unwrap();
    for text in ["Hello", "", "", "Hello again", ""] {
        ws.send(Message::text(text)).await.unwrap();
        assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::text(text), "{peer:?}: {text:?}");
    }
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

// ---------------------------------------------------------------- wss://

/// `tether echo` serving wss:// with the PKI's good certificate.
async fn tether_echo_tls(pki: &TestPki) -> Server {
    let id = pki.identity(Leaf::Good);
    let (cert, key) = (id.cert.to_str().unwrap(), id.key.to_str().unwrap());
    let server = tether_echo_with(&["--tls-cert", cert, "--tls-key", key]).await;
    assert!(server.url.starts_with("wss://127.0.0.1:"), "{}", server.url);
    server
}

/// `https://127.0.0.1:PORT/` as `wss://localhost:PORT/`.
fn by_name(url: &str) -> String {
    url.replace("127.0.0.1", "localhost")
}

/// Runs `tether connect ARGS`, feeding `input`; returns the output.
async fn tether_connect(args: &[&str], input: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = tether_bin();
    cmd.arg("connect").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for name in PROXY_VARS {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    timeout(LIMIT, child.wait_with_output()).await.unwrap().unwrap()
}

const PROXY_VARS: [&str; 12] = [
    "ws_proxy",
    "WS_PROXY",
    "wss_proxy",
    "WSS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The echo of two lines came back and the close was clean.
fn assert_echoed(out: &std::process::Output) {
    assert!(out.status.success(), "{}", stderr(out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\nsecure wörld\n");
    assert!(stderr(out).contains("closed: 1000"), "{}", stderr(out));
}

const INPUT: &str = "hello\nsecure wörld\n";

#[tokio::test]
async fn cli_wss_echo_with_a_custom_ca() {
    let pki = TestPki::new();
    let server = tether_echo_tls(&pki).await;
    let ca = pki.ca.to_str().unwrap();
    for url in [server.url.clone(), by_name(&server.url)] {
        assert_echoed(&tether_connect(&["--ca", ca, &url], INPUT, &[]).await);
    }
    // The library client against the CLI server.
    let mut ws = open(&by_name(&server.url), Some(&pki)).await;
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::binary(vec![1, 2, 3]));
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

/// Over TLS too, `tether echo` checks origins, negotiates its subprotocol,
/// and closes every connection with 1001 on SIGTERM before it exits.
#[tokio::test]
async fn tls_echo_checks_origins_and_closes_with_1001_on_sigterm() {
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let (cert, key) = (id.cert.to_str().unwrap(), id.key.to_str().unwrap());
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", "127.0.0.1:0", "--grace", "3", "--protocol", "chat.v2"])
        .args(["--allow-origin", "https://good.example", "--tls-cert", cert, "--tls-key", key])
        .stderr(Stdio::null());
    let mut server = Server::start(cmd).await;
    let url = by_name(&server.url);
    let tls = || ClientTls::new().roots(Roots::Empty).add_ca_pem_file(&pki.ca).unwrap();
    let evil = tether::connect_with(&url).tls(tls()).origin("https://evil.example").connect().await;
    assert_eq!(evil.unwrap_err().http_status(), Some(http::StatusCode::FORBIDDEN));
    let mut ws = tether::connect_with(&url)
        .tls(tls())
        .origin("https://good.example")
        .protocol("chat.v2")
        .connect()
        .await
        .unwrap();
    assert_eq!(ws.protocol(), Some("chat.v2"));
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap().unwrap(), Message::text("hi"));
    signal(&server.child, "TERM");
    assert!(timeout(Duration::from_secs(10), ws.next()).await.expect("close in time").is_none());
    assert_eq!(ws.close_code(), Some(CloseCode::GOING_AWAY));
    let status = timeout(Duration::from_secs(5), server.child.wait()).await.expect("exit in time").unwrap();
    assert!(status.success(), "{status:?}");
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

#[tokio::test]
async fn cli_connect_to_a_library_tls_server() {
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let tls = tether::tls::ServerTls::from_pem_files(&id.cert, &id.key).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tether::accept(tls.accept(tcp).await.unwrap()).await.unwrap();
        while let Some(Ok(m)) = ws.next().await {
            ws.send(m).await.unwrap();
        }
    });
    let url = format!("wss://localhost:{port}/");
    assert_echoed(&tether_connect(&["--ca", pki.ca.to_str().unwrap(), &url], INPUT, &[]).await);
}

#[tokio::test]
async fn cli_tls_failures_are_one_actionable_line() {
    let pki = TestPki::new();
    let server = tether_echo_tls(&pki).await;
    // Not trusted by the built-in roots.
    let out = tether_connect(&[&by_name(&server.url)], INPUT, &[]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not signed by a trusted certificate authority") && err.contains("--ca FILE"), "{err}");
    // --insecure connects anyway, and says what it costs.
    let out = tether_connect(&["--insecure", &by_name(&server.url)], INPUT, &[]).await;
    assert_echoed(&out);
    assert!(stderr(&out).contains("warning: --insecure"), "{}", stderr(&out));
    // A CA file that is not there.
    let out = tether_connect(&["--ca", "/nonexistent/ca.pem", &server.url], INPUT, &[]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/nonexistent/ca.pem"), "{}", stderr(&out));
    // The server's certificate does not name the host.
    let wrong = pki.identity(Leaf::WrongName);
    let (cert, key) = (wrong.cert.to_str().unwrap(), wrong.key.to_str().unwrap());
    let server = tether_echo_with(&["--tls-cert", cert, "--tls-key", key]).await;
    let out = tether_connect(&["--ca", pki.ca.to_str().unwrap(), &server.url], INPUT, &[]).await;
    assert!(stderr(&out).contains("not valid for that name"), "{}", stderr(&out));
}

#[tokio::test]
async fn echo_with_a_bad_key_file_fails_at_once() {
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    let out = tether_bin()
        .args(["echo", "--listen", "127.0.0.1:0", "--tls-cert", id.cert.to_str().unwrap(), "--tls-key"])
        .arg(&pki.ca) // a certificate, not a key
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no URL is printed");
    assert!(stderr(&out).contains("private key"), "{}", stderr(&out));
}

#[tokio::test]
async fn echo_and_connect_negotiate_a_subprotocol() {
    let server =
        tether_echo_with(&["--protocol", "chat.v2", "--protocol", "chat.v3", "-H", "X-Served-By: tether"]).await;
    let out = tether_connect(&["-p", "chat.v1", "-p", "chat.v2", "-H", "Cookie: a=1", &server.url], INPUT, &[]).await;
    assert_echoed(&out);
    assert!(stderr(&out).contains("subprotocol: chat.v2"), "{}", stderr(&out));
    // The response header is there for a library client to read.
    let (ws, response) = tether::connect_with(&server.url).protocol("chat.v3").connect_with_response().await.unwrap();
    assert_eq!(ws.protocol(), Some("chat.v3"));
    assert_eq!(response.headers.get("x-served-by").unwrap(), "tether");
}

#[tokio::test]
async fn cli_timeouts_are_named() {
    let silent = FakeProxy::http(Behaviour::Silent).await;
    let server = tether_echo().await;
    let proxy = format!("http://{}", silent.addr);
    let out = tether_connect(&["--proxy", &proxy, "--connect-timeout", "0.3", &server.url], INPUT, &[]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("timed out after 300ms") && stderr(&out).contains("--connect-timeout"),
        "{}",
        stderr(&out)
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let out = tether_connect(&["--handshake-timeout", "0.3", &url], INPUT, &[]).await;
    assert!(
        stderr(&out).contains("handshake timed out") && stderr(&out).contains("--handshake-timeout"),
        "{}",
        stderr(&out)
    );
}

// ---------------------------------------------------------------- proxies

#[tokio::test]
async fn cli_through_tinyproxy_and_microsocks() {
    let pki = TestPki::new();
    let tls = tether_echo_tls(&pki).await;
    let plain = tether_echo().await;
    let ca = pki.ca.to_str().unwrap();
    let tiny = RealProxy::tinyproxy(Some(("cli", "pw")));
    let socks = RealProxy::microsocks(Some(("cli", "pw")));
    for proxy in [tiny.url(), socks.url(), socks.url().replace("socks5:", "socks5h:")] {
        assert_echoed(&tether_connect(&["--proxy", &proxy, "--ca", ca, &by_name(&tls.url)], INPUT, &[]).await);
        assert_echoed(&tether_connect(&["-x", &proxy, &plain.url], INPUT, &[]).await);
    }
    let out = tether_connect(&["--proxy", &tiny.url_with(None), &plain.url], INPUT, &[]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("requires authentication") && stderr(&out).contains("USER:PASSWORD@"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn cli_reads_the_proxy_environment_like_curl() {
    let pki = TestPki::new();
    let tls = tether_echo_tls(&pki).await;
    let plain = tether_echo().await;
    let ca = pki.ca.to_str().unwrap();
    let socks = RealProxy::microsocks(None);
    let tiny = RealProxy::tinyproxy(None);
    let dead = format!("http://{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap());
    let wss = by_name(&tls.url);

    // HTTPS_PROXY for wss://, http_proxy for ws://: a dead proxy proves it is used.
    let out = tether_connect(&["--ca", ca, &wss], INPUT, &[("HTTPS_PROXY", &dead)]).await;
    assert!(stderr(&out).contains("(the proxy)"), "{}", stderr(&out));
    assert_echoed(&tether_connect(&["--ca", ca, &wss], INPUT, &[("HTTPS_PROXY", &socks.url())]).await);
    assert_echoed(&tether_connect(&[&plain.url], INPUT, &[("http_proxy", &tiny.url())]).await);
    // ALL_PROXY covers both.
    assert_echoed(&tether_connect(&["--ca", ca, &wss], INPUT, &[("ALL_PROXY", &tiny.url())]).await);
    // Upper-case HTTP_PROXY is ignored, as curl does.
    assert_echoed(&tether_connect(&[&plain.url], INPUT, &[("HTTP_PROXY", &dead)]).await);
    // NO_PROXY exempts hosts; --proxy "" ignores the environment.
    assert_echoed(
        &tether_connect(&["--ca", ca, &wss], INPUT, &[("HTTPS_PROXY", &dead), ("NO_PROXY", "localhost")]).await,
    );
    assert_echoed(&tether_connect(&[&plain.url], INPUT, &[("all_proxy", &dead), ("no_proxy", "127.0.0.0/8")]).await);
    assert_echoed(&tether_connect(&["--proxy", "", &plain.url], INPUT, &[("all_proxy", &dead)]).await);
    // --proxy wins over the environment.
    assert_echoed(&tether_connect(&["--proxy", &socks.url(), &plain.url], INPUT, &[("all_proxy", &dead)]).await);
}

// ---------------------------------------------------------------- interop over TLS

#[tokio::test]
async fn python_client_against_tether_echo_over_tls() {
    let pki = TestPki::new();
    let server = tether_echo_tls(&pki).await;
    peer_client_against(Peer::Python, &by_name(&server.url), &["--ca", pki.ca.to_str().unwrap()]).await;
}

/// The Python peer serving wss:// with the PKI's good certificate.
async fn python_tls_server(pki: &TestPki) -> Server {
    let id = pki.identity(Leaf::Good);
    let server = Peer::Python
        .server_with(&["--tls-cert", id.cert.to_str().unwrap(), "--tls-key", id.key.to_str().unwrap()])
        .await;
    assert!(server.url.starts_with("wss://"), "{}", server.url);
    server
}

#[tokio::test]
async fn library_client_against_python_server_over_tls() {
    let pki = TestPki::new();
    library_client_against(Peer::Python, python_tls_server(&pki).await, Some(&pki)).await;
}

#[tokio::test]
async fn cli_against_python_server_over_tls() {
    let pki = TestPki::new();
    cli_against(python_tls_server(&pki).await, &["--ca", pki.ca.to_str().unwrap()]).await;
}

#[tokio::test]
async fn os_roots_are_read_and_combine_with_ca() {
    let pki = TestPki::new();
    let server = tether_echo_tls(&pki).await;
    let url = by_name(&server.url);
    // The OS store loads (else a "TLS setup" error), and does not hold the test CA.
    let out = tether_connect(&["--os-roots", &url], INPUT, &[]).await;
    assert!(stderr(&out).contains("not signed by a trusted certificate authority"), "{}", stderr(&out));
    assert_echoed(&tether_connect(&["--os-roots", "--ca", pki.ca.to_str().unwrap(), &url], INPUT, &[]).await);
}

// ------------------------------------------------------------ the chat apps

#[tokio::test]
async fn echo_serves_the_page_over_plain_http_and_a_png_on_image() {
    let server = tether_echo().await;
    let addr = server.url.trim_start_matches("ws://").trim_end_matches('/').to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    let mut answer = String::new();
    timeout(LIMIT, tokio::io::AsyncReadExt::read_to_string(&mut tcp, &mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("content-type: text/html; charset=utf-8\r\n"), "{answer}");
    assert!(answer.contains("<h1>WebSocket (Echo)</h1>") && answer.contains("new WebSocket("), "{answer}");

    // On /image the first message is a PNG, sent as binary; then it echoes.
    let mut ws = tether::connect(&format!("{}image", server.url)).await.unwrap();
    match timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap() {
        Message::Binary(png) => assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 100),
        other => panic!("expected a binary PNG, got {other:?}"),
    }
    ws.send(Message::text("still echoing")).await.unwrap();
    assert_eq!(timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap(), Message::text("still echoing"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

/// A tmux server of our own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(width: u16, height: u16, command: &str) -> Tmux {
        let version = std::process::Command::new("tmux").arg("-V").output();
        assert!(version.is_ok_and(|o| o.status.success()), "tmux missing: scripts/test.sh installs it");
        let tmux = Tmux { socket: format!("tether-test-{}", std::process::id()) };
        let (w, h) = (width.to_string(), height.to_string());
        tmux.run(&["new-session", "-d", "-x", &w, "-y", &h, command]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p"])
    }

    /// Waits until the screen shows `needle`; returns the screen.
    fn wait_for(&self, needle: &str) -> String {
        let start = std::time::Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "no {needle:?} on screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-l", text]);
        self.run(&["send-keys", "Enter"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux").args(["-L", &self.socket, "kill-server"]).output();
    }
}

/// `tether chat` with its embedded server, in a real terminal (tmux):
/// type, see the echo, get the picture, leave with Esc and find the shell
/// as it was. The coloured screen is kept in target/screenshots/ (the
/// browser test renders it to a PNG).
#[test]
fn chat_runs_in_a_real_terminal() {
    let command = format!("{} chat; echo \"exit status $?\"; exec sh", env!("CARGO_BIN_EXE_tether"));
    let tmux = Tmux::start(100, 34, &command);
    let screen = tmux.wait_for("open (permessage-deflate)");
    assert!(screen.contains("WebSocket (Echo) · ws://127.0.0.1:") && screen.contains("Send a message"), "{screen}");

    tmux.type_line("Hello!");
    tmux.wait_for("│echo: Hello!");
    tmux.type_line("/image");
    let screen = tmux.wait_for("PNG 96×64");
    assert!(screen.contains(&"▀".repeat(48)), "the picture is drawn:\n{screen}");
    let colored = tmux.run(&["capture-pane", "-p", "-e"]);
    assert!(colored.contains("\x1b[38;2;") && colored.contains("\x1b[48;2;"), "in true colour");
    let dir = repo().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("chat-tui.ansi"), colored).unwrap();

    tmux.run(&["send-keys", "Escape"]);
    let screen = tmux.wait_for("exit status 0");
    assert!(screen.contains("tether chat: closed: 1000"), "{screen}");
    assert!(!screen.contains("Send a message"), "the alternate screen is gone:\n{screen}");
    // Raw mode is off again: the shell reads lines as usual (in raw mode
    // Enter would send a bare CR, which sh does not take as end of line).
    tmux.type_line("echo cooked-$((6*7))");
    tmux.wait_for("cooked-42");
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
