//! H3 hexagon aggregation of a layer: counts, maximum severity and counts per theme per cell.
//!
//! Each counted feature sits in one cell at the finest resolution ([`FINEST`]), found from its
//! representative point (the point itself; an interior point of a line or polygon). Coarser
//! resolutions are rolled up from the finest by `cell_to_parent`, never by re-testing shapes.
//! Every write updates the few cells it touches (one per resolution); nothing is recomputed.
//! A tile at zoom z shows resolution `z - RESOLUTION_OFFSET` clamped to the layer's range.
//! Hexagons straddle tiles: they are looked up with the tile buffer and carry their cell id
//! (also their MVT feature id) so clients can de-duplicate.

use crate::clip::{ClipBox, tile_geometry};
use crate::feature::{Feature, FeatureId, Field, FieldType, Schema, Value};
use crate::ids::IdMap;
use crate::mvt::LayerEncoder;
use crate::tile::{BUFFER_PX, TileCoord, lonlat_to_mercator};
use geo::{BoundingRect, Coord, Geometry, InteriorPoint, LineString, Polygon, Rect};
use h3o::{CellIndex, LatLng, Resolution};
use rstar::{AABB, RTree, RTreeObject};
use std::collections::HashMap;
use std::ops::RangeInclusive;

/// Finest resolution kept (about 25 m edges).
pub const FINEST: u8 = 11;
/// Resolution shown at zoom z: z minus this (z12 → res 10, hexagons about 60 tile units wide).
pub const RESOLUTION_OFFSET: u8 = 2;

/// The resolution a tile at zoom `z` shows, within `min..=max`.
///
/// # Examples
///
/// ```
/// use vigie_layers::h3::{FINEST, resolution_for_zoom};
///
/// assert_eq!(resolution_for_zoom(12, 0, FINEST), 10);
/// // Clamped to the layer's range at both ends.
/// assert_eq!(resolution_for_zoom(1, 3, FINEST), 3);
/// assert_eq!(resolution_for_zoom(20, 0, 9), 9);
/// ```
pub fn resolution_for_zoom(z: u8, min: u8, max: u8) -> u8 {
    z.saturating_sub(RESOLUTION_OFFSET).clamp(min, max)
}

/// The zooms whose tiles show resolution `r` of a layer clamped to `min..=max` (empty when
/// none does): the tiles a change of a resolution-`r` hexagon can alter.
///
/// # Examples
///
/// ```
/// use vigie_layers::h3::{FINEST, zooms_showing};
///
/// assert_eq!(zooms_showing(10, 0, FINEST), 12..=12);
/// // The ends of the range take every zoom clamped to them.
/// assert_eq!(zooms_showing(3, 3, 9), 0..=5);
/// assert_eq!(zooms_showing(9, 3, 9), 11..=24);
/// assert!(zooms_showing(12, 3, 9).is_empty());
/// ```
pub fn zooms_showing(r: u8, min: u8, max: u8) -> RangeInclusive<u8> {
    let shows = |z: &u8| resolution_for_zoom(*z, min, max) == r;
    let all = 0..=crate::tile::MAX_ZOOM;
    match (all.clone().find(shows), all.rev().find(shows)) {
        (Some(first), Some(last)) => first..=last,
        // No zoom shows it: an empty range (its end before its start).
        _ => RangeInclusive::new(1, 0),
    }
}

fn res(r: u8) -> Resolution {
    Resolution::try_from(r.min(15)).unwrap_or(Resolution::Zero)
}

