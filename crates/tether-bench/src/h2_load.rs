//! Workloads on tether's own client, for WebSockets over HTTP/2 (RFC 8441:
//! each WebSocket an extended CONNECT stream, many on one connection) and,
//! with the same client code, over HTTP/1.1, so that the two protocols
//! compare like with like against one server: an echo (every byte checked)
//! and a setup rate (WebSockets opened and closed per second).
//!
//! The other workloads speak the protocol on raw TCP with pre-built frames;
//! HTTP/2 needs a real HTTP/2 stack (HPACK, flow control), which is why these
//! take tether's (`tether::http2::Client`). They cost the generator more CPU
//! per message than the raw workloads, so compare them with each other
//! (`--http2` against `--tether-client`), not with the raw rows.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::json;
use tether::http2::{Client, Http2Policy};
use tether::{CloseCode, Config, MaybeTlsStream, Message, WebSocket};
use tokio::time::Instant;

use crate::proc_stat::CpuWindow;
use crate::report::{new_histogram, Errors, Report};
use crate::{RunOptions, Window};

/// The largest message of the echo: each connection sends, then reads, so a
/// message must fit the write buffers of both sides.
pub const MAX_SIZE: usize = 64 * 1024;

/// The longest one open-and-close may take in the setup workload.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the WebSockets reach the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// One TCP connection per WebSocket, HTTP/1.1 upgrade.
    Http1,
    /// HTTP/2 with prior knowledge (`ws://`) or ALPN `h2` (`wss://`),
    /// `per_conn` WebSockets (streams) on each connection.
    Http2 {
        /// WebSockets sharing one HTTP/2 connection.
        per_conn: usize,
    },
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Http1 => "http1",
            Transport::Http2 { .. } => "http2",
        }
    }

    fn per_conn(self) -> usize {
        match self {
            Transport::Http1 => 1,
            Transport::Http2 { per_conn } => per_conn.max(1),
        }
    }
}

/// The echo's parameters: `conns` WebSockets, each echoing one message of
/// `size` bytes at a time (closed loop), every byte compared.
#[derive(Clone, Debug)]
pub struct EchoPlan {
    /// WebSockets.
    pub conns: usize,
    /// Payload bytes per message (binary), at most [`MAX_SIZE`].
    pub size: usize,
    /// Messages per WebSocket, then stop (no warm-up); `None`: run for the duration.
    pub messages: Option<u64>,
    /// HTTP/1.1 or HTTP/2.
    pub transport: Transport,
}

/// What every WebSocket adds to.
#[derive(Debug)]
struct Tally {
    latency: Histogram<u64>,
    ops: u64,
    bytes: u64,
    last: Option<Instant>,
    errors: Errors,
}

impl Tally {
    fn new() -> Rc<RefCell<Tally>> {
        Rc::new(RefCell::new(Tally {
            latency: new_histogram(),
            ops: 0,
            bytes: 0,
            last: None,
            errors: Errors::default(),
        }))
    }

    /// Counts one operation that began at `began` and ended now, if inside the window.
    fn record(&mut self, window: Window, began: Instant, bytes: usize) {
        let now = Instant::now();
        if now >= window.from && now < window.until {
            self.ops += 1;
            self.bytes += bytes as u64;
            let _ = self.latency.record((now - began).as_nanos() as u64);
            self.last = Some(now);
        }
    }
}

/// The client's settings: no compression offered (the rows compare the
/// transport) and no keepalive pings from the generator.
fn builder(url: &str, transport: Transport) -> tether::ClientBuilder {
    let config = Config::default().deflate(None).keepalive(None, Duration::from_secs(20));
    let http2 = if transport == Transport::Http1 { Http2Policy::Never } else { Http2Policy::Only };
    tether::connect_with(url).no_proxy().config(config).http2(http2)
}

