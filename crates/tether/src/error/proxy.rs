//! [`ProxyError`]: why an HTTP `CONNECT` or SOCKS5 proxy could not be used.

/// Why the proxy could not be used; inside [`Error::Proxy`](crate::Error::Proxy).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy answered the `CONNECT` with an error status (403, 502...),
    /// or the SOCKS5 proxy replied with a failure (not allowed, host
    /// unreachable, refused by the target...).
    #[error("proxy {proxy} refused to connect to {target}: {reason}")]
    Refused {
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
    Auth {
        /// The proxy's host and port.
        proxy: String,
        /// What the proxy said (407, or the SOCKS5 method or status).
        reason: String,
    },
    /// The proxy answered something that is not HTTP `CONNECT` or SOCKS5:
    /// check the proxy URL's scheme and port.
    #[error("proxy {proxy} broke the {protocol} protocol: {reason}")]
    Protocol {
        /// The proxy's host and port.
        proxy: String,
        /// `HTTP CONNECT` or `SOCKS5`.
        protocol: &'static str,
        /// What was wrong with its answer.
        reason: String,
    },
}
