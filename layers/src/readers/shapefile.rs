//! ESRI Shapefile: a `.shp` with its `.dbf` (required), `.prj` (CRS; WGS84 when absent) and
//! `.cpg` (text encoding), given as the `.shp`, as a folder, or as a `.zip` (extracted to a
//! temporary folder, member names stripped of any path). Shapes and records are read in
//! step, one at a time.
//!
//! Text encoding of the `.dbf`: the `.cpg` when there is one; else the language driver byte of
//! the `.dbf` header (0x57, "ANSI", as GDAL writes by default, is Windows-1252); else UTF-8 when
//! the records are valid UTF-8, Windows-1252 otherwise.

use super::{Crs, ReadError, ReadOptions};
use crate::dataset::{DatasetBuilder, Location, TextCache};
use crate::feature::Value;
use shapefile::dbase::{self, FieldValue};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Largest total size extracted from one `.zip` (a guard against zip bombs).
pub const MAX_UNZIPPED_BYTES: u64 = 8 * 1024 * 1024 * 1024;

/// Reads a Shapefile (`.shp`) or a zip of Shapefiles into `builder`.
///
/// # Errors
/// [`ReadError::Format`] when the `.dbf` is missing, the `.prj` names an unusable CRS, the zip
/// holds no `.shp`, or the files are not a Shapefile; [`ReadError::Io`] on read failures.
pub fn read(path: &Path, name: &str, options: &ReadOptions, builder: &mut DatasetBuilder) -> Result<(), ReadError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext == "zip" {
        return read_zip(path, name, options, builder);
    }
    read_shp(path, name, options, builder)
}

fn read_zip(path: &Path, name: &str, options: &ReadOptions, builder: &mut DatasetBuilder) -> Result<(), ReadError> {
    let file = File::open(path).map_err(|e| ReadError::io(name, e))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| ReadError::format(name, format!("not a readable zip archive: {e}")))?;
    let dir = tempfile::tempdir().map_err(|e| ReadError::io(name, e))?;
    let mut shps = Vec::new();
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| ReadError::format(name, format!("zip entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let entry_name = entry.name().map_err(|e| ReadError::format(name, format!("zip entry {i}: {e}")))?.into_owned();
        // Only the last path component: no entry can write outside the temporary folder.
        let Some(member) = Path::new(&entry_name).file_name().map(|f| f.to_string_lossy().into_owned()) else {
            continue;
        };
        let member_ext = Path::new(&member).extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        if !["shp", "shx", "dbf", "prj", "cpg"].contains(&member_ext.as_str()) || member.starts_with("._") {
            continue;
        }
        total += entry.size();
        if total > MAX_UNZIPPED_BYTES {
            return Err(ReadError::format(name, "the archive unpacks to more than 8 GiB"));
        }
        let target = dir.path().join(&member);
        let mut out = File::create(&target).map_err(|e| ReadError::io(name, e))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| ReadError::io(name, e))?;
        if member_ext == "shp" {
            shps.push((target, format!("{name}/{entry_name}")));
        }
    }
    if shps.is_empty() {
        return Err(ReadError::format(name, "the zip holds no .shp file"));
    }
    shps.sort();
    for (shp, display) in shps {
        read_shp(&shp, &display, options, builder)?;
    }
    Ok(())
}

/// The file beside `shp` with the same stem and extension `ext` (any case).
fn sidecar(shp: &Path, ext: &str) -> Option<PathBuf> {
    let stem = shp.file_stem()?.to_str()?;
    let dir = shp.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::read_dir(dir).ok()?.filter_map(Result::ok).map(|e| e.path()).find(|p| {
        p.file_stem().and_then(|s| s.to_str()) == Some(stem)
            && p.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case(ext))
    })
}

