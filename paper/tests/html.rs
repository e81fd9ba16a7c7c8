//! The HTML page: self-contained, escaped, links filtered, marking twice, the image inlined.
//! `PAPER_KEEP=/tmp/x` keeps the sample page as `/tmp/x.html` for a look in a browser.

mod common;

use base64::Engine as _;
use common::{IMAGE_H, IMAGE_RGB, IMAGE_W, MARKING, sample};
use vigie_paper::{Align, Block, Cell, Column, html};

#[test]
fn self_contained_page() {
    let doc = sample();
    let page = html(&doc);
    if let Ok(keep) = std::env::var("PAPER_KEEP") {
        std::fs::write(format!("{keep}.html"), &page).unwrap();
    }
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"fr\">"));
    assert!(page.contains("<meta charset=\"utf-8\">"));
    // The marking: a banner at the top and at the bottom (and in the print header's CSS).
    assert_eq!(page.matches(&format!("<div class=\"marking\" role=\"note\">{MARKING}</div>")).count(), 2);
    let top = page.find("class=\"marking\"").unwrap();
    let title = page.find("<h1>").unwrap();
    let bottom = page.rfind("class=\"marking\"").unwrap();
    let last_block = page.find("trafic RER C interrompu").unwrap();
    assert!(top < title && last_block < bottom, "banners at the top and the bottom");
    assert!(page.contains("@page { size: A4;"));
    assert!(page.contains("@top-center { content: \"DIFFUSION RESTREINTE\""));
    assert!(page.contains("counter(page)") && page.contains("counter(pages)"));
    // Nothing from outside: no script, no external URL but the links themselves.
    assert!(!page.contains("<script"));
    assert!(!page.contains("<link"));
    assert!(!page.contains("src=\"http"));
    assert!(!page.contains("url("));

    // The image: the same PNG bytes, base64 in a data: URI, with its pixel size.
    let Block::Image { image: png, .. } = &doc.blocks[5] else { panic!("block 5 is the image") };
    let data = base64::engine::general_purpose::STANDARD.encode(png);
    let img = format!(
        "<img src=\"data:image/png;base64,{data}\" alt=\"Carte des signalements à 06:00\" width=\"{IMAGE_W}\" height=\"{IMAGE_H}\">"
    );
    assert!(page.contains(&img));
    assert!(page.contains("<a href=\"https://vigie.example/carte\"><img"));
    let decoded = base64::engine::general_purpose::STANDARD.decode(&data).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(decoded)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut buf).unwrap();
    assert_eq!(buf[..3], IMAGE_RGB);

    // Headings: ids and a table of contents pointing at them.
    assert!(page.contains("<h2 id=\"sec-1\">Synthèse générale</h2>"));
    assert!(page.contains("<h3 id=\"sec-2\">Carte</h3>"));
    assert!(page.contains("<h4 id=\"sec-4\">Modifications depuis la version 1</h4>"));
    assert!(page.contains("<li class=\"l1\"><a href=\"#sec-1\">Synthèse générale</a></li>"));
    // Table, links, diff.
    assert_eq!(page.matches("<tr>").count(), 150 + 1);
    assert!(page.contains("<td><a href=\"https://vigie.example/r/42\">fiche-042</a></td>"));
    assert!(page.contains("<td class=\"r\">3</td>"));
    assert!(page.contains("<strong>Site-010 — Champ-de-Mars, porte 3</strong>"));
    assert!(page.contains("<ins>Ajout : point de rassemblement déplacé à Iéna</ins>"));
    assert!(page.contains("<del>Suppression : fermeture de la station Bir-Hakeim</del>"));
    // Paragraphs: '\n' a <br>, a blank line a new <p>.
    assert!(page.contains("à 21 h.<br>Ligne forcée après un saut.</p>\n<p>Deuxième paragraphe"));
}

#[test]
fn hostile_text_and_links_are_inert() {
    let mut doc = sample();
    doc.title = "<script>alert('t')</script> & \"co\"".to_owned();
    doc.lang = "fr\"><script>alert(1)</script>".to_owned();
    doc.marking = Some("</style><script>alert('m')</script>".to_owned());
    doc.footer = "\"; } body { display: none } @page { content: \"".to_owned();
    doc.blocks = vec![
        Block::Heading { level: 1, text: "<img src=x onerror=alert(1)>".to_owned() },
        Block::Paragraph("<b>not bold</b> 'quoted'".to_owned()),
        Block::Table {
            columns: vec![Column::new("<th>", Align::Left, 1.0)],
            rows: vec![
                vec![Cell::link("js", "javascript:alert(document.cookie)")],
                vec![Cell::link("js upper", "JaVaScRiPt:alert(1)")],
                vec![Cell::link("data", "data:text/html,<script>alert(1)</script>")],
                vec![Cell::link("protocol-relative", "//evil.example/x")],
                vec![Cell::link("quote", "https://ok.example/\"onmouseover=\"alert(1)")],
                vec![Cell::link("site path", "/reports/12?v=2&x=<y>")],
            ],
        },
        Block::Image {
            image: b"<svg onload=alert(1)>".to_vec(),
            caption: "\" onerror=\"alert(1)".to_owned(),
            link: Some("javascript:x".to_owned()),
        },
    ];
    let page = html(&doc);
    assert_eq!(page.matches("<script").count(), 0, "{page}");
    assert!(!page.to_ascii_lowercase().contains("javascript:"), "a javascript: URL survived");
    assert!(!page.contains("data:text"), "a data: link survived");
    assert!(!page.contains("href=\"//"), "a protocol-relative link survived");
    assert!(!page.contains("<img"), "a non-PNG was embedded");
    assert!(!page.contains("</style><"), "the marking closed the stylesheet");
    assert!(page.contains("<title>&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt; &amp; &quot;co&quot;</title>"));
    assert!(page.contains("<html lang=\"fr&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\">"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;</h2>"));
    assert!(page.contains("<p>&lt;b&gt;not bold&lt;/b&gt; &#39;quoted&#39;</p>"));
    // Refused links print their text alone.
    assert!(
        page.contains("<td>js</td>") && page.contains("<td>data</td>") && page.contains("<td>protocol-relative</td>")
    );
    // Accepted ones are escaped inside the attribute.
    assert!(page.contains("<a href=\"https://ok.example/&quot;onmouseover=&quot;alert(1)\">quote</a>"));
    assert!(page.contains("<a href=\"/reports/12?v=2&amp;x=&lt;y&gt;\">site path</a>"));
    assert!(page.contains("aria-label=\"&quot; onerror=&quot;alert(1)\""));
    // The footer reaches the CSS as an escaped string: it cannot end the rule.
    let style = &page[page.find("<style>").unwrap()..page.find("</style>").unwrap()];
    assert!(!style.contains("body { display: none }"), "{style}");
}

#[test]
fn no_marking_no_banner() {
    let mut doc = sample();
    doc.marking = None;
    doc.watermark = None;
    let page = html(&doc);
    assert!(!page.contains("class=\"marking\""));
    assert!(!page.contains("@top-center"));
    assert!(!page.contains("class=\"watermark\""));
}
