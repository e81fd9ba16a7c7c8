//! Painting on the pixmap: point symbols stamped from pre-drawn sprites, paths for lines,
//! polygons and hexagons, and the map furniture (legend, scale bar, north arrow,
//! attribution).

use crate::collect::{Dot, Shape, Symbol};
use crate::style::{self, INK, Rgb, WHITE};
use crate::text;
use crate::view::{ScaleBar, View};
use geo::{Coord, Geometry, LineString, Polygon};
use tiny_skia::{FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};

/// A point symbol drawn once: its rows of non-transparent pixels (premultiplied RGBA) around
/// its centre pixel.
#[derive(Debug)]
pub struct Sprite {
    /// Row offset, first column offset, the row's pixels.
    rows: Vec<(i32, i32, Vec<[u8; 4]>)>,
}

impl Sprite {
    /// Draws `symbol` centred on the middle of a pixel.
    pub fn of(symbol: Symbol) -> Self {
        let r = f32::from(symbol.radius_q) / 4.0;
        let ring = f32::from(symbol.ring_q) / 4.0;
        let half = (r + ring).ceil() as u32 + 1;
        let side = 2 * half + 1;
        let mut rows = Vec::new();
        if let Some(mut pm) = Pixmap::new(side, side) {
            let c = half as f32 + 0.5;
            if ring > 0.0
                && let Some(p) = PathBuilder::from_circle(c, c, r + ring)
            {
                pm.fill_path(&p, &paint(WHITE.with_alpha(1.0)), FillRule::Winding, Transform::identity(), None);
            }
            if let Some(p) = PathBuilder::from_circle(c, c, r) {
                pm.fill_path(&p, &paint(symbol.colour.with_alpha(1.0)), FillRule::Winding, Transform::identity(), None);
            }
            for (y, row) in pm.pixels().chunks_exact(side as usize).enumerate() {
                let Some(first) = row.iter().position(|p| p.alpha() > 0) else { continue };
                let last = row.iter().rposition(|p| p.alpha() > 0).unwrap_or(first);
                let pixels = row[first..=last].iter().map(|p| [p.red(), p.green(), p.blue(), p.alpha()]).collect();
                rows.push((y as i32 - half as i32, first as i32 - half as i32, pixels));
            }
        }
        Self { rows }
    }

    #[cfg(test)]
    fn pixel(&self, dx: i32, dy: i32) -> Option<[u8; 4]> {
        let (_, x0, row) = self.rows.iter().find(|(y, ..)| *y == dy)?;
        usize::try_from(dx - x0).ok().and_then(|i| row.get(i)).copied().filter(|p| p[3] > 0)
    }
}

#[inline]
fn mul255(a: u8, b: u8) -> u8 {
    let t = u32::from(a) * u32::from(b) + 128;
    ((t + (t >> 8)) >> 8) as u8
}

/// Stamps the dots (source-over, premultiplied), each with its symbol's sprite, a row at a
/// time.
pub fn dots(pm: &mut Pixmap, dots: &[Dot], sprites: &[Sprite]) {
    let (w, h) = (pm.width() as i32, pm.height() as i32);
    let data = pm.data_mut();
    for d in dots {
        let Some(sprite) = sprites.get(usize::from(d.symbol)) else { continue };
        let (x, y) = (i32::from(d.x), i32::from(d.y));
        for (dy, dx, row) in &sprite.rows {
            let py = y + dy;
            if py < 0 || py >= h {
                continue;
            }
            let x0 = x + dx;
            let (from, to) = ((-x0).max(0), (w - x0).min(row.len() as i32));
            if from >= to {
                continue;
            }
            let start = (py * w + x0 + from) as usize * 4;
            let dst = &mut data[start..start + (to - from) as usize * 4];
            for (out, src) in dst.chunks_exact_mut(4).zip(&row[from as usize..to as usize]) {
                let keep = 255 - src[3];
                if keep == 0 {
                    out.copy_from_slice(src);
                } else {
                    for k in 0..4 {
                        out[k] = src[k] + mul255(out[k], keep);
                    }
                }
            }
        }
    }
}

fn paint(colour: tiny_skia::Color) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color(colour);
    p.anti_alias = true;
    p
}

fn stroke(width: f32) -> Stroke {
    Stroke { width, line_cap: LineCap::Round, line_join: LineJoin::Round, ..Stroke::default() }
}

/// Adds a ring (closed) or a line (open), projected by `at`, leaving out vertices closer than
/// a quarter pixel to the last one kept.
fn trace(pb: &mut PathBuilder, coords: impl Iterator<Item = Coord<f64>>, view: &View, close: bool) {
    let mut last: Option<(f32, f32)> = None;
    let mut n = 0;
    for c in coords {
        let (x, y) = view.px(c);
        match last {
            None => pb.move_to(x, y),
            Some((lx, ly)) if (x - lx).abs() < 0.25 && (y - ly).abs() < 0.25 => continue,
            Some(_) => pb.line_to(x, y),
        }
        last = Some((x, y));
        n += 1;
    }
    if close && n > 0 {
        pb.close();
    }
}

