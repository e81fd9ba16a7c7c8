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
    let framed = Framed::new(reader);
    if let Some(reason) = framed.damaged.borrow_mut().take() {
        return Err(ReadError::format(file, reason));
    }
    let damaged = framed.damaged.clone();
    let input = std::io::BufReader::with_capacity(1 << 16, framed);
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
            Ok(None) => {
                // The library ends quietly on a size prefix it could not read: said here.
                if let Some(reason) = damaged.borrow_mut().take() {
                    builder.skipped();
                    builder.problem(location, "-", reason);
                }
                break;
            }
            Err(e) => {
                builder.skipped();
                builder.problem(location, "-", format!("unreadable FlatGeobuf feature (truncated file?): {e}"));
                break;
            }
        };
        // The library indexes a feature's vectors by the counts the feature gives (ring ends,
        // parts) and panics on a damaged one that still passes the flatbuffer check: caught,
        // and told as the feature's problem (tests/e2e/mutations.rs found one).
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if feature.geometry().is_some_and(|g| !ends_fit(&g)) {
                return Err(("geometry", "its ring or part ends do not fit its coordinates (damaged?)".to_owned()));
            }
            let geometry = feature.to_geo().map_err(|e| ("geometry", e.to_string()))?;
            let mut sink = PropertySink { cache: &mut cache, props: Vec::new() };
            feature.process_properties(&mut sink).map_err(|e| ("properties", e.to_string()))?;
            Ok::<_, (&str, String)>((geometry, sink.props))
        }));
        let (geometry, props) = match decoded {
            Ok(Ok((g, props))) => (super::homogenise(g), props),
            Ok(Err((field, reason))) => {
                builder.skipped();
                builder.problem(location, field, reason);
                continue;
            }
            Err(_) => {
                builder.skipped();
                builder.problem(location, "-", "undecodable FlatGeobuf feature (its counts and its data disagree)");
                continue;
            }
        };
        super::push(builder, &crs, move || location, geometry, props);
    }
    Ok(())
}

/// Whether a geometry's ring ends (and its parts', at any depth) rise and stay within its
/// coordinates. The library sizes each ring's allocation from the difference of two ends: a
/// damaged end below the one before wrapped to 7,821,467,248 bytes for a 6 KB file (the fuzzing
/// bench, `benches/fuzz.sh`).
fn ends_fit(g: &flatgeobuf::Geometry) -> bool {
    let coords = g.xy().map_or(0, |xy| xy.len() / 2);
    let rising = g.ends().is_none_or(|ends| {
        let mut last = 0;
        ends.iter().all(|end| {
            let fits = end >= last && end as usize <= coords;
            last = end;
            fits
        })
    });
    rising && g.parts().is_none_or(|parts| parts.iter().all(|p| ends_fit(&p)))
}

/// More features than a file can hold (a feature takes at least a few bytes): a header saying
/// so is damaged.
const MAX_FEATURES: u64 = 1 << 40;

/// Most bytes of one feature: a geometry of [`crate::dataset::MAX_VERTICES`] points and its
/// properties fit with room to spare. The library allocates what a feature's size prefix says
/// before reading it, so a damaged prefix could make it zero-fill up to 4 GiB (seen: 3.9 GB
/// resident and 24 s for one flipped byte; tests/e2e/mutations.rs).
pub const MAX_FEATURE_BYTES: usize = 64 << 20;

/// A FlatGeobuf stream passed through to the library, each feature's size prefix checked
/// against [`MAX_FEATURE_BYTES`] before the library sees it. It knows where the features start
/// from the header (and the index it skips); a header it cannot read is passed through
/// unchecked, for the library to reject.
struct Framed<R> {
    inner: R,
    /// Bytes to serve before reading `inner` again (the header, a size prefix).
    pending: Vec<u8>,
    served: usize,
    /// Offset of the bytes served so far, and of the next size prefix (none: unchecked).
    pos: u64,
    next: Option<u64>,
    /// Why the stream was cut short, for the reader to report.
    damaged: std::rc::Rc<std::cell::RefCell<Option<String>>>,
}

