//! The echo workload: N connections, each keeping K messages of S bytes in
//! flight (closed loop), or sending at a fixed rate (open loop). Latency is
//! measured from each message's scheduled send time, so a server that
//! stalls is charged for the messages it held back (no coordinated omission).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::ops::Range;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::connect::{self, Upgraded};
use crate::echo_reader::EchoReader;
use crate::frames::{FrameSet, Kind};
use crate::proc_stat::CpuWindow;
use crate::report::{new_histogram, Errors, Report};
use crate::target::{Sources, Target};
use crate::tls::Stream;
use crate::{RunOptions, Window};

/// The echo workload's parameters.
#[derive(Debug, Clone)]
pub struct EchoPlan {
    /// Connections.
    pub conns: usize,
    /// Messages in flight per connection (closed loop), or the most that may
    /// be outstanding with a rate.
    pub in_flight: usize,
    /// Payload bytes per message.
    pub size: usize,
    /// Text or binary.
    pub kind: Kind,
    /// Compare every echoed byte with what was sent.
    pub check: bool,
    /// Messages per connection, then stop (no warm-up); `None`: run for the duration.
    pub messages: Option<u64>,
    /// Open loop: messages per second over all connections.
    pub rate: Option<f64>,
}

/// What all connections add to as they go.
#[derive(Debug)]
struct Tally {
    latency: Histogram<u64>,
    /// Messages and payload bytes received inside the window.
    messages: u64,
    bytes: u64,
    /// Every message received, for the progress line.
    progress: u64,
    /// When the last message arrived (messages mode ends there).
    last: Option<Instant>,
    errors: Errors,
}

/// Runs the echo workload and reports on it.
pub async fn run(target: Target, plan: EchoPlan, common: &RunOptions) -> Result<Report, String> {
    let mut sources = Sources::parse(common.source.as_deref())?;
    let mut errors = Errors::default();
    let conns = connect::open(&target, plan.conns, &mut sources, &mut errors).await;
    if conns.is_empty() {
        return Err(format!("no connection to {} could be opened: {}", common.url, errors.samples.join("; ")));
    }
    let tls = conns[0].tcp.tls_description();
    let warmup = if plan.messages.is_some() { Duration::ZERO } else { common.warmup };
    let window = common.window(warmup);
    let tally = Rc::new(RefCell::new(Tally {
        latency: new_histogram(),
        messages: 0,
        bytes: 0,
        progress: 0,
        last: None,
        errors,
    }));
    let rate_per_conn = plan.rate.map(|r| r / conns.len() as f64);
    let local = tokio::task::LocalSet::new();
    let report = local
        .run_until(async {
            let mut tasks = Vec::with_capacity(conns.len());
            for (id, conn) in conns.into_iter().enumerate() {
                let driver = Driver::new(conn, id, &target, &plan, rate_per_conn, window, tally.clone());
                tasks.push(tokio::task::spawn_local(driver.run()));
            }
            let progress = tokio::task::spawn_local(progress(tally.clone(), common.quiet));
            // The CPU clocks cover exactly the window.
            tokio::time::sleep_until(window.from).await;
            let cpu = CpuWindow::start(common.server_pid);
            let mut cpu_used = None;
            let mut finished = futures_util::future::join_all(tasks);
            let deadline = tokio::time::sleep_until(window.until);
            tokio::pin!(deadline);
            let results = tokio::select! {
                results = &mut finished => results,
                () = &mut deadline => {
                    cpu_used = Some(cpu.stop());
                    // Give the connections a moment to close cleanly.
                    tokio::time::timeout(Duration::from_secs(5), &mut finished).await.unwrap_or_default()
                }
            };
            let (server_cpu, client_cpu) = cpu_used.unwrap_or_else(|| cpu.stop());
            progress.abort();
            let mut tally = tally.borrow_mut();
            for r in &results {
                if let Ok(Err(e)) = r {
                    tally.errors.push(e.clone());
                }
            }
            let end = match plan.messages {
                Some(_) => tally.last.unwrap_or(window.from).min(window.until),
                None => window.until,
            };
            Report {
                mode: "echo",
                url: common.url.clone(),
                window: end.saturating_duration_since(window.from),
                ops: tally.messages,
                bytes: tally.bytes,
                latency: Some(std::mem::replace(&mut tally.latency, new_histogram())),
                errors: tally.errors.count,
                error_samples: std::mem::take(&mut tally.errors.samples),
                server_cpu,
                client_cpu_s: client_cpu,
                ..Report::default()
            }
        })
        .await;
    let mut report = report;
    report.params = vec![
        ("conns", json!(plan.conns)),
        ("in_flight", json!(plan.in_flight)),
        ("size", json!(plan.size)),
        ("kind", json!(if target.deflate { "text".to_owned() } else { format!("{:?}", plan.kind).to_lowercase() })),
        ("deflate", json!(target.deflate)),
        ("check", json!(plan.check)),
        ("rate", json!(plan.rate)),
        ("warmup_s", json!(warmup.as_secs_f64())),
    ];
    report.params.extend(tls.map(|t| ("tls", json!(t))));
    Ok(report)
}

