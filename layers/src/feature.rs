//! The feature model: what every layer is made of.
//!
//! A [`Feature`] keeps its geometry in Web Mercator metres (projected once, when loaded), the
//! attributes filters read ([`Attrs`]), and its properties as values aligned with the
//! [`Schema`] of its collection.

use geo::{BoundingRect, Coord, Geometry, Rect};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Identifier of a feature, unique within its collection.
pub type FeatureId = u64;

/// Shared text: one pointer to a reference count, a length and the bytes. Half of an
/// `Arc<str>`, which keeps [`Value`] at 16 bytes (a log entry has ten of them).
pub type Text = arcstr::ArcStr;

/// A property value, typed as MVT and GeoJSON carry them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value: the property is left out of the tile.
    Null,
    /// Boolean.
    Bool(bool),
    /// Signed integer.
    Int(i64),
    /// Double-precision float.
    Float(f64),
    /// Text, shared between features that carry the same string.
    Text(Text),
    /// A point in time, milliseconds since the Unix epoch (UTC). Encoded as RFC 3339 text.
    Time(i64),
}

impl Value {
    /// Text value from anything string-like.
    pub fn text(s: impl AsRef<str>) -> Self {
        Self::Text(Text::from(s.as_ref()))
    }

    /// `true` for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }
}

/// First second RFC 3339 can write: 0000-01-01T00:00:00Z (its years have four digits).
const RFC3339_MIN_S: i64 = -62_167_219_200;
/// Last second RFC 3339 can write: 9999-12-31T23:59:59Z.
const RFC3339_MAX_S: i64 = 253_402_300_799;

/// Formats epoch milliseconds as RFC 3339 UTC text (second precision, `Z` suffix); empty text
/// outside years 0000–9999, which RFC 3339 cannot write.
pub fn format_time_ms(ms: i64) -> String {
    rfc3339_bytes(ms).map(|b| b.iter().map(|&c| char::from(c)).collect()).unwrap_or_default()
}

/// The ASCII bytes of [`format_time_ms`] (`YYYY-MM-DDTHH:MM:SSZ`), `None` outside years
/// 0000–9999.
///
/// Written by hand (Howard Hinnant's `civil_from_days`) rather than through `time`'s
/// formatter: tiles format every distinct timestamp they carry, and this is much cheaper. A
/// test checks it against `time` over the whole range.
pub fn rfc3339_bytes(ms: i64) -> Option<[u8; 20]> {
    if !rfc3339_writable(ms) {
        return None;
    }
    let secs = ms.div_euclid(1000);
    // civil_from_days counts days from 0000-03-01, the start of a 400-year era (146 097 days);
    // counting from one era earlier keeps the count positive in the range above (it fits u32),
    // so every division below is unsigned.
    let days = (secs.div_euclid(86_400) + 719_468 + 146_097) as u32;
    let sod = secs.rem_euclid(86_400) as u32;
    let (era, doe) = (days / 146_097, days % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u32::from(month <= 2) - 400;
    let mut out = *b"0000-00-00T00:00:00Z";
    let pairs =
        [(0, year / 100), (2, year % 100), (5, month), (8, day), (11, sod / 3600), (14, sod / 60 % 60), (17, sod % 60)];
    for (at, v) in pairs {
        out[at] = b'0' + (v / 10) as u8;
        out[at + 1] = b'0' + (v % 10) as u8;
    }
    Some(out)
}

/// Whether [`rfc3339_bytes`] writes `ms` (years 0000–9999).
pub fn rfc3339_writable(ms: i64) -> bool {
    (RFC3339_MIN_S..=RFC3339_MAX_S).contains(&ms.div_euclid(1000))
}

/// Parses RFC 3339 text to epoch milliseconds.
///
/// # Errors
/// When the text is not an RFC 3339 date-time with an offset.
pub fn parse_time_ms(s: &str) -> Result<i64, time::error::Parse> {
    let t = OffsetDateTime::parse(s, &Rfc3339)?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// The type of a schema field, as shown in the catalog and in TileJSON `vector_layers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Text.
    String,
    /// Integer.
    Integer,
    /// Float.
    Number,
    /// Boolean.
    Boolean,
    /// RFC 3339 date-time text.
    Datetime,
}

/// One property carried by the features of a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Property name in tiles and GeoJSON.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// What it means, for the catalog and TileJSON.
    pub description: String,
}

