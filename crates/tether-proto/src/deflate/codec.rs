//! The compressor and decompressor of one connection.

use bytes::BytesMut;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{DeflateConfig, SYNC_FLUSH_TAIL};
use crate::handshake::extensions::DeflateParams;
use crate::{ProtocolError, Role};

/// The decompressor always uses the largest window: it can read anything a
/// smaller window produced, so the peer's window setting needs no match here.
const INFLATE_WINDOW_BITS: u8 = 15;

/// permessage-deflate state of one connection. Each side's zlib state is
/// created on first use and dropped after each message when that side has
/// no context takeover.
pub(crate) struct Deflate {
    level: u32,
    threshold: usize,
    /// Our window; `None` when the peer asked for 8 bits, which zlib cannot
    /// produce as raw deflate: we then send every message uncompressed,
    /// which the RFC allows.
    window_bits: Option<u8>,
    compress_reset: bool,
    decompress_reset: bool,
    /// A message was compressed since the last [`Deflate::release_unused_compressor`].
    compressed_lately: bool,
    compressor: Option<Compress>,
    decompressor: Option<Decompress>,
}

impl std::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflate")
            .field("level", &self.level)
            .field("window_bits", &self.window_bits)
            .field("compress_reset", &self.compress_reset)
            .field("decompress_reset", &self.decompress_reset)
            .finish_non_exhaustive()
    }
}

impl Deflate {
    pub(crate) fn new(role: Role, params: &DeflateParams, config: &DeflateConfig) -> Self {
        let (our_bits, our_reset, their_reset) = match role {
            Role::Server => {
                (params.server_max_window_bits, params.server_no_context_takeover, params.client_no_context_takeover)
            }
            Role::Client => {
                (params.client_max_window_bits, params.client_no_context_takeover, params.server_no_context_takeover)
            }
        };
        let bits = our_bits.unwrap_or(15).min(config.max_window_bits);
        Deflate {
            level: config.level.min(9),
            threshold: config.threshold,
            window_bits: (bits >= 9).then_some(bits),
            compress_reset: our_reset || config.no_context_takeover,
            decompress_reset: their_reset,
            compressed_lately: false,
            compressor: None,
            decompressor: None,
        }
    }

    /// Whether a message of `len` bytes should go out compressed.
    pub(crate) fn wants(&self, len: usize) -> bool {
        self.window_bits.is_some() && len >= self.threshold
    }

    /// Compresses one whole message; `None` if zlib failed (send it plain).
    pub(crate) fn compress(&mut self, input: &[u8]) -> Option<Vec<u8>> {
        let bits = self.window_bits?;
        let level = self.level;
        let c =
            self.compressor.get_or_insert_with(|| Compress::new_with_window_bits(Compression::new(level), false, bits));
        let out = sync_flush(c, input)?;
        if self.compress_reset {
            self.compressor = None;
        }
        self.compressed_lately = true;
        Some(out)
    }

    /// Drops the compressor if no message was compressed since the last
    /// call (the connection calls it at each keepalive ping, so a compressor
    /// idle for a whole interval goes). With context takeover the peer keeps
    /// its window, but a fresh compressor refers only to what it compresses
    /// itself, which the peer also receives: any sender may start afresh
    /// without telling the peer. The next message compresses a little worse;
    /// meanwhile the connection gives back the compressor (320 KiB at 15-bit
    /// windows).
    pub(crate) fn release_unused_compressor(&mut self) {
        if !self.compressed_lately {
            self.compressor = None;
        }
        self.compressed_lately = false;
    }

    /// The window and level our messages are compressed with, when each
    /// message is compressed alone (no context takeover on our side) and
    /// `len` bytes are worth compressing: such a connection can send a
    /// frame compressed once for many ([`crate::PreparedMessage`]).
    pub(crate) fn shared_settings(&self, len: usize) -> Option<(u8, u32)> {
        (self.compress_reset && self.wants(len)).then_some((self.window_bits?, self.level))
    }

