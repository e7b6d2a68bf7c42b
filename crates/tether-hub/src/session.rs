//! A member's session: joins its room, then one loop on the member's
//! connection — it hands the frames fanned out to the member to the
//! connection in batches, and publishes what the member sends, within its
//! limits — and leaves the room however the session ends. One loop on the
//! whole connection, not two on split halves, written as a `Future` by
//! hand: a member at rest holds its connection, a few pointers and flags,
//! and nothing of what an `async fn` would keep across its awaits.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use futures_util::future::Either;
use futures_util::task::{waker_ref, ArcWake};
use futures_util::{FutureExt, Sink, StreamExt};
use tether::{CloseCode, Error, Message, State, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::direct;
use crate::member::{MemberQueue, Stop};
use crate::protocol::{self, epoch_text, ClientHeader, ServerHeader};
use crate::room::{Framing, Member, SharedRoom};
use crate::{Hub, Join, PublishAttempt, Refusal};

impl Hub {
    /// Runs one member until its connection ends: joins the room its
    /// request named (`/rooms/NAME`, see [`Join`]), delivers every message
    /// of the room to it, publishes every message it sends to the room (it
    /// receives its own too), and leaves. A request that names no room is
    /// closed with 1008.
    ///
    /// The future holds what it needs (a clone of the hub), not a borrow:
    /// it can be spawned, or returned as the connection's own task, where a
    /// member at rest costs no allocation beyond its room's handle to it.
    pub fn serve<S>(&self, mut ws: WebSocket<S>) -> impl Future<Output = Result<(), Error>> + use<S>
    where
        S: AsyncRead + AsyncWrite + Unpin + 'static,
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
    /// The connection's request target is let go
    /// ([`WebSocket::release_request_target`]): the join has what the
    /// session needs of it.
    pub fn serve_join<S>(&self, mut ws: WebSocket<S>, join: Join) -> impl Future<Output = Result<(), Error>> + use<S>
    where
        S: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        ws.release_request_target();
        let id = self.shared.next_member.fetch_add(1, Relaxed);
        let Join { room, framing, resume, user } = join;
        let room = self.room(&room);
        let member = Arc::new(Member { queue: MemberQueue::new(self.shared.config.member.queue_bytes) });
        let joining = {
            let (hub, member, room) = (self.clone(), member.clone(), room.clone());
            Box::pin(async move { hub.join(member, framing, &room, resume).await })
        };
        let rate = self.shared.config.member.publish_rate.map(RateLimit::new);
        let rare = (rate.is_some() || user.is_some()).then(|| Box::new(Rare { rate, user }));
        let hub = self.clone();
        let direct = direct::runtime_for(&ws).is_some_and(|runtime| room.lock().drain_on(runtime));
        Session {
            direct,
            ws,
            hub,
            member,
            room,
            busy: Some(joining),
            rare,
            id,
            framing,
            joined: false,
            closing: false,
            read_waits: false,
            parked: false,
        }
    }
}

/// What a session waits for before it goes on: its join, then each
/// publish while it is ordered (by the backplane: a member's messages are
/// published one after the other, and its connection is not read
/// meanwhile).
type Busy = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One member's connection, while it is in its room: the future
/// [`Hub::serve_join`] returns. Every member at rest holds one, in its
/// connection's task: hence what is boxed.
struct Session<S> {
    ws: WebSocket<S>,
    hub: Hub,
    /// What the room holds of the member: its queue.
    member: Arc<Member>,
    room: Arc<SharedRoom>,
    busy: Option<Busy>,
    rare: Option<Box<Rare>>,
    /// The member's number on this hub.
    id: u64,
    /// Which of the room's lists holds the member.
    framing: Framing,
    /// In the room: leaves it when the session ends.
    joined: bool,
    /// We sent our close: nothing more is written or published, the
    /// connection is read until the peer answers.
    closing: bool,
    /// The last read of the connection was pending, registered with the
    /// member's own waker (see [`ArcWake for Member`](Member)): reading
    /// again finds nothing until its queue notes that waker was woken.
    read_waits: bool,
    /// The room's drain may write to the connection's socket while the
    /// session is parked (see [`crate::direct`]).
    direct: bool,
    /// Parked: the socket is the room's drain's until the next poll.
    parked: bool,
}

