//! Settings of a browser connection: the fields of the tokio backend's
//! `Config` that mean something in a page, and the bound on unread messages.

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
    /// The bound on the socket's `bufferedAmount` above which `send` waits
    /// and `try_send` reports [`Error::Full`](crate::Error::Full) (default
    /// 128 KiB). A single message larger than this is still accepted when
    /// nothing is buffered.
    pub write_buffer_size: usize,
    /// The bound on received bytes the application has not read yet
    /// (default 64 MiB). The browser pushes every message as it arrives and
    /// offers no way to pause a plain `WebSocket`, so past this bound the
    /// connection is closed with 1008 and the stream ends, after the
    /// messages already queued, with
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
            receive_buffer_size: 64 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
        }
    }
}

impl Config {
    common_config_setters!();

    /// Sets the bound on received bytes not read yet.
    pub fn receive_buffer_size(mut self, bytes: usize) -> Self {
        self.receive_buffer_size = bytes;
        self
    }
}
