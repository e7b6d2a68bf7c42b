//! The publish hook: the application's say on each message a member
//! publishes ([`HubConfig::on_publish`](crate::HubConfig::on_publish)).
//! Joins are decided earlier, at the handshake: wrap [`Hub::decide`](crate::Hub::decide)
//! in your own `on_request` to check a token, the origin or the room name.

use std::sync::Arc;

use tether::Message;

use crate::room::Framing;

/// A member's publish, as the publish hook sees it (before it is ordered).
#[derive(Debug)]
#[non_exhaustive]
pub struct PublishAttempt<'a> {
    /// The room it goes to.
    pub room: &'a str,
    /// The member's number on this hub (the one `tracing` events show).
    pub member: u64,
    /// Who the application said the member is when it joined ([`Join::user`](crate::Join::user)).
    pub user: Option<&'a str>,
    /// Raw member or `tether.hub.v1`.
    pub framing: Framing,
    /// The message (for `tether.hub.v1`, the payload, without the header line).
    pub message: &'a Message,
}

impl PublishAttempt<'_> {
    /// The payload's size in bytes.
    pub fn size(&self) -> usize {
        self.message.as_bytes().len()
    }
}

/// The hook's no, with a reason for the member. A `tether.hub.v1` member
/// gets a `refused` envelope with its message id and the reason, and stays;
/// a raw member, which cannot be told otherwise, is closed with 1008 and
/// the reason (cut to 123 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Why, in words fit for the member.
    pub reason: String,
}

impl Refusal {
    /// A refusal saying `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Refusal { reason: reason.into() }
    }
}

type Decide = dyn Fn(&PublishAttempt<'_>) -> Result<(), Refusal> + Send + Sync;

/// A publish hook, shared by the hub's clones.
#[derive(Clone)]
pub struct PublishHook(Arc<Decide>);

impl PublishHook {
    /// Wraps `decide`.
    pub fn new(decide: impl Fn(&PublishAttempt<'_>) -> Result<(), Refusal> + Send + Sync + 'static) -> Self {
        PublishHook(Arc::new(decide))
    }

    /// Asks the hook about `attempt`.
    pub fn check(&self, attempt: &PublishAttempt<'_>) -> Result<(), Refusal> {
        (self.0)(attempt)
    }
}

impl std::fmt::Debug for PublishHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublishHook")
    }
}
