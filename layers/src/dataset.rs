//! Imported datasets: records from source files (any format) become a checked dataset with an
//! inferred schema, or a list of problems naming where each one is.
//!
//! Readers turn a file into [`Record`]s (one per feature, with its position in the file); the
//! [`DatasetBuilder`] checks geometries, assigns ids, infers field types and collects errors.
//! Nothing reaches the store unless the whole file is valid (or invalid records are skipped on
//! request, with a report).

use crate::feature::{
    Attrs, Feature, FeatureId, Field, FieldType, GeometryError, Schema, Text, Value, project_geometry,
};
use crate::model::{Interner, ThemeVocabulary};
use geo::Geometry;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

/// How many problems an import report lists before only counting them.
pub const MAX_LISTED_PROBLEMS: usize = 100;

/// One feature read from a source file, in WGS84 longitude/latitude.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Geometry (already reprojected to WGS84 by the reader).
    pub geometry: Geometry<f64>,
    /// Properties in file order.
    pub props: Vec<(String, Value)>,
}

/// Where a record or a problem is in its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// File name (as given).
    pub file: String,
    /// "line 40000", "feature 12", "row 3".
    pub position: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.file, self.position)
    }
}

/// One problem of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where.
    #[serde(flatten)]
    pub location: Location,
    /// Which field (or `geometry`).
    pub field: String,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.location, self.field, self.reason)
    }
}

/// Which source fields feed the attributes filters read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Field giving a stable numeric feature id (otherwise features are numbered 1, 2, …).
    #[serde(default)]
    pub id: Option<String>,
    /// Field giving the feature's title.
    #[serde(default)]
    pub title: Option<String>,
    /// Field giving its time (RFC 3339 or YYYY-MM-DD).
    #[serde(default)]
    pub time: Option<String>,
    /// Field giving its tags (comma-separated).
    #[serde(default)]
    pub tags: Option<String>,
    /// Field giving its severity (0–4).
    #[serde(default)]
    pub severity: Option<String>,
    /// Value maps: source field → (source value → vigie value), e.g. severity words to numbers.
    #[serde(default)]
    pub values: HashMap<String, HashMap<String, String>>,
}

/// A checked feature of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetFeature {
    /// Feature id.
    pub id: FeatureId,
    /// WGS84 geometry.
    pub geometry: Geometry<f64>,
    /// Values aligned with the dataset schema.
    pub props: Vec<Value>,
    /// Mapped time (epoch ms).
    pub time_ms: Option<i64>,
    /// Mapped severity.
    pub severity: Option<u8>,
    /// Mapped tags.
    pub tags: Vec<String>,
}

impl DatasetFeature {
    /// The indexed feature.
    ///
    /// # Errors
    /// [`GeometryError`] when the geometry cannot be projected.
    pub fn to_feature(&self, vocab: &ThemeVocabulary, interner: &mut Interner) -> Result<Feature, GeometryError> {
        let projected = project_geometry(&self.geometry)?;
        let attrs = Attrs {
            time_ms: self.time_ms.into(),
            severity: self.severity,
            themes: vocab.mask(&self.tags),
            tags: (!self.tags.is_empty()).then(|| interner.tags(&self.tags)),
            ..Attrs::default()
        };
        let props = self
            .props
            .iter()
            .map(|v| match v {
                Value::Text(s) if s.len() <= 32 => Value::Text(interner.get(s)),
                other => other.clone(),
            })
            .collect();
        Feature::projected(self.id, self.geometry.clone(), projected, attrs, props)
    }
}

/// A checked dataset, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Dataset id (the catalog layer's `dataset`).
    pub id: String,
    /// Fields of its features.
    pub schema: Schema,
    /// Features.
    pub features: Vec<DatasetFeature>,
}

/// Outcome of a rejected or partial import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Records read.
    pub read: usize,
    /// Records kept.
    pub kept: usize,
    /// Problems, the first [`MAX_LISTED_PROBLEMS`].
    pub problems: Vec<Problem>,
    /// Total number of problems (may exceed the list).
    pub problem_count: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} record(s) read, {} problem(s):", self.read, self.problem_count)?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        if self.problem_count > self.problems.len() {
            writeln!(f, "  … and {} more", self.problem_count - self.problems.len())?;
        }
        Ok(())
    }
}

/// Most vertices in one imported geometry.
pub const MAX_VERTICES: usize = 1_000_000;

