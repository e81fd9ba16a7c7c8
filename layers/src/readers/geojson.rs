//! GeoJSON FeatureCollections, read feature by feature (memory does not grow with the file).

use super::{ReadError, json_value};
use crate::dataset::{DatasetBuilder, Location, Record};
use geo::Geometry;
use std::io::Read;

/// Reads a FeatureCollection into `builder`. A feature that cannot be used is a problem naming
/// its number; a syntax error (a truncated file) is a problem too, and stops the read.
///
/// # Errors
/// [`ReadError::Io`] when the reader fails.
pub fn read(reader: impl Read, file: &str, builder: &mut DatasetBuilder) -> Result<(), ReadError> {
    let mut cache = crate::dataset::TextCache::default();
    let features = ::geojson::FeatureReader::from_reader(std::io::BufReader::with_capacity(1 << 16, reader)).features();
    for (i, item) in features.enumerate() {
        let location = Location { file: file.to_owned(), position: format!("feature {}", i + 1) };
        match item {
            Ok(f) => {
                let Some(g) = f.geometry else {
                    builder.skipped();
                    builder.problem(location, "geometry", "missing geometry");
                    continue;
                };
                let geometry = match Geometry::<f64>::try_from(g.value) {
                    Ok(g) => g,
                    Err(e) => {
                        builder.skipped();
                        builder.problem(location, "geometry", e.to_string());
                        continue;
                    }
                };
                let props = f
                    .properties
                    .unwrap_or_default()
                    .iter()
                    .map(|(k, v)| (k.clone(), json_value(v, &mut cache)))
                    .collect();
                builder.push(location, Record { geometry, props });
            }
            Err(::geojson::Error::Io(e)) => return Err(ReadError::Io { file: file.to_owned(), source: e }),
            Err(e) => {
                builder.skipped();
                builder.problem(location, "-", format!("unreadable GeoJSON: {e}"));
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Mapping;

    #[test]
    fn reads_features_and_reports_truncation() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","geometry":{"type":"Point","coordinates":[2.35,48.85]},"properties":{"code":"75","n":1}},
            {"type":"Feature","geometry":{"type":"Point","coordinates":[2.36,48.86]},"properties":{"code":"2A","n":2.5}}
        ]}"#;
        let mut b = DatasetBuilder::new("d", Mapping::default());
        read(text.as_bytes(), "ok.geojson", &mut b).unwrap();
        let (d, _) = b.finish(false).unwrap();
        assert_eq!(d.features.len(), 2);
        assert_eq!(d.features[1].props[0], crate::Value::text("2A"));

        let truncated = &text[..text.find("2.36").unwrap() + 3];
        let mut b = DatasetBuilder::new("d", Mapping::default());
        read(truncated.as_bytes(), "cut.geojson", &mut b).unwrap();
        let report = b.finish(false).unwrap_err();
        let msg = report.to_string();
        assert!(msg.contains("cut.geojson, feature 2") && msg.contains("unreadable GeoJSON"), "{msg}");
    }
}
