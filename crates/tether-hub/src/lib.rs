//! Rooms and fan-out for [tether] WebSocket servers.
//!
//! A [`Hub`] holds rooms by name. A WebSocket to `/rooms/NAME` joins room
//! NAME ([`Hub::serve`]); every message a member sends goes to every member
//! of the room, the sender included, text as text and binary as binary, and
//! application code publishes with [`Hub::publish`] without being a member.
//!
//! # Fan-out
//!
//! A published message is framed once ([`tether::PreparedMessage`]): every
//! member's queue takes a reference to the same bytes. Each member's queue
//! is bounded in bytes ([`MemberLimits`]); a member that does not keep up is
//! closed (1013 by default), or in a lossy room ([`Hub::set_lossy`]) loses
//! its oldest undelivered messages, so one slow member never slows its room
//! or grows memory without bound. Members that publish too much or too
//! large are closed (1008, 1009).
//!
//! On a current-thread runtime on Linux, members whose connections are
//! plain TCP (no TLS, no compression) and have nothing left to write are
//! not woken for their frames: a task per room sends each of them, straight
//! to its socket, everything published to the room since it last ran, in
//! one write per 64 frames; what a socket does not take goes back to the
//! member's own task.
//!
//! # Order, history and resume
//!
//! Every message of a room gets the next offset under the room's lock, so
//! all members see one order. The last [`HubConfig::history`] messages are
//! kept; a client that reconnects with the [`Position`] of the last message
//! it saw (`?since=EPOCH:OFFSET`) receives exactly what it missed, or, with
//! the `tether.hub.v1` subprotocol ([`protocol`]), a `gap` notice when that
//! is gone (the room's epoch changed, or the history was trimmed).
//!
//! # Delivery contract
//!
//! - `tether.hub.v1` clients: each message carries its epoch and offset; a
//!   publish carries a client id and is acknowledged with its offset once
//!   ordered. A publish retried with the same id (after a reconnect) is
//!   acknowledged again, not ordered twice, while the room remembers the id
//!   (at least its last 1,024 ids). Resuming from the last offset seen gives
//!   every message of the epoch once, in order, or an explicit gap.
//! - Raw clients: at-most-once delivery of each message published while
//!   they are members, no acknowledgement.
//!
//! # Several processes
//!
//! With the `redis` feature, `Hub::with_redis` shares rooms with every
//! hub on the same Redis: Redis orders each room's messages (one Lua script
//! per publish: offset, stream entry, announcement), every hub fans out what
//! is announced, and the room's history lives in a Redis stream. While
//! Redis is away, rooms go on locally under a local epoch.
// `unsafe` only in `direct`: a room's drain's `sendmsg` to members' sockets
// (bench/RESULTS.md, "Members not woken for their frames", has what it buys).
#![deny(unsafe_code)]

mod access;
mod backplane;
pub mod client;
mod config;
mod direct;
mod hub;
mod join;
mod latency;
mod member;
pub mod protocol;
#[cfg(feature = "redis")]
mod redis;
mod room;
mod session;

pub use access::{PublishAttempt, PublishHook, Refusal};
pub use config::{HubConfig, MemberLimits};
pub use hub::{Hub, HubStats};
pub use join::{Join, ROOMS_PATH};
pub use latency::{LatencyHistogram, LATENCY_BOUNDS};
#[cfg(feature = "redis")]
pub use redis::{RedisOptions, MEMBER_COUNT_TTL};
pub use room::Framing;

/// What a publish became: its position, and whether it is in the shared
/// order or only in this hub's (while the backplane is away).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// Where the message stands in its room.
    pub position: Position,
    /// Ordered by this hub alone: the backplane was away, so members on
    /// other hubs do not get it, and its epoch is this hub's own.
    pub local: bool,
    /// A retry of a publish the room had ordered already (same id): not
    /// ordered again; `position` is the first one's.
    pub duplicate: bool,
}

/// Where a message stands in its room: the room's epoch (which changes
/// when its history was lost) and the message's offset (1 for the first
/// message of an epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    /// The room's epoch: offsets compare only within one epoch.
    pub epoch: u64,
    /// The message's offset; 0 before the first message.
    pub offset: u64,
}
