//! The timer queue the connections of one tokio runtime share: one
//! deadline and one waker per connection in a table, woken by a single
//! task that sleeps until the earliest deadline. A tokio `Sleep` per
//! connection costs about 130 bytes of heap each (its timer entry, boxed);
//! a slot here about 40, and no allocation of its own.
//!
//! The driver sleeps on tokio's clock, so a paused test clock
//! (`tokio::time::pause`) moves these deadlines as it moves any sleep, and
//! each deadline fires at its exact instant (to tokio's millisecond).
//!
//! While deadlines keep being set, the driver also wakes every second
//! (`HEARTBEAT`): a deadline set earlier than the driver's sleep moves
//! that sleep earlier, and tokio then wakes its own driver with a system
//! call (an `eventfd` write) in case it is parked for longer. Busy servers
//! set a closing deadline (5 s) at every close, earlier than the keepalive
//! deadlines (20 s) the driver sleeps for, and a tokio handshake timeout
//! (10 s) at every accept: with the driver never more than a heartbeat
//! away, neither moves tokio's next wake-up, so neither costs that call.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::{sleep_until, Instant, Sleep};

use crate::slots::Slots;

/// No deadline, for a tick field.
pub(super) const NEVER: u64 = u64::MAX;

/// How far ahead (in ticks: 1 s) the driver sleeps at most while
/// deadlines are being set: no later than the deadlines connections set,
/// down to a 1 s close timeout.
const HEARTBEAT: u64 = 1_000_000_000;

/// The shared timers of one runtime.
#[derive(Debug)]
pub(super) struct TimerQueue {
    /// Ticks are nanoseconds since this instant.
    base: Instant,
    /// Every deadline at or before this tick has fired: a connection checks
    /// its own against it with one load, without the lock.
    reached: AtomicU64,
    /// Cleared when the driver task is dropped (its runtime shut down).
    alive: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    slots: Slots<Slot>,
    /// (deadline, slot), earliest first. An entry whose slot no longer has
    /// that deadline is stale and skipped: moving a deadline pushes anew.
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    /// The deadline the driver sleeps until, and its waker, to wake it
    /// when an earlier one comes or that one goes.
    driver_due: u64,
    driver: Option<Waker>,
    /// A deadline was set since the driver last ran: it keeps the heartbeat.
    busy: bool,
}

#[derive(Debug)]
struct Slot {
    deadline: u64,
    waker: Option<Waker>,
}

/// The queue of each runtime that has one (a few at most: one per test
/// runtime in tests), by the runtime's id.
static QUEUES: Mutex<Vec<(tokio::runtime::Id, Weak<TimerQueue>)>> = Mutex::new(Vec::new());

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl TimerQueue {
    /// The queue of the current runtime, started on first use. Panics
    /// outside a tokio runtime, as a tokio sleep does.
    pub(super) fn current() -> Arc<TimerQueue> {
        let handle = Handle::current();
        let id = handle.id();
        let mut queues = lock(&QUEUES);
        let found = queues.iter().find(|(i, _)| *i == id).and_then(|(_, q)| q.upgrade());
        if let Some(queue) = found.filter(|q| q.alive.load(Ordering::Acquire)) {
            return queue;
        }
        let queue = Arc::new(TimerQueue {
            base: Instant::now(),
            reached: AtomicU64::new(0),
            alive: AtomicBool::new(true),
            state: Mutex::new(State { driver_due: NEVER, ..State::default() }),
        });
        queues.retain(|(i, q)| *i != id && q.strong_count() > 0);
        queues.push((id, Arc::downgrade(&queue)));
        drop(queues);
        handle.spawn(drive(queue.clone()));
        queue
    }

    /// Whether its driver still runs.
    pub(super) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// `instant` as a tick (0 for one before the base).
    pub(super) fn tick(&self, instant: std::time::Instant) -> u64 {
        let since = Instant::from_std(instant).saturating_duration_since(self.base);
        u64::try_from(since.as_nanos()).unwrap_or(NEVER - 1)
    }

    /// Whether `tick` has fired.
    pub(super) fn reached(&self, tick: u64) -> bool {
        tick <= self.reached.load(Ordering::Acquire)
    }

    /// A slot of its own for a connection.
    pub(super) fn slot(&self) -> u32 {
        lock(&self.state).slots.insert(Slot { deadline: NEVER, waker: None })
    }

    /// Sets `slot` to wake `waker` at `tick` ([`NEVER`]: not at all).
    /// False if `tick` has already fired: nothing is registered then.
    pub(super) fn arm(&self, slot: u32, tick: u64, waker: &Waker) -> bool {
        let mut state = lock(&self.state);
        if tick != NEVER && self.reached(tick) {
            return false;
        }
        let state = &mut *state;
        let Some(entry) = state.slots.get_mut(slot) else { return false };
        let old = std::mem::replace(&mut entry.deadline, tick);
        match (&mut entry.waker, tick) {
            (waker, NEVER) => *waker = None,
            (Some(w), _) => w.clone_from(waker),
            (w @ None, _) => *w = Some(waker.clone()),
        }
        if old != tick && tick != NEVER {
            state.heap.push(Reverse((tick, slot)));
            state.busy = true;
        }
        // The driver sleeps for a later deadline, or for the one that went.
        if tick < state.driver_due || (old == state.driver_due && old != tick) {
            if let Some(driver) = state.driver.take() {
                driver.wake();
            }
        }
        true
    }

    /// Gives `slot` back (its connection is gone).
    pub(super) fn release(&self, slot: u32) {
        let mut state = lock(&self.state);
        let state = &mut *state;
        if let Some(entry) = state.slots.get_mut(slot) {
            let old = std::mem::replace(&mut entry.deadline, NEVER);
            entry.waker = None;
            state.slots.remove(slot);
            if old != NEVER && old == state.driver_due {
                if let Some(driver) = state.driver.take() {
                    driver.wake();
                }
            }
        }
    }

    /// Wakes the slots due at `now`; returns when the driver is to wake
    /// next: the next deadline, or a heartbeat before it while busy.
    fn fire(&self, now: u64, wakers: &mut Vec<Waker>, driver: &Waker) -> u64 {
        let mut state = lock(&self.state);
        let state = &mut *state;
        self.reached.fetch_max(now, Ordering::AcqRel);
        while let Some(&Reverse((tick, slot))) = state.heap.peek() {
            let entry = state.slots.get_mut(slot).filter(|e| e.deadline == tick);
            match entry {
                Some(_) if tick > now => break,
                Some(entry) => {
                    entry.deadline = NEVER;
                    wakers.extend(entry.waker.take());
                }
                None => {} // stale
            }
            state.heap.pop();
        }
        // Stale entries far in the future are dropped when they pile up.
        if state.heap.len() > 2 * state.slots.live() + 1024 {
            let slots = &state.slots;
            state.heap.retain(|Reverse((tick, slot))| slots.get(*slot).is_some_and(|e| e.deadline == *tick));
        }
        let next = state.heap.peek().map_or(NEVER, |Reverse((tick, _))| *tick);
        let next = match std::mem::take(&mut state.busy) {
            true if next != NEVER => next.min(now.saturating_add(HEARTBEAT)),
            _ => next,
        };
        state.driver_due = next;
        match &mut state.driver {
            Some(w) => w.clone_from(driver),
            None => state.driver = Some(driver.clone()),
        }
        next
    }
}

