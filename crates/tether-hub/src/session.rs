//! A member's session: joins its room, then one loop on the member's
//! connection — it hands the frames fanned out to the member to the
//! connection in batches, and publishes what the member sends, within its
//! limits — and leaves the room however the session ends. One loop on the
//! whole connection, not two on split halves: a member at rest holds
//! little more than an idle connection.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use futures_util::future::Either;
use futures_util::{FutureExt, Sink, StreamExt};
use tether::{CloseCode, Error, Message, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::hub::Leave;
use crate::member::{MemberQueue, Queued, Stop};
use crate::protocol::{self, epoch_text, ClientHeader, ServerHeader};
use crate::room::{Framing, Member};
use crate::{Hub, Join, PublishAttempt, Refusal};

impl Hub {
    /// Runs one member until its connection ends: joins the room its
    /// request named (`/rooms/NAME`, see [`Join`]), delivers every message
    /// of the room to it, publishes every message it sends to the room (it
    /// receives its own too), and leaves. A request that names no room is
    /// closed with 1008.
    pub fn serve<'a, S>(&'a self, mut ws: WebSocket<S>) -> impl Future<Output = Result<(), Error>> + 'a
    where
        S: AsyncRead + AsyncWrite + Unpin + 'a,
    {
        // Not an `async fn`: its future would keep the parsed request
        // beside the session's own copy, for every member's lifetime.
        match Join::parse(ws.request_path().unwrap_or_default(), ws.request_query(), ws.protocol()) {
            Ok(join) => Either::Left(self.serve_join(ws, join)),
            Err(reason) => {
                Either::Right(async move { Box::pin(ws.close(CloseCode::POLICY_VIOLATION, truncate(&reason))).await })
            }
        }
    }

    /// Runs one member in the room and framing of `join`, whatever the
    /// request said.
    ///
    /// Not an `async fn`: what the request asked for goes into the member
    /// (one allocation, the room's name shared), not into a future every
    /// member at rest would hold.
    pub fn serve_join<'a, S>(&'a self, mut ws: WebSocket<S>, join: Join) -> impl Future<Output = Result<(), Error>> + 'a
    where
        S: AsyncRead + AsyncWrite + Unpin + 'a,
    {
        let id = self.shared.next_member.fetch_add(1, Relaxed);
        let Join { room, framing, resume, user } = join;
        let (room, _) = self.room_entry(&room);
        let queue = MemberQueue::new(self.shared.config.member.queue_bytes);
        let member = Arc::new(Member { id, framing, room, user: user.map(String::into_boxed_str), queue });
        // Boxed: the join's state is not kept for the member's lifetime.
        let joining = Box::pin(self.join(member, resume));
        async move {
            let leave = joining.await;
            noted(&leave.member, "joined");
            // Boxed: rarely set, and every member would carry its room.
            let rate = self.shared.config.member.publish_rate.map(|r| Box::new(RateLimit::new(r)));
            let mut session = Session { hub: self, leave, rate, closing: false };
            let result = session.run(&mut ws).await;
            noted(&session.leave.member, "left");
            result
        }
    }
}

/// One member's connection, while it is in its room.
struct Session<'a> {
    hub: &'a Hub,
    /// Leaves the room when the session ends.
    leave: Leave,
    rate: Option<Box<RateLimit>>,
    /// We sent our close: nothing more is written or published, the
    /// connection is read until the peer answers.
    closing: bool,
}

/// What the loop woke up for.
enum Turn {
    /// The member sent something, or the connection ended.
    Read(Option<Result<Message, Error>>),
    /// Writing failed: reading will tell how the connection ended.
    WriteFailed,
    /// Frames to write (taken from the queue), or the queue stopped.
    Batch(Result<(), Stop>),
}

