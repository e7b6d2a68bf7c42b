//! `tether echo`: the local echo server.

use std::net::SocketAddr;
use std::process::ExitCode;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};

/// Binds, prints the URL as the first stdout line, and serves until killed;
/// `log`: a line per connection on stderr.
pub async fn run(listen: SocketAddr, log: bool) -> Result<ExitCode, String> {
    let listener = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("ws://{addr}/");
    eprintln!("tether echo: listening on ws://{addr}/");
    serve(listener, log).await;
    Ok(ExitCode::SUCCESS)
}

/// Accepts connections forever, each echoed on its own task; `log` prints
/// one line per connection on stderr when it ends.
pub async fn serve(listener: TcpListener, log: bool) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                tokio::spawn(async move {
                    let line = match echo(tcp).await {
                        Ok(summary) => summary,
                        Err(e) => format!("error: {e}"),
                    };
                    if log {
                        eprintln!("{peer}: {line}");
                    }
                });
            }
            // Out of file descriptors and the like: keep serving the others.
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Echoes one connection until it closes; returns a one-line summary.
async fn echo(tcp: TcpStream) -> Result<String, tether::Error> {
    let _ = tcp.set_nodelay(true);
    let mut ws = tether::accept(tcp).await?;
    let mut count = 0u64;
    while let Some(message) = ws.next().await {
        ws.feed(message?).await?;
        count += 1;
        // Echo whatever else has already arrived before paying for a flush.
        while let Some(Some(next)) = ws.next().now_or_never() {
            ws.feed(next?).await?;
            count += 1;
        }
        ws.flush().await?;
    }
    let close = ws.close_frame().map_or_else(|| "no code".to_owned(), |f| f.to_string());
    Ok(format!("{count} messages echoed, closed ({close})"))
}
