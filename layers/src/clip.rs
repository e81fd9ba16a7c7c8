//! From Web Mercator geometry to integer tile geometry: transform, simplify, clip, snap.
//!
//! - Points are kept when they fall inside the buffered tile.
//! - Lines are simplified (Douglas–Peucker, [`SIMPLIFY_TOLERANCE`] tile units, so the loss is
//!   the same on screen at every zoom), clipped segment by segment to the buffered tile, then
//!   snapped to the integer grid.
//! - Polygons are simplified, snapped to the integer grid, then intersected with the buffered
//!   tile by `i_overlay` working on integer coordinates. That one step both clips and repairs
//!   what snapping may break (collapsed spikes, rings touching themselves), so every ring in the
//!   output is valid in OGC terms, exterior rings come out with positive area and holes with
//!   negative area in tile coordinates (y down), which is MVT 2.1's winding rule.

use crate::tile::{EXTENT, TileTransform};
use geo::{Coord, Geometry, LineString, Polygon, Simplify};
use i_overlay::core::fill_rule::FillRule;
use i_overlay::core::overlay::{IntOverlayOptions, Overlay, ShapeType};
use i_overlay::core::overlay_rule::OverlayRule;
use i_overlay::core::solver::{Precision, Solver};
use i_overlay::i_float::int::point::IntPoint;

/// A point in tile units.
pub type IPoint = [i32; 2];

/// Douglas–Peucker tolerance in tile units (of 4096). A quarter unit, then snapping to the
/// grid, keeps every vertex within one unit of what PostGIS `ST_AsMVTGeom` gives for the same
/// geometry (tests/e2e/postgis_mvt.rs measures it; half a unit gave 1.13 units).
pub const SIMPLIFY_TOLERANCE: f64 = 0.25;

/// Geometry in integer tile units, ready to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TileGeometry {
    /// One or more points.
    Points(Vec<IPoint>),
    /// One or more line strings, each with at least two distinct consecutive points.
    Lines(Vec<Vec<IPoint>>),
    /// Polygons: each is its exterior ring then its holes; rings are not closed (the first
    /// point is not repeated).
    Polygons(Vec<Vec<Vec<IPoint>>>),
}

impl TileGeometry {
    /// Whether nothing is left to draw.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Points(p) => p.is_empty(),
            Self::Lines(l) => l.is_empty(),
            Self::Polygons(p) => p.is_empty(),
        }
    }
}

/// The square, in tile units, that geometry is clipped to: the tile grown by the buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipBox {
    min: f64,
    max: f64,
}

impl ClipBox {
    /// The tile extent grown by `buffer_px` on every side.
    pub fn new(buffer_px: u32) -> Self {
        Self { min: -f64::from(buffer_px), max: f64::from(EXTENT + buffer_px) }
    }

    /// Whether a point lies inside or on the edge.
    #[inline]
    pub fn contains(&self, c: Coord<f64>) -> bool {
        c.x >= self.min && c.x <= self.max && c.y >= self.min && c.y <= self.max
    }

    /// Lowest coordinate, tile units.
    pub fn min(&self) -> f64 {
        self.min
    }

    /// Highest coordinate, tile units.
    pub fn max(&self) -> f64 {
        self.max
    }

    /// The clip square for the overlay, one unit inside the box: i_overlay snaps to existing
    /// vertices within one unit (absolute precision), so a vertex just outside the edge may
    /// survive; clipping one unit in keeps every output vertex inside the box.
    fn contour(&self) -> [IntPoint; 4] {
        let (a, b) = (self.min as i32 + 1, self.max as i32 - 1);
        [IntPoint::new(a, a), IntPoint::new(b, a), IntPoint::new(b, b), IntPoint::new(a, b)]
    }
}

#[inline]
fn snap(c: Coord<f64>) -> IPoint {
    [c.x.round() as i32, c.y.round() as i32]
}