impl<S> Future for Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    type Output = Result<(), Error>;

    /// Until the connection ends: reading decides the end, seeing the
    /// close handshake through, also after a member was closed for
    /// overflowing its queue.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if std::mem::take(&mut this.parked) {
            // Before anything of the connection: it may hold the rest of a
            // frame the room's drain began, which goes out first.
            let ws = &mut this.ws;
            this.member.queue.unpark(|frame, written| {
                let fed = ws.feed_prepared_rest(frame, written);
                // Only fails once closed, and parked it was open.
                debug_assert!(fed.is_ok(), "{fed:?}");
            });
        }
        loop {
            if let Some(busy) = &mut this.busy {
                ready!(busy.as_mut().poll(cx));
                this.busy = None;
                if !this.joined {
                    this.joined = true;
                    this.hub.shared.counters.members_joined.fetch_add(1, Relaxed);
                    noted(&this.room.name, this.id, "joined");
                }
            }
            // Reading first: it also writes out what is queued and runs
            // the connection's timers (keepalive, the closing deadline), so
            // a member that stopped reading is timed out even while its
            // writes wait.
            //
            // While the connection is open, only once it woke the session
            // (through the member's waker): most wake-ups bring frames of
            // the room, and reading in vain would cost a third of what
            // delivering them does. Once it is not (we closed, the peer
            // closed or failed the protocol, the server shuts down), it
            // winds down as it is read, and its writes wake the session's
            // own waker, not the member's: read with that one, every time.
            let winding_down = this.closing || this.ws.state() != State::Open;
            if winding_down || !this.read_waits || this.member.queue.take_connection_woken() {
                let polled = if winding_down {
                    this.ws.poll_next_unpin(cx)
                } else {
                    let waker = waker_ref(&this.member);
                    this.ws.poll_next_unpin(&mut Context::from_waker(&waker))
                };
                this.read_waits = polled.is_pending();
                if let Poll::Ready(read) = polled {
                    match read {
                        None => return Poll::Ready(Ok(())),
                        // Once we closed, what the peer sent before seeing
                        // our close is dropped.
                        Some(_) if this.closing => {}
                        Some(Ok(message)) => this.publish(message)?,
                        Some(Err(e)) => {
                            this.read_failed(&e);
                            return Poll::Ready(Err(e));
                        }
                    }
                    continue;
                }
                if !winding_down && this.ws.state() != State::Open {
                    // It stopped being open as it was read: again, with
                    // the session's waker.
                    continue;
                }
            }
            if winding_down {
                // Nothing below registers the session with its queue.
                return Poll::Pending;
            }
            // Written out, then the next batch, until nothing waits: the
            // connection is read once per wake-up, not once per batch.
            loop {
                // The next batch only once the last one is written: what
                // waits stays in the member's queue, under its bound.
                match Sink::<Message>::poll_flush(Pin::new(&mut this.ws), cx) {
                    Poll::Pending => {
                        // Still writing: but a queue that overflowed
                        // meanwhile closes the member now, not once its
                        // socket drains.
                        ready!(this.member.queue.poll_overflow(cx));
                        this.overflowed()?;
                        break;
                    }
                    // Reading tells how the connection ended.
                    Poll::Ready(Err(_)) => {
                        this.closing = true;
                        break;
                    }
                    Poll::Ready(Ok(())) => {}
                }
                // Nothing unwritten: when nothing waits either, the socket
                // can be the room's drain's.
                let park = if this.direct { direct::socket_of(&this.ws) } else { None };
                let ws = &mut this.ws;
                let latency = &this.hub.shared.counters.latency;
                let handed = this.member.queue.poll_hand(cx, latency, park, |frame| ws.feed_prepared(frame).is_ok());
                this.parked = handed.is_pending() && park.is_some();
                match ready!(handed) {
                    Ok(true) => {}
                    Ok(false) | Err(Stop::Left) => {
                        this.closing = true;
                        break;
                    }
                    Err(Stop::Overflow) => {
                        this.overflowed()?;
                        break;
                    }
                }
            }
        }
    }
}

/// A member's connection wakes its session through the member: the queue
/// notes it (the one lock the session takes anyway), then wakes the
/// session's waker there. Registering it costs no allocation and no count
/// (`waker_ref`), and the connection keeps one waker however often it is
/// polled.
impl ArcWake for Member {
    fn wake_by_ref(member: &Arc<Self>) {
        member.queue.wake_connection();
    }
}

