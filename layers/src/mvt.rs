//! Mapbox Vector Tile 2.1 encoder.
//!
//! Written by hand rather than through a general protobuf or geometry crate: the tile path is
//! the hottest code in vigie, and this encoder writes straight into one buffer per layer with
//! deduplicated keys and values, from integer tile coordinates that clipping already produced
//! (geozero's MVT writer floors coordinates and neither clips nor simplifies; see
//! `../shared/deps.md`). Tests decode its output with GDAL and Python `mapbox-vector-tile`.

use crate::clip::{IPoint, TileGeometry};
use crate::feature::{Text, Value, rfc3339_bytes, rfc3339_writable};
use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::{BuildHasher, Hasher};

const WIRE_VARINT: u32 = 0;
const WIRE_FIXED64: u32 = 1;
const WIRE_LEN: u32 = 2;

const CMD_MOVE_TO: u32 = 1;
const CMD_LINE_TO: u32 = 2;
const CMD_CLOSE_PATH: u32 = 7;

/// MVT geometry type of a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum GeomType {
    /// Point or MultiPoint.
    Point = 1,
    /// LineString or MultiLineString.
    LineString = 2,
    /// Polygon or MultiPolygon.
    Polygon = 3,
}

#[inline]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
fn put_key(buf: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(buf, u64::from((field << 3) | wire));
}

#[inline]
fn put_bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(buf, field, WIRE_LEN);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

#[inline]
fn zigzag(n: i32) -> u32 {
    ((n << 1) ^ (n >> 31)) as u32
}

#[inline]
fn command(id: u32, count: usize) -> u32 {
    (id & 0x7) | ((count as u32) << 3)
}

/// A property value as the layer's value table holds it (nulls are never stored).
#[derive(Debug, Clone)]
enum ValueKey {
    Bool(bool),
    Int(i64),
    Float(u64),
    Text(Text),
    Time(i64),
}

impl ValueKey {
    fn of(v: &Value) -> Option<Self> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => Self::Bool(*b),
            Value::Int(i) => Self::Int(*i),
            Value::Float(f) => Self::Float(f.to_bits()),
            Value::Text(s) => Self::Text(s.clone()),
            Value::Time(t) => Self::Time(*t),
        })
    }

    /// Whether `v` is this value: what deduplication compares (floats by bits, times by
    /// millisecond).
    #[inline]
    fn is(&self, v: &Value) -> bool {
        match (self, v) {
            (Self::Bool(a), Value::Bool(b)) => a == b,
            (Self::Int(a), Value::Int(b)) | (Self::Time(a), Value::Time(b)) => a == b,
            (Self::Float(a), Value::Float(b)) => *a == b.to_bits(),
            (Self::Text(a), Value::Text(b)) => Text::ptr_eq(a, b) || a == b,
            _ => false,
        }
    }

    /// Length of the `Tile.Value` message.
    fn message_len(&self) -> usize {
        match self {
            Self::Text(s) => 1 + varint_len(s.len() as u64) + s.len(),
            Self::Time(t) => 2 + if rfc3339_writable(*t) { 20 } else { 0 },
            Self::Float(_) => 1 + 8,
            Self::Int(i) if *i >= 0 => 1 + varint_len(*i as u64),
            Self::Int(i) => 1 + varint_len(((*i << 1) ^ (*i >> 63)) as u64),
            Self::Bool(_) => 2,
        }
    }

    /// Writes the `Tile.Value` message (without its field key and length).
    fn write_message(&self, buf: &mut Vec<u8>) {
        match self {
            Self::Text(s) => put_bytes(buf, 1, s.as_bytes()),
            Self::Time(t) => match rfc3339_bytes(*t) {
                Some(text) => put_bytes(buf, 1, &text),
                None => put_bytes(buf, 1, &[]),
            },
            Self::Float(bits) => {
                put_key(buf, 3, WIRE_FIXED64);
                buf.extend_from_slice(&bits.to_le_bytes());
            }
            Self::Int(i) if *i >= 0 => {
                put_key(buf, 5, WIRE_VARINT);
                put_varint(buf, *i as u64);
            }
            Self::Int(i) => {
                put_key(buf, 6, WIRE_VARINT);
                put_varint(buf, ((*i << 1) ^ (*i >> 63)) as u64);
            }
            Self::Bool(b) => {
                put_key(buf, 7, WIRE_VARINT);
                put_varint(buf, u64::from(*b));
            }
        }
    }
}

