//! The point order of a collection: each point feature's cell on a fine grid of the world
//! (2³¹ cells across, about 2 cm at the equator) and the facts filters read of it, kept
//! sorted by the cell's quadkey (its Morton code), 32 bytes a point.
//!
//! Every tile, and every cell of every grid inside a tile, is one contiguous run of that
//! order: a thinned tile counts and clusters its points in one pass over memory laid out in
//! the order it needs, instead of visiting each feature through the R-tree and the heap
//! ([`crate::budget`]). Writes keep it sorted in place: it is cut into chunks of at most
//! 2,048 points, so an insertion moves a chunk's tail (a few kilobytes), not the
//! whole order.
//!
//! A point is kept by value, not by feature id: two features at the same cell with the same
//! facts are the same point to every reader, so removing either removes one of them.

use crate::feature::{Facts, Feature};
use crate::mvt::MIN_POINT_FEATURE_BYTES;
use crate::tile::ORIGIN_SHIFT_M;
use geo::Coord;

/// Depth of the grid points are kept on: 2³¹ cells across the world.
pub const CODE_LEVEL: u8 = 31;
/// Most points in a chunk before it is split in two.
const CHUNK_MAX: usize = 2048;
/// Points per chunk after a bulk load (room for inserts before the first split).
const CHUNK_BULK: usize = 1536;
/// A chunk this small after a removal takes in its neighbour when both fit one chunk.
const CHUNK_MIN: usize = CHUNK_MAX / 8;

/// One point of the order: its cell's quadkey at [`CODE_LEVEL`] and its facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Morton code of the point's cell: x bits at even positions, y (from the north) at odd.
    pub code: u64,
    /// What filters read.
    pub facts: Facts,
}

impl Slot {
    /// The slot of a point feature (`None` for other geometries, multipoints included).
    pub fn of(f: &Feature) -> Option<Self> {
        f.is_point()
            .then(|| Self { code: point_code(f.bbox().min()), facts: Facts::of(&f.attrs).with_properties(&f.props) })
    }

