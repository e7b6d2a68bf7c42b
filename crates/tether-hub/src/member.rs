//! One member's queue: the frames fanned out to it and not yet handed to
//! its connection, bounded in bytes, and those handed and not yet written.
//! Over the bound the member is closed, or, in a lossy room, its oldest
//! frames are dropped. While the member's session is parked, a frame fanned
//! out to it is held for the room's drain, which sends it straight to the
//! member's socket (see [`crate::direct`]).

use std::collections::VecDeque;
#[cfg(test)]
use std::future::poll_fn;
use std::io::IoSlice;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use tether::PreparedMessage;

use crate::direct::{self, Fd};
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
    /// written; so is the first, when `writer` says a part of it was sent
    /// straight; the others wait.
    frames: Frames,
    /// Bytes the frames that wait may still take: the bound less what they
    /// hold (the bound itself is not kept: every member of a hub has the
    /// same, its rooms pass it in where they need it, and these 4 bytes
    /// hold `writer`).
    headroom: u32,
    /// Who writes the next frame.
    writer: Writer,
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

/// Who writes a member's next frame, in 4 bytes: its session (through its
/// connection), or, while the session is parked, the room's drain, straight
/// to socket `fd`; or the session, which must first finish a frame the
/// drain began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Writer(u32);

impl Writer {
    /// The session: the default.
    const SESSION: Writer = Writer(u32::MAX);
    /// Set with the bytes of the first frame already sent; a descriptor
    /// never has it (it is a non-negative `i32`).
    const PARTIAL: u32 = 1 << 31;

    /// The room's drain, to `fd` (a valid descriptor, so non-negative).
    fn socket(fd: Fd) -> Self {
        Writer(u32::try_from(fd).expect("a descriptor is non-negative"))
    }

    /// The session, after `written` bytes of the first frame went out
    /// straight (less than a frame's length, which a queue bounds below
    /// 4 GiB; direct sends take frames under 2 GiB only).
    fn partial(written: usize) -> Self {
        let written = u32::try_from(written).ok().filter(|&n| n < Self::PARTIAL - 1);
        Writer(Self::PARTIAL | written.expect("a direct frame is under 2 GiB"))
    }

    fn fd(self) -> Option<Fd> {
        (self.0 & Self::PARTIAL == 0).then_some(self.0 as Fd)
    }

    fn written(self) -> Option<usize> {
        (self != Self::SESSION && self.0 & Self::PARTIAL != 0).then_some((self.0 & !Self::PARTIAL) as usize)
    }
}

impl Default for Writer {
    fn default() -> Self {
        Writer::SESSION
    }
}

/// The largest frame sent straight (see [`Writer::partial`]).
const DIRECT_MAX: usize = i32::MAX as usize;

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

    fn front(&self) -> Option<&Queued> {
        self.first.as_ref().or_else(|| self.rest.as_ref()?.front())
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

/// What a drain sent of one member's frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Drained {
    /// Frames written whole.
    pub(crate) written: u64,
    /// Frames written in part (at most one), finished by the session.
    pub(crate) in_part: u64,
}

impl std::ops::Add for Drained {
    type Output = Drained;

    fn add(self, other: Drained) -> Drained {
        Drained { written: self.written + other.written, in_part: self.in_part + other.in_part }
    }
}

/// What a push did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; `dropped` older frames made room for it (lossy rooms only).
    Queued { dropped: usize },
    /// Queued for the room's drain to send (the member's session is
    /// parked): not woken. `dropped` as above.
    Held { dropped: usize },
    /// The queue overflowed now: the member is to be closed.
    Overflowed,
    /// The queue had stopped already; nothing was queued.
    Stopped,
}