/// Collects records into a dataset.
#[derive(Debug)]
pub struct DatasetBuilder {
    id: String,
    mapping: Mapping,
    fields: Vec<(String, Option<FieldType>)>,
    field_index: HashMap<String, usize>,
    /// Kept records, already in their final form (attributes filled in by `finish`): no second
    /// copy of the dataset at the end.
    rows: Vec<DatasetFeature>,
    ids: HashSet<FeatureId>,
    report: Report,
    progress: Option<Arc<std::sync::atomic::AtomicU64>>,
}

fn kind_of(v: &Value) -> Option<FieldType> {
    match v {
        Value::Null => None,
        Value::Bool(_) => Some(FieldType::Boolean),
        Value::Int(_) => Some(FieldType::Integer),
        Value::Float(_) => Some(FieldType::Number),
        Value::Text(_) => Some(FieldType::String),
        Value::Time(_) => Some(FieldType::Datetime),
    }
}

fn merge(a: Option<FieldType>, b: Option<FieldType>) -> Option<FieldType> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(x), Some(y)) if x == y => Some(x),
        (Some(FieldType::Integer | FieldType::Number), Some(FieldType::Integer | FieldType::Number)) => {
            Some(FieldType::Number)
        }
        _ => Some(FieldType::String),
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Text(s) => Some(s.to_string()),
        Value::Time(t) => Some(crate::feature::format_time_ms(*t)),
    }
}

fn coerce(v: Value, t: FieldType) -> Value {
    match (v, t) {
        (Value::Int(i), FieldType::Number) => Value::Float(i as f64),
        (v @ (Value::Null | Value::Text(_)), FieldType::String) => v,
        (v, FieldType::String) => as_text(&v).map_or(Value::Null, Value::text),
        (v, _) => v,
    }
}

impl DatasetBuilder {
    /// A builder for dataset `id` with a field mapping.
    pub fn new(id: &str, mapping: Mapping) -> Self {
        Self {
            id: id.to_owned(),
            mapping,
            fields: Vec::new(),
            field_index: HashMap::new(),
            rows: Vec::new(),
            ids: HashSet::new(),
            report: Report::default(),
            progress: None,
        }
    }

    /// Counts every record read into `counter` as it goes (for a progress display on another
    /// thread).
    #[must_use]
    pub fn with_progress(mut self, counter: Arc<std::sync::atomic::AtomicU64>) -> Self {
        self.progress = Some(counter);
        self
    }

