//! The server's side of the opening handshake.

use std::fmt::Write as _;

use base64::Engine as _;
use http::{HeaderMap, StatusCode};

use super::extensions::{parse_extensions, DeflateParams, ExtensionOffer};
use super::{accept_key, check_token, header_str, to_header_map, tokens, HandshakeError, MAX_HEADERS};
use crate::deflate::DeflateConfig;

/// A client's upgrade request that passed every check of section 4.2.1.
#[derive(Debug, Clone)]
pub struct Request {
    head: http::Request<()>,
    key: String,
    protocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
}

impl Request {
    /// The request line and headers, for the application to inspect
    /// (path, `Origin`, `Authorization`, cookies...).
    pub fn head(&self) -> &http::Request<()> {
        &self.head
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extensions the client offered, parsed (empty if the header was malformed).
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }

    /// Picks the first acceptable permessage-deflate offer, if any.
    pub fn negotiate_deflate(&self, config: &DeflateConfig) -> Option<DeflateParams> {
        DeflateParams::accept(&self.extensions, config)
    }

    /// The `Origin` header, if the client sent one.
    pub fn origin(&self) -> Option<&str> {
        header_str(self.head.headers(), "origin")
    }

    /// The 101 response that completes the handshake, with the chosen
    /// subprotocol (which must be one the client offered), the negotiated
    /// permessage-deflate parameters, and extra headers.
    pub fn accept_response(
        &self,
        protocol: Option<&str>,
        deflate: Option<&DeflateParams>,
        extra: &HeaderMap,
    ) -> Result<Vec<u8>, HandshakeError> {
        let mut out = String::with_capacity(160);
        let _ = write!(
            out,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n",
            accept_key(self.key.as_bytes())
        );
        if let Some(p) = protocol {
            if !self.protocols.iter().any(|o| o == p) {
                return Err(HandshakeError::UnofferedProtocol(p.to_owned()));
            }
            let _ = write!(out, "Sec-WebSocket-Protocol: {p}\r\n");
        }
        if let Some(params) = deflate {
            let _ = write!(out, "Sec-WebSocket-Extensions: {}\r\n", params.header_value());
        }
        let mut bytes = out.into_bytes();
        write_headers(&mut bytes, extra);
        bytes.extend_from_slice(b"\r\n");
        Ok(bytes)
    }
}

/// Parses and checks an upgrade request from the front of `buf`.
///
/// `Ok(None)`: the head is not complete yet (and within `max_head` bytes).
/// `Ok(Some((request, n)))`: the head took `n` bytes; what follows is
/// already WebSocket data. On `Err`, send [`HandshakeError::response`].
pub fn read_request(buf: &[u8], max_head: usize) -> Result<Option<(Request, usize)>, HandshakeError> {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut raw);
    let n = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= max_head => n,
        Ok(httparse::Status::Partial) if buf.len() <= max_head => return Ok(None),
        Ok(_) => return Err(HandshakeError::HeadTooLarge(max_head)),
        Err(e) => return Err(HandshakeError::Http(e.to_string())),
    };
    let method = parsed.method.unwrap_or_default();
    if method != "GET" {
        return Err(HandshakeError::Method(method.to_owned()));
    }
    if parsed.version != Some(1) {
        return Err(HandshakeError::HttpVersion);
    }
    let headers = to_header_map(parsed.headers)?;
    if header_str(&headers, "host").is_none() {
        return Err(HandshakeError::MissingHeader("Host"));
    }
    check_token(&headers, "upgrade", "Upgrade", "websocket")?;
    check_token(&headers, "connection", "Connection", "upgrade")?;
    match header_str(&headers, "sec-websocket-version") {
        None => return Err(HandshakeError::MissingHeader("Sec-WebSocket-Version")),
        Some("13") => {}
        Some(v) => return Err(HandshakeError::UnsupportedVersion(v.to_owned())),
    }
    let key = header_str(&headers, "sec-websocket-key").ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Key"))?;
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(decoded) if decoded.len() == 16 => {}
        _ => return Err(HandshakeError::BadKey(key.to_owned())),
    }
    let key = key.to_owned();
    let protocols = tokens(&headers, "sec-websocket-protocol").map(str::to_owned).collect();
    // A malformed extension header declines every extension, as RFC 7692 7.1 has it.
    let lines = headers.get_all("sec-websocket-extensions").iter().filter_map(|v| v.to_str().ok());
    let extensions = parse_extensions(lines).unwrap_or_default();
    let mut head = http::Request::new(());
    *head.method_mut() = http::Method::GET;
    *head.uri_mut() = parsed
        .path
        .unwrap_or("/")
        .parse()
        .map_err(|_| HandshakeError::Http(format!("bad request target {:?}", parsed.path.unwrap_or(""))))?;
    *head.version_mut() = http::Version::HTTP_11;
    *head.headers_mut() = headers;
    Ok(Some((Request { head, key, protocols, extensions }, n)))
}