/// The cell at resolution `r` of a WGS84 point; `None` for a coordinate that is not a number.
///
/// # Examples
///
/// ```
/// use vigie_layers::h3::cell_of;
///
/// let cell = cell_of(2.2945, 48.8584, 9).expect("a valid point");
/// assert_eq!(u8::from(cell.resolution()), 9);
/// // The same point at resolution 5 is in the parent cell.
/// assert_eq!(cell_of(2.2945, 48.8584, 5), cell.parent(h3o::Resolution::Five));
/// // A neighbouring point a few metres away shares the cell; one across Paris does not.
/// assert_eq!(cell_of(2.29451, 48.85841, 9), Some(cell));
/// assert_ne!(cell_of(2.3522, 48.8566, 9), Some(cell));
/// assert_eq!(cell_of(f64::NAN, 48.0, 9), None);
/// ```
pub fn cell_of(lon: f64, lat: f64, r: u8) -> Option<CellIndex> {
    LatLng::new(lat, lon).ok().map(|ll| ll.to_cell(res(r)))
}

/// The cell of resolution `r` a WGS84 point counts in: the parent of its finest cell, as the
/// aggregates count it (not the cell containing it, which can differ near edges); for
/// resolutions finer than [`FINEST`], the cell containing it. What a change's invalidation
/// must drop.
///
/// # Examples
///
/// ```
/// use vigie_layers::h3::{counting_cell, counts_in};
///
/// // Near an edge of its resolution-10 cell: the cell that counts it is not the one holding it.
/// let (lon, lat) = (2.17677, 48.50238);
/// let cell = counting_cell(lon, lat, 10).expect("a valid point");
/// assert!(counts_in(lon, lat, cell));
/// assert_eq!(cell.to_string(), "8a1fb0d12a27fff");
/// ```
pub fn counting_cell(lon: f64, lat: f64, r: u8) -> Option<CellIndex> {
    if r > FINEST {
        return cell_of(lon, lat, r);
    }
    cell_of(lon, lat, FINEST).and_then(|fine| fine.parent(res(r)))
}

/// Whether a WGS84 point counts in `cell`: the same rule as the aggregates — the parent of its
/// finest cell — not the coarse cell containing it, which can differ near edges (H3 children do
/// not tile their parent exactly). For cells finer than [`FINEST`], the cell containing it.
///
/// # Examples
///
/// ```
/// use vigie_layers::h3::{FINEST, cell_of, counts_in};
///
/// let (lon, lat) = (2.2945, 48.8584);
/// let fine = cell_of(lon, lat, FINEST).expect("a valid point");
/// for r in [h3o::Resolution::Four, h3o::Resolution::Eight] {
///     assert!(counts_in(lon, lat, fine.parent(r).expect("coarser")));
/// }
/// assert!(!counts_in(2.3522, 48.8566, cell_of(lon, lat, 9).expect("a valid point")));
/// ```
pub fn counts_in(lon: f64, lat: f64, cell: CellIndex) -> bool {
    counting_cell(lon, lat, u8::from(cell.resolution())) == Some(cell)
}

/// The representative point of a geometry (WGS84): the point, or an interior point.
pub fn representative_point(g: &Geometry<f64>) -> Option<Coord<f64>> {
    g.interior_point().map(|p| p.0)
}

/// A cell's hexagon (or pentagon) in WGS84: a closed ring, longitudes kept continuous across
/// the antimeridian.
///
/// # Examples
///
/// ```
/// use geo::{Contains, Point};
/// use vigie_layers::h3::{cell_of, cell_polygon};
///
/// let cell = cell_of(2.2945, 48.8584, 8).expect("a valid point");
/// let hexagon = cell_polygon(cell);
/// assert_eq!(hexagon.exterior().0.len(), 7, "six corners, closed");
/// assert!(hexagon.contains(&Point::new(2.2945, 48.8584)));
/// ```
pub fn cell_polygon(cell: CellIndex) -> Polygon<f64> {
    let mut ring: Vec<Coord<f64>> = cell.boundary().iter().map(|ll| Coord { x: ll.lng(), y: ll.lat() }).collect();
    // Cells crossing the antimeridian: keep the ring continuous (longitudes beyond ±180).
    if ring.iter().any(|c| c.x > 90.0) && ring.iter().any(|c| c.x < -90.0) {
        for c in &mut ring {
            if c.x < 0.0 {
                c.x += 360.0;
            }
        }
    }
    if let Some(first) = ring.first().copied() {
        ring.push(first);
    }
    Polygon::new(LineString(ring), vec![])
}

