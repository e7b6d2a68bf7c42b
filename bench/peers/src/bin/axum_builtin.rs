//! axum 0.8's own WebSocket (`axum::extract::ws`, tokio-tungstenite
//! underneath) echoing at `/`, served by `axum::serve` (HTTP/1.1 and
//! HTTP/2), as axum's `examples/websockets` writes its handler. It has no
//! permessage-deflate.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::any;
use axum::serve::ListenerExt;
use axum::Router;

async fn echo(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            if matches!(msg, Message::Text(_) | Message::Binary(_)) && socket.send(msg).await.is_err() {
                return;
            }
        }
    })
}

fn main() {
    tether_bench_peers::serve("ws", |listener| async move {
        let app = Router::new().route("/", any(echo));
        // TCP_NODELAY, as `tether echo` and the other peers set it.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("serve failed: {e}");
        }
    })
}
