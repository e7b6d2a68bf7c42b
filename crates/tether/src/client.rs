//! The client: URL to TCP connection to handshake to [`WebSocket`].

use std::io;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tether_proto::handshake::client::{ClientHandshake, ClientRequest};
use tether_proto::handshake::HandshakeError;
use tether_proto::Role;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::{Config, Error, MaybeTlsStream, WebSocket};

/// Connects to a `ws://` URL with the default [`Config`].
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
    }
}

/// Options for a client connection; finish with [`connect`](Self::connect).
#[derive(Clone, Debug)]
#[must_use = "a ClientBuilder does nothing until .connect() is awaited"]
pub struct ClientBuilder {
    url: String,
    config: Config,
    origin: Option<String>,
    protocols: Vec<String>,
    headers: Vec<(String, String)>,
}

impl ClientBuilder {
    /// Adds a request header (`Authorization`, `Cookie`, ...).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Offers a subprotocol; call again to offer more, in order of preference.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
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

    /// Resolves the host, connects over TCP and performs the handshake.
    pub async fn connect(self) -> Result<WebSocket<MaybeTlsStream>, Error> {
        let target = Target::parse(&self.url)?;
        let tcp = connect_tcp(&target, self.config.connect_timeout).await?;
        self.handshake_on(MaybeTlsStream::Plain(tcp), &target).await
    }

    /// Performs the handshake over a transport you connected yourself; the
    /// URL gives the `Host` header and the path.
    pub async fn connect_on<S>(self, stream: S) -> Result<WebSocket<S>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let target = Target::parse(&self.url)?;
        self.handshake_on(stream, &target).await
    }

    async fn handshake_on<S>(self, stream: S, target: &Target) -> Result<WebSocket<S>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let request = ClientRequest {
            host: target.host_header.clone(),
            path: target.path.clone(),
            origin: self.origin,
            protocols: self.protocols,
            headers: self.headers,
            deflate: self.config.deflate,
        };
        let limit = self.config.handshake_timeout;
        timeout(limit, handshake(stream, &request, self.config)).await.map_err(|_| Error::HandshakeTimeout(limit))?
    }
}

/// What a URL says about where to connect.
struct Target {
    host: String,
    port: u16,
    host_header: String,
    path: String,
}

impl Target {
    fn parse(raw: &str) -> Result<Target, Error> {
        let bad = |reason: &str| Error::Url { url: raw.to_owned(), reason: reason.to_owned() };
        let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
        match url.scheme() {
            "ws" => {}
            "wss" => return Err(bad("wss:// needs TLS, which this build of tether does not have yet")),
            other => return Err(bad(&format!("scheme {other}:// is not ws://"))),
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(bad("no host")),
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let host_str = url.host_str().unwrap_or_default();
        let host_header = match url.port() {
            Some(p) => format!("{host_str}:{p}"),
            None => host_str.to_owned(),
        };
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        Ok(Target { host, port, host_header, path })
    }
}

/// Resolves and connects, trying each address in turn, and says which step failed.
async fn connect_tcp(target: &Target, limit: Duration) -> Result<TcpStream, Error> {
    let addr = format!("{}:{}", target.host, target.port);
    let attempt = async {
        let addrs = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|source| Error::Dns { host: target.host.clone(), source })?;
        let mut last = None;
        for a in addrs {
            match TcpStream::connect(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some((a, e)),
            }
        }
        Err(match last {
            None => Error::Dns { host: target.host.clone(), source: io::Error::other("no addresses") },
            Some((a, e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                Error::Refused { addr: a.to_string(), source: e }
            }
            Some((a, e)) => Error::Connect { addr: a.to_string(), source: e },
        })
    };
    let tcp = timeout(limit, attempt).await.map_err(|_| Error::ConnectTimeout { addr, timeout: limit })??;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

async fn handshake<S>(mut io: S, request: &ClientRequest, config: Config) -> Result<WebSocket<S>, Error>
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
                return Ok(WebSocket::from_parts(io, Role::Client, buf, config, response.protocol, response.deflate));
            }
            Ok(None) if n == 0 => {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection before answering the handshake",
                )))
            }
            Ok(None) => {}
            Err(HandshakeError::Rejected { .. }) => return Err(read_rejection(&mut io, &hs, buf).await),
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

/// A head that was a rejection stays one as more body bytes arrive.
fn unreachable_rejection() -> HandshakeError {
    HandshakeError::Http("response changed while reading its body".into())
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn urls_give_host_header_and_path() {
        let t = Target::parse("ws://example.com/chat?room=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.host_header.as_str(), t.path.as_str()),
            ("example.com", 80, "example.com", "/chat?room=1")
        );
        let t = Target::parse("ws://[::1]:9001").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.host_header.as_str(), t.path.as_str()),
            ("::1", 9001, "[::1]:9001", "/")
        );
        assert!(Target::parse("http://x").is_err());
        assert!(Target::parse("not a url").is_err());
    }
}
