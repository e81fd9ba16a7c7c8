//! Readers: source files to [`Record`](crate::dataset::Record)s fed to a
//! [`DatasetBuilder`]. One module per format; each reports
//! problems with the file and the line, row or feature number, and streams: memory holds the
//! records read so far, never the raw file.
//!
//! | format | module | library |
//! |---|---|---|
//! | GeoJSON FeatureCollection, newline-delimited GeoJSON, GeoJSON text sequences | [`geojson`] | `serde_json` (streamed), `geojson` |
//! | CSV (lat/lon columns, a "lat, lon" column, or a WKT / GeoJSON column) | [`csv`] | `csv`, geozero WKT |
//! | FlatGeobuf | [`flatgeobuf`] | `flatgeobuf` |
//! | GeoPackage | [`gpkg`] | SQLite (`rusqlite`), geozero GeoPackage WKB |
//! | Shapefile (`.shp`, a folder, or a `.zip`) | [`shapefile`] | geozero `shp`, `dbase` |
//! | KML, KMZ | [`kml`] | `kml`, `zip` |
//!
//! Coordinates that are not WGS84 are reprojected ([`crs`]): the CRS comes from the file
//! (GeoJSON `crs` member, `.prj`, GeoPackage SRS, FlatGeobuf header) or from
//! [`ReadOptions::crs`], which wins.

pub mod crs;
pub mod csv;
pub mod flatgeobuf;
pub mod geojson;
pub mod gpkg;
pub mod kml;
pub mod shapefile;

use crate::dataset::{DatasetBuilder, TextCache};
use crate::feature::Value;
pub use crs::{Crs, CrsError};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// Why a file could not be read at all (as opposed to a bad record, which is a problem in the
/// import report).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file cannot be opened or read.
    #[error("{file}: {source}")]
    Io {
        /// File name.
        file: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The format is not recognised or not supported, or the file is unusable as a whole
    /// (missing `.dbf`, unknown CRS, no feature table…).
    #[error("{file}: {reason}")]
    Format {
        /// File name.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

impl ReadError {
    /// A [`ReadError::Format`].
    pub fn format(file: &str, reason: impl Into<String>) -> Self {
        Self::Format { file: file.to_owned(), reason: reason.into() }
    }

    /// A [`ReadError::Io`].
    pub fn io(file: &str, source: std::io::Error) -> Self {
        Self::Io { file: file.to_owned(), source }
    }
}

/// A supported source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// GeoJSON: a FeatureCollection, one Feature, or one Feature per line (GeoJSONSeq, NDJSON).
    #[serde(alias = "json", alias = "ndjson", alias = "geojsonseq", alias = "geojsonl")]
    GeoJson,
    /// Delimited text with coordinate columns or a WKT column.
    #[serde(alias = "tsv")]
    Csv,
    /// FlatGeobuf.
    #[serde(alias = "fgb")]
    FlatGeobuf,
    /// OGC GeoPackage.
    #[serde(alias = "geopackage")]
    Gpkg,
    /// ESRI Shapefile (`.shp` with `.dbf`, in a folder or a `.zip`).
    #[serde(alias = "shp")]
    Shapefile,
    /// KML.
    Kml,
    /// Zipped KML.
    Kmz,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Format {
    /// Every format.
    pub const ALL: [Self; 7] =
        [Self::GeoJson, Self::Csv, Self::FlatGeobuf, Self::Gpkg, Self::Shapefile, Self::Kml, Self::Kmz];

    /// The name used in sources files and `--format`.
    pub fn name(self) -> &'static str {
        match self {
            Self::GeoJson => "geojson",
            Self::Csv => "csv",
            Self::FlatGeobuf => "flatgeobuf",
            Self::Gpkg => "gpkg",
            Self::Shapefile => "shapefile",
            Self::Kml => "kml",
            Self::Kmz => "kmz",
        }
    }

    /// A format by name or alias (`geojson`, `ndjson`, `csv`, `fgb`, `gpkg`, `shp`, `kml`…).
    pub fn from_name(name: &str) -> Option<Self> {
        let n = name.trim().to_ascii_lowercase();
        Some(match n.as_str() {
            "geojson" | "json" | "ndjson" | "geojsonseq" | "geojsonl" | "geojsons" | "jsonl" => Self::GeoJson,
            "csv" | "tsv" | "txt" => Self::Csv,
            "flatgeobuf" | "fgb" => Self::FlatGeobuf,
            "gpkg" | "geopackage" => Self::Gpkg,
            "shapefile" | "shp" | "zip" => Self::Shapefile,
            "kml" => Self::Kml,
            "kmz" => Self::Kmz,
            _ => return None,
        })
    }

    /// The format of a file by its extension (`.zip` is a zipped Shapefile).
    pub fn from_path(path: &Path) -> Option<Self> {
        path.extension().and_then(|e| e.to_str()).and_then(Self::from_name)
    }

    /// The format of an HTTP body by its media type (parameters ignored).
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let mt = media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        Some(match mt.as_str() {
            "application/geo+json"
            | "application/json"
            | "application/geo+json-seq"
            | "application/x-ndjson"
            | "application/ndjson"
            | "application/vnd.geo+json" => Self::GeoJson,
            "text/csv" | "text/tab-separated-values" | "application/csv" => Self::Csv,
            "application/flatgeobuf" | "application/vnd.flatgeobuf" | "application/x-flatgeobuf" => Self::FlatGeobuf,
            "application/geopackage+sqlite3" | "application/x-sqlite3" | "application/vnd.sqlite3" => Self::Gpkg,
            "application/zip"
            | "application/x-zip-compressed"
            | "application/x-shapefile"
            | "application/x-esri-shape" => Self::Shapefile,
            "application/vnd.google-earth.kml+xml" | "application/kml+xml" => Self::Kml,
            "application/vnd.google-earth.kmz" => Self::Kmz,
            _ => return None,
        })
    }

    /// The file extension a file of this format is saved under (uploads are spooled to disk).
    pub fn extension(self) -> &'static str {
        match self {
            Self::GeoJson => "geojson",
            Self::Csv => "csv",
            Self::FlatGeobuf => "fgb",
            Self::Gpkg => "gpkg",
            Self::Shapefile => "zip",
            Self::Kml => "kml",
            Self::Kmz => "kmz",
        }
    }
}

