//! Keepalive pings, the idle timeout and the closing deadline as sans-IO
//! state: every deadline is computed from the [`Instant`]s the IO layer
//! passes in, never from a clock read here (`Instant::now()` panics on
//! wasm32, and a test can drive time by hand).
//!
//! # Driving the timers
//!
//! The IO layer keeps one alarm per connection (a sleep of its own, or a
//! slot in a timer that many connections share, as tether does), in the
//! manner of quinn's `poll_timeout` / `handle_timeout`:
//!
//! ```text
//!   IO layer                                   Connection
//!   ────────                                   ──────────
//!   alarm at poll_timeout() ◄───────────────── the earliest deadline
//!   woken: handle_timeout(now), until None ──► queues a ping, or a close,
//!                                              or reports a failure
//!   a read of 1+ bytes: on_bytes_received(now) (only while tracks_idle())
//!   Event::Pong(p):     handle_pong(&p, now) -> answered our keepalive ping?
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

/// The timers of one connection, compactly: the durations are in the
/// shared [`TimerConfig`] (passed to each call), every instant is kept as
/// nanoseconds since `start`, 8 bytes each instead of 16, with [`NEVER`]
/// for "off" or "none", and the end of the wait for a pong is computed from
/// when the ping left (64 bytes against 184 with `Instant`s, `Option`s and
/// the durations: every idle connection carries this). Exact to the
/// nanosecond, and no wrap for 584 years.
#[derive(Debug)]
pub(crate) struct Timers {
    /// When the timers started: no later than any `now` to come, so
    /// [`poll_timeout`](Self::poll_timeout) answers it for "due at once".
    start: Instant,
    /// The next ping, or, while one is in flight, when it left ([`NEVER`]:
    /// no keepalive, or it failed).
    ping_at: u64,
    /// The round-trip time of the last answered ping ([`NEVER`]: none yet).
    rtt: u64,
    /// When the idle timeout is next checked ([`NEVER`]: off, or it
    /// fired); re-armed from `last_received` when it comes, not on every read.
    idle_deadline: u64,
    last_received: u64,
    /// The closing deadline once armed ([`NEVER`]: not yet, [`REPORTED`]: it passed).
    close_deadline: u64,
    /// Keepalive pings sent; the payload of the last is this number as a
    /// big-endian `u64` (a `u32` wraps after 2,700 years of 20 s pings).
    pings_sent: u32,
    /// A ping is in flight: `ping_at` is when it left.
    in_flight: bool,
}

/// "Off", "none" or "not yet", for a field of [`Timers`].
const NEVER: u64 = u64::MAX;

/// The closing deadline passed and was reported.
const REPORTED: u64 = u64::MAX - 1;

/// A duration in nanoseconds, saturating (a bound beyond 584 years is no bound).
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(NEVER)
}

/// A field of [`Timers`] that may be [`NEVER`].
fn set(value: u64) -> Option<u64> {
    (value != NEVER).then_some(value)
}

impl Timers {
    /// The timers of `config`, started at `now`; `None` if none is on.
    pub(crate) fn new(config: &TimerConfig, now: Instant) -> Option<Self> {
        let timers = Timers {
            start: now,
            ping_at: config.ping_interval.map_or(NEVER, nanos),
            rtt: NEVER,
            idle_deadline: config.idle_timeout.map_or(NEVER, nanos),
            last_received: 0,
            close_deadline: NEVER,
            pings_sent: 0,
            in_flight: false,
        };
        (config.ping_interval.is_some() || config.idle_timeout.is_some() || config.close_timeout.is_some())
            .then_some(timers)
    }

    /// `now` as nanoseconds since the start.
    fn tick(&self, now: Instant) -> u64 {
        nanos(now.saturating_duration_since(self.start))
    }

    /// The instant of a tick; `None` for [`NEVER`] or beyond what `Instant` holds.
    fn instant(&self, tick: u64) -> Option<Instant> {
        self.start.checked_add(Duration::from_nanos(set(tick)?))
    }

    /// The next ping, or, while one is in flight, the end of the wait for its pong.
    fn ping_deadline(&self, config: &TimerConfig) -> u64 {
        match self.in_flight {
            true => self.ping_at.saturating_add(nanos(config.ping_timeout)),
            false => self.ping_at,
        }
    }

    /// The earliest deadline. `open`: the connection is in the `Open` state.
    pub(crate) fn poll_timeout(&self, config: &TimerConfig, open: bool) -> Option<Instant> {
        if open {
            return self.instant(self.ping_deadline(config).min(self.idle_deadline));
        }
        config.close_timeout?;
        match self.close_deadline {
            REPORTED => None,
            NEVER => Some(self.start),
            deadline => self.instant(deadline),
        }
    }

    /// The next timer due at `now`, with its state moved on; the caller
    /// carries out what it asks (send the ping, the close frame...).
    pub(crate) fn handle_timeout(&mut self, config: &TimerConfig, now: Instant, open: bool) -> Option<TimerEvent> {
        let now = self.tick(now);
        if !open {
            return self.closing(config, now);
        }
        if let Some(interval) = config.ping_interval.filter(|_| now >= self.ping_deadline(config)) {
            if self.in_flight {
                // Keepalive is over: no more pings, and no late pong counts.
                (self.ping_at, self.in_flight, self.rtt) = (NEVER, false, NEVER);
                return Some(TimerEvent::KeepaliveTimeout { interval, timeout: config.ping_timeout });
            }
            self.pings_sent = self.pings_sent.wrapping_add(1);
            (self.ping_at, self.in_flight) = (now, true);
            return Some(TimerEvent::Ping(u64::from(self.pings_sent).to_be_bytes()));
        }
        if let Some(timeout) = config.idle_timeout.filter(|_| now >= self.idle_deadline) {
            self.idle_deadline = self.last_received.saturating_add(nanos(timeout));
            if self.idle_deadline <= now {
                self.idle_deadline = NEVER;
                return Some(TimerEvent::Idle(timeout));
            }
        }
        None
    }

