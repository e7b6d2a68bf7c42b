//! The picture the echo server sends on `/image`: generated, so the binary
//! needs no asset and every run sends the same bytes.

/// Width of the demo picture in pixels.
pub const WIDTH: u32 = 96;
/// Height of the demo picture in pixels.
pub const HEIGHT: u32 = 64;

/// A PNG of a sunset-coloured gradient behind a ring: easy to recognise,
/// even drawn with half blocks in a terminal.
pub fn png() -> Vec<u8> {
    let mut pixels = Vec::with_capacity((WIDTH * HEIGHT * 3) as usize);
    let (cx, cy) = (WIDTH as f32 / 2.0, HEIGHT as f32 / 2.0);
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let distance = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            let rgb = if (18.0..26.0).contains(&distance) {
                [250, 250, 235]
            } else {
                let t = y as f32 / (HEIGHT - 1) as f32;
                let s = x as f32 / (WIDTH - 1) as f32;
                [(40.0 + 215.0 * t) as u8, (60.0 + 90.0 * s * (1.0 - t)) as u8, (170.0 - 120.0 * t) as u8]
            };
            pixels.extend_from_slice(&rgb);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Writing to a Vec cannot fail, and the header matches the pixel data.
    let mut writer = encoder.write_header().expect("PNG header");
    writer.write_image_data(&pixels).expect("PNG data");
    writer.finish().expect("PNG end");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_a_png_of_the_stated_size() {
        let bytes = super::png();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (super::WIDTH, super::HEIGHT));
    }
}
