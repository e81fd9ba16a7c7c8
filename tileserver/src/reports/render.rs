//! A report as a printable document ([`vigie_paper::Document`], written out as HTML and PDF),
//! the diff of a correction against the edition it replaces, and the Atom feed of published
//! reports.

use super::compile::{Compiled, Row};
use super::schedule::Rhythm;
use super::store::{Report, SectionText};
use super::{Settings, Status};
use std::fmt::Write as _;
use vigie_paper::{Align, Block, Cell, Change, ChangeKind, Column, Document, escape};

/// What a document is made of.
#[derive(Debug)]
pub struct Parts<'a> {
    /// The report.
    pub report: &'a Report,
    /// Its sections' texts.
    pub texts: &'a [SectionText],
    /// Its compiled parts.
    pub compiled: &'a Compiled,
    /// The maps' PNGs, in the order of `compiled.maps` (`None`: not drawn).
    pub maps: &'a [Option<Vec<u8>>],
    /// Photos of significant events to print (PNG or JPEG), by SHA-256.
    pub photos: &'a [(String, Vec<u8>)],
    /// The workspace's settings (marking, time zone).
    pub settings: &'a Settings,
    /// The workspace id.
    pub workspace: &'a str,
    /// Absolute base URL of the workspace (links).
    pub base: &'a str,
    /// The diff against the edition corrected, when this is a correction.
    pub diff: Option<&'a Diff>,
}

/// What changed between two editions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Diff {
    /// The edition compared with.
    pub against: u64,
    /// Per section whose text changed: its title and the lines.
    pub sections: Vec<(String, Vec<Line>)>,
    /// Figures that changed: table, line, before, after.
    pub figures: Vec<(String, String, usize, usize)>,
}

/// A line of a text diff.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Line {
    /// `+`, `-` or ` `.
    pub op: char,
    /// The line.
    pub text: String,
}

/// The line diff of two texts (longest common subsequence; at most 2,000 lines a side, beyond
/// which the whole text is shown removed and added).
pub fn diff_lines(old: &str, new: &str) -> Vec<Line> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let line = |op, t: &str| Line { op, text: t.to_owned() };
    if a.len() > 2000 || b.len() > 2000 {
        return a.iter().map(|t| line('-', t)).chain(b.iter().map(|t| line('+', t))).collect();
    }
    // lcs[i][j]: common subsequence length of a[i..], b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(line(' ', a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(line('+', b[j]));
            j += 1;
        } else {
            out.push(line('-', a[i]));
            i += 1;
        }
    }
    out
}

/// The diff of a correction (`new`) against the edition it corrects (`old`).
pub fn diff(old: (&Report, &[SectionText], &Compiled), new: (&Report, &[SectionText], &Compiled)) -> Diff {
    fn body<'a>(texts: &'a [SectionText], id: &str) -> &'a str {
        texts.iter().find(|t| t.section == id).map_or("", |t| t.body.as_str())
    }
    let mut sections = Vec::new();
    for def in &new.0.sections {
        let lines = diff_lines(body(old.1, &def.id), body(new.1, &def.id));
        if lines.iter().any(|l| l.op != ' ') {
            sections.push((def.title.clone(), lines));
        }
    }
    let mut figures = Vec::new();
    let (a, b) = (&old.2.figures, &new.2.figures);
    if a.total != b.total {
        figures.push(("Total".into(), String::new(), a.total, b.total));
    }
    for (name, ta, tb) in [
        ("Thèmes", &a.by_theme, &b.by_theme),
        ("Gravité", &a.by_severity, &b.by_severity),
        ("Qualification", &a.by_qualification, &b.by_qualification),
        ("Départements", &a.by_departement, &b.by_departement),
    ] {
        let (ma, mb) = (super::compile::table(ta), super::compile::table(tb));
        let keys: std::collections::BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
        for k in keys {
            let (x, y) = (ma.get(k).copied().unwrap_or(0), mb.get(k).copied().unwrap_or(0));
            if x != y {
                figures.push((name.into(), k.clone(), x, y));
            }
        }
    }
    Diff { against: old.0.id, sections, figures }
}

