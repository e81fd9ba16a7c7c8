//! From Web Mercator geometry to integer tile geometry: transform, simplify, clip, snap.
//!
//! - Points are kept as PostGIS's `ST_AsMVT` keeps them: selected by float4 boxes, snapped to
//!   the tile grid, inside the buffered tile or on its edge (`ClipBox::snap_point`).
//! - Lines are simplified (Douglas–Peucker, [`SIMPLIFY_TOLERANCE`] tile units, so the loss is
//!   the same on screen at every zoom), clipped segment by segment to the buffered tile, then
//!   snapped to the integer grid.
//! - Polygons are simplified, snapped to the integer grid, then intersected with the buffered
//!   tile by `i_overlay` working on integer coordinates. That one step both clips and repairs
//!   what snapping may break (collapsed spikes, rings touching themselves), so every ring in the
//!   output is valid in OGC terms, exterior rings come out with positive area and holes with
//!   negative area in tile coordinates (y down), which is MVT 2.1's winding rule.

use crate::tile::{EXTENT, INDEX_SLACK_M, TileCoord, TileTransform};
use geo::{Coord, Geometry, LineString, Polygon};
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
    /// One point (the common case, kept off the heap).
    Point(IPoint),
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
            Self::Point(_) => false,
            Self::Points(p) => p.is_empty(),
            Self::Lines(l) => l.is_empty(),
            Self::Polygons(p) => p.is_empty(),
        }
    }
}

/// The square, in tile units, that geometry is clipped to: the tile grown by the buffer; and,
/// for a tile's own box, the float4 envelope points are selected by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipBox {
    min: f64,
    max: f64,
    /// The buffered envelope (Web Mercator metres) rounded outward to float4, as PostGIS's `&&`
    /// compares boxes: `[min x, min y, max x, max y]`.
    index: Option<[f64; 4]>,
    /// Tile units from the box's edges within which a point needs the float4 test: points
    /// further in are kept at once.
    edge: f64,
}

/// `v` rounded down (`up` false) or up to a float4 value, as PostGIS rounds index boxes.
fn to_f32(v: f64, up: bool) -> f64 {
    let f = v as f32;
    let f = match (up, f64::from(f).partial_cmp(&v)) {
        (false, Some(std::cmp::Ordering::Greater)) => f.next_down(),
        (true, Some(std::cmp::Ordering::Less)) => f.next_up(),
        _ => f,
    };
    f64::from(f)
}

impl ClipBox {
    /// The tile extent grown by `buffer_px` on every side.
    pub fn new(buffer_px: u32) -> Self {
        Self { min: -f64::from(buffer_px), max: f64::from(EXTENT + buffer_px), index: None, edge: 1.0 }
    }

    /// The clip box of one tile, with its buffered envelope for [`Self::snap_point`].
    pub fn for_tile(coord: TileCoord, buffer_px: u32) -> Self {
        let b = coord.buffered_bounds(buffer_px);
        let index =
            [to_f32(b.min().x, false), to_f32(b.min().y, false), to_f32(b.max().x, true), to_f32(b.max().y, true)];
        // Both float4 boxes round by less than INDEX_SLACK_M in all.
        let edge = (INDEX_SLACK_M * f64::from(EXTENT) / coord.size_m()).max(1.0);
        Self { index: Some(index), edge, ..Self::new(buffer_px) }
    }

    /// A point (Web Mercator `m`, tile units `c`) snapped to the tile grid, when the tile shows
    /// it — as PostGIS's `ST_AsMVT(ST_AsMVTGeom(…))` does over `geom && ST_TileEnvelope(…,
    /// margin)`: the point's float4 box meets the envelope's, and the snapped point lies inside
    /// the buffered square or on its edge.
    #[inline]
    pub fn snap_point(&self, m: Coord<f64>, c: Coord<f64>) -> Option<IPoint> {
        let (lo, hi) = (self.min + self.edge, self.max - self.edge);
        if c.x > lo && c.x < hi && c.y > lo && c.y < hi {
            return Some(snap(c));
        }
        if let Some([x0, y0, x1, y1]) = self.index
            && (to_f32(m.x, true) < x0 || to_f32(m.x, false) > x1 || to_f32(m.y, true) < y0 || to_f32(m.y, false) > y1)
        {
            return None;
        }
        let (lo, hi) = (self.min - 0.5, self.max + 0.5);
        if !(c.x >= lo && c.x < hi && c.y >= lo && c.y < hi) {
            return None;
        }
        let p = snap(c);
        let (lo, hi) = (self.min as i32, self.max as i32);
        (p[0] >= lo && p[0] <= hi && p[1] >= lo && p[1] <= hi).then_some(p)
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
        let [a, b] = self.contour_span();
        [IntPoint::new(a, a), IntPoint::new(b, a), IntPoint::new(b, b), IntPoint::new(a, b)]
    }

