//! The browser side of `tether echo`: plain HTTP on the WebSocket port.

use bytes::Bytes;

/// The chat page: one self-contained file (no CDN, no build step).
const PAGE: &str = include_str!("page.html");

/// Answers a plain HTTP request: the page at `/`, 404 elsewhere.
pub fn respond(request: &http::Request<()>) -> http::Response<Bytes> {
    let (status, content_type, body) = match request.uri().path() {
        "/" | "/index.html" => (200, "text/html; charset=utf-8", Bytes::from_static(PAGE.as_bytes())),
        _ => (404, "text/plain; charset=utf-8", Bytes::from_static(b"not found: the page is at /\n")),
    };
    http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .body(body)
        .expect("static status and headers are valid")
}

#[cfg(test)]
mod tests {
    fn get(path: &str) -> http::Response<bytes::Bytes> {
        super::respond(&http::Request::get(path).body(()).unwrap())
    }

    #[test]
    fn page_at_root_and_404_elsewhere() {
        let page = get("/");
        assert_eq!(page.status(), 200);
        let html = std::str::from_utf8(page.body()).unwrap();
        assert!(html.contains("<title>WebSocket (Echo)</title>") && html.contains("placeholder=\"Send a message\""));
        assert!(!html.contains("http://") && !html.contains("https://"), "self-contained: no external resources");
        assert_eq!(get("/favicon.ico").status(), 404);
    }
}
