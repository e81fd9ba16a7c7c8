//! The point order of a collection: each point feature with its cell on a fine grid of the
//! world (2³¹ cells across, about 2 cm at the equator), kept sorted by the cell's quadkey (its
//! Morton code), 56 bytes a point. A collection keeps its points here and nowhere else: the
//! R-tree holds its other geometries only ([`crate::index::Collection`]).
//!
//! Every tile, and every cell of every grid inside a tile, is one contiguous run of that
//! order: a thinned tile counts and clusters its points in one pass over memory laid out in
//! the order it needs, instead of visiting each feature through the heap
//! ([`crate::budget`]); any other rectangle is a few runs ([`PointOrder::within`]). Writes
//! keep it sorted in place: it is cut into chunks of at most 2,048 points, so an insertion
//! moves a chunk's tail (a hundred kilobytes at most), not the whole order.
//!
//! Kept here rather than in an R-tree, a point takes its slot (56 bytes) where it took a
//! 32-byte slot, a 64-byte tree entry and its share of the tree's nodes (about 26 bytes), and
//! a bulk load is a sort instead of a tree build (`benches/README.md`, "Memory").

use crate::feature::{Facts, Feature, FeatureId};
use crate::index::Item;
use crate::mvt::MIN_POINT_FEATURE_BYTES;
use crate::tile::{ORIGIN_SHIFT_M, union};
use geo::{Coord, Rect};
use std::sync::Arc;

/// Depth of the grid points are kept on: 2³¹ cells across the world.
pub const CODE_LEVEL: u8 = 31;
/// Most points in a chunk before it is split in two.
const CHUNK_MAX: usize = 2048;
/// Points per chunk after a bulk load (room for inserts before the first split).
const CHUNK_BULK: usize = 1536;
/// A chunk this small after a removal takes in its neighbour when both fit one chunk.
const CHUNK_MIN: usize = CHUNK_MAX / 8;
/// [`PointOrder::within`] splits a rectangle into quadtree cells down to a quarter of its
/// smaller side (the runs along its edges, whose points are each tested, then hold about as
/// many points again as the rectangle at most)…
const WITHIN_DEPTH: u64 = 4;
/// … or a sixty-fourth of its larger side, whichever is larger (a few hundred runs at most).
const WITHIN_MAX_SPLIT: u64 = 64;
/// An order this small is scanned whole by [`PointOrder::within`], each point tested: cheaper
/// than finding the runs of a rectangle (a venue layer, a small dataset).
const WITHIN_SCAN_MAX: usize = 2048;

/// One point of the order: its cell's quadkey at [`CODE_LEVEL`], its feature and the
/// feature's brief.
#[derive(Debug, Clone)]
pub struct Slot {
    /// Morton code of the point's cell: x bits at even positions, y (from the north) at odd.
    pub code: u64,
    /// The feature and what filters and region queries read of it.
    pub item: Item,
}

impl Slot {
    /// The slot of a point feature (`None` for other geometries, multipoints included).
    pub fn of(f: &Arc<Feature>) -> Option<Self> {
        f.is_point().then(|| Self { code: point_code(f.bbox().min()), item: Item::new(f.clone()) })
    }

    /// What filters read.
    #[inline]
    pub fn facts(&self) -> &Facts {
        self.item.brief().facts()
    }

    /// The fewest bytes the point takes as a feature of an MVT layer: a point's least
    /// ([`MIN_POINT_FEATURE_BYTES`]) and, when it has property values, their tags (the field's
    /// key and length, and a key and a value index for each).
    #[inline]
    pub fn least_bytes(&self) -> usize {
        match usize::from(self.facts().properties()) {
            0 => MIN_POINT_FEATURE_BYTES,
            n => MIN_POINT_FEATURE_BYTES + 2 + 2 * n,
        }
    }

    /// Whether the point lies inside the rectangle (Web Mercator metres, edges included), as
    /// [`PointOrder::within`] tests it.
    #[inline]
    pub fn within(&self, rect: &CellRect) -> bool {
        rect.holds(self)
    }

    /// The point's cell at [`CODE_LEVEL`], x and y.
    #[inline]
    pub fn cell(&self) -> (u64, u64) {
        (deinterleave(self.code), deinterleave(self.code >> 1))
    }
}

