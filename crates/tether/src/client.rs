//! The client: URL to TCP connection (direct or through a proxy) to TLS
//! (for `wss://`) to handshake to [`WebSocket`].

use std::io;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tether_proto::handshake::client::{ClientHandshake, ClientRequest, Response};
use tether_proto::handshake::HandshakeError;
use tether_proto::Role;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

#[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
use crate::http2::{Client as Http2Client, Http2Policy};
use crate::target::Target;
#[cfg(feature = "rustls")]
use crate::tls::Alpn;
#[cfg(feature = "rustls")]
use crate::tls::ClientTls;
use crate::{Config, Error, MaybeTlsStream, Proxy, WebSocket};

/// Connects to a `ws://` or `wss://` URL with the default [`Config`], the
/// proxy the environment names (see [`proxy`](crate::proxy)) and, for
/// `wss://`, Mozilla's trusted roots.
///
/// ```no_run
/// # async fn demo() -> Result<(), tether::Error> {
/// let ws = tether::connect("ws://127.0.0.1:9001/").await?;
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<WebSocket<MaybeTlsStream>, Error> {
    connect_with(url).connect().await
}

/// Starts a [`ClientBuilder`] for headers, subprotocols, origin and limits.
///
/// ```no_run
/// # async fn demo() -> Result<(), tether::Error> {
/// let ws = tether::connect_with("ws://127.0.0.1:9001/chat")
///     .protocol("chat.v1")
///     .header("Authorization", "Bearer secret")
///     .connect()
///     .await?;
/// assert_eq!(ws.protocol(), Some("chat.v1"));
/// # Ok(()) }
/// ```
pub fn connect_with(url: &str) -> ClientBuilder {
    ClientBuilder {
        url: url.to_owned(),
        config: Config::default(),
        origin: None,
        protocols: Vec::new(),
        headers: Vec::new(),
        proxy: ProxyChoice::Environment,
        #[cfg(feature = "rustls")]
        tls: ClientTls::default(),
        #[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
        http2: Http2Policy::Never,
        #[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
        http2_stream_window: crate::http2::STREAM_WINDOW,
    }
}

/// Where the proxy comes from.
#[derive(Clone, Debug)]
enum ProxyChoice {
    Environment,
    Direct,
    Given(Proxy),
}

/// Options for a client connection; finish with [`connect`](Self::connect).
#[derive(Clone, Debug)]
#[must_use = "a ClientBuilder does nothing until .connect() is awaited"]
pub struct ClientBuilder {
    url: String,
    pub(crate) config: Config,
    origin: Option<String>,
    protocols: Vec<String>,
    headers: Vec<(String, String)>,
    proxy: ProxyChoice,
    #[cfg(feature = "rustls")]
    tls: ClientTls,
    #[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
    http2: Http2Policy,
    /// The receive window of each HTTP/2 stream.
    #[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
    pub(crate) http2_stream_window: u32,
}

impl ClientBuilder {
    subprotocol_offers!();

    /// Adds a request header (`Authorization`, `Cookie`, ...).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The URL it connects to.
    pub(crate) fn target_url(&self) -> &str {
        &self.url
    }

    /// The same settings for another URL.
    pub(crate) fn with_url(mut self, url: String) -> Self {
        self.url = url;
        self
    }

