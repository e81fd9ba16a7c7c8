//! Territories: the part of the map an identity may see of a workspace's scoped layers (its
//! log's entries, their H3 counts, and the dataset layers marked `restricted`).
//!
//! A [`Scope`] is a polygonal region with the semantics of the region queries (`ST_Intersects`,
//! boundary included): a feature is visible when it meets the territory, whole (a line that
//! enters the territory is drawn whole, as the region queries return it). The engine applies it
//! where it reads features — tiles, H3 counts, region queries — so nothing outside reaches a
//! tile, a count or a list. A [`Filter`](crate::filter::Filter) carries it; its
//! [`Scope::key`] is part of the filter's cache key, so one territory's tile is never served to
//! another.

use crate::index::Item;
use crate::region::{Prepared, Region, RegionError};
use geo::{Coord, CoordsIter, Geometry, LineString, MultiPolygon, Polygon, Rect};

/// A territory: one or several regions (départements, communes, drawn polygons, boxes,
/// circles), prepared for many tests; a feature meeting any of them is visible. A territory
/// narrowed further ([`Scope::within`]: an API token's inside its creator's) has several
/// levels, and a feature must meet each.
#[derive(Debug, Clone)]
pub struct Scope {
    key: String,
    /// Each level's regions: a feature meets the territory when it meets a region of every
    /// level.
    levels: Vec<Vec<Prepared>>,
    bounds: Rect<f64>,
}

impl PartialEq for Scope {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Scope {
    /// Prepares a territory of WGS84 polygons (holes and several parts allowed).
    ///
    /// # Errors
    /// [`RegionError::Invalid`] for an empty, out-of-range or invalid polygon.
    ///
    /// # Examples
    ///
    /// ```
    /// use geo::{Geometry, LineString, MultiPolygon, Point, polygon};
    /// use vigie_layers::scope::Scope;
    ///
    /// let square = polygon![(x: 2.0, y: 48.0), (x: 3.0, y: 48.0), (x: 3.0, y: 49.0), (x: 2.0, y: 49.0)];
    /// let scope = Scope::new(MultiPolygon(vec![square]))?;
    /// assert!(scope.admits(&Geometry::Point(Point::new(2.5, 48.5))));
    /// assert!(scope.admits(&Geometry::Point(Point::new(3.0, 48.5))), "the boundary belongs to it");
    /// assert!(!scope.admits(&Geometry::Point(Point::new(3.1, 48.5))));
    /// // A line that enters the territory is visible whole.
    /// let line = LineString::from(vec![(1.0, 48.5), (2.1, 48.5)]);
    /// assert!(scope.admits(&Geometry::LineString(line)));
    /// # Ok::<(), vigie_layers::region::RegionError>(())
    /// ```
    pub fn new(polygons: MultiPolygon<f64>) -> Result<Self, RegionError> {
        Self::of_parts(vec![Prepared::new(Region::Polygons(polygons))?])
    }