/// The Morton code of the cell holding a Web Mercator point at [`CODE_LEVEL`].
#[inline]
pub fn point_code(at: Coord<f64>) -> u64 {
    let (x, y) = global_cell(at, CODE_LEVEL);
    interleave(x, y)
}

/// The cell holding a point at depth `level` (2^level cells across the world, y from the
/// north), clamped to the world's cells. For every level, the cell is the [`CODE_LEVEL`]
/// cell shifted right by the difference: both are the same fraction of the world scaled by
/// a power of two, then floored.
#[inline]
pub fn global_cell(at: Coord<f64>, level: u8) -> (u64, u64) {
    let n = (1u64 << level) as f64;
    let world = 2.0 * ORIGIN_SHIFT_M;
    // Clamped first, the cast truncates a non-negative value: the floor, without `floor`
    // (a library call on baseline x86-64). NaN casts to 0.
    let cell = |v: f64| (v / world * n).clamp(0.0, n - 1.0) as u64;
    (cell(at.x + ORIGIN_SHIFT_M), cell(ORIGIN_SHIFT_M - at.y))
}

/// x bits at even positions, y bits at odd ones (32 bits each).
#[inline]
pub fn interleave(x: u64, y: u64) -> u64 {
    spread(x) | (spread(y) << 1)
}

#[inline]
fn spread(v: u64) -> u64 {
    let mut v = v & 0xFFFF_FFFF;
    v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
    v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
    v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    v = (v | (v << 2)) & 0x3333_3333_3333_3333;
    (v | (v << 1)) & 0x5555_5555_5555_5555
}

/// The bits at even positions of `v`, packed ([`interleave`]'s x; its y is `v >> 1`'s).
#[inline]
pub fn deinterleave(v: u64) -> u64 {
    let mut v = v & 0x5555_5555_5555_5555;
    v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
    v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
    v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
    (v | (v >> 16)) & 0xFFFF_FFFF
}

/// The point order (see the module documentation): the slots of a collection's points,
/// sorted by code.
#[derive(Debug, Clone, Default)]
pub struct PointOrder {
    /// Non-empty chunks, each sorted by code, every code of one at most every code of the next.
    chunks: Vec<Vec<Slot>>,
    len: usize,
    /// The points' envelope (Web Mercator metres), `None` when there is none.
    bounds: Option<Rect<f64>>,
}

