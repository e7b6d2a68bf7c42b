//! `tether connect`: a terminal client; with `--reconnect`, one that
//! survives server restarts (`reconnecting`).

mod reconnecting;

pub(crate) use reconnecting::is_room;

use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use tether::http2::Http2Policy;
use tether::tls::{ClientTls, Roots};
use tether::{CloseCode, Error, Http2Error, Message, ProxyError, TlsError};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::flags::{self, ConnectArgs};
use crate::output::print;

/// Connects, sends stdin's lines, prints what arrives until either side closes.
pub async fn run(opts: ConnectArgs) -> Result<ExitCode, String> {
    let config = opts
        .keepalive
        .config(opts.no_deflate)?
        .connect_timeout(Duration::from_secs_f64(opts.connect_timeout))
        .handshake_timeout(Duration::from_secs_f64(opts.handshake_timeout));
    let mut builder = tether::connect_with(&opts.url).config(config).tls(client_tls(&opts)?);
    for p in &opts.protocols {
        builder = builder.protocol(p);
    }
    for h in &opts.headers {
        let (name, value) = flags::header(h)?;
        builder = builder.header(name, value);
    }
    if let Some(origin) = &opts.origin {
        builder = builder.origin(origin);
    }
    if opts.http2 {
        builder = builder.http2(Http2Policy::Only);
    }
    match opts.proxy.as_deref() {
        None => {}
        Some("") => builder = builder.no_proxy(),
        Some(url) => builder = builder.proxy(url.parse().map_err(|e: Error| e.to_string())?),
    }
    if opts.insecure && opts.url.starts_with("wss:") {
        eprintln!(
            "tether: warning: --insecure: the server's certificate is not verified; \
             anyone on the path can read and change this connection"
        );
    }
    if opts.reconnect {
        let room = reconnecting::is_room(&opts.url) && opts.protocols.is_empty();
        if room {
            builder = builder.protocol(tether_hub::protocol::PROTOCOL);
        }
        return reconnecting::run(builder, &opts.also, room, opts.binary).await;
    }
    let ws = builder.connect().await.map_err(|e| format!("cannot connect to {}: {e}{}", opts.url, hint(&e)))?;
    if opts.http2 {
        eprintln!("protocol: {}", if ws.get_ref().is_http2() { "HTTP/2 (extended CONNECT)" } else { "HTTP/1.1" });
    }
    if let Some(p) = ws.protocol() {
        eprintln!("subprotocol: {p}");
    }
    let (tx, mut rx) = ws.split();

    // Lines from stdin become text messages; end of input closes cleanly.
    let sender = tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        loop {
            match lines.next_line().await {
                Ok(Some(line)) => {
                    if tx.send(Message::text(line)).await.is_err() {
                        return; // closed: the receiver reports why
                    }
                }
                Ok(None) | Err(_) => {
                    let _ = tx.close(CloseCode::NORMAL, "").await;
                    return;
                }
            }
        }
    });

    let mut stdout = std::io::stdout().lock();
    let outcome = loop {
        match rx.next().await {
            Some(Ok(message)) => {
                if let Err(e) = print(&mut stdout, &message, opts.binary) {
                    // A closed pipe downstream (`| head`) is not a failure.
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        sender.abort();
                        return Ok(ExitCode::SUCCESS);
                    }
                    break Err(e.to_string());
                }
            }
            Some(Err(e)) => break Err(e.to_string()),
            None => break Ok(()),
        }
    };
    sender.abort();
    match outcome {
        Ok(()) => {
            match rx.close_frame() {
                Some(f) if f.reason.is_empty() => eprintln!("closed: {}", f.code),
                Some(f) => eprintln!("closed: {} {}", f.code, f.reason),
                None => eprintln!("closed: no status code"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(format!("connection to {} failed: {e}", opts.url)),
    }
}

/// The TLS set-up the flags ask for: Mozilla's roots unless --ca or
/// --os-roots say otherwise (both: the OS store plus the files).
fn client_tls(opts: &ConnectArgs) -> Result<ClientTls, String> {
    let mut tls = ClientTls::new();
    if opts.os_roots {
        tls = tls.roots(Roots::Native);
    } else if !opts.ca_files.is_empty() {
        tls = tls.roots(Roots::Empty);
    }
    for file in &opts.ca_files {
        tls = tls.add_ca_pem_file(file).map_err(|e| e.to_string())?;
    }
    Ok(tls.danger_accept_invalid_certs(opts.insecure))
}

/// What to try next, for the failures a flag can fix.
fn hint(e: &Error) -> &'static str {
    match e {
        Error::Tls(tls) => match **tls {
            TlsError::UnknownIssuer { .. } => " (trust its CA with --ca FILE, or --os-roots)",
            TlsError::NameMismatch { .. } => " (connect by a name the certificate lists)",
            _ => "",
        },
        Error::Proxy(proxy) if matches!(**proxy, ProxyError::Auth { .. }) => " (put USER:PASSWORD@ in the proxy URL)",
        Error::Http2(h2) => match **h2 {
            Http2Error::NotOffered { .. } | Http2Error::ExtendedConnectDisabled { .. } => {
                " (leave out --http2 to use HTTP/1.1)"
            }
            Http2Error::Protocol(_) => " (for ws://, --http2 needs a server that speaks cleartext HTTP/2)",
            _ => "",
        },
        Error::ConnectTimeout { .. } => " (raise --connect-timeout?)",
        Error::HandshakeTimeout(_) => " (raise --handshake-timeout?)",
        _ => "",
    }
}