    /// The closing deadline: armed on the first call, reported once when it passes.
    fn closing(&mut self, config: &TimerConfig, now: u64) -> Option<TimerEvent> {
        let timeout = config.close_timeout?;
        match self.close_deadline {
            REPORTED => None,
            NEVER => {
                self.close_deadline = now.saturating_add(nanos(timeout)).min(REPORTED - 1);
                None
            }
            deadline if now >= deadline => {
                self.close_deadline = REPORTED;
                Some(TimerEvent::CloseTimeout(timeout))
            }
            _ => None,
        }
    }

    /// Bytes arrived at `now`: the idle timeout counts from here.
    pub(crate) fn on_bytes_received(&mut self, now: Instant) {
        if self.idle_deadline != NEVER {
            self.last_received = self.tick(now);
        }
    }

    /// Whether reads must be reported (the idle timer runs).
    pub(crate) fn tracks_idle(&self) -> bool {
        self.idle_deadline != NEVER
    }

    /// A pong arrived at `now`; if it answers our ping, the peer is alive.
    pub(crate) fn handle_pong(&mut self, config: &TimerConfig, payload: &[u8], now: Instant) -> bool {
        let Some(interval) = config.ping_interval else { return false };
        if !self.in_flight || payload != u64::from(self.pings_sent).to_be_bytes() {
            return false;
        }
        let sent_at = self.ping_at;
        self.rtt = self.tick(now).saturating_sub(sent_at);
        self.in_flight = false;
        self.ping_at = sent_at.saturating_add(nanos(interval));
        true
    }

    /// Round-trip time of the last answered keepalive ping.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        set(self.rtt).map(Duration::from_nanos)
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
        assert!(!conn.handle_pong(b"unsolicited", at(t0, 21)), "not an answer to the keepalive ping");
        assert_eq!(conn.rtt(), None);
        assert!(conn.handle_pong(&1u64.to_be_bytes(), at(t0, 20) + Duration::from_millis(30)));
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
        assert!(!conn.handle_pong(&1u64.to_be_bytes(), at(t0, 31)), "too late to count");
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
    fn instants_are_kept_exactly_and_huge_bounds_do_not_overflow() {
        let t0 = Instant::now();
        let mut conn = server(TimerConfig::default().keepalive(Some(S), S).idle_timeout(Some(Duration::MAX)), t0);
        assert!(matches!(conn.handle_timeout(at(t0, 1)), Some(TimerEvent::Ping(_))));
        conn.handle_pong(&1u64.to_be_bytes(), at(t0, 1) + Duration::from_nanos(83_417));
        assert_eq!(conn.rtt(), Some(Duration::from_nanos(83_417)), "a loopback round trip, to the nanosecond");
        assert_eq!(conn.poll_timeout(), Some(at(t0, 2)), "an idle bound of Duration::MAX never comes");
        conn.on_bytes_received(at(t0, 2));
        assert!(matches!(conn.handle_timeout(at(t0, 2)), Some(TimerEvent::Ping(_))));
        assert_eq!(conn.handle_timeout(at(t0, 2)), None);
        assert!(std::mem::size_of::<Option<Timers>>() <= 64, "every idle connection carries it");
    }

    #[test]
    fn a_pong_awaited_forever_never_fails_and_the_rtt_stays_exact() {
        let t0 = Instant::now();
        let mut conn = server(TimerConfig::default().keepalive(Some(S), Duration::MAX), t0);
        assert!(matches!(conn.handle_timeout(at(t0, 1)), Some(TimerEvent::Ping(_))));
        assert_eq!(conn.poll_timeout(), None, "no end to the wait");
        assert_eq!(conn.handle_timeout(at(t0, 1_000_000)), None);
        conn.handle_pong(&1u64.to_be_bytes(), at(t0, 1) + Duration::from_nanos(5));
        assert_eq!(conn.rtt(), Some(Duration::from_nanos(5)));
        assert_eq!(conn.poll_timeout(), Some(at(t0, 2)));
    }

    #[test]
    fn connections_share_their_settings_until_one_changes_them() {
        let t0 = Instant::now();
        let keepalive = TimerConfig::default().keepalive(Some(20 * S), 10 * S);
        let settings = std::sync::Arc::new(crate::Settings::new(Config::default().max_frame_size(10), keepalive));
        let a = Connection::with_settings(Role::Server, settings.clone(), t0);
        assert!(std::sync::Arc::ptr_eq(a.settings(), &settings), "not copied");
        assert_eq!((a.config().max_frame_size, a.poll_timeout()), (10, Some(at(t0, 20))));
        let b = Connection::with_settings(Role::Server, settings.clone(), t0).with_timers(TimerConfig::default(), t0);
        assert_eq!((b.poll_timeout(), b.config().max_frame_size), (None, 10), "its own copy, the limits kept");
        assert_eq!(settings.timers, keepalive, "the shared settings are unchanged");
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
