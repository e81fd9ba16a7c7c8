//! The embedded fonts and the shaping that both measures and draws text.
//!
//! Lines are wrapped with the advances of [`rustybuzz`]'s glyphs (kerning included) and drawn
//! with the same glyphs through krilla's `draw_glyphs`, so a measured line is the drawn line.

use std::cell::RefCell;
use std::collections::HashMap;

use krilla::text::{Font, GlyphId, KrillaGlyph};
use rustybuzz::{Direction, ShapePlan, UnicodeBuffer, script};

use crate::Error;

/// DejaVu Sans, the workspace's one copy (Bitstream Vera licence,
/// `staticmap/assets/fonts/DejaVuSans-LICENSE.txt`).
static REGULAR: &[u8] = include_bytes!("../../staticmap/assets/fonts/DejaVuSans.ttf");
/// DejaVu Sans Bold, same licence.
static BOLD: &[u8] = include_bytes!("../../staticmap/assets/fonts/DejaVuSans-Bold.ttf");

/// Regular and bold, loaded once per document.
pub(crate) struct Fonts {
    /// Body text.
    pub(crate) regular: Face,
    /// Headings, table headers, strong cells, the marking.
    pub(crate) bold: Face,
}

impl Fonts {
    /// Parses the embedded fonts.
    pub(crate) fn load() -> Result<Self, Error> {
        Ok(Self { regular: Face::new(REGULAR, "DejaVuSans")?, bold: Face::new(BOLD, "DejaVuSans-Bold")? })
    }

    /// Regular or bold.
    pub(crate) fn face(&self, bold: bool) -> &Face {
        if bold { &self.bold } else { &self.regular }
    }
}

/// One font: its shaper, its krilla handle and the widths measured so far.
pub(crate) struct Face {
    shaper: rustybuzz::Face<'static>,
    /// Built once: a plan per `shape` call costs more than shaping a word.
    plan: ShapePlan,
    /// The font krilla embeds (and subsets).
    pub(crate) pdf: Font,
    units_per_em: f32,
    /// Height of a capital letter, in em.
    pub(crate) cap_height_em: f32,
    /// Widths in em of the words measured: a report repeats its words (table columns above
    /// all), and measuring is shaping.
    widths: RefCell<HashMap<String, f32>>,
    /// Reused between shapings.
    buffer: RefCell<Option<UnicodeBuffer>>,
}

impl Face {
    fn new(data: &'static [u8], name: &'static str) -> Result<Self, Error> {
        let shaper = rustybuzz::Face::from_slice(data, 0).ok_or(Error::Font(name))?;
        let pdf = Font::new(data.into(), 0).ok_or(Error::Font(name))?;
        let units_per_em = f32::from(u16::try_from(shaper.units_per_em()).map_err(|_| Error::Font(name))?);
        let cap_height_em = shaper.capital_height().map_or(0.72, |h| f32::from(h) / units_per_em);
        let plan = ShapePlan::new(&shaper, Direction::LeftToRight, Some(script::LATIN), None, &[]);
        Ok(Self {
            shaper,
            plan,
            pdf,
            units_per_em,
            cap_height_em,
            widths: RefCell::new(HashMap::new()),
            buffer: RefCell::new(None),
        })
    }

    /// Shapes `text` left to right: the glyphs (advances in em, text ranges into `text`) and
    /// the total advance in em.
    pub(crate) fn shape(&self, text: &str) -> (Vec<KrillaGlyph>, f32) {
        let mut buffer = self.buffer.borrow_mut().take().unwrap_or_default();
        buffer.push_str(text);
        // Our reports are Latin text; the plan is built for that direction and script, and
        // the buffer must say the same (other scripts still get their glyphs, unshaped).
        buffer.set_direction(Direction::LeftToRight);
        buffer.set_script(script::LATIN);
        let shaped = rustybuzz::shape_with_plan(&self.shaper, &self.plan, buffer);
        let infos = shaped.glyph_infos();
        let positions = shaped.glyph_positions();
        let em = self.units_per_em;
        let mut glyphs = Vec::with_capacity(infos.len());
        let mut total = 0.0;
        for (i, (info, pos)) in infos.iter().zip(positions).enumerate() {
            let start = info.cluster as usize;
            // Left to right, clusters grow: this glyph's text ends where the next cluster starts.
            let end = infos[i + 1..]
                .iter()
                .find(|next| next.cluster != info.cluster)
                .map_or(text.len(), |next| next.cluster as usize);
            let advance = pos.x_advance as f32 / em;
            total += advance;
            glyphs.push(KrillaGlyph {
                glyph_id: GlyphId::new(info.glyph_id),
                text_range: start..end,
                x_advance: advance,
                x_offset: pos.x_offset as f32 / em,
                y_offset: pos.y_offset as f32 / em,
                y_advance: pos.y_advance as f32 / em,
                location: None,
            });
        }
        *self.buffer.borrow_mut() = Some(shaped.clear());
        (glyphs, total)
    }

    /// The advance of `text` in em (multiply by the font size), measured once per word.
    pub(crate) fn width_em(&self, text: &str) -> f32 {
        if let Some(&w) = self.widths.borrow().get(text) {
            return w;
        }
        let (_, w) = self.shape(text);
        self.widths.borrow_mut().insert(text.to_owned(), w);
        w
    }
}

#[cfg(test)]
mod tests {
    use super::Fonts;

    #[test]
    fn shaping_keeps_text_ranges_and_kerns() {
        let fonts = Fonts::load().unwrap();
        let text = "Été à Paris";
        let (glyphs, w) = fonts.regular.shape(text);
        assert_eq!(glyphs.len(), text.chars().count());
        assert_eq!(glyphs[0].text_range, 0..2, "É is two bytes");
        assert_eq!(glyphs.last().unwrap().text_range.end, text.len());
        assert!(w > 4.0 && w < 8.0, "{w} em");
        // DejaVu Sans kerns "AV": the pair is narrower than its letters apart.
        let pair = fonts.regular.width_em("AV");
        let apart = fonts.regular.width_em("A") + fonts.regular.width_em("V");
        assert!(pair < apart - 0.01, "{pair} vs {apart}");
        assert!(fonts.bold.width_em("Situation") > fonts.regular.width_em("Situation"));
    }
}
