//! The member queue's tests: its bound, lossy rooms, hand-overs, and the
//! frames sent straight to a parked member's socket.

use super::*;
use tether::Message;

fn frame(len: usize) -> PreparedMessage {
    // 2 header bytes for payloads up to 125.
    PreparedMessage::new(&Message::binary(vec![0u8; len - 2]))
}

#[tokio::test]
async fn over_its_bound_a_queue_stops() {
    let q = MemberQueue::new(100);
    assert_eq!(q.push(&frame(60)), Pushed::Queued { dropped: 0 });
    assert_eq!(q.push(&frame(60)), Pushed::Overflowed);
    assert_eq!(q.push(&frame(10)), Pushed::Stopped);
    assert_eq!(q.next_batch().await.err(), Some(Stop::Overflow));
}

#[tokio::test]
async fn a_lossy_queue_drops_its_oldest_frames() {
    let q = MemberQueue::new(100);
    assert_eq!(q.push_at(&frame(40), Some(100), None), Pushed::Queued { dropped: 0 });
    assert_eq!(q.push_at(&frame(40), Some(100), None), Pushed::Queued { dropped: 0 });
    assert_eq!(q.push_at(&frame(40), Some(100), None), Pushed::Queued { dropped: 1 });
    assert_eq!(q.push_at(&frame(90), Some(100), None), Pushed::Queued { dropped: 2 });
    assert_eq!(q.push_at(&frame(120), Some(100), None), Pushed::Queued { dropped: 1 }, "alone over the bound: itself");
    let batch = q.next_batch().await.unwrap();
    assert_eq!(batch.iter().map(|f| f.frame.frame().len()).collect::<Vec<_>>(), [90]);
}

/// Frames handed to the connection stay in the queue until written,
/// outside the bound: a lossy room drops only frames that wait, and the
/// written ones are timed and let go on the next hand-over.
#[test]
fn handed_frames_wait_for_their_write_outside_the_bound() {
    let q = MemberQueue::new(100);
    let latency = Latency::default();
    let mut cx = Context::from_waker(Waker::noop());
    let at = Some(Stamp::now());
    q.push_at(&frame(60), Some(100), at);
    let mut fed = Vec::new();
    let mut hand = |fed: &mut Vec<usize>| {
        q.poll_hand(&mut cx, &latency, None, |f| {
            fed.push(f.frame().len());
            true
        })
    };
    assert_eq!(hand(&mut fed), Poll::Ready(Ok(true)));
    assert_eq!(fed, [60]);
    // The 60 handed bytes no longer count: two more fit, a third drops the oldest waiting one.
    q.push_at(&frame(50), Some(100), at);
    q.push_at(&frame(40), Some(100), at);
    assert_eq!(q.push_at(&frame(30), Some(100), at), Pushed::Queued { dropped: 1 });
    assert_eq!(latency.snapshot().count, 0, "not written yet");
    fed.clear();
    assert_eq!(hand(&mut fed), Poll::Ready(Ok(true)));
    assert_eq!(fed, [40, 30], "the handed frame is not handed twice");
    assert_eq!(latency.snapshot().count, 1, "the written frame is timed");
    assert_eq!(hand(&mut fed), Poll::Pending);
    assert_eq!(latency.snapshot().count, 3);
    let state = q.lock();
    assert!(state.frames.is_empty() && state.frames.rest.is_none(), "drained: no buffer kept");
}

#[test]
fn a_queue_at_rest_fits_in_56_bytes() {
    let size = std::mem::size_of::<QueueState>();
    assert!(size <= 56, "{size} bytes");
}

/// A batch is at most `u16::MAX` frames: the rest wait, in the bound,
/// for the next one.
#[test]
fn a_batch_is_at_most_u16_max_frames() {
    let q = MemberQueue::new(usize::MAX);
    let latency = Latency::default();
    let mut cx = Context::from_waker(Waker::noop());
    let n = usize::from(u16::MAX) + 3;
    for _ in 0..n {
        q.push(&frame(10));
    }
    let mut fed = 0;
    assert_eq!(
        q.poll_hand(&mut cx, &latency, None, |_| {
            fed += 1;
            true
        }),
        Poll::Ready(Ok(true))
    );
    assert_eq!(fed, usize::from(u16::MAX));
    assert_eq!(q.waiting_bytes(u32::MAX), 30, "the three left wait within the bound");
    fed = 0;
    assert_eq!(
        q.poll_hand(&mut cx, &latency, None, |_| {
            fed += 1;
            true
        }),
        Poll::Ready(Ok(true))
    );
    assert_eq!(fed, 3);
}

