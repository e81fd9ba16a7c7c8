//! Encoding of geometries and small JSON columns, shared by the store backends. geozero stays
//! behind this module (its sqlx integration is pinned to sqlx 0.8; see `../shared/deps.md`).

use super::{Attachment, DatasetInfo, Event, EventKind, StoreError};
use geo::Geometry;
use geozero::wkb::{Wkb, WkbDialect, WkbWriter};
use geozero::{CoordDimensions, GeozeroGeometry, ToGeo};
use serde::de::DeserializeOwned;
use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::query_builder::Separated;
use sqlx::{Encode, QueryBuilder, Type};
use std::borrow::Cow;
use vigie_layers::dataset::DatasetFeature;
use vigie_layers::feature::{Schema, UnknownQualification};
use vigie_layers::journal::Revision;
use vigie_layers::model::{AttachmentRef, Entry, Link, Perimeter};

/// WKB of a WGS84 geometry.
///
/// # Errors
/// [`StoreError::Corrupt`] when geozero cannot write it (unsupported geometry type).
pub fn to_wkb(g: &Geometry<f64>, what: &'static str, id: &str) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    write_wkb(g, &mut out, what, id)?;
    Ok(out)
}

/// Appends the WKB of a WGS84 geometry to `out`: the bytes of [`to_wkb`], without a new
/// buffer per geometry (bulk writes reuse one).
///
/// # Errors
/// [`StoreError::Corrupt`] when geozero cannot write it (unsupported geometry type).
pub fn write_wkb(
    g: &Geometry<f64>,
    out: &mut Vec<u8>,
    what: &'static str,
    id: impl std::fmt::Display,
) -> Result<(), StoreError> {
    write_geometry(g, out, WkbDialect::Wkb, None, what, id)
}

/// Appends the EWKB of a WGS84 geometry, SRID 4326 included: what PostGIS's binary input
/// takes for a `geometry(…, 4326)` column (a `COPY … (FORMAT binary)`).
///
/// # Errors
/// [`StoreError::Corrupt`] when geozero cannot write it (unsupported geometry type).
pub fn write_ewkb_4326(
    g: &Geometry<f64>,
    out: &mut Vec<u8>,
    what: &'static str,
    id: impl std::fmt::Display,
) -> Result<(), StoreError> {
    write_geometry(g, out, WkbDialect::Ewkb, Some(4326), what, id)
}

fn write_geometry(
    g: &Geometry<f64>,
    out: &mut Vec<u8>,
    dialect: WkbDialect,
    srid: Option<i32>,
    what: &'static str,
    id: impl std::fmt::Display,
) -> Result<(), StoreError> {
    let mut writer = WkbWriter::with_opts(out, dialect, CoordDimensions::xy(), srid, Vec::new());
    g.process_geom(&mut writer).map_err(|e| StoreError::Corrupt { what, id: id.to_string(), reason: e.to_string() })
}

/// A dataset's features in id order, as both stores write them (readers number features in
/// reading order, so they are usually sorted already: no copy then, else a sort of indices).
pub fn in_id_order(features: &[DatasetFeature]) -> impl ExactSizeIterator<Item = &DatasetFeature> {
    let order: Option<Vec<u32>> = (!features.is_sorted_by_key(|f| f.id)).then(|| {
        let mut order: Vec<u32> = (0..features.len() as u32).collect();
        order.sort_unstable_by_key(|&i| features[i as usize].id);
        order
    });
    (0..features.len()).map(move |i| order.as_ref().map_or(&features[i], |o| &features[o[i] as usize]))
}

/// Geometry from WKB.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the record when the bytes are not valid WKB.
pub fn from_wkb(bytes: &[u8], what: &'static str, id: &str) -> Result<Geometry<f64>, StoreError> {
    Wkb(bytes).to_geo().map_err(|e| StoreError::Corrupt { what, id: id.to_owned(), reason: format!("geometry: {e}") })
}

