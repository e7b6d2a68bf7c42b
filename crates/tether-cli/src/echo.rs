//! `tether echo`: the local echo server, over ws:// or wss://.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tether::tls::ServerTls;
use tether::{Accept, MaybeTlsStream};
use tokio::net::{TcpListener, TcpStream};

use crate::cli::EchoArgs;

/// How each connection is upgraded.
#[derive(Default)]
pub struct Settings {
    tls: Option<ServerTls>,
    protocols: Vec<String>,
    headers: Vec<(String, String)>,
    config: tether::Config,
}

/// Binds, prints the URL as the first stdout line, and serves until SIGINT
/// or SIGTERM, which close every connection with 1001 (waiting up to `--grace`).
pub async fn run(opts: EchoArgs) -> Result<ExitCode, String> {
    let tls = match opts.tls_cert.as_ref().zip(opts.tls_key.as_ref()) {
        Some((cert, key)) => Some(ServerTls::from_pem_files(cert, key).map_err(|e| e.to_string())?),
        None => None,
    };
    let headers: Vec<(String, String)> = opts
        .headers
        .iter()
        .map(|h| crate::cli::header(h).map(|(n, v)| (n.to_owned(), v.to_owned())))
        .collect::<Result<_, _>>()?;
    let listen = opts.listen;
    let listener = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!("{scheme}://{addr}/");
    eprintln!("tether echo: listening on {scheme}://{addr}/");
    let config = crate::cli::config(opts.no_deflate, opts.keepalive)?;
    if tls.is_some() || !opts.protocols.is_empty() || !headers.is_empty() {
        // TLS, subprotocols and response headers go through the per-connection
        // loop below, which has no graceful shutdown yet.
        serve(listener, Settings { tls, protocols: opts.protocols, headers, config }, true).await;
        return Ok(ExitCode::SUCCESS);
    }
    let grace: Duration = crate::cli::duration(opts.grace, "--grace")?;
    let mut server = tether::Server::from_listener(listener, config).grace_period(grace);
    if !opts.allow_origins.is_empty() {
        server = server.allow_origins(opts.allow_origins);
    }
    if let Some(max) = opts.max_per_ip {
        server = server.max_connections_per_ip(max);
    }
    // The chat page on GET /, its WebSocket on the same port.
    server = server.respond_http(crate::web::respond);
    let quiet = opts.quiet;
    let shutdown = server.shutdown_handle();
    tokio::spawn(async move {
        let signal = termination().await;
        eprintln!("tether echo: {signal}: closing connections (1001)");
        shutdown.shutdown();
    });
    server
        .serve(move |ws, peer| async move {
            let line = match with_image(ws).await {
                Ok(summary) => summary,
                Err(e) => format!("error: {e}"),
            };
            if !quiet {
                eprintln!("{peer}: {line}");
            }
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
pub async fn serve(listener: TcpListener, settings: Settings, log: bool) {
    let settings = Arc::new(settings);
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let settings = settings.clone();
                tokio::spawn(async move {
                    let line = match echo(tcp, &settings).await {
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
async fn echo(tcp: TcpStream, settings: &Settings) -> Result<String, tether::Error> {
    let _ = tcp.set_nodelay(true);
    let stream = match &settings.tls {
        Some(tls) => tls.accept(tcp).await?,
        None => MaybeTlsStream::Plain(tcp),
    };
    let mut ws = tether::accept_with(stream, settings.config, |req| {
        let chosen = req.protocols().iter().find(|p| settings.protocols.contains(p)).cloned();
        Ok(settings.headers.iter().fold(Accept::new().protocol(chosen), |a, (n, v)| a.header(n, v)))
    })
    .await?;
    echo_messages(&mut ws).await
}

/// An echo server for `tether demo` and `tether chat` without a URL: the
/// page, `/image` and the echo, without logging.
pub async fn embedded(listener: TcpListener, config: tether::Config) {
    let server = tether::Server::from_listener(listener, config).respond_http(crate::web::respond);
    let _ = server
        .serve(|ws, _| async move {
            let _ = with_image(ws).await;
        })
        .await;
}

/// The demo endpoint: a client of `/image` first gets a PNG, then the echo.
pub const IMAGE_PATH: &str = "/image";

async fn with_image(mut ws: tether::WebSocket<TcpStream>) -> Result<String, tether::Error> {
    if ws.request_path() == Some(IMAGE_PATH) {
        // Already compressed: deflating it again would only cost time.
        ws.send_uncompressed(tether::Message::binary(crate::demo_image::png())).await?;
    }
    echo_messages(&mut ws).await
}

/// Echoes one upgraded connection until it closes; returns a one-line summary.
/// Takes the connection by reference: the caller's future already holds
/// it, and a second copy would double every idle connection's task.
async fn echo_messages<S>(ws: &mut tether::WebSocket<S>) -> Result<String, tether::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut count = 0u64;
    // `feed` only queues: the stream writes the queue out once it has
    // decoded everything already received, so a burst of messages is
    // echoed with one write.
    while let Some(message) = ws.next().await {
        ws.feed(message?).await?;
        count += 1;
    }
    let close = ws.close_frame().map_or_else(|| "no code".to_owned(), |f| f.to_string());
    Ok(format!("{count} messages echoed, closed ({close})"))
}
