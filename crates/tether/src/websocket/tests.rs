//! Tests of what a connection holds in memory: no read buffer while idle,
//! one reused buffer for large messages, the thread's shared read buffer.

use super::*;
use futures_util::{FutureExt, StreamExt};
use tokio::io::AsyncWriteExt;

/// What an idle server connection keeps is part of the design: no read
/// buffer, and a state small enough to move through futures for free.
#[tokio::test]
async fn an_idle_connection_holds_no_read_buffer() {
    assert_eq!(std::mem::size_of::<WebSocket<tokio::net::TcpStream>>(), std::mem::size_of::<usize>());
    let (mut client, server) = tokio::io::duplex(4096);
    let mut ws = WebSocket::from_parts(server, Role::Server, BytesMut::new(), Config::default(), None, None);
    assert_eq!(ws.s.read_buf.capacity(), 0, "the handshake buffer is not kept");
    // A masked binary frame "hi" (key 0: the payload is unchanged).
    client.write_all(&[0x82, 0x82, 0, 0, 0, 0, b'h', b'i']).await.unwrap();
    let message = ws.next().await.unwrap().unwrap();
    assert_eq!(message, Message::binary(&b"hi"[..]));
    drop(message);
    assert!(ws.next().now_or_never().is_none(), "nothing more to read");
    assert_eq!(ws.s.read_buf.capacity(), 0, "waiting for the next frame costs no buffer");
}

/// Every idle connection carries its state in one allocation: at most
/// 320 bytes, a size class of jemalloc (the `tether` binary's allocator),
/// where the next class up is 384 (bench/RESULTS.md, third pass).
#[test]
fn the_state_of_a_tcp_connection_fits_its_size_class() {
    let size = std::mem::size_of::<Inner<tokio::net::TcpStream>>();
    eprintln!("Inner<TcpStream>: {size} bytes, Connection: {}", std::mem::size_of::<Connection>());
    assert!(size <= 320, "{size} bytes");
}

/// A masked binary frame with key 0 (the payload goes out unchanged).
fn frame(len: usize, fill: u8) -> Vec<u8> {
    let mut f = vec![0x82, 0x80 | 127];
    f.extend_from_slice(&(len as u64).to_be_bytes());
    f.extend_from_slice(&[0; 4]);
    f.resize(f.len() + len, fill);
    f
}

#[tokio::test]
async fn back_to_back_large_messages_reuse_one_buffer() {
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let mut ws = WebSocket::from_parts(server, Role::Server, BytesMut::new(), Config::default(), None, None);
    let len = 200_000;
    tokio::spawn(async move {
        for fill in 1..=3 {
            client.write_all(&frame(len, fill)).await.unwrap();
        }
        std::future::pending::<()>().await;
    });
    let first = ws.next().await.unwrap().unwrap();
    let at = first.as_bytes().as_ptr() as usize;
    drop(first);
    let second = ws.next().await.unwrap().unwrap();
    assert_eq!(second.as_bytes(), &vec![2u8; len][..]);
    assert_eq!(ws.s.rare.as_ref().map_or(0, |r| r.reused), 1, "the first message's buffer was reused");
    // The same allocation (the offset may differ by a frame header).
    assert!((second.as_bytes().as_ptr() as usize).abs_diff(at) < 64);
    // Still held by the application: the next one needs its own.
    let third = ws.next().await.unwrap().unwrap();
    assert_eq!(third.as_bytes(), &vec![3u8; len][..]);
    assert_eq!(ws.s.rare.as_ref().map_or(0, |r| r.reused), 1);
    drop(second);
}

/// Larger reads between frames are slices of the thread's read buffer,
/// not allocations of their own: two 8 KiB messages read one after the
/// other lie side by side, the second frame's header between them.
#[tokio::test]
async fn reads_between_frames_share_the_threads_buffer() {
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let mut ws = WebSocket::from_parts(server, Role::Server, BytesMut::new(), Config::default(), None, None);
    let len = 8 * 1024;
    client.write_all(&frame(len, 1)).await.unwrap();
    let first = ws.next().await.unwrap().unwrap();
    assert!(ws.next().now_or_never().is_none(), "one read per message");
    client.write_all(&frame(len, 2)).await.unwrap();
    let second = ws.next().await.unwrap().unwrap();
    assert_eq!((first.as_bytes(), second.as_bytes()), (&vec![1u8; len][..], &vec![2u8; len][..]));
    let header = frame(0, 0).len();
    assert_eq!(second.as_bytes().as_ptr() as usize, first.as_bytes().as_ptr() as usize + len + header);
    // A small read is copied out, so a message kept pins only itself.
    client.write_all(&frame(100, 3)).await.unwrap();
    let small = ws.next().await.unwrap().unwrap();
    assert_ne!(small.as_bytes().as_ptr() as usize, second.as_bytes().as_ptr() as usize + len + header);
}

