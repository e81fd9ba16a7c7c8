//! Delimited text (CSV, TSV, `;`-separated French exports), streamed row by row.
//!
//! - Delimiter: `;`, `,`, tab or `|`, detected on the header line (the most frequent one
//!   outside quotes) unless given.
//! - Encoding: UTF-8 (a byte order mark is dropped); a field that is not valid UTF-8 is read as
//!   Windows-1252, as spreadsheets export French text.
//! - Geometry, by the first of: columns named in [`CsvOptions`]; a latitude and a longitude
//!   column by their usual French and English names (`latitude`/`lat`/`y`,
//!   `longitude`/`lon`/`lng`/`long`/`x`); a "lat, lon" column (`point_geo`, `geo_point_2d`,
//!   `coordonnees`…); a WKT or GeoJSON column (`wkt`, `geometry`, `geom`, `geo_shape`…).
//! - Numbers in coordinates take a decimal point or a decimal comma (`48,8531`), mixed in one
//!   column if need be. Other columns become integers (without leading zeros, so `01` stays
//!   the text `01`), decimals (with a point) or text.
//!
//! Every problem names the line (as a text editor counts them, header = line 1) and the column.

use super::{CsvOptions, ReadError, ReadOptions};
use crate::dataset::{DatasetBuilder, Location, TextCache};
use crate::feature::Value;
use geo::{Geometry, Point};
use geozero::ToGeo;
use std::borrow::Cow;
use std::io::{BufRead, Read};

/// Column names read as latitude (after lower-casing and dropping accents).
const LAT_NAMES: &[&str] =
    &["latitude", "lat", "y", "lat_wgs84", "latitude_wgs84", "wgs84_lat", "coord_y", "coordonnee_y", "y_wgs84", "ylat"];
/// Column names read as longitude.
const LON_NAMES: &[&str] = &[
    "longitude",
    "lon",
    "lng",
    "long",
    "x",
    "lon_wgs84",
    "longitude_wgs84",
    "wgs84_lon",
    "coord_x",
    "coordonnee_x",
    "x_wgs84",
    "xlong",
];
/// Column names holding "lat, lon".
const POINT_NAMES: &[&str] = &[
    "point_geo",
    "geo_point_2d",
    "geo_point",
    "geopoint",
    "coordonnees",
    "coordonnees_gps",
    "coordinates",
    "coords",
    "latlon",
    "lat_lon",
    "geolocalisation",
    "position",
];
/// Column names holding WKT or GeoJSON geometry text.
const GEOMETRY_NAMES: &[&str] = &["wkt", "geometry", "geom", "the_geom", "geometrie", "geo_shape", "shape", "wkt_geom"];

/// Where the geometry of a row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    LatLon { lat: usize, lon: usize },
    Point(usize),
    Geometry(usize),
}

/// Reads delimited text into `builder`.
///
/// # Errors
/// [`ReadError::Io`] when the reader fails; [`ReadError::Format`] when the header is unreadable
/// or no column holds coordinates (the message lists the columns found).
pub fn read(
    reader: impl Read,
    file: &str,
    options: &ReadOptions,
    builder: &mut DatasetBuilder,
) -> Result<(), ReadError> {
    let mut input = std::io::BufReader::with_capacity(1 << 20, reader);
    let head = input.fill_buf().map_err(|e| ReadError::io(file, e))?;
    let bom = head.starts_with(&[0xEF, 0xBB, 0xBF]);
    let delimiter = match options.csv.delimiter {
        Some(c) if c.is_ascii() => c as u8,
        Some(c) => return Err(ReadError::format(file, format!("delimiter '{c}' must be one ASCII character"))),
        None => detect_delimiter(if bom { &head[3..] } else { head }),
    };
    if bom {
        input.consume(3);
    }
    let mut csv = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(true).from_reader(input);
    let headers: Vec<String> = csv
        .byte_headers()
        .map_err(|e| ReadError::format(file, format!("unreadable header line: {e}")))?
        .iter()
        .map(|h| text(h).trim().to_owned())
        .collect();
    let source = geometry_source(&headers, &options.csv).map_err(|reason| ReadError::format(file, reason))?;
    let crs = options.crs.clone().unwrap_or_default();
    let used: Vec<usize> = match source {
        Source::LatLon { lat, lon } => vec![lat, lon],
        Source::Point(i) | Source::Geometry(i) => vec![i],
    };
    let keep: Vec<usize> = (0..headers.len()).filter(|i| !used.contains(i)).collect();
    // Column names are resolved to the builder's field indices once, not on every row.
    let fields: Vec<usize> = keep.iter().map(|&i| builder.field(&headers[i])).collect();
    let width = fields.iter().max().map_or(0, |m| m + 1);
    let in_order = fields.iter().enumerate().all(|(j, &f)| f == j);
    let mut cache = TextCache::default();
    let mut record = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                builder.skipped();
                builder.problem(loc(file, line), "-", format!("unreadable CSV: {e}"));
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map_or(0, csv::Position::line);
        if record.len() != headers.len() {
            builder.skipped();
            builder.problem(
                loc(file, line),
                "-",
                format!(
                    "{} field(s) where the header has {}: check the delimiter and the quotes",
                    record.len(),
                    headers.len()
                ),
            );
            continue;
        }
        let geometry = match row_geometry(&record, &headers, source, crs.is_wgs84()) {
            Ok(g) => g,
            Err((field, reason)) => {
                builder.skipped();
                builder.problem(loc(file, line), &field, reason);
                continue;
            }
        };
        let values = if in_order {
            keep.iter().map(|&i| value(&record[i], &mut cache)).collect()
        } else {
            let mut v = vec![Value::Null; width];
            for (&i, &f) in keep.iter().zip(&fields) {
                v[f] = value(&record[i], &mut cache);
            }
            v
        };
        super::push_values(builder, &crs, || loc(file, line), geometry, values);
    }
    Ok(())
}

