//! The connection state machine: bytes in, events and bytes out.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

use crate::deflate::{Deflate, DeflateConfig};
use crate::frame::{FrameHeader, OpCode, RSV1};
use crate::handshake::extensions::DeflateParams;
use crate::mask::apply_mask;
use crate::message::{CloseCode, CloseFrame, Message, Utf8Bytes};
use crate::send_queue::{Payload, SendQueue};
use crate::timers::{TimerConfig, Timers};
use crate::utf8::Utf8Validator;
use crate::{Config, ProtocolError, Role, SendError, Settings};

mod prepared;
mod timing;

/// What the peer sent, as decoded by [`Connection::read_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete data message.
    Message(Message),
    /// A ping. The pong is already queued (unless the connection is closing).
    Ping(Bytes),
    /// A pong, solicited or not.
    Pong(Bytes),
    /// The peer's close frame (`None` if it carried no code). When the peer
    /// started the closing handshake, the echo is already queued.
    Close(Option<CloseFrame>),
}

/// Where the closing handshake stands.
///
/// ```text
///               send_close()                    peer's close
///   ┌──────┐ ───────────────► ┌─────────┐ ────────────────────► ┌────────┐
///   │ Open │                  │ Closing │                       │ Closed │
///   └──────┘ ─────────────────┴─────────┴─────────────────────► └────────┘
///      │        peer's close (the echo is queued at once)
///      │
///      │ the peer breaks the protocol (close frame with the error's code queued)
///      └──────────────────────────────────────────────────────► ┌────────┐
///                                                               │ Failed │
///                                                               └────────┘
/// ```
///
/// In `Closing` data still arrives but nothing more may be sent. In `Closed`
/// and `Failed` input is ignored; once the queue is flushed the server closes
/// TCP, and the client waits for the server to do so (RFC 6455 section 7.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's.
    Closing,
    /// Both close frames were exchanged (ours may still be in the queue).
    Closed,
    /// The peer broke the protocol; our close frame may still be in the queue.
    Failed,
}

/// A frame being received, and the message it belongs to.
#[derive(Debug, Default)]
struct Reader {
    /// Header of the frame whose payload is arriving.
    header: Option<FrameHeader>,
    /// Payload bytes of that frame already unmasked and validated in place.
    processed: usize,
    /// A fragmented data message in progress (boxed: rare, and every idle
    /// connection would carry its size).
    fragmented: Option<Box<Fragmented>>,
    /// UTF-8 state of the text message in progress.
    utf8: Utf8Validator,
}

#[derive(Debug)]
struct Fragmented {
    text: bool,
    /// RSV1 was set on the first frame: `buf` holds inflated bytes.
    compressed: bool,
    buf: BytesMut,
}

/// One end of a WebSocket connection, without IO.
///
/// Feed received bytes to [`read_event`](Self::read_event); queue outgoing
/// messages with [`send`](Self::send) and friends; write what
/// [`output`](Self::output) holds to the transport and report it with
/// [`advance_output`](Self::advance_output). Pongs and the close echo
/// are queued automatically. Keepalive, the idle timeout and the closing
/// deadline run from the instants the IO layer passes in: see
/// [`poll_timeout`](Self::poll_timeout) and [`crate::timers`].
#[derive(Debug)]
pub struct Connection {
    role: Role,
    /// Limits and timer durations, shared with the connections set up alike.
    settings: Arc<Settings>,
    state: State,
    reader: Reader,
    /// Made on first use (or the thread's spare taken) and let go once
    /// written out ([`advance_output`](Connection::advance_output)): an idle
    /// connection holds a pointer, not the queue's 72 bytes.
    out: Option<Box<SendQueue>>,
    /// The negotiated permessage-deflate, the only extension: it gives
    /// RSV1 its meaning. Boxed: most connections go without it.
    deflate: Option<Box<Deflate>>,
    deflate_params: Option<DeflateParams>,
    /// Boxed: every connection carries the field, few ever fill it.
    peer_close: Option<Box<CloseFrame>>,
    /// Inline, not boxed: every connection of tether runs at least the
    /// closing deadline, and the compact state (64 bytes) costs less
    /// inline than an allocation of its own with its header and pointer.
    timers: Option<Timers>,
    rng: fastrand::Rng,
}