/// The answer to a keepalive ping is not kept: an idle connection that a
/// browser keeps alive holds no more than one that was never pinged.
/// Another pong is kept, as a copy of its own.
#[tokio::test]
async fn a_keepalive_round_trip_leaves_nothing_behind() {
    use std::time::Duration;
    use tokio::io::AsyncReadExt;
    let (mut client, server) = tokio::io::duplex(4096);
    // A long pong timeout: the later pings go unanswered, and a loaded
    // machine must not turn that into a keepalive failure mid-test.
    let config = Config::default().keepalive(Some(Duration::from_millis(20)), Duration::from_secs(60));
    let mut ws = WebSocket::from_parts(server, Role::Server, BytesMut::new(), config, None, None);
    let mut ping = [0u8; 10];
    let reading = async {
        client.read_exact(&mut ping).await.unwrap();
        assert_eq!(ping[..2], [0x89, 8], "an unmasked ping with 8 bytes");
        // The pong, masked with key 0.
        client.write_all(&[&[0x8A, 0x88, 0, 0, 0, 0][..], &ping[2..]].concat()).await.unwrap();
    };
    let pinged = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::select! {
            _ = reading => {}
            _ = ws.next() => panic!("the stream ended"),
        }
    });
    pinged.await.expect("no keepalive ping in 10 s");
    // Until the pong is read: the round trip is measured, and nothing kept.
    for _ in 0..1000 {
        assert!(ws.next().now_or_never().is_none(), "no message");
        if ws.rtt().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(ws.rtt().is_some(), "the keepalive pong was measured");
    assert!(ws.s.rare.is_none(), "nothing kept of the keepalive pong");
    assert_eq!(ws.last_pong(), None);
    // A pong that answers no keepalive ping is the application's: kept.
    client.write_all(&[0x8A, 0x82, 0, 0, 0, 0, b'm', b'e']).await.unwrap();
    for _ in 0..1000 {
        assert!(ws.next().now_or_never().is_none(), "no message");
        if ws.last_pong().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(ws.last_pong().map(|p| &p[..]), Some(&b"me"[..]), "the other pong is kept");
}

/// A handler that has read the request's target can let it go.
#[test]
fn a_released_request_target_frees_its_memory() {
    let (_client, server) = tokio::io::duplex(64);
    let mut ws = WebSocket::from_parts(server, Role::Server, BytesMut::new(), Config::default(), None, None);
    ws.set_request_target("/rooms/lobby?after=1");
    assert_eq!((ws.request_path(), ws.request_query()), (Some("/rooms/lobby"), Some("after=1")));
    ws.release_request_target();
    assert_eq!((ws.request_path(), ws.request_query()), (None, None));
    assert!(ws.s.rare.is_none());
    ws.set_request_target("/");
    ws.release_request_target();
    assert_eq!(ws.request_path(), None);
}

/// An answered keepalive ping brings the next deadline forward, from the
/// end of the wait for its pong to the next ping: with a pong timeout
/// longer than the interval, the next ping still comes an interval after
/// the first.
#[tokio::test(start_paused = true)]
async fn an_answered_ping_brings_the_next_one_forward() {
    use std::time::Duration;
    use tokio::io::AsyncReadExt;
    let (mut client, server) = tokio::io::duplex(4096);
    let config = Config::default().keepalive(Some(Duration::from_secs(1)), Duration::from_secs(60));
    let mut ws = WebSocket::from_parts(server, Role::Server, BytesMut::new(), config, None, None);
    // A task of its own: only its own wakes may poll it.
    let reader = tokio::spawn(async move { ws.next().await.is_none() });
    let start = tokio::time::Instant::now();
    let mut pings = Vec::new();
    let mut ping = [0u8; 10];
    for _ in 0..3 {
        client.read_exact(&mut ping).await.unwrap();
        pings.push(start.elapsed().as_millis());
        client.write_all(&[&[0x8A, 0x88, 0, 0, 0, 0][..], &ping[2..]].concat()).await.unwrap();
    }
    assert_eq!(pings, [1000, 2000, 3000]);
    assert!(!reader.is_finished(), "the stream goes on");
}

/// A close sent from the sending half wakes the receiving half, so that
/// the closing deadline runs from then: with keepalive off and a peer that
/// never answers, the receiver ends after the close timeout instead of
/// waiting for a read that never comes.
#[tokio::test(start_paused = true)]
async fn a_close_from_the_sender_starts_the_receivers_deadline() {
    use std::time::Duration;
    let (_client, server) = tokio::io::duplex(4096);
    let mut config = Config::default().keepalive(None, Duration::from_secs(20));
    config.close_timeout = Duration::from_secs(1);
    let ws = WebSocket::from_parts(server, Role::Server, BytesMut::new(), config, None, None);
    let (sender, mut receiver) = ws.split();
    let reading = tokio::spawn(async move { receiver.next().await });
    tokio::task::yield_now().await; // the receiver parks on its read
    sender.close(CloseCode::NORMAL, "bye").await.unwrap();
    let start = tokio::time::Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(60), reading).await;
    assert!(ended.is_ok(), "the receiver still waits a minute after the close");
    assert!(start.elapsed() <= Duration::from_secs(2), "{:?}", start.elapsed());
}

/// A split connection's `poll_close`, polled again while its close frame
/// waits for a peer that does not read, does not wake itself: only the
/// close that is new wakes the receiver.
#[tokio::test]
async fn polling_close_again_while_it_waits_wakes_nobody() {
    use futures_util::Sink;
    use std::task::Context;

    // Room for nothing but part of the close frame: it cannot be flushed.
    let (_client, server) = tokio::io::duplex(2);
    let ws = WebSocket::from_parts(server, Role::Server, BytesMut::new(), Config::default(), None, None);
    let (mut sender, _receiver) = ws.split();
    let (waker, count) = tether_testkit::wake::counting_waker();
    let mut cx = Context::from_waker(&waker);
    for _ in 0..3 {
        assert!(Pin::new(&mut sender).poll_close(&mut cx).is_pending(), "the peer reads nothing");
    }
    assert_eq!(count.get(), 0, "woken by its own poll");
}