/// JSON text of a value stored in a text column.
pub fn to_json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// A value from a JSON text column.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the record when the text is not the expected JSON.
pub fn from_json<T: DeserializeOwned>(text: &str, what: &'static str, id: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what,
        id: id.to_owned(),
        reason: format!("json: {e}"),
    })
}

/// Appends the JSON array of property values (aligned with a schema) to `out`, with no
/// intermediate `serde_json::Value` per value.
pub fn write_props_json(values: &[vigie_layers::Value], out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and every value serializes.
    let _ = serde_json::to_writer(out, &PropsJson(values));
}

/// Appends the JSON text of `v` to `out` (the text of [`to_json`]).
pub fn write_json<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    if serde_json::to_writer(&mut *out, v).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// Property values as a JSON array: non-finite numbers as `null`, times as RFC 3339 text (empty
/// outside years 0000–9999).
struct PropsJson<'a>(&'a [vigie_layers::Value]);

impl Serialize for PropsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use vigie_layers::Value;
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            match v {
                Value::Bool(b) => seq.serialize_element(b)?,
                Value::Int(i) => seq.serialize_element(i)?,
                Value::Float(f) if f.is_finite() => seq.serialize_element(f)?,
                Value::Null | Value::Float(_) => seq.serialize_element(&())?,
                Value::Text(s) => seq.serialize_element(s.as_str())?,
                Value::Time(t) => {
                    let bytes = vigie_layers::feature::rfc3339_bytes(*t);
                    let text = bytes.as_ref().and_then(|b| std::str::from_utf8(b).ok()).unwrap_or_default();
                    seq.serialize_element(text)?;
                }
            }
        }
        seq.end()
    }
}

/// Property values from their JSON array, typed by the schema.
///
/// # Errors
/// [`StoreError::Corrupt`] when the text is not a JSON array.
pub fn props_from_json(
    text: &str,
    schema: &Schema,
    what: &'static str,
    id: &str,
) -> Result<Vec<vigie_layers::Value>, StoreError> {
    use vigie_layers::Value;
    use vigie_layers::feature::FieldType;
    let items: Vec<serde_json::Value> = from_json(text, what, id)?;
    Ok(schema
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| match (items.get(i).unwrap_or(&serde_json::Value::Null), f.kind) {
            (serde_json::Value::Null, _) => Value::Null,
            (serde_json::Value::Bool(b), _) => Value::Bool(*b),
            (serde_json::Value::Number(n), FieldType::Integer) => n.as_i64().map_or(Value::Null, Value::Int),
            (serde_json::Value::Number(n), _) => n.as_f64().map_or(Value::Null, Value::Float),
            (serde_json::Value::String(s), FieldType::Datetime) => {
                vigie_layers::feature::parse_time_ms(s).map_or_else(|_| Value::text(s), Value::Time)
            }
            (serde_json::Value::String(s), _) => Value::text(s),
            (other, _) => Value::text(other.to_string()),
        })
        .collect())
}

/// What the shared row decoders read: both stores' SQL names and casts its columns so that
/// they decode to these types — integers as 64-bit, times as epoch milliseconds, geometries
/// as WKB bytes, JSON as text, flags as booleans.
pub trait Columns {
    /// A 64-bit integer column.
    ///
    /// # Errors
    /// A missing or mistyped column.
    fn int(&self, col: &str) -> Result<i64, sqlx::Error>;
    /// A nullable 64-bit integer column.
    ///
    /// # Errors
    /// A missing or mistyped column.
    fn opt_int(&self, col: &str) -> Result<Option<i64>, sqlx::Error>;
    /// A text column.
    ///
    /// # Errors
    /// A missing or mistyped column.
    fn text(&self, col: &str) -> Result<&str, sqlx::Error>;
    /// A nullable text column.
    ///
    /// # Errors
    /// A missing or mistyped column.
    fn opt_text(&self, col: &str) -> Result<Option<&str>, sqlx::Error>;
    /// A bytes column.
    ///
    /// # Errors
    /// A missing or mistyped column.
    fn bytes(&self, col: &str) -> Result<&[u8], sqlx::Error>;
    /// A boolean column (an integer 0/1 in SQLite).
    ///
    /// # Errors
    /// A missing or mistyped column.
    fn flag(&self, col: &str) -> Result<bool, sqlx::Error>;
}

