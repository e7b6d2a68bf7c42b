//! The link to Redis: made (with backoff) and made again, the hub's rooms
//! subscribed and brought back to Redis's order, then announcements relayed
//! to the rooms until the link fails; the health check and the member
//! counts ride on it.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use tether::Message;
use tokio::sync::mpsc;

use super::{message, RedisEngine, Watch};
use crate::hub::{lock, Shared};
use crate::protocol::parse_epoch;
use crate::room::Delivery;
use crate::{Hub, Position};

/// Parses an announcement: `EPOCH\nOFFSET\nKIND\nPAYLOAD`.
fn announcement(bytes: &[u8]) -> Option<(Position, Message)> {
    let mut parts = bytes.splitn(4, |&b| b == b'\n');
    let epoch = parse_epoch(std::str::from_utf8(parts.next()?).ok()?)?;
    let offset = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let kind = parts.next()?;
    let payload = parts.next()?.to_vec();
    Some((Position { epoch, offset }, message(kind, payload)?))
}

/// Keeps the link: connects (with backoff), subscribes the hub's rooms,
/// brings them back to Redis's order, then relays announcements until
/// the link fails. Ends when the hub is dropped.
pub(super) async fn link(engine: Arc<RedisEngine>, hub: Weak<Shared>, mut requests: mpsc::UnboundedReceiver<Watch>) {
    const FIRST_RETRY: Duration = Duration::from_millis(100);
    let mut backoff = FIRST_RETRY;
    loop {
        if hub.strong_count() == 0 {
            return;
        }
        let mut healthy = false;
        match relay(&engine, &hub, &mut requests, &mut healthy).await {
            Ok(()) => return,
            Err(e) => {
                // A link that stayed healthy for a while starts the backoff
                // over: a hub that lost Redis a few times still retries
                // soon after the next loss. One that failed at once (a
                // Redis that takes the connection and refuses the work)
                // keeps backing off, rather than flapping every 100 ms.
                if healthy {
                    backoff = FIRST_RETRY;
                }
                engine.lost();
                tracing::warn!(error = %e, retry_in = ?backoff, "redis link down");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Relays until the link fails; `healthy` is set once a health check a
/// second after the link came up passed.
async fn relay(
    engine: &RedisEngine,
    hub: &Weak<Shared>,
    requests: &mut mpsc::UnboundedReceiver<Watch>,
    healthy: &mut bool,
) -> redis::RedisResult<()> {
    let timeout = engine.options.timeout;
    let pubsub = tokio::time::timeout(timeout, engine.client.get_async_pubsub())
        .await
        .map_err(|_| redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))??;
    let (mut sink, mut stream) = pubsub.split();
    engine.broken.store(false, SeqCst);
    let rooms: Vec<Box<str>> = lock(&engine.watched).keys().cloned().collect();
    for room in &rooms {
        sink.subscribe(engine.key(room, "live")).await?;
    }
    for room in &rooms {
        attach(engine, hub, room).await?;
    }
    // Counted before it shows as up: whoever sees the link up sees it counted.
    if let Some(shared) = hub.upgrade() {
        shared.counters.redis_links.fetch_add(1, SeqCst);
    }
    engine.up.store(true, SeqCst);
    tracing::info!(rooms = rooms.len(), "redis link up");
    let prefix = engine.channel_prefix();
    let mut health = tokio::time::interval(Duration::from_secs(1));
    let mut checks = 0u32;
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(Watch { room, done }) = request else { return Ok(()) };
                sink.subscribe(engine.key(&room, "live")).await?;
                attach(engine, hub, &room).await?;
                let _ = done.send(());
            }
            message = stream.next() => {
                let Some(message) = message else { return Err(std::io::Error::from(std::io::ErrorKind::ConnectionAborted).into()) };
                let channel = message.get_channel_name();
                let room = channel.strip_prefix(prefix.as_str()).and_then(|r| r.strip_prefix('{')).and_then(|r| r.strip_suffix("}:live"));
                if let (Some(room), Some((at, payload))) = (room, announcement(message.get_payload_bytes())) {
                    deliver(engine, hub, room, at, payload).await?;
                }
            }
            _ = engine.relink.notified() => {
                if engine.broken.load(SeqCst) {
                    return Err(std::io::Error::other("a command failed").into());
                }
            }
            _ = health.tick() => {
                // Also the health check: a Redis that stopped answering fails it.
                engine.refresh_counts(hub).await?;
                let mut conn = engine.connection().await?;
                let _: String = redis::cmd("PING").query_async(&mut conn).await?;
                // The first tick comes at once; the second a second later.
                checks += 1;
                *healthy |= checks >= 2;
            }
        }
        if hub.strong_count() == 0 {
            return Ok(());
        }
    }
}

/// Brings a room back to Redis's order: its epoch and offset, filling a
/// hole from the stream.
async fn attach(engine: &RedisEngine, hub: &Weak<Shared>, room: &str) -> redis::RedisResult<()> {
    let at = engine.position_of(room).await?;
    let Some(hub) = hub.upgrade().map(|shared| Hub { shared }) else { return Ok(()) };
    let handle = hub.room(room);
    let last = handle.lock().attach(at);
    if let Some(last) = last {
        for (offset, message) in engine.range(room, last + 1, at.offset).await? {
            let outcome = handle.lock().deliver(Position { epoch: at.epoch, offset }, message, None);
            if let Delivery::Done(fan) = outcome {
                hub.fanned_out(&handle, fan);
            }
        }
    }
    Ok(())
}

/// Fans out an announcement, first fetching what pub/sub lost before it.
async fn deliver(
    engine: &RedisEngine,
    hub: &Weak<Shared>,
    room: &str,
    at: Position,
    message: Message,
) -> redis::RedisResult<()> {
    let Some(shared) = hub.upgrade() else { return Ok(()) };
    let hub = Hub { shared };
    let handle = hub.room(room);
    let outcome = handle.lock().deliver(at, message.clone(), None);
    match outcome {
        Delivery::Done(fan) => hub.fanned_out(&handle, fan),
        Delivery::Duplicate => {}
        Delivery::Gap { after } => {
            for (offset, missed) in engine.range(room, after + 1, at.offset - 1).await? {
                // The room's lock is let go before the drain can take it.
                let outcome = handle.lock().deliver(Position { epoch: at.epoch, offset }, missed, None);
                if let Delivery::Done(fan) = outcome {
                    hub.fanned_out(&handle, fan);
                }
            }
            let outcome = handle.lock().deliver(at, message, None);
            if let Delivery::Done(fan) = outcome {
                hub.fanned_out(&handle, fan);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_parse_with_binary_payloads() {
        let (at, message) = announcement(b"00000000000000ff\n7\nb\n\x00\n\xff").unwrap();
        assert_eq!(at, Position { epoch: 255, offset: 7 });
        assert_eq!(message, Message::binary(&b"\x00\n\xff"[..]));
        let (_, text) = announcement(b"00000000000000ff\n8\nt\nhello\nworld").unwrap();
        assert_eq!(text, Message::text("hello\nworld"));
        assert!(announcement(b"00000000000000ff\n8\nt\n\xff").is_none(), "text must be UTF-8");
        assert!(announcement(b"zz\n8\nt\nx").is_none());
    }
}
