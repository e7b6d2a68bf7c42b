//! The client's side of a WebSocket over HTTP/2 (RFC 8441): the extended
//! CONNECT request on `http` types, and the checks on its response.
//!
//! The `:protocol` pseudo-header is not an `http` header: the HTTP/2
//! library sets it (the h2 crate takes an `h2::ext::Protocol` extension).

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};

use super::{ClientRequest, Offer, Response};
use crate::handshake::extensions::DeflateParams;
use crate::handshake::HandshakeError;

/// Headers HTTP/2 forbids (RFC 9113 section 8.2.2), or carries in a
/// pseudo-header (`Host` is `:authority`): left out of an extended CONNECT,
/// so one set of headers serves both protocols.
const NOT_OVER_H2: [&str; 7] =
    ["connection", "upgrade", "keep-alive", "proxy-connection", "transfer-encoding", "host", "te"];

/// The `:protocol` value of a WebSocket (RFC 8441 section 4).
pub const PROTOCOL: &str = "websocket";

/// An extended CONNECT in progress: what is needed to check the answer.
#[derive(Clone, Debug)]
pub struct ExtendedConnect {
    offer: Offer,
}

impl ExtendedConnect {
    /// Builds the request: `CONNECT` to `https://` (with `tls`) or
    /// `http://` + `request.host` + `request.path` (the library turns them
    /// into `:scheme`, `:authority` and `:path`), with
    /// `sec-websocket-version: 13`, the origin, the offered subprotocols, the
    /// permessage-deflate offer and the extra headers, except those HTTP/2
    /// forbids (`Connection`, `Upgrade`, `Host`...). There is no key: the
    /// stream is the proof of the server's consent.
    pub fn new(request: &ClientRequest, tls: bool) -> Result<(Self, Request<()>), HandshakeError> {
        let offer = Offer::new(request)?;
        let path = if request.path.is_empty() { "/" } else { &request.path };
        let scheme = if tls { "https" } else { "http" };
        let uri = format!("{scheme}://{}{path}", request.host);
        let mut out = Request::builder()
            .method(Method::CONNECT)
            .uri(uri.as_str())
            .version(http::Version::HTTP_2)
            .body(())
            .map_err(|e| HandshakeError::InvalidHeader(format!("request target {uri:?}: {e}")))?;
        let headers = out.headers_mut();
        headers.insert("sec-websocket-version", HeaderValue::from_static("13"));
        if let Some(origin) = &request.origin {
            headers.insert(http::header::ORIGIN, value(origin)?);
        }
        if !request.protocols.is_empty() {
            headers.insert("sec-websocket-protocol", value(&request.protocols.join(", "))?);
        }
        if let Some(config) = &request.deflate {
            headers.insert("sec-websocket-extensions", value(&DeflateParams::offer(config))?);
        }
        for (name, v) in &request.headers {
            // Lowercase, as HTTP/2 requires.
            let name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| HandshakeError::InvalidHeader(name.clone()))?;
            if !NOT_OVER_H2.contains(&name.as_str()) {
                headers.append(name, value(v)?);
            }
        }
        Ok((ExtendedConnect { offer }, out))
    }

    /// Checks the response head: a 2xx status (RFC 8441 section 5: 200,
    /// as servers answer), then the subprotocol and extensions, by the same
    /// rules as over HTTP/1.1. Another status is
    /// [`HandshakeError::Rejected`] with an empty body (the caller may read
    /// the start of the body and put it there).
    pub fn check_response(&self, status: StatusCode, headers: HeaderMap) -> Result<Response, HandshakeError> {
        if !status.is_success() {
            return Err(HandshakeError::Rejected { status, headers: Box::new(headers), body: Default::default() });
        }
        let (protocol, deflate) = self.offer.check(&headers)?;
        Ok(Response { status, headers, protocol, deflate })
    }
}

fn value(v: &str) -> Result<HeaderValue, HandshakeError> {
    HeaderValue::from_str(v).map_err(|_| HandshakeError::InvalidHeader(v.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::DeflateConfig;

    /// The HTTP/1.1 tests' request, with headers HTTP/2 forbids and a deflate offer.
    fn request() -> ClientRequest {
        let mut request = super::super::tests::request();
        request.host = "example.com:8443".into();
        request.path = "/chat?room=1".into();
        request.origin = Some("https://example.com".into());
        request.headers.push(("Connection".into(), "keep-alive".into()));
        request.headers.push(("Host".into(), "elsewhere".into()));
        request.deflate = Some(DeflateConfig::default());
        request
    }

    #[test]
    fn the_request_is_a_connect_with_the_websocket_headers() {
        let (_, req) = ExtendedConnect::new(&request(), true).unwrap();
        assert_eq!(req.method(), Method::CONNECT);
        assert_eq!(req.uri().to_string(), "https://example.com:8443/chat?room=1");
        let h = req.headers();
        assert_eq!(h["sec-websocket-version"], "13");
        assert_eq!(h["origin"], "https://example.com");
        assert_eq!(h["sec-websocket-protocol"], "chat, superchat");
        assert!(h["sec-websocket-extensions"].to_str().unwrap().starts_with("permessage-deflate"));
        assert_eq!(h["authorization"], "Bearer x");
        // HTTP/2 forbids these; no key either.
        assert!(h.get("connection").is_none() && h.get("host").is_none());
        assert!(h.get("sec-websocket-key").is_none() && h.get("upgrade").is_none());
        let (_, plain) = ExtendedConnect::new(&ClientRequest { path: String::new(), ..request() }, false).unwrap();
        assert_eq!(plain.uri().to_string(), "http://example.com:8443/");
    }

    #[test]
    fn bad_names_and_values_are_refused() {
        let mut r = request();
        r.headers = vec![("X".into(), "a\r\nEvil: 1".into())];
        assert!(matches!(ExtendedConnect::new(&r, true), Err(HandshakeError::InvalidHeader(_))));
        let mut r = request();
        r.protocols = vec!["a b".into()];
        assert!(matches!(ExtendedConnect::new(&r, true), Err(HandshakeError::InvalidHeader(_))));
    }

    #[test]
    fn the_response_is_checked_as_over_http1() {
        let (hs, _) = ExtendedConnect::new(&request(), true).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("sec-websocket-protocol", HeaderValue::from_static("superchat"));
        headers.insert("sec-websocket-extensions", HeaderValue::from_static("permessage-deflate"));
        let response = hs.check_response(StatusCode::OK, headers).unwrap();
        assert_eq!(response.protocol.as_deref(), Some("superchat"));
        assert!(response.deflate.is_some());

        let mut unoffered = HeaderMap::new();
        unoffered.insert("sec-websocket-protocol", HeaderValue::from_static("other"));
        assert!(matches!(hs.check_response(StatusCode::OK, unoffered), Err(HandshakeError::UnofferedProtocol(_))));
        let refused = hs.check_response(StatusCode::FORBIDDEN, HeaderMap::new()).unwrap_err();
        assert!(matches!(refused, HandshakeError::Rejected { status, .. } if status == StatusCode::FORBIDDEN));
        // 101 is HTTP/1.1's answer, not a success over HTTP/2.
        let switching = hs.check_response(StatusCode::SWITCHING_PROTOCOLS, HeaderMap::new());
        assert!(matches!(switching, Err(HandshakeError::Rejected { .. })));
    }
}
