//! The PDF: pages laid out by [`crate::layout`], drawn with krilla, then each page's header
//! (marking), footer (text and counter) and watermark.

use std::hash::{Hash, Hasher};
use std::io::Cursor;
use std::sync::Arc;

use krilla::Document as PdfDocument;
use krilla::action::{Action, LinkAction};
use krilla::annotation::{Annotation, LinkAnnotation, Target};
use krilla::color::rgb;
use krilla::destination::XyzDestination;
use krilla::geom::{Path, PathBuilder, Point, Rect, Size, Transform};
use krilla::image::{BitsPerComponent, CustomImage, Image, ImageColorspace};
use krilla::metadata::{DateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::outline::{Outline, OutlineNode};
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule, Stroke};
use krilla::surface::Surface;

use crate::fonts::Fonts;
use crate::layout::{self, Bookmark, CONTENT_W, GREY, MARGIN_X, Op, PAGE_H, PAGE_W, RULE, Rgb, Run, Style};
use crate::{Block, Document, Error};

/// The marking: bold, dark red (a dark grey in greyscale).
const MARKING: Style = Style { size: 9.0, line_h: 12.0, bold: true, color: Rgb(0x9b, 0x0d, 0x0d) };
const FOOTER: Style = Style { size: 8.0, line_h: 10.0, bold: false, color: GREY };
const MARKING_BASELINE: f32 = 34.0;
const HEADER_RULE_Y: f32 = 44.0;
const FOOTER_RULE_Y: f32 = PAGE_H - 48.0;
const FOOTER_BASELINE: f32 = PAGE_H - 34.0;
/// The watermark's grey: drawn under the content, so text over it stays black on near white.
const WATERMARK: Rgb = Rgb(0xeb, 0xeb, 0xeb);
/// The watermark's largest size, and its share of the page's diagonal.
const WATERMARK_MAX_PT: f32 = 120.0;
const WATERMARK_SPAN: f32 = 0.7;

/// Prints `doc` as an A4 PDF: DejaVu Sans embedded (subsets), text extractable, the marking
/// in every page's header, the footer and "page n of total" in every page's footer, link
/// annotations on linked cells and images, a bookmark per heading. The same document gives
/// the same bytes.
///
/// # Errors
///
/// [`Error::Image`] for an image block whose bytes are not a decodable PNG or a JPEG, [`Error::Font`]
/// if an embedded font does not load, [`Error::Pdf`] if krilla fails to write the file.
pub fn pdf(doc: &Document) -> Result<Vec<u8>, Error> {
    let fonts = Fonts::load()?;
    let mut images = Vec::new();
    for (block, b) in doc.blocks.iter().enumerate() {
        if let Block::Image { image, .. } = b {
            images.push(image_of(image).map_err(|source| Error::Image { block, source })?);
        }
    }
    let sizes: Vec<(u32, u32)> = images.iter().map(Image::size).collect();
    let laid = layout::lay_out(doc, &fonts, &sizes);

    let mut out = PdfDocument::new();
    out.set_metadata(metadata(doc));
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| Error::Pdf("A4 page size".into()))?;
    let total = laid.pages.len();
    for (i, content) in laid.pages.iter().enumerate() {
        let mut page = out.start_page_with(settings.clone());
        let mut surface = page.surface();
        if let Some(word) = doc.watermark.as_deref().filter(|w| !w.trim().is_empty()) {
            watermark(&mut surface, &fonts, word);
        }
        for op in &content.ops {
            draw(&mut surface, &fonts, &images, op);
        }
        header_footer(&mut surface, &fonts, doc, i + 1, total);
        surface.finish();
        for link in &content.links {
            let Some(rect) = Rect::from_xywh(link.x, link.y, link.w.max(0.1), link.h.max(0.1)) else { continue };
            let target = Target::Action(Action::Link(LinkAction::new(link.url.clone())));
            page.add_annotation(Annotation::new_link(LinkAnnotation::new(rect, target), Some(link.url.clone())));
        }
        page.finish();
    }
    if !laid.bookmarks.is_empty() {
        out.set_outline(outline(&laid.bookmarks));
    }
    out.finish().map_err(|e| Error::Pdf(e.to_string()))
}

