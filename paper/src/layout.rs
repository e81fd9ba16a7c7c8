//! Pagination: the blocks laid out on A4 pages as positioned text runs, rules, boxes, images
//! and link areas, all pages before any is drawn (the counter needs the total). Coordinates
//! are PDF points from the page's top-left corner, y down (krilla's).

use crate::fonts::Fonts;
use crate::wrap::wrap;
use crate::{Align, Block, Cell, ChangeKind, Column, Document, link};

/// A4 portrait width (210 mm).
pub(crate) const PAGE_W: f32 = 595.28;
/// A4 portrait height (297 mm).
pub(crate) const PAGE_H: f32 = 841.89;
/// Left and right margins: 20 mm.
pub(crate) const MARGIN_X: f32 = 56.69;
/// Where the body starts: 20 mm, after the header (marking, rule).
pub(crate) const TOP: f32 = 62.0;
/// Where the body ends: 20 mm above the bottom edge, the footer under it.
pub(crate) const BOTTOM: f32 = PAGE_H - 62.0;
/// The text's width.
pub(crate) const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN_X;
/// A pixel of an image is at most this many points (96 dpi): a small image is not blown up.
pub(crate) const PT_PER_PX: f32 = 0.75;

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rgb(pub(crate) u8, pub(crate) u8, pub(crate) u8);

/// Body text.
pub(crate) const INK: Rgb = Rgb(0x1a, 0x1a, 0x1a);
/// Headings and the title: a dark blue that prints as near black.
pub(crate) const HEADING: Rgb = Rgb(0x1c, 0x2b, 0x4a);
/// Notes, captions, subtitles, the footer: dark enough for a photocopy.
pub(crate) const GREY: Rgb = Rgb(0x5c, 0x5c, 0x5c);
/// Rules.
pub(crate) const RULE: Rgb = Rgb(0xb4, 0xb4, 0xb4);
/// Links: blue on screen, dark grey on a greyscale printer.
const LINK: Rgb = Rgb(0x0b, 0x4f, 0xa8);
/// The table header's shade.
const SHADE: Rgb = Rgb(0xe3, 0xe6, 0xeb);
const ADDED: Rgb = Rgb(0x0a, 0x6b, 0x2e);
const ADDED_BG: Rgb = Rgb(0xe6, 0xf4, 0xea);
const REMOVED: Rgb = Rgb(0xb0, 0x12, 0x12);
const REMOVED_BG: Rgb = Rgb(0xfb, 0xe9, 0xe9);
const SAME: Rgb = Rgb(0x6e, 0x6e, 0x6e);

/// A text style: size and line height in points.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub(crate) size: f32,
    pub(crate) line_h: f32,
    pub(crate) bold: bool,
    pub(crate) color: Rgb,
}

const TITLE: Style = Style { size: 20.0, line_h: 25.0, bold: true, color: HEADING };
const SUBTITLE: Style = Style { size: 10.0, line_h: 14.0, bold: false, color: GREY };
const BODY: Style = Style { size: 10.0, line_h: 14.0, bold: false, color: INK };
const NOTE: Style = Style { size: 8.5, line_h: 11.5, bold: false, color: GREY };
const CELL: Style = Style { size: 8.5, line_h: 11.0, bold: false, color: INK };
const HEADINGS: [Style; 3] = [
    Style { size: 15.0, line_h: 19.0, bold: true, color: HEADING },
    Style { size: 12.5, line_h: 16.0, bold: true, color: HEADING },
    Style { size: 10.5, line_h: 14.0, bold: true, color: HEADING },
];
/// Space before a heading of each level.
const HEADING_GAP: [f32; 3] = [14.0, 10.0, 8.0];
/// Space after a paragraph, note, list, table, image or diff.
const BLOCK_GAP: f32 = 8.0;
const CELL_PAD_X: f32 = 4.0;
const CELL_PAD_Y: f32 = 3.0;
const BULLET_INDENT: f32 = 14.0;
const CHANGE_INDENT: f32 = 12.0;

/// One line of text at a baseline.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) x: f32,
    pub(crate) baseline: f32,
    pub(crate) style: Style,
    pub(crate) text: String,
}