fn read_shp(shp: &Path, name: &str, options: &ReadOptions, builder: &mut DatasetBuilder) -> Result<(), ReadError> {
    let stem = shp.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_owned();
    let dbf = sidecar(shp, "dbf").ok_or_else(|| {
        ReadError::format(
            name,
            format!(
                "{stem}.dbf is missing: a Shapefile needs its .dbf (the attributes) beside the .shp, with the same name"
            ),
        )
    })?;
    let crs = match &options.crs {
        Some(c) => c.clone(),
        None => match sidecar(shp, "prj") {
            Some(prj) => {
                let wkt = std::fs::read_to_string(&prj).map_err(|e| ReadError::io(name, e))?;
                Crs::from_wkt(&wkt).map_err(|e| ReadError::format(name, format!("{stem}.prj: {e}")))?
            }
            None => Crs::wgs84(),
        },
    };
    let encoding = dbf_encoding(shp, &dbf).map_err(|e| ReadError::io(name, e))?;
    let dbf_source = BufReader::new(File::open(&dbf).map_err(|e| ReadError::io(name, e))?);
    let dbase_reader = dbase::ReaderBuilder::new()
        .with_encoding(dbase::encoding::EncodingRs::from(encoding))
        .build(dbf_source)
        .map_err(|e| ReadError::format(name, format!("{stem}.dbf: {e}")))?;
    let fields: Vec<String> =
        dbase_reader.fields().iter().map(|f| f.name().to_owned()).filter(|n| n != "DeletionFlag").collect();
    let shp_source = BufReader::with_capacity(1 << 16, File::open(shp).map_err(|e| ReadError::io(name, e))?);
    let shape_reader = shapefile::ShapeReader::new(shp_source)
        .map_err(|e| ReadError::format(name, format!("not a Shapefile: {e}")))?;
    let mut reader = shapefile::Reader::new(shape_reader, dbase_reader);
    let mut cache = TextCache::default();
    for (i, item) in reader.iter_shapes_and_records().enumerate() {
        let location = Location { file: name.to_owned(), position: format!("record {}", i + 1) };
        let (shape, mut record) = match item {
            Ok(pair) => pair,
            Err(e) => {
                builder.skipped();
                builder.problem(location, "-", format!("unreadable record (truncated .shp or .dbf?): {e}"));
                break;
            }
        };
        let geometry = match shape {
            shapefile::Shape::NullShape => Err("missing geometry (null shape)".to_owned()),
            s => geo::Geometry::<f64>::try_from(s).map_err(|e| e.to_string()),
        };
        let geometry = match geometry {
            Ok(g) => g,
            Err(reason) => {
                builder.skipped();
                builder.problem(location, "geometry", reason);
                continue;
            }
        };
        let props = fields
            .iter()
            .map(|f| (f.clone(), record.remove(f).map_or(Value::Null, |v| field_value(v, &mut cache))))
            .collect();
        super::push(builder, &crs, move || location, geometry, props);
    }
    Ok(())
}

/// The text encoding of a `.dbf`.
fn dbf_encoding(shp: &Path, dbf: &Path) -> std::io::Result<&'static encoding_rs::Encoding> {
    if let Some(cpg) = sidecar(shp, "cpg") {
        let label = std::fs::read_to_string(cpg)?;
        if let Some(e) = cpg_encoding(&label) {
            return Ok(e);
        }
    }
    let mut file = File::open(dbf)?;
    let mut header = [0u8; 32];
    file.read_exact(&mut header)?;
    match header[29] {
        // ESRI "ANSI" language drivers (GDAL's default) and the DOS/Windows Western ones.
        0x57 | 0x58 | 0x59 | 0x03 => return Ok(encoding_rs::WINDOWS_1252),
        0xC8 => return Ok(encoding_rs::WINDOWS_1250),
        0xC9 => return Ok(encoding_rs::WINDOWS_1251),
        0xF0 => return Ok(encoding_rs::UTF_8),
        _ => {}
    }
    // Undeclared: UTF-8 if the first megabyte of records is UTF-8.
    let data_start = u64::from(u16::from_le_bytes([header[8], header[9]]));
    file.seek(SeekFrom::Start(data_start))?;
    let mut sample = Vec::with_capacity(1 << 20);
    file.take(1 << 20).read_to_end(&mut sample)?;
    Ok(match std::str::from_utf8(&sample) {
        Ok(_) => encoding_rs::UTF_8,
        Err(e) if e.error_len().is_none() => encoding_rs::UTF_8, // cut inside the last character
        Err(_) => encoding_rs::WINDOWS_1252,
    })
}