/// Hash of a value, consistent with [`ValueKey::is`] and [`hash_key`]. Values of different
/// types may collide (an integer and the same time); `is` tells them apart.
#[inline]
fn hash_value(state: &DefaultHashBuilder, v: &Value) -> u64 {
    let mut h = state.build_hasher();
    match v {
        Value::Null => {}
        Value::Bool(b) => h.write_u8(u8::from(*b)),
        Value::Int(i) | Value::Time(i) => h.write_i64(*i),
        Value::Float(f) => h.write_u64(f.to_bits()),
        Value::Text(s) => h.write(s.as_bytes()),
    }
    h.finish()
}

/// Hash of a stored value, the same as [`hash_value`] of the value it came from.
fn hash_key(state: &DefaultHashBuilder, k: &ValueKey) -> u64 {
    let mut h = state.build_hasher();
    match k {
        ValueKey::Bool(b) => h.write_u8(u8::from(*b)),
        ValueKey::Int(i) | ValueKey::Time(i) => h.write_i64(*i),
        ValueKey::Float(bits) => h.write_u64(*bits),
        ValueKey::Text(s) => h.write(s.as_bytes()),
    }
    h.finish()
}

/// The fewest bytes a point feature takes in a layer's features: its frame (2), id (2), type
/// (2) and geometry (5: a move-to and two one-byte deltas). A layer with more points than its
/// byte budget holds at this size is over it before any is encoded.
pub const MIN_POINT_FEATURE_BYTES: usize = 11;

/// Bytes a feature takes in the layer, roughly (a point with a dozen properties), for
/// [`LayerEncoder::reserve`].
const FEATURE_BYTES_HINT: usize = 48;

/// New values a feature brings, roughly one per this many properties (its times and free
/// texts; the rest repeat), for [`LayerEncoder::reserve`].
const VALUES_HINT_DIVISOR: usize = 4;

/// Slots of [`LayerEncoder`]'s cache of shared strings (a power of two).
const SHARED_TEXT_SLOTS: usize = 1024;

/// No key assigned to a property yet (also: no value index cached for a small integer).
const UNASSIGNED: u32 = u32::MAX;

/// Integers in `0..SMALL_INTS` (severities, versions, counts) find their value index in a
/// direct table, without hashing.
const SMALL_INTS: usize = 64;

/// Builds one MVT layer: features, deduplicated keys and values.
///
/// Property names are given once per layer ([`LayerEncoder::set_properties`]); each feature
/// then brings its values in that order. A name becomes a key of the layer when a feature
/// first carries a non-null value for it, so keys appear in order of first use and names that
/// no feature uses are left out.
///
/// # Examples
///
/// ```
/// use geozero::mvt::{Message, Tile};
/// use vigie_layers::clip::{ClipBox, tile_geometry};
/// use vigie_layers::mvt::{LayerEncoder, TileEncoder};
/// use vigie_layers::tile::{BUFFER_PX, EXTENT, lonlat_to_mercator};
/// use vigie_layers::{TileCoord, Value};
///
/// // The Eiffel Tower in its z12 tile, in tile units.
/// let coord = TileCoord::new(12, 2074, 1409)?;
/// let (tr, clip) = (coord.transform(), ClipBox::for_tile(coord, BUFFER_PX));
/// let eiffel = geo::Geometry::Point(lonlat_to_mercator(2.2945, 48.8584).into());
/// let g = tile_geometry(&eiffel, &tr, &clip).expect("in the tile");
///
/// let mut layer = LayerEncoder::new("venues", EXTENT);
/// layer.set_properties(["name", "capacity", "note"]);
/// assert!(layer.add_feature(1, &g, &[Value::text("Tour Eiffel"), Value::Int(1200), Value::Null]));
/// assert!(layer.add_feature(2, &g, &[Value::text("Tour Eiffel"), Value::Int(80), Value::Null]));
/// assert_eq!(layer.len(), 2);
/// let mut tile = TileEncoder::new();
/// tile.push(&layer);
/// let bytes = tile.finish();
///
/// // Any MVT 2.1 decoder reads it back (here geozero's).
/// let decoded = Tile::decode(bytes.as_slice())?;
/// let l = &decoded.layers[0];
/// assert_eq!((l.name.as_str(), l.version, l.extent), ("venues", 2, Some(4096)));
/// // Keys in order of first use; "note" was always null, so it is no key.
/// assert_eq!(l.keys, ["name", "capacity"]);
/// // The name is stored once, then each capacity.
/// assert_eq!(l.values.len(), 3);
/// assert_eq!(l.values[0].string_value.as_deref(), Some("Tour Eiffel"));
/// assert_eq!((l.features[1].id, &l.features[1].tags[..]), (Some(2), &[0, 0, 1, 2][..]));
/// // A point: MoveTo(1), then x = 435 and y = 447 zig-zag encoded.
/// assert_eq!(l.features[0].geometry, [9, 870, 894]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LayerEncoder {
    name: String,
    extent: u32,
    features: Vec<u8>,
    feature_count: usize,
    keys: Vec<String>,
    /// The property names of [`LayerEncoder::set_properties`] and their key, or [`UNASSIGNED`].
    properties: Vec<(String, u32)>,
    values: Vec<ValueKey>,
    /// Indices into `values`, hashed by value (one hash per lookup).
    value_index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// Direct-mapped cache from the address of a shared string to its value index (empty
    /// until the first text value).
    shared_text: Box<[(usize, u32)]>,
    /// Value index of each small non-negative integer, or [`UNASSIGNED`].
    small_ints: [u32; SMALL_INTS],
    /// The feature being added: its tags and its geometry commands, as packed varints.
    tags: Vec<u8>,
    geom: Vec<u8>,
}

