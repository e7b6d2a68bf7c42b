//! The [`Backplane`] a hub orders its rooms' messages through when it
//! shares them with other hubs. Without one, a hub orders its rooms itself
//! (the in-process backplane, built into [`Room`](crate::room)). The Redis
//! implementation lives in the `redis` module (feature `redis`).

use futures_util::future::BoxFuture;
use tether::Message;

use crate::{Position, Published};

/// A message of a room's shared history: its offset and its payload.
pub(crate) type Logged = (u64, Message);

/// What a hub asks of a shared backplane. Deliveries flow the other way:
/// the backplane hands each ordered message to the hub's rooms itself.
pub(crate) trait Backplane: Send + Sync + std::fmt::Debug {
    /// Orders a message; `None` when the backplane is away (the hub then
    /// orders it locally, under the room's local epoch).
    fn publish<'a>(
        &'a self,
        room: &'a str,
        message: &'a Message,
        id: Option<&'a str>,
    ) -> BoxFuture<'a, Option<Published>>;

    /// Starts receiving `room`'s messages (returns once they flow, or at
    /// once while the backplane is away).
    fn watch<'a>(&'a self, room: &'a str) -> BoxFuture<'a, ()>;

    /// What a member that saw `since` missed, or why that is gone
    /// (`"epoch changed"`, `"history trimmed"`, `"history unavailable"`).
    fn missed<'a>(&'a self, room: &'a str, since: Position) -> BoxFuture<'a, Result<Vec<Logged>, &'static str>>;

    /// The members of `room` on every hub, if the backplane can tell now;
    /// `ours` (this hub's count now) is recorded on the way, so the total
    /// is up to date for this hub at least.
    fn total_members<'a>(&'a self, room: &'a str, ours: usize) -> BoxFuture<'a, Option<usize>>;

    /// The total last read for `room` and this hub's count then, without
    /// asking the backplane (for synchronous callers).
    fn known_total(&self, room: &str) -> Option<(usize, usize)>;

    /// Whether the backplane works now.
    fn is_up(&self) -> bool;
}
