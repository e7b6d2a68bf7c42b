//! Settings of a browser connection: the fields of the tokio backend's
//! `Config` that mean something in a page, the choice of the browser API,
//! and the bound on unread messages.

use std::time::Duration;

/// Limits and timeouts of a browser connection. Every field has a
/// documented default.
///
/// The tokio backend's keepalive, idle timeout, handshake timeout, head
/// size, permessage-deflate and slow-consumer policy are not here: the
/// browser does those itself or not at all, and a setting it would ignore
/// is left out rather than silently dropped (see `docs/wasm.md`).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Size limits; only `max_message_size` applies in the browser, which
    /// reassembles frames itself (default 64 MiB). A larger message closes
    /// the connection with 1009 and ends the stream with
    /// [`Error::Protocol`](crate::Error::Protocol).
    pub protocol: tether_proto::Config,
    /// The bound on the socket's `bufferedAmount` (through
    /// `WebSocketStream`: on the bytes whose `write()` has not completed)
    /// above which `send` waits and `try_send` reports
    /// [`Error::Full`](crate::Error::Full) (default 128 KiB). A single message larger than this is still accepted when
    /// nothing is buffered.
    pub write_buffer_size: usize,
    /// Whether to connect through the browser's `WebSocketStream` where it
    /// has one (default `true`; Chromium has it, other engines fall back to
    /// a plain `WebSocket` whatever this says). It paces the receive side:
    /// messages are read only as the application polls, and the browser
    /// stops reading the socket meanwhile, so an application that does not
    /// read slows the peer down instead of filling the page's memory or
    /// failing with [`Error::ReceiveBufferFull`](crate::Error::ReceiveBufferFull).
    /// `false` forces the plain `WebSocket` (for tests of that path).
    pub websocket_stream: bool,
    /// On the plain `WebSocket` path only: the bound on received bytes the
    /// application has not read yet (default 64 MiB). The browser pushes
    /// every message as it arrives and offers no way to pause a plain
    /// `WebSocket`, so past this bound the connection is closed with 4008
    /// and the stream ends, after the messages already queued, with
    /// [`Error::ReceiveBufferFull`](crate::Error::ReceiveBufferFull).
    pub receive_buffer_size: usize,
    /// The longest the connection may take to open, handshake included
    /// (default 10 s): [`Error::ConnectTimeout`](crate::Error::ConnectTimeout).
    pub connect_timeout: Duration,
    /// How long `close` waits for the peer's answer (default 5 s):
    /// [`Error::CloseTimeout`](crate::Error::CloseTimeout).
    pub close_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            protocol: tether_proto::Config::default(),
            write_buffer_size: 128 * 1024,
            websocket_stream: true,
            receive_buffer_size: 64 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
        }
    }
}

impl Config {
    common_config_setters!();

    /// Chooses `WebSocketStream` where the browser has it (`true`, the
    /// default) or always the plain `WebSocket` (`false`).
    pub fn websocket_stream(mut self, use_it: bool) -> Self {
        self.websocket_stream = use_it;
        self
    }

    /// Sets the bound on received bytes not read yet (plain `WebSocket` path).
    pub fn receive_buffer_size(mut self, bytes: usize) -> Self {
        self.receive_buffer_size = bytes;
        self
    }
}