/// The HTTP/2 connections for `websockets` WebSockets (none over HTTP/1.1).
async fn open_clients(url: &str, websockets: usize, transport: Transport) -> Result<Vec<Client>, String> {
    let mut clients = Vec::new();
    if transport != Transport::Http1 {
        for _ in 0..websockets.div_ceil(transport.per_conn()) {
            let client = builder(url, transport).http2_client().await.map_err(|e| format!("HTTP/2 connection: {e}"))?;
            clients.push(client);
        }
    }
    Ok(clients)
}

/// Opens the `i`-th WebSocket: a stream of its HTTP/2 connection, or a new
/// TCP connection with the HTTP/1.1 upgrade.
async fn open_one(
    url: &str,
    i: usize,
    clients: &[Client],
    transport: Transport,
) -> Result<WebSocket<MaybeTlsStream>, String> {
    match clients.get(i / transport.per_conn()) {
        Some(client) => client.connect(url).await.map_err(|e| format!("extended CONNECT: {e}")),
        None => builder(url, transport).connect().await.map_err(|e| format!("handshake: {e}")),
    }
}

/// Runs the echo workload.
pub async fn echo(plan: EchoPlan, common: &RunOptions) -> Result<Report, String> {
    if plan.size > MAX_SIZE {
        return Err(format!("messages of at most {MAX_SIZE} bytes on this path"));
    }
    let url = common.url.as_str();
    let clients = open_clients(url, plan.conns, plan.transport).await?;
    let mut sockets = Vec::with_capacity(plan.conns);
    for i in 0..plan.conns {
        sockets.push(open_one(url, i, &clients, plan.transport).await?);
    }
    let warmup = if plan.messages.is_some() { Duration::ZERO } else { common.warmup };
    let window = common.window(warmup);
    let tally = Tally::new();
    let local = tokio::task::LocalSet::new();
    let (server_cpu, client_cpu) = local
        .run_until(async {
            let tasks: Vec<_> = sockets
                .into_iter()
                .enumerate()
                .map(|(id, ws)| tokio::task::spawn_local(echo_one(ws, id, plan.clone(), window, tally.clone())))
                .collect();
            measure(tasks, window, common.server_pid).await
        })
        .await;
    let mut tally = Rc::try_unwrap(tally).map_err(|_| "connections still running")?.into_inner();
    let end = match plan.messages {
        Some(_) => tally.last.unwrap_or(window.from).min(window.until),
        None => window.until,
    };
    let mut report = tally.report("echo", common, end.saturating_duration_since(window.from));
    report.server_cpu = server_cpu;
    report.client_cpu_s = client_cpu;
    report.params = vec![
        ("conns", json!(plan.conns)),
        ("in_flight", json!(1)),
        ("size", json!(plan.size)),
        ("kind", json!("binary")),
        ("check", json!(true)),
        ("client", json!("tether")),
        ("transport", json!(plan.transport.name())),
        ("per_connection", json!(plan.transport.per_conn())),
        ("warmup_s", json!(warmup.as_secs_f64())),
    ];
    drop(clients);
    Ok(report)
}

impl Tally {
    fn report(&mut self, mode: &'static str, common: &RunOptions, window: Duration) -> Report {
        Report {
            mode,
            url: common.url.clone(),
            window,
            ops: self.ops,
            bytes: self.bytes,
            latency: Some(std::mem::replace(&mut self.latency, new_histogram())),
            errors: self.errors.count,
            error_samples: std::mem::take(&mut self.errors.samples),
            ..Report::default()
        }
    }
}

/// Waits for the window, reads the CPU clocks over it, then lets the
/// workers finish (they stop at its end, or after their messages).
async fn measure(
    tasks: Vec<tokio::task::JoinHandle<()>>,
    window: Window,
    server_pid: Option<u32>,
) -> (Option<crate::CpuTime>, Option<f64>) {
    tokio::time::sleep_until(window.from).await;
    let cpu = CpuWindow::start(server_pid);
    let mut finished = futures_util::future::join_all(tasks);
    let deadline = tokio::time::sleep_until(window.until);
    tokio::pin!(deadline);
    tokio::select! {
        _ = &mut finished => cpu.stop(),
        () = &mut deadline => {
            let used = cpu.stop();
            let _ = tokio::time::timeout(CYCLE_TIMEOUT, finished).await;
            used
        }
    }
}

