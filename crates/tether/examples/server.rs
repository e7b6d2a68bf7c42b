//! A minimal echo server: accept, then send back every message.
//!
//! ```sh
//! cargo run -p tether-ws --example server -- 127.0.0.1:9001
//! ```

use tether::prelude::*;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("ws://{}/", listener.local_addr()?);
    loop {
        let (tcp, peer) = listener.accept().await?;
        tokio::spawn(async move {
            let mut ws = match tether::accept(tcp).await {
                Ok(ws) => ws,
                Err(e) => return eprintln!("{peer}: handshake failed: {e}"),
            };
            while let Some(message) = ws.next().await {
                match message {
                    Ok(message) => {
                        if let Err(e) = ws.send(message).await {
                            return eprintln!("{peer}: {e}");
                        }
                    }
                    Err(e) => return eprintln!("{peer}: {e}"),
                }
            }
            eprintln!("{peer}: closed {:?}", ws.close_frame());
        });
    }
}
