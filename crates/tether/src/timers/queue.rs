//! The timer queue the connections of one tokio runtime share: one
//! deadline and one waker per connection in a table, woken by a single
//! task that sleeps until the earliest deadline. A tokio `Sleep` per
//! connection costs about 130 bytes of heap each (its timer entry, boxed);
//! a slot here about 40, and no allocation of its own.
//!
//! The driver sleeps on tokio's clock, so a paused test clock
//! (`tokio::time::pause`) moves these deadlines as it moves any sleep, and
//! each deadline fires at its exact instant (to tokio's millisecond).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::{sleep_until, Instant, Sleep};

use crate::slots::Slots;

/// No deadline, for a tick field.
pub(super) const NEVER: u64 = u64::MAX;

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

    /// Wakes the slots due at `now`; returns the next deadline.
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
    let mut sleep: Option<Pin<Box<Sleep>>> = None;
    let mut wakers = Vec::new();
    poll_fn(|cx: &mut Context<'_>| loop {
        let now = queue.tick(Instant::now().into_std());
        let next = queue.fire(now, &mut wakers, cx.waker());
        wakers.drain(..).for_each(Waker::wake);
        if next == NEVER {
            sleep = None;
            return Poll::<()>::Pending;
        }
        let due = queue.base + Duration::from_nanos(next);
        let sleeping = match &mut sleep {
            Some(s) => {
                if s.deadline() != due {
                    s.as_mut().reset(due);
                }
                s
            }
            None => sleep.insert(Box::pin(sleep_until(due))),
        };
        if sleeping.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
    })
    .await
}
