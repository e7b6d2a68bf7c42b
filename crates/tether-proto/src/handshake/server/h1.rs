//! The HTTP/1.1 bytes of the server's handshake: the request head parsed
//! into `http` types, the response written out.

use http::{HeaderMap, StatusCode, Version};

use super::super::{to_header_map, HandshakeError, MAX_HEADERS};
use super::Request;

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
    let mut head = http::Request::new(());
    *head.method_mut() = http::Method::from_bytes(parsed.method.unwrap_or_default().as_bytes())
        .map_err(|_| HandshakeError::Http(format!("bad method {:?}", parsed.method.unwrap_or(""))))?;
    // httparse reads only HTTP/1.x: the minor version says which.
    *head.version_mut() = if parsed.version == Some(1) { Version::HTTP_11 } else { Version::HTTP_10 };
    *head.headers_mut() = to_header_map(parsed.headers)?;
    *head.uri_mut() = parsed
        .path
        .unwrap_or("/")
        .parse()
        .map_err(|_| HandshakeError::Http(format!("bad request target {:?}", parsed.path.unwrap_or(""))))?;
    Ok(Some((Request::from_head(head, None)?, n)))
}

/// The HTTP/1.1 bytes of a handshake response (from
/// [`Request::response`]): the status line and headers, with the names this
/// crate sets in their usual capitals.
pub fn encode_response(response: &http::Response<()>) -> Vec<u8> {
    let status = response.status();
    let mut out = format!("HTTP/1.1 {} {}\r\n", status.as_u16(), status.canonical_reason().unwrap_or("")).into_bytes();
    write_headers(&mut out, response.headers());
    out.extend_from_slice(b"\r\n");
    out
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
        out.extend_from_slice(display_name(name).as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// The name as it is usually written: `http` keeps names in lower case,
/// and the handshake's own headers go out as RFC 6455 writes them.
fn display_name(name: &http::HeaderName) -> &str {
    use http::header;
    match *name {
        header::UPGRADE => "Upgrade",
        header::CONNECTION => "Connection",
        header::SEC_WEBSOCKET_ACCEPT => "Sec-WebSocket-Accept",
        header::SEC_WEBSOCKET_PROTOCOL => "Sec-WebSocket-Protocol",
        header::SEC_WEBSOCKET_EXTENSIONS => "Sec-WebSocket-Extensions",
        _ => name.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::DeflateConfig;

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
    fn the_101_bytes_are_exact() {
        let (req, _) = read(&rfc_request()).unwrap().unwrap();
        let mut extra = HeaderMap::new();
        extra.insert("x-served-by", "tether".parse().unwrap());
        let resp = req.accept_response(Some("chat"), None, &extra).unwrap();
        assert_eq!(
            String::from_utf8(resp).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\
             x-served-by: tether\r\n\r\n"
        );
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
        assert!(resp.starts_with("HTTP/1.1 405 "));
        assert!(resp.contains("allow: GET\r\n"), "{resp}");
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
