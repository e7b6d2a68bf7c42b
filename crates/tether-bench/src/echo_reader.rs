//! The incremental reader of echoed frames: counts and checks what comes
//! back without buffering whole messages, inflating compressed echoes.

use flate2::{Decompress, FlushDecompress};
use tether_proto::deflate::SYNC_FLUSH_TAIL;
use tether_proto::frame::RSV1;
use tether_proto::{DeflateParams, FrameHeader, OpCode};

use crate::frames::{FrameSet, Kind};

/// Incremental reader of the echoed frames: parses each header with
/// [`FrameHeader::parse`], counts payload bytes as they arrive and, when
/// asked, compares them with what was sent, without ever holding a whole
/// message. Compressed echoes are inflated as they arrive.
#[derive(Debug)]
pub struct EchoReader {
    kind: Kind,
    raw: bool,
    check: bool,
    /// Payload bytes left in the frame being read, if inside one.
    in_frame: Option<InFrame>,
    /// Payload bytes of the current message seen so far (across fragments).
    msg_len: usize,
    /// A fragment without FIN was read: continuation frames come next.
    in_message: bool,
    /// The message being read was compressed (RSV1 on its first frame).
    compressed: bool,
    inflate: Option<Inflater>,
    /// The slot whose echo is expected next.
    slot: usize,
}

/// The server's compressed stream, and where its output goes.
struct Inflater {
    z: Decompress,
    /// The server resets its compressor after each message, so must we.
    reset: bool,
    out: Vec<u8>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater").field("reset", &self.reset).finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug)]
struct InFrame {
    remaining: u64,
    fin: bool,
    control: bool,
}

/// What one call to [`EchoReader::feed`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Complete echoed messages.
    pub messages: usize,
    /// Payload bytes consumed (of data frames; inflated size when compressed).
    pub payload_bytes: usize,
}

impl EchoReader {
    /// A reader expecting echoes of `kind` messages; `raw` for a TCP echo.
    pub fn new(kind: Kind, raw: bool, check: bool) -> EchoReader {
        EchoReader {
            kind,
            raw,
            check,
            in_frame: None,
            msg_len: 0,
            in_message: false,
            compressed: false,
            inflate: None,
            slot: 0,
        }
    }

    /// Accepts compressed echoes, as agreed in the handshake.
    pub fn with_deflate(mut self, params: Option<&DeflateParams>) -> EchoReader {
        self.inflate = params.map(|p| Inflater {
            z: Decompress::new(false),
            reset: p.server_no_context_takeover,
            out: Vec::with_capacity(64 * 1024),
        });
        self
    }

    /// Consumes what it can from `buf` and returns how many bytes it used
    /// with what it found. Bytes left over are a partial header: keep them
    /// in front of the next read.
    pub fn feed(&mut self, buf: &[u8], frames: &FrameSet) -> Result<(usize, Fed), String> {
        let mut used = 0;
        let mut fed = Fed::default();
        loop {
            let Some(frame) = self.in_frame else {
                let Some((header, n)) = FrameHeader::parse(&buf[used..]).map_err(|e| format!("bad frame: {e}"))? else {
                    return Ok((used, fed));
                };
                used += n;
                let frame = self.check_header(&header)?;
                if !frame.control && !self.in_message {
                    self.compressed = header.rsv == RSV1;
                }
                self.in_message |= !frame.control && !frame.fin;
                self.in_frame = Some(frame);
                continue;
            };
            let take = (buf.len() - used).min(usize::try_from(frame.remaining).unwrap_or(usize::MAX));
            let chunk = &buf[used..used + take];
            if !frame.control {
                if self.compressed {
                    fed.payload_bytes += self.inflate_chunk(chunk, frames)?;
                } else {
                    self.check_payload(chunk, frames)?;
                    fed.payload_bytes += take;
                }
            }
            used += take;
            let remaining = frame.remaining - take as u64;
            if remaining > 0 {
                self.in_frame = Some(InFrame { remaining, ..frame });
                return Ok((used, fed));
            }
            self.in_frame = None;
            if frame.fin && !frame.control {
                if self.compressed {
                    fed.payload_bytes += self.inflate_chunk(&SYNC_FLUSH_TAIL, frames)?;
                    if let Some(inflater) = self.inflate.as_mut().filter(|i| i.reset) {
                        inflater.z.reset(false);
                    }
                }
                if self.msg_len != frames.size() {
                    return Err(format!("echo of {} bytes, {} were sent", self.msg_len, frames.size()));
                }
                self.msg_len = 0;
                self.in_message = false;
                self.slot = (self.slot + 1) % frames.slots();
                fed.messages += 1;
            }
        }
    }

