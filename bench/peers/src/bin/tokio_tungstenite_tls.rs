//! tokio-tungstenite 0.30 over TLS: tokio-rustls accepts (tokio-tungstenite
//! leaves the server's TLS to the application, as its README says), then
//! the echo of its own `examples/autobahn-server.rs`.

use futures_util::{SinkExt, StreamExt};

fn main() {
    tether_bench_peers::serve_tls("wss", |tls| async move {
        let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else { return };
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                return;
            }
        }
    })
}