fn loc(file: &str, line: u64) -> Location {
    Location { file: file.to_owned(), position: format!("line {line}") }
}

/// UTF-8 text, or Windows-1252 when the bytes are not UTF-8.
fn text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0,
    }
}

/// The most frequent of `;`, `,`, tab and `|` outside quotes on the first line (`,` if none).
fn detect_delimiter(head: &[u8]) -> u8 {
    let mut counts = [0usize; 4];
    let candidates = [b';', b',', b'\t', b'|'];
    let mut quoted = false;
    for &b in head {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = candidates.iter().position(|&c| c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let (best, n) = counts.iter().enumerate().max_by_key(|&(i, n)| (*n, usize::MAX - i)).unwrap_or((1, &0));
    if *n == 0 { b',' } else { candidates[best] }
}

/// A column name folded for matching: lower case, French accents dropped, spaces and dashes as
/// underscores.
fn fold(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            'à' | 'â' | 'ä' | 'À' | 'Â' | 'Ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
            'î' | 'ï' | 'Î' | 'Ï' => 'i',
            'ô' | 'ö' | 'Ô' | 'Ö' => 'o',
            'ù' | 'û' | 'ü' | 'Ù' | 'Û' | 'Ü' => 'u',
            'ç' | 'Ç' => 'c',
            ' ' | '-' | '.' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn geometry_source(headers: &[String], options: &CsvOptions) -> Result<Source, String> {
    let folded: Vec<String> = headers.iter().map(|h| fold(h)).collect();
    let named = |name: &str| -> Result<usize, String> {
        headers
            .iter()
            .position(|h| h == name)
            .or_else(|| folded.iter().position(|h| *h == fold(name)))
            .ok_or_else(|| format!("no column '{name}' (columns: {})", headers.join(", ")))
    };
    if let Some(g) = &options.geometry {
        return Ok(Source::Geometry(named(g)?));
    }
    if let Some(p) = &options.point {
        return Ok(Source::Point(named(p)?));
    }
    match (&options.lat, &options.lon) {
        (Some(lat), Some(lon)) => return Ok(Source::LatLon { lat: named(lat)?, lon: named(lon)? }),
        (Some(_), None) | (None, Some(_)) => return Err("give both the latitude and the longitude column".into()),
        (None, None) => {}
    }
    let find = |names: &[&str]| names.iter().find_map(|n| folded.iter().position(|h| h == n));
    if let (Some(lat), Some(lon)) = (find(LAT_NAMES), find(LON_NAMES)) {
        return Ok(Source::LatLon { lat, lon });
    }
    if let Some(i) = find(POINT_NAMES) {
        return Ok(Source::Point(i));
    }
    if let Some(i) = find(GEOMETRY_NAMES) {
        return Ok(Source::Geometry(i));
    }
    Err(format!(
        "no coordinate columns among {}: expected latitude and longitude columns (latitude/lat/y, longitude/lon/lng/x), \
         a \"lat, lon\" column (point_geo, geo_point_2d, coordonnees) or a WKT column (wkt, geometry, geom); \
         or name them in the source's [csv] table",
        headers.join(", ")
    ))
}

/// A number with a decimal point or a decimal comma.
fn decimal(s: &str) -> Option<f64> {
    let s = s.trim();
    let normalised: Cow<'_, str> = if s.contains(',') && !s.contains('.') && s.matches(',').count() == 1 {
        Cow::Owned(s.replace(',', "."))
    } else {
        Cow::Borrowed(s)
    };
    let valid = !normalised.is_empty()
        && normalised.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    valid.then(|| normalised.parse::<f64>().ok()).flatten().filter(|v| v.is_finite())
}

type FieldError = (String, String);

fn coordinate(
    record: &csv::ByteRecord,
    headers: &[String],
    i: usize,
    range: f64,
    check: bool,
) -> Result<f64, FieldError> {
    let raw = text(&record[i]);
    let name = &headers[i];
    if raw.trim().is_empty() {
        return Err((name.clone(), "empty: every row needs coordinates".into()));
    }
    let v = decimal(&raw).ok_or_else(|| (name.clone(), format!("'{raw}' is not a number")))?;
    if check && v.abs() > range {
        return Err((
            name.clone(),
            format!(
                "{v} is out of range (-{range} to {range}): are latitude and longitude swapped, or the file in another CRS?"
            ),
        ));
    }
    Ok(v)
}

fn row_geometry(
    record: &csv::ByteRecord,
    headers: &[String],
    source: Source,
    wgs84: bool,
) -> Result<Geometry<f64>, FieldError> {
    match source {
        Source::LatLon { lat, lon } => {
            let y = coordinate(record, headers, lat, 90.0, wgs84)?;
            let x = coordinate(record, headers, lon, 180.0, wgs84)?;
            Ok(Point::new(x, y).into())
        }
        Source::Point(i) => {
            let raw = text(&record[i]);
            let name = &headers[i];
            let s = raw.trim();
            let commas: Vec<usize> = s.match_indices(',').map(|(p, _)| p).collect();
            let split = if let Some(p) = s.find(';') {
                Some(p)
            } else if let Some(p) = s.find(", ").filter(|_| commas.len() != 3) {
                Some(p)
            } else if commas.len() == 1 {
                Some(commas[0])
            } else if commas.len() == 3 {
                Some(commas[1]) // "48,85, 2,35": decimal commas
            } else {
                None
            };
            let parsed = split.and_then(|p| Some((decimal(&s[..p])?, decimal(&s[p + 1..])?)));
            let (y, x) = parsed.ok_or_else(|| (name.clone(), format!("'{s}' is not \"latitude, longitude\"")))?;
            if wgs84 && (y.abs() > 90.0 || x.abs() > 180.0) {
                return Err((
                    name.clone(),
                    format!("'{s}' is out of range: expected \"latitude, longitude\" in degrees"),
                ));
            }
            Ok(Point::new(x, y).into())
        }
        Source::Geometry(i) => {
            let raw = text(&record[i]);
            let name = &headers[i];
            let s = raw.trim();
            if s.is_empty() {
                return Err((name.clone(), "empty geometry".into()));
            }
            let parsed = if s.starts_with('{') {
                geozero::geojson::GeoJson(s).to_geo()
            } else {
                geozero::wkt::Wkt(s.as_bytes()).to_geo()
            };
            parsed.map(super::homogenise).map_err(|e| {
                let shown: String = s.chars().take(60).collect();
                (name.clone(), format!("'{shown}' is not WKT or GeoJSON geometry: {e}"))
            })
        }
    }
}

/// A property value: integer without leading zeros, decimal with a point, or text.
fn value(bytes: &[u8], cache: &mut TextCache) -> Value {
    let s = text(bytes);
    let t = s.trim();
    if t.is_empty() {
        return Value::Null;
    }
    let digits = t.strip_prefix('-').unwrap_or(t);
    let plain_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if plain_digits
        && (digits == "0" || !digits.starts_with('0'))
        && digits.len() <= 15
        && let Ok(i) = t.parse::<i64>()
    {
        return Value::Int(i);
    }
    if let Some((a, b)) = digits.split_once('.')
        && !a.is_empty()
        && !b.is_empty()
        && (a == "0" || !a.starts_with('0'))
        && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        && let Ok(f) = t.parse::<f64>()
    {
        return Value::Float(f);
    }
    cache.text(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Mapping;

    fn read_str(text: &str, options: &ReadOptions) -> DatasetBuilder {
        let mut b = DatasetBuilder::new("d", Mapping::default());
        read(text.as_bytes(), "t.csv", options, &mut b).unwrap();
        b
    }

    #[test]
    fn semicolons_and_decimal_commas_mixed() {
        let text = "\u{feff}code;nom;latitude;longitude\nAQC;Centre;48,923723;2,35578\nTAH;Teahupo'o;-17.86693;-149,25208\nX;\"a;b\";01;2\n";
        let (d, _) = read_str(text, &ReadOptions::default()).finish(false).unwrap();
        assert_eq!(d.features.len(), 3);
        let Geometry::Point(p) = &d.features[1].geometry else { panic!() };
        assert_eq!((p.x(), p.y()), (-149.252_08, -17.866_93));
        let names: Vec<&str> = d.schema.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["code", "nom"]);
        assert_eq!(d.features[2].props[1], Value::text("a;b"));
    }

    #[test]
    fn bad_coordinates_name_line_and_column() {
        let text = "id,lat,lon\n1,48.8,2.3\n2,48.8\n3,abc,2.3\n4,95,2.3\n5,,2\n";
        let report = read_str(text, &ReadOptions::default()).finish(false).unwrap_err();
        let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        assert_eq!(report.problem_count, 4, "{report}");
        assert!(lines[0].starts_with("t.csv, line 3: -: 2 field(s)"), "{lines:?}");
        assert!(lines[1].starts_with("t.csv, line 4: lat: 'abc' is not a number"), "{lines:?}");
        assert!(lines[2].contains("line 5: lat: 95 is out of range"), "{lines:?}");
        assert!(lines[3].contains("line 6: lat: empty"), "{lines:?}");
    }

    #[test]
    fn point_and_wkt_columns_and_given_names() {
        let text = "n\tgeo_point_2d\n1\t48.85, 2.35\n2\t48,85, 2,35\n3\t48,85;2,35\n";
        let (d, _) = read_str(text, &ReadOptions::default()).finish(false).unwrap();
        for f in &d.features {
            let Geometry::Point(p) = &f.geometry else { panic!() };
            assert_eq!((p.x(), p.y()), (2.35, 48.85));
        }
        let text = "name,wkt\na,\"POLYGON((2 48,3 48,3 49,2 48))\"\nb,\"{\"\"type\"\":\"\"Point\"\",\"\"coordinates\"\":[2,48]}\"\n";
        let (d, _) = read_str(text, &ReadOptions::default()).finish(false).unwrap();
        assert!(matches!(d.features[0].geometry, Geometry::Polygon(_)));
        assert!(matches!(d.features[1].geometry, Geometry::Point(_)));
        let options = ReadOptions {
            csv: CsvOptions { lat: Some("N".into()), lon: Some("E".into()), ..CsvOptions::default() },
            ..ReadOptions::default()
        };
        let (d, _) = read_str("N,E,v\n48,2,x\n", &options).finish(false).unwrap();
        assert_eq!(d.features.len(), 1);
        let mut b = DatasetBuilder::new("d", Mapping::default());
        let err = read("a,b\n1,2\n".as_bytes(), "t.csv", &ReadOptions::default(), &mut b).unwrap_err().to_string();
        assert!(err.contains("no coordinate columns among a, b"), "{err}");
    }

    #[test]
    fn lambert_93_columns_with_a_crs() {
        let options =
            ReadOptions { crs: Some(super::super::Crs::parse("EPSG:2154").unwrap()), ..ReadOptions::default() };
        let (d, _) = read_str("x;y\n652469,02;6862035,26\n", &options).finish(false).unwrap();
        let Geometry::Point(p) = &d.features[0].geometry else { panic!() };
        assert!((p.x() - 2.352_2).abs() < 1e-6 && (p.y() - 48.856_6).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn values_keep_codes_as_text_and_latin1_is_read() {
        let mut c = TextCache::default();
        assert_eq!(value(b"01", &mut c), Value::text("01"));
        assert_eq!(value(b"75", &mut c), Value::Int(75));
        assert_eq!(value(b"-3.5", &mut c), Value::Float(-3.5));
        assert_eq!(value(b"2A", &mut c), Value::text("2A"));
        assert_eq!(value(b"", &mut c), Value::Null);
        assert_eq!(value(b"Ard\xe8che", &mut c), Value::text("Ardèche"));
        assert_eq!(detect_delimiter(b"a;b;\"c,d,e\"\n1,2,3"), b';');
        assert_eq!(detect_delimiter(b"a\tb\n"), b'\t');
        assert_eq!(decimal("48,92"), Some(48.92));
        assert_eq!(decimal("NaN"), None);
        assert_eq!(decimal("1,234,5"), None);
    }
}
