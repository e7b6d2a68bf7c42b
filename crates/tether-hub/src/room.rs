//! One room: its members, its order (epoch and offsets), the history kept
//! for members that resume, and the ids of recent publishes (so a retried
//! publish is not ordered twice).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tether::{Message, PreparedMessage};

use crate::latency::{Latency, Stamp};
use crate::member::{Drained, MemberQueue, Pushed};
use crate::protocol::{self, epoch_text, ServerHeader};
use crate::Position;

/// How a member reads the room: raw payloads, or `tether.hub.v1` envelopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Payloads as they were published (browsers, `wscat`, any client).
    Raw,
    /// Each payload after a header line with its offset; acks and gaps.
    V1,
}

impl Framing {
    /// Every framing, in the order of a room's member lists.
    const ALL: [Framing; 2] = [Framing::Raw, Framing::V1];

    /// Which of a room's member lists holds members of this framing.
    const fn list(self) -> usize {
        match self {
            Framing::Raw => 0,
            Framing::V1 => 1,
        }
    }
}

/// A member as its room sees it: its queue, which also keeps its place in
/// the room's list. Nothing else: every member at rest holds one, and
/// what else the member is (its id, its user, its framing: which of the
/// room's lists holds it) its session keeps.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) queue: MemberQueue,
}

/// A message in the room's history, with its frames built once. Only the
/// frames are kept: the message as received may be a slice of a large read
/// buffer, which a history of a thousand messages would pin.
#[derive(Debug)]
struct Entry {
    offset: u64,
    raw: PreparedMessage,
    /// Built the first time a `tether.hub.v1` member needs it.
    v1: Option<PreparedMessage>,
}

impl Entry {
    fn frame(&mut self, framing: Framing, epoch: u64) -> &PreparedMessage {
        match framing {
            Framing::Raw => &self.raw,
            Framing::V1 => {
                let position = Position { epoch, offset: self.offset };
                self.v1.get_or_insert_with(|| protocol::message_frame(position, &self.raw.message()))
            }
        }
    }
}

/// What [`Room::deliver`] did with a message ordered elsewhere.
#[cfg(feature = "redis")]
#[derive(Debug)]
pub(crate) enum Delivery {
    /// Fanned out.
    Done(FanOut),
    /// Delivered before (a resend, or a message fetched to fill a hole).
    Duplicate,
    /// Messages after `after` are missing before this one.
    Gap { after: u64 },
}

/// What fanning one message out did.
#[derive(Debug, Default)]
pub(crate) struct FanOut {
    /// Frames queued (one per member).
    pub(crate) delivered: u64,
    /// Bytes of those frames (shared, not copied).
    pub(crate) bytes: u64,
    /// Members whose queue overflowed: their writers close them.
    pub(crate) overflowed: u64,
    /// Frames dropped from lossy members' queues to make room.
    pub(crate) dropped: u64,
    /// The room's drain is to be spawned: frames were held for parked
    /// members, and no drain was pending (see [`crate::direct`]).
    pub(crate) drain: bool,
    /// Where: the runtime of the room's parked members.
    pub(crate) drain_on: Option<tokio::runtime::Handle>,
}

/// A room as the hub and its members' sessions hold it: its name, read
/// without the room's lock (by logs, and by the backplane while a fan-out
/// holds the lock), and its state behind the lock.
#[derive(Debug)]
pub(crate) struct SharedRoom {
    /// Shared with the hub's map of rooms.
    pub(crate) name: Arc<str>,
    state: Mutex<Room>,
}

impl SharedRoom {
    pub(crate) fn new(name: Arc<str>, room: Room) -> Self {
        SharedRoom { name, state: Mutex::new(room) }
    }

