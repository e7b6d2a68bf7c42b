//! tokio-tungstenite 0.30 over TLS: tokio-rustls accepts (tokio-tungstenite
//! leaves the server's TLS to the application, as its README says), then
//! the echo of its own `examples/autobahn-server.rs`.

use futures_util::{SinkExt, StreamExt};

fn main() {
    let acceptor = tether_bench_peers::tls_acceptor();
    tether_bench_peers::serve("wss", |listener| {
        tether_bench_peers::accept_loop(listener, move |tcp| {
            let acceptor = acceptor.clone();
            async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else { return };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            }
        })
    })
}
