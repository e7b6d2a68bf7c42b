//! A member's session: joins its room, then runs two loops on one task —
//! the writer hands the frames fanned out to the member to its connection
//! in batches, the reader publishes what the member sends, within its
//! limits — and leaves the room however the session ends.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt;
use tether::{CloseCode, Error, Message, Receiver, Sender, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::hub::Leave;
use crate::latency::Latency;
use crate::member::{MemberQueue, Stop};
use crate::protocol::{self, epoch_text, ClientHeader, ServerHeader};
use crate::room::{Framing, Member, Room};
use crate::{Hub, Join, MemberLimits, PublishAttempt, Refusal};

impl Hub {
    /// Runs one member until its connection ends: joins the room its
    /// request named (`/rooms/NAME`, see [`Join`]), delivers every message
    /// of the room to it, publishes every message it sends to the room (it
    /// receives its own too), and leaves. A request that names no room is
    /// closed with 1008.
    pub async fn serve<S>(&self, mut ws: WebSocket<S>) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let join = Join::parse(ws.request_path().unwrap_or_default(), ws.request_query(), ws.protocol());
        match join {
            Ok(join) => self.serve_join(ws, join).await,
            Err(reason) => Box::pin(ws.close(CloseCode::POLICY_VIOLATION, truncate(&reason))).await,
        }
    }

    /// Runs one member in the room and framing of `join`, whatever the
    /// request said.
    pub async fn serve_join<S>(&self, ws: WebSocket<S>, join: Join) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let limits = &self.shared.config.member;
        let id = self.shared.next_member.fetch_add(1, Relaxed);
        let member = Arc::new(Member { id, framing: join.framing, queue: MemberQueue::new(limits.queue_bytes) });
        let (sender, receiver) = ws.split();
        let room = Box::pin(self.join(&join.room, member.clone(), join.resume)).await;
        let leave = Leave { hub: self.clone(), room, member: member.clone() };
        tracing::debug!(room = %join.room, member = id, "joined");

        let writer = write_loop(&sender, &member.queue, limits, &self.shared.counters.latency);
        let reader = read_loop(self, &join, &leave.room, &member, &sender, receiver, limits);
        tokio::pin!(writer, reader);
        let mut writing = true;
        // The reader decides the end: it sees the close handshake through,
        // also after the writer closed a member that overflowed.
        let result = loop {
            tokio::select! {
                result = &mut reader => break result,
                _ = &mut writer, if writing => writing = false,
            }
        };
        tracing::debug!(room = %join.room, member = id, "left");
        result
    }
}

/// Hands queued frames to the connection, a batch per write; closes the
/// member if its queue overflowed.
async fn write_loop<S>(
    sender: &Sender<S>,
    queue: &MemberQueue,
    limits: &MemberLimits,
    latency: &Latency,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut batch = VecDeque::new();
    loop {
        match queue.next_batch(&mut batch).await {
            Ok(()) => {
                for queued in &batch {
                    sender.feed_prepared(&queued.frame)?;
                }
                sender.flush().await?;
                // Written: one clock read for the batch.
                let written = Instant::now();
                for at in batch.iter().filter_map(|q| q.at) {
                    latency.record(written.saturating_duration_since(at), 1);
                }
                // Freed, not kept: a member at rest holds no queue capacity
                // (the queue swaps its frames with this empty one).
                batch = VecDeque::new();
            }
            Err(Stop::Overflow) => {
                tracing::info!("member closed: queue over {} bytes", limits.queue_bytes);
                return Box::pin(sender.close(limits.overflow_code, "slow consumer: too much queued")).await;
            }
            Err(Stop::Left) => return Ok(()),
        }
    }
}

/// Publishes what the member sends, until the connection ends.
async fn read_loop<S>(
    hub: &Hub,
    join: &Join,
    room: &Arc<Mutex<Room>>,
    member: &Member,
    sender: &Sender<S>,
    mut receiver: Receiver<S>,
    limits: &MemberLimits,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut rate = limits.publish_rate.map(RateLimit::new);
    let mut closing = false;
    while let Some(message) = receiver.next().await {
        let message = message?;
        if closing {
            continue; // sent before the peer saw our close
        }
        let refusal = if message.as_bytes().len() > limits.max_message {
            Some((limits.too_big_code, "message too big"))
        } else if rate.as_mut().is_some_and(|r| !r.take(Instant::now())) {
            Some((limits.rate_code, "publishing too fast"))
        } else {
            None
        };
        if let Some((code, reason)) = refusal {
            hub.shared.counters.refused.fetch_add(1, Relaxed);
            tracing::info!(room = %join.room, member = member.id, reason, "member closed");
            closing = true;
            Box::pin(sender.close(code, reason)).await?;
            continue;
        }
        match member.framing {
            Framing::Raw => {
                if let Err(refusal) = check(hub, join, member, &message) {
                    closing = true;
                    Box::pin(sender.close(CloseCode::POLICY_VIOLATION, truncate(&refusal.reason))).await?;
                    continue;
                }
                Box::pin(hub.publish_with_id(&join.room, Some(room), message, None)).await;
            }
            Framing::V1 => match protocol::parse_client(message) {
                Ok((ClientHeader::Publish { id }, payload)) => {
                    if let Err(Refusal { reason }) = check(hub, join, member, &payload) {
                        let refused = ServerHeader::Refused { id, reason };
                        let _ = member.queue.push(&protocol::control_frame(&refused), false);
                        continue;
                    }
                    let published = Box::pin(hub.publish_with_id(&join.room, Some(room), payload, Some(&id))).await;
                    let ack = ServerHeader::Ack {
                        id,
                        epoch: epoch_text(published.position.epoch),
                        offset: published.position.offset,
                        local: published.local,
                    };
                    let _ = member.queue.push(&protocol::control_frame(&ack), false);
                }
                Err(reason) => {
                    hub.shared.counters.refused.fetch_add(1, Relaxed);
                    closing = true;
                    let reason = format!("bad {}: {reason}", protocol::PROTOCOL);
                    Box::pin(sender.close(CloseCode::POLICY_VIOLATION, &reason)).await?;
                }
            },
        }
    }
    Ok(())
}

/// Asks the hub's publish hook, if it has one, about `message`.
fn check(hub: &Hub, join: &Join, member: &Member, message: &Message) -> Result<(), Refusal> {
    let Some(hook) = &hub.shared.config.publish_hook else { return Ok(()) };
    let attempt = PublishAttempt {
        room: &join.room,
        member: member.id,
        user: join.user.as_deref(),
        framing: member.framing,
        message,
    };
    hook.check(&attempt).inspect_err(|refusal| {
        hub.shared.counters.refused.fetch_add(1, Relaxed);
        tracing::info!(room = %join.room, member = member.id, reason = %refusal.reason, "publish refused");
    })
}

/// A token bucket: `per_second` publishes a second, bursts of as many.
struct RateLimit {
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    fn new(per_second: u32) -> Self {
        RateLimit { per_second: per_second.into(), tokens: per_second.into(), last: Instant::now() }
    }

    fn take(&mut self, now: Instant) -> bool {
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.per_second);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A close reason fits in 123 bytes.
fn truncate(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_rate_limit_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut rate = RateLimit { per_second: 10.0, tokens: 10.0, last: start };
        assert_eq!((0..12).filter(|_| rate.take(start)).count(), 10);
        assert!(!rate.take(start + Duration::from_millis(50)));
        assert!(rate.take(start + Duration::from_millis(110)));
    }
}