fn polygon(pb: &mut PathBuilder, p: &Polygon<f64>, view: &View) {
    trace(pb, p.exterior().coords().copied(), view, true);
    for ring in p.interiors() {
        trace(pb, ring.coords().copied(), view, true);
    }
}

fn line(pb: &mut PathBuilder, l: &LineString<f64>, view: &View) {
    trace(pb, l.coords().copied(), view, false);
}

/// Draws lines as strokes and polygons as a translucent fill under an outline.
pub fn shapes(pm: &mut Pixmap, shapes: &[Shape], view: &View) {
    for s in shapes {
        let mut areas = PathBuilder::new();
        let mut lines = PathBuilder::new();
        match &*s.feature.geometry() {
            Geometry::Polygon(p) => polygon(&mut areas, p, view),
            Geometry::MultiPolygon(mp) => mp.iter().for_each(|p| polygon(&mut areas, p, view)),
            Geometry::LineString(l) => line(&mut lines, l, view),
            Geometry::MultiLineString(ml) => ml.iter().for_each(|l| line(&mut lines, l, view)),
            _ => {}
        }
        if let Some(path) = areas.finish() {
            pm.fill_path(&path, &paint(s.colour.with_alpha(s.fill)), FillRule::EvenOdd, Transform::identity(), None);
            let outline = paint(s.colour.with_alpha(s.stroke));
            pm.stroke_path(&path, &outline, &stroke(1.5), Transform::identity(), None);
        }
        if let Some(path) = lines.finish() {
            let p = paint(s.colour.with_alpha(s.stroke));
            pm.stroke_path(&path, &p, &stroke(s.width_px), Transform::identity(), None);
        }
    }
}

/// Draws H3 hexagons filled from the count ramp, with a faint white outline.
pub fn hexagons(pm: &mut Pixmap, cells: &[(h3o::CellIndex, u32)], view: &View) {
    let opacity = style::h3_opacity(view.zoom());
    let outline = paint(WHITE.with_alpha(0.6));
    for (cell, count) in cells {
        let hexagon = vigie_layers::h3::cell_polygon(*cell);
        let mut pb = PathBuilder::new();
        let ring = hexagon
            .exterior()
            .coords()
            .map(|c| vigie_layers::tile::lonlat_to_mercator(c.x.clamp(-180.0, 180.0), c.y))
            .collect::<Vec<_>>();
        trace(&mut pb, ring.into_iter(), view, true);
        if let Some(path) = pb.finish() {
            let fill = paint(style::h3_colour(*count).with_alpha(opacity));
            pm.fill_path(&path, &fill, FillRule::Winding, Transform::identity(), None);
            pm.stroke_path(&path, &outline, &stroke(0.5), Transform::identity(), None);
        }
    }
}

/// Fills a rectangle.
fn rect(pm: &mut Pixmap, x: f32, y: f32, w: f32, h: f32, colour: tiny_skia::Color) {
    if let Some(r) = Rect::from_xywh(x, y, w, h) {
        pm.fill_rect(r, &paint(colour), Transform::identity(), None);
    }
}

/// Draws a line of text at (`x`, baseline `y`), with a thin white halo so it reads over the
/// map.
pub fn label(pm: &mut Pixmap, s: &str, size_px: f32, x: f32, y: f32, colour: Rgb) {
    if let Some(path) = text::path(s, size_px, x, y) {
        let halo = paint(WHITE.with_alpha(0.8));
        pm.stroke_path(&path, &halo, &stroke(2.0), Transform::identity(), None);
        pm.fill_path(&path, &paint(colour.with_alpha(1.0)), FillRule::Winding, Transform::identity(), None);
    }
}

/// How a legend row shows its layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Swatch {
    /// A point of this colour (a venue: with a white ring).
    Point(Rgb, bool),
    /// An area: translucent fill and outline.
    Area(Rgb),
    /// The H3 ramp.
    Ramp,
    /// Nothing (a note).
    None,
}

/// A legend row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Symbol.
    pub swatch: Swatch,
    /// Title.
    pub title: String,
    /// Indented under the previous row (a theme of the whole log).
    pub indent: bool,
}

/// Padding of the furniture's panels and their distance to the image's edge, pixels.
pub const PAD_PX: f32 = 8.0;
/// Text size of the legend, pixels.
pub const LEGEND_TEXT_PX: f32 = 12.0;
/// Height of a legend row, pixels.
pub const ROW_PX: f32 = 18.0;
/// Text size of the attribution and scale bar, pixels.
pub const SMALL_TEXT_PX: f32 = 10.0;

