//! The HTTP/1.1 bytes of the server's handshake: the request head checked
//! as parsed (its `http` types built only on demand), the response written out.

use std::mem::MaybeUninit;
use std::ops::Range;

use bytes::{BufMut, Bytes};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};

use super::super::extensions::DeflateParams;
use super::super::{accept_value, HandshakeError, Lines, MAX_HEADERS};
use super::{check_upgrade, Offers, Request};

/// The longest header name [`HeaderName`] takes.
const MAX_NAME: usize = u16::MAX as usize;

/// The names the 101 response sets itself.
const OWN_HEADERS: [HeaderName; 5] = [
    http::header::UPGRADE,
    http::header::CONNECTION,
    http::header::SEC_WEBSOCKET_ACCEPT,
    http::header::SEC_WEBSOCKET_PROTOCOL,
    http::header::SEC_WEBSOCKET_EXTENSIONS,
];

/// The head of a request read from bytes, kept to build its `http` types
/// from if the application asks ([`Request::head`]).
#[derive(Debug, Clone)]
pub(super) struct RawHead {
    /// The request line and headers, as received.
    bytes: Bytes,
    /// The request target, parsed (the server needs it for every connection).
    uri: Uri,
    /// Where the first `Origin` value lies in `bytes`.
    origin: Option<Range<usize>>,
}

impl RawHead {
    pub(super) fn uri(&self) -> &Uri {
        &self.uri
    }

    pub(super) fn origin(&self) -> Option<&str> {
        self.bytes.get(self.origin.clone()?).and_then(super::super::visible).map(str::trim)
    }

    /// The head as `http` types: parsed again (it parsed whole before), the
    /// values sharing `bytes`. The request passed the checks, so it is a
    /// GET on HTTP/1.1, and `read_request` made sure every header converts.
    pub(super) fn to_head(&self) -> http::Request<()> {
        let mut head = http::Request::new(());
        *head.method_mut() = Method::GET;
        *head.version_mut() = Version::HTTP_11;
        *head.uri_mut() = self.uri.clone();
        let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut raw);
        if parsed.parse(&self.bytes).is_ok() {
            let map = head.headers_mut();
            map.reserve(parsed.headers.len());
            for h in parsed.headers.iter() {
                let value = within(&self.bytes, h.value).map(|r| HeaderValue::from_maybe_shared(self.bytes.slice(r)));
                if let (Ok(name), Some(Ok(value))) = (HeaderName::from_bytes(h.name.as_bytes()), value) {
                    map.append(name, value);
                }
            }
        }
        head
    }
}

/// Where `inner` (a slice of `outer`) lies in `outer`.
fn within(outer: &[u8], inner: &[u8]) -> Option<Range<usize>> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    let end = start.checked_add(inner.len())?;
    (end <= outer.len()).then_some(start..end)
}

