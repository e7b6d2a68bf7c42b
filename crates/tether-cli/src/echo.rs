//! `tether echo`: the local echo server, over ws:// or wss://.

use std::process::ExitCode;
use std::sync::Arc;

use futures_util::{FutureExt, SinkExt, StreamExt};
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
}

/// Binds, prints the URL as the first stdout line, and serves until killed.
pub async fn run(opts: EchoArgs) -> Result<ExitCode, String> {
    let tls = match opts.tls_cert.as_ref().zip(opts.tls_key.as_ref()) {
        Some((cert, key)) => Some(ServerTls::from_pem_files(cert, key).map_err(|e| e.to_string())?),
        None => None,
    };
    let headers = opts
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
    serve(listener, Settings { tls, protocols: opts.protocols, headers }, true).await;
    Ok(ExitCode::SUCCESS)
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
    let mut ws = tether::accept_with(stream, tether::Config::default(), |req| {
        let chosen = req.protocols().iter().find(|p| settings.protocols.contains(p)).cloned();
        Ok(settings.headers.iter().fold(Accept::new().protocol(chosen), |a, (n, v)| a.header(n, v)))
    })
    .await?;
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
