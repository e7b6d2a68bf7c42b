//! The Redis backplane: several hub processes share their rooms through
//! one Redis. Redis orders every message of a room; each hub fans out what
//! Redis announces to its own members.
//!
//! # Keys of room NAME (the braces keep them in one Redis Cluster slot)
//!
//! ```text
//! PREFIX{NAME}:epoch   the room's epoch: set once, gone if Redis lost its data
//! PREFIX{NAME}:seq     the last offset given
//! PREFIX{NAME}:log     a stream of the last messages, entry id 0-OFFSET
//! PREFIX{NAME}:ids     recent publish ids (a sorted set: id -> offset)
//! PREFIX{NAME}:live    the pub/sub channel announcing each message
//! ```
//!
//! # One step per message
//!
//! A publish is one Lua script: it reads the epoch (making a new one if
//! Redis lost the room), answers a retried id with its first offset, else
//! `INCR`s the offset, `XADD`s the message, `PUBLISH`es it and refreshes the
//! keys' expiry. Redis runs scripts one at a time, so offsets, the log and
//! the announcements are in one order. The publishing hub delivers to its
//! own members only when the announcement comes back, like every hub.
//!
//! # Why pub/sub plus a stream
//!
//! Announcements are pushed to every hub that subscribed to the room (no
//! polling, one connection per hub for all its rooms); pub/sub alone is
//! at-most-once, so each hub checks that offsets follow one another and
//! fills a hole from the stream, which also serves members that resume.
//!
//! # Faults
//!
//! Commands time out (a Redis that accepts but never answers is detected);
//! a hub pings Redis every second. When the link fails, every room of the
//! hub goes on locally under a new local epoch (acks say `local`), and the
//! hub reconnects with backoff; once back, each room takes Redis's epoch and
//! offset again (members of `tether.hub.v1` get a gap notice) and pub/sub
//! subscriptions are restored.

mod link;
mod scripts;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use redis::aio::MultiplexedConnection;
use redis::streams::StreamRangeReply;
use redis::{AsyncConnectionConfig, Client, Script};
use tether::{Message, Utf8Bytes};
use tokio::sync::{mpsc, oneshot};

use self::scripts::{MEMBERS, POSITION, PUBLISH};
use crate::backplane::{Backplane, Logged};
use crate::hub::{lock, Shared};
use crate::protocol::{epoch_text, parse_epoch};
use crate::{Hub, Position, Published};

/// How a hub reaches Redis.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisOptions {
    /// `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`, or `rediss://...` for
    /// TLS (the server's certificate checked against the system's roots,
    /// or [`root_cert`](Self::root_cert)). A USER logs in as that ACL user.
    pub url: String,
    /// The CA certificates (PEM) a `rediss://` server's certificate must
    /// chain to, instead of the system's roots.
    pub root_cert: Option<Vec<u8>>,
    /// Prefix of every key and channel (default `tether:hub:`).
    pub prefix: String,
    /// The longest a command may take before the link counts as failed
    /// (default 1 s).
    pub timeout: Duration,
    /// Messages kept in each room's stream (approximately: `MAXLEN ~`).
    pub history: usize,
    /// A room's keys expire this long after its last message (default 1 day).
    pub ttl: Duration,
}

impl RedisOptions {
    /// Sets the messages kept in each room's stream.
    pub fn history(mut self, messages: usize) -> Self {
        self.history = messages;
        self
    }

    /// Trusts only the CA certificates of `pem` for `rediss://`.
    pub fn root_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_cert = Some(pem.into());
        self
    }

    /// Sets the prefix of every key and channel.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets how long a room's keys outlive its last message (whole
    /// seconds, at least one).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Options for `url` with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        RedisOptions {
            url: url.into(),
            root_cert: None,
            prefix: "tether:hub:".into(),
            timeout: Duration::from_secs(1),
            history: 1000,
            ttl: Duration::from_secs(86_400),
        }
    }
}

