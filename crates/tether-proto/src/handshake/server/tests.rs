//! The server's checks on `http` types, for HTTP/1.1 and HTTP/2 requests.

use http::{HeaderMap, Method, Request as HttpRequest, StatusCode, Version};

use super::*;

fn h1() -> http::request::Builder {
    HttpRequest::get("/chat?room=1")
        .version(Version::HTTP_11)
        .header("host", "server.example.com")
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-version", "13")
}

fn h2() -> http::request::Builder {
    HttpRequest::builder()
        .method(Method::CONNECT)
        .uri("https://server.example.com/chat")
        .version(Version::HTTP_2)
        .header("sec-websocket-version", "13")
}

fn check(builder: http::request::Builder, protocol: Option<&str>) -> Result<Request, HandshakeError> {
    Request::from_head(builder.body(()).unwrap(), protocol)
}

#[test]
fn http1_get_is_answered_101_with_the_accept_key() {
    let req = check(h1().header("sec-websocket-protocol", "chat, superchat"), None).unwrap();
    assert!(!req.is_extended_connect());
    assert_eq!(req.protocols(), ["chat", "superchat"]);
    let resp = req.response(Some("superchat"), None, &HeaderMap::new()).unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(resp.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(resp.headers()["upgrade"], "websocket");
    assert_eq!(resp.headers()["sec-websocket-protocol"], "superchat");
}

#[test]
fn http2_extended_connect_is_answered_200_without_upgrade_headers() {
    let req = check(
        h2().header("sec-websocket-protocol", "chat").header("sec-websocket-extensions", "permessage-deflate"),
        Some("websocket"),
    )
    .unwrap();
    assert!(req.is_extended_connect());
    let deflate = req.negotiate_deflate(&DeflateConfig::default()).unwrap();
    let mut extra = HeaderMap::new();
    extra.insert("x-server", "tether".parse().unwrap());
    let resp = req.response(Some("chat"), Some(&deflate), &extra).unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    for absent in ["upgrade", "connection", "sec-websocket-accept"] {
        assert!(!resp.headers().contains_key(absent), "{absent} has no place in an HTTP/2 answer");
    }
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat");
    assert_eq!(resp.headers()["sec-websocket-extensions"], "permessage-deflate");
    assert_eq!(resp.headers()["x-server"], "tether");
    assert!(matches!(req.response(Some("other"), None, &HeaderMap::new()), Err(HandshakeError::UnofferedProtocol(_))));
}

#[test]
fn http2_requirements_are_checked() {
    let get = h2().method(Method::GET);
    assert!(matches!(check(get, Some("websocket")), Err(HandshakeError::MethodNotConnect(m)) if m == "GET"));
    assert!(matches!(check(h2(), None), Err(HandshakeError::MissingHeader(":protocol"))));
    let wrong = check(h2(), Some("webtransport")).unwrap_err();
    assert!(matches!(wrong, HandshakeError::BadHeader { name: ":protocol", .. }));
    let no_version = HttpRequest::builder().method(Method::CONNECT).uri("https://a/").version(Version::HTTP_2);
    assert!(matches!(
        check(no_version, Some("websocket")),
        Err(HandshakeError::MissingHeader("Sec-WebSocket-Version"))
    ));
    let mut v8 = h2().body(()).unwrap();
    v8.headers_mut().insert("sec-websocket-version", "8".parse().unwrap());
    let err = Request::from_head(v8, Some("websocket")).unwrap_err();
    assert_eq!(err.status(), StatusCode::UPGRADE_REQUIRED);
    let no_authority = HttpRequest::builder()
        .method(Method::CONNECT)
        .uri("/chat")
        .version(Version::HTTP_2)
        .header("sec-websocket-version", "13");
    assert!(matches!(check(no_authority, Some("websocket")), Err(HandshakeError::MissingHeader(":authority"))));
}

#[test]
fn http1_rules_are_those_of_the_byte_parser() {
    assert!(matches!(check(h1().method(Method::POST), None), Err(HandshakeError::Method(_))));
    assert!(matches!(check(h1().version(Version::HTTP_10), None), Err(HandshakeError::HttpVersion)));
    // The `:protocol` of HTTP/2 means nothing on HTTP/1.1: the upgrade headers still rule.
    let mut no_upgrade = h1().body(()).unwrap();
    no_upgrade.headers_mut().remove("upgrade");
    assert!(matches!(Request::from_head(no_upgrade, Some("websocket")), Err(HandshakeError::MissingHeader("Upgrade"))));
    let parts = h1().body(()).unwrap().into_parts().0;
    let req = Request::from_parts(&parts, None).unwrap();
    assert_eq!(req.head().uri().path_and_query().unwrap().as_str(), "/chat?room=1");
}

#[test]
fn refusals_as_http_types() {
    let version = HandshakeError::UnsupportedVersion("8".into()).to_http();
    assert_eq!(version.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(version.headers()["sec-websocket-version"], "13");
    assert_eq!(version.headers()["content-type"], "text/plain; charset=utf-8");
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", "5".parse().unwrap());
    let refusal = HandshakeError::Rejected {
        status: StatusCode::SERVICE_UNAVAILABLE,
        headers: Box::new(headers),
        body: "busy".into(),
    };
    assert_eq!(refusal.status(), StatusCode::SERVICE_UNAVAILABLE);
    let response = refusal.to_http();
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(response.body().as_ref(), b"busy");
}
