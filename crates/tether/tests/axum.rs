//! tether inside axum: the `axum_echo` example's router and a few routes of
//! our own, served in-process by `axum::serve` on loopback, driven by tether
//! clients (HTTP/1.1), raw requests (the rejections) and an h2 client
//! (WebSockets over HTTP/2 extended CONNECT).

#[path = "../examples/axum_echo.rs"]
#[allow(dead_code)] // its `main` is the example's, not ours
mod axum_echo;
// The raw HTTP/2 client runs tether's engine over `tether::http2::H2Stream`.
#[cfg(feature = "http2")]
#[path = "common/h2.rs"]
mod h2_client;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use tether::axum::WebSocketUpgrade;
use tether::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
#[cfg(feature = "http2")]
use tokio::sync::mpsc;

/// Serves `app` on a loopback port; returns `host:port`.
async fn serve(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Sends a raw HTTP/1.1 request and returns the response (head and
/// `Content-Length` body) as text.
async fn raw(addr: &str, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .map_or(0, |v| v.parse().unwrap());
            if response.len() >= end + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut chunk)).await.unwrap().unwrap();
        if n == 0 {
            return text;
        }
        response.extend_from_slice(&chunk[..n]);
    }
}

fn upgrade_request(method: &str, extra: &str) -> String {
    format!(
        "{method} /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn text_and_binary_echo_with_compression() {
    let addr = serve(axum_echo::app()).await;
    let mut ws = tether::connect(&format!("ws://{addr}/ws")).await.unwrap();
    assert!(ws.compression().is_some(), "permessage-deflate is negotiated by default");
    ws.send(Message::text("hello axum")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello axum"));
    let big = vec![7u8; 300_000];
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(big));
    ws.close(CloseCode::NORMAL, "done").await.unwrap();
    assert_eq!(ws.close_frame().unwrap().code, CloseCode::NORMAL);
}

#[tokio::test]
async fn the_page_is_served_at_the_root_and_opens_ws_at_ws() {
    let addr = serve(axum_echo::app()).await;
    let response = raw(&addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    assert!(response.contains(r#"const url = base + "/ws";"#));
}

#[tokio::test]
async fn the_server_picks_its_preferred_subprotocol_and_keeps_router_state() {
    async fn handler(State(greeting): State<Arc<str>>, ws: WebSocketUpgrade) -> Response {
        let ws = ws.protocols(["v2.chat", "v1.chat"]);
        assert_eq!(ws.selected_protocol(), Some("v2.chat"));
        ws.on_upgrade(move |mut ws| async move {
            let _ = ws.send(Message::text(format!("{greeting} {}", ws.protocol().unwrap()))).await;
            let _ = ws.close(CloseCode::NORMAL, "").await;
        })
    }
    let app = Router::new().route("/ws", any(handler)).with_state(Arc::<str>::from("hello"));
    let addr = serve(app).await;
    let url = format!("ws://{addr}/ws");
    let mut ws = tether::connect_with(&url).protocol("v1.chat").protocol("v2.chat").connect().await.unwrap();
    assert_eq!(ws.protocol(), Some("v2.chat"));
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello v2.chat"));
}

#[tokio::test]
async fn invalid_requests_get_405_400_and_426() {
    let addr = serve(axum_echo::app()).await;
    let post = raw(&addr, &upgrade_request("POST", "Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n")).await;
    assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    assert!(post.to_ascii_lowercase().contains("allow: get\r\n"), "{post}");
    assert!(post.contains("method POST is not GET"), "{post}");

    let no_key = raw(
        &addr,
        "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    assert!(no_key.starts_with("HTTP/1.1 400 "), "{no_key}");
    assert!(no_key.contains("missing header Sec-WebSocket-Key"), "{no_key}");

    let plain = raw(&addr, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await;
    assert!(plain.starts_with("HTTP/1.1 400 "), "{plain}");

    let v8 = raw(&addr, &upgrade_request("GET", "Sec-WebSocket-Version: 8\r\n")).await;
    assert!(v8.starts_with("HTTP/1.1 426 "), "{v8}");
    assert!(v8.to_ascii_lowercase().contains("sec-websocket-version: 13\r\n"), "{v8}");
}

#[cfg(feature = "http2")]
#[tokio::test]
async fn on_failed_upgrade_is_called_when_the_connection_is_not_handed_over() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/ws",
        any(move |ws: WebSocketUpgrade| {
            let tx = tx.clone();
            async move {
                let mut response = ws
                    .on_failed_upgrade(move |e: tether::Error| {
                        let _ = tx.send(e.to_string());
                    })
                    .on_upgrade(|_| async { panic!("no WebSocket without a 2xx answer") });
                // As a middleware that rewrites the status would: hyper then
                // keeps the HTTP/2 stream, and the upgrade fails. (On HTTP/1.1
                // hyper hands the connection over whatever the status.)
                *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                response
            }
        }),
    );
    let addr = serve(app).await;
    let mut conn = h2_client::H2Client::connect(&addr).await;
    assert!(conn.extended_connect_enabled().await);
    let (status, _) = conn.websocket("/ws", &[]).await;
    assert_eq!(status, 503);
    let error = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    assert!(!error.is_empty());
}

#[cfg(feature = "http2")]
#[tokio::test]
async fn websockets_over_http2_extended_connect() {
    let addr = serve(axum_echo::app()).await;
    let mut conn = h2_client::H2Client::connect(&addr).await;
    assert!(conn.extended_connect_enabled().await, "axum::serve announces SETTINGS_ENABLE_CONNECT_PROTOCOL");
    // Two WebSockets multiplexed on one HTTP/2 connection.
    let (status, mut first) = conn.websocket("/ws", &[]).await;
    assert_eq!(status, 200);
    let (_, mut second) = conn.websocket("/ws", &[]).await;
    first.send(Message::text("over h2")).await.unwrap();
    second.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(first.next().await.unwrap().unwrap(), Message::text("over h2"));
    assert_eq!(second.next().await.unwrap().unwrap(), Message::binary(vec![1u8, 2, 3]));
    // Larger than HTTP/2's initial windows (64 KiB): flow control moves it.
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    second.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(second.next().await.unwrap().unwrap(), Message::binary(big));
    first.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(first.close_frame().unwrap().code, CloseCode::NORMAL);

    // The same checks as on HTTP/1.1: a wrong version gets 426, a missing
    // one or another `:protocol` 400.
    let (status, _) = conn.extended_connect("/ws", "websocket", &[("sec-websocket-version", "8")]).await;
    assert_eq!(status, 426);
    let (status, _) = conn.extended_connect("/ws", "websocket", &[("sec-websocket-version", "")]).await;
    assert_eq!(status, 400);
    let (status, _) = conn.extended_connect("/ws", "webtransport", &[]).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_request_that_hyper_cannot_hand_over_is_refused_with_426() {
    use axum::extract::FromRequestParts;
    use axum::response::IntoResponse;
    use tether::axum::WebSocketUpgradeRejection;
    // A valid upgrade request, but not from a hyper connection (as in a
    // `tower::ServiceExt::oneshot` test): there is nothing to take over.
    let request = http::Request::get("/ws")
        .header("host", "a")
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    let (mut parts, ()) = request.into_parts();
    let rejection = WebSocketUpgrade::from_request_parts(&mut parts, &()).await.unwrap_err();
    assert!(matches!(rejection, WebSocketUpgradeRejection::ConnectionNotUpgradable));
    assert_eq!(rejection.into_response().status(), http::StatusCode::UPGRADE_REQUIRED);
}
