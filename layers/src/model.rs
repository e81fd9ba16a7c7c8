//! The domain records vigie stores — log entries, venues, perimeters — and how each becomes an
//! indexed [`Feature`] with typed properties.
//!
//! Properties of each collection, as they appear in tiles (documented in the README too):
//! - entries: `title`, `theme` (first catalog theme among the tags), `tags` (comma-separated),
//!   `severity` (0–4), `qualification`, `occurred_at` (RFC 3339 UTC), `location`, `source`,
//!   `author`, `version`. The report and record times stay in the API (`GET
//!   /api/entries/{id}`): unique per entry, they would make every tile about a third heavier
//!   for a detail the map does not draw.
//! - venues: `code`, `name`, `kind`, `city`, `sports`, `olympic_start`/`olympic_end`,
//!   `paralympic_start`/`paralympic_end` (dates).
//! - perimeters: `venue`, `venue_name`, `kind` (silt, red, blue), `active_from`, `active_to`,
//!   `windows`.

use crate::feature::{
    Attrs, Feature, FeatureId, Field, FieldType, GeometryError, Millis, Qualification, Schema, Tags, Text, ThemeMask,
    Value, format_time_ms,
};
use geo::Geometry;
use serde::{Deserialize, Serialize};

/// Severity scale of log entries: 0 information … 4 critical.
pub const MAX_SEVERITY: u8 = 4;

/// A link attached to a log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// http or https URL.
    pub url: String,
    /// Text shown for the link.
    #[serde(default)]
    pub title: String,
}

/// An attachment of an entry: a content-addressed image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// Hex SHA-256 of the bytes (the attachment's address).
    pub sha256: String,
    /// `image/jpeg`, `image/png` or `image/webp`, sniffed from the bytes.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// File name given by the uploader, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub filename: String,
}

/// One entry of the operations log (main courante).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Identifier, unique in the workspace.
    pub id: FeatureId,
    /// Revision number, starting at 1; every change makes a new one.
    pub version: u32,
    /// Short title (at most 200 characters).
    pub title: String,
    /// Markdown body.
    pub body: String,
    /// Catalog themes and free tags.
    pub tags: Vec<String>,
    /// 0 (information) to 4 (critical).
    pub severity: u8,
    /// Workflow state.
    pub qualification: Qualification,
    /// When it happened (epoch ms).
    pub occurred_at: i64,
    /// When it was reported (epoch ms).
    pub reported_at: i64,
    /// When vigie recorded it (epoch ms), set by the server.
    pub recorded_at: i64,
    /// Who recorded it.
    pub author: String,
    /// Where the information comes from.
    pub source: String,
    /// Free-text place name.
    pub location: Option<String>,
    /// Links.
    pub links: Vec<Link>,
    /// Geometry in WGS84 longitude/latitude.
    pub geometry: Geometry<f64>,
    /// Soft-deleted entries stay in the store but leave every layer.
    pub deleted: bool,
    /// Photos, content-addressed.
    pub attachments: Vec<AttachmentRef>,
}

/// A venue's competition window for one of the Games (epoch ms, inclusive day range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First instant.
    pub start: i64,
    /// Last instant.
    pub end: i64,
}

/// A competition venue.
#[derive(Debug, Clone, PartialEq)]
pub struct Venue {
    /// Organiser's site code, e.g. `STA`.
    pub code: String,
    /// Site name.
    pub name: String,
    /// Venue type (stadium, arena, …).
    pub kind: String,
    /// Commune.
    pub city: String,
    /// Longitude of the reference point, degrees.
    pub lon: f64,
    /// Latitude of the reference point, degrees.
    pub lat: f64,
    /// Sports held there.
    pub sports: Vec<String>,
    /// Olympic competition window.
    pub olympic: Option<Window>,
    /// Paralympic competition window.
    pub paralympic: Option<Window>,
}