/// Counts of one cell.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CellStats {
    /// Features in the cell.
    pub count: u32,
    /// Features per severity 0..=4.
    pub by_severity: [u32; 5],
    /// Features per theme bit.
    pub by_theme: Vec<u32>,
}

impl CellStats {
    fn add(&mut self, m: &Member, sign: i64) {
        let step = |v: &mut u32| *v = (i64::from(*v) + sign).max(0) as u32;
        step(&mut self.count);
        if let Some(s) = m.severity {
            step(&mut self.by_severity[usize::from(s.min(4))]);
        }
        let mut mask = m.themes;
        while mask != 0 {
            let bit = mask.trailing_zeros() as usize;
            if self.by_theme.len() <= bit {
                self.by_theme.resize(bit + 1, 0);
            }
            step(&mut self.by_theme[bit]);
            mask &= mask - 1;
        }
    }

    /// Highest severity present.
    pub fn max_severity(&self) -> Option<u8> {
        (0..5u8).rev().find(|s| self.by_severity[usize::from(*s)] > 0)
    }
}

/// What the aggregate keeps of a counted feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Member {
    cell: CellIndex,
    severity: Option<u8>,
    themes: u64,
}

#[derive(Debug, Clone)]
struct CellItem {
    env: AABB<[f64; 2]>,
    cell: CellIndex,
}

impl PartialEq for CellItem {
    fn eq(&self, other: &Self) -> bool {
        self.cell == other.cell
    }
}

impl RTreeObject for CellItem {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.env
    }
}

fn cell_envelope(cell: CellIndex) -> AABB<[f64; 2]> {
    let r = cell_rect(cell);
    AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y])
}

/// The Web Mercator envelope of a cell's hexagon.
pub fn cell_rect(cell: CellIndex) -> Rect<f64> {
    mercator_rect(&cell_polygon(cell))
}

fn mercator_rect(p: &Polygon<f64>) -> Rect<f64> {
    let pts: Vec<Coord<f64>> =
        p.exterior().0.iter().map(|c| lonlat_to_mercator(c.x.clamp(-180.0, 180.0), c.y)).collect();
    LineString(pts).bounding_rect().unwrap_or(Rect::new(Coord { x: 0.0, y: 0.0 }, Coord { x: 0.0, y: 0.0 }))
}

#[derive(Debug, Default)]
struct Level {
    stats: HashMap<CellIndex, CellStats>,
    tree: RTree<CellItem>,
}

impl Level {
    fn apply(&mut self, cell: CellIndex, m: &Member, sign: i64) {
        let stats = self.stats.entry(cell).or_default();
        let was_empty = stats.count == 0;
        stats.add(m, sign);
        if stats.count == 0 {
            self.stats.remove(&cell);
            self.tree.remove(&CellItem { env: cell_envelope(cell), cell });
        } else if was_empty {
            self.tree.insert(CellItem { env: cell_envelope(cell), cell });
        }
    }
}

