//! Raw TLS echo (tokio-rustls): every decrypted byte back as it arrives, no
//! WebSocket at all. The limit of a TLS echo on this machine.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    tether_bench_peers::serve_tls("tls", |mut tls| async move {
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
    })
}
