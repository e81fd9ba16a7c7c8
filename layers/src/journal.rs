//! The operations log's rules: what a valid entry is, how an edit applies, which qualification
//! moves are allowed, and what a revision records. Pure functions: the service validates and
//! the store commits; nothing here knows about HTTP or SQL.

use crate::feature::{Qualification, format_time_ms, parse_time_ms};
use crate::model::{AttachmentRef, Entry, Link, MAX_SEVERITY, ThemeVocabulary};
use geo::{Coord, Geometry, LineString, Point, Polygon};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Longest title, characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest body (markdown), characters.
pub const MAX_BODY_CHARS: usize = 20_000;
/// Most tags on one entry.
pub const MAX_TAGS: usize = 20;
/// Longest tag, characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Most links on one entry.
pub const MAX_LINKS: usize = 20;
/// Longest URL, characters.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest short text (author, source, location, link title), characters.
pub const MAX_SHORT_CHARS: usize = 200;
/// Most vertices in an entry's geometry.
pub const MAX_VERTICES: usize = 10_000;
/// How far in the future a time may be (clock skew between devices), milliseconds.
pub const MAX_FUTURE_MS: i64 = 10 * 60_000;

/// One invalid field: which, the value received, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Field path, e.g. `links[2].url`.
    pub field: String,
    /// The value received, as short text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// What is allowed.
    pub reason: String,
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 80 { s.chars().take(77).collect::<String>() + "…" } else { s }
}

struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, field: &str, value: Option<&Value>, reason: impl Into<String>) {
        self.0.push(FieldError { field: field.to_owned(), value: value.map(short), reason: reason.into() });
    }
}

/// Whether the workflow allows moving an entry from one state to another:
/// raw → in_review → confirmed | refuted → closed.
pub fn transition_allowed(from: Qualification, to: Qualification) -> bool {
    use Qualification::{Closed, Confirmed, InReview, Raw, Refuted};
    matches!((from, to), (Raw, InReview) | (InReview, Confirmed | Refuted) | (Confirmed | Refuted, Closed))
}

fn allowed_next(from: Qualification) -> Vec<&'static str> {
    Qualification::ALL.into_iter().filter(|to| transition_allowed(from, *to)).map(Qualification::as_str).collect()
}

fn text(obj: &Map<String, Value>, key: &str, max: usize, e: &mut Errors) -> Option<String> {
    match obj.get(key)? {
        Value::Null => None,
        Value::String(s) if s.chars().count() > max => {
            e.push(key, obj.get(key), format!("at most {max} characters (got {})", s.chars().count()));
            None
        }
        Value::String(s) => Some(s.trim().to_owned()),
        other => {
            e.push(key, Some(other), "expected a string");
            None
        }
    }
}

fn time(obj: &Map<String, Value>, key: &str, now_ms: i64, e: &mut Errors) -> Option<i64> {
    match obj.get(key)? {
        Value::Null => None,
        Value::String(s) => match parse_time_ms(s) {
            Ok(t) if t > now_ms + MAX_FUTURE_MS => {
                e.push(key, obj.get(key), "must not be in the future");
                None
            }
            Ok(t) => Some(t),
            Err(_) => {
                e.push(key, obj.get(key), "expected an RFC 3339 date-time with offset, e.g. 2024-07-26T19:30:00+02:00");
                None
            }
        },
        other => {
            e.push(key, Some(other), "expected an RFC 3339 date-time string");
            None
        }
    }
}

fn severity(obj: &Map<String, Value>, e: &mut Errors) -> Option<u8> {
    let v = obj.get("severity")?;
    match v.as_u64() {
        Some(s) if s <= u64::from(MAX_SEVERITY) => Some(s as u8),
        _ => {
            e.push("severity", Some(v), "expected an integer from 0 (information) to 4 (critical)");
            None
        }
    }
}

