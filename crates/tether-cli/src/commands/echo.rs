//! `tether echo`: the local echo server, over ws:// or wss://.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tether::tls::ServerTls;
use tether::Accept;
use tokio::net::TcpListener;

use crate::echo_server;
use crate::flags::{self, EchoArgs};

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
        .map(|h| flags::header(h).map(|(n, v)| (n.to_owned(), v.to_owned())))
        .collect::<Result<_, _>>()?;
    let listen = opts.listen;
    let listener = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!("{scheme}://{addr}/");
    eprintln!("tether echo: listening on {scheme}://{addr}/");
    let config = opts.keepalive.config(opts.no_deflate)?;
    let grace: Duration = flags::duration(opts.grace, "--grace")?;
    let mut server = tether::Server::from_listener(listener, config).grace_period(grace);
    if !opts.allow_origins.is_empty() {
        server = server.allow_origins(opts.allow_origins);
    }
    if let Some(max) = opts.max_per_ip {
        server = server.max_connections_per_ip(max);
    }
    if !opts.protocols.is_empty() || !headers.is_empty() {
        let protocols = opts.protocols;
        server = server.on_request(move |req| {
            // The first subprotocol the client offers that we serve.
            let chosen = req.protocols().iter().find(|p| protocols.contains(p)).cloned();
            Ok(headers.iter().fold(Accept::new().protocol(chosen), |a, (n, v)| a.header(n, v)))
        });
    }
    // The chat page on GET /, its WebSocket on the same port.
    server = server.respond_http(echo_server::page::respond);
    let quiet = opts.quiet;
    if !quiet {
        server = server.on_handshake_error(|peer, e| eprintln!("{peer}: handshake failed: {e}"));
    }
    let shutdown = server.shutdown_handle();
    tokio::spawn(async move {
        let signal = termination().await;
        eprintln!("tether echo: {signal}: closing connections (1001)");
        shutdown.shutdown();
    });
    let log = move |peer: SocketAddr, result: Result<String, tether::Error>| {
        if !quiet {
            let line = result.unwrap_or_else(|e| format!("error: {e}"));
            eprintln!("{peer}: {line}");
        }
    };
    let served = match tls {
        Some(tls) => {
            server.serve_tls(tls, move |ws, peer| async move { log(peer, echo_server::serve(ws).await) }).await
        }
        None => server.serve(move |ws, peer| async move { log(peer, echo_server::serve(ws).await) }).await,
    };
    served.map_err(|e| e.to_string())?;
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