/// One WebSocket's loop: send a message, read its echo, compare.
async fn echo_one(
    mut ws: WebSocket<MaybeTlsStream>,
    id: usize,
    plan: EchoPlan,
    window: Window,
    tally: Rc<RefCell<Tally>>,
) {
    // Messages are windows of one random buffer, so consecutive ones differ.
    let mut rng = fastrand::Rng::with_seed(id as u64);
    let pool: Bytes = (0..plan.size + 256).map(|_| rng.u8(..)).collect::<Vec<u8>>().into();
    let mut sent = 0u64;
    let outcome = loop {
        if Instant::now() >= window.until || plan.messages.is_some_and(|m| sent >= m) {
            break ws.close(CloseCode::NORMAL, "").await.map_err(|e| format!("close: {e}"));
        }
        let at = (sent % 256) as usize;
        let message = pool.slice(at..at + plan.size);
        let began = Instant::now();
        if let Err(e) = ws.send(Message::binary(message.clone())).await {
            break Err(format!("send: {e}"));
        }
        sent += 1;
        match ws.next().await {
            Some(Ok(Message::Binary(got))) if got == message => tally.borrow_mut().record(window, began, got.len()),
            Some(Ok(other)) => break Err(format!("echo {sent}: {} bytes that differ from what was sent", other.len())),
            Some(Err(e)) => break Err(format!("read: {e}")),
            None => break Err("the server closed the WebSocket".into()),
        }
    };
    if let Err(e) = outcome {
        tally.borrow_mut().errors.push(e);
    }
}

/// Runs the setup workload: `concurrency` workers each open a WebSocket,
/// close it (the closing handshake, both ways) and start over; over HTTP/2
/// the workers share connections, `per_conn` each, so every cycle is one
/// stream of a long-lived connection.
pub async fn setup(concurrency: usize, transport: Transport, common: &RunOptions) -> Result<Report, String> {
    let url = common.url.as_str();
    let clients = Rc::new(open_clients(url, concurrency, transport).await?);
    let window = common.window(common.warmup);
    let tally = Tally::new();
    let local = tokio::task::LocalSet::new();
    let (server_cpu, client_cpu) = local
        .run_until(async {
            let tasks: Vec<_> = (0..concurrency.max(1))
                .map(|i| {
                    let (clients, tally, url) = (clients.clone(), tally.clone(), url.to_owned());
                    tokio::task::spawn_local(async move {
                        while Instant::now() < window.until {
                            let began = Instant::now();
                            let cycle = async {
                                let mut ws = open_one(&url, i, &clients, transport).await?;
                                ws.close(CloseCode::NORMAL, "").await.map_err(|e| format!("close: {e}"))
                            };
                            match tokio::time::timeout(CYCLE_TIMEOUT, cycle).await {
                                Ok(Ok(())) => tally.borrow_mut().record(window, began, 0),
                                Ok(Err(e)) => {
                                    tally.borrow_mut().errors.push(e);
                                    // Do not spin on a refused connection.
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                }
                                Err(_) => tally.borrow_mut().errors.push("open and close took over 10 s".into()),
                            }
                        }
                    })
                })
                .collect();
            measure(tasks, window, common.server_pid).await
        })
        .await;
    let mut tally = Rc::try_unwrap(tally).map_err(|_| "workers still running")?.into_inner();
    let mut report = tally.report("setup", common, window.until - window.from);
    report.server_cpu = server_cpu;
    report.client_cpu_s = client_cpu;
    report.params = vec![
        ("concurrency", json!(concurrency)),
        ("client", json!("tether")),
        ("transport", json!(transport.name())),
        ("per_connection", json!(transport.per_conn())),
        ("warmup_s", json!(common.warmup.as_secs_f64())),
    ];
    Ok(report)
}