/// Turns a Web Mercator geometry into tile geometry for the tile of `tr`, clipped to `clip`.
/// Returns `None` when nothing is left inside the buffered tile.
pub fn tile_geometry(g: &Geometry<f64>, tr: &TileTransform, clip: &ClipBox) -> Option<TileGeometry> {
    let out = match g {
        Geometry::Point(p) => {
            let c = tr.apply(p.0);
            if !clip.contains(c) {
                return None;
            }
            TileGeometry::Points(vec![snap(c)])
        }
        Geometry::MultiPoint(mp) => {
            TileGeometry::Points(mp.iter().map(|p| tr.apply(p.0)).filter(|c| clip.contains(*c)).map(snap).collect())
        }
        Geometry::LineString(ls) => {
            let mut lines = Vec::new();
            clip_line(ls, tr, clip, &mut lines);
            TileGeometry::Lines(lines)
        }
        Geometry::MultiLineString(mls) => {
            let mut lines = Vec::new();
            for ls in mls {
                clip_line(ls, tr, clip, &mut lines);
            }
            TileGeometry::Lines(lines)
        }
        Geometry::Polygon(p) => TileGeometry::Polygons(clip_polygons(std::slice::from_ref(p), tr, clip)),
        Geometry::MultiPolygon(mp) => TileGeometry::Polygons(clip_polygons(&mp.0, tr, clip)),
        Geometry::Line(_) | Geometry::Rect(_) | Geometry::Triangle(_) | Geometry::GeometryCollection(_) => {
            return None;
        }
    };
    (!out.is_empty()).then_some(out)
}

fn to_tile_units(ls: &LineString<f64>, tr: &TileTransform) -> LineString<f64> {
    ls.0.iter().map(|c| tr.apply(*c)).collect()
}

/// Simplifies, clips and snaps one line; pushes the pieces that remain.
fn clip_line(ls: &LineString<f64>, tr: &TileTransform, clip: &ClipBox, out: &mut Vec<Vec<IPoint>>) {
    let line = to_tile_units(ls, tr).simplify(SIMPLIFY_TOLERANCE);
    let mut run: Vec<IPoint> = Vec::new();
    let flush = |run: &mut Vec<IPoint>, out: &mut Vec<Vec<IPoint>>| {
        if run.len() >= 2 {
            out.push(std::mem::take(run));
        } else {
            run.clear();
        }
    };
    let push = |run: &mut Vec<IPoint>, p: IPoint| {
        if run.last() != Some(&p) {
            run.push(p);
        }
    };
    for seg in line.0.windows(2) {
        match clip_segment(seg[0], seg[1], clip) {
            None => flush(&mut run, out),
            Some((a, b, a_moved, b_moved)) => {
                if a_moved {
                    flush(&mut run, out);
                }
                push(&mut run, snap(a));
                push(&mut run, snap(b));
                if b_moved {
                    flush(&mut run, out);
                }
            }
        }
    }
    flush(&mut run, out);
}

/// Liang–Barsky clipping of segment `a→b` to the box. Returns the clipped end points and
/// whether each was moved onto the box edge.
fn clip_segment(a: Coord<f64>, b: Coord<f64>, clip: &ClipBox) -> Option<(Coord<f64>, Coord<f64>, bool, bool)> {
    let d = b - a;
    let (mut t0, mut t1) = (0.0_f64, 1.0_f64);
    for (p, q) in [(-d.x, a.x - clip.min), (d.x, clip.max - a.x), (-d.y, a.y - clip.min), (d.y, clip.max - a.y)] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                if r > t1 {
                    return None;
                }
                t0 = t0.max(r);
            } else {
                if r < t0 {
                    return None;
                }
                t1 = t1.min(r);
            }
        }
    }
    let start = if t0 > 0.0 { a + d * t0 } else { a };
    let end = if t1 < 1.0 { a + d * t1 } else { b };
    Some((start, end, t0 > 0.0, t1 < 1.0))
}

