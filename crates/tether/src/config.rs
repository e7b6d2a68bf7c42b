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
    /// `wss://` and the HTTP upgrade (default 10 s). A server counts it
    /// from the accept (see `Server::defer_accept` for when that is).
    pub handshake_timeout: Duration,
    /// How long to wait for the peer's part of the closing handshake
    /// before dropping the connection (default 5 s).
    pub close_timeout: Duration,
    /// The largest handshake head accepted (default 16 KiB).
    pub max_head_size: usize,
    /// permessage-deflate: offered by clients and accepted by servers with
    /// these settings; `None` turns it off. On by default in both roles, as
    /// in Python `websockets` and browsers (Node `ws` leaves it off on
    /// servers). Compression state is allocated only once a message is large
    /// enough to compress; see [`tether_proto::deflate`] for its memory.
    pub deflate: Option<tether_proto::DeflateConfig>,
    /// Send a ping this often, and fail the connection with
    /// [`Error::KeepaliveTimeout`](crate::Error::KeepaliveTimeout) if its
    /// pong does not come back within [`ping_timeout`](Self::ping_timeout).
    /// Default every 20 s, as Python `websockets` does (Node `ws` and
    /// tungstenite send none), because a half-open TCP connection is
    /// otherwise never noticed. `None` turns keepalive off.
    pub ping_interval: Option<Duration>,
    /// How long a keepalive ping may go unanswered (default 20 s).
    pub ping_timeout: Duration,
    /// Close (1001) a connection on which nothing has arrived for this long,
    /// like uWebSockets' `idleTimeout`. Default off.
    pub idle_timeout: Option<Duration>,
    /// What to do when the peer does not read what we send (default: `send` waits).
    pub backpressure: Backpressure,
}

/// The policy for a peer that does not read what we send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backpressure {
    /// `send` waits while more than [`Config::write_buffer_size`] bytes are
    /// queued; `try_send` reports [`Error::Full`](crate::Error::Full). Memory
    /// is bounded by the write buffer size plus one message.
    Wait,
    /// Sends never wait; once more than `limit` bytes are queued the
    /// connection is closed with `code` (use 1008 or 1013) and sends fail
    /// with [`Error::SlowConsumer`](crate::Error::SlowConsumer). For servers
    /// that broadcast, where one slow client must not hold up the others.
    Close {
        /// Queued bytes that trigger the close.
        limit: usize,
        /// The close code sent.
        code: tether_proto::CloseCode,
    },
    /// As `Close`, but the connection is dropped at once and the queue freed.
    Drop {
        /// Queued bytes that trigger the drop.
        limit: usize,
    },
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
            deflate: Some(tether_proto::DeflateConfig::default()),
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Duration::from_secs(20),
            idle_timeout: None,
            backpressure: Backpressure::Wait,
        }
    }
}

impl Config {
    common_config_setters!();

    /// Sets the largest frame accepted.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.protocol.max_frame_size = bytes;
        self
    }

    /// Sets the handshake timeout.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets the permessage-deflate settings, or turns it off with `None`.
    pub fn deflate(mut self, deflate: Option<tether_proto::DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }

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

    /// Sets the slow-consumer policy.
    pub fn backpressure(mut self, policy: Backpressure) -> Self {
        self.backpressure = policy;
        self
    }
}