/// A security perimeter around a venue.
#[derive(Debug, Clone, PartialEq)]
pub struct Perimeter {
    /// Identifier, unique in the workspace.
    pub id: FeatureId,
    /// Code of the venue it protects.
    pub venue: String,
    /// Ring kind: `silt`, `red` or `blue`.
    pub kind: String,
    /// Polygon in WGS84 longitude/latitude.
    pub geometry: Geometry<f64>,
    /// Activation windows (epoch ms, inclusive), in time order, not empty.
    pub windows: Vec<Window>,
}

/// Perimeter kinds, innermost first.
pub const PERIMETER_KINDS: [&str; 3] = ["silt", "red", "blue"];

/// A stable numeric feature id for a venue code (base 37 of its characters), so the same venue
/// has the same MVT feature id in every store and replica.
pub fn venue_feature_id(code: &str) -> FeatureId {
    code.bytes().take(12).fold(0u64, |acc, b| {
        let d = match b {
            b'0'..=b'9' => u64::from(b - b'0') + 1,
            b'A'..=b'Z' => u64::from(b - b'A') + 11,
            b'a'..=b'z' => u64::from(b - b'a') + 11,
            _ => 0,
        };
        acc * 37 + d
    })
}

/// Schema of the entries collection.
pub fn entry_schema() -> Schema {
    use FieldType::{Datetime, Integer, String};
    Schema {
        fields: vec![
            Field::new("title", String, "Short title of the log entry"),
            Field::new("theme", String, "First catalog theme among the entry's tags"),
            Field::new("tags", String, "Every tag, comma-separated (themes and free tags)"),
            Field::new("severity", Integer, "0 information, 1 low, 2 moderate, 3 high, 4 critical"),
            Field::new("qualification", String, "raw, in_review, confirmed, refuted or closed"),
            Field::new("occurred_at", Datetime, "When it happened (RFC 3339, UTC)"),
            Field::new("location", String, "Place name given by the author"),
            Field::new("source", String, "Where the information comes from"),
            Field::new("author", String, "Who recorded it"),
            Field::new("version", Integer, "Revision number of the entry"),
        ],
    }
}

/// Schema of the venues collection.
pub fn venue_schema() -> Schema {
    use FieldType::{Datetime, String};
    Schema {
        fields: vec![
            Field::new("code", String, "Organiser's site code"),
            Field::new("name", String, "Site name"),
            Field::new(
                "kind",
                String,
                "stadium, arena, aquatics, outdoor, nautical, landmark, shooting, equestrian or road",
            ),
            Field::new("city", String, "Commune"),
            Field::new("sports", String, "Sports held at the site, comma-separated"),
            Field::new("olympic_start", Datetime, "First Olympic competition day"),
            Field::new("olympic_end", Datetime, "End of the last Olympic competition day"),
            Field::new("paralympic_start", Datetime, "First Paralympic competition day"),
            Field::new("paralympic_end", Datetime, "End of the last Paralympic competition day"),
        ],
    }
}

/// Schema of the perimeters collection.
pub fn perimeter_schema() -> Schema {
    use FieldType::{Datetime, String};
    Schema {
        fields: vec![
            Field::new("venue", String, "Code of the venue protected"),
            Field::new("venue_name", String, "Name of the venue protected"),
            Field::new(
                "kind",
                String,
                "silt (screened pedestrian perimeter), red (no motor traffic) or blue (restricted traffic)",
            ),
            Field::new("active_from", Datetime, "Start of the first activation window"),
            Field::new("active_to", Datetime, "End of the last activation window"),
            Field::new("windows", String, "Every activation window as RFC 3339 intervals start/end, comma-separated"),
        ],
    }
}

/// Shares equal strings between features (themes, tags, sources repeat a lot), and equal
/// lists of tags (a log's entries repeat a few combinations: shared, a list costs an entry its
/// pointer only; 32 bytes an entry less over the 1M demo entries).
#[derive(Debug, Default)]
pub struct Interner {
    texts: hashbrown::HashSet<Text>,
    tag_sets: hashbrown::HashSet<Tags>,
    scratch: Vec<Text>,
}