/// Simplifies, snaps and clips polygons; returns valid polygons (exterior then holes).
fn clip_polygons(polygons: &[Polygon<f64>], tr: &TileTransform, clip: &ClipBox) -> Vec<Vec<Vec<IPoint>>> {
    let mut subject: Vec<Vec<IntPoint>> = Vec::new();
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (i32::MAX, i32::MAX, i32::MIN, i32::MIN);
    for polygon in polygons {
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            let ring = to_tile_units(ring, tr).simplify(SIMPLIFY_TOLERANCE);
            let mut contour: Vec<IntPoint> = Vec::with_capacity(ring.0.len());
            for c in &ring.0 {
                // Far outside the tile, coordinates are clamped: the clip box cuts them anyway
                // and i_overlay needs them well inside i32.
                let [x, y] = snap(Coord { x: c.x.clamp(-1e8, 1e8), y: c.y.clamp(-1e8, 1e8) });
                let p = IntPoint::new(x, y);
                if contour.last() != Some(&p) {
                    contour.push(p);
                }
            }
            if contour.len() > 1 && contour.first() == contour.last() {
                contour.pop();
            }
            if contour.len() >= 3 {
                for p in &contour {
                    min_x = min_x.min(p.x);
                    min_y = min_y.min(p.y);
                    max_x = max_x.max(p.x);
                    max_y = max_y.max(p.y);
                }
                subject.push(contour);
            }
        }
    }
    if subject.is_empty() {
        return Vec::new();
    }
    let (lo, hi) = (clip.min() as i32, clip.max() as i32);
    if max_x < lo || min_x > hi || max_y < lo || min_y > hi {
        return Vec::new();
    }
    let clip_contour = clip.contour();
    let solver = Solver { precision: Precision::ABSOLUTE, ..Solver::default() };
    let mut overlay =
        Overlay::new_custom(subject.iter().map(Vec::len).sum::<usize>() + 4, IntOverlayOptions::ogc(), solver);
    for contour in &subject {
        overlay.add_contour(contour, ShapeType::Subject);
    }
    overlay.add_contour(&clip_contour, ShapeType::Clip);
    let shapes = overlay.overlay(OverlayRule::Intersect, FillRule::EvenOdd);
    shapes
        .into_iter()
        .map(|shape| {
            shape
                .into_iter()
                .enumerate()
                .filter(|(_, ring)| ring.len() >= 3)
                .map(|(i, ring)| {
                    let mut ring: Vec<IPoint> = ring.into_iter().map(|p| [p.x, p.y]).collect();
                    // MVT: exterior rings have positive area in tile coordinates, holes negative.
                    let area = ring_area2(&ring);
                    if (i == 0) != (area > 0) {
                        ring.reverse();
                    }
                    ring
                })
                .collect::<Vec<_>>()
        })
        .filter(|rings: &Vec<Vec<IPoint>>| !rings.is_empty())
        .collect()
}