/// Where a CSV file keeps its geometry, when the column names are not the usual ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// Latitude column.
    #[serde(default)]
    pub lat: Option<String>,
    /// Longitude column.
    #[serde(default)]
    pub lon: Option<String>,
    /// A column holding "lat, lon" text.
    #[serde(default)]
    pub point: Option<String>,
    /// A column holding WKT (or GeoJSON geometry) text.
    #[serde(default)]
    pub geometry: Option<String>,
    /// Field delimiter (one character); detected from the header line when absent.
    #[serde(default)]
    pub delimiter: Option<char>,
}

/// How to read a source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    /// The source's CRS, over what the file says (or when it says nothing).
    pub crs: Option<Crs>,
    /// CSV columns.
    pub csv: CsvOptions,
    /// GeoPackage feature table, when the file holds several.
    pub layer: Option<String>,
}

/// File extensions that belong to a Shapefile next to its `.shp` (never read on their own).
const SIDECARS: &[&str] = &["dbf", "shx", "prj", "cpg", "qix", "sbn", "sbx", "qmd", "xml", "fix", "aih", "ain"];

/// Reads a file or a folder (every supported file in it, in name order; a Shapefile is its
/// `.shp` with its sidecar files) into `builder`. `format` overrides the extension.
///
/// # Errors
/// [`ReadError`] when a file cannot be opened, its format is unknown, or it is unusable as a
/// whole; bad records are problems in the builder instead.
pub fn read_path(
    path: &Path,
    format: Option<Format>,
    options: &ReadOptions,
    builder: &mut DatasetBuilder,
) -> Result<(), ReadError> {
    let name = path.display().to_string();
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| ReadError::io(&name, e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .filter(|p| {
                let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
                !SIDECARS.contains(&ext.as_str()) && (format.is_some() || Format::from_path(p).is_some())
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(ReadError::format(
                &name,
                "no readable file in this folder (expected .shp with its .dbf, .geojson, .csv, .fgb, .gpkg, .kml…)",
            ));
        }
        for file in files {
            read_file(&file, format, options, builder)?;
        }
        return Ok(());
    }
    read_file(path, format, options, builder)
}

fn read_file(
    path: &Path,
    format: Option<Format>,
    options: &ReadOptions,
    builder: &mut DatasetBuilder,
) -> Result<(), ReadError> {
    let name = path.display().to_string();
    let format = format.or_else(|| Format::from_path(path)).ok_or_else(|| {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        ReadError::format(
            &name,
            format!(
                "unsupported file type '.{ext}': expected .geojson, .json, .ndjson, .csv, .fgb, .gpkg, .shp, .zip (Shapefile), .kml or .kmz, or give the format"
            ),
        )
    })?;
    let open = || std::fs::File::open(path).map_err(|e| ReadError::io(&name, e));
    match format {
        Format::GeoJson => geojson::read_with(open()?, &name, options, builder),
        Format::Csv => csv::read(open()?, &name, options, builder),
        Format::FlatGeobuf => flatgeobuf::read(open()?, &name, options, builder),
        Format::Gpkg => gpkg::read(path, options, builder),
        Format::Shapefile => shapefile::read(path, &name, options, builder),
        Format::Kml => kml::read(std::io::BufReader::new(open()?), &name, builder),
        Format::Kmz => kml::read_kmz(open()?, &name, builder),
    }
}

/// A property value from JSON: numbers stay numbers, nested values become JSON text.
pub fn json_value(v: &serde_json::Value, cache: &mut TextCache) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            n.as_i64().map_or_else(|| n.as_f64().map_or(Value::Null, Value::Float), Value::Int)
        }
        serde_json::Value::String(s) => cache.text(s),
        other => Value::text(other.to_string()),
    }
}