impl<S> Drop for Session<S> {
    fn drop(&mut self) {
        // First: the socket is the session's again before anything else
        // here can fail, and before it closes with the session.
        self.member.queue.stop(Stop::Left);
        if self.joined {
            self.room.lock().leave(&self.member, self.framing);
            self.hub.shared.counters.members_left.fetch_add(1, Relaxed);
            noted(&self.room.name, self.id, "left");
        }
    }
}

impl<S> Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Counts a message refused as its header arrived (over the limit
    /// `Hub::decide` gave the connection) like one refused here.
    fn read_failed(&self, e: &Error) {
        if let Error::Protocol(violation) = e {
            if violation.close_code() == CloseCode::MESSAGE_TOO_BIG {
                let counters = &self.hub.shared.counters;
                counters.received.fetch_add(1, Relaxed);
                counters.refused.fetch_add(1, Relaxed);
                tracing::info!(room = %self.room.name, member = self.id, reason = %violation, "member closed");
            }
        }
    }

    /// Publishes what the member sent, within its limits and the hook's
    /// say: checked here, then ordered by the busy future it leaves.
    fn publish(&mut self, message: Message) -> Result<(), Error> {
        let hub = &self.hub;
        let counters = &hub.shared.counters;
        counters.received.fetch_add(1, Relaxed);
        counters.bytes_in.fetch_add(message.as_bytes().len() as u64, Relaxed);
        let limits = &hub.shared.config.member;
        let refusal = if message.as_bytes().len() > limits.max_message {
            Some((limits.too_big_code, "message too big"))
        } else if self.rare.as_mut().and_then(|r| r.rate.as_mut()).is_some_and(|r| !r.take(Instant::now())) {
            Some((limits.rate_code, "publishing too fast"))
        } else {
            None
        };
        if let Some((code, reason)) = refusal {
            hub.shared.counters.refused.fetch_add(1, Relaxed);
            tracing::info!(room = %self.room.name, member = self.id, reason, "member closed");
            return self.close(code, reason);
        }
        let (hub, room) = (hub.clone(), self.room.clone());
        match self.framing {
            Framing::Raw => {
                if let Err(refusal) = self.check(&message) {
                    return self.close(CloseCode::POLICY_VIOLATION, truncate(&refusal.reason));
                }
                self.busy = Some(Box::pin(async move {
                    hub.publish_with_id(&room.name, Some(&room), message, None).await;
                }));
            }
            Framing::V1 => match protocol::parse_client(message) {
                Ok((ClientHeader::Publish { id }, payload)) => {
                    let member = self.member.clone();
                    if let Err(Refusal { reason }) = self.check(&payload) {
                        let refused = ServerHeader::Refused { id, reason };
                        let _ = member.queue.push(&protocol::control_frame(&refused));
                        return Ok(());
                    }
                    self.busy = Some(Box::pin(async move {
                        let published = hub.publish_with_id(&room.name, Some(&room), payload, Some(&id)).await;
                        let ack = ServerHeader::Ack {
                            id,
                            epoch: epoch_text(published.position.epoch),
                            offset: published.position.offset,
                            local: published.local,
                        };
                        let _ = member.queue.push(&protocol::control_frame(&ack));
                    }));
                }
                Err(reason) => {
                    hub.shared.counters.refused.fetch_add(1, Relaxed);
                    let reason = format!("bad {}: {reason}", protocol::PROTOCOL);
                    return self.close(CloseCode::POLICY_VIOLATION, &reason);
                }
            },
        }
        Ok(())
    }

    /// The member's queue overflowed: closes it.
    fn overflowed(&mut self) -> Result<(), Error> {
        let limits = &self.hub.shared.config.member;
        let (code, bound) = (limits.overflow_code, limits.queue_bytes.min(u32::MAX as usize));
        overflowed(&self.room.name, self.id, bound);
        self.close(code, "slow consumer: too much queued")
    }

    /// Queues our close; the loop writes it out and reads on until the
    /// peer answers (or the closing deadline passes). Not waited for here:
    /// a member that does not read could hold the session forever.
    fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.closing = true;
        // The first poll queues the close frame and writes what it can.
        self.ws.begin_close(code, reason).now_or_never().unwrap_or(Ok(()))
    }
}

