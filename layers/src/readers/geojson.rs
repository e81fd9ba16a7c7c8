//! GeoJSON, streamed feature by feature (memory does not grow with the file): a
//! FeatureCollection (its `crs` member is honoured, e.g. `urn:ogc:def:crs:EPSG::2154` as GDAL
//! writes it), a single Feature or geometry, or a sequence of Features (newline-delimited
//! GeoJSON, RFC 8142 GeoJSON text sequences).
//!
//! The top-level object is walked with a serde visitor: members other than `features` are
//! small and read whole, `features` is visited element by element and each element goes to the
//! builder as soon as it is parsed. A syntax error (a truncated file) is a problem naming the
//! feature number and the line and column where the text stops making sense.

use super::{Crs, ReadError, ReadOptions, homogenise, json_value};
use crate::dataset::{DatasetBuilder, Location, TextCache};
use geo::Geometry;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};
use std::fmt;
use std::io::Read;

/// Reads GeoJSON into `builder` (WGS84 unless the file has a `crs` member).
///
/// # Errors
/// [`ReadError::Io`] when the reader fails.
pub fn read(reader: impl Read, file: &str, builder: &mut DatasetBuilder) -> Result<(), ReadError> {
    read_with(reader, file, &ReadOptions::default(), builder)
}

/// Reads GeoJSON into `builder`; `options.crs`, when given, overrides the file's `crs` member.
///
/// # Errors
/// [`ReadError::Io`] when the reader fails, [`ReadError::Format`] when the `crs` member names
/// a CRS that cannot be used.
pub fn read_with(
    reader: impl Read,
    file: &str,
    options: &ReadOptions,
    builder: &mut DatasetBuilder,
) -> Result<(), ReadError> {
    let input = std::io::BufReader::with_capacity(1 << 16, Sanitize { inner: reader, started: false });
    let mut de = serde_json::Deserializer::from_reader(input);
    let mut ctx = Ctx {
        file,
        builder,
        cache: TextCache::default(),
        crs: options.crs.clone().unwrap_or_default(),
        crs_given: options.crs.is_some(),
        count: 0,
        fatal: None,
    };
    let top = Top { ctx: &mut ctx }.deserialize(&mut de);
    match top {
        Ok(Kind::Collection) => {
            if let Err(e) = de.end() {
                ctx.syntax(&e, "after the FeatureCollection");
            }
        }
        Ok(Kind::Single(obj)) => {
            ctx.feature(Json::Object(obj));
            for item in de.into_iter::<Json>() {
                match item {
                    Ok(v) => ctx.feature(v),
                    Err(e) if e.is_io() => return Err(io_error(file, e)),
                    Err(e) => {
                        ctx.syntax(&e, "");
                        break;
                    }
                }
            }
        }
        Ok(Kind::Empty) => {}
        Err(e) if e.is_io() => return Err(io_error(file, e)),
        Err(e) => {
            if let Some(fatal) = ctx.fatal.take() {
                return Err(fatal);
            }
            ctx.syntax(&e, "");
        }
    }
    match ctx.fatal.take() {
        Some(fatal) => Err(fatal),
        None => Ok(()),
    }
}

fn io_error(file: &str, e: serde_json::Error) -> ReadError {
    ReadError::io(file, std::io::Error::other(e))
}

/// Drops a UTF-8 byte order mark and turns RFC 8142 record separators into spaces.
struct Sanitize<R> {
    inner: R,
    started: bool,
}

impl<R: Read> Read for Sanitize<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = self.inner.read(buf)?;
        if !self.started && n > 0 {
            self.started = true;
            if buf[..n].starts_with(&[0xEF, 0xBB, 0xBF]) {
                buf.copy_within(3..n, 0);
                n -= 3;
            }
        }
        for b in &mut buf[..n] {
            if *b == 0x1E {
                *b = b' ';
            }
        }
        Ok(n)
    }
}

struct Ctx<'a> {
    file: &'a str,
    builder: &'a mut DatasetBuilder,
    cache: TextCache,
    crs: Crs,
    crs_given: bool,
    count: usize,
    fatal: Option<ReadError>,
}