    /// Checks and counts `payload`, the next bytes of the message.
    fn check_payload(&mut self, payload: &[u8], frames: &FrameSet) -> Result<(), String> {
        if self.check && frames.expected(self.slot, self.msg_len, payload.len()) != Some(payload) {
            return Err(format!("echo differs from what was sent (message byte {})", self.msg_len));
        }
        self.msg_len += payload.len();
        Ok(())
    }

    /// Inflates compressed payload bytes and checks what comes out; returns its size.
    fn inflate_chunk(&mut self, mut input: &[u8], frames: &FrameSet) -> Result<usize, String> {
        let mut inflater = self.inflate.take().ok_or("compressed frame, but no permessage-deflate")?;
        let mut produced = 0;
        let result = loop {
            inflater.out.clear();
            let before = (inflater.z.total_in(), inflater.z.total_out());
            if let Err(e) = inflater.z.decompress_vec(input, &mut inflater.out, FlushDecompress::Sync) {
                break Err(format!("inflate: {e}"));
            }
            let used = (inflater.z.total_in() - before.0) as usize;
            input = &input[used..];
            produced += inflater.out.len();
            if let Err(e) = self.check_payload(&inflater.out, frames) {
                break Err(e);
            }
            // Done when the input is used up and the output had room to spare.
            if input.is_empty() && inflater.out.len() < inflater.out.capacity() {
                break Ok(produced);
            }
            if used == 0 && inflater.z.total_out() == before.1 {
                break Err("inflate made no progress".to_owned());
            }
        };
        self.inflate = Some(inflater);
        result
    }

    fn check_header(&self, h: &FrameHeader) -> Result<InFrame, String> {
        if h.mask.is_some() != self.raw {
            return Err(if self.raw { "unmasked frame from a raw echo" } else { "masked frame from the server" }.into());
        }
        let expected = if self.in_message {
            OpCode::Continuation
        } else if self.inflate.is_some() {
            OpCode::Text
        } else {
            self.kind.opcode()
        };
        match h.opcode {
            OpCode::Close => return Err("the server sent a close frame".into()),
            OpCode::Ping | OpCode::Pong => {
                return Ok(InFrame { remaining: h.payload_len, fin: true, control: true });
            }
            op if op != expected => return Err(format!("expected a {expected:?} frame, got {op:?}")),
            _ => {}
        }
        let first_of_message = !self.in_message;
        let allowed = if self.inflate.is_some() && first_of_message { RSV1 } else { 0 };
        if h.rsv & !allowed != 0 {
            return Err(format!("reserved bits {:#b} set", h.rsv));
        }
        Ok(InFrame { remaining: h.payload_len, fin: h.fin, control: false })
    }
}

#[cfg(test)]
mod tests {
    use flate2::{Compress, Compression, FlushCompress};
    use tether_proto::frame::MAX_HEADER_LEN;

    use super::*;