/// A join or a leave, on the `tracing` debug level. A function of its own:
/// the macro's temporaries stay out of the member's future.
#[inline(never)]
fn noted(room: &str, member: u64, what: &'static str) {
    tracing::debug!(room, member, "{what}");
}

/// A member closed for its queue.
#[inline(never)]
fn overflowed(room: &str, member: u64, bound: usize) {
    tracing::info!(room, member, "member closed: queue over {bound} bytes");
}

impl<S> Session<S> {
    /// Asks the hub's publish hook, if it has one, about `message`.
    fn check(&self, message: &Message) -> Result<(), Refusal> {
        let name = &*self.room.name;
        let hub = &self.hub;
        let Some(hook) = &hub.shared.config.publish_hook else { return Ok(()) };
        let attempt = PublishAttempt {
            room: name,
            member: self.id,
            user: self.rare.as_ref().and_then(|r| r.user.as_deref()),
            framing: self.framing,
            message,
        };
        hook.check(&attempt).inspect_err(|refusal| {
            hub.shared.counters.refused.fetch_add(1, Relaxed);
            tracing::info!(room = %name, member = self.id, reason = %refusal.reason, "publish refused");
        })
    }
}

/// What few members have, boxed: a thin pointer in every member's session
/// rather than room for both.
struct Rare {
    rate: Option<RateLimit>,
    /// Who the member is, as the application established it ([`Join::user`]).
    user: Option<String>,
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
    /// 2026-12-01 (480 before the request moved into the member), 64 since
    /// the session is a hand-written future, 72 since it holds the member's
    /// id and framing (and `tether hub --quiet` no longer boxes it: it fits
    /// in the connection's task cell).
    #[tokio::test]
    async fn a_member_future_stays_small() {
        let (io, _peer) = tokio::io::duplex(64);
        let ws = WebSocket::from_parts(io, tether::Role::Server, Default::default(), Default::default(), None, None);
        let hub = Hub::default();
        let served = hub.serve_join(ws, Join::parse("/rooms/r", None, None).unwrap());
        let size = std::mem::size_of_val(&served);
        assert!(size <= 72, "{size} bytes");
    }

    /// A member of room "r", joined, its peer at the other end of an
    /// in-memory pipe that holds `capacity` bytes each way.
    async fn member_in_a_pipe(
        capacity: usize,
    ) -> (Hub, tokio::io::DuplexStream, tokio::task::JoinHandle<Result<(), Error>>) {
        let (io, peer) = tokio::io::duplex(capacity);
        let ws = WebSocket::from_parts(io, tether::Role::Server, Default::default(), Default::default(), None, None);
        let hub = Hub::default();
        let session = tokio::spawn(hub.serve_join(ws, Join::parse("/rooms/r", None, None).unwrap()));
        while hub.member_count("r") == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (hub, peer, session)
    }

    /// The peer closes while the member's writes wait: once they are
    /// written, the session sees the close through at once (the echo, then
    /// the transport shut), not at the closing deadline, 5 s later. Those
    /// writes wake the session's own waker, not the member's.
    #[tokio::test]
    async fn a_close_behind_waiting_writes_is_seen_through_at_once() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (hub, mut peer, session) = member_in_a_pipe(64).await;
        // More than the pipe holds: the member's write waits.
        hub.publish("r", Message::binary(vec![7u8; 1000])).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        // A close (1000), masked with a zero key; read while the write waits.
        peer.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let start = Instant::now();
        let mut received = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(3), peer.read_to_end(&mut received)).await;
        assert!(read.is_ok(), "not ended {:?} after the peer read on", start.elapsed());
        assert_eq!(received.len(), 4 + 1000 + 4, "the message, then the close echo");
        assert_eq!(&received[1004..], &[0x88, 0x02, 0x03, 0xe8]);
        assert!(session.await.unwrap().is_ok());
    }

    /// A peer that fails the protocol ends the session with the error,
    /// once the connection has wound down (read until the peer's end).
    #[tokio::test]
    async fn a_protocol_error_ends_the_session_with_it() {
        use tokio::io::AsyncWriteExt;
        let (_hub, mut peer, session) = member_in_a_pipe(4096).await;
        // An unmasked frame from a client: 1002.
        peer.write_all(&[0x81, 0x01, b'x']).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        peer.shutdown().await.unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(3), session).await.expect("ended").unwrap();
        assert!(matches!(ended, Err(Error::Protocol(_))), "{ended:?}");
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