/// The aggregate of one H3 layer, kept up to date on every write.
///
/// # Examples
///
/// ```
/// use geo::{Geometry, Point};
/// use vigie_layers::Feature;
/// use vigie_layers::feature::Attrs;
/// use vigie_layers::h3::{Aggregate, cell_of};
///
/// let entry = |id, lon, lat, severity| {
///     let attrs = Attrs { severity: Some(severity), ..Attrs::default() };
///     Feature::from_lonlat(id, &Geometry::Point(Point::new(lon, lat)), attrs, Box::new([]))
/// };
/// // Two entries at the Eiffel Tower, one at the Louvre.
/// let features = [entry(1, 2.2945, 48.8584, 1)?, entry(2, 2.29452, 48.85842, 3)?, entry(3, 2.3376, 48.8606, 0)?];
/// let agg = Aggregate::build(6, 9, features.iter());
/// assert_eq!((agg.len(), agg.resolutions()), (3, (6, 9)));
///
/// let eiffel = cell_of(2.2945, 48.8584, 9).expect("a valid point");
/// let stats: Vec<_> = agg.cells(9).filter(|(c, _)| **c == eiffel).map(|(_, s)| s).collect();
/// assert_eq!((stats[0].count, stats[0].max_severity()), (2, Some(3)));
/// assert_eq!(agg.cells(9).count(), 2);
/// // At resolution 6 (cells of about 36 km²) the three share one cell.
/// assert_eq!(agg.cells(6).map(|(_, s)| s.count).collect::<Vec<_>>(), [3]);
/// // Rolling up gives what was built.
/// assert_eq!(agg.roll_up(9).len(), 2);
/// # Ok::<(), vigie_layers::feature::GeometryError>(())
/// ```
#[derive(Debug)]
pub struct Aggregate {
    min: u8,
    max: u8,
    /// The member of every counted feature, by id: what a write takes out of the cells before
    /// it counts the feature's new state.
    members: IdMap<Member>,
    levels: Vec<Level>,
}

impl Aggregate {
    /// An empty aggregate for resolutions `min..=max` (at most [`FINEST`]).
    pub fn new(min: u8, max: u8) -> Self {
        let max = max.min(FINEST);
        let min = min.min(max);
        Self { min, max, members: IdMap::default(), levels: (0..=max).map(|_| Level::default()).collect() }
    }

    fn member(f: &Feature) -> Option<Member> {
        let p = representative_point(&f.lonlat())?;
        let cell = cell_of(p.x, p.y, FINEST)?;
        Some(Member { cell, severity: f.attrs.severity, themes: f.attrs.themes.0 })
    }

