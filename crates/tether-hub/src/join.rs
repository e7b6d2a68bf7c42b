//! [`Join`]: what an upgrade request asks of the hub — the room (from the
//! path `/rooms/NAME`), the framing (raw, or the `tether.hub.v1`
//! subprotocol) and where to resume (the query `since=EPOCH:OFFSET`) — and
//! [`Hub::decide`], which accepts or refuses it during the handshake.

use http::StatusCode;
use tether::{Accept, CloseCode, Reject, Request};

use crate::protocol::{parse_epoch, PROTOCOL};
use crate::room::Framing;
use crate::{Hub, Position};

/// The path prefix of rooms: a WebSocket to `/rooms/NAME` joins room NAME.
pub const ROOMS_PATH: &str = "/rooms/";

/// The longest room name.
const MAX_ROOM_NAME: usize = 100;

/// A member's request: which room, how framed, from where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Join {
    /// The room's name.
    pub room: String,
    /// Raw payloads or `tether.hub.v1` envelopes.
    pub framing: Framing,
    /// The position of the last message the client saw, to receive what it
    /// missed since (`since=EPOCH:OFFSET` in the query).
    pub resume: Option<Position>,
    /// Who the member is, as the application established it (a token it
    /// checked at the handshake, say): `None` from [`Join::parse`]; set it
    /// before [`Hub::serve_join`] to show it to the publish hook
    /// ([`PublishAttempt::user`](crate::PublishAttempt::user)).
    pub user: Option<String>,
}

impl Join {
    /// Reads a request's path, query and agreed subprotocol. The reason of
    /// an error is fit to show to the client.
    pub fn parse(path: &str, query: Option<&str>, protocol: Option<&str>) -> Result<Join, String> {
        let room =
            path.strip_prefix(ROOMS_PATH).ok_or_else(|| format!("no room here: rooms are at {ROOMS_PATH}NAME"))?;
        let valid = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
        if room.is_empty() || room.len() > MAX_ROOM_NAME || !room.chars().all(valid) {
            return Err(format!("bad room name {room:?}: 1 to {MAX_ROOM_NAME} of A-Z a-z 0-9 - _ . :"));
        }
        let mut resume = None;
        for pair in query.unwrap_or_default().split('&') {
            if let Some(value) = pair.strip_prefix("since=") {
                resume = Some(parse_position(value).ok_or_else(|| format!("bad since={value}: EPOCH:OFFSET"))?);
            }
        }
        let framing = if protocol == Some(PROTOCOL) { Framing::V1 } else { Framing::Raw };
        Ok(Join { room: room.to_owned(), framing, resume, user: None })
    }
}

/// `EPOCH:OFFSET`, as `tether.hub.v1` headers give them.
fn parse_position(text: &str) -> Option<Position> {
    let (epoch, offset) = text.split_once(':')?;
    Some(Position { epoch: parse_epoch(epoch)?, offset: offset.parse().ok()? })
}

impl Hub {
    /// Accepts an upgrade to a room (choosing `tether.hub.v1` when the
    /// client offers it, and compression per [`HubConfig::deflate`](crate::HubConfig::deflate))
    /// or refuses it with 404 (not a room) or 400 (a bad name or position);
    /// for [`tether::Server::on_request`]. To check a
    /// token or the origin first, call it from your own function. With the
    /// default [`MemberLimits::too_big_code`](crate::MemberLimits::too_big_code)
    /// (1009, the protocol's own), a message over
    /// [`MemberLimits::max_message`](crate::MemberLimits::max_message) is
    /// refused as its frame header arrives ([`Accept::max_message_size`]),
    /// not read whole first.
    pub fn decide(&self, request: &Request) -> Result<Accept, Reject> {
        let uri = request.head().uri();
        if let Err(reason) = Join::parse(uri.path(), uri.query(), None) {
            let status =
                if uri.path().starts_with(ROOMS_PATH) { StatusCode::BAD_REQUEST } else { StatusCode::NOT_FOUND };
            return Err(Reject::new(status, reason));
        }
        let v1 = request.protocols().iter().any(|p| p == PROTOCOL);
        let config = &self.shared.config;
        let accept = Accept::new().protocol(v1.then(|| PROTOCOL.to_owned())).deflate(config.deflate);
        // With another code, the session refuses the message once it is whole.
        let early = config.member.too_big_code == CloseCode::MESSAGE_TOO_BIG;
        Ok(if early { accept.max_message_size(config.member.max_message) } else { accept })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_positions_and_framing_come_from_the_request() {
        let join = Join::parse("/rooms/lobby", Some("since=00000000000000ff:12&x=1"), Some(PROTOCOL)).unwrap();
        assert_eq!(join.room, "lobby");
        assert_eq!(join.framing, Framing::V1);
        assert_eq!(join.resume, Some(Position { epoch: 255, offset: 12 }));
        assert_eq!(Join::parse("/rooms/a", None, None).unwrap().framing, Framing::Raw);
        for (path, query) in [("/chat", None), ("/rooms/", None), ("/rooms/a b", None), ("/rooms/a", Some("since=1:2"))]
        {
            assert!(Join::parse(path, query, None).is_err(), "{path} {query:?}");
        }
    }
}
