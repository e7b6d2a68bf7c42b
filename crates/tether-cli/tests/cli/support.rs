//! What the tests share: starting `tether` (as an echo server, or
//! `connect` fed some input), reading what it prints, and clients.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use tether::tls::{ClientTls, Roots};
use tether::{Error, Message};
use tether_testkit::pki::{Leaf, TestPki};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

/// The most any one step of a test may take.
pub const LIMIT: Duration = Duration::from_secs(180);

pub fn tether_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tether"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running process whose first stdout line is its URL.
pub struct Server {
    /// The process.
    pub child: Child,
    /// Its first stdout line.
    pub url: String,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Server {
    pub async fn start(mut cmd: Command) -> Server {
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
    pub async fn line(&mut self) -> String {
        timeout(Duration::from_secs(20), self.lines.next_line())
            .await
            .expect("no line in time")
            .unwrap()
            .unwrap_or_default()
    }
}

pub async fn tether_echo() -> Server {
    tether_echo_with(&[]).await
}

/// `tether echo` on a free port, with more arguments.
pub async fn tether_echo_with(args: &[&str]) -> Server {
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", "127.0.0.1:0"]).args(args).stderr(Stdio::null());
    Server::start(cmd).await
}

pub async fn next(ws: &mut tether::WebSocket<tether::MaybeTlsStream>) -> Option<Result<Message, Error>> {
    timeout(Duration::from_secs(20), ws.next()).await.expect("timed out")
}

/// Connects to `url`, trusting the test CA when there is one.
pub async fn open(url: &str, pki: Option<&TestPki>) -> tether::WebSocket<tether::MaybeTlsStream> {
    let mut builder = tether::connect_with(url);
    if let Some(pki) = pki {
        builder = builder.tls(ClientTls::new().roots(Roots::Empty).add_ca_pem_file(&pki.ca).unwrap());
    }
    builder.connect().await.unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// `tether echo` serving wss:// with the PKI's good certificate.
pub async fn tether_echo_tls(pki: &TestPki) -> Server {
    let id = pki.identity(Leaf::Good);
    let (cert, key) = (id.cert.to_str().unwrap(), id.key.to_str().unwrap());
    let server = tether_echo_with(&["--tls-cert", cert, "--tls-key", key]).await;
    assert!(server.url.starts_with("wss://127.0.0.1:"), "{}", server.url);
    server
}

/// `https://127.0.0.1:PORT/` as `wss://localhost:PORT/`.
pub fn by_name(url: &str) -> String {
    url.replace("127.0.0.1", "localhost")
}

/// `tether connect ARGS` with stdin, stdout and stderr piped.
pub fn connect_command(args: &[&str]) -> Command {
    let mut cmd = tether_bin();
    cmd.arg("connect").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Runs `tether connect ARGS`, feeding `input`; returns the output.
pub async fn tether_connect(args: &[&str], input: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = connect_command(args);
    for name in PROXY_VARS {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A command that fails early (a missing CA file) may exit before it reads
    // its input; the pipe is then closed, and its output is what the test checks.
    if let Err(e) = stdin.write_all(input.as_bytes()).await {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing stdin: {e}");
    }
    drop(stdin);
    timeout(LIMIT, child.wait_with_output()).await.unwrap().unwrap()
}

pub const PROXY_VARS: [&str; 12] = [
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

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The echo of two lines came back and the close was clean.
pub fn assert_echoed(out: &std::process::Output) {
    assert!(out.status.success(), "{}", stderr(out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\nsecure wörld\n");
    assert!(stderr(out).contains("closed: 1000"), "{}", stderr(out));
}

pub const INPUT: &str = "hello\nsecure wörld\n";

pub fn signal(child: &Child, name: &str) {
    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("kill").args([&format!("-{name}"), &pid]).status().unwrap();
    assert!(status.success());
}