macro_rules! columns_of {
    ($row:ty) => {
        impl Columns for $row {
            fn int(&self, col: &str) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
            fn text(&self, col: &str) -> Result<&str, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
            fn opt_text(&self, col: &str) -> Result<Option<&str>, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
            fn bytes(&self, col: &str) -> Result<&[u8], sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
            fn flag(&self, col: &str) -> Result<bool, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
        }
    };
}

columns_of!(sqlx::postgres::PgRow);
columns_of!(sqlx::sqlite::SqliteRow);

/// An event from its row (`seq`, `kind`, `entry_id`, `version`, `actor`, `at`, `layers` and
/// `bbox` as JSON text).
///
/// # Errors
/// A database error for a missing or mistyped column; [`StoreError::Corrupt`] for an unknown
/// kind or unreadable JSON.
pub fn event_from_row(r: &impl Columns) -> Result<Event, StoreError> {
    let seq = r.int("seq")?;
    let sid = seq.to_string();
    let kind = r.text("kind")?;
    Ok(Event {
        seq: seq as u64,
        kind: EventKind::parse(kind).ok_or_else(|| StoreError::Corrupt {
            what: "event",
            id: sid.clone(),
            reason: format!("kind '{kind}'"),
        })?,
        entry_id: r.int("entry_id")? as u64,
        version: r.int("version")? as u32,
        actor: r.text("actor")?.to_owned(),
        at_ms: r.int("at")?,
        layers: from_json(r.text("layers")?, "event", &sid)?,
        bbox: r.opt_text("bbox")?.map(|b| from_json(b, "event", &sid)).transpose()?,
    })
}

/// A revision from its row (`version`, `action`, `actor`, `at`, `changes` as JSON text).
///
/// # Errors
/// A database error for a missing or mistyped column; [`StoreError::Corrupt`] for an unknown
/// action or unreadable JSON.
pub fn revision_from_row(r: &impl Columns) -> Result<Revision, StoreError> {
    let version = r.int("version")?;
    let sid = version.to_string();
    Ok(Revision {
        version: version as u32,
        action: r.text("action")?.parse().map_err(|reason| StoreError::Corrupt {
            what: "revision",
            id: sid.clone(),
            reason,
        })?,
        actor: r.text("actor")?.to_owned(),
        at_ms: r.int("at")?,
        changes: from_json(r.text("changes")?, "revision", &sid)?,
    })
}

/// An entry from its row (the `entries` columns, `geometry` as WKB).
///
/// # Errors
/// A database error for a missing or mistyped column; [`StoreError::Corrupt`] for an unknown
/// qualification, unreadable JSON or WKB.
pub fn entry_from_row(r: &impl Columns) -> Result<Entry, StoreError> {
    let id = r.int("id")?;
    let sid = id.to_string();
    Ok(Entry {
        id: id as u64,
        version: r.int("version")? as u32,
        title: r.text("title")?.to_owned(),
        body: r.text("body")?.to_owned(),
        tags: from_json(r.text("tags")?, "entry", &sid)?,
        severity: r.int("severity")? as u8,
        qualification: r.text("qualification")?.parse().map_err(|e: UnknownQualification| StoreError::Corrupt {
            what: "entry",
            id: sid.clone(),
            reason: e.to_string(),
        })?,
        occurred_at: r.int("occurred_at")?,
        reported_at: r.int("reported_at")?,
        recorded_at: r.int("recorded_at")?,
        author: r.text("author")?.to_owned(),
        source: r.text("source")?.to_owned(),
        location: r.opt_text("location")?.map(str::to_owned),
        links: from_json::<Vec<Link>>(r.text("links")?, "entry", &sid)?,
        attachments: from_json::<Vec<AttachmentRef>>(r.text("attachments")?, "entry", &sid)?,
        geometry: from_wkb(r.bytes("geometry")?, "entry", &sid)?,
        deleted: r.flag("deleted")?,
    })
}

