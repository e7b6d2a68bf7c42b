//! Tests of [`H2Stream`] between an h2 client and an h2 server in memory:
//! bytes both ways, the end of the stream, backpressure from the windows,
//! one stalled stream beside a busy one, resets and GOAWAY as typed errors.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use h2::{Reason, RecvStream, SendStream};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use super::H2Stream;
use crate::Http2Error;

/// The server's windows for the client's data.
#[derive(Clone, Copy)]
struct Windows {
    stream: u32,
    connection: u32,
}

/// An h2 server on one end of a pipe: hands out each stream's halves and
/// sends GOAWAY when asked.
struct TestServer {
    streams: mpsc::UnboundedReceiver<(SendStream<Bytes>, RecvStream)>,
    goaway: mpsc::UnboundedSender<Reason>,
}

fn server(io: DuplexStream, windows: Windows) -> TestServer {
    let (tx, streams) = mpsc::unbounded_channel();
    let (goaway, mut goaway_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut conn = h2::server::Builder::new()
            .initial_window_size(windows.stream)
            .initial_connection_window_size(windows.connection)
            .handshake::<_, Bytes>(io)
            .await
            .unwrap();
        loop {
            tokio::select! {
                accepted = conn.accept() => match accepted {
                    Some(Ok((request, mut respond))) => {
                        let send = respond.send_response(http::Response::new(()), false).unwrap();
                        let _ = tx.send((send, request.into_body()));
                    }
                    _ => return,
                },
                Some(reason) = goaway_rx.recv() => conn.abrupt_shutdown(reason),
            }
        }
    });
    TestServer { streams, goaway }
}

/// A client connection to a fresh [`TestServer`].
async fn pair(windows: Windows) -> (h2::client::SendRequest<Bytes>, TestServer) {
    let (a, b) = tokio::io::duplex(1 << 20);
    let server = server(b, windows);
    let (send, conn) = h2::client::handshake(a).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, server)
}

/// Opens a stream; returns the client's [`H2Stream`] and the server's halves.
/// The response came, so the server's SETTINGS (sent before it) apply.
async fn open(send: &h2::client::SendRequest<Bytes>, server: &mut TestServer) -> (H2Stream, H2Stream) {
    let mut send = send.clone().ready().await.unwrap();
    let request = http::Request::post("http://test/").body(()).unwrap();
    let (response, body) = send.send_request(request, false).unwrap();
    let response = response.await.unwrap();
    let (server_send, server_recv) = server.streams.recv().await.unwrap();
    let client = H2Stream::new(body, response.into_body()).watch_connection(send);
    (client, H2Stream::new(server_send, server_recv))
}

/// Writes `chunk` over and over until the stream says `Pending`; returns
/// how much it took.
fn write_until_pending(stream: &mut H2Stream, chunk: &[u8]) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut total = 0;
    loop {
        match Pin::new(&mut *stream).poll_write(&mut cx, chunk) {
            Poll::Ready(Ok(n)) => total += n,
            Poll::Ready(Err(e)) => panic!("write failed: {e}"),
            Poll::Pending => return total,
        }
    }
}

const WINDOWS: Windows = Windows { stream: 65_535, connection: 1 << 20 };

#[tokio::test]
async fn bytes_go_both_ways_and_shutdown_ends_the_stream() {
    let (send, mut server) = pair(WINDOWS).await;
    let (mut client, mut far) = open(&send, &mut server).await;
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (head, tail) = payload.split_at(1000);
    let writer = async {
        // A vectored write puts several slices in one DATA payload.
        let n = client.write_vectored(&[IoSlice::new(&head[..10]), IoSlice::new(&head[10..])]).await.unwrap();
        assert_eq!(n, 1000);
        client.write_all(tail).await.unwrap();
        client.shutdown().await.unwrap();
        client
    };
    let reader = async {
        let mut got = Vec::new();
        far.read_to_end(&mut got).await.unwrap();
        got
    };
    let (mut client, got) = tokio::join!(writer, reader);
    assert!(got == payload, "{} bytes arrived", got.len());
    far.write_all(b"back").await.unwrap();
    far.shutdown().await.unwrap();
    let mut back = Vec::new();
    client.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"back");
    // Shutting down twice is fine; writing after it is not.
    client.shutdown().await.unwrap();
    assert_eq!(client.write(b"x").await.unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
}

