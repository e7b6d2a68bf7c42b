//! The server's side of the opening handshake: the checks of RFC 6455
//! section 4.2.1 (GET + `Sec-WebSocket-Key`, answered 101, on HTTP/1.1) and
//! RFC 8441 section 4 (CONNECT + `:protocol = websocket`, answered 200, on
//! HTTP/2), on `http` types, and the HTTP/1.1 bytes of both ends
//! ([`read_request`], [`encode_response`]).
//!
//! Every server path makes the same checks (`check_upgrade` and
//! `Offers::check`): on `http` types ([`Request::from_head`], for the
//! hyper and axum integrations and HTTP/2) or straight on the parsed bytes
//! ([`read_request`], which builds the `http` types only if the
//! application asks for them), so they accept, negotiate and refuse the
//! same way.

mod h1;

use std::sync::OnceLock;

use base64::Engine as _;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};

use super::extensions::{parse_extensions, DeflateParams, ExtensionOffer};
use super::{accept_value, check_token, header_str, tokens, HandshakeError, Lines};
use crate::deflate::DeflateConfig;

pub use h1::{encode_response, read_request, reject_response};

/// The length of a valid `Sec-WebSocket-Key`: the base64 of 16 bytes.
const KEY_LEN: usize = 24;

/// The value of the HTTP/2 `:protocol` pseudo-header that asks for a WebSocket.
pub const CONNECT_PROTOCOL: &str = "websocket";

/// A client's upgrade request that passed every check of RFC 6455 section
/// 4.2.1 (HTTP/1.1) or RFC 8441 section 4 (HTTP/2 extended CONNECT).
#[derive(Debug, Clone)]
pub struct Request {
    /// The request line and headers as `http` types: given, or built from
    /// `raw` when first asked for (most deciders never ask: a `HeaderMap`
    /// costs an allocation per header). Boxed: a request is moved along the
    /// handshake, and the box is a pointer until it is filled.
    head: OnceLock<Box<http::Request<()>>>,
    /// The head of a request read from bytes ([`read_request`]).
    raw: Option<h1::RawHead>,
    offers: Offers,
}

/// What the checks of a request found: its key and what it offered.
#[derive(Debug, Clone)]
struct Offers {
    /// `Sec-WebSocket-Key` on HTTP/1.1; HTTP/2 has none (RFC 8441 section 5).
    key: Option<[u8; KEY_LEN]>,
    protocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
}

impl Request {
    /// Checks an upgrade request given as `http` types. `protocol` is the
    /// HTTP/2 `:protocol` pseudo-header (which `http` has no field for: a
    /// server library hands it over as an extension, like hyper's
    /// `ext::Protocol`); it is ignored on HTTP/1.x.
    ///
    /// HTTP/1.1 needs GET, `Host`, `Upgrade: websocket`, `Connection:
    /// upgrade`, `Sec-WebSocket-Version: 13` and a valid `Sec-WebSocket-Key`;
    /// HTTP/2 and later need CONNECT, `:protocol = websocket`, an authority
    /// and `Sec-WebSocket-Version: 13`. On `Err`, answer with
    /// [`HandshakeError::status`].
    pub fn from_head(head: http::Request<()>, protocol: Option<&str>) -> Result<Self, HandshakeError> {
        let http1 = head.version() <= Version::HTTP_11;
        if http1 {
            check_upgrade(head.method().as_str(), head.version(), head.headers())?;
        } else {
            check_extended_connect(&head, protocol)?;
        }
        let offers = Offers::check(head.headers(), http1)?;
        Ok(Request { head: OnceLock::from(Box::new(head)), raw: None, offers })
    }

    /// Checks the head of a request from a server library (the method, URI,
    /// version and headers are copied; extensions are not), as
    /// [`from_head`](Self::from_head) does.
    pub fn from_parts(parts: &http::request::Parts, protocol: Option<&str>) -> Result<Self, HandshakeError> {
        Self::from_head(copy_head(&parts.method, &parts.uri, parts.version, &parts.headers), protocol)
    }