/// A property value from a geozero column (FlatGeobuf).
pub(crate) fn column_value(v: &geozero::ColumnValue<'_>, cache: &mut TextCache) -> Value {
    use geozero::ColumnValue as C;
    match *v {
        C::Byte(n) => Value::Int(n.into()),
        C::UByte(n) => Value::Int(n.into()),
        C::Bool(b) => Value::Bool(b),
        C::Short(n) => Value::Int(n.into()),
        C::UShort(n) => Value::Int(n.into()),
        C::Int(n) => Value::Int(n.into()),
        C::UInt(n) => Value::Int(n.into()),
        C::Long(n) => Value::Int(n),
        C::ULong(n) => i64::try_from(n).map_or(Value::Float(n as f64), Value::Int),
        C::Float(f) => Value::Float(f.into()),
        C::Double(f) => Value::Float(f),
        C::String(s) | C::Json(s) => cache.text(s),
        C::DateTime(s) => crate::dataset::parse_date(s).map_or_else(|| cache.text(s), Value::Time),
        C::Binary(_) => Value::Null,
    }
}

/// Collects the properties of one feature from a geozero source.
pub(crate) struct PropertySink<'a> {
    pub(crate) cache: &'a mut TextCache,
    pub(crate) props: Vec<(String, Value)>,
}

impl geozero::PropertyProcessor for PropertySink<'_> {
    fn property(&mut self, _i: usize, name: &str, value: &geozero::ColumnValue<'_>) -> geozero::error::Result<bool> {
        self.props.push((name.to_owned(), column_value(value, self.cache)));
        Ok(false)
    }
}

/// Multi-geometries made of one kind become that kind's multi form (KML `MultiGeometry`, WKT
/// `GEOMETRYCOLLECTION` of polygons); anything else stays as it is.
pub(crate) fn homogenise(g: geo::Geometry<f64>) -> geo::Geometry<f64> {
    use geo::Geometry as G;
    let G::GeometryCollection(gc) = g else { return g };
    let parts = gc.0;
    if let Some(polys) = gather(&parts, |p| match p {
        G::Polygon(p) => Some(vec![p.clone()]),
        G::MultiPolygon(mp) => Some(mp.0.clone()),
        _ => None,
    }) {
        return G::MultiPolygon(geo::MultiPolygon(polys));
    }
    if let Some(lines) = gather(&parts, |p| match p {
        G::LineString(l) => Some(vec![l.clone()]),
        G::MultiLineString(ml) => Some(ml.0.clone()),
        _ => None,
    }) {
        return G::MultiLineString(geo::MultiLineString(lines));
    }
    if let Some(points) = gather(&parts, |p| match p {
        G::Point(p) => Some(vec![*p]),
        G::MultiPoint(mp) => Some(mp.0.clone()),
        _ => None,
    }) {
        return G::MultiPoint(geo::MultiPoint(points));
    }
    if parts.len() == 1 {
        return parts.into_iter().next().map_or(G::GeometryCollection(geo::GeometryCollection(vec![])), homogenise);
    }
    G::GeometryCollection(geo::GeometryCollection(parts))
}

/// The members of every part, when every part is of the kind `members` takes; `None` for no
/// part or a part of another kind.
fn gather<T>(parts: &[geo::Geometry<f64>], members: impl Fn(&geo::Geometry<f64>) -> Option<Vec<T>>) -> Option<Vec<T>> {
    if parts.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for p in parts {
        out.extend(members(p)?);
    }
    Some(out)
}