    /// Sets the `Origin` header.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Sets limits and timeouts.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Goes through this proxy, whatever the environment says.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = ProxyChoice::Given(proxy);
        self
    }

    /// Connects directly, whatever the environment says.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxyChoice::Direct;
        self
    }

    /// Uses the proxy the environment names (the default; see [`proxy`](crate::proxy)).
    pub fn proxy_from_env(mut self) -> Self {
        self.proxy = ProxyChoice::Environment;
        self
    }

    /// Sets up TLS for `wss://`: trusted roots, extra CAs, or a rustls
    /// config of your own (default: [`ClientTls::new`]).
    #[cfg(feature = "rustls")]
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = tls;
        self
    }

    /// Whether to speak HTTP/2 (RFC 8441): HTTP/1.1 only by default; see
    /// [`crate::http2`] for what each policy does over `wss://` and `ws://`.
    #[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
    pub fn http2(mut self, policy: Http2Policy) -> Self {
        self.http2 = policy;
        self
    }

    /// The receive window of each HTTP/2 stream (default
    /// [`STREAM_WINDOW`](crate::http2::STREAM_WINDOW), 256 KiB, at most
    /// 2 GiB - 1): what the server may send on one WebSocket ahead of its
    /// reader. The connection's window is 100 of them (at most 2 GiB - 1),
    /// so that one WebSocket nobody reads does not stall the others.
    #[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
    pub fn http2_stream_window(mut self, bytes: u32) -> Self {
        self.http2_stream_window = bytes;
        self
    }

    /// Connects over TCP (through the proxy, if any), sets up TLS for
    /// `wss://`, and performs the handshake: an HTTP/1.1 upgrade, or an
    /// extended CONNECT over HTTP/2 as the [`http2`](Self::http2) policy says.
    ///
    /// [`Config::connect_timeout`] bounds name resolution, the TCP connect
    /// and the proxy's answer ([`Error::ConnectTimeout`]);
    /// [`Config::handshake_timeout`] bounds the TLS handshake and the
    /// WebSocket upgrade ([`Error::HandshakeTimeout`]).
    pub async fn connect(self) -> Result<WebSocket<MaybeTlsStream>, Error> {
        self.connect_with_response().await.map(|(ws, _)| ws)
    }

    /// Like [`connect`](Self::connect), and also returns the server's
    /// response (`101`, or `200` over HTTP/2), to read the headers it added
    /// (cookies, server name...).
    pub async fn connect_with_response(self) -> Result<(WebSocket<MaybeTlsStream>, Response), Error> {
        let target = Target::parse(&self.url)?;
        let tcp = self.open(&target).await?;
        let limit = self.config.handshake_timeout;
        let upgrade = async {
            let stream = self.secure(&target, tcp).await?;
            #[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
            if self.http2.speaks_h2(&stream, &target.host_header)? {
                let request = self.request(&target);
                let client = Http2Client::handshake(stream, self.clone(), &target).await?;
                return client.extended_connect(&request, self.config).await;
            }
            handshake(stream, &self.request(&target), self.config).await
        };
        timeout(limit, upgrade).await.map_err(|_| Error::HandshakeTimeout(limit))?
    }

    /// Opens an HTTP/2 connection to the URL's origin (`wss://`: TLS with
    /// ALPN `h2` only; `ws://`: prior knowledge), whatever the
    /// [`http2`](Self::http2) policy, on which many WebSockets open: see
    /// [`http2::Client`](crate::http2::Client). The builder's headers,
    /// subprotocols, origin and [`Config`] are the defaults of each WebSocket.
    #[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
    pub async fn http2_client(mut self) -> Result<Http2Client, Error> {
        self.http2 = Http2Policy::Only;
        let target = Target::parse(&self.url)?;
        let tcp = self.open(&target).await?;
        let limit = self.config.handshake_timeout;
        let setup = async {
            let stream = self.secure(&target, tcp).await?;
            self.http2.speaks_h2(&stream, &target.host_header)?;
            Http2Client::handshake(stream, self.clone(), &target).await
        };
        timeout(limit, setup).await.map_err(|_| Error::HandshakeTimeout(limit))?
    }

    /// The TCP connection to the server, directly or through the proxy.
    async fn open(&self, target: &Target) -> Result<TcpStream, Error> {
        let proxy = match &self.proxy {
            ProxyChoice::Environment => {
                super::proxy::from_env_with(target.tls, &target.host, |name| std::env::var(name).ok())?
            }
            ProxyChoice::Direct => None,
            ProxyChoice::Given(proxy) => Some(proxy.clone()),
        };
        open_tcp(target, proxy.as_ref(), self.config.connect_timeout).await
    }

    #[cfg(feature = "rustls")]
    async fn secure(&self, target: &Target, tcp: TcpStream) -> Result<MaybeTlsStream, Error> {
        if target.tls {
            let alpn = self.alpn();
            let secured = crate::tls::connect(&self.tls, &target.host, tcp, alpn).await;
            #[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
            if let (Alpn::H2, Err(e)) = (alpn, &secured) {
                // rustls servers refuse a client whose ALPN they share nothing with.
                let no_alpn = rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol);
                if e.tls_cause() == Some(&no_alpn) {
                    return Err(crate::Http2Error::NotOffered { authority: target.host_header.clone().into() }.into());
                }
            }
            secured
        } else {
            Ok(MaybeTlsStream::Plain(tcp))
        }
    }

    #[cfg(feature = "rustls")]
    fn alpn(&self) -> Alpn {
        #[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
        let alpn = self.http2.alpn();
        #[cfg(not(all(feature = "http2", not(target_arch = "wasm32"))))]
        let alpn = Alpn::Http11;
        alpn
    }

    #[cfg(not(feature = "rustls"))]
    async fn secure(&self, _target: &Target, tcp: TcpStream) -> Result<MaybeTlsStream, Error> {
        Ok(MaybeTlsStream::Plain(tcp))
    }

    /// Performs the handshake over a transport you connected yourself (and
    /// secured, for `wss://`); the URL gives the `Host` header and the path.
    pub async fn connect_on<S>(self, stream: S) -> Result<WebSocket<S>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let target = Target::parse(&self.url)?;
        let request = self.request(&target);
        let limit = self.config.handshake_timeout;
        let upgrade = handshake(stream, &request, self.config);
        timeout(limit, upgrade).await.map_err(|_| Error::HandshakeTimeout(limit))?.map(|(ws, _)| ws)
    }

    pub(crate) fn request(&self, target: &Target) -> ClientRequest {
        ClientRequest {
            host: target.host_header.clone(),
            path: target.path.clone(),
            origin: self.origin.clone(),
            protocols: self.protocols.clone(),
            headers: self.headers.clone(),
            deflate: self.config.deflate,
        }
    }
}

