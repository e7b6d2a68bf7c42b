//! The setup workload: C workers each open a connection, do the opening
//! handshake, send a close frame, wait for the server's close and its FIN,
//! and start over. Reports completed setups per second and the latency of
//! one whole cycle.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use serde_json::json;
use tether_proto::{FrameHeader, OpCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::connect::{self, Upgraded};
use crate::frames::close_frame;
use crate::proc_stat::CpuWindow;
use crate::report::{new_histogram, Errors, Report};
use crate::target::{Sources, Target};
use crate::tls::is_unclean_eof;
use crate::{RunOptions, Window};

/// The longest one connect-handshake-close cycle may take.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Tally {
    report: Report,
    errors: Errors,
    /// What TLS negotiated, from the first cycle that completed.
    tls: Option<String>,
}

/// Runs `concurrency` workers for the warm-up and the duration.
pub async fn run(target: Target, concurrency: usize, common: &RunOptions) -> Result<Report, String> {
    if target.raw {
        return Err("the setup workload needs a WebSocket server (ws://)".into());
    }
    let sources = Rc::new(RefCell::new(Sources::parse(common.source.as_deref())?));
    let window = common.window(common.warmup);
    let tally = Rc::new(RefCell::new(Tally {
        report: Report { mode: "setup", url: common.url.clone(), latency: Some(new_histogram()), ..Report::default() },
        errors: Errors::default(),
        tls: None,
    }));
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let workers: Vec<_> = (0..concurrency.max(1))
                .map(|i| tokio::task::spawn_local(worker(i, target.clone(), sources.clone(), tally.clone(), window)))
                .collect();
            tokio::time::sleep_until(window.from).await;
            let cpu = CpuWindow::start(common.server_pid);
            tokio::time::sleep_until(window.until).await;
            let (server, client) = cpu.stop();
            {
                let mut t = tally.borrow_mut();
                t.report.server_cpu = server;
                t.report.client_cpu_s = client;
            }
            // Cycles under way finish (or time out) on their own.
            for w in workers {
                let _ = w.await;
            }
        })
        .await;
    let Tally { mut report, errors, tls } = Rc::try_unwrap(tally).map_err(|_| "workers still running")?.into_inner();
    report.window = window.until - window.from;
    report.errors = errors.count;
    report.error_samples = errors.samples;
    report.params = vec![("concurrency", json!(concurrency)), ("warmup_s", json!(common.warmup.as_secs_f64()))];
    report.params.extend(tls.map(|t| ("tls", json!(t))));
    Ok(report)
}

async fn worker(id: usize, target: Target, sources: Rc<RefCell<Sources>>, tally: Rc<RefCell<Tally>>, window: Window) {
    let mut rng = fastrand::Rng::with_seed(id as u64);
    while Instant::now() < window.until {
        let source = sources.borrow_mut().next();
        let began = Instant::now();
        let outcome = tokio::time::timeout(CYCLE_TIMEOUT, cycle(&target, source, &mut rng))
            .await
            .unwrap_or_else(|_| Err("connect, handshake and close took over 10 s".into()));
        let ended = Instant::now();
        match outcome {
            Ok(tls) if ended >= window.from && ended < window.until => {
                let mut t = tally.borrow_mut();
                if t.tls.is_none() {
                    t.tls = tls;
                }
                t.report.ops += 1;
                if let Some(h) = t.report.latency.as_mut() {
                    let _ = h.record((ended - began).as_nanos() as u64);
                }
            }
            Ok(_) => {}
            Err(e) => {
                tally.borrow_mut().errors.push(e);
                // Do not spin on a refused connection.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// One connection: (TLS,) handshake, close frame out, close frame in, FIN
/// in. Returns what TLS negotiated, if any.
async fn cycle(
    target: &Target,
    source: Option<std::net::IpAddr>,
    rng: &mut fastrand::Rng,
) -> Result<Option<String>, String> {
    let tcp = connect::connect(target, source).await?;
    let tls = tcp.tls_description();
    let Upgraded { mut tcp, leftover: mut buf, .. } = connect::handshake(tcp, target).await?;
    tcp.write_all(&close_frame(rng)).await.map_err(|e| format!("close write: {e}"))?;
    tcp.flush().await.map_err(|e| format!("close write: {e}"))?;
    // Skip anything before the server's close frame.
    loop {
        match FrameHeader::parse(&buf).map_err(|e| format!("bad frame: {e}"))? {
            Some((h, n)) if buf.len() >= n + h.payload_len as usize => {
                buf.drain(..n + h.payload_len as usize);
                if h.opcode == OpCode::Close {
                    break;
                }
            }
            _ => {
                if tcp.read_buf(&mut buf).await.map_err(|e| format!("read: {e}"))? == 0 {
                    return Err("the server closed TCP without a close frame".into());
                }
            }
        }
    }
    // The server closes TCP first (RFC 6455 section 7.1.1): wait for its FIN,
    // so the TIME_WAIT lands on its side and our ports stay free. Over TLS
    // a server may close TCP without a close_notify alert: that FIN ends
    // the cycle just as well.
    let mut sink = [0u8; 512];
    loop {
        match tcp.read(&mut sink).await {
            Ok(0) => return Ok(tls),
            Ok(_) => {}
            Err(e) if tls.is_some() && is_unclean_eof(&e) => return Ok(tls),
            Err(e) => return Err(format!("read after close: {e}")),
        }
    }
}
