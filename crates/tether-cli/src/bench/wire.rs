//! The generator's side of the wire, on raw TCP and `tether-proto` only:
//! the target URL, connecting from a chosen source address, the opening
//! handshake, pre-built masked frames and an incremental reader that checks
//! echoes without buffering whole messages.
//!
//! With permessage-deflate (`Target::deflate`) the generator offers it with
//! `client_no_context_takeover`, so each of its messages is compressed on
//! its own and the frames can still be built once; the server compresses
//! its echoes as it likes, and the reader inflates them as they arrive.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tether::proto::deflate::SYNC_FLUSH_TAIL;
use tether::proto::frame::{MAX_HEADER_LEN, RSV1};
use tether::proto::handshake::client::{ClientHandshake, ClientRequest};
use tether::proto::mask::apply_mask;
use tether::proto::{DeflateConfig, DeflateParams, FrameHeader, OpCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The longest a connect or an opening handshake may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the load goes.
#[derive(Clone, Debug)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// The request target.
    pub path: String,
    /// `tcp://`: a raw TCP echo, no handshake; frames come back masked.
    pub raw: bool,
    /// Offer permessage-deflate and send compressed text (the server must accept).
    pub deflate: bool,
}

impl Target {
    /// Parses `ws://HOST:PORT/PATH` or `tcp://HOST:PORT/` (a raw TCP echo).
    pub fn parse(url: &str) -> Result<Target, String> {
        let (raw, rest) = if let Some(rest) = url.strip_prefix("ws://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("tcp://") {
            (true, rest)
        } else {
            return Err(format!("{url:?}: the URL must start with ws:// (or tcp:// for a raw TCP echo)"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let with_port = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("{url:?}: cannot resolve {authority}: {e}"))?
            .next()
            .ok_or_else(|| format!("{url:?}: {authority} has no address"))?;
        Ok(Target { addr, host: authority.to_owned(), path: path.to_owned(), raw, deflate: false })
    }
}

/// Source addresses taken in turn, so that many connections to one server
/// port do not run out of ephemeral ports.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    addrs: Vec<IpAddr>,
    next: usize,
}

impl Sources {
    /// `spec` is empty (let the OS choose), a list `127.0.0.1,127.0.0.2`, or
    /// a count `4` meaning 127.0.0.1 to 127.0.0.4.
    pub fn parse(spec: Option<&str>) -> Result<Sources, String> {
        let Some(spec) = spec else { return Ok(Sources::default()) };
        if let Ok(n @ 1..=254) = spec.parse::<u8>() {
            let addrs = (1..=n).map(|i| IpAddr::from([127, 0, 0, i])).collect();
            return Ok(Sources { addrs, next: 0 });
        }
        let addrs = spec
            .split(',')
            .map(|a| a.trim().parse::<IpAddr>().map_err(|_| format!("bad source address {a:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Sources { addrs, next: 0 })
    }

    /// The next source address, if any were given.
    pub fn next(&mut self) -> Option<IpAddr> {
        let addr = self.addrs.get(self.next % self.addrs.len().max(1)).copied();
        self.next = self.next.wrapping_add(1);
        addr
    }
}

/// Opens a TCP connection (with `TCP_NODELAY`), from `source` if given.
pub async fn connect_tcp(target: &Target, source: Option<IpAddr>) -> Result<TcpStream, String> {
    let socket = if target.addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
    let socket = socket.map_err(|e| format!("socket: {e}"))?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0)).map_err(|e| format!("bind {ip}: {e}"))?;
    }
    let tcp = tokio::time::timeout(SETUP_TIMEOUT, socket.connect(target.addr))
        .await
        .map_err(|_| format!("connect to {}: timed out", target.addr))?
        .map_err(|e| format!("connect to {}: {e}", target.addr))?;
    tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    Ok(tcp)
}

/// A connection after the opening handshake.
#[derive(Debug)]
pub struct Upgraded {
    /// The socket.
    pub tcp: TcpStream,
    /// Bytes read past the response head (already frames).
    pub leftover: Vec<u8>,
    /// The permessage-deflate parameters the server accepted.
    pub deflate: Option<DeflateParams>,
}

/// Performs the client handshake; a raw target has none.
pub async fn handshake(mut tcp: TcpStream, target: &Target) -> Result<Upgraded, String> {
    if target.raw {
        return Ok(Upgraded { tcp, leftover: Vec::new(), deflate: None });
    }
    let deflate = target.deflate.then(|| DeflateConfig::default().no_context_takeover(true));
    let request = ClientRequest { host: target.host.clone(), path: target.path.clone(), deflate, ..Default::default() };
    let (hs, bytes) = ClientHandshake::new(&request).map_err(|e| e.to_string())?;
    let exchange = async {
        tcp.write_all(&bytes).await.map_err(|e| format!("handshake write: {e}"))?;
        let mut buf = Vec::with_capacity(512);
        loop {
            if tcp.read_buf(&mut buf).await.map_err(|e| format!("handshake read: {e}"))? == 0 {
                return Err("server closed during the handshake".to_owned());
            }
            if let Some((response, n)) = hs.read_response(&buf).map_err(|e| format!("handshake: {e}"))? {
                return Ok((buf.split_off(n), response.deflate));
            }
        }
    };
    let (leftover, deflate) =
        tokio::time::timeout(SETUP_TIMEOUT, exchange).await.map_err(|_| "handshake timed out".to_owned())??;
    if target.deflate && deflate.is_none() {
        return Err("the server did not accept permessage-deflate".to_owned());
    }
    Ok(Upgraded { tcp, leftover, deflate })
}

/// Text or binary messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Text frames (ASCII payload, so servers validate UTF-8).
    Text,
    /// Binary frames.
    Binary,
}

