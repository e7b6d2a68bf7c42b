//! [`Client`]: one HTTP/2 connection to an origin on which many WebSockets
//! open as extended CONNECT streams (RFC 8441).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use tether_proto::handshake::client::h2::{ExtendedConnect, PROTOCOL};
use tether_proto::handshake::client::{ClientRequest, Response};
use tether_proto::handshake::HandshakeError;
use tether_proto::Role;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::timeout;

use super::stream::{connection_error, H2Stream};
use crate::target::Target;
use crate::{ClientBuilder, Config, Error, Http2Error, MaybeTlsStream, WebSocket};

/// Each stream's receive window (`SETTINGS_INITIAL_WINDOW_SIZE`): what the
/// server may send on one WebSocket that its reader has not taken yet.
pub const STREAM_WINDOW: u32 = 256 * 1024;

/// The connection's receive window by default: room for 100 stream
/// windows, so that a WebSocket nobody reads (which holds at most one
/// stream window of it) does not stall the others; h2's default is one
/// stream window.
pub const CONNECTION_WINDOW: u32 = connection_window(STREAM_WINDOW);

/// The largest window HTTP/2 allows (RFC 9113 section 6.9.1).
const MAX_WINDOW: u32 = (1 << 31) - 1;

/// The connection window for a stream window: 100 of them, within HTTP/2's bound.
const fn connection_window(stream: u32) -> u32 {
    let total = 100 * stream as u64;
    if total > MAX_WINDOW as u64 {
        MAX_WINDOW
    } else {
        total as u32
    }
}

/// One HTTP/2 connection to an origin (scheme, host and port) that opens
/// WebSockets as streams: [`connect`](Self::connect) costs one round trip and
/// no new TCP or TLS handshake.
///
/// Cheap to clone (the clones share the connection); the connection closes
/// once every clone and every WebSocket opened on it are dropped.
/// [`closed`](Self::closed) and [`is_closed`](Self::is_closed) tell when it
/// is gone. The server bounds how many streams are open at once
/// (`SETTINGS_MAX_CONCURRENT_STREAMS`): `connect` waits for a free one.
///
/// ```no_run
/// # async fn demo() -> Result<(), tether::Error> {
/// use tether::prelude::*;
/// let client = tether::http2::Client::open("wss://example.com").await?;
/// let mut chat = client.connect("/chat").await?;
/// let mut feed = client.connect("/feed?since=10").await?;
/// chat.send(Message::text("hello")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    send: SendRequest<Bytes>,
    /// The settings of each WebSocket unless given otherwise (and the origin).
    defaults: ClientBuilder,
    origin: Origin,
    /// `None` while the connection runs; then how it ended.
    state: watch::Receiver<Option<Result<(), Http2Error>>>,
}

/// What a URL must share with the connection to open on it.
#[derive(Clone, Debug)]
struct Origin {
    tls: bool,
    host_header: String,
}

impl Client {
    /// Opens an HTTP/2 connection to the origin of `url` (`wss://`: TLS with
    /// ALPN `h2`; `ws://`: cleartext HTTP/2 with prior knowledge), with the
    /// proxy from the environment; the URL's path is unused. For TLS
    /// settings, a proxy, headers or a [`Config`], use
    /// [`ClientBuilder::http2_client`].
    pub async fn open(url: &str) -> Result<Client, Error> {
        crate::connect_with(url).http2_client().await
    }

