//! The wakers of every task waiting to write on a split connection: the
//! transport keeps only one write waker, so one that wakes them all is
//! handed to it.

use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

/// Wakers of every task waiting to write on a split connection.
#[derive(Default, Debug)]
pub(super) struct WakerSet(Mutex<Vec<Waker>>);

impl WakerSet {
    /// Adds `waker` and returns the waker that wakes them all.
    pub(super) fn register(self: &Arc<Self>, waker: &Waker) -> Waker {
        let mut wakers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
        Waker::from(self.clone())
    }
}

impl Wake for WakerSet {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in wakers {
            waker.wake();
        }
    }
}
