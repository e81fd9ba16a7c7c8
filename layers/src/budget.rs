//! Tile budgets: a layer's tile holding more features or bytes than its budget is thinned by
//! density, never cut arbitrarily.
//!
//! Thinning clusters the layer's features on a grid of the tile: the finest grid, from 2⁸
//! cells across the tile (two screen pixels on a 512-pixel tile) down to the whole tile,
//! whose clusters fit the budget. Each cluster is one point at the mean position of its
//! features (each taken at the centre of its cell of the point order's 2³¹-cell grid, about
//! 2 cm: integer sums, the same bits whatever order the features come in), carrying `point_count` (its features), `max_severity` (the worst severity among
//! them, left out when none has one) and `n_<theme>` (its features tagged with each catalog
//! theme, left out when none is). Its MVT feature id is its grid cell's quadkey (with a
//! leading 1 digit for its depth), so the same cell keeps the same id in every tile and every
//! render: clusters do not flicker.
//!
//! Every matched feature is counted once per tile it belongs to: a point in the tile whose
//! grid holds it (cells are half-open, so a point on an edge belongs to one tile only); a line
//! or polygon in every tile its box meets, at its box's centre brought into the tile. The
//! `point_count`s of a tile's clusters add up to the features the filters matched there.
//!
//! Budgets hold at every zoom: a client that overzooms past a layer's `maxzoom` keeps the
//! clusters of that zoom (the web view asks for tiles down to z20 instead, where they split;
//! GIS clients ask with `budget=off`).
//!
//! A layer is over its budget when it holds more features than the budget allows, when its
//! points cannot fit the budget's bytes even at the least each takes
//! ([`crate::order::Slot::least_bytes`]), or when its encoding passes them. The first two
//! are known before anything is encoded: the engine counts and clusters the points of such a
//! tile straight from the collection's point order ([`crate::order`]), one pass over the
//! tile's run of it for all the layers of a composite.
//!
//! Raw tiles (`budget=off` on the HTTP API) hold every feature, up to a hard ceiling in bytes
//! past which the render is refused ([`OverCeiling`]) rather than sent.

use crate::catalog::LayerDef;
use crate::clip::TileGeometry;
use crate::feature::{Field, FieldType, Schema, Value};
use crate::mvt::LayerEncoder;
use crate::order::{CODE_LEVEL, Slot, deinterleave, global_cell, interleave};
use crate::tile::{EXTENT, TileCoord};
use geo::Coord;

/// Features a tile may hold before it is thinned (tippecanoe's default per tile).
pub const DEFAULT_MAX_FEATURES: usize = 200_000;
/// Bytes a tile may hold before it is thinned (tippecanoe's default per tile, 500 KB).
pub const DEFAULT_MAX_BYTES: usize = 500_000;
/// Bytes past which a raw tile is refused (32 MiB).
pub const DEFAULT_RAW_MAX_BYTES: usize = 32 << 20;
/// Finest clustering grid: 2^8 cells across a tile.
pub const FINEST_GRID: u8 = 8;
/// Fewest bytes one cluster of a cell at depth `level` takes in a layer: its frame (2), its id
/// (a key and the varint of at least 4^level), its `point_count` tag (4: the tags' key and
/// length, a key and a value index), its type (2) and its point (5). A grid whose clusters
/// cannot fit the budget at this size is not encoded (encoding is most of a thinned layer's
/// cost).
fn min_cluster_bytes(level: u8) -> usize {
    let id_bits = 2 * usize::from(level) + 1;
    2 + 1 + id_bits.div_ceil(7) + 4 + 2 + 5
}

/// What one layer of a tile may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Most features before the layer is clustered.
    pub features: usize,
    /// Most bytes of the encoded layer before it is clustered.
    pub bytes: usize,
    /// Most bytes of a raw layer (a filter's `raw`): past it the render is refused
    /// ([`OverCeiling`]).
    pub ceiling: usize,
}

impl Default for Budget {
    /// A whole tile's defaults: tippecanoe's, and a 32 MiB raw ceiling.
    fn default() -> Self {
        Self { features: DEFAULT_MAX_FEATURES, bytes: DEFAULT_MAX_BYTES, ceiling: DEFAULT_RAW_MAX_BYTES }
    }
}

impl Budget {
    /// Every feature, whatever the size (library callers that bound their own inputs).
    pub const UNBOUNDED: Self = Self { features: usize::MAX, bytes: usize::MAX, ceiling: usize::MAX };