    /// Checks the head of a request with a body (copied as
    /// [`from_parts`](Self::from_parts) does).
    pub fn from_request<B>(request: &http::Request<B>, protocol: Option<&str>) -> Result<Self, HandshakeError> {
        let head = copy_head(request.method(), request.uri(), request.version(), request.headers());
        Self::from_head(head, protocol)
    }

    /// The request line and headers, for the application to inspect
    /// (path, `Origin`, `Authorization`, cookies...).
    pub fn head(&self) -> &http::Request<()> {
        // Only a request read from bytes starts without its head.
        self.head
            .get_or_init(|| Box::new(self.raw.as_ref().map_or_else(|| http::Request::new(()), h1::RawHead::to_head)))
    }

    /// The request target's path and query (`/chat?room=1`), without
    /// building [`head`](Self::head).
    pub fn target(&self) -> &str {
        let uri = match &self.raw {
            Some(raw) => raw.uri(),
            None => self.head().uri(),
        };
        uri.path_and_query().map_or(uri.path(), |pq| pq.as_str())
    }

    /// Whether the request came as an HTTP/2 (or later) extended CONNECT.
    pub fn is_extended_connect(&self) -> bool {
        self.offers.key.is_none()
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> &[String] {
        &self.offers.protocols
    }

    /// The extensions the client offered, parsed (empty if the header was malformed).
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.offers.extensions
    }

    /// Picks the first acceptable permessage-deflate offer, if any.
    pub fn negotiate_deflate(&self, config: &DeflateConfig) -> Option<DeflateParams> {
        DeflateParams::accept(&self.offers.extensions, config)
    }

    /// The `Origin` header, if the client sent one.
    pub fn origin(&self) -> Option<&str> {
        match &self.raw {
            Some(raw) => raw.origin(),
            None => header_str(self.head().headers(), "origin"),
        }
    }