impl Interner {
    /// The shared copy of `s`.
    pub fn get(&mut self, s: &str) -> Text {
        self.texts.get_or_insert_with(s, |s| Text::from(s)).clone()
    }

    /// The shared copy of a list of tags, each shared as by [`Interner::get`].
    pub fn tags<S: AsRef<str>>(&mut self, tags: &[S]) -> Tags {
        let mut list = std::mem::take(&mut self.scratch);
        list.clear();
        list.extend(tags.iter().map(|t| self.get(t.as_ref())));
        let shared = self.tag_sets.get_or_insert_with(&list[..], |l| Tags::from(l)).clone();
        self.scratch = list;
        shared
    }
}

/// Maps catalog theme ids to bits, to filter entries by theme without comparing strings.
#[derive(Debug, Clone, Default)]
pub struct ThemeVocabulary {
    ids: Vec<String>,
}

impl ThemeVocabulary {
    /// A vocabulary of these theme ids (at most 64; the catalog checks it).
    pub fn new(ids: impl IntoIterator<Item = String>) -> Self {
        Self { ids: ids.into_iter().take(64).collect() }
    }

    /// The mask of the themes among `tags`.
    pub fn mask<S: AsRef<str>>(&self, tags: &[S]) -> ThemeMask {
        ThemeMask(tags.iter().filter_map(|t| self.bit(t.as_ref())).fold(0, |acc, b| acc | b))
    }

    /// The bit of one theme, if it is one.
    pub fn bit(&self, tag: &str) -> Option<u64> {
        self.ids.iter().position(|id| id == tag).map(|i| 1u64 << i)
    }

    /// The first theme among `tags`.
    pub fn first_theme<'a, S: AsRef<str>>(&self, tags: &'a [S]) -> Option<&'a str> {
        tags.iter().map(AsRef::as_ref).find(|t| self.bit(t).is_some())
    }

    /// Whether `tag` is a theme.
    pub fn contains(&self, tag: &str) -> bool {
        self.bit(tag).is_some()
    }

    /// Theme ids, in catalog order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}

fn opt_text(s: Option<&str>, i: &mut Interner) -> Value {
    s.filter(|s| !s.is_empty()).map_or(Value::Null, |s| Value::Text(i.get(s)))
}

impl Entry {
    /// The indexed feature of this entry.
    ///
    /// # Errors
    /// [`GeometryError`] when the geometry cannot be indexed.
    pub fn to_feature(&self, vocab: &ThemeVocabulary, interner: &mut Interner) -> Result<Feature, GeometryError> {
        let tags = interner.tags(&self.tags);
        let attrs = Attrs {
            time_ms: Millis::at(self.occurred_at),
            severity: Some(self.severity),
            qualification: Some(self.qualification),
            themes: vocab.mask(&self.tags),
            tags: Some(tags),
            ..Attrs::default()
        };
        let joined_tags = match self.tags.as_slice() {
            [] => Value::Null,
            [tag] => opt_text(Some(tag), interner),
            tags => opt_text(Some(&tags.join(",")), interner),
        };
        let props = vec![
            // Titles repeat too (incident types, reflex sheets): shared when they do.
            Value::Text(interner.get(&self.title)),
            opt_text(vocab.first_theme(&self.tags), interner),
            joined_tags,
            Value::Int(i64::from(self.severity)),
            Value::Text(interner.get(self.qualification.as_str())),
            Value::Time(self.occurred_at),
            opt_text(self.location.as_deref(), interner),
            opt_text(Some(&self.source), interner),
            opt_text(Some(&self.author), interner),
            Value::Int(i64::from(self.version)),
        ];
        Feature::from_lonlat(self.id, &self.geometry, attrs, props.into_boxed_slice())
    }
}

