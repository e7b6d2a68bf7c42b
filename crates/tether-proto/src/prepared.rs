//! [`PreparedMessage`]: a message framed once, to be queued on many server
//! connections without a copy (fan-out to the members of a room).
//!
//! A server's frames are not masked, so the same bytes are a valid frame on
//! every connection: the header and payload are encoded here once, and each
//! connection's queue takes a reference to them ([`Connection::send_prepared`](crate::Connection::send_prepared)).
//!
//! # With permessage-deflate
//!
//! A connection whose server side resets its compressor after every
//! message (`server_no_context_takeover`, which a server may always add to
//! its answer) can be sent a frame compressed alone, on a fresh window: the
//! peer inflates it whatever came before. Such frames are built on first
//! need, once per window size and level, and shared by every clone, so
//! members with the same parameters share one compressed frame and none of
//! them holds a compressor. A connection that keeps its compression context
//! gets the plain frame: a frame it did not compress itself would put its
//! compressor's window out of step with its peer's.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::{BufMut, Bytes, BytesMut};

use crate::frame::{FrameHeader, OpCode, MAX_HEADER_LEN, RSV1};
use crate::{Message, Utf8Bytes};

/// A data message encoded as one unmasked, uncompressed frame, and, built
/// when first needed, compressed frames of it (see the module docs).
/// Cloning it clones one reference, not the bytes: a fan-out queues a clone
/// per member, so a clone is one pointer and one reference count.
#[derive(Clone, Debug)]
pub struct PreparedMessage {
    shared: Arc<Shared>,
}

/// What the clones of a [`PreparedMessage`] share.
#[derive(Debug)]
struct Shared {
    frame: Bytes,
    payload_len: usize,
    text: bool,
    /// The compressed frames built so far.
    deflated: Mutex<Vec<Deflated>>,
}

/// One compressed variant: its settings, and the frame (`None`: it would
/// not be smaller than the plain one, or zlib failed; send the plain one).
#[derive(Debug)]
struct Deflated {
    window_bits: u8,
    level: u32,
    frame: Option<Bytes>,
}

impl PartialEq for PreparedMessage {
    fn eq(&self, other: &Self) -> bool {
        self.shared.frame == other.shared.frame
    }
}