impl Field {
    /// A field with a name, a type and a description.
    pub fn new(name: &str, kind: FieldType, description: &str) -> Self {
        Self { name: name.to_owned(), kind, description: description.to_owned() }
    }
}

/// The ordered list of properties of a collection. A feature's `props` are aligned with it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Schema {
    /// Fields, in the order of the feature's property values.
    pub fields: Vec<Field>,
}

impl Schema {
    /// Position of a field by name.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

/// Qualification of a log entry, the main courante's workflow:
/// raw → in review → confirmed | refuted → closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Qualification {
    /// As reported, not yet looked at.
    Raw,
    /// Being checked.
    InReview,
    /// Checked and true.
    Confirmed,
    /// Checked and false: kept, but out of the default layers.
    Refuted,
    /// Dealt with.
    Closed,
}

impl Qualification {
    /// Every state, in workflow order.
    pub const ALL: [Self; 5] = [Self::Raw, Self::InReview, Self::Confirmed, Self::Refuted, Self::Closed];

    /// The snake_case name used in the API, tiles and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::InReview => "in_review",
            Self::Confirmed => "confirmed",
            Self::Refuted => "refuted",
            Self::Closed => "closed",
        }
    }

    /// Bit of this state in a [`QualificationSet`].
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Qualification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown qualification name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown qualification '{0}': expected one of raw, in_review, confirmed, refuted, closed")]
pub struct UnknownQualification(pub String);

impl FromStr for Qualification {
    type Err = UnknownQualification;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|q| q.as_str() == s).ok_or_else(|| UnknownQualification(s.to_owned()))
    }
}

/// A set of qualification states, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QualificationSet(u8);

impl QualificationSet {
    /// Every state.
    pub const ALL: Self = Self(0b1_1111);

    /// What entry layers show when no filter says otherwise: everything but refuted entries.
    pub fn default_visible() -> Self {
        Self(Self::ALL.0 & !Qualification::Refuted.bit())
    }

    /// The set holding exactly these states.
    pub fn of(states: impl IntoIterator<Item = Qualification>) -> Self {
        Self(states.into_iter().fold(0, |acc, q| acc | q.bit()))
    }

    /// Whether the set holds `q`.
    pub fn contains(self, q: Qualification) -> bool {
        self.0 & q.bit() != 0
    }

    /// The states in the set, in workflow order.
    pub fn iter(self) -> impl Iterator<Item = Qualification> {
        Qualification::ALL.into_iter().filter(move |q| self.contains(*q))
    }
}

/// Bit set of catalog themes (at most 64 themes per catalog).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ThemeMask(pub u64);

impl ThemeMask {
    /// Whether the two masks share a theme.
    pub fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }
}

/// An optional instant, epoch milliseconds, in 8 bytes (`Option<i64>` takes 16, and every
/// feature has one): `i64::MIN`, some 292 million years before the epoch, stands for none, and
/// [`Millis::at`] moves it one millisecond later.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Millis(Option<std::num::NonZeroI64>);

impl Millis {
    /// No instant.
    pub const NONE: Self = Self(None);

    /// The instant `ms` (`i64::MIN` is taken as `i64::MIN + 1`).
    #[inline]
    pub fn at(ms: i64) -> Self {
        Self(std::num::NonZeroI64::new(ms.max(i64::MIN + 1) ^ i64::MIN))
    }

    /// The instant, if any.
    #[inline]
    pub fn get(self) -> Option<i64> {
        self.0.map(|v| v.get() ^ i64::MIN)
    }
}

impl From<Option<i64>> for Millis {
    fn from(ms: Option<i64>) -> Self {
        ms.map_or(Self::NONE, Self::at)
    }
}

impl fmt::Debug for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

/// A shared list of tags behind one pointer (8 bytes of every feature; an `Arc<[Text]>` takes
/// 16). Lists are shared between the features that carry the same ([`crate::model::Interner`]),
/// and only free-tag filters read through the second pointer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tags(Arc<Box<[Text]>>);

impl std::ops::Deref for Tags {
    type Target = [Text];
    #[inline]
    fn deref(&self) -> &[Text] {
        &self.0
    }
}

impl std::borrow::Borrow<[Text]> for Tags {
    fn borrow(&self) -> &[Text] {
        &self.0
    }
}

