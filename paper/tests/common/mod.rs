//! The report the tests print: every block kind, accented French, a 150-row table.

#![allow(dead_code, reason = "each test file uses part of it")]

use vigie_paper::{Align, Block, Cell, Change, ChangeKind, Column, Document};

pub const TITLE: &str = "Point de situation n° 12 — Trocadéro";
pub const MARKING: &str = "DIFFUSION RESTREINTE";
pub const ACCENTS: &str = "Événements signalés à l’entrée « Trocadéro » : la préfecture a déclenché le plan \
                           très tôt ; ça s’est déroulé – sans incident majeur – à 21 h.";
pub const ROWS: usize = 150;
/// The image: its size and colour.
pub const IMAGE_W: u32 = 320;
pub const IMAGE_H: u32 = 200;
pub const IMAGE_RGB: [u8; 3] = [200, 30, 30];

/// A solid RGB PNG.
pub fn png_rgb(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let data: Vec<u8> = (0..w * h).flat_map(|_| rgb).collect();
    enc.write_header().unwrap().write_image_data(&data).unwrap();
    out
}

/// The cells of row `i` (1-based).
pub fn row(i: usize) -> Vec<Cell> {
    let mut place = Cell::text(format!("Site-{i:03} — Champ-de-Mars, porte {}", i % 7));
    place.strong = i.is_multiple_of(10);
    vec![
        Cell::text(format!("R-{i:03}")),
        place,
        Cell::text(if i.is_multiple_of(3) { "Mouvement de foule" } else { "Colis suspect" }),
        Cell::text(format!("{}", i % 5 + 1)),
        Cell::link(format!("fiche-{i:03}"), format!("https://vigie.example/r/{i}")),
    ]
}

pub fn sample() -> Document {
    Document {
        title: TITLE.to_owned(),
        subtitle: vec![
            "Période : 26/07/2024 18:00 – 27/07/2024 06:00".to_owned(),
            "Espace paris2024 · version 2 · brouillon".to_owned(),
        ],
        marking: Some(MARKING.to_owned()),
        watermark: Some("BROUILLON".to_owned()),
        footer: "vigie — paris2024 — report 12 v2".to_owned(),
        page_label: "Page {n} / {total}".to_owned(),
        author: "Cellule de crise — préfecture".to_owned(),
        created_ms: 1_722_015_005_123,
        lang: "fr".to_owned(),
        blocks: vec![
            Block::Heading { level: 1, text: "Synthèse générale".to_owned() },
            Block::Paragraph(format!(
                "{ACCENTS}\nLigne forcée après un saut.\n\nDeuxième paragraphe : \
                 identifiant-tres-long-sans-espace-{} fin.",
                "x".repeat(150)
            )),
            Block::Note("Chiffres arrêtés à 06:00 ; méthode : comptage des signalements validés.".to_owned()),
            Block::List(vec!["Renforts engagés à Iéna".to_owned(), "Point presse à 8 h".to_owned()]),
            Block::Heading { level: 2, text: "Carte".to_owned() },
            Block::Image {
                png: png_rgb(IMAGE_W, IMAGE_H, IMAGE_RGB),
                caption: "Carte des signalements à 06:00".to_owned(),
                link: Some("https://vigie.example/carte".to_owned()),
            },
            Block::Heading { level: 2, text: "Signalements".to_owned() },
            Block::Table {
                columns: vec![
                    Column::new("N°", Align::Left, 0.8),
                    Column::new("Lieu", Align::Left, 3.0),
                    Column::new("Catégorie", Align::Left, 1.6),
                    Column::new("Gravité", Align::Right, 0.9),
                    Column::new("Fiche", Align::Left, 1.2),
                ],
                rows: (1..=ROWS).map(row).collect(),
            },
            Block::Heading { level: 3, text: "Modifications depuis la version 1".to_owned() },
            Block::Changes(vec![
                Change::new(ChangeKind::Added, "Ajout : point de rassemblement déplacé à Iéna"),
                Change::new(ChangeKind::Removed, "Suppression : fermeture de la station Bir-Hakeim"),
                Change::new(ChangeKind::Same, "Inchangé : trafic RER C interrompu"),
            ]),
        ],
    }
}
