//! What the reconnecting client needs of a runtime, per target: a task to
//! run on, a sleep, a clock and a random number for the jitter. tokio
//! natively; in the browser, `spawn_local`, `setTimeout`, `Date.now()` and
//! `Math.random()`.

use std::future::Future;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use tokio::time::{sleep, Instant};

#[cfg(target_arch = "wasm32")]
pub(crate) use browser::{sleep, Instant};

/// Runs `task` in the background (a tokio runtime must be running).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    tokio::spawn(task);
}

/// Runs `task` on the page's event loop.
#[cfg(target_arch = "wasm32")]
pub(crate) fn spawn(task: impl Future<Output = ()> + 'static) {
    wasm_bindgen_futures::spawn_local(task);
}

/// A number in [0, 1).
pub(crate) fn random() -> f64 {
    #[cfg(not(target_arch = "wasm32"))]
    return fastrand::f64();
    #[cfg(target_arch = "wasm32")]
    return js_sys::Math::random();
}

/// The browser's side: `std::time::Instant` panics on wasm32-unknown-unknown.
#[cfg(target_arch = "wasm32")]
mod browser {
    use std::time::Duration;

    pub(crate) use crate::wasm::sleep;

    /// A point in time, in the milliseconds of `Date.now()`.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Instant(f64);

    impl Instant {
        /// Now.
        pub(crate) fn now() -> Instant {
            Instant(js_sys::Date::now())
        }

        /// The time since this instant (zero if the clock went back).
        pub(crate) fn elapsed(&self) -> Duration {
            Duration::from_secs_f64(((js_sys::Date::now() - self.0) / 1000.0).max(0.0))
        }
    }
}
