//! Incremental UTF-8 validation for text messages that arrive in pieces.

/// Validates a text message piece by piece, so an invalid byte is caught as
/// soon as it arrives, even in the middle of a frame of a fragmented message.
///
/// Holds at most three bytes: the start of a code point cut by a piece boundary.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: u8,
}

/// The text is not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece of the message. `last` says whether the message
    /// ends with it, in which case a cut code point is an error too.
    pub fn feed(&mut self, mut bytes: &[u8], last: bool) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            // Complete the code point cut at the previous boundary first.
            let have = usize::from(self.partial_len);
            let need = utf8_len(self.partial[0]).ok_or(InvalidUtf8)?;
            let take = (need - have).min(bytes.len());
            self.partial[have..have + take].copy_from_slice(&bytes[..take]);
            let now = have + take;
            bytes = &bytes[take..];
            match std::str::from_utf8(&self.partial[..now]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_none() && now < need => {
                    self.partial_len = now as u8;
                    return if last { Err(InvalidUtf8) } else { Ok(()) };
                }
                Err(_) => return Err(InvalidUtf8),
            }
        }
        match simdutf8::compat::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() && !last => {
                let tail = &bytes[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Forgets any state: the next piece starts a new message.
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }
}

/// The length of a code point from its lead byte, `None` if it cannot lead.
fn utf8_len(lead: u8) -> Option<usize> {
    match lead {
        0x00..=0x7F => Some(1),
        0xC2..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF4 => Some(4),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_everywhere(bytes: &[u8]) -> bool {
        let whole = std::str::from_utf8(bytes).is_ok();
        for cut in 0..=bytes.len() {
            let mut v = Utf8Validator::new();
            let ok = v.feed(&bytes[..cut], false).and_then(|_| v.feed(&bytes[cut..], true)).is_ok();
            assert_eq!(ok, whole, "{bytes:x?} cut at {cut}");
        }
        // One byte at a time.
        let mut v = Utf8Validator::new();
        let mut ok = true;
        for (i, b) in bytes.iter().enumerate() {
            if v.feed(std::slice::from_ref(b), i + 1 == bytes.len()).is_err() {
                ok = false;
                break;
            }
        }
        if bytes.is_empty() {
            ok = v.feed(&[], true).is_ok();
        }
        assert_eq!(ok, whole, "{bytes:x?} bytewise");
        whole
    }

    #[test]
    fn agrees_with_std_on_every_split() {
        let samples: &[&[u8]] = &[
            b"",
            b"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
            "κόσμε 🚀 ✓".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xf4\x90\x80\x80",
            b"\xf0\x9f\x98",
            b"\xc0\xaf",
            b"\xed\xa0\x80",
            b"\xef\xbf\xbf",
            b"\x80",
            b"ab\xe2\x82",
        ];
        for s in samples {
            split_everywhere(s);
        }
    }

    #[test]
    fn fails_fast_before_message_end() {
        let mut v = Utf8Validator::new();
        v.feed("κόσμε".as_bytes(), false).unwrap();
        // 0xED 0xA0 is the start of a surrogate: invalid without waiting for more.
        assert_eq!(v.feed(&[0xED, 0xA0], false), Err(InvalidUtf8));
        let mut v = Utf8Validator::new();
        v.feed(&[0xF4], false).unwrap();
        assert_eq!(v.feed(&[0x90], false), Err(InvalidUtf8));
    }
}