    fn unmasked(op: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let h = FrameHeader { fin, rsv: 0, opcode: op, mask: None, payload_len: payload.len() as u64 };
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut head);
        [&head[..n], payload].concat()
    }

    /// Feeds `wire` to `reader` `step` bytes at a time, as reads would
    /// deliver it; returns what it found and how many bytes it left over.
    fn feed_in_pieces(reader: &mut EchoReader, wire: &[u8], step: usize, set: &FrameSet) -> (Fed, usize) {
        let (mut pending, mut total) = (Vec::new(), Fed::default());
        for piece in wire.chunks(step) {
            pending.extend_from_slice(piece);
            let (used, fed) = reader.feed(&pending, set).unwrap();
            pending.drain(..used);
            total.messages += fed.messages;
            total.payload_bytes += fed.payload_bytes;
        }
        (total, pending.len())
    }

    #[test]
    fn reader_checks_echoes_split_anywhere() {
        let set = FrameSet::new(Kind::Binary, 300, 2, 1, false, false);
        let mut wire = Vec::new();
        for slot in [0, 1, 0] {
            wire.extend(unmasked(OpCode::Binary, true, set.expected(slot, 0, 300).unwrap()));
        }
        // The third echo comes fragmented, with a ping in between.
        let third = wire.split_off(wire.len() - (4 + 300));
        let body = set.expected(0, 0, 300).unwrap();
        wire.extend(unmasked(OpCode::Binary, false, &body[..100]));
        wire.extend(unmasked(OpCode::Ping, true, b"hi"));
        wire.extend(unmasked(OpCode::Continuation, true, &body[100..]));
        assert_eq!(third.len(), 304);
        for step in [1, 3, 7, 64, wire.len()] {
            let mut reader = EchoReader::new(Kind::Binary, false, true);
            let (total, left) = feed_in_pieces(&mut reader, &wire, step, &set);
            assert_eq!(total, Fed { messages: 3, payload_bytes: 900 }, "step {step}");
            assert_eq!(left, 0);
        }
    }

    #[test]
    fn reader_rejects_wrong_content_order_and_close() {
        let set = FrameSet::new(Kind::Text, 10, 2, 0, false, false);
        let swapped = unmasked(OpCode::Text, true, set.expected(1, 0, 10).unwrap());
        let mut reader = EchoReader::new(Kind::Text, false, true);
        assert!(reader.feed(&swapped, &set).unwrap_err().contains("differs"));
        // Without the check, only lengths and opcodes are verified.
        let mut reader = EchoReader::new(Kind::Text, false, false);
        assert_eq!(reader.feed(&swapped, &set).unwrap().1.messages, 1);
        let binary = unmasked(OpCode::Binary, true, set.expected(1, 0, 10).unwrap());
        assert!(reader.feed(&binary, &set).is_err());
        let mut reader = EchoReader::new(Kind::Text, false, true);
        assert!(reader.feed(&unmasked(OpCode::Close, true, &[3, 232]), &set).is_err());
        let short = unmasked(OpCode::Text, true, &set.expected(0, 0, 10).unwrap()[..9]);
        assert!(EchoReader::new(Kind::Text, false, true).feed(&short, &set).is_err());
    }

    #[test]
    fn raw_echo_returns_the_masked_frames() {
        let set = FrameSet::new(Kind::Binary, 70_000, 1, 3, true, false);
        let mut reader = EchoReader::new(Kind::Binary, true, true);
        let (used, fed) = reader.feed(set.wire(), &set).unwrap();
        assert_eq!((used, fed.messages, fed.payload_bytes), (set.wire().len(), 1, 70_000));
    }

    #[test]
    fn reader_inflates_echoes_compressed_with_context_takeover() {
        let set = FrameSet::new(Kind::Binary, 3000, 2, 9, false, true);
        // The server's side: one compressor for the whole connection.
        let mut z = Compress::new(Compression::default(), false);
        let mut wire = Vec::new();
        for slot in [0, 1, 0, 1] {
            let mut packed = Vec::with_capacity(8192);
            z.compress_vec(set.expected(slot, 0, 3000).unwrap(), &mut packed, FlushCompress::Sync).unwrap();
            packed.truncate(packed.len() - 4);
            let h = FrameHeader {
                fin: true,
                rsv: RSV1,
                opcode: OpCode::Text,
                mask: None,
                payload_len: packed.len() as u64,
            };
            let mut head = [0u8; MAX_HEADER_LEN];
            let n = h.encode(&mut head);
            wire.extend_from_slice(&head[..n]);
            wire.extend_from_slice(&packed);
        }
        let params = DeflateParams::default();
        for step in [1, 5, 100, wire.len()] {
            let mut reader = EchoReader::new(Kind::Text, false, true).with_deflate(Some(&params));
            let (total, left) = feed_in_pieces(&mut reader, &wire, step, &set);
            assert_eq!(total, Fed { messages: 4, payload_bytes: 12_000 }, "step {step}");
            assert_eq!(left, 0);
        }
        // Without permessage-deflate agreed, RSV1 is an error.
        let mut plain = EchoReader::new(Kind::Text, false, true);
        assert!(plain.feed(&wire, &set).unwrap_err().contains("reserved bits"));
    }
}
