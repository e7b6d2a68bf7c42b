//! Timers from the page's event loop: a one-shot [`Sleep`] future and the
//! `setTimeout` / `clearTimeout` bindings, written by hand so they work in a
//! window and in a worker alike (web-sys binds them on `Window` only).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

#[wasm_bindgen]
extern "C" {
    /// The global `setTimeout`: calls `handler` once after `ms` milliseconds.
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, ms: i32) -> JsValue;
    /// The global `clearTimeout`.
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// Milliseconds for `setTimeout`, which takes a 32-bit signed count.
fn millis(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}

/// Calls `callback` after `delay`; returns the id for [`cancel`].
pub(super) fn schedule(callback: &Closure<dyn FnMut()>, delay: Duration) -> JsValue {
    set_timeout(callback.as_ref().unchecked_ref(), millis(delay))
}

/// Cancels a call [`schedule`] arranged (nothing happens if it already ran).
pub(super) fn cancel(id: &JsValue) {
    clear_timeout(id);
}

/// What the timer's callback shares with the future.
#[derive(Default)]
struct Flag {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// A future that completes after a delay. Dropping it clears the timer
/// before its callback, so the callback never runs after the closure is freed.
pub(crate) struct Sleep {
    flag: Rc<Flag>,
    id: JsValue,
    // Kept alive until the timer fired or was cleared.
    _callback: Closure<dyn FnMut()>,
}

impl Sleep {
    /// Starts a timer of `delay`.
    pub(super) fn new(delay: Duration) -> Sleep {
        let flag = Rc::new(Flag::default());
        let shared = flag.clone();
        let callback = Closure::<dyn FnMut()>::new(move || {
            shared.fired.set(true);
            if let Some(waker) = shared.waker.borrow_mut().take() {
                waker.wake();
            }
        });
        let id = schedule(&callback, delay);
        Sleep { flag, id, _callback: callback }
    }
}

/// A future that completes after `delay` (the reconnecting client's backoff).
pub(crate) fn sleep(delay: Duration) -> Sleep {
    Sleep::new(delay)
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.flag.fired.get() {
            return Poll::Ready(());
        }
        *self.flag.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if !self.flag.fired.get() {
            cancel(&self.id);
        }
    }
}