    /// Runs HTTP/2 over `io` (TLS already set up for `wss://`), waits for
    /// the server's SETTINGS and checks it takes WebSockets.
    pub(crate) async fn handshake<S>(io: S, defaults: ClientBuilder, target: &Target) -> Result<Client, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let authority = target.host_header.clone();
        let stream_window = defaults.http2_stream_window.clamp(1, MAX_WINDOW);
        let (send, mut connection) = h2::client::Builder::new()
            .initial_window_size(stream_window)
            .initial_connection_window_size(connection_window(stream_window))
            .enable_push(false)
            .max_frame_size(super::MAX_FRAME_SIZE)
            .max_header_list_size(u32::try_from(defaults.config.max_head_size).unwrap_or(u32::MAX))
            .handshake::<_, Bytes>(io)
            .await
            .map_err(|e| setup_error(e, &authority))?;
        let ping_pong = connection.ping_pong();
        let (report, state) = watch::channel(None);
        tokio::spawn(async move {
            let end = connection.await.map_err(|e| ended(&e));
            let _ = report.send(Some(end));
        });
        // The server's SETTINGS is the first frame it sends, so once our
        // PING is answered, its SETTINGS were applied.
        if !send.is_extended_connect_protocol_enabled() {
            if let Some(mut ping_pong) = ping_pong {
                ping_pong.ping(h2::Ping::opaque()).await.map_err(|e| setup_error(e, &authority))?;
            }
        }
        if !send.is_extended_connect_protocol_enabled() {
            return Err(Http2Error::ExtendedConnectDisabled { authority: authority.into() }.into());
        }
        let origin = Origin { tls: target.tls, host_header: authority };
        Ok(Client { send, defaults, origin, state })
    }

    /// Opens a WebSocket on this connection at `path_or_url`: a path (and
    /// query) such as `/chat`, or a URL of the same origin. It has the
    /// headers, subprotocols, origin and [`Config`] of the builder the
    /// client was made with.
    pub async fn connect(&self, path_or_url: &str) -> Result<WebSocket<MaybeTlsStream>, Error> {
        self.connect_with(self.defaults.clone().with_url(path_or_url.to_owned())).await.map(|(ws, _)| ws)
    }

    /// Opens a WebSocket with the settings of `builder` (its headers,
    /// subprotocols, origin and [`Config`]; its URL may be a path or a URL
    /// of this connection's origin; its TLS and proxy settings are unused),
    /// and returns the server's response too.
    pub async fn connect_with(&self, builder: ClientBuilder) -> Result<(WebSocket<MaybeTlsStream>, Response), Error> {
        let url = builder.target_url();
        let target = if url.starts_with('/') {
            let scheme = if self.origin.tls { "wss" } else { "ws" };
            Target::parse(&format!("{scheme}://{}{url}", self.origin.host_header))?
        } else {
            Target::parse(url)?
        };
        if target.tls != self.origin.tls || target.host_header != self.origin.host_header {
            let reason = format!("not the origin of this HTTP/2 connection ({})", self.origin.host_header);
            return Err(Error::Url { url: url.into(), reason: reason.into() });
        }
        let limit = builder.config.handshake_timeout;
        let request = builder.request(&target);
        timeout(limit, self.extended_connect(&request, builder.config))
            .await
            .map_err(|_| Error::HandshakeTimeout(limit))?
    }

    /// The extended CONNECT on a new stream, then the WebSocket over it.
    pub(crate) async fn extended_connect(
        &self,
        request: &ClientRequest,
        config: Config,
    ) -> Result<(WebSocket<MaybeTlsStream>, Response), Error> {
        let (handshake, mut head) = ExtendedConnect::new(request, self.origin.tls)?;
        head.extensions_mut().insert(h2::ext::Protocol::from_static(PROTOCOL));
        let mut send = self.send.clone();
        let mut send = match send.clone().ready().await {
            Ok(ready) => ready,
            Err(e) => return Err(stream_error(connection_error(&mut send, e))),
        };
        let (response, body) = match send.send_request(head, false) {
            Ok(sent) => sent,
            Err(e) => return Err(stream_error(connection_error(&mut send, e))),
        };
        let response = match response.await {
            Ok(response) => response,
            Err(e) => return Err(stream_error(connection_error(&mut send, e))),
        };
        let (parts, mut recv) = response.into_parts();
        match handshake.check_response(parts.status, parts.headers) {
            Ok(response) => {
                let stream = H2Stream::new(body, recv).watch_connection(send);
                let io = MaybeTlsStream::H2 { stream: Box::new(stream), tls: self.origin.tls };
                let (protocol, deflate) = (response.protocol.clone(), response.deflate);
                Ok((WebSocket::from_parts(io, Role::Client, BytesMut::new(), config, protocol, deflate), response))
            }
            Err(HandshakeError::Rejected { status, headers, .. }) => {
                let body = read_snippet(&mut recv).await;
                Err(Error::HttpStatus { status, headers, body })
            }
            // Dropping the stream resets it (CANCEL).
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the connection has ended (new WebSockets would fail).
    pub fn is_closed(&self) -> bool {
        self.state.borrow().is_some()
    }

    /// Resolves when the connection has ended: `Ok` after a clean end,
    /// else why ([`Http2Error::GoAway`] with the server's code, a lost
    /// connection...). Cancel-safe.
    pub async fn closed(&self) -> Result<(), Http2Error> {
        let mut state = self.state.clone();
        let end = match state.wait_for(Option::is_some).await {
            Ok(end) => end.clone(),
            // The task that drives the connection is gone (its runtime shut down).
            Err(_) => None,
        };
        end.unwrap_or(Err(Http2Error::ConnectionClosed))
    }

    /// The most streams (WebSockets) the server lets this connection have
    /// open at once (its `SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub fn max_streams(&self) -> usize {
        self.send.current_max_send_streams()
    }
}

/// The start of a refusal's body (at most 512 bytes, waiting briefly), for
/// the error to show what the server said.
async fn read_snippet(recv: &mut h2::RecvStream) -> Box<[u8]> {
    const SNIPPET: usize = 512;
    let mut body = Vec::new();
    while body.len() < SNIPPET {
        match timeout(Duration::from_millis(300), recv.data()).await {
            Ok(Some(Ok(data))) => {
                let _ = recv.flow_control().release_capacity(data.len());
                body.extend_from_slice(&data[..data.len().min(SNIPPET - body.len())]);
            }
            _ => break,
        }
    }
    body.into_boxed_slice()
}

/// An error while opening one stream: a socket error as such, the rest as
/// [`Http2Error`] (refused stream, reset, GOAWAY).
fn stream_error(e: h2::Error) -> Error {
    match e.is_io() {
        true => Error::Io(e.into_io().unwrap_or_else(|| std::io::ErrorKind::Other.into())),
        false => Http2Error::from_h2(&e).into(),
    }
}

/// An error while setting up the connection: an error h2 raised itself,
/// or a connection closed before the server's SETTINGS came, means the
/// server does not speak HTTP/2 (an HTTP/1.1 server given prior knowledge
/// answers the preface with a 400 and closes).
fn setup_error(e: h2::Error, authority: &str) -> Error {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
    let closed = e.get_io().is_some_and(|io| matches!(io.kind(), BrokenPipe | ConnectionReset | UnexpectedEof));
    if e.is_remote() || (e.is_io() && !closed) {
        return stream_error(e);
    }
    Http2Error::Protocol(format!("{authority} does not speak HTTP/2 ({e})").into()).into()
}

/// How the connection ended, for [`Client::closed`].
fn ended(e: &h2::Error) -> Http2Error {
    match e.get_io() {
        Some(io) => Http2Error::ConnectionLost(io.to_string().into()),
        None => Http2Error::from_h2(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_connection_window_holds_100_stream_windows_within_http2s_bound() {
        assert_eq!(super::CONNECTION_WINDOW, 100 * 256 * 1024);
        assert_eq!(super::connection_window(65_535), 6_553_500);
        assert_eq!(super::connection_window(1 << 30), (1 << 31) - 1);
    }
}