    /// Builds the aggregate of `features` in one pass: finest cells first, then each coarser
    /// level rolled up from them.
    pub fn build<'a>(min: u8, max: u8, features: impl Iterator<Item = &'a Feature>) -> Self {
        let mut agg = Self::new(min, max);
        agg.members = IdMap::from_pairs(features.filter_map(|f| Some((f.id, Self::member(f)?))).collect());
        let max = agg.max;
        for r in agg.min..=max {
            let stats = agg.roll_up(r);
            let items: Vec<CellItem> = stats.keys().map(|c| CellItem { env: cell_envelope(*c), cell: *c }).collect();
            agg.levels[usize::from(r)] = Level { stats, tree: RTree::bulk_load(items) };
        }
        agg
    }

    /// The stats of resolution `r` rolled up from every counted feature's finest cell with
    /// `cell_to_parent` (no point is located again).
    pub fn roll_up(&self, r: u8) -> HashMap<CellIndex, CellStats> {
        let mut stats: HashMap<CellIndex, CellStats> = HashMap::new();
        for m in self.members.values() {
            if let Some(parent) = m.cell.parent(res(r)) {
                stats.entry(parent).or_default().add(m, 1);
            }
        }
        stats
    }

    fn apply_member(&mut self, m: &Member, sign: i64) {
        for r in self.min..=self.max {
            if let Some(parent) = m.cell.parent(res(r)) {
                self.levels[usize::from(r)].apply(parent, m, sign);
            }
        }
    }

    /// Counts a feature (replacing its previous state); `counted = false` removes it (deleted,
    /// or no longer selected by the layer or its default filter).
    ///
    /// # Examples
    ///
    /// ```
    /// use geo::{Geometry, Point};
    /// use vigie_layers::Feature;
    /// use vigie_layers::feature::Attrs;
    /// use vigie_layers::h3::Aggregate;
    ///
    /// let at = |lon, lat| Feature::from_lonlat(7, &Geometry::Point(Point::new(lon, lat)), Attrs::default(), Box::new([]));
    /// let mut agg = Aggregate::new(8, 8);
    /// agg.update(7, Some(&at(2.2945, 48.8584)?));
    /// let before: Vec<_> = agg.cells(8).map(|(c, _)| *c).collect();
    /// // The entry moves across Paris: its old cell is emptied (and dropped), the new one counts it.
    /// agg.update(7, Some(&at(2.3522, 48.8566)?));
    /// let after: Vec<_> = agg.cells(8).map(|(c, s)| (*c, s.count)).collect();
    /// assert_eq!(after.len(), 1);
    /// assert_ne!(after[0].0, before[0]);
    /// assert_eq!(after[0].1, 1);
    /// // Deleted.
    /// agg.update(7, None);
    /// assert!(agg.is_empty() && agg.cells(8).next().is_none());
    /// # Ok::<(), vigie_layers::feature::GeometryError>(())
    /// ```
    pub fn update(&mut self, id: FeatureId, feature: Option<&Feature>) {
        if let Some(old) = self.members.remove(id) {
            self.apply_member(&old, -1);
        }
        if let Some(m) = feature.and_then(Self::member) {
            self.apply_member(&m, 1);
            self.members.insert(id, m);
        }
    }

    /// Number of features counted.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether nothing is counted.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Cells of resolution `r` and their stats.
    pub fn cells(&self, r: u8) -> impl Iterator<Item = (&CellIndex, &CellStats)> {
        self.levels.get(usize::from(r)).into_iter().flat_map(|l| l.stats.iter())
    }

    /// Cells of resolution `r` whose hexagon's envelope meets `rect` (Web Mercator).
    ///
    /// # Examples
    ///
    /// ```
    /// use geo::{Geometry, Point};
    /// use vigie_layers::feature::Attrs;
    /// use vigie_layers::h3::{Aggregate, lookup_rect, resolution_for_zoom};
    /// use vigie_layers::{Feature, TileCoord};
    ///
    /// let at = |id, lon, lat| Feature::from_lonlat(id, &Geometry::Point(Point::new(lon, lat)), Attrs::default(), Box::new([]));
    /// // The Eiffel Tower, and Marseille.
    /// let features = [at(1, 2.2945, 48.8584)?, at(2, 5.3698, 43.2965)?];
    /// let agg = Aggregate::build(0, 11, features.iter());
    /// // The hexagons of the Eiffel Tower's z12 tile.
    /// let tile = TileCoord::new(12, 2074, 1409).expect("on the grid");
    /// let r = resolution_for_zoom(tile.z(), 0, 11);
    /// let cells = agg.cells_in(r, lookup_rect(tile, r));
    /// assert_eq!(cells.len(), 1);
    /// assert_eq!(cells[0].1.count, 1);
    /// # Ok::<(), vigie_layers::feature::GeometryError>(())
    /// ```
    pub fn cells_in(&self, r: u8, rect: Rect<f64>) -> Vec<(CellIndex, &CellStats)> {
        let Some(level) = self.levels.get(usize::from(r)) else { return Vec::new() };
        let env = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
        level
            .tree
            .locate_in_envelope_intersecting(&env)
            .filter_map(|i| level.stats.get(&i.cell).map(|s| (i.cell, s)))
            .collect()
    }

    /// Stats per cell of resolution `r` of the features `ids` this aggregate counts (others
    /// are left out): a filtered count that reads each feature's cell from the aggregate
    /// rather than computing it from its geometry, the same stats as [`aggregate`] of those
    /// features.
    pub fn count_of(&self, r: u8, ids: impl Iterator<Item = FeatureId>) -> HashMap<CellIndex, CellStats> {
        let mut out: HashMap<CellIndex, CellStats> = HashMap::new();
        for id in ids {
            if let Some(m) = self.members.get(id)
                && let Some(cell) = m.cell.parent(res(r))
            {
                out.entry(cell).or_default().add(m, 1);
            }
        }
        out
    }

    /// Resolution range.
    pub fn resolutions(&self) -> (u8, u8) {
        (self.min, self.max)
    }
}

