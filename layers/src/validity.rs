//! Polygon validity in O(n log n): rings closed and long enough, coordinates finite, and no
//! ring crossing itself or another ring (a sweep over all segments). geo's `Validation` tests
//! every pair of segments, which takes minutes on a département of a few thousand vertices.
//!
//! Touching at a single vertex is allowed (OGC: a hole may touch its shell at one point);
//! crossing, or sharing a stretch of boundary, is not.

use geo::algorithm::sweep::{Cross, Intersections};
use geo::{Coord, Line, LineIntersection, LineString, MultiPolygon, Polygon};

#[derive(Debug, Clone, Copy)]
struct Segment {
    line: Line<f64>,
    ring: usize,
    index: usize,
    ring_len: usize,
}

impl Cross for Segment {
    type Scalar = f64;
    fn line(&self) -> Line<f64> {
        self.line
    }
}

fn adjacent(a: &Segment, b: &Segment) -> bool {
    a.ring == b.ring
        && (a.index.abs_diff(b.index) == 1
            || (a.index == 0 && b.index + 1 == a.ring_len)
            || (b.index == 0 && a.index + 1 == b.ring_len))
}

fn shared_endpoint(a: &Line<f64>, b: &Line<f64>, p: Coord<f64>) -> bool {
    (p == a.start || p == a.end) && (p == b.start || p == b.end)
}

fn check_ring(ring: &LineString<f64>, what: &str) -> Result<(), String> {
    if ring.0.len() < 4 {
        return Err(format!("{what} has {} positions: a ring needs at least 4", ring.0.len()));
    }
    if ring.0.first() != ring.0.last() {
        return Err(format!("{what} is not closed: it must end where it starts"));
    }
    if let Some(c) = ring.0.iter().find(|c| !(c.x.is_finite() && c.y.is_finite())) {
        return Err(format!("{what} has a non-finite coordinate ({}, {})", c.x, c.y));
    }
    Ok(())
}

/// Why a polygon is invalid, or `None` when it is valid.
pub fn polygon_problem(p: &Polygon<f64>) -> Option<String> {
    multipolygon_problem(std::slice::from_ref(p))
}

/// Why polygons are invalid (each checked on its own and, for rings crossing, together).
pub fn multipolygon_problem(polygons: &[Polygon<f64>]) -> Option<String> {
    let mut segments = Vec::new();
    let mut ring_no = 0;
    for (pi, p) in polygons.iter().enumerate() {
        for (ri, ring) in std::iter::once(p.exterior()).chain(p.interiors()).enumerate() {
            let what = match (polygons.len(), ri) {
                (1, 0) => "the exterior ring".to_owned(),
                (1, i) => format!("hole {i}"),
                (_, 0) => format!("the exterior ring of part {}", pi + 1),
                (_, i) => format!("hole {i} of part {}", pi + 1),
            };
            if let Err(e) = check_ring(ring, &what) {
                return Some(e);
            }
            let lines: Vec<Line<f64>> = ring.lines().filter(|l| l.start != l.end).collect();
            let n = lines.len();
            if n < 3 {
                return Some(format!("{what} has fewer than 3 distinct positions"));
            }
            segments.extend(lines.into_iter().enumerate().map(|(index, line)| Segment {
                line,
                ring: ring_no,
                index,
                ring_len: n,
            }));
            ring_no += 1;
        }
    }
    for (a, b, x) in Intersections::from_iter(segments) {
        match x {
            LineIntersection::SinglePoint { intersection, is_proper } => {
                // Consecutive segments of a ring meet at their shared vertex; two rings may touch
                // at a point (a vertex of one on the other), not cross.
                if (adjacent(&a, &b) && shared_endpoint(&a.line, &b.line, intersection))
                    || (a.ring != b.ring && !is_proper)
                {
                    continue;
                }
                return Some(format!("rings cross or touch themselves near ({}, {})", intersection.x, intersection.y));
            }
            LineIntersection::Collinear { intersection } => {
                return Some(format!(
                    "rings overlap along the segment ({}, {}) – ({}, {})",
                    intersection.start.x, intersection.start.y, intersection.end.x, intersection.end.y
                ));
            }
        }
    }
    None
}

/// Why polygons are invalid, for a [`MultiPolygon`].
pub fn problem(mp: &MultiPolygon<f64>) -> Option<String> {
    multipolygon_problem(&mp.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn detects_what_matters() {
        let square = polygon![(x: 0.0, y: 0.0), (x: 2.0, y: 0.0), (x: 2.0, y: 2.0), (x: 0.0, y: 2.0)];
        assert_eq!(polygon_problem(&square), None);
        let bow = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0), (x: 1.0, y: 0.0), (x: 0.0, y: 1.0)];
        assert!(polygon_problem(&bow).unwrap().contains("cross"));
        let spike = polygon![(x: 0.0, y: 0.0), (x: 2.0, y: 0.0), (x: 2.0, y: 2.0), (x: 1.0, y: 2.0), (x: 1.0, y: 3.0), (x: 1.0, y: 2.0), (x: 0.0, y: 2.0)];
        assert!(polygon_problem(&spike).is_some(), "a spike overlaps itself");
        let hole_touching = Polygon::new(
            square.exterior().clone(),
            vec![LineString::from(vec![(0.0, 1.0), (1.0, 0.5), (1.0, 1.5), (0.0, 1.0)])],
        );
        assert_eq!(polygon_problem(&hole_touching), None, "a hole may touch the shell at one point");
        let hole_crossing = Polygon::new(
            square.exterior().clone(),
            vec![LineString::from(vec![(1.0, 1.0), (3.0, 1.0), (1.0, 1.5), (1.0, 1.0)])],
        );
        assert!(polygon_problem(&hole_crossing).is_some());
        let flat = Polygon::new(LineString::from(vec![(0.0, 0.0), (1.0, 0.0), (0.0, 0.0)]), vec![]);
        assert!(polygon_problem(&flat).is_some(), "too few positions");
    }

    #[test]
    fn agrees_with_geo_on_random_polygons() {
        use geo::Validation;
        let mut rng = crate::demo::Rng::new(7);
        let mut disagreements = 0;
        for _ in 0..2000 {
            let n = 3 + rng.below(6);
            let mut pts: Vec<(f64, f64)> = (0..n).map(|_| ((rng.below(8)) as f64, (rng.below(8)) as f64)).collect();
            pts.push(pts[0]);
            let p = Polygon::new(LineString::from(pts), vec![]);
            let ours = polygon_problem(&p).is_none();
            if ours != p.is_valid() {
                disagreements += 1;
            }
        }
        // geo flags repeated consecutive points and degenerate rings a little differently;
        // the crossing test itself must agree on nearly all shapes.
        assert!(disagreements < 100, "{disagreements} disagreements of 2000");
    }
}