    /// The response that completes the handshake: 101 with
    /// `Sec-WebSocket-Accept` on HTTP/1.1, 200 on HTTP/2; with the chosen
    /// subprotocol (which must be one the client offered), the negotiated
    /// permessage-deflate parameters, and extra headers.
    pub fn response(
        &self,
        protocol: Option<&str>,
        deflate: Option<&DeflateParams>,
        extra: &HeaderMap,
    ) -> Result<http::Response<()>, HandshakeError> {
        let mut response = http::Response::new(());
        if let Some(key) = &self.offers.key {
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let headers = response.headers_mut();
            headers.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(http::header::CONNECTION, HeaderValue::from_static("Upgrade"));
            let accept = HeaderValue::from_bytes(&accept_value(key))
                .map_err(|e| HandshakeError::InvalidHeader(e.to_string()))?;
            headers.insert(http::header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        let headers = response.headers_mut();
        if let Some(p) = protocol {
            if !self.offers.protocols.iter().any(|o| o == p) {
                return Err(HandshakeError::UnofferedProtocol(p.to_owned()));
            }
            headers.insert(http::header::SEC_WEBSOCKET_PROTOCOL, valid(p.to_owned())?);
        }
        if let Some(params) = deflate {
            headers.insert(http::header::SEC_WEBSOCKET_EXTENSIONS, valid(params.header_value())?);
        }
        for (name, value) in extra {
            headers.append(name, value.clone());
        }
        Ok(response)
    }

    /// The HTTP/1.1 bytes of [`response`](Self::response), for a request
    /// read with [`read_request`] ([`write_response`](Self::write_response)
    /// into a new buffer).
    pub fn accept_response(
        &self,
        protocol: Option<&str>,
        deflate: Option<&DeflateParams>,
        extra: &HeaderMap,
    ) -> Result<Vec<u8>, HandshakeError> {
        let mut out = Vec::with_capacity(256);
        self.write_response(protocol, deflate, extra, &mut out)?;
        Ok(out)
    }
}

/// The checks of RFC 6455 section 4.2.1 that come before the WebSocket
/// headers: GET, HTTP/1.1, `Host`, `Upgrade: websocket`, `Connection: upgrade`.
fn check_upgrade<H: Lines + ?Sized>(method: &str, version: Version, headers: &H) -> Result<(), HandshakeError> {
    if method != Method::GET.as_str() {
        return Err(HandshakeError::Method(method.to_owned()));
    }
    if version != Version::HTTP_11 {
        return Err(HandshakeError::HttpVersion);
    }
    if header_str(headers, "host").is_none() {
        return Err(HandshakeError::MissingHeader("Host"));
    }
    check_token(headers, "upgrade", "Upgrade", "websocket")?;
    check_token(headers, "connection", "Connection", "upgrade")
}

impl Offers {
    /// The checks both HTTP versions share (`Sec-WebSocket-Version: 13`,
    /// and the key on HTTP/1.1), then the offered subprotocols and extensions.
    fn check<H: Lines + ?Sized>(headers: &H, http1: bool) -> Result<Self, HandshakeError> {
        match header_str(headers, "sec-websocket-version") {
            None => return Err(HandshakeError::MissingHeader("Sec-WebSocket-Version")),
            Some("13") => {}
            Some(v) => return Err(HandshakeError::UnsupportedVersion(v.to_owned())),
        }
        let key = if http1 { Some(check_key(headers)?) } else { None };
        let protocols = tokens(headers, "sec-websocket-protocol").map(str::to_owned).collect();
        // A malformed extension header declines every extension, as RFC 7692 7.1 has it.
        let lines = headers.lines("sec-websocket-extensions").filter_map(super::visible);
        let extensions = parse_extensions(lines).unwrap_or_default();
        Ok(Offers { key, protocols, extensions })
    }
}

/// A request head without body or extensions.
fn copy_head(method: &Method, uri: &http::Uri, version: Version, headers: &HeaderMap) -> http::Request<()> {
    let mut head = http::Request::new(());
    *head.method_mut() = method.clone();
    *head.uri_mut() = uri.clone();
    *head.version_mut() = version;
    *head.headers_mut() = headers.clone();
    head
}

/// The HTTP/2 side of the checks (RFC 8441 section 4): CONNECT, `:protocol
/// = websocket` and an authority (`:authority`, or `Host` as HTTP/1.1 puts it).
fn check_extended_connect(head: &http::Request<()>, protocol: Option<&str>) -> Result<(), HandshakeError> {
    if head.method() != Method::CONNECT {
        return Err(HandshakeError::MethodNotConnect(head.method().to_string()));
    }
    match protocol {
        None => return Err(HandshakeError::MissingHeader(":protocol")),
        Some(p) if p.eq_ignore_ascii_case(CONNECT_PROTOCOL) => {}
        Some(p) => {
            return Err(HandshakeError::BadHeader { name: ":protocol", expected: CONNECT_PROTOCOL, got: p.to_owned() })
        }
    }
    if head.uri().authority().is_none() && header_str(head.headers(), "host").is_none() {
        return Err(HandshakeError::MissingHeader(":authority"));
    }
    Ok(())
}

/// The `Sec-WebSocket-Key`, checked to be the base64 of 16 bytes (always
/// 24 characters: the padding is required), decoded on the stack.
fn check_key<H: Lines + ?Sized>(headers: &H) -> Result<[u8; KEY_LEN], HandshakeError> {
    let key = header_str(headers, "sec-websocket-key").ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Key"))?;
    // Room for what base64 estimates 24 characters may decode to.
    let mut decoded = [0; 18];
    match (
        <[u8; KEY_LEN]>::try_from(key.as_bytes()),
        base64::engine::general_purpose::STANDARD.decode_slice(key, &mut decoded),
    ) {
        (Ok(key), Ok(16)) => Ok(key),
        _ => Err(HandshakeError::BadKey(key.to_owned())),
    }
}

/// A header value made by us or chosen by the application.
fn valid(value: String) -> Result<HeaderValue, HandshakeError> {
    HeaderValue::try_from(value).map_err(|e| HandshakeError::InvalidHeader(e.to_string()))
}

#[cfg(test)]
mod tests;