/// The TCP connection that reaches the server: direct, or a tunnel through
/// the proxy, all within `limit`.
async fn open_tcp(target: &Target, proxy: Option<&Proxy>, limit: Duration) -> Result<TcpStream, Error> {
    let server = super::proxy::host_port(&target.host, target.port);
    let attempt = async {
        match proxy {
            None => connect_tcp(&target.host, target.port, "").await,
            Some(proxy) => {
                let mut tcp = connect_tcp(proxy.host(), proxy.port(), " (the proxy)").await?;
                super::proxy::tunnel(proxy, &mut tcp, &target.host, target.port).await?;
                Ok(tcp)
            }
        }
    };
    let addr = match proxy {
        None => server,
        Some(proxy) => format!("{server} through proxy {proxy}"),
    };
    let tcp =
        timeout(limit, attempt).await.map_err(|_| Error::ConnectTimeout { addr: addr.into(), timeout: limit })??;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// Resolves and connects, trying each address in turn, and says which step
/// failed; `label` follows the address in errors (" (the proxy)").
async fn connect_tcp(host: &str, port: u16, label: &str) -> Result<TcpStream, Error> {
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| Error::Dns { host: format!("{host}{label}").into(), source })?;
    let mut last = None;
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some((a, e)),
        }
    }
    Err(match last {
        None => Error::Dns { host: format!("{host}{label}").into(), source: io::Error::other("no addresses") },
        Some((a, e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            Error::Refused { addr: format!("{a}{label}").into(), source: e }
        }
        Some((a, e)) => Error::Connect { addr: format!("{a}{label}").into(), source: e },
    })
}

async fn handshake<S>(mut io: S, request: &ClientRequest, config: Config) -> Result<(WebSocket<S>, Response), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (hs, bytes) = ClientHandshake::new(request)?;
    let hs = hs.max_head(config.max_head_size);
    io.write_all(&bytes).await?;
    io.flush().await?;
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        let n = io.read_buf(&mut buf).await?;
        match hs.read_response(&buf) {
            Ok(Some((response, head_len))) => {
                buf.advance(head_len);
                let ws =
                    WebSocket::from_parts(io, Role::Client, buf, config, response.protocol.clone(), response.deflate);
                return Ok((ws, response));
            }
            Ok(None) if n == 0 => {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection before answering the handshake",
                )))
            }
            Ok(None) => {}
            Err(HandshakeError::Rejected { .. }) => return Err(read_rejection(&mut io, &hs, buf).await.into_status()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The server refused: read a little of the body (briefly) so the error can
/// show what the server said.
async fn read_rejection<S: AsyncRead + Unpin>(io: &mut S, hs: &ClientHandshake, mut buf: BytesMut) -> Error {
    const SNIPPET: usize = 512;
    loop {
        let error = match hs.read_response(&buf) {
            Err(e) => e,
            Ok(_) => unreachable_rejection(),
        };
        let HandshakeError::Rejected { headers, body, .. } = &error else { return error.into() };
        let expected = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .unwrap_or(SNIPPET)
            .min(SNIPPET);
        if body.len() >= expected {
            return error.into();
        }
        match timeout(Duration::from_millis(300), io.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return error.into(),
        }
    }
}

impl Error {
    /// A refusal read by the client is an HTTP status, not a bad upgrade.
    fn into_status(self) -> Error {
        match self {
            Error::Handshake(e) => match *e {
                HandshakeError::Rejected { status, headers, body } => {
                    Error::HttpStatus { status, headers, body: body.to_vec().into_boxed_slice() }
                }
                other => other.into(),
            },
            other => other,
        }
    }
}

/// A head that was a rejection stays one as more body bytes arrive.
fn unreachable_rejection() -> HandshakeError {
    HandshakeError::Http("response changed while reading its body".into())
}