    /// Inflates one frame of a compressed message onto `out`, failing with
    /// close 1009 as soon as the message would exceed `max` bytes, so a
    /// decompression bomb costs at most `max` bytes of memory.
    pub(crate) fn decompress(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut BytesMut,
        max: usize,
    ) -> Result<(), ProtocolError> {
        let d = self.decompressor.get_or_insert_with(|| Decompress::new_with_window_bits(false, INFLATE_WINDOW_BITS));
        inflate(d, input, out, max)?;
        if last {
            let ended = inflate(d, &SYNC_FLUSH_TAIL, out, max)?;
            if ended || self.decompress_reset {
                self.decompressor = None;
            }
        }
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn holds_compressor(&self) -> bool {
        self.compressor.is_some()
    }
}

/// Compresses one message alone, on a fresh window: what any peer that
/// agreed on `window_bits` or more can inflate, whatever it received before.
pub(crate) fn compress_alone(input: &[u8], level: u32, window_bits: u8) -> Option<Vec<u8>> {
    let mut c = Compress::new_with_window_bits(Compression::new(level.min(9)), false, window_bits.clamp(9, 15));
    sync_flush(&mut c, input)
}

/// Compresses `input` as one message: a sync flush, its tail stripped.
fn sync_flush(c: &mut Compress, input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    let start = c.total_in();
    loop {
        let consumed = (c.total_in() - start) as usize;
        c.compress_vec(&input[consumed..], &mut out, FlushCompress::Sync).ok()?;
        let done = (c.total_in() - start) as usize == input.len();
        // A sync flush is complete once zlib stops filling the buffer.
        if done && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    if out.ends_with(&SYNC_FLUSH_TAIL) {
        out.truncate(out.len() - SYNC_FLUSH_TAIL.len());
    }
    if out.is_empty() {
        // An empty message right after a flush: zlib has nothing to
        // write, but the peer appends the tail and must find a whole
        // empty stored block, so send its first byte (RFC 7692 7.2.3.6).
        out.push(0x00);
    }
    Some(out)
}

/// Feeds all of `input` to `d`, appending output to `out`. Returns whether
/// the deflate stream ended (a final block), after which the state is spent.
fn inflate(d: &mut Decompress, input: &[u8], out: &mut BytesMut, max: usize) -> Result<bool, ProtocolError> {
    let start = d.total_in();
    loop {
        let consumed = (d.total_in() - start) as usize;
        let len = out.len();
        // Room for a few times the input, and never past the limit (+1 to see it crossed).
        let room = ((input.len() - consumed) * 4).clamp(4096, 256 * 1024).min(max + 1 - len.min(max));
        out.resize(len + room, 0);
        let before = d.total_out();
        let status = d.decompress(&input[consumed..], &mut out[len..], FlushDecompress::Sync);
        let produced = (d.total_out() - before) as usize;
        out.truncate(len + produced);
        let status = status.map_err(|_| ProtocolError::InvalidCompressedData)?;
        if out.len() > max {
            return Err(ProtocolError::MessageTooLarge { size: out.len() as u64, max });
        }
        let all_in = (d.total_in() - start) as usize == input.len();
        match status {
            Status::StreamEnd => return Ok(true),
            // Output space left over means zlib has nothing more to give.
            _ if all_in && produced < room => return Ok(false),
            Status::BufError if produced == 0 => {
                return if all_in { Ok(false) } else { Err(ProtocolError::InvalidCompressedData) }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> DeflateParams {
        DeflateParams::default()
    }

    fn inflate_all(d: &mut Deflate, frames: &[&[u8]]) -> Result<Vec<u8>, ProtocolError> {
        let mut out = BytesMut::new();
        for (i, f) in frames.iter().enumerate() {
            d.decompress(f, i + 1 == frames.len(), &mut out, 1 << 20)?;
        }
        Ok(out.to_vec())
    }

    #[test]
    fn rfc_7692_hello_examples() {
        // 7.2.3.1: "Hello" compressed in one frame.
        let mut d = Deflate::new(Role::Client, &params(), &DeflateConfig::default());
        assert_eq!(inflate_all(&mut d, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(), b"Hello");
        // 7.2.3.2: the same message in two fragments.
        let mut d = Deflate::new(Role::Client, &params(), &DeflateConfig::default());
        assert_eq!(inflate_all(&mut d, &[&[0xf2, 0x48, 0xcd], &[0xc9, 0xc9, 0x07, 0x00]]).unwrap(), b"Hello");
        // 7.2.3.2: two messages sharing the LZ77 window (context takeover).
        let mut d = Deflate::new(Role::Client, &params(), &DeflateConfig::default());
        assert_eq!(inflate_all(&mut d, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(), b"Hello");
        assert_eq!(inflate_all(&mut d, &[&[0xf2, 0x00, 0x11, 0x00, 0x00]]).unwrap(), b"Hello");
        // 7.2.3.3: a stored (uncompressed) deflate block.
        let mut d = Deflate::new(Role::Client, &params(), &DeflateConfig::default());
        let stored = [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
        assert_eq!(inflate_all(&mut d, &[&stored]).unwrap(), b"Hello");
    }

    #[test]
    fn compress_matches_rfc_and_context_takeover_shrinks_repeats() {
        let config = DeflateConfig::default().threshold(0);
        let mut c = Deflate::new(Role::Server, &params(), &config);
        assert_eq!(c.compress(b"Hello").unwrap(), [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        let second = c.compress(b"Hello").unwrap();
        assert!(second.len() < 7, "the second Hello refers back to the first: {second:x?}");
        let mut d = Deflate::new(Role::Client, &params(), &config);
        assert_eq!(inflate_all(&mut d, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(), b"Hello");
        assert_eq!(inflate_all(&mut d, &[&second]).unwrap(), b"Hello");
    }

    #[test]
    fn an_empty_message_after_a_flush_keeps_the_streams_in_step() {
        // zlib writes nothing for an empty input right after a sync flush;
        // the peer still appends 00 00 ff ff, so the payload must carry the
        // stored block's first byte or the next message fails to inflate.
        let config = DeflateConfig::default().threshold(0);
        let mut c = Deflate::new(Role::Server, &params(), &config);
        let mut d = Deflate::new(Role::Client, &params(), &config);
        for message in [&b"Hello, Hello, Hello"[..], b"", b"", b"8c\x1cQ", b""] {
            let packed = c.compress(message).unwrap();
            assert!(!packed.is_empty());
            assert_eq!(inflate_all(&mut d, &[&packed]).unwrap(), message, "{message:?} as {packed:x?}");
        }
    }

    #[test]
    fn no_context_takeover_compresses_each_message_alone() {
        let p = DeflateParams { server_no_context_takeover: true, ..params() };
        let mut c = Deflate::new(Role::Server, &p, &DeflateConfig::default().threshold(0));
        let a = c.compress(b"Hello").unwrap();
        let b = c.compress(b"Hello").unwrap();
        assert_eq!(a, b);
        assert!(c.compressor.is_none(), "state is dropped between messages");
        // The receiving client resets too: each message decodes on a fresh window.
        let mut d = Deflate::new(Role::Client, &p, &DeflateConfig::default());
        assert_eq!(inflate_all(&mut d, &[&a]).unwrap(), b"Hello");
        assert!(d.decompressor.is_none());
        assert_eq!(inflate_all(&mut d, &[&b]).unwrap(), b"Hello");
    }

    #[test]
    #[cfg_attr(miri, ignore = "megabytes through zlib: hours under Miri; runs natively")]
    fn window_bits_are_honoured() {
        for bits in [9u8, 10, 12, 15] {
            let p = DeflateParams { client_max_window_bits: Some(bits), ..params() };
            let mut c = Deflate::new(Role::Client, &p, &DeflateConfig::default().threshold(0));
            let text: Vec<u8> = (0..200_000u32).map(|i| b"abcdefghij"[(i.wrapping_mul(i) % 7) as usize]).collect();
            let packed = c.compress(&text).unwrap();
            let mut d = Deflate::new(Role::Server, &p, &DeflateConfig::default());
            assert_eq!(inflate_all(&mut d, &[&packed]).unwrap(), text);
        }
        // 8 bits cannot be produced by zlib as raw deflate: send uncompressed.
        let p = DeflateParams { client_max_window_bits: Some(8), ..params() };
        let c = Deflate::new(Role::Client, &p, &DeflateConfig::default());
        assert!(!c.wants(1 << 20));
    }

    #[test]
    #[cfg_attr(miri, ignore = "megabytes through zlib: hours under Miri; runs natively")]
    fn bomb_is_stopped_at_the_limit() {
        let mut c = Deflate::new(Role::Server, &params(), &DeflateConfig::default().threshold(0));
        let zeros = vec![0u8; 50 << 20];
        let packed = c.compress(&zeros).unwrap();
        assert!(packed.len() < 100_000);
        let mut d = Deflate::new(Role::Client, &params(), &DeflateConfig::default());
        let mut out = BytesMut::new();
        let err = d.decompress(&packed, true, &mut out, 1 << 20).unwrap_err();
        assert!(matches!(err, ProtocolError::MessageTooLarge { max: 1048576, .. }));
        // Growth may double the buffer, never more.
        assert!(out.capacity() <= 2 * ((1 << 20) + 256 * 1024), "memory bounded: {}", out.capacity());
    }

    #[test]
    fn garbage_is_invalid_data() {
        let mut d = Deflate::new(Role::Client, &params(), &DeflateConfig::default());
        let err = inflate_all(&mut d, &[&[0xff, 0xff, 0xff, 0xff, 0x00, 0x12]]).unwrap_err();
        assert_eq!(err, ProtocolError::InvalidCompressedData);
    }
}