    /// The room's state, poisoned or not (as `hub::lock` takes every lock
    /// of the hub).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Room> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The state of one room, behind its own lock.
#[derive(Debug)]
pub(crate) struct Room {
    epoch: u64,
    /// The last offset given (0: none yet; the first message gets 1).
    last: u64,
    history: VecDeque<Entry>,
    history_limit: usize,
    /// The members, by framing ([`Framing::list`]): one frame per list and
    /// message, and no test per member.
    members: [Vec<Arc<Member>>; Framing::ALL.len()],
    pub(crate) lossy: bool,
    /// The backplane is away: the room runs on a local epoch meanwhile.
    pub(crate) detached: bool,
    /// Recent publish ids and the offsets they got, oldest first.
    seen: HashMap<Box<str>, u64>,
    seen_order: VecDeque<Box<str>>,
    /// Since when the room has had no member (for expiry).
    pub(crate) idle_since: Option<Instant>,
    /// A drain is spawned and has not run yet.
    drain_pending: bool,
    /// Where drains run: the runtime of the first member that may park
    /// (see [`crate::direct`]), not the publisher's, which may be another.
    drain_runtime: Option<tokio::runtime::Handle>,
    /// The bound of every member's queue (the hub's), which a lossy room
    /// passes to a push over it.
    member_bytes: u32,
}

impl Room {
    /// A room keeping `history_limit` messages, whose members' queues are
    /// bounded at `member_bytes`.
    pub(crate) fn new(history_limit: usize, member_bytes: usize) -> Self {
        Room {
            // A new room, or one this process forgot, starts a new epoch:
            // offsets from before cannot be served, and clients are told so.
            epoch: fastrand::u64(..),
            last: 0,
            history: VecDeque::new(),
            history_limit,
            members: Default::default(),
            lossy: false,
            detached: false,
            seen: HashMap::new(),
            seen_order: VecDeque::new(),
            idle_since: Some(Instant::now()),
            drain_pending: false,
            drain_runtime: None,
            member_bytes: u32::try_from(member_bytes).unwrap_or(u32::MAX),
        }
    }

    pub(crate) fn position(&self) -> Position {
        Position { epoch: self.epoch, offset: self.last }
    }

    pub(crate) fn member_count(&self) -> usize {
        self.members.iter().map(Vec::len).sum()
    }

    fn is_empty(&self) -> bool {
        self.members.iter().all(Vec::is_empty)
    }

    /// The offset a publish id already got, if the room saw it recently.
    pub(crate) fn seen(&self, id: &str) -> Option<u64> {
        self.seen.get(id).copied()
    }

    /// Orders `message` here (the in-process order), keeps it in the
    /// history and queues its frame on every member. Runs under the room's
    /// lock, so every member sees the room's messages in one order.
    pub(crate) fn publish(&mut self, message: Message, id: Option<&str>) -> (Position, FanOut) {
        let fan = self.fan_out(self.last + 1, message, id);
        (self.position(), fan)
    }

    #[cfg(feature = "redis")]
    /// Fans out a message ordered elsewhere (by the backplane) at `at`: a
    /// message already delivered is skipped, one past a hole is refused (the
    /// caller fetches what is missing first), and a new epoch starts the
    /// room afresh, telling `tether.hub.v1` members.
    pub(crate) fn deliver(&mut self, at: Position, message: Message, id: Option<&str>) -> Delivery {
        if self.detached {
            // On a local epoch until `attach` brings the room back.
            return Delivery::Duplicate;
        }
        if at.epoch != self.epoch {
            self.new_epoch(at.epoch, at.offset.saturating_sub(1));
        }
        if at.offset <= self.last {
            return Delivery::Duplicate;
        }
        if at.offset > self.last + 1 {
            return Delivery::Gap { after: self.last };
        }
        Delivery::Done(self.fan_out(at.offset, message, id))
    }

    #[cfg(feature = "redis")]
    /// Starts epoch `epoch` at offset `last`: the history of the old one is
    /// dropped, and `tether.hub.v1` members learn that offsets start over.
    pub(crate) fn new_epoch(&mut self, epoch: u64, last: u64) {
        self.epoch = epoch;
        self.last = last;
        self.history.clear();
        let gap = ServerHeader::Gap { reason: "epoch changed".into(), epoch: epoch_text(epoch), offset: last };
        let frame = protocol::control_frame(&gap);
        for member in &self.members[Framing::V1.list()] {
            let _ = member.queue.push(&frame);
        }
    }