impl LayerEncoder {
    /// An empty layer named `name` with the given extent and no properties.
    pub fn new(name: &str, extent: u32) -> Self {
        Self {
            name: name.to_owned(),
            extent,
            features: Vec::with_capacity(1024),
            feature_count: 0,
            keys: Vec::new(),
            properties: Vec::new(),
            values: Vec::new(),
            value_index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            shared_text: Box::default(),
            small_ints: [UNASSIGNED; SMALL_INTS],
            tags: Vec::with_capacity(64),
            geom: Vec::with_capacity(64),
        }
    }

    /// Names the properties of the features added next, in the order of their values (a
    /// collection's [`crate::feature::Schema`]). Can be called again: keys already in the layer
    /// are reused by name.
    pub fn set_properties<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        self.properties.clear();
        self.properties.extend(names.into_iter().map(|n| (n.to_owned(), UNASSIGNED)));
    }

    /// Number of features added so far.
    pub fn len(&self) -> usize {
        self.feature_count
    }

    /// Whether no feature was added.
    pub fn is_empty(&self) -> bool {
        self.feature_count == 0
    }

    /// The key of property `i`, added to the layer on first use.
    #[inline]
    fn key(&mut self, i: usize) -> u32 {
        let (name, key) = &mut self.properties[i];
        if *key == UNASSIGNED {
            *key = if let Some(k) = self.keys.iter().position(|k| k == name) {
                k as u32
            } else {
                self.keys.push(name.clone());
                (self.keys.len() - 1) as u32
            };
        }
        *key
    }

    /// The index of a non-null value in the layer's table, added on first use.
    #[inline]
    fn value(&mut self, v: &Value) -> u32 {
        // Small integers are found in a direct table, and shared strings (interned themes,
        // sources, titles…) by address first, without reading or hashing their bytes.
        let text = match v {
            Value::Text(text) => text,
            Value::Int(i) if (0..SMALL_INTS as i64).contains(i) => {
                let slot = *i as usize;
                if self.small_ints[slot] == UNASSIGNED {
                    self.small_ints[slot] = self.value_by_hash(v);
                }
                return self.small_ints[slot];
            }
            _ => return self.value_by_hash(v),
        };
        let address = text.as_ptr() as usize;
        let slot = (address >> 4 ^ address >> 14) & (SHARED_TEXT_SLOTS - 1);
        if self.shared_text.is_empty() {
            self.shared_text = vec![(0, 0); SHARED_TEXT_SLOTS].into_boxed_slice();
        }
        let (cached, index) = self.shared_text[slot];
        if cached == address {
            return index;
        }
        let index = self.value_by_hash(v);
        // Only an address the table holds a clone of: that string lives as long as the table,
        // so no other string can take its address meanwhile.
        if let ValueKey::Text(held) = &self.values[index as usize]
            && Text::ptr_eq(held, text)
        {
            self.shared_text[slot] = (address, index);
        }
        index
    }

    fn value_by_hash(&mut self, v: &Value) -> u32 {
        let (values, hasher) = (&self.values, &self.hasher);
        let next = values.len() as u32;
        let entry = self.value_index.entry(
            hash_value(hasher, v),
            |&i| values[i as usize].is(v),
            |&i| hash_key(hasher, &values[i as usize]),
        );
        match entry {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                e.insert(next);
                self.values.extend(ValueKey::of(v));
                next
            }
        }
    }

    /// Adds a feature whose property values are aligned with the names given to
    /// [`LayerEncoder::set_properties`] (extra values are ignored); nulls are skipped. Returns
    /// `false` (and adds nothing) when the geometry has nothing left to draw.
    ///
    /// # Examples
    ///
    /// ```
    /// use vigie_layers::Value;
    /// use vigie_layers::clip::TileGeometry;
    /// use vigie_layers::mvt::LayerEncoder;
    ///
    /// let mut layer = LayerEncoder::new("lines", 4096);
    /// layer.set_properties(["severity"]);
    /// // Nothing to draw: refused.
    /// assert!(!layer.add_feature(1, &TileGeometry::Lines(vec![vec![[5, 5]]]), &[Value::Int(2)]));
    /// assert!(layer.is_empty());
    /// let line = TileGeometry::Lines(vec![vec![[0, 0], [100, 50]]]);
    /// assert!(layer.add_feature(2, &line, &[Value::Int(2)]));
    /// assert_eq!(layer.len(), 1);
    /// ```
    pub fn add_feature(&mut self, id: u64, geometry: &TileGeometry, values: &[Value]) -> bool {
        self.geom.clear();
        let Some(kind) = encode_geometry(geometry, &mut self.geom) else {
            return false;
        };
        self.tags.clear();
        let n = values.len().min(self.properties.len());
        for (i, value) in values[..n].iter().enumerate() {
            if !value.is_null() {
                let k = self.key(i);
                let v = self.value(value);
                put_varint(&mut self.tags, u64::from(k));
                put_varint(&mut self.tags, u64::from(v));
            }
        }
        let (tags, geom) = (self.tags.len(), self.geom.len());
        let mut len = 1 + varint_len(id) + 2 + 1 + varint_len(geom as u64) + geom;
        if tags > 0 {
            len += 1 + varint_len(tags as u64) + tags;
        }
        let buf = &mut self.features;
        buf.reserve(len + 4);
        put_key(buf, 2, WIRE_LEN);
        put_varint(buf, len as u64);
        put_key(buf, 1, WIRE_VARINT);
        put_varint(buf, id);
        if tags > 0 {
            put_bytes(buf, 2, &self.tags);
        }
        put_key(buf, 3, WIRE_VARINT);
        put_varint(buf, kind as u64);
        put_bytes(buf, 4, &self.geom);
        self.feature_count += 1;
        true
    }

    /// Makes room for about `features` more features (their bytes and their new values), so
    /// the buffers and the value table do not grow step by step.
    pub fn reserve(&mut self, features: usize) {
        self.features.reserve(features * FEATURE_BYTES_HINT);
        let values = features * self.properties.len().div_ceil(VALUES_HINT_DIVISOR);
        self.values.reserve(values);
        let (values_now, hasher) = (&self.values, &self.hasher);
        self.value_index.reserve(values, |&i| hash_key(hasher, &values_now[i as usize]));
    }

    /// Bytes the layer takes in a tile (its `Tile.layers` entry), as encoded so far.
    pub fn byte_len(&self) -> usize {
        let len = self.message_len();
        1 + varint_len(len as u64) + len
    }

    /// Bytes of the features encoded so far (without the keys and values they share): a
    /// cheap lower bound of [`LayerEncoder::byte_len`] to check while adding features.
    pub fn feature_bytes(&self) -> usize {
        self.features.len()
    }

    /// Length of the `Tile.Layer` message.
    fn message_len(&self) -> usize {
        let field = |len: usize| 1 + varint_len(len as u64) + len;
        2 + field(self.name.len())
            + self.features.len()
            + self.keys.iter().map(|k| field(k.len())).sum::<usize>()
            + self.values.iter().map(|v| field(v.message_len())).sum::<usize>()
            + 1
            + varint_len(u64::from(self.extent))
    }

    /// Serialises the layer as a `Tile.layers` entry into `tile`.
    fn write_into(&self, tile: &mut Vec<u8>) {
        let len = self.message_len();
        tile.reserve(len + 6);
        put_key(tile, 3, WIRE_LEN);
        put_varint(tile, len as u64);
        put_key(tile, 15, WIRE_VARINT);
        put_varint(tile, 2);
        put_bytes(tile, 1, self.name.as_bytes());
        tile.extend_from_slice(&self.features);
        for k in &self.keys {
            put_bytes(tile, 3, k.as_bytes());
        }
        for v in &self.values {
            put_key(tile, 4, WIRE_LEN);
            put_varint(tile, v.message_len() as u64);
            v.write_message(tile);
        }
        put_key(tile, 5, WIRE_VARINT);
        put_varint(tile, u64::from(self.extent));
    }
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Cursor that turns absolute tile coordinates into zig-zag deltas.
struct Pen {
    x: i32,
    y: i32,
}

