//! The churn load of `scripts/soak.sh` (its idle load is `tether bench idle`):
//!
//! - `soak churn URL SECONDS CONCURRENCY`: connect with the library,
//!   exchange a message, close, again and again; prints the count of cycles
//!   and of errors.

use std::time::{Duration, Instant};

use tether::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["churn", url, seconds, concurrency] => churn(url, seconds.parse()?, concurrency.parse()?).await,
        _ => Err("usage: soak churn URL SECONDS CONCURRENCY".into()),
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