impl PointOrder {
    /// The order of `slots`, in any order.
    pub fn from_slots(mut slots: Vec<Slot>) -> Self {
        slots.sort_unstable_by_key(|s| s.code);
        let len = slots.len();
        let bounds = envelope(slots.iter());
        let mut chunks = Vec::with_capacity(len.div_ceil(CHUNK_BULK));
        let mut rest = slots.into_iter();
        while rest.len() > 0 {
            let mut chunk = Vec::with_capacity(CHUNK_BULK.min(rest.len()));
            chunk.extend(rest.by_ref().take(CHUNK_BULK));
            chunks.push(chunk);
        }
        Self { chunks, len, bounds }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no point.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The points' envelope (Web Mercator metres), `None` when there is none.
    pub fn bounds(&self) -> Option<Rect<f64>> {
        self.bounds
    }

    /// The first chunk that may hold `code` (its last code is not below it).
    fn chunk_from(&self, code: u64) -> usize {
        self.chunks.partition_point(|c| c.last().is_some_and(|s| s.code < code))
    }

    /// Adds a point.
    pub fn insert(&mut self, slot: Slot) {
        self.len += 1;
        let at = slot.item.feature.bbox();
        self.bounds = Some(self.bounds.map_or(at, |b| union(b, at)));
        if self.chunks.is_empty() {
            self.chunks.push(vec![slot]);
            return;
        }
        let i = self.chunk_from(slot.code).min(self.chunks.len() - 1);
        let chunk = &mut self.chunks[i];
        let at = chunk.partition_point(|s| s.code <= slot.code);
        chunk.insert(at, slot);
        if chunk.len() > CHUNK_MAX {
            let tail = chunk.split_off(chunk.len() / 2);
            chunk.shrink_to(CHUNK_MAX);
            self.chunks.insert(i + 1, tail);
        }
    }

    /// Removes the point of feature `id` at `code`; the slot it held, if any.
    pub fn remove(&mut self, code: u64, id: FeatureId) -> Option<Slot> {
        for i in self.chunk_from(code)..self.chunks.len() {
            let chunk = &mut self.chunks[i];
            let from = chunk.partition_point(|s| s.code < code);
            let Some(at) = chunk[from..].iter().take_while(|s| s.code == code).position(|s| s.item.feature.id == id)
            else {
                if chunk.last().is_some_and(|s| s.code > code) {
                    return None;
                }
                continue; // equal codes may go on in the next chunk
            };
            let slot = chunk.remove(from + at);
            self.len -= 1;
            if chunk.is_empty() {
                self.chunks.remove(i);
            } else if chunk.len() < CHUNK_MIN
                && self.chunks.get(i + 1).is_some_and(|n| n.len() + self.chunks[i].len() <= CHUNK_MAX)
            {
                let next = self.chunks.remove(i + 1);
                self.chunks[i].extend(next);
            }
            // A point on the envelope's edge may have been the only one there: measured again
            // (every point read once; the edges of a log's extent are seldom removed).
            let p = slot.item.feature.bbox().min();
            if self.bounds.is_some_and(|b| p.x <= b.min().x || p.y <= b.min().y || p.x >= b.max().x || p.y >= b.max().y)
            {
                self.bounds = envelope(self.iter());
            }
            return Some(slot);
        }
        None
    }

    /// The points whose codes lie in `lo..hi`, in code order.
    pub fn range(&self, lo: u64, hi: u64) -> impl Iterator<Item = &Slot> {
        self.chunks[self.chunk_from(lo)..].iter().take_while(move |c| c[0].code < hi).flat_map(move |c| {
            let (a, b) = (c.partition_point(|s| s.code < lo), c.partition_point(|s| s.code < hi));
            c[a..b].iter()
        })
    }

    /// The points inside `rect` (Web Mercator metres, edges included), in code order: the
    /// runs of the quadtree cells covering it, each point of a run along its edges tested.
    pub fn within(&self, rect: Rect<f64>) -> impl Iterator<Item = &Slot> {
        self.within_by(rect, self.len <= WITHIN_SCAN_MAX)
    }

    /// [`PointOrder::within`], every point tested when `scan`, else the rectangle's runs.
    fn within_by(&self, rect: Rect<f64>, scan: bool) -> impl Iterator<Item = &Slot> {
        let cells = CellRect::of(rect);
        let runs = if scan { vec![(0, u64::MAX, false)] } else { cells.runs() };
        runs.into_iter().flat_map(move |(lo, hi, inside)| self.range(lo, hi).filter(move |s| inside || cells.holds(s)))
    }

    /// Every point, in code order.
    pub fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.chunks.iter().flatten()
    }
}

/// The envelope of some points (Web Mercator metres).
fn envelope<'a>(slots: impl Iterator<Item = &'a Slot>) -> Option<Rect<f64>> {
    slots.map(|s| s.item.feature.bbox()).reduce(union)
}

/// A Web Mercator rectangle on the grid of [`CODE_LEVEL`]: the cells holding its corners
/// ([`Slot::within`] for a rectangle tested many times).
///
/// [`global_cell`] never decreases as a coordinate grows (it scales and floors), so a point
/// whose cell lies strictly between the corners' cells lies strictly inside the rectangle,
/// and one whose cell lies outside them lies outside it. Only points in the cells of its
/// edges (within 2 cm of them) need their position tested.
#[derive(Debug, Clone, Copy)]
pub struct CellRect {
    rect: Rect<f64>,
    /// Cells of the west and east edges.
    x: (u64, u64),
    /// Cells of the north and south edges (y counts from the north).
    y: (u64, u64),
}

impl CellRect {
    /// The cells of `rect`'s corners.
    pub fn of(rect: Rect<f64>) -> Self {
        let (west, north) = global_cell(Coord { x: rect.min().x, y: rect.max().y }, CODE_LEVEL);
        let (east, south) = global_cell(Coord { x: rect.max().x, y: rect.min().y }, CODE_LEVEL);
        Self { rect, x: (west, east), y: (north, south) }
    }