fn tags(obj: &Map<String, Value>, e: &mut Errors) -> Option<Vec<String>> {
    let v = obj.get("tags")?;
    let Some(items) = v.as_array() else {
        e.push("tags", Some(v), "expected an array of strings");
        return None;
    };
    if items.len() > MAX_TAGS {
        e.push("tags", Some(v), format!("at most {MAX_TAGS} tags"));
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for (i, t) in items.iter().enumerate() {
        let field = format!("tags[{i}]");
        match t.as_str().map(str::trim) {
            Some(s)
                if !s.is_empty()
                    && s.chars().count() <= MAX_TAG_CHARS
                    && s.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') =>
            {
                let s = s.to_lowercase();
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            _ => e.push(
                &field,
                Some(t),
                format!("a tag is 1 to {MAX_TAG_CHARS} letters, digits, '-' or '_' (catalog themes or free tags)"),
            ),
        }
    }
    Some(out)
}

fn links(obj: &Map<String, Value>, e: &mut Errors) -> Option<Vec<Link>> {
    let v = obj.get("links")?;
    let Some(items) = v.as_array() else {
        e.push("links", Some(v), "expected an array of {url, title}");
        return None;
    };
    if items.len() > MAX_LINKS {
        e.push("links", Some(v), format!("at most {MAX_LINKS} links"));
        return None;
    }
    let mut out = Vec::new();
    for (i, l) in items.iter().enumerate() {
        let (url, title) = match l {
            Value::String(u) => (Some(u.as_str()), ""),
            Value::Object(o) => {
                (o.get("url").and_then(Value::as_str), o.get("title").and_then(Value::as_str).unwrap_or(""))
            }
            _ => (None, ""),
        };
        let Some(url) = url else {
            e.push(&format!("links[{i}]"), Some(l), "expected {\"url\": \"https://…\", \"title\": \"…\"}");
            continue;
        };
        if !is_http_url(url) {
            e.push(&format!("links[{i}].url"), Some(&Value::from(url)), "expected an absolute http:// or https:// URL");
            continue;
        }
        if title.chars().count() > MAX_SHORT_CHARS {
            e.push(
                &format!("links[{i}].title"),
                Some(&Value::from(title)),
                format!("at most {MAX_SHORT_CHARS} characters"),
            );
            continue;
        }
        out.push(Link { url: url.to_owned(), title: title.trim().to_owned() });
    }
    Some(out)
}

/// Whether `s` is an absolute http(s) URL with a host and nothing that could break out of an
/// attribute or a header (no whitespace, quotes, angle brackets or control characters).
pub fn is_http_url(s: &str) -> bool {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    let Some(rest) = rest else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    s.chars().count() <= MAX_URL_CHARS
        && !host.is_empty()
        && !host.starts_with(':')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\' | '`'))
}

fn coord(v: &Value) -> Option<Coord<f64>> {
    let a = v.as_array()?;
    if a.len() < 2 {
        return None;
    }
    Some(Coord { x: a[0].as_f64()?, y: a[1].as_f64()? })
}

fn ring(v: &Value, field: &str, closed: bool, e: &mut Errors) -> Option<LineString<f64>> {
    let Some(items) = v.as_array() else {
        e.push(field, Some(v), "expected an array of [lon, lat] positions");
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, p) in items.iter().enumerate() {
        match coord(p) {
            Some(c) if in_range(c) => out.push(c),
            Some(_) => {
                e.push(
                    &format!("{field}[{i}]"),
                    Some(p),
                    "longitude must be within -180..180 and latitude within -90..90",
                );
                return None;
            }
            None => {
                e.push(&format!("{field}[{i}]"), Some(p), "expected a [lon, lat] position of two numbers");
                return None;
            }
        }
    }
    if closed && (out.len() < 4 || out.first() != out.last()) {
        e.push(field, None, "a polygon ring needs at least 4 positions and must end where it starts");
        return None;
    }
    Some(LineString(out))
}

fn in_range(c: Coord<f64>) -> bool {
    c.x.is_finite() && c.y.is_finite() && (-180.0..=180.0).contains(&c.x) && (-90.0..=90.0).contains(&c.y)
}

/// Reads the entry geometry: a GeoJSON Point, LineString or Polygon in `geometry`, or
/// `lon`/`lat`. Checks ranges, vertex counts and polygon validity (no self-intersection).
fn geometry(obj: &Map<String, Value>, e: &mut Errors) -> Option<Geometry<f64>> {
    if let Some(g) = obj.get("geometry").filter(|g| !g.is_null()) {
        if obj.contains_key("lon") || obj.contains_key("lat") {
            e.push("lon", obj.get("lon"), "give either geometry or lon/lat, not both");
            return None;
        }
        let Some(go) = g.as_object() else {
            e.push("geometry", Some(g), "expected a GeoJSON geometry object");
            return None;
        };
        let coords = go.get("coordinates").unwrap_or(&Value::Null);
        let vertices = count_positions(coords);
        if vertices > MAX_VERTICES {
            e.push("geometry.coordinates", None, format!("at most {MAX_VERTICES} positions (got {vertices})"));
            return None;
        }
        let kind = go.get("type").and_then(Value::as_str).unwrap_or("");
        let geom = match kind {
            "Point" => match coord(coords) {
                Some(c) if in_range(c) => Geometry::Point(Point(c)),
                _ => {
                    e.push(
                        "geometry.coordinates",
                        Some(coords),
                        "expected [lon, lat] with longitude within -180..180 and latitude within -90..90",
                    );
                    return None;
                }
            },
            "LineString" => {
                let ls = ring(coords, "geometry.coordinates", false, e)?;
                let mut distinct = ls.0.clone();
                distinct.dedup();
                if distinct.len() < 2 {
                    e.push("geometry.coordinates", None, "a line needs at least two distinct positions");
                    return None;
                }
                Geometry::LineString(ls)
            }
            "Polygon" => {
                let Some(rings) = coords.as_array().filter(|r| !r.is_empty()) else {
                    e.push("geometry.coordinates", Some(coords), "expected an array of rings (exterior first)");
                    return None;
                };
                let mut parsed = Vec::new();
                for (i, r) in rings.iter().enumerate() {
                    parsed.push(ring(r, &format!("geometry.coordinates[{i}]"), true, e)?);
                }
                let exterior = parsed.remove(0);
                let polygon = Polygon::new(exterior, parsed);
                if let Some(problem) = crate::validity::polygon_problem(&polygon) {
                    e.push("geometry", None, format!("invalid polygon: {problem}"));
                    return None;
                }
                Geometry::Polygon(polygon)
            }
            other => {
                e.push("geometry.type", Some(&Value::from(other)), "expected Point, LineString or Polygon");
                return None;
            }
        };
        return Some(geom);
    }
    match (obj.get("lon"), obj.get("lat")) {
        (None, None) => None,
        (Some(lon), Some(lat)) => match (lon.as_f64(), lat.as_f64()) {
            (Some(x), Some(y)) if in_range(Coord { x, y }) => Some(Geometry::Point(Point::new(x, y))),
            (x, y) => {
                if !x.is_some_and(|x| (-180.0..=180.0).contains(&x)) {
                    e.push("lon", Some(lon), "expected a longitude within -180..180");
                }
                if !y.is_some_and(|y| (-90.0..=90.0).contains(&y)) {
                    e.push("lat", Some(lat), "expected a latitude within -90..90");
                }
                None
            }
        },
        (lon, lat) => {
            let missing = if lon.is_none() { "lon" } else { "lat" };
            e.push(missing, None, "lon and lat go together");
            let _ = lat;
            None
        }
    }
}

fn count_positions(v: &Value) -> usize {
    match v {
        Value::Array(a) if a.first().is_some_and(Value::is_number) => 1,
        Value::Array(a) => a.iter().map(count_positions).sum(),
        _ => 0,
    }
}

/// A validated new entry, before the store gives it an id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry(pub Entry);

const CREATE_FIELDS: &[&str] = &[
    "title",
    "body",
    "tags",
    "severity",
    "occurred_at",
    "reported_at",
    "geometry",
    "lon",
    "lat",
    "location",
    "links",
    "source",
    "author",
];
const PATCH_FIELDS: &[&str] = &[
    "title",
    "body",
    "tags",
    "severity",
    "occurred_at",
    "reported_at",
    "geometry",
    "lon",
    "lat",
    "location",
    "links",
    "source",
    "qualification",
];

fn unknown_fields(obj: &Map<String, Value>, allowed: &[&str], e: &mut Errors) {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            e.push(k, None, format!("unknown field; allowed: {}", allowed.join(", ")));
        }
    }
}

/// Validates a creation request. `author` falls back to `default_author` (the request's user);
/// `recorded_at` is `now_ms`. Every invalid field is reported at once.
///
/// # Errors
/// The list of invalid fields.
pub fn validate_new(body: &Value, default_author: Option<&str>, now_ms: i64) -> Result<NewEntry, Vec<FieldError>> {
    let mut e = Errors(Vec::new());
    let Some(obj) = body.as_object() else {
        return Err(vec![FieldError { field: String::new(), value: None, reason: "expected a JSON object".into() }]);
    };
    unknown_fields(obj, CREATE_FIELDS, &mut e);
    let title = text(obj, "title", MAX_TITLE_CHARS, &mut e);
    if title.as_deref().is_none_or(str::is_empty) && !e.0.iter().any(|f| f.field == "title") {
        e.push("title", obj.get("title"), "required: a short title of at most 200 characters");
    }
    let body_text = text(obj, "body", MAX_BODY_CHARS, &mut e).unwrap_or_default();
    let tags = tags(obj, &mut e).unwrap_or_default();
    let sev = severity(obj, &mut e);
    if !obj.contains_key("severity") {
        e.push("severity", None, "required: an integer from 0 (information) to 4 (critical)");
    }
    let occurred = time(obj, "occurred_at", now_ms, &mut e);
    let reported = time(obj, "reported_at", now_ms, &mut e);
    let geom = geometry(obj, &mut e);
    if geom.is_none() && !e.0.iter().any(|f| f.field.starts_with("geometry") || f.field == "lon" || f.field == "lat") {
        e.push("geometry", None, "required: a GeoJSON Point, LineString or Polygon, or lon and lat");
    }
    let location = text(obj, "location", MAX_SHORT_CHARS, &mut e).filter(|s| !s.is_empty());
    let links = links(obj, &mut e).unwrap_or_default();
    let source = text(obj, "source", MAX_SHORT_CHARS, &mut e).unwrap_or_default();
    let author = text(obj, "author", MAX_SHORT_CHARS, &mut e)
        .filter(|s| !s.is_empty())
        .or_else(|| default_author.map(str::to_owned));
    if author.is_none() && !e.0.iter().any(|f| f.field == "author") {
        e.push("author", None, "required: who records the entry (or send the X-Vigie-User header)");
    }
    let reported_at = reported.unwrap_or(now_ms);
    let occurred_at = occurred.unwrap_or(reported_at);
    if occurred_at > reported_at {
        e.push("occurred_at", obj.get("occurred_at"), "must not be after reported_at");
    }
    let Some(geometry) = geom.filter(|_| e.0.is_empty()) else {
        return Err(e.0);
    };
    Ok(NewEntry(Entry {
        id: 0,
        version: 1,
        title: title.unwrap_or_default(),
        body: body_text,
        tags,
        severity: sev.unwrap_or(0),
        qualification: Qualification::Raw,
        occurred_at,
        reported_at,
        recorded_at: now_ms,
        author: author.unwrap_or_default(),
        source,
        location,
        links,
        geometry,
        deleted: false,
        attachments: Vec::new(),
    }))
}

/// What a change did, for the revision history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The entry was created.
    Created,
    /// Fields were edited.
    Updated,
    /// A photo was attached.
    Attached,
    /// The entry was (soft) deleted.
    Deleted,
}

impl Action {
    /// The name stored in revision rows and shown in the API (`created`, `updated`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Attached => "attached",
            Self::Deleted => "deleted",
        }
    }
}

impl std::str::FromStr for Action {
    type Err = String;

    /// # Errors
    /// The unknown name, quoted.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Created, Self::Updated, Self::Attached, Self::Deleted]
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown revision action '{s}'"))
    }
}

/// One revision: who changed what and when. `changes` maps each field to `{from, to}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    /// Version this revision produced.
    pub version: u32,
    /// What happened.
    pub action: Action,
    /// Who.
    pub actor: String,
    /// When (epoch ms).
    #[serde(skip)]
    pub at_ms: i64,
    /// Field → `{"from": …, "to": …}`.
    pub changes: Map<String, Value>,
}

/// JSON view of an entry's fields, as the API shows them (also what revisions diff).
pub fn entry_fields(e: &Entry) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("title".into(), json!(e.title));
    m.insert("body".into(), json!(e.body));
    m.insert("tags".into(), json!(e.tags));
    m.insert("severity".into(), json!(e.severity));
    m.insert("qualification".into(), json!(e.qualification));
    m.insert("occurred_at".into(), json!(format_time_ms(e.occurred_at)));
    m.insert("reported_at".into(), json!(format_time_ms(e.reported_at)));
    m.insert("author".into(), json!(e.author));
    m.insert("source".into(), json!(e.source));
    m.insert("location".into(), json!(e.location));
    m.insert("links".into(), json!(e.links));
    m.insert("geometry".into(), geometry_json(&e.geometry));
    m.insert("attachments".into(), json!(e.attachments));
    m.insert("deleted".into(), json!(e.deleted));
    m
}

/// GeoJSON of a WGS84 geometry (Point, LineString, Polygon and multi forms).
pub fn geometry_json(g: &Geometry<f64>) -> Value {
    let pos = |c: &Coord<f64>| json!([c.x, c.y]);
    let line = |l: &LineString<f64>| Value::Array(l.0.iter().map(pos).collect());
    let poly = |p: &Polygon<f64>| Value::Array(std::iter::once(p.exterior()).chain(p.interiors()).map(line).collect());
    match g {
        Geometry::Point(p) => json!({"type": "Point", "coordinates": pos(&p.0)}),
        Geometry::MultiPoint(mp) => {
            json!({"type": "MultiPoint", "coordinates": mp.0.iter().map(|p| pos(&p.0)).collect::<Vec<_>>()})
        }
        Geometry::LineString(l) => json!({"type": "LineString", "coordinates": line(l)}),
        Geometry::MultiLineString(ml) => {
            json!({"type": "MultiLineString", "coordinates": ml.0.iter().map(line).collect::<Vec<_>>()})
        }
        Geometry::Polygon(p) => json!({"type": "Polygon", "coordinates": poly(p)}),
        Geometry::MultiPolygon(mp) => {
            json!({"type": "MultiPolygon", "coordinates": mp.0.iter().map(poly).collect::<Vec<_>>()})
        }
        _ => Value::Null,
    }
}

/// A geometry as revisions store it ([`geometry_json`]); `None` when it is not one.
pub fn stored_geometry(v: &Value) -> Option<Geometry<f64>> {
    let mut obj = Map::new();
    obj.insert("geometry".into(), v.clone());
    geometry(&obj, &mut Errors(Vec::new()))
}

/// Where an entry was at each version: the version and its geometry (`None` once deleted).
pub type Positions = Vec<(u32, Option<Geometry<f64>>)>;

/// Where an entry was at each version its revisions (oldest first) produced: its geometry,
/// or `None` once deleted. What a narrowed event stream tests against the territory.
pub fn positions(revisions: &[Revision]) -> Positions {
    let mut at = None;
    let mut deleted = false;
    revisions
        .iter()
        .map(|r| {
            if let Some(to) = r.changes.get("geometry").and_then(|c| c.get("to")) {
                at = stored_geometry(to);
            }
            if let Some(to) = r.changes.get("deleted").and_then(|c| c.get("to")) {
                deleted = to.as_bool().unwrap_or(false);
            }
            (r.version, at.clone().filter(|_| !deleted))
        })
        .collect()
}

/// The field-by-field difference between two states of an entry.
pub fn diff(old: &Entry, new: &Entry) -> Map<String, Value> {
    let (a, b) = (entry_fields(old), entry_fields(new));
    b.into_iter()
        .filter(|(k, v)| a.get(k) != Some(v))
        .map(|(k, v)| {
            let from = a.get(&k).cloned().unwrap_or(Value::Null);
            (k, json!({"from": from, "to": v}))
        })
        .collect()
}

/// Why an edit was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum EditError {
    /// Invalid fields (422).
    Invalid(Vec<FieldError>),
    /// Nothing to change (the edit equals the current state).
    NoChange,
}