/// Stats per cell of resolution `r` for features given one by one (filtered queries).
///
/// # Examples
///
/// ```
/// use geo::{Geometry, LineString, Point};
/// use vigie_layers::Feature;
/// use vigie_layers::feature::Attrs;
/// use vigie_layers::h3::{Aggregate, aggregate};
///
/// let attrs = Attrs::default;
/// let point = Feature::from_lonlat(1, &Geometry::Point(Point::new(2.2945, 48.8584)), attrs(), Box::new([]))?;
/// // A line counts once, at an interior point.
/// let line = LineString::from(vec![(2.29, 48.85), (2.30, 48.86)]);
/// let line = Feature::from_lonlat(2, &Geometry::LineString(line), attrs(), Box::new([]))?;
/// let stats = aggregate(7, [&point, &line].into_iter());
/// assert_eq!(stats.values().map(|s| s.count).sum::<u32>(), 2);
/// // The same counts as an aggregate kept at that resolution.
/// assert_eq!(stats, Aggregate::build(7, 7, [&point, &line].into_iter()).roll_up(7));
/// # Ok::<(), vigie_layers::feature::GeometryError>(())
/// ```
pub fn aggregate<'a>(r: u8, features: impl Iterator<Item = &'a Feature>) -> HashMap<CellIndex, CellStats> {
    let mut out: HashMap<CellIndex, CellStats> = HashMap::new();
    for f in features {
        if let Some(m) = Aggregate::member(f)
            && let Some(cell) = m.cell.parent(res(r))
        {
            out.entry(cell).or_default().add(&m, 1);
        }
    }
    out
}

/// Schema of hexagon features, with one count per theme.
pub fn schema(theme_ids: &[String]) -> Schema {
    let mut fields = vec![
        Field::new("cell", FieldType::String, "H3 cell index (hex); also the feature id"),
        Field::new("resolution", FieldType::Integer, "H3 resolution"),
        Field::new("count", FieldType::Integer, "Features in the cell"),
        Field::new("max_severity", FieldType::Integer, "Highest severity in the cell"),
    ];
    fields.extend(
        theme_ids.iter().map(|t| Field::new(&format!("n_{t}"), FieldType::Integer, &format!("Features tagged {t}"))),
    );
    Schema { fields }
}

/// Encodes the hexagons meeting a tile into `enc`.
pub fn encode_cells<'a>(
    enc: &mut LayerEncoder,
    coord: TileCoord,
    cells: impl Iterator<Item = (CellIndex, &'a CellStats)>,
    theme_ids: &[String],
) {
    let tr = coord.transform();
    let clip = ClipBox::new(BUFFER_PX);
    let schema = schema(theme_ids);
    enc.set_properties(schema.fields.iter().map(|f| f.name.as_str()));
    let mut cells: Vec<(CellIndex, &CellStats)> = cells.collect();
    cells.sort_unstable_by_key(|(c, _)| u64::from(*c));
    for (cell, stats) in cells {
        let polygon = cell_polygon(cell);
        let merc: Vec<Coord<f64>> =
            polygon.exterior().0.iter().map(|c| lonlat_to_mercator(c.x.clamp(-180.0, 180.0), c.y)).collect();
        let Some(g) = tile_geometry(&Geometry::Polygon(Polygon::new(LineString(merc), vec![])), &tr, &clip) else {
            continue;
        };
        let mut values = vec![
            Value::text(cell.to_string()),
            Value::Int(i64::from(u8::from(cell.resolution()))),
            Value::Int(i64::from(stats.count)),
            stats.max_severity().map_or(Value::Null, |s| Value::Int(i64::from(s))),
        ];
        values.extend((0..theme_ids.len()).map(|i| Value::Int(i64::from(stats.by_theme.get(i).copied().unwrap_or(0)))));
        enc.add_feature(u64::from(cell), &g, &values);
    }
}