fn status_fr(s: Status) -> &'static str {
    match s {
        Status::Draft => "brouillon",
        Status::Review => "en relecture",
        Status::Validated => "validé",
        Status::Published => "publié",
    }
}

fn change(count: usize, previous: Option<usize>) -> String {
    match previous {
        None => String::new(),
        Some(p) => {
            let d = count as i64 - p as i64;
            if d > 0 { format!("+{d}") } else { d.to_string() }
        }
    }
}

fn figures_table(rows: &[Row], base: &str, with_previous: bool) -> Block {
    let mut columns = vec![
        Column { title: String::new(), align: Align::Left, weight: 3.0 },
        Column { title: "Période".into(), align: Align::Right, weight: 1.0 },
    ];
    if with_previous {
        columns.push(Column { title: "Précédent".into(), align: Align::Right, weight: 1.0 });
        columns.push(Column { title: "Évolution".into(), align: Align::Right, weight: 1.0 });
    }
    let rows = rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                Cell { text: r.label.clone(), link: Some(format!("{base}{}", strip_prefix(&r.query))), strong: false },
                Cell { text: r.count.to_string(), link: None, strong: true },
            ];
            if with_previous {
                cells.push(Cell {
                    text: r.previous.map(|p| p.to_string()).unwrap_or_default(),
                    link: None,
                    strong: false,
                });
                cells.push(Cell { text: change(r.count, r.previous), link: None, strong: false });
            }
            cells
        })
        .collect();
    Block::Table { columns, rows }
}

/// A link stored under the workspace's prefix, made relative to `base` (which ends with the
/// prefix).
fn strip_prefix(link: &str) -> &str {
    link.find("/api/").map_or(link, |i| &link[i..])
}