/// What a page shows, in drawing order.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Text(Run),
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Rgb,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        width: f32,
        color: Rgb,
    },
    /// `image` indexes the decoded images, in block order.
    Image {
        image: usize,
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
}

/// A clickable area (a PDF link annotation).
#[derive(Debug, Clone)]
pub(crate) struct LinkArea {
    pub(crate) x: f32,
    pub(crate) y: f32,
    pub(crate) w: f32,
    pub(crate) h: f32,
    pub(crate) url: String,
}

/// One page's content (header, footer and watermark are drawn with the total known).
#[derive(Debug, Clone, Default)]
pub(crate) struct Page {
    pub(crate) ops: Vec<Op>,
    pub(crate) links: Vec<LinkArea>,
}

/// A heading's place, for the PDF's bookmarks.
#[derive(Debug, Clone)]
pub(crate) struct Bookmark {
    pub(crate) level: u8,
    pub(crate) text: String,
    pub(crate) page: usize,
    pub(crate) y: f32,
}

/// The laid-out document.
#[derive(Debug)]
pub(crate) struct Laid {
    pub(crate) pages: Vec<Page>,
    pub(crate) bookmarks: Vec<Bookmark>,
}

/// Lays `doc` out; `image_px[i]` is the pixel size of the i-th image block.
pub(crate) fn lay_out(doc: &Document, fonts: &Fonts, image_px: &[(u32, u32)]) -> Laid {
    let mut w = Writer { fonts, pages: vec![Page::default()], y: TOP, bookmarks: Vec::new() };
    w.title_block(doc);
    let mut images = 0;
    for block in &doc.blocks {
        match block {
            Block::Heading { level, text } => w.heading(*level, text),
            Block::Paragraph(text) => w.paragraphs(text, BODY),
            Block::Note(text) => w.paragraphs(text, NOTE),
            Block::List(items) => w.list(items),
            Block::Table { columns, rows } => w.table(columns, rows),
            Block::Image { caption, link, .. } => {
                w.image(images, image_px[images], caption, link.as_deref());
                images += 1;
            }
            Block::Changes(changes) => w.changes(changes),
        }
    }
    Laid { pages: w.pages, bookmarks: w.bookmarks }
}

struct Writer<'f> {
    fonts: &'f Fonts,
    pages: Vec<Page>,
    /// The top of the free space on the last page.
    y: f32,
    bookmarks: Vec<Bookmark>,
}