    /// The rectangle.
    pub fn rect(&self) -> Rect<f64> {
        self.rect
    }

    /// Whether a point of a run along the edges lies inside the rectangle.
    #[inline]
    fn holds(&self, s: &Slot) -> bool {
        let (x, y) = s.cell();
        if x < self.x.0 || x > self.x.1 || y < self.y.0 || y > self.y.1 {
            return false;
        }
        if x > self.x.0 && x < self.x.1 && y > self.y.0 && y < self.y.1 {
            return true;
        }
        let p = s.item.feature.bbox().min();
        let r = self.rect;
        p.x >= r.min().x && p.x <= r.max().x && p.y >= r.min().y && p.y <= r.max().y
    }

    /// The code ranges covering the rectangle, sorted, each with whether all of its points
    /// lie strictly inside (else each is tested with [`CellRect::holds`]).
    fn runs(&self) -> Vec<(u64, u64, bool)> {
        let (w, h) = (self.x.1 - self.x.0 + 1, self.y.1 - self.y.0 + 1);
        // The smallest quadtree cell split further: a quarter of the smaller side (a band of
        // a region's lookup boxes is much wider than high), or a sixty-fourth of the larger.
        let finest = (w.min(h) / WITHIN_DEPTH).max(w.max(h) / WITHIN_MAX_SPLIT).max(1);
        let mut out: Vec<(u64, u64, bool)> = Vec::new();
        self.visit(0, 0, u32::from(CODE_LEVEL), finest, &mut out);
        out
    }