impl<R: Read> Framed<R> {
    fn new(mut inner: R) -> Self {
        let mut pending = vec![0u8; 12];
        let mut next = None;
        let mut damaged = None;
        if inner.read_exact(&mut pending).is_ok() {
            let header_size = u32::from_le_bytes([pending[8], pending[9], pending[10], pending[11]]) as usize;
            if (8..=1 << 20).contains(&header_size) {
                // Read as the library reads it, size prefix included (the flatbuffer's alignment
                // is counted from there).
                let mut header = pending[8..12].to_vec();
                header.resize(4 + header_size, 0);
                if inner.read_exact(&mut header[4..]).is_ok() {
                    if let Ok(h) = flatgeobuf::size_prefixed_root_as_header(&header) {
                        let (count, node) = (h.features_count(), h.index_node_size());
                        // The library sizes the index it skips from these two, asserting a
                        // node size of at least 2 and adding without a check (AFL++ found
                        // both): a header it would panic on is refused here.
                        if node == 1 || count >= MAX_FEATURES {
                            damaged = Some(format!(
                                "the header's index is damaged ({count} features, nodes of {node}):                                  not a FlatGeobuf file vigie can read"
                            ));
                        }
                        let index = if count > 0 && node > 1 && count < MAX_FEATURES {
                            flatgeobuf::packed_r_tree::PackedRTree::index_size(count as usize, node) as u64
                        } else {
                            0
                        };
                        next = Some(12 + header_size as u64 + index);
                    }
                    pending.extend_from_slice(&header[4..]);
                }
            }
        } else {
            pending.clear();
        }
        Self { inner, pending, served: 0, pos: 0, next, damaged: std::rc::Rc::new(std::cell::RefCell::new(damaged)) }
    }
}

