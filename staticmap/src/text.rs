//! One line of text as a path: glyph outlines of the embedded font laid left to right by their
//! advances (no shaping, no kerning: legend titles, labels and the attribution are short Latin
//! lines, which DejaVu Sans covers with precomposed accented letters).

use std::sync::LazyLock;
use tiny_skia::{Path, PathBuilder};
use ttf_parser::{Face, GlyphId, OutlineBuilder};

/// DejaVu Sans (Bitstream Vera licence, `assets/fonts/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

static FACE: LazyLock<Option<Face<'static>>> = LazyLock::new(|| Face::parse(FONT, 0).ok());

/// The ellipsis that ends a shortened line.
const ELLIPSIS: char = '…';

fn face() -> Option<&'static Face<'static>> {
    FACE.as_ref()
}

fn glyph(face: &Face<'_>, c: char) -> GlyphId {
    // A character the font lacks is drawn as its "missing" glyph (a box), as text engines do.
    face.glyph_index(c).unwrap_or(GlyphId(0))
}

/// Width of `text` at `size_px` (the em size), pixels.
pub fn width_px(text: &str, size_px: f32) -> f32 {
    let Some(face) = face() else { return 0.0 };
    let scale = size_px / f32::from(face.units_per_em());
    text.chars().map(|c| f32::from(face.glyph_hor_advance(glyph(face, c)).unwrap_or(0)) * scale).sum()
}

/// `text`, or its longest start followed by an ellipsis, that fits in `max_px`.
pub fn fit(text: &str, size_px: f32, max_px: f32) -> String {
    if width_px(text, size_px) <= max_px {
        return text.to_owned();
    }
    let mut out: String = text.to_owned();
    while !out.is_empty() {
        out.pop();
        let candidate = format!("{}{ELLIPSIS}", out.trim_end());
        if width_px(&candidate, size_px) <= max_px {
            return candidate;
        }
    }
    String::new()
}

struct Pen<'a> {
    path: &'a mut PathBuilder,
    scale: f32,
    x: f32,
    y: f32,
}

impl OutlineBuilder for Pen<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        self.path.move_to(self.x + x * self.scale, self.y - y * self.scale);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        self.path.line_to(self.x + x * self.scale, self.y - y * self.scale);
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let s = self.scale;
        self.path.quad_to(self.x + x1 * s, self.y - y1 * s, self.x + x * s, self.y - y * s);
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let s = self.scale;
        self.path.cubic_to(
            self.x + x1 * s,
            self.y - y1 * s,
            self.x + x2 * s,
            self.y - y2 * s,
            self.x + x * s,
            self.y - y * s,
        );
    }
    fn close(&mut self) {
        self.path.close();
    }
}

/// The outlines of `text` at `size_px`, starting at `x` on the baseline `y` (pixels, y down);
/// `None` for text with nothing to draw (empty, spaces).
pub fn path(text: &str, size_px: f32, x: f32, y: f32) -> Option<Path> {
    let face = face()?;
    let scale = size_px / f32::from(face.units_per_em());
    let mut builder = PathBuilder::new();
    let mut pen_x = x;
    for c in text.chars() {
        let id = glyph(face, c);
        let mut pen = Pen { path: &mut builder, scale, x: pen_x, y };
        // A glyph without an outline (a space) only advances.
        let _ = face.outline_glyph(id, &mut pen);
        pen_x += f32::from(face.glyph_hor_advance(id).unwrap_or(0)) * scale;
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_font_parses_and_lines_have_widths() {
        assert!(face().is_some(), "the embedded font parses");
        let w = width_px("Ordre public", 12.0);
        assert!(w > 50.0 && w < 120.0, "{w}");
        // Twice the size, twice the width; accented letters have widths too.
        assert!((width_px("Ordre public", 24.0) - 2.0 * w).abs() < 0.01);
        assert!(width_px("é", 12.0) > 3.0);
        assert!(width_px("", 12.0).abs() < f32::EPSILON);
    }

    #[test]
    fn a_path_covers_the_line() {
        let p = path("Santé 5 km", 12.0, 10.0, 20.0).expect("glyphs");
        let b = p.bounds();
        // From the start point to about its width, above the baseline (caps about 0.73 em).
        assert!(b.left() >= 10.0 && b.left() < 12.0, "{b:?}");
        assert!((b.right() - (10.0 + width_px("Santé 5 km", 12.0))).abs() < 2.0, "{b:?}");
        assert!(b.top() < 20.0 - 8.0 && b.bottom() <= 20.5, "{b:?}");
        assert!(path("   ", 12.0, 0.0, 0.0).is_none());
    }

    #[test]
    fn long_lines_are_shortened_with_an_ellipsis() {
        let long = "Densité des signalements (H3) sur toute la région";
        let short = fit(long, 12.0, 100.0);
        assert!(short.ends_with('…') && short.len() < long.len(), "{short}");
        assert!(width_px(&short, 12.0) <= 100.0);
        assert_eq!(fit("Cyber", 12.0, 100.0), "Cyber");
    }
}