/// Draws the legend panel at the top left: a heading and one row per layer. Rows that do not
/// fit in `max_h` end in "…"; titles longer than `max_w` are shortened.
pub fn legend(pm: &mut Pixmap, heading: &str, rows: &[Row], max_w: f32, max_h: f32) {
    let swatch_w = 14.0;
    let text_max = (max_w - 3.0 * PAD_PX - swatch_w - 10.0).max(20.0);
    let fits = (((max_h - 2.0 * PAD_PX) / ROW_PX).floor() as usize).saturating_sub(1).max(1);
    let (shown, more) = if rows.len() > fits { (&rows[..fits - 1], true) } else { (rows, false) };
    let titles: Vec<String> = shown
        .iter()
        .map(|r| text::fit(&r.title, LEGEND_TEXT_PX, text_max - if r.indent { 10.0 } else { 0.0 }))
        .collect();
    let widest = titles
        .iter()
        .zip(shown)
        .map(|(t, r)| text::width_px(t, LEGEND_TEXT_PX) + if r.indent { 10.0 } else { 0.0 })
        .fold(text::width_px(heading, LEGEND_TEXT_PX) - swatch_w - PAD_PX, f32::max);
    let w = 3.0 * PAD_PX + swatch_w + widest;
    let lines = 1 + shown.len() + usize::from(more);
    let h = 2.0 * PAD_PX + ROW_PX * lines as f32;
    let (x0, y0) = (PAD_PX, PAD_PX);
    rect(pm, x0, y0, w, h, WHITE.with_alpha(0.88));
    if let Some(r) = Rect::from_xywh(x0, y0, w, h) {
        let frame = PathBuilder::from_rect(r);
        pm.stroke_path(&frame, &paint(INK.with_alpha(0.35)), &stroke(1.0), Transform::identity(), None);
    }
    let baseline = |i: usize| y0 + PAD_PX + ROW_PX * i as f32 + 13.0;
    label(pm, heading, LEGEND_TEXT_PX, x0 + PAD_PX, baseline(0), INK);
    for (i, (row, title)) in shown.iter().zip(&titles).enumerate() {
        let indent = if row.indent { 10.0 } else { 0.0 };
        let sx = x0 + PAD_PX + indent;
        let cy = baseline(i + 1) - 4.0;
        match row.swatch {
            Swatch::Point(c, ring) => {
                if ring && let Some(p) = PathBuilder::from_circle(sx + 7.0, cy, 6.5) {
                    pm.fill_path(&p, &paint(WHITE.with_alpha(1.0)), FillRule::Winding, Transform::identity(), None);
                }
                if let Some(p) = PathBuilder::from_circle(sx + 7.0, cy, if ring { 4.5 } else { 5.0 }) {
                    pm.fill_path(&p, &paint(c.with_alpha(1.0)), FillRule::Winding, Transform::identity(), None);
                }
            }
            Swatch::Area(c) => {
                rect(pm, sx + 1.0, cy - 6.0, 12.0, 12.0, c.with_alpha(0.25));
                if let Some(r) = Rect::from_xywh(sx + 1.0, cy - 6.0, 12.0, 12.0) {
                    let p = PathBuilder::from_rect(r);
                    pm.stroke_path(&p, &paint(c.with_alpha(0.9)), &stroke(1.5), Transform::identity(), None);
                }
            }
            Swatch::Ramp => {
                for (k, (_, c)) in style::H3_RAMP.iter().enumerate() {
                    rect(pm, sx + 1.0 + 3.5 * k as f32, cy - 6.0, 3.5, 12.0, c.with_alpha(0.9));
                }
            }
            Swatch::None => {}
        }
        label(pm, title, LEGEND_TEXT_PX, x0 + 2.0 * PAD_PX + swatch_w + indent, baseline(i + 1), INK);
    }
    if more {
        label(pm, "…", LEGEND_TEXT_PX, x0 + 2.0 * PAD_PX + swatch_w, baseline(shown.len() + 1), INK);
    }
}

