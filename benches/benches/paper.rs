//! Situation reports on paper: `vigie_paper::pdf` — what `GET /api/reports/{id}/pdf` runs
//! after building the document — for a report of about ten A4 pages: title block, marking and
//! watermark, headings, paragraphs of accented French, a 300-row table with links, two
//! 1024 × 768 static maps (Paris and the region, 100,000 demo entries) and a diff. Layout,
//! shaping, font subsetting, image decoding and compression, serialization. `html` on the same
//! document is measured beside it.
//!
//! Compared against a budget this bench sets for the typesetting alone, 1 s: a third of the
//! issue's 3 s from the store to the PDF, which `benches/reports.sh` measures through HTTP.

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use criterion::{Criterion, criterion_group, criterion_main};
use geo::{Coord, Rect};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use vigie_benches::{demo_engine, print_machine, quick_median, ratio};
use vigie_layers::demo::Shapes;
use vigie_layers::{Engine, Filter, Layer};
use vigie_paper::{Align, Block, Cell, Change, ChangeKind, Column, Document};
use vigie_staticmap::{Lang, MAX_FEATURES, MapSpec, Size};

const BUDGET: Duration = Duration::from_secs(1);

/// A 1024 × 768 static map (the images reports carry): the catalog's visible layers over
/// 100,000 demo entries, within `bounds`.
fn map_png(engine: &Engine, bounds: Rect<f64>) -> Vec<u8> {
    let layers: Vec<Arc<Layer>> = engine.layers().iter().filter(|l| l.def.visible).cloned().collect();
    let filter = Filter::default();
    let spec = MapSpec {
        layers: &layers,
        filter: &filter,
        bounds,
        size: Size::default(),
        lang: Lang::Fr,
        max_features: MAX_FEATURES,
    };
    vigie_staticmap::render(engine, &spec).expect("the map is drawn").png
}

fn report(maps: [Vec<u8>; 2]) -> Document {
    let para = "Les équipes de la préfecture ont signalé à 21 h 40 un mouvement de foule à l’entrée « Trocadéro » ; \
                le dispositif a été renforcé – deux unités supplémentaires – et la situation s’est stabilisée vers 22 h 15.";
    let mut blocks = vec![Block::Heading { level: 1, text: "Synthèse générale".to_owned() }];
    for _ in 0..4 {
        blocks.push(Block::Paragraph(format!("{para} {para}")));
    }
    blocks.push(Block::Note("Chiffres arrêtés à 06:00 ; signalements validés uniquement.".to_owned()));
    blocks.push(Block::List((1..=6).map(|i| format!("Point d’attention n° {i} : accès Iéna et Bir-Hakeim")).collect()));
    for (i, png) in (1..).zip(maps) {
        blocks.push(Block::Heading { level: 2, text: format!("Carte {i}") });
        blocks.push(Block::Image {
            image: png,
            caption: format!("Carte {i} : signalements à 06:00"),
            link: Some(format!("https://vigie.example/carte/{i}")),
        });
    }
    blocks.push(Block::Heading { level: 2, text: "Signalements".to_owned() });
    blocks.push(Block::Table {
        columns: vec![
            Column::new("N°", Align::Left, 0.8),
            Column::new("Lieu", Align::Left, 3.0),
            Column::new("Catégorie", Align::Left, 1.6),
            Column::new("Gravité", Align::Right, 0.9),
            Column::new("Fiche", Align::Left, 1.2),
        ],
        rows: (1..=300)
            .map(|i| {
                vec![
                    Cell::text(format!("R-{i:03}")),
                    Cell::text(format!("Site {i} — Champ-de-Mars, porte {}", i % 7)),
                    Cell::text(if i % 3 == 0 { "Mouvement de foule" } else { "Colis suspect" }),
                    Cell::text(format!("{}", i % 5 + 1)),
                    Cell::link(format!("fiche {i}"), format!("https://vigie.example/r/{i}")),
                ]
            })
            .collect(),
    });
    blocks.push(Block::Heading { level: 3, text: "Modifications".to_owned() });
    blocks.push(Block::Changes(vec![
        Change::new(ChangeKind::Added, "Point de rassemblement déplacé à Iéna"),
        Change::new(ChangeKind::Removed, "Fermeture de la station Bir-Hakeim"),
        Change::new(ChangeKind::Same, "Trafic RER C interrompu"),
    ]));
    Document {
        title: "Point de situation n° 12 — Cérémonie d’ouverture".to_owned(),
        subtitle: vec!["Période : 26/07/2024 18:00 – 27/07/2024 06:00".to_owned(), "Version 2 · brouillon".to_owned()],
        marking: Some("DIFFUSION RESTREINTE".to_owned()),
        watermark: Some("BROUILLON".to_owned()),
        footer: "vigie — paris2024 — report 12 v2".to_owned(),
        page_label: "Page {n} / {total}".to_owned(),
        author: "Cellule de crise".to_owned(),
        created_ms: 1_722_015_005_123,
        lang: "fr".to_owned(),
        blocks,
    }
}

/// Pages in a PDF: its page objects (`/Type/Page`, not `/Type/Pages`).
fn pages(pdf: &[u8]) -> usize {
    let needle = b"/Type/Page";
    pdf.windows(needle.len() + 1).filter(|w| w.starts_with(needle) && w[needle.len()] != b's').count()
}

fn benches(c: &mut Criterion) {
    print_machine();
    let engine = demo_engine(100_000, Shapes::PointsOnly);
    let paris = Rect::new(Coord { x: 2.25, y: 48.815 }, Coord { x: 2.42, y: 48.905 });
    let region = Rect::new(Coord { x: 2.0, y: 48.7 }, Coord { x: 2.6, y: 49.05 });
    let doc = report([map_png(&engine, paris), map_png(&engine, region)]);
    let png_bytes: usize =
        doc.blocks.iter().map(|b| if let Block::Image { image, .. } = b { image.len() } else { 0 }).sum();
    let pdf = vigie_paper::pdf(&doc).expect("the report prints");
    let html = vigie_paper::html(&doc);
    let median = quick_median(11, || {
        black_box(vigie_paper::pdf(black_box(&doc)).expect("pdf"));
    });
    println!(
        "paper_pdf: {} pages, 2 maps 1024 × 768 ({} PNG bytes), {} PDF bytes; quick median {:.1} ms ({} of the 1 s budget)",
        pages(&pdf),
        png_bytes,
        pdf.len(),
        median.as_secs_f64() * 1000.0,
        ratio(median, BUDGET)
    );
    let html_median = quick_median(11, || {
        black_box(vigie_paper::html(black_box(&doc)));
    });
    println!(
        "paper_html: {} bytes; quick median {:.2} ms ({} of the 1 s budget)",
        html.len(),
        html_median.as_secs_f64() * 1000.0,
        ratio(html_median, BUDGET)
    );
    let mut g = c.benchmark_group("paper_10_pages");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("pdf", |b| b.iter(|| vigie_paper::pdf(black_box(&doc)).expect("pdf")));
    g.bench_function("html", |b| b.iter(|| vigie_paper::html(black_box(&doc))));
    g.finish();
}

criterion_group!(paper, benches);
criterion_main!(paper);
