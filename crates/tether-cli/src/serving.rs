//! What the server commands (`tether echo`, `tether hub`) share: bind and
//! print the URL, wss:// with a certificate, the origin allow-list and the
//! per-address cap, logging of failed handshakes (and, for handlers that
//! ask, of each WebSocket's protocol), and the graceful shutdown on SIGINT or
//! SIGTERM (close 1001 to everyone, then exit 0).

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use tether::tls::ServerTls;
use tether::{MaybeTlsStream, Server, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use crate::flags;
use crate::flags::serve::{Listen, ServeOptions};

/// Runs one upgraded connection, over TCP, TLS or an HTTP/2 stream alike.
pub trait Handler: Clone + Send + Sync + 'static {
    /// Serves `ws`, from `peer`, until it ends. Takes the handler by value
    /// (a clone per connection): the future it returns is the connection's
    /// task, and a borrow would keep a second copy of the handler in it.
    fn handle<S>(self, ws: WebSocket<S>, peer: SocketAddr) -> impl Future<Output = ()> + Send
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Whether each WebSocket's opening is logged on stderr with the
    /// protocol that carried it ([`opened`]).
    fn log_opens(&self) -> bool {
        false
    }
}

/// The line logged when a WebSocket opens: its path and how it came, e.g.
/// `WebSocket /chat over HTTP/2 (extended CONNECT, TLS)`.
pub fn opened(ws: &WebSocket<MaybeTlsStream>) -> String {
    let io = ws.get_ref();
    let how = if io.is_http2() { "HTTP/2 (extended CONNECT" } else { "HTTP/1.1 (upgrade" };
    let tls = if io.is_tls() { ", TLS" } else { "" };
    format!("WebSocket {} over {how}{tls})", ws.request_path().unwrap_or("/"))
}

/// A server command's listener, bound, with its URL printed.
pub struct Bound {
    name: &'static str,
    listener: TcpListener,
    tls: Option<ServerTls>,
}

/// Loads the certificate, binds, and prints the URL as the first stdout
/// line (and a line on stderr naming the command `name`).
pub async fn bind(name: &'static str, listen: &Listen) -> Result<Bound, String> {
    let tls = match listen.tls_cert.as_ref().zip(listen.tls_key.as_ref()) {
        Some((cert, key)) => Some(ServerTls::from_pem_files(cert, key).map_err(|e| e.to_string())?),
        None => None,
    };
    let at = listen.listen;
    let listener = TcpListener::bind(at).await.map_err(|e| format!("cannot listen on {at}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!("{scheme}://{addr}/");
    eprintln!("tether {name}: listening on {scheme}://{addr}/");
    Ok(Bound { name, listener, tls })
}

impl Bound {
    /// Serves until SIGINT or SIGTERM, which close every connection with
    /// 1001 (waiting up to `--grace`): a server with the shared options
    /// (compression, keepalive, origins, per-address cap, handshake errors
    /// logged unless quiet), set up further by `setup`, running `handler`
    /// on each connection.
    pub async fn serve<H: Handler>(
        self,
        opts: &ServeOptions,
        setup: impl FnOnce(Server) -> Server,
        handler: H,
    ) -> Result<ExitCode, String> {
        let config = opts.keepalive.config(opts.no_deflate)?;
        let grace = flags::duration(opts.grace, "--grace")?;
        let mut server = Server::from_listener(self.listener, config).grace_period(grace);
        if !opts.allow_origins.is_empty() {
            server = server.allow_origins(opts.allow_origins.clone());
        }
        if let Some(max) = opts.max_per_ip {
            server = server.max_connections_per_ip(max);
        }
        server = setup(server);
        if !opts.quiet {
            server = server.on_handshake_error(|peer, e| eprintln!("{peer}: handshake failed: {e}"));
        }
        let shutdown = server.shutdown_handle();
        let name = self.name;
        tokio::spawn(async move {
            let signal = termination().await;
            eprintln!("tether {name}: {signal}: closing connections (1001)");
            shutdown.shutdown();
        });
        let run = move |ws: WebSocket<MaybeTlsStream>, peer: SocketAddr| {
            let handler = handler.clone();
            if handler.log_opens() {
                eprintln!("{peer}: {}", opened(&ws));
            }
            handler.handle(ws, peer)
        };
        let served = match self.tls {
            Some(tls) => server.serve_tls(tls, run).await,
            None => server.serve(run).await,
        };
        served.map_err(|e| e.to_string())?;
        eprintln!("tether {name}: stopped");
        Ok(ExitCode::SUCCESS)
    }
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
