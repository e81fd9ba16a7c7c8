//! The PDF read back by Poppler's tools (Debian's poppler-utils), not by the encoder: page
//! size and count, embedded fonts, extracted text (accents, marking and counter on every page,
//! every table row, the diff), the image's pixels, the links, byte-for-byte determinism.
//! A missing tool fails the test: `apt-get install poppler-utils`.
//! `PAPER_KEEP=/tmp/x` keeps each PDF as `/tmp/x-<bytes>.pdf` for a look (`pdftoppm -png`).

mod common;

use std::path::Path;
use std::process::Command;

use common::{ACCENTS, IMAGE_H, IMAGE_RGB, IMAGE_W, MARKING, ROWS, TITLE, row, sample};
use vigie_paper::{Block, Document, Error, html, pdf};

/// Runs a Poppler tool; its standard output.
fn tool(name: &str, args: &[&str]) -> String {
    let out = match Command::new(name).args(args).output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run {name} ({e}): apt-get install poppler-utils"),
    };
    assert!(out.status.success(), "{name} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn write_pdf(dir: &Path, doc: &Document) -> String {
    let bytes = pdf(doc).expect("pdf");
    let path = dir.join("report.pdf");
    std::fs::write(&path, &bytes).unwrap();
    if let Ok(keep) = std::env::var("PAPER_KEEP") {
        std::fs::write(format!("{keep}-{}.pdf", bytes.len()), &bytes).unwrap();
    }
    path.to_str().unwrap().to_owned()
}

/// Whitespace runs as one space: `-layout` pads columns with spaces.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn field<'a>(info: &'a str, key: &str) -> &'a str {
    info.lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim_start_matches(':').trim()))
        .unwrap_or_else(|| panic!("no {key} in pdfinfo:\n{info}"))
}

#[test]
fn poppler_reads_back_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let doc = sample();
    let file = write_pdf(dir.path(), &doc);

    let info = tool("pdfinfo", &["-isodates", &file]);
    assert_eq!(field(&info, "Page size"), "595.28 x 841.89 pts (A4)", "{info}");
    let pages: usize = field(&info, "Pages").parse().unwrap();
    assert!(pages >= 4, "150 rows and the rest on {pages} pages");
    assert_eq!(field(&info, "Title"), TITLE);
    assert_eq!(field(&info, "Author"), doc.author);
    assert_eq!(field(&info, "CreationDate"), "2024-07-26T17:30:05Z", "{info}");
    assert_eq!(field(&info, "Producer"), "vigie-paper");

    let fonts = tool("pdffonts", &[&file]);
    for name in ["DejaVuSans", "DejaVuSans-Bold"] {
        let line = fonts
            .lines()
            .skip(2)
            .find(|l| l.split_whitespace().next().is_some_and(|n| n.rsplit('+').next() == Some(name)))
            .unwrap_or_else(|| panic!("{name} not in pdffonts:\n{fonts}"));
        // name type… encoding emb sub uni object generation
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [emb, sub, uni] = [cols[cols.len() - 5], cols[cols.len() - 4], cols[cols.len() - 3]];
        assert_eq!((emb, sub, uni), ("yes", "yes", "yes"), "{name} embedded, subset, with ToUnicode: {line}");
    }

    let text = tool("pdftotext", &["-layout", "-enc", "UTF-8", &file, "-"]);
    let page_texts: Vec<&str> = text.split('\x0c').filter(|p| !p.trim().is_empty()).collect();
    assert_eq!(page_texts.len(), pages);
    for (i, page) in page_texts.iter().enumerate() {
        assert!(page.contains(MARKING), "no marking on page {}:\n{page}", i + 1);
        let counter = format!("Page {} / {pages}", i + 1);
        assert!(page.contains(&counter), "no {counter:?} on page {}:\n{page}", i + 1);
        assert!(page.contains("vigie — paris2024 — report 12 v2"), "footer on page {}", i + 1);
    }
    let all = squash(&text);
    assert!(all.contains(TITLE), "{all}");
    assert!(all.contains(&squash(ACCENTS)), "accents lost:\n{all}");
    for c in ['é', 'è', 'à', 'ç', '«', '»', '–', '’', '°', 'É'] {
        assert!(all.contains(c), "{c} not extracted");
    }
    assert!(all.contains("Période : 26/07/2024 18:00 – 27/07/2024 06:00"));
    assert!(all.contains("Chiffres arrêtés à 06:00"), "note");
    assert!(all.contains("• Renforts engagés à Iéna"), "list");
    assert!(all.contains("Carte des signalements à 06:00"), "caption");
    // The 150-character word was cut by characters, not dropped.
    let joined: String = text.split_whitespace().collect();
    assert!(joined.contains(&format!("espace-{}fin.", "x".repeat(150))), "the long word's characters");
    for i in 1..=ROWS {
        for cell in row(i) {
            assert!(all.contains(&cell.text), "row {i}: {:?} missing", cell.text);
        }
    }
    // The header row repeats on every page the table spans.
    let headers = page_texts.iter().filter(|p| squash(p).contains("N° Lieu Catégorie Gravité Fiche")).count();
    assert!(headers >= 3, "table header on {headers} pages");
    assert!(all.contains("+ Ajout : point de rassemblement déplacé à Iéna"), "added line");
    assert!(all.contains("− Suppression : fermeture de la station Bir-Hakeim"), "removed line");
    assert!(all.contains("Inchangé : trafic RER C interrompu"), "unchanged line");
    // The watermark is drawn as outlines: it does not mix into the text.
    assert!(!all.contains("BROUILLON"), "watermark extracted as text");

    let list = tool("pdfimages", &["-list", &file]);
    let images: Vec<Vec<&str>> =
        list.lines().skip(2).map(|l| l.split_whitespace().collect()).filter(|c: &Vec<&str>| c.len() > 5).collect();
    assert_eq!(images.len(), 1, "{list}");
    // page num type width height color comp bpc …
    let (w, h) = (IMAGE_W.to_string(), IMAGE_H.to_string());
    assert_eq!(&images[0][2..8], ["image", w.as_str(), h.as_str(), "rgb", "3", "8"], "{list}");
    // Its pixels, extracted as PNG by Poppler and decoded.
    let prefix = dir.path().join("img");
    tool("pdfimages", &["-png", &file, prefix.to_str().unwrap()]);
    let extracted = std::fs::read(dir.path().join("img-000.png")).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(extracted)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buf).unwrap();
    assert_eq!((frame.width, frame.height, frame.color_type), (IMAGE_W, IMAGE_H, png::ColorType::Rgb));
    assert!(buf[..frame.buffer_size()].chunks_exact(3).all(|px| px == IMAGE_RGB), "image colour");

    // Links: pdftohtml writes the link annotations it finds as <a href>.
    let xml = tool("pdftohtml", &["-xml", "-stdout", "-i", "-q", &file]);
    for i in [1, 75, ROWS] {
        let href = format!("href=\"https://vigie.example/r/{i}\"");
        assert!(xml.contains(&href), "no link {href}");
    }
    assert_eq!(xml.matches("href=\"https://vigie.example/r/").count(), ROWS, "one link a row");
    // pdftohtml reports links over text only: the image's annotation is looked for in the file
    // (annotation dictionaries are not compressed).
    let bytes = std::fs::read(&file).unwrap();
    let needle = b"/S/URI/URI(https://vigie.example/carte)";
    assert!(bytes.windows(needle.len()).any(|w| w == needle), "no link annotation on the image");
}

