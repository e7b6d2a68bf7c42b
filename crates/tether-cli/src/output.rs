//! How received messages are printed on stdout: text as a line, binary as
//! a short hex preview or as raw bytes.

use std::io::Write;

use tether::Message;

use crate::flags::BinaryMode;

/// Writes `message` to `out` (a line, or raw bytes) and flushes.
pub fn print(out: &mut impl Write, message: &Message, mode: BinaryMode) -> std::io::Result<()> {
    match (message, mode) {
        (Message::Text(text), _) => writeln!(out, "{text}")?,
        (Message::Binary(bytes), BinaryMode::Raw) => out.write_all(bytes)?,
        (Message::Binary(bytes), BinaryMode::Hex) => writeln!(out, "{}", binary_preview(bytes))?,
    }
    out.flush()
}

/// `<binary N bytes: 89 50 4e 47 ...>`, with at most 16 bytes shown.
pub fn binary_preview(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > 16 { " ..." } else { "" };
    if bytes.is_empty() {
        "<binary 0 bytes>".to_owned()
    } else {
        format!("<binary {} bytes: {}{more}>", bytes.len(), shown.join(" "))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn preview_is_short_and_hex() {
        assert_eq!(super::binary_preview(&[]), "<binary 0 bytes>");
        assert_eq!(super::binary_preview(&[0x89, 0x50]), "<binary 2 bytes: 89 50>");
        assert!(super::binary_preview(&[0u8; 40]).ends_with("00 ...>"));
    }
}