    /// Adds the runs of the quadtree cell `(nx, ny)` of side `2^shift` grid cells.
    fn visit(&self, nx: u64, ny: u64, shift: u32, finest: u64, out: &mut Vec<(u64, u64, bool)>) {
        let side = 1u64 << shift;
        let (x0, y0) = (nx << shift, ny << shift);
        let (x1, y1) = (x0 + (side - 1), y0 + (side - 1));
        if x1 < self.x.0 || x0 > self.x.1 || y1 < self.y.0 || y0 > self.y.1 {
            return;
        }
        let inside = x0 > self.x.0 && x1 < self.x.1 && y0 > self.y.0 && y1 < self.y.1;
        if inside || side <= finest || shift == 0 {
            let lo = interleave(nx, ny) << (2 * shift);
            // Codes have 62 bits: the world's cell ends at 2^62.
            let hi = lo + (1u64 << (2 * shift));
            match out.last_mut() {
                Some(last) if last.1 == lo && last.2 == inside => last.1 = hi,
                _ => out.push((lo, hi, inside)),
            }
            return;
        }
        for c in 0..4 {
            self.visit(2 * nx + (c & 1), 2 * ny + (c >> 1), shift - 1, finest, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::Rng;
    use crate::feature::Attrs;
    use proptest::prelude::*;

    /// A slot at `code` (whatever its feature's position: the order reads codes only).
    fn slot(id: u64, code: u64, severity: u8) -> Slot {
        let attrs = Attrs { severity: Some(severity), ..Attrs::default() };
        let f = Feature::from_lonlat(id, &geo::Geometry::Point(geo::Point::new(2.35, 48.85)), attrs, Box::new([]));
        Slot { code, item: Item::new(Arc::new(f.unwrap())) }
    }

    #[test]
    fn a_slot_is_56_bytes() {
        // 1M points: 56 MB (112 MB at worst, every chunk just split and grown).
        assert_eq!(size_of::<Slot>(), 56);
    }

    #[test]
    fn a_cell_at_any_level_is_the_code_shifted() {
        let mut rng = Rng::new(5);
        for _ in 0..5000 {
            let at = crate::tile::lonlat_to_mercator(rng.range(-180.0, 180.0), rng.range(-85.0, 85.0));
            let code = point_code(at);
            for level in 0..=CODE_LEVEL {
                let (x, y) = global_cell(at, level);
                let shift = 2 * u32::from(CODE_LEVEL - level);
                assert_eq!(interleave(x, y), code >> shift, "{at:?} at level {level}");
            }
            let s = Slot { code, ..slot(1, 0, 0) };
            assert_eq!(s.cell(), global_cell(at, CODE_LEVEL));
        }
    }

    /// A point's least bytes are what its smallest encoding takes, and no demo entry encodes
    /// smaller.
    #[test]
    fn no_point_encodes_smaller_than_its_least_bytes() {
        use crate::clip::TileGeometry;
        use crate::feature::Value;
        use crate::mvt::LayerEncoder;
        let point = |props: Vec<Value>| {
            let g = geo::Geometry::Point(geo::Point::new(2.35, 48.85));
            Feature::from_lonlat(1, &g, Attrs::default(), props.into_boxed_slice()).unwrap()
        };
        for props in [vec![], vec![Value::Null], vec![Value::Int(1), Value::Null, Value::Bool(true)]] {
            let f = point(props);
            let mut enc = LayerEncoder::new("l", 4096);
            enc.set_properties(["a", "b", "c"]);
            assert!(enc.add_feature(1, &TileGeometry::Point([0, 0]), &f.props));
            assert_eq!(enc.feature_bytes(), Slot::of(&Arc::new(f.clone())).unwrap().least_bytes(), "{:?}", f.props);
        }
        let schema = crate::model::entry_schema();
        let mut enc = LayerEncoder::new("entries", 4096);
        enc.set_properties(schema.fields.iter().map(|f| f.name.as_str()));
        let mut rng = Rng::new(3);
        let vocab = crate::model::ThemeVocabulary::new(["health".into()]);
        let mut interner = crate::model::Interner::default();
        let venues = crate::demo::bundled_venues();
        for e in crate::demo::entries(&venues, 3, 2000, crate::demo::Shapes::Mixed) {
            let f = Arc::new(e.to_feature(&vocab, &mut interner).unwrap());
            let Some(slot) = Slot::of(&f) else { continue };
            let before = enc.feature_bytes();
            let at = [rng.below(4096) as i32, rng.below(4096) as i32];
            assert!(enc.add_feature(f.id, &TileGeometry::Point(at), &f.props));
            assert!(enc.feature_bytes() - before >= slot.least_bytes());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any mix of bulk load, inserts and removals leaves the points a sorted set would
        /// hold, and every range reads what a filter over that set reads.
        #[test]
        fn the_order_is_a_sorted_set(
            seed in any::<u64>(),
            initial in 0usize..6000,
            ops in 0usize..6000,
            spread_bits in 4u32..40,
        ) {
            let mut rng = Rng::new(seed);
            let code = |rng: &mut Rng| rng.next_u64() % (1u64 << spread_bits);
            let mut next_id = 0u64;
            let mut fresh = |rng: &mut Rng| {
                next_id += 1;
                slot(next_id, code(rng), rng.below(3) as u8)
            };
            let first: Vec<Slot> = (0..initial).map(|_| fresh(&mut rng)).collect();
            let key = |s: &Slot| (s.code, s.item.feature.id);
            let mut model: Vec<(u64, u64)> = first.iter().map(key).collect();
            let mut order = PointOrder::from_slots(first);
            for _ in 0..ops {
                if rng.below(3) == 0 && !model.is_empty() {
                    let (code, id) = model.swap_remove(rng.below(model.len()));
                    let gone = order.remove(code, id);
                    prop_assert_eq!(gone.map(|s| key(&s)), Some((code, id)));
                } else if rng.below(10) == 0 {
                    // A point nobody holds.
                    prop_assert!(order.remove(code(&mut rng), u64::MAX).is_none());
                } else {
                    let s = fresh(&mut rng);
                    model.push(key(&s));
                    order.insert(s);
                }
            }
            model.sort_unstable();
            let mut all: Vec<(u64, u64)> = order.iter().map(key).collect();
            prop_assert!(all.windows(2).all(|w| w[0].0 <= w[1].0), "sorted");
            all.sort_unstable();
            prop_assert_eq!(&all, &model);
            prop_assert_eq!(order.len(), model.len());
            for _ in 0..20 {
                let (a, b) = (code(&mut rng), code(&mut rng));
                let (lo, hi) = (a.min(b), a.max(b) + rng.below(2) as u64);
                let mut got: Vec<(u64, u64)> = order.range(lo, hi).map(key).collect();
                got.sort_unstable();
                let want: Vec<(u64, u64)> = model.iter().filter(|s| (lo..hi).contains(&s.0)).copied().collect();
                prop_assert_eq!(got, want, "range {}..{}", lo, hi);
            }
        }

        /// The points `within` a rectangle are those a test of every point finds, for any
        /// rectangle (world-wide to centimetres, across the antimeridian's edge of the world
        /// or off it), with inserts and removals between.
        #[test]
        fn within_finds_what_a_scan_finds(seed in any::<u64>(), n in 0usize..3000, cluster_m in 1.0f64..1e7) {
            let mut rng = Rng::new(seed);
            let centre = crate::tile::lonlat_to_mercator(rng.range(-179.0, 179.0), rng.range(-84.0, 84.0));
            let spot = |rng: &mut Rng| Coord {
                x: (centre.x + rng.range(-cluster_m, cluster_m)).clamp(1.0 - ORIGIN_SHIFT_M, ORIGIN_SHIFT_M - 1.0),
                y: (centre.y + rng.range(-cluster_m, cluster_m)).clamp(1.0 - ORIGIN_SHIFT_M, ORIGIN_SHIFT_M - 1.0),
            };
            let point = |id: u64, at: Coord<f64>| {
                let ll = crate::tile::mercator_to_lonlat(at);
                let g = geo::Geometry::Point(geo::Point(ll));
                Slot::of(&Arc::new(Feature::from_lonlat(id, &g, Attrs::default(), Box::new([])).unwrap())).unwrap()
            };
            let mut order = PointOrder::from_slots((0..n as u64).map(|id| point(id, spot(&mut rng))).collect());
            for id in 0..(n / 4) as u64 {
                let s = order.iter().nth(rng.below(order.len())).map(|s| (s.code, s.item.feature.id));
                if let Some((code, id)) = s {
                    order.remove(code, id);
                }
                order.insert(point(n as u64 + id, spot(&mut rng)));
            }
            for _ in 0..30 {
                let (a, b) = (spot(&mut rng), spot(&mut rng));
                let grow = rng.range(0.0, cluster_m / 10.0);
                let rect = Rect::new(Coord { x: a.x - grow, y: a.y - grow }, Coord { x: b.x + grow, y: b.y + grow });
                let mut got: Vec<u64> = order.within_by(rect, false).map(|s| s.item.feature.id).collect();
                let mut scanned: Vec<u64> = order.within_by(rect, true).map(|s| s.item.feature.id).collect();
                prop_assert!(got.windows(2).all(|w| w[0] != w[1]), "no point twice");
                got.sort_unstable();
                scanned.sort_unstable();
                prop_assert_eq!(&got, &scanned);
                let meets = |p: Coord<f64>| {
                    p.x >= rect.min().x && p.x <= rect.max().x && p.y >= rect.min().y && p.y <= rect.max().y
                };
                let mut want: Vec<u64> =
                    order.iter().filter(|s| meets(s.item.feature.bbox().min())).map(|s| s.item.feature.id).collect();
                want.sort_unstable();
                prop_assert_eq!(got, want);
            }
            // A point exactly on an edge is inside.
            if let Some(s) = order.iter().next() {
                let p = s.item.feature.bbox().min();
                let on_edge = Rect::new(p, Coord { x: p.x + 1.0, y: p.y + 1.0 });
                prop_assert!(order.within_by(on_edge, false).any(|t| t.item.feature.id == s.item.feature.id));
            }
            let b = order.bounds();
            let all: Vec<Coord<f64>> = order.iter().map(|s| s.item.feature.bbox().min()).collect();
            prop_assert_eq!(b.is_none(), all.is_empty());
            if let Some(b) = b {
                prop_assert!(all.iter().all(|p| b.min().x <= p.x && p.x <= b.max().x && b.min().y <= p.y && p.y <= b.max().y));
                // Tight: the envelope's edges are points' coordinates, bit for bit.
                let (west, north) = (b.min().x.to_bits(), b.max().y.to_bits());
                prop_assert!(all.iter().any(|p| p.x.to_bits() == west) && all.iter().any(|p| p.y.to_bits() == north));
            }
        }
    }
}