#[test]
fn same_document_same_bytes() {
    let doc = sample();
    let a = pdf(&doc).unwrap();
    let b = pdf(&doc).unwrap();
    assert!(a == b, "two renderings differ");
    let mut later = doc.clone();
    later.created_ms += 1000;
    assert!(pdf(&later).unwrap() != a, "the creation date is in the file");
}

#[test]
fn a_short_report_without_marking_is_one_page() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = sample();
    doc.marking = None;
    doc.watermark = None;
    doc.blocks.truncate(4);
    let file = write_pdf(dir.path(), &doc);
    let info = tool("pdfinfo", &[&file]);
    assert_eq!(field(&info, "Pages"), "1");
    let text = tool("pdftotext", &["-layout", "-enc", "UTF-8", &file, "-"]);
    assert!(!text.contains(MARKING));
    assert!(text.contains("Page 1 / 1"));
}

#[test]
fn a_row_taller_than_a_page_is_split_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = sample();
    let lines: Vec<String> = (1..=90).map(|i| format!("ligne-{i:02}")).collect();
    doc.blocks = vec![Block::Table {
        columns: vec![vigie_paper::Column::new("Texte", vigie_paper::Align::Left, 1.0)],
        rows: vec![vec![vigie_paper::Cell::text(lines.join("\n"))], vec![vigie_paper::Cell::text("après")]],
    }];
    let file = write_pdf(dir.path(), &doc);
    let text = tool("pdftotext", &["-layout", "-enc", "UTF-8", &file, "-"]);
    let pages: Vec<&str> = text.split('\x0c').filter(|p| !p.trim().is_empty()).collect();
    assert!(pages.len() >= 2);
    for line in &lines {
        assert_eq!(text.matches(line.as_str()).count(), 1, "{line}");
    }
    assert!(pages.iter().all(|p| p.contains("Texte")), "header on every page");
    assert!(pages[0].contains("ligne-01"), "the tall row starts under the title, not on a new page");
    assert!(text.contains("après"));
}

#[test]
fn a_bad_image_names_its_block() {
    let mut doc = sample();
    doc.blocks.insert(2, Block::Image { image: b"GIF89a not a png".to_vec(), caption: String::new(), link: None });
    match pdf(&doc) {
        Err(err @ Error::Image { block: 2, .. }) => {
            let msg = err.to_string();
            assert!(msg.contains("block 2"), "{msg}");
        }
        other => panic!("expected an image error for block 2, got {other:?}"),
    }
    // A truncated PNG (valid header, no pixels) is caught too, before krilla would meet it.
    let mut png = common::png_rgb(10, 10, [0, 0, 0]);
    png.truncate(40);
    doc.blocks[2] = Block::Image { image: png, caption: String::new(), link: None };
    assert!(matches!(pdf(&doc), Err(Error::Image { block: 2, .. })));
}

#[test]
fn a_photo_goes_into_the_pdf_as_the_jpeg_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = sample();
    doc.blocks = vec![Block::Image {
        image: common::JPEG_16X8.to_vec(),
        caption: "Photo du signalement".to_owned(),
        link: None,
    }];
    let file = write_pdf(dir.path(), &doc);
    let list = tool("pdfimages", &["-list", &file]);
    let images: Vec<Vec<&str>> =
        list.lines().skip(2).map(|l| l.split_whitespace().collect()).filter(|c: &Vec<&str>| c.len() > 8).collect();
    assert_eq!(images.len(), 1, "{list}");
    // page num type width height color comp bpc enc: the JPEG's own stream (DCT), not re-encoded.
    assert_eq!(&images[0][2..5], ["image", "16", "8"], "{list}");
    assert_eq!(images[0][8], "jpeg", "{list}");
    assert!(html(&doc).contains("<img src=\"data:image/jpeg;base64,"), "the HTML inlines it too");
}
