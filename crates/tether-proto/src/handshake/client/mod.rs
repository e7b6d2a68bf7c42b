//! The client's side of the opening handshake: the HTTP/1.1 upgrade here,
//! the HTTP/2 extended CONNECT (RFC 8441) in [`h2`]; both check the server's
//! choice of subprotocol and extensions with the same rules.

pub mod h2;

use std::fmt::Write as _;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::extensions::{parse_extensions, DeflateParams};
use super::{accept_key, check_token, header_str, to_header_map, HandshakeError, MAX_HEADERS};
use crate::deflate::DeflateConfig;

/// What the client asks for in its upgrade request.
#[derive(Clone, Debug, Default)]
pub struct ClientRequest {
    /// The `Host` header: host, and port if not the scheme's default.
    pub host: String,
    /// The request target: path and query, starting with `/`.
    pub path: String,
    /// The `Origin` header, if any (browsers always send one).
    pub origin: Option<String>,
    /// Subprotocols to offer, in order of preference.
    pub protocols: Vec<String>,
    /// Extra headers (`Authorization`, `Cookie`, ...).
    pub headers: Vec<(String, String)>,
    /// Offer permessage-deflate with these settings.
    pub deflate: Option<DeflateConfig>,
}

/// A successful upgrade response.
#[derive(Clone, Debug)]
pub struct Response {
    /// 101 over HTTP/1.1; the 2xx (200) of an extended CONNECT over HTTP/2.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The subprotocol the server chose, if any.
    pub protocol: Option<String>,
    /// The permessage-deflate parameters, if the server accepted our offer.
    pub deflate: Option<DeflateParams>,
}

/// A handshake in progress: what is needed to check the server's answer.
#[derive(Clone, Debug)]
pub struct ClientHandshake {
    expected_accept: String,
    offer: Offer,
    max_head: usize,
}

/// What the client offered: the server's answer must pick from it.
#[derive(Clone, Debug)]
struct Offer {
    protocols: Vec<String>,
    deflate: Option<DeflateConfig>,
}

impl Offer {
    /// Checks the offered subprotocols (tokens, RFC 7230).
    fn new(request: &ClientRequest) -> Result<Offer, HandshakeError> {
        for p in &request.protocols {
            if p.is_empty() || !p.bytes().all(is_token_byte) {
                return Err(HandshakeError::InvalidHeader(format!("subprotocol {p:?}")));
            }
        }
        Ok(Offer { protocols: request.protocols.clone(), deflate: request.deflate })
    }

    /// The subprotocol and permessage-deflate parameters the server's
    /// headers chose, if they chose among what was offered.
    fn check(&self, headers: &HeaderMap) -> Result<(Option<String>, Option<DeflateParams>), HandshakeError> {
        let protocol = match header_str(headers, "sec-websocket-protocol") {
            None => None,
            Some(p) if self.protocols.iter().any(|o| o == p) => Some(p.to_owned()),
            Some(p) => return Err(HandshakeError::UnofferedProtocol(p.to_owned())),
        };
        let lines = headers.get_all("sec-websocket-extensions").iter().filter_map(|v| v.to_str().ok());
        let extensions = parse_extensions(lines).map_err(HandshakeError::BadExtension)?;
        let deflate = match &self.deflate {
            Some(config) => DeflateParams::check_response(&extensions, config)?,
            None => match extensions.first() {
                Some(ext) => return Err(HandshakeError::UnofferedExtension(ext.name.clone())),
                None => None,
            },
        };
        Ok((protocol, deflate))
    }
}

impl ClientHandshake {
    /// Builds the upgrade request with a fresh random key from the OS CSPRNG.
    /// Returns the handshake state and the request bytes to send.
    pub fn new(request: &ClientRequest) -> Result<(Self, Vec<u8>), HandshakeError> {
        let mut key = [0u8; 16];
        getrandom::getrandom(&mut key).map_err(|e| HandshakeError::Random(e.to_string()))?;
        Self::with_key(request, key)
    }