/// Publish ids a room remembers at least, so that a client's retry after a
/// reconnect is answered, not ordered again (the room's own memory, in
/// process, keeps as many).
const IDS_KEPT: usize = 1024;

/// How long a hub's member count stands without being refreshed: the
/// members of a hub that was killed leave the total within this time.
pub const MEMBER_COUNT_TTL: Duration = Duration::from_secs(5);

/// A hub's link to Redis.
pub(crate) struct RedisEngine {
    /// The hub it serves (the hub owns the engine).
    hub: Weak<Shared>,
    client: Client,
    options: RedisOptions,
    publish: Script,
    position: Script,
    members: Script,
    /// This hub's name in the rooms' member counts.
    hub_id: String,
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// The link works: publishes go to Redis.
    up: AtomicBool,
    /// A command failed: the relay starts over (it alone re-subscribes and
    /// brings the rooms back), woken by `relink`.
    broken: AtomicBool,
    relink: tokio::sync::Notify,
    watch: mpsc::UnboundedSender<Watch>,
    /// Rooms whose announcements this hub receives.
    watched: Mutex<HashMap<Box<str>, ()>>,
    /// The last total of each room read from Redis, with this hub's count
    /// written with it.
    totals: Mutex<HashMap<Box<str>, (usize, usize)>>,
}

impl std::fmt::Debug for RedisEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEngine").field("prefix", &self.options.prefix).field("up", &self.up).finish()
    }
}

/// A request to receive a room's announcements.
struct Watch {
    room: Box<str>,
    done: oneshot::Sender<()>,
}

impl Hub {
    /// A hub whose rooms are shared through Redis with every hub that uses
    /// the same Redis and prefix. Returns at once: the link is made (and
    /// remade after a failure) in the background, and rooms work locally
    /// while it is down. Needs a tokio runtime.
    pub fn with_redis(config: crate::HubConfig, options: RedisOptions) -> Result<Hub, redis::RedisError> {
        let client = match &options.root_cert {
            Some(pem) => {
                let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(pem.clone()) };
                Client::build_with_tls(options.url.as_str(), certificates)?
            }
            None => Client::open(options.url.as_str())?,
        };
        let (watch, requests) = mpsc::unbounded_channel();
        let mut engine = None;
        let shared = Arc::new_cyclic(|hub| {
            let link = Arc::new(RedisEngine {
                hub: hub.clone(),
                client,
                options,
                publish: Script::new(PUBLISH),
                position: Script::new(POSITION),
                members: Script::new(MEMBERS),
                hub_id: format!("{:016x}", fastrand::u64(..)),
                conn: tokio::sync::Mutex::new(None),
                up: AtomicBool::new(false),
                broken: AtomicBool::new(false),
                relink: tokio::sync::Notify::new(),
                watch,
                watched: Mutex::new(HashMap::new()),
                totals: Mutex::new(HashMap::new()),
            });
            engine = Some(link.clone());
            Shared { config, backplane: Some(link as Arc<dyn Backplane>), ..Shared::default() }
        });
        let engine = engine.expect("made with the hub");
        tokio::spawn(link::link(engine, Arc::downgrade(&shared), requests));
        Ok(Hub { shared })
    }
}

impl Backplane for RedisEngine {
    fn publish<'a>(
        &'a self,
        room: &'a str,
        message: &'a Message,
        id: Option<&'a str>,
    ) -> BoxFuture<'a, Option<Published>> {
        self.publish(room, message, id).boxed()
    }

    fn watch<'a>(&'a self, room: &'a str) -> BoxFuture<'a, ()> {
        self.watch(room).boxed()
    }

    fn missed<'a>(&'a self, room: &'a str, since: Position) -> BoxFuture<'a, Result<Vec<Logged>, &'static str>> {
        self.missed(room, since).map(|r| r.map(|(_, missed)| missed)).boxed()
    }

    fn total_members<'a>(&'a self, room: &'a str, ours: usize) -> BoxFuture<'a, Option<usize>> {
        self.count_members(room, ours).map(Result::ok).boxed()
    }

    fn known_total(&self, room: &str) -> Option<(usize, usize)> {
        lock(&self.totals).get(room).copied()
    }

    fn is_up(&self) -> bool {
        self.up.load(SeqCst)
    }
}

