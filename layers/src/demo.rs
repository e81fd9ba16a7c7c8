//! The bundled demo: the 44 Paris 2024 competition venues (`data/venues.toml`), three security
//! perimeters per venue, and a seeded generator of synthetic log entries over the Games.
//!
//! The same seed and count always give the same data: the generator uses its own small PRNG
//! (SplitMix64) rather than a crate whose streams may change between versions.

use crate::feature::Qualification;
use crate::model::{Entry, Link, PERIMETER_KINDS, Perimeter, Venue, Window};
use geo::{Coord, Geometry, LineString, MultiPolygon, Point, Polygon};
use serde::Deserialize;
use std::f64::consts::TAU;

/// The bundled venue list.
pub const BUNDLED_VENUES: &str = include_str!("../../data/venues.toml");

/// Default seed of the demo generator.
pub const DEFAULT_SEED: u64 = 2024;
/// Default number of synthetic log entries.
pub const DEFAULT_ENTRIES: usize = 25_000;

/// Start of the generated period: 24 July 2024 00:00 Paris time (first football matches).
pub const GAMES_START_MS: i64 = 1_721_772_000_000;
/// End of the generated period: 8 September 2024 23:59:59 Paris time (Paralympic closing).
pub const GAMES_END_MS: i64 = 1_725_832_799_000;

const DAY_MS: i64 = 86_400_000;
const METRES_PER_DEGREE: f64 = 111_320.0;

