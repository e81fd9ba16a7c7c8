//! Encoding of geometries and small JSON columns, shared by the store backends. geozero stays
//! behind this module (its sqlx integration is pinned to sqlx 0.8; see `../shared/deps.md`).

use super::StoreError;
use geo::Geometry;
use geozero::wkb::Wkb;
use geozero::{CoordDimensions, ToGeo, ToWkb};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// WKB of a WGS84 geometry.
///
/// # Errors
/// [`StoreError::Corrupt`] when geozero cannot write it (unsupported geometry type).
pub fn to_wkb(g: &Geometry<f64>, what: &'static str, id: &str) -> Result<Vec<u8>, StoreError> {
    g.to_wkb(CoordDimensions::xy()).map_err(|e| StoreError::Corrupt { what, id: id.to_owned(), reason: e.to_string() })
}

/// Geometry from WKB.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the record when the bytes are not valid WKB.
pub fn from_wkb(bytes: Vec<u8>, what: &'static str, id: &str) -> Result<Geometry<f64>, StoreError> {
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

/// JSON array of property values (aligned with a schema).
pub fn props_to_json(values: &[vigie_layers::Value]) -> String {
    use vigie_layers::Value;
    let items: Vec<serde_json::Value> = values
        .iter()
        .map(|v| match v {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Value::Text(s) => serde_json::Value::from(s.as_ref()),
            Value::Time(t) => serde_json::Value::from(vigie_layers::feature::format_time_ms(*t)),
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

/// Property values from their JSON array, typed by the schema.
///
/// # Errors
/// [`StoreError::Corrupt`] when the text is not a JSON array.
pub fn props_from_json(
    text: &str,
    schema: &vigie_layers::feature::Schema,
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