/// Clears [`TimerQueue::alive`] when the driver is dropped.
struct Alive(Arc<TimerQueue>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::Release);
    }
}

/// The driver: wakes every slot whose deadline came, then sleeps until the
/// next one (and not at all while there is none, so that a paused test
/// clock is not advanced for nothing).
async fn drive(queue: Arc<TimerQueue>) {
    let alive = Alive(queue);
    let queue = &alive.0;
    // Inline, not boxed: the queue empties and fills again at every
    // connection on a quiet server, and each new sleep was an allocation.
    let mut sleep = pin!(None::<Sleep>);
    let mut wakers = Vec::new();
    poll_fn(|cx: &mut Context<'_>| loop {
        let now = queue.tick(Instant::now().into_std());
        let next = queue.fire(now, &mut wakers, cx.waker());
        wakers.drain(..).for_each(Waker::wake);
        if next == NEVER {
            sleep.set(None);
            return Poll::<()>::Pending;
        }
        let due = queue.base + Duration::from_nanos(next);
        match sleep.as_mut().as_pin_mut() {
            Some(s) if s.deadline() == due => {}
            Some(s) => s.reset(due),
            None => sleep.set(Some(sleep_until(due))),
        }
        let Some(sleeping) = sleep.as_mut().as_pin_mut() else { return Poll::Pending };
        if sleeping.poll(cx).is_pending() {
            return Poll::Pending;
        }
    })
    .await
}

#[cfg(test)]
impl TimerQueue {
    /// Deadlines set and not yet fired or skipped.
    pub(super) fn pending(&self) -> usize {
        lock(&self.state).heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn driver_due(queue: &TimerQueue) -> u64 {
        lock(&queue.state).driver_due
    }

    /// Lets the driver run until the paused clock reads `tick`.
    async fn run_until(queue: &TimerQueue, tick: u64) {
        tokio::time::sleep_until(queue.base + Duration::from_nanos(tick)).await;
        tokio::task::yield_now().await;
    }

    /// A busy queue's driver is never more than a heartbeat away, so that
    /// a deadline set ahead of the others (a closing handshake's) does not
    /// move its sleep, which would make tokio wake its own driver with a
    /// system call; once nothing is set for a heartbeat, it sleeps until
    /// the next deadline.
    #[tokio::test(start_paused = true)]
    async fn a_busy_queue_keeps_a_heartbeat_and_a_quiet_one_sleeps_to_its_deadline() {
        let queue = TimerQueue::current();
        let waker = futures_util::task::noop_waker_ref();
        let (keepalive, closing) = (queue.slot(), queue.slot());
        assert!(queue.arm(keepalive, 20 * SECOND, waker));
        tokio::task::yield_now().await;
        assert_eq!(driver_due(&queue), HEARTBEAT, "deadlines were set: a heartbeat first");
        assert!(queue.arm(closing, 5 * SECOND, waker));
        assert!(lock(&queue.state).driver.is_some(), "an earlier deadline beyond the heartbeat wakes nobody");
        run_until(&queue, HEARTBEAT + SECOND / 2).await;
        assert_eq!(driver_due(&queue), 2 * HEARTBEAT, "still busy at the heartbeat");
        run_until(&queue, 2 * HEARTBEAT + SECOND / 2).await;
        assert_eq!(driver_due(&queue), 5 * SECOND, "quiet: asleep until the earliest deadline");
        queue.release(closing);
        tokio::task::yield_now().await;
        assert_eq!(driver_due(&queue), 20 * SECOND, "the one it slept for went: the next one");
        queue.release(keepalive);
    }
}
