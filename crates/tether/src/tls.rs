//! TLS for `wss://`, with [rustls] (feature `rustls`, on by default).
//!
//! # The crypto provider
//!
//! rustls needs a crypto provider. A config made with `ClientConfig::builder()`
//! asks for the process-wide default provider and panics when none was
//! installed, or when two providers were compiled in (`ring` and
//! `aws-lc-rs`, pulled in by different crates) and none was picked: a known
//! pain with other WebSocket crates. tether never asks for the default: it
//! builds every config with [`rustls::crypto::ring::default_provider`],
//! named explicitly, so what other crates in the program enable or install
//! does not matter and nothing panics. `ring` was chosen because it builds
//! with only a C compiler (no cmake, no NASM) on every platform rustls supports.
//! To use another provider (aws-lc-rs, a FIPS build), build your own
//! `rustls::ClientConfig` or `ServerConfig` and pass it with
//! [`ClientTls::from_rustls_config`] or [`ServerTls::from_rustls_config`].
//!
//! # Client
//!
//! `wss://` URLs use [`ClientTls::new`] unless told otherwise: Mozilla's
//! root certificates (the `webpki-roots` crate), the host of the URL as the
//! server name (SNI and certificate check), and ALPN `http/1.1` (with an
//! HTTP/2 policy, `h2` as well or instead; see [`crate::http2`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), tether::Error> {
//! use tether::tls::{ClientTls, Roots};
//! // A server whose certificate comes from a private CA:
//! let tls = ClientTls::new().roots(Roots::Empty).add_ca_pem_file("ca.pem")?;
//! let ws = tether::connect_with("wss://internal.example:8443/feed").tls(tls).connect().await?;
//! # Ok(()) }
//! ```
//!
//! # Server
//!
//! ```no_run
//! # async fn demo() -> Result<(), tether::Error> {
//! let tls = tether::tls::ServerTls::from_pem_files("cert.pem", "key.pem")?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! let (tcp, _) = listener.accept().await?;
//! let ws = tether::accept(tls.accept(tcp).await?).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::{Error, MaybeTlsStream, TlsError};

pub use rustls;

/// The ALPN protocol both roles announce: a WebSocket upgrade is HTTP/1.1.
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The ALPN protocol of HTTP/2 over TLS (RFC 9113 section 3.2).
#[cfg(feature = "http2")]
const ALPN_H2: &[u8] = b"h2";

/// The provider every config of tether's is built with (see the module docs).
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// Where a client's trusted root certificates come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Roots {
    /// Mozilla's root program, compiled into the program (`webpki-roots`).
    #[default]
    WebPki,
    /// The operating system's store, read when the config is built
    /// (`rustls-native-certs`; feature `native-roots`).
    #[cfg(feature = "native-roots")]
    Native,
    /// None: only the CAs added with [`ClientTls::add_ca_pem_file`] and friends.
    Empty,
}

/// How a client sets up TLS for `wss://`: which roots it trusts, extra CAs,
/// or a whole rustls config of your own.
///
/// Building the rustls config happens at connect time (or with
/// [`ClientTls::build`]); the default one is built once per process.
#[derive(Clone, Default)]
pub struct ClientTls {
    roots: Roots,
    extra_cas: Vec<CertificateDer<'static>>,
    insecure: bool,
    /// A config of the caller's, used as given; the builder calls drop it.
    custom: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.custom.is_some() {
            return f.write_str("ClientTls(custom rustls config)");
        }
        f.debug_struct("ClientTls")
            .field("roots", &self.roots)
            .field("extra_cas", &self.extra_cas.len())
            .field("insecure", &self.insecure)
            .finish()
    }
}

impl ClientTls {
    /// Trust Mozilla's roots, verify certificates, announce ALPN `http/1.1`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses a rustls config of your own (any crypto provider, client
    /// certificates, session resumption...). It is used as given: set its
    /// `alpn_protocols` to `[b"http/1.1"]` if the server expects ALPN (and
    /// put `b"h2"` first for WebSockets over HTTP/2: with an HTTP/2 policy,
    /// the protocol the server picks decides).
    /// The other builder calls replace it with tether's own config.
    pub fn from_rustls_config(config: Arc<ClientConfig>) -> Self {
        ClientTls { custom: Some(config), ..Self::default() }
    }

    /// Chooses the root certificates (Mozilla's by default).
    pub fn roots(mut self, roots: Roots) -> Self {
        self.custom = None;
        self.roots = roots;
        self
    }