impl Ctx<'_> {
    fn location(&self) -> Location {
        Location { file: self.file.to_owned(), position: format!("feature {}", self.count) }
    }

    fn syntax(&mut self, e: &serde_json::Error, context: &str) {
        self.count += 1;
        let location = self.location();
        self.builder.skipped();
        let what = match e.classify() {
            serde_json::error::Category::Eof => "the file ends in the middle of the JSON (truncated?)",
            _ => "unreadable GeoJSON",
        };
        let sep = if context.is_empty() { "" } else { " " };
        self.builder.problem(location, "-", format!("{what}{sep}{context}: {e}"));
    }

    fn feature(&mut self, value: Json) {
        self.count += 1;
        let (file, count) = (self.file, self.count);
        let location = move || Location { file: file.to_owned(), position: format!("feature {count}") };
        let Json::Object(mut obj) = value else {
            self.builder.skipped();
            self.builder.problem(location(), "-", format!("a feature must be a JSON object, got {value}"));
            return;
        };
        let kind = obj.get("type").and_then(Json::as_str).unwrap_or("").to_owned();
        let (geometry, properties) = if kind == "Feature" {
            (obj.remove("geometry").unwrap_or(Json::Null), obj.remove("properties").unwrap_or(Json::Null))
        } else if GEOMETRY_TYPES.contains(&kind.as_str()) {
            (Json::Object(obj), Json::Null)
        } else {
            self.builder.skipped();
            self.builder.problem(location(), "type", format!("expected a Feature, got type '{kind}'"));
            return;
        };
        if geometry.is_null() {
            self.builder.skipped();
            self.builder.problem(location(), "geometry", "missing geometry");
            return;
        }
        let geometry = match ::geojson::Geometry::from_json_value(geometry)
            .map_err(|e| e.to_string())
            .and_then(|g| Geometry::<f64>::try_from(g.value).map_err(|e| e.to_string()))
        {
            Ok(g) => homogenise(g),
            Err(e) => {
                self.builder.skipped();
                self.builder.problem(location(), "geometry", e);
                return;
            }
        };
        let props: Vec<(String, crate::Value)> = match properties {
            Json::Object(map) => map
                .into_iter()
                .map(|(k, v)| {
                    let value = json_value(&v, &mut self.cache);
                    (k, value)
                })
                .collect(),
            Json::Null => Vec::new(),
            other => {
                self.builder.skipped();
                self.builder.problem(
                    location(),
                    "properties",
                    format!("properties must be an object or null, got {other}"),
                );
                return;
            }
        };
        super::push(self.builder, &self.crs, location, geometry, props);
    }

    fn set_crs(&mut self, value: &Json) -> Result<(), String> {
        if self.crs_given {
            return Ok(());
        }
        let name = value
            .pointer("/properties/name")
            .and_then(Json::as_str)
            .map(str::to_owned)
            .or_else(|| value.pointer("/properties/code").map(|c| format!("EPSG:{}", c.as_str().map_or_else(|| c.to_string(), str::to_owned))))
            .ok_or_else(|| format!("crs member {value} names no CRS (expected {{\"type\": \"name\", \"properties\": {{\"name\": \"urn:ogc:def:crs:EPSG::2154\"}}}})"))?;
        let crs = Crs::parse(&name).map_err(|e| format!("crs member: {e}"))?;
        if self.count > 0 && !crs.is_wgs84() {
            return Err(format!(
                "the crs member ({name}) comes after the features: put it before \"features\" or give the CRS explicitly"
            ));
        }
        self.crs = crs;
        Ok(())
    }
}

const GEOMETRY_TYPES: &[&str] =
    &["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"];

/// What the top-level value was.
enum Kind {
    /// A FeatureCollection, whose features went to the builder.
    Collection,
    /// One object (a Feature or a geometry), maybe the first of a sequence.
    Single(Map<String, Json>),
    /// A FeatureCollection without `features`.
    Empty,
}

struct Top<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
}

impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
    type Value = Kind;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a GeoJSON object (FeatureCollection or Feature)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut rest = Map::new();
        let mut saw_features = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "features" => {
                    map.next_value_seed(Features { ctx: &mut *self.ctx })?;
                    saw_features = true;
                }
                "crs" => {
                    let value: Json = map.next_value()?;
                    if let Err(reason) = self.ctx.set_crs(&value) {
                        self.ctx.fatal = Some(ReadError::format(self.ctx.file, reason.clone()));
                        return Err(de::Error::custom(reason));
                    }
                }
                _ => {
                    let value: Json = map.next_value()?;
                    rest.insert(key, value);
                }
            }
        }
        let kind = rest.get("type").and_then(Json::as_str).unwrap_or("");
        Ok(if saw_features {
            Kind::Collection
        } else if kind == "FeatureCollection" {
            Kind::Empty
        } else {
            Kind::Single(rest)
        })
    }
}

