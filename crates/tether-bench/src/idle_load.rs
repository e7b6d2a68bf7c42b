//! The idle workload: open C connections, echo one small message on each
//! (so every connection has been used, as a real one would), hold them, and
//! read the server's resident memory with and without them, and the
//! kernel's socket memory. With permessage-deflate (`Target::deflate`) the
//! message is compressed, so the memory includes each connection's
//! decompressor state, and its compressor's if the server compresses the
//! echo (most do from 1 KiB). With `answer_pings`, every connection first
//! waits for that many of the server's keepalive pings and answers them,
//! as a browser would: the memory read is then that of a connection kept
//! alive, not one that was never pinged.

use std::time::Duration;

use serde_json::json;
use tether_proto::{FrameHeader, OpCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::connect::{self, Upgraded};
use crate::echo_reader::EchoReader;
use crate::frames::{masked_frame, FrameSet, Kind};
use crate::proc_stat::{kernel_socket_kb, rss_kb, CpuWindow};
use crate::report::{Errors, Report};
use crate::target::{Sources, Target};
use crate::RunOptions;

/// How long the server gets to settle before its memory is read.
const SETTLE: Duration = Duration::from_secs(1);

/// The idle workload's parameters.
#[derive(Debug, Clone)]
pub struct IdlePlan {
    /// Connections to hold.
    pub conns: usize,
    /// Payload of the one message echoed on each connection (0: none).
    pub size: usize,
    /// How long to hold them after the memory reading.
    pub hold: Duration,
    /// Before the reading, wait for this many of each connection's
    /// keepalive pings and answer each with its pong (the server's ping
    /// interval each: at most [`PING_WAIT`]); 0: none. The reading must come
    /// before the next ping's pong timeout, which nothing answers.
    pub answer_pings: u32,
}

/// How long `answer_ping` waits for a connection's ping.
pub const PING_WAIT: Duration = Duration::from_secs(90);

/// Runs the idle workload.
pub async fn run(target: Target, plan: IdlePlan, common: &RunOptions) -> Result<Report, String> {
    if plan.answer_pings > 0 && target.raw {
        return Err("answering keepalive pings needs a WebSocket server, not raw TCP".to_owned());
    }
    let mut sources = Sources::parse(common.source.as_deref())?;
    let mut errors = Errors::default();
    let pid = common.server_pid.map(|p| p.to_string());
    // A first connection that comes and goes: the server's one-time setup
    // (runtime, buffers, JIT) is not charged to the connections held.
    if let Some(mut c) = connect::open(&target, 1, &mut sources, &mut errors).await.pop() {
        let _ = exchange(&mut c, &target, plan.size).await;
        connect::close(c.tcp, target.raw).await;
    }
    tokio::time::sleep(SETTLE).await;
    let before = pid.as_deref().and_then(rss_kb);
    let kernel_before = kernel_socket_kb();

    let cpu = CpuWindow::start(common.server_pid);
    let start = Instant::now();
    let mut conns = connect::open(&target, plan.conns, &mut sources, &mut errors).await;
    let exchanged = futures_util::future::join_all(conns.iter_mut().map(|c| exchange(c, &target, plan.size))).await;
    for e in exchanged.into_iter().filter_map(Result::err) {
        errors.push(e);
    }
    let opened = start.elapsed();
    let (server_cpu, client_cpu) = cpu.stop();
    if !common.quiet {
        eprintln!("[bench] {} connections open in {:.2} s", conns.len(), opened.as_secs_f64());
    }
    if plan.answer_pings > 0 {
        let answered =
            futures_util::future::join_all(conns.iter_mut().map(|c| answer_pings(c, plan.answer_pings))).await;
        for e in answered.into_iter().filter_map(Result::err) {
            errors.push(e);
        }
        if !common.quiet {
            eprintln!("[bench] keepalive pings answered after {:.1} s", start.elapsed().as_secs_f64());
        }
    }
    tokio::time::sleep(SETTLE).await;
    let after = pid.as_deref().and_then(rss_kb);
    let kernel_after = kernel_socket_kb();
    tokio::time::sleep(plan.hold).await;
    let held = conns.len() as u64;
    let closing = futures_util::future::join_all(conns.into_iter().map(|c| connect::close(c.tcp, target.raw)));
    let _ = tokio::time::timeout(Duration::from_secs(20), closing).await;

    Ok(Report {
        mode: "idle",
        url: common.url.clone(),
        params: vec![
            ("conns", json!(plan.conns)),
            ("size", json!(plan.size)),
            ("deflate", json!(target.deflate)),
            ("answer_pings", json!(plan.answer_pings)),
        ],
        window: opened,
        ops: held,
        held,
        errors: errors.count,
        error_samples: errors.samples,
        server_cpu,
        client_cpu_s: client_cpu,
        rss_kb: before.zip(after),
        kernel: kernel_before.zip(kernel_after),
        ..Report::default()
    })
}

/// Answers the server's next `n` keepalive pings.
async fn answer_pings(conn: &mut Upgraded, n: u32) -> Result<(), String> {
    for _ in 0..n {
        answer_ping(conn).await?;
    }
    Ok(())
}

/// Waits for the server's next frame, which must be a ping (an idle
/// connection gets nothing else), and answers it with a pong carrying its
/// payload, masked as a client's frames are.
async fn answer_ping(conn: &mut Upgraded) -> Result<(), String> {
    let Upgraded { tcp, leftover: buf, .. } = conn;
    let work = async {
        loop {
            match FrameHeader::parse(buf) {
                Err(e) => return Err(format!("a bad frame from the server: {e}")),
                Ok(Some((h, _))) if h.opcode != OpCode::Ping || h.mask.is_some() => {
                    return Err(format!("expected the server's ping, got {:?}", h.opcode));
                }
                Ok(Some((h, n))) if buf.len() as u64 >= n as u64 + h.payload_len => {
                    let end = n + h.payload_len as usize;
                    let pong = masked_frame(OpCode::Pong, &buf[n..end], &mut fastrand::Rng::new());
                    buf.drain(..end);
                    buf.shrink_to_fit();
                    tcp.write_all(&pong).await.map_err(|e| format!("write: {e}"))?;
                    tcp.flush().await.map_err(|e| format!("write: {e}"))?;
                    return Ok(());
                }
                Ok(_) => {} // more to read
            }
            if tcp.read_buf(buf).await.map_err(|e| format!("read: {e}"))? == 0 {
                return Err("the server closed the connection".to_owned());
            }
        }
    };
    tokio::time::timeout(PING_WAIT, work).await.map_err(|_| format!("no ping in {} s", PING_WAIT.as_secs()))?
}

/// Echoes one binary message of `size` bytes (none if 0) and checks it.
async fn exchange(conn: &mut Upgraded, target: &Target, size: usize) -> Result<(), String> {
    if size == 0 {
        return Ok(());
    }
    let Upgraded { tcp, leftover: buf, deflate } = conn;
    let kind = if deflate.is_some() { Kind::Text } else { Kind::Binary };
    let frames = FrameSet::new(kind, size, 1, 0, target.raw, deflate.is_some());
    let mut reader = EchoReader::new(kind, target.raw, true).with_deflate(deflate.as_ref());
    let work = async {
        tcp.write_all(frames.wire()).await.map_err(|e| format!("write: {e}"))?;
        tcp.flush().await.map_err(|e| format!("write: {e}"))?;
        loop {
            let (used, fed) = reader.feed(buf, &frames)?;
            buf.drain(..used);
            if fed.messages > 0 {
                buf.shrink_to_fit();
                return Ok(());
            }
            if tcp.read_buf(buf).await.map_err(|e| format!("read: {e}"))? == 0 {
                return Err("the server closed the connection".to_owned());
            }
        }
    };
    tokio::time::timeout(connect::SETUP_TIMEOUT, work).await.map_err(|_| "no echo in 10 s".to_owned())?
}