impl Pen {
    #[inline]
    fn to(&mut self, p: IPoint, out: &mut Vec<u8>) {
        put_varint(out, u64::from(zigzag(p[0] - self.x)));
        put_varint(out, u64::from(zigzag(p[1] - self.y)));
        self.x = p[0];
        self.y = p[1];
    }
}

#[inline]
fn put_command(out: &mut Vec<u8>, id: u32, count: usize) {
    put_varint(out, u64::from(command(id, count)));
}

/// Encodes geometry commands as packed varints; `None` when nothing drawable is left.
fn encode_geometry(g: &TileGeometry, out: &mut Vec<u8>) -> Option<GeomType> {
    let mut pen = Pen { x: 0, y: 0 };
    match g {
        TileGeometry::Point(p) => {
            put_command(out, CMD_MOVE_TO, 1);
            pen.to(*p, out);
            Some(GeomType::Point)
        }
        TileGeometry::Points(points) => {
            if points.is_empty() {
                return None;
            }
            put_command(out, CMD_MOVE_TO, points.len());
            for &p in points {
                pen.to(p, out);
            }
            Some(GeomType::Point)
        }
        TileGeometry::Lines(lines) => {
            for line in lines.iter().filter(|l| l.len() >= 2) {
                put_command(out, CMD_MOVE_TO, 1);
                pen.to(line[0], out);
                put_command(out, CMD_LINE_TO, line.len() - 1);
                for &p in &line[1..] {
                    pen.to(p, out);
                }
            }
            (!out.is_empty()).then_some(GeomType::LineString)
        }
        TileGeometry::Polygons(polygons) => {
            for ring in polygons.iter().flatten().filter(|r| r.len() >= 3) {
                put_command(out, CMD_MOVE_TO, 1);
                pen.to(ring[0], out);
                put_command(out, CMD_LINE_TO, ring.len() - 1);
                for &p in &ring[1..] {
                    pen.to(p, out);
                }
                put_command(out, CMD_CLOSE_PATH, 1);
            }
            (!out.is_empty()).then_some(GeomType::Polygon)
        }
    }
}

