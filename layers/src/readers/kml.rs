//! KML and KMZ (zipped KML). Every Placemark with a geometry is a record (in Documents and
//! Folders at any depth); its `name`, `description` and `ExtendedData` (`SimpleData` and
//! `Data`) are its properties. A `MultiGeometry` of polygons (GDAL's MultiPolygon) becomes a
//! MultiPolygon. KML is WGS84 by definition.
//!
//! The `kml` crate reads the whole document into a tree before it is walked: KML files are
//! small by nature (a tenth of the size of the same data as FlatGeobuf is rare past 100 MB).
//! The document is first read once through for well-formedness (streaming, nothing kept):
//! `kml` 0.15 loops forever on a document that ends inside a Placemark (found by the fuzzing
//! bench, `benches/fuzz.sh`), so it is only given documents whose every element closes.

use super::{ReadError, homogenise};
use crate::dataset::{DatasetBuilder, Location, TextCache};
use crate::feature::Value;
use kml::types::{Element, Placemark};
use kml::{Kml, KmlReader};
use std::io::{BufRead, Read, Seek};

/// Reads a KML document into `builder`: once through to check it is well formed, then again
/// from its start (hence `Seek`) into the `kml` crate's tree.
///
/// # Errors
/// [`ReadError::Format`] when the XML is not well formed or not KML (the message has the
/// parser's reason and where); [`ReadError::Io`] when the reader fails.
pub fn read(mut reader: impl BufRead + Seek, file: &str, builder: &mut DatasetBuilder) -> Result<(), ReadError> {
    well_formed(&mut reader, file)?;
    reader.rewind().map_err(|e| ReadError::io(file, e))?;
    read_checked(reader, file, builder)
}

/// Reads a document [`well_formed`] already passed.
fn read_checked(reader: impl BufRead, file: &str, builder: &mut DatasetBuilder) -> Result<(), ReadError> {
    let doc: Kml<f64> =
        KmlReader::from_reader(reader).read().map_err(|e| ReadError::format(file, format!("unreadable KML: {e}")))?;
    let mut walk = Walk { file, builder, cache: TextCache::default(), count: 0 };
    walk.kml(doc);
    if walk.count == 0 {
        return Err(ReadError::format(file, "no Placemark in this KML"));
    }
    Ok(())
}

/// Deeper than this, a document is refused: `kml` reads nested elements by recursion, and no
/// real KML nests folders this deep.
const MAX_DEPTH: usize = 256;

/// Reads the document through: every element closes, in order, before it ends, and none is
/// nested deeper than [`MAX_DEPTH`].
fn well_formed(reader: impl BufRead, file: &str) -> Result<(), ReadError> {
    use quick_xml::events::Event;
    let mut xml = quick_xml::Reader::from_reader(reader);
    xml.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    let mut open: Vec<Vec<u8>> = Vec::new();
    loop {
        match xml.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                if open.len() == MAX_DEPTH {
                    let at = xml.buffer_position();
                    return Err(ReadError::format(
                        file,
                        format!("unreadable KML: byte {at}: elements nested deeper than {MAX_DEPTH}"),
                    ));
                }
                open.push(e.local_name().as_ref().to_vec());
            }
            Ok(Event::End(_)) => {
                open.pop();
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                let at = xml.error_position();
                return Err(ReadError::format(file, format!("unreadable KML: byte {at}: {e}")));
            }
        }
        buf.clear();
    }
    match open.last() {
        None => Ok(()),
        Some(inner) => Err(ReadError::format(
            file,
            format!(
                "unreadable KML: the document ends inside <{}> ({} elements not closed)",
                String::from_utf8_lossy(inner),
                open.len()
            ),
        )),
    }
}

/// Reads the first `.kml` of a KMZ archive (`doc.kml` by convention) into `builder`.
///
/// # Errors
/// [`ReadError::Format`] when the archive is unreadable or holds no `.kml`.
pub fn read_kmz(reader: impl Read + Seek, file: &str, builder: &mut DatasetBuilder) -> Result<(), ReadError> {
    let mut zip =
        zip::ZipArchive::new(reader).map_err(|e| ReadError::format(file, format!("not a readable KMZ (zip): {e}")))?;
    let names: Vec<String> = zip.file_names().filter_map(Result::ok).map(std::borrow::Cow::into_owned).collect();
    let doc = names
        .iter()
        .find(|n| n.eq_ignore_ascii_case("doc.kml"))
        .or_else(|| names.iter().find(|n| n.to_ascii_lowercase().ends_with(".kml")))
        .ok_or_else(|| ReadError::format(file, "the KMZ holds no .kml document"))?
        .clone();
    let name = format!("{file}/{doc}");
    // Inflated twice (an entry cannot seek): once to check it, once to read it.
    let unreadable = |e: zip::result::ZipError| ReadError::format(file, format!("{doc}: {e}"));
    well_formed(std::io::BufReader::new(zip.by_name(&doc).map_err(unreadable)?), &name)?;
    read_checked(std::io::BufReader::new(zip.by_name(&doc).map_err(unreadable)?), &name, builder)
}

struct Walk<'a> {
    file: &'a str,
    builder: &'a mut DatasetBuilder,
    cache: TextCache,
    count: usize,
}