/// Title, author, language and creation date (UTC, from `created_ms`).
fn metadata(doc: &Document) -> Metadata {
    let (year, month, day, hour, minute, second) = civil_utc(doc.created_ms);
    let date = DateTime::new(year).month(month).day(day).hour(hour).minute(minute).second(second).utc_offset_hour(0);
    let mut meta = Metadata::new()
        .title(doc.title.clone())
        .creator("vigie".to_owned())
        .producer("vigie-paper".to_owned())
        .creation_date(date);
    if !doc.author.is_empty() {
        meta = meta.authors(vec![doc.author.clone()]);
    }
    if !doc.lang.is_empty() {
        meta = meta.language(doc.lang.clone());
    }
    meta
}

/// Milliseconds since the epoch to a UTC civil date and time (years clamped to 0..=9999).
fn civil_utc(ms: i64) -> (u16, u8, u8, u8, u8, u8) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Days to a proleptic Gregorian date (H. Hinnant's civil_from_days).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year.clamp(0, 9999) as u16, month as u8, day as u8, (sod / 3600) as u8, (sod / 60 % 60) as u8, (sod % 60) as u8)
}

/// Headings as nested bookmarks (a level 2 under the level 1 before it…).
fn outline(bookmarks: &[Bookmark]) -> Outline {
    let mut root = Outline::new();
    let mut open: Vec<(u8, OutlineNode)> = Vec::new();
    let close = |open: &mut Vec<(u8, OutlineNode)>, root: &mut Outline| {
        if let Some((_, node)) = open.pop() {
            match open.last_mut() {
                Some((_, parent)) => parent.push_child(node),
                None => root.push_child(node),
            }
        }
    };
    for b in bookmarks {
        while open.last().is_some_and(|(level, _)| *level >= b.level) {
            close(&mut open, &mut root);
        }
        let dest = XyzDestination::new(b.page, Point::from_xy(MARGIN_X, b.y));
        open.push((b.level, OutlineNode::new(b.text.clone(), dest)));
    }
    while !open.is_empty() {
        close(&mut open, &mut root);
    }
    root
}

fn color(c: Rgb) -> rgb::Color {
    rgb::Color::new(c.0, c.1, c.2)
}

fn fill(surface: &mut Surface, c: Rgb) {
    surface.set_stroke(None);
    surface.set_fill(Some(Fill { paint: color(c).into(), opacity: NormalizedF32::ONE, rule: FillRule::default() }));
}

fn draw(surface: &mut Surface, fonts: &Fonts, images: &[Image], op: &Op) {
    match op {
        Op::Text(run) => text(surface, fonts, run, false),
        Op::Rect { x, y, w, h, fill: c } => {
            if let Some(path) = Rect::from_xywh(*x, *y, *w, *h).and_then(rect_path) {
                fill(surface, *c);
                surface.draw_path(&path);
            }
        }
        Op::Line { x1, y1, x2, y2, width, color: c } => line(surface, (*x1, *y1), (*x2, *y2), *width, *c),
        Op::Image { image, x, y, w, h } => {
            if let (Some(img), Some(size)) = (images.get(*image), Size::from_wh(*w, *h)) {
                surface.push_transform(&Transform::from_translate(*x, *y));
                surface.draw_image(img.clone(), size);
                surface.pop();
            }
        }
    }
}

fn rect_path(rect: Rect) -> Option<Path> {
    let mut pb = PathBuilder::new();
    pb.push_rect(rect);
    pb.finish()
}

fn line(surface: &mut Surface, from: (f32, f32), to: (f32, f32), width: f32, c: Rgb) {
    let mut pb = PathBuilder::new();
    pb.move_to(from.0, from.1);
    pb.line_to(to.0, to.1);
    if let Some(path) = pb.finish() {
        surface.set_fill(None);
        surface.set_stroke(Some(Stroke { paint: color(c).into(), width, ..Stroke::default() }));
        surface.draw_path(&path);
        surface.set_stroke(None);
    }
}

/// A run as text (extractable), or as outlines (`outlined`: the watermark, which must not mix
/// into the page's text).
fn text(surface: &mut Surface, fonts: &Fonts, run: &Run, outlined: bool) {
    if run.text.is_empty() {
        return;
    }
    let face = fonts.face(run.style.bold);
    let (glyphs, _) = face.shape(&run.text);
    fill(surface, run.style.color);
    surface.draw_glyphs(
        Point::from_xy(run.x, run.baseline),
        &glyphs,
        face.pdf.clone(),
        &run.text,
        run.style.size,
        outlined,
    );
}