impl Session<'_> {
    fn member(&self) -> &Member {
        &self.leave.member
    }

    /// Until the connection ends: reading decides the end, seeing the
    /// close handshake through, also after a member was closed for
    /// overflowing its queue.
    async fn run<S>(&mut self, ws: &mut WebSocket<S>) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        // The frames handed to the connection and not yet written out.
        let mut batch = VecDeque::new();
        loop {
            let (closing, queue) = (self.closing, &self.leave.member.queue);
            let latency = &self.hub.shared.counters.latency;
            let turn = poll_fn(|cx| {
                // Reading first: it also writes out what is queued and runs
                // the connection's timers (keepalive, the closing deadline),
                // so a member that stopped reading is timed out even while
                // its writes wait.
                if let Poll::Ready(read) = ws.poll_next_unpin(cx) {
                    return Poll::Ready(Turn::Read(read));
                }
                if closing {
                    return Poll::Pending;
                }
                // The next batch only once the last one is written: what
                // waits stays in the member's queue, under its bound.
                match Sink::<Message>::poll_flush(Pin::new(&mut *ws), cx) {
                    // Still writing: but a queue that overflowed meanwhile
                    // closes the member now, not once its socket drains.
                    Poll::Pending => return queue.poll_overflow(cx).map(|()| Turn::Batch(Err(Stop::Overflow))),
                    Poll::Ready(Err(_)) => return Poll::Ready(Turn::WriteFailed),
                    Poll::Ready(Ok(())) => {}
                }
                if !batch.is_empty() {
                    // Written: one clock read for the batch.
                    let written = Instant::now();
                    for at in batch.iter().filter_map(|q: &Queued| q.at) {
                        latency.record(written.saturating_duration_since(at), 1);
                    }
                    // Freed, not kept: a member at rest holds no queue
                    // capacity (the queue swaps its frames with this empty one).
                    batch = VecDeque::new();
                }
                queue.poll_next_batch(cx, &mut batch).map(Turn::Batch)
            })
            .await;
            match turn {
                Turn::Read(None) => return Ok(()),
                Turn::Read(Some(message)) => {
                    // Once closing, what the peer sent before seeing our close is dropped.
                    if !self.closing {
                        // Boxed: a member at rest does not keep room for it.
                        Box::pin(self.publish(ws, message?)).await?;
                    }
                }
                // Reading tells how the connection ended.
                Turn::WriteFailed => self.closing = true,
                Turn::Batch(Ok(())) => {
                    for queued in &batch {
                        if ws.feed_prepared(&queued.frame).is_err() {
                            self.closing = true;
                            break;
                        }
                    }
                }
                Turn::Batch(Err(Stop::Overflow)) => {
                    let limits = &self.hub.shared.config.member;
                    overflowed(self.member(), limits.queue_bytes);
                    self.close(ws, limits.overflow_code, "slow consumer: too much queued")?;
                }
                Turn::Batch(Err(Stop::Left)) => self.closing = true,
            }
        }
    }

    /// Publishes what the member sent, within its limits and the hook's say.
    async fn publish<S>(&mut self, ws: &mut WebSocket<S>, message: Message) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (hub, room) = (self.hub, &self.leave.room);
        let limits = &hub.shared.config.member;
        let refusal = if message.as_bytes().len() > limits.max_message {
            Some((limits.too_big_code, "message too big"))
        } else if self.rate.as_mut().is_some_and(|r| !r.take(Instant::now())) {
            Some((limits.rate_code, "publishing too fast"))
        } else {
            None
        };
        if let Some((code, reason)) = refusal {
            hub.shared.counters.refused.fetch_add(1, Relaxed);
            tracing::info!(room = %self.member().room, member = self.member().id, reason, "member closed");
            return self.close(ws, code, reason);
        }
        let member = self.member();
        match member.framing {
            Framing::Raw => {
                if let Err(refusal) = check(hub, member, &message) {
                    return self.close(ws, CloseCode::POLICY_VIOLATION, truncate(&refusal.reason));
                }
                Box::pin(hub.publish_with_id(&member.room, Some(room), message, None)).await;
            }
            Framing::V1 => match protocol::parse_client(message) {
                Ok((ClientHeader::Publish { id }, payload)) => {
                    if let Err(Refusal { reason }) = check(hub, member, &payload) {
                        let refused = ServerHeader::Refused { id, reason };
                        let _ = member.queue.push(&protocol::control_frame(&refused), false);
                        return Ok(());
                    }
                    let published = Box::pin(hub.publish_with_id(&member.room, Some(room), payload, Some(&id))).await;
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
                    let reason = format!("bad {}: {reason}", protocol::PROTOCOL);
                    return self.close(ws, CloseCode::POLICY_VIOLATION, &reason);
                }
            },
        }
        Ok(())
    }

    /// Queues our close; the loop writes it out and reads on until the
    /// peer answers (or the closing deadline passes). Not waited for here:
    /// a member that does not read could hold the session forever.
    fn close<S>(&mut self, ws: &mut WebSocket<S>, code: CloseCode, reason: &str) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.closing = true;
        // The first poll queues the close frame and writes what it can.
        ws.begin_close(code, reason).now_or_never().unwrap_or(Ok(()))
    }
}

/// A join or a leave, on the `tracing` debug level. A function of its own:
/// the macro's temporaries stay out of the member's future.
#[inline(never)]
fn noted(member: &Member, what: &'static str) {
    tracing::debug!(room = %member.room, member = member.id, "{what}");
}

/// A member closed for its queue.
#[inline(never)]
fn overflowed(member: &Member, bound: usize) {
    tracing::info!(room = %member.room, member = member.id, "member closed: queue over {bound} bytes");
}

/// Asks the hub's publish hook, if it has one, about `message`.
fn check(hub: &Hub, member: &Member, message: &Message) -> Result<(), Refusal> {
    let Some(hook) = &hub.shared.config.publish_hook else { return Ok(()) };
    let attempt = PublishAttempt {
        room: &member.room,
        member: member.id,
        user: member.user.as_deref(),
        framing: member.framing,
        message,
    };
    hook.check(&attempt).inspect_err(|refusal| {
        hub.shared.counters.refused.fetch_add(1, Relaxed);
        tracing::info!(room = %member.room, member = member.id, reason = %refusal.reason, "publish refused");
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

    /// What every member at rest holds in its task: 288 bytes on
    /// 2026-12-01 (480 before the request moved into the member).
    #[tokio::test]
    async fn a_member_future_stays_small() {
        let (io, _peer) = tokio::io::duplex(64);
        let ws = WebSocket::from_parts(io, tether::Role::Server, Default::default(), Default::default(), None, None);
        let hub = Hub::default();
        let served = hub.serve_join(ws, Join::parse("/rooms/r", None, None).unwrap());
        let size = std::mem::size_of_val(&served);
        assert!(size <= 320, "{size} bytes");
    }

    #[test]
    fn the_rate_limit_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut rate = RateLimit { per_second: 10.0, tokens: 10.0, last: start };
        assert_eq!((0..12).filter(|_| rate.take(start)).count(), 10);
        assert!(!rate.take(start + Duration::from_millis(50)));
        assert!(rate.take(start + Duration::from_millis(110)));
    }
}