impl From<&[Text]> for Tags {
    fn from(tags: &[Text]) -> Self {
        Self(Arc::new(tags.into()))
    }
}

impl FromIterator<Text> for Tags {
    fn from_iter<I: IntoIterator<Item = Text>>(tags: I) -> Self {
        Self(Arc::new(tags.into_iter().collect()))
    }
}

/// The attributes that filters read, typed for speed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attrs {
    /// When it happened (epoch milliseconds), for time windows.
    pub time_ms: Millis,
    /// Severity 0 (info) to 4 (critical).
    pub severity: Option<u8>,
    /// Workflow state of a log entry.
    pub qualification: Option<Qualification>,
    /// Catalog themes among the tags.
    pub themes: ThemeMask,
    /// Every tag, themes and free tags, as given; `None` for features that have no tags
    /// (venues), which tag filters then leave alone.
    pub tags: Option<Tags>,
    /// What only venues and perimeters have, boxed: a log entry, which has neither, does not
    /// carry their room (16 bytes: a million entries' features then fit malloc's 144-byte
    /// chunks instead of 160). Read through [`Attrs::windows`] and [`Attrs::kind`], set with
    /// [`Attrs::with_windows`] and [`Attrs::with_kind`].
    pub extra: Option<Box<Extra>>,
}

/// The attributes only some features have ([`Attrs::extra`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Extra {
    windows: Box<[(i64, i64)]>,
    kind: Option<Text>,
}

impl Attrs {
    /// Intervals during which the feature is active (epoch ms, inclusive), for features that
    /// last (perimeter activations). When not empty, time filters read these.
    #[inline]
    pub fn windows(&self) -> &[(i64, i64)] {
        self.extra.as_ref().map_or(&[], |e| &e.windows)
    }

    /// A property that keys category layers (for example a perimeter's kind).
    #[inline]
    pub fn kind(&self) -> Option<&Text> {
        self.extra.as_ref().and_then(|e| e.kind.as_ref())
    }

    /// These attributes with activation windows ([`Attrs::windows`]).
    #[must_use]
    pub fn with_windows(mut self, windows: impl Into<Box<[(i64, i64)]>>) -> Self {
        self.extra.get_or_insert_default().windows = windows.into();
        self.trim()
    }

    /// These attributes with a kind ([`Attrs::kind`]).
    #[must_use]
    pub fn with_kind(mut self, kind: Text) -> Self {
        self.extra.get_or_insert_default().kind = Some(kind);
        self
    }

    // No box for nothing: attributes without windows or kind compare equal however made.
    fn trim(mut self) -> Self {
        if self.extra.as_deref().is_some_and(|e| e.windows.is_empty() && e.kind.is_none()) {
            self.extra = None;
        }
        self
    }
}

/// Why a geometry cannot be indexed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeometryError {
    /// Only points, lines and polygons (and their multi forms) are indexed.
    #[error("unsupported geometry type {0}: expected Point, LineString, Polygon or their Multi forms")]
    Unsupported(&'static str),
    /// Nothing to draw.
    #[error("empty geometry")]
    Empty,
    /// A coordinate is NaN, infinite or off the globe.
    #[error("coordinate out of range: longitude {lon}, latitude {lat}")]
    OutOfRange {
        /// Longitude, degrees.
        lon: f64,
        /// Latitude, degrees.
        lat: f64,
    },
}

/// A feature ready for the index: Web Mercator geometry, filter attributes, properties.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// Identifier, unique within the collection; also the MVT feature id.
    pub id: FeatureId,
    shape: Shape,
    /// What filters read.
    pub attrs: Attrs,
    /// Property values aligned with the collection's [`Schema`].
    pub props: Box<[Value]>,
}

/// Where a feature is, in both coordinate systems.
///
/// A point, most of a log, keeps its two coordinates inline (32 bytes); any other geometry is
/// boxed with its envelope. Two `geo::Geometry` values and a `Rect` inline took 144 bytes of
/// every feature, points included: ~100 MB per million log entries (`benches/examples/memory.rs`).
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Point {
        lonlat: Coord<f64>,
        /// Web Mercator metres.
        at: Coord<f64>,
    },
    Other(Box<Extended>),
}

/// A geometry other than a point, in both coordinate systems.
#[derive(Debug, Clone, PartialEq)]
struct Extended {
    lonlat: Geometry<f64>,
    geometry: Geometry<f64>,
    bbox: Rect<f64>,
}