    /// The fewest bytes the point takes as a feature of an MVT layer: a point's least
    /// ([`MIN_POINT_FEATURE_BYTES`]) and, when it has property values, their tags (the field's
    /// key and length, and a key and a value index for each).
    #[inline]
    pub fn least_bytes(&self) -> usize {
        match usize::from(self.facts.properties()) {
            0 => MIN_POINT_FEATURE_BYTES,
            n => MIN_POINT_FEATURE_BYTES + 2 + 2 * n,
        }
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
    let cell = |v: f64| ((v / world * n).floor().clamp(0.0, n - 1.0)) as u64;
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

/// The point order (see the module documentation): a sorted multiset of [`Slot`]s.
#[derive(Debug, Clone, Default)]
pub struct PointOrder {
    /// Non-empty chunks, each sorted by code, every code of one at most every code of the next.
    chunks: Vec<Vec<Slot>>,
    len: usize,
}

impl PointOrder {
    /// The order of `slots`, in any order.
    pub fn from_slots(mut slots: Vec<Slot>) -> Self {
        slots.sort_unstable_by_key(|s| s.code);
        let len = slots.len();
        Self { chunks: slots.chunks(CHUNK_BULK).map(<[Slot]>::to_vec).collect(), len }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no point.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first chunk that may hold `code` (its last code is not below it).
    fn chunk_from(&self, code: u64) -> usize {
        self.chunks.partition_point(|c| c.last().is_some_and(|s| s.code < code))
    }

    /// Adds a point.
    pub fn insert(&mut self, slot: Slot) {
        self.len += 1;
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

    /// Removes one point equal to `slot`; whether there was one.
    pub fn remove(&mut self, slot: &Slot) -> bool {
        for i in self.chunk_from(slot.code)..self.chunks.len() {
            let chunk = &mut self.chunks[i];
            let from = chunk.partition_point(|s| s.code < slot.code);
            let Some(at) = chunk[from..].iter().take_while(|s| s.code == slot.code).position(|s| s == slot) else {
                if chunk.last().is_some_and(|s| s.code > slot.code) {
                    return false;
                }
                continue; // equal codes may go on in the next chunk
            };
            chunk.remove(from + at);
            self.len -= 1;
            if chunk.is_empty() {
                self.chunks.remove(i);
            } else if chunk.len() < CHUNK_MIN
                && self.chunks.get(i + 1).is_some_and(|n| n.len() + self.chunks[i].len() <= CHUNK_MAX)
            {
                let next = self.chunks.remove(i + 1);
                self.chunks[i].extend(next);
            }
            return true;
        }
        false
    }

    /// The points whose codes lie in `lo..hi`, in code order.
    pub fn range(&self, lo: u64, hi: u64) -> impl Iterator<Item = &Slot> {
        self.chunks[self.chunk_from(lo)..].iter().take_while(move |c| c[0].code < hi).flat_map(move |c| {
            let (a, b) = (c.partition_point(|s| s.code < lo), c.partition_point(|s| s.code < hi));
            c[a..b].iter()
        })
    }

    /// Every point, in code order.
    pub fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.chunks.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::Rng;
    use crate::feature::Attrs;
    use proptest::prelude::*;

    fn slot(code: u64, severity: u8) -> Slot {
        Slot { code, facts: Facts::of(&Attrs { severity: Some(severity), ..Attrs::default() }) }
    }

    #[test]
    fn a_slot_is_32_bytes() {
        // 1M points: 32 MB (64 MB at worst, every chunk just split and grown).
        assert_eq!(size_of::<Slot>(), 32);
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
            let s = Slot { code, facts: Facts::of(&Attrs::default()) };
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
            assert_eq!(enc.feature_bytes(), Slot::of(&f).unwrap().least_bytes(), "{:?}", f.props);
        }
        let schema = crate::model::entry_schema();
        let mut enc = LayerEncoder::new("entries", 4096);
        enc.set_properties(schema.fields.iter().map(|f| f.name.as_str()));
        let mut rng = Rng::new(3);
        let vocab = crate::model::ThemeVocabulary::new(["health".into()]);
        let mut interner = crate::model::Interner::default();
        let venues = crate::demo::bundled_venues();
        for e in crate::demo::entries(&venues, 3, 2000, crate::demo::Shapes::Mixed) {
            let f = e.to_feature(&vocab, &mut interner).unwrap();
            let Some(slot) = Slot::of(&f) else { continue };
            let before = enc.feature_bytes();
            let at = [rng.below(4096) as i32, rng.below(4096) as i32];
            assert!(enc.add_feature(f.id, &TileGeometry::Point(at), &f.props));
            assert!(enc.feature_bytes() - before >= slot.least_bytes());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any mix of bulk load, inserts and removals leaves the points a sorted multiset
        /// would hold, and every range reads what a filter over that multiset reads.
        #[test]
        fn the_order_is_a_sorted_multiset(
            seed in any::<u64>(),
            initial in 0usize..6000,
            ops in 0usize..6000,
            spread_bits in 4u32..40,
        ) {
            let mut rng = Rng::new(seed);
            let code = |rng: &mut Rng| rng.next_u64() % (1u64 << spread_bits);
            let first: Vec<Slot> = (0..initial).map(|_| slot(code(&mut rng), rng.below(3) as u8)).collect();
            let mut model = first.clone();
            let mut order = PointOrder::from_slots(first);
            for _ in 0..ops {
                if rng.below(3) == 0 && !model.is_empty() {
                    let s = model.swap_remove(rng.below(model.len()));
                    prop_assert!(order.remove(&s));
                } else if rng.below(10) == 0 {
                    // A point nobody holds.
                    let s = slot(code(&mut rng), 9);
                    prop_assert!(!order.remove(&s));
                } else {
                    let s = slot(code(&mut rng), rng.below(3) as u8);
                    model.push(s);
                    order.insert(s);
                }
            }
            let key = |s: &Slot| (s.code, s.facts.severity());
            model.sort_unstable_by_key(key);
            let mut all: Vec<Slot> = order.iter().copied().collect();
            prop_assert!(all.windows(2).all(|w| w[0].code <= w[1].code), "sorted");
            all.sort_by_key(key);
            prop_assert_eq!(&all, &model);
            prop_assert_eq!(order.len(), model.len());
            for _ in 0..20 {
                let (a, b) = (code(&mut rng), code(&mut rng));
                let (lo, hi) = (a.min(b), a.max(b) + rng.below(2) as u64);
                let mut got: Vec<Slot> = order.range(lo, hi).copied().collect();
                got.sort_by_key(key);
                let want: Vec<Slot> = model.iter().filter(|s| (lo..hi).contains(&s.code)).copied().collect();
                prop_assert_eq!(got, want, "range {}..{}", lo, hi);
            }
        }
    }
}
