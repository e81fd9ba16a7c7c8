//! Region queries: which features of which layers meet a region, with the same answers as
//! PostGIS on the same data.
//!
//! - Boxes and polygons are tested in longitude/latitude, planar, boundary included — as
//!   `ST_Intersects` on `geometry(4326)`. A box whose west edge is east of its east edge crosses
//!   the antimeridian and means the two boxes on either side of it.
//! - Circles are measured on the WGS84 ellipsoid (Karney's geodesics) — as
//!   `ST_DWithin(geography, geography, radius_m)`; polygons containing the centre match.
//! - H3 cells match the features whose representative point lies in one of them — the same
//!   rule as the H3 heat layer, so a selection of hexagons lists exactly what they count.
//!
//! Points are tested against polygons with a banded index of the polygon's edges, so a
//! département of thousands of vertices answers in a few edge tests per point.

use crate::feature::Feature;
use crate::filter::Filter;
use crate::tile::lonlat_to_mercator;
use geo::{
    BoundingRect, Coord, Destination, Distance, Geodesic, Geometry, Intersects, LineString, MultiPolygon, Point,
    Polygon, Rect,
};
use h3o::CellIndex;

/// A region, in WGS84.
#[derive(Debug, Clone, PartialEq)]
pub enum Region {
    /// West, south, east, north (west > east crosses the antimeridian).
    BBox([f64; 4]),
    /// Polygons (holes and several parts allowed).
    Polygons(MultiPolygon<f64>),
    /// A circle on the ellipsoid.
    Circle {
        /// Centre longitude.
        lon: f64,
        /// Centre latitude.
        lat: f64,
        /// Radius in metres.
        radius_m: f64,
    },
    /// H3 cells (any resolutions).
    Cells(Vec<CellIndex>),
}

/// Why a region was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegionError {
    /// A coordinate or radius is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// Largest circle radius, metres (a region query is local by nature).
pub const MAX_RADIUS_M: f64 = 1_000_000.0;

/// Horizontal bands of a polygon's edges: a point only looks at the edges of its band.
#[derive(Debug, Clone)]
struct Banded {
    min_y: f64,
    band_h: f64,
    bands: Vec<Vec<(Coord<f64>, Coord<f64>)>>,
    bbox: Rect<f64>,
}

impl Banded {
    fn new(mp: &MultiPolygon<f64>) -> Option<Self> {
        let bbox = mp.bounding_rect()?;
        let edges: Vec<(Coord<f64>, Coord<f64>)> = mp
            .iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .flat_map(|ring| ring.lines().map(|l| (l.start, l.end)))
            .collect();
        let n = (edges.len() / 4).clamp(1, 4096);
        let band_h = (bbox.height() / n as f64).max(f64::MIN_POSITIVE);
        let mut bands = vec![Vec::new(); n];
        for (a, b) in edges {
            let (lo, hi) = (a.y.min(b.y), a.y.max(b.y));
            let i0 = (((lo - bbox.min().y) / band_h).floor().max(0.0) as usize).min(n - 1);
            let i1 = (((hi - bbox.min().y) / band_h).floor().max(0.0) as usize).min(n - 1);
            for band in &mut bands[i0..=i1] {
                band.push((a, b));
            }
        }
        Some(Self { min_y: bbox.min().y, band_h, bands, bbox })
    }

    /// Inside or on the boundary (even-odd rule over every ring, as for valid polygons).
    fn contains(&self, p: Coord<f64>) -> bool {
        if p.x < self.bbox.min().x || p.x > self.bbox.max().x || p.y < self.bbox.min().y || p.y > self.bbox.max().y {
            return false;
        }
        let n = self.bands.len();
        let i = (((p.y - self.min_y) / self.band_h).floor().max(0.0) as usize).min(n - 1);
        let mut inside = false;
        for &(a, b) in &self.bands[i] {
            // On the edge: collinear and within the segment's box.
            let cross = (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
            if cross == 0.0 && p.x >= a.x.min(b.x) && p.x <= a.x.max(b.x) && p.y >= a.y.min(b.y) && p.y <= a.y.max(b.y)
            {
                return true;
            }
            if (a.y > p.y) != (b.y > p.y) {
                let x = a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y);
                if p.x < x {
                    inside = !inside;
                }
            }
        }
        inside
    }
}