/// The document of a report.
pub fn document(p: &Parts<'_>) -> Document {
    let r = p.report;
    let c = p.compiled;
    let rhythm = Rhythm::new(&p.settings.timezone, &[]).ok();
    let local = |ms: i64| rhythm.as_ref().map_or_else(|| super::schedule::utc_ms(ms), |z| z.readable(ms));
    let zone = rhythm.as_ref().map_or("UTC", Rhythm::zone);
    let mut blocks = Vec::new();
    let published = r.history.iter().rev().find(|s| s.status == Status::Published);
    let mut subtitle = vec![
        format!("Période du {} au {} ({zone})", local(r.period_start), local(r.period_end)),
        format!("Espace de travail {} — rapport n° {} — édition {}", p.workspace, r.id, r.edition),
    ];
    subtitle.push(match published {
        Some(s) => format!("Publié le {} par {}", local(s.at), s.by),
        None => format!("État : {}", status_fr(r.status)),
    });
    if let Some(s) = r.history.iter().rev().find(|s| s.status == Status::Validated) {
        subtitle.push(format!("Validé le {} par {}", local(s.at), s.by));
    }
    if let Some(old) = r.supersedes {
        subtitle.push(format!("Corrige le rapport n° {old}"));
    }
    if let Some(d) = p.diff {
        blocks.push(Block::Heading { level: 1, text: format!("Corrections par rapport au rapport n° {}", d.against) });
        for (title, lines) in &d.sections {
            blocks.push(Block::Heading { level: 3, text: title.clone() });
            blocks.push(Block::Changes(
                lines
                    .iter()
                    .map(|l| Change {
                        kind: match l.op {
                            '+' => ChangeKind::Added,
                            '-' => ChangeKind::Removed,
                            _ => ChangeKind::Same,
                        },
                        text: l.text.clone(),
                    })
                    .collect(),
            ));
        }
        if !d.figures.is_empty() {
            blocks.push(Block::Table {
                columns: vec![
                    Column { title: "Tableau".into(), align: Align::Left, weight: 2.0 },
                    Column { title: "Ligne".into(), align: Align::Left, weight: 3.0 },
                    Column { title: "Avant".into(), align: Align::Right, weight: 1.0 },
                    Column { title: "Après".into(), align: Align::Right, weight: 1.0 },
                ],
                rows: d
                    .figures
                    .iter()
                    .map(|(t, l, a, b)| {
                        vec![
                            Cell::text(t.clone()),
                            Cell::text(l.clone()),
                            Cell::text(a.to_string()),
                            Cell::text(b.to_string()),
                        ]
                    })
                    .collect(),
            });
        }
        if d.sections.is_empty() && d.figures.is_empty() {
            blocks.push(Block::Note("Aucune différence de texte ni de chiffres.".into()));
        }
    }
    // The people's text, section by section.
    for def in &r.sections {
        blocks.push(Block::Heading { level: 1, text: def.title.clone() });
        let body = p.texts.iter().find(|t| t.section == def.id).map_or("", |t| t.body.trim());
        if body.is_empty() {
            blocks.push(Block::Note("(section non renseignée)".into()));
        } else {
            blocks.push(Block::Paragraph(body.to_owned()));
        }
    }
    // The compiled parts.
    let f = &c.figures;
    blocks.push(Block::Heading { level: 1, text: "Chiffres clés".into() });
    let prev = c.previous.as_ref();
    blocks.push(Block::Paragraph(match (prev, f.previous_total) {
        (Some(pv), Some(pt)) => format!(
            "Entrées de la main courante sur la période : {} (période précédente du {} au {} : {pt}, évolution {}).",
            f.total,
            local(pv.period[0]),
            local(pv.period[1]),
            change(f.total, Some(pt))
        ),
        _ => format!("Entrées de la main courante sur la période : {}.", f.total),
    }));
    blocks.push(Block::Table {
        columns: vec![Column { title: "Source des chiffres".into(), align: Align::Left, weight: 1.0 }],
        rows: vec![vec![Cell {
            text: "Total et répartitions par thème, gravité et qualification : requête de zone (API)".into(),
            link: Some(format!("{}{}", p.base, strip_prefix(&f.query))),
            strong: false,
        }]],
    });
    let with_prev = prev.is_some();
    for (title, rows) in [
        ("Par thème", &f.by_theme),
        ("Par gravité", &f.by_severity),
        ("Par qualification", &f.by_qualification),
        ("Par département (département entier)", &f.by_departement),
    ] {
        if rows.is_empty() {
            continue;
        }
        blocks.push(Block::Heading { level: 2, text: title.into() });
        blocks.push(figures_table(rows, p.base, with_prev));
    }
    blocks.push(Block::Heading { level: 1, text: "Événements significatifs".into() });
    if c.significant.is_empty() {
        blocks.push(Block::Note(format!(
            "Aucune entrée confirmée de gravité {} ou plus sur la période.",
            p.settings.significant_severity
        )));
    } else {
        blocks.push(Block::Table {
            columns: vec![
                Column { title: "Heure".into(), align: Align::Left, weight: 1.3 },
                Column { title: "Gravité".into(), align: Align::Right, weight: 0.7 },
                Column { title: "Événement".into(), align: Align::Left, weight: 3.0 },
                Column { title: "Lieu".into(), align: Align::Left, weight: 2.0 },
                Column { title: "Liens".into(), align: Align::Left, weight: 1.5 },
            ],
            rows: c
                .significant
                .iter()
                .map(|s| {
                    let when = vigie_layers::feature::parse_time_ms(&s.time).map_or_else(|_| s.time.clone(), local);
                    let links =
                        s.links.iter().map(|(u, t)| if t.is_empty() { u.clone() } else { format!("{t} ({u})") });
                    let mut linked: Vec<String> = links.collect();
                    if let Some((sha, _)) = &s.photo {
                        linked.push(format!("photo {}", &sha[..sha.len().min(12)]));
                    }
                    vec![
                        Cell::text(when),
                        Cell { text: s.severity.to_string(), link: None, strong: true },
                        Cell {
                            text: format!("#{} {}", s.id, s.title),
                            link: Some(format!("{}/api/entries/{}", p.base, s.id)),
                            strong: false,
                        },
                        Cell::text(s.place.clone()),
                        Cell::text(linked.join("\n")),
                    ]
                })
                .collect(),
        });
        for s in &c.significant {
            if let Some((sha, _)) = &s.photo
                && let Some((_, png)) = p.photos.iter().find(|(k, _)| k == sha)
            {
                blocks.push(Block::Image {
                    image: png.clone(),
                    caption: format!("Entrée #{} — {}", s.id, s.title),
                    link: Some(format!("{}/api/attachments/{sha}?entry={}", p.base, s.id)),
                });
            }
        }
        if c.significant_more > 0 {
            blocks.push(Block::Note(format!("… et {} autres : voir la requête.", c.significant_more)));
        }
    }
    blocks.push(Block::Heading { level: 1, text: "Nouveaux points chauds".into() });
    if c.hotspots.is_empty() {
        blocks.push(Block::Note("Aucune cellule significativement au-dessus de sa moyenne.".into()));
    } else {
        blocks.push(Block::Table {
            columns: vec![
                Column { title: "Cellule H3".into(), align: Align::Left, weight: 2.0 },
                Column { title: "Lieu (lat, lon)".into(), align: Align::Left, weight: 2.0 },
                Column { title: "Entrées".into(), align: Align::Right, weight: 1.0 },
                Column { title: "Attendu".into(), align: Align::Right, weight: 1.0 },
                Column { title: "p".into(), align: Align::Right, weight: 1.0 },
            ],
            rows: c
                .hotspots
                .iter()
                .map(|h| {
                    vec![
                        Cell {
                            text: h.cell.clone(),
                            link: Some(format!("{}{}", p.base, strip_prefix(&h.query))),
                            strong: false,
                        },
                        Cell::text(format!("{:.4}, {:.4}", h.lonlat[1], h.lonlat[0])),
                        Cell { text: h.count.to_string(), link: None, strong: true },
                        Cell::text(format!("{:.2}", h.expected)),
                        Cell::text(format!("{:.1e}", h.p_value)),
                    ]
                })
                .collect(),
        });
    }
    blocks.push(Block::Note(c.hotspot_method.clone()));
    blocks.push(Block::Heading { level: 1, text: "Sources en défaut".into() });
    if c.sources.is_empty() {
        blocks.push(Block::Note("Toutes les sources sont à jour.".into()));
    } else {
        blocks.push(Block::Table {
            columns: vec![
                Column { title: "Source".into(), align: Align::Left, weight: 2.0 },
                Column { title: "État".into(), align: Align::Left, weight: 1.0 },
                Column { title: "Dernier passage".into(), align: Align::Left, weight: 1.5 },
                Column { title: "Détail".into(), align: Align::Left, weight: 3.0 },
            ],
            rows: c
                .sources
                .iter()
                .map(|s| {
                    vec![
                        Cell::text(format!("{} ({})", s.title, s.id)),
                        Cell::text(s.problem.clone()),
                        Cell::text(s.last_run.clone().unwrap_or_default()),
                        Cell::text(s.detail.clone()),
                    ]
                })
                .collect(),
        });
    }
    if let Some(st) = &c.staffing {
        blocks.push(Block::Heading { level: 1, text: "Armement des postes".into() });
        blocks.push(Block::Paragraph(format!("Niveau d'alerte en fin de période : {}.", st.level)));
        for [at, level, reason, by] in &st.changes {
            blocks.push(Block::Paragraph(format!(
                "Le {at} : passage au niveau « {level} » ({reason}), décidé par {by}."
            )));
        }
        blocks.push(Block::Paragraph(format!(
            "Sur les 24 heures suivantes ({} vacations) : {} personnes requises, {} confirmées, {} manquantes.",
            st.shifts, st.needed, st.confirmed, st.short
        )));
        if !st.by_directorate.is_empty() {
            blocks.push(Block::Table {
                columns: vec![
                    Column { title: "Direction".into(), align: Align::Left, weight: 2.0 },
                    Column { title: "Requis".into(), align: Align::Right, weight: 1.0 },
                    Column { title: "Manquants".into(), align: Align::Right, weight: 1.0 },
                ],
                rows: st
                    .by_directorate
                    .iter()
                    .map(|(d, needed, short)| {
                        vec![Cell::text(d.clone()), Cell::text(needed.to_string()), Cell::text(short.to_string())]
                    })
                    .collect(),
            });
        }
    }
    if !c.maps.is_empty() {
        blocks.push(Block::Heading { level: 1, text: "Cartes".into() });
    }
    for (i, m) in c.maps.iter().enumerate() {
        match p.maps.get(i).cloned().flatten() {
            Some(png) => blocks.push(Block::Image {
                image: png,
                caption: m.title.clone(),
                link: Some(format!("{}{}", p.base, strip_prefix(&m.query))),
            }),
            None => blocks.push(Block::Note(format!(
                "{} : carte non disponible ({})",
                m.title,
                m.error.clone().unwrap_or_default()
            ))),
        }
    }
    blocks.push(Block::Note(format!(
        "Parties calculées le {} ({zone}){}.",
        local(c.computed_at),
        if r.status == Status::Validated || r.status == Status::Published {
            " et figées à la validation"
        } else {
            " — brouillon : elles suivent la main courante jusqu'à la validation"
        }
    )));
    Document {
        title: r.title.clone(),
        subtitle,
        marking: p.settings.classification.clone(),
        watermark: (r.status != Status::Published).then(|| status_fr(r.status).to_uppercase()),
        footer: format!("vigie — {} — rapport n° {} éd. {}", p.workspace, r.id, r.edition),
        page_label: "Page {n} / {total}".into(),
        author: "vigie".into(),
        created_ms: published.map_or(c.computed_at, |s| s.at),
        lang: "fr".into(),
        blocks,
    }
}