    fn tick(&self) {
        if let Some(p) = &self.progress {
            p.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Records a problem found by a reader (unreadable record, bad coordinate).
    pub fn problem(&mut self, location: Location, field: &str, reason: impl Into<String>) {
        self.report.problem_count += 1;
        if self.report.problems.len() < MAX_LISTED_PROBLEMS {
            self.report.problems.push(Problem { location, field: field.to_owned(), reason: reason.into() });
        }
    }

    /// Counts a record a reader could not turn into a [`Record`] (its problem is recorded
    /// separately with [`Self::problem`]).
    pub fn skipped(&mut self) {
        self.report.read += 1;
        self.tick();
    }

    /// Adds a record read at `location`; checks its geometry and mapped id.
    pub fn push(&mut self, location: Location, record: Record) {
        let mut values = vec![Value::Null; self.fields.len()];
        for (name, v) in record.props {
            let i = self.field(&name);
            if i >= values.len() {
                values.resize(i + 1, Value::Null);
            }
            values[i] = v;
        }
        self.push_values(|| location, record.geometry, values);
    }

    /// The index of a field, registered on first use. Readers with a fixed header resolve
    /// their column names once, then give values by index ([`Self::push_values`]).
    pub fn field(&mut self, name: &str) -> usize {
        // A lookup first: the name is only copied for a new field, not on every record.
        if let Some(&i) = self.field_index.get(name) {
            return i;
        }
        self.fields.push((name.to_owned(), None));
        self.field_index.insert(name.to_owned(), self.fields.len() - 1);
        self.fields.len() - 1
    }

    /// Adds a record whose values are aligned with the field indices ([`Self::field`]; missing
    /// trailing values are null). The location is only built when the record has a problem.
    pub fn push_values(&mut self, location: impl FnOnce() -> Location, geometry: Geometry<f64>, values: Vec<Value>) {
        self.report.read += 1;
        self.tick();
        if let Err(reason) = check_geometry(&geometry) {
            self.problem(location(), "geometry", reason);
            return;
        }
        for (field, v) in self.fields.iter_mut().zip(&values) {
            field.1 = merge(field.1, kind_of(v));
        }
        // Without an id field, features are numbered in reading order: unique by construction.
        let Some(&i) = self.mapping.id.as_ref().and_then(|f| self.field_index.get(f)) else {
            self.rows.push(Self::row(self.report.read as u64, geometry, values));
            return;
        };
        let id = match values.get(i) {
            Some(Value::Int(n)) if *n > 0 => *n as u64,
            Some(Value::Text(s)) if s.parse::<u64>().is_ok_and(|n| n > 0) => s.parse().unwrap_or_default(),
            other => {
                let field = self.fields[i].0.clone();
                self.problem(location(), &field, format!("id field must be a positive integer, got {other:?}"));
                return;
            }
        };
        if !self.ids.insert(id) {
            let field = self.mapping.id.clone().unwrap_or_else(|| "id".into());
            self.problem(location(), &field, format!("id {id} appears twice"));
            return;
        }
        self.rows.push(Self::row(id, geometry, values));
    }

    fn row(id: FeatureId, geometry: Geometry<f64>, props: Vec<Value>) -> DatasetFeature {
        DatasetFeature { id, geometry, props, time_ms: None, severity: None, tags: Vec::new() }
    }

    /// Problems so far.
    pub fn problem_count(&self) -> usize {
        self.report.problem_count
    }

    /// Records read so far.
    pub fn read(&self) -> usize {
        self.report.read
    }

    /// The dataset, or the report when any record had a problem and `skip_invalid` is off.
    /// With `skip_invalid`, the valid records make the dataset and the report lists the rest.
    ///
    /// # Errors
    /// The report of problems (no record at all is also a problem).
    pub fn finish(mut self, skip_invalid: bool) -> Result<(Dataset, Report), Report> {
        if self.rows.is_empty() && self.report.problem_count == 0 {
            self.problem(Location { file: self.id.clone(), position: "whole file".into() }, "-", "no feature found");
        }
        if self.report.problem_count > 0 && (!skip_invalid || self.rows.is_empty()) {
            return Err(self.report);
        }
        let schema = Schema {
            fields: self.fields.iter().map(|(name, t)| Field::new(name, t.unwrap_or(FieldType::String), "")).collect(),
        };
        let types: Vec<FieldType> = schema.fields.iter().map(|f| f.kind).collect();
        let pos = |name: &Option<String>| name.as_ref().and_then(|n| schema.position(n));
        let (time_i, tags_i, sev_i) = (pos(&self.mapping.time), pos(&self.mapping.tags), pos(&self.mapping.severity));
        let mapped = |field: Option<usize>, v: &Value| -> Option<String> {
            let text = as_text(v)?;
            let name = &schema.fields[field?].name;
            Some(self.mapping.values.get(name).and_then(|m| m.get(&text)).cloned().unwrap_or(text))
        };
        let mut features = std::mem::take(&mut self.rows);
        for f in &mut features {
            f.props.resize(types.len(), Value::Null);
            for (v, t) in f.props.iter_mut().zip(&types) {
                if !v.is_null() {
                    *v = coerce(std::mem::replace(v, Value::Null), *t);
                }
            }
            let props = &f.props;
            f.time_ms = time_i.and_then(|i| match &props[i] {
                Value::Time(t) => Some(*t),
                v => mapped(Some(i), v).and_then(|s| parse_date(&s)),
            });
            f.severity = sev_i
                .and_then(|i| mapped(Some(i), &props[i]))
                .and_then(|s| s.trim().parse::<f64>().ok())
                .map(|s| s.clamp(0.0, 4.0) as u8);
            f.tags = tags_i
                .and_then(|i| mapped(Some(i), &props[i]))
                .map(|s| s.split(',').map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()).collect())
                .unwrap_or_default();
        }
        self.report.kept = features.len();
        Ok((Dataset { id: self.id.clone(), schema, features }, self.report))
    }
}

/// RFC 3339 date-time, or a calendar date (midnight UTC).
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    crate::feature::parse_time_ms(s).ok().or_else(|| {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(s, &fmt).ok().map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
    })
}

/// Why a geometry cannot be imported, in words a data owner understands.
///
/// # Errors
/// The reason.
pub fn check_geometry(g: &Geometry<f64>) -> Result<(), String> {
    use geo::CoordsIter;
    let n = g.coords_count();
    if n == 0 {
        return Err("empty geometry".into());
    }
    if n > MAX_VERTICES {
        return Err(format!("{n} vertices: at most {MAX_VERTICES} per feature"));
    }
    if let Some(c) = g.coords_iter().find(|c| {
        !(c.x.is_finite() && c.y.is_finite() && (-180.0..=180.0).contains(&c.x) && (-90.0..=90.0).contains(&c.y))
    }) {
        return Err(format!(
            "coordinate ({}, {}) is not a WGS84 longitude/latitude (is the file in another projection? give --crs)",
            c.x, c.y
        ));
    }
    if let Geometry::GeometryCollection(_) = g {
        return Err("geometry collections are not supported: split them into separate features".into());
    }
    let problem = match g {
        Geometry::Polygon(p) => crate::validity::polygon_problem(p),
        Geometry::MultiPolygon(mp) => crate::validity::problem(mp),
        _ => None,
    };
    if let Some(problem) = problem {
        return Err(format!("invalid polygon: {problem}"));
    }
    Ok(())
}

