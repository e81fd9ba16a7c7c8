//! vigie's situation reports on paper: one document model — title block, headings, paragraphs,
//! notes, lists, tables, images and text diffs — printed to an A4 PDF ([`pdf`]) and to a
//! self-contained HTML page ([`html`]).
//!
//! No HTTP and no database here: `vigie-tileserver` builds a [`Document`] from a report and
//! serves the bytes. The PDF is [`krilla`]'s (the PDF layer Typst uses) with DejaVu Sans
//! regular and bold embedded (subsetted), text shaped by [`rustybuzz`] and laid out here:
//! lines wrapped to the page, tables with their header row repeated on every page, every page
//! with its marking, footer and page counter. The same [`Document`] gives the same PDF bytes
//! (no random ids, no clock: the creation date is [`Document::created_ms`]).
//!
//! The HTML page has no outside resource (inline CSS, images as `data:` URIs), escapes every
//! text and attribute and links only `http(s)://` URLs and site paths (`/…`); it prints on A4
//! with the marking in every page's header.

mod fonts;
mod html;
mod layout;
mod link;
mod pdf;
mod wrap;

pub use html::{esc as escape, html};
pub use pdf::pdf;

/// A report to print.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The report's title, at the top of the first page (and the PDF's and page's title).
    pub title: String,
    /// Lines under the title (period, workspace, version, status…), in order.
    pub subtitle: Vec<String>,
    /// Classification marking printed centred in every page's header, in the PDF and at the
    /// top and bottom of the HTML (e.g. "DIFFUSION RESTREINTE"); `None`: no marking.
    pub marking: Option<String>,
    /// A large diagonal light-grey word across every page (e.g. "BROUILLON" for drafts);
    /// `None` for a published report.
    pub watermark: Option<String>,
    /// Left part of every page's footer (e.g. "vigie — paris2024 — report 12 v2").
    pub footer: String,
    /// The page counter's text with `{n}` and `{total}` replaced (e.g. "Page {n} / {total}"),
    /// right of the footer.
    pub page_label: String,
    /// The PDF's author (and the HTML page's `author`).
    pub author: String,
    /// Creation time, milliseconds since the Unix epoch: the PDF's creation date (UTC). The
    /// only time the PDF holds, so that the same document gives the same bytes.
    pub created_ms: i64,
    /// The document's language, BCP 47 (e.g. "fr"): PDF metadata and `<html lang>`.
    pub lang: String,
    /// The body, in order.
    pub blocks: Vec<Block>,
}

/// One piece of a report's body.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A section heading, level 1 to 3 (other values are clamped); the PDF's bookmarks and the
    /// HTML page's table of contents list them.
    Heading {
        /// 1 (section), 2 or 3.
        level: u8,
        /// The heading's text.
        text: String,
    },
    /// Text wrapped to the page width; '\n' is a line break, a blank line a new paragraph.
    /// Plain text (no markup).
    Paragraph(String),
    /// Smaller grey text (method notes, "figures frozen at …").
    Note(String),
    /// Bulleted list, one item a string (wrapped like a paragraph).
    List(Vec<String>),
    /// A table: header row repeated on every page the table spans; cells wrap inside their
    /// column; a row never splits across pages unless taller than a page.
    Table {
        /// The columns, left to right.
        columns: Vec<Column>,
        /// The rows; a row shorter than `columns` has empty cells at its end, cells past the
        /// last column are not printed.
        rows: Vec<Vec<Cell>>,
    },
    /// A PNG or JPEG image scaled to the content width at most, never enlarged beyond 96 dpi
    /// (one pixel 0.75 pt) and never taller than a page, aspect kept, with a caption under it.
    /// A JPEG goes into the PDF as it is (no decoding, no re-encoding).
    Image {
        /// The PNG or JPEG file.
        image: Vec<u8>,
        /// Printed under the image (and its alternative text).
        caption: String,
        /// Makes the image clickable: an absolute `http(s)://` URL (PDF and HTML) or a site
        /// path starting with '/' (HTML only); anything else is ignored.
        link: Option<String>,
    },
    /// A text diff: each line marked added (green, "+"), removed (red, struck, "−") or
    /// unchanged (grey).
    Changes(Vec<Change>),
}

/// A table column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The header cell's text.
    pub title: String,
    /// How the column's cells (and title) are aligned.
    pub align: Align,
    /// Relative width: the column gets `weight / sum of weights` of the table's width
    /// (non-finite or negative weights count as 0; all 0: equal widths).
    pub weight: f32,
}

impl Column {
    /// A column of `weight` aligned `align`.
    pub fn new(title: impl Into<String>, align: Align, weight: f32) -> Self {
        Self { title: title.into(), align, weight }
    }
}

/// Horizontal alignment in a table column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    /// Text starts at the column's left edge.
    #[default]
    Left,
    /// Text ends at the column's right edge (figures).
    Right,
}

/// A table cell.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cell {
    /// The text ('\n' is a line break).
    pub text: String,
    /// An absolute URL makes the cell a link (PDF URI link annotation, HTML `<a href>`): only
    /// `http(s)://` URLs, and in the HTML also site paths starting with '/'; anything else is
    /// printed as plain text.
    pub link: Option<String>,
    /// Bold text.
    pub strong: bool,
}

impl Cell {
    /// A plain cell.
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), link: None, strong: false }
    }

    /// A cell linking to `url`.
    pub fn link(text: impl Into<String>, url: impl Into<String>) -> Self {
        Self { text: text.into(), link: Some(url.into()), strong: false }
    }

    /// A bold cell.
    pub fn strong(text: impl Into<String>) -> Self {
        Self { text: text.into(), link: None, strong: true }
    }
}

/// One line of a text diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Added, removed or unchanged.
    pub kind: ChangeKind,
    /// The line.
    pub text: String,
}

impl Change {
    /// A line of `kind`.
    pub fn new(kind: ChangeKind, text: impl Into<String>) -> Self {
        Self { kind, text: text.into() }
    }
}

/// What happened to a line of a text diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// In the new version only: green, "+".
    Added,
    /// In the old version only: red, struck, "−".
    Removed,
    /// In both: grey.
    Same,
}

/// Why a PDF was not made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An image block's bytes are not a PNG that decodes.
    #[error("block {block} (image): not a decodable PNG: {source}")]
    Image {
        /// The block's index in [`Document::blocks`].
        block: usize,
        /// The decoder's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An embedded font could not be read (a broken build).
    #[error("the embedded font {0} could not be read")]
    Font(&'static str),
    /// krilla refused to write the PDF.
    #[error("PDF serialization failed: {0}")]
    Pdf(String),
}
