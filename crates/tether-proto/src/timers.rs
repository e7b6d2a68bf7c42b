//! Keepalive pings, the idle timeout and the closing deadline as sans-IO
//! state: every deadline is computed from the [`Instant`]s the IO layer
//! passes in, never from a clock read here (`Instant::now()` panics on
//! wasm32, and a test can drive time by hand).
//!
//! # Driving the timers
//!
//! The IO layer keeps one sleep per connection, in the manner of quinn's
//! `poll_timeout` / `handle_timeout`:
//!
//! ```text
//!   IO layer                                   Connection
//!   ────────                                   ──────────
//!   sleep until poll_timeout() ◄────────────── the earliest deadline
//!   woken: handle_timeout(now), until None ──► queues a ping, or a close,
//!                                              or reports a failure
//!   a read of 1+ bytes: on_bytes_received(now) (only while tracks_idle())
//!   Event::Pong(p):     handle_pong(&p, now)
//! ```
//!
//! `poll_timeout` moves only when a ping leaves, its pong arrives, a timer
//! fires or the closing handshake begins: not on every read, so an IO layer
//! that compares it with its sleep's deadline pays a few loads per message.
//!
//! # Timeline
//!
//! ```text
//!  start                    start + interval                  + timeout
//!  ──●──────────────────────────────●───────────────────────────●─────► now
//!    │                       ping n queued               no pong n yet:
//!    │                       (payload: n as u64,         KeepaliveTimeout, the
//!    │                        big-endian)                send queue is dropped
//!    │                              │
//!    │                              └─ pong n at t: rtt = t - sent;
//!    │                                 next ping at sent + interval
//!    │
//!    ├── idle: the last read of 1+ bytes ── idle timeout ──► close 1001 "idle timeout"
//!    │   (a read moves the start; the deadline is re-checked when it comes)
//!    │
//!    └── state leaves Open ── close timeout ──► CloseTimeout
//!        (armed by the first handle_timeout after that: poll_timeout says it is
//!         due at once; while not Open, keepalive and idle are not checked)
//! ```

use std::time::{Duration, Instant};

/// Which timers a connection runs. All off by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimerConfig {
    /// Send a ping after this long since the last one left (`None`: no keepalive).
    pub ping_interval: Option<Duration>,
    /// How long a keepalive ping may go unanswered before the peer counts as gone.
    pub ping_timeout: Duration,
    /// Close with 1001 "idle timeout" after this long without receiving a byte.
    pub idle_timeout: Option<Duration>,
    /// Bound on the closing handshake, counted from when the state leaves `Open`.
    pub close_timeout: Option<Duration>,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            ping_interval: None,
            ping_timeout: Duration::from_secs(20),
            idle_timeout: None,
            close_timeout: None,
        }
    }
}

impl TimerConfig {
    /// Sets the keepalive ping interval (`None`: no keepalive) and pong timeout.
    pub fn keepalive(mut self, interval: Option<Duration>, timeout: Duration) -> Self {
        self.ping_interval = interval;
        self.ping_timeout = timeout;
        self
    }

    /// Sets the idle timeout.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets the bound on the closing handshake.
    pub fn close_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.close_timeout = timeout;
        self
    }
}

/// What a timer did, as returned by [`Connection::handle_timeout`](crate::Connection::handle_timeout).
// Not `non_exhaustive`: an IO layer must answer every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerEvent {
    /// A keepalive ping with this payload was queued.
    Ping([u8; 8]),
    /// Nothing was received for this long: a close frame 1001 "idle
    /// timeout" was queued and the closing handshake runs.
    Idle(Duration),
    /// The keepalive ping went unanswered for `timeout`: the peer is
    /// unreachable. The send queue was dropped, since no closing handshake
    /// can complete: drop the connection.
    KeepaliveTimeout {
        /// The ping interval.
        interval: Duration,
        /// How long the pong was awaited.
        timeout: Duration,
    },
    /// The closing handshake did not end within this bound.
    CloseTimeout(Duration),
}

/// The timers of one connection.
#[derive(Debug)]
pub(crate) struct Timers {
    keepalive: Option<Keepalive>,
    idle: Option<Idle>,
    close_timeout: Option<Duration>,
    close_deadline: Option<Instant>,
    /// When the timers started: no later than any `now` to come, so
    /// [`poll_timeout`](Self::poll_timeout) answers it for "due at once".
    start: Instant,
}

#[derive(Debug)]
struct Keepalive {
    interval: Duration,
    timeout: Duration,
    /// The next ping, or, while one is in flight, the end of the wait for its pong.
    deadline: Instant,
    /// When the ping in flight left; its payload is `sent` in big-endian.
    outstanding: Option<Instant>,
    sent: u64,
    rtt: Option<Duration>,
}

#[derive(Debug)]
struct Idle {
    timeout: Duration,
    /// Re-armed from `last_received` when it comes, not on every read.
    deadline: Instant,
    last_received: Instant,
}