/// Shares one text allocation between equal strings while reading (categories, codes).
#[derive(Debug, Default)]
pub struct TextCache(HashMap<String, Text>);

impl TextCache {
    /// Most distinct strings kept; beyond, new strings are not shared.
    const LIMIT: usize = 100_000;

    /// A text value for `s`, shared with earlier equal strings.
    pub fn text(&mut self, s: &str) -> Value {
        if let Some(a) = self.0.get(s) {
            return Value::Text(a.clone());
        }
        let a = Text::from(s);
        if self.0.len() < Self::LIMIT {
            self.0.insert(s.to_owned(), a.clone());
        }
        Value::Text(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::point;

    fn loc(i: usize) -> Location {
        Location { file: "f.geojson".into(), position: format!("feature {i}") }
    }

    #[test]
    fn schema_is_inferred_and_values_coerced() {
        let mut b = DatasetBuilder::new("d", Mapping::default());
        b.push(
            loc(1),
            Record {
                geometry: point!(x: 2.0, y: 48.0).into(),
                props: vec![("code".into(), Value::text("2A")), ("n".into(), Value::Int(3))],
            },
        );
        b.push(
            loc(2),
            Record {
                geometry: point!(x: 2.1, y: 48.1).into(),
                props: vec![("code".into(), Value::Int(93)), ("n".into(), Value::Float(2.5))],
            },
        );
        let (d, report) = b.finish(false).unwrap();
        assert_eq!(report.kept, 2);
        assert_eq!(d.schema.fields[0].kind, FieldType::String);
        assert_eq!(d.schema.fields[1].kind, FieldType::Number);
        assert_eq!(d.features[1].props[0], Value::text("93"));
        assert_eq!(d.features[0].props[1], Value::Float(3.0));
        assert_eq!((d.features[0].id, d.features[1].id), (1, 2));
    }

    #[test]
    fn any_bad_record_rejects_the_whole_import_unless_skipped() {
        let mut b = DatasetBuilder::new("d", Mapping::default());
        b.push(loc(1), Record { geometry: point!(x: 2.0, y: 48.0).into(), props: vec![] });
        b.push(loc(2), Record { geometry: point!(x: 652_000.0, y: 6_862_000.0).into(), props: vec![] });
        let report = DatasetBuilder::finish(
            {
                let mut c = DatasetBuilder::new("d", Mapping::default());
                c.push(loc(1), Record { geometry: point!(x: 2.0, y: 48.0).into(), props: vec![] });
                c.push(loc(2), Record { geometry: point!(x: 652_000.0, y: 6_862_000.0).into(), props: vec![] });
                c
            },
            false,
        )
        .unwrap_err();
        assert_eq!(report.problem_count, 1);
        assert!(report.problems[0].to_string().contains("feature 2") && report.problems[0].reason.contains("--crs"));
        let (d, r) = b.finish(true).unwrap();
        assert_eq!((d.features.len(), r.problem_count), (1, 1));
    }

    #[test]
    fn mapping_feeds_filter_attributes() {
        let mapping = Mapping {
            time: Some("date".into()),
            severity: Some("niveau".into()),
            tags: Some("theme".into()),
            values: HashMap::from([("niveau".to_owned(), HashMap::from([("rouge".to_owned(), "4".to_owned())]))]),
            ..Mapping::default()
        };
        let mut b = DatasetBuilder::new("d", mapping);
        b.push(
            loc(1),
            Record {
                geometry: point!(x: 2.0, y: 48.0).into(),
                props: vec![
                    ("date".into(), Value::text("2024-07-26")),
                    ("niveau".into(), Value::text("rouge")),
                    ("theme".into(), Value::text("Crowd, VIP")),
                ],
            },
        );
        let (d, _) = b.finish(false).unwrap();
        let f = &d.features[0];
        assert_eq!(f.time_ms, Some(1_721_952_000_000));
        assert_eq!(f.severity, Some(4));
        assert_eq!(f.tags, ["crowd", "vip"]);
    }
}
