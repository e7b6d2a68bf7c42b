//! What a connection waits for besides the socket: the alarm that drives
//! the protocol engine's timers (keepalive, idle timeout, closing deadline,
//! all decided in `tether_proto` from the instants passed in), a slot in
//! the timer queue its runtime shares (`queue`), the clock those instants
//! come from, and the server's shutdown signal.
//!
//! Each is cheap to check when nothing happened ([`Alarm::may_be_due`]),
//! so the connection only polls (and re-registers) them when one may have
//! fired or the task's waker changed: polling a timer per message costs
//! more than the rest of the receive path.

mod queue;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::slots::Slots;
use queue::{TimerQueue, NEVER};

/// The time to hand the protocol engine: tokio's clock, so that a paused
/// test clock drives the timers as it drives the sleep.
pub(crate) fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// One connection's alarm, set to the engine's next deadline
/// (`Connection::poll_timeout`): a slot in its runtime's [`TimerQueue`],
/// taken at the first deadline.
#[derive(Debug)]
pub(crate) struct Alarm {
    queue: Option<Arc<TimerQueue>>,
    slot: u32,
    /// The tick the slot was last set to ([`NEVER`]: none).
    armed: u64,
}

impl Default for Alarm {
    fn default() -> Self {
        Alarm { queue: None, slot: 0, armed: NEVER }
    }
}

impl Alarm {
    /// False while the alarm is set for `due` and it has not fired:
    /// polling it again with the same waker would change nothing.
    pub(crate) fn may_be_due(&self, due: Option<std::time::Instant>) -> bool {
        match (&self.queue, due) {
            (None, due) => due.is_some(),
            (Some(_), None) => self.armed != NEVER,
            (Some(queue), Some(due)) => queue.tick(due) != self.armed || queue.reached(self.armed),
        }
    }

    /// True when the alarm is not set (first use, or the deadline it had
    /// has been run) or has fired: then, even for a deadline that has not
    /// moved, polling it may do something.
    pub(crate) fn unset_or_fired(&self) -> bool {
        match &self.queue {
            Some(queue) => self.armed == NEVER || queue.reached(self.armed),
            None => true,
        }
    }

    /// Sets the alarm to `due` and polls it: ready once `due` has passed,
    /// pending for ever when there is no deadline.
    pub(crate) fn poll(&mut self, due: Option<std::time::Instant>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(due) = due else {
            self.disarm(cx);
            return Poll::Pending;
        };
        if due <= now() {
            self.disarm(cx);
            return Poll::Ready(());
        }
        if !self.queue.as_ref().is_some_and(|q| q.is_alive()) {
            // First use, or the runtime it was set on is gone.
            if let Some(old) = self.queue.take() {
                old.release(self.slot);
            }
            let queue = TimerQueue::current();
            self.slot = queue.slot();
            self.armed = NEVER;
            self.queue = Some(queue);
        }
        let Some(queue) = &self.queue else { return Poll::Pending };
        self.armed = queue.tick(due);
        match queue.arm(self.slot, self.armed, cx.waker()) {
            true => Poll::Pending,
            false => Poll::Ready(()),
        }
    }

    /// Clears a deadline that has not fired, so that it wakes nobody.
    fn disarm(&mut self, cx: &Context<'_>) {
        if let Some(queue) = self.queue.as_ref().filter(|q| self.armed != NEVER && !q.reached(self.armed)) {
            queue.arm(self.slot, NEVER, cx.waker());
        }
        self.armed = NEVER;
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        if let Some(queue) = &self.queue {
            queue.release(self.slot);
        }
    }
}

/// A server's shutdown signal: the token wakes the accept loop, the flag
/// lets each connection check it with one atomic load, and each open
/// connection leaves its waker in a table instead of holding a future on
/// the token (about 70 bytes less per idle connection).
#[derive(Clone, Debug, Default)]
pub(crate) struct Shutdown {
    inner: Arc<ShutdownInner>,
}

#[derive(Debug, Default)]
struct ShutdownInner {
    token: CancellationToken,
    fired: AtomicBool,
    waiters: Mutex<Waiters>,
}