impl Timers {
    /// The timers of `config`, started at `now`; `None` if none is on.
    pub(crate) fn new(config: &TimerConfig, now: Instant) -> Option<Self> {
        let keepalive = config.ping_interval.map(|interval| Keepalive {
            interval,
            timeout: config.ping_timeout,
            deadline: now + interval,
            outstanding: None,
            sent: 0,
            rtt: None,
        });
        let idle = config.idle_timeout.map(|timeout| Idle { timeout, deadline: now + timeout, last_received: now });
        let timers = Timers { keepalive, idle, close_timeout: config.close_timeout, close_deadline: None, start: now };
        (timers.keepalive.is_some() || timers.idle.is_some() || timers.close_timeout.is_some()).then_some(timers)
    }

    /// The earliest deadline. `open`: the connection is in the `Open` state.
    pub(crate) fn poll_timeout(&self, open: bool) -> Option<Instant> {
        if open {
            let ping = self.keepalive.as_ref().map(|k| k.deadline);
            let idle = self.idle.as_ref().map(|i| i.deadline);
            return ping.into_iter().chain(idle).min();
        }
        match (self.close_deadline, self.close_timeout) {
            (Some(deadline), _) => Some(deadline),
            (None, Some(_)) => Some(self.start),
            (None, None) => None,
        }
    }

    /// The next timer due at `now`, with its state moved on; the caller
    /// carries out what it asks (send the ping, the close frame...).
    pub(crate) fn handle_timeout(&mut self, now: Instant, open: bool) -> Option<TimerEvent> {
        if !open {
            return self.closing(now);
        }
        if let Some(k) = self.keepalive.as_mut().filter(|k| now >= k.deadline) {
            if k.outstanding.is_some() {
                let (interval, timeout) = (k.interval, k.timeout);
                self.keepalive = None;
                return Some(TimerEvent::KeepaliveTimeout { interval, timeout });
            }
            k.sent += 1;
            k.outstanding = Some(now);
            k.deadline = now + k.timeout;
            return Some(TimerEvent::Ping(k.sent.to_be_bytes()));
        }
        if let Some(idle) = self.idle.as_mut().filter(|i| now >= i.deadline) {
            idle.deadline = idle.last_received + idle.timeout;
            if idle.deadline <= now {
                let timeout = idle.timeout;
                self.idle = None;
                return Some(TimerEvent::Idle(timeout));
            }
        }
        None
    }

    /// The closing deadline: armed on the first call, reported once when it passes.
    fn closing(&mut self, now: Instant) -> Option<TimerEvent> {
        let timeout = self.close_timeout?;
        match self.close_deadline {
            None => {
                self.close_deadline = Some(now + timeout);
                None
            }
            Some(deadline) if now >= deadline => {
                self.close_timeout = None;
                self.close_deadline = None;
                Some(TimerEvent::CloseTimeout(timeout))
            }
            Some(_) => None,
        }
    }

    /// Bytes arrived at `now`: the idle timeout counts from here.
    pub(crate) fn on_bytes_received(&mut self, now: Instant) {
        if let Some(idle) = &mut self.idle {
            idle.last_received = now;
        }
    }

    /// Whether reads must be reported (the idle timer runs).
    pub(crate) fn tracks_idle(&self) -> bool {
        self.idle.is_some()
    }

    /// A pong arrived at `now`; if it answers our ping, the peer is alive.
    pub(crate) fn handle_pong(&mut self, payload: &[u8], now: Instant) {
        let Some(k) = &mut self.keepalive else { return };
        if let Some(sent_at) = k.outstanding.filter(|_| payload == k.sent.to_be_bytes()) {
            k.rtt = Some(now.saturating_duration_since(sent_at));
            k.outstanding = None;
            k.deadline = sent_at + k.interval;
        }
    }

    /// Round-trip time of the last answered keepalive ping.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        self.keepalive.as_ref().and_then(|k| k.rtt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CloseCode, Config, Connection, Event, Role, State};
    use bytes::BytesMut;

