//! [`Hub`]: the rooms of one process, created on first use and forgotten
//! when abandoned, with a publish API for application code and counters
//! for operators.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tether::Message;

use crate::backplane::Backplane;
use crate::latency::Latency;
use crate::room::{FanOut, Framing, Member, Room, SharedRoom};
use crate::{HubConfig, LatencyHistogram, Position, Published};

/// Rooms and their members, in one process. Cheap to clone: clones share
/// the rooms.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let hub = tether_hub::Hub::default();
/// let server = tether::Server::bind("127.0.0.1:0").await?;
/// let decide = hub.clone();
/// server
///     .on_request(move |request| decide.decide(request))
///     .serve(move |ws, _peer| {
///         let hub = hub.clone();
///         async move {
///             let _ = hub.serve(ws).await;
///         }
///     })
///     .await
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Hub {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) config: HubConfig,
    pub(crate) rooms: Mutex<Rooms>,
    pub(crate) next_member: AtomicU64,
    pub(crate) counters: Counters,
    /// The backplane, for hubs that share their rooms with other hubs.
    pub(crate) backplane: Option<Arc<dyn Backplane>>,
}

impl Shared {
    /// Every room the hub holds, with its members here.
    pub(crate) fn room_counts(&self) -> Vec<(Box<str>, usize)> {
        lock(&self.rooms).by_name.iter().map(|(name, room)| ((**name).into(), room.lock().member_count())).collect()
    }

    /// Every room the hub holds now.
    #[cfg(feature = "redis")]
    pub(crate) fn room_handles(&self) -> Vec<Arc<SharedRoom>> {
        lock(&self.rooms).by_name.values().cloned().collect()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Rooms {
    /// Names shared with the rooms.
    by_name: HashMap<Arc<str>, Arc<SharedRoom>>,
    last_sweep: Option<Instant>,
}

/// What the hub has done since it started.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) members_joined: AtomicU64,
    pub(crate) members_left: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) overflowed: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) redis_failures: AtomicU64,
    /// Times the link to Redis came up, the first included.
    pub(crate) redis_links: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) sent_straight: AtomicU64,
    pub(crate) sent_in_part: AtomicU64,
    pub(crate) latency: Latency,
}