/// In a lossy room, what is dropped to make room is a frame that waits
/// past a capped batch, never one of the batch's.
#[test]
fn a_lossy_queue_drops_past_a_capped_batch() {
    let batch = usize::from(u16::MAX);
    let limit = (batch + 3) * 10;
    let q = MemberQueue::new(limit);
    let latency = Latency::default();
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..batch + 3 {
        assert_eq!(q.push_at(&frame(10), Some(limit as u32), None), Pushed::Queued { dropped: 0 });
    }
    assert_eq!(q.poll_hand(&mut cx, &latency, None, |_| true), Poll::Ready(Ok(true)));
    assert_eq!(q.waiting_bytes(limit as u32), 30);
    // 20 bytes wait once the oldest waiting frame goes: this one (a
    // 10-byte header, its payload over 64 KiB) fills the bound.
    let big = PreparedMessage::new(&Message::binary(vec![0u8; limit - 20 - 10]));
    assert_eq!(big.frame().len(), limit - 20);
    assert_eq!(q.push_at(&big, Some(limit as u32), None), Pushed::Queued { dropped: 1 });
    let mut fed = Vec::new();
    let hand = q.poll_hand(&mut cx, &latency, None, |f| {
        fed.push(f.frame().len());
        true
    });
    assert_eq!(hand, Poll::Ready(Ok(true)));
    assert_eq!(fed, [10, 10, limit - 20], "the batch was written and let go; two of three waited on");
}

#[tokio::test]
async fn a_member_that_left_gets_what_was_queued_first() {
    let q = MemberQueue::new(100);
    q.push(&frame(10));
    q.stop(Stop::Left);
    assert_eq!(q.next_batch().await.unwrap().len(), 1);
    assert_eq!(q.next_batch().await.err(), Some(Stop::Left));
}

/// A session learns whether its connection woke it, and a connection
/// woken while the session ran (no waker to wake) is not lost: the
/// session is woken again as it waits for frames.
#[test]
fn a_connection_wake_is_noted_and_never_lost() {
    let (waker, count) = tether_testkit::wake::counting_waker();
    let mut cx = Context::from_waker(&waker);
    let (q, latency) = (MemberQueue::new(100), Latency::default());
    assert!(!q.take_connection_woken());

    // Waiting for frames, woken by the connection.
    assert_eq!(q.poll_hand(&mut cx, &latency, None, |_| true), Poll::Pending);
    q.wake_connection();
    assert_eq!(count.get(), 1);
    assert!(q.take_connection_woken());
    assert!(!q.take_connection_woken(), "taken once");

    // Woken by the connection with no waker registered (a push took
    // it): the next wait wakes the session at once.
    q.wake_connection();
    assert_eq!(count.get(), 1);
    assert_eq!(q.poll_hand(&mut cx, &latency, None, |_| true), Poll::Pending);
    assert_eq!(count.get(), 2);
    assert!(q.take_connection_woken());
}

#[test]
fn a_writer_packs_a_descriptor_or_a_partial_frame_in_four_bytes() {
    assert_eq!((Writer::SESSION.fd(), Writer::SESSION.written()), (None, None));
    for fd in [0, 7, i32::MAX] {
        assert_eq!((Writer::socket(fd).fd(), Writer::socket(fd).written()), (Some(fd), None));
    }
    for written in [1, 4096, DIRECT_MAX - 1] {
        assert_eq!((Writer::partial(written).fd(), Writer::partial(written).written()), (None, Some(written)));
    }
}

/// Sending straight to a member's socket, on a Unix socket pair.
#[cfg(target_os = "linux")]
mod direct {
    use super::*;
    use std::io::{ErrorKind, Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    fn pair() -> (UnixStream, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        theirs.set_nonblocking(true).unwrap();
        (ours, theirs)
    }

    /// Parks `q` on `socket`, as a session with nothing unwritten does.
    fn park(q: &MemberQueue, socket: &UnixStream) {
        let mut cx = Context::from_waker(Waker::noop());
        let parked = q.poll_hand(&mut cx, &Latency::default(), Some(socket.as_raw_fd()), |_| true);
        assert_eq!(parked, Poll::Pending);
    }

    fn read_all(theirs: &mut UnixStream) -> Vec<u8> {
        let mut got = Vec::new();
        match theirs.read_to_end(&mut got) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => got,
            other => panic!("{other:?}"),
        }
    }