    fn fan_out(&mut self, offset: u64, message: Message, id: Option<&str>) -> FanOut {
        self.last = offset;
        let mut entry = Entry { offset, raw: PreparedMessage::new(&message), v1: None };
        let mut fan = FanOut::default();
        // One clock read per message: every member's frame is timed from it.
        let now = (!self.is_empty()).then(Stamp::now);
        let mut held = false;
        for framing in Framing::ALL {
            let members = &self.members[framing.list()];
            if members.is_empty() {
                continue;
            }
            let frame = entry.frame(framing, self.epoch);
            let lossy = self.lossy.then_some(self.member_bytes);
            for member in members {
                match member.queue.push_at(frame, lossy, now) {
                    Pushed::Held { dropped } => {
                        fan.delivered += 1;
                        fan.bytes += frame.frame().len() as u64;
                        fan.dropped += dropped as u64;
                        held = true;
                    }
                    Pushed::Queued { dropped } => {
                        fan.delivered += 1;
                        fan.bytes += frame.frame().len() as u64;
                        fan.dropped += dropped as u64;
                    }
                    Pushed::Overflowed => fan.overflowed += 1,
                    Pushed::Stopped => {}
                }
            }
        }
        // Set once the loop is through: a panic in it leaves no drain
        // pending that was never spawned.
        if held && !self.drain_pending {
            self.drain_pending = true;
            fan.drain = true;
            fan.drain_on = self.drain_runtime.clone();
        }
        if let Some(id) = id {
            self.remember(id);
        }
        if self.history_limit > 0 {
            if self.history.len() == self.history_limit {
                self.history.pop_front();
            }
            self.history.push_back(entry);
        }
        if self.is_empty() {
            self.idle_since = Some(Instant::now());
        }
        fan
    }

    /// Whether a member served on `runtime` may park: the room's drains
    /// run on the runtime of the first member that may, and a member on
    /// another (several current-thread runtimes sharing a hub) is woken
    /// for its frames, as on a multi-thread runtime.
    pub(crate) fn drain_on(&mut self, runtime: tokio::runtime::Handle) -> bool {
        let id = runtime.id();
        self.drain_runtime.get_or_insert(runtime).id() == id
    }

    /// Sends every parked member the frames held for it (see
    /// [`crate::direct`]).
    pub(crate) fn drain(&mut self, latency: &Latency) -> Drained {
        self.drain_pending = false;
        self.members.iter().flatten().fold(Drained::default(), |sum, member| sum + member.queue.drain(latency))
    }