    /// Lowest and highest coordinate of [`ClipBox::contour`].
    fn contour_span(&self) -> [i32; 2] {
        [self.min as i32 + 1, self.max as i32 - 1]
    }
}

/// Rounds to the nearest tile unit, halves away from zero (as `f64::round`, which is a
/// library call on baseline x86-64).
#[inline]
fn snap(c: Coord<f64>) -> IPoint {
    [round_to_i32(c.x), round_to_i32(c.y)]
}

/// `v.round() as i32` for |v| < 2^31 (callers clip or clamp first): truncation and the
/// fraction it leaves are exact in floating point.
#[inline]
fn round_to_i32(v: f64) -> i32 {
    let t = v as i32;
    let fraction = v - f64::from(t);
    if fraction >= 0.5 {
        t + 1
    } else if fraction <= -0.5 {
        t - 1
    } else {
        t
    }
}

/// Turns a Web Mercator geometry into tile geometry for the tile of `tr`, clipped to `clip`.
/// Returns `None` when nothing is left inside the buffered tile.
pub fn tile_geometry(g: &Geometry<f64>, tr: &TileTransform, clip: &ClipBox) -> Option<TileGeometry> {
    let out = match g {
        Geometry::Point(p) => TileGeometry::Point(clip.snap_point(p.0, tr.apply(p.0))?),
        Geometry::MultiPoint(mp) => {
            TileGeometry::Points(mp.iter().filter_map(|p| clip.snap_point(p.0, tr.apply(p.0))).collect())
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

/// `ls` in tile units, simplified by [`SIMPLIFY_TOLERANCE`].
fn simplified_tile_units(ls: &LineString<f64>, tr: &TileTransform) -> Vec<Coord<f64>> {
    let line: Vec<Coord<f64>> = ls.0.iter().map(|c| tr.apply(*c)).collect();
    douglas_peucker(&line, SIMPLIFY_TOLERANCE)
}

/// Douglas–Peucker simplification keeping exactly the vertices geo's `Simplify` keeps for a
/// `LineString` (the same distances, compared in the same order), without its per-step
/// allocations and with the segment length computed once per step rather than per vertex.
fn douglas_peucker(points: &[Coord<f64>], epsilon: f64) -> Vec<Coord<f64>> {
    let n = points.len();
    if n < 3 || epsilon <= 0.0 {
        return points.to_vec();
    }
    let mut out = Vec::with_capacity(n);
    out.push(points[0]);
    dp_between(points, 0, n - 1, epsilon, &mut out);
    out.push(points[n - 1]);
    out
}

/// Pushes, in order, the vertices strictly between `first` and `last` that Douglas–Peucker
/// keeps.
fn dp_between(points: &[Coord<f64>], first: usize, last: usize, epsilon: f64, out: &mut Vec<Coord<f64>>) {
    if last - first < 2 {
        return;
    }
    let (start, end) = (points[first], points[last]);
    // geo_types' `line_segment_distance`, term for term; `length` is the same for every vertex.
    let (dx, dy) = (end.x - start.x, end.y - start.y);
    let d_squared = dx * dx + dy * dy;
    let length = dx.hypot(dy);
    let distance = |p: Coord<f64>| {
        if start == end {
            return (start.x - p.x).hypot(start.y - p.y);
        }
        let r = ((p.x - start.x) * dx + (p.y - start.y) * dy) / d_squared;
        if r <= 0.0 {
            (start.x - p.x).hypot(start.y - p.y)
        } else if r >= 1.0 {
            (end.x - p.x).hypot(end.y - p.y)
        } else {
            let s = ((start.y - p.y) * dx - (start.x - p.x) * dy) / d_squared;
            s.abs() * length
        }
    };
    // The last vertex at the greatest distance, as geo's fold with `>=` picks it.
    let (mut farthest, mut farthest_distance) = (first, 0.0);
    for (i, p) in points.iter().enumerate().take(last).skip(first + 1) {
        let d = distance(*p);
        if d >= farthest_distance {
            (farthest, farthest_distance) = (i, d);
        }
    }
    if farthest_distance > epsilon {
        dp_between(points, first, farthest, epsilon, out);
        out.push(points[farthest]);
        dp_between(points, farthest, last, epsilon, out);
    }
}

/// Simplifies, clips and snaps one line; pushes the pieces that remain.
fn clip_line(ls: &LineString<f64>, tr: &TileTransform, clip: &ClipBox, out: &mut Vec<Vec<IPoint>>) {
    let line = simplified_tile_units(ls, tr);
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
    for seg in line.windows(2) {
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
            let ring = simplified_tile_units(ring, tr);
            let mut contour: Vec<IntPoint> = Vec::with_capacity(ring.len());
            for c in &ring {
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
    // Most polygons of a tile lie well inside it: the overlay would return them unchanged.
    // Simple rings crossing the clip square are cut by Sutherland–Hodgman; the overlay takes
    // every other case, and any cut that is not a simple ring.
    let [inner_lo, inner_hi] = clip.contour_span();
    if let [ring] = subject.as_slice()
        && let Some(simple) = simple_ring(ring)
    {
        if min_x > inner_lo && min_y > inner_lo && max_x < inner_hi && max_y < inner_hi {
            return vec![vec![simple]];
        }
        if let Some(cut) = cut_to_square(&simple, inner_lo, inner_hi) {
            return vec![vec![cut]];
        }
    }
    overlay_clip(&subject, clip)
}

/// A simple ring cut to the square `[lo, hi]²` ([`clip_ring_to_square`]) when the cut is one
/// simple ring that is not thin: about a unit wide or less on average (twice its area at most
/// twice its box's width and height), the overlay snaps such a sliver away (a corner of a
/// square unit, say) or splits it, and decides instead.
fn cut_to_square(ring: &[IPoint], lo: i32, hi: i32) -> Option<Vec<IPoint>> {
    simple_normalised(clip_ring_to_square(ring, lo, hi)).filter(|cut| {
        let span = |axis: usize| {
            let (a, b) = cut.iter().fold((i32::MAX, i32::MIN), |(a, b), p| (a.min(p[axis]), b.max(p[axis])));
            i64::from(b) - i64::from(a)
        };
        ring_area2(cut).abs() > 2 * (span(0) + span(1))
    })
}

/// Sutherland–Hodgman clip of a simple ring to the square `[lo, hi]²`, crossing points rounded
/// to the nearest unit. When the ring meets the square in more than one part, the result runs
/// back and forth along the square's edge: it is not simple, and the caller falls back to the
/// overlay.
fn clip_ring_to_square(ring: &[IPoint], lo: i32, hi: i32) -> Vec<IPoint> {
    let mut current = ring.to_vec();
    let mut next = Vec::with_capacity(ring.len() + 8);
    for (axis, bound, keep_above) in [(0, lo, true), (0, hi, false), (1, lo, true), (1, hi, false)] {
        let inside = |p: IPoint| if keep_above { p[axis] >= bound } else { p[axis] <= bound };
        next.clear();
        let Some(&last) = current.last() else { break };
        let mut previous = last;
        for &p in &current {
            match (inside(previous), inside(p)) {
                (true, true) => next.push(p),
                (true, false) => next.push(crossing(previous, p, axis, bound)),
                (false, true) => {
                    next.push(crossing(previous, p, axis, bound));
                    next.push(p);
                }
                (false, false) => {}
            }
            previous = p;
        }
        std::mem::swap(&mut current, &mut next);
    }
    current.dedup();
    if current.len() > 1 && current.first() == current.last() {
        current.pop();
    }
    current
}

/// Where segment `a→b` crosses the line `p[axis] = bound` (one end on each side), rounded.
#[inline]
fn crossing(a: IPoint, b: IPoint, axis: usize, bound: i32) -> IPoint {
    let other = 1 - axis;
    let t = f64::from(bound - a[axis]) / f64::from(b[axis] - a[axis]);
    let v = f64::from(a[other]) + t * f64::from(b[other] - a[other]);
    let mut p = [bound; 2];
    p[other] = round_to_i32(v);
    p
}

/// Most vertices of a ring [`simple_ring`] checks; larger rings go through the overlay.
const SIMPLE_RING_MAX_VERTICES: usize = 64;

/// The ring as the overlay would return it when it is simple: no two edges meet except
/// neighbours at their shared vertex, and no vertex turns back on its edge. Vertices in a
/// straight line are dropped, the ring is wound for MVT (positive area) and starts where the
/// overlay starts it (one vertex before the lowest by x then y), so tiles are the same bytes
/// as through the overlay (a property test compares both). `None` when the ring is not simple
/// (or is large): then only the overlay can repair it.
fn simple_ring(contour: &[IntPoint]) -> Option<Vec<IPoint>> {
    if contour.len() > SIMPLE_RING_MAX_VERTICES {
        return None;
    }
    simple_normalised(contour.iter().map(|p| [p.x, p.y]).collect())
}

/// [`simple_ring`] of a ring already in tile points.
fn simple_normalised(mut ring: Vec<IPoint>) -> Option<Vec<IPoint>> {
    if ring.len() > SIMPLE_RING_MAX_VERTICES {
        return None;
    }
    // Drop vertices between two collinear edges going the same way; give up on spikes.
    let mut i = 0;
    let mut unchanged = 0;
    while ring.len() >= 3 && unchanged < ring.len() {
        let n = ring.len();
        let (a, b, c) = (ring[(i + n - 1) % n], ring[i % n], ring[(i + 1) % n]);
        let (u, v) = (sub(b, a), sub(c, b));
        if cross(u, v) == 0 {
            if dot(u, v) <= 0 {
                return None;
            }
            ring.remove(i % n);
            unchanged = 0;
        } else {
            i = (i + 1) % n;
            unchanged += 1;
        }
    }
    let n = ring.len();
    if n < 3 {
        return None;
    }
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        // Edges that do not share a vertex with edge i (for i = 0, not the last one).
        for j in i + 2..n - usize::from(i == 0) {
            if segments_meet(a, b, ring[j], ring[(j + 1) % n]) {
                return None;
            }
        }
    }
    if ring_area2(&ring) < 0 {
        ring.reverse();
    }
    let lowest = ring.iter().enumerate().min_by_key(|(_, p)| **p).map_or(0, |(i, _)| i);
    ring.rotate_left((lowest + n - 1) % n);
    Some(ring)
}

#[inline]
fn sub(a: IPoint, b: IPoint) -> [i64; 2] {
    [i64::from(a[0]) - i64::from(b[0]), i64::from(a[1]) - i64::from(b[1])]
}

#[inline]
fn cross(u: [i64; 2], v: [i64; 2]) -> i64 {
    u[0] * v[1] - u[1] * v[0]
}

#[inline]
fn dot(u: [i64; 2], v: [i64; 2]) -> i64 {
    u[0] * v[0] + u[1] * v[1]
}

/// Whether closed segments `ab` and `cd` have a point in common (crossing or touching).
fn segments_meet(a: IPoint, b: IPoint, c: IPoint, d: IPoint) -> bool {
    if a[0].max(b[0]) < c[0].min(d[0])
        || c[0].max(d[0]) < a[0].min(b[0])
        || a[1].max(b[1]) < c[1].min(d[1])
        || c[1].max(d[1]) < a[1].min(b[1])
    {
        return false;
    }
    let side = |p: IPoint, q: IPoint, r: IPoint| cross(sub(q, p), sub(r, p)).signum();
    let (d1, d2) = (side(c, d, a), side(c, d, b));
    let (d3, d4) = (side(a, b, c), side(a, b, d));
    if d1 * d2 < 0 && d3 * d4 < 0 {
        return true;
    }
    // Touching or collinear: an end point on the other segment (the boxes overlap, checked above).
    let on = |p: IPoint, q: IPoint, r: IPoint| {
        r[0] >= p[0].min(q[0]) && r[0] <= p[0].max(q[0]) && r[1] >= p[1].min(q[1]) && r[1] <= p[1].max(q[1])
    };
    (d1 == 0 && on(c, d, a)) || (d2 == 0 && on(c, d, b)) || (d3 == 0 && on(a, b, c)) || (d4 == 0 && on(a, b, d))
}

/// Intersects snapped rings with the clip square (i_overlay, even-odd): clips and repairs.
fn overlay_clip(subject: &[Vec<IntPoint>], clip: &ClipBox) -> Vec<Vec<Vec<IPoint>>> {
    let clip_contour = clip.contour();
    let solver = Solver { precision: Precision::ABSOLUTE, ..Solver::default() };
    let mut overlay =
        Overlay::new_custom(subject.iter().map(Vec::len).sum::<usize>() + 4, IntOverlayOptions::ogc(), solver);
    for contour in subject {
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

/// Also the ring helpers of the encoder's clipping properties (`mvt::tests::clipped`).
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tile::{BUFFER_PX, TileCoord};
    use geo::{Coord, MultiPolygon, Point, polygon};

    #[test]
    fn points_are_snapped_then_clipped_to_the_buffer_and_its_edge() {
        let clip = ClipBox::new(64);
        let m = Coord { x: 0.0, y: 0.0 };
        assert_eq!(clip.snap_point(m, Coord { x: 4160.3, y: -64.4 }), Some([4160, -64]), "snaps onto the edge");
        assert_eq!(clip.snap_point(m, Coord { x: 4160.6, y: 10.0 }), None);
        assert_eq!(clip.snap_point(m, Coord { x: 10.0, y: -64.6 }), None);
        assert_eq!(clip.snap_point(m, Coord { x: 1e12, y: 0.0 }), None, "far away, no overflow");
    }

    #[test]
    fn float4_rounding_goes_outward() {
        for v in [6_263_732.974_004_732, -20_037_508.342_789_244, 269_096.558_077_961_2, 1.0, 0.1] {
            let (down, up) = (to_f32(v, false), to_f32(v, true));
            assert!(down <= v && v <= up && up - down <= 2.0, "{v}: {down} {up}");
            assert_eq!(f64::from(down as f32).to_bits(), down.to_bits(), "{down} is a float4");
            assert_eq!(f64::from(up as f32).to_bits(), up.to_bits(), "{up} is a float4");
        }
    }

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
        assert_eq!(tile_geometry(&inside, &tr, &clip), Some(TileGeometry::Point([-30, 100])));
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
    fn a_simple_ring_crossing_the_square_is_cut_without_the_overlay() {
        // A rectangle over the left edge of the square [-63, 4159]: cut at x = -63, wound for
        // MVT, starting where the overlay starts its rings.
        let ring = [[-200, 100], [200, 100], [200, 300], [-200, 300]];
        let cut = clip_ring_to_square(&ring, -63, 4159);
        assert_eq!(cut, [[-63, 100], [200, 100], [200, 300], [-63, 300]]);
        let clip = ClipBox::new(BUFFER_PX);
        let contour: Vec<IntPoint> = ring.iter().map(|&[x, y]| IntPoint::new(x, y)).collect();
        assert_eq!(Some(overlay_clip(&[contour], &clip)), simple_normalised(cut).map(|r| vec![vec![r]]));
        // Two parts inside the square (a U over the edge): the cut runs back along the edge,
        // is not simple, and is left to the overlay.
        let u = [[-200, 0], [100, 0], [100, 100], [-100, 100], [-100, 200], [100, 200], [100, 300], [-200, 300]];
        assert_eq!(simple_normalised(clip_ring_to_square(&u, -63, 4159)), None);
        // A ring whose cut is a corner of a square unit (found by the property test below):
        // the overlay snaps it away, and decides.
        let spike = [
            [5250, 3985],
            [2638, 4881],
            [4694, 3904],
            [5248, 3960],
            [5254, 3953],
            [5262, 3951],
            [5271, 3952],
            [5279, 3956],
            [5283, 3964],
            [5284, 3973],
            [5281, 3981],
            [5275, 3987],
            [5267, 3990],
            [5258, 3989],
        ];
        assert_eq!(clip_ring_to_square(&spike, -63, 4159), [[4159, 4159], [4157, 4159], [4159, 4158]]);
        assert_eq!(cut_to_square(&spike, -63, 4159), None);
        let contour: Vec<IntPoint> = spike.iter().map(|&[x, y]| IntPoint::new(x, y)).collect();
        assert!(overlay_clip(&[contour], &clip).is_empty());
    }

    #[test]
    fn rings_inside_the_tile_skip_the_overlay_only_when_simple() {
        let p = |pts: &[[i32; 2]]| pts.iter().map(|&[x, y]| IntPoint::new(x, y)).collect::<Vec<_>>();
        // A square with a vertex in the middle of its bottom edge: the vertex is dropped, the
        // ring is wound for MVT and starts one vertex before the lowest.
        let ring = simple_ring(&p(&[[10, 10], [15, 10], [20, 10], [20, 20], [10, 20]])).unwrap();
        assert_eq!(ring, [[10, 20], [10, 10], [20, 10], [20, 20]]);
        assert!(ring_area2(&ring) > 0);
        // A bow tie crosses itself; a spike turns back; a ring touching itself at a vertex.
        assert_eq!(simple_ring(&p(&[[0, 0], [10, 10], [10, 0], [0, 10]])), None);
        assert_eq!(simple_ring(&p(&[[0, 0], [10, 0], [10, 10], [10, 20], [10, 5], [0, 10]])), None);
        assert_eq!(simple_ring(&p(&[[0, 0], [10, 0], [5, 5], [10, 10], [0, 10], [5, 5]])), None);
        // Everything collinear.
        assert_eq!(simple_ring(&p(&[[0, 0], [5, 0], [10, 0]])), None);
    }

    #[test]
    fn rounding_matches_f64_round() {
        let halves = (-40..40).map(|i| f64::from(i) / 2.0);
        let near = [0.499_999_999_999_999_94, -0.499_999_999_999_999_94, 2.5 - 1e-15, 1e8, -1e8, 1e8 - 0.5, f64::NAN];
        let mut seed = 3u64;
        let random = (0..100_000).map(move |_| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2e8
        });
        for v in halves.chain(near).chain(random) {
            assert_eq!(round_to_i32(v), v.round() as i32, "{v}");
        }
    }

    #[test]
    fn douglas_peucker_keeps_what_geo_keeps() {
        use geo::Simplify;
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for case in 0..3000 {
            let n = 2 + case % 40;
            let spread = [0.5, 2.0, 30.0, 4000.0][case % 4];
            let mut line: Vec<Coord<f64>> = (0..n).map(|_| Coord { x: next() * spread, y: next() * spread }).collect();
            if case % 5 == 0 {
                line.push(line[0]);
            }
            for epsilon in [0.25, 1.0] {
                let expected = LineString(line.clone()).simplify(epsilon).0;
                assert_eq!(douglas_peucker(&line, epsilon), expected, "case {case}, epsilon {epsilon}");
            }
        }
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

    pub(crate) mod props {
        use super::*;
        use geo::{Coord, coord};
        use proptest::prelude::*;

        /// A star-shaped ring (never self-intersecting) in tile units around (cx, cy).
        pub(crate) fn star(cx: f64, cy: f64, radii: &[f64], phase: f64) -> LineString<f64> {
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

        /// [`star`] rounded to the integer grid as an open contour (consecutive duplicates
        /// dropped), wound the other way when `reverse`.
        fn int_star(cx: f64, cy: f64, radii: &[f64], phase: f64, reverse: bool) -> Vec<IntPoint> {
            let mut ring: Vec<IntPoint> = star(cx, cy, radii, phase)
                .0
                .iter()
                .map(|c| IntPoint::new(c.x.round() as i32, c.y.round() as i32))
                .collect();
            ring.pop();
            ring.dedup();
            if reverse {
                ring.reverse();
            }
            ring
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]

            /// The fast path for rings inside the tile gives exactly what the overlay gives,
            /// on rings that snapping made degenerate too (collinear runs, spikes, rings that
            /// cross or touch themselves: those must fall back to the overlay).
            #[test]
            fn simple_rings_come_out_as_the_overlay_gives_them(
                pts in prop::collection::vec((0i32..40, 0i32..40), 3..24),
                scale in 1i32..60,
                star_radii in prop::collection::vec(1.0..400.0f64, 3..40),
                phase in 0.0..std::f64::consts::TAU,
                reverse in any::<bool>(),
            ) {
                let clip = ClipBox::new(64);
                // Random small rings: mostly self-intersecting, often degenerate.
                let random: Vec<IntPoint> = pts.iter().map(|&(x, y)| IntPoint::new(100 + x * scale, 100 + y * scale)).collect();
                // Star-shaped rings: simple before snapping, sometimes not after.
                let star = int_star(2000.0, 2000.0, &star_radii, phase, reverse);
                for ring in [random, star] {
                    if let Some(fast) = simple_ring(&ring) {
                        let slow = overlay_clip(std::slice::from_ref(&ring), &clip);
                        prop_assert_eq!(vec![vec![fast]], slow, "ring {:?}", ring);
                    }
                }
            }

            /// Simple rings crossing the clip square, cut without the overlay: a simple ring
            /// inside the square, wound for MVT, covering what the overlay's cut covers up to
            /// the rounding of the crossing points.
            #[test]
            fn rings_crossing_the_square_are_cut_as_the_overlay_cuts_them(
                cx in -1500.0..5600.0f64,
                cy in -1500.0..5600.0f64,
                radii in prop::collection::vec(20.0..3000.0f64, 3..40),
                phase in 0.0..std::f64::consts::TAU,
                reverse in any::<bool>(),
            ) {
                let clip = ClipBox::new(64);
                let [lo, hi] = clip.contour_span();
                let ring = int_star(cx, cy, &radii, phase, reverse);
                let Some(simple) = simple_ring(&ring) else { return Ok(()) };
                let slow = overlay_clip(std::slice::from_ref(&ring), &clip);
                // A cut that is not one simple ring goes to the overlay (several parts, or
                // none), and so does a thin one.
                if let Some(fast) = cut_to_square(&simple, lo, hi) {
                    prop_assert!(fast.iter().all(|p| (lo..=hi).contains(&p[0]) && (lo..=hi).contains(&p[1])));
                    prop_assert!(ring_area2(&fast) > 0, "wound for MVT");
                    prop_assert_eq!(simple_normalised(fast.clone()), Some(fast.clone()), "simple and normalised");
                    prop_assert!(!slow.is_empty() && slow.iter().all(|p| p.len() == 1), "parts without holes: {:?}", slow);
                    // Where the ring runs along the square's edge within a unit of it, the
                    // overlay may split off a sliver a unit wide that the cut keeps in its one
                    // ring: every part but the largest is such a sliver.
                    let side = i64::from(hi - lo);
                    let mut areas: Vec<i64> = slow.iter().map(|p| ring_area2(&p[0])).collect();
                    areas.sort_unstable();
                    prop_assert!(areas[..areas.len() - 1].iter().all(|&s| s <= 2 * side), "one part and slivers: {:?}", slow);
                    // Each crossing point moves by at most a unit along the square's edge
                    // (half a unit here, about one in the overlay): a sliver per crossing.
                    let crossings = fast.iter().filter(|p| p[0] == lo || p[0] == hi || p[1] == lo || p[1] == hi).count();
                    let (a, b) = (ring_area2(&fast), areas.iter().sum::<i64>());
                    prop_assert!((a - b).abs() <= side * crossings as i64 + 8, "area×2 {} vs {}", a, b);
                }
            }
        }
    }
}
