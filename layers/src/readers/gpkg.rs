//! OGC GeoPackage: a SQLite file read (read-only) with the SQLite the tree already builds. The
//! feature table is the only one in `gpkg_contents`, or the one named by
//! [`ReadOptions::layer`]; its geometry column comes from `gpkg_geometry_columns` and its CRS
//! from `gpkg_spatial_ref_sys` (organisation code, else the WKT definition). Rows are streamed
//! by a cursor; the integer primary key (the GeoPackage feature id) is not a property.

use super::{Crs, ReadError, ReadOptions};
use crate::dataset::{DatasetBuilder, Location, TextCache};
use crate::feature::Value;
use geozero::ToGeo;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Reads the feature table of a GeoPackage into `builder`.
///
/// # Errors
/// [`ReadError::Format`] when the file is not a GeoPackage, holds no feature table or several
/// (without a choice), or names a CRS that cannot be used.
pub fn read(path: &Path, options: &ReadOptions, builder: &mut DatasetBuilder) -> Result<(), ReadError> {
    let file = path.display().to_string();
    let fail = |reason: String| ReadError::format(&file, reason);
    let sql = |e: rusqlite::Error| ReadError::format(&file, format!("not a readable GeoPackage: {e}"));
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(sql)?;
    let tables: Vec<(String, Option<i64>)> = conn
        .prepare("SELECT table_name, srs_id FROM gpkg_contents WHERE data_type = 'features' ORDER BY table_name")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(sql)?;
    let names = || tables.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join(", ");
    let (table, srs_id) = match (&options.layer, tables.as_slice()) {
        (Some(want), _) => tables
            .iter()
            .find(|(t, _)| t == want)
            .cloned()
            .ok_or_else(|| fail(format!("no feature table '{want}' (tables: {})", names())))?,
        (None, [one]) => one.clone(),
        (None, []) => return Err(fail("no feature table in gpkg_contents".into())),
        (None, _) => {
            return Err(fail(format!("{} feature tables ({}): name the one to import (layer)", tables.len(), names())));
        }
    };
    let (column, column_srs): (String, Option<i64>) = conn
        .query_row("SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?1", [&table], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(|e| fail(format!("table '{table}' has no geometry column in gpkg_geometry_columns: {e}")))?;
    let crs = match &options.crs {
        Some(c) => c.clone(),
        None => srs(&conn, column_srs.or(srs_id).unwrap_or(4326)).map_err(fail)?,
    };
    // The integer primary key is the feature id, not a property.
    let pk: Option<String> = conn
        .prepare(&format!("PRAGMA table_info({})", quote(&table)))
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(5)?)))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(sql)?
        .into_iter()
        .find(|(_, kind, pk)| *pk == 1 && kind.eq_ignore_ascii_case("INTEGER"))
        .map(|(name, _, _)| name);
    let mut stmt = conn.prepare(&format!("SELECT * FROM {}", quote(&table))).map_err(sql)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let geom_i = columns
        .iter()
        .position(|c| c.eq_ignore_ascii_case(&column))
        .ok_or_else(|| fail(format!("table '{table}' has no column '{column}' (named in gpkg_geometry_columns)")))?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut cache = TextCache::default();
    let mut n = 0usize;
    let source = format!("{file}#{table}");
    loop {
        let row = match rows.next() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                n += 1;
                builder.skipped();
                builder.problem(loc(&source, n), "-", format!("unreadable row: {e}"));
                break;
            }
        };
        n += 1;
        let location = loc(&source, n);
        let geometry = match row.get_ref(geom_i) {
            Ok(ValueRef::Blob(blob)) => decode(blob),
            Ok(ValueRef::Null) => Err("missing geometry".to_owned()),
            Ok(_) => Err("the geometry column does not hold a GeoPackage geometry blob".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        let geometry = match geometry {
            Ok(g) => super::homogenise(g),
            Err(reason) => {
                builder.skipped();
                builder.problem(location, &column, reason);
                continue;
            }
        };
        let mut props = Vec::with_capacity(columns.len().saturating_sub(1));
        for (i, name) in columns.iter().enumerate() {
            if i == geom_i || pk.as_deref() == Some(name.as_str()) {
                continue;
            }
            let value = match row.get_ref(i) {
                Ok(ValueRef::Integer(v)) => Value::Int(v),
                Ok(ValueRef::Real(v)) => Value::Float(v),
                Ok(ValueRef::Text(t)) => cache.text(&String::from_utf8_lossy(t)),
                Ok(ValueRef::Null | ValueRef::Blob(_)) | Err(_) => Value::Null,
            };
            props.push((name.clone(), value));
        }
        super::push(builder, &crs, move || location, geometry, props);
    }
    Ok(())
}