/// The wakers of the connections watching a [`Shutdown`]: an entry each,
/// reused once its connection is gone.
type Waiters = Slots<Option<Waker>>;

impl Shutdown {
    pub(crate) fn fire(&self) {
        self.inner.fired.store(true, Ordering::Release);
        self.inner.token.cancel();
        let wakers: Vec<Waker> = {
            let mut waiters = self.inner.lock();
            waiters.iter_mut().filter_map(Option::take).collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    pub(crate) async fn fired(&self) {
        self.inner.token.cancelled().await
    }

    pub(crate) fn watch(&self) -> ShutdownWatch {
        let slot = self.inner.lock().insert(None);
        ShutdownWatch { signal: self.inner.clone(), slot }
    }
}

impl ShutdownInner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One connection's view of the [`Shutdown`] signal: its slot in the table.
#[derive(Debug)]
pub(crate) struct ShutdownWatch {
    signal: Arc<ShutdownInner>,
    slot: u32,
}

impl ShutdownWatch {
    /// As [`Alarm::may_be_due`]: false while the signal has not fired (the
    /// waker left at the last poll will be woken when it does).
    pub(crate) fn may_be_due(&self) -> bool {
        self.signal.fired.load(Ordering::Acquire)
    }

    /// Ready once the signal fired; else leaves `cx`'s waker in the slot.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.may_be_due() {
            return Poll::Ready(());
        }
        let mut waiters = self.signal.lock();
        if let Some(slot) = waiters.get_mut(self.slot) {
            match slot {
                Some(waker) => waker.clone_from(cx.waker()),
                None => *slot = Some(cx.waker().clone()),
            }
        }
        drop(waiters);
        // Fired between the check and the registration: the waker may have been missed.
        if self.may_be_due() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for ShutdownWatch {
    fn drop(&mut self) {
        let mut waiters = self.signal.lock();
        if let Some(slot) = waiters.get_mut(self.slot) {
            *slot = None;
            waiters.remove(self.slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use std::future::poll_fn;
    use std::time::Duration;
    use tether_proto::{CloseCode, Role};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn the_alarm_follows_the_deadline_it_is_given() {
        let mut alarm = Alarm::default();
        let start = now();
        assert!(!alarm.may_be_due(None), "no deadline, nothing to poll");
        assert!(alarm.unset_or_fired(), "not set yet");
        let due = Some(start + Duration::from_secs(20));
        assert!(alarm.may_be_due(due));
        poll_fn(|cx| alarm.poll(due, cx)).await;
        assert_eq!(now() - start, Duration::from_secs(20));
        assert!(alarm.may_be_due(due), "fired");
        let later = Some(now() + Duration::from_secs(10));
        assert!(poll_fn(|cx| Poll::Ready(alarm.poll(later, cx))).await.is_pending());
        assert!(!alarm.may_be_due(later), "registered and not fired");
        assert!(!alarm.unset_or_fired());
        assert!(alarm.may_be_due(Some(start)), "a moved deadline is polled");
        poll_fn(|cx| alarm.poll(later, cx)).await;
        assert_eq!(now() - start, Duration::from_secs(30));
        assert!(alarm.unset_or_fired(), "fired");
    }

    #[tokio::test]
    async fn a_shutdown_wakes_every_watcher_and_reuses_slots() {
        let shutdown = Shutdown::default();
        let mut first = shutdown.watch();
        let second = shutdown.watch();
        assert_eq!((first.slot, second.slot), (0, 1));
        drop(second);
        let mut third = shutdown.watch();
        assert_eq!(third.slot, 1, "a closed connection's slot is reused");
        assert!(poll_fn(|cx| Poll::Ready(first.poll(cx))).await.is_pending());
        let waiting = tokio::spawn(async move { poll_fn(|cx| third.poll(cx)).await });
        tokio::task::yield_now().await;
        assert!(!first.may_be_due());
        shutdown.fire();
        assert!(first.may_be_due());
        waiting.await.unwrap();
        poll_fn(|cx| first.poll(cx)).await;
        assert_eq!(shutdown.inner.lock().iter().flatten().count(), 0, "every waker was taken");
    }

    /// A connection over an in-memory pipe, and the peer's end of it.
    fn pipe(role: Role, config: crate::Config) -> (crate::WebSocket<tokio::io::DuplexStream>, tokio::io::DuplexStream) {
        let (peer, io) = tokio::io::duplex(4096);
        let ws = crate::WebSocket::from_parts(io, role, BytesMut::new(), config, None, None);
        (ws, peer)
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswered_close_times_out() {
        let (mut ws, _peer) = pipe(Role::Server, crate::Config::default().keepalive(None, Duration::from_secs(1)));
        let start = now();
        let end = ws.close(CloseCode::NORMAL, "bye").await;
        assert!(matches!(end, Err(crate::Error::CloseTimeout(t)) if t == Duration::from_secs(5)), "{end:?}");
        assert_eq!(now() - start, Duration::from_secs(5));
    }

    /// A server whose close completes at once (the client's close frame
    /// read, the echo written, TCP shut down, all in one poll) sets no
    /// closing deadline: none was needed, and setting one costs a lock and
    /// may move the queue's sleep.
    #[tokio::test(start_paused = true)]
    async fn a_close_that_completes_at_once_sets_no_deadline() {
        let (mut ws, mut peer) = pipe(Role::Server, crate::Config::default().keepalive(None, Duration::from_secs(1)));
        // A close frame with code 1000, masked with key 0.
        peer.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]).await.unwrap();
        assert!(ws.next_message().await.is_none(), "a clean close");
        let mut echo = [0; 4];
        peer.read_exact(&mut echo).await.unwrap();
        assert_eq!(echo, [0x88, 2, 0x03, 0xe8], "the close echoed");
        assert_eq!(queue::TimerQueue::current().pending(), 0, "no deadline was set");
    }

    /// The client waits for the server to close TCP, for the close timeout
    /// at most: once both close frames are exchanged, that is no error.
    #[tokio::test(start_paused = true)]
    async fn a_server_slow_to_close_tcp_is_no_error() {
        let (mut ws, mut peer) = pipe(Role::Client, crate::Config::default().close_timeout(Duration::from_secs(3)));
        let server = tokio::spawn(async move {
            let mut close = [0; 11]; // masked: 2 + 4 (key) + 2 (code) + 3 ("bye")
            peer.read_exact(&mut close).await.unwrap();
            peer.write_all(&[0x88, 2, 0x03, 0xe8]).await.unwrap();
            peer // kept open
        });
        let start = now();
        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
        assert_eq!(now() - start, Duration::from_secs(3));
        assert_eq!(ws.close_code(), Some(CloseCode::NORMAL));
        drop(server.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn keepalive_pings_on_time_and_measures_the_rtt() {
        let interval = Duration::from_secs(20);
        let (mut ws, mut peer) =
            pipe(Role::Server, crate::Config::default().keepalive(Some(interval), Duration::from_secs(10)));
        let start = now();
        let reader = tokio::spawn(async move {
            let mut ping = [0; 10];
            peer.read_exact(&mut ping).await.unwrap();
            let sent = now();
            tokio::time::sleep(Duration::from_millis(30)).await;
            // The pong, masked with key 0.
            let mut pong = vec![0x8a, 0x88, 0, 0, 0, 0];
            pong.extend_from_slice(&ping[2..]);
            peer.write_all(&pong).await.unwrap();
            peer.read_exact(&mut ping).await.unwrap();
            (sent, now(), ping, peer)
        });
        let reading = tokio::time::timeout(Duration::from_secs(45), ws.next_message()).await;
        assert!(reading.is_err(), "nothing to read: {reading:?}");
        let (first, second, ping, _peer) = reader.await.unwrap();
        assert_eq!(first - start, interval);
        assert_eq!(second - first, interval, "one interval after the last ping left");
        assert_eq!(ping, [0x89, 8, 0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(ws.rtt(), Some(Duration::from_millis(30)));
        let end = ws.next_message().await;
        assert!(matches!(end, Some(Err(crate::Error::KeepaliveTimeout { .. }))), "{end:?}");
        assert_eq!(now() - second, Duration::from_secs(10), "the second ping went unanswered");
    }
}
