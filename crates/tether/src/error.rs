//! The one error type of the tokio layer: each variant says what a person can do.

use std::io;
use std::time::Duration;

use tether_proto::handshake::HandshakeError;
use tether_proto::{CloseCode, ProtocolError, SendError};

/// Everything that can go wrong, from the URL to the closing handshake.
///
/// A normal close is not an error: the stream just ends. Match on the
/// variants, or ask [`Error::close_code`] which code was sent to the peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be used (bad syntax, unknown scheme, no host).
    #[error("invalid URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host name did not resolve.
    #[error("cannot resolve host {host:?}: {source}")]
    Dns {
        /// The host that failed to resolve.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// Nothing listens at the address.
    #[error("connection refused by {addr}")]
    Refused {
        /// The address tried (the last one, if the name had several).
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// The TCP connection could not be set up in time.
    #[error("connecting to {addr} timed out after {timeout:?}")]
    ConnectTimeout {
        /// The host and port.
        addr: String,
        /// The limit that ran out.
        timeout: Duration,
    },
    /// The TCP connection failed for another reason (unreachable network...).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// The opening handshake failed: the server refused the upgrade (with
    /// its status and the start of its body), answered something that is not
    /// a valid upgrade, or the client's request was invalid.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The opening handshake did not complete in time.
    #[error("WebSocket handshake timed out after {0:?}")]
    HandshakeTimeout(Duration),
    /// The peer broke the protocol; the close code in
    /// [`ProtocolError::close_code`] was sent before the connection was dropped.
    #[error("protocol error: {0} (closed with {code})", code = .0.close_code())]
    Protocol(#[from] ProtocolError),
    /// The connection broke: reset, or closed by the peer without a close
    /// frame, or another IO failure. The cause is the `io::Error`.
    #[error("connection lost: {0}")]
    Io(#[from] io::Error),
    /// The closing handshake did not finish in time; the connection was dropped.
    #[error("closing handshake timed out after {0:?}")]
    CloseTimeout(Duration),
    /// A keepalive ping went unanswered: the peer or the path to it is gone
    /// (a half-open connection). The connection was dropped.
    #[error("no pong within {timeout:?} of a keepalive ping (sent every {interval:?}): peer unreachable")]
    KeepaliveTimeout {
        /// The ping interval.
        interval: Duration,
        /// How long the pong was awaited.
        timeout: Duration,
    },
    /// Nothing arrived for the configured idle timeout; the connection was
    /// closed with 1001.
    #[error("idle for {0:?}: closed")]
    IdleTimeout(Duration),
    /// The peer did not read what we sent and the queue passed the limit of
    /// the [`Backpressure`](crate::Backpressure) policy, which then fired.
    #[error("peer not reading: more than {limit} bytes queued")]
    SlowConsumer {
        /// The policy's limit.
        limit: usize,
    },
    /// A reconnecting client is between connections and has no outbox.
    #[error("not connected (reconnecting); enable the outbox to queue messages meanwhile")]
    Disconnected,
    /// A message was sent after the connection started closing.
    #[error("the connection is closed")]
    Closed,
    /// The application asked for something the protocol forbids (a
    /// too-long ping payload, a close code that may not be sent...).
    #[error("invalid use: {0}")]
    Send(SendError),
    /// The send buffer is full (from `try_send`): wait, or use `send().await`.
    #[error("send buffer full")]
    Full,
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Closed => Error::Closed,
            other => Error::Send(other),
        }
    }
}

impl Error {
    /// The close code sent to the peer because of this error, if any.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(e) => Some(e.close_code()),
            _ => None,
        }
    }

    /// The HTTP status of a refused handshake.
    pub fn http_status(&self) -> Option<http::StatusCode> {
        match self {
            Error::Handshake(HandshakeError::Rejected { status, .. }) => Some(*status),
            _ => None,
        }
    }
}

/// The error for a peer that went away without a close frame.
pub(crate) fn abnormal_eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed the connection without a close frame")
}