impl MemberQueue {
    /// A queue bounded at `limit` bytes (larger bounds than `u32::MAX`,
    /// 4 GiB less a byte, are taken as that).
    pub(crate) fn new(limit: usize) -> Self {
        let headroom = u32::try_from(limit).unwrap_or(u32::MAX);
        MemberQueue { state: Mutex::new(QueueState { headroom, ..QueueState::default() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame that is not timed (a replay, an ack, a notice), and
    /// wakes the member's session for it; over the bound, the queue stops.
    pub(crate) fn push(&self, frame: &PreparedMessage) -> Pushed {
        self.enqueue(frame, None, None, false)
    }

    /// Queues a frame fanned out `at`. In a lossy room (`lossy`: the
    /// queue's bound, which the room knows), over the bound the oldest
    /// frames that wait are dropped (or this one, if it alone is over the
    /// bound) instead of stopping the queue. A parked member's session is
    /// not woken: the frame is [`Held`](Pushed::Held) for the room's drain
    /// ([`drain`](Self::drain)), which sends it with whatever else the
    /// member is fanned out until then.
    pub(crate) fn push_at(&self, frame: &PreparedMessage, lossy: Option<u32>, at: Option<Stamp>) -> Pushed {
        self.enqueue(frame, lossy, at, true)
    }

    fn enqueue(&self, frame: &PreparedMessage, lossy: Option<u32>, at: Option<Stamp>, hold: bool) -> Pushed {
        let len = frame.frame().len() as u64;
        let mut state = self.lock();
        if state.stopped.is_some() {
            return Pushed::Stopped;
        }
        let mut dropped = 0;
        if len > u64::from(state.headroom) {
            let Some(bound) = lossy else {
                state.stopped = Some(Stop::Overflow);
                if state.writer.fd().is_some() {
                    // Nothing more goes out straight: the session closes it.
                    state.writer = Writer::SESSION;
                }
                wake(state);
                return Pushed::Overflowed;
            };
            if len > u64::from(bound) {
                return Pushed::Queued { dropped: 1 };
            }
            // The frames handed to the connection are its now: the oldest
            // waiting one goes.
            while len > u64::from(state.headroom) {
                let Some(old) = remove_waiting(&mut state) else { break };
                state.headroom += old.frame.frame().len() as u32;
                dropped += 1;
            }
        }
        // Within the bound, so within a `u32`.
        state.headroom -= len as u32;
        state.frames.push_back(Queued { frame: frame.clone(), at });
        if hold && state.writer.fd().is_some() {
            return Pushed::Held { dropped };
        }
        wake(state);
        Pushed::Queued { dropped }
    }

    /// Sends the frames held for a parked member straight to its socket,
    /// in one vectored write per 64 of them, timing each (with `latency`);
    /// what the socket does not take goes back to the session, woken for
    /// it: a frame taken in part is finished first ([`unpark`](Self::unpark)).
    /// Does nothing once the session took its connection back, or once the
    /// queue stopped (the writer is the session's then).
    pub(crate) fn drain(&self, latency: &Latency) -> Drained {
        let mut state = self.lock();
        let mut drained = Drained::default();
        while let Some(fd) = state.writer.fd() {
            if state.frames.is_empty() {
                break;
            }
            let (sent, offered) = send_held(fd, &state.frames);
            let Ok(sent) = sent else {
                // Full, failed, or too large: the session's own write
                // waits for room, or tells how it failed.
                state.writer = Writer::SESSION;
                wake(state);
                return drained;
            };
            let now = Stamp::now();
            let mut left = sent;
            while let Some(len) =
                state.frames.front().map(|queued| queued.frame.frame().len()).filter(|&len| len <= left)
            {
                left -= len;
                state.headroom += len as u32;
                if let Some(Queued { at: Some(at), .. }) = state.frames.pop_front() {
                    latency.record(at.until(now), 1);
                }
                drained.written += 1;
            }
            if left > 0 {
                // Part of the next frame: the session finishes it, outside
                // the bound like a frame handed to it.
                let len = state.frames.front().map_or(0, |queued| queued.frame.frame().len());
                state.headroom += len as u32;
                state.writer = Writer::partial(left);
                drained.in_part += 1;
                wake(state);
                return drained;
            }
            if sent < offered {
                // Full at a frame's end: the session waits for room.
                state.writer = Writer::SESSION;
                wake(state);
                return drained;
            }
        }
        drained
    }

    /// Stops the queue: the writer ends once it has seen it.
    pub(crate) fn stop(&self, why: Stop) {
        let mut state = self.lock();
        state.stopped.get_or_insert(why);
        // The socket is the session's again before it can be closed.
        state.writer = Writer::SESSION;
        wake(state);
    }

    /// The session takes its connection back from the room's drain before
    /// it uses it: no frame is sent straight from now on, and the rest of
    /// one that was only partly sent is handed to `feed` (with the bytes
    /// already sent), ahead of anything the session writes.
    pub(crate) fn unpark(&self, feed: impl FnOnce(&PreparedMessage, usize)) {
        let mut state = self.lock();
        let written = state.writer.written();
        state.writer = Writer::SESSION;
        let Some(written) = written else { return };
        if let Some(first) = state.frames.front() {
            feed(&first.frame, written);
            // Handed: the next hand-over times it and lets it go.
            state.handed = 1;
        }
    }

    /// Called once the connection has written everything handed to it:
    /// records the latency of those frames and lets them go, then hands
    /// the frames that wait, up to `u16::MAX` of them, to `feed` (in order;
    /// it returns false when the connection takes no more). Ready with `Ok(true)` when frames
    /// were handed, `Ok(false)` when the connection refused one; pending
    /// (with `cx` registered) while none wait, and then parked on socket
    /// `park`, if given, until [`unpark`](Self::unpark); `Err` once the
    /// queue has stopped (the frames that wait are handed first when the
    /// member only left, not when it overflowed).
    pub(crate) fn poll_hand(
        &self,
        cx: &mut Context<'_>,
        latency: &Latency,
        park: Option<Fd>,
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
            free(&mut state, 0, handed.into());
            state.handed = handed;
            return Poll::Ready(Ok(fed));
        }
        if let Some(stop) = state.stopped {
            return Poll::Ready(Err(stop));
        }
        register(&mut state, cx);
        if let Some(fd) = park {
            state.writer = Writer::socket(fd);
        }
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

    /// Bytes of the frames that wait, as the bound of a queue made with
    /// `limit` keeps them, checked against the frames themselves (tests).
    #[cfg(test)]
    fn waiting_bytes(&self, limit: u32) -> u64 {
        let state = self.lock();
        let kept = u64::from(limit - state.headroom);
        assert_eq!(kept, waiting(&state).map(|queued| queued.frame.frame().len() as u64).sum::<u64>());
        kept
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
                let first = first_waiting(&state);
                free(&mut state, first, usize::MAX);
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

/// Sends the first held frames (up to [`direct::MAX_SLICES`]) to `fd`:
/// what was sent, of how many bytes offered. A frame too large to note in
/// part ([`DIRECT_MAX`]) is left to the session (an error, if first).
fn send_held(fd: Fd, frames: &Frames) -> (std::io::Result<usize>, usize) {
    let mut held = frames.iter().map(|queued| &queued.frame.frame()[..]).take_while(|f| f.len() <= DIRECT_MAX);
    let Some(first) = held.next() else { return (Err(std::io::ErrorKind::FileTooLarge.into()), 0) };
    let Some(second) = held.next() else {
        // The common case, one frame: no array of slices to fill.
        return (direct::send_vectored(fd, &[IoSlice::new(first)]), first.len());
    };
    let mut slices = [IoSlice::new(&[]); direct::MAX_SLICES];
    let mut n = 0;
    for (frame, slice) in [first, second].into_iter().chain(held).zip(&mut slices) {
        *slice = IoSlice::new(frame);
        n += 1;
    }
    let offered = slices[..n].iter().map(|slice| slice.len()).sum();
    (direct::send_vectored(fd, &slices[..n]), offered)
}

/// Gives the bound back the bytes of `n` frames from the `from`th on
/// (frames that waited, now the connection's).
fn free(state: &mut QueueState, from: usize, n: usize) {
    let freed: u64 = state.frames.iter().skip(from).take(n).map(|queued| queued.frame.frame().len() as u64).sum();
    state.headroom = u32::try_from(u64::from(state.headroom) + freed).unwrap_or(u32::MAX);
}

/// Where the frames that wait start: past those handed, and past the one
/// partly sent straight.
fn first_waiting(state: &QueueState) -> usize {
    usize::from(state.handed) + usize::from(state.writer.written().is_some())
}

/// The frames that wait (in the bound).
#[cfg(test)]
fn waiting(state: &QueueState) -> impl Iterator<Item = &Queued> {
    state.frames.iter().skip(first_waiting(state))
}

/// Removes the oldest frame that waits.
fn remove_waiting(state: &mut QueueState) -> Option<Queued> {
    let at = first_waiting(state);
    (state.frames.len() > at).then(|| state.frames.remove(at)).flatten()
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
mod tests;
