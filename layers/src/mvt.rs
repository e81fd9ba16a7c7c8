//! Mapbox Vector Tile 2.1 encoder.
//!
//! Written by hand rather than through a general protobuf or geometry crate: the tile path is
//! the hottest code in vigie, and this encoder writes straight into one buffer per layer with
//! deduplicated keys and values, from integer tile coordinates that clipping already produced
//! (geozero's MVT writer floors coordinates and neither clips nor simplifies; see
//! `../shared/deps.md`). Tests decode its output with GDAL and Python `mapbox-vector-tile`.

use crate::clip::{IPoint, TileGeometry};
use crate::feature::{Value, format_time_ms};
use std::collections::HashMap;
use std::sync::Arc;

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

/// Hashable identity of a property value, so equal values share one slot in the layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ValueKey {
    Bool(bool),
    Int(i64),
    Float(u64),
    Text(Arc<str>),
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

    fn encode(&self, buf: &mut Vec<u8>) {
        let mut msg = Vec::with_capacity(16);
        match self {
            Self::Text(s) => put_bytes(&mut msg, 1, s.as_bytes()),
            Self::Time(t) => put_bytes(&mut msg, 1, format_time_ms(*t).as_bytes()),
            Self::Float(bits) => {
                put_key(&mut msg, 3, WIRE_FIXED64);
                msg.extend_from_slice(&bits.to_le_bytes());
            }
            Self::Int(i) if *i >= 0 => {
                put_key(&mut msg, 5, WIRE_VARINT);
                put_varint(&mut msg, *i as u64);
            }
            Self::Int(i) => {
                put_key(&mut msg, 6, WIRE_VARINT);
                put_varint(&mut msg, ((*i << 1) ^ (*i >> 63)) as u64);
            }
            Self::Bool(b) => {
                put_key(&mut msg, 7, WIRE_VARINT);
                put_varint(&mut msg, u64::from(*b));
            }
        }
        put_bytes(buf, 4, &msg);
    }
}

/// Builds one MVT layer: features, deduplicated keys and values.
#[derive(Debug)]
pub struct LayerEncoder {
    name: String,
    extent: u32,
    features: Vec<u8>,
    feature_count: usize,
    keys: Vec<String>,
    key_index: HashMap<String, u32>,
    values: Vec<ValueKey>,
    value_index: HashMap<ValueKey, u32>,
    tags: Vec<u32>,
    geom: Vec<u32>,
    msg: Vec<u8>,
}

impl LayerEncoder {
    /// An empty layer named `name` with the given extent.
    pub fn new(name: &str, extent: u32) -> Self {
        Self {
            name: name.to_owned(),
            extent,
            features: Vec::with_capacity(1024),
            feature_count: 0,
            keys: Vec::new(),
            key_index: HashMap::new(),
            values: Vec::new(),
            value_index: HashMap::new(),
            tags: Vec::with_capacity(32),
            geom: Vec::with_capacity(64),
            msg: Vec::with_capacity(256),
        }
    }

    /// Number of features added so far.
    pub fn len(&self) -> usize {
        self.feature_count
    }

    /// Whether no feature was added.
    pub fn is_empty(&self) -> bool {
        self.feature_count == 0
    }

    fn key(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.key_index.get(name) {
            return i;
        }
        let i = self.keys.len() as u32;
        self.keys.push(name.to_owned());
        self.key_index.insert(name.to_owned(), i);
        i
    }

    fn value(&mut self, key: ValueKey) -> u32 {
        if let Some(&i) = self.value_index.get(&key) {
            return i;
        }
        let i = self.values.len() as u32;
        self.values.push(key.clone());
        self.value_index.insert(key, i);
        i
    }

