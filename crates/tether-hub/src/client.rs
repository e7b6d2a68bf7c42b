//! The client side of `tether.hub.v1`: a [`Tracker`] follows what a member
//! has seen, so that a reconnect resumes where it left off and shows
//! nothing twice, and what it published that the hub has not acknowledged,
//! so that a reconnect sends it again (the hub orders an id once), with any
//! WebSocket client (tether's reconnecting client: see
//! `Tracker::resume_url` and `Tracker::unacknowledged`).

use tether::Message;

use crate::protocol::{self, epoch_text, parse_epoch, parse_server, ServerHeader};
use crate::Position;

/// What a message from the hub meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A message of the room, not seen before: its payload and position.
    Message(Message, Position),
    /// A publish of ours was ordered at this position (`local`: by the hub
    /// alone, its backplane being away).
    Ack {
        /// Our message id.
        id: String,
        /// Where it was ordered.
        position: Position,
        /// Ordered by the hub alone.
        local: bool,
    },
    /// A publish of ours was refused by the hub (not ordered).
    Refused {
        /// Our message id.
        id: String,
        /// The hub's reason.
        reason: String,
    },
    /// What was missed while away cannot be given: the room's epoch changed
    /// or its history was trimmed. Messages go on from here.
    Gap(String),
    /// A message already seen (resent after a reconnect): shown once only.
    Duplicate,
    /// The hub said where the room stands (on a fresh join).
    Joined,
}

/// Follows a member's position in its room, and its publishes until the
/// hub answers them.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    position: Option<Position>,
    /// Publishes sent and not yet acknowledged or refused, oldest first.
    pending: Vec<Pending>,
    /// Ids given up after [`MAX_RESENDS`] resends with no answer.
    abandoned: Vec<String>,
}

/// A publish waiting for the hub's answer.
#[derive(Debug, Clone)]
struct Pending {
    id: String,
    envelope: Message,
    /// Times it was handed out as the oldest unanswered publish.
    resent: u8,
}

/// Hand-outs of the oldest unanswered publish before it is given up: a
/// publish the hub answers by closing the connection (too large: 1009, too
/// fast: 1008) gets no `ack`, and resending it for ever would block every
/// later one.
pub const MAX_RESENDS: u8 = 3;

impl Tracker {
    /// A tracker for a member that has seen nothing yet.
    pub fn new() -> Self {
        Tracker::default()
    }

    /// The position of the last message seen.
    pub fn position(&self) -> Option<Position> {
        self.position
    }

    /// The envelope that publishes `payload` with `id` (unique to this
    /// client), kept until the hub acknowledges or refuses it.
    pub fn publish(&mut self, id: &str, payload: &Message) -> Message {
        let envelope = protocol::publish(id, payload);
        self.pending.push(Pending { id: id.to_owned(), envelope: envelope.clone(), resent: 0 });
        envelope
    }

    /// The publishes the hub has not answered, oldest first: to send again
    /// first thing after a reconnect (a hub that already ordered one
    /// acknowledges it again without ordering it twice, within its memory
    /// of recent ids: at least 1,024 a room). For tether's reconnecting
    /// client, from its `on_connect` hook, which then is the only resend
    /// path: give it no outbox, or a line typed while away goes twice.
    ///
    /// The hub answers a member's publishes in order, so only the oldest
    /// can be one it answers by closing the connection (too large, too
    /// fast); the ones behind it were never read. So only the oldest counts
    /// its hand-outs, and after [`MAX_RESENDS`] it is given up, unconfirmed
    /// ([`take_abandoned`](Self::take_abandoned) names it; it may still
    /// have been ordered, if the connections were lost for another reason
    /// before its answer came).
    pub fn unacknowledged(&mut self) -> Vec<Message> {
        if self.pending.first().is_some_and(|p| p.resent >= MAX_RESENDS) {
            let given_up = self.pending.remove(0);
            self.abandoned.push(given_up.id);
        }
        if let Some(oldest) = self.pending.first_mut() {
            oldest.resent += 1;
        }
        self.pending.iter().map(|p| p.envelope.clone()).collect()
    }

    /// How many publishes wait for the hub's answer.
    pub fn unanswered(&self) -> usize {
        self.pending.len()
    }

    /// The ids of publishes given up since the last call (see
    /// [`unacknowledged`](Self::unacknowledged)).
    pub fn take_abandoned(&mut self) -> Vec<String> {
        std::mem::take(&mut self.abandoned)
    }

    fn answered(&mut self, id: &str) {
        if let Some(at) = self.pending.iter().position(|p| p.id == id) {
            self.pending.remove(at);
        }
    }

