//! The send queue: encoded frames waiting to be written to the transport.

use std::cell::Cell;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::{FrameHeader, MAX_HEADER_LEN};
use crate::mask::apply_mask;

/// Payloads up to this size are copied next to their header: one small copy
/// is cheaper than an extra iovec. Larger server payloads are queued as they
/// are and go out with a vectored write, without a copy.
const INLINE_MAX: usize = 4096;

/// The least a tail buffer made behind a shared frame holds.
const TAIL_MIN: usize = 512;

/// The largest tail buffer a spare queue keeps.
const SPARE_TAIL_MAX: usize = 8 * 1024;
/// The most chunks a spare queue keeps room for.
const SPARE_CHUNKS_MAX: usize = 8;

thread_local! {
    /// One emptied queue per thread, for the next connection to write on
    /// it. Connections give their queue up once it is written out (an idle
    /// connection holds none), so without it every write would allocate a
    /// queue, and most a tail buffer, only to free them again: a delivery
    /// of a fan-out or a small echo would cost an allocation or two.
    static SPARE: Cell<Option<Box<SendQueue>>> = const { Cell::new(None) };
}

/// Encoded frames in send order: `chunks`, then `tail`.
///
/// Small frames are coalesced into `tail`; a large unmasked payload is kept as
/// its own [`Bytes`] chunk, so writing it copies nothing. A frame built
/// elsewhere and shared (a prepared frame, fanned out to many connections)
/// that arrives at an empty queue is held by reference in `tail`: the common
/// one-frame batch of a fan-out is written from the shared bytes, with no
/// allocation and no copy.
#[derive(Debug, Default)]
pub struct SendQueue {
    /// Runs before `tail`, oldest first. A `Vec`, not a `VecDeque`: it
    /// leaves room for the shared tail within the queue's 72 bytes (every
    /// connection carries one); written runs are drained from its front.
    chunks: Vec<Bytes>,
    tail: Tail,
    len: usize,
}

/// The last run of queued bytes.
#[derive(Debug)]
enum Tail {
    /// Small frames coalesced (and masked) here.
    Owned(BytesMut),
    /// One shared frame, by reference (it becomes `Owned` when another
    /// small frame follows it).
    Shared(Bytes),
}

impl Default for Tail {
    fn default() -> Self {
        Tail::Owned(BytesMut::new())
    }
}

impl Tail {
    fn as_slice(&self) -> &[u8] {
        match self {
            Tail::Owned(b) => b,
            Tail::Shared(b) => b,
        }
    }

    /// The tail as a buffer to append `additional` bytes to: a shared
    /// frame is copied into a new buffer first, with room for more.
    fn owned(&mut self, additional: usize) -> &mut BytesMut {
        if let Tail::Shared(shared) = self {
            // A second frame behind a shared one: a batch (a member behind
            // the room), likely of more frames; room for a few at once
            // rather than a reallocation per frame.
            let mut owned = BytesMut::with_capacity((2 * (shared.len() + additional)).max(TAIL_MIN));
            owned.extend_from_slice(shared);
            *self = Tail::Owned(owned);
        }
        match self {
            Tail::Owned(b) => {
                b.reserve(additional);
                b
            }
            Tail::Shared(_) => unreachable!("made owned above"),
        }
    }

    /// Takes what the tail holds, as a chunk to queue before what follows.
    fn take(&mut self) -> Bytes {
        match std::mem::take(self) {
            Tail::Owned(mut b) => b.split().freeze(),
            Tail::Shared(b) => b,
        }
    }

    fn advance(&mut self, n: usize) {
        match self {
            Tail::Owned(b) => b.advance(n),
            Tail::Shared(b) => b.advance(n),
        }
    }
}