/// Why the venue list was refused.
#[derive(Debug, thiserror::Error)]
#[error("venue list: {0}")]
pub struct VenueFileError(#[from] toml::de::Error);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VenueFile {
    venue: Vec<VenueToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VenueToml {
    code: String,
    name: String,
    kind: String,
    city: String,
    lon: f64,
    lat: f64,
    sports: Vec<String>,
    olympic: Option<DateWindow>,
    paralympic: Option<DateWindow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DateWindow {
    start: toml::value::Datetime,
    end: toml::value::Datetime,
}

/// Local offset of a venue in summer 2024: French Polynesia (UTC−10) for the surf venue,
/// Paris summer time (UTC+2) everywhere else.
fn utc_offset_ms(lon: f64) -> i64 {
    if lon < -100.0 { -10 * 3_600_000 } else { 2 * 3_600_000 }
}

fn date_ms(d: &toml::value::Datetime, offset_ms: i64) -> Option<i64> {
    let date = d.date?;
    let month = time::Month::try_from(date.month).ok()?;
    let day = time::Date::from_calendar_date(i32::from(date.year), month, date.day).ok()?;
    Some(day.midnight().assume_utc().unix_timestamp() * 1000 - offset_ms)
}

/// Parses a venue list in the format of `data/venues.toml`.
///
/// # Errors
/// [`VenueFileError`] with the line and key when the file does not parse.
pub fn parse_venues(text: &str) -> Result<Vec<Venue>, VenueFileError> {
    let file: VenueFile = toml::from_str(text)?;
    Ok(file
        .venue
        .into_iter()
        .map(|v| {
            let off = utc_offset_ms(v.lon);
            let window = |w: Option<DateWindow>| {
                w.and_then(|w| Some(Window { start: date_ms(&w.start, off)?, end: date_ms(&w.end, off)? + DAY_MS - 1 }))
            };
            Venue {
                olympic: window(v.olympic),
                paralympic: window(v.paralympic),
                code: v.code,
                name: v.name,
                kind: v.kind,
                city: v.city,
                lon: v.lon,
                lat: v.lat,
                sports: v.sports,
            }
        })
        .collect())
}

/// The bundled venues.
///
/// # Panics
/// Never in a released build: a test parses the bundled file.
pub fn bundled_venues() -> Vec<Venue> {
    parse_venues(BUNDLED_VENUES).expect("the bundled venue list is valid")
}

/// SplitMix64: tiny, fast, and its stream never changes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform index below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// An index drawn with the given weights.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One damaged copy of `bytes` (not empty), and what was done: truncated, bits flipped, noise
/// written over a span, a span repeated up to 2,000 times, a huge or invalid number spliced in,
/// up to 100,000 `[` nested, or invalid UTF-8. The damage the readers' tests and the fuzzing
/// bench give real files (issue 20, item 3).
pub fn mutate(bytes: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut b = bytes.to_vec();
    let at = rng.below(b.len());
    match rng.below(7) {
        0 => {
            b.truncate(at);
            (b, format!("truncated at {at}"))
        }
        1 => {
            let flips = 1 + rng.below(16);
            for _ in 0..flips {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            (b, format!("{flips} bits flipped"))
        }
        2 => {
            let len = (1 + rng.below(256)).min(b.len() - at);
            for x in &mut b[at..at + len] {
                *x = rng.next_u64() as u8;
            }
            (b, format!("{len} bytes of noise at {at}"))
        }
        3 => {
            let len = 1 + rng.below(64).min(b.len() - at);
            let span = b[at..(at + len).min(b.len())].to_vec();
            let times = 1 + rng.below(2000);
            let tail = b.split_off(at);
            for _ in 0..times {
                b.extend_from_slice(&span);
            }
            b.extend_from_slice(&tail);
            (b, format!("{len} bytes at {at} repeated {times} times"))
        }
        4 => {
            let huge = ["99999999999999999999999999", "-1e308", "1e999", "4294967296", "NaN", "18446744073709551616"];
            let h = huge[rng.below(huge.len())];
            let tail = b.split_off(at);
            b.extend_from_slice(h.as_bytes());
            b.extend_from_slice(&tail);
            (b, format!("'{h}' spliced in at {at}"))
        }
        5 => {
            let depth = 1000 + rng.below(100_000);
            let tail = b.split_off(at);
            b.extend(std::iter::repeat_n(b'[', depth));
            b.extend_from_slice(&tail);
            (b, format!("{depth} '[' at {at}"))
        }
        _ => {
            let tail = b.split_off(at);
            b.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28, 0x00, 0xe2, 0x82]);
            b.extend_from_slice(&tail);
            (b, format!("invalid UTF-8 at {at}"))
        }
    }
}

/// Offsets a lon/lat point by metres east and north (local flat approximation, fine at venue
/// scale).
fn offset(lon: f64, lat: f64, east_m: f64, north_m: f64) -> Coord<f64> {
    Coord { x: lon + east_m / (METRES_PER_DEGREE * lat.to_radians().cos()), y: lat + north_m / METRES_PER_DEGREE }
}

/// A star-shaped irregular ring around a centre: an ellipse whose radius wobbles with a few
/// seeded harmonics. Star-shaped with a positive radius, so it never self-intersects.
fn blob(rng: &mut Rng, lon: f64, lat: f64, radius_m: f64, aspect: f64, rotation: f64, vertices: usize) -> Polygon<f64> {
    let harmonics: Vec<(f64, f64, f64)> =
        (2..5).map(|k| (f64::from(k), rng.range(0.0, 0.08), rng.range(0.0, TAU))).collect();
    let mut ring: Vec<Coord<f64>> = (0..vertices)
        .map(|i| {
            let t = TAU * i as f64 / vertices as f64;
            let wobble: f64 = 1.0 + harmonics.iter().map(|(k, a, p)| a * (k * t + p).sin()).sum::<f64>();
            let (x, y) = (radius_m * aspect * t.cos() * wobble, radius_m * t.sin() * wobble);
            let (s, c) = rotation.sin_cos();
            offset(lon, lat, x * c - y * s, x * s + y * c)
        })
        .collect();
    ring.push(ring[0]);
    Polygon::new(LineString(ring), vec![])
}

/// Radius of the innermost (SILT) perimeter by venue kind, metres.
fn base_radius_m(kind: &str) -> f64 {
    match kind {
        "outdoor" | "equestrian" => 650.0,
        "nautical" | "road" => 450.0,
        "stadium" => 380.0,
        _ => 300.0,
    }
}

/// Three perimeters per venue — silt (screened pedestrian perimeter), red (no motor traffic),
/// blue (restricted traffic) — nested, with activation windows around each competition window:
/// blue from two days before to one day after, red from the eve, silt on competition days.
pub fn perimeters(venues: &[Venue], seed: u64) -> Vec<Perimeter> {
    let mut out = Vec::with_capacity(venues.len() * 3);
    for (vi, v) in venues.iter().enumerate() {
        let mut rng = Rng::new(seed ^ crate::model::venue_feature_id(&v.code));
        let aspect = rng.range(1.0, 1.6);
        let rotation = rng.range(0.0, TAU);
        let windows: Vec<Window> = [v.olympic, v.paralympic].into_iter().flatten().collect();
        for (k, kind) in PERIMETER_KINDS.iter().enumerate() {
            let radius = base_radius_m(&v.kind) * [1.0, 1.7, 2.6][k];
            let (before, after) = [(0, 0), (1, 0), (2, 1)][k];
            out.push(Perimeter {
                id: (vi * 3 + k + 1) as u64,
                venue: v.code.clone(),
                kind: (*kind).to_owned(),
                geometry: Geometry::Polygon(blob(&mut rng, v.lon, v.lat, radius, aspect, rotation, 40)),
                windows: windows
                    .iter()
                    .map(|w| Window { start: w.start - before * DAY_MS, end: w.end + after * DAY_MS })
                    .collect(),
            });
        }
    }
    out
}

struct ThemeSpec {
    id: &'static str,
    weight: f64,
    sources: &'static [&'static str],
    titles: &'static [&'static str],
    severity: [f64; 5],
}

