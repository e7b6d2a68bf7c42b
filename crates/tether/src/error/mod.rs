//! The one error type of the tokio layer, [`Error`]: each variant says what
//! a person can do. TLS, proxy and HTTP/2 failures are grouped in
//! [`TlsError`], [`ProxyError`] and [`Http2Error`], as rustls groups
//! certificate errors; large or rare
//! payloads are boxed, so a `Result<Message, Error>` stays small.

#[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
mod http2;
mod proxy;
mod tls;

use std::io;
use std::time::Duration;

#[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
pub use http2::Http2Error;
pub use proxy::ProxyError;
pub use tls::TlsError;

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
        url: Box<str>,
        /// What is wrong with it.
        reason: Box<str>,
    },
    /// The host name did not resolve.
    #[error("cannot resolve host {host:?}: {source}")]
    Dns {
        /// The host that failed to resolve.
        host: Box<str>,
        /// The resolver's error.
        source: io::Error,
    },
    /// Nothing listens at the address.
    #[error("connection refused by {addr}")]
    Refused {
        /// The address tried (the last one, if the name had several).
        addr: Box<str>,
        /// The OS error.
        source: io::Error,
    },
    /// The connection could not be set up in time: name resolution, TCP
    /// connect, or the proxy's answer ([`Config::connect_timeout`](crate::Config::connect_timeout)).
    #[error("connecting to {addr} timed out after {timeout:?}")]
    ConnectTimeout {
        /// The host and port.
        addr: Box<str>,
        /// The limit that ran out.
        timeout: Duration,
    },
    /// The TCP connection failed for another reason (unreachable network...).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: Box<str>,
        /// The OS error.
        source: io::Error,
    },
    /// The proxy could not be used: it refused the tunnel, wants
    /// credentials, or does not speak the protocol of its URL's scheme.
    #[error(transparent)]
    Proxy(Box<ProxyError>),
    /// TLS failed: an untrusted or unfitting certificate, a failed
    /// handshake, or a configuration that could not be built.
    #[error(transparent)]
    Tls(Box<TlsError>),
    /// WebSockets over HTTP/2 (RFC 8441) failed: the server does not take
    /// them, refused the stream, or the stream or connection was reset.
    #[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
    #[error(transparent)]
    Http2(Box<Http2Error>),
    /// The server answered the upgrade request with another status than
    /// 101 (200 over HTTP/2): a redirect, 401, 403, 404, 503... The error shows the status
    /// and the start of the body.
    #[error("server answered {status}{}", describe_refusal(.headers, .body))]
    HttpStatus {
        /// The response status.
        status: http::StatusCode,
        /// The response headers.
        headers: Box<http::HeaderMap>,
        /// The start of the response body (at most 512 bytes).
        body: Box<[u8]>,
    },
    /// The opening handshake failed: the server answered 101 but not a valid
    /// upgrade (a wrong `Sec-WebSocket-Accept`, an unoffered subprotocol...),
    /// answered something that is not HTTP, or (server side) the client's
    /// request was not a valid upgrade or was refused by the application.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(Box<HandshakeError>),
    /// The opening handshake (TLS and the HTTP upgrade) did not complete in
    /// time ([`Config::handshake_timeout`](crate::Config::handshake_timeout)).
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
    /// In the browser: the application left more than `limit` bytes of
    /// received messages unread (see the wasm `Config::receive_buffer_size`);
    /// the connection was closed with 1008. The tokio backend never queues
    /// unread messages (it stops reading the socket), so it never reports this.
    #[error("more than {limit} bytes received and not read: closed")]
    ReceiveBufferFull {
        /// The configured bound.
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

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(Box::new(e))
    }
}

impl From<ProxyError> for Error {
    fn from(e: ProxyError) -> Self {
        Error::Proxy(Box::new(e))
    }
}

impl From<TlsError> for Error {
    fn from(e: TlsError) -> Self {
        Error::Tls(Box::new(e))
    }
}

#[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
impl From<Http2Error> for Error {
    fn from(e: Http2Error) -> Self {
        Error::Http2(Box::new(e))
    }
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