/// What the store knows of a dataset, from its `datasets` row (`imported_at` in ms).
///
/// # Errors
/// A database error for a missing or mistyped column; [`StoreError::Corrupt`] for an
/// unreadable schema.
pub fn dataset_info_from_row(r: &impl Columns) -> Result<DatasetInfo, StoreError> {
    let id = r.text("id")?.to_owned();
    Ok(DatasetInfo {
        schema: Schema { fields: from_json(r.text("schema")?, "dataset", &id)? },
        version: r.int("version")? as u64,
        source: r.text("source")?.to_owned(),
        imported_at_ms: r.int("imported_at")?,
        feature_count: r.int("feature_count")? as usize,
        id,
    })
}

/// A workspace document from its row (`version`, `document`, `updated_at`, `updated_by`).
///
/// # Errors
/// A database error for a missing or mistyped column.
pub fn document_from_row(r: &impl Columns) -> Result<super::StoredDocument, StoreError> {
    Ok(super::StoredDocument {
        version: r.int("version")? as u64,
        document: r.text("document")?.to_owned(),
        updated_at_ms: r.int("updated_at")?,
        updated_by: r.text("updated_by")?.to_owned(),
    })
}

/// A dataset feature from its row (`geometry` as WKB, `props` and `tags` as JSON text, `time`
/// in ms), its properties read with the dataset's schema.
///
/// # Errors
/// A database error for a missing or mistyped column; [`StoreError::Corrupt`] for unreadable
/// JSON or WKB.
pub fn dataset_feature_from_row(r: &impl Columns, schema: &Schema) -> Result<DatasetFeature, StoreError> {
    let id = r.int("id")?;
    let sid = id.to_string();
    Ok(DatasetFeature {
        id: id as u64,
        geometry: from_wkb(r.bytes("geometry")?, "dataset feature", &sid)?,
        props: props_from_json(r.text("props")?, schema, "dataset feature", &sid)?,
        time_ms: r.opt_int("time")?,
        severity: r.opt_int("severity")?.map(|s| s.clamp(0, 4) as u8),
        tags: from_json(r.text("tags")?, "dataset feature", &sid)?,
    })
}

/// A stored photo from its row (`media_type`, `bytes`).
///
/// # Errors
/// A database error for a missing or mistyped column.
pub fn attachment_from_row(r: &impl Columns) -> Result<Attachment, StoreError> {
    Ok(Attachment { media_type: r.text("media_type")?.to_owned(), bytes: r.bytes("bytes")?.to_vec() })
}

/// A perimeter as its row stores it: the perimeter, its WKB, its activation windows as JSON
/// (`[[start_ms, end_ms], …]`).
pub type PerimeterRow<'a> = (&'a Perimeter, Vec<u8>, String);

/// Perimeters as their rows store them.
///
/// # Errors
/// [`StoreError::Corrupt`] for a geometry WKB cannot hold.
pub fn perimeter_rows(perimeters: &[Perimeter]) -> Result<Vec<PerimeterRow<'_>>, StoreError> {
    perimeters
        .iter()
        .map(|p| {
            let windows: Vec<(i64, i64)> = p.windows.iter().map(|w| (w.start, w.end)).collect();
            Ok((p, to_wkb(&p.geometry, "perimeter", &p.id.to_string())?, to_json(&windows)))
        })
        .collect()
}

