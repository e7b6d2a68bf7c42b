//! permessage-deflate (RFC 7692): the endpoint's settings and the
//! per-connection compressor and decompressor. Agreeing on parameters is
//! part of the handshake: see [`crate::handshake::extensions`].
//!
//! # Memory
//!
//! Compression state is allocated on first use, not at the handshake, so a
//! connection that exchanges only small messages (under
//! [`DeflateConfig::threshold`]) or none never pays for it. Once used, a
//! compressor holds about `2^(window_bits + 2) + 192 KiB` (zlib-rs: the
//! window and its chains, then a 128 KiB hash table and 64 KiB of output
//! buffer whatever the window; 320 KiB at the default 15 bits, 319 KiB
//! measured per connection) and a decompressor about 40 KiB. With no
//! context takeover on a side, that side's state is dropped after each
//! message. With context takeover, the compressor is dropped at a
//! keepalive ping when no message was compressed since the ping before
//! (the peer cannot tell: see `Deflate::release_unused_compressor`), so a
//! connection idle for two ping intervals holds at most a decompressor.

mod codec;

pub(crate) use codec::{compress_alone, Deflate};

/// The four bytes a sync flush ends with (an empty stored block): the
/// sender strips them from every compressed message and the receiver
/// appends them before inflating (RFC 7692 7.2.1, 7.2.2).
pub const SYNC_FLUSH_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// permessage-deflate settings of one endpoint, in either role.
///
/// "Our" side is what this endpoint sends; "the peer's" is what it receives.
/// The defaults follow the common peers (Node `ws`, Python `websockets`,
/// browsers): compress with zlib's default level and a full window, keep
/// context between messages, and leave messages under 1 KiB uncompressed,
/// where deflate rarely pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// zlib compression level, 0 (store) to 9 (best); default 6.
    pub level: u32,
    /// Messages shorter than this many bytes are sent uncompressed (default 1024).
    pub threshold: usize,
    /// The largest LZ77 window we compress with, 9 to 15 (default 15).
    /// Smaller windows use less memory and compress less. Announced as
    /// `client_max_window_bits=N` / `server_max_window_bits=N` when below 15.
    pub max_window_bits: u8,
    /// Ask the peer to compress with at most this window, 8 to 15 (default: no request).
    pub request_peer_max_window_bits: Option<u8>,
    /// Reset our compressor after every message (less memory, less
    /// compression); announced to the peer. Default off.
    pub no_context_takeover: bool,
    /// Ask the peer to reset its compressor after every message. Default off.
    pub request_peer_no_context_takeover: bool,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            level: 6,
            threshold: 1024,
            max_window_bits: 15,
            request_peer_max_window_bits: None,
            no_context_takeover: false,
            request_peer_no_context_takeover: false,
        }
    }
}

impl DeflateConfig {
    /// Sets the compression level (clamped to 0–9).
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// Sets the size under which messages go uncompressed.
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Sets our window (clamped to 9–15: zlib cannot compress raw deflate with 8).
    pub fn max_window_bits(mut self, bits: u8) -> Self {
        self.max_window_bits = bits.clamp(9, 15);
        self
    }

    /// Asks the peer for a window of at most `bits` (clamped to 8–15).
    pub fn request_peer_max_window_bits(mut self, bits: u8) -> Self {
        self.request_peer_max_window_bits = Some(bits.clamp(8, 15));
        self
    }

    /// Resets our compressor after every message.
    pub fn no_context_takeover(mut self, on: bool) -> Self {
        self.no_context_takeover = on;
        self
    }

    /// Asks the peer to reset its compressor after every message.
    pub fn request_peer_no_context_takeover(mut self, on: bool) -> Self {
        self.request_peer_no_context_takeover = on;
        self
    }
}