/// A generator seeded from the operating system.
fn os_seeded() -> fastrand::Rng {
    let mut seed = [0u8; 8];
    match getrandom::getrandom(&mut seed) {
        Ok(()) => fastrand::Rng::with_seed(u64::from_ne_bytes(seed)),
        Err(_) => fastrand::Rng::new(),
    }
}

impl Connection {
    /// A connection in the `Open` state, right after the handshake.
    pub fn new(role: Role, config: Config) -> Self {
        Self::shared(role, Arc::new(Settings::new(config, TimerConfig::default())))
    }

    /// A connection in the `Open` state with `settings` (shared, not
    /// copied), its timers started at `now`.
    pub fn with_settings(role: Role, settings: Arc<Settings>, now: Instant) -> Self {
        let mut conn = Self::shared(role, settings);
        conn.timers = Timers::new(&conn.settings.timers, now);
        conn
    }

    fn shared(role: Role, settings: Arc<Settings>) -> Self {
        let rng = match role {
            // Mask keys must be unpredictable to the page's script (section
            // 10.3), so a client's generator is seeded from the OS.
            Role::Client => os_seeded(),
            // Only clients mask: a server's generator is never drawn from,
            // and a system call per accepted connection would buy nothing.
            Role::Server => fastrand::Rng::with_seed(0),
        };
        Self {
            role,
            settings,
            state: State::Open,
            reader: Reader::default(),
            out: None,
            deflate: None,
            deflate_params: None,
            peer_close: None,
            timers: None,
            rng,
        }
    }

    /// Turns on permessage-deflate with the parameters agreed in the handshake.
    pub fn with_deflate(mut self, params: DeflateParams, config: &DeflateConfig) -> Self {
        self.deflate = Some(Box::new(Deflate::new(self.role, &params, config)));
        self.deflate_params = Some(params);
        self
    }

    /// Whether this connection holds a compressor now (for tests of memory).
    #[cfg(test)]
    pub(crate) fn holds_compressor(&self) -> bool {
        self.deflate.as_ref().is_some_and(|d| d.holds_compressor())
    }

    /// Whether this connection holds a send queue now (for tests of memory).
    #[cfg(test)]
    pub(crate) fn holds_queue(&self) -> bool {
        self.out.is_some()
    }