    /// A territory made of regions (polygons, boxes or circles; not H3 cells, which select by
    /// a representative point). Adjacent parts (two départements) need no union: a feature
    /// meeting either is visible.
    ///
    /// # Errors
    /// [`RegionError::Invalid`] without parts, or with H3 cells.
    pub fn of_parts(parts: Vec<Prepared>) -> Result<Self, RegionError> {
        if parts.iter().any(|p| matches!(p.region(), Region::Cells(_))) {
            return Err(RegionError::Invalid("a territory is made of polygons, boxes or circles, not H3 cells".into()));
        }
        let bounds = parts
            .iter()
            .filter_map(Prepared::bounds)
            .reduce(|a, b| {
                Rect::new(
                    Coord { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                    Coord { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
                )
            })
            .ok_or_else(|| RegionError::Invalid("empty territory".into()))?;
        let levels = vec![parts];
        Ok(Self { key: key_of(&levels), levels, bounds })
    }

    /// This territory narrowed to `outer` too: a feature is visible when it meets both (for
    /// points, the intersection of the two; a line or polygon must touch each, not
    /// necessarily at the same place). The box is the two boxes' intersection.
    #[must_use]
    pub fn within(&self, outer: &Scope) -> Self {
        let levels: Vec<Vec<Prepared>> = self.levels.iter().chain(&outer.levels).cloned().collect();
        let (a, b) = (self.bounds, outer.bounds);
        let min = Coord { x: a.min().x.max(b.min().x), y: a.min().y.max(b.min().y) };
        let max = Coord { x: a.max().x.min(b.max().x), y: a.max().y.min(b.max().y) };
        // Disjoint boxes: nothing is visible; the box shrinks to a corner of the inner one.
        let bounds = if min.x <= max.x && min.y <= max.y { Rect::new(min, max) } else { Rect::new(a.min(), a.min()) };
        Self { key: key_of(&levels), levels, bounds }
    }

    /// A short key naming the territory's geometry (the same regions give the same key): the
    /// part of tile cache keys that keeps territories apart.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// A WGS84 box holding the territory.
    pub fn bounds(&self) -> Rect<f64> {
        self.bounds
    }

    /// Whether a WGS84 geometry meets the territory (boundary included).
    #[inline]
    pub fn admits(&self, g: &Geometry<f64>) -> bool {
        self.levels.iter().all(|parts| parts.iter().any(|p| p.intersects(g)))
    }

    /// Whether an indexed feature meets the territory (a point from its brief).
    #[inline]
    pub fn admits_item(&self, item: &Item) -> bool {
        self.levels.iter().all(|parts| parts.iter().any(|p| p.meets(item)))
    }

    /// Each level's outline as WGS84 polygons, the narrowest level first (boxes as
    /// rectangles, circles as 64-sided polygons on the sphere): what a map draws. Tests of
    /// features use the regions themselves, never these.
    pub fn outlines(&self) -> Vec<MultiPolygon<f64>> {
        self.levels.iter().map(|parts| MultiPolygon(parts.iter().flat_map(|p| outline(p.region())).collect())).collect()
    }

    /// Whether a WGS84 rectangle lies wholly inside one part of the territory, so that
    /// everything meeting it is visible without a test (`false` when that cannot be told
    /// cheaply).
    #[inline]
    pub fn covers(&self, r: Rect<f64>) -> bool {
        self.levels.iter().all(|parts| parts.iter().any(|p| p.covers(r)))
    }
}

/// The polygons drawing a region.
fn outline(region: &Region) -> Vec<Polygon<f64>> {
    match region {
        Region::Polygons(mp) => mp.0.clone(),
        Region::BBox([w, s, e, n]) => {
            // Across the antimeridian: two rectangles.
            let spans = if w <= e { vec![(*w, *e)] } else { vec![(*w, 180.0), (-180.0, *e)] };
            spans
                .into_iter()
                .map(|(w, e)| Rect::new(Coord { x: w, y: *s }, Coord { x: e, y: *n }).to_polygon())
                .collect()
        }
        Region::Circle { lon, lat, radius_m } => {
            let (phi, lambda, delta) = (lat.to_radians(), lon.to_radians(), radius_m / 6_371_008.8);
            let ring: Vec<Coord<f64>> = (0..=64)
                .map(|i| {
                    let bearing = f64::from(i % 64) * std::f64::consts::TAU / 64.0;
                    let p2 = (phi.sin() * delta.cos() + phi.cos() * delta.sin() * bearing.cos()).asin();
                    let l2 =
                        lambda + (bearing.sin() * delta.sin() * phi.cos()).atan2(delta.cos() - phi.sin() * p2.sin());
                    Coord { x: l2.to_degrees(), y: p2.to_degrees() }
                })
                .collect();
            vec![Polygon::new(LineString(ring), vec![])]
        }
        Region::Cells(_) => Vec::new(),
    }
}

/// FNV-1a over each part's kind and numbers (coordinates with their ring structure, box
/// edges, circle centre and radius): stable across processes and versions (cache keys are
/// compared, never decoded).
fn key_of(levels: &[Vec<Prepared>]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (level, part) in levels.iter().enumerate().flat_map(|(i, parts)| parts.iter().map(move |p| (i, p))) {
        eat(&(level as u64).to_le_bytes());
        match part.region() {
            Region::Polygons(mp) => {
                for p in mp {
                    for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
                        eat(&(ring.coords_count() as u64).to_le_bytes());
                        for c in ring.coords() {
                            eat(&c.x.to_bits().to_le_bytes());
                            eat(&c.y.to_bits().to_le_bytes());
                        }
                    }
                    eat(b"|");
                }
            }
            Region::BBox(b) => {
                eat(b"box");
                for v in b {
                    eat(&v.to_bits().to_le_bytes());
                }
            }
            Region::Circle { lon, lat, radius_m } => {
                eat(b"circle");
                for v in [lon, lat, radius_m] {
                    eat(&v.to_bits().to_le_bytes());
                }
            }
            Region::Cells(_) => {}
        }
        eat(b"/");
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::{Prepared, Region};

    /// A box well inside a 1,000-vertex territory is covered (no test per feature); one across
    /// its border is not; circles, boxes and polygons make one territory whose key changes
    /// with any of them.
    #[test]
    fn covers_what_lies_inside_and_keys_follow_the_geometry() {
        let mp = crate::demo::wobbly_territory();
        let s = Scope::new(mp.clone()).unwrap();
        let circle = Prepared::new(Region::Circle { lon: 2.2945, lat: 48.8584, radius_m: 1000.0 }).unwrap();
        assert!(s.covers(circle.bounds().unwrap()));
        let across = Rect::new(Coord { x: 2.40, y: 48.90 }, Coord { x: 2.60, y: 48.95 });
        assert!(!s.covers(across));
        let two = Scope::of_parts(vec![
            Prepared::new(Region::Polygons(mp)).unwrap(),
            Prepared::new(Region::BBox([5.0, 43.0, 5.5, 43.5])).unwrap(),
        ])
        .unwrap();
        assert!(two.admits(&Geometry::Point(geo::Point::new(5.2, 43.2))));
        assert!(two.bounds().max().x >= 5.5 && two.bounds().min().x < 2.3);
        assert_ne!(two.key(), s.key());
        let cells = Prepared::new(Region::Cells(vec![crate::h3::cell_of(2.35, 48.86, 7).unwrap()])).unwrap();
        assert!(Scope::of_parts(vec![cells]).is_err(), "H3 cells select by a point, not by meeting");
    }

    /// A token's territory inside its creator's: only what meets both is visible, the box is
    /// the boxes' intersection, and the key differs from either.
    #[test]
    fn a_territory_within_another_admits_what_meets_both() {
        let boxed = |b: [f64; 4]| Scope::of_parts(vec![Prepared::new(Region::BBox(b)).unwrap()]).unwrap();
        let (creator, token) = (boxed([2.0, 48.0, 3.0, 49.0]), boxed([2.5, 48.5, 3.5, 49.5]));
        let both = token.within(&creator);
        let point = |x: f64, y: f64| Geometry::Point(geo::Point::new(x, y));
        assert!(both.admits(&point(2.7, 48.7)));
        assert!(both.admits(&point(3.0, 49.0)), "boundaries of both included");
        assert!(!both.admits(&point(2.2, 48.2)), "the creator's only");
        assert!(!both.admits(&point(3.2, 49.2)), "the token's only");
        assert_eq!(both.bounds(), Rect::new(Coord { x: 2.5, y: 48.5 }, Coord { x: 3.0, y: 49.0 }));
        assert!(both.covers(Rect::new(Coord { x: 2.6, y: 48.6 }, Coord { x: 2.9, y: 48.9 })));
        assert!(!both.covers(Rect::new(Coord { x: 2.1, y: 48.6 }, Coord { x: 2.9, y: 48.9 })));
        assert!(both.key() != token.key() && both.key() != creator.key());
        let apart = boxed([5.0, 43.0, 6.0, 44.0]).within(&creator);
        assert!(!apart.admits(&point(5.5, 43.5)) && !apart.admits(&point(2.5, 48.5)));
        let outlines = both.outlines();
        assert_eq!(outlines.len(), 2, "one outline per level");
        assert_eq!(geo::BoundingRect::bounding_rect(&outlines[0]), Some(token.bounds()));
        let circle = Scope::of_parts(vec![
            Prepared::new(Region::Circle { lon: 2.2945, lat: 48.8584, radius_m: 1000.0 }).unwrap(),
        ])
        .unwrap();
        let ring = &circle.outlines()[0].0[0];
        assert_eq!(ring.exterior().0.len(), 65);
        for c in ring.exterior().coords() {
            let d = geo::Distance::distance(&geo::Haversine, geo::Point::new(2.2945, 48.8584), geo::Point(*c));
            assert!((d - 1000.0).abs() < 1.0, "{d} m from the centre");
        }
    }
}