impl RedisEngine {
    fn key(&self, room: &str, what: &str) -> String {
        format!("{}{{{room}}}:{what}", self.options.prefix)
    }

    fn keys(&self, room: &str) -> [String; 4] {
        ["epoch", "seq", "log", "ids"].map(|what| self.key(room, what))
    }

    fn channel_prefix(&self) -> String {
        self.options.prefix.clone()
    }

    async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        let mut conn = self.conn.lock().await;
        if let Some(c) = conn.as_ref() {
            return Ok(c.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.timeout))
            .set_response_timeout(Some(self.options.timeout));
        let fresh = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        *conn = Some(fresh.clone());
        Ok(fresh)
    }

    /// Orders a message in Redis; `None` if the link is down or failed now
    /// (the caller orders it locally).
    async fn publish(&self, room: &str, message: &Message, id: Option<&str>) -> Option<Published> {
        if !self.up.load(SeqCst) {
            return None;
        }
        let (kind, payload) = match message {
            Message::Text(t) => ("t", t.as_bytes()),
            Message::Binary(b) => ("b", &b[..]),
        };
        let mut invocation = self.publish.prepare_invoke();
        for key in self.keys(room) {
            invocation.key(key);
        }
        invocation
            .arg(epoch_text(fastrand::u64(..)))
            .arg(kind)
            .arg(payload)
            .arg(id.unwrap_or(""))
            .arg(self.options.history.max(1))
            .arg(self.options.ttl.as_secs().max(1))
            .arg(self.key(room, "live"))
            .arg(self.options.history.max(IDS_KEPT));
        let result: redis::RedisResult<(String, u64, u8)> = match self.connection().await {
            Ok(mut conn) => invocation.invoke_async(&mut conn).await,
            Err(e) => Err(e),
        };
        match result {
            Ok((epoch, offset, duplicate)) => {
                let epoch = parse_epoch(&epoch)?;
                Some(Published { position: Position { epoch, offset }, local: false, duplicate: duplicate == 1 })
            }
            Err(e) => {
                tracing::warn!(error = %e, "redis publish failed: the rooms go on locally");
                self.lost();
                None
            }
        }
    }

    /// The link failed: every room goes on under a local epoch.
    fn lost(&self) {
        self.broken.store(true, SeqCst);
        self.relink.notify_one();
        if self.up.swap(false, SeqCst) {
            if let Some(hub) = self.hub.upgrade() {
                hub.counters.redis_failures.fetch_add(1, SeqCst);
                for room in hub.room_handles() {
                    room.lock().detach();
                }
            }
        }
        // The next command makes a new connection.
        if let Ok(mut conn) = self.conn.try_lock() {
            *conn = None;
        }
    }

    /// Receives `room`'s announcements from now on (returns once they flow,
    /// or at once while the link is down).
    async fn watch(&self, room: &str) {
        if lock(&self.watched).insert(room.into(), ()).is_some() || !self.up.load(SeqCst) {
            return;
        }
        let (done, subscribed) = oneshot::channel();
        if self.watch.send(Watch { room: room.into(), done }).is_ok() {
            let _ = tokio::time::timeout(self.options.timeout * 2, subscribed).await;
        }
    }

    /// Writes this hub's member count of `room` and reads the total.
    async fn count_members(&self, room: &str, ours: usize) -> redis::RedisResult<usize> {
        let mut conn = self.connection().await?;
        let total = self
            .members
            .key(self.key(room, "members"))
            .arg(&self.hub_id)
            .arg(ours)
            .arg(MEMBER_COUNT_TTL.as_millis() as u64)
            .invoke_async(&mut conn)
            .await?;
        lock(&self.totals).insert(room.into(), (total, ours));
        Ok(total)
    }

    /// Refreshes this hub's member count of every room it holds, in one
    /// round trip: the relay loop waits for it, and announcements wait
    /// with it, so it must not take one per room.
    async fn refresh_counts(&self, hub: &Weak<Shared>) -> redis::RedisResult<()> {
        let Some(shared) = hub.upgrade() else { return Ok(()) };
        let counts: Vec<(Box<str>, usize)> = shared.room_counts();
        drop(shared);
        if counts.is_empty() {
            return Ok(());
        }
        let mut conn = self.connection().await?;
        let mut pipe = redis::pipe();
        for (room, ours) in &counts {
            pipe.cmd("EVALSHA")
                .arg(self.members.get_hash())
                .arg(1)
                .arg(self.key(room, "members"))
                .arg(&self.hub_id)
                .arg(*ours)
                .arg(MEMBER_COUNT_TTL.as_millis() as u64);
        }
        let totals: Vec<usize> = match pipe.query_async(&mut conn).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                // A Redis that lost its scripts (restarted): load, then again.
                self.members.prepare_invoke().load_async(&mut conn).await?;
                pipe.query_async(&mut conn).await?
            }
            other => other?,
        };
        let mut known = lock(&self.totals);
        for ((room, ours), total) in counts.into_iter().zip(totals) {
            known.insert(room, (total, ours));
        }
        Ok(())
    }

    /// The room's epoch and last offset in Redis (its epoch made if new).
    async fn position_of(&self, room: &str) -> redis::RedisResult<Position> {
        let mut invocation = self.position.prepare_invoke();
        for key in self.keys(room) {
            invocation.key(key);
        }
        invocation.arg(epoch_text(fastrand::u64(..))).arg(self.options.ttl.as_secs().max(1));
        let mut conn = self.connection().await?;
        let (epoch, offset): (String, u64) = invocation.invoke_async(&mut conn).await?;
        let epoch = parse_epoch(&epoch).ok_or_else(|| bad_reply("epoch"))?;
        Ok(Position { epoch, offset })
    }

    /// The messages of `room` with offsets in `from..=to` that the stream
    /// still holds.
    async fn range(&self, room: &str, from: u64, to: u64) -> redis::RedisResult<Vec<Logged>> {
        if from > to {
            return Ok(Vec::new());
        }
        let mut conn = self.connection().await?;
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.key(room, "log"))
            .arg(format!("0-{from}"))
            .arg(format!("0-{to}"))
            .query_async(&mut conn)
            .await?;
        reply
            .ids
            .iter()
            .map(|entry| {
                let offset = entry.id.strip_prefix("0-").and_then(|o| o.parse().ok()).ok_or_else(|| bad_reply("id"))?;
                let kind: Vec<u8> = entry.get("k").ok_or_else(|| bad_reply("k"))?;
                let payload: Vec<u8> = entry.get("p").ok_or_else(|| bad_reply("p"))?;
                Ok((offset, message(&kind, payload).ok_or_else(|| bad_reply("payload"))?))
            })
            .collect()
    }

    /// What a member that saw `since` missed, or why that is gone.
    async fn missed(&self, room: &str, since: Position) -> Result<(Position, Vec<Logged>), &'static str> {
        let now = self.position_of(room).await.map_err(|_| "history unavailable")?;
        if now.epoch != since.epoch || since.offset > now.offset {
            return Err("epoch changed");
        }
        let missed = self.range(room, since.offset + 1, now.offset).await.map_err(|_| "history unavailable")?;
        if since.offset < now.offset && missed.first().map(|(o, _)| *o) != Some(since.offset + 1) {
            return Err("history trimmed");
        }
        Ok((now, missed))
    }
}

fn bad_reply(what: &str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "unexpected reply", what.to_owned()))
}

fn message(kind: &[u8], payload: Vec<u8>) -> Option<Message> {
    match kind {
        b"t" => Utf8Bytes::try_from_bytes(payload.into()).ok().map(Message::Text),
        b"b" => Some(Message::Binary(payload.into())),
        _ => None,
    }
}