    /// The permessage-deflate parameters in force, if it was negotiated.
    pub fn deflate_params(&self) -> Option<&DeflateParams> {
        self.deflate_params.as_ref()
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The limits in force.
    pub fn config(&self) -> &Config {
        &self.settings.limits
    }

    /// The limits and timer durations, as shared.
    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// The close frame the peer sent, once it arrived (`None` before, or if
    /// it carried no code).
    pub fn peer_close(&self) -> Option<&CloseFrame> {
        self.peer_close.as_deref()
    }

    /// How many more bytes the frame being received needs; lets the IO layer
    /// size one read buffer for a large frame instead of growing it in steps.
    pub fn wanted(&self, buffered: usize) -> usize {
        self.reader.header.map_or(0, |h| (h.payload_len as usize).saturating_sub(buffered))
    }

    /// The bytes waiting to be written to the transport (the queue is
    /// made here if there is none); report what was written with
    /// [`advance_output`](Self::advance_output).
    pub fn output(&mut self) -> &mut SendQueue {
        self.out.get_or_insert_with(SendQueue::take_spare)
    }

    /// How many bytes wait to be written, without making the queue.
    pub fn buffered(&self) -> usize {
        self.out.as_ref().map_or(0, |q| q.len())
    }

    /// `n` bytes of [`output`](Self::output) were written; once all are,
    /// the connection lets the queue go (it becomes the thread's spare, for
    /// the next connection to write).
    pub fn advance_output(&mut self, n: usize) {
        if let Some(queue) = &mut self.out {
            queue.advance(n);
            if queue.is_empty() {
                if let Some(queue) = self.out.take() {
                    queue.recycle();
                }
            }
        }
    }

    /// Drops every queued byte (nothing more can reach the peer).
    pub fn clear_output(&mut self) {
        self.out = None;
    }

    /// Decodes the next event from `input`, consuming what it used.
    ///
    /// Returns `Ok(None)` when more bytes are needed (or, once `Closed` or
    /// `Failed`, always). Payloads are unmasked in place and handed out
    /// without a copy. On a protocol violation the close frame with the
    /// matching code is queued, the state becomes `Failed`, and the error is
    /// returned.
    pub fn read_event(&mut self, input: &mut BytesMut) -> Result<Option<Event>, ProtocolError> {
        // Nothing to decode: every event needs at least a header's bytes,
        // and a frame's payload stays in `input` until it is complete.
        // Asked about twice a message by a reader that drains its buffer.
        if input.is_empty() {
            return Ok(None);
        }
        match self.read_inner(input) {
            Err(e) => Err(self.fail(e)),
            ok => ok,
        }
    }

    fn read_inner(&mut self, input: &mut BytesMut) -> Result<Option<Event>, ProtocolError> {
        loop {
            if matches!(self.state, State::Closed | State::Failed) {
                return Ok(None);
            }
            let header = match self.reader.header {
                Some(h) => h,
                None => {
                    let Some((h, n)) = FrameHeader::parse(input)? else {
                        return Ok(None);
                    };
                    self.check_header(&h)?;
                    input.advance(n);
                    self.reader.header = Some(h);
                    self.reader.processed = 0;
                    h
                }
            };
            let len = header.payload_len as usize; // bounded by the frame limit
            let (is_text, compressed) = match header.opcode {
                OpCode::Text | OpCode::Binary => (header.opcode == OpCode::Text, header.rsv & RSV1 != 0),
                OpCode::Continuation => {
                    self.reader.fragmented.as_ref().map_or((false, false), |f| (f.text, f.compressed))
                }
                _ => (false, false),
            };
            // Unmask and validate what has arrived, so bad text fails fast
            // even before the frame is complete (compressed text is checked
            // once inflated).
            let validate_now = is_text && !compressed;
            let avail = input.len().min(len);
            let done = self.reader.processed;
            if avail > done {
                let fresh = &mut input[done..avail];
                if let Some(key) = header.mask {
                    apply_mask(fresh, key, done);
                }
                if validate_now {
                    self.reader.utf8.feed(fresh, false).map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                self.reader.processed = avail;
            }
            if avail < len {
                return Ok(None);
            }
            let payload = take_payload(input, len);
            self.reader.header = None;
            let event = match header.opcode {
                OpCode::Ping => {
                    if self.state == State::Open {
                        self.queue_control(OpCode::Pong, &payload);
                    }
                    Some(Event::Ping(payload.freeze()))
                }
                OpCode::Pong => Some(Event::Pong(payload.freeze())),
                OpCode::Close => Some(self.on_close(&payload)?),
                _ => self.on_data(header, payload, is_text, compressed)?,
            };
            if event.is_some() {
                return Ok(event);
            }
        }
    }

    /// The rules a header must follow before its payload is even read.
    fn check_header(&self, h: &FrameHeader) -> Result<(), ProtocolError> {
        // permessage-deflate claims RSV1, on the first frame of a data message only.
        let allowed = match h.opcode {
            OpCode::Text | OpCode::Binary if self.deflate.is_some() => RSV1,
            _ => 0,
        };
        if h.rsv & !allowed != 0 {
            return Err(ProtocolError::ReservedBits(h.rsv));
        }
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if h.opcode.is_control() {
            if h.payload_len > 125 {
                return Err(ProtocolError::ControlFrameTooLong(h.payload_len));
            }
            if !h.fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            return Ok(());
        }
        let mut max_frame = self.settings.limits.max_frame_size;
        if h.rsv & RSV1 != 0 {
            // Incompressible data grows under deflate, by up to about 4 % with
            // small zlib memory levels (zlib's conservative deflateBound): a
            // frame holding a message of the limit must still fit.
            max_frame = max_frame.saturating_add(max_frame / 16 + 1024);
        }
        if h.payload_len > max_frame as u64 {
            return Err(ProtocolError::FrameTooLarge { size: h.payload_len, max: max_frame });
        }
        let so_far = match (h.opcode, &self.reader.fragmented) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            // Compressed messages are measured as they inflate.
            (OpCode::Continuation, Some(f)) if f.compressed => return Ok(()),
            (OpCode::Continuation, Some(f)) => f.buf.len() as u64,
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (_, None) if h.rsv & RSV1 != 0 => return Ok(()),
            (_, None) => 0,
        };
        let max_message = self.settings.limits.max_message_size;
        if so_far + h.payload_len > max_message as u64 {
            return Err(ProtocolError::MessageTooLarge { size: so_far + h.payload_len, max: max_message });
        }
        Ok(())
    }

    /// A complete data frame: append it to the message, and hand the
    /// message out on its last frame.
    fn on_data(
        &mut self,
        header: FrameHeader,
        payload: BytesMut,
        is_text: bool,
        compressed: bool,
    ) -> Result<Option<Event>, ProtocolError> {
        let mut buf = match header.opcode {
            OpCode::Continuation => self.reader.fragmented.take().ok_or(ProtocolError::UnexpectedContinuation)?.buf,
            _ => BytesMut::new(),
        };
        if compressed {
            let deflate = self.deflate.as_mut().ok_or(ProtocolError::ReservedBits(RSV1))?;
            let before = buf.len();
            deflate.decompress(&payload, header.fin, &mut buf, self.settings.limits.max_message_size)?;
            if is_text {
                self.reader.utf8.feed(&buf[before..], false).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        } else if buf.is_empty() {
            buf = payload; // the common case: no copy
        } else {
            buf.extend_from_slice(&payload);
        }
        if !header.fin {
            self.reader.fragmented = Some(Box::new(Fragmented { text: is_text, compressed, buf }));
            return Ok(None);
        }
        if is_text {
            self.reader.utf8.feed(&[], true).map_err(|_| ProtocolError::InvalidUtf8)?;
            self.reader.utf8.reset();
        }
        let data = buf.freeze();
        let message = if is_text { Message::Text(Utf8Bytes::from_validated(data)) } else { Message::Binary(data) };
        Ok(Some(Event::Message(message)))
    }

    fn on_close(&mut self, payload: &[u8]) -> Result<Event, ProtocolError> {
        let frame = match payload {
            [] => None,
            [_] => return Err(ProtocolError::InvalidCloseFrame),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_sendable() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason = simdutf8::basic::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
                Some(CloseFrame::new(code, reason))
            }
        };
        if self.state == State::Open {
            // Echo the peer's code and reason, as most peers do.
            self.queue_control(OpCode::Close, payload);
        }
        self.state = State::Closed;
        self.peer_close = frame.clone().map(Box::new);
        Ok(Event::Close(frame))
    }

    /// Moves to `Failed`, queueing a close frame with the error's code if we
    /// have not sent one yet.
    fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        if self.state == State::Open {
            let mut body = Vec::with_capacity(125);
            body.extend_from_slice(&error.close_code().0.to_be_bytes());
            let reason = error.to_string();
            let mut cut = reason.len().min(123);
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            body.extend_from_slice(&reason.as_bytes()[..cut]);
            self.queue_control(OpCode::Close, &body);
        }
        self.state = State::Failed;
        self.reader = Reader::default();
        error
    }