/// Builds a whole tile from layers.
///
/// # Examples
///
/// ```
/// use geozero::mvt::{Message, Tile};
/// use vigie_layers::clip::TileGeometry;
/// use vigie_layers::mvt::{LayerEncoder, TileEncoder};
///
/// let mut points = LayerEncoder::new("points", 4096);
/// points.add_feature(1, &TileGeometry::Point([10, 20]), &[]);
/// points.add_feature(2, &TileGeometry::Points(vec![[30, 40], [50, 60]]), &[]);
/// let empty = LayerEncoder::new("empty", 4096);
///
/// let mut tile = TileEncoder::new();
/// tile.push(&empty);
/// tile.push(&points);
/// assert_eq!(tile.feature_count(), 2);
/// let bytes = tile.finish();
/// let decoded = Tile::decode(bytes.as_slice())?;
/// // The empty layer is left out.
/// let names: Vec<&str> = decoded.layers.iter().map(|l| l.name.as_str()).collect();
/// assert_eq!(names, ["points"]);
///
/// // No features at all: no bytes (served as 204 No Content).
/// assert!(TileEncoder::new().finish().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct TileEncoder {
    buf: Vec<u8>,
    features: usize,
}

impl TileEncoder {
    /// An empty tile.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer. Empty layers are left out, as PostGIS and Martin do.
    pub fn push(&mut self, layer: &LayerEncoder) {
        if !layer.is_empty() {
            layer.write_into(&mut self.buf);
            self.features += layer.len();
        }
    }

