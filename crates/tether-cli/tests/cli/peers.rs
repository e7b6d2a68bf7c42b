//! Interop with peers nobody here wrote, Python `websockets` and Node
//! `ws` (installed by `scripts/install-peers.sh`, which the test command
//! runs first): their clients against `tether echo`, the library client and
//! `tether connect` against their servers, plain, compressed and over TLS.

use std::path::PathBuf;
use std::process::Stdio;

use tether::{CloseCode, CloseFrame, Error, Message};
use tether_testkit::pki::{Leaf, TestPki};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::time::timeout;

use crate::support::{
    by_name, connect_command, next, open, repo, tether_echo, tether_echo_tls, tether_echo_with, Server, LIMIT,
};

fn cache() -> PathBuf {
    std::env::var_os("TETHER_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/tether"))
}

#[derive(Clone, Copy, Debug)]
pub enum Peer {
    Python,
    Node,
}

impl Peer {
    /// The peer with permessage-deflate on (accepted as a server, offered as a client).
    pub fn command_with_deflate(self) -> Command {
        let mut cmd = self.command();
        cmd.env("PEER_DEFLATE", "1");
        cmd
    }

    pub fn command(self) -> Command {
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

/// The library client against the peer's server, case by case.
async fn library_client_against_peer(peer: Peer) {
    library_client_against(peer, peer.server().await, None).await;
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
    let mut child = connect_command(&[&server.url]).args(args).spawn().unwrap();
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

#[tokio::test]
async fn python_client_with_deflate_against_tether_echo() {
    peer_command_against(Peer::Python, Peer::Python.command_with_deflate(), &tether_echo().await.url, &[]).await;
}

#[tokio::test]
async fn node_client_with_deflate_against_tether_echo() {
    peer_command_against(Peer::Node, Peer::Node.command_with_deflate(), &tether_echo().await.url, &[]).await;
}

/// `tether echo` pinging every 0.2 s drops a compressor that compressed
/// nothing for an interval: each peer, which keeps its window, must still
/// inflate the compressed echo that follows a quiet second (its `quiet`
/// check).
async fn peer_inflates_after_a_quiet_second(peer: Peer) {
    let server = tether_echo_with(&["--ping-interval", "0.2"]).await;
    let mut cmd = peer.command_with_deflate();
    let out = timeout(LIMIT, cmd.args(["client", &server.url, "--only", "quiet"]).output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "ok quiet"),
        "{peer:?}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn python_inflates_after_tethers_compressor_went() {
    peer_inflates_after_a_quiet_second(Peer::Python).await;
}

#[tokio::test]
async fn node_inflates_after_tethers_compressor_went() {
    peer_inflates_after_a_quiet_second(Peer::Node).await;
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

#[tokio::test]
async fn library_client_with_deflate_against_python_server() {
    library_client_with_deflate_against_peer(Peer::Python).await;
}

#[tokio::test]
async fn library_client_with_deflate_against_node_server() {
    library_client_with_deflate_against_peer(Peer::Node).await;
}

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