impl Feature {
    /// Builds a feature from a WGS84 geometry, projecting it to Web Mercator.
    ///
    /// # Errors
    /// [`GeometryError`] when the geometry is empty, of an unsupported type, or has a
    /// coordinate that is not a finite longitude/latitude.
    pub fn from_lonlat(
        id: FeatureId,
        geometry: &Geometry<f64>,
        attrs: Attrs,
        props: Box<[Value]>,
    ) -> Result<Self, GeometryError> {
        let projected = project_geometry(geometry)?;
        Self::projected(id, geometry.clone(), projected, attrs, props)
    }

    /// A feature from a WGS84 geometry and its projection by [`project_geometry`].
    ///
    /// # Errors
    /// [`GeometryError::Empty`] when the projection has no extent (an empty geometry).
    pub fn projected(
        id: FeatureId,
        lonlat: Geometry<f64>,
        projected: Geometry<f64>,
        attrs: Attrs,
        props: Box<[Value]>,
    ) -> Result<Self, GeometryError> {
        let shape = if let (Geometry::Point(p), Geometry::Point(at)) = (&lonlat, &projected) {
            Shape::Point { lonlat: p.0, at: at.0 }
        } else {
            let bbox = projected.bounding_rect().ok_or(GeometryError::Empty)?;
            Shape::Other(Box::new(Extended { lonlat, geometry: projected, bbox }))
        };
        Ok(Self { id, shape, attrs, props })
    }

    /// Geometry in WGS84 longitude/latitude, as given: region queries test it exactly as
    /// PostGIS tests `geometry(4326)`, without a projection round trip. A point is made on the
    /// spot (no allocation); any other geometry is borrowed.
    #[inline]
    pub fn lonlat(&self) -> Cow<'_, Geometry<f64>> {
        match &self.shape {
            Shape::Point { lonlat, .. } => Cow::Owned(Geometry::Point(geo::Point(*lonlat))),
            Shape::Other(e) => Cow::Borrowed(&e.lonlat),
        }
    }

    /// Geometry in Web Mercator metres (made or borrowed as [`Feature::lonlat`]).
    #[inline]
    pub fn geometry(&self) -> Cow<'_, Geometry<f64>> {
        match &self.shape {
            Shape::Point { at, .. } => Cow::Owned(Geometry::Point(geo::Point(*at))),
            Shape::Other(e) => Cow::Borrowed(&e.geometry),
        }
    }

    /// Bounding box of [`Feature::geometry`] (metres).
    #[inline]
    pub fn bbox(&self) -> Rect<f64> {
        match &self.shape {
            Shape::Point { at, .. } => Rect::new(*at, *at),
            Shape::Other(e) => e.bbox,
        }
    }

    /// Longitude and latitude of a point feature (`None` for any other geometry).
    #[inline]
    pub fn point(&self) -> Option<Coord<f64>> {
        match &self.shape {
            Shape::Point { lonlat, .. } => Some(*lonlat),
            Shape::Other(_) => None,
        }
    }

    /// Whether the feature is a point.
    #[inline]
    pub fn is_point(&self) -> bool {
        matches!(self.shape, Shape::Point { .. })
    }
}

/// What region queries read of a feature, small enough to sit beside it in the point order or
/// the R-tree (40 bytes):
/// a query matches, counts and orders its hits from these without visiting the features
/// themselves (scattered over the heap, a cache miss each: the main cost of a query over a
/// million features). It reads a feature only for what a brief leaves open (time windows, free
/// tags, kinds, geometries other than points, the id that breaks a tie of time) and for the
/// page it returns.
///
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct Brief {
    /// Longitude and latitude, when the feature is a point.
    point: [f64; 2],
    facts: Facts,
}

/// What filters and layer selections read of a feature (24 bytes): its time, themes,
/// severity and qualification, and whether it has tags or activation windows. A brief holds
/// them beside the point; the point order of a collection beside the point's cell
/// ([`crate::order`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Facts {
    time_ms: i64,
    themes: ThemeMask,
    severity: u8,
    /// Index in [`Qualification::ALL`], or [`Facts::NO_QUALIFICATION`].
    qualification: u8,
    flags: u8,
    /// Property values that are not null, up to 255 (0 unless set by
    /// [`Facts::with_properties`]).
    properties: u8,
}