    /// Builds the upgrade request with the given key (for tests: keys must be random).
    pub fn with_key(request: &ClientRequest, key: [u8; 16]) -> Result<(Self, Vec<u8>), HandshakeError> {
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        let offer = Offer::new(request)?;
        let mut out = String::with_capacity(256);
        let path = if request.path.is_empty() { "/" } else { &request.path };
        if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(HandshakeError::InvalidHeader(format!("request target {path:?}")));
        }
        let _ = write!(
            out,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
            checked_value(&request.host)?
        );
        if let Some(origin) = &request.origin {
            let _ = write!(out, "Origin: {}\r\n", checked_value(origin)?);
        }
        if !request.protocols.is_empty() {
            let _ = write!(out, "Sec-WebSocket-Protocol: {}\r\n", request.protocols.join(", "));
        }
        if let Some(config) = &request.deflate {
            let _ = write!(out, "Sec-WebSocket-Extensions: {}\r\n", DeflateParams::offer(config));
        }
        for (name, value) in &request.headers {
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| HandshakeError::InvalidHeader(name.clone()))?;
            let _ = write!(out, "{name}: {}\r\n", checked_value(value)?);
        }
        out.push_str("\r\n");
        let handshake =
            ClientHandshake { expected_accept: accept_key(key.as_bytes()), offer, max_head: super::DEFAULT_MAX_HEAD };
        Ok((handshake, out.into_bytes()))
    }

    /// Sets the bound on the response head (default [`super::DEFAULT_MAX_HEAD`]).
    pub fn max_head(mut self, bytes: usize) -> Self {
        self.max_head = bytes;
        self
    }

    /// Parses and checks the server's response from the front of `buf`.
    ///
    /// `Ok(None)`: the head is not complete yet. `Ok(Some((response, n)))`:
    /// the upgrade succeeded and the head took `n` bytes; whatever follows
    /// in `buf` is already WebSocket data and must be kept.
    pub fn read_response(&self, buf: &[u8]) -> Result<Option<(Response, usize)>, HandshakeError> {
        let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut raw);
        let n = match parsed.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > self.max_head => {
                return Err(HandshakeError::HeadTooLarge(self.max_head))
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(HandshakeError::Http(e.to_string())),
        };
        if n > self.max_head {
            return Err(HandshakeError::HeadTooLarge(self.max_head));
        }
        let code = parsed.code.unwrap_or(0);
        let status = StatusCode::from_u16(code).map_err(|_| HandshakeError::Http(format!("status {code}")))?;
        let headers = to_header_map(parsed.headers)?;
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let body = Bytes::copy_from_slice(&buf[n..buf.len().min(n + 512)]);
            return Err(HandshakeError::Rejected { status, headers: Box::new(headers), body });
        }
        check_token(&headers, "upgrade", "Upgrade", "websocket")?;
        check_token(&headers, "connection", "Connection", "upgrade")?;
        let accept = header_str(&headers, "sec-websocket-accept")
            .ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Accept"))?;
        if accept != self.expected_accept {
            return Err(HandshakeError::BadAccept { got: accept.to_owned(), expected: self.expected_accept.clone() });
        }
        let (protocol, deflate) = self.offer.check(&headers)?;
        Ok(Some((Response { status, headers, protocol, deflate }, n)))
    }
}

fn checked_value(value: &str) -> Result<&str, HandshakeError> {
    HeaderValue::from_str(value).map_err(|_| HandshakeError::InvalidHeader(value.to_owned()))?;
    Ok(value)
}