/// The watermark across the page's diagonal, bottom left to top right, under the content.
fn watermark(surface: &mut Surface, fonts: &Fonts, word: &str) {
    let style = Style { size: 1.0, line_h: 1.0, bold: true, color: WATERMARK };
    let width_em = fonts.bold.width_em(word).max(0.01);
    let diagonal = PAGE_W.hypot(PAGE_H);
    let size = (WATERMARK_SPAN * diagonal / width_em).min(WATERMARK_MAX_PT);
    let (cx, cy) = (PAGE_W / 2.0, PAGE_H / 2.0);
    let angle = -PAGE_H.atan2(PAGE_W).to_degrees();
    surface.push_transform(&Transform::from_rotate_at(angle, cx, cy));
    let run = Run {
        x: cx - width_em * size / 2.0,
        baseline: cy + fonts.bold.cap_height_em * size / 2.0,
        style: Style { size, ..style },
        text: word.to_owned(),
    };
    text(surface, fonts, &run, true);
    surface.pop();
}

fn header_footer(surface: &mut Surface, fonts: &Fonts, doc: &Document, n: usize, total: usize) {
    let right = MARGIN_X + CONTENT_W;
    if let Some(marking) = doc.marking.as_deref().filter(|m| !m.trim().is_empty()) {
        let w = fonts.bold.width_em(marking) * MARKING.size;
        // A marking wider than the text is printed smaller, never cut.
        let size = if w > CONTENT_W { MARKING.size * CONTENT_W / w } else { MARKING.size };
        let style = Style { size, ..MARKING };
        let x = MARGIN_X + (CONTENT_W - w.min(CONTENT_W)) / 2.0;
        text(surface, fonts, &Run { x, baseline: MARKING_BASELINE, style, text: marking.to_owned() }, false);
    }
    line(surface, (MARGIN_X, HEADER_RULE_Y), (right, HEADER_RULE_Y), 0.5, RULE);
    line(surface, (MARGIN_X, FOOTER_RULE_Y), (right, FOOTER_RULE_Y), 0.5, RULE);

    let label = doc.page_label.replace("{n}", &n.to_string()).replace("{total}", &total.to_string());
    let label_w = fonts.regular.width_em(&label) * FOOTER.size;
    let label_x = right - label_w;
    text(surface, fonts, &Run { x: label_x, baseline: FOOTER_BASELINE, style: FOOTER, text: label }, false);
    let room = CONTENT_W - label_w - 12.0;
    let footer = ellipsize(&doc.footer, room, |s| fonts.regular.width_em(s) * FOOTER.size);
    text(surface, fonts, &Run { x: MARGIN_X, baseline: FOOTER_BASELINE, style: FOOTER, text: footer }, false);
}

/// `text` cut with "…" to fit `max_w` (the footer must not run into the page counter).
fn ellipsize(text: &str, max_w: f32, width: impl Fn(&str) -> f32) -> String {
    if width(text) <= max_w {
        return text.to_owned();
    }
    let mut cut = text.len();
    while cut > 0 {
        cut = text.floor_char_boundary(cut - 1);
        let candidate = format!("{}…", text[..cut].trim_end());
        if width(&candidate) <= max_w {
            return candidate;
        }
    }
    String::new()
}

/// Decoded pixels, handed to krilla as they are (krilla would decode the PNG a second time).
#[derive(Clone)]
struct Pixels {
    size: (u32, u32),
    space: ImageColorspace,
    color: Arc<Vec<u8>>,
    alpha: Option<Arc<Vec<u8>>>,
    icc: Option<Arc<Vec<u8>>>,
}

impl Hash for Pixels {
    /// krilla stores an image once per hash: the pixels themselves, not where they came from.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.size.hash(state);
        (self.space == ImageColorspace::Rgb).hash(state);
        self.color.hash(state);
        self.alpha.hash(state);
        self.icc.hash(state);
    }
}

impl CustomImage for Pixels {
    fn color_channel(&self) -> &[u8] {
        &self.color
    }

    fn alpha_channel(&self) -> Option<&[u8]> {
        self.alpha.as_deref().map(Vec::as_slice)
    }

