//! The timer methods of [`Connection`]: keepalive, the idle timeout and the
//! closing deadline, driven by the instants the IO layer passes in (the
//! state and its rules are in [`crate::timers`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Connection, State};
use crate::frame::OpCode;
use crate::message::{CloseCode, CloseFrame};
use crate::timers::{TimerConfig, TimerEvent, Timers};

impl Connection {
    /// Starts the timers of `config` at `now` (replacing any that ran).
    pub fn with_timers(mut self, config: TimerConfig, now: Instant) -> Self {
        Arc::make_mut(&mut self.settings).timers = config;
        self.timers = Timers::new(&config, now);
        self
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due (`None`:
    /// no timer runs). It may lie in the past: then call it at once. It
    /// moves when a timer fires, a ping leaves or is answered, or the state
    /// leaves `Open`, not on every read.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.as_ref()?.poll_timeout(&self.settings.timers, self.state == State::Open)
    }

    /// Runs the timer due at `now`, if any, and says what it did: a
    /// keepalive ping or an idle close is queued here, a failure is left to
    /// the IO layer to report. Call it again until it returns `None`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TimerEvent> {
        let config = &self.settings.timers;
        let event = self.timers.as_mut()?.handle_timeout(config, now, self.state == State::Open)?;
        match event {
            TimerEvent::Ping(payload) => {
                self.queue_control(OpCode::Ping, &payload);
                if let Some(deflate) = &mut self.deflate {
                    deflate.release_unused_compressor();
                }
            }
            TimerEvent::Idle(_) => {
                let _ = self.send_close(Some(&CloseFrame::new(CloseCode::GOING_AWAY, "idle timeout")));
            }
            // The peer is unreachable: no close handshake can complete.
            TimerEvent::KeepaliveTimeout { .. } => self.clear_output(),
            TimerEvent::CloseTimeout(_) => {}
        }
        Some(event)
    }

    /// Bytes arrived at `now` (call it for each read of one byte or more
    /// while [`tracks_idle`](Self::tracks_idle)): the idle timeout counts from there.
    pub fn on_bytes_received(&mut self, now: Instant) {
        if let Some(timers) = &mut self.timers {
            timers.on_bytes_received(now);
        }
    }

    /// Whether the idle timer runs, so that reads must be reported with
    /// [`on_bytes_received`](Self::on_bytes_received).
    pub fn tracks_idle(&self) -> bool {
        self.timers.as_ref().is_some_and(|t| t.tracks_idle())
    }

    /// A pong ([`Event::Pong`](super::Event::Pong)) was decoded at `now`: if it answers the
    /// keepalive ping, the round-trip time is measured and the next ping
    /// is due one interval after that ping left. Returns whether it
    /// answered the keepalive ping (its payload then means nothing to the
    /// application, which need not keep it).
    pub fn handle_pong(&mut self, payload: &[u8], now: Instant) -> bool {
        match &mut self.timers {
            Some(timers) => timers.handle_pong(&self.settings.timers, payload, now),
            None => false,
        }
    }

    /// The round-trip time of the last keepalive ping that was answered.
    pub fn rtt(&self) -> Option<Duration> {
        self.timers.as_ref()?.rtt()
    }

    /// Stops every timer (when the connection is over).
    pub fn stop_timers(&mut self) {
        self.timers = None;
    }
}