    /// The HTTP status of a refused handshake (or of a proxy's refusal).
    pub fn http_status(&self) -> Option<http::StatusCode> {
        match self {
            Error::HttpStatus { status, .. } => Some(*status),
            Error::Handshake(e) => match **e {
                HandshakeError::Rejected { status, .. } => Some(status),
                _ => None,
            },
            Error::Proxy(e) => match **e {
                ProxyError::Refused { status, .. } => status,
                _ => None,
            },
            _ => None,
        }
    }

    /// What was wrong with the opening handshake, for [`Error::Handshake`].
    pub fn handshake(&self) -> Option<&HandshakeError> {
        match self {
            Error::Handshake(e) => Some(e),
            _ => None,
        }
    }

    /// The proxy's failure, for [`Error::Proxy`].
    pub fn proxy(&self) -> Option<&ProxyError> {
        match self {
            Error::Proxy(e) => Some(e),
            _ => None,
        }
    }

    /// The TLS failure, for [`Error::Tls`].
    pub fn tls(&self) -> Option<&TlsError> {
        match self {
            Error::Tls(e) => Some(e),
            _ => None,
        }
    }

    /// The rustls error behind a TLS failure, if rustls raised it.
    #[cfg(all(feature = "rustls", not(target_arch = "wasm32")))]
    pub fn tls_cause(&self) -> Option<&rustls::Error> {
        match self {
            Error::Tls(e) => e.rustls_cause(),
            _ => None,
        }
    }

    /// A TLS configuration error (an unreadable or unusable CA, certificate
    /// or key): [`TlsError::Config`].
    #[cfg(all(feature = "rustls", not(target_arch = "wasm32")))]
    pub(crate) fn tls_config(reason: impl Into<String>) -> Self {
        TlsError::Config(reason.into()).into()
    }

    /// The HTTP/2 failure: [`Error::Http2`], or an [`Error::Io`] from a
    /// stream that HTTP/2 reset or whose connection went away.
    #[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
    pub fn http2(&self) -> Option<Http2Error> {
        match self {
            Error::Http2(e) => Some((**e).clone()),
            Error::Io(e) => Http2Error::from_io(e),
            _ => None,
        }
    }

    /// Whether a timeout (connect, handshake or close) caused this error.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::ConnectTimeout { .. } | Error::HandshakeTimeout(_) | Error::CloseTimeout(_))
    }
}

/// `: body snippet`, and where a redirect points.
fn describe_refusal(headers: &http::HeaderMap, body: &[u8]) -> String {
    let mut out = String::new();
    if let Some(location) = headers.get(http::header::LOCATION).and_then(|v| v.to_str().ok()) {
        out.push_str(&format!(" (redirect to {location})"));
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let text = text.trim();
    if !text.is_empty() {
        out.push_str(": ");
        out.push_str(text);
    }
    out
}

/// The error for a peer that went away without a close frame.
pub(crate) fn abnormal_eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed the connection without a close frame")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `Result<Message, Error>` an application holds across an await
    /// carries the error's size: large and rare payloads stay boxed.
    #[test]
    fn an_error_is_five_words_at_most() {
        assert!(std::mem::size_of::<Error>() <= 40, "{} bytes", std::mem::size_of::<Error>());
    }

    /// Grouping kept the messages a person reads unchanged.
    #[test]
    fn grouped_errors_read_as_before() {
        let auth: Error = ProxyError::Auth { proxy: "p:8080".into(), reason: "407".into() }.into();
        assert_eq!(auth.to_string(), "proxy p:8080 requires authentication: 407");
        assert!(auth.proxy().is_some() && auth.tls().is_none());
        let config: Error = TlsError::Config("no CERTIFICATE block found in the PEM text".into()).into();
        assert_eq!(config.to_string(), "TLS setup: no CERTIFICATE block found in the PEM text");
        let rejected: Error = HandshakeError::HttpVersion.into();
        assert_eq!(rejected.to_string(), "WebSocket handshake failed: HTTP/1.1 or later required");
        assert!(matches!(rejected.handshake(), Some(HandshakeError::HttpVersion)));
    }
}