    fn bits_per_component(&self) -> BitsPerComponent {
        BitsPerComponent::Eight
    }

    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn icc_profile(&self) -> Option<&[u8]> {
        self.icc.as_deref().map(Vec::as_slice)
    }

    fn color_space(&self) -> ImageColorspace {
        self.space
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A JPEG as it is (its header read, checked and sized), or a PNG decoded.
fn image_of(bytes: &[u8]) -> Result<Image, BoxError> {
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Ok(Image::from_jpeg(bytes.to_vec().into(), true)?);
    }
    Ok(Image::from_custom(decode_png(bytes)?, true)?)
}

/// Decodes a PNG to 8-bit grey or RGB, with its alpha apart (dropped when fully opaque).
fn decode_png(bytes: &[u8]) -> Result<Pixels, BoxError> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info()?;
    let len = reader.output_buffer_size().ok_or("the image is too large")?;
    let mut buf = vec![0; len];
    let frame = reader.next_frame(&mut buf)?;
    buf.truncate(frame.buffer_size());
    let size = (frame.width, frame.height);
    let icc = reader.info().icc_profile.as_ref().map(|p| Arc::new(p.to_vec()));
    let (space, channels) = match frame.color_type {
        png::ColorType::Grayscale => (ImageColorspace::Luma, 1),
        png::ColorType::GrayscaleAlpha => (ImageColorspace::Luma, 2),
        png::ColorType::Rgb => (ImageColorspace::Rgb, 3),
        png::ColorType::Rgba => (ImageColorspace::Rgb, 4),
        png::ColorType::Indexed => return Err("indexed colours left after expansion".into()),
    };
    let (color, alpha) = if channels % 2 == 0 {
        let color_n = channels - 1;
        let mut color = Vec::with_capacity(buf.len() / channels * color_n);
        let mut alpha = Vec::with_capacity(buf.len() / channels);
        for px in buf.chunks_exact(channels) {
            color.extend_from_slice(&px[..color_n]);
            alpha.push(px[color_n]);
        }
        let opaque = alpha.iter().all(|&a| a == u8::MAX);
        (color, (!opaque).then_some(alpha))
    } else {
        (buf, None)
    };
    Ok(Pixels { size, space, color: Arc::new(color), alpha: alpha.map(Arc::new), icc })
}

#[cfg(test)]
mod tests {
    use super::{civil_utc, decode_png, ellipsize};

    #[test]
    fn epoch_ms_to_utc() {
        assert_eq!(civil_utc(0), (1970, 1, 1, 0, 0, 0));
        // 2024-07-26T17:30:05.123Z, the Paris opening ceremony.
        assert_eq!(civil_utc(1_722_015_005_123), (2024, 7, 26, 17, 30, 5));
        assert_eq!(civil_utc(951_782_400_000), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil_utc(-1), (1969, 12, 31, 23, 59, 59));
    }

    #[test]
    fn footer_is_cut_with_an_ellipsis() {
        let w = |s: &str| s.chars().count() as f32;
        assert_eq!(ellipsize("vigie — paris", 20.0, w), "vigie — paris");
        assert_eq!(ellipsize("vigie — paris", 8.0, w), "vigie —…");
        assert_eq!(ellipsize("vigie", 0.5, w), "");
    }

    #[test]
    fn png_errors_and_alpha() {
        assert!(decode_png(b"GIF89a").is_err());
        assert!(decode_png(&[]).is_err());
        let rgba = encode(2, 1, png::ColorType::Rgba, &[255, 0, 0, 255, 0, 255, 0, 128]);
        let px = decode_png(&rgba).unwrap();
        assert_eq!(px.size, (2, 1));
        assert_eq!(*px.color, [255, 0, 0, 0, 255, 0]);
        assert_eq!(px.alpha.as_deref().map(Vec::as_slice), Some(&[255, 128][..]));
        let opaque = encode(1, 1, png::ColorType::GrayscaleAlpha, &[7, 255]);
        let px = decode_png(&opaque).unwrap();
        assert_eq!((px.color.as_slice(), px.alpha.is_none()), (&[7u8][..], true));
    }

    fn encode(w: u32, h: u32, color: png::ColorType, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header().unwrap().write_image_data(data).unwrap();
        out
    }
}
