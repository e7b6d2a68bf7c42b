//! The commands as a user runs them: `echo`, `connect` (with
//! `--reconnect`), `demo`, and the page `tether echo` serves to browsers.

use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use tether::{CloseCode, Message};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, Lines};
use tokio::time::timeout;

use crate::support::{
    assert_echoed, connect_command, stderr, tether_bin, tether_connect, tether_echo, tether_echo_with, Server, INPUT,
    LIMIT,
};

#[tokio::test]
async fn connect_pipes_lines_through_echo_and_closes_cleanly() {
    let server = tether_echo().await;
    let mut child = connect_command(&[&server.url]).spawn().unwrap();
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

/// The next line of a child's output, within 20 s.
async fn line<R: AsyncRead + Unpin>(lines: &mut Lines<BufReader<R>>) -> String {
    timeout(Duration::from_secs(20), lines.next_line()).await.expect("line in time").unwrap().expect("a line")
}

/// Reads `log` up to and including the first line that starts with `prefix`.
async fn wait_for_line<R: AsyncRead + Unpin>(log: &mut Lines<BufReader<R>>, seen: &mut Vec<String>, prefix: &str) {
    loop {
        let l = line(log).await;
        seen.push(l);
        if seen.last().is_some_and(|l| l.starts_with(prefix)) {
            return;
        }
    }
}

#[tokio::test]
async fn connect_reconnect_survives_a_server_restart() {
    let mut first = tether_echo().await;
    let addr = first.url.trim_start_matches("ws://").trim_end_matches('/').to_owned();
    let mut child = connect_command(&["--reconnect", &first.url]).kill_on_drop(true).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    // The state changes, one per line: the test waits on them.
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    stdin.write_all(b"one\n").await.unwrap();
    assert_eq!(line(&mut out).await, "one");
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    // The client has seen the connection drop...
    wait_for_line(&mut log, &mut seen, "reconnecting (attempt 1 ").await;
    stdin.write_all(b"two\nthree\n").await.unwrap(); // typed while disconnected
                                                     // ...and a retry has failed since those lines were typed.
    wait_for_line(&mut log, &mut seen, "reconnecting (attempt 2 ").await;
    let mut cmd = tether_bin();
    cmd.args(["echo", "--listen", &addr]).stderr(Stdio::null());
    let _second = Server::start(cmd).await;
    assert_eq!(line(&mut out).await, "two");
    assert_eq!(line(&mut out).await, "three");
    drop(stdin);
    while let Some(l) = timeout(LIMIT, log.next_line()).await.unwrap().unwrap() {
        seen.push(l);
    }
    let status = timeout(LIMIT, child.wait()).await.unwrap().unwrap();
    assert!(status.success());
    assert_eq!(seen.iter().filter(|l| *l == "open").count(), 2, "{seen:?}");
}
