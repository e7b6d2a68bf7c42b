//! Keepalive pings, dead-peer detection, the idle timeout and the server's
//! shutdown signal: what a connection waits for besides the socket, kept
//! here so the protocol engine stays clock-free.
//!
//! Each one is cheap to check when nothing happened ([`may_be_due`]), so
//! the connection only polls (and re-registers) them when one may have
//! fired or the task's waker changed: polling a timer per message costs
//! more than the rest of the receive path.
//!
//! [`may_be_due`]: Keepalive::may_be_due

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{sleep_until, Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// What a timer asks the connection to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Send a keepalive ping with this payload.
    Ping([u8; 8]),
    /// The ping went unanswered for the whole timeout: the peer is gone.
    PeerDead,
    /// Nothing arrived for the whole idle timeout.
    Idle,
}

/// Sends a ping every `interval`; the peer must answer within `timeout`.
#[derive(Debug)]
pub(crate) struct Keepalive {
    interval: Duration,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    /// `sleep` was polled since its deadline last changed.
    armed: bool,
    /// When the ping in flight left; its payload is `sent` in big-endian.
    outstanding: Option<Instant>,
    sent: u64,
    rtt: Option<Duration>,
}

impl Keepalive {
    pub(crate) fn new(interval: Duration, timeout: Duration) -> Self {
        Keepalive {
            interval,
            timeout,
            sleep: Box::pin(sleep_until(Instant::now() + interval)),
            armed: false,
            outstanding: None,
            sent: 0,
            rtt: None,
        }
    }

    /// False while the timer is registered and has not fired: polling it
    /// again with the same waker would change nothing.
    pub(crate) fn may_be_due(&self) -> bool {
        !self.armed || self.sleep.is_elapsed()
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Due> {
        self.armed = true;
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if self.outstanding.is_some() {
            return Poll::Ready(Due::PeerDead);
        }
        self.sent += 1;
        let payload = self.sent.to_be_bytes();
        let now = Instant::now();
        self.outstanding = Some(now);
        self.sleep.as_mut().reset(now + self.timeout);
        // Register the new deadline with the runtime.
        let _ = self.sleep.as_mut().poll(cx);
        Poll::Ready(Due::Ping(payload))
    }

    /// A pong arrived; if it answers our ping, the peer is alive.
    pub(crate) fn on_pong(&mut self, payload: &[u8]) {
        if let Some(sent_at) = self.outstanding {
            if payload == self.sent.to_be_bytes() {
                self.rtt = Some(sent_at.elapsed());
                self.outstanding = None;
                self.sleep.as_mut().reset(sent_at + self.interval);
                self.armed = false;
            }
        }
    }

    /// Round-trip time of the last answered ping.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    pub(crate) fn interval_and_timeout(&self) -> (Duration, Duration) {
        (self.interval, self.timeout)
    }
}

/// Fires when nothing has been received for `timeout`. Activity only moves a
/// timestamp; the timer is re-armed when it fires, not on every read.
#[derive(Debug)]
pub(crate) struct IdleTimer {
    timeout: Duration,
    last_activity: Instant,
    sleep: Pin<Box<Sleep>>,
    armed: bool,
}

impl IdleTimer {
    pub(crate) fn new(timeout: Duration) -> Self {
        let now = Instant::now();
        IdleTimer { timeout, last_activity: now, sleep: Box::pin(sleep_until(now + timeout)), armed: false }
    }

    /// As [`Keepalive::may_be_due`].
    pub(crate) fn may_be_due(&self) -> bool {
        !self.armed || self.sleep.is_elapsed()
    }

    pub(crate) fn touch(&mut self) {
        self.last_activity = Instant::now();
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Due> {
        self.armed = true;
        loop {
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let deadline = self.last_activity + self.timeout;
            if deadline <= Instant::now() {
                return Poll::Ready(Due::Idle);
            }
            self.sleep.as_mut().reset(deadline);
        }
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// A server's shutdown signal: the token wakes every connection, the flag
/// lets each check it with one atomic load instead of locking the token.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shutdown {
    token: CancellationToken,
    fired: Arc<AtomicBool>,
}

impl Shutdown {
    pub(crate) fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        self.token.cancel();
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    pub(crate) async fn fired(&self) {
        self.token.cancelled().await
    }

    pub(crate) fn watch(&self) -> ShutdownWatch {
        ShutdownWatch { signal: self.clone(), wait: Box::pin(self.token.clone().cancelled_owned()) }
    }
}

/// One connection's view of the [`Shutdown`] signal.
#[derive(Debug)]
pub(crate) struct ShutdownWatch {
    signal: Shutdown,
    wait: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl ShutdownWatch {
    /// As [`Keepalive::may_be_due`] (the future registers the waker when polled).
    pub(crate) fn may_be_due(&self) -> bool {
        self.signal.is_fired()
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.wait.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    #[tokio::test(start_paused = true)]
    async fn keepalive_pings_then_declares_the_peer_dead() {
        let mut k = Keepalive::new(Duration::from_secs(20), Duration::from_secs(10));
        let start = Instant::now();
        let Due::Ping(first) = poll_fn(|cx| k.poll(cx)).await else { panic!() };
        assert_eq!(start.elapsed(), Duration::from_secs(20));
        tokio::time::advance(Duration::from_millis(30)).await;
        k.on_pong(&first);
        assert_eq!(k.rtt(), Some(Duration::from_millis(30)));
        let Due::Ping(second) = poll_fn(|cx| k.poll(cx)).await else { panic!() };
        assert_ne!(first, second);
        assert_eq!(start.elapsed(), Duration::from_secs(40), "next ping one interval after the last");
        k.on_pong(b"unsolicited"); // ignored
        assert_eq!(poll_fn(|cx| k.poll(cx)).await, Due::PeerDead);
        assert_eq!(start.elapsed(), Duration::from_secs(50));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_timer_counts_from_the_last_activity() {
        let mut idle = IdleTimer::new(Duration::from_secs(60));
        let start = Instant::now();
        tokio::time::advance(Duration::from_secs(50)).await;
        idle.touch();
        assert_eq!(poll_fn(|cx| idle.poll(cx)).await, Due::Idle);
        assert_eq!(start.elapsed(), Duration::from_secs(110));
    }
}
