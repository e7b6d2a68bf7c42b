//! The application's answer to an upgrade request: [`Accept`] (with a
//! subprotocol and extra headers) or [`Reject`] (a status, headers, a body),
//! and what an accepted handshake agreed, shared by every server path.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tether_proto::handshake::server::Request;
use tether_proto::handshake::HandshakeError;
use tether_proto::{DeflateConfig, DeflateParams, Role};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::{Config, WebSocket};

/// The application's yes to an upgrade request.
#[derive(Clone, Debug, Default)]
pub struct Accept {
    pub(super) protocol: Option<String>,
    pub(super) headers: HeaderMap,
    /// permessage-deflate settings for this connection instead of the server's.
    deflate: Option<Option<DeflateConfig>>,
    /// A message limit for this connection below the server's.
    max_message_size: Option<usize>,
}

impl Accept {
    /// Accept with no subprotocol and no extra headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses a subprotocol; it must be one the client offered.
    pub fn protocol(mut self, protocol: Option<String>) -> Self {
        self.protocol = protocol;
        self
    }

    /// Adds a response header (ignored if the name or value is not valid HTTP).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.headers.append(n, v);
        }
        self
    }

    /// Uses these permessage-deflate settings for this connection instead
    /// of the server's [`Config::deflate`] (`None`: no compression). A room
    /// server, for one, adds `server_no_context_takeover` so that its
    /// members can share compressed frames ([`tether_proto::PreparedMessage`]).
    pub fn deflate(mut self, settings: Option<DeflateConfig>) -> Self {
        self.deflate = Some(settings);
        self
    }

    /// Refuses (close 1009) messages over `bytes` on this connection, and
    /// frames over it, as their headers arrive, if that is below the
    /// server's [`Config`] limits: a room server, for one, takes its
    /// members' smaller messages without reading a larger one whole first.
    /// With permessage-deflate the limit is on the inflated size, checked
    /// as the message inflates: a compressed frame is read whole.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// Negotiates permessage-deflate for `request` and builds the response
    /// that completes its handshake (101, or 200 on HTTP/2), for the
    /// servers that answer with `http` types (hyper, axum, HTTP/2).
    #[cfg(any(feature = "hyper", feature = "axum", feature = "http2"))]
    pub(crate) fn agree(
        self,
        request: &Request,
        config: &Config,
    ) -> Result<(http::Response<()>, Agreed), HandshakeError> {
        let (agreed, headers) = self.settle(request, config);
        let response = request.response(agreed.protocol.as_deref(), agreed.deflate.as_ref(), &headers)?;
        Ok((response, agreed))
    }

    /// `agree` for a request read from HTTP/1.1 bytes: the response goes
    /// into `out` as bytes, without `http` types.
    pub(crate) fn agree_h1(
        self,
        request: &Request,
        config: &Config,
        out: &mut impl BufMut,
    ) -> Result<Agreed, HandshakeError> {
        let (agreed, headers) = self.settle(request, config);
        request.write_response(agreed.protocol.as_deref(), agreed.deflate.as_ref(), &headers, out)?;
        Ok(agreed)
    }

    /// Negotiates permessage-deflate for `request`: the WebSocket's
    /// settings, and the extra response headers.
    fn settle(self, request: &Request, config: &Config) -> (Agreed, HeaderMap) {
        let settings = self.deflate.unwrap_or(config.deflate);
        let deflate = settings.as_ref().and_then(|c| request.negotiate_deflate(c));
        let target = match request.target() {
            "/" => Cow::Borrowed("/"),
            other => Cow::Owned(other.to_owned()),
        };
        let over_http2 = request.is_extended_connect();
        let max_message_size = self.max_message_size;
        (Agreed { protocol: self.protocol, deflate, settings, max_message_size, target, over_http2 }, self.headers)
    }
}

/// What an accepted handshake agreed: the settings of the WebSocket that
/// follows its response.
#[derive(Debug)]
pub(crate) struct Agreed {
    protocol: Option<String>,
    deflate: Option<DeflateParams>,
    /// The settings `deflate` was agreed under.
    settings: Option<DeflateConfig>,
    /// [`Accept::max_message_size`].
    max_message_size: Option<usize>,
    /// The request's path and query (most are `/`: not allocated).
    target: Cow<'static, str>,
    /// An extended CONNECT (HTTP/2), answered 200, rather than an upgrade.
    over_http2: bool,
}

impl Agreed {
    /// The server's WebSocket over `io`, once the response is sent;
    /// `leftover` holds frames read past the request head.
    pub(crate) fn open<S>(self, io: S, leftover: BytesMut, config: Config) -> WebSocket<S>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut config = config.deflate(self.settings);
        if let Some(max) = self.max_message_size {
            let limits = &mut config.protocol;
            limits.max_message_size = limits.max_message_size.min(max);
            limits.max_frame_size = limits.max_frame_size.min(max);
        }
        let mut ws = WebSocket::from_parts(io, Role::Server, leftover, config, self.protocol, self.deflate);
        ws.set_request_target(&self.target);
        if self.over_http2 {
            ws.await_peer_end();
        }
        ws
    }
}

/// The application's no: an HTTP status, headers and a plain-text body.
#[derive(Clone, Debug)]
pub struct Reject(pub(super) Box<Rejection>);

#[derive(Clone, Debug)]
pub(super) struct Rejection {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: String,
}

impl Reject {
    /// The error this rejection stands for, as the server side reports it.
    pub(crate) fn into_error(self) -> HandshakeError {
        let reject = self.0;
        HandshakeError::Rejected {
            status: reject.status,
            headers: Box::new(reject.headers),
            body: reject.body.into_bytes().into(),
        }
    }

    /// A rejection with `status` and a body that says why.
    pub fn new(status: StatusCode, body: impl Into<String>) -> Self {
        Reject(Box::new(Rejection { status, headers: HeaderMap::new(), body: body.into() }))
    }

    /// Adds a response header (ignored if the name or value is not valid HTTP).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.0.headers.append(n, v);
        }
        self
    }
}
