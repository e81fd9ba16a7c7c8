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
    g.to_wkb(CoordDimensions::xy()).map_err(|e| StoreError::Corrupt {
        what,
        id: id.to_owned(),
        reason: e.to_string(),
    })
}

/// Geometry from WKB.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the record when the bytes are not valid WKB.
pub fn from_wkb(bytes: Vec<u8>, what: &'static str, id: &str) -> Result<Geometry<f64>, StoreError> {
    Wkb(bytes).to_geo().map_err(|e| StoreError::Corrupt {
        what,
        id: id.to_owned(),
        reason: format!("geometry: {e}"),
    })
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