const THEMES: &[ThemeSpec] = &[
    ThemeSpec {
        id: "public_order",
        weight: 20.0,
        sources: &["Préfecture de police", "DGPN", "DGGN", "Police municipale"],
        titles: &[
            "Colis suspect signalé",
            "Rixe entre supporters",
            "Intrusion dans le périmètre",
            "Manifestation non déclarée",
            "Vol à la tire signalé",
            "Individu au comportement suspect",
            "Revente illicite de billets",
            "Drone non autorisé repéré",
        ],
        severity: [15.0, 30.0, 30.0, 18.0, 7.0],
    },
    ThemeSpec {
        id: "transport",
        weight: 18.0,
        sources: &["RATP", "SNCF Transilien", "IDFM", "DIRIF"],
        titles: &[
            "Perturbation sur la ligne",
            "Station fermée temporairement",
            "Saturation des quais",
            "Accident de la circulation",
            "Bus de navette en retard",
            "Colis abandonné en gare",
            "Fermeture de voirie",
        ],
        severity: [20.0, 35.0, 30.0, 12.0, 3.0],
    },
    ThemeSpec {
        id: "health",
        weight: 15.0,
        sources: &["SAMU 75", "SAMU 93", "ARS Île-de-France", "Poste médical avancé"],
        titles: &[
            "Malaise d'un spectateur",
            "Coup de chaleur",
            "Blessure d'un bénévole",
            "Évacuation sanitaire",
            "Afflux au poste de secours",
            "Intoxication alimentaire suspectée",
        ],
        severity: [5.0, 25.0, 35.0, 25.0, 10.0],
    },
    ThemeSpec {
        id: "fire_rescue",
        weight: 8.0,
        sources: &["BSPP", "SDIS 93", "SDIS 78", "SDIS 13"],
        titles: &[
            "Départ de feu",
            "Fumées signalées",
            "Alarme incendie déclenchée",
            "Secours à personne",
            "Fuite de gaz suspectée",
            "Personne bloquée dans un ascenseur",
        ],
        severity: [5.0, 20.0, 35.0, 28.0, 12.0],
    },
    ThemeSpec {
        id: "crowd",
        weight: 14.0,
        sources: &["Préfecture de police", "Paris 2024", "Vidéoprotection"],
        titles: &[
            "Forte affluence aux portes",
            "Densité élevée sur le parvis",
            "File d'attente bloquée",
            "Mouvement de foule",
            "Rassemblement hors périmètre",
            "Fan zone saturée",
        ],
        severity: [10.0, 30.0, 35.0, 20.0, 5.0],
    },
    ThemeSpec {
        id: "weather",
        weight: 5.0,
        sources: &["Météo-France"],
        titles: &["Vigilance orages", "Fortes chaleurs", "Rafales de vent", "Pluie intense", "Épisode caniculaire"],
        severity: [20.0, 35.0, 30.0, 12.0, 3.0],
    },
    ThemeSpec {
        id: "cyber",
        weight: 5.0,
        sources: &["ANSSI", "CERT Paris 2024", "COMCYBER-MI"],
        titles: &[
            "Tentative d'hameçonnage",
            "Déni de service sur la billetterie",
            "Panne du réseau Wi-Fi",
            "Compromission d'un compte",
            "Écran d'affichage piraté",
        ],
        severity: [15.0, 30.0, 30.0, 18.0, 7.0],
    },
    ThemeSpec {
        id: "venue_ops",
        weight: 15.0,
        sources: &["Paris 2024", "Exploitant du site", "Centre de commandement du site"],
        titles: &[
            "Ouverture des portes",
            "Panne d'éclairage",
            "Retard de la session",
            "Contrôle d'accès ralenti",
            "Livraison bloquée au point de contrôle",
            "Coupure électrique partielle",
            "Fin de session, évacuation en cours",
        ],
        severity: [40.0, 35.0, 18.0, 6.0, 1.0],
    },
];

