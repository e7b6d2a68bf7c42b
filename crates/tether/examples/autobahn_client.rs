//! The client side of Autobahn|Testsuite: run every case against
//! `wstest -m fuzzingserver`, echoing what it sends, then ask for the report.
//!
//! Usage: `autobahn_client ws://127.0.0.1:PORT [AGENT]`

use tether::prelude::*;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args.next().ok_or("usage: autobahn_client ws://HOST:PORT [AGENT]")?;
    let agent = args.next().unwrap_or_else(|| "tether".into());
    let count: u32 = {
        let mut ws = tether::connect(&format!("{base}/getCaseCount")).await?;
        let n = match ws.next().await {
            Some(Ok(Message::Text(t))) => t.parse()?,
            other => return Err(format!("unexpected case count answer: {other:?}").into()),
        };
        while ws.next().await.is_some() {}
        n
    };
    eprintln!("running {count} cases");
    for case in 1..=count {
        let config = tether::Config::default().max_message_size(64 << 20);
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        match tether::connect_with(&url).config(config).connect().await {
            Ok(ws) => echo(ws).await,
            Err(e) => eprintln!("case {case}: {e}"),
        }
    }
    let mut ws = tether::connect(&format!("{base}/updateReports?agent={agent}")).await?;
    while ws.next().await.is_some() {}
    Ok(())
}

/// Echoes until the connection ends; errors are the point of many cases.
async fn echo<S>(mut ws: tether::WebSocket<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(Ok(message)) = ws.next().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
    // Finish the closing handshake if the error left one pending.
    while ws.next().await.is_some() {}
}