impl Kind {
    fn opcode(self) -> OpCode {
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

    /// The expected echo of `slot`, from payload offset `at`, `len` bytes.
    fn expected(&self, slot: usize, at: usize, len: usize) -> Option<&[u8]> {
        if at + len > self.size {
            return None;
        }
        let start = slot * self.size + at;
        self.expected.get(start..start + len)
    }
}

/// Words for [`corpus_text`]: English and the keys of a chat application's
/// JSON, so the text compresses about as well as real messages do.
const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "you",
    "that",
    "it",
    "he",
    "was",
    "for",
    "on",
    "are",
    "as",
    "with",
    "his",
    "they",
    "at",
    "be",
    "this",
    "have",
    "from",
    "or",
    "one",
    "had",
    "by",
    "word",
    "but",
    "not",
    "what",
    "all",
    "were",
    "we",
    "when",
    "your",
    "can",
    "said",
    "there",
    "use",
    "each",
    "which",
    "she",
    "do",
    "how",
    "their",
    "if",
    "will",
    "up",
    "other",
    "about",
    "out",
    "many",
    "then",
    "them",
    "these",
    "so",
    "some",
    "her",
    "would",
    "make",
    "like",
    "him",
    "into",
    "time",
    "has",
    "look",
    "two",
    "more",
    "write",
    "go",
    "see",
    "number",
    "no",
    "way",
    "could",
    "people",
    "my",
    "than",
    "first",
    "water",
    "been",
    "call",
    "who",
    "oil",
    "its",
    "now",
    "find",
    "long",
    "down",
    "day",
    "did",
    "get",
    "come",
    "made",
    "may",
    "part",
    "message",
    "server",
    "client",
    "connection",
    "latency",
    "throughput",
    "socket",
    "frame",
    "channel",
    "stream",
    "deploy",
    "release",
    "build",
];

/// `size` bytes of JSON chat messages in words drawn at random (seeded by
/// connection and slot, so echoes can be told apart).
fn corpus_text(size: usize, conn: usize, slot: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(((conn as u64) << 32) ^ slot as u64 ^ 0x5eed);
    let mut out = String::with_capacity(size + 128);
    let mut id = 0u32;
    while out.len() < size {
        id += 1;
        let user = ["ada", "grace", "linus", "ken", "barbara", "dennis"][rng.usize(..6)];
        let words: Vec<&str> = (0..rng.usize(4..24)).map(|_| WORDS[rng.usize(..WORDS.len())]).collect();
        out.push_str(&format!(
            "{{\"id\":{id},\"user\":\"{user}\",\"room\":\"general\",\"ts\":{},\"text\":\"{}\"}}\n",
            1_764_000_000 + rng.u32(..100_000),
            words.join(" ")
        ));
    }
    out.truncate(size); // ASCII: any cut is valid UTF-8
    out.into_bytes()
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
                if self.msg_len != frames.size {
                    return Err(format!("echo of {} bytes, {} were sent", self.msg_len, frames.size));
                }
                self.msg_len = 0;
                self.in_message = false;
                self.slot = (self.slot + 1) % frames.slots;
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
    fn compressed_frames_decode_to_the_corpus() {
        let set = FrameSet::new(Kind::Binary, 4096, 3, 5, false, true);
        assert!(set.wire().len() < 2 * 3 * 4096 / 2, "the corpus compresses");
        let params = DeflateParams { client_no_context_takeover: true, ..DeflateParams::default() };
        let mut server = tether::proto::Connection::new(tether::Role::Server, tether::proto::Config::default())
            .with_deflate(params, &DeflateConfig::default());
        let mut input = bytes::BytesMut::from(&set.wire()[set.run(1, 3)]);
        for slot in [1, 2, 0] {
            let Ok(Some(tether::proto::Event::Message(tether::Message::Text(text)))) = server.read_event(&mut input)
            else {
                panic!("slot {slot}: no text message")
            };
            assert_eq!(Some(text.as_bytes()), set.expected(slot, 0, 4096));
            assert!(text.as_str().contains("\"user\":"));
        }
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

    #[test]
    fn targets_and_sources_parse() {
        let t = Target::parse("ws://127.0.0.1:9001/chat?x=1").unwrap();
        assert_eq!((t.addr.port(), t.path.as_str(), t.raw), (9001, "/chat?x=1", false));
        assert!(Target::parse("tcp://127.0.0.1:5").unwrap().raw);
        assert!(Target::parse("http://127.0.0.1:5/").is_err());
        let mut s = Sources::parse(Some("3")).unwrap();
        let got: Vec<_> = (0..4).map(|_| s.next().unwrap().to_string()).collect();
        assert_eq!(got, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1"]);
        assert_eq!(Sources::parse(None).unwrap().next(), None);
        assert!(Sources::parse(Some("nope")).is_err());
    }
}
