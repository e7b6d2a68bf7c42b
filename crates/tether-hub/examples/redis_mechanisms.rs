//! Measures the two ways hubs can hear of each other's messages through
//! Redis, as `bench/redis-mechanisms.sh` runs it: every message is ordered
//! by one script (`INCR`, `XADD` to the room's stream), and then either
//!
//! - `pubsub`: the script also `PUBLISH`es it, and each hub holds one
//!   pub/sub connection subscribed to every room it serves (the hub's way);
//! - `streams`: each hub holds a connection of its own blocked in
//!   `XREAD BLOCK 0 STREAMS` over every room it serves.
//!
//! At a fixed publish rate spread over the rooms, it reports what every
//! hub received, the delay from publish to each hub (p50, p99, max) and
//! the CPU Redis used per message (from `/proc/PID/stat`).
//!
//!     redis_mechanisms --url redis://127.0.0.1:PORT --redis-pid PID --clk-tck 100
//!         --mode pubsub|streams [--hubs 3] [--rooms 100] [--rate 10000] [--size 64] [--seconds 5]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::streams::StreamReadReply;

#[derive(Clone, Debug)]
struct Options {
    url: String,
    redis_pid: u32,
    clk_tck: f64,
    mode: String,
    hubs: usize,
    rooms: usize,
    rate: usize,
    size: usize,
    seconds: f64,
}