struct Features<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
}

impl<'de> DeserializeSeed<'de> for Features<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Features<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of features")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Json>()? {
            self.ctx.feature(value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Mapping;

    const TWO: &str = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","geometry":{"type":"Point","coordinates":[2.35,48.85]},"properties":{"code":"75","n":1}},
            {"type":"Feature","geometry":{"type":"Point","coordinates":[2.36,48.86]},"properties":{"code":"2A","n":2.5}}
        ]}"#;

    fn read_str(text: &str, options: &ReadOptions) -> DatasetBuilder {
        let mut b = DatasetBuilder::new("d", Mapping::default());
        read_with(text.as_bytes(), "t.geojson", options, &mut b).unwrap();
        b
    }

    #[test]
    fn reads_features_and_reports_truncation() {
        let mut b = DatasetBuilder::new("d", Mapping::default());
        read(TWO.as_bytes(), "ok.geojson", &mut b).unwrap();
        let (d, _) = b.finish(false).unwrap();
        assert_eq!(d.features.len(), 2);
        assert_eq!(d.features[1].props[0], crate::Value::text("2A"));

        let truncated = &TWO[..TWO.find("2.36").unwrap() + 3];
        let mut b = DatasetBuilder::new("d", Mapping::default());
        read(truncated.as_bytes(), "cut.geojson", &mut b).unwrap();
        let report = b.finish(false).unwrap_err();
        let msg = report.to_string();
        assert!(msg.contains("cut.geojson, feature 2") && msg.contains("truncated") && msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn a_crs_member_reprojects_and_members_may_come_in_any_order() {
        let l93 = r#"{"bbox":[0,0,1,1],"crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::2154"}},"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"code":"75"},"geometry":{"type":"Point","coordinates":[652469.02,6862035.26]}}]}"#;
        let (d, _) = read_str(l93, &ReadOptions::default()).finish(false).unwrap();
        let Geometry::Point(p) = &d.features[0].geometry else { panic!() };
        assert!((p.x() - 2.352_2).abs() < 1e-6 && (p.y() - 48.856_6).abs() < 1e-6, "{p:?}");
        // --crs wins over the file.
        let options = ReadOptions { crs: Some(Crs::wgs84()), ..ReadOptions::default() };
        assert!(read_str(l93, &options).finish(false).is_err(), "metres are not degrees");
        let bad = l93.replace("EPSG::2154", "EPSG::999999");
        let mut b = DatasetBuilder::new("d", Mapping::default());
        let err = read_with(bad.as_bytes(), "bad.geojson", &ReadOptions::default(), &mut b).unwrap_err();
        assert!(err.to_string().contains("bad.geojson") && err.to_string().contains("999999"), "{err}");
    }

    #[test]
    fn newline_delimited_and_text_sequences() {
        let lines = "{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[2,48]},\"properties\":{\"a\":1}}\n\
                     \u{1e}{\"type\":\"Feature\",\"geometry\":null,\"properties\":{}}\n\
                     {\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[3,47]},\"properties\":null}\n";
        let b = read_str(lines, &ReadOptions::default());
        let report = b.finish(false).unwrap_err();
        assert_eq!((report.read, report.problem_count), (3, 1));
        assert!(report.problems[0].to_string().contains("feature 2: geometry: missing geometry"), "{report}");
        let (d, r) = read_str(lines, &ReadOptions::default()).finish(true).unwrap();
        assert_eq!((d.features.len(), r.kept), (2, 2));
    }

    #[test]
    fn bad_features_are_problems_and_reading_goes_on() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","geometry":{"type":"Point","coordinates":[2,48]},"properties":{}},
            {"type":"Feature","geometry":{"type":"Pointe","coordinates":[2,48]},"properties":{}},
            42,
            {"type":"Feature","geometry":{"type":"Point","coordinates":[2,48]},"properties":[1]},
            {"type":"Feature","geometry":{"type":"Point","coordinates":[2,48]},"properties":{"x":null}}
        ]}"#;
        let report = read_str(text, &ReadOptions::default()).finish(false).unwrap_err();
        assert_eq!((report.read, report.problem_count), (5, 3), "{report}");
        let positions: Vec<&str> = report.problems.iter().map(|p| p.location.position.as_str()).collect();
        assert_eq!(positions, ["feature 2", "feature 3", "feature 4"]);
    }
}