const FREE_TAGS: &[&str] =
    &["vip", "ceremonie", "paralympiques", "fan-zone", "presse", "delegation", "benevoles", "billetterie"];

const QUALIFICATIONS: [(Qualification, f64); 5] = [
    (Qualification::Raw, 10.0),
    (Qualification::InReview, 15.0),
    (Qualification::Confirmed, 45.0),
    (Qualification::Refuted, 8.0),
    (Qualification::Closed, 22.0),
];

/// Shape mix of generated entries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shapes {
    /// Mostly points, some lines (road-race incidents, 5 %) and areas (crowds, 5 %).
    Mixed,
    /// Points only (benchmarks).
    PointsOnly,
}

/// How far from its venue a point entry falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    /// Close to the venue: exponential distance, mean 350 m (the demo).
    Venues,
    /// Over the region: 30 % close to the venue as above, 70 % at an exponential distance of mean
    /// 6 km — the incidents a region-wide log collects (transport, public order in the suburbs)
    /// around the day's venues. The load benchmark's dataset (benches/load/).
    Region,
}

/// Generates `count` synthetic log entries around the venues over the Games window, with ids
/// `1..=count`. Entries cluster at venues active that day, in the afternoon and evening.
pub fn entries(venues: &[Venue], seed: u64, count: usize, shapes: Shapes) -> Vec<Entry> {
    entries_spread(venues, seed, count, shapes, Spread::Venues)
}