    /// The part of a tile's budget each of `layers` layers gets: an equal share, so the
    /// composite tile stays within the whole. The raw ceiling is not shared (the caller checks
    /// the whole tile against it).
    #[must_use]
    pub fn share(self, layers: usize) -> Self {
        let n = layers.max(1);
        Self { features: (self.features / n).max(1), bytes: (self.bytes / n).max(1), ceiling: self.ceiling }
    }

    /// This budget lowered to a layer's own (`max_features`, `max_bytes` in the catalog).
    #[must_use]
    pub fn within(self, def: &LayerDef) -> Self {
        Self {
            features: def.max_features.map_or(self.features, |m| m.min(self.features)),
            bytes: def.max_bytes.map_or(self.bytes, |m| m.min(self.bytes)),
            ceiling: self.ceiling,
        }
    }
}

/// A raw layer past the ceiling: refused rather than sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("layer '{layer}' of tile {tile} is over {ceiling} bytes, the ceiling of raw tiles")]
pub struct OverCeiling {
    /// The layer's id.
    pub layer: String,
    /// The tile.
    pub tile: TileCoord,
    /// The ceiling, bytes.
    pub ceiling: usize,
}

/// A feature as clustering sees it.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// Where it counts, Web Mercator metres: a point's position, the centre of a line's or a
    /// polygon's box.
    pub at: Coord<f64>,
    /// Whether it is a line or polygon meeting the tile: its cell is brought into the tile.
    pub extended: bool,
    /// Severity 0–4, if it has one.
    pub severity: Option<u8>,
    /// Catalog theme bits.
    pub themes: u64,
}

/// The properties of clusters (TileJSON, the catalog): `point_count`, `max_severity` and
/// `n_<theme>` for each theme.
pub fn schema(theme_ids: &[String]) -> Schema {
    let mut fields = vec![
        Field::new("point_count", FieldType::Integer, "Features in the cluster (thinned tiles only)"),
        Field::new("max_severity", FieldType::Integer, "Worst severity in the cluster (thinned tiles only)"),
    ];
    fields.extend(
        theme_ids
            .iter()
            .map(|t| Field::new(&format!("n_{t}"), FieldType::Integer, &format!("Features of the cluster tagged {t}"))),
    );
    Schema { fields }
}

/// The id of grid cell (`x`, `y`) at depth `level` (cells across the world: 2^level): its
/// quadkey read as base-4 digits after a leading 1. A cell's parent is `id >> 2`.
///
/// ```
/// use vigie_layers::budget::{cell_id, cell_of_id};
/// assert_eq!(cell_id(0, 0, 0), 1);
/// assert_eq!(cell_id(1, 1, 0), 0b101);
/// assert_eq!(cell_id(2, 3, 1) >> 2, cell_id(1, 1, 0));
/// assert_eq!(cell_of_id(cell_id(17, 66_000, 45_000)), Some((17, 66_000, 45_000)));
/// ```
pub fn cell_id(level: u8, x: u64, y: u64) -> u64 {
    (1u64 << (2 * u32::from(level))) | interleave(x, y)
}

/// The depth and cell of a [`cell_id`]; `None` for a value no cell has.
pub fn cell_of_id(id: u64) -> Option<(u8, u64, u64)> {
    if id == 0 || !id.ilog2().is_multiple_of(2) {
        return None;
    }
    let level = (id.ilog2() / 2) as u8;
    let digits = id & !(1u64 << (2 * u32::from(level)));
    Some((level, deinterleave(digits), deinterleave(digits >> 1)))
}

/// What one finest grid cell of a tile holds, summed.
#[derive(Debug, Clone, Copy, Default)]
struct CellSum {
    count: u32,
    /// The worst severity plus one, 0 when none has one.
    severity: u8,
    /// Positions summed at [`CODE_LEVEL`] (integers: the same sums in any order).
    x: u64,
    y: u64,
}

/// A member placed in its tile: its finest grid cell (tile-local quadkey digits) and its
/// position at [`CODE_LEVEL`].
#[derive(Debug, Clone, Copy)]
struct Placed {
    cell: u64,
    x: u64,
    y: u64,
    severity: Option<u8>,
    themes: u64,
}