    /// Also trusts the CA certificates in a PEM file (every `CERTIFICATE`
    /// block in it). Fails if the file cannot be read or holds none.
    pub fn add_ca_pem_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|e| Error::tls_config(format!("cannot read CA file {}: {e}", path.display())))?;
        self.add_ca_pem(&pem).map_err(|e| match e {
            Error::Tls(tls) => match *tls {
                TlsError::Config(reason) => Error::tls_config(format!("{}: {reason}", path.display())),
                other => other.into(),
            },
            other => other,
        })
    }

    /// Also trusts the CA certificates in PEM text. Fails if it holds none.
    pub fn add_ca_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        self.custom = None;
        self.extra_cas.extend(parse_certs(pem)?);
        Ok(self)
    }

    /// Also trusts one CA certificate given in DER.
    pub fn add_ca_der(mut self, der: CertificateDer<'static>) -> Self {
        self.custom = None;
        self.extra_cas.push(der);
        self
    }

    /// Turns certificate verification off: any certificate is accepted, so
    /// anyone on the path can read and change the traffic. For testing
    /// against a server whose certificate you cannot check; the `tether`
    /// command only does it with `--insecure`, and says so.
    /// (Handshake signatures are still checked against the certificate sent.)
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.custom = None;
        self.insecure = accept;
        self
    }

    /// Whether certificate verification is off.
    pub fn is_insecure(&self) -> bool {
        self.custom.is_none() && self.insecure
    }

    /// Builds the rustls config: reads the OS store if asked, and fails on
    /// an empty set of roots. Connecting builds it anyway; build it yourself
    /// to share one across many connections ([`ClientTls::from_rustls_config`]).
    pub fn build(&self) -> Result<Arc<ClientConfig>, Error> {
        if let Some(config) = &self.custom {
            return Ok(config.clone());
        }
        if self.roots == Roots::WebPki && self.extra_cas.is_empty() && !self.insecure {
            static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
            if let Some(config) = DEFAULT.get() {
                return Ok(config.clone());
            }
            let config = build_client(Roots::WebPki, &[], false)?;
            return Ok(DEFAULT.get_or_init(|| config).clone());
        }
        build_client(self.roots, &self.extra_cas, self.insecure)
    }
}

fn parse_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::tls_config(format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::tls_config("no CERTIFICATE block found in the PEM text"));
    }
    Ok(certs)
}

fn build_client(
    roots: Roots,
    extra_cas: &[CertificateDer<'static>],
    insecure: bool,
) -> Result<Arc<ClientConfig>, Error> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::tls_config(e.to_string()))?;
    let mut config = if insecure {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider))).with_no_client_auth()
    } else {
        let mut store = RootCertStore::empty();
        match roots {
            Roots::WebPki => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            #[cfg(feature = "native-roots")]
            Roots::Native => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = store.add_parsable_certificates(found.certs);
                if added == 0 {
                    let why = found.errors.first().map_or_else(|| "none found".to_owned(), |e| e.to_string());
                    return Err(Error::tls_config(format!("no usable certificate in the OS store: {why}")));
                }
            }
            Roots::Empty => {}
        }
        for ca in extra_cas {
            store.add(ca.clone()).map_err(|e| Error::tls_config(format!("unusable CA certificate: {e}")))?;
        }
        if store.is_empty() {
            return Err(Error::tls_config("no trusted root certificates: add a CA"));
        }
        builder.with_root_certificates(store).with_no_client_auth()
    };
    config.alpn_protocols = Alpn::Http11.protocols();
    Ok(Arc::new(config))
}

/// `--insecure`: every certificate is taken as valid; signatures over the
/// handshake are still checked, so the peer must hold the certificate's key.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The ALPN protocols a client offers, in order of preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alpn {
    /// `http/1.1` only: the upgrade is HTTP/1.1.
    Http11,
    /// `h2`, then `http/1.1`: the server picks.
    #[cfg(feature = "http2")]
    H2OrHttp11,
    /// `h2` only.
    #[cfg(feature = "http2")]
    H2,
}

impl Alpn {
    fn protocols(self) -> Vec<Vec<u8>> {
        match self {
            Alpn::Http11 => vec![ALPN_HTTP11.to_vec()],
            #[cfg(feature = "http2")]
            Alpn::H2OrHttp11 => vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()],
            #[cfg(feature = "http2")]
            Alpn::H2 => vec![ALPN_H2.to_vec()],
        }
    }
}

