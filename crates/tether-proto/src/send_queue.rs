//! The send queue: encoded frames waiting to be written to the transport.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::{FrameHeader, MAX_HEADER_LEN};
use crate::mask::apply_mask;

/// Payloads up to this size are copied next to their header: one small copy
/// is cheaper than an extra iovec. Larger server payloads are queued as they
/// are and go out with a vectored write, without a copy.
const INLINE_MAX: usize = 4096;

/// Encoded frames in send order: `chunks`, then `tail`.
///
/// Small frames are coalesced into `tail`; a large unmasked payload is kept as
/// its own [`Bytes`] chunk, so writing it copies nothing.
#[derive(Debug, Default)]
pub struct SendQueue {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
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
    /// it used. Pass them to a vectored write, then call [`advance`](Self::advance).
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        let parts = self.chunks.iter().map(|c| &c[..]).chain(std::iter::once(&self.tail[..]));
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
        self.chunks.iter().find(|c| !c.is_empty()).map_or(&self.tail[..], |c| &c[..])
    }

    /// Drops everything queued (when the connection is abandoned).
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.tail = BytesMut::new();
        self.len = 0;
    }

    /// Drops the first `n` queued bytes, which the transport has written.
    pub fn advance(&mut self, mut n: usize) {
        let n_total = n.min(self.len);
        n = n_total;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(front) if front.len() <= n => {
                    n -= front.len();
                    self.chunks.pop_front();
                }
                Some(front) => {
                    front.advance(n);
                    n = 0;
                }
                None => {
                    self.tail.advance(n);
                    n = 0;
                }
            }
        }
        self.len -= n_total;
        if self.len == 0 {
            // An empty queue holds no allocation: most connections are idle
            // most of the time, and one allocation per write costs less
            // than a buffer kept by each of them.
            self.tail = BytesMut::new();
            self.chunks = VecDeque::new();
        }
    }

    /// Appends a frame that is already encoded (a server frame shared by
    /// many connections): small ones are copied into the tail like any
    /// small frame, larger ones are queued by reference.
    pub(crate) fn push_encoded(&mut self, frame: Bytes) {
        self.len += frame.len();
        if frame.len() > INLINE_MAX {
            if !self.tail.is_empty() {
                self.chunks.push_back(self.tail.split().freeze());
            }
            self.chunks.push_back(frame);
        } else {
            self.tail.extend_from_slice(&frame);
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
                self.tail.extend_from_slice(&head[..head_len]);
                self.chunks.push_back(self.tail.split().freeze());
                self.chunks.push_back(bytes);
            }
            (mask, payload) => {
                self.tail.reserve(head_len + payload_len);
                self.tail.extend_from_slice(&head[..head_len]);
                let start = self.tail.len();
                self.tail.extend_from_slice(payload.as_slice());
                if let Some(key) = mask {
                    apply_mask(&mut self.tail[start..], key, 0);
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

    #[test]
    fn an_empty_queue_holds_no_allocation() {
        let mut q = SendQueue::default();
        q.push(&header(3, None), Payload::Borrowed(b"abc"));
        q.push(&header(5000, None), Payload::Shared(Bytes::from(vec![1u8; 5000])));
        assert!(q.tail.capacity() > 0 && q.chunks.capacity() > 0);
        q.advance(4);
        assert_eq!(q.len(), 5 + 4 + 5000 - 4, "not empty yet");
        assert!(q.tail.capacity() > 0 || q.chunks.capacity() > 0);
        let left = q.len();
        q.advance(left);
        assert!(q.is_empty());
        assert_eq!((q.tail.capacity(), q.chunks.capacity()), (0, 0), "an idle connection holds no send buffer");
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
