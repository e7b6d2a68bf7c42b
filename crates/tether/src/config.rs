//! Settings shared by clients and servers.

use std::time::Duration;

/// Limits and timeouts of a connection. Every field has a documented default.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Frame and message size limits (defaults: 16 MiB frame, 64 MiB message).
    pub protocol: tether_proto::Config,
    /// Bytes queued for sending above which `send` waits and `try_send`
    /// reports [`Error::Full`](crate::Error::Full) (default 128 KiB). A
    /// single message larger than this is still accepted when the queue is empty.
    pub write_buffer_size: usize,
    /// The longest the connection may take to set up: name resolution, TCP
    /// connect and, through a proxy, the proxy's answer (default 10 s).
    pub connect_timeout: Duration,
    /// The longest the opening handshake may take: the TLS handshake for
    /// `wss://` and the HTTP upgrade (default 10 s).
    pub handshake_timeout: Duration,
    /// How long to wait for the peer's part of the closing handshake
    /// before dropping the connection (default 5 s).
    pub close_timeout: Duration,
    /// The largest handshake head accepted (default 16 KiB).
    pub max_head_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            protocol: tether_proto::Config::default(),
            write_buffer_size: 128 * 1024,
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            max_head_size: tether_proto::handshake::DEFAULT_MAX_HEAD,
        }
    }
}

impl Config {
    /// Sets the largest frame accepted.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.protocol.max_frame_size = bytes;
        self
    }

    /// Sets the largest message accepted.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.protocol.max_message_size = bytes;
        self
    }

    /// Sets the send buffer bound.
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the handshake timeout.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets the closing handshake timeout.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }
}