impl Walk<'_> {
    fn kml(&mut self, k: Kml<f64>) {
        match k {
            Kml::KmlDocument(d) => d.elements.into_iter().for_each(|e| self.kml(e)),
            Kml::Document { elements, .. } => elements.into_iter().for_each(|e| self.kml(e)),
            Kml::Folder(f) => f.elements.into_iter().for_each(|e| self.kml(e)),
            Kml::Placemark(p) => self.placemark(p),
            _ => {}
        }
    }

    fn placemark(&mut self, p: Placemark<f64>) {
        self.count += 1;
        let location = Location { file: self.file.to_owned(), position: format!("placemark {}", self.count) };
        let Some(geometry) = p.geometry else {
            self.builder.skipped();
            self.builder.problem(location, "geometry", "Placemark without geometry");
            return;
        };
        let geometry = match geo::Geometry::<f64>::try_from(geometry) {
            Ok(g) => homogenise(g),
            Err(e) => {
                self.builder.skipped();
                self.builder.problem(location, "geometry", e.to_string());
                return;
            }
        };
        let mut props: Vec<(String, Value)> = Vec::new();
        if let Some(name) = p.name {
            props.push(("name".into(), self.cache.text(name.trim())));
        }
        if let Some(description) = p.description {
            props.push(("description".into(), self.cache.text(description.trim())));
        }
        for child in &p.children {
            self.extended(child, &mut props);
        }
        self.builder.push(location, crate::dataset::Record { geometry, props });
    }

    /// `<SimpleData name="k">v</SimpleData>` and `<Data name="k"><value>v</value></Data>`.
    fn extended(&mut self, e: &Element, props: &mut Vec<(String, Value)>) {
        let local = e.name.rsplit(':').next().unwrap_or(&e.name);
        match local {
            "SimpleData" => {
                if let Some(k) = e.attrs.get("name") {
                    let v = e.content.as_deref().map_or("", str::trim);
                    props.push((k.clone(), if v.is_empty() { Value::Null } else { self.cache.text(v) }));
                }
            }
            "Data" => {
                if let Some(k) = e.attrs.get("name") {
                    let v = e
                        .children
                        .iter()
                        .find(|c| c.name.rsplit(':').next() == Some("value"))
                        .and_then(|c| c.content.as_deref())
                        .map_or("", str::trim);
                    props.push((k.clone(), if v.is_empty() { Value::Null } else { self.cache.text(v) }));
                }
            }
            _ => {
                for c in &e.children {
                    self.extended(c, props);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Mapping;

    const DOC: &str = r##"<?xml version="1.0" encoding="utf-8" ?>
<kml xmlns="http://www.opengis.net/kml/2.2">
<Document id="root_doc">
<Schema name="d" id="d"><SimpleField name="code" type="string"></SimpleField></Schema>
<Folder><name>d</name>
  <Placemark>
    <name>Corse-du-Sud</name>
    <ExtendedData><SchemaData schemaUrl="#d"><SimpleData name="code">2A</SimpleData></SchemaData></ExtendedData>
    <MultiGeometry>
      <Polygon><outerBoundaryIs><LinearRing><coordinates>8.5,41.5 9.0,41.5 9.0,42.0 8.5,41.5</coordinates></LinearRing></outerBoundaryIs></Polygon>
      <Polygon><outerBoundaryIs><LinearRing><coordinates>9.1,41.5 9.2,41.5 9.2,41.6 9.1,41.5</coordinates></LinearRing></outerBoundaryIs></Polygon>
    </MultiGeometry>
  </Placemark>
  <Placemark><ExtendedData><Data name="n"><value>7</value></Data></ExtendedData><Point><coordinates>2.35,48.85</coordinates></Point></Placemark>
</Folder></Document></kml>"##;

    #[test]
    fn placemarks_with_extended_data() {
        let mut b = DatasetBuilder::new("d", Mapping::default());
        read(std::io::Cursor::new(DOC), "d.kml", &mut b).unwrap();
        let (d, _) = b.finish(false).unwrap();
        assert_eq!(d.features.len(), 2);
        assert!(matches!(&d.features[0].geometry, geo::Geometry::MultiPolygon(mp) if mp.0.len() == 2));
        let code = d.schema.position("code").unwrap();
        assert_eq!(d.features[0].props[code], Value::text("2A"));
        let n = d.schema.position("n").unwrap();
        assert_eq!(d.features[1].props[n], Value::text("7"));
    }

    /// `kml` 0.15 never returns from a document that ends inside a Placemark: it is refused
    /// first, saying where it ends (the fuzzing bench's first find).
    #[test]
    fn a_document_ending_inside_a_placemark_is_refused_not_read_forever() {
        let cut = &DOC[..DOC.find("<coordinates>9.1").unwrap()];
        let mut b = DatasetBuilder::new("d", Mapping::default());
        let e = read(std::io::Cursor::new(cut), "d.kml", &mut b).unwrap_err().to_string();
        assert!(e.contains("d.kml") && e.contains("ends inside <LinearRing>") && e.contains("8 elements"), "{e}");
        let crossed = DOC.replace("</MultiGeometry>", "</Placemark>");
        let e = read(std::io::Cursor::new(crossed), "d.kml", &mut b).unwrap_err().to_string();
        assert!(e.contains("d.kml") && e.contains("byte "), "{e}");
        let deep = DOC.replace("<Folder>", &"<Folder>".repeat(300)).replace("</Folder>", &"</Folder>".repeat(300));
        let e = read(std::io::Cursor::new(deep), "d.kml", &mut b).unwrap_err().to_string();
        assert!(e.contains("nested deeper than 256"), "{e}");
    }
}