impl Brief {
    /// The brief of a feature.
    pub fn of(f: &Feature) -> Self {
        let mut facts = Facts::of(&f.attrs).with_properties(&f.props);
        let point = if let Some(p) = f.point() {
            facts.flags |= Facts::POINT;
            [p.x, p.y]
        } else {
            [0.0; 2]
        };
        Self { point, facts }
    }

    /// Longitude and latitude of a point feature (`None` for other geometries).
    #[inline]
    pub fn point(&self) -> Option<Coord<f64>> {
        (self.facts.flags & Facts::POINT != 0).then_some(Coord { x: self.point[0], y: self.point[1] })
    }

    /// What filters read.
    #[inline]
    pub fn facts(&self) -> &Facts {
        &self.facts
    }
}

impl Facts {
    const POINT: u8 = 1;
    const TIME: u8 = 1 << 1;
    const SEVERITY: u8 = 1 << 2;
    const TAGS: u8 = 1 << 3;
    const WINDOWS: u8 = 1 << 4;
    const NO_QUALIFICATION: u8 = u8::MAX;

    /// The facts of a feature's attributes.
    pub fn of(a: &Attrs) -> Self {
        let mut flags = 0;
        let mut set = |bit: u8, on: bool| {
            if on {
                flags |= bit;
            }
        };
        set(Self::TIME, a.time_ms.get().is_some());
        set(Self::SEVERITY, a.severity.is_some());
        set(Self::TAGS, a.tags.is_some());
        set(Self::WINDOWS, !a.windows().is_empty());
        Self {
            time_ms: a.time_ms.get().unwrap_or_default(),
            themes: a.themes,
            severity: a.severity.unwrap_or_default(),
            qualification: a.qualification.map_or(Self::NO_QUALIFICATION, |q| q as u8),
            flags,
            properties: 0,
        }
    }

    /// These facts with the number of the feature's property values that are not null (what
    /// its MVT tags take at least two bytes each for).
    #[must_use]
    pub fn with_properties(mut self, values: &[Value]) -> Self {
        self.properties = u8::try_from(values.iter().filter(|v| !v.is_null()).count()).unwrap_or(u8::MAX);
        self
    }

    /// The property values that are not null, as [`Facts::with_properties`] counted them
    /// (at most 255).
    #[inline]
    pub fn properties(&self) -> u8 {
        self.properties
    }

    /// [`Attrs::time_ms`].
    #[inline]
    pub fn time_ms(&self) -> Option<i64> {
        (self.flags & Self::TIME != 0).then_some(self.time_ms)
    }

    /// [`Attrs::severity`].
    #[inline]
    pub fn severity(&self) -> Option<u8> {
        (self.flags & Self::SEVERITY != 0).then_some(self.severity)
    }

    /// [`Attrs::qualification`].
    #[inline]
    pub fn qualification(&self) -> Option<Qualification> {
        Qualification::ALL.get(usize::from(self.qualification)).copied()
    }

    /// [`Attrs::themes`].
    #[inline]
    pub fn themes(&self) -> ThemeMask {
        self.themes
    }

    /// Whether [`Attrs::tags`] is `Some` (the feature has tags, maybe none of them a theme).
    #[inline]
    pub fn has_tags(&self) -> bool {
        self.flags & Self::TAGS != 0
    }

    /// Whether [`Attrs::windows`] is not empty (time filters then read the windows).
    #[inline]
    pub fn has_windows(&self) -> bool {
        self.flags & Self::WINDOWS != 0
    }
}

/// Checks a WGS84 geometry and projects it to Web Mercator metres.
///
/// # Errors
/// See [`Feature::from_lonlat`].
pub fn project_geometry(g: &Geometry<f64>) -> Result<Geometry<f64>, GeometryError> {
    use geo::MapCoords;
    match g {
        Geometry::Point(_)
        | Geometry::MultiPoint(_)
        | Geometry::LineString(_)
        | Geometry::MultiLineString(_)
        | Geometry::Polygon(_)
        | Geometry::MultiPolygon(_) => {}
        Geometry::GeometryCollection(_) => return Err(GeometryError::Unsupported("GeometryCollection")),
        Geometry::Line(_) => return Err(GeometryError::Unsupported("Line")),
        Geometry::Rect(_) => return Err(GeometryError::Unsupported("Rect")),
        Geometry::Triangle(_) => return Err(GeometryError::Unsupported("Triangle")),
    }
    g.try_map_coords(|c| {
        if !(c.x.is_finite() && c.y.is_finite() && (-180.0..=180.0).contains(&c.x) && (-90.0..=90.0).contains(&c.y)) {
            return Err(GeometryError::OutOfRange { lon: c.x, lat: c.y });
        }
        Ok(crate::tile::lonlat_to_mercator(c.x, c.y))
    })
}