/// [`entries`] with point entries spread as `spread` says. `Spread::Venues` gives exactly what
/// [`entries`] gives.
pub fn entries_spread(venues: &[Venue], seed: u64, count: usize, shapes: Shapes, spread: Spread) -> Vec<Entry> {
    let mut rng = Rng::new(seed);
    let theme_weights: Vec<f64> = THEMES.iter().map(|t| t.weight).collect();
    let q_weights: Vec<f64> = QUALIFICATIONS.iter().map(|q| q.1).collect();
    let road: Vec<&Venue> = venues.iter().filter(|v| v.kind == "road").collect();
    let days = ((GAMES_END_MS - GAMES_START_MS) / DAY_MS + 1) as usize;
    // Venue weights per day: active venues draw most entries, the others a trickle.
    let day_weights: Vec<Vec<f64>> = (0..days)
        .map(|d| {
            let t = GAMES_START_MS + d as i64 * DAY_MS + DAY_MS / 2;
            venues
                .iter()
                .map(|v| {
                    let active = [v.olympic, v.paralympic].into_iter().flatten().any(|w| w.start <= t && t <= w.end);
                    let size = if v.kind == "stadium" || v.kind == "landmark" { 2.0 } else { 1.0 };
                    if active { 10.0 * size } else { 0.4 }
                })
                .collect()
        })
        .collect();
    let hour_weights: Vec<f64> = (0..24)
        .map(|h| {
            if h < 7 {
                0.5
            } else if h < 12 {
                2.0
            } else if h < 23 {
                4.0
            } else {
                1.5
            }
        })
        .collect();

    (1..=count as u64)
        .map(|id| {
            let day = rng.below(days);
            let hour = rng.weighted(&hour_weights) as i64;
            let occurred_at =
                (GAMES_START_MS + day as i64 * DAY_MS + hour * 3_600_000 + (rng.unit() * 3_600_000.0) as i64)
                    .min(GAMES_END_MS);
            let mut theme = &THEMES[rng.weighted(&theme_weights)];
            let shape = match shapes {
                Shapes::PointsOnly => 0,
                Shapes::Mixed => rng.weighted(&[90.0, 5.0, 5.0]),
            };
            if shape == 2 {
                theme = &THEMES[4]; // areas are crowds
            }
            let venue = if shape == 1 && !road.is_empty() {
                *rng.pick(&road)
            } else {
                &venues[rng.weighted(&day_weights[day])]
            };
            let geometry = match shape {
                1 => road_line(&mut rng, venue),
                2 => {
                    let (radius, aspect, rotation) = (rng.range(40.0, 220.0), rng.range(1.0, 2.0), rng.range(0.0, TAU));
                    Geometry::Polygon(blob(&mut rng, venue.lon, venue.lat, radius, aspect, rotation, 12))
                }
                _ => {
                    // Most incidents are close to the venue, a long tail further out.
                    let mean = match spread {
                        Spread::Venues => 350.0,
                        Spread::Region => {
                            if rng.unit() < 0.3 {
                                350.0
                            } else {
                                6_000.0
                            }
                        }
                    };
                    let d = -rng.unit().max(1e-9).ln() * mean;
                    let a = rng.range(0.0, TAU);
                    Geometry::Point(Point(offset(venue.lon, venue.lat, d * a.cos(), d * a.sin())))
                }
            };
            let mut tags = vec![theme.id.to_owned()];
            if rng.unit() < 0.12 {
                let other = THEMES[rng.weighted(&theme_weights)].id;
                if other != theme.id {
                    tags.push(other.to_owned());
                }
            }
            if rng.unit() < 0.15 {
                tags.push((*rng.pick(FREE_TAGS)).to_owned());
            }
            let severity = rng.weighted(&theme.severity) as u8;
            let reported_at = occurred_at + (rng.unit() * 20.0 * 60_000.0) as i64;
            let recorded_at = reported_at + 5_000 + (rng.unit() * 115_000.0) as i64;
            let title = format!("{} — {}", rng.pick(theme.titles), venue.name);
            let source = (*rng.pick(theme.sources)).to_owned();
            let links = if rng.unit() < 0.1 {
                vec![Link {
                    url: format!("https://main-courante.example/fiches/{id}"),
                    title: "Fiche réflexe".to_owned(),
                }]
            } else {
                Vec::new()
            };
            Entry {
                id,
                version: 1,
                body: format!(
                    "Signalement **{}** reçu de *{source}* à proximité du site {} ({}).",
                    theme.id, venue.name, venue.code
                ),
                title,
                tags,
                severity,
                qualification: QUALIFICATIONS[rng.weighted(&q_weights)].0,
                occurred_at,
                reported_at,
                recorded_at,
                author: format!("CIC {}", venue.code),
                source,
                location: Some(format!("Abords — {}", venue.name)),
                links,
                geometry,
                deleted: false,
                attachments: Vec::new(),
            }
        })
        .collect()
}

/// A road-race incident: a wandering line of 4 to 12 segments starting near a road venue.
fn road_line(rng: &mut Rng, v: &Venue) -> Geometry<f64> {
    let mut heading = rng.range(0.0, TAU);
    let start = offset(v.lon, v.lat, rng.range(-800.0, 800.0), rng.range(-800.0, 800.0));
    let mut pts = vec![start];
    let mut p = start;
    for _ in 0..4 + rng.below(9) {
        heading += rng.range(-0.6, 0.6);
        let step = rng.range(80.0, 300.0);
        p = offset(p.x, p.y, step * heading.cos(), step * heading.sin());
        pts.push(p);
    }
    Geometry::LineString(LineString(pts))
}