/// A snapshot of a hub's counters (see [`Hub::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubStats {
    /// Rooms the hub holds (with members, or history not yet expired).
    pub rooms: usize,
    /// Members now.
    pub members: u64,
    /// Messages ordered (published by members or by the application).
    pub published: u64,
    /// Frames queued for members: one per member per message.
    pub delivered: u64,
    /// Bytes of those frames (shared between members, not copied).
    pub bytes_out: u64,
    /// Messages members sent (refused ones included).
    pub received: u64,
    /// Bytes of those messages' payloads.
    pub bytes_in: u64,
    /// Members closed because their queue overflowed.
    pub overflowed: u64,
    /// Frames dropped from lossy members' queues.
    pub dropped: u64,
    /// Frames written by the rooms' drains, straight to the sockets of
    /// members whose tasks were not woken for them (see the crate docs).
    pub sent_straight: u64,
    /// Frames the drains began and the members' tasks finished (the socket
    /// took only a part).
    pub sent_in_part: u64,
    /// Publishes refused (limits, bad envelopes).
    pub refused: u64,
    /// Times the link to the backplane failed (rooms went local).
    pub backplane_failures: u64,
    /// Times the link to the backplane came back after a failure.
    pub backplane_reconnects: u64,
    /// The link to the backplane works now (false without one).
    pub backplane_up: bool,
    /// How long room messages took from fan-out to each member's socket.
    pub delivery_latency: LatencyHistogram,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    /// A hub with `config`.
    pub fn new(config: HubConfig) -> Self {
        Hub { shared: Arc::new(Shared { config, ..Shared::default() }) }
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.shared.config
    }

    /// Publishes `message` to `room` from the application (no member needed):
    /// it is ordered after everything published before and reaches every
    /// member, on every hub sharing the backplane. Returns once it is
    /// ordered, with its position.
    pub async fn publish(&self, room: &str, message: impl Into<Message>) -> Published {
        self.publish_with_id(room, None, message.into(), None).await
    }

    /// Publishes once per `id`: a publish with an id the room saw recently
    /// is not ordered again, and gets the position of the first. A member's
    /// session passes the room it holds, sparing the lookup by name.
    pub(crate) async fn publish_with_id(
        &self,
        name: &str,
        held: Option<&Arc<SharedRoom>>,
        message: Message,
        id: Option<&str>,
    ) -> Published {
        if let Some(backplane) = &self.shared.backplane {
            if let Some(published) = backplane.publish(name, &message, id).await {
                return published;
            }
        }
        let handle = held.cloned().unwrap_or_else(|| self.room(name));
        let mut room = handle.lock();
        if let Some(offset) = id.and_then(|id| room.seen(id)) {
            let position = Position { epoch: room.position().epoch, offset };
            return Published { position, local: room.detached, duplicate: true };
        }
        let (position, fan) = room.publish(message, id);
        let local = room.detached;
        drop(room);
        self.fanned_out(&handle, fan);
        Published { position, local, duplicate: false }
    }

    pub(crate) fn count(&self, fan: &FanOut) {
        let c = &self.shared.counters;
        c.published.fetch_add(1, Relaxed);
        c.delivered.fetch_add(fan.delivered, Relaxed);
        c.bytes_out.fetch_add(fan.bytes, Relaxed);
        c.overflowed.fetch_add(fan.overflowed, Relaxed);
        c.dropped.fetch_add(fan.dropped, Relaxed);
    }

    /// Counts a fan-out of `room`, and spawns the room's drain if it held
    /// frames for parked members (see [`crate::direct`]), on their runtime:
    /// it runs once the publishing task yields (when that runtime is this
    /// one), so that what else it publishes meanwhile goes out in the same
    /// writes. The room's lock must be let go first.
    pub(crate) fn fanned_out(&self, room: &Arc<SharedRoom>, fan: FanOut) {
        self.count(&fan);
        if !fan.drain {
            return;
        }
        let mut drain = Drain { hub: self.clone(), room: Some(room.clone()) };
        match fan.drain_on {
            // A runtime shut down drops the task, which drains as it drops.
            Some(runtime) => drop(runtime.spawn(async move { drain.run() })),
            // Not reached: a frame is held only for a member that parked,
            // which set the room's runtime first.
            None => drain.run(),
        }
    }

    /// Marks `room` lossy (or not): a member too slow for a lossy room loses
    /// its oldest undelivered messages instead of being closed. For feeds
    /// where only the latest matters (prices, positions). This holds while
    /// the hub keeps the room: one forgotten after
    /// [`HubConfig::room_ttl`](crate::HubConfig::room_ttl) is made again as
    /// [`HubConfig::lossy_rooms`](crate::HubConfig::lossy_rooms) says.
    pub fn set_lossy(&self, room: &str, lossy: bool) {
        self.room(room).lock().lossy = lossy;
    }

    /// The members of `room` now.
    pub fn member_count(&self, room: &str) -> usize {
        self.existing(room).map_or(0, |r| r.lock().member_count())
    }

    /// The position of the last message of `room`, if the hub holds it.
    pub fn position(&self, room: &str) -> Option<Position> {
        self.existing(room).map(|r| r.lock().position())
    }

    /// The members of `room` on every hub sharing the backplane (this hub's
    /// alone without one, or while it is away). With Redis, a hub's count is
    /// refreshed every second and stands for `MEMBER_COUNT_TTL`: a killed
    /// hub's members drop out of the total within that time.
    pub async fn total_members(&self, room: &str) -> usize {
        let local = self.member_count(room);
        match &self.shared.backplane {
            Some(backplane) if backplane.is_up() => backplane.total_members(room, local).await.unwrap_or(local),
            _ => local,
        }
    }

    /// The members of `room` on every hub as last read from the backplane
    /// (every second, and by [`total_members`](Self::total_members)), with
    /// this hub's own count as it is now; this hub's alone without a
    /// backplane or while it is away. Does not wait: for pages and metrics.
    pub fn members_everywhere(&self, room: &str) -> usize {
        let local = self.member_count(room);
        match &self.shared.backplane {
            Some(backplane) if backplane.is_up() => {
                backplane.known_total(room).map_or(local, |(total, ours)| total.saturating_sub(ours) + local)
            }
            _ => local,
        }
    }

    /// The rooms this hub holds, with their members on this hub.
    pub fn rooms(&self) -> Vec<(Box<str>, usize)> {
        self.shared.room_counts()
    }

    /// Whether the hub's backplane works now (false without one).
    pub fn backplane_up(&self) -> bool {
        self.shared.backplane.as_ref().is_some_and(|b| b.is_up())
    }

    /// The hub's counters now.
    pub fn stats(&self) -> HubStats {
        let c = &self.shared.counters;
        let joined = c.members_joined.load(Relaxed);
        HubStats {
            rooms: lock(&self.shared.rooms).by_name.len(),
            members: joined.saturating_sub(c.members_left.load(Relaxed)),
            published: c.published.load(Relaxed),
            delivered: c.delivered.load(Relaxed),
            bytes_out: c.bytes_out.load(Relaxed),
            received: c.received.load(Relaxed),
            bytes_in: c.bytes_in.load(Relaxed),
            overflowed: c.overflowed.load(Relaxed),
            dropped: c.dropped.load(Relaxed),
            sent_straight: c.sent_straight.load(Relaxed),
            sent_in_part: c.sent_in_part.load(Relaxed),
            refused: c.refused.load(Relaxed),
            backplane_failures: c.redis_failures.load(Relaxed),
            backplane_reconnects: c.redis_links.load(Relaxed).saturating_sub(1),
            backplane_up: self.backplane_up(),
            delivery_latency: c.latency.snapshot(),
        }
    }

    fn existing(&self, name: &str) -> Option<Arc<SharedRoom>> {
        lock(&self.shared.rooms).by_name.get(name).cloned()
    }

    /// The room called `name`, created if new; abandoned rooms are swept
    /// out now and then on the way.
    pub(crate) fn room(&self, name: &str) -> Arc<SharedRoom> {
        let mut rooms = lock(&self.shared.rooms);
        let now = Instant::now();
        let ttl = self.shared.config.room_ttl;
        if rooms.last_sweep.is_none_or(|t| now.duration_since(t) >= ttl / 4) {
            rooms.last_sweep = Some(now);
            rooms.by_name.retain(|_, room| {
                let room = room.lock();
                room.member_count() > 0 || room.idle_since.is_none_or(|t| now.duration_since(t) < ttl)
            });
        }
        let history = self.shared.config.history;
        // A room made while the backplane is away starts on a local epoch,
        // like the rooms that were there when it went.
        let away = self.shared.backplane.as_ref().is_some_and(|b| !b.is_up());
        if let Some(room) = rooms.by_name.get(name) {
            return room.clone();
        }
        let name: Arc<str> = name.into();
        let mut room = Room::new(history, self.shared.config.member.queue_bytes);
        room.detached = away;
        room.lossy = self.shared.config.is_lossy(&name);
        let room = Arc::new(SharedRoom::new(name.clone(), room));
        rooms.by_name.insert(name, room.clone());
        room
    }

    /// Adds a member to its room (after what it missed since `resume`).
    /// The member's session leaves it when it ends.
    pub(crate) async fn join(
        &self,
        member: Arc<Member>,
        framing: Framing,
        handle: &SharedRoom,
        resume: Option<Position>,
    ) {
        if let Some(backplane) = &self.shared.backplane {
            let room = &*handle.name;
            backplane.watch(room).await;
            if let Some(since) = resume.filter(|_| !handle.lock().detached) {
                // The shared history is in Redis; a few tries in case this
                // hub delivers faster than its local history reaches back.
                for _ in 0..3 {
                    match backplane.missed(room, since).await {
                        Ok(missed) => {
                            if handle.lock().join_after(member.clone(), framing, since, missed) {
                                return;
                            }
                        }
                        Err("history unavailable") => break,
                        Err(reason) => {
                            handle.lock().join_with_gap(member.clone(), framing, reason);
                            return;
                        }
                    }
                }
            }
        }
        handle.lock().join(member, framing, resume);
    }
}

/// A room's drain, spawned by a fan-out that held frames for parked
/// members. Dropped before it ran (its runtime shutting down), it drains
/// as it goes: the room starts no other drain while one is pending, so a
/// lost one would leave those frames waiting until each member woke.
struct Drain {
    hub: Hub,
    room: Option<Arc<SharedRoom>>,
}

impl Drain {
    fn run(&mut self) {
        if let Some(room) = self.room.take() {
            let c = &self.hub.shared.counters;
            let drained = room.lock().drain(&c.latency);
            c.sent_straight.fetch_add(drained.written, Relaxed);
            c.sent_in_part.fetch_add(drained.in_part, Relaxed);
        }
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        self.run();
    }
}
