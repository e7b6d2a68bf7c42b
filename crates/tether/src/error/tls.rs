//! [`TlsError`]: why TLS failed, from configuration to the handshake.

#[cfg(all(feature = "rustls", not(target_arch = "wasm32")))]
use std::io;

/// Why TLS failed; inside [`Error::Tls`](crate::Error::Tls). The rustls
/// error behind a failure stays reachable ([`TlsError::rustls_cause`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The server's certificate is not signed by a trusted certificate
    /// authority (self-signed, a private CA, or a missing intermediate):
    /// trust its CA with [`ClientTls::add_ca_pem_file`](crate::tls::ClientTls::add_ca_pem_file).
    #[cfg(all(feature = "rustls", not(target_arch = "wasm32")))]
    #[error("TLS: the certificate of {host} is not signed by a trusted certificate authority ({source})")]
    UnknownIssuer {
        /// The server name that was checked.
        host: String,
        /// The rustls error.
        source: rustls::Error,
    },
    /// The server's certificate is valid, but for other names than the one
    /// in the URL: connect by a name the certificate lists.
    #[cfg(all(feature = "rustls", not(target_arch = "wasm32")))]
    #[error("TLS: the certificate of {host} is not valid for that name ({source})")]
    NameMismatch {
        /// The server name that was checked.
        host: String,
        /// The rustls error; its context lists the names the certificate holds.
        source: rustls::Error,
    },
    /// The server's certificate has expired (or the local clock is wrong).
    #[cfg(all(feature = "rustls", not(target_arch = "wasm32")))]
    #[error("TLS: the certificate of {host} has expired ({source})")]
    Expired {
        /// The server name that was checked.
        host: String,
        /// The rustls error, with the expiry time and the time now.
        source: rustls::Error,
    },
    /// The TLS handshake failed for another reason: no common protocol
    /// version or cipher suite, an alert from the peer, a peer that does not
    /// speak TLS, another certificate problem. When rustls raised it,
    /// [`TlsError::rustls_cause`] gives the rustls error.
    #[cfg(all(feature = "rustls", not(target_arch = "wasm32")))]
    #[error("TLS handshake with {host} failed: {source}")]
    Handshake {
        /// The server name (client side) or the peer address (server side).
        host: String,
        /// The cause: an `io::Error` wrapping the `rustls::Error`, or the IO failure itself.
        source: io::Error,
    },
    /// TLS could not be set up: an unreadable or empty CA, certificate or
    /// key file, or a rustls configuration error.
    #[error("TLS setup: {0}")]
    Config(String),
}

impl TlsError {
    /// The rustls error behind this failure, if rustls raised it.
    #[cfg(all(feature = "rustls", not(target_arch = "wasm32")))]
    pub fn rustls_cause(&self) -> Option<&rustls::Error> {
        match self {
            TlsError::UnknownIssuer { source, .. }
            | TlsError::NameMismatch { source, .. }
            | TlsError::Expired { source, .. } => Some(source),
            TlsError::Handshake { source, .. } => source.get_ref()?.downcast_ref::<rustls::Error>(),
            TlsError::Config(_) => None,
        }
    }
}