impl<R: Read> Read for Framed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.served < self.pending.len() {
            let n = buf.len().min(self.pending.len() - self.served);
            buf[..n].copy_from_slice(&self.pending[self.served..self.served + n]);
            self.served += n;
            self.pos += n as u64;
            return Ok(n);
        }
        let Some(next) = self.next else { return self.inner.read(buf) };
        if self.pos == next {
            let mut size = [0u8; 4];
            let mut got = 0;
            while got < 4 {
                match self.inner.read(&mut size[got..])? {
                    0 if got == 0 => return Ok(0),
                    0 => {
                        *self.damaged.borrow_mut() = Some("the file ends inside a feature's size (truncated?)".into());
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    n => got += n,
                }
            }
            let bytes = u32::from_le_bytes(size) as usize;
            if bytes > MAX_FEATURE_BYTES {
                let reason = format!(
                    "this feature says it is {bytes} bytes long, more than the {MAX_FEATURE_BYTES} one feature may be \
                     (a damaged file?)"
                );
                *self.damaged.borrow_mut() = Some(reason.clone());
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, reason));
            }
            self.next = Some(next + 4 + bytes as u64);
            (self.pending, self.served) = (size.to_vec(), 0);
            return self.read(buf);
        }
        let room = usize::try_from(next - self.pos).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(&mut buf[..room])?;
        self.pos += n as u64;
        Ok(n)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Mapping;
    use flatgeobuf::{FgbWriter, GeometryType};

    /// Two points written by the `flatgeobuf` crate (with its spatial index), and where the
    /// first feature's size prefix is.
    fn two_points() -> (Vec<u8>, usize) {
        let mut fgb = FgbWriter::create("t", GeometryType::Point).unwrap();
        for (x, y) in [(2.35, 48.85), (2.36, 48.86)] {
            fgb.add_feature_geom(geo::Geometry::Point(geo::Point::new(x, y)), |_| {}).unwrap();
        }
        let mut bytes = Vec::new();
        fgb.write(&mut bytes).unwrap();
        let header_size = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let header = flatgeobuf::size_prefixed_root_as_header(&bytes[8..12 + header_size]).unwrap();
        let index = flatgeobuf::packed_r_tree::PackedRTree::index_size(2, header.index_node_size());
        (bytes.clone(), 12 + header_size + index)
    }

    fn read_all(bytes: &[u8]) -> Result<usize, String> {
        let mut builder = DatasetBuilder::new("t", Mapping::default());
        read(bytes, "t.fgb", &ReadOptions::default(), &mut builder).map_err(|e| e.to_string())?;
        builder.finish(false).map(|(d, _)| d.features.len()).map_err(|r| r.to_string())
    }

    #[test]
    fn features_are_read_through_the_size_check() {
        let (bytes, _) = two_points();
        assert_eq!(read_all(&bytes), Ok(2));
    }

    #[test]
    fn a_damaged_feature_size_is_a_problem_not_a_4_gib_allocation() {
        let (mut bytes, first) = two_points();
        bytes[first..first + 4].copy_from_slice(&0xf000_0000u32.to_le_bytes());
        let e = read_all(&bytes).unwrap_err();
        assert!(e.contains("t.fgb, feature 1") && e.contains("bytes long"), "{e}");
        // Cut inside the second feature's size prefix: said, not a quiet end.
        let (bytes, _) = two_points();
        let second = first + 4 + u32::from_le_bytes(bytes[first..first + 4].try_into().unwrap()) as usize;
        let e = read_all(&bytes[..second + 2]).unwrap_err();
        assert!(e.contains("feature 2") && e.contains("truncated"), "{e}");
    }

    /// `bytes` with the header's value `old` changed to `new`: at the place whose change
    /// `says` then reads in the header.
    fn header_changed(bytes: &[u8], old: &[u8], new: &[u8], says: impl Fn(flatgeobuf::Header) -> bool) -> Vec<u8> {
        let header_size = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        (12..12 + header_size - old.len())
            .filter(|&at| &bytes[at..at + old.len()] == old)
            .map(|at| {
                let mut changed = bytes.to_vec();
                changed[at..at + new.len()].copy_from_slice(new);
                changed
            })
            .find(|changed| flatgeobuf::size_prefixed_root_as_header(&changed[8..12 + header_size]).is_ok_and(&says))
            .expect("the header's value")
    }

    /// The library sizes the index from the header: nodes of 1 made it assert (a panic), and
    /// 2^40 features or more overflow its sum (AFL++ found 4.6e18).
    #[test]
    fn a_header_whose_index_cannot_be_sized_is_refused_not_a_panic() {
        // Without an index the node size is written (0, not the default 16 a flatbuffer leaves
        // out), so it can be changed in place.
        let options = flatgeobuf::FgbWriterOptions { write_index: false, ..Default::default() };
        let mut fgb = FgbWriter::create_with_options("t", GeometryType::Point, options).unwrap();
        fgb.add_feature_geom(geo::Geometry::Point(geo::Point::new(2.35, 48.85)), |_| {}).unwrap();
        let mut bytes = Vec::new();
        fgb.write(&mut bytes).unwrap();
        assert_eq!(read_all(&bytes), Ok(1));
        let nodes_of_one =
            header_changed(&bytes, &0u16.to_le_bytes(), &1u16.to_le_bytes(), |h| h.index_node_size() == 1);
        let many =
            header_changed(&bytes, &1u64.to_le_bytes(), &(1u64 << 62).to_le_bytes(), |h| h.features_count() == 1 << 62);
        for damaged in [nodes_of_one, many] {
            let e = read_all(&damaged).unwrap_err();
            assert!(e.contains("t.fgb") && e.contains("index is damaged"), "{e}");
        }
    }

    #[test]
    fn ring_ends_that_fall_are_a_problem_not_a_7_gb_allocation() {
        use geo::{LineString, Polygon};
        let outer = LineString::from(vec![(2.0, 48.0), (3.0, 48.0), (3.0, 49.0), (2.0, 49.0), (2.0, 48.0)]);
        let hole = LineString::from(vec![(2.4, 48.4), (2.6, 48.4), (2.6, 48.6), (2.4, 48.4)]);
        let mut fgb = FgbWriter::create("t", GeometryType::Polygon).unwrap();
        fgb.add_feature_geom(geo::Geometry::Polygon(Polygon::new(outer, vec![hole])), |_| {}).unwrap();
        let mut bytes = Vec::new();
        fgb.write(&mut bytes).unwrap();
        assert_eq!(read_all(&bytes), Ok(1));
        // The ends vector: its length (2), then 5 and 9. The second end falls to 2.
        let ends: Vec<u8> = [2u32, 5, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
        let at = bytes.windows(12).position(|w| w == ends.as_slice()).expect("the ends vector") + 8;
        bytes[at..at + 4].copy_from_slice(&2u32.to_le_bytes());
        let e = read_all(&bytes).unwrap_err();
        assert!(e.contains("t.fgb, feature 1") && e.contains("ends do not fit"), "{e}");
    }
}
