//! The opening handshake (RFC 6455 section 4): HTTP/1.1 upgrade bytes for
//! both roles, the server's checks on `http` types (HTTP/1.1 upgrade and
//! HTTP/2 extended CONNECT, RFC 8441), and the extensions they negotiate,
//! with no IO.

pub mod client;
pub mod extensions;
pub mod server;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use sha1::{Digest, Sha1};

/// The GUID that section 1.3 appends to the client's key.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The most headers a handshake head may carry.
const MAX_HEADERS: usize = 64;

/// The type of the bodies that say why a handshake was refused.
const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// The default bound on a handshake head (request or response line and headers).
pub const DEFAULT_MAX_HEAD: usize = 16 * 1024;

/// The length of a `Sec-WebSocket-Accept` value: the base64 of a 20-byte SHA-1.
pub const ACCEPT_LEN: usize = 28;

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    // Base64 is ASCII: the conversion is exact.
    String::from_utf8_lossy(&accept_value(key)).into_owned()
}

/// [`accept_key`] on the stack, for a server that writes its response
/// straight into a buffer: the 28 ASCII bytes of the value.
pub fn accept_value(key: &[u8]) -> [u8; ACCEPT_LEN] {
    let digest = Sha1::new().chain_update(key).chain_update(GUID).finalize();
    let mut out = [0; ACCEPT_LEN];
    // 20 bytes encode to exactly 28: the buffer always fits.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(digest, &mut out);
    out
}

/// Why a handshake failed. Server-side variants know the HTTP answer to send
/// ([`HandshakeError::status`]); client-side ones say what the server got wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The head exceeded the configured size before it ended.
    #[error("handshake head larger than {0} bytes")]
    HeadTooLarge(usize),
    /// The bytes are not an HTTP/1.x head.
    #[error("malformed HTTP: {0}")]
    Http(String),
    /// The request method was not GET.
    #[error("method {0} is not GET")]
    Method(String),
    /// An HTTP/2 (or later) request's method was not CONNECT (RFC 8441).
    #[error("method {0} is not CONNECT (a WebSocket over HTTP/2 is an extended CONNECT)")]
    MethodNotConnect(String),
    /// HTTP/1.0 (the upgrade needs HTTP/1.1 or later).
    #[error("HTTP/1.1 or later required")]
    HttpVersion,
    /// A required header was absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header did not hold the token or value it must.
    #[error("header {name} must be {expected}, got {got:?}")]
    BadHeader {
        /// The header's name.
        name: &'static str,
        /// What the header must hold.
        expected: &'static str,
        /// What it held.
        got: String,
    },
    /// `Sec-WebSocket-Key` was not the base64 of 16 bytes.
    #[error("Sec-WebSocket-Key {0:?} is not the base64 of 16 bytes")]
    BadKey(String),
    /// The client speaks another WebSocket version than 13 (answered 426).
    #[error("unsupported WebSocket version {0:?} (13 required)")]
    UnsupportedVersion(String),
    /// The server answered with something else than 101.
    #[error("server answered {status}{}", snippet(.body))]
    Rejected {
        /// The response status.
        status: StatusCode,
        /// The response headers.
        headers: Box<HeaderMap>,
        /// The start of the response body (up to a few hundred bytes).
        body: Bytes,
    },
    /// `Sec-WebSocket-Accept` did not match our key.
    #[error("Sec-WebSocket-Accept {got:?} does not match the key (expected {expected:?})")]
    BadAccept {
        /// The value the server sent.
        got: String,
        /// The value our key calls for.
        expected: String,
    },
    /// The server chose a subprotocol that was not offered.
    #[error("server chose subprotocol {0:?}, which was not offered")]
    UnofferedProtocol(String),
    /// The server answered with an extension that was not offered.
    #[error("server chose extension {0:?}, which was not offered")]
    UnofferedExtension(String),
    /// The server's permessage-deflate answer broke RFC 7692 (unknown,
    /// duplicate or invalid parameter, or a window larger than offered).
    #[error("bad permessage-deflate response: {0}")]
    BadExtension(String),
    /// An application-supplied header name or value is not valid HTTP.
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
    /// The OS random number generator failed.
    #[error("no randomness for the handshake key: {0}")]
    Random(String),
}

fn snippet(body: &Bytes) -> String {
    if body.is_empty() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    format!(": {}", text.trim())
}