/// The ways the two SQL dialects write the same value differently (everything else in the
/// rows below is bound alike).
pub trait Dialect: sqlx::Database + Sized {
    /// Binds a time given in epoch milliseconds as the dialect stores times.
    fn push_time(b: &mut Separated<'_, '_, Self, &'static str>, ms: i64);
    /// Binds JSON text (`None`: SQL NULL) as the dialect stores JSON.
    fn push_json(b: &mut Separated<'_, '_, Self, &'static str>, json: Option<String>);
}

impl Dialect for sqlx::Postgres {
    fn push_time(b: &mut Separated<'_, '_, Self, &'static str>, ms: i64) {
        b.push("to_timestamp(").push_bind_unseparated(ms as f64 / 1000.0).push_unseparated(")");
    }

    fn push_json(b: &mut Separated<'_, '_, Self, &'static str>, json: Option<String>) {
        b.push_bind(json).push_unseparated("::jsonb");
    }
}

impl Dialect for sqlx::Sqlite {
    fn push_time(b: &mut Separated<'_, '_, Self, &'static str>, ms: i64) {
        b.push_bind(ms);
    }

    fn push_json(b: &mut Separated<'_, '_, Self, &'static str>, json: Option<String>) {
        b.push_bind(json);
    }
}

/// The multi-row `INSERT` of numbered events, in either dialect.
pub fn insert_events<'args, DB>(workspace: &'args str, events: &'args [Event]) -> QueryBuilder<'args, DB>
where
    DB: Dialect,
    DB::Arguments<'args>: Default,
    i64: Encode<'args, DB> + Type<DB>,
    &'args str: Encode<'args, DB> + Type<DB>,
{
    let mut q =
        QueryBuilder::new("INSERT INTO events (workspace, seq, kind, entry_id, version, actor, at, layers, bbox) ");
    q.push_values(events, |mut b, e| {
        b.push_bind(workspace)
            .push_bind(e.seq as i64)
            .push_bind(e.kind.as_str())
            .push_bind(e.entry_id as i64)
            .push_bind(i64::from(e.version))
            .push_bind(e.actor.as_str());
        DB::push_time(&mut b, e.at_ms);
        DB::push_json(&mut b, Some(to_json(&e.layers)));
        DB::push_json(&mut b, e.bbox.map(|bbox| to_json(&bbox)));
    });
    q
}

/// The multi-row `INSERT` of revisions (entry id, revision), in either dialect.
pub fn insert_revisions<'args, DB>(
    workspace: &'args str,
    revisions: &'args [(u64, Revision)],
) -> QueryBuilder<'args, DB>
where
    DB: Dialect,
    DB::Arguments<'args>: Default,
    i64: Encode<'args, DB> + Type<DB>,
    &'args str: Encode<'args, DB> + Type<DB>,
{
    let mut q =
        QueryBuilder::new("INSERT INTO entry_revisions (workspace, entry_id, version, action, actor, at, changes) ");
    q.push_values(revisions, |mut b, (id, r)| {
        b.push_bind(workspace)
            .push_bind(*id as i64)
            .push_bind(i64::from(r.version))
            .push_bind(r.action.as_str())
            .push_bind(r.actor.as_str());
        DB::push_time(&mut b, r.at_ms);
        DB::push_json(&mut b, Some(to_json(&r.changes)));
    });
    q
}

/// The migrator of a store's embedded migrations (`(version, description, sql)`, append-only).
pub fn migrator(migrations: &[(i64, &'static str, &'static str)]) -> Migrator {
    let migrations: Vec<Migration> = migrations
        .iter()
        .map(|(v, d, sql)| Migration::new(*v, Cow::Borrowed(*d), MigrationType::Simple, Cow::Borrowed(*sql), false))
        .collect();
    Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT }
}

#[cfg(test)]
mod tests {
    use super::{props_from_json, to_wkb, write_json, write_props_json, write_wkb};
    use geo::{Geometry, line_string, point, polygon};
    use rstest::rstest;
    use vigie_layers::Value;
    use vigie_layers::feature::{Field, FieldType, Schema};

    /// The stored text of property values.
    fn props_to_json(values: &[Value]) -> String {
        let mut out = Vec::new();
        write_props_json(values, &mut out);
        String::from_utf8(out).unwrap()
    }

