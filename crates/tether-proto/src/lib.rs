//! Sans-IO RFC 6455: the WebSocket protocol with no sockets, no runtime and
//! no clock. Bytes go in, events and bytes come out, so the same engine runs
//! under tokio, in a fuzzer, or in a test that splits a stream at every byte.
//!
//! # Design
//!
//! ```text
//!                 handshake::client / handshake::server
//!        request/response bytes ──► checked head + leftover bytes
//!
//!   received bytes ─► Connection::read_event ─► Event (Message, Ping, Pong, Close)
//!                          │   (pongs and the close echo are queued)
//!   Connection::send ──────┴──────────────────► Connection::output ─► transport
//! ```
//!
//! - [`handshake`] builds and checks the HTTP/1.1 upgrade in both roles.
//! - [`Connection`] decodes frames from a [`bytes::BytesMut`] in place:
//!   payloads are unmasked where they lie and handed out without a copy;
//!   text is validated as it arrives, so bad UTF-8 fails fast.
//! - Every violation is a [`ProtocolError`] with the close code that was
//!   queued for the peer; the closing handshake is the state machine of [`State`].
//! - [`Config`] bounds frames and messages.
//! - [`timers`] holds keepalive, the idle timeout and the closing deadline:
//!   the IO layer passes the time in ([`Connection::poll_timeout`],
//!   [`Connection::handle_timeout`]), nothing here reads a clock.
//!
//! Nothing here panics on any input, and the crate has no `unsafe`.
#![forbid(unsafe_code)]

mod connection;
pub mod deflate;
mod error;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod mask;
mod message;
mod prepared;
mod send_queue;
pub mod timers;
pub mod utf8;

pub use connection::{Connection, Event, State};
pub use deflate::DeflateConfig;
pub use error::{ProtocolError, SendError};
pub use frame::{FrameHeader, OpCode};
pub use handshake::extensions::DeflateParams;
pub use message::{CloseCode, CloseFrame, Message, Utf8Bytes};
pub use prepared::PreparedMessage;
pub use send_queue::SendQueue;
pub use timers::{TimerConfig, TimerEvent};

/// Which end of the connection this is: it decides the masking rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Masks every frame it sends; receives unmasked frames.
    Client,
    /// Sends unmasked frames; requires masked frames.
    Server,
}

/// Limits on what the peer may send.
///
/// The defaults are those of tungstenite and most peers: large enough for
/// any ordinary application, small enough that one connection cannot take
/// the machine's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The largest frame payload accepted (default 16 MiB). Larger: close 1009.
    pub max_frame_size: usize,
    /// The largest message accepted, all fragments together (default
    /// 64 MiB). Larger: close 1009.
    pub max_message_size: usize,
}

impl Config {
    /// Default frame limit: 16 MiB.
    pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 << 20;
    /// Default message limit: 64 MiB.
    pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;

    /// Sets the frame limit.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets the message limit.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Self { max_frame_size: Self::DEFAULT_MAX_FRAME_SIZE, max_message_size: Self::DEFAULT_MAX_MESSAGE_SIZE }
    }
}

/// What connections set up alike share behind one pointer
/// ([`Connection::with_settings`]): the size limits and the timer
/// durations. A server's idle connections are many and their settings one,
/// so each keeps an `Arc` (8 bytes) instead of its own copy (48).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// Limits on what the peer may send.
    pub limits: Config,
    /// Which timers run, and for how long.
    pub timers: TimerConfig,
}

impl Settings {
    /// The settings of `limits` and `timers`.
    pub fn new(limits: Config, timers: TimerConfig) -> Self {
        Settings { limits, timers }
    }
}

#[cfg(test)]
mod tests;