/// The clusters of one tile's layer being summed, finest grid cell by cell: members are
/// added in cell order (the points of a [`crate::order::PointOrder`] range come so), the
/// others (given first, as [`Member`]s) are merged in as the stream passes their cells.
/// [`Clusters::encode`] then picks the grid.
#[derive(Debug)]
pub struct Clusters {
    coord: TileCoord,
    finest: u8,
    themes: usize,
    /// Codes of the tile at [`CODE_LEVEL`] span `base..base + span`.
    base: u64,
    span: u64,
    /// A code's offset in the tile shifted right by this is its finest cell.
    cell_shift: u32,
    /// Bits of the catalog's themes.
    theme_bits: u64,
    /// Members waiting for the stream to reach their cell, the last cell first.
    pending: Vec<Placed>,
    /// The finest cells holding members, in order, and their sums.
    cells: Vec<u64>,
    sums: Vec<CellSum>,
    /// `themes` counts per cell.
    theme_counts: Vec<u32>,
    added: usize,
    /// The least bytes the points pushed take as raw features ([`Slot::least_bytes`]).
    least_bytes: usize,
}

impl Clusters {
    /// The clusters of tile `coord` with the catalog's `themes` themes, holding `members`
    /// (those that do not belong to the tile are left out).
    pub fn new<'m>(coord: TileCoord, themes: usize, members: impl IntoIterator<Item = &'m Member>) -> Self {
        let finest = FINEST_GRID.min(CODE_LEVEL - coord.z());
        let span_bits = 2 * u32::from(CODE_LEVEL - coord.z());
        let base = interleave(u64::from(coord.x()), u64::from(coord.y())) << span_bits;
        let mut c = Self {
            coord,
            finest,
            themes,
            base,
            span: 1u64 << span_bits,
            cell_shift: 2 * u32::from(CODE_LEVEL - coord.z() - finest),
            theme_bits: if themes >= 64 { u64::MAX } else { (1u64 << themes) - 1 },
            pending: Vec::new(),
            cells: Vec::new(),
            sums: Vec::new(),
            theme_counts: Vec::new(),
            added: 0,
            least_bytes: 0,
        };
        c.pending = members.into_iter().filter_map(|m| c.place(m)).collect();
        c.pending.sort_unstable_by_key(|p| std::cmp::Reverse(p.cell));
        c
    }

    /// The codes at [`CODE_LEVEL`] of the tile's points: `lo..hi`.
    pub fn code_range(&self) -> (u64, u64) {
        (self.base, self.base + self.span)
    }

    /// Members counted so far, waiting ones included.
    pub fn len(&self) -> usize {
        self.added + self.pending.len()
    }

    /// The fewest bytes the points pushed would take as the raw layer's features.
    pub fn least_bytes(&self) -> usize {
        self.least_bytes
    }

    /// Whether no member is counted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where a member counts in the tile, `None` when it does not belong to it.
    fn place(&self, m: &Member) -> Option<Placed> {
        let level = self.coord.z() + self.finest;
        let (gx, gy) = global_cell(m.at, level);
        let side = 1u64 << self.finest;
        let (x0, y0) = (u64::from(self.coord.x()) << self.finest, u64::from(self.coord.y()) << self.finest);
        let inside = |g: u64, o: u64| (o..o + side).contains(&g);
        let (lx, ly, x, y) = if inside(gx, x0) && inside(gy, y0) {
            let (x, y) = global_cell(m.at, CODE_LEVEL);
            (gx - x0, gy - y0, x, y)
        } else if m.extended {
            // Counted at the centre of the finest cell it is brought into.
            let (lx, ly) = (gx.clamp(x0, x0 + side - 1) - x0, gy.clamp(y0, y0 + side - 1) - y0);
            let below = u32::from(CODE_LEVEL - level);
            let half = (1u64 << below) / 2;
            (lx, ly, ((x0 + lx) << below) + half, ((y0 + ly) << below) + half)
        } else {
            return None;
        };
        Some(Placed { cell: interleave(lx, ly), x, y, severity: m.severity, themes: m.themes })
    }

    /// Adds a point of the tile: its slot in the point order (within
    /// [`Clusters::code_range`]) and the slot's cell. Points must come in code order.
    #[inline]
    pub fn push_point(&mut self, slot: &Slot, (x, y): (u64, u64)) {
        let cell = (slot.code - self.base) >> self.cell_shift;
        while let Some(p) = self.pending.pop_if(|p| p.cell <= cell) {
            self.push(p);
        }
        let (severity, themes) = (slot.facts().severity(), slot.facts().themes().0);
        self.least_bytes += slot.least_bytes();
        self.push(Placed { cell, x, y, severity, themes });
    }

    #[expect(
        clippy::inline_always,
        reason = "a few additions per point: the call's register saves were a third of its cost (callgrind)"
    )]
    #[inline(always)]
    fn push(&mut self, p: Placed) {
        if self.cells.last() != Some(&p.cell) {
            self.open_cell(p.cell);
        }
        let last = self.sums.len() - 1;
        let s = &mut self.sums[last];
        s.count += 1;
        s.severity = s.severity.max(p.severity.map_or(0, |v| v + 1));
        s.x += p.x;
        s.y += p.y;
        let mut bits = p.themes & self.theme_bits;
        if bits != 0 {
            let counts = &mut self.theme_counts[last * self.themes..(last + 1) * self.themes];
            while bits != 0 {
                counts[bits.trailing_zeros() as usize] += 1;
                bits &= bits - 1;
            }
        }
        self.added += 1;
    }

    /// Starts the sums of the next cell holding members.
    fn open_cell(&mut self, cell: u64) {
        debug_assert!(self.cells.last().is_none_or(|&c| c < cell), "members in cell order");
        self.cells.push(cell);
        self.sums.push(CellSum::default());
        self.theme_counts.resize(self.theme_counts.len() + self.themes, 0);
    }

    /// The clusters of the finest grid that fits `features` and `bytes` (the whole tile as
    /// one cell when none does), encoded as layer `name`.
    pub fn encode(mut self, name: &str, theme_ids: &[String], features: usize, bytes: usize) -> LayerEncoder {
        while let Some(p) = self.pending.pop() {
            self.push(p);
        }
        let mut chosen = LayerEncoder::new(name, EXTENT);
        for grid in (0..=self.finest).rev() {
            let shift = 2 * u32::from(self.finest - grid);
            let clusters = count_runs(self.cells.iter().map(|c| c >> shift));
            let least = min_cluster_bytes(self.coord.z() + grid);
            if grid > 0 && (clusters > features || clusters.saturating_mul(least) > bytes) {
                continue;
            }
            let enc = self.encode_grid(name, shift, grid, theme_ids);
            let fits = enc.byte_len() <= bytes;
            chosen = enc;
            if fits {
                break;
            }
        }
        chosen
    }

    /// The clusters of one grid (cells of `grid` levels below the tile).
    fn encode_grid(&self, name: &str, shift: u32, grid: u8, theme_ids: &[String]) -> LayerEncoder {
        let mut enc = LayerEncoder::new(name, EXTENT);
        enc.set_properties(schema(theme_ids).fields.iter().map(|f| f.name.as_str()));
        let coord = self.coord;
        let tile_digits = interleave(u64::from(coord.x()), u64::from(coord.y()));
        let level = coord.z() + grid;
        let below = u32::from(CODE_LEVEL - coord.z());
        let (ox, oy) = ((u64::from(coord.x()) << below) as f64, (u64::from(coord.y()) << below) as f64);
        let scale = f64::from(EXTENT) / (1u64 << below) as f64;
        let mut values: Vec<Value> = Vec::with_capacity(2 + theme_ids.len());
        let mut themes = vec![0u32; self.themes];
        let mut start = 0;
        while start < self.cells.len() {
            let cell = self.cells[start] >> shift;
            let end = start + self.cells[start..].iter().take_while(|c| *c >> shift == cell).count();
            let mut sum = CellSum::default();
            themes.fill(0);
            for (i, s) in self.sums[start..end].iter().enumerate() {
                sum.count += s.count;
                sum.severity = sum.severity.max(s.severity);
                sum.x += s.x;
                sum.y += s.y;
                let counts = &self.theme_counts[(start + i) * self.themes..(start + i + 1) * self.themes];
                themes.iter_mut().zip(counts).for_each(|(t, c)| *t += c);
            }
            let n = f64::from(sum.count);
            // The mean position, each member at the centre of its cell.
            let at = |s: u64, o: f64| ((s as f64 / n + 0.5 - o) * scale).round().clamp(0.0, f64::from(EXTENT - 1));
            let point = [at(sum.x, ox) as i32, at(sum.y, oy) as i32];
            values.clear();
            values.push(Value::Int(i64::from(sum.count)));
            values.push(if sum.severity == 0 { Value::Null } else { Value::Int(i64::from(sum.severity - 1)) });
            values.extend(
                themes.iter().take(theme_ids.len()).map(
                    |&t| {
                        if t == 0 { Value::Null } else { Value::Int(i64::from(t)) }
                    },
                ),
            );
            let id = (1u64 << (2 * u32::from(level))) | (tile_digits << (2 * u32::from(grid))) | cell;
            enc.add_feature(id, &TileGeometry::Point(point), &values);
            start = end;
        }
        enc
    }
}