impl Eq for PreparedMessage {}

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
        PreparedMessage::from_frame(frame.freeze(), payload.len(), opcode)
    }

    fn from_frame(frame: Bytes, payload_len: usize, opcode: OpCode) -> Self {
        let shared = Shared { frame, payload_len, text: opcode == OpCode::Text, deflated: Mutex::default() };
        PreparedMessage { shared: Arc::new(shared) }
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
        PreparedMessage::from_frame(frame.freeze(), len, opcode)
    }

    /// The encoded frame, header included.
    pub fn frame(&self) -> &Bytes {
        &self.shared.frame
    }

    /// The message again, its payload a slice of the frame (no copy): what
    /// keeps it keeps only the frame, not the buffer it was read into.
    pub fn message(&self) -> Message {
        let Shared { frame, payload_len, text, .. } = &*self.shared;
        let payload = frame.slice(frame.len() - payload_len..);
        if *text {
            // Framed from a text message or a UTF-8 header and text payload.
            Message::Text(Utf8Bytes::from_validated(payload))
        } else {
            Message::Binary(payload)
        }
    }

    /// The length of the message's payload.
    pub fn payload_len(&self) -> usize {
        self.shared.payload_len
    }

    /// The payload, without the frame header.
    fn payload(&self) -> &[u8] {
        let Shared { frame, payload_len, .. } = &*self.shared;
        &frame[frame.len() - payload_len..]
    }

    /// The frame compressed alone with `window_bits` at `level` (RSV1 set),
    /// built on the first call for these settings and shared afterwards;
    /// `None` when compression would not make it smaller.
    pub(crate) fn deflated(&self, window_bits: u8, level: u32) -> Option<Bytes> {
        // Held while compressing: members that want the same variant wait
        // for it rather than compress it again.
        let mut built = self.shared.deflated.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(d) = built.iter().find(|d| d.window_bits == window_bits && d.level == level) {
            return d.frame.clone();
        }
        let frame = crate::deflate::compress_alone(self.payload(), level, window_bits)
            .filter(|packed| packed.len() < self.payload_len())
            .map(|packed| {
                let opcode = if self.shared.text { OpCode::Text } else { OpCode::Binary };
                let header = FrameHeader { fin: true, rsv: RSV1, opcode, mask: None, payload_len: packed.len() as u64 };
                let mut head = [0u8; MAX_HEADER_LEN];
                let head_len = header.encode(&mut head);
                let mut frame = BytesMut::with_capacity(head_len + packed.len());
                frame.put_slice(&head[..head_len]);
                frame.put_slice(&packed);
                frame.freeze()
            });
        built.push(Deflated { window_bits, level, frame: frame.clone() });
        frame
    }

    /// How many compressed variants were built (one per distinct window
    /// size and level among the connections it was sent on): the cost of
    /// compression for this message, whatever the number of connections.
    pub fn compressed_variants(&self) -> usize {
        self.shared.deflated.lock().unwrap_or_else(PoisonError::into_inner).len()
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

    /// What is left of a frame whose start another writer sent: the reader
    /// sees one whole message once both parts arrive; nothing is queued
    /// when all of it was sent, and nothing on a connection that closed.
    #[test]
    fn the_rest_of_a_frame_completes_what_another_writer_began() {
        let message = PreparedMessage::new(&Message::binary(vec![5u8; 300]));
        let mut server = Connection::new(Role::Server, Config::default());
        server.send_prepared_rest(&message, 10).unwrap();
        let mut sent = BytesMut::from(&message.frame()[..10]);
        sent.extend_from_slice(&wire(&mut server));
        let mut client = Connection::new(Role::Client, Config::default());
        assert_eq!(client.read_event(&mut sent).unwrap(), Some(Event::Message(Message::binary(vec![5u8; 300]))));
        server.send_prepared_rest(&message, message.frame().len()).unwrap();
        assert_eq!(server.buffered(), 0, "all of it was sent");
        server.send_close(None).unwrap();
        assert_eq!(server.send_prepared_rest(&message, 10), Err(SendError::Closed));
    }

    fn wire(conn: &mut Connection) -> BytesMut {
        let mut slices = [std::io::IoSlice::new(&[]); 8];
        let out = conn.output();
        let n = out.io_slices(&mut slices);
        let bytes: BytesMut = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
        out.advance(bytes.len());
        bytes
    }

    /// Five connections, two window sizes among them: two compressions,
    /// every peer inflates its frame, and no server connection keeps a
    /// compressor. A connection that keeps its context gets the plain frame.
    #[test]
    #[cfg_attr(miri, ignore = "eleven compressors through zlib: too slow under Miri; runs natively")]
    fn a_prepared_message_is_compressed_once_per_window_size() {
        use crate::{DeflateConfig, DeflateParams};
        let text: String = (0..4000).map(|i| ["alpha ", "beta ", "gamma "][i % 3]).collect();
        let message = PreparedMessage::new(&Message::text(text.clone()));
        let shared = DeflateParams { server_no_context_takeover: true, ..DeflateParams::default() };
        let small_window = DeflateParams { server_max_window_bits: Some(10), ..shared };
        let config = DeflateConfig::default();
        for params in [shared, shared, small_window, shared, small_window] {
            let mut server = Connection::new(Role::Server, Config::default()).with_deflate(params, &config);
            server.send_prepared(&message).unwrap();
            assert!(!server.holds_compressor(), "no compressor per connection");
            let mut bytes = wire(&mut server);
            assert_eq!(bytes[0], 0x80 | 0x40 | 0x01, "FIN, RSV1, text");
            assert!(bytes.len() < text.len() / 4, "compressed: {} bytes", bytes.len());
            let mut client = Connection::new(Role::Client, Config::default()).with_deflate(params, &config);
            // The peer inflated something else before: a frame compressed
            // alone still reads right.
            let mut other = Connection::new(Role::Server, Config::default()).with_deflate(params, &config);
            other.send(Message::text(text.replace("beta", "delta"))).unwrap();
            let mut before = wire(&mut other);
            assert!(matches!(client.read_event(&mut before).unwrap(), Some(Event::Message(_))));
            assert_eq!(client.read_event(&mut bytes).unwrap(), Some(Event::Message(Message::text(text.clone()))));
        }
        assert_eq!(message.compressed_variants(), 2, "once per window size, not per connection");

        let keeps_context = DeflateParams::default();
        let mut server = Connection::new(Role::Server, Config::default()).with_deflate(keeps_context, &config);
        server.send_prepared(&message).unwrap();
        assert_eq!(&wire(&mut server)[..], &message.frame()[..], "plain");
        let short = PreparedMessage::new(&Message::text("under the threshold"));
        let mut server = Connection::new(Role::Server, Config::default()).with_deflate(shared, &config);
        server.send_prepared(&short).unwrap();
        assert_eq!(&wire(&mut server)[..], &short.frame()[..]);
        assert_eq!((message.compressed_variants(), short.compressed_variants()), (2, 0));
    }
}