impl HandshakeError {
    /// The status a server answers this failure with: the application's
    /// own for a refusal, 426 for a version mismatch, 405 for a method
    /// other than GET (CONNECT on HTTP/2), 400 for the rest.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Rejected { status, .. } => *status,
            Self::UnsupportedVersion(_) => StatusCode::UPGRADE_REQUIRED,
            Self::Method(_) | Self::MethodNotConnect(_) => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The response a server sends for this failure, as `http` types: the
    /// status, `Sec-WebSocket-Version: 13` after a version mismatch, `Allow`
    /// with a 405, and a plain-text body that says why (a refusal keeps its
    /// own headers and body).
    pub fn to_http(&self) -> http::Response<Bytes> {
        let (headers, body) = match self {
            Self::Rejected { headers, body, .. } => ((**headers).clone(), body.clone()),
            _ => {
                let mut headers = HeaderMap::new();
                headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(TEXT_PLAIN));
                (headers, Bytes::from(format!("{self}\n")))
            }
        };
        let mut response = http::Response::new(body);
        *response.status_mut() = self.status();
        *response.headers_mut() = headers;
        let extra = match self {
            Self::UnsupportedVersion(_) => Some(("sec-websocket-version", "13")),
            // RFC 9110, 15.5.6: a 405 lists the methods that would work.
            Self::Method(_) => Some(("allow", "GET")),
            Self::MethodNotConnect(_) => Some(("allow", "CONNECT")),
            _ => None,
        };
        if let Some((name, value)) = extra {
            response.headers_mut().insert(name, http::HeaderValue::from_static(value));
        }
        response
    }

    /// The full HTTP/1.1 response a server sends for this failure ([`to_http`](Self::to_http) as bytes).
    pub fn response(&self) -> Vec<u8> {
        let mut response = self.to_http();
        if !matches!(self, Self::Rejected { .. }) {
            // `reject_response` writes its own.
            response.headers_mut().remove(http::header::CONTENT_TYPE);
        }
        server::reject_response(response.status(), response.headers(), &String::from_utf8_lossy(response.body()))
    }
}

/// The lines of each header by name, from a [`HeaderMap`] or straight from
/// httparse (a server reading bytes checks a request without building a map).
trait Lines {
    /// Every line of header `name` (given in lower case), in order.
    fn lines<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a;
}

impl Lines for HeaderMap {
    fn lines<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.get_all(name).iter().map(http::HeaderValue::as_bytes)
    }
}

impl Lines for [httparse::Header<'_>] {
    fn lines<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter().filter(move |h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
    }
}

/// A header value as text if it is visible ASCII (tabs allowed), as
/// [`http::HeaderValue::to_str`] has it, so both sources read alike.
fn visible(value: &[u8]) -> Option<&str> {
    let ok = value.iter().all(|&b| is_visible(b));
    ok.then(|| std::str::from_utf8(value).ok()).flatten()
}

/// Visible ASCII or a tab: what [`visible`] text is made of.
fn is_visible(b: u8) -> bool {
    b == b'\t' || (32..127).contains(&b)
}

/// Whether a comma-separated header (all its lines) holds `token`, ignoring
/// case: [`tokens`] compared as bytes (no UTF-8 check: only visible ASCII
/// lines count, as there).
fn has_token<H: Lines + ?Sized>(headers: &H, name: &str, token: &str) -> bool {
    let token = token.as_bytes();
    headers.lines(name).any(|v| {
        // The usual line is the token alone (`Upgrade: websocket`): then
        // the line is visible ASCII, as the token is, and needs no split.
        v.eq_ignore_ascii_case(token)
            || (v.iter().all(|&b| is_visible(b))
                && v.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token)))
    })
}

/// The comma-separated tokens of every line of a header, trimmed, non-empty.
fn tokens<'a, H: Lines + ?Sized>(headers: &'a H, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers.lines(name).filter_map(visible).flat_map(|v| v.split(',')).map(str::trim).filter(|t| !t.is_empty())
}

/// Copies parsed httparse headers into a [`HeaderMap`].
fn to_header_map(raw: &[httparse::Header<'_>]) -> Result<HeaderMap, HandshakeError> {
    let mut map = HeaderMap::with_capacity(raw.len());
    for h in raw {
        let name = http::HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| HandshakeError::Http(format!("bad header name {:?}", h.name)))?;
        let value = http::HeaderValue::from_bytes(h.value)
            .map_err(|_| HandshakeError::Http(format!("bad value for header {}", h.name)))?;
        map.append(name, value);
    }
    Ok(map)
}

/// Checks that header `key` (displayed as `name`) holds `token`.
fn check_token<H: Lines + ?Sized>(
    headers: &H,
    key: &str,
    name: &'static str,
    token: &'static str,
) -> Result<(), HandshakeError> {
    if has_token(headers, key, token) {
        return Ok(());
    }
    match headers.lines(key).next() {
        None => Err(HandshakeError::MissingHeader(name)),
        Some(v) => {
            Err(HandshakeError::BadHeader { name, expected: token, got: String::from_utf8_lossy(v).into_owned() })
        }
    }
}

/// The first line of a header as trimmed text (`None` if absent or not visible ASCII).
fn header_str<'a, H: Lines + ?Sized>(headers: &'a H, name: &'a str) -> Option<&'a str> {
    headers.lines(name).next().and_then(visible).map(str::trim)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc_1_3_accept_key() {
        assert_eq!(super::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(&super::accept_value(b"dGhlIHNhbXBsZSBub25jZQ=="), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn visible_is_what_http_calls_text() {
        for b in 0..=255u8 {
            let value = [b'a', b, b'z'];
            let http = http::HeaderValue::from_bytes(&value).ok().and_then(|v| v.to_str().ok().map(str::to_owned));
            assert_eq!(super::visible(&value).map(str::to_owned), http, "byte {b}");
        }
    }
}
