//! axum 0.8 with tether's extractor (`tether::axum::WebSocketUpgrade`)
//! echoing at `/`, served by `axum::serve` (HTTP/1.1 and HTTP/2), written
//! as a user would (the handler of `crates/tether/examples/axum_echo.rs`).
//! permessage-deflate is off unless `--deflate` is given (tether's default
//! `Config` then), so that the plain rows compare like with like against
//! axum's own WebSocket, which has none.

use axum::response::Response;
use axum::routing::any;
use axum::serve::ListenerExt;
use axum::Router;
use tether::axum::WebSocketUpgrade;
use tether::prelude::*;
use tether::Config;

async fn echo(ws: WebSocketUpgrade, deflate: bool) -> Response {
    let config = if deflate { Config::default() } else { Config::default().deflate(None) };
    ws.config(config).on_upgrade(|mut ws| async move {
        // `feed` only queues: the stream writes the queue once it has decoded
        // what already arrived, as `tether echo` does.
        while let Some(Ok(message)) = ws.next().await {
            if ws.feed(message).await.is_err() {
                break;
            }
        }
    })
}

fn main() {
    let deflate = tether_bench_peers::has_flag("--deflate");
    tether_bench_peers::serve("ws", |listener| async move {
        let app = Router::new().route("/", any(move |ws| echo(ws, deflate)));
        // TCP_NODELAY, as `tether echo` and the other peers set it.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("serve failed: {e}");
        }
    })
}
