//! The plain-HTTP side door of a WebSocket server: recognising a request
//! that is not an upgrade, and writing the application's answer to it.

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH};
use http::{Method, StatusCode};

/// Room for the headers of one request head.
const MAX_HEADERS: usize = 64;

/// Parses a complete GET or HEAD head that does not ask for a WebSocket
/// upgrade. `None` for anything else: an upgrade (valid or not), another
/// method, an incomplete or malformed head. Those keep the handshake's
/// error answer.
pub(crate) fn parse(buf: &[u8]) -> Option<http::Request<()>> {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut raw);
    if !parsed.parse(buf).ok()?.is_complete() {
        return None;
    }
    let method = match parsed.method? {
        "GET" => Method::GET,
        "HEAD" => Method::HEAD,
        _ => return None,
    };
    let mut builder = http::Request::builder().method(method).uri(parsed.path?).version(if parsed.version == Some(0) {
        http::Version::HTTP_10
    } else {
        http::Version::HTTP_11
    });
    for header in parsed.headers.iter() {
        let asks_websocket = header.name.eq_ignore_ascii_case("upgrade")
            && String::from_utf8_lossy(header.value).split(',').any(|t| t.trim().eq_ignore_ascii_case("websocket"));
        if asks_websocket {
            return None;
        }
        builder = builder.header(header.name, header.value);
    }
    builder.body(()).ok()
}

/// The bytes of `response`, closing the connection after it: the
/// `Content-Length` is the body's, and a HEAD request gets no body.
pub(crate) fn encode(request: &http::Request<()>, response: &http::Response<Bytes>) -> Vec<u8> {
    let status = response.status();
    let mut out = format!("HTTP/1.1 {} {}\r\n", status.as_u16(), status.canonical_reason().unwrap_or("")).into_bytes();
    for (name, value) in response.headers() {
        if name != CONTENT_LENGTH && name != CONNECTION {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    let has_body =
        !(status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED);
    if has_body {
        out.extend_from_slice(format!("Content-Length: {}\r\n", response.body().len()).as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    if has_body && request.method() != Method::HEAD {
        out.extend_from_slice(response.body());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_get_is_recognised_with_its_headers() {
        let req = parse(b"GET /index.html?x=1 HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\n\r\n").unwrap();
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.uri().path(), "/index.html");
        assert_eq!(req.uri().query(), Some("x=1"));
        assert_eq!(req.headers()["accept"], "text/html");
    }

    #[test]
    fn upgrades_other_methods_and_partial_heads_are_not_plain() {
        assert!(parse(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\n\r\n").is_none());
        assert!(parse(b"GET / HTTP/1.1\r\nUpgrade: h2c, websocket\r\n\r\n").is_none());
        assert!(parse(b"POST / HTTP/1.1\r\nHost: a\r\n\r\n").is_none());
        assert!(parse(b"GET / HTTP/1.1\r\nHost: a\r\n").is_none());
        assert!(parse(b"\x16\x03\x01 not http\r\n\r\n").is_none());
        assert!(parse(b"GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n").is_some());
    }

    #[test]
    fn response_has_length_and_close_and_head_has_no_body() {
        let response = http::Response::builder()
            .header("content-type", "text/plain")
            .header("content-length", "999")
            .body(Bytes::from_static(b"hello"))
            .unwrap();
        let get = parse(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let text = String::from_utf8(encode(&get, &response)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        );
        let head = parse(b"HEAD / HTTP/1.1\r\n\r\n").unwrap();
        assert!(String::from_utf8(encode(&head, &response))
            .unwrap()
            .ends_with("Content-Length: 5\r\nConnection: close\r\n\r\n"));
    }
}
