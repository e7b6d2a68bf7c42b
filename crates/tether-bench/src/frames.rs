//! The frames the generator sends, built once: masked, one distinct
//! payload per slot, compressed on their own with permessage-deflate.

use flate2::{Compress, Compression, FlushCompress, Status};
use tether_proto::deflate::SYNC_FLUSH_TAIL;
use tether_proto::frame::{MAX_HEADER_LEN, RSV1};
use tether_proto::mask::apply_mask;
use tether_proto::{FrameHeader, OpCode};

use crate::corpus::corpus_text;

/// Text or binary messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Kind {
    /// Text frames (ASCII payload, so servers validate UTF-8).
    Text,
    /// Binary frames.
    Binary,
}

impl Kind {
    /// The opcode of a message of this kind.
    pub fn opcode(self) -> OpCode {
        match self {
            Kind::Text => OpCode::Text,
            Kind::Binary => OpCode::Binary,
        }
    }
}

/// Encodes one complete masked frame with a fresh random key.
pub fn masked_frame(opcode: OpCode, payload: &[u8], rng: &mut fastrand::Rng) -> Vec<u8> {
    masked_frame_rsv(opcode, 0, payload, rng)
}

fn masked_frame_rsv(opcode: OpCode, rsv: u8, payload: &[u8], rng: &mut fastrand::Rng) -> Vec<u8> {
    let key = rng.u32(..).to_ne_bytes();
    let header = FrameHeader { fin: true, rsv, opcode, mask: Some(key), payload_len: payload.len() as u64 };
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    let mut frame = Vec::with_capacity(n + payload.len());
    frame.extend_from_slice(&head[..n]);
    frame.extend_from_slice(payload);
    apply_mask(&mut frame[n..], key, 0);
    frame
}