    /// Adds a feature. `props` pairs property names with values; nulls are skipped. Returns
    /// `false` (and adds nothing) when the geometry has nothing left to draw.
    pub fn add_feature<'a>(
        &mut self,
        id: u64,
        geometry: &TileGeometry,
        props: impl IntoIterator<Item = (&'a str, &'a Value)>,
    ) -> bool {
        self.geom.clear();
        let Some(kind) = encode_geometry(geometry, &mut self.geom) else {
            return false;
        };
        self.tags.clear();
        for (name, value) in props {
            if let Some(vk) = ValueKey::of(value) {
                let k = self.key(name);
                let v = self.value(vk);
                self.tags.push(k);
                self.tags.push(v);
            }
        }
        let msg = &mut self.msg;
        msg.clear();
        put_key(msg, 1, WIRE_VARINT);
        put_varint(msg, id);
        if !self.tags.is_empty() {
            put_packed(msg, 2, &self.tags);
        }
        put_key(msg, 3, WIRE_VARINT);
        put_varint(msg, kind as u64);
        put_packed(msg, 4, &self.geom);
        put_bytes(&mut self.features, 2, msg);
        self.feature_count += 1;
        true
    }

    /// Serialises the layer as a `Tile.layers` entry into `tile`.
    fn write_into(&self, tile: &mut Vec<u8>) {
        let mut layer = Vec::with_capacity(self.features.len() + 64 + self.keys.len() * 12 + self.values.len() * 24);
        put_key(&mut layer, 15, WIRE_VARINT);
        put_varint(&mut layer, 2);
        put_bytes(&mut layer, 1, self.name.as_bytes());
        layer.extend_from_slice(&self.features);
        for k in &self.keys {
            put_bytes(&mut layer, 3, k.as_bytes());
        }
        for v in &self.values {
            v.encode(&mut layer);
        }
        put_key(&mut layer, 5, WIRE_VARINT);
        put_varint(&mut layer, u64::from(self.extent));
        put_bytes(tile, 3, &layer);
    }
}

fn put_packed(buf: &mut Vec<u8>, field: u32, values: &[u32]) {
    let len: usize = values.iter().map(|&v| varint_len(u64::from(v))).sum();
    put_key(buf, field, WIRE_LEN);
    put_varint(buf, len as u64);
    for &v in values {
        put_varint(buf, u64::from(v));
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
    fn to(&mut self, p: IPoint, out: &mut Vec<u32>) {
        out.push(zigzag(p[0] - self.x));
        out.push(zigzag(p[1] - self.y));
        self.x = p[0];
        self.y = p[1];
    }
}

/// Encodes geometry commands; `None` when nothing drawable is left.
fn encode_geometry(g: &TileGeometry, out: &mut Vec<u32>) -> Option<GeomType> {
    let mut pen = Pen { x: 0, y: 0 };
    match g {
        TileGeometry::Points(points) => {
            if points.is_empty() {
                return None;
            }
            out.push(command(CMD_MOVE_TO, points.len()));
            for &p in points {
                pen.to(p, out);
            }
            Some(GeomType::Point)
        }
        TileGeometry::Lines(lines) => {
            for line in lines.iter().filter(|l| l.len() >= 2) {
                out.push(command(CMD_MOVE_TO, 1));
                pen.to(line[0], out);
                out.push(command(CMD_LINE_TO, line.len() - 1));
                for &p in &line[1..] {
                    pen.to(p, out);
                }
            }
            (!out.is_empty()).then_some(GeomType::LineString)
        }
        TileGeometry::Polygons(polygons) => {
            for ring in polygons.iter().flatten().filter(|r| r.len() >= 3) {
                out.push(command(CMD_MOVE_TO, 1));
                pen.to(ring[0], out);
                out.push(command(CMD_LINE_TO, ring.len() - 1));
                for &p in &ring[1..] {
                    pen.to(p, out);
                }
                out.push(command(CMD_CLOSE_PATH, 1));
            }
            (!out.is_empty()).then_some(GeomType::Polygon)
        }
    }
}

/// Builds a whole tile from layers.
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
        let mut out = Vec::new();
        encode_geometry(&TileGeometry::Points(vec![[25, 17]]), &mut out);
        assert_eq!(out, [9, 50, 34]);
        // Polygon example: (3,6) (8,12) (20,34) → [9,6,12, 18,10,12,24,44, 15].
        out.clear();
        encode_geometry(&TileGeometry::Polygons(vec![vec![vec![[3, 6], [8, 12], [20, 34]]]]), &mut out);
        assert_eq!(out, [9, 6, 12, 18, 10, 12, 24, 44, 15]);
    }

    #[test]
    fn decodes_with_prost_schema() {
        let mut layer = LayerEncoder::new("entries", 4096);
        let title = Value::text("Colis suspect");
        let sev = Value::Int(3);
        let neg = Value::Int(-5);
        assert!(layer.add_feature(
            7,
            &TileGeometry::Points(vec![[10, 20]]),
            [("title", &title), ("severity", &sev), ("delta", &neg), ("none", &Value::Null)],
        ));
        assert!(layer.add_feature(8, &TileGeometry::Points(vec![[11, 21]]), [("severity", &sev)]));
        assert!(!layer.add_feature(9, &TileGeometry::Lines(vec![vec![[1, 1]]]), []));
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
}