fn options() -> Options {
    let mut o = Options {
        url: String::new(),
        redis_pid: 0,
        clk_tck: 100.0,
        mode: "pubsub".into(),
        hubs: 3,
        rooms: 100,
        rate: 10_000,
        size: 64,
        seconds: 5.0,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        let number = || value.parse::<f64>().unwrap_or_else(|_| panic!("{}: not a number: {value}", pair[0]));
        match pair[0].as_str() {
            "--url" => o.url = value.clone(),
            "--redis-pid" => o.redis_pid = number() as u32,
            "--clk-tck" => o.clk_tck = number(),
            "--mode" => o.mode = value.clone(),
            "--hubs" => o.hubs = number() as usize,
            "--rooms" => o.rooms = number() as usize,
            "--rate" => o.rate = number() as usize,
            "--size" => o.size = number() as usize,
            "--seconds" => o.seconds = number(),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(!o.url.is_empty() && o.redis_pid != 0, "--url and --redis-pid are needed");
    assert!(o.mode == "pubsub" || o.mode == "streams", "--mode pubsub|streams");
    o
}

/// Redis's CPU time so far, in seconds.
fn redis_cpu(o: &Options) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", o.redis_pid)).expect("Redis's /proc stat");
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    // utime and stime: fields 14 and 15, 12 and 13 after the name.
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / o.clk_tck
}

const SCRIPT_BODY: &str = "local off = redis.call('INCR', KEYS[1]) \
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, '0-' .. off, 'p', ARGV[1])";

/// Publish delays seen by one hub, in microseconds, of the messages sent
/// in the measured window.
type Delays = Vec<u64>;

/// The measured window: messages sent from `from` until `to`, in
/// nanoseconds since the start.
#[derive(Debug)]
struct Window {
    from: AtomicU64,
    to: AtomicU64,
}

impl Window {
    fn holds(&self, at: u64) -> bool {
        (self.from.load(Relaxed)..self.to.load(Relaxed)).contains(&at)
    }
}

/// When a payload was sent: nanoseconds since `start`, its first 8 bytes.
fn sent_at(payload: &[u8]) -> u64 {
    u64::from_le_bytes(payload[..8].try_into().unwrap())
}

async fn pubsub_hub(client: redis::Client, rooms: usize, start: Instant, window: Arc<Window>) -> Delays {
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    let channels: Vec<String> = (0..rooms).map(|r| format!("bench:{r}:live")).collect();
    pubsub.subscribe(channels).await.unwrap();
    let mut delays = Vec::new();
    let mut messages = pubsub.into_on_message();
    while let Some(message) = messages.next().await {
        let at = sent_at(message.get_payload_bytes());
        if window.holds(at) {
            delays.push((start.elapsed().as_nanos() as u64).saturating_sub(at) / 1000);
        }
        if at == u64::MAX {
            break;
        }
    }
    delays
}

async fn streams_hub(client: redis::Client, rooms: usize, start: Instant, window: Arc<Window>) -> Delays {
    // A connection of its own, with no response timeout: a blocking read
    // waits as long as no message comes.
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let mut conn = client.get_multiplexed_async_connection_with_config(&config).await.unwrap();
    let keys: Vec<String> = (0..rooms).map(|r| format!("bench:{r}:log")).collect();
    let mut last: HashMap<String, String> = keys.iter().map(|k| (k.clone(), "0-0".to_owned())).collect();
    let mut delays = Vec::new();
    let mut ended = false;
    while !ended {
        let ids: Vec<&String> = keys.iter().map(|k| &last[k]).collect();
        let reply: StreamReadReply = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1000)
            .arg("BLOCK")
            .arg(0)
            .arg("STREAMS")
            .arg(&keys)
            .arg(&ids)
            .query_async(&mut conn)
            .await
            .unwrap();
        let now = start.elapsed().as_nanos() as u64;
        for key in reply.keys {
            for entry in &key.ids {
                let payload: Vec<u8> = entry.get("p").unwrap();
                let at = sent_at(&payload);
                // The end marker: the rest of this reply still counts.
                ended |= at == u64::MAX;
                if window.holds(at) {
                    delays.push(now.saturating_sub(at) / 1000);
                }
            }
            if let Some(entry) = key.ids.last() {
                last.insert(key.key.clone(), entry.id.clone());
            }
        }
    }
    delays
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let o = options();
    let client = redis::Client::open(o.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("FLUSHALL").query_async::<()>(&mut conn).await.unwrap();
    let body = match o.mode.as_str() {
        "pubsub" => format!("{SCRIPT_BODY} redis.call('PUBLISH', KEYS[3], ARGV[1]) return off"),
        _ => format!("{SCRIPT_BODY} return off"),
    };
    let script = redis::Script::new(&body);
    let start = Instant::now();
    let window = Arc::new(Window { from: AtomicU64::new(u64::MAX), to: AtomicU64::new(u64::MAX) });
    let hubs: Vec<_> = (0..o.hubs)
        .map(|_| {
            let (client, window) = (client.clone(), window.clone());
            match o.mode.as_str() {
                "pubsub" => tokio::spawn(pubsub_hub(client, o.rooms, start, window)),
                _ => tokio::spawn(streams_hub(client, o.rooms, start, window)),
            }
        })
        .collect();
    // Let every hub subscribe or block first.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let publish = |room: usize, at: u64| {
        let mut payload = vec![b'x'; o.size.max(8)];
        payload[..8].copy_from_slice(&at.to_le_bytes());
        let mut invocation = script.prepare_invoke();
        invocation.key(format!("bench:{room}:seq")).key(format!("bench:{room}:log")).key(format!("bench:{room}:live"));
        invocation.arg(payload);
        let mut conn = conn.clone();
        async move { invocation.invoke_async::<u64>(&mut conn).await.unwrap() }
    };
    // One tick a millisecond, rate / 1000 publishes each, pipelined on one
    // connection: 1 s of warm-up, then the measured window.
    let per_tick = (o.rate / 1000).max(1);
    let ticks = ((o.seconds + 1.0) * 1000.0) as usize;
    let mut interval = tokio::time::interval(Duration::from_millis(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut sent, mut cpu_before, mut measured_from) = (0usize, 0.0, start);
    for tick in 0..ticks {
        interval.tick().await;
        if tick == 1000 {
            cpu_before = redis_cpu(&o);
            measured_from = Instant::now();
            window.from.store(start.elapsed().as_nanos() as u64, Relaxed);
        }
        let batch = (0..per_tick).map(|i| publish((tick * per_tick + i) % o.rooms, start.elapsed().as_nanos() as u64));
        futures_util::future::join_all(batch).await;
        if tick >= 1000 {
            sent += per_tick;
        }
    }
    let elapsed = measured_from.elapsed().as_secs_f64();
    let cpu = redis_cpu(&o) - cpu_before;
    window.to.store(start.elapsed().as_nanos() as u64, Relaxed);
    // The end marker, in every room.
    futures_util::future::join_all((0..o.rooms).map(|room| publish(room, u64::MAX))).await;
    let mut received = Vec::new();
    let mut all: Delays = Vec::new();
    for hub in hubs {
        let delays = tokio::time::timeout(Duration::from_secs(30), hub).await.expect("every hub ends").unwrap();
        received.push(delays.len());
        all.extend(delays);
    }
    all.sort_unstable();
    let q = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0);
    println!(
        "{{\"mode\":\"{}\",\"hubs\":{},\"rooms\":{},\"rate\":{},\"size\":{},\"seconds\":{:.2},\"sent\":{},\"sent_per_s\":{:.0},\
         \"received_min\":{},\"received_max\":{},\"p50_us\":{},\"p99_us\":{},\"max_us\":{},\"redis_cpu_s\":{:.3},\
         \"redis_us_per_message\":{:.2}}}",
        o.mode,
        o.hubs,
        o.rooms,
        o.rate,
        o.size,
        elapsed,
        sent,
        sent as f64 / elapsed,
        received.iter().min().unwrap_or(&0),
        received.iter().max().unwrap_or(&0),
        q(0.5),
        q(0.99),
        all.last().copied().unwrap_or(0),
        cpu,
        cpu * 1e6 / sent.max(1) as f64,
    );
}