/// Applies a PATCH body to an entry: returns the new state (version + 1) and the revision.
/// Qualification moves must follow the workflow; deleted entries cannot be edited.
///
/// # Errors
/// [`EditError::Invalid`] listing every invalid field; [`EditError::NoChange`] when nothing
/// would change.
pub fn apply_patch(
    current: &Entry,
    body: &Value,
    actor: &str,
    now_ms: i64,
    vocab: &ThemeVocabulary,
) -> Result<(Entry, Revision), EditError> {
    let _ = vocab;
    let mut e = Errors(Vec::new());
    let Some(obj) = body.as_object() else {
        return Err(EditError::Invalid(vec![FieldError {
            field: String::new(),
            value: None,
            reason: "expected a JSON object (JSON merge patch of the entry's fields)".into(),
        }]));
    };
    if current.deleted {
        e.push("", None, "the entry is deleted: it can no longer be edited");
        return Err(EditError::Invalid(e.0));
    }
    unknown_fields(obj, PATCH_FIELDS, &mut e);
    let mut next = current.clone();
    if obj.contains_key("title") {
        match text(obj, "title", MAX_TITLE_CHARS, &mut e) {
            Some(t) if !t.is_empty() => next.title = t,
            Some(_) | None if !e.0.iter().any(|f| f.field == "title") => {
                e.push("title", obj.get("title"), "a title cannot be emptied");
            }
            _ => {}
        }
    }
    if let Some(b) = text(obj, "body", MAX_BODY_CHARS, &mut e) {
        next.body = b;
    }
    if let Some(t) = tags(obj, &mut e) {
        next.tags = t;
    }
    if let Some(s) = severity(obj, &mut e) {
        next.severity = s;
    }
    if let Some(t) = time(obj, "occurred_at", now_ms, &mut e) {
        next.occurred_at = t;
    }
    if let Some(t) = time(obj, "reported_at", now_ms, &mut e) {
        next.reported_at = t;
    }
    if let Some(g) = geometry(obj, &mut e) {
        next.geometry = g;
    }
    if obj.contains_key("location") {
        next.location = text(obj, "location", MAX_SHORT_CHARS, &mut e).filter(|s| !s.is_empty());
    }
    if let Some(l) = links(obj, &mut e) {
        next.links = l;
    }
    if let Some(s) = text(obj, "source", MAX_SHORT_CHARS, &mut e) {
        next.source = s;
    }
    if let Some(q) = obj.get("qualification") {
        match q.as_str().map(str::parse::<Qualification>) {
            Some(Ok(to)) if to == current.qualification => {}
            Some(Ok(to)) if transition_allowed(current.qualification, to) => next.qualification = to,
            Some(Ok(_)) => {
                let allowed = allowed_next(current.qualification);
                e.push(
                    "qualification",
                    Some(q),
                    format!(
                        "not allowed from '{}': the flow is raw → in_review → confirmed | refuted → closed; allowed next: {}",
                        current.qualification,
                        if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") }
                    ),
                );
            }
            _ => e.push("qualification", Some(q), "expected one of raw, in_review, confirmed, refuted, closed"),
        }
    }
    if next.occurred_at > next.reported_at {
        e.push("occurred_at", obj.get("occurred_at"), "must not be after reported_at");
    }
    if !e.0.is_empty() {
        return Err(EditError::Invalid(e.0));
    }
    let changes = diff(current, &next);
    if changes.is_empty() {
        return Err(EditError::NoChange);
    }
    next.version = current.version + 1;
    Ok((
        next,
        Revision {
            version: current.version + 1,
            action: Action::Updated,
            actor: actor.to_owned(),
            at_ms: now_ms,
            changes,
        },
    ))
}

