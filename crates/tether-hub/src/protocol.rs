//! The `tether.hub.v1` subprotocol: a one-line JSON header before each
//! payload, so a client learns every message's offset, gets its publishes
//! acknowledged and can resume where it left off. Specified in
//! `docs/hub-protocol.md`.
//!
//! A frame keeps the opcode of its payload (text stays text, binary stays
//! binary); its payload is the header, a `\n`, then the message's bytes, so
//! binary messages travel without base64.

use serde::{Deserialize, Serialize};
use tether::proto::frame::OpCode;
use tether::{Message, PreparedMessage};

use crate::Position;

/// The subprotocol's name, as offered in `Sec-WebSocket-Protocol`.
pub const PROTOCOL: &str = "tether.hub.v1";

/// What the hub tells a `tether.hub.v1` client, in the header line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerHeader {
    /// A message of the room; the payload follows the header.
    Message {
        /// The room's epoch: offsets compare only within one epoch.
        epoch: String,
        /// The message's place in the room's order.
        offset: u64,
    },
    /// A publish of this client was ordered (or was a retry of one that was).
    Ack {
        /// The client's message id.
        id: String,
        /// The room's epoch.
        epoch: String,
        /// The offset the message got.
        offset: u64,
        /// Ordered by this hub alone while its backplane is away: members
        /// on other hubs do not get it (absent when false).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        local: bool,
    },
    /// The position the client asked to resume from cannot be served: what
    /// it missed is gone. Live messages follow from the position given.
    Gap {
        /// Why: `"epoch changed"` or `"history trimmed"`.
        reason: String,
        /// The room's epoch now.
        epoch: String,
        /// The last offset ordered in the room now (the next message has this + 1).
        offset: u64,
    },
    /// A publish of this client was refused by the hub's publish hook: not
    /// ordered, not delivered. The member stays.
    Refused {
        /// The client's message id.
        id: String,
        /// Why, as the hook said.
        reason: String,
    },
    /// The room's position when the client joined without resuming.
    Joined {
        /// The room's epoch.
        epoch: String,
        /// The last offset ordered in the room.
        offset: u64,
    },
}

/// What a `tether.hub.v1` client sends in the header line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientHeader {
    /// Publish the payload that follows to the room; `id` makes retries safe.
    Publish {
        /// The client's id for this message, unique per client (a random
        /// prefix and a counter will do). A second publish with an id the
        /// room has seen is acknowledged again, not published again.
        id: String,
    },
}

/// An epoch as clients see it: 16 hex digits.
pub fn epoch_text(epoch: u64) -> String {
    format!("{epoch:016x}")
}

/// Parses what [`epoch_text`] wrote.
pub fn parse_epoch(text: &str) -> Option<u64> {
    (text.len() == 16).then(|| u64::from_str_radix(text, 16).ok()).flatten()
}

/// Frames a room message for `tether.hub.v1` clients.
pub(crate) fn message_frame(position: Position, message: &Message) -> PreparedMessage {
    let header = ServerHeader::Message { epoch: epoch_text(position.epoch), offset: position.offset };
    framed(&header, message)
}

/// Frames a control line (ack, gap, joined): a text message with no payload.
pub(crate) fn control_frame(header: &ServerHeader) -> PreparedMessage {
    framed(header, &Message::text(""))
}

fn framed(header: &ServerHeader, message: &Message) -> PreparedMessage {
    // Serialising these enums cannot fail: strings and integers only.
    let mut line = serde_json::to_vec(header).unwrap_or_default();
    line.push(b'\n');
    let (opcode, payload) = match message {
        Message::Text(t) => (OpCode::Text, t.as_bytes()),
        Message::Binary(b) => (OpCode::Binary, &b[..]),
    };
    PreparedMessage::from_concat(opcode, &line, payload)
}

/// Splits a client's message into its header and payload.
pub(crate) fn parse_client(message: Message) -> Result<(ClientHeader, Message), &'static str> {
    split(message)
}

/// Splits a message of the hub into its header and payload (the client side).
pub fn parse_server(message: Message) -> Result<(ServerHeader, Message), &'static str> {
    split(message)
}

/// Frames a publish for the hub: the header line with `id`, then the payload.
pub fn publish(id: &str, payload: &Message) -> Message {
    let header = ClientHeader::Publish { id: id.to_owned() };
    let mut bytes = serde_json::to_vec(&header).unwrap_or_default();
    bytes.push(b'\n');
    bytes.extend_from_slice(payload.as_bytes());
    match payload {
        // A header line and UTF-8 text make UTF-8 text.
        Message::Text(_) => Message::Text(
            tether::Utf8Bytes::try_from_bytes(bytes.into()).unwrap_or_else(|_| tether::Utf8Bytes::from_static("")),
        ),
        Message::Binary(_) => Message::Binary(bytes.into()),
    }
}

fn split<H: serde::de::DeserializeOwned>(message: Message) -> Result<(H, Message), &'static str> {
    let text = matches!(message, Message::Text(_));
    let bytes = message.into_bytes();
    let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
        return Err("no header line");
    };
    let header: H = serde_json::from_slice(&bytes[..end]).map_err(|_| "bad header line")?;
    let body = bytes.slice(end + 1..);
    let payload = if text {
        // The whole frame was valid UTF-8, so is the part after the newline.
        Message::Text(tether::Utf8Bytes::try_from_bytes(body).map_err(|_| "bad UTF-8")?)
    } else {
        Message::Binary(body)
    };
    Ok((header, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_frame_is_a_header_line_then_the_payload() {
        let frame = message_frame(Position { epoch: 0xab, offset: 7 }, &Message::binary(vec![0, 1, 2]));
        let bytes = &frame.frame()[..];
        assert_eq!(bytes[0], 0x82, "binary stays binary");
        let body = &bytes[2..];
        assert_eq!(body, b"{\"type\":\"message\",\"epoch\":\"00000000000000ab\",\"offset\":7}\n\x00\x01\x02");
    }

    #[test]
    fn client_publishes_parse_and_keep_their_kind() {
        let (header, payload) = parse_client(Message::text("{\"type\":\"publish\",\"id\":\"a1\"}\nhello")).unwrap();
        assert_eq!(header, ClientHeader::Publish { id: "a1".into() });
        assert_eq!(payload, Message::text("hello"));
        let (_, payload) = parse_client(Message::binary(&b"{\"type\":\"publish\",\"id\":\"b\"}\n\xff"[..])).unwrap();
        assert_eq!(payload, Message::binary(&b"\xff"[..]));
        assert!(parse_client(Message::text("no header")).is_err());
        assert!(parse_client(Message::text("{\"type\":\"subscribe\"}\n")).is_err());
    }

    #[test]
    fn epochs_round_trip_as_text() {
        assert_eq!(parse_epoch(&epoch_text(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_epoch("12"), None);
    }
}