/// The client side of the TLS handshake, over a TCP stream that already
/// reaches the server (directly or through a proxy tunnel), offering
/// `alpn` with tether's own configs (a custom config is used as given).
pub(crate) async fn connect(tls: &ClientTls, host: &str, tcp: TcpStream, alpn: Alpn) -> Result<MaybeTlsStream, Error> {
    let mut config = tls.build()?;
    if tls.custom.is_none() && alpn != Alpn::Http11 {
        let mut own = (*config).clone();
        own.alpn_protocols = alpn.protocols();
        config = Arc::new(own);
    }
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| Error::tls_config(format!("{host:?} cannot be a TLS server name: {e}")))?;
    let stream =
        tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| handshake_error(host, e))?;
    Ok(MaybeTlsStream::Rustls(Box::new(stream.into())))
}

/// Sorts a failed handshake into the error a person can act on.
fn handshake_error(host: &str, error: io::Error) -> Error {
    let host = host.to_owned();
    let Some(rustls_error) = error.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) else {
        return TlsError::Handshake { host, source: error }.into();
    };
    let source = rustls_error.clone();
    let tls = match rustls_error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => TlsError::UnknownIssuer { host, source },
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => TlsError::NameMismatch { host, source },
        rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            TlsError::Expired { host, source }
        }
        _ => TlsError::Handshake { host, source: error },
    };
    tls.into()
}

/// A TLS server identity (certificate chain and key) that turns accepted
/// TCP connections into TLS streams for [`accept`](crate::accept).
///
/// It announces ALPN `http/1.1` (and `h2` first when
/// [`Server::serve_tls`](crate::Server::serve_tls) uses it, which speaks
/// both) and gives each TLS handshake 10 seconds unless told otherwise
/// ([`ServerTls::handshake_timeout`]).
#[derive(Clone)]
pub struct ServerTls {
    acceptor: tokio_rustls::TlsAcceptor,
    /// Kept to derive the configuration that also offers `h2`.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    config: Arc<ServerConfig>,
    timeout: Duration,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Loads a PEM certificate chain (the server's certificate first) and a
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, Error> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path).map_err(|e| Error::tls_config(format!("cannot read {what} {}: {e}", path.display())))
        };
        let (cert_path, key_path) = (cert_chain.as_ref(), key.as_ref());
        let chain = parse_certs(&read(cert_path, "certificate file")?)
            .map_err(|e| Error::tls_config(format!("{}: {e}", cert_path.display())))?;
        let key = PrivateKeyDer::from_pem_slice(&read(key_path, "key file")?)
            .map_err(|e| Error::tls_config(format!("{}: no usable private key: {e}", key_path.display())))?;
        Self::from_der(chain, key)
    }

    /// Uses a certificate chain and private key already in DER.
    pub fn from_der(cert_chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<Self, Error> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::tls_config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(cert_chain, key)
            .map_err(|e| Error::tls_config(format!("certificate and key do not make a server identity: {e}")))?;
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Ok(Self::from_rustls_config(Arc::new(config)))
    }

    /// Uses a rustls server config of your own, as given.
    pub fn from_rustls_config(config: Arc<ServerConfig>) -> Self {
        ServerTls {
            acceptor: tokio_rustls::TlsAcceptor::from(config.clone()),
            config,
            timeout: Duration::from_secs(10),
        }
    }

    /// The same identity offering ALPN `h2` before `http/1.1`, for a server
    /// that speaks both. A configuration that does not offer `http/1.1`
    /// (one of the application's own) is kept as it is.
    #[cfg(feature = "http2")]
    pub(crate) fn with_h2(&self) -> ServerTls {
        let alpn = &self.config.alpn_protocols;
        if !alpn.iter().any(|p| p == ALPN_HTTP11) || alpn.iter().any(|p| p == ALPN_H2) {
            return self.clone();
        }
        let mut config = (*self.config).clone();
        config.alpn_protocols.insert(0, ALPN_H2.to_vec());
        ServerTls { timeout: self.timeout, ..ServerTls::from_rustls_config(Arc::new(config)) }
    }

    /// Sets the longest a TLS handshake may take (default 10 s).
    pub fn handshake_timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    /// Performs the server side of the TLS handshake on an accepted
    /// connection; pass the result to [`accept`](crate::accept).
    pub async fn accept(&self, tcp: TcpStream) -> Result<MaybeTlsStream, Error> {
        let limit = self.timeout;
        match timeout(limit, self.acceptor.accept(tcp).into_fallible()).await {
            Err(_) => Err(Error::HandshakeTimeout(limit)),
            Ok(Ok(stream)) => Ok(MaybeTlsStream::Rustls(Box::new(stream.into()))),
            // The peer's address is asked for only to name it in the error:
            // a system call and a string that a good handshake does not need.
            Ok(Err((e, tcp))) => {
                let peer = tcp.peer_addr().map_or_else(|_| "the client".to_owned(), |a| a.to_string());
                Err(handshake_error(&peer, e))
            }
        }
    }
}