impl Venue {
    /// The indexed feature of this venue (its reference point).
    ///
    /// # Errors
    /// [`GeometryError`] when the coordinates are out of range.
    pub fn to_feature(&self, interner: &mut Interner) -> Result<Feature, GeometryError> {
        let point = Geometry::Point(geo::Point::new(self.lon, self.lat));
        let window =
            |w: Option<Window>, end: bool| w.map_or(Value::Null, |w| Value::Time(if end { w.end } else { w.start }));
        let attrs = Attrs::default().with_kind(interner.get(&self.kind));
        let props = vec![
            Value::text(&self.code),
            Value::text(&self.name),
            Value::Text(interner.get(&self.kind)),
            Value::Text(interner.get(&self.city)),
            Value::text(self.sports.join(", ")),
            window(self.olympic, false),
            window(self.olympic, true),
            window(self.paralympic, false),
            window(self.paralympic, true),
        ];
        Feature::from_lonlat(venue_feature_id(&self.code), &point, attrs, props.into_boxed_slice())
    }
}

impl Perimeter {
    /// The indexed feature of this perimeter.
    ///
    /// # Errors
    /// [`GeometryError`] when the polygon cannot be indexed.
    pub fn to_feature(&self, venue_name: &str, interner: &mut Interner) -> Result<Feature, GeometryError> {
        let attrs = Attrs::default()
            .with_windows(self.windows.iter().map(|w| (w.start, w.end)).collect::<Box<[_]>>())
            .with_kind(interner.get(&self.kind));
        let windows: Vec<String> =
            self.windows.iter().map(|w| format!("{}/{}", format_time_ms(w.start), format_time_ms(w.end))).collect();
        let props = vec![
            Value::Text(interner.get(&self.venue)),
            Value::Text(interner.get(venue_name)),
            Value::Text(interner.get(&self.kind)),
            self.windows.first().map_or(Value::Null, |w| Value::Time(w.start)),
            self.windows.last().map_or(Value::Null, |w| Value::Time(w.end)),
            Value::text(windows.join(",")),
        ];
        Feature::from_lonlat(self.id, &self.geometry, attrs, props.into_boxed_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tag_lists_are_shared_and_order_counts() {
        let mut interner = Interner::default();
        let a = interner.tags(&["securite", "transport"]);
        let b = interner.tags(&[String::from("securite"), String::from("transport")]);
        assert_eq!(a.as_ptr(), b.as_ptr(), "one list for equal tags");
        assert!(Text::ptr_eq(&a[0], &interner.get("securite")), "each tag shared as a text");
        let c = interner.tags(&["transport", "securite"]);
        assert_ne!(a.as_ptr(), c.as_ptr(), "the order is kept: the first theme names the entry");
        assert_eq!(&c[..], [Text::from("transport"), Text::from("securite")]);
        assert!(interner.tags::<&str>(&[]).is_empty());
    }

    #[test]
    fn venue_ids_are_stable_and_distinct() {
        assert_eq!(venue_feature_id("STA"), venue_feature_id("STA"));
        assert_ne!(venue_feature_id("LC1"), venue_feature_id("LC2"));
        assert_ne!(venue_feature_id("VE1"), venue_feature_id("VE2"));
        assert!(venue_feature_id("A") > 0);
    }

    #[test]
    fn schemas_match_feature_props() {
        let vocab = ThemeVocabulary::new(["health".to_owned(), "crowd".to_owned()]);
        let e = Entry {
            id: 1,
            version: 1,
            title: "t".into(),
            body: String::new(),
            tags: vec!["free".into(), "crowd".into()],
            severity: 2,
            qualification: Qualification::Raw,
            occurred_at: 0,
            reported_at: 0,
            recorded_at: 0,
            author: "a".into(),
            source: "s".into(),
            location: None,
            links: vec![],
            geometry: Geometry::Point(geo::Point::new(2.0, 48.0)),
            deleted: false,
            attachments: vec![],
        };
        let f = e.to_feature(&vocab, &mut Interner::default()).unwrap();
        assert_eq!(f.props.len(), entry_schema().fields.len());
        assert_eq!(f.props[1], Value::text("crowd"), "the first theme, not the first tag");
        assert_eq!(f.attrs.themes, ThemeMask(0b10));
    }
}