/// Parses and checks an upgrade request from the front of `buf`.
///
/// `Ok(None)`: the head is not complete yet (and within `max_head` bytes).
/// `Ok(Some((request, n)))`: the head took `n` bytes; what follows is
/// already WebSocket data. On `Err`, send [`HandshakeError::response`].
///
/// The checks run on the parsed bytes; the head is kept as one copy, and
/// [`Request::head`] builds its `http` types only when first called.
pub fn read_request(buf: &[u8], max_head: usize) -> Result<Option<(Request, usize)>, HandshakeError> {
    // Left uninitialised: httparse fills what it parses (2 KiB less to clear
    // per request, and per partial read).
    let mut raw = [MaybeUninit::uninit(); MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    let n = match parsed.parse_with_uninit_headers(buf, &mut raw) {
        Ok(httparse::Status::Complete(n)) if n <= max_head => n,
        Ok(httparse::Status::Partial) if buf.len() <= max_head => return Ok(None),
        Ok(_) => return Err(HandshakeError::HeadTooLarge(max_head)),
        Err(e) => return Err(HandshakeError::Http(e.to_string())),
    };
    let headers: &[httparse::Header<'_>] = parsed.headers;
    // httparse takes the same name and value bytes as `http`, so only a
    // name's length can keep a header from converting later.
    if let Some(h) = headers.iter().find(|h| h.name.len() > MAX_NAME) {
        return Err(HandshakeError::Http(format!("bad header name {:?}", h.name)));
    }
    let bytes = Bytes::copy_from_slice(&buf[..n]);
    let target = parsed.path.unwrap_or("/");
    let uri = match within(buf, target.as_bytes()) {
        // The usual target, and one `http` would not share bytes for anyway.
        _ if target == "/" => Ok(Uri::from_static("/")),
        Some(at) => Uri::from_maybe_shared(bytes.slice(at)),
        None => target.parse(),
    }
    .map_err(|_| HandshakeError::Http(format!("bad request target {target:?}")))?;
    // httparse reads only HTTP/1.x: the minor version says which.
    let version = if parsed.version == Some(1) { Version::HTTP_11 } else { Version::HTTP_10 };
    check_upgrade(parsed.method.unwrap_or_default(), version, headers)?;
    let offers = Offers::check(headers, true)?;
    let origin = headers.lines("origin").next().and_then(|v| within(buf, v));
    let raw = RawHead { bytes, uri, origin };
    Ok(Some((Request { head: Default::default(), raw: Some(raw), offers }, n)))
}

impl Request {
    /// Appends the HTTP/1.1 bytes of [`response`](Self::response) to `out`
    /// (what [`accept_response`](Self::accept_response) returns): for a
    /// request read with [`read_request`], written straight from the parts,
    /// without `http` types or formatting, into a buffer the server has.
    /// `out` should grow as needed (`Vec<u8>`, `BytesMut`): a fixed slice
    /// without room for the response panics, as [`BufMut::put_slice`] does.
    pub fn write_response(
        &self,
        protocol: Option<&str>,
        deflate: Option<&DeflateParams>,
        extra: &HeaderMap,
        out: &mut impl BufMut,
    ) -> Result<(), HandshakeError> {
        let extensions = deflate.map(DeflateParams::header_value);
        let offered = |p: &str| self.offers.protocols.iter().any(|o| o == p);
        // Anything unusual (an HTTP/2 request, a refusal to report, extra
        // headers the response sets itself, whose order `HeaderMap` decides)
        // goes the way of `http` types.
        let direct = protocol.is_none_or(|p| offered(p) && valid_value(p))
            && extensions.as_deref().is_none_or(valid_value)
            && !OWN_HEADERS.iter().any(|name| extra.contains_key(name));
        let key = match &self.offers.key {
            Some(key) if direct => key,
            _ => {
                out.put_slice(&encode_response(&self.response(protocol, deflate, extra)?));
                return Ok(());
            }
        };
        out.put_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
        out.put_slice(b"Sec-WebSocket-Accept: ");
        out.put_slice(&accept_value(key));
        out.put_slice(b"\r\n");
        if let Some(p) = protocol {
            put_header(out, "Sec-WebSocket-Protocol", p.as_bytes());
        }
        if let Some(e) = &extensions {
            put_header(out, "Sec-WebSocket-Extensions", e.as_bytes());
        }
        write_headers(out, extra);
        out.put_slice(b"\r\n");
        Ok(())
    }
}

/// Whether `value` is a valid header value as [`HeaderValue`] has it.
fn valid_value(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (b >= 32 && b != 127))
}

fn put_header(out: &mut impl BufMut, name: &str, value: &[u8]) {
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
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

fn write_headers(out: &mut impl BufMut, headers: &HeaderMap) {
    for (name, value) in headers {
        put_header(out, display_name(name), value.as_bytes());
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
    fn written_response_is_the_encoded_one() {
        let offers = rfc_request().replace(
            "Sec-WebSocket-Version: 13\r\n",
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
        );
        let (req, _) = read(&offers).unwrap().unwrap();
        let params = req.negotiate_deflate(&DeflateConfig::default());
        let mut extra = HeaderMap::new();
        extra.append("x-a", "1".parse().unwrap());
        extra.append("set-cookie", "b=2".parse().unwrap());
        extra.append("x-a", "3".parse().unwrap());
        // The last one repeats a header the response sets: `HeaderMap` groups it.
        let mut own = extra.clone();
        own.append("connection", "keep-alive".parse().unwrap());
        for protocol in [None, Some("chat"), Some("superchat"), Some("nope")] {
            for deflate in [None, params.as_ref()] {
                for extra in [&HeaderMap::new(), &extra, &own] {
                    let mut out = Vec::new();
                    let written = req.write_response(protocol, deflate, extra, &mut out).map(|()| out);
                    let encoded = req.response(protocol, deflate, extra).map(|r| encode_response(&r));
                    assert_eq!(format!("{written:?}"), format!("{encoded:?}"), "{protocol:?} {deflate:?} {extra:?}");
                }
            }
        }
    }

    #[test]
    fn head_is_built_on_demand_as_http_has_it() {
        let text = rfc_request()
            .replace("GET /chat", "GET /chat?room=1")
            .replace("Origin:", "X-Tab: a\tb\r\nX-Obs: caf\u{e9}\r\nx-tab: c\r\nEmpty:\r\nOrigin:");
        let (req, _) = read(&text).unwrap().unwrap();
        assert_eq!(req.target(), "/chat?room=1");
        assert_eq!(req.origin(), Some("http://example.com"));
        assert!(req.head.get().is_none(), "the checks, target and origin need no http types");
        let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut raw);
        parsed.parse(text.as_bytes()).unwrap();
        let head = req.head();
        assert_eq!(head.headers(), &super::super::super::to_header_map(parsed.headers).unwrap());
        assert_eq!(head.uri(), "/chat?room=1");
        assert_eq!((head.method(), head.version()), (&Method::GET, Version::HTTP_11));
        assert_eq!(head.headers().get_all("x-tab").iter().count(), 2);
        assert_eq!(req.clone().head().headers().len(), head.headers().len());
    }

    #[test]
    fn targets_parse_as_http_parses_them() {
        for target in ["/", "*", "/a?b=c#d", "http://example.com/x", "example.com:80", "/%zz", "/a b"] {
            let text = rfc_request().replace("/chat", target);
            let ours = read(&text).map(|r| r.map(|(req, _)| req.head().uri().clone()));
            let theirs = target.parse::<Uri>();
            match (ours, theirs) {
                (Ok(Some(ours)), Ok(theirs)) => assert_eq!(ours, theirs, "{target}"),
                (Err(HandshakeError::Http(_)), Err(_)) => {}
                (ours, theirs) => panic!("{target}: {ours:?} against {theirs:?}"),
            }
        }
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