/// Draws the scale bar at the bottom left; returns its panel's width.
pub fn scale_bar(pm: &mut Pixmap, view: &View) -> f32 {
    let max_px = (f64::from(pm.width()) / 4.0).min(150.0);
    let bar = ScaleBar::choose(view.ground_m_per_px(), max_px);
    let label_text = bar.label();
    let len = bar.length_px as f32;
    let w = len.max(text::width_px(&label_text, SMALL_TEXT_PX)) + 2.0 * PAD_PX;
    let h = 30.0;
    let (x0, y0) = (PAD_PX, pm.height() as f32 - PAD_PX - h);
    rect(pm, x0, y0, w, h, WHITE.with_alpha(0.8));
    let (bx, by) = (x0 + PAD_PX, y0 + h - 8.0);
    let mut pb = PathBuilder::new();
    pb.move_to(bx, by - 5.0);
    pb.line_to(bx, by);
    pb.line_to(bx + len, by);
    pb.line_to(bx + len, by - 5.0);
    if let Some(p) = pb.finish() {
        let s = Stroke { width: 2.0, line_cap: LineCap::Butt, line_join: LineJoin::Miter, ..Stroke::default() };
        pm.stroke_path(&p, &paint(INK.with_alpha(1.0)), &s, Transform::identity(), None);
    }
    label(pm, &label_text, SMALL_TEXT_PX, bx, by - 8.0, INK);
    w
}

/// Draws a north arrow at the top right (Web Mercator: north is up).
pub fn north_arrow(pm: &mut Pixmap) {
    let (cx, top) = (pm.width() as f32 - PAD_PX - 14.0, PAD_PX);
    rect(pm, cx - 14.0, top, 28.0, 46.0, WHITE.with_alpha(0.8));
    let n_w = text::width_px("N", LEGEND_TEXT_PX);
    label(pm, "N", LEGEND_TEXT_PX, cx - n_w / 2.0, top + 14.0, INK);
    let (tip, base, notch) = (top + 17.0, top + 42.0, top + 35.0);
    for (side, colour) in [(-1.0f32, INK.with_alpha(1.0)), (1.0, WHITE.with_alpha(1.0))] {
        let mut pb = PathBuilder::new();
        pb.move_to(cx, tip);
        pb.line_to(cx + side * 8.0, base);
        pb.line_to(cx, notch);
        pb.close();
        if let Some(p) = pb.finish() {
            pm.fill_path(&p, &paint(colour), FillRule::Winding, Transform::identity(), None);
            pm.stroke_path(&p, &paint(INK.with_alpha(1.0)), &stroke(1.0), Transform::identity(), None);
        }
    }
}

/// Draws the attribution at the bottom right, shortened to fit beside the scale bar.
pub fn attribution(pm: &mut Pixmap, s: &str, left_px: f32) {
    let max = pm.width() as f32 - left_px - 3.0 * PAD_PX;
    let s = text::fit(s, SMALL_TEXT_PX, max - 8.0);
    if s.is_empty() {
        return;
    }
    let w = text::width_px(&s, SMALL_TEXT_PX) + 8.0;
    let h = 16.0;
    let (x0, y0) = (pm.width() as f32 - PAD_PX - w, pm.height() as f32 - PAD_PX - h);
    rect(pm, x0, y0, w, h, WHITE.with_alpha(0.8));
    label(pm, &s, SMALL_TEXT_PX, x0 + 4.0, y0 + 12.0, INK);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sprite_is_opaque_at_its_centre_and_round() {
        let s = Sprite::of(Symbol { colour: Rgb(0x1f, 0x4f, 0xbf), radius_q: 20, ring_q: 0 });
        assert_eq!(s.pixel(0, 0), Some([0x1f, 0x4f, 0xbf, 255]));
        // Radius 5: (±4, 0) is in, (±6, 0) and the corners are out.
        assert_eq!(s.pixel(4, 0).map(|p| p[3]), Some(255));
        assert_eq!(s.pixel(-4, 0).map(|p| p[3]), Some(255));
        for (dx, dy) in [(6, 0), (-6, 0), (0, 6), (5, 5), (-5, -5), (5, -5)] {
            assert_eq!(s.pixel(dx, dy), None, "({dx}, {dy})");
        }
    }

    #[test]
    fn stamping_blends_over_the_background() {
        let mut pm = Pixmap::new(20, 20).unwrap();
        pm.fill(style::BACKGROUND.with_alpha(1.0));
        let sprites = [Sprite::of(Symbol { colour: Rgb(200, 0, 0), radius_q: 8, ring_q: 8 })];
        dots(&mut pm, &[Dot { x: 10, y: 10, symbol: 0 }, Dot { x: -1, y: 19, symbol: 0 }], &sprites);
        let at = |x: u32, y: u32| pm.pixel(x, y).unwrap();
        assert_eq!((at(10, 10).red(), at(10, 10).green(), at(10, 10).alpha()), (200, 0, 255));
        // The white ring around it, and the background further away.
        assert_eq!((at(13, 10).red(), at(13, 10).green()), (255, 255));
        assert_eq!(at(3, 3).red(), style::BACKGROUND.0);
        // A symbol across the edge is clipped, not wrapped.
        assert_eq!(at(0, 19).red(), 200);
        assert_eq!(at(19, 18).red(), style::BACKGROUND.0);
    }
}
