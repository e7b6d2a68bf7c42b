//! The browser pages, served over plain HTTP on the WebSocket port: the
//! echo chat of `tether echo` and the room chat of `tether hub`. Each is
//! one self-contained file (no CDN, no build step), made once from the
//! skeleton, style and script both pages share, and its own parts.

use std::sync::LazyLock;

use bytes::Bytes;

/// The page around the parts: head, state line, log, message field, tools.
const SKELETON: &str = include_str!("page.html");
/// The style both pages share.
const STYLE: &str = include_str!("common.css");
/// The script both pages share: the log, the socket, sending.
const SCRIPT: &str = include_str!("common.js");

/// What makes one page itself.
struct Parts {
    title: &'static str,
    /// CSS after the shared style.
    style: &'static str,
    /// HTML above the state line.
    top: &'static str,
    /// HTML between the state line and the log.
    status: &'static str,
    /// The buttons and fields under the message field.
    tools: &'static str,
    /// The page's script, after the shared one.
    script: &'static str,
}

/// The echo chat page of `tether echo`.
pub static ECHO: LazyLock<Bytes> = LazyLock::new(|| {
    assemble(&Parts {
        title: "WebSocket (Echo)",
        style: "",
        top: "",
        status: "",
        tools: concat!(
            "  <button id=\"image\" type=\"button\">Get image</button>\n",
            "  <label>Send file <input id=\"file\" type=\"file\" disabled></label>\n",
            "  <button id=\"reconnect\" type=\"button\" hidden>Reconnect</button>\n",
        ),
        script: include_str!("echo.js"),
    })
});

/// The room chat page of `tether hub`.
pub static HUB: LazyLock<Bytes> = LazyLock::new(|| {
    assemble(&Parts {
        title: "WebSocket (Rooms)",
        style: concat!(
            "  #room-form { margin-top: 0; }\n",
            "  #room, #name { padding: 0.45rem; font-size: 1rem; width: 10rem; }\n",
            "  #members { font-weight: bold; }\n",
        ),
        top: concat!(
            "<form id=\"room-form\">\n",
            "  <label>Room <input id=\"room\" value=\"lobby\" pattern=\"[A-Za-z0-9_.:\\-]{1,100}\" required></label>\n",
            "  <label>Name <input id=\"name\" autocomplete=\"off\"></label>\n",
            "  <button id=\"join\" type=\"submit\">Join</button>\n",
            "</form>\n",
        ),
        status: "<p><span id=\"members\">0</span> member(s) in the room</p>\n",
        tools: "  <label>Send file <input id=\"file\" type=\"file\" disabled></label>\n",
        script: include_str!("hub.js"),
    })
});

fn assemble(parts: &Parts) -> Bytes {
    SKELETON
        .replace("{{title}}", parts.title)
        .replace("{{style}}", &format!("{STYLE}{}", parts.style))
        .replace("{{top}}", parts.top)
        .replace("{{status}}", parts.status)
        .replace("{{tools}}", parts.tools)
        .replace("{{script}}", &format!("{SCRIPT}\n{}", parts.script))
        .into()
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
            assert!(!html.contains("{{"), "every placeholder filled");
            assert!(html.contains("function showBinary(") && html.contains("#log {"));
            assert!(!html.contains("http://") && !html.contains("https://"), "self-contained");
        }
    }
}
