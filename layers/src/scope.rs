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
use geo::{CoordsIter, Geometry, MultiPolygon, Rect};

/// A territory: one or several regions (départements, communes, drawn polygons, boxes,
/// circles), prepared for many tests; a feature meeting any of them is visible.
#[derive(Debug, Clone)]
pub struct Scope {
    key: String,
    parts: Vec<Prepared>,
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
                    geo::Coord { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                    geo::Coord { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
                )
            })
            .ok_or_else(|| RegionError::Invalid("empty territory".into()))?;
        let key = key_of(&parts);
        Ok(Self { key, parts, bounds })
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
        self.parts.iter().any(|p| p.intersects(g))
    }

    /// Whether an indexed feature meets the territory (a point from its brief).
    #[inline]
    pub fn admits_item(&self, item: &Item) -> bool {
        self.parts.iter().any(|p| p.meets(item))
    }

    /// Whether a WGS84 rectangle lies wholly inside one part of the territory, so that
    /// everything meeting it is visible without a test (`false` when that cannot be told
    /// cheaply).
    #[inline]
    pub fn covers(&self, r: Rect<f64>) -> bool {
        self.parts.iter().any(|p| p.covers(r))
    }
}

/// FNV-1a over each part's kind and numbers (coordinates with their ring structure, box
/// edges, circle centre and radius): stable across processes and versions (cache keys are
/// compared, never decoded).
fn key_of(parts: &[Prepared]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for part in parts {
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
        let across = Rect::new(geo::Coord { x: 2.40, y: 48.90 }, geo::Coord { x: 2.60, y: 48.95 });
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
}