/// A region ready to test many features.
#[derive(Debug, Clone)]
pub struct Prepared {
    region: Region,
    /// WGS84 boxes to look features up with (two across the antimeridian).
    boxes: Vec<Rect<f64>>,
    polygons: Option<(MultiPolygon<f64>, Banded)>,
    cells: Vec<(CellIndex, Polygon<f64>)>,
}

fn lonlat_ok(lon: f64, lat: f64) -> bool {
    lon.is_finite() && lat.is_finite() && (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

fn rect(w: f64, s: f64, e: f64, n: f64) -> Rect<f64> {
    Rect::new(Coord { x: w, y: s }, Coord { x: e, y: n })
}

impl Prepared {
    /// Checks and prepares a region.
    ///
    /// # Errors
    /// [`RegionError::Invalid`] naming what is out of range.
    pub fn new(region: Region) -> Result<Self, RegionError> {
        let bad = |m: String| Err(RegionError::Invalid(m));
        let (boxes, polygons, cells) = match &region {
            Region::BBox([w, s, e, n]) => {
                if !(lonlat_ok(*w, *s) && lonlat_ok(*e, *n) && s <= n) {
                    return bad(format!(
                        "bbox [{w}, {s}, {e}, {n}] must be west,south,east,north in degrees with south <= north"
                    ));
                }
                let boxes = if w <= e {
                    vec![rect(*w, *s, *e, *n)]
                } else {
                    vec![rect(*w, *s, 180.0, *n), rect(-180.0, *s, *e, *n)]
                };
                (boxes, None, Vec::new())
            }
            Region::Polygons(mp) => {
                use geo::CoordsIter;
                if mp.0.is_empty() || mp.coords_iter().any(|c| !lonlat_ok(c.x, c.y)) {
                    return bad("the polygon must have coordinates within -180..180 and -90..90".into());
                }
                if let Some(problem) = crate::validity::problem(mp) {
                    return bad(format!("invalid polygon: {problem}"));
                }
                let banded = Banded::new(mp).ok_or_else(|| RegionError::Invalid("empty polygon".into()))?;
                (vec![banded.bbox], Some((mp.clone(), banded)), Vec::new())
            }
            Region::Circle { lon, lat, radius_m } => {
                if !lonlat_ok(*lon, *lat) {
                    return bad(format!(
                        "circle centre ({lon}, {lat}) must be a longitude within -180..180 and a latitude within -90..90"
                    ));
                }
                if !(radius_m.is_finite() && *radius_m > 0.0 && *radius_m <= MAX_RADIUS_M) {
                    return bad(format!("radius_m {radius_m} must be above 0 and at most {MAX_RADIUS_M}"));
                }
                (circle_boxes(*lon, *lat, *radius_m), None, Vec::new())
            }
            Region::Cells(cells) => {
                if cells.is_empty() || cells.len() > 10_000 {
                    return bad("give 1 to 10,000 H3 cells".into());
                }
                let polys: Vec<(CellIndex, Polygon<f64>)> =
                    cells.iter().map(|c| (*c, crate::h3::cell_polygon(*c))).collect();
                // Counting goes by the parent of each point's finest cell, whose extent strays
                // a little past the cell's hexagon: look features up in a larger box (the exact
                // test follows).
                let boxes = polys
                    .iter()
                    .filter_map(|(_, p)| p.bounding_rect())
                    .map(|r| {
                        let (dx, dy) = (r.width() * 0.4, r.height() * 0.4);
                        rect(r.min().x - dx, (r.min().y - dy).max(-90.0), r.max().x + dx, (r.max().y + dy).min(90.0))
                    })
                    .flat_map(split_antimeridian)
                    .collect();
                (boxes, None, polys)
            }
        };
        Ok(Self { region, boxes, polygons, cells })
    }

    /// The region.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// Web Mercator boxes covering the region, to query the index with.
    pub fn mercator_boxes(&self) -> Vec<Rect<f64>> {
        self.boxes
            .iter()
            .map(|r| Rect::new(lonlat_to_mercator(r.min().x, r.min().y), lonlat_to_mercator(r.max().x, r.max().y)))
            .collect()
    }

    /// Whether a WGS84 geometry meets the region.
    pub fn intersects(&self, g: &Geometry<f64>) -> bool {
        match &self.region {
            Region::BBox(_) => self.boxes.iter().any(|b| b.intersects(g)),
            Region::Polygons(_) => {
                let Some((mp, banded)) = &self.polygons else { return false };
                match g {
                    Geometry::Point(p) => banded.contains(p.0),
                    Geometry::MultiPoint(mp_) => mp_.iter().any(|p| banded.contains(p.0)),
                    other => mp.intersects(other),
                }
            }
            Region::Circle { lon, lat, radius_m } => within_geodesic(Point::new(*lon, *lat), *radius_m, g),
            Region::Cells(_) => crate::h3::representative_point(g)
                .is_some_and(|p| self.cells.iter().any(|(c, _)| crate::h3::counts_in(p.x, p.y, *c))),
        }
    }
}

fn split_antimeridian(r: Rect<f64>) -> Vec<Rect<f64>> {
    if r.max().x > 180.0 {
        vec![rect(r.min().x, r.min().y, 180.0, r.max().y), rect(-180.0, r.min().y, r.max().x - 360.0, r.max().y)]
    } else {
        vec![r]
    }
}

/// WGS84 boxes holding a geodesic circle (a little larger; the exact test follows).
fn circle_boxes(lon: f64, lat: f64, r: f64) -> Vec<Rect<f64>> {
    let c = Point::new(lon, lat);
    let north = Geodesic.destination(c, 0.0, r).y();
    let south = Geodesic.destination(c, 180.0, r).y();
    // Over a pole the circle holds every longitude.
    if Geodesic.distance(c, Point::new(lon, 90.0)) <= r {
        return vec![rect(-180.0, south.min(north), 180.0, 90.0)];
    }
    if Geodesic.distance(c, Point::new(lon, -90.0)) <= r {
        return vec![rect(-180.0, -90.0, 180.0, north.max(south))];
    }
    // The widest longitude span is not at the centre latitude near the poles: sample bearings.
    let mut dlon: f64 = 0.0;
    for i in 0..=36 {
        let p = Geodesic.destination(c, f64::from(i) * 5.0, r);
        let mut d = (p.x() - lon).abs();
        if d > 180.0 {
            d = 360.0 - d;
        }
        dlon = dlon.max(d);
    }
    let pad = 1.0 + 1e-6;
    let (s, n) = (south - (north - south) * 1e-6, north + (north - south) * 1e-6);
    let (w, e) = (lon - dlon * pad - 1e-9, lon + dlon * pad + 1e-9);
    let (s, n) = (s.max(-90.0), n.min(90.0));
    if w < -180.0 {
        vec![rect(-180.0, s, e, n), rect(w + 360.0, s, 180.0, n)]
    } else if e > 180.0 {
        vec![rect(w, s, 180.0, n), rect(-180.0, s, e - 360.0, n)]
    } else {
        vec![rect(w, s, e, n)]
    }
}

/// Whether a geometry comes within `r` metres of `c` on the ellipsoid: exact for points; for
/// lines and polygon rings, edges are followed in steps much finer than the radius.
fn within_geodesic(c: Point<f64>, r: f64, g: &Geometry<f64>) -> bool {
    let near = |p: Coord<f64>| Geodesic.distance(c, Point(p)) <= r;
    let line_near = |ls: &LineString<f64>| {
        ls.lines().any(|l| {
            if near(l.start) || near(l.end) {
                return true;
            }
            let len = Geodesic.distance(Point(l.start), Point(l.end));
            let d_start = Geodesic.distance(c, Point(l.start));
            // A segment whose both ends are further than r + its length cannot come closer.
            if d_start > r + len {
                return false;
            }
            let steps = ((len / (r / 200.0).max(0.05)).ceil() as usize).clamp(1, 100_000);
            (1..steps).any(|i| {
                let t = i as f64 / steps as f64;
                near(Coord { x: l.start.x + (l.end.x - l.start.x) * t, y: l.start.y + (l.end.y - l.start.y) * t })
            })
        })
    };
    match g {
        Geometry::Point(p) => near(p.0),
        Geometry::MultiPoint(mp) => mp.iter().any(|p| near(p.0)),
        Geometry::LineString(ls) => line_near(ls),
        Geometry::MultiLineString(mls) => mls.iter().any(line_near),
        Geometry::Polygon(p) => p.intersects(&c) || std::iter::once(p.exterior()).chain(p.interiors()).any(line_near),
        Geometry::MultiPolygon(mp) => mp.iter().any(|p| within_geodesic(c, r, &Geometry::Polygon(p.clone()))),
        _ => false,
    }
}

/// One feature matching a region.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Index of the layer in the query's layer list.
    pub layer: usize,
    /// The feature.
    pub feature: std::sync::Arc<Feature>,
}

/// Features of one collection that meet the region, pass the filter and the layer selection.
pub fn matching<'a>(
    candidates: impl Iterator<Item = &'a std::sync::Arc<Feature>>,
    region: &Prepared,
    selects: impl Fn(&Feature) -> bool,
    filter: &Filter,
) -> Vec<std::sync::Arc<Feature>> {
    candidates.filter(|f| selects(f) && filter.matches(&f.attrs) && region.intersects(&f.lonlat)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{point, polygon};

    fn pt(lon: f64, lat: f64) -> Geometry<f64> {
        Geometry::Point(Point::new(lon, lat))
    }

    #[test]
    fn polygon_edges_holes_and_parts() {
        let outer = polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0), (x: 0.0, y: 10.0)];
        let with_hole = Polygon::new(
            outer.exterior().clone(),
            vec![LineString::from(vec![(4.0, 4.0), (6.0, 4.0), (6.0, 6.0), (4.0, 6.0), (4.0, 4.0)])],
        );
        let other = polygon![(x: 20.0, y: 0.0), (x: 21.0, y: 0.0), (x: 21.0, y: 1.0)];
        let r = Prepared::new(Region::Polygons(MultiPolygon(vec![with_hole, other]))).unwrap();
        assert!(r.intersects(&pt(1.0, 1.0)));
        assert!(r.intersects(&pt(10.0, 5.0)), "on an edge");
        assert!(r.intersects(&pt(0.0, 0.0)), "on a vertex");
        assert!(!r.intersects(&pt(5.0, 5.0)), "in the hole");
        assert!(r.intersects(&pt(4.0, 5.0)), "on the hole's edge");
        assert!(r.intersects(&pt(20.5, 0.2)), "second part");
        assert!(!r.intersects(&pt(10.000_001, 5.0)));
        let line = Geometry::LineString(LineString::from(vec![(5.0, 4.5), (5.0, 5.5)]));
        assert!(!r.intersects(&line), "inside the hole only");
    }

    #[test]
    fn antimeridian_box_is_two_boxes() {
        let r = Prepared::new(Region::BBox([170.0, -20.0, -170.0, -10.0])).unwrap();
        assert!(r.intersects(&pt(175.0, -15.0)));
        assert!(r.intersects(&pt(-175.0, -15.0)));
        assert!(!r.intersects(&pt(0.0, -15.0)));
        assert_eq!(r.mercator_boxes().len(), 2);
    }

    #[test]
    fn circles_are_geodesic() {
        let c = Region::Circle { lon: 2.2945, lat: 48.8584, radius_m: 1000.0 };
        let r = Prepared::new(c).unwrap();
        // 999 m and 1001 m due north (geodesic destinations).
        let inside = Geodesic.destination(point!(x: 2.2945, y: 48.8584), 0.0, 999.0);
        let outside = Geodesic.destination(point!(x: 2.2945, y: 48.8584), 90.0, 1001.0);
        assert!(r.intersects(&Geometry::Point(inside)));
        assert!(!r.intersects(&Geometry::Point(outside)));
        // A line passing 500 m away, both ends far.
        let a = Geodesic.destination(point!(x: 2.2945, y: 48.8584), 0.0, 500.0);
        let line = LineString::from(vec![(a.x() - 0.1, a.y()), (a.x() + 0.1, a.y())]);
        assert!(r.intersects(&Geometry::LineString(line)));
        // Near the pole every longitude is close.
        let polar = Prepared::new(Region::Circle { lon: 0.0, lat: 89.999, radius_m: 500.0 }).unwrap();
        assert!(polar.intersects(&pt(179.0, 89.9995)));
        assert!(!polar.intersects(&pt(179.0, 89.99)));
    }

    #[test]
    fn bad_regions_are_refused() {
        assert!(Prepared::new(Region::BBox([0.0, 10.0, 1.0, 5.0])).is_err());
        assert!(Prepared::new(Region::Circle { lon: 0.0, lat: 0.0, radius_m: -1.0 }).is_err());
        assert!(Prepared::new(Region::Circle { lon: 200.0, lat: 0.0, radius_m: 1.0 }).is_err());
        let bow = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0), (x: 1.0, y: 0.0), (x: 0.0, y: 1.0)];
        assert!(Prepared::new(Region::Polygons(MultiPolygon(vec![bow]))).is_err());
    }
}