#[tokio::test]
async fn a_write_waits_for_the_window_and_reading_opens_it() {
    let windows = Windows { stream: 16_384, connection: 1 << 20 };
    let (send, mut server) = pair(windows).await;
    let (mut client, mut far) = open(&send, &mut server).await;
    // Exactly one stream window goes out; then writes wait (no queueing).
    let sent = write_until_pending(&mut client, &[7; 1000]);
    assert_eq!(sent, 16_384);
    // Reading gives window back; the rest of a larger write goes through.
    let rest = vec![9u8; 100_000];
    let reader = async {
        let mut got = vec![0; sent + rest.len()];
        far.read_exact(&mut got).await.unwrap();
        got
    };
    let (written, got) = tokio::join!(client.write_all(&rest), reader);
    written.unwrap();
    assert!(got[..sent].iter().all(|&b| b == 7) && got[sent..].iter().all(|&b| b == 9));
}

#[tokio::test]
async fn a_stalled_stream_leaves_the_others_alone_when_the_connection_window_is_larger() {
    let (send, mut server) = pair(WINDOWS).await;
    let (mut stalled, _never_read) = open(&send, &mut server).await;
    let (mut busy, mut far) = open(&send, &mut server).await;
    assert_eq!(write_until_pending(&mut stalled, &[1; 4096]), 65_535);
    let data = vec![2u8; 1 << 20];
    let reader = async {
        let mut got = vec![0; data.len()];
        far.read_exact(&mut got).await.unwrap();
        got
    };
    let (written, got) = tokio::join!(busy.write_all(&data), reader);
    written.unwrap();
    assert!(got == data);
}

#[tokio::test]
async fn with_one_window_for_all_a_stalled_stream_stalls_the_others() {
    // The control for the test above: h2's defaults (connection window =
    // one stream window).
    let (send, mut server) = pair(Windows { stream: 65_535, connection: 65_535 }).await;
    let (mut stalled, _never_read) = open(&send, &mut server).await;
    let (mut other, _far) = open(&send, &mut server).await;
    assert_eq!(write_until_pending(&mut stalled, &[1; 4096]), 65_535);
    assert_eq!(write_until_pending(&mut other, &[2; 4096]), 0);
}

#[tokio::test]
async fn a_reset_stream_fails_reads_and_writes_with_its_code() {
    let (send, mut server) = pair(WINDOWS).await;
    let mut client = {
        let mut send = send.clone().ready().await.unwrap();
        let request = http::Request::post("http://test/").body(()).unwrap();
        let (response, body) = send.send_request(request, false).unwrap();
        let response = response.await.unwrap();
        let (mut far_send, _far_recv) = server.streams.recv().await.unwrap();
        far_send.send_reset(Reason::INTERNAL_ERROR);
        H2Stream::new(body, response.into_body())
    };
    let mut buf = [0; 10];
    let e = client.read(&mut buf).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(Http2Error::from_io(&e), Some(Http2Error::Reset { code: 2, remote: true }));
    let e = client.write_all(&[0; 100]).await.unwrap_err();
    assert_eq!(Http2Error::from_io(&e), Some(Http2Error::Reset { code: 2, remote: true }), "{e}");
    // The peer reset it with a failure: ending it reports that too.
    assert!(client.shutdown().await.is_err());
}

#[tokio::test]
async fn a_goaway_with_an_error_fails_the_stream_with_its_code() {
    let (send, mut server) = pair(WINDOWS).await;
    let (mut client, _far) = open(&send, &mut server).await;
    server.goaway.send(Reason::ENHANCE_YOUR_CALM).unwrap();
    let mut buf = [0; 10];
    let e = client.read(&mut buf).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionAborted, "{e}");
    assert_eq!(Http2Error::from_io(&e), Some(Http2Error::GoAway { code: 0xb, remote: true }));
}

#[tokio::test]
async fn the_websocket_engine_runs_over_it_in_both_roles() {
    use crate::prelude::*;
    let (send, mut server) = pair(WINDOWS).await;
    let (client, far) = open(&send, &mut server).await;
    let config = || crate::Config::default();
    let mut client =
        crate::WebSocket::from_parts(client, crate::Role::Client, Default::default(), config(), None, None);
    let mut far = crate::WebSocket::from_parts(far, crate::Role::Server, Default::default(), config(), None, None);
    let big = Bytes::from(vec![5u8; 200_000]);
    // More than a stream window: the sender waits for the reader.
    let sender = async {
        client.send(Message::text("hello")).await.unwrap();
        client.send(Message::Binary(big.clone())).await.unwrap();
    };
    let receiver = async {
        assert_eq!(far.next().await.unwrap().unwrap(), Message::text("hello"));
        assert_eq!(far.next().await.unwrap().unwrap(), Message::Binary(big.clone()));
    };
    tokio::join!(sender, receiver);
    // close() waits for the closing handshake, which the far side answers as it reads.
    let (closed, end) = tokio::join!(client.close(CloseCode::NORMAL, "bye"), far.next());
    closed.unwrap();
    assert!(end.is_none());
    assert_eq!(client.close_frame().unwrap().code, CloseCode::NORMAL);
}
