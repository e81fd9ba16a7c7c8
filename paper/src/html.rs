//! The HTML page: one self-contained HTML5 document (inline CSS, images as `data:` URIs, no
//! script), every text and attribute escaped, links only to `http(s)://` URLs and site paths.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::layout::{column_widths, split_paragraphs};
use crate::{Align, Block, Cell, ChangeKind, Column, Document, link};

/// The stylesheet: screen and print (A4, the marking in every page's header, footer and page
/// counter in the margins).
const CSS: &str = r#"
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", Verdana, "Segoe UI", sans-serif; font-size: 10.5pt; line-height: 1.45;
  color: #1a1a1a; max-width: 180mm; margin: 0 auto; padding: 0 12px 24px; overflow-wrap: anywhere; }
.marking { text-align: center; font-weight: bold; letter-spacing: .06em; color: #9b0d0d;
  border: 1.5px solid #9b0d0d; padding: 3px 8px; margin: 12px 0; }
.watermark { position: fixed; top: 50%; left: 50%; transform: translate(-50%, -50%) rotate(-55deg);
  font-size: 110px; font-weight: bold; color: rgba(0, 0, 0, .07); white-space: nowrap;
  pointer-events: none; user-select: none; z-index: -1; }
h1, h2, h3, h4 { color: #1c2b4a; line-height: 1.25; break-after: avoid; }
h1 { font-size: 20pt; margin: 18px 0 4px; }
h2 { font-size: 15pt; margin: 22px 0 6px; border-bottom: 1px solid #b4b4b4; padding-bottom: 2px; }
h3 { font-size: 12.5pt; margin: 16px 0 4px; }
h4 { font-size: 10.5pt; margin: 12px 0 4px; }
.subtitle { color: #5c5c5c; margin: 0; }
header { border-bottom: 2px solid #1c2b4a; padding-bottom: 8px; margin-bottom: 12px; }
.toc ol { list-style: none; padding-left: 0; margin: 0; }
.toc .l2 { padding-left: 1.2em; } .toc .l3 { padding-left: 2.4em; }
.toc a { color: inherit; }
.note { font-size: 9pt; color: #5c5c5c; }
a { color: #0b4fa8; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; margin: 6px 0 12px; }
th, td { padding: 3px 5px; text-align: left; vertical-align: top; border-bottom: .5px solid #b4b4b4;
  overflow-wrap: anywhere; }
th { background: #e3e6eb; border-bottom: 1px solid #5c5c5c; }
.r { text-align: right; }
tr { break-inside: avoid; }
thead { display: table-header-group; }
figure { margin: 10px 0; text-align: center; break-inside: avoid; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: 9pt; color: #5c5c5c; margin-top: 4px; }
.broken { display: inline-block; width: 60%; height: 60px; border: 1px dashed #b4b4b4; }
.changes { margin: 6px 0 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
.changes div { padding: 0 4px; }
.changes .sign { display: inline-block; width: 1.2em; font-weight: bold; }
.changes .add { color: #0a6b2e; background: #e6f4ea; }
.changes .del { color: #b01212; background: #fbe9e9; }
.changes .same { color: #6e6e6e; }
.changes ins, .changes del { text-decoration-thickness: 1px; }
.changes ins { text-decoration: none; }
footer { margin-top: 24px; font-size: 8pt; color: #5c5c5c; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  a { color: inherit; }
}
"#;

/// Renders `doc` as one self-contained HTML5 page (UTF-8): the marking as a banner at the top
/// and the bottom, a table of contents linking to the headings (`id="sec-1"`…), tables,
/// images inlined as `data:image/png;base64` URIs, the diff with `<ins>`/`<del>`, and print
/// rules for A4 with the marking, footer and page counter in every page's margins.
///
/// Everything from the document is escaped; a link is kept only for `http(s)://` URLs and
/// site paths (`/…`), any other link (`javascript:`, `data:`…) prints its text alone.
pub fn html(doc: &Document) -> String {
    let mut out = String::with_capacity(16 * 1024 + image_bytes(doc) * 4 / 3);
    let marking = doc.marking.as_deref().filter(|m| !m.trim().is_empty());
    out.push_str("<!DOCTYPE html>\n");
    let _ = writeln!(out, "<html lang=\"{}\">", esc(&doc.lang));
    out.push_str("<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // Nothing loads: a page saved and opened elsewhere shows the same, and cannot call out.
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\n",
    );
    if !doc.author.is_empty() {
        let _ = writeln!(out, "<meta name=\"author\" content=\"{}\">", esc(&doc.author));
    }
    out.push_str("<meta name=\"generator\" content=\"vigie\">\n");
    let _ = writeln!(out, "<title>{}</title>", esc(&doc.title));
    out.push_str("<style>");
    out.push_str(CSS);
    out.push_str(&page_css(doc, marking));
    out.push_str("</style>\n</head>\n<body>\n");
    if let Some(m) = marking {
        let _ = writeln!(out, "<div class=\"marking\" role=\"note\">{}</div>", esc(m));
    }
    if let Some(w) = doc.watermark.as_deref().filter(|w| !w.trim().is_empty()) {
        let _ = writeln!(out, "<div class=\"watermark\" aria-hidden=\"true\">{}</div>", esc(w));
    }
    out.push_str("<header>\n");
    let _ = writeln!(out, "<h1>{}</h1>", esc(&doc.title));
    for line in &doc.subtitle {
        let _ = writeln!(out, "<p class=\"subtitle\">{}</p>", esc(line));
    }
    out.push_str("</header>\n");
    toc(&mut out, doc);
    out.push_str("<main>\n");
    let mut section = 0;
    for block in &doc.blocks {
        match block {
            Block::Heading { level, text } => {
                section += 1;
                let h = level.clamp(&1, &3) + 1;
                let _ = writeln!(out, "<h{h} id=\"sec-{section}\">{}</h{h}>", esc(text));
            }
            Block::Paragraph(text) => paragraphs(&mut out, text, None),
            Block::Note(text) => paragraphs(&mut out, text, Some("note")),
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    let _ = writeln!(out, "<li>{}</li>", esc_lines(item));
                }
                out.push_str("</ul>\n");
            }
            Block::Table { columns, rows } => table(&mut out, columns, rows),
            Block::Image { image: bytes, caption, link } => image(&mut out, bytes, caption, link.as_deref()),
            Block::Changes(changes) => {
                out.push_str("<div class=\"changes\">\n");
                for change in changes {
                    let text = esc(&change.text);
                    let _ = match change.kind {
                        ChangeKind::Added => {
                            writeln!(out, "<div class=\"add\"><span class=\"sign\">+</span><ins>{text}</ins></div>")
                        }
                        ChangeKind::Removed => {
                            writeln!(out, "<div class=\"del\"><span class=\"sign\">−</span><del>{text}</del></div>")
                        }
                        ChangeKind::Same => {
                            writeln!(out, "<div class=\"same\"><span class=\"sign\"> </span>{text}</div>")
                        }
                    };
                }
                out.push_str("</div>\n");
            }
        }
    }
    out.push_str("</main>\n");
    if !doc.footer.is_empty() {
        let _ = writeln!(out, "<footer>{}</footer>", esc(&doc.footer));
    }
    if let Some(m) = marking {
        let _ = writeln!(out, "<div class=\"marking\" role=\"note\">{}</div>", esc(m));
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn image_bytes(doc: &Document) -> usize {
    doc.blocks.iter().map(|b| if let Block::Image { image, .. } = b { image.len() } else { 0 }).sum()
}

/// The `@page` rules: A4, the marking centred in the header, footer and counter at the bottom.
fn page_css(doc: &Document, marking: Option<&str>) -> String {
    let mut css = String::from("@page { size: A4; margin: 20mm 20mm 22mm;\n");
    if let Some(m) = marking {
        let _ =
            writeln!(css, "  @top-center {{ content: {}; font: bold 9pt sans-serif; color: #9b0d0d; }}", css_string(m));
    }
    if !doc.footer.is_empty() {
        let _ =
            writeln!(css, "  @bottom-left {{ content: {}; font-size: 8pt; color: #5c5c5c; }}", css_string(&doc.footer));
    }
    if !doc.page_label.is_empty() {
        let _ = writeln!(
            css,
            "  @bottom-right {{ content: {}; font-size: 8pt; color: #5c5c5c; }}",
            page_counter(&doc.page_label)
        );
    }
    css.push_str("}\n");
    css
}

/// "Page {n} / {total}" as CSS `content`: strings around `counter(page)` and `counter(pages)`.
fn page_counter(label: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = label;
    while !rest.is_empty() {
        let next = [("{n}", "counter(page)"), ("{total}", "counter(pages)")]
            .into_iter()
            .filter_map(|(pat, css)| rest.find(pat).map(|at| (at, pat, css)))
            .min_by_key(|&(at, ..)| at);
        let Some((at, pat, css)) = next else {
            parts.push(css_string(rest));
            break;
        };
        if at > 0 {
            parts.push(css_string(&rest[..at]));
        }
        parts.push(css.to_owned());
        rest = &rest[at + pat.len()..];
    }
    parts.join(" ")
}

/// A CSS string literal: every ASCII character but letters, digits and spaces as a hex escape
/// (no quote, backslash or `</style>` can close anything).
fn css_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == ' ' || (!c.is_ascii() && !c.is_control()) {
            out.push(c);
        } else {
            let _ = write!(out, "\\{:x} ", u32::from(c));
        }
    }
    out.push('"');
    out
}

/// The table of contents: every heading, linked to its `id`.
fn toc(out: &mut String, doc: &Document) {
    let headings: Vec<(u8, &str)> = doc
        .blocks
        .iter()
        .filter_map(|b| {
            if let Block::Heading { level, text } = b { Some((*level.clamp(&1, &3), text.as_str())) } else { None }
        })
        .collect();
    if headings.is_empty() {
        return;
    }
    let label = if doc.lang.to_ascii_lowercase().starts_with("fr") { "Sommaire" } else { "Contents" };
    let _ = writeln!(out, "<nav class=\"toc\" aria-label=\"{label}\">\n<ol>");
    for (i, (level, text)) in headings.iter().enumerate() {
        let _ = writeln!(out, "<li class=\"l{level}\"><a href=\"#sec-{}\">{}</a></li>", i + 1, esc(text));
    }
    out.push_str("</ol>\n</nav>\n");
}

fn paragraphs(out: &mut String, text: &str, class: Option<&str>) {
    for para in split_paragraphs(text) {
        match class {
            Some(class) => {
                let _ = writeln!(out, "<p class=\"{class}\">{}</p>", esc_lines(&para));
            }
            None => {
                let _ = writeln!(out, "<p>{}</p>", esc_lines(&para));
            }
        }
    }
}

fn table(out: &mut String, columns: &[Column], rows: &[Vec<Cell>]) {
    if columns.is_empty() {
        return;
    }
    let align = |a: Align| if a == Align::Right { " class=\"r\"" } else { "" };
    out.push_str("<table>\n<colgroup>");
    for w in column_widths(columns, 100.0) {
        let _ = write!(out, "<col style=\"width:{w:.2}%\">");
    }
    out.push_str("</colgroup>\n<thead><tr>");
    for col in columns {
        let _ = write!(out, "<th scope=\"col\"{}>{}</th>", align(col.align), esc_lines(&col.title));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, col) in columns.iter().enumerate() {
            let _ = write!(out, "<td{}>", align(col.align));
            if let Some(cell) = row.get(i) {
                let mut text = esc_lines(&cell.text);
                if cell.strong {
                    text = format!("<strong>{text}</strong>");
                }
                match cell.link.as_deref().and_then(link::href) {
                    Some(url) => {
                        let _ = write!(out, "<a href=\"{}\">{text}</a>", esc(url));
                    }
                    None => out.push_str(&text),
                }
            }
            out.push_str("</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

fn image(out: &mut String, bytes: &[u8], caption: &str, link: Option<&str>) {
    out.push_str("<figure>");
    let href = link.and_then(link::href);
    if let Some(url) = href {
        let _ = write!(out, "<a href=\"{}\">", esc(url));
    }
    let known = png_size(bytes).map(|s| ("image/png", s)).or_else(|| jpeg_size(bytes).map(|s| ("image/jpeg", s)));
    match known {
        Some((media, (w, h))) => {
            let data = base64::engine::general_purpose::STANDARD.encode(bytes);
            let _ = write!(
                out,
                "<img src=\"data:{media};base64,{data}\" alt=\"{}\" width=\"{w}\" height=\"{h}\">",
                esc(caption)
            );
        }
        // Neither PNG nor JPEG: nothing that a browser would sniff as something else gets
        // embedded.
        None => {
            let _ = write!(out, "<span class=\"broken\" role=\"img\" aria-label=\"{}\"></span>", esc(caption));
        }
    }
    if href.is_some() {
        out.push_str("</a>");
    }
    if !caption.is_empty() {
        let _ = write!(out, "<figcaption>{}</figcaption>", esc(caption));
    }
    out.push_str("</figure>\n");
}

/// The pixel size from a PNG's header (signature, then the IHDR chunk), without decoding.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if png.get(..8)? != SIGNATURE || png.get(12..16)? != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(png.get(16..20)?.try_into().ok()?);
    let h = u32::from_be_bytes(png.get(20..24)?.try_into().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

/// The pixel size from a JPEG's frame header (the first SOFn segment), without decoding.
fn jpeg_size(jpeg: &[u8]) -> Option<(u32, u32)> {
    if !jpeg.starts_with(&[0xff, 0xd8]) {
        return None;
    }
    let mut at = 2;
    loop {
        if *jpeg.get(at)? != 0xff {
            return None;
        }
        let marker = *jpeg.get(at + 1)?;
        if marker == 0xff {
            at += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*jpeg.get(at + 2)?, *jpeg.get(at + 3)?]));
        // SOF0–SOF15 but DHT (C4), JPG (C8) and DAC (CC).
        if (0xc0..=0xcf).contains(&marker) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
            let h = u32::from(u16::from_be_bytes([*jpeg.get(at + 5)?, *jpeg.get(at + 6)?]));
            let w = u32::from(u16::from_be_bytes([*jpeg.get(at + 7)?, *jpeg.get(at + 8)?]));
            return (w > 0 && h > 0).then_some((w, h));
        }
        if len < 2 {
            return None;
        }
        at += 2 + len;
    }
}

/// Escapes text for HTML (and XML) content and attribute values (`& < > " '`), leaving out
/// the control characters neither allows (all but tab, line feed and carriage return).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// [`esc`], with line breaks as `<br>`.
fn esc_lines(s: &str) -> String {
    s.lines().map(esc).collect::<Vec<_>>().join("<br>")
}

#[cfg(test)]
mod tests {
    use super::{css_string, esc, jpeg_size, page_counter, png_size};

    #[test]
    fn escapes_the_five() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(esc("été « ok »"), "été « ok »");
    }

    #[test]
    fn css_strings_cannot_break_out() {
        let s = css_string("a\"b\\c</style><script>\n é");
        assert_eq!(s, r#""a\22 b\5c c\3c \2f style\3e \3c script\3e \a  é""#);
        assert_eq!(page_counter("Page {n} / {total}"), r#""Page " counter(page) " \2f  " counter(pages)"#);
        assert_eq!(page_counter("{n}"), "counter(page)");
        assert_eq!(page_counter("{total}-{n}!"), r#"counter(pages) "\2d " counter(page) "\21 ""#);
    }

    #[test]
    fn png_header_size() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&640u32.to_be_bytes());
        png.extend_from_slice(&480u32.to_be_bytes());
        assert_eq!(png_size(&png), Some((640, 480)));
        assert_eq!(png_size(b"GIF89a"), None);
        assert_eq!(png_size(&png[..20]), None);
        // A JPEG: SOI, an APP0 segment, then SOF0 with height 480 and width 640.
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x4a, 0x46, 0xff, 0xc0, 0x00, 0x11, 0x08];
        jpeg.extend_from_slice(&480u16.to_be_bytes());
        jpeg.extend_from_slice(&640u16.to_be_bytes());
        assert_eq!(jpeg_size(&jpeg), Some((640, 480)));
        assert_eq!(jpeg_size(&jpeg[..14]), None, "truncated");
        assert_eq!(jpeg_size(&png), None);
    }
}