/// An HTTP response refusing the upgrade, with a plain-text body.
pub fn reject_response(status: StatusCode, headers: &HeaderMap, body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    write_headers(&mut out, headers);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

fn write_headers(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request of RFC 6455 section 1.2.
    fn rfc_request() -> String {
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
         Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .into()
    }

    fn read(text: &str) -> Result<Option<(Request, usize)>, HandshakeError> {
        read_request(text.as_bytes(), 8192)
    }

    #[test]
    fn rfc_request_is_accepted() {
        let text = rfc_request() + "\u{81}";
        let (req, n) = read(&text).unwrap().unwrap();
        assert_eq!(n, rfc_request().len());
        assert_eq!(req.head().uri().path(), "/chat");
        assert_eq!(req.protocols(), ["chat", "superchat"]);
        assert_eq!(req.origin(), Some("http://example.com"));
        let resp = String::from_utf8(req.accept_response(Some("chat"), None, &HeaderMap::new()).unwrap()).unwrap();
        assert!(resp.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(resp.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(resp.contains("Sec-WebSocket-Protocol: chat\r\n"));
        assert!(matches!(
            req.accept_response(Some("nope"), None, &HeaderMap::new()),
            Err(HandshakeError::UnofferedProtocol(_))
        ));
    }

    #[test]
    fn deflate_is_negotiated_from_the_offers() {
        let text = rfc_request().replace(
            "Sec-WebSocket-Version: 13\r\n",
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=20, \
             permessage-deflate; client_max_window_bits\r\n",
        );
        let (req, _) = read(&text).unwrap().unwrap();
        assert_eq!(req.extensions().len(), 2);
        let params = req.negotiate_deflate(&DeflateConfig::default()).unwrap();
        let resp = String::from_utf8(req.accept_response(None, Some(&params), &HeaderMap::new()).unwrap()).unwrap();
        assert!(resp.contains("Sec-WebSocket-Extensions: permessage-deflate\r\n"), "{resp}");
        let (req, _) = read(&rfc_request()).unwrap().unwrap();
        assert_eq!(req.negotiate_deflate(&DeflateConfig::default()), None);
    }

    #[test]
    fn partial_request_needs_more() {
        let text = rfc_request();
        for cut in 0..text.len() {
            assert!(read(&text[..cut]).unwrap().is_none(), "cut {cut}");
        }
    }

    #[test]
    fn each_requirement_is_checked() {
        let bad = |from: &str, to: &str| read(&rfc_request().replace(from, to)).unwrap_err();
        assert!(matches!(bad("GET", "POST"), HandshakeError::Method(_)));
        assert!(matches!(bad("HTTP/1.1", "HTTP/1.0"), HandshakeError::HttpVersion));
        assert!(matches!(bad("Host: server.example.com\r\n", ""), HandshakeError::MissingHeader("Host")));
        assert!(matches!(bad("Upgrade: websocket", "Upgrade: h2c"), HandshakeError::BadHeader { name: "Upgrade", .. }));
        assert!(matches!(bad("Connection: Upgrade", "Connection: close"), HandshakeError::BadHeader { .. }));
        assert!(matches!(bad("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="), HandshakeError::BadKey(_)));
        assert!(matches!(bad("dGhlIHNhbXBsZSBub25jZQ==", "!!!"), HandshakeError::BadKey(_)));
        let version = bad("Version: 13", "Version: 8");
        assert!(matches!(version, HandshakeError::UnsupportedVersion(_)));
        let resp = String::from_utf8(version.response()).unwrap();
        assert!(resp.starts_with("HTTP/1.1 426 "));
        assert!(resp.contains("sec-websocket-version: 13\r\n"));
        let resp = String::from_utf8(bad("GET", "POST").response()).unwrap();
        assert!(resp.starts_with("HTTP/1.1 400 "));
        assert!(resp.ends_with("method POST is not GET\n"));
    }

    #[test]
    fn tokens_are_case_insensitive_and_listed() {
        let text = rfc_request()
            .replace("Upgrade: websocket", "Upgrade: WebSocket")
            .replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE");
        assert!(read(&text).unwrap().is_some());
    }

    #[test]
    fn head_size_is_bounded() {
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(10_000));
        assert!(matches!(read(&huge), Err(HandshakeError::HeadTooLarge(8192))));
        let complete_but_huge = rfc_request().replace("Host:", &format!("X: {}\r\nHost:", "a".repeat(9000)));
        assert!(matches!(read(&complete_but_huge), Err(HandshakeError::HeadTooLarge(_))));
    }
}