/// A territory of 1,000 vertices around central Paris (a wobbly ring 6 to 9 km from the
/// centre): what the territory tests and benchmarks narrow to besides a département.
pub fn wobbly_territory() -> MultiPolygon<f64> {
    let ring: Vec<(f64, f64)> = (0..1000)
        .map(|i| {
            let a = f64::from(i) / 1000.0 * TAU;
            let r = 0.075 + 0.02 * (7.0 * a).sin() * (3.0 * a).cos();
            (2.35 + r * a.cos() * 1.5, 48.86 + r * a.sin())
        })
        .collect();
    MultiPolygon(vec![Polygon::new(LineString::from(ring), vec![])])
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Contains, Validation};

    #[test]
    fn bundled_venues_are_the_44_sites() {
        let v = bundled_venues();
        assert_eq!(v.len(), 44);
        let sta = v.iter().find(|v| v.code == "STA").unwrap();
        assert!(sta.olympic.is_some() && sta.paralympic.is_some());
        let tah = v.iter().find(|v| v.code == "TAH").unwrap();
        assert!(tah.lat < -17.0 && tah.lon < -149.0);
    }

    #[test]
    fn perimeters_are_valid_nested_polygons_with_windows() {
        let venues = bundled_venues();
        let p = perimeters(&venues, DEFAULT_SEED);
        assert_eq!(p.len(), 44 * 3);
        for trio in p.chunks(3) {
            for per in trio {
                assert!(per.geometry.is_valid(), "{} {}", per.venue, per.kind);
                assert!(!per.windows.is_empty());
            }
            let (Geometry::Polygon(silt), Geometry::Polygon(blue)) = (&trio[0].geometry, &trio[2].geometry) else {
                panic!()
            };
            assert!(blue.contains(silt), "silt inside blue at {}", trio[0].venue);
            assert!(trio[2].windows[0].start < trio[0].windows[0].start);
        }
    }

    #[test]
    fn same_seed_same_data_and_shapes_mix() {
        let venues = bundled_venues();
        let a = entries(&venues, 7, 3000, Shapes::Mixed);
        let b = entries(&venues, 7, 3000, Shapes::Mixed);
        assert_eq!(a, b);
        let c = entries(&venues, 8, 3000, Shapes::Mixed);
        assert_ne!(a, c);
        let lines = a.iter().filter(|e| matches!(e.geometry, Geometry::LineString(_))).count();
        let areas = a.iter().filter(|e| matches!(e.geometry, Geometry::Polygon(_))).count();
        assert!((60..300).contains(&lines) && (60..300).contains(&areas), "{lines} lines, {areas} areas");
        for e in &a {
            assert!((GAMES_START_MS..=GAMES_END_MS).contains(&e.occurred_at));
            assert!(e.severity <= 4 && e.reported_at >= e.occurred_at && e.recorded_at > e.reported_at);
            assert!(e.geometry.is_valid());
        }
        let themes: std::collections::HashSet<&str> = a.iter().map(|e| e.tags[0].as_str()).collect();
        assert_eq!(themes.len(), 8);
    }

    #[test]
    fn region_spread_reaches_further_than_venues() {
        let venues = bundled_venues();
        let near = entries(&venues, 3, 4000, Shapes::PointsOnly);
        assert_eq!(near, entries_spread(&venues, 3, 4000, Shapes::PointsOnly, Spread::Venues));
        let far = entries_spread(&venues, 3, 4000, Shapes::PointsOnly, Spread::Region);
        // Share of points more than 3 km from every venue.
        let share = |es: &[Entry]| {
            let away = es
                .iter()
                .filter(|e| {
                    let Geometry::Point(p) = e.geometry else { return false };
                    venues.iter().all(|v| {
                        let (dx, dy) =
                            ((p.x() - v.lon) * 111_320.0 * v.lat.to_radians().cos(), (p.y() - v.lat) * 110_540.0);
                        dx.hypot(dy) > 3_000.0
                    })
                })
                .count();
            away as f64 / es.len() as f64
        };
        assert!(share(&near) < 0.01, "{}", share(&near));
        assert!(share(&far) > 0.2, "{}", share(&far));
    }
}