impl SendQueue {
    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fills `dst` with the queued bytes in order and returns how many slices
    /// it used. Pass them to a vectored write, then call [`advance`](Self::advance)
    /// (a [`Connection`](crate::Connection)'s own queue:
    /// [`advance_output`](crate::Connection::advance_output)).
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        let parts = self.chunks.iter().map(|c| &c[..]).chain(std::iter::once(self.tail.as_slice()));
        for part in parts.filter(|p| !p.is_empty()) {
            if n == dst.len() {
                break;
            }
            dst[n] = IoSlice::new(part);
            n += 1;
        }
        n
    }

    /// Whether all queued bytes are in one run (then [`first_chunk`](Self::first_chunk)
    /// holds them all, and a plain write does what a vectored one would).
    pub fn is_contiguous(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The first contiguous run of queued bytes (for transports without
    /// vectored writes).
    pub fn first_chunk(&self) -> &[u8] {
        self.chunks.iter().find(|c| !c.is_empty()).map_or(self.tail.as_slice(), |c| &c[..])
    }

    /// Drops everything queued (when the connection is abandoned).
    pub fn clear(&mut self) {
        self.chunks = Vec::new();
        self.tail = Tail::default();
        self.len = 0;
    }

    /// Drops everything queued, keeping the buffers worth reusing: the
    /// tail's, up to [`SPARE_TAIL_MAX`], and a short list of chunks.
    fn reset(&mut self) {
        self.len = 0;
        if self.chunks.capacity() > SPARE_CHUNKS_MAX {
            self.chunks = Vec::new();
        } else {
            self.chunks.clear();
        }
        let keep = match &mut self.tail {
            Tail::Owned(b) => {
                b.clear();
                // The written bytes' room back (when no chunk shares it),
                // so that its size is known.
                let _ = b.try_reclaim(b.capacity() + 1);
                b.capacity() <= SPARE_TAIL_MAX
            }
            Tail::Shared(_) => false,
        };
        if !keep {
            self.tail = Tail::default();
        }
    }

    /// An empty queue: the thread's spare, if it has one.
    pub(crate) fn take_spare() -> Box<SendQueue> {
        SPARE.try_with(Cell::take).ok().flatten().unwrap_or_default()
    }

    /// Lets a queue go that its connection no longer needs: emptied, it
    /// becomes the thread's spare (one per thread, the last one let go).
    pub(crate) fn recycle(mut self: Box<Self>) {
        if !self.is_empty() {
            // Written out, it was reset as the last bytes went.
            self.reset();
        }
        // While the thread exits, the queue is simply dropped.
        let _ = SPARE.try_with(move |spare| spare.set(Some(self)));
    }

    /// Drops the first `n` queued bytes, which the transport has written.
    /// Written out, the queue keeps a small buffer (up to 8 KiB) for the
    /// next write: a [`Connection`](crate::Connection)'s own queue is
    /// better advanced with
    /// [`advance_output`](crate::Connection::advance_output), which lets
    /// it go once empty, so an idle connection holds none.
    pub fn advance(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        if self.len == 0 {
            // Written out: what is kept of the buffers is for the next
            // write (see `recycle`).
            self.reset();
            return;
        }
        let mut left = n;
        let written = self.chunks.iter().take_while(|c| {
            let whole = c.len() <= left;
            if whole {
                left -= c.len();
            }
            whole
        });
        let written = written.count();
        self.chunks.drain(..written);
        if left > 0 {
            match self.chunks.first_mut() {
                Some(front) => front.advance(left),
                None => self.tail.advance(left),
            }
        }
    }

    /// Appends a frame that is already encoded (a server frame shared by
    /// many connections). Queued by reference when it is large, or when
    /// nothing else waits (no copy, no allocation); otherwise a small one
    /// is copied after the small frames before it.
    pub(crate) fn push_encoded(&mut self, frame: Bytes) {
        self.len += frame.len();
        if self.tail.as_slice().is_empty() && self.chunks.is_empty() {
            self.tail = Tail::Shared(frame);
        } else if frame.len() > INLINE_MAX {
            self.end_run();
            self.chunks.push(frame);
        } else {
            self.tail.owned(frame.len()).extend_from_slice(&frame);
        }
    }

    /// Ends the tail's run: what it holds becomes a chunk of its own.
    fn end_run(&mut self) {
        if !self.tail.as_slice().is_empty() {
            let run = self.tail.take();
            self.chunks.push(run);
        }
    }

    /// Appends one frame; `payload` is masked on the way in if the header
    /// carries a key.
    pub(crate) fn push(&mut self, header: &FrameHeader, payload: Payload<'_>) {
        let mut head = [0u8; MAX_HEADER_LEN];
        let head_len = header.encode(&mut head);
        let payload_len = payload.len();
        self.len += head_len + payload_len;
        match (header.mask, payload) {
            (None, Payload::Shared(bytes)) if payload_len > INLINE_MAX => {
                self.tail.owned(head_len).extend_from_slice(&head[..head_len]);
                self.end_run();
                self.chunks.push(bytes);
            }
            (mask, payload) => {
                let tail = self.tail.owned(head_len + payload_len);
                tail.extend_from_slice(&head[..head_len]);
                let start = tail.len();
                tail.extend_from_slice(payload.as_slice());
                if let Some(key) = mask {
                    apply_mask(&mut tail[start..], key, 0);
                }
            }
        }
    }
}

/// A payload to queue: shared bytes can be queued without a copy.
pub(crate) enum Payload<'a> {
    Shared(Bytes),
    Borrowed(&'a [u8]),
}

impl Payload<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Shared(b) => b,
            Payload::Borrowed(s) => s,
        }
    }

    fn len(&self) -> usize {
        self.as_slice().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OpCode;

    fn header(len: usize, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask, payload_len: len as u64 }
    }

    fn drain(q: &mut SendQueue, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while !q.is_empty() {
            let mut slices = [IoSlice::new(&[]); 4];
            let n = q.io_slices(&mut slices);
            let flat: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
            let take = flat.len().min(step);
            out.extend_from_slice(&flat[..take]);
            q.advance(take);
        }
        out
    }

    /// The tail's own buffer, if it has one.
    fn tail_capacity(q: &SendQueue) -> usize {
        match &q.tail {
            Tail::Owned(b) => b.capacity(),
            Tail::Shared(_) => 0,
        }
    }

    /// Written out, a queue keeps at most a small buffer, for the next
    /// write (its connection lets it go: see `Connection::advance_output`).
    #[test]
    fn an_empty_queue_keeps_only_a_small_buffer() {
        let mut q = SendQueue::default();
        q.push(&header(3, None), Payload::Borrowed(b"abc"));
        q.push(&header(5000, None), Payload::Shared(Bytes::from(vec![1u8; 5000])));
        assert!(tail_capacity(&q) > 0 || q.chunks.capacity() > 0);
        q.advance(4);
        assert_eq!(q.len(), 5 + 4 + 5000 - 4, "not empty yet");
        assert!(q.chunks.capacity() > 0);
        let left = q.len();
        q.advance(left);
        assert!(q.is_empty());
        assert!(tail_capacity(&q) <= SPARE_TAIL_MAX && q.chunks.capacity() <= SPARE_CHUNKS_MAX);
        assert!(std::mem::size_of::<SendQueue>() <= 72, "every connection carries one");
        q.push(&header(9000, None), Payload::Borrowed(&[0; 9000]));
        q.advance(9004);
        assert_eq!(tail_capacity(&q), 0, "no large buffer kept");
    }

    /// A queue let go becomes the thread's spare, with its small buffer
    /// and nothing queued; the next one taken is that one.
    #[test]
    fn a_queue_let_go_is_the_next_one_taken() {
        let mut q = SendQueue::take_spare();
        q.push(&header(100, None), Payload::Borrowed(&[1; 100]));
        q.advance(50);
        let at = &*q as *const SendQueue;
        q.recycle();
        let q = SendQueue::take_spare();
        assert_eq!(&*q as *const SendQueue, at, "the same queue");
        assert!(q.is_empty() && q.first_chunk().is_empty());
        assert!(tail_capacity(&q) >= 100, "its buffer kept");
        assert!(SPARE.with(|s| s.take()).is_none(), "taken");
    }

    /// The common fan-out batch, one shared frame: queued by reference,
    /// written from the shared bytes. A second small frame is copied after
    /// it; a large one is queued by reference.
    #[test]
    fn a_shared_frame_on_an_empty_queue_is_not_copied() {
        let mut q = SendQueue::default();
        let frame = Bytes::from_static(&[0x82, 2, b'h', b'i']);
        q.push_encoded(frame.clone());
        assert!(matches!(&q.tail, Tail::Shared(b) if b.as_ptr() == frame.as_ptr()), "by reference");
        assert_eq!((q.chunks.capacity(), q.is_contiguous(), q.first_chunk()), (0, true, &frame[..]));
        q.advance(1);
        assert_eq!(q.first_chunk(), &frame[1..]);
        q.push_encoded(Bytes::from_static(&[0x81, 1, b'x']));
        q.push(&header(1, None), Payload::Borrowed(b"y"));
        let big = Bytes::from(vec![5u8; INLINE_MAX + 10]);
        q.push_encoded(big.clone());
        assert!(q.chunks.iter().any(|c| c.as_ptr() == big.as_ptr()), "a large frame by reference");
        let bytes = drain(&mut q, 701);
        assert_eq!(&bytes[..9], &[2, b'h', b'i', 0x81, 1, b'x', 0x82, 1, b'y']);
        assert_eq!(&bytes[9..], &big[..]);
        assert!(q.is_empty());
    }

    #[test]
    fn large_unmasked_payload_is_not_copied() {
        let mut q = SendQueue::default();
        let big = Bytes::from(vec![7u8; 10_000]);
        q.push(&header(3, None), Payload::Borrowed(b"abc"));
        q.push(&header(big.len(), None), Payload::Shared(big.clone()));
        q.push(&header(1, None), Payload::Borrowed(b"z"));
        assert!(q.chunks.iter().any(|c| c.as_ptr() == big.as_ptr()), "payload queued as is");
        let bytes = drain(&mut q, 333);
        assert_eq!(&bytes[..5], &[0x82, 3, b'a', b'b', b'c']);
        assert_eq!(&bytes[5..9], &[0x82, 126, 0x27, 0x10]);
        assert!(bytes[9..10_009].iter().all(|&b| b == 7));
        assert_eq!(&bytes[10_009..], &[0x82, 1, b'z']);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn masked_payload_is_masked_in_queue() {
        let mut q = SendQueue::default();
        q.push(&header(5, Some([0x37, 0xfa, 0x21, 0x3d])), Payload::Borrowed(b"Hello"));
        let bytes = drain(&mut q, 1);
        assert_eq!(bytes, [0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }
}