/// `payload` compressed on its own (no context carried over), as
/// permessage-deflate sends it: raw deflate, sync-flushed, tail removed.
fn deflated(payload: &[u8]) -> Vec<u8> {
    let mut z = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    loop {
        let consumed = z.total_in() as usize;
        let status = z.compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync).expect("deflate");
        if z.total_in() as usize == payload.len() && out.len() < out.capacity() && status == Status::Ok {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    assert!(out.ends_with(&SYNC_FLUSH_TAIL), "a sync flush ends with an empty stored block");
    out.truncate(out.len() - SYNC_FLUSH_TAIL.len());
    out
}

/// The masked close frame a client sends to end a connection (code 1000).
pub fn close_frame(rng: &mut fastrand::Rng) -> Vec<u8> {
    masked_frame(OpCode::Close, &1000u16.to_be_bytes(), rng)
}

/// The frames one connection sends: `slots` distinct messages (so a
/// mixed-up or reordered echo shows in the content check), encoded once.
///
/// With more than one slot the run of frames is stored twice, so any
/// `m <= slots` consecutive slots starting anywhere are one contiguous slice
/// and go out in one write.
#[derive(Debug)]
pub struct FrameSet {
    wire: Vec<u8>,
    /// Where each frame starts in the first copy, and where the copy ends
    /// (compressed frames differ in length).
    offsets: Vec<usize>,
    slots: usize,
    size: usize,
    /// What each slot's echo must carry, slot after slot.
    expected: Vec<u8>,
}

impl FrameSet {
    /// Builds `slots` frames of `size` payload bytes for connection `conn`.
    /// `raw`: the echo is the frame as sent (masked), not the payload.
    /// `deflate`: text from a corpus, compressed (the kind is then text).
    pub fn new(kind: Kind, size: usize, slots: usize, conn: usize, raw: bool, deflate: bool) -> FrameSet {
        let slots = slots.max(1);
        let mut rng = fastrand::Rng::with_seed(conn as u64);
        let mut once = Vec::new();
        let mut expected = Vec::with_capacity(slots * size);
        let mut offsets = vec![0];
        for slot in 0..slots {
            let frame = if deflate {
                let payload = corpus_text(size, conn, slot);
                expected.extend_from_slice(&payload);
                masked_frame_rsv(OpCode::Text, RSV1, &deflated(&payload), &mut rng)
            } else {
                let payload = pattern(kind, size, conn, slot);
                let frame = masked_frame(kind.opcode(), &payload, &mut rng);
                expected.extend_from_slice(if raw { &frame[frame.len() - size..] } else { &payload });
                frame
            };
            once.extend_from_slice(&frame);
            offsets.push(once.len());
        }
        let wire = if slots > 1 { once.repeat(2) } else { once };
        FrameSet { wire, offsets, slots, size, expected }
    }

    /// The wire bytes of `m` frames starting at slot `first`.
    pub fn run(&self, first: usize, m: usize) -> std::ops::Range<usize> {
        debug_assert!(first < self.slots && m <= self.slots);
        let total = self.offsets[self.slots];
        let end = first + m;
        let stop = if end <= self.slots { self.offsets[end] } else { total + self.offsets[end - self.slots] };
        self.offsets[first]..stop
    }

    /// All the frames, twice over when there are several slots.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    /// How many distinct messages there are.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Payload bytes per message.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The expected echo of `slot`, from payload offset `at`, `len` bytes.
    pub fn expected(&self, slot: usize, at: usize, len: usize) -> Option<&[u8]> {
        if at + len > self.size {
            return None;
        }
        let start = slot * self.size + at;
        self.expected.get(start..start + len)
    }
}

/// A payload that differs per connection and per slot; printable ASCII, so
/// it is valid text.
fn pattern(kind: Kind, size: usize, conn: usize, slot: usize) -> Vec<u8> {
    let seed = conn.wrapping_mul(31).wrapping_add(slot.wrapping_mul(17));
    (0..size)
        .map(|i| match kind {
            Kind::Text => b'!' + (seed.wrapping_add(i) % 90) as u8,
            Kind::Binary => (seed.wrapping_add(i.wrapping_mul(13)) & 0xFF) as u8,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use tether_proto::{DeflateConfig, DeflateParams};

    use super::*;

    #[test]
    fn frames_are_masked_and_distinct_per_slot() {
        let set = FrameSet::new(Kind::Text, 20, 3, 7, false, false);
        assert_eq!(set.wire().len(), 2 * 3 * (2 + 4 + 20));
        let mut seen = Vec::new();
        for slot in 0..3 {
            let frame = &set.wire()[set.run(slot, 1)];
            let (h, n) = FrameHeader::parse(frame).unwrap().unwrap();
            let mut payload = frame[n..].to_vec();
            apply_mask(&mut payload, h.mask.unwrap(), 0);
            assert_eq!(Some(&payload[..]), set.expected(slot, 0, 20));
            assert!(std::str::from_utf8(&payload).is_ok());
            seen.push(payload);
        }
        assert_ne!(seen[0], seen[1]);
        // A run that wraps past the last slot is still one contiguous slice.
        assert_eq!(set.run(2, 3).len(), 3 * (2 + 4 + 20));
    }

    #[test]
    fn compressed_frames_decode_to_the_corpus() {
        let set = FrameSet::new(Kind::Binary, 4096, 3, 5, false, true);
        assert!(set.wire().len() < 2 * 3 * 4096 / 2, "the corpus compresses");
        let params = DeflateParams { client_no_context_takeover: true, ..DeflateParams::default() };
        let mut server = tether_proto::Connection::new(tether_proto::Role::Server, tether_proto::Config::default())
            .with_deflate(params, &DeflateConfig::default());
        let mut input = bytes::BytesMut::from(&set.wire()[set.run(1, 3)]);
        for slot in [1, 2, 0] {
            let Ok(Some(tether_proto::Event::Message(tether_proto::Message::Text(text)))) =
                server.read_event(&mut input)
            else {
                panic!("slot {slot}: no text message")
            };
            assert_eq!(Some(text.as_bytes()), set.expected(slot, 0, 4096));
            assert!(text.as_str().contains("\"user\":"));
        }
    }
}
