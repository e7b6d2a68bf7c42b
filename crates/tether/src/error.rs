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
    /// The connection could not be set up in time: name resolution, TCP
    /// connect, or the proxy's answer ([`Config::connect_timeout`](crate::Config::connect_timeout)).
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
    /// The proxy could not be used: it answered the `CONNECT` with an error
    /// status (403, 502...), or the SOCKS5 proxy replied with a failure (not
    /// allowed, host unreachable, refused by the target...).
    #[error("proxy {proxy} refused to connect to {target}: {reason}")]
    ProxyRefused {
        /// The proxy's host and port.
        proxy: String,
        /// The host and port the proxy was asked to reach.
        target: String,
        /// The proxy's status line or SOCKS5 reply, in words.
        reason: String,
        /// The HTTP status, for an HTTP proxy.
        status: Option<http::StatusCode>,
    },
    /// The proxy wants credentials, or refused the ones given: put
    /// `user:password@` in the proxy URL.
    #[error("proxy {proxy} requires authentication: {reason}")]
    ProxyAuth {
        /// The proxy's host and port.
        proxy: String,
        /// What the proxy said (407, or the SOCKS5 method or status).
        reason: String,
    },
    /// The proxy answered something that is not HTTP `CONNECT` or SOCKS5:
    /// check the proxy URL's scheme and port.
    #[error("proxy {proxy} broke the {protocol} protocol: {reason}")]
    ProxyProtocol {
        /// The proxy's host and port.
        proxy: String,
        /// `HTTP CONNECT` or `SOCKS5`.
        protocol: &'static str,
        /// What was wrong with its answer.
        reason: String,
    },
    /// The server's certificate is not signed by a trusted certificate
    /// authority (self-signed, a private CA, or a missing intermediate):
    /// trust its CA with [`ClientTls::add_ca_pem_file`](crate::tls::ClientTls::add_ca_pem_file).
    #[cfg(feature = "rustls")]
    #[error("TLS: the certificate of {host} is not signed by a trusted certificate authority ({source})")]
    TlsUnknownIssuer {
        /// The server name that was checked.
        host: String,
        /// The rustls error.
        source: rustls::Error,
    },
    /// The server's certificate is valid, but for other names than the one
    /// in the URL: connect by a name the certificate lists.
    #[cfg(feature = "rustls")]
    #[error("TLS: the certificate of {host} is not valid for that name ({source})")]
    TlsNameMismatch {
        /// The server name that was checked.
        host: String,
        /// The rustls error; its context lists the names the certificate holds.
        source: rustls::Error,
    },
    /// The server's certificate has expired (or the local clock is wrong).
    #[cfg(feature = "rustls")]
    #[error("TLS: the certificate of {host} has expired ({source})")]
    TlsExpired {
        /// The server name that was checked.
        host: String,
        /// The rustls error, with the expiry time and the time now.
        source: rustls::Error,
    },
    /// The TLS handshake failed for another reason: no common protocol
    /// version or cipher suite, an alert from the peer, a peer that does not
    /// speak TLS, another certificate problem. When rustls raised it,
    /// [`Error::tls_cause`] gives the rustls error.
    #[cfg(feature = "rustls")]
    #[error("TLS handshake with {host} failed: {source}")]
    TlsHandshake {
        /// The server name (client side) or the peer address (server side).
        host: String,
        /// The cause: an `io::Error` wrapping the `rustls::Error`, or the IO failure itself.
        source: io::Error,
    },
    /// TLS could not be set up: an unreadable or empty CA, certificate or
    /// key file, or a rustls configuration error.
    #[error("TLS setup: {0}")]
    TlsConfig(String),
    /// The server answered the upgrade request with another status than
    /// 101 (a redirect, 401, 403, 404, 503...). The error shows the status
    /// and the start of the body.
    #[error("server answered {status}{}", describe_refusal(.headers, .body))]
    HttpStatus {
        /// The response status.
        status: http::StatusCode,
        /// The response headers.
        headers: Box<http::HeaderMap>,
        /// The start of the response body (at most 512 bytes).
        body: bytes::Bytes,
    },
    /// The opening handshake failed: the server answered 101 but not a valid
    /// upgrade (a wrong `Sec-WebSocket-Accept`, an unoffered subprotocol...),
    /// answered something that is not HTTP, or (server side) the client's
    /// request was not a valid upgrade or was refused by the application.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
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

    /// The HTTP status of a refused handshake (or of a proxy's refusal).
    pub fn http_status(&self) -> Option<http::StatusCode> {
        match self {
            Error::HttpStatus { status, .. } => Some(*status),
            Error::Handshake(HandshakeError::Rejected { status, .. }) => Some(*status),
            Error::ProxyRefused { status, .. } => *status,
            _ => None,
        }
    }

    /// The rustls error behind a TLS failure, if rustls raised it.
    #[cfg(feature = "rustls")]
    pub fn tls_cause(&self) -> Option<&rustls::Error> {
        match self {
            Error::TlsUnknownIssuer { source, .. }
            | Error::TlsNameMismatch { source, .. }
            | Error::TlsExpired { source, .. } => Some(source),
            Error::TlsHandshake { source, .. } => source.get_ref()?.downcast_ref::<rustls::Error>(),
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
