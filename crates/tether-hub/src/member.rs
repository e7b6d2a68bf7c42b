//! One member's queue: the frames fanned out to it and not yet handed to
//! its connection, bounded in bytes, and those handed and not yet written.
//! Over the bound the member is closed, or, in a lossy room, its oldest
//! frames are dropped.

use std::collections::VecDeque;
#[cfg(test)]
use std::future::poll_fn;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use tether::PreparedMessage;

use crate::latency::{Latency, Stamp};

/// Why a member's queue stopped taking frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The queue passed its bound in a room that is not lossy.
    Overflow,
    /// The member's session ended.
    Left,
}

/// The frames waiting for one member, and its place in its room's list.
/// Every member at rest holds one, in its `Arc<Member>`: hence the packed
/// fields (56 bytes; 64 with the lock, 80 with the `Arc`'s counts, one of
/// jemalloc's size classes).
#[derive(Debug)]
pub(crate) struct MemberQueue {
    state: Mutex<QueueState>,
}

/// A frame waiting for its member.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) frame: PreparedMessage,
    /// When the room fanned it out, for the latency histogram (room
    /// messages only: not replays on resume, acks or notices).
    pub(crate) at: Option<Stamp>,
}

#[derive(Debug, Default)]
struct QueueState {
    /// The first `handed` were handed to the connection and are being
    /// written; the others wait.
    frames: Frames,
    /// Bytes of the frames that wait (the bound's measure), never over
    /// `limit`.
    bytes: u32,
    /// The bound (bytes).
    limit: u32,
    /// Where the member is in its room's list, so that leaving takes one
    /// swap, not a search of the list: a room of 100,000 members whose
    /// connections all drop would otherwise search it 100,000 times under
    /// its lock. Changed only under the room's lock; a hint, checked before
    /// use.
    slot: u32,
    /// At most `u16::MAX` frames are handed at once (a batch that large
    /// is far past any write buffer anyway).
    handed: u16,
    stopped: Option<Stop>,
    /// The member's connection was woken (readable, writable, a timer)
    /// since its session last read it: see [`MemberQueue::wake_connection`].
    connection_woken: bool,
    /// The member's session, waiting for frames: one waker under the
    /// queue's lock, rather than a `Notify` and its waiter in every
    /// member's future (a member at rest is mostly this wait).
    waiting: Option<Waker>,
}

/// A queue of frames that holds one without an allocation: at a modest
/// rate a member is sent one frame at a time, and a member at rest holds
/// no buffer, and only a pointer for one.
#[derive(Debug, Default)]
struct Frames {
    /// The oldest frame, when there is one and `rest` is empty or after it.
    first: Option<Queued>,
    /// The frames after `first`, while there are any.
    #[allow(clippy::box_collection)] // a thin pointer where a deque takes 32 bytes
    rest: Option<Box<VecDeque<Queued>>>,
}

impl Frames {
    fn rest_len(&self) -> usize {
        self.rest.as_ref().map_or(0, |r| r.len())
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest_len()
    }

    fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest_len() == 0
    }

    fn push_back(&mut self, queued: Queued) {
        if self.is_empty() {
            self.first = Some(queued);
        } else {
            self.rest.get_or_insert_with(Box::default).push_back(queued);
        }
    }

    fn pop_front(&mut self) -> Option<Queued> {
        let front = self.first.take().or_else(|| self.rest.as_mut()?.pop_front());
        if self.first.is_none() && self.rest_len() == 0 {
            // Drained: a member at rest keeps no buffer.
            self.rest = None;
        }
        front
    }

    fn remove(&mut self, index: usize) -> Option<Queued> {
        match index.checked_sub(usize::from(self.first.is_some())) {
            None => self.pop_front(),
            Some(in_rest) => self.rest.as_mut()?.remove(in_rest),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Queued> {
        self.first.iter().chain(self.rest.iter().flat_map(|r| r.iter()))
    }
}

/// What a push did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; `dropped` older frames made room for it (lossy rooms only).
    Queued { dropped: usize },
    /// The queue overflowed now: the member is to be closed.
    Overflowed,
    /// The queue had stopped already; nothing was queued.
    Stopped,
}

