//! The fan-out workload: M members in rooms of a hub (or of several hubs
//! sharing a backplane), P of them publishing at a total rate R; every
//! member reads everything its room carries.
//!
//! Each published payload starts with the publisher's number, a sequence
//! number and the time it was sent, so every member measures the delivery
//! latency and counts what it lost (a hole in a publisher's sequence, or
//! the tail that never came) and what it received twice. Only messages
//! published inside the measured window count for losses, so members that
//! are still joining during the warm-up do not count as losses.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use serde_json::json;
use tether_proto::{Config, Connection, Event, OpCode, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Instant;

use crate::connect::{self, Upgraded};
use crate::frames::masked_frame;
use crate::proc_stat::CpuWindow;
use crate::report::{new_histogram, Errors, Report};
use crate::target::{Sources, Target};
use crate::tls::Stream;
use crate::{RunOptions, Window};

/// The publisher number, the sequence number and the send time (ns).
const HEADER: usize = 4 + 8 + 8;

/// What the fan-out run does.
#[derive(Debug, Clone)]
pub struct FanoutPlan {
    /// Member connections in all (publishers included).
    pub members: usize,
    /// Members that also publish.
    pub publishers: usize,
    /// Payload size in bytes (at least 20).
    pub size: usize,
    /// Messages per second published in all.
    pub rate: f64,
    /// Rooms: with more than one, `NAME` in the URL's path becomes
    /// `NAME-0` .. `NAME-(K-1)`, members and publishers spread over them.
    pub rooms: usize,
}

/// What every member and publisher adds up, on one thread.
struct Tally {
    window: Window,
    delivered: u64,
    bytes: u64,
    lost: u64,
    duplicated: u64,
    latency: hdrhistogram::Histogram<u64>,
    /// Per publisher: the first sequence number sent in the window, and
    /// the one after the last sent.
    first_in_window: Vec<Option<u64>>,
    sent_until: Vec<u64>,
    errors: Errors,
}

impl Tally {
    fn new(window: Window, publishers: usize, errors: Errors) -> Tally {
        Tally {
            window,
            delivered: 0,
            bytes: 0,
            lost: 0,
            duplicated: 0,
            latency: new_histogram(),
            first_in_window: vec![None; publishers],
            sent_until: vec![0; publishers],
            errors,
        }
    }
}

/// Runs the fan-out workload against `targets` (members spread over them).
pub async fn run(targets: Vec<Target>, plan: FanoutPlan, common: &RunOptions) -> Result<Report, String> {
    if plan.size < HEADER {
        return Err(format!("the payload must hold at least {HEADER} bytes (publisher, sequence, time)"));
    }
    if plan.publishers == 0 || plan.publishers > plan.members || plan.rooms == 0 || targets.is_empty() {
        return Err("need 1 <= publishers <= members, at least one room and one URL".into());
    }
    let mut sources = Sources::parse(common.source.as_deref())?;
    let mut errors = Errors::default();
    let mut members = Vec::with_capacity(plan.members);
    for i in 0..plan.members {
        let target = room_target(&targets[i % targets.len()], i % plan.rooms, plan.rooms);
        let mut opened = connect::open(&target, 1, &mut sources, &mut errors).await;
        match opened.pop() {
            // Members split their socket into a reader and a writer task.
            Some(Upgraded { tcp: Stream::Tcp(tcp), leftover, .. }) => members.push((tcp, leftover)),
            Some(_) => return Err("the fan-out workload speaks ws:// only".into()),
            None => return Err(format!("member {i} could not join: {}", errors.samples.join("; "))),
        }
    }
    let window = common.window(common.warmup);
    let tally = Rc::new(RefCell::new(Tally::new(window, plan.publishers, errors)));
    let start = Instant::now();
    let local = tokio::task::LocalSet::new();
    let report = local
        .run_until(async {
            let mut readers = Vec::new();
            let mut writers = Vec::new();
            for (i, (tcp, leftover)) in members.into_iter().enumerate() {
                let (read, write) = tcp.into_split();
                let room = i % plan.rooms;
                let member = Member::new(room, &plan, start, tally.clone());
                readers.push(tokio::task::spawn_local(member.run(read, leftover)));
                if i < plan.publishers {
                    let publisher = Publisher { id: i as u32, plan: plan.clone(), start, tally: tally.clone() };
                    writers.push(tokio::task::spawn_local(publisher.run(write)));
                } else {
                    // Kept open: dropping it would shut the socket's write side.
                    writers.push(tokio::task::spawn_local(async move {
                        let _write = write;
                        std::future::pending::<()>().await;
                    }));
                }
            }
            tokio::time::sleep_until(window.from).await;
            let cpu = CpuWindow::start(common.server_pid);
            tokio::time::sleep_until(window.until).await;
            let (server_cpu, client_cpu) = cpu.stop();
            // What was published in the window has this long to arrive.
            tokio::time::sleep(Duration::from_secs(2)).await;
            for task in readers.iter().chain(&writers) {
                task.abort();
            }
            (server_cpu, client_cpu)
        })
        .await;
    let (server_cpu, client_cpu_s) = report;
    // Members reported what they lost in holes; the tails are counted as
    // they stopped (see Member::finish, called on drop).
    drop(local);
    let mut tally = tally.borrow_mut();
    let mut report = Report {
        mode: "fanout",
        url: common.url.clone(),
        window: window.until - window.from,
        ops: tally.delivered,
        bytes: tally.bytes,
        latency: Some(std::mem::replace(&mut tally.latency, new_histogram())),
        errors: tally.errors.count,
        error_samples: std::mem::take(&mut tally.errors.samples),
        server_cpu,
        client_cpu_s,
        ..Report::default()
    };
    report.params = vec![
        ("members", json!(plan.members)),
        ("publishers", json!(plan.publishers)),
        ("rooms", json!(plan.rooms)),
        ("size", json!(plan.size)),
        ("rate", json!(plan.rate)),
        ("hubs", json!(targets.len())),
        ("lost", json!(tally.lost)),
        ("duplicated", json!(tally.duplicated)),
    ];
    Ok(report)
}

/// The target of room `room` of `rooms`.
fn room_target(target: &Target, room: usize, rooms: usize) -> Target {
    let mut t = target.clone();
    if rooms > 1 {
        t.path = format!("{}-{room}", target.path);
    }
    t
}

/// Publishes binary messages at its share of the rate.
struct Publisher {
    id: u32,
    plan: FanoutPlan,
    start: Instant,
    tally: Rc<RefCell<Tally>>,
}

impl Publisher {
    async fn run(self, mut write: OwnedWriteHalf) {
        let every = Duration::from_secs_f64(self.plan.publishers as f64 / self.plan.rate.max(1e-3));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut rng = fastrand::Rng::new();
        let mut payload = vec![0u8; self.plan.size];
        let window = self.tally.borrow().window;
        for seq in 0u64.. {
            let now = tick.tick().await;
            if now >= window.until {
                break;
            }
            payload[..4].copy_from_slice(&self.id.to_be_bytes());
            payload[4..12].copy_from_slice(&seq.to_be_bytes());
            let sent_ns = Instant::now().duration_since(self.start).as_nanos() as u64;
            payload[12..20].copy_from_slice(&sent_ns.to_be_bytes());
            let frame = masked_frame(OpCode::Binary, &payload, &mut rng);
            if let Err(e) = write.write_all(&frame).await {
                self.tally.borrow_mut().errors.push(format!("publisher {}: {e}", self.id));
                return;
            }
            let mut tally = self.tally.borrow_mut();
            if now >= window.from {
                tally.first_in_window[self.id as usize].get_or_insert(seq);
                tally.sent_until[self.id as usize] = seq + 1;
            }
        }
        // Kept open while the members drain: dropping it would end the connection.
        std::future::pending::<()>().await;
    }
}

/// Reads everything its room carries and checks it.
struct Member {
    /// Per publisher of its room: the next sequence number expected.
    next: Vec<Option<u64>>,
    room: usize,
    rooms: usize,
    start: Instant,
    tally: Rc<RefCell<Tally>>,
}

impl Member {
    fn new(room: usize, plan: &FanoutPlan, start: Instant, tally: Rc<RefCell<Tally>>) -> Member {
        Member { next: vec![None; plan.publishers], room, rooms: plan.rooms, start, tally }
    }

    async fn run(mut self, mut read: OwnedReadHalf, leftover: Vec<u8>) {
        let mut conn = Connection::new(Role::Client, Config::default());
        let mut buf = BytesMut::from(&leftover[..]);
        loop {
            loop {
                match conn.read_event(&mut buf) {
                    Ok(Some(Event::Message(m))) => self.received(m.as_bytes()),
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => return self.tally.borrow_mut().errors.push(format!("member: {e}")),
                }
            }
            buf.reserve(64 * 1024);
            match read.read_buf(&mut buf).await {
                Ok(0) => return self.tally.borrow_mut().errors.push("member: the server closed".into()),
                Ok(_) => {}
                Err(e) => return self.tally.borrow_mut().errors.push(format!("member: {e}")),
            }
        }
    }

    fn received(&mut self, payload: &[u8]) {
        let now = Instant::now();
        let mut tally = self.tally.borrow_mut();
        let Some((publisher, seq, sent_ns)) = parse(payload) else {
            return tally.errors.push("member: a message that no publisher sent".into());
        };
        if publisher >= self.next.len() || publisher % self.rooms != self.room {
            return tally.errors.push(format!("member of room {}: a message of publisher {publisher}", self.room));
        }
        if now >= tally.window.from && now < tally.window.until {
            tally.delivered += 1;
            tally.bytes += payload.len() as u64;
            let latency = now.duration_since(self.start).as_nanos() as u64;
            let _ = tally.latency.record(latency.saturating_sub(sent_ns).max(1));
        }
        // Losses count from the first message published in the window.
        let Some(first) = tally.first_in_window[publisher] else { return };
        if seq < first {
            return;
        }
        let next = self.next[publisher].get_or_insert(first);
        if seq == *next {
            *next += 1;
        } else if seq > *next {
            tally.lost += seq - *next;
            *next = seq + 1;
        } else {
            tally.duplicated += 1;
        }
    }
}

impl Drop for Member {
    /// What never came: from the next expected to the last one published.
    fn drop(&mut self) {
        let Ok(mut tally) = self.tally.try_borrow_mut() else { return };
        for publisher in (0..self.next.len()).filter(|p| p % self.rooms == self.room) {
            let Some(first) = tally.first_in_window[publisher] else { continue };
            let next = self.next[publisher].unwrap_or(first);
            tally.lost += tally.sent_until[publisher].saturating_sub(next);
        }
    }
}

fn parse(payload: &[u8]) -> Option<(usize, u64, u64)> {
    let publisher = u32::from_be_bytes(payload.get(..4)?.try_into().ok()?) as usize;
    let seq = u64::from_be_bytes(payload.get(4..12)?.try_into().ok()?);
    let sent = u64::from_be_bytes(payload.get(12..20)?.try_into().ok()?);
    Some((publisher, seq, sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(publisher: u32, seq: u64) -> Vec<u8> {
        let mut p = vec![0u8; HEADER];
        p[..4].copy_from_slice(&publisher.to_be_bytes());
        p[4..12].copy_from_slice(&seq.to_be_bytes());
        p
    }

    #[tokio::test]
    async fn holes_tails_and_repeats_are_counted() {
        let from = Instant::now();
        let window = Window { from, until: from + Duration::from_secs(60) };
        let mut fresh = Tally::new(window, 1, Errors::default());
        (fresh.first_in_window[0], fresh.sent_until[0]) = (Some(10), 20);
        let tally = Rc::new(RefCell::new(fresh));
        let plan = FanoutPlan { members: 1, publishers: 1, size: HEADER, rate: 1.0, rooms: 1 };
        let mut member = Member::new(0, &plan, from, tally.clone());
        // 9 is before the window; 14 leaves a hole of 2 (12, 13); 14 again is a repeat.
        for seq in [9, 10, 11, 14, 14, 15] {
            member.received(&payload(0, seq));
        }
        drop(member); // 16..20 never came: 4 more lost
        let t = tally.borrow();
        assert_eq!((t.lost, t.duplicated, t.delivered), (2 + 4, 1, 6));
    }
}
