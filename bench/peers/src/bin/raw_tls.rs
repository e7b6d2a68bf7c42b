//! Raw TLS echo (tokio-rustls): every decrypted byte back as it arrives, no
//! WebSocket at all. The limit of a TLS echo on this machine.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let acceptor = tether_bench_peers::tls_acceptor();
    tether_bench_peers::serve("tls", |listener| {
        tether_bench_peers::accept_loop(listener, move |tcp| {
            let acceptor = acceptor.clone();
            async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut buf = vec![0u8; 1024 * 1024];
                loop {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            // The flush sends what rustls kept when the socket was full.
                            if tls.write_all(&buf[..n]).await.is_err() || tls.flush().await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        })
    })
}