    /// Reads a message from the hub.
    pub fn receive(&mut self, message: Message) -> Result<Received, &'static str> {
        let (header, payload) = parse_server(message)?;
        let at = |epoch: &str, offset| parse_epoch(epoch).map(|epoch| Position { epoch, offset }).ok_or("bad epoch");
        Ok(match header {
            ServerHeader::Message { epoch, offset } => {
                let position = at(&epoch, offset)?;
                match self.position {
                    Some(seen) if seen.epoch == position.epoch && offset <= seen.offset => Received::Duplicate,
                    _ => {
                        self.position = Some(position);
                        Received::Message(payload, position)
                    }
                }
            }
            ServerHeader::Ack { id, epoch, offset, local } => {
                self.answered(&id);
                Received::Ack { id, position: at(&epoch, offset)?, local }
            }
            ServerHeader::Refused { id, reason } => {
                self.answered(&id);
                Received::Refused { id, reason }
            }
            ServerHeader::Gap { reason, epoch, offset } => {
                self.position = Some(at(&epoch, offset)?);
                Received::Gap(reason)
            }
            ServerHeader::Joined { epoch, offset } => {
                let position = at(&epoch, offset)?;
                if self.position.is_none_or(|seen| seen.epoch != position.epoch) {
                    self.position = Some(position);
                }
                Received::Joined
            }
        })
    }

    /// `url` with `since=` set to the last position seen (as is, before any
    /// message): the URL to reconnect with.
    pub fn resume_url(&self, url: &str) -> String {
        let Some(position) = self.position else { return url.to_owned() };
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with("since=")).collect();
        let since = format!("since={}:{}", epoch_text(position.epoch), position.offset);
        pairs.push(&since);
        format!("{base}?{}", pairs.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(epoch: &str, offset: u64, body: &str) -> Message {
        Message::text(format!("{{\"type\":\"message\",\"epoch\":\"{epoch}\",\"offset\":{offset}}}\n{body}"))
    }

    #[test]
    fn a_tracker_resumes_after_the_last_message_and_drops_repeats() {
        let e = "00000000000000aa";
        let mut t = Tracker::new();
        assert_eq!(t.resume_url("ws://h/rooms/a"), "ws://h/rooms/a");
        let first = t.receive(message(e, 1, "one")).unwrap();
        assert_eq!(first, Received::Message(Message::text("one"), Position { epoch: 0xaa, offset: 1 }));
        assert!(matches!(t.receive(message(e, 2, "two")).unwrap(), Received::Message(..)));
        assert_eq!(t.receive(message(e, 2, "two")).unwrap(), Received::Duplicate);
        assert_eq!(t.resume_url("ws://h/rooms/a?x=1&since=1:1"), format!("ws://h/rooms/a?x=1&since={e}:2"));
        let gap = Message::text(
            "{\"type\":\"gap\",\"reason\":\"epoch changed\",\"epoch\":\"00000000000000bb\",\"offset\":7}\n",
        );
        assert_eq!(t.receive(gap).unwrap(), Received::Gap("epoch changed".into()));
        assert!(t.resume_url("ws://h/rooms/a").ends_with("since=00000000000000bb:7"));
    }

    #[test]
    fn publishes_wait_for_their_answer_and_are_sent_again_until_then() {
        let mut t = Tracker::new();
        let first = t.publish("c-1", &Message::text("one"));
        let second = t.publish("c-2", &Message::binary(vec![2]));
        let third = t.publish("c-3", &Message::text("three"));
        assert!(matches!((&first, &second), (Message::Text(_), Message::Binary(_))));
        assert_eq!(t.unacknowledged(), vec![first.clone(), second.clone(), third.clone()]);
        let ack = Message::text("{\"type\":\"ack\",\"id\":\"c-2\",\"epoch\":\"00000000000000aa\",\"offset\":4}\n");
        assert!(matches!(t.receive(ack).unwrap(), Received::Ack { .. }));
        assert_eq!(t.unacknowledged(), vec![first, third.clone()], "in order, the answered one gone");
        let refused = Message::text("{\"type\":\"refused\",\"id\":\"c-1\",\"reason\":\"no\"}\n");
        assert!(matches!(t.receive(refused).unwrap(), Received::Refused { .. }));
        // c-3 is the oldest now, never answered (as when the hub closes on
        // it): handed out MAX_RESENDS times as the oldest, then given up,
        // and c-4 behind it, never read by the hub, is not.
        assert_eq!(MAX_RESENDS, 3);
        let fourth = t.publish("c-4", &Message::text("four"));
        for _ in 0..MAX_RESENDS {
            assert_eq!(t.unacknowledged(), vec![third.clone(), fourth.clone()]);
        }
        assert!(t.take_abandoned().is_empty());
        assert_eq!(t.unacknowledged(), vec![fourth.clone()]);
        assert_eq!(t.take_abandoned(), ["c-3"]);
        assert_eq!(t.unacknowledged(), vec![fourth]);
    }
}
