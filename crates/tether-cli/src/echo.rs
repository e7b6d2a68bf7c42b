//! `tether echo`: the local echo server.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};

/// What `tether echo` was asked to do.
pub struct Options {
    pub listen: SocketAddr,
    pub config: tether::Config,
    /// How long a shutdown waits for the closing handshakes.
    pub grace: Duration,
    pub allow_origins: Vec<String>,
    pub max_per_ip: Option<usize>,
}

/// Binds, prints the URL as the first stdout line, and serves until SIGINT
/// or SIGTERM, which close every connection with 1001 (waiting up to `grace`).
pub async fn run(opts: Options) -> Result<ExitCode, String> {
    let listen = opts.listen;
    let listener = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("ws://{addr}/");
    eprintln!("tether echo: listening on ws://{addr}/");
    let mut server = tether::Server::from_listener(listener, opts.config).grace_period(opts.grace);
    if !opts.allow_origins.is_empty() {
        server = server.allow_origins(opts.allow_origins);
    }
    if let Some(max) = opts.max_per_ip {
        server = server.max_connections_per_ip(max);
    }
    let shutdown = server.shutdown_handle();
    tokio::spawn(async move {
        let signal = termination().await;
        eprintln!("tether echo: {signal}: closing connections (1001)");
        shutdown.shutdown();
    });
    server
        .serve(|ws, peer| async move {
            let line = match echo(ws).await {
                Ok(summary) => summary,
                Err(e) => format!("error: {e}"),
            };
            eprintln!("{peer}: {line}");
        })
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("tether echo: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Waits for SIGINT or SIGTERM and names it.
async fn termination() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Accepts connections forever, each echoed on its own task; `log` prints
/// one line per connection on stderr when it ends.
pub async fn serve(listener: TcpListener, config: tether::Config, log: bool) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                tokio::spawn(async move {
                    let line = match accept(tcp, config).await {
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

async fn accept(tcp: TcpStream, config: tether::Config) -> Result<String, tether::Error> {
    let _ = tcp.set_nodelay(true);
    echo(tether::accept_with(tcp, config, |_| Ok(tether::Accept::new())).await?).await
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
