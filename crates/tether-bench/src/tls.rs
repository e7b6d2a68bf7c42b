//! TLS for `wss://` and `tls://` targets: the generator's rustls client
//! config, pinned so every server under test negotiates the same thing, and
//! [`Stream`], a connection that is plain TCP or TLS over it.
//!
//! The config offers exactly one cipher suite (TLS 1.3
//! `TLS13_AES_128_GCM_SHA256` unless told otherwise) and one key exchange
//! (X25519), on rustls' `ring` provider, so a comparison row measures every
//! server with the same cryptography whatever its own defaults. Session
//! resumption is off: every connection makes a full handshake, the cost a
//! new client brings. The server's certificate is verified against the CA
//! given (`--ca`); nothing is trusted by default. A certificate chain that
//! verified once is not verified again for the same name (the handshake's
//! signature still is, every time): the server's cost is what is measured,
//! and one generator core has to keep up with it.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The one cipher suite the generator offers unless told otherwise.
pub const DEFAULT_SUITE: &str = "TLS13_AES_128_GCM_SHA256";

/// The ALPN protocol offered to a WebSocket server: the upgrade is HTTP/1.1.
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The generator's TLS settings: trust and the one suite to offer.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    suite: String,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").field("suite", &self.suite).finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Trusts the CA certificates of a PEM file and offers only `suite` (a
    /// name such as `TLS13_AES_128_GCM_SHA256`, as rustls spells it) with
    /// X25519.
    pub fn new(ca_pem_file: &Path, suite: &str) -> Result<ClientTls, String> {
        let pem = std::fs::read(ca_pem_file).map_err(|e| format!("cannot read {}: {e}", ca_pem_file.display()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: bad PEM: {e}", ca_pem_file.display()))?;
        let mut roots = RootCertStore::empty();
        for cert in certs {
            roots.add(cert).map_err(|e| format!("{}: unusable CA certificate: {e}", ca_pem_file.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("{}: no CERTIFICATE block", ca_pem_file.display()));
        }
        let mut provider = rustls::crypto::ring::default_provider();
        let known: Vec<String> = provider.cipher_suites.iter().map(|s| format!("{:?}", s.suite())).collect();
        provider.cipher_suites.retain(|s| format!("{:?}", s.suite()) == suite);
        if provider.cipher_suites.is_empty() {
            return Err(format!("unknown cipher suite {suite:?}; one of: {}", known.join(", ")));
        }
        provider.kx_groups = vec![rustls::crypto::ring::kx_group::X25519];
        let provider = Arc::new(provider);
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("TLS config: {e}"))?;
        let verifier = Arc::new(VerifyOnce { webpki, verified: Mutex::new(None) });
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS config: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.resumption = Resumption::disabled();
        Ok(ClientTls { config: Arc::new(config), suite: suite.to_owned() })
    }

    /// The same settings offering ALPN `http/1.1`, for WebSocket servers.
    pub fn with_http11_alpn(&self) -> ClientTls {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        ClientTls { config: Arc::new(config), suite: self.suite.clone() }
    }

    /// The TLS handshake over `tcp`, checking the certificate against `host`
    /// (a name or an IP address, without the port).
    pub async fn connect(&self, host: &str, tcp: TcpStream) -> Result<Stream, String> {
        let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{host:?} as a TLS name: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        Ok(Stream::Tls(Box::new(tls)))
    }
}

/// Verifies a server's certificate chain with webpki the first time it is
/// seen, then remembers it: a load generator meets the same certificate on
/// every connection. Handshake signatures are checked every time.
#[derive(Debug)]
struct VerifyOnce {
    webpki: Arc<WebPkiServerVerifier>,
    /// The last chain (end entity, intermediates) and name that verified.
    verified: Mutex<Option<(Vec<CertificateDer<'static>>, String)>>,
}

impl ServerCertVerifier for VerifyOnce {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = server_name.to_str();
        let same = |(chain, verified_name): &(Vec<CertificateDer<'static>>, String)| {
            *verified_name == name
                && chain.len() == intermediates.len() + 1
                && chain.iter().zip(std::iter::once(end_entity).chain(intermediates)).all(|(a, b)| a == b)
        };
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.as_ref().is_some_and(same) {
            return Ok(ServerCertVerified::assertion());
        }
        let ok = self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        let chain = std::iter::once(end_entity).chain(intermediates).map(|c| c.clone().into_owned()).collect();
        *verified = Some((chain, name.into_owned()));
        Ok(ok)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// A connection of the generator: plain TCP, or TLS over TCP.
#[derive(Debug)]
pub enum Stream {
    /// `ws://` and `tcp://`.
    Tcp(TcpStream),
    /// `wss://` and `tls://`.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// What TLS negotiated (`TLS13_AES_128_GCM_SHA256 X25519`); `None` on plain TCP.
    pub fn tls_description(&self) -> Option<String> {
        let Stream::Tls(tls) = self else { return None };
        let conn = tls.get_ref().1;
        let suite = conn.negotiated_cipher_suite().map_or("?".to_owned(), |s| format!("{:?}", s.suite()));
        let group = conn.negotiated_key_exchange_group().map_or("?".to_owned(), |g| format!("{:?}", g.name()));
        Some(format!("{suite} {group}"))
    }
}

/// Whether an error ends a TLS stream whose peer closed TCP without a
/// `close_notify` alert: after a WebSocket close that is the end, not a fault.
pub fn is_unclean_eof(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::UnexpectedEof
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