/// Twice the signed area of a ring by the surveyor's formula, in tile coordinates
/// (positive for an MVT exterior ring).
pub fn ring_area2(ring: &[IPoint]) -> i64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let [x0, y0] = ring[i];
            let [x1, y1] = ring[(i + 1) % n];
            i64::from(x0) * i64::from(y1) - i64::from(x1) * i64::from(y0)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tile::{BUFFER_PX, TileCoord};
    use geo::{Coord, MultiPolygon, Point, polygon};

    fn tile() -> (TileTransform, ClipBox, geo::Rect<f64>) {
        let t = TileCoord::new(12, 2074, 1409).unwrap();
        (t.transform(), ClipBox::new(BUFFER_PX), t.bounds())
    }

    /// Web Mercator coordinate at tile units (u, v) of the test tile.
    fn at(b: geo::Rect<f64>, u: f64, v: f64) -> Coord<f64> {
        let s = b.width() / 4096.0;
        Coord { x: b.min().x + u * s, y: b.max().y - v * s }
    }

    #[test]
    fn point_inside_buffer_is_kept_outside_is_dropped() {
        let (tr, clip, b) = tile();
        let inside = Geometry::Point(Point(at(b, -30.0, 100.0)));
        assert_eq!(tile_geometry(&inside, &tr, &clip), Some(TileGeometry::Points(vec![[-30, 100]])));
        let outside = Geometry::Point(Point(at(b, -70.0, 100.0)));
        assert_eq!(tile_geometry(&outside, &tr, &clip), None);
    }

    #[test]
    fn line_crossing_the_tile_is_cut_at_the_buffer() {
        let (tr, clip, b) = tile();
        let ls: LineString<f64> = vec![at(b, -1000.0, 2000.0), at(b, 5000.0, 2000.0)].into();
        let g = tile_geometry(&Geometry::LineString(ls), &tr, &clip).unwrap();
        assert_eq!(g, TileGeometry::Lines(vec![vec![[-64, 2000], [4160, 2000]]]));
    }

    #[test]
    fn line_leaving_and_coming_back_gives_two_pieces() {
        let (tr, clip, b) = tile();
        let ls: LineString<f64> =
            vec![at(b, 100.0, 100.0), at(b, 100.0, -500.0), at(b, 300.0, -500.0), at(b, 300.0, 100.0)].into();
        let TileGeometry::Lines(lines) = tile_geometry(&Geometry::LineString(ls), &tr, &clip).unwrap() else {
            panic!("lines expected")
        };
        assert_eq!(lines, vec![vec![[100, 100], [100, -64]], vec![[300, -64], [300, 100]]]);
    }

    #[test]
    fn polygon_crossing_the_edge_is_clipped_and_wound_for_mvt() {
        let (tr, clip, b) = tile();
        let c = |u, v| at(b, u, v);
        let p = polygon![c(-500.0, 1000.0), c(1000.0, 1000.0), c(1000.0, 2000.0), c(-500.0, 2000.0)];
        let TileGeometry::Polygons(polys) = tile_geometry(&Geometry::Polygon(p), &tr, &clip).unwrap() else { panic!() };
        assert_eq!(polys.len(), 1);
        let ring = &polys[0][0];
        assert!(ring_area2(ring) > 0, "exterior must have positive area: {ring:?}");
        assert_eq!(ring_area2(ring), 2 * 1063 * 1000);
        assert!(ring.iter().all(|p| p[0] >= -63));
        assert!(ring.iter().all(|p| p[0] >= -64));
    }

    #[test]
    fn holes_get_negative_area() {
        let (tr, clip, b) = tile();
        let c = |u, v| at(b, u, v);
        let p = Polygon::new(
            vec![c(100.0, 100.0), c(900.0, 100.0), c(900.0, 900.0), c(100.0, 900.0), c(100.0, 100.0)].into(),
            vec![vec![c(300.0, 300.0), c(300.0, 600.0), c(600.0, 600.0), c(600.0, 300.0), c(300.0, 300.0)].into()],
        );
        let TileGeometry::Polygons(polys) = tile_geometry(&Geometry::Polygon(p), &tr, &clip).unwrap() else { panic!() };
        assert_eq!(polys.len(), 1);
        assert_eq!(polys[0].len(), 2);
        assert!(ring_area2(&polys[0][0]) > 0 && ring_area2(&polys[0][1]) < 0);
    }

    #[test]
    fn polygon_covering_the_whole_tile_becomes_the_buffer_square() {
        let (tr, clip, b) = tile();
        let c = |u, v| at(b, u, v);
        let p = polygon![c(-9000.0, -9000.0), c(9000.0, -9000.0), c(9000.0, 9000.0), c(-9000.0, 9000.0)];
        let TileGeometry::Polygons(polys) = tile_geometry(&Geometry::Polygon(p), &tr, &clip).unwrap() else { panic!() };
        assert_eq!(ring_area2(&polys[0][0]), 2 * 4222 * 4222);
    }

    #[test]
    fn sub_unit_polygon_collapses_to_nothing() {
        let (tr, clip, b) = tile();
        let c = |u, v| at(b, u, v);
        let p = polygon![c(10.0, 10.0), c(10.2, 10.0), c(10.2, 10.2)];
        assert_eq!(tile_geometry(&Geometry::Polygon(p), &tr, &clip), None);
        let mp = MultiPolygon(vec![]);
        assert_eq!(tile_geometry(&Geometry::MultiPolygon(mp), &tr, &clip), None);
    }

    mod props {
        use super::*;
        use crate::mvt::{LayerEncoder, TileEncoder};
        use crate::tile::TileCoord;
        use geo::{Area, BooleanOps, Coord, Length, MultiPolygon, Validation, coord};
        use geozero::ToGeo;
        use geozero::mvt::{Message, Tile};
        use proptest::prelude::*;

        /// A star-shaped ring (never self-intersecting) in tile units around (cx, cy).
        fn star(cx: f64, cy: f64, radii: &[f64], phase: f64) -> LineString<f64> {
            let n = radii.len();
            let mut pts: Vec<Coord<f64>> = radii
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let t = phase + std::f64::consts::TAU * i as f64 / n as f64;
                    coord! { x: cx + r * t.cos(), y: cy + r * t.sin() }
                })
                .collect();
            pts.push(pts[0]);
            LineString(pts)
        }

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
                    enc.add_feature(1, g, []);
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
                    prop_assert!(enc.add_feature(1, &g, []));
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
