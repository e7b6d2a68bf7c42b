//! Payload masking (RFC 6455 section 5.3).

/// XORs `buf` with the masking `key`, as if `buf` started `offset` bytes into
/// the payload. Masking and unmasking are the same operation.
///
/// Works 128 bytes at a time as eight 16-byte words, each XORed with the
/// key repeated, in a form the compiler turns into SIMD XORs (SSE2 on every
/// x86-64: see `xor_word`); no `unsafe` needed. Eight bytes at a time,
/// which it did not vectorize, took twice the instructions at 16 KiB. What
/// is left under 128 bytes goes 8, 4 and 1 at a time.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    if buf.len() >= ALIGN_FROM {
        return mask_aligned(buf, key, offset);
    }
    mask_words(buf, key, offset);
}

/// From this length up, [`apply_mask`] aligns the wide loop's words.
const ALIGN_FROM: usize = 4096;

/// [`apply_mask`] on a long buffer: a byte at a time up to a 16-byte
/// boundary, then the wide loop, so that none of its words straddles two
/// cache lines. Off the boundary by anything but 8 (a 1 MiB payload behind
/// its 14-byte header, say), the unaligned loop ran 9 to 25 % slower from
/// 4 KiB to 256 KiB here; 8 off it did not, and the head then costs up to
/// a tenth at 4 KiB and about 1 % at 16 KiB (bench/RESULTS.md, 2026-12-03).
/// Kept apart so that short buffers, most messages, pay one comparison.
#[inline(never)]
fn mask_aligned(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let lead = buf.as_ptr().align_offset(16);
    // `align_offset` may answer "cannot": then no head, the loop as it is.
    let (head, body) = buf.split_at_mut(if lead < 16 { lead } else { 0 });
    for (i, byte) in head.iter_mut().enumerate() {
        *byte ^= key[offset.wrapping_add(i) % 4];
    }
    // Wrapping keeps the phase: 2^64 is a multiple of 4.
    mask_words(body, key, offset.wrapping_add(head.len()));
}

/// [`apply_mask`] wherever `buf` starts.
#[inline(always)]
fn mask_words(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // The key from `offset`'s phase on, as 4 and 8 bytes (16 below),
    // in the order of memory (rotating the array itself took three calls
    // to memcpy).
    let turn = 8 * (offset % 4) as u32;
    let quad = match cfg!(target_endian = "little") {
        true => u32::from_ne_bytes(key).rotate_right(turn),
        false => u32::from_ne_bytes(key).rotate_left(turn),
    };
    let key = quad.to_ne_bytes();
    let double = u64::from(quad) | (u64::from(quad) << 32);
    // Every chunk starts at a multiple of 4, so the key's phase stays put.
    // 128-byte blocks: with 64, the compiler unrolled the loop half as far
    // (the same XORs, twice the loop's own instructions: 8 % more
    // instructions at 16 KiB under callgrind).
    let mut blocks = buf.chunks_exact_mut(128);
    // The 16-byte key is built only for a buffer that uses it: building it
    // for every buffer took a 20-byte message's masking from 80 to 133
    // instructions (callgrind).
    if blocks.len() > 0 {
        let wide: [u8; 16] = std::array::from_fn(|i| key[i % 4]);
        for block in &mut blocks {
            for word in block.chunks_exact_mut(16) {
                xor_word(word, &wide);
            }
        }
    }
    // Under 128 bytes left (a small message is all this): 8 at a time
    // (which the compiler pairs into 16-byte XORs from 32 bytes up), then
    // 4, then one at a time.
    let mut eights = blocks.into_remainder().chunks_exact_mut(8);
    for eight in &mut eights {
        if let Ok(eight) = <&mut [u8; 8]>::try_from(eight) {
            *eight = (u64::from_ne_bytes(*eight) ^ double).to_ne_bytes();
        }
    }
    let rest = eights.into_remainder();
    let (four, rest) = rest.split_at_mut(rest.len() & 4);
    if let Ok(four) = <&mut [u8; 4]>::try_from(four) {
        *four = (u32::from_ne_bytes(*four) ^ quad).to_ne_bytes();
    }
    for (byte, k) in rest.iter_mut().zip(key) {
        *byte ^= k;
    }
}

/// XORs a 16-byte `word` with `wide`, byte by byte: the form the compiler
/// makes one SIMD XOR of (SSE2 on every x86-64). Written as one `u128`
/// XOR, it became two 64-bit XORs into memory (rustc 1.95): the 10 x 16
/// KiB echo then spent 1.20 µs a message in user space, against 0.87
/// with this form (bench/RESULTS.md, 2026-12-03).
#[inline(always)]
fn xor_word(word: &mut [u8], wide: &[u8; 16]) {
    for (byte, k) in word.iter_mut().zip(wide) {
        *byte ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[i.wrapping_add(offset) % 4];
        }
    }

    #[test]
    fn rfc_5_7_masked_hello() {
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }

    #[test]
    fn matches_naive_for_all_lengths_and_offsets() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        for len in 0..200 {
            for offset in 0..8 {
                let mut a: Vec<u8> = (0..len as u8).collect();
                let mut b = a.clone();
                apply_mask(&mut a, key, offset);
                naive(&mut b, key, offset);
                assert_eq!(a, b, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "a million bytes masked byte by byte: minutes under Miri; runs natively")]
    fn matches_naive_wherever_the_buffer_starts() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let data: Vec<u8> = (0..4400u16).map(|i| (i * 13) as u8).collect();
        // Every start modulo 16, so every length of the head before the boundary.
        for start in 0..16 {
            for len in [0, 1, 15, 16, 17, 200, 4095, 4096, 4097, 4200, 4321] {
                for offset in [0, 1, 2, 3, usize::MAX - 1, usize::MAX] {
                    let mut a = data.clone();
                    let mut b = data.clone();
                    apply_mask(&mut a[start..start + len], key, offset);
                    naive(&mut b[start..start + len], key, offset);
                    assert_eq!(a, b, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn split_masking_equals_whole() {
        let key = [1, 2, 3, 4];
        let mut whole: Vec<u8> = (0..100).collect();
        let mut parts = whole.clone();
        apply_mask(&mut whole, key, 0);
        let (a, b) = parts.split_at_mut(37);
        apply_mask(a, key, 0);
        apply_mask(b, key, 37);
        assert_eq!(whole, parts);
    }
}
