//! `tether echo`: the local echo server.

use std::net::SocketAddr;
use std::process::ExitCode;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tether::{Accepted, Message};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The WebSocket path on which the server first sends a generated PNG.
pub const IMAGE_PATH: &str = "/image";

/// Binds, prints the URL as the first stdout line, and serves until killed.
pub async fn run(listen: SocketAddr, config: tether::Config) -> Result<ExitCode, String> {
    let listener = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("ws://{addr}/");
    eprintln!("tether echo: listening on ws://{addr}/ (browser page: http://{addr}/)");
    serve(listener, config, true).await;
    Ok(ExitCode::SUCCESS)
}

/// Accepts connections until dropped, each on its own task: WebSocket
/// connections are echoed (on `/image` a generated PNG is sent first), plain
/// HTTP `GET /` gets the browser page. `log` prints one line per connection
/// on stderr when it ends. Dropping the future drops every connection too,
/// as a server process that stops would.
pub async fn serve(listener: TcpListener, config: tether::Config, log: bool) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    connections.spawn(async move {
                        let line = handle(tcp, config).await.unwrap_or_else(|e| format!("error: {e}"));
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
            },
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next() => {}
        }
    }
}

/// Serves one connection; returns a one-line summary.
async fn handle(tcp: TcpStream, config: tether::Config) -> Result<String, tether::Error> {
    let _ = tcp.set_nodelay(true);
    let mut path = String::new();
    let decide = |request: &tether::Request| {
        path = request.head().uri().path().to_owned();
        Ok(tether::Accept::new())
    };
    match tether::accept_or_respond(tcp, config, decide, crate::web::respond).await? {
        Accepted::Http { request, status } => Ok(format!("{} {} {}", request.method(), request.uri(), status.as_u16())),
        Accepted::WebSocket(mut ws) => {
            if path == IMAGE_PATH {
                // Already compressed: deflating it again would only cost time.
                ws.send_uncompressed(Message::binary(crate::demo_image::png())).await?;
            }
            echo(ws).await
        }
    }
}

/// Echoes one connection until it closes; returns a one-line summary.
async fn echo(mut ws: tether::WebSocket<TcpStream>) -> Result<String, tether::Error> {
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
