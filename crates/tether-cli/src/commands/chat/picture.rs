//! Received PNGs drawn in the terminal: each character cell shows two
//! pixels, the upper half block `▀` coloured with the top one and its
//! background with the bottom one.

use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};

/// The most character cells a picture takes across.
pub const MAX_COLUMNS: u32 = 48;
/// The most character rows a picture takes (two pixels each).
pub const MAX_ROWS: u32 = 16;
/// Larger images are not decoded: their pixels would not fit in memory
/// we want a chat message to take.
const MAX_PIXELS: u64 = 64 << 20;

/// A downscaled image, ready to draw as half blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    /// The decoded image's size in pixels.
    pub source_size: (u32, u32),
    /// One entry per character row: (top, bottom) colour of each cell.
    rows: Vec<Vec<(Color, Color)>>,
}

impl Picture {
    /// Decodes a PNG and scales it to fit [`MAX_COLUMNS`] × [`MAX_ROWS`];
    /// `None` if the bytes are not a PNG this can decode.
    pub fn from_png(bytes: &[u8]) -> Option<Picture> {
        let rgba = decode_rgba(bytes)?;
        Some(Picture::scaled(&rgba))
    }

    /// The picture's lines, as wide as the picture.
    pub fn lines(&self) -> Vec<Line<'static>> {
        self.rows
            .iter()
            .map(|row| {
                let cells = row.iter().map(|&(top, bottom)| Span::styled("▀", Style::new().fg(top).bg(bottom)));
                Line::from(cells.collect::<Vec<_>>())
            })
            .collect()
    }

    fn scaled(image: &Rgba) -> Picture {
        // Each cell is one pixel wide and two tall; keep the aspect ratio.
        let scale = f64::min(
            f64::min(1.0, MAX_COLUMNS as f64 / image.width as f64),
            (MAX_ROWS * 2) as f64 / image.height as f64,
        )
        .min(1.0);
        let columns = ((image.width as f64 * scale).round() as u32).max(1);
        let pixel_rows = ((image.height as f64 * scale).round() as u32).max(1);
        let sample = |x: u32, y: u32| -> Color {
            if y >= pixel_rows {
                return Color::Reset;
            }
            // Nearest neighbour: the source pixel under this one's centre.
            let sx = ((x as f64 + 0.5) / columns as f64 * image.width as f64) as u32;
            let sy = ((y as f64 + 0.5) / pixel_rows as f64 * image.height as f64) as u32;
            image.color(sx.min(image.width - 1), sy.min(image.height - 1))
        };
        let rows = (0..pixel_rows.div_ceil(2))
            .map(|row| (0..columns).map(|x| (sample(x, row * 2), sample(x, row * 2 + 1))).collect())
            .collect();
        Picture { source_size: (image.width, image.height), rows }
    }
}

/// 8-bit RGBA pixels, row by row.
struct Rgba {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Rgba {
    fn color(&self, x: u32, y: u32) -> Color {
        let i = ((y * self.width + x) * 4) as usize;
        let [r, g, b, a] = [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2], self.pixels[i + 3]];
        if a < 128 {
            Color::Reset // mostly transparent: show the terminal's background
        } else {
            Color::Rgb(r, g, b)
        }
    }
}

fn decode_rgba(bytes: &[u8]) -> Option<Rgba> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    // Palettes, 16-bit and sub-byte depths all become 8-bit channels.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().ok()?;
    let (width, height) = (reader.info().width, reader.info().height);
    if width == 0 || height == 0 || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return None;
    }
    let mut buf = vec![0; reader.output_buffer_size()?];
    let frame = reader.next_frame(&mut buf).ok()?;
    let channels: usize = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return None, // expanded by the transformation above
    };
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 4);
    for row in buf.chunks(frame.line_size).take(height as usize) {
        for px in row[..width as usize * channels].chunks_exact(channels) {
            pixels.extend_from_slice(&match *px {
                [v] => [v, v, v, 255],
                [v, a] => [v, v, v, a],
                [r, g, b] => [r, g, b, 255],
                [r, g, b, a] => [r, g, b, a],
                _ => unreachable!("chunks of 1 to 4 channels"),
            });
        }
    }
    Some(Rgba { width, height, pixels })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(width: u32, height: u32, color: png::ColorType, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(data).unwrap();
        writer.finish().unwrap();
        out
    }

    #[test]
    fn two_pixels_share_a_cell_top_and_bottom() {
        // 2×2: red over blue in the left column, green over transparent in the right.
        let data = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 9, 9, 9, 0];
        let picture = Picture::from_png(&encode(2, 2, png::ColorType::Rgba, &data)).unwrap();
        assert_eq!(
            picture.rows,
            vec![vec![(Color::Rgb(255, 0, 0), Color::Rgb(0, 0, 255)), (Color::Rgb(0, 255, 0), Color::Reset)]]
        );
        let line = &picture.lines()[0];
        assert_eq!(line.spans.len(), 2);
        assert_eq!(line.spans[0].content, "▀");
        assert_eq!(line.spans[0].style.fg, Some(Color::Rgb(255, 0, 0)));
    }

    #[test]
    fn large_images_shrink_to_fit_keeping_their_shape() {
        let picture = Picture::from_png(&crate::echo_server::demo_image::png()).unwrap();
        assert_eq!(
            picture.source_size,
            (crate::echo_server::demo_image::WIDTH, crate::echo_server::demo_image::HEIGHT)
        );
        let width = picture.rows[0].len() as u32;
        assert!(width <= MAX_COLUMNS && picture.rows.len() as u32 <= MAX_ROWS, "{width}×{}", picture.rows.len());
        // 96×64 is 3:2; in half blocks, 2 pixel rows per character row.
        assert_eq!((width, picture.rows.len()), (MAX_COLUMNS, 16));
    }

    #[test]
    fn grey_odd_height_and_garbage() {
        let picture = Picture::from_png(&encode(1, 3, png::ColorType::Grayscale, &[0, 128, 255])).unwrap();
        assert_eq!(
            picture.rows,
            vec![
                vec![(Color::Rgb(0, 0, 0), Color::Rgb(128, 128, 128))],
                vec![(Color::Rgb(255, 255, 255), Color::Reset)]
            ]
        );
        assert!(Picture::from_png(b"\x89PNG\r\n\x1a\nnot really").is_none());
        assert!(Picture::from_png(b"hello").is_none());
    }
}