/// The encoding a `.cpg` names: `UTF-8`, `1252`, `ISO-8859-1`, `ANSI 1252`, `88591`…
fn cpg_encoding(label: &str) -> Option<&'static encoding_rs::Encoding> {
    let l = label.trim().trim_start_matches('\u{feff}').trim();
    let digits: String = l.chars().filter(char::is_ascii_digit).collect();
    let named = match digits.as_str() {
        "65001" => Some(encoding_rs::UTF_8),
        d if d.len() == 4 && d.starts_with("125") => {
            encoding_rs::Encoding::for_label(format!("windows-{d}").as_bytes())
        }
        d if d.len() == 5 && d.starts_with("8859") => {
            encoding_rs::Encoding::for_label(format!("iso-8859-{}", &d[4..]).as_bytes())
        }
        "28591" => Some(encoding_rs::WINDOWS_1252),
        _ => None,
    };
    named.or_else(|| encoding_rs::Encoding::for_label(l.as_bytes()))
}

fn field_value(v: FieldValue, cache: &mut TextCache) -> Value {
    match v {
        FieldValue::Character(Some(s)) | FieldValue::Memo(s) => {
            let t = s.trim_end();
            if t.is_empty() { Value::Null } else { cache.text(t) }
        }
        FieldValue::Numeric(Some(f)) | FieldValue::Double(f) | FieldValue::Currency(f) => {
            if f.fract() == 0.0 && f.abs() < 9.0e15 { Value::Int(f as i64) } else { Value::Float(f) }
        }
        FieldValue::Float(Some(f)) => Value::Float(f.into()),
        FieldValue::Integer(i) => Value::Int(i.into()),
        FieldValue::Logical(Some(b)) => Value::Bool(b),
        FieldValue::Date(Some(d)) => {
            crate::dataset::parse_date(&format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()))
                .map_or(Value::Null, Value::Time)
        }
        FieldValue::DateTime(dt) => {
            let d = dt.date();
            let t = dt.time();
            crate::dataset::parse_date(&format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                d.year(),
                d.month(),
                d.day(),
                t.hours(),
                t.minutes(),
                t.seconds()
            ))
            .map_or(Value::Null, Value::Time)
        }
        FieldValue::Character(None)
        | FieldValue::Numeric(None)
        | FieldValue::Float(None)
        | FieldValue::Logical(None)
        | FieldValue::Date(None) => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpg_labels() {
        assert_eq!(cpg_encoding("UTF-8\n"), Some(encoding_rs::UTF_8));
        assert_eq!(cpg_encoding("1252"), Some(encoding_rs::WINDOWS_1252));
        assert_eq!(cpg_encoding("ANSI 1251"), Some(encoding_rs::WINDOWS_1251));
        assert_eq!(cpg_encoding("ISO-8859-1"), Some(encoding_rs::WINDOWS_1252));
        assert_eq!(cpg_encoding("88591"), Some(encoding_rs::WINDOWS_1252));
        assert_eq!(cpg_encoding("ISO88595").map(encoding_rs::Encoding::name), Some("ISO-8859-5"));
    }

    #[test]
    fn a_missing_dbf_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let shp = dir.path().join("dep.shp");
        std::fs::write(&shp, [0u8; 100]).unwrap();
        let mut b = DatasetBuilder::new("d", crate::dataset::Mapping::default());
        let err = read(&shp, "dep.shp", &ReadOptions::default(), &mut b).unwrap_err().to_string();
        assert!(err.starts_with("dep.shp: dep.dbf is missing"), "{err}");
    }
}