/// The soft deletion of an entry as a new revision.
pub fn delete(current: &Entry, actor: &str, now_ms: i64) -> (Entry, Revision) {
    let mut next = current.clone();
    next.deleted = true;
    next.version = current.version + 1;
    let changes = diff(current, &next);
    (
        next,
        Revision {
            version: current.version + 1,
            action: Action::Deleted,
            actor: actor.to_owned(),
            at_ms: now_ms,
            changes,
        },
    )
}

/// Attaching a photo as a new revision (the same photo twice is not attached again).
pub fn attach(current: &Entry, attachment: AttachmentRef, actor: &str, now_ms: i64) -> Option<(Entry, Revision)> {
    if current.deleted || current.attachments.iter().any(|a| a.sha256 == attachment.sha256) {
        return None;
    }
    let mut next = current.clone();
    next.attachments.push(attachment);
    next.version = current.version + 1;
    let changes = diff(current, &next);
    Some((
        next,
        Revision {
            version: current.version + 1,
            action: Action::Attached,
            actor: actor.to_owned(),
            at_ms: now_ms,
            changes,
        },
    ))
}

/// The creation revision of a new entry.
pub fn created(entry: &Entry) -> Revision {
    let changes = entry_fields(entry).into_iter().map(|(k, v)| (k, json!({"from": null, "to": v}))).collect();
    Revision {
        version: entry.version,
        action: Action::Created,
        actor: entry.author.clone(),
        at_ms: entry.recorded_at,
        changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_722_000_000_000;

    fn valid() -> Value {
        json!({
            "title": "Colis suspect",
            "severity": 3,
            "tags": ["public_order", "VIP"],
            "lon": 2.35, "lat": 48.85,
            "links": [{"url": "https://example.org/a", "title": "fiche"}],
            "author": "PC Nord",
            "occurred_at": "2024-07-26T10:00:00Z"
        })
    }

    #[test]
    fn a_valid_entry_passes_and_normalises_tags() {
        let n = validate_new(&valid(), None, NOW).unwrap().0;
        assert_eq!(n.tags, ["public_order", "vip"]);
        assert_eq!(n.qualification, Qualification::Raw);
        assert_eq!(n.recorded_at, NOW);
        assert_eq!(n.reported_at, NOW);
    }

    #[test]
    fn every_invalid_field_is_listed_at_once() {
        let body = json!({
            "title": "x".repeat(201),
            "severity": 7,
            "lon": 200.0, "lat": 95.0,
            "links": [{"url": "javascript:alert(1)"}, "ftp://x"],
            "body": "y".repeat(MAX_BODY_CHARS + 1),
            "colour": "red",
        });
        let errs = validate_new(&body, None, NOW).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|f| f.field.as_str()).collect();
        for f in ["title", "severity", "lon", "lat", "links[0].url", "links[1].url", "body", "colour", "author"] {
            assert!(fields.contains(&f), "{f} not reported: {fields:?}");
        }
        let sev = errs.iter().find(|f| f.field == "severity").unwrap();
        assert_eq!(sev.value.as_deref(), Some("7"));
    }

    #[test]
    fn self_intersecting_polygons_and_open_rings_are_refused() {
        let bow_tie = json!({"type": "Polygon", "coordinates": [[[2.0, 48.0], [2.1, 48.1], [2.1, 48.0], [2.0, 48.1], [2.0, 48.0]]]});
        let mut b = valid();
        b.as_object_mut().unwrap().remove("lon");
        b.as_object_mut().unwrap().remove("lat");
        b["geometry"] = bow_tie;
        let errs = validate_new(&b, None, NOW).unwrap_err();
        assert!(errs.iter().any(|f| f.field == "geometry" && f.reason.contains("invalid polygon")), "{errs:?}");
        b["geometry"] = json!({"type": "Polygon", "coordinates": [[[2.0, 48.0], [2.1, 48.1], [2.1, 48.0]]]});
        assert!(validate_new(&b, None, NOW).is_err());
        b["geometry"] = json!({"type": "LineString", "coordinates": [[2.0, 48.0], [2.0, 48.0]]});
        assert!(validate_new(&b, None, NOW).is_err());
        b["geometry"] =
            json!({"type": "Polygon", "coordinates": [[[2.0, 48.0], [2.1, 48.0], [2.1, 48.1], [2.0, 48.0]]]});
        assert!(validate_new(&b, None, NOW).is_ok());
    }

    #[test]
    fn positions_follow_moves_and_end_at_deletion() {
        let vocab = ThemeVocabulary::default();
        let e = validate_new(&valid(), None, NOW).unwrap().0;
        let first = created(&e);
        let moved = json!({"geometry": {"type": "LineString", "coordinates": [[2.0, 48.0], [2.5, 48.5]]}});
        let (e2, second) = apply_patch(&e, &moved, "b", NOW, &vocab).unwrap();
        let (e3, third) = apply_patch(&e2, &json!({"severity": 4}), "c", NOW, &vocab).unwrap();
        let (_, fourth) = delete(&e3, "d", NOW);
        let p = positions(&[first, second, third, fourth]);
        let point = Geometry::Point(Point::new(2.35, 48.85));
        let line = Geometry::LineString(LineString::from(vec![(2.0, 48.0), (2.5, 48.5)]));
        assert_eq!(p, [(1, Some(point)), (2, Some(line.clone())), (3, Some(line)), (4, None)]);
        assert_eq!(stored_geometry(&json!({"type": "Point", "coordinates": [200.0, 0.0]})), None);
    }

    #[test]
    fn qualification_flow_is_enforced() {
        use Qualification::*;
        assert!(transition_allowed(Raw, InReview));
        assert!(!transition_allowed(Raw, Confirmed));
        assert!(transition_allowed(InReview, Refuted));
        assert!(transition_allowed(Refuted, Closed));
        assert!(!transition_allowed(Closed, Raw));
        let vocab = ThemeVocabulary::default();
        let e = validate_new(&valid(), None, NOW).unwrap().0;
        let err = apply_patch(&e, &json!({"qualification": "confirmed"}), "a", NOW, &vocab).unwrap_err();
        let EditError::Invalid(f) = err else { panic!() };
        assert!(f[0].reason.contains("in_review"), "{f:?}");
        let (next, rev) =
            apply_patch(&e, &json!({"qualification": "in_review", "severity": 4}), "b", NOW, &vocab).unwrap();
        assert_eq!(next.version, 2);
        assert_eq!(rev.changes["qualification"], json!({"from": "raw", "to": "in_review"}));
        assert_eq!(rev.changes["severity"], json!({"from": 3, "to": 4}));
        assert_eq!(rev.changes.len(), 2);
        assert_eq!(apply_patch(&next, &json!({"severity": 4}), "b", NOW, &vocab), Err(EditError::NoChange));
        let (gone, rev) = delete(&next, "c", NOW);
        assert!(gone.deleted && rev.action == Action::Deleted && gone.version == 3);
        assert!(matches!(apply_patch(&gone, &json!({"severity": 1}), "d", NOW, &vocab), Err(EditError::Invalid(_))));
    }

    #[test]
    fn only_http_urls() {
        assert!(is_http_url("https://example.org/x?y=1#z"));
        assert!(is_http_url("http://10.0.0.1:8080"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("javascript:alert(1)"));
        assert!(!is_http_url("https://a.org/\"onmouseover"));
        assert!(!is_http_url("data:text/html,x"));
    }
}
