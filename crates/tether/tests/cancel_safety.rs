//! Cancel safety in `select!`: a reader whose `next()` future is dropped
//! again and again by a timer, while the peer writes large and fragmented
//! messages slowly in small pieces (so the timer fires mid-frame), gets
//! every message whole.

use std::time::Duration;

use tether::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::sleep;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame (RFC 6455 section 5.2).
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&KEY);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    out
}

/// The big binary message and the fragmented text message the peer sends.
fn messages() -> (Vec<u8>, String) {
    let binary = (0..256 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    (binary, "fragments ".repeat(300))
}

/// A client that writes its handshake, then each message in 1500-byte
/// pieces a couple of milliseconds apart, then a close frame.
async fn slow_peer(addr: String) {
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "));
    let (binary, text) = messages();
    let third = text.len() / 3;
    let mut bytes = frame(true, 0x2, &binary);
    bytes.extend(frame(false, 0x1, &text.as_bytes()[..third]));
    bytes.extend(frame(false, 0x0, &text.as_bytes()[third..2 * third]));
    bytes.extend(frame(true, 0x0, &text.as_bytes()[2 * third..]));
    bytes.extend(frame(true, 0x8, &1000u16.to_be_bytes()));
    for piece in bytes.chunks(1500) {
        tcp.write_all(piece).await.unwrap();
        sleep(Duration::from_millis(2)).await;
    }
    // Wait for the server's close frame before leaving.
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest).await;
}

/// Accepts the slow peer; returns the server's WebSocket.
async fn accept_slow_peer() -> tether::WebSocket<TcpStream> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    tokio::spawn(slow_peer(listener.local_addr().unwrap().to_string()));
    let (tcp, _) = listener.accept().await.unwrap();
    tether::accept(tcp).await.unwrap()
}

/// Checks what the reader got, and that the timer did cut reads short.
fn check(received: Vec<Message>, ticks: u32) {
    let (binary, text) = messages();
    assert_eq!(received, [Message::binary(binary), Message::text(text)]);
    assert!(ticks >= 20, "the timer fired only {ticks} times: the reads were not cancelled mid-frame");
}

#[tokio::test]
async fn websocket_next_in_select_loses_nothing() {
    let mut ws = accept_slow_peer().await;
    let (mut received, mut ticks) = (Vec::new(), 0);
    loop {
        tokio::select! {
            message = ws.next() => match message {
                Some(message) => received.push(message.unwrap()),
                None => break,
            },
            _ = sleep(Duration::from_millis(1)) => ticks += 1,
        }
    }
    check(received, ticks);
    assert_eq!(ws.close_code(), Some(CloseCode::NORMAL));
}

#[tokio::test]
async fn receiver_next_in_select_loses_nothing() {
    let (_sender, mut receiver) = accept_slow_peer().await.split();
    let (mut received, mut ticks) = (Vec::new(), 0);
    loop {
        tokio::select! {
            message = receiver.next() => match message {
                Some(message) => received.push(message.unwrap()),
                None => break,
            },
            _ = sleep(Duration::from_millis(1)) => ticks += 1,
        }
    }
    check(received, ticks);
    assert_eq!(receiver.close_code(), Some(CloseCode::NORMAL));
}