    const S: Duration = Duration::from_secs(1);

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + S * secs as u32
    }

    /// A server with the given timers, and the frames it has queued.
    fn server(config: TimerConfig, t0: Instant) -> Connection {
        Connection::new(Role::Server, Config::default()).with_timers(config, t0)
    }

    fn queued(conn: &mut Connection) -> Vec<u8> {
        let out = conn.output();
        let bytes = out.first_chunk().to_vec();
        out.advance(bytes.len());
        bytes
    }

    /// A masked frame from the client, as the server receives it.
    fn from_client(opcode: u8, payload: &[u8]) -> BytesMut {
        let mut frame = BytesMut::from(&[0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0][..]);
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn pings_each_interval_and_measures_the_rtt() {
        let t0 = Instant::now();
        let mut conn = server(TimerConfig::default().keepalive(Some(20 * S), 10 * S), t0);
        assert_eq!(conn.poll_timeout(), Some(at(t0, 20)));
        assert_eq!(conn.handle_timeout(at(t0, 19)), None, "not due yet");
        assert_eq!(conn.handle_timeout(at(t0, 20)), Some(TimerEvent::Ping(1u64.to_be_bytes())));
        assert_eq!(queued(&mut conn), [&[0x89, 8][..], &1u64.to_be_bytes()].concat());
        assert_eq!(conn.poll_timeout(), Some(at(t0, 30)), "the pong is awaited");
        conn.handle_pong(b"unsolicited", at(t0, 21));
        assert_eq!(conn.rtt(), None);
        conn.handle_pong(&1u64.to_be_bytes(), at(t0, 20) + Duration::from_millis(30));
        assert_eq!(conn.rtt(), Some(Duration::from_millis(30)));
        assert_eq!(conn.poll_timeout(), Some(at(t0, 40)), "one interval after the last ping left");
        assert_eq!(conn.handle_timeout(at(t0, 41)), Some(TimerEvent::Ping(2u64.to_be_bytes())));
        assert_eq!(conn.poll_timeout(), Some(at(t0, 51)), "counted from when it left");
    }

    #[test]
    fn a_late_pong_is_a_keepalive_failure() {
        let t0 = Instant::now();
        let mut conn = server(TimerConfig::default().keepalive(Some(20 * S), 10 * S), t0);
        assert!(matches!(conn.handle_timeout(at(t0, 20)), Some(TimerEvent::Ping(_))));
        conn.send(crate::Message::Binary(vec![1; 10].into())).unwrap();
        let failed = TimerEvent::KeepaliveTimeout { interval: 20 * S, timeout: 10 * S };
        assert_eq!(conn.handle_timeout(at(t0, 30)), Some(failed));
        assert!(conn.output().is_empty(), "nothing more can reach the peer");
        conn.handle_pong(&1u64.to_be_bytes(), at(t0, 31));
        assert_eq!(conn.rtt(), None, "too late to count");
        assert_eq!(conn.handle_timeout(at(t0, 60)), None, "reported once");
    }

    #[test]
    fn idle_closes_with_1001_and_traffic_defers_it() {
        let t0 = Instant::now();
        let mut conn = server(TimerConfig::default().idle_timeout(Some(60 * S)), t0);
        assert!(conn.tracks_idle());
        conn.on_bytes_received(at(t0, 50));
        assert_eq!(conn.poll_timeout(), Some(at(t0, 60)), "reads do not move the deadline");
        assert_eq!(conn.handle_timeout(at(t0, 60)), None, "it is re-armed from the last read");
        assert_eq!(conn.poll_timeout(), Some(at(t0, 110)));
        assert_eq!(conn.handle_timeout(at(t0, 110)), Some(TimerEvent::Idle(60 * S)));
        assert_eq!(conn.state(), State::Closing);
        assert!(!conn.tracks_idle());
        let close = queued(&mut conn);
        assert_eq!(&close[..2], &[0x88, 14]);
        assert_eq!(close[2..4], CloseCode::GOING_AWAY.0.to_be_bytes());
        assert_eq!(&close[4..], b"idle timeout");
    }

    #[test]
    fn the_closing_handshake_is_bounded() {
        let t0 = Instant::now();
        let config = TimerConfig::default().keepalive(Some(20 * S), 10 * S).close_timeout(Some(5 * S));
        let mut conn = server(config, t0);
        assert_eq!(conn.poll_timeout(), Some(at(t0, 20)), "no closing deadline while open");
        conn.send_close(None).unwrap();
        assert!(conn.poll_timeout().is_some_and(|t| t <= at(t0, 3)), "due at once: to be armed");
        assert_eq!(conn.handle_timeout(at(t0, 3)), None);
        assert_eq!(conn.poll_timeout(), Some(at(t0, 8)), "keepalive no longer counts");
        assert_eq!(conn.handle_timeout(at(t0, 7)), None);
        assert_eq!(conn.handle_timeout(at(t0, 8)), Some(TimerEvent::CloseTimeout(5 * S)));
        assert_eq!(conn.poll_timeout(), None);
        assert_eq!(conn.handle_timeout(at(t0, 20)), None, "reported once");
    }

    #[test]
    fn the_closing_deadline_runs_after_the_peer_closes_too() {
        let t0 = Instant::now();
        let mut conn = server(TimerConfig::default().close_timeout(Some(5 * S)), t0);
        assert_eq!(conn.poll_timeout(), None, "nothing to wait for while open");
        let mut input = from_client(0x8, &1000u16.to_be_bytes());
        assert!(matches!(conn.read_event(&mut input), Ok(Some(Event::Close(_)))));
        assert_eq!(conn.handle_timeout(at(t0, 1)), None);
        assert_eq!(conn.poll_timeout(), Some(at(t0, 6)));
        conn.stop_timers();
        assert_eq!(conn.poll_timeout(), None);
    }

    #[test]
    fn no_timers_no_state() {
        let t0 = Instant::now();
        let mut conn = server(TimerConfig::default(), t0);
        assert_eq!(conn.poll_timeout(), None);
        assert_eq!(conn.handle_timeout(at(t0, 1000)), None);
        assert!(!conn.tracks_idle());
        let mut input = from_client(0x9, b"hi");
        assert_eq!(conn.read_event(&mut input), Ok(Some(Event::Ping(bytes::Bytes::from_static(b"hi")))));
    }
}