    /// Queues a data message, compressed if permessage-deflate is on and the
    /// message reaches the configured threshold.
    pub fn send(&mut self, message: Message) -> Result<(), SendError> {
        self.send_with(message, true)
    }

    /// Queues a data message; `compress: false` sends it uncompressed even
    /// when permessage-deflate is on (for data that is already compressed).
    pub fn send_with(&mut self, message: Message, compress: bool) -> Result<(), SendError> {
        let (opcode, payload) = match message {
            Message::Text(t) => (OpCode::Text, t.into_bytes()),
            Message::Binary(b) => (OpCode::Binary, b),
        };
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        if let Some(deflate) = self.deflate.as_mut().filter(|d| compress && d.wants(payload.len())) {
            if let Some(packed) = deflate.compress(&payload) {
                let mut header = self.header(opcode, true, packed.len());
                header.rsv = RSV1;
                self.output().push(&header, Payload::Shared(packed.into()));
                return Ok(());
            }
        }
        self.send_frame(opcode, true, payload)
    }

    /// Queues one data frame, for applications that fragment messages
    /// themselves: a `Text` or `Binary` frame with `fin` clear, then
    /// `Continuation` frames, the last with `fin` set. The caller keeps to
    /// those rules; control opcodes are rejected here (use the methods below).
    /// Frames sent this way are never compressed.
    pub fn send_frame(&mut self, opcode: OpCode, fin: bool, payload: Bytes) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        if opcode.is_control() {
            return Err(SendError::ControlOpcode(opcode.as_u8()));
        }
        let header = self.header(opcode, fin, payload.len());
        self.output().push(&header, Payload::Shared(payload));
        Ok(())
    }

    /// Queues a ping.
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues an unsolicited pong (a heartbeat that expects no answer).
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        if payload.len() > 125 {
            return Err(SendError::ControlFrameTooLong(payload.len()));
        }
        self.queue_control(opcode, payload);
        Ok(())
    }

    /// Starts the closing handshake (or answers the peer's, if it came
    /// first and was not answered yet). `None` sends a close frame without a
    /// code. Calling it again once closing is a no-op.
    pub fn send_close(&mut self, frame: Option<&CloseFrame>) -> Result<(), SendError> {
        if self.state != State::Open {
            return Ok(());
        }
        let mut body = Vec::new();
        if let Some(frame) = frame {
            if !frame.code.is_sendable() {
                return Err(SendError::InvalidCloseCode(frame.code.0));
            }
            if frame.reason.len() > 123 {
                return Err(SendError::CloseReasonTooLong(frame.reason.len()));
            }
            body.extend_from_slice(&frame.code.0.to_be_bytes());
            body.extend_from_slice(frame.reason.as_bytes());
        }
        self.queue_control(OpCode::Close, &body);
        self.state = State::Closing;
        Ok(())
    }

    fn queue_control(&mut self, opcode: OpCode, payload: &[u8]) {
        let header = self.header(opcode, true, payload.len());
        self.output().push(&header, Payload::Borrowed(payload));
    }

    fn header(&mut self, opcode: OpCode, fin: bool, len: usize) -> FrameHeader {
        let mask = match self.role {
            Role::Client => Some(self.rng.u32(..).to_ne_bytes()),
            Role::Server => None,
        };
        FrameHeader { fin, rsv: 0, opcode, mask, payload_len: len as u64 }
    }
}

/// Splits the payload of `len` bytes off the front of `input`. A small
/// one that is all of `input`'s remaining capacity (tether copies each
/// small read into a buffer of its exact size) takes the buffer itself:
/// splitting a buffer not yet shared allocates its shared header, once per
/// message. Anything else is split, so what is left keeps its room, and
/// its hold on a large buffer kept for reuse (lost only when a small frame
/// ends exactly at that buffer's end).
fn take_payload(input: &mut BytesMut, len: usize) -> BytesMut {
    /// Up to here a payload is small: tether copies reads up to this size
    /// (its `COPY_OUT`).
    const SMALL: usize = 4 * 1024;
    if len <= SMALL && input.capacity() == len {
        std::mem::take(input)
    } else {
        input.split_to(len)
    }
}