/// Reprojects a geometry when the source is not WGS84 and hands it to the builder; a
/// coordinate that cannot be projected is a problem of the record. The location is only built
/// for a problem.
pub(crate) fn push(
    builder: &mut DatasetBuilder,
    crs: &Crs,
    location: impl FnOnce() -> crate::dataset::Location,
    geometry: geo::Geometry<f64>,
    props: Vec<(String, Value)>,
) {
    let mut values = Vec::with_capacity(props.len());
    for (name, v) in props {
        let i = builder.field(&name);
        if i >= values.len() {
            values.resize(i + 1, Value::Null);
        }
        values[i] = v;
    }
    push_values(builder, crs, location, geometry, values);
}

/// As [`push`], with values aligned to field indices and a location built only on a problem.
pub(crate) fn push_values(
    builder: &mut DatasetBuilder,
    crs: &Crs,
    location: impl FnOnce() -> crate::dataset::Location,
    mut geometry: geo::Geometry<f64>,
    values: Vec<Value>,
) {
    if let Err(reason) = crs.to_wgs84(&mut geometry) {
        builder.skipped();
        builder.problem(location(), "geometry", reason);
        return;
    }
    builder.push_values(location, geometry, values);
}

/// Checks that the counts of a WKB geometry (ISO or extended, with Z and M) fit in its bytes,
/// so that a damaged count is an error rather than a decoder reserving gigabytes for it.
/// Geometry kinds other than the seven simple features are left to the decoder.
///
/// # Errors
/// What does not fit, or where the bytes end.
pub fn wkb_fits(wkb: &[u8]) -> Result<(), String> {
    fn walk(b: &[u8], at: &mut usize, depth: usize) -> Result<(), String> {
        let truncated = || "the geometry ends early (truncated?)".to_owned();
        if depth > 32 {
            return Err("geometry collections nested more than 32 deep".to_owned());
        }
        let le = match b.get(*at).ok_or_else(truncated)? {
            0 => false,
            1 => true,
            other => return Err(format!("byte order {other} (0 or 1 expected)")),
        };
        *at += 1;
        let word = |at: &mut usize| -> Result<usize, String> {
            let s: [u8; 4] = b.get(*at..*at + 4).ok_or_else(truncated)?.try_into().unwrap_or_default();
            *at += 4;
            Ok((if le { u32::from_le_bytes(s) } else { u32::from_be_bytes(s) }) as usize)
        };
        let raw = word(at)?;
        if raw & 0x2000_0000 != 0 {
            word(at)?; // an extended WKB's SRID
        }
        let kind = raw & 0x0fff_ffff;
        let (z, m) = (
            raw & 0x8000_0000 != 0 || matches!(kind / 1000, 1 | 3),
            raw & 0x4000_0000 != 0 || matches!(kind / 1000, 2 | 3),
        );
        let point = 8 * (2 + usize::from(z) + usize::from(m));
        let count = |at: &mut usize, each: usize| -> Result<usize, String> {
            let n = word(at)?;
            let left = b.len().saturating_sub(*at);
            if n.saturating_mul(each) > left {
                return Err(format!("a count of {n} where {left} bytes are left (a damaged geometry?)"));
            }
            Ok(n)
        };
        match kind % 1000 {
            1 => *at += point,
            2 => *at += count(at, point)? * point,
            3 => {
                for _ in 0..count(at, 4)? {
                    *at += count(at, point)? * point;
                }
            }
            4..=7 => {
                for _ in 0..count(at, 5)? {
                    walk(b, at, depth + 1)?;
                }
            }
            _ => return Ok(()),
        }
        if *at > b.len() { Err(truncated()) } else { Ok(()) }
    }
    walk(wkb, &mut 0, 0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn wkb_counts_must_fit_their_bytes() {
        use super::wkb_fits;
        // A point, little-endian; a linestring of two points, big-endian.
        let mut point = vec![1u8, 1, 0, 0, 0];
        point.extend(2.35f64.to_le_bytes());
        point.extend(48.85f64.to_le_bytes());
        assert_eq!(wkb_fits(&point), Ok(()));
        let mut line = vec![0u8, 0, 0, 0, 2, 0, 0, 0, 2];
        line.extend([0u8; 32]);
        assert_eq!(wkb_fits(&line), Ok(()));
        // The same linestring saying it has 4 billion points, a polygon of 65,536 rings, a
        // collection of a million members: each refused before anything is reserved.
        line[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(wkb_fits(&line).unwrap_err().contains("a count of 4294967295"));
        let rings = [1u8, 3, 0, 0, 0, 0, 0, 1, 0];
        assert!(wkb_fits(&rings).is_err());
        let many = [1u8, 7, 0, 0, 0, 0x40, 0x42, 0x0f, 0];
        assert!(wkb_fits(&many).is_err());
        // Truncated, and a byte order that is neither.
        assert!(wkb_fits(&point[..12]).is_err());
        assert!(wkb_fits(&[7u8, 1, 0, 0, 0]).unwrap_err().contains("byte order 7"));
        // 3D (ISO 1001) takes 24 bytes a point.
        let mut z = vec![1u8, 0xe9, 0x03, 0, 0];
        z.extend([0u8; 16]);
        assert!(wkb_fits(&z).is_err(), "16 bytes are not a 3D point");
        z.extend([0u8; 8]);
        assert_eq!(wkb_fits(&z), Ok(()));
    }

    use super::*;

    #[test]
    fn formats_by_extension_name_and_media_type() {
        assert_eq!(Format::from_path(Path::new("a/b.GeoJSON")), Some(Format::GeoJson));
        assert_eq!(Format::from_path(Path::new("dep.zip")), Some(Format::Shapefile));
        assert_eq!(Format::from_path(Path::new("x.ndjson")), Some(Format::GeoJson));
        assert_eq!(Format::from_path(Path::new("x.xlsx")), None);
        assert_eq!(Format::from_media_type("text/csv; charset=utf-8"), Some(Format::Csv));
        assert_eq!(Format::from_media_type("application/geopackage+sqlite3"), Some(Format::Gpkg));
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.name()), Some(f));
            assert_eq!(Format::from_name(f.extension()), Some(f));
        }
    }

    #[test]
    fn unsupported_files_and_empty_folders_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = DatasetBuilder::new("d", crate::dataset::Mapping::default());
        let err = read_path(dir.path(), None, &ReadOptions::default(), &mut b).unwrap_err().to_string();
        assert!(err.contains("no readable file"), "{err}");
        let f = dir.path().join("x.xlsx");
        std::fs::write(&f, "x").unwrap();
        let err = read_path(&f, None, &ReadOptions::default(), &mut b).unwrap_err().to_string();
        assert!(err.contains("x.xlsx") && err.contains("unsupported file type '.xlsx'"), "{err}");
    }

    #[test]
    fn kml_multigeometries_become_multi_forms() {
        let p = |x: f64| {
            geo::Geometry::Polygon(geo::Polygon::new(
                geo::LineString::from(vec![(x, 0.0), (x + 1.0, 0.0), (x, 1.0), (x, 0.0)]),
                vec![],
            ))
        };
        let gc = geo::Geometry::GeometryCollection(geo::GeometryCollection(vec![p(0.0), p(2.0)]));
        assert!(matches!(homogenise(gc), geo::Geometry::MultiPolygon(mp) if mp.0.len() == 2));
        let gc = |parts: Vec<geo::Geometry<f64>>| geo::Geometry::GeometryCollection(geo::GeometryCollection(parts));
        let line = || geo::Geometry::LineString(geo::LineString::from(vec![(0.0, 0.0), (1.0, 1.0)]));
        let pts = || geo::Geometry::MultiPoint(geo::MultiPoint::from(vec![(0.0, 0.0), (1.0, 1.0)]));
        let lines = homogenise(gc(vec![line(), geo::Geometry::MultiLineString(geo::MultiLineString(vec![]))]));
        assert!(matches!(lines, geo::Geometry::MultiLineString(ml) if ml.0.len() == 1));
        let points = homogenise(gc(vec![pts(), geo::Geometry::Point(geo::Point::new(5.0, 5.0))]));
        assert!(matches!(points, geo::Geometry::MultiPoint(mp) if mp.0.len() == 3));
        assert!(matches!(homogenise(gc(vec![line()])), geo::Geometry::MultiLineString(_)));
        let mixed = homogenise(gc(vec![line(), pts()]));
        assert!(
            matches!(mixed, geo::Geometry::GeometryCollection(c) if c.0.len() == 2),
            "mixed kinds stay a collection"
        );
        assert!(matches!(homogenise(gc(vec![])), geo::Geometry::GeometryCollection(c) if c.0.is_empty()));
    }
}