/// The mercator rectangle to look hexagons up with for a tile: the buffered tile grown by a
/// cell's size at that resolution, so hexagons straddling the edge are found.
pub fn lookup_rect(coord: TileCoord, r: u8) -> Rect<f64> {
    padded(coord, r, 2.5)
}

/// A mercator rectangle holding every point counted in the hexagons a tile draws: the
/// buffered tile grown by four edge lengths (a hexagon meeting the tile reaches two edge
/// lengths past it, and its points stray 40 % past the hexagon's box).
pub fn counted_rect(coord: TileCoord, r: u8) -> Rect<f64> {
    padded(coord, r, 4.0)
}

fn padded(coord: TileCoord, r: u8, edges: f64) -> Rect<f64> {
    let b = coord.buffered_bounds(BUFFER_PX);
    let edge_m = res(r).edge_length_m() * edges;
    // Mercator metres grow as 1/cos(lat): use the tile's most poleward latitude.
    let lat = crate::tile::mercator_to_lonlat(Coord { x: 0.0, y: b.max().y.abs().max(b.min().y.abs()) }).y;
    let pad = edge_m / lat.to_radians().cos().max(0.01);
    Rect::new(Coord { x: b.min().x - pad, y: b.min().y - pad }, Coord { x: b.max().x + pad, y: b.max().y + pad })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feature::{Attrs, ThemeMask};

    fn point(id: u64, lon: f64, lat: f64, sev: u8, themes: u64) -> Feature {
        let attrs = Attrs { severity: Some(sev), themes: ThemeMask(themes), ..Attrs::default() };
        Feature::from_lonlat(id, &Geometry::Point(geo::Point::new(lon, lat)), attrs, Box::new([])).unwrap()
    }

    #[test]
    fn incremental_updates_equal_a_fresh_build() {
        let fs: Vec<Feature> = (0..500)
            .map(|i| {
                point(i, 2.3 + (i % 25) as f64 * 0.004, 48.85 + (i / 25) as f64 * 0.003, (i % 5) as u8, 1 << (i % 3))
            })
            .collect();
        let built = Aggregate::build(5, 11, fs.iter());
        let mut inc = Aggregate::new(5, 11);
        for f in &fs {
            inc.update(f.id, Some(f));
        }
        // Move one, remove another: the same as building from the final set.
        let moved = point(7, 5.37, 43.29, 4, 0b100);
        inc.update(7, Some(&moved));
        inc.update(8, None);
        let mut final_set: Vec<Feature> = fs.iter().filter(|f| f.id != 7 && f.id != 8).cloned().collect();
        final_set.push(moved);
        let rebuilt = Aggregate::build(5, 11, final_set.iter());
        for r in 5..=11 {
            let a: HashMap<_, _> = inc.cells(r).map(|(c, s)| (*c, s.clone())).collect();
            let mut b: HashMap<_, _> = rebuilt.cells(r).map(|(c, s)| (*c, s.clone())).collect();
            for s in b.values_mut() {
                s.by_theme.resize(3, 0);
            }
            let a: HashMap<_, _> = a
                .into_iter()
                .map(|(c, mut s)| {
                    s.by_theme.resize(3, 0);
                    (c, s)
                })
                .collect();
            assert_eq!(a, b, "resolution {r}");
        }
        assert_eq!(built.cells(8).map(|(_, s)| s.count).sum::<u32>(), 500);
        let total: u32 = inc.cells(5).map(|(_, s)| s.count).sum();
        assert_eq!(total, 499);
    }

    #[test]
    fn zoom_to_resolution_mapping() {
        assert_eq!(resolution_for_zoom(12, 0, 11), 10);
        assert_eq!(resolution_for_zoom(1, 3, 11), 3);
        assert_eq!(resolution_for_zoom(20, 0, 9), 9);
    }

    #[test]
    fn known_cell() {
        // h3-py: h3.latlng_to_cell(48.8584, 2.2945, 9) == "891fb46741bffff"
        assert_eq!(cell_of(2.2945, 48.8584, 9).unwrap().to_string(), "891fb46741bffff");
    }
}
