//! tokio-websockets 0.13 echo server, as its own `examples/echo_server.rs`:
//! no outgoing fragmentation, unconstrained task.

use futures_util::{SinkExt, StreamExt};
use tokio_websockets::{Config, Limits, ServerBuilder};

fn main() {
    tether_bench_peers::serve("ws", |listener| {
        tether_bench_peers::accept_loop(listener, |tcp| {
            tokio::task::unconstrained(async move {
                let builder = ServerBuilder::new()
                    .config(Config::default().frame_size(usize::MAX))
                    .limits(Limits::default().max_payload_len(Some(64 << 20)));
                let Ok((_request, mut ws)) = builder.accept(tcp).await else { return };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            })
        })
    })
}