/// The Atom feed (RFC 4287) of published reports, newest first: `reports` with the time each
/// was published, and the first section's text as summary.
pub fn atom(workspace: &str, base: &str, reports: &[(Report, i64, String)]) -> String {
    let updated = reports.iter().map(|(_, at, _)| *at).max().unwrap_or(0);
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = write!(
        out,
        "<title>{}</title>\n<id>{}/api/reports/feed.atom</id>\n<link rel=\"self\" href=\"{}/api/reports/feed.atom\"/>\n<updated>{}</updated>\n<generator>vigie</generator>\n",
        escape(&format!("vigie — points de situation — {workspace}")),
        escape(base),
        escape(base),
        super::schedule::utc_ms(updated)
    );
    for (r, at, summary) in reports {
        let url = format!("{base}/api/reports/{}", r.id);
        let _ = write!(
            out,
            "<entry>\n<title>{}</title>\n<id>{}</id>\n<link rel=\"alternate\" type=\"text/html\" href=\"{}/html\"/>\n<link rel=\"enclosure\" type=\"application/pdf\" href=\"{}/pdf\"/>\n<updated>{}</updated>\n<author><name>{}</name></author>\n<summary>{}</summary>\n</entry>\n",
            escape(&format!("{} (éd. {})", r.title, r.edition)),
            escape(&url),
            escape(&url),
            escape(&url),
            super::schedule::utc_ms(*at),
            escape(
                &r.history.iter().rev().find(|s| s.status == Status::Published).map_or(String::new(), |s| s.by.clone())
            ),
            escape(&summary.chars().take(500).collect::<String>())
        );
    }
    out.push_str("</feed>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_diff_keeps_common_lines_and_marks_the_rest() {
        let d = diff_lines("a\nb\nc\nd", "a\nc\nd\ne");
        let ops: String = d.iter().map(|l| l.op).collect();
        let text: Vec<&str> = d.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(ops, " -  +");
        assert_eq!(text, ["a", "b", "c", "d", "e"]);
        assert!(diff_lines("same", "same").iter().all(|l| l.op == ' '));
        assert_eq!(diff_lines("", "new").iter().map(|l| l.op).collect::<String>(), "+");
    }

    #[test]
    fn the_feed_escapes_what_people_wrote() {
        let feed = atom("w<s>", "http://h", &[]);
        assert!(feed.contains("<title>vigie — points de situation — w&lt;s&gt;</title>"), "{feed}");
        assert_eq!(escape("<a href=\"x\">R&D</a>\u{1}"), "&lt;a href=&quot;x&quot;&gt;R&amp;D&lt;/a&gt;");
    }
}
