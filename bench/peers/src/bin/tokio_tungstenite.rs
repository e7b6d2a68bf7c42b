//! tokio-tungstenite 0.30 echo server, as its own `examples/autobahn-server.rs`.

use futures_util::{SinkExt, StreamExt};

fn main() {
    tether_bench_peers::serve("ws", |listener| {
        tether_bench_peers::accept_loop(listener, |tcp| async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    return;
                }
            }
        })
    })
}