impl MemberQueue {
    /// A queue bounded at `limit` bytes (larger bounds than `u32::MAX`,
    /// 4 GiB less a byte, are taken as that).
    pub(crate) fn new(limit: usize) -> Self {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        MemberQueue { state: Mutex::new(QueueState { limit, ..QueueState::default() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame that is not timed (a replay, an ack, a notice).
    pub(crate) fn push(&self, frame: &PreparedMessage, lossy: bool) -> Pushed {
        self.push_at(frame, lossy, None)
    }

    /// Queues a frame fanned out `at`. `lossy`: over the bound, drop the
    /// oldest frames that wait (or this one, if it alone is over the
    /// bound) instead of stopping.
    pub(crate) fn push_at(&self, frame: &PreparedMessage, lossy: bool, at: Option<Stamp>) -> Pushed {
        let len = frame.frame().len() as u64;
        let mut state = self.lock();
        if state.stopped.is_some() {
            return Pushed::Stopped;
        }
        let mut dropped = 0;
        let limit = u64::from(state.limit);
        if u64::from(state.bytes) + len > limit {
            if !lossy {
                state.stopped = Some(Stop::Overflow);
                wake(state);
                return Pushed::Overflowed;
            }
            if len > limit {
                return Pushed::Queued { dropped: 1 };
            }
            // The frames handed to the connection are its now: the oldest
            // waiting one goes.
            while u64::from(state.bytes) + len > limit && state.frames.len() > state.handed as usize {
                let Some(old) = remove_waiting(&mut state) else { break };
                state.bytes -= old.frame.frame().len() as u32;
                dropped += 1;
            }
        }
        // Within the bound, so within a `u32`.
        state.bytes += len as u32;
        state.frames.push_back(Queued { frame: frame.clone(), at });
        wake(state);
        Pushed::Queued { dropped }
    }

    /// Stops the queue: the writer ends once it has seen it.
    pub(crate) fn stop(&self, why: Stop) {
        let mut state = self.lock();
        state.stopped.get_or_insert(why);
        wake(state);
    }

    /// Called once the connection has written everything handed to it:
    /// records the latency of those frames and lets them go, then hands
    /// the frames that wait, up to `u16::MAX` of them, to `feed` (in order;
    /// it returns false when the connection takes no more). Ready with `Ok(true)` when frames
    /// were handed, `Ok(false)` when the connection refused one; pending
    /// (with `cx` registered) while none wait; `Err` once the queue has
    /// stopped (the frames that wait are handed first when the member only
    /// left, not when it overflowed).
    pub(crate) fn poll_hand(
        &self,
        cx: &mut Context<'_>,
        latency: &Latency,
        mut feed: impl FnMut(&PreparedMessage) -> bool,
    ) -> Poll<Result<bool, Stop>> {
        let mut state = self.lock();
        if state.handed > 0 {
            // Written: one clock read for them all.
            let written = Stamp::now();
            for _ in 0..std::mem::take(&mut state.handed) {
                if let Some(Queued { at: Some(at), .. }) = state.frames.pop_front() {
                    latency.record(at.until(written), 1);
                }
            }
        }
        if state.stopped == Some(Stop::Overflow) {
            return Poll::Ready(Err(Stop::Overflow));
        }
        if !state.frames.is_empty() {
            let handed = u16::try_from(state.frames.len()).unwrap_or(u16::MAX);
            let fed = state.frames.iter().take(handed.into()).all(|queued| feed(&queued.frame));
            // The connection holds them (or has ended): the bound counts
            // what waits for it, no more.
            state.handed = handed;
            state.bytes = match state.frames.len() - usize::from(handed) {
                0 => 0,
                _ => state.frames.iter().skip(handed.into()).map(|queued| queued.frame.frame().len() as u32).sum(),
            };
            return Poll::Ready(Ok(fed));
        }
        if let Some(stop) = state.stopped {
            return Poll::Ready(Err(stop));
        }
        register(&mut state, cx);
        Poll::Pending
    }

    /// Ready once the queue has overflowed; otherwise registers `cx` to be
    /// woken when it changes.
    pub(crate) fn poll_overflow(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if state.stopped == Some(Stop::Overflow) {
            return Poll::Ready(());
        }
        register(&mut state, cx);
        Poll::Pending
    }

    /// Wakes the session for its connection (it was registered through
    /// the member's own waker, see `Session`'s poll): noted, so that a
    /// session woken only for frames does not read its connection in vain.
    pub(crate) fn wake_connection(&self) {
        let mut state = self.lock();
        state.connection_woken = true;
        wake(state);
    }

    /// Whether the connection was woken since the last call.
    pub(crate) fn take_connection_woken(&self) -> bool {
        std::mem::take(&mut self.lock().connection_woken)
    }

    /// The member's place in its room's list (a hint).
    pub(crate) fn slot(&self) -> u32 {
        self.lock().slot
    }

    /// Notes the member's place in its room's list (under the room's lock).
    pub(crate) fn set_slot(&self, slot: u32) {
        self.lock().slot = slot;
    }

    /// Waits for frames, and takes them all (tests: the room's side alone).
    #[cfg(test)]
    pub(crate) async fn next_batch(&self) -> Result<Vec<Queued>, Stop> {
        poll_fn(|cx| {
            let mut state = self.lock();
            if state.stopped == Some(Stop::Overflow) {
                return Poll::Ready(Err(Stop::Overflow));
            }
            if !state.frames.is_empty() {
                state.bytes = 0;
                state.handed = 0;
                return Poll::Ready(Ok(std::iter::from_fn(|| state.frames.pop_front()).collect()));
            }
            if let Some(stop) = state.stopped {
                return Poll::Ready(Err(stop));
            }
            register(&mut state, cx);
            Poll::Pending
        })
        .await
    }
}

/// Removes the oldest frame that waits (past those handed).
fn remove_waiting(state: &mut QueueState) -> Option<Queued> {
    state.frames.remove(state.handed as usize)
}

/// Notes the session's waker, to be woken by the next push or stop, or
/// by its connection. A connection woken while the session ran, after it
/// looked, found no waker to wake (a push had taken it): the session is
/// polled again at once, or that wake would be lost.
fn register(state: &mut QueueState, cx: &Context<'_>) {
    if state.connection_woken {
        cx.waker().wake_by_ref();
    }
    match &mut state.waiting {
        Some(waker) => waker.clone_from(cx.waker()),
        None => state.waiting = Some(cx.waker().clone()),
    }
}

/// Wakes the session waiting on the queue, if any, once the lock is let go.
fn wake(mut state: std::sync::MutexGuard<'_, QueueState>) {
    let waiting = state.waiting.take();
    drop(state);
    if let Some(waker) = waiting {
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether::Message;

    fn frame(len: usize) -> PreparedMessage {
        // 2 header bytes for payloads up to 125.
        PreparedMessage::new(&Message::binary(vec![0u8; len - 2]))
    }

    #[tokio::test]
    async fn over_its_bound_a_queue_stops() {
        let q = MemberQueue::new(100);
        assert_eq!(q.push(&frame(60), false), Pushed::Queued { dropped: 0 });
        assert_eq!(q.push(&frame(60), false), Pushed::Overflowed);
        assert_eq!(q.push(&frame(10), false), Pushed::Stopped);
        assert_eq!(q.next_batch().await.err(), Some(Stop::Overflow));
    }

    #[tokio::test]
    async fn a_lossy_queue_drops_its_oldest_frames() {
        let q = MemberQueue::new(100);
        assert_eq!(q.push(&frame(40), true), Pushed::Queued { dropped: 0 });
        assert_eq!(q.push(&frame(40), true), Pushed::Queued { dropped: 0 });
        assert_eq!(q.push(&frame(40), true), Pushed::Queued { dropped: 1 });
        assert_eq!(q.push(&frame(90), true), Pushed::Queued { dropped: 2 });
        assert_eq!(q.push(&frame(120), true), Pushed::Queued { dropped: 1 }, "alone over the bound: itself");
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
        q.push_at(&frame(60), true, at);
        let mut fed = Vec::new();
        let mut hand = |fed: &mut Vec<usize>| {
            q.poll_hand(&mut cx, &latency, |f| {
                fed.push(f.frame().len());
                true
            })
        };
        assert_eq!(hand(&mut fed), Poll::Ready(Ok(true)));
        assert_eq!(fed, [60]);
        // The 60 handed bytes no longer count: two more fit, a third drops the oldest waiting one.
        q.push_at(&frame(50), true, at);
        q.push_at(&frame(40), true, at);
        assert_eq!(q.push_at(&frame(30), true, at), Pushed::Queued { dropped: 1 });
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
            q.push(&frame(10), false);
        }
        let mut fed = 0;
        assert_eq!(
            q.poll_hand(&mut cx, &latency, |_| {
                fed += 1;
                true
            }),
            Poll::Ready(Ok(true))
        );
        assert_eq!(fed, usize::from(u16::MAX));
        assert_eq!(q.lock().bytes, 30, "the three left wait within the bound");
        fed = 0;
        assert_eq!(
            q.poll_hand(&mut cx, &latency, |_| {
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
            assert_eq!(q.push(&frame(10), true), Pushed::Queued { dropped: 0 });
        }
        assert_eq!(q.poll_hand(&mut cx, &latency, |_| true), Poll::Ready(Ok(true)));
        assert_eq!(q.lock().bytes, 30);
        // 20 bytes wait once the oldest waiting frame goes: this one (a
        // 10-byte header, its payload over 64 KiB) fills the bound.
        let big = PreparedMessage::new(&Message::binary(vec![0u8; limit - 20 - 10]));
        assert_eq!(big.frame().len(), limit - 20);
        assert_eq!(q.push(&big, true), Pushed::Queued { dropped: 1 });
        let mut fed = Vec::new();
        let hand = q.poll_hand(&mut cx, &latency, |f| {
            fed.push(f.frame().len());
            true
        });
        assert_eq!(hand, Poll::Ready(Ok(true)));
        assert_eq!(fed, [10, 10, limit - 20], "the batch was written and let go; two of three waited on");
    }

    #[tokio::test]
    async fn a_member_that_left_gets_what_was_queued_first() {
        let q = MemberQueue::new(100);
        q.push(&frame(10), false);
        q.stop(Stop::Left);
        assert_eq!(q.next_batch().await.unwrap().len(), 1);
        assert_eq!(q.next_batch().await.err(), Some(Stop::Left));
    }

    /// A session learns whether its connection woke it, and a connection
    /// woken while the session ran (no waker to wake) is not lost: the
    /// session is woken again as it waits for frames.
    #[test]
    fn a_connection_wake_is_noted_and_never_lost() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use std::task::Wake;

        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let (q, latency) = (MemberQueue::new(100), Latency::default());
        assert!(!q.take_connection_woken());

        // Waiting for frames, woken by the connection.
        assert_eq!(q.poll_hand(&mut cx, &latency, |_| true), Poll::Pending);
        q.wake_connection();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(q.take_connection_woken());
        assert!(!q.take_connection_woken(), "taken once");

        // Woken by the connection with no waker registered (a push took
        // it): the next wait wakes the session at once.
        q.wake_connection();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(q.poll_hand(&mut cx, &latency, |_| true), Poll::Pending);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(q.take_connection_woken());
    }
}