/// Prints a progress line on stderr every second.
async fn progress(tally: Rc<RefCell<Tally>>, quiet: bool) {
    if quiet {
        return;
    }
    let start = Instant::now();
    let mut last = 0;
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    loop {
        tick.tick().await;
        let t = tally.borrow();
        eprintln!(
            "[bench] {:>5.1} s  {:>9} msg/s  errors {}",
            start.elapsed().as_secs_f64(),
            t.progress - last,
            t.errors.count
        );
        last = t.progress;
    }
}

/// One connection's state machine, polled by hand so reads and writes
/// overlap in one task (a large echo would deadlock otherwise).
struct Driver {
    tcp: Stream,
    frames: FrameSet,
    reader: EchoReader,
    buf: Vec<u8>,
    /// Unparsed bytes in `buf`.
    data: Range<usize>,
    /// Bytes of `frames.wire()` still to write.
    writing: Range<usize>,
    next_slot: usize,
    /// Scheduled send times of the messages in flight, then of those not yet written.
    times: VecDeque<Instant>,
    unsent: usize,
    sent: u64,
    received: u64,
    in_flight: usize,
    limit: Option<u64>,
    /// Open loop: when the next message is due, and the interval.
    rate: Option<(Instant, Duration)>,
    timer: Pin<Box<Sleep>>,
    deadline: Pin<Box<Sleep>>,
    window: Window,
    tally: Rc<RefCell<Tally>>,
    raw: bool,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    fn new(
        conn: Upgraded,
        id: usize,
        target: &Target,
        plan: &EchoPlan,
        rate_per_conn: Option<f64>,
        window: Window,
        tally: Rc<RefCell<Tally>>,
    ) -> Driver {
        let in_flight = plan.in_flight.max(1);
        let Upgraded { tcp, leftover, deflate } = conn;
        let frames = FrameSet::new(plan.kind, plan.size, in_flight, id, target.raw, deflate.is_some());
        let cap = if plan.size >= 64 * 1024 { 256 * 1024 } else { 64 * 1024 };
        let mut buf = vec![0u8; cap.max(leftover.len())];
        buf[..leftover.len()].copy_from_slice(&leftover);
        let now = Instant::now();
        let rate = rate_per_conn.map(|r| {
            // Spread the connections' schedules over one interval.
            let interval = Duration::from_secs_f64(1.0 / r.max(1e-6));
            (now + interval.mul_f64(fastrand::f64()), interval)
        });
        let mut times = VecDeque::with_capacity(in_flight);
        if rate.is_none() {
            let first = plan.messages.map_or(in_flight, |m| in_flight.min(m as usize));
            times.extend((0..first).map(|_| now));
        }
        Driver {
            tcp,
            reader: EchoReader::new(plan.kind, target.raw, plan.check).with_deflate(deflate.as_ref()),
            frames,
            data: 0..leftover.len(),
            buf,
            writing: 0..0,
            next_slot: 0,
            unsent: times.len(),
            times,
            sent: 0,
            received: 0,
            in_flight,
            limit: plan.messages,
            rate,
            timer: Box::pin(tokio::time::sleep_until(now)),
            deadline: Box::pin(tokio::time::sleep_until(window.until)),
            window,
            tally,
            raw: target.raw,
        }
    }