    /// The text `props_to_json` gave through `serde_json::Value` before it streamed: the
    /// reference the streaming writer must match byte for byte (PostgreSQL stores it too).
    fn through_value(values: &[Value]) -> String {
        let items: Vec<serde_json::Value> = values
            .iter()
            .map(|v| match v {
                Value::Null => serde_json::Value::Null,
                Value::Bool(b) => serde_json::Value::Bool(*b),
                Value::Int(i) => serde_json::Value::from(*i),
                Value::Float(f) => {
                    serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number)
                }
                Value::Text(s) => serde_json::Value::from(s.as_str()),
                Value::Time(t) => serde_json::Value::from(vigie_layers::feature::format_time_ms(*t)),
            })
            .collect();
        serde_json::Value::Array(items).to_string()
    }

    #[rstest]
    #[case::empty(vec![])]
    #[case::scalars(vec![Value::Null, Value::Bool(true), Value::Int(-42), Value::Int(i64::MAX), Value::Float(0.1)])]
    #[case::integral_and_tiny_floats(vec![Value::Float(3.0), Value::Float(-0.0), Value::Float(1e-300), Value::Float(2.5e20)])]
    #[case::non_finite(vec![Value::Float(f64::NAN), Value::Float(f64::INFINITY), Value::Float(f64::NEG_INFINITY)])]
    #[case::escapes(vec![Value::text("a \"quoted\" \\ back\nslash\t\u{1}"), Value::text("Évry — 01"), Value::text("")])]
    #[case::times(vec![Value::Time(1_721_952_000_000), Value::Time(0), Value::Time(-1), Value::Time(i64::MAX)])]
    fn props_json_is_the_text_of_serde_json_values(#[case] values: Vec<Value>) {
        let mut out = b"x".to_vec();
        write_props_json(&values, &mut out);
        assert_eq!(std::str::from_utf8(&out[1..]).unwrap(), through_value(&values), "appended after what was there");
        assert_eq!(props_to_json(&values), through_value(&values));
    }

    #[test]
    fn props_json_reads_back_typed_by_the_schema() {
        let schema = Schema {
            fields: vec![
                Field::new("code", FieldType::String, ""),
                Field::new("n", FieldType::Integer, ""),
                Field::new("x", FieldType::Number, ""),
                Field::new("t", FieldType::Datetime, ""),
                Field::new("b", FieldType::Boolean, ""),
            ],
        };
        let values =
            vec![Value::text("01"), Value::Int(7), Value::Float(2.5), Value::Time(1_721_952_000_000), Value::Null];
        assert_eq!(props_from_json(&props_to_json(&values), &schema, "t", "1").unwrap(), values);
    }

    #[test]
    fn json_is_appended_as_serde_json_writes_it() {
        let tags = vec!["crowd".to_owned(), "vip \"x\"".to_owned()];
        let mut out = Vec::new();
        write_json(&tags, &mut out);
        write_json(&Vec::<String>::new(), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), format!("{}[]", serde_json::to_string(&tags).unwrap()));
    }

    #[rstest]
    #[case::point(point!(x: 2.35, y: 48.85).into())]
    #[case::line(line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.5)].into())]
    #[case::polygon_with_hole(polygon!(
        exterior: [(x: 0.0, y: 0.0), (x: 4.0, y: 0.0), (x: 4.0, y: 4.0), (x: 0.0, y: 0.0)],
        interiors: [[(x: 1.0, y: 1.0), (x: 2.0, y: 1.0), (x: 2.0, y: 2.0), (x: 1.0, y: 1.0)]],
    ).into())]
    #[case::multi_polygon(Geometry::MultiPolygon(geo::MultiPolygon(vec![
        polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 0.0)],
        polygon![(x: 5.0, y: 5.0), (x: 6.0, y: 5.0), (x: 6.0, y: 6.0), (x: 5.0, y: 5.0)],
    ])))]
    fn appended_wkb_is_the_wkb_geozero_writes(#[case] g: Geometry<f64>) {
        use geozero::{CoordDimensions, ToWkb};
        let mut out = vec![9, 9];
        write_wkb(&g, &mut out, "t", 1).unwrap();
        write_wkb(&g, &mut out, "t", 2).unwrap();
        let one = g.to_wkb(CoordDimensions::xy()).unwrap();
        assert_eq!(out, [vec![9, 9], one.clone(), one.clone()].concat());
        assert_eq!(to_wkb(&g, "t", "1").unwrap(), one);
    }
}