impl Writer<'_> {
    fn page(&mut self) -> &mut Page {
        if self.pages.is_empty() {
            self.pages.push(Page::default());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn new_page(&mut self) {
        self.pages.push(Page::default());
        self.y = TOP;
    }

    fn room(&self) -> f32 {
        BOTTOM - self.y
    }

    /// Starts a new page unless `h` fits (or the page is still empty: what does not fit on an
    /// empty page is cut by its caller).
    fn ensure(&mut self, h: f32) {
        if h > self.room() && self.y > TOP {
            self.new_page();
        }
    }

    fn width(&self, text: &str, style: Style) -> f32 {
        self.fonts.face(style.bold).width_em(text) * style.size
    }

    fn wrap(&self, text: &str, style: Style, max_w: f32) -> Vec<String> {
        let face = self.fonts.face(style.bold);
        wrap(text, max_w, &mut |s| face.width_em(s) * style.size)
    }

    /// The baseline of a line whose box starts at `top`: capitals centred in the line.
    fn baseline(&self, top: f32, style: Style) -> f32 {
        let cap = self.fonts.face(style.bold).cap_height_em * style.size;
        top + f32::midpoint(style.line_h, cap)
    }

    fn run(&mut self, x: f32, top: f32, style: Style, text: String) {
        let baseline = self.baseline(top, style);
        self.page().ops.push(Op::Text(Run { x, baseline, style, text }));
    }

    fn rule(&mut self, x1: f32, x2: f32, y: f32, width: f32, color: Rgb) {
        self.page().ops.push(Op::Line { x1, y1: y, x2, y2: y, width, color });
    }

    /// Lines at `x`, breaking pages between lines.
    fn lines(&mut self, lines: Vec<String>, x: f32, style: Style) {
        for line in lines {
            self.ensure(style.line_h);
            let top = self.y;
            self.run(x, top, style, line);
            self.y += style.line_h;
        }
    }

    fn title_block(&mut self, doc: &Document) {
        let title = self.wrap(&doc.title, TITLE, CONTENT_W);
        self.lines(title, MARGIN_X, TITLE);
        self.y += 4.0;
        for line in &doc.subtitle {
            let lines = self.wrap(line, SUBTITLE, CONTENT_W);
            self.lines(lines, MARGIN_X, SUBTITLE);
        }
        self.y += 6.0;
        let y = self.y;
        self.rule(MARGIN_X, MARGIN_X + CONTENT_W, y, 1.0, HEADING);
        self.y += 10.0;
    }

    fn heading(&mut self, level: u8, text: &str) {
        let level = level.clamp(1, 3);
        let idx = usize::from(level - 1);
        let style = HEADINGS[idx];
        let lines = self.wrap(text, style, CONTENT_W);
        if self.y > TOP {
            self.y += HEADING_GAP[idx];
        }
        // Keep a heading with the first lines of what follows it.
        let h = lines.len() as f32 * style.line_h + 3.0 * BODY.line_h;
        self.ensure(h);
        let page = self.pages.len() - 1;
        self.bookmarks.push(Bookmark { level, text: text.to_owned(), page, y: self.y });
        self.lines(lines, MARGIN_X, style);
        if level == 1 {
            let y = self.y + 1.0;
            self.rule(MARGIN_X, MARGIN_X + CONTENT_W, y, 0.6, RULE);
            self.y += 4.0;
        }
        self.y += 3.0;
    }

    /// Paragraphs separated by blank lines; '\n' breaks a line.
    fn paragraphs(&mut self, text: &str, style: Style) {
        for para in split_paragraphs(text) {
            let lines = self.wrap(&para, style, CONTENT_W);
            // No first line alone at the bottom of a page.
            self.ensure(style.line_h * lines.len().min(2) as f32);
            self.lines(lines, MARGIN_X, style);
            self.y += BLOCK_GAP * style.size / BODY.size;
        }
    }

    fn list(&mut self, items: &[String]) {
        for item in items {
            let lines = self.wrap(item, BODY, CONTENT_W - BULLET_INDENT);
            self.ensure(BODY.line_h * lines.len().min(2) as f32);
            let top = self.y;
            self.run(MARGIN_X + 3.0, top, BODY, "•".to_owned());
            self.lines(lines, MARGIN_X + BULLET_INDENT, BODY);
            self.y += 2.0;
        }
        self.y += BLOCK_GAP - 2.0;
    }

    fn table(&mut self, columns: &[Column], rows: &[Vec<Cell>]) {
        if columns.is_empty() {
            return;
        }
        let widths = column_widths(columns, CONTENT_W);
        let head_style = Style { bold: true, ..CELL };
        let head: Vec<CellLines> = columns
            .iter()
            .zip(&widths)
            .map(|(col, &w)| CellLines {
                lines: self.wrap(&col.title, head_style, w - 2.0 * CELL_PAD_X),
                style: head_style,
                align: col.align,
                link: None,
            })
            .collect();
        let head_h = row_height(&head);
        let empty = Cell::default();
        let body_room = BOTTOM - TOP - head_h;

        let laid_rows: Vec<Vec<CellLines>> = rows
            .iter()
            .map(|row| {
                columns
                    .iter()
                    .zip(&widths)
                    .enumerate()
                    .map(|(i, (col, &w))| {
                        let cell = row.get(i).unwrap_or(&empty);
                        let link = cell.link.as_deref().and_then(link::absolute).map(str::to_owned);
                        let color = if link.is_some() { LINK } else { INK };
                        let style = Style { bold: cell.strong, color, ..CELL };
                        CellLines {
                            lines: self.wrap(&cell.text, style, w - 2.0 * CELL_PAD_X),
                            style,
                            align: col.align,
                            link,
                        }
                    })
                    .collect()
            })
            .collect();

        // The header stays with the first row, or with the first lines of a row taller than a
        // page (which is cut anyway).
        let first_h = laid_rows.first().map_or(0.0, |r| {
            let h = row_height(r);
            if h <= body_room { h } else { 3.0 * CELL.line_h + 2.0 * CELL_PAD_Y }
        });
        self.ensure(head_h + first_h);
        self.table_row(&widths, &head, 0, usize::MAX, true);
        for row in &laid_rows {
            let h = row_height(row);
            let mut fresh = false;
            if h > self.room() && h <= body_room {
                self.new_page();
                self.table_row(&widths, &head, 0, usize::MAX, true);
                fresh = true;
            }
            // A row taller than a page: as many of its lines as fit, the rest on the next pages.
            let lines = row.iter().map(|c| c.lines.len()).max().unwrap_or(0);
            let mut from = 0;
            loop {
                let fit = ((self.room() - 2.0 * CELL_PAD_Y) / CELL.line_h).floor().max(0.0) as usize;
                // A header taller than a page leaves no room on any page: print a line anyway.
                if fit == 0 && !fresh {
                    self.new_page();
                    self.table_row(&widths, &head, 0, usize::MAX, true);
                    fresh = true;
                    continue;
                }
                let to = (from + fit.max(1)).min(lines.max(1));
                self.table_row(&widths, row, from, to, false);
                from = to;
                if from >= lines {
                    break;
                }
                self.new_page();
                self.table_row(&widths, &head, 0, usize::MAX, true);
                fresh = true;
            }
        }
        self.y += BLOCK_GAP;
    }

    /// Lines `from..to` of a row's cells (the header: all of them, shaded).
    fn table_row(&mut self, widths: &[f32], cells: &[CellLines], from: usize, to: usize, header: bool) {
        let shown = cells.iter().map(|c| c.lines.len().min(to).saturating_sub(from)).max().unwrap_or(0).max(1);
        let line_h = cells.first().map_or(CELL.line_h, |c| c.style.line_h);
        let h = shown as f32 * line_h + 2.0 * CELL_PAD_Y;
        let top = self.y;
        let left = MARGIN_X;
        let right = MARGIN_X + widths.iter().sum::<f32>();
        if header {
            self.page().ops.push(Op::Rect { x: left, y: top, w: right - left, h, fill: SHADE });
        }
        let mut x = left;
        for (cell, &w) in cells.iter().zip(widths) {
            let end = cell.lines.len().min(to);
            for (k, line) in cell.lines.get(from..end).unwrap_or_default().iter().enumerate() {
                let line_top = top + CELL_PAD_Y + k as f32 * line_h;
                let line_w = self.width(line, cell.style);
                let lx = match cell.align {
                    Align::Left => x + CELL_PAD_X,
                    Align::Right => x + w - CELL_PAD_X - line_w,
                };
                self.run(lx, line_top, cell.style, line.clone());
                if let Some(url) = &cell.link {
                    let baseline = self.baseline(line_top, cell.style);
                    self.rule(lx, lx + line_w, baseline + 1.2, 0.4, LINK);
                    let area = LinkArea { x: lx, y: line_top, w: line_w, h: line_h, url: url.clone() };
                    self.page().links.push(area);
                }
            }
            x += w;
        }
        let (width, color) = if header { (0.8, GREY) } else { (0.4, RULE) };
        self.rule(left, right, top + h, width, color);
        self.y = top + h;
    }

    fn image(&mut self, image: usize, (px_w, px_h): (u32, u32), caption: &str, link: Option<&str>) {
        let caption = if caption.is_empty() { Vec::new() } else { self.wrap(caption, NOTE, CONTENT_W) };
        let caption_h = if caption.is_empty() { 0.0 } else { 4.0 + caption.len() as f32 * NOTE.line_h };
        let natural_w = px_w as f32 * PT_PER_PX;
        let natural_h = px_h as f32 * PT_PER_PX;
        let max_h = (BOTTOM - TOP - caption_h).max(NOTE.line_h);
        let scale = (CONTENT_W / natural_w).min(max_h / natural_h).min(1.0);
        let (w, h) = (natural_w * scale, natural_h * scale);
        self.ensure(h + caption_h);
        let x = MARGIN_X + (CONTENT_W - w) / 2.0;
        let y = self.y;
        self.page().ops.push(Op::Image { image, x, y, w, h });
        if let Some(url) = link.and_then(link::absolute) {
            self.page().links.push(LinkArea { x, y, w, h, url: url.to_owned() });
        }
        self.y += h;
        if !caption.is_empty() {
            self.y += 4.0;
            for line in caption {
                self.ensure(NOTE.line_h);
                let line_w = self.width(&line, NOTE);
                let top = self.y;
                self.run(MARGIN_X + (CONTENT_W - line_w) / 2.0, top, NOTE, line);
                self.y += NOTE.line_h;
            }
        }
        self.y += BLOCK_GAP;
    }

    fn changes(&mut self, changes: &[crate::Change]) {
        for change in changes {
            let (sign, color, bg) = match change.kind {
                ChangeKind::Added => ("+", ADDED, Some(ADDED_BG)),
                ChangeKind::Removed => ("−", REMOVED, Some(REMOVED_BG)),
                ChangeKind::Same => ("", SAME, None),
            };
            let style = Style { color, ..BODY };
            let lines = self.wrap(&change.text, style, CONTENT_W - CHANGE_INDENT - 2.0);
            for (k, line) in lines.into_iter().enumerate() {
                self.ensure(style.line_h);
                let top = self.y;
                if let Some(fill) = bg {
                    self.page().ops.push(Op::Rect { x: MARGIN_X, y: top, w: CONTENT_W, h: style.line_h, fill });
                }
                if k == 0 && !sign.is_empty() {
                    self.run(MARGIN_X + 2.0, top, Style { bold: true, ..style }, sign.to_owned());
                }
                if change.kind == ChangeKind::Removed && !line.is_empty() {
                    let line_w = self.width(&line, style);
                    let x = MARGIN_X + CHANGE_INDENT;
                    let strike = self.baseline(top, style) - 0.3 * style.size;
                    self.run(x, top, style, line);
                    self.rule(x, x + line_w, strike, 0.6, color);
                } else {
                    self.run(MARGIN_X + CHANGE_INDENT, top, style, line);
                }
                self.y += style.line_h;
            }
        }
        self.y += BLOCK_GAP;
    }
}

/// A cell's wrapped lines and how to print them.
struct CellLines {
    lines: Vec<String>,
    style: Style,
    align: Align,
    link: Option<String>,
}

fn row_height(cells: &[CellLines]) -> f32 {
    let lines = cells.iter().map(|c| c.lines.len()).max().unwrap_or(0).max(1);
    let line_h = cells.first().map_or(CELL.line_h, |c| c.style.line_h);
    lines as f32 * line_h + 2.0 * CELL_PAD_Y
}

/// Column widths from their weights (bad weights count as 0; all 0: equal widths).
pub(crate) fn column_widths(columns: &[Column], total: f32) -> Vec<f32> {
    let weights: Vec<f32> =
        columns.iter().map(|c| if c.weight.is_finite() { c.weight.max(0.0) } else { 0.0 }).collect();
    let sum: f32 = weights.iter().sum();
    if sum > 0.0 {
        weights.iter().map(|w| total * w / sum).collect()
    } else {
        vec![total / columns.len() as f32; columns.len()]
    }
}

/// A text's paragraphs: blank (or blank-looking) lines separate them, other line breaks stay.
pub(crate) fn split_paragraphs(text: &str) -> Vec<String> {
    let mut paras = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                paras.push(cur.join("\n"));
                cur.clear();
            }
        } else {
            cur.push(line);
        }
    }
    if !cur.is_empty() {
        paras.push(cur.join("\n"));
    }
    paras
}

#[cfg(test)]
mod tests {
    use super::{column_widths, split_paragraphs};
    use crate::{Align, Column};

    #[test]
    fn paragraphs_split_on_blank_lines() {
        assert_eq!(split_paragraphs("a\nb\n\n  \nc\n"), ["a\nb", "c"]);
        assert!(split_paragraphs("\n \n").is_empty());
    }

    #[test]
    fn widths_follow_weights() {
        let col = |w| Column::new("", Align::Left, w);
        assert_eq!(column_widths(&[col(1.0), col(3.0)], 100.0), [25.0, 75.0]);
        assert_eq!(column_widths(&[col(0.0), col(f32::NAN)], 100.0), [50.0, 50.0]);
        assert_eq!(column_widths(&[col(-1.0), col(1.0)], 100.0), [0.0, 100.0]);
    }
}