fn loc(source: &str, n: usize) -> Location {
    Location { file: source.to_owned(), position: format!("feature {n}") }
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// The CRS of an `srs_id` of `gpkg_spatial_ref_sys`.
fn srs(conn: &Connection, srs_id: i64) -> Result<Crs, String> {
    // GeoPackage reserves 0 (undefined geographic) and -1 (undefined Cartesian).
    if srs_id == 0 || srs_id == 4326 {
        return Ok(Crs::wgs84());
    }
    if srs_id == -1 {
        return Err("the geometry column's CRS is undefined (srs_id -1): give the CRS explicitly".into());
    }
    let (org, code, definition): (String, i64, String) = conn
        .query_row(
            "SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?1",
            [srs_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(|e| format!("srs_id {srs_id} is not in gpkg_spatial_ref_sys: {e}"))?;
    if org.eq_ignore_ascii_case("EPSG") && code > 0 {
        return Crs::from_epsg(code as u32).map_err(|e| e.to_string());
    }
    Crs::from_wkt(&definition).map_err(|e| format!("srs_id {srs_id} ({org}:{code}): {e}"))
}

/// A GeoPackage geometry blob to a geometry, its counts checked against its length first: the
/// decoder reserves what a count says, so one damaged count aborted the process asking for
/// 67 GB (tests/e2e/mutations.rs). The WKB after the header is decoded as WKB, in its own byte
/// order: geozero's GeoPackage decoder reads the WKB's counts in the *header's* byte order
/// (flags bit 0), so a blob whose two orders differ (legal, and one bit flip away) read a
/// count of 1 as 16,777,216 rings and reserved 402 MB (the fuzzing bench, `benches/fuzz.sh`).
fn decode(blob: &[u8]) -> Result<geo::Geometry<f64>, String> {
    // The GeoPackage header: "GP", version, flags (bits 1-3: the envelope's kind), SRID.
    if blob.len() < 8 || &blob[..2] != b"GP" {
        return Err("not a GeoPackage geometry blob (no 'GP' header)".to_owned());
    }
    let envelope = match (blob[3] >> 1) & 0x07 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        other => return Err(format!("unknown envelope kind {other} in the geometry header")),
    };
    let wkb = blob.get(8 + envelope..).unwrap_or_default();
    super::wkb_fits(wkb)?;
    std::panic::catch_unwind(|| geozero::wkb::Wkb(wkb).to_geo().map_err(|e| e.to_string()))
        .unwrap_or_else(|_| Err("undecodable geometry (its counts and its data disagree)".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::decode;

    /// A blob whose header is big-endian (flags bit 0 clear) and whose WKB is little-endian:
    /// read in the WKB's own order, one ring of four points.
    #[test]
    fn the_wkb_is_read_in_its_own_byte_order_not_the_headers() {
        let mut blob = b"GP\x00\x00".to_vec();
        blob.extend_from_slice(&4326i32.to_be_bytes());
        blob.push(1);
        for word in [3u32, 1, 4] {
            blob.extend_from_slice(&word.to_le_bytes());
        }
        for (x, y) in [(2.0f64, 48.0f64), (3.0, 48.0), (3.0, 49.0), (2.0, 48.0)] {
            blob.extend_from_slice(&x.to_le_bytes());
            blob.extend_from_slice(&y.to_le_bytes());
        }
        let Ok(geo::Geometry::Polygon(p)) = decode(&blob) else { panic!("{:?}", decode(&blob)) };
        assert_eq!((p.exterior().0.len(), p.interiors().len()), (4, 0));
    }
}
