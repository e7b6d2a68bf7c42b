//! `tether echo`: the local echo server, over ws:// or wss://.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use tether::{Accept, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::flags::{self, EchoArgs};
use crate::serving::{self, Handler};
use crate::static_files::StaticDir;
use crate::{echo_server, pages};

/// Binds, prints the URL as the first stdout line, and serves until SIGINT
/// or SIGTERM, which close every connection with 1001 (waiting up to `--grace`).
pub async fn run(opts: EchoArgs) -> Result<ExitCode, String> {
    let headers: Vec<(String, String)> = opts
        .headers
        .iter()
        .map(|h| flags::header(h).map(|(n, v)| (n.to_owned(), v.to_owned())))
        .collect::<Result<_, _>>()?;
    let files = opts.static_dir.as_deref().map(StaticDir::new).transpose()?;
    let bound = serving::bind("echo", &opts.listen).await?;
    let protocols = opts.protocols;
    let setup = move |mut server: tether::Server| {
        if !protocols.is_empty() || !headers.is_empty() {
            server = server.on_request(move |req| {
                // The first subprotocol the client offers that we serve.
                let chosen = req.protocols().iter().find(|p| protocols.contains(p)).cloned();
                Ok(headers.iter().fold(Accept::new().protocol(chosen), |a, (n, v)| a.header(n, v)))
            });
        }
        // The chat page (or the files of --static) on GET, the WebSocket on the same port.
        match files {
            Some(files) => server.respond_http(move |request| files.respond(request)),
            None => server.respond_http(pages::respond_echo),
        }
    };
    let echo = Echo { quiet: opts.serve.quiet, flush_each: opts.flush_each };
    bound.serve(&opts.serve, setup, echo).await
}

/// Echoes each connection, and logs a line when it opens (with the protocol
/// that carried it) and when it ends, unless quiet.
#[derive(Clone, Copy)]
struct Echo {
    quiet: bool,
    flush_each: bool,
}

impl Handler for Echo {
    // Not an `async fn`: that would keep its arguments twice in the future
    // (as arguments and as locals), and this future is what every idle
    // connection's task holds.
    #[allow(clippy::manual_async_fn)]
    fn handle<S>(self, ws: WebSocket<S>, peer: SocketAddr) -> impl Future<Output = ()> + Send
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        async move {
            let result = echo_server::serve(ws, self.flush_each).await;
            if !self.quiet {
                let line = result.map_or_else(|e| format!("error: {e}"), |summary| summary.to_string());
                eprintln!("{peer}: {line}");
            }
        }
    }

    fn log_opens(&self) -> bool {
        !self.quiet
    }
}