/// RFC 7230 `tchar`: what a subprotocol name may be made of.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request with every field set (shared with the HTTP/2 tests).
    pub(super) fn request() -> ClientRequest {
        ClientRequest {
            host: "server.example.com".into(),
            path: "/chat".into(),
            origin: Some("http://example.com".into()),
            protocols: vec!["chat".into(), "superchat".into()],
            headers: vec![("Authorization".into(), "Bearer x".into())],
            deflate: None,
        }
    }

    /// The key of RFC 6455 section 1.3 ("the sample nonce").
    const SAMPLE_NONCE: [u8; 16] = *b"the sample nonce";

    #[test]
    fn request_bytes_hold_the_required_headers() {
        let (_, bytes) = ClientHandshake::with_key(&request(), SAMPLE_NONCE).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("GET /chat HTTP/1.1\r\n"));
        for line in [
            "Host: server.example.com",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
            "Origin: http://example.com",
            "Sec-WebSocket-Protocol: chat, superchat",
            "Authorization: Bearer x",
        ] {
            assert!(text.contains(&format!("{line}\r\n")), "missing {line}");
        }
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn random_keys_differ() {
        let (a, _) = ClientHandshake::new(&request()).unwrap();
        let (b, _) = ClientHandshake::new(&request()).unwrap();
        assert_ne!(a.expected_accept, b.expected_accept);
    }

    #[test]
    fn header_injection_is_refused() {
        let mut r = request();
        r.headers = vec![("X".into(), "a\r\nEvil: 1".into())];
        assert!(matches!(ClientHandshake::with_key(&r, SAMPLE_NONCE), Err(HandshakeError::InvalidHeader(_))));
    }

    fn response(extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n{extra}\r\n"
        )
    }

    #[test]
    fn accepts_rfc_response_and_keeps_trailing_bytes() {
        let (hs, _) = ClientHandshake::with_key(&request(), SAMPLE_NONCE).unwrap();
        let mut bytes = response("Sec-WebSocket-Protocol: chat\r\n").into_bytes();
        let head_len = bytes.len();
        bytes.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        let (resp, n) = hs.read_response(&bytes).unwrap().unwrap();
        assert_eq!(n, head_len);
        assert_eq!(resp.protocol.as_deref(), Some("chat"));
        assert_eq!(&bytes[n..], &[0x81, 0x02, b'h', b'i']);
    }

    #[test]
    fn partial_response_needs_more() {
        let (hs, _) = ClientHandshake::with_key(&request(), SAMPLE_NONCE).unwrap();
        let bytes = response("");
        for cut in 0..bytes.len() {
            assert!(hs.read_response(&bytes.as_bytes()[..cut]).unwrap().is_none());
        }
    }

    #[test]
    fn rejects_bad_responses() {
        let (hs, _) = ClientHandshake::with_key(&request(), SAMPLE_NONCE).unwrap();
        let check = |text: String| hs.read_response(text.as_bytes()).unwrap_err();
        let e = check("HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\n\r\nno way!".into());
        assert!(
            matches!(&e, HandshakeError::Rejected { status, body, .. } if *status == 403 && &body[..] == b"no way!")
        );
        assert!(e.to_string().contains("no way!"));
        let bad_accept = response("").replace("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "AAAA");
        assert!(matches!(check(bad_accept), HandshakeError::BadAccept { .. }));
        let no_upgrade = response("").replace("Upgrade: WebSocket\r\n", "");
        assert!(matches!(check(no_upgrade), HandshakeError::MissingHeader("Upgrade")));
        let bad_conn = response("").replace("keep-alive, Upgrade", "close");
        assert!(matches!(check(bad_conn), HandshakeError::BadHeader { name: "Connection", .. }));
        assert!(matches!(check(response("Sec-WebSocket-Protocol: other\r\n")), HandshakeError::UnofferedProtocol(_)));
        let ext = response("Sec-WebSocket-Extensions: permessage-deflate\r\n");
        assert!(matches!(check(ext), HandshakeError::UnofferedExtension(_)));
        assert!(matches!(check("garbage\r\n\r\n".into()), HandshakeError::Http(_)));
    }

    #[test]
    fn deflate_offer_and_answer() {
        let mut req = request();
        req.deflate = Some(DeflateConfig::default());
        let (hs, bytes) = ClientHandshake::with_key(&req, SAMPLE_NONCE).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"));
        let answer = response("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n");
        let (resp, _) = hs.read_response(answer.as_bytes()).unwrap().unwrap();
        assert!(resp.deflate.unwrap().server_no_context_takeover);
        let (resp, _) = hs.read_response(response("").as_bytes()).unwrap().unwrap();
        assert_eq!(resp.deflate, None, "the server may decline");
        let bad = response("Sec-WebSocket-Extensions: permessage-deflate; bogus\r\n");
        assert!(matches!(hs.read_response(bad.as_bytes()), Err(HandshakeError::BadExtension(_))));
    }

    #[test]
    fn oversized_head_is_refused() {
        let (hs, _) = ClientHandshake::with_key(&request(), SAMPLE_NONCE).unwrap();
        let hs = hs.max_head(64);
        let bytes = format!("HTTP/1.1 101 OK\r\nX: {}\r\n", "a".repeat(100));
        assert!(matches!(hs.read_response(bytes.as_bytes()), Err(HandshakeError::HeadTooLarge(64))));
    }
}