    async fn run(mut self) -> Result<(), String> {
        let outcome = poll_fn(|cx| self.poll(cx)).await;
        let (received, limit) = (self.received, self.limit);
        // Close cleanly whatever happened, so the server logs no error of ours.
        connect::close(self.tcp, self.raw).await;
        outcome?;
        match limit {
            Some(limit) if received < limit => Err(format!("only {received} of {limit} echoes arrived in time")),
            _ => Ok(()),
        }
    }

    fn done(&self) -> bool {
        self.limit.is_some_and(|l| self.received >= l)
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        loop {
            let now = Instant::now();
            if now >= self.window.until || self.done() {
                return Poll::Ready(Ok(()));
            }
            self.schedule(now);
            if self.writing.is_empty() && self.unsent > 0 {
                let m = self.unsent;
                self.writing = self.frames.run(self.next_slot, m);
                self.next_slot = (self.next_slot + m) % self.frames.slots();
                self.sent += m as u64;
                self.unsent = 0;
            }
            let mut progressed = false;
            while !self.writing.is_empty() {
                let bytes = &self.frames.wire()[self.writing.clone()];
                match Pin::new(&mut self.tcp).poll_write(cx, bytes) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err("the server stopped reading".into())),
                    Poll::Ready(Ok(n)) => {
                        self.writing.start += n;
                        progressed = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(format!("write: {e}"))),
                    Poll::Pending => break,
                }
            }
            if self.writing.is_empty() {
                // TLS may hold records the socket did not take yet: push them
                // on (on TCP this does nothing).
                if let Poll::Ready(Err(e)) = Pin::new(&mut self.tcp).poll_flush(cx) {
                    return Poll::Ready(Err(format!("write: {e}")));
                }
            }
            let mut read = ReadBuf::new(&mut self.buf[self.data.end..]);
            match Pin::new(&mut self.tcp).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    let n = read.filled().len();
                    if n == 0 {
                        return Poll::Ready(Err("the server closed the connection".into()));
                    }
                    self.data.end += n;
                    if let Err(e) = self.on_read(Instant::now()) {
                        return Poll::Ready(Err(e));
                    }
                    progressed = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(format!("read: {e}"))),
                Poll::Pending => {}
            }
            if !progressed {
                if let Some((due, _)) = self.rate {
                    if self.timer.deadline() != due {
                        self.timer.as_mut().reset(due);
                    }
                    if self.timer.as_mut().poll(cx).is_ready() && self.has_room() {
                        continue;
                    }
                }
                if self.deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Ok(()));
                }
                return Poll::Pending;
            }
        }
    }

    fn has_room(&self) -> bool {
        self.times.len() < self.in_flight && self.limit.is_none_or(|l| self.sent + (self.unsent as u64) < l)
    }

    /// Open loop: queues the messages that are due.
    fn schedule(&mut self, now: Instant) {
        while let Some((due, interval)) = self.rate {
            if due > now || !self.has_room() {
                return;
            }
            self.times.push_back(due);
            self.unsent += 1;
            self.rate = Some((due + interval, interval));
        }
    }

    /// Parses what was read; accounts each echo and, in a closed loop,
    /// schedules its replacement now.
    fn on_read(&mut self, now: Instant) -> Result<(), String> {
        let (used, fed) = self.reader.feed(&self.buf[self.data.clone()], &self.frames)?;
        self.data.start += used;
        if self.data.start == self.data.end {
            self.data = 0..0;
        } else if self.data.start > 0 {
            // At most a partial header is left: move it to the front.
            self.buf.copy_within(self.data.clone(), 0);
            self.data = 0..self.data.len();
        }
        let in_window = now >= self.window.from;
        let mut tally = self.tally.borrow_mut();
        tally.progress += fed.messages as u64;
        if in_window {
            tally.bytes += fed.payload_bytes as u64;
        }
        for _ in 0..fed.messages {
            let Some(scheduled) = self.times.pop_front() else {
                return Err("an echo arrived for a message never sent".into());
            };
            self.received += 1;
            if in_window {
                tally.messages += 1;
                let ns = now.saturating_duration_since(scheduled).as_nanos() as u64;
                let _ = tally.latency.record(ns.max(1));
            }
            if self.rate.is_none() && self.has_room() {
                self.times.push_back(now);
                self.unsent += 1;
            }
        }
        if fed.messages > 0 {
            tally.last = Some(tally.last.map_or(now, |l| l.max(now)));
        }
        Ok(())
    }
}