    /// Total number of features in the tile.
    pub fn feature_count(&self) -> usize {
        self.features
    }

    /// The encoded tile; empty when no layer had features.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geozero::mvt::{Message, Tile};
    use proptest::prelude::*;

    #[test]
    fn no_point_feature_is_smaller_than_the_minimum() {
        let mut enc = LayerEncoder::new("l", 4096);
        let empty = enc.feature_bytes();
        assert!(enc.add_feature(0, &TileGeometry::Point([0, 0]), &[]));
        assert_eq!(enc.feature_bytes() - empty, MIN_POINT_FEATURE_BYTES, "id 0 at the origin, no property");
        enc.set_properties(["a"]);
        assert!(enc.add_feature(1 << 40, &TileGeometry::Point([4095, 4095]), &[Value::Int(1)]));
        assert!(enc.feature_bytes() - empty > 2 * MIN_POINT_FEATURE_BYTES);
    }

    #[test]
    fn varint_lengths() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
        }
    }

    #[test]
    fn encodes_the_spec_example_geometries() {
        // MVT 2.1 spec, section 4.3.5: a point at (25,17) is [9, 50, 34].
        // Every command and parameter here is under 128: one varint byte each.
        let mut out = Vec::new();
        encode_geometry(&TileGeometry::Points(vec![[25, 17]]), &mut out);
        assert_eq!(out, [9, 50, 34]);
        out.clear();
        encode_geometry(&TileGeometry::Point([25, 17]), &mut out);
        assert_eq!(out, [9, 50, 34]);
        // Polygon example: (3,6) (8,12) (20,34) → [9,6,12, 18,10,12,24,44, 15].
        out.clear();
        encode_geometry(&TileGeometry::Polygons(vec![vec![vec![[3, 6], [8, 12], [20, 34]]]]), &mut out);
        assert_eq!(out, [9, 6, 12, 18, 10, 12, 24, 44, 15]);
    }

    /// Decoded `(key, value)` pairs of each feature, values as text.
    fn decoded_properties(bytes: &[u8]) -> Vec<Vec<(String, String)>> {
        let tile = Tile::decode(bytes).unwrap();
        let layer = &tile.layers[0];
        let value = |v: &geozero::mvt::tile::Value| {
            v.string_value.clone().map_or_else(
                || {
                    v.int_value
                        .or(v.sint_value)
                        .map(|i| format!("int {i}"))
                        .or(v.uint_value.map(|i| format!("int {i}")))
                        .or(v.double_value.map(|f| format!("float {f:?}")))
                        .or(v.bool_value.map(|b| format!("bool {b}")))
                        .unwrap_or_default()
                },
                |s| format!("text {s}"),
            )
        };
        layer
            .features
            .iter()
            .map(|f| {
                f.tags
                    .chunks(2)
                    .map(|kv| (layer.keys[kv[0] as usize].clone(), value(&layer.values[kv[1] as usize])))
                    .collect()
            })
            .collect()
    }

    fn expected_text(v: &Value) -> Option<String> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => format!("bool {b}"),
            Value::Int(i) => format!("int {i}"),
            Value::Float(f) => format!("float {f:?}"),
            Value::Text(s) => format!("text {s}"),
            Value::Time(t) => format!("text {}", crate::feature::format_time_ms(*t)),
        })
    }

    proptest::proptest! {
        /// Whatever the values (repeated, null, of every type, times outside RFC 3339's
        /// years), each feature decodes to its own non-null properties, and the layer's keys
        /// and values hold no duplicate.
        #[test]
        fn properties_round_trip(
            rows in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![
                        Just(Value::Null),
                        proptest::bool::ANY.prop_map(Value::Bool),
                        (-3i64..3).prop_map(Value::Int),
                        proptest::num::i64::ANY.prop_map(Value::Int),
                        (-2.0f64..2.0).prop_map(Value::Float),
                        "[ab]{0,2}".prop_map(Value::text),
                        (-2i64..2).prop_map(|t| Value::Time(t * 86_400_000_000 + 999)),
                        proptest::num::i64::ANY.prop_map(Value::Time),
                    ],
                    0..6,
                ),
                1..40,
            ),
        ) {
            let names = ["a", "b", "c", "d", "e"];
            let mut layer = LayerEncoder::new("p", 4096);
            layer.set_properties(names);
            layer.reserve(rows.len());
            for (i, row) in rows.iter().enumerate() {
                prop_assert!(layer.add_feature(i as u64, &TileGeometry::Point([1, 2]), row));
            }
            let mut tile = TileEncoder::new();
            tile.push(&layer);
            let bytes = tile.finish();
            let decoded = decoded_properties(&bytes);
            for (row, got) in rows.iter().zip(&decoded) {
                let expected: Vec<(String, String)> = names
                    .iter()
                    .zip(row)
                    .filter_map(|(n, v)| expected_text(v).map(|t| ((*n).to_owned(), t)))
                    .collect();
                prop_assert_eq!(got, &expected);
            }
            let l = &Tile::decode(bytes.as_slice()).unwrap().layers[0];
            let mut keys = l.keys.clone();
            keys.dedup();
            prop_assert_eq!(keys.len(), l.keys.len());
            prop_assert!(l.keys.len() <= names.len());
        }
    }

    #[test]
    fn keys_come_in_order_of_first_use_and_unused_names_are_left_out() {
        let mut layer = LayerEncoder::new("l", 4096);
        layer.set_properties(["never", "second", "first"]);
        layer.add_feature(1, &TileGeometry::Point([0, 0]), &[Value::Null, Value::Null, Value::Int(1)]);
        layer.add_feature(2, &TileGeometry::Point([0, 0]), &[Value::Null, Value::Int(1), Value::Int(1)]);
        // A second schema reuses the keys it shares with the first.
        layer.set_properties(["first", "third"]);
        layer.add_feature(3, &TileGeometry::Point([0, 0]), &[Value::Int(2), Value::Time(0)]);
        let mut tile = TileEncoder::new();
        tile.push(&layer);
        let l = &Tile::decode(tile.finish().as_slice()).unwrap().layers[0];
        assert_eq!(l.keys, ["first", "second", "third"]);
        assert_eq!(l.values.len(), 3, "1, 2 and the time; 1 is shared");
        assert_eq!(l.values[2].string_value.as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(l.features[2].tags, [0, 1, 2, 2]);
    }

    #[test]
    fn decodes_with_prost_schema() {
        let mut layer = LayerEncoder::new("entries", 4096);
        layer.set_properties(["title", "severity", "delta", "none"]);
        let title = Value::text("Colis suspect");
        let sev = Value::Int(3);
        let neg = Value::Int(-5);
        assert!(layer.add_feature(7, &TileGeometry::Points(vec![[10, 20]]), &[title, sev.clone(), neg, Value::Null],));
        assert!(layer.add_feature(8, &TileGeometry::Point([11, 21]), &[Value::Null, sev]));
        assert!(!layer.add_feature(9, &TileGeometry::Lines(vec![vec![[1, 1]]]), &[]));
        let mut tile = TileEncoder::new();
        tile.push(&layer);
        tile.push(&LayerEncoder::new("empty", 4096));
        let bytes = tile.finish();
        let decoded = Tile::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded.layers.len(), 1);
        let l = &decoded.layers[0];
        assert_eq!((l.name.as_str(), l.version, l.extent), ("entries", 2, Some(4096)));
        assert_eq!(l.features.len(), 2);
        assert_eq!(l.features[0].id, Some(7));
        assert_eq!(l.keys, ["title", "severity", "delta"]);
        assert_eq!(l.values.len(), 3, "severity 3 is shared");
        assert_eq!(l.values[0].string_value.as_deref(), Some("Colis suspect"));
        assert_eq!(l.values[1].uint_value, Some(3));
        assert_eq!(l.values[2].sint_value, Some(-5));
        assert_eq!(l.features[1].tags, [1, 1]);
    }

    /// Clipping then encoding: what a decoder reads back stays in the buffered tile, and
    /// polygons stay valid with the area of the exact intersection.
    mod clipped {
        use super::*;
        use crate::clip::tests::props::star;
        use crate::clip::{ClipBox, tile_geometry};
        use crate::tile::TileCoord;
        use geo::{Area, BooleanOps, Geometry, Length, LineString, MultiPolygon, Polygon, Validation, coord};
        use geozero::ToGeo;

        fn to_mercator(ls: &LineString<f64>, b: geo::Rect<f64>) -> LineString<f64> {
            let s = b.width() / 4096.0;
            ls.0.iter().map(|c| coord! { x: b.min().x + c.x * s, y: b.max().y - c.y * s }).collect()
        }

        fn decode(bytes: &[u8]) -> Vec<Geometry<f64>> {
            let tile = Tile::decode(bytes).unwrap();
            tile.layers.iter().flat_map(|l| l.features.iter().map(|f| f.to_geo().unwrap())).collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]

            #[test]
            fn clipped_polygons_stay_in_the_buffer_and_valid(
                cx in -3000.0..7000.0f64,
                cy in -3000.0..7000.0f64,
                radii in prop::collection::vec(10.0..4000.0f64, 3..40),
                hole in 0.05..0.6f64,
                phase in 0.0..std::f64::consts::TAU,
                z in 1u32..20,
            ) {
                let coord = TileCoord::new(z, 0, 0).unwrap();
                let b = coord.bounds();
                let min_r = radii.iter().copied().fold(f64::MAX, f64::min);
                let outer = star(cx, cy, &radii, phase);
                let inner: Vec<f64> = vec![min_r * hole; 8];
                let hole_ring = star(cx, cy, &inner, 0.3);
                let tile_poly = Polygon::new(outer.clone(), vec![hole_ring.clone()]);
                let merc = Polygon::new(to_mercator(&outer, b), vec![to_mercator(&hole_ring, b)]);
                let clip = ClipBox::new(64);
                let g = tile_geometry(&Geometry::Polygon(merc), &coord.transform(), &clip);
                let mut enc = LayerEncoder::new("p", 4096);
                if let Some(g) = &g {
                    enc.add_feature(1, g, &[]);
                }
                let mut tile = TileEncoder::new();
                tile.push(&enc);
                let bytes = tile.finish();
                let decoded = if bytes.is_empty() { vec![] } else { decode(&bytes) };

                // Reference area: exact float intersection with the buffered square.
                let square = geo::Rect::new(coord! { x: -64.0, y: -64.0 }, coord! { x: 4160.0, y: 4160.0 }).to_polygon();
                let expected = tile_poly.intersection(&square).unsigned_area();
                let mut got = 0.0;
                for geom in &decoded {
                    for c in geo::CoordsIter::coords_iter(geom) {
                        prop_assert!((-64.0..=4160.0).contains(&c.x) && (-64.0..=4160.0).contains(&c.y), "vertex {c:?} outside");
                    }
                    prop_assert!(geom.is_valid(), "invalid polygon: {geom:?}");
                    got += geom.unsigned_area();
                }
                let perimeter = geo::Euclidean.length(&outer) + geo::Euclidean.length(&hole_ring) + 4.0 * 4224.0;
                prop_assert!((got - expected).abs() <= perimeter * 1.0 + 4.0, "area {got} vs {expected}");
                if expected > perimeter * 2.0 {
                    prop_assert!(!decoded.is_empty(), "a polygon with area {expected} vanished");
                }
                let _ = MultiPolygon::<f64>(vec![]);
            }

            #[test]
            fn clipped_lines_stay_in_the_buffer(
                pts in prop::collection::vec((-6000.0..10000.0f64, -6000.0..10000.0f64), 2..30),
                z in 1u32..20,
            ) {
                let coord = TileCoord::new(z, 0, 0).unwrap();
                let ls: LineString<f64> = pts.iter().map(|&(x, y)| coord! { x: x, y: y }).collect();
                let merc = to_mercator(&ls, coord.bounds());
                if let Some(g) = tile_geometry(&Geometry::LineString(merc), &coord.transform(), &ClipBox::new(64)) {
                    let mut enc = LayerEncoder::new("l", 4096);
                    prop_assert!(enc.add_feature(1, &g, &[]));
                    let mut tile = TileEncoder::new();
                    tile.push(&enc);
                    for geom in decode(&tile.finish()) {
                        for c in geo::CoordsIter::coords_iter(&geom) {
                            prop_assert!((-64.0..=4160.0).contains(&c.x) && (-64.0..=4160.0).contains(&c.y));
                        }
                    }
                }
            }
        }
    }
}