    fn hand_all(q: &MemberQueue) -> Vec<usize> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut fed = Vec::new();
        let _ = q.poll_hand(&mut cx, &Latency::default(), None, |f| {
            fed.push(f.frame().len());
            true
        });
        fed
    }

    #[test]
    fn a_parked_member_is_held_its_frames_and_the_drain_sends_them() {
        let (ours, mut theirs) = pair();
        let (q, latency) = (MemberQueue::new(100), Latency::default());
        park(&q, &ours);
        let at = Some(Stamp::now());
        assert_eq!(q.push_at(&frame(10), None, at), Pushed::Held { dropped: 0 });
        assert_eq!(q.push_at(&frame(20), None, at), Pushed::Held { dropped: 0 });
        assert!(read_all(&mut theirs).is_empty(), "held until the drain");
        assert_eq!(q.waiting_bytes(100), 30, "held frames are in the bound");
        assert_eq!(q.drain(&latency), Drained { written: 2, in_part: 0 });
        assert_eq!(read_all(&mut theirs).len(), 30);
        assert_eq!((q.waiting_bytes(100), latency.snapshot().count), (0, 2));
        // Still parked; a frame that is not fanned out wakes the session.
        assert_eq!(q.push_at(&frame(10), None, at), Pushed::Held { dropped: 0 });
        assert_eq!(q.push(&frame(10)), Pushed::Queued { dropped: 0 });
        // Taken back: frames queue for the session again, the drain sends nothing.
        q.unpark(|_, _| panic!("nothing was sent in part"));
        assert_eq!(q.push_at(&frame(10), None, at), Pushed::Queued { dropped: 0 });
        assert_eq!(q.drain(&latency), Drained::default());
        assert!(read_all(&mut theirs).is_empty());
        assert_eq!(hand_all(&q), [10, 10, 10]);
    }

    /// A frame the socket takes in part: the session gets its rest
    /// first, which the bound does not count and a lossy room never
    /// drops; what came after waits in the bound.
    #[test]
    fn the_rest_of_a_frame_sent_in_part_goes_first() {
        let (ours, mut theirs) = pair();
        // Larger than any socket pair's buffer, even where `wmem_default`
        // was raised (it is 208 KiB by default).
        let (q, latency) = (MemberQueue::new(64 << 20), Latency::default());
        park(&q, &ours);
        let big = PreparedMessage::new(&Message::binary((0..32u32 << 20).map(|i| i as u8).collect::<Vec<u8>>()));
        assert_eq!(q.push_at(&big, Some(64 << 20), None), Pushed::Held { dropped: 0 });
        assert_eq!(q.drain(&latency), Drained { written: 0, in_part: 1 });
        assert_eq!(q.waiting_bytes(64 << 20), 0, "its rest is outside the bound");
        let next = || PreparedMessage::new(&Message::binary(vec![1u8; 24 << 20]));
        assert_eq!(q.push_at(&next(), Some(64 << 20), None), Pushed::Queued { dropped: 0 });
        assert_eq!(q.push_at(&next(), Some(64 << 20), None), Pushed::Queued { dropped: 0 });
        assert_eq!(
            q.push_at(&next(), Some(64 << 20), None),
            Pushed::Queued { dropped: 1 },
            "one that waited, not the rest"
        );
        let mut rest = None;
        q.unpark(|f, written| rest = Some((f.clone(), written)));
        let (f, written) = rest.expect("the rest is handed");
        assert_eq!(f, big);
        assert!(written > 0 && written < big.frame().len(), "{written}");
        assert_eq!(read_all(&mut theirs), &big.frame()[..written]);
        // Written by the session: it is let go, and the two left follow.
        assert_eq!(hand_all(&q), [next().frame().len(); 2]);
        assert!(read_all(&mut theirs).is_empty(), "nothing sent straight once taken back");
    }

    #[test]
    fn a_full_socket_leaves_the_frames_to_the_session() {
        let (mut ours, mut theirs) = pair();
        while ours.write(&[0u8; 4096]).is_ok() {}
        let (q, latency) = (MemberQueue::new(100), Latency::default());
        park(&q, &ours);
        assert_eq!(q.push_at(&frame(10), None, None), Pushed::Held { dropped: 0 });
        assert_eq!(q.drain(&latency), Drained::default());
        assert_eq!(q.lock().writer, Writer::SESSION, "no more tries until parked again");
        read_all(&mut theirs);
        assert_eq!(q.push_at(&frame(10), None, None), Pushed::Queued { dropped: 0 });
        assert_eq!(q.drain(&latency), Drained::default());
        assert!(read_all(&mut theirs).is_empty());
        q.unpark(|_, _| panic!("nothing was sent in part"));
        assert_eq!(hand_all(&q), [10, 10]);
    }

    /// A member whose queue overflows while parked is closed by its
    /// session: nothing more goes out straight.
    #[test]
    fn an_overflow_while_parked_gives_the_socket_back() {
        let (ours, mut theirs) = pair();
        let (q, latency) = (MemberQueue::new(100), Latency::default());
        park(&q, &ours);
        assert_eq!(q.push_at(&frame(60), None, None), Pushed::Held { dropped: 0 });
        assert_eq!(q.push_at(&frame(60), None, None), Pushed::Overflowed);
        assert_eq!(q.lock().writer, Writer::SESSION);
        assert_eq!(q.drain(&latency), Drained::default());
        assert!(read_all(&mut theirs).is_empty());
    }

    #[test]
    fn a_stopped_queue_gives_the_socket_back() {
        let (ours, mut theirs) = pair();
        let (q, latency) = (MemberQueue::new(100), Latency::default());
        park(&q, &ours);
        assert_eq!(q.push_at(&frame(10), None, None), Pushed::Held { dropped: 0 });
        q.stop(Stop::Left);
        assert_eq!(q.lock().writer, Writer::SESSION);
        assert_eq!(q.drain(&latency), Drained::default());
        assert_eq!(q.push_at(&frame(10), None, None), Pushed::Stopped);
        assert!(read_all(&mut theirs).is_empty());
    }
}
