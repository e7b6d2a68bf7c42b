//! An axum app with a tether WebSocket: the chat page of `tether echo` at
//! `/` and an echo at `/ws`, over HTTP/1.1 and cleartext HTTP/2 (prior
//! knowledge, WebSockets as extended CONNECT) on one port.
//!
//! ```sh
//! cargo run --release -p tether-ws --features axum --example axum_echo -- 127.0.0.1:0
//! ```
//!
//! The first line on stdout is the WebSocket URL (`ws://127.0.0.1:PORT/ws`).

use axum::response::{Html, Response};
use axum::routing::{any, get};
use axum::Router;
use tether::axum::WebSocketUpgrade;
use tether::prelude::*;

/// The browser pages of the `tether` command (the echo chat opens its
/// WebSocket at `/`): the same module, not a copy.
#[allow(dead_code)] // the room page is the hub's
#[path = "../../tether-cli/src/pages/mod.rs"]
mod pages;

/// Where the page opens its WebSocket; this app serves it at `/ws`.
const PAGE_WS_URL: &str = r#"const url = base + "/";"#;

/// The app: the page at `/`, the echo at `/ws` (`any`: an HTTP/2 WebSocket
/// arrives as CONNECT, an HTTP/1.1 one as GET).
pub fn app() -> Router {
    let echo_page = std::str::from_utf8(&pages::ECHO).expect("the page is UTF-8");
    assert!(echo_page.contains(PAGE_WS_URL), "the page no longer builds its WebSocket URL as expected");
    let page = echo_page.replace(PAGE_WS_URL, r#"const url = base + "/ws";"#);
    Router::new().route("/", get(move || async move { Html(page) })).route("/ws", any(echo))
}

/// Sends every message back until the client closes.
async fn echo(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut ws| async move {
        // `feed` only queues: the stream writes the queue once it has decoded
        // what already arrived, so a burst is echoed with one write.
        while let Some(Ok(message)) = ws.next().await {
            if ws.feed(message).await.is_err() {
                break;
            }
        }
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("ws://{}/ws", listener.local_addr()?);
    axum::serve(listener, app()).await
}
