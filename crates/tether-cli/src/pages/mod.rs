//! The browser pages, served over plain HTTP on the WebSocket port: the
//! echo chat of `tether echo` and the room chat of `tether hub`. Each is
//! one self-contained file (no CDN, no build step), made once from its
//! template and the style and script both pages share.

use std::sync::LazyLock;

use bytes::Bytes;

const STYLE: &str = include_str!("common.css");
const SCRIPT: &str = include_str!("common.js");

/// The echo chat page of `tether echo`.
pub static ECHO: LazyLock<Bytes> = LazyLock::new(|| assemble(include_str!("echo.html")));

/// The room chat page of `tether hub`.
pub static HUB: LazyLock<Bytes> = LazyLock::new(|| assemble(include_str!("hub.html")));

fn assemble(template: &str) -> Bytes {
    template.replace("/*COMMON-STYLE*/\n", STYLE).replace("/*COMMON-SCRIPT*/\n", SCRIPT).into()
}

/// Answers a plain HTTP request to `tether echo`: the page at `/`, 404 elsewhere.
pub fn respond_echo(request: &http::Request<()>) -> http::Response<Bytes> {
    match request.uri().path() {
        "/" | "/index.html" => html(&ECHO),
        _ => not_found(),
    }
}

/// A page, 200.
pub fn html(page: &Bytes) -> http::Response<Bytes> {
    response(200, "text/html; charset=utf-8", page.clone())
}

/// 404, pointing at the page.
pub fn not_found() -> http::Response<Bytes> {
    response(404, "text/plain; charset=utf-8", Bytes::from_static(b"not found: the page is at /\n"))
}

/// A response with `status`, `content_type` and `body`, never cached.
pub fn response(status: u16, content_type: &str, body: Bytes) -> http::Response<Bytes> {
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
        super::respond_echo(&http::Request::get(path).body(()).unwrap())
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

    #[test]
    fn both_pages_carry_the_shared_style_and_script() {
        for page in [&*super::ECHO, &*super::HUB] {
            let html = std::str::from_utf8(page).unwrap();
            assert!(!html.contains("/*COMMON-"), "every placeholder filled");
            assert!(html.contains("function showBinary(") && html.contains("#log {"));
            assert!(!html.contains("http://") && !html.contains("https://"), "self-contained");
        }
    }
}