    fn remember(&mut self, id: &str) {
        if self.seen.contains_key(id) {
            return;
        }
        let limit = self.history_limit.max(1024);
        if self.seen_order.len() == limit {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        let id: Box<str> = id.into();
        self.seen.insert(id.clone(), self.last);
        self.seen_order.push_back(id);
    }

    #[cfg(feature = "redis")]
    /// The backplane went away: the room goes on under a local epoch, so no
    /// offset given now can be mistaken for one of the shared order.
    pub(crate) fn detach(&mut self) {
        if !self.detached {
            self.detached = true;
            self.new_epoch(fastrand::u64(..), 0);
        }
    }

    #[cfg(feature = "redis")]
    /// Takes the backplane's position `at` (on start, or when the link is
    /// back). Returns the last offset delivered here when the messages up
    /// to `at` must be fetched and delivered to catch up.
    pub(crate) fn attach(&mut self, at: Position) -> Option<u64> {
        self.detached = false;
        if at.epoch != self.epoch || at.offset < self.last {
            let fresh = self.last == 0 && self.history.is_empty() && self.is_empty();
            if fresh {
                // A room new to this hub: nothing to tell anyone.
                self.epoch = at.epoch;
                self.last = at.offset;
            } else {
                self.new_epoch(at.epoch, at.offset);
            }
            return None;
        }
        (at.offset > self.last).then_some(self.last)
    }

    /// Adds a member that resumes from `since` with `missed`, what the
    /// backplane holds after it: what this hub delivered already comes from
    /// there or from the local history, what it has not yet delivered will
    /// come live. False when the local history cannot bridge the two (the
    /// caller fetches again).
    pub(crate) fn join_after(
        &mut self,
        member: Arc<Member>,
        framing: Framing,
        since: Position,
        missed: Vec<(u64, Message)>,
    ) -> bool {
        if since.epoch != self.epoch {
            self.join_with_gap(member, framing, "epoch changed");
            return true;
        }
        let covered = missed.last().map_or(since.offset, |(offset, _)| *offset);
        let first_local = self.last + 1 - self.history.len() as u64;
        if covered < self.last && covered + 1 < first_local {
            return false;
        }
        for (offset, message) in missed.into_iter().filter(|(offset, _)| *offset <= self.last) {
            let mut entry = Entry { offset, raw: PreparedMessage::new(&message), v1: None };
            let _ = member.queue.push(entry.frame(framing, self.epoch));
        }
        let epoch = self.epoch;
        for entry in self.history.iter_mut().filter(|e| e.offset > covered) {
            let _ = member.queue.push(entry.frame(framing, epoch));
        }
        self.add(member, framing);
        true
    }

    /// Adds a member whose position cannot be served, telling it why.
    pub(crate) fn join_with_gap(&mut self, member: Arc<Member>, framing: Framing, reason: &str) {
        if framing == Framing::V1 {
            let gap = ServerHeader::Gap { reason: reason.into(), epoch: epoch_text(self.epoch), offset: self.last };
            let _ = member.queue.push(&protocol::control_frame(&gap));
        }
        self.add(member, framing);
    }

    /// Adds a member. With `resume`, first queues what it missed since that
    /// position, or a gap notice when that is gone; a `tether.hub.v1`
    /// member joining afresh is told the room's position. All under the
    /// room's lock: nothing published meanwhile is missed or repeated.
    pub(crate) fn join(&mut self, member: Arc<Member>, framing: Framing, resume: Option<Position>) {
        let epoch = self.epoch;
        match resume.map(|from| self.missed_since(from)) {
            Some(Ok(range)) => {
                for entry in self.history.range_mut(range) {
                    let _ = member.queue.push(entry.frame(framing, epoch));
                }
            }
            Some(Err(reason)) => return self.join_with_gap(member, framing, reason),
            None if framing == Framing::V1 => {
                let joined = ServerHeader::Joined { epoch: epoch_text(epoch), offset: self.last };
                let _ = member.queue.push(&protocol::control_frame(&joined));
            }
            None => {}
        }
        self.add(member, framing);
    }

    /// Where in the history the messages after `from` are, or why they are gone.
    fn missed_since(&self, from: Position) -> Result<std::ops::Range<usize>, &'static str> {
        if from.epoch != self.epoch || from.offset > self.last {
            return Err("epoch changed");
        }
        if from.offset == self.last {
            return Ok(0..0);
        }
        // The history holds consecutive offsets ending at `last`.
        let first = self.last + 1 - self.history.len() as u64;
        if from.offset + 1 < first {
            return Err("history trimmed");
        }
        let start = (from.offset + 1 - first) as usize;
        Ok(start..self.history.len())
    }

    fn add(&mut self, member: Arc<Member>, framing: Framing) {
        let members = &mut self.members[framing.list()];
        // Past `u32::MAX` members the hint is wrong, and leaving searches.
        member.queue.set_slot(members.len() as u32);
        members.push(member);
        self.idle_since = None;
    }

    /// Removes a member, in constant time (the last member takes its
    /// place); true if the room has none left.
    pub(crate) fn leave(&mut self, member: &Member, framing: Framing) -> bool {
        let members = &mut self.members[framing.list()];
        let is_it = |m: &Arc<Member>| std::ptr::eq(&**m, member);
        let hint = member.queue.slot() as usize;
        let at = match members.get(hint) {
            Some(m) if is_it(m) => Some(hint),
            _ => members.iter().position(is_it),
        };
        if let Some(at) = at {
            members.swap_remove(at);
            if let Some(moved) = members.get(at) {
                moved.queue.set_slot(at as u32);
            }
            // A room that shrank a lot lets most of its list go.
            if members.len() < members.capacity() / 4 {
                members.shrink_to(members.len() * 2);
            }
        }
        let empty = self.is_empty();
        if empty {
            self.idle_since = Some(Instant::now());
            // The next members may be served on another runtime (this one
            // shut down): the first of them chooses where drains run.
            self.drain_runtime = None;
        }
        empty
    }
}

#[cfg(test)]
mod tests;
