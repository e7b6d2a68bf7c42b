//! [`PreparedMessage`]: a message framed once, to be queued on many server
//! connections without a copy (fan-out to the members of a room).
//!
//! A server's frames are not masked, so the same bytes are a valid frame on
//! every connection: the header and payload are encoded here once, and each
//! connection's queue takes a reference to them ([`Connection::send_prepared`](crate::Connection::send_prepared)).

use bytes::{BufMut, Bytes, BytesMut};

use crate::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::{Message, Utf8Bytes};

/// A data message encoded as one unmasked, uncompressed frame. Cloning it
/// clones a reference, not the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedMessage {
    frame: Bytes,
    payload_len: usize,
    text: bool,
}

impl PreparedMessage {
    /// Frames `message` (a single frame, FIN set, no RSV bits).
    pub fn new(message: &Message) -> Self {
        let (opcode, payload) = match message {
            Message::Text(t) => (OpCode::Text, t.as_bytes()),
            Message::Binary(b) => (OpCode::Binary, &b[..]),
        };
        Self::from_parts(opcode, payload)
    }

    /// Frames a payload with its opcode (`Text` payloads must be UTF-8: the
    /// caller checked, as [`Message::text`] does).
    pub(crate) fn from_parts(opcode: OpCode, payload: &[u8]) -> Self {
        let header = FrameHeader { fin: true, rsv: 0, opcode, mask: None, payload_len: payload.len() as u64 };
        let mut head = [0u8; MAX_HEADER_LEN];
        let head_len = header.encode(&mut head);
        let mut frame = BytesMut::with_capacity(head_len + payload.len());
        frame.put_slice(&head[..head_len]);
        frame.put_slice(payload);
        PreparedMessage { frame: frame.freeze(), payload_len: payload.len(), text: opcode == OpCode::Text }
    }

    /// Frames a text message built from a header line and a payload in one
    /// pass, without an intermediate copy of the payload (for envelopes).
    pub fn from_concat(opcode: OpCode, head: &[u8], payload: &[u8]) -> Self {
        let len = head.len() + payload.len();
        let header = FrameHeader { fin: true, rsv: 0, opcode, mask: None, payload_len: len as u64 };
        let mut frame_head = [0u8; MAX_HEADER_LEN];
        let head_len = header.encode(&mut frame_head);
        let mut frame = BytesMut::with_capacity(head_len + len);
        frame.put_slice(&frame_head[..head_len]);
        frame.put_slice(head);
        frame.put_slice(payload);
        PreparedMessage { frame: frame.freeze(), payload_len: len, text: opcode == OpCode::Text }
    }

    /// The encoded frame, header included.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }

    /// The message again, its payload a slice of the frame (no copy): what
    /// keeps it keeps only the frame, not the buffer it was read into.
    pub fn message(&self) -> Message {
        let payload = self.frame.slice(self.frame.len() - self.payload_len..);
        if self.text {
            // Framed from a text message or a UTF-8 header and text payload.
            Message::Text(Utf8Bytes::from_validated(payload))
        } else {
            Message::Binary(payload)
        }
    }

    /// The length of the message's payload.
    pub fn payload_len(&self) -> usize {
        self.payload_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Connection, Event, Role, SendError};

    #[test]
    fn a_prepared_frame_is_a_plain_server_frame() {
        let text = PreparedMessage::new(&Message::text("hi"));
        assert_eq!(&text.frame()[..], &[0x81, 2, b'h', b'i']);
        let big = PreparedMessage::new(&Message::binary(vec![7u8; 300]));
        assert_eq!(&big.frame()[..4], &[0x82, 126, 1, 44]);
        assert_eq!(big.payload_len(), 300);
        assert_eq!(big.message(), Message::binary(vec![7u8; 300]));
        assert_eq!(text.message(), Message::text("hi"));
        let joined = PreparedMessage::from_concat(OpCode::Text, b"{}\n", b"x");
        assert_eq!(&joined.frame()[..], &[0x81, 4, b'{', b'}', b'\n', b'x']);
    }

    /// One prepared message on two server connections: each reader gets it,
    /// and a large payload is queued by reference, not copied.
    #[test]
    fn one_prepared_message_serves_many_connections() {
        let big = PreparedMessage::new(&Message::binary(vec![9u8; 10_000]));
        let small = PreparedMessage::new(&Message::text("hello"));
        for _ in 0..2 {
            let mut server = Connection::new(Role::Server, Config::default());
            server.send_prepared(&small).unwrap();
            server.send_prepared(&big).unwrap();
            let mut slices = [std::io::IoSlice::new(&[]); 4];
            let out = server.output();
            let n = out.io_slices(&mut slices);
            assert!(slices[..n].iter().any(|s| s.as_ptr() == big.frame().as_ptr()), "queued by reference");
            let mut wire: BytesMut = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
            let mut client = Connection::new(Role::Client, Config::default());
            assert_eq!(client.read_event(&mut wire).unwrap(), Some(Event::Message(Message::text("hello"))));
            assert_eq!(client.read_event(&mut wire).unwrap(), Some(Event::Message(Message::binary(vec![9u8; 10_000]))));
        }
        let mut client = Connection::new(Role::Client, Config::default());
        assert_eq!(client.send_prepared(&small), Err(SendError::PreparedOnClient));
    }
}
