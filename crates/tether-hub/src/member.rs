//! One member's queue: the frames fanned out to it and not yet handed to
//! its connection, bounded in bytes. Over the bound the member is closed,
//! or, in a lossy room, its oldest frames are dropped.

use std::collections::VecDeque;
#[cfg(test)]
use std::future::poll_fn;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use tether::PreparedMessage;

/// Why a member's queue stopped taking frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The queue passed its bound in a room that is not lossy.
    Overflow,
    /// The member's session ended.
    Left,
}

/// The frames waiting for one member.
#[derive(Debug)]
pub(crate) struct MemberQueue {
    state: Mutex<QueueState>,
    limit: usize,
}

/// A frame waiting for its member.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) frame: PreparedMessage,
    /// When the room fanned it out, for the latency histogram (room
    /// messages only: not replays on resume, acks or notices).
    pub(crate) at: Option<Instant>,
}

#[derive(Debug, Default)]
struct QueueState {
    frames: VecDeque<Queued>,
    bytes: usize,
    stopped: Option<Stop>,
    /// The member's session, waiting for frames: one waker under the
    /// queue's lock, rather than a `Notify` and its waiter in every
    /// member's future (a member at rest is mostly this wait).
    waiting: Option<Waker>,
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
    pub(crate) fn new(limit: usize) -> Self {
        MemberQueue { state: Mutex::new(QueueState::default()), limit }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame that is not timed (a replay, an ack, a notice).
    pub(crate) fn push(&self, frame: &PreparedMessage, lossy: bool) -> Pushed {
        self.push_at(frame, lossy, None)
    }

    /// Queues a frame fanned out `at`. `lossy`: over the bound, drop the
    /// oldest frames (or this one, if it alone is over the bound) instead
    /// of stopping.
    pub(crate) fn push_at(&self, frame: &PreparedMessage, lossy: bool, at: Option<Instant>) -> Pushed {
        let len = frame.frame().len();
        let mut state = self.lock();
        if state.stopped.is_some() {
            return Pushed::Stopped;
        }
        let mut dropped = 0;
        if state.bytes + len > self.limit {
            if !lossy {
                state.stopped = Some(Stop::Overflow);
                wake(state);
                return Pushed::Overflowed;
            }
            if len > self.limit {
                return Pushed::Queued { dropped: 1 };
            }
            while state.bytes + len > self.limit {
                let Some(old) = state.frames.pop_front() else { break };
                state.bytes -= old.frame.frame().len();
                dropped += 1;
            }
        }
        state.bytes += len;
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

    /// Frames, if any: moves them all into `batch` (which must be empty),
    /// or registers `cx` to be woken when some arrive. `Err` once the queue
    /// has stopped (the frames still queued are given out first when the
    /// member only left, not when it overflowed).
    pub(crate) fn poll_next_batch(&self, cx: &mut Context<'_>, batch: &mut VecDeque<Queued>) -> Poll<Result<(), Stop>> {
        let mut state = self.lock();
        if state.stopped == Some(Stop::Overflow) {
            return Poll::Ready(Err(Stop::Overflow));
        }
        if !state.frames.is_empty() {
            std::mem::swap(&mut state.frames, batch);
            state.bytes = 0;
            return Poll::Ready(Ok(()));
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

    /// Waits for frames (see [`poll_next_batch`](Self::poll_next_batch)).
    #[cfg(test)]
    pub(crate) async fn next_batch(&self, batch: &mut VecDeque<Queued>) -> Result<(), Stop> {
        batch.clear();
        poll_fn(|cx| self.poll_next_batch(cx, batch)).await
    }
}

/// Notes the session's waker, to be woken by the next push or stop.
fn register(state: &mut QueueState, cx: &Context<'_>) {
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
        let mut batch = VecDeque::new();
        assert_eq!(q.next_batch(&mut batch).await, Err(Stop::Overflow));
    }

    #[tokio::test]
    async fn a_lossy_queue_drops_its_oldest_frames() {
        let q = MemberQueue::new(100);
        assert_eq!(q.push(&frame(40), true), Pushed::Queued { dropped: 0 });
        assert_eq!(q.push(&frame(40), true), Pushed::Queued { dropped: 0 });
        assert_eq!(q.push(&frame(40), true), Pushed::Queued { dropped: 1 });
        assert_eq!(q.push(&frame(90), true), Pushed::Queued { dropped: 2 });
        assert_eq!(q.push(&frame(120), true), Pushed::Queued { dropped: 1 }, "alone over the bound: itself");
        let mut batch = VecDeque::new();
        q.next_batch(&mut batch).await.unwrap();
        assert_eq!(batch.iter().map(|f| f.frame.frame().len()).collect::<Vec<_>>(), [90]);
    }

    #[tokio::test]
    async fn a_member_that_left_gets_what_was_queued_first() {
        let q = MemberQueue::new(100);
        q.push(&frame(10), false);
        q.stop(Stop::Left);
        let mut batch = VecDeque::new();
        assert_eq!(q.next_batch(&mut batch).await, Ok(()));
        assert_eq!(batch.len(), 1);
        assert_eq!(q.next_batch(&mut batch).await, Err(Stop::Left));
    }
}
