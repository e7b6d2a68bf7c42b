//! Load shapes for `scripts/soak.sh`:
//!
//! - `soak churn URL SECONDS CONCURRENCY`: connect, exchange a message,
//!   close, again and again; prints the count of cycles and of errors.
//! - `soak idle URL CONNECTIONS SOURCES`: opens CONNECTIONS idle
//!   connections spread over 127.0.0.1..=127.0.0.SOURCES (ports run out
//!   past ~28,000 per source address), prints `open N`, holds them until
//!   stdin closes, then exits.

use std::time::{Duration, Instant};

use tether::prelude::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["churn", url, seconds, concurrency] => churn(url, seconds.parse()?, concurrency.parse()?).await,
        ["idle", url, connections, sources] => idle(url, connections.parse()?, sources.parse()?).await,
        _ => Err("usage: soak churn URL SECONDS CONCURRENCY | soak idle URL CONNECTIONS SOURCES".into()),
    }
}

async fn churn(url: &str, seconds: u64, concurrency: usize) -> Result<(), Box<dyn std::error::Error>> {
    let until = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let (mut cycles, mut errors) = (0u64, 0u64);
                while Instant::now() < until {
                    match cycle(&url, w, cycles).await {
                        Ok(()) => cycles += 1,
                        Err(e) => {
                            errors += 1;
                            eprintln!("worker {w}: {e}");
                        }
                    }
                }
                (cycles, errors)
            })
        })
        .collect();
    let (mut cycles, mut errors) = (0, 0);
    for w in workers {
        let (c, e) = w.await?;
        cycles += c;
        errors += e;
    }
    println!("cycles {cycles} errors {errors}");
    Ok(())
}

async fn cycle(url: &str, worker: usize, n: u64) -> Result<(), tether::Error> {
    let mut ws = tether::connect(url).await?;
    let text = format!("worker {worker} cycle {n}");
    ws.send(Message::text(text.clone())).await?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t == text.as_str() => {}
        other => return Err(tether::Error::Io(std::io::Error::other(format!("bad echo: {other:?}")))),
    }
    ws.close(CloseCode::NORMAL, "").await
}

async fn idle(url: &str, connections: usize, sources: u8) -> Result<(), Box<dyn std::error::Error>> {
    let target: std::net::SocketAddr = url.trim_start_matches("ws://").trim_end_matches('/').parse()?;
    let config = tether::Config::default().keepalive(None, Duration::from_secs(1));
    let mut open = Vec::with_capacity(connections);
    for i in 0..connections {
        let source = std::net::Ipv4Addr::new(127, 0, 0, 1 + (i % usize::from(sources.max(1))) as u8);
        let socket = TcpSocket::new_v4()?;
        socket.bind((source, 0).into())?;
        let tcp = socket.connect(target).await?;
        open.push(tether::connect_with(url).config(config).connect_on(tcp).await?);
    }
    println!("open {}", open.len());
    // Hold until the driver closes our stdin; exiting then drops them all.
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    drop(open);
    Ok(())
}