/// The clusters of a tile's members: the finest grid whose clusters fit `features` and
/// `bytes` (the whole tile as one cell when none does), encoded as layer `name`. Members that
/// do not belong to the tile are left out.
pub fn encode(
    name: &str,
    coord: TileCoord,
    members: &[Member],
    theme_ids: &[String],
    features: usize,
    bytes: usize,
) -> LayerEncoder {
    Clusters::new(coord, theme_ids.len(), members).encode(name, theme_ids, features, bytes)
}

fn count_runs(sorted: impl Iterator<Item = u64>) -> usize {
    let mut last = None;
    sorted.filter(|c| last.replace(*c) != Some(*c)).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::demo::Rng;
    use crate::engine::{ENTRIES, Engine, Layer};
    use crate::feature::Feature;
    use crate::filter::Filter;
    use crate::index::Collection;
    use crate::model::entry_schema;
    use crate::query::tests::random_features;
    use crate::tile::tiles_covering;
    use geo::{BoundingRect, Geometry, Rect};
    use geozero::mvt::{Message, Tile};
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;

    /// A decoded feature: id, point (tile units) and integer properties.
    type Decoded = (u64, [i32; 2], HashMap<String, i64>);

    /// The entries layer of a tile, read with the `geozero` protobuf schema.
    fn decode(bytes: &[u8]) -> Vec<Decoded> {
        let tile = Tile::decode(bytes).unwrap();
        let Some(l) = tile.layers.iter().find(|l| l.name == "entries") else { return Vec::new() };
        l.features
            .iter()
            .map(|f| {
                let zz = |v: u32| ((v >> 1) as i32) ^ -((v & 1) as i32);
                let point = if f.geometry.len() == 3 && f.geometry[0] == 9 {
                    [zz(f.geometry[1]), zz(f.geometry[2])]
                } else {
                    [i32::MIN, i32::MIN]
                };
                let props = f
                    .tags
                    .chunks(2)
                    .filter_map(|kv| {
                        let v = &l.values[kv[1] as usize];
                        let n = v.uint_value.map(|u| u as i64).or(v.int_value).or(v.sint_value)?;
                        Some((l.keys[kv[0] as usize].clone(), n))
                    })
                    .collect();
                (f.id.unwrap(), point, props)
            })
            .collect()
    }

    fn engine_with(features: Vec<Feature>) -> Engine {
        let engine = Engine::new(Catalog::bundled());
        engine.replace(&ENTRIES, Collection::bulk_load(entry_schema(), features));
        engine
    }

    /// Whether a random feature lies by Paris (the others sit near ±180°, where the tiles of
    /// a test's zoom would be millions).
    fn in_paris(f: &Feature) -> bool {
        (2.0..3.0).contains(&f.lonlat().bounding_rect().unwrap().min().x)
    }

    /// The layers that draw the log's entries as features: the entries layer and the theme
    /// layers.
    fn entry_layers(engine: &Engine) -> Vec<Arc<Layer>> {
        engine.layers().iter().filter(|l| l.collection == ENTRIES && !l.is_h3()).cloned().collect()
    }

    /// The tiles at zoom `z` over the features' area.
    fn tiles_over(features: &[Feature], z: u8) -> Vec<TileCoord> {
        let area =
            features.iter().filter_map(|f| f.geometry().bounding_rect()).fold(None, |acc: Option<Rect<f64>>, r| {
                Some(acc.map_or(r, |a| {
                    Rect::new(
                        Coord { x: a.min().x.min(r.min().x), y: a.min().y.min(r.min().y) },
                        Coord { x: a.max().x.max(r.max().x), y: a.max().y.max(r.max().y) },
                    )
                }))
            });
        let (x0, y0, x1, y1) = tiles_covering(area.unwrap(), z, 0);
        (x0..=x1).flat_map(|x| (y0..=y1).map(move |y| TileCoord::new(z.into(), x.into(), y.into()).unwrap())).collect()
    }

    /// What a clustered tile must count: the matched points inside the tile (half-open, so
    /// random points are never on an edge), the matched lines and polygons whose box meets it.
    fn expected(features: &[Feature], filter: &Filter, coord: TileCoord) -> i64 {
        let b = coord.bounds();
        features
            .iter()
            .filter(|f| filter.matches(&f.attrs))
            .filter(|f| match *f.geometry() {
                Geometry::Point(p) => {
                    b.min().x <= p.x() && p.x() < b.max().x && b.min().y < p.y() && p.y() <= b.max().y
                }
                _ => {
                    f.bbox().min().x <= b.max().x
                        && b.min().x <= f.bbox().max().x
                        && f.bbox().min().y <= b.max().y
                        && b.min().y <= f.bbox().max().y
                }
            })
            .count() as i64
    }

    fn random_filter(rng: &mut Rng, engine: &Engine) -> Filter {
        let mut f = Filter::default();
        f.min_severity = [None, Some(1), Some(3)][rng.below(3)];
        if rng.below(2) == 0 {
            let ids = engine.vocabulary().ids();
            f = f.with_tags(&[ids[rng.below(ids.len())].clone()], engine.vocabulary());
        }
        f
    }

    #[test]
    fn cell_ids_round_trip_and_nest() {
        let mut rng = Rng::new(3);
        for _ in 0..2000 {
            let level = rng.below(32) as u8;
            let n = 1u64 << level;
            let (x, y) = (rng.next_u64() % n, rng.next_u64() % n);
            let id = cell_id(level, x, y);
            assert_eq!(cell_of_id(id), Some((level, x, y)));
            if level > 0 {
                assert_eq!(id >> 2, cell_id(level - 1, x / 2, y / 2), "a cell's parent is its id shifted");
            }
        }
        assert_eq!(cell_of_id(0), None);
        assert_eq!(cell_of_id(0b10), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Over random entries and filters, every tile's clusters count exactly the matched
        /// features of the tile, every tile stays within its budget, cluster ids name a cell
        /// of their own tile holding the cluster's point, and no two tiles share an id.
        #[test]
        fn clusters_conserve_counts_and_stay_within_budget(
            seed in any::<u64>(),
            n in 50usize..3000,
            z in 11u8..15,
            features_budget in 1usize..400,
            bytes_budget in 1024usize..30_000,
        ) {
            let mut rng = Rng::new(seed);
            let engine = engine_with(Vec::new());
            let features = random_features(&mut rng, n, engine.vocabulary());
            let paris: Vec<Feature> = features.into_iter().filter(in_paris).collect();
            let engine = engine_with(paris.clone());
            let filter = random_filter(&mut rng, &engine);
            let layer = engine.layer("entries").unwrap().clone();
            let budget = Budget { features: features_budget, bytes: bytes_budget, ceiling: usize::MAX };
            let mut ids = HashSet::new();
            for coord in tiles_over(&paris, z) {
                let tile = engine.render_within(std::slice::from_ref(&layer), coord, &filter, budget).unwrap();
                let layer_bytes = tile.bytes.len();
                prop_assert!(layer_bytes <= bytes_budget, "{coord}: {layer_bytes} bytes over {bytes_budget}");
                prop_assert!(tile.features[0] <= features_budget, "{coord}: {} features", tile.features[0]);
                let decoded = decode(&tile.bytes);
                let matched = expected(&paris, &filter, coord);
                if !decoded.iter().any(|(_, _, p)| p.contains_key("point_count")) {
                    // Under budget: the raw features (more matched features than the budget
                    // allows would have been thinned).
                    prop_assert!(matched <= features_budget as i64, "{coord}: {matched} features not thinned");
                    continue;
                }
                let counted: i64 = decoded.iter().map(|(_, _, p)| p["point_count"]).sum();
                prop_assert_eq!(counted, matched, "{}", coord);
                for (id, point, _) in &decoded {
                    prop_assert!(ids.insert(*id), "id {} in two tiles", id);
                    let (level, cx, cy) = cell_of_id(*id).unwrap();
                    let grid = level - coord.z();
                    prop_assert_eq!((cx >> grid, cy >> grid), (u64::from(coord.x()), u64::from(coord.y())));
                    // The point lies in its cell (tile units, a unit of rounding either way).
                    let cell = i64::from(EXTENT >> grid);
                    let (lx, ly) = ((cx % (1 << grid)) as i64, (cy % (1 << grid)) as i64);
                    prop_assert!((lx * cell - 1..=(lx + 1) * cell).contains(&i64::from(point[0])));
                    prop_assert!((ly * cell - 1..=(ly + 1) * cell).contains(&i64::from(point[1])));
                }
            }
        }

        /// A tile's clusters depend on its own features only: entries added in other tiles,
        /// or the same entries indexed in another order, leave its bytes as they were.
        #[test]
        fn clusters_are_stable_across_neighbours_and_insertion_order(seed in any::<u64>(), n in 200usize..2000) {
            let mut rng = Rng::new(seed);
            let vocab_engine = engine_with(Vec::new());
            let points: Vec<Feature> = random_features(&mut rng, n, vocab_engine.vocabulary())
                .into_iter()
                .filter(|f| matches!(*f.geometry(), Geometry::Point(_)) && in_paris(f))
                .collect();
            let coord = TileCoord::new(12, 2074, 1408).unwrap(); // the centre of Paris
            let b = coord.bounds();
            let inside = |f: &Feature| f.bbox().min().x > b.min().x && f.bbox().max().x < b.max().x && f.bbox().min().y > b.min().y && f.bbox().max().y < b.max().y;
            let own: Vec<Feature> = points.iter().filter(|f| inside(f)).cloned().collect();
            prop_assume!(own.len() > 8);
            let budget = Budget { features: 4, bytes: 100_000, ceiling: usize::MAX };
            let layer = engine_with(Vec::new()).layer("entries").unwrap().clone();
            let render = |features: Vec<Feature>| {
                engine_with(features).render_within(std::slice::from_ref(&layer), coord, &Filter::default(), budget).unwrap().bytes
            };
            let alone = render(own.clone());
            prop_assert!(decode(&alone).iter().all(|(_, _, p)| p.contains_key("point_count")), "clustered");
            let mut all = points.clone();
            prop_assert_eq!(&render(all.clone()), &alone, "neighbours' entries change nothing");
            all.reverse();
            prop_assert_eq!(&render(all), &alone, "insertion order changes nothing");
        }
    }

    #[test]
    fn no_cluster_is_smaller_than_the_least_its_depth_allows() {
        let ids = vec!["health".to_owned()];
        for level in 0..=CODE_LEVEL {
            let mut enc = LayerEncoder::new("l", EXTENT);
            enc.set_properties(schema(&ids).fields.iter().map(|f| f.name.as_str()));
            let before = enc.feature_bytes();
            let least = [Value::Int(1), Value::Null, Value::Null];
            assert!(enc.add_feature(1 << (2 * u32::from(level)), &TileGeometry::Point([0, 0]), &least));
            assert_eq!(enc.feature_bytes() - before, min_cluster_bytes(level), "level {level}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        /// The one pass over the point order counts and clusters what the render feature by
        /// feature does: over random entries (points, lines, polygons, activation windows),
        /// written after the load too, any filter (free tags and time windows the facts cannot settle included) and any
        /// budget, every tile of the entries and theme layers, composite, is the same bytes
        /// either way.
        #[test]
        fn the_point_order_renders_what_the_rtree_renders(
            seed in any::<u64>(),
            n in 50usize..2500,
            z in 10u8..14,
            features_budget in 1usize..2000,
            bytes_budget in 200usize..60_000,
        ) {
            let mut rng = Rng::new(seed);
            let engine = engine_with(Vec::new());
            let mut features = random_features(&mut rng, n, engine.vocabulary());
            let later = features.split_off(n * 3 / 4);
            let engine = engine_with(features.clone());
            for mut f in later {
                f.id += 10_000;
                engine.upsert(&ENTRIES, f);
            }
            for id in (0..n as u64).step_by(7) {
                engine.remove(&ENTRIES, id);
            }
            let mut filter = random_filter(&mut rng, &engine);
            match rng.below(4) {
                0 => filter.from_ms = Some(1_720_010_000_000),
                1 => filter = filter.with_tags(&["vip".to_owned(), engine.vocabulary().ids()[0].clone()], engine.vocabulary()),
                _ => {}
            }
            let layers = entry_layers(&engine);
            prop_assume!(layers.len() > 2);
            let budget = Budget { features: features_budget, bytes: bytes_budget, ceiling: usize::MAX }.share(layers.len());
            let paris: Vec<Feature> = features.into_iter().filter(in_paris).collect();
            for coord in tiles_over(&paris, z) {
                let ordered = engine.render_paths(&layers, coord, &filter, budget, true).unwrap();
                let rtree = engine.render_paths(&layers, coord, &filter, budget, false).unwrap();
                prop_assert_eq!(&ordered.thinned, &rtree.thinned, "{}", coord);
                prop_assert!(ordered.bytes == rtree.bytes, "{}: the same bytes", coord);
            }
        }
    }

    /// A dense tile's layers are counted and clustered from the point order, all in one pass:
    /// the engine takes them there rather than feature by feature.
    #[test]
    fn dense_tiles_are_clustered_from_the_point_order() {
        let mut rng = Rng::new(21);
        let engine = engine_with(Vec::new());
        let features = random_features(&mut rng, 6000, engine.vocabulary());
        let engine = engine_with(features);
        let layers = entry_layers(&engine);
        let coord = TileCoord::new(10, 518, 352).unwrap();
        let budget = Budget { features: 200, bytes: 500_000, ceiling: usize::MAX };
        let counted = engine.ordered_clusters(&layers, coord, &Filter::default(), budget);
        assert!(counted[0].as_ref().is_some_and(|c| c.len() > 200), "the entries layer, over 200 features");
        // A time window over features with activation windows: the facts cannot tell.
        let mut window = Filter::default();
        window.from_ms = Some(1_720_010_000_000);
        assert!(engine.ordered_clusters(&layers, coord, &window, budget).iter().all(Option::is_none));
        let tile = engine.render_within(&layers, coord, &Filter::default(), budget).unwrap();
        assert!(tile.thinned[0]);
    }

    /// Clusters split as tiles get smaller: a dense spot thinned at z13 comes back as its
    /// features in the tiles of z19, under the same budget.
    #[test]
    fn clusters_split_into_features_at_deeper_zooms() {
        let vocab_engine = engine_with(Vec::new());
        // 400 entries on a 20 x 20 grid, 30 m apart, from the centre of the z13 tile holding
        // the Eiffel Tower (so the grid lies in one z13 tile).
        let eiffel = crate::tile::lonlat_to_mercator(2.2945, 48.8584);
        let (x, y, _, _) = tiles_covering(Rect::new(eiffel, eiffel), 13, 0);
        let centre = crate::tile::mercator_to_lonlat(TileCoord::new(13, x.into(), y.into()).unwrap().bounds().center());
        let features: Vec<Feature> = (0..400u64)
            .map(|i| {
                let (lon, lat) = (centre.x + (i % 20) as f64 * 4e-4, centre.y + (i / 20) as f64 * 2.7e-4);
                let attrs = crate::feature::Attrs {
                    themes: vocab_engine.vocabulary().mask(&["health".to_owned()]),
                    ..Default::default()
                };
                Feature::from_lonlat(i, &Geometry::Point(geo::Point::new(lon, lat)), attrs, Box::new([])).unwrap()
            })
            .collect();
        let engine = engine_with(features.clone());
        let layer = engine.layer("entries").unwrap().clone();
        let budget = Budget { features: 50, bytes: 100_000, ceiling: 1_000_000 };
        let decoded_at = |z: u8| -> Vec<Vec<Decoded>> {
            tiles_over(&features, z)
                .into_iter()
                .map(|coord| {
                    let t = engine.render_within(std::slice::from_ref(&layer), coord, &Filter::default(), budget);
                    decode(&t.unwrap().bytes)
                })
                .collect()
        };
        let z13 = decoded_at(13);
        assert_eq!(z13.len(), 1);
        assert!(z13[0].iter().all(|(_, _, p)| p.contains_key("point_count")) && z13[0].len() <= 50, "z13 thinned");
        assert_eq!(z13[0].iter().map(|(_, _, p)| p["point_count"]).sum::<i64>(), 400);
        let z19 = decoded_at(19);
        assert!(z19.iter().flatten().all(|(_, _, p)| !p.contains_key("point_count")), "z19 holds features");
        let ids: HashSet<u64> = z19.iter().flatten().map(|(id, _, _)| *id).collect();
        assert_eq!(ids.len(), 400, "every entry, each in some tile");
    }

    /// A raw layer past the ceiling is refused with the layer, the tile and the ceiling; under
    /// it, a raw tile holds every feature a thin budget would have clustered.
    #[test]
    fn a_raw_tile_holds_every_feature_up_to_the_ceiling() {
        let mut rng = Rng::new(11);
        let engine = engine_with(Vec::new());
        let features = random_features(&mut rng, 4000, engine.vocabulary());
        let engine = engine_with(features);
        let layer = engine.layer("entries").unwrap().clone();
        let coord = TileCoord::new(10, 518, 352).unwrap();
        let mut raw = Filter::default();
        raw.raw = true;
        let thin = Budget { features: 100, bytes: 500_000, ceiling: 1_000_000 };
        let all = engine.render(std::slice::from_ref(&layer), coord, &Filter::default());
        assert!(all.features[0] > 100);
        let clustered = engine.render_within(std::slice::from_ref(&layer), coord, &Filter::default(), thin).unwrap();
        assert!(clustered.features[0] <= 100);
        let unthinned = engine.render_within(std::slice::from_ref(&layer), coord, &raw, thin).unwrap();
        assert_eq!(unthinned.bytes, all.bytes, "budget=off is the unbudgeted tile");
        let low = Budget { ceiling: all.bytes.len() / 2, ..thin };
        let err = engine.render_within(std::slice::from_ref(&layer), coord, &raw, low).unwrap_err();
        assert_eq!(err, OverCeiling { layer: "entries".into(), tile: coord, ceiling: low.ceiling });
        assert!(err.to_string().contains("ceiling"), "{err}");
    }
}
