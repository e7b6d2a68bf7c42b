//! Raw TCP echo: every byte back as it arrives, no WebSocket at all. The
//! physical limit of an echo on this machine, for the large-message rows.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    tether_bench_peers::serve("tcp", |listener| {
        tether_bench_peers::accept_loop(listener, |mut tcp| async move {
            let mut buf = vec![0u8; 1024 * 1024];
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if tcp.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        })
    })
}