/// Name of a geometry's type as GeoJSON spells it.
pub fn geometry_type_name(g: &Geometry<f64>) -> &'static str {
    match g {
        Geometry::Point(_) => "Point",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::LineString(_) | Geometry::Line(_) => "LineString",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::Polygon(_) | Geometry::Rect(_) | Geometry::Triangle(_) => "Polygon",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        Geometry::GeometryCollection(_) => "GeometryCollection",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Point, point};

    #[test]
    fn time_round_trip() {
        let ms = parse_time_ms("2024-07-26T19:30:00+02:00").unwrap();
        assert_eq!(format_time_ms(ms), "2024-07-26T17:30:00Z");
    }

    /// What `format_time_ms` gave before it was written by hand: `time`'s RFC 3339 formatter.
    fn reference(ms: i64) -> String {
        OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default()
    }

    #[test]
    fn time_formatting_matches_time_at_the_edges() {
        let edges = [
            0,
            -1,
            1,
            999,
            -999,
            -1000,
            -1001,
            951_782_400_000,     // 2000-02-29
            951_868_800_000 - 1, // 2000-02-29T23:59:59.999
            4_107_542_400_000,   // 2100-03-01
            RFC3339_MIN_S * 1000,
            RFC3339_MIN_S * 1000 - 1,
            RFC3339_MAX_S * 1000 + 999,
            RFC3339_MAX_S * 1000 + 1000,
            i64::MIN,
            i64::MAX,
        ];
        for ms in edges {
            assert_eq!(format_time_ms(ms), reference(ms), "{ms}");
        }
        assert_eq!(format_time_ms(RFC3339_MIN_S * 1000), "0000-01-01T00:00:00Z");
        assert_eq!(format_time_ms(RFC3339_MAX_S * 1000), "9999-12-31T23:59:59Z");
        assert_eq!(format_time_ms(RFC3339_MAX_S * 1000 + 1000), "");
    }

    #[test]
    fn time_formatting_matches_time_every_day_of_four_centuries() {
        // Every day from 1900 to 2300 (leap years, century years, 2000), at a varying time.
        let start = -2_208_988_800_i64; // 1900-01-01
        for day in 0..146_097 + 30 {
            let s = start + day * 86_400 + (day * 7919) % 86_400;
            assert_eq!(format_time_ms(s * 1000 + day % 1000), reference(s * 1000), "day {day}");
        }
    }

    proptest::proptest! {
        #[test]
        fn time_formatting_matches_time(ms in proptest::prelude::any::<i64>(), near in -1i64 << 44..1i64 << 44) {
            proptest::prop_assert_eq!(format_time_ms(ms), reference(ms));
            proptest::prop_assert_eq!(format_time_ms(near), reference(near));
            proptest::prop_assert_eq!(format_time_ms(near * 8), reference(near * 8));
        }
    }

    #[test]
    fn a_point_keeps_both_coordinates_inline_and_other_shapes_are_borrowed() {
        let at: Geometry<f64> = point!(x: 2.2945, y: 48.8584).into();
        let f = Feature::from_lonlat(1, &at, Attrs::default(), Box::new([])).unwrap();
        assert!(f.is_point());
        assert_eq!(*f.lonlat(), at, "as given, no projection round trip");
        assert_eq!(f.point(), Some(Coord { x: 2.2945, y: 48.8584 }));
        assert_eq!(*f.geometry(), project_geometry(&at).unwrap());
        let Geometry::Point(m) = *f.geometry() else { panic!("a point") };
        assert_eq!(f.bbox(), Rect::new(m.0, m.0));

        let square: Geometry<f64> =
            geo::Polygon::new(vec![(2.0, 48.0), (3.0, 48.0), (3.0, 49.0), (2.0, 48.0)].into(), vec![]).into();
        let g = Feature::from_lonlat(2, &square, Attrs::default(), Box::new([])).unwrap();
        assert!(!g.is_point() && g.point().is_none());
        assert!(matches!(g.lonlat(), Cow::Borrowed(_)) && matches!(g.geometry(), Cow::Borrowed(_)));
        assert_eq!(*g.lonlat(), square);
        assert_eq!(g.bbox(), project_geometry(&square).unwrap().bounding_rect().unwrap());
        assert!(g.bbox().width() > 100_000.0, "a degree of longitude is ~111 km");
        // A multipoint of one point stays a multipoint.
        let one: Geometry<f64> = geo::MultiPoint::from(vec![(2.0, 48.0)]).into();
        assert!(!Feature::from_lonlat(3, &one, Attrs::default(), Box::new([])).unwrap().is_point());
    }

    #[test]
    fn windows_and_kind_are_boxed_only_when_there_are_some() {
        let plain = Attrs::default();
        assert!(plain.windows().is_empty() && plain.kind().is_none() && plain.extra.is_none());
        assert_eq!(Attrs::default().with_windows([]), plain, "no box for nothing");
        let perimeter = Attrs::default().with_windows([(1, 2), (5, 9)]).with_kind(Text::from("fan_zone"));
        assert_eq!(perimeter.windows(), [(1, 2), (5, 9)]);
        assert_eq!(perimeter.kind().map(Text::as_str), Some("fan_zone"));
        let venue = Attrs::default().with_kind(Text::from("stadium")).with_windows([]);
        assert_eq!((venue.windows(), venue.kind().map(Text::as_str)), (&[][..], Some("stadium")));
        assert!(Facts::of(&perimeter).has_windows() && !Facts::of(&venue).has_windows());
    }

    /// What a million log entries weigh depends on these (`benches/examples/memory.rs`): a
    /// growth here is ~1 MB per byte per million features.
    #[test]
    fn features_and_values_stay_small() {
        assert_eq!(size_of::<Value>(), 16, "a tag and 8 bytes: text is one pointer");
        assert_eq!(size_of::<Text>(), 8);
        assert_eq!(size_of::<Millis>(), 8);
        assert_eq!(size_of::<Option<Tags>>(), 8);
        // With an `Arc`'s two counts and malloc's 8-byte header, 104 bytes fill a 128-byte chunk.
        assert!(size_of::<Feature>() <= 104, "{} bytes", size_of::<Feature>());
    }

    #[test]
    fn an_instant_in_eight_bytes_keeps_every_value_but_the_least() {
        for ms in [0, 1, -1, 1_720_000_000_000, -62_167_219_200_000, i64::MAX, i64::MIN + 1] {
            assert_eq!(Millis::at(ms).get(), Some(ms));
            assert_eq!(Millis::from(Some(ms)), Millis::at(ms));
        }
        assert_eq!(Millis::at(i64::MIN).get(), Some(i64::MIN + 1));
        assert_eq!((Millis::NONE.get(), Millis::default(), Millis::from(None)), (None, Millis::NONE, Millis::NONE));
        assert_eq!(format!("{:?}/{:?}", Millis::at(5), Millis::NONE), "Some(5)/None");
    }

    #[test]
    fn qualification_names_round_trip_and_unknown_is_refused() {
        for q in Qualification::ALL {
            assert_eq!(q.as_str().parse::<Qualification>().unwrap(), q);
        }
        assert!("maybe".parse::<Qualification>().unwrap_err().to_string().contains("in_review"));
    }

    #[test]
    fn default_visible_hides_refuted_only() {
        let s = QualificationSet::default_visible();
        assert!(!s.contains(Qualification::Refuted));
        assert_eq!(s.iter().count(), 4);
    }

    #[test]
    fn projection_refuses_bad_coordinates() {
        let g: Geometry<f64> = Point::new(200.0, 10.0).into();
        assert!(matches!(project_geometry(&g), Err(GeometryError::OutOfRange { .. })));
        let g: Geometry<f64> = Point::new(f64::NAN, 10.0).into();
        assert!(project_geometry(&g).is_err());
        let g: Geometry<f64> = point!(x: 2.35, y: 48.85).into();
        let f = Feature::from_lonlat(1, &g, Attrs::default(), Box::new([])).unwrap();
        assert!(f.bbox().min().x > 200_000.0 && f.bbox().min().y > 6_000_000.0);
    }
}
