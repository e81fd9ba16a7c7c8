//! FlatGeobuf, read feature by feature without seeking (the spatial index is skipped), so a
//! file or an HTTP body streams through. The CRS comes from the header (`EPSG` code or WKT).

use super::{Crs, PropertySink, ReadError, ReadOptions};
use crate::dataset::{DatasetBuilder, Location, TextCache};
use flatgeobuf::{FallibleStreamingIterator, FeatureProperties, FgbReader};
use geozero::ToGeo;
use std::io::Read;

/// Reads a FlatGeobuf file into `builder`.
///
/// # Errors
/// [`ReadError::Format`] when the header is not FlatGeobuf or names a CRS that cannot be used;
/// a feature that cannot be decoded is a problem, and the read stops there.
pub fn read(
    reader: impl Read,
    file: &str,
    options: &ReadOptions,
    builder: &mut DatasetBuilder,
) -> Result<(), ReadError> {
    let input = std::io::BufReader::with_capacity(1 << 16, reader);
    let fgb = FgbReader::open(input).map_err(|e| ReadError::format(file, format!("not a FlatGeobuf file: {e}")))?;
    let crs = match &options.crs {
        Some(c) => c.clone(),
        None => header_crs(&fgb).map_err(|e| ReadError::format(file, e))?,
    };
    let mut features = fgb.select_all_seq().map_err(|e| ReadError::format(file, e.to_string()))?;
    let mut cache = TextCache::default();
    let mut n = 0usize;
    loop {
        n += 1;
        let location = Location { file: file.to_owned(), position: format!("feature {n}") };
        let feature = match features.next() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                builder.skipped();
                builder.problem(location, "-", format!("unreadable FlatGeobuf feature (truncated file?): {e}"));
                break;
            }
        };
        let geometry = match feature.to_geo() {
            Ok(g) => super::homogenise(g),
            Err(e) => {
                builder.skipped();
                builder.problem(location, "geometry", e.to_string());
                continue;
            }
        };
        let mut sink = PropertySink { cache: &mut cache, props: Vec::new() };
        if let Err(e) = feature.process_properties(&mut sink) {
            builder.skipped();
            builder.problem(location, "properties", e.to_string());
            continue;
        }
        let props = sink.props;
        super::push(builder, &crs, move || location, geometry, props);
    }
    Ok(())
}

fn header_crs<R: Read>(fgb: &FgbReader<R>) -> Result<Crs, String> {
    let header = fgb.header();
    let Some(crs) = header.crs() else { return Ok(Crs::wgs84()) };
    let org = crs.org().unwrap_or("EPSG");
    if crs.code() > 0 && org.eq_ignore_ascii_case("EPSG") {
        return Crs::from_epsg(crs.code() as u32).map_err(|e| e.to_string());
    }
    if let Some(wkt) = crs.wkt().filter(|w| !w.trim().is_empty()) {
        return Crs::from_wkt(wkt).map_err(|e| e.to_string());
    }
    if crs.code() == 0 && crs.code_string().is_none() {
        return Ok(Crs::wgs84());
    }
    Err(format!("the header's CRS ({org}:{}) is not supported: give the CRS explicitly", crs.code()))
}
