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
//! Points are tested against polygons with a grid of cells known to lie wholly inside or
//! outside, and a banded index of the edges for points in cells an edge crosses, so a
//! département of thousands of vertices answers most points with one lookup. Points are tested
//! against circles in a flat frame around the centre with bounds that settle all but a thin
//! ring of them; the ellipsoid decides the rest.

/// Kept at its former path for the service crate; the type lives in [`crate::hit`].
use crate::index::Item;
use crate::tile::lonlat_to_mercator;
use geo::kernels::{Kernel as _, Orientation, RobustKernel};
use geo::{
    BoundingRect, Buffer, Coord, Destination, Distance, Geodesic, Geometry, Intersects, LineString, MapCoords,
    MultiPolygon, Point, Polygon, Rect,
};
use h3o::CellIndex;

/// A region, in WGS84.
///
/// # Examples
///
/// ```
/// use geo::{Geometry, Point};
/// use vigie_layers::region::{Prepared, Region};
///
/// let at = |lon, lat| Geometry::Point(Point::new(lon, lat));
/// // West of east: a box across the antimeridian (Fiji).
/// let fiji = Prepared::new(Region::BBox([177.0, -19.0, -179.0, -16.0]))?;
/// assert!(fiji.intersects(&at(179.5, -17.0)) && fiji.intersects(&at(-179.5, -17.0)));
/// assert!(!fiji.intersects(&at(0.0, -17.0)));
/// // H3 cells: the features whose point counts in one of them.
/// let cell = vigie_layers::h3::cell_of(2.2945, 48.8584, 7).expect("valid point");
/// let cells = Prepared::new(Region::Cells(vec![cell]))?;
/// assert!(cells.intersects(&at(2.2945, 48.8584)));
/// assert!(!cells.intersects(&at(2.45, 48.85)));
/// # Ok::<(), vigie_layers::region::RegionError>(())
/// ```
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
    fn new(edges: &[(Coord<f64>, Coord<f64>)], bbox: Rect<f64>) -> Self {
        let n = (edges.len() / 4).clamp(1, 4096);
        let band_h = (bbox.height() / n as f64).max(f64::MIN_POSITIVE);
        let mut bands = vec![Vec::new(); n];
        for &(a, b) in edges {
            let (lo, hi) = (a.y.min(b.y), a.y.max(b.y));
            let i0 = (((lo - bbox.min().y) / band_h) as usize).min(n - 1);
            let i1 = (((hi - bbox.min().y) / band_h) as usize).min(n - 1);
            for band in &mut bands[i0..=i1] {
                band.push((a, b));
            }
        }
        Self { min_y: bbox.min().y, band_h, bands, bbox }
    }

    #[inline]
    fn in_bbox(&self, p: Coord<f64>) -> bool {
        p.x >= self.bbox.min().x && p.x <= self.bbox.max().x && p.y >= self.bbox.min().y && p.y <= self.bbox.max().y
    }

    /// Inside or on the boundary (even-odd rule over every ring, as for valid polygons).
    fn contains(&self, p: Coord<f64>) -> bool {
        if !self.in_bbox(p) {
            return false;
        }
        let n = self.bands.len();
        let i = (((p.y - self.min_y) / self.band_h) as usize).min(n - 1);
        let mut inside = false;
        for &(a, b) in &self.bands[i] {
            // Exact predicates (a point a hair off an edge — an edge's decimal midpoint, 1e-16°
            // away — gets the side PostGIS gives it, and two polygons sharing the edge never
            // both hold it nor both miss it).
            let side = RobustKernel::orient2d(a, b, p);
            // On the edge: collinear and within the segment's box.
            if side == Orientation::Collinear
                && p.x >= a.x.min(b.x)
                && p.x <= a.x.max(b.x)
                && p.y >= a.y.min(b.y)
                && p.y <= a.y.max(b.y)
            {
                return true;
            }
            // The edge crosses the ray going east from `p` when it spans `p`'s latitude with `p`
            // on its left taken upward.
            let upward = b.y > a.y;
            if (a.y > p.y) != (b.y > p.y)
                && side == if upward { Orientation::CounterClockwise } else { Orientation::Clockwise }
            {
                inside = !inside;
            }
        }
        inside
    }
}

/// Where a grid cell lies with respect to a polygon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    Outside,
    Inside,
    /// An edge comes within a margin of the cell: its points go to the edge test.
    Edge,
}

/// Most lookup boxes of a polygon (grid rows grouped) or of a circle (bands of latitude):
/// each box costs a walk of the index (runs of the point order, a descent of the R-tree), and
/// a feature found in two of them a test.
const MAX_STRIPS: usize = 32;
/// Bands of latitude of a circle's lookup boxes.
const CIRCLE_STRIPS: usize = 16;

/// Most cells of a polygon's grid (one byte each).
const MAX_GRID_CELLS: usize = 1 << 16;

/// Cells over a polygon's box, each wholly inside, wholly outside, or near an edge.
#[derive(Debug, Clone)]
struct Grid {
    min: Coord<f64>,
    cell_w: f64,
    cell_h: f64,
    /// Margins (degrees) within which an edge marks a cell.
    margin_x: f64,
    margin_y: f64,
    nx: usize,
    ny: usize,
    cells: Vec<Cell>,
}

impl Grid {
    /// A grid of about four cells per edge (at least 1,024) over `bbox`; `None` for a flat box.
    ///
    /// A cell is marked [`Cell::Edge`] when an edge comes within a margin of it (a thousandth
    /// of a cell plus 1e-11 degrees, hundreds of times the rounding of locating a point in a
    /// cell or an edge in a row, a few units in the last place of a longitude);
    /// every other cell, edge-free with its margin, lies wholly on one side of the boundary,
    /// the side of its centre. A run of such cells along a row is connected and edge-free, so
    /// one centre test settles the run.
    fn new(edges: &[(Coord<f64>, Coord<f64>)], bbox: Rect<f64>, banded: &Banded) -> Option<Self> {
        let (w, h) = (bbox.width(), bbox.height());
        if !(w > 0.0 && h > 0.0) {
            return None;
        }
        let target = (edges.len() * 4).clamp(1024, MAX_GRID_CELLS) as f64;
        let nx = ((target * w / h).sqrt().round() as usize).clamp(1, MAX_GRID_CELLS / 16);
        let ny = ((target / nx as f64).round() as usize).clamp(1, MAX_GRID_CELLS / nx);
        let (cell_w, cell_h) = (w / nx as f64, h / ny as f64);
        let (mx, my) = (cell_w * 1e-3 + 1e-11, cell_h * 1e-3 + 1e-11);
        let mut g = Self { min: bbox.min(), cell_w, cell_h, margin_x: mx, margin_y: my, nx, ny, cells: Vec::new() };
        let mut edge = vec![false; nx * ny];
        for &(a, b) in edges {
            let (lo_y, hi_y) = (a.y.min(b.y), a.y.max(b.y));
            let (lo_x, hi_x) = (a.x.min(b.x), a.x.max(b.x));
            for j in g.row(lo_y - my)..=g.row(hi_y + my) {
                // The part of the edge within the row (with its margin), then its x extent.
                let y0 = (g.min.y + j as f64 * g.cell_h - my).clamp(lo_y, hi_y);
                let y1 = (g.min.y + (j + 1) as f64 * g.cell_h + my).clamp(lo_y, hi_y);
                let (x0, x1) = if hi_y > lo_y {
                    let at = |y: f64| (a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y)).clamp(lo_x, hi_x);
                    (at(y0), at(y1))
                } else {
                    (lo_x, hi_x)
                };
                for i in g.col(x0.min(x1) - mx)..=g.col(x0.max(x1) + mx) {
                    edge[j * nx + i] = true;
                }
            }
        }
        g.cells = Vec::with_capacity(nx * ny);
        for j in 0..ny {
            let mut run = Cell::Edge;
            for i in 0..nx {
                if edge[j * nx + i] {
                    run = Cell::Edge;
                } else if run == Cell::Edge {
                    let centre =
                        Coord { x: g.min.x + (i as f64 + 0.5) * g.cell_w, y: g.min.y + (j as f64 + 0.5) * g.cell_h };
                    run = if banded.contains(centre) { Cell::Inside } else { Cell::Outside };
                }
                g.cells.push(if edge[j * nx + i] { Cell::Edge } else { run });
            }
        }
        Some(g)
    }

    // A float-to-integer cast truncates and saturates (negative and NaN give 0): the floor of
    // the quotient, clamped to the grid, without a call to libm's `floor`.
    #[inline]
    fn col(&self, x: f64) -> usize {
        (((x - self.min.x) / self.cell_w) as usize).min(self.nx - 1)
    }

    #[inline]
    fn row(&self, y: f64) -> usize {
        (((y - self.min.y) / self.cell_h) as usize).min(self.ny - 1)
    }

    /// The cell of a point within the grid's box.
    #[inline]
    fn cell(&self, p: Coord<f64>) -> Cell {
        self.cells[self.row(p.y) * self.nx + self.col(p.x)]
    }

    /// Whether every cell a rectangle within the grid's box meets lies wholly on `side`.
    fn all(&self, r: Rect<f64>, side: Cell) -> bool {
        let (c0, c1, r0, r1) = (self.col(r.min().x), self.col(r.max().x), self.row(r.min().y), self.row(r.max().y));
        (r0..=r1).all(|j| self.cells[j * self.nx + c0..=j * self.nx + c1].iter().all(|c| *c == side))
    }
}

/// A polygonal region: the polygons, their banded edges and their grid.
#[derive(Debug, Clone)]
struct Area {
    shape: MultiPolygon<f64>,
    banded: Banded,
    grid: Option<Grid>,
}

impl Area {
    fn new(shape: &MultiPolygon<f64>) -> Option<Self> {
        let edges = edges(shape);
        let banded = Banded::new(&edges, shape.bounding_rect()?);
        let grid = Grid::new(&edges, banded.bbox, &banded);
        Some(Self { shape: shape.clone(), banded, grid })
    }

    /// Boxes to look features up with, hugging the polygons: the grid's rows in at most
    /// [`MAX_STRIPS`] groups, each from its first to its last cell not wholly outside (with the
    /// grid's margins, so that they overlap), within the polygons' box. A point of the
    /// polygons lies in a cell not wholly outside, so in one of them.
    fn strips(&self) -> Vec<Rect<f64>> {
        let bbox = self.banded.bbox;
        let Some(g) = &self.grid else { return vec![bbox] };
        let per = g.ny.div_ceil(MAX_STRIPS);
        let mut out = Vec::new();
        for start in (0..g.ny).step_by(per) {
            let end = (start + per).min(g.ny);
            let cols = (start..end)
                .filter_map(|j| {
                    let row = &g.cells[j * g.nx..(j + 1) * g.nx];
                    let first = row.iter().position(|c| *c != Cell::Outside)?;
                    Some((first, row.iter().rposition(|c| *c != Cell::Outside)?))
                })
                .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)));
            let Some((first, last)) = cols else { continue };
            out.push(rect(
                (g.min.x + first as f64 * g.cell_w - g.margin_x).max(bbox.min().x),
                (g.min.y + start as f64 * g.cell_h - g.margin_y).max(bbox.min().y),
                (g.min.x + (last + 1) as f64 * g.cell_w + g.margin_x).min(bbox.max().x),
                (g.min.y + end as f64 * g.cell_h + g.margin_y).min(bbox.max().y),
            ));
        }
        out
    }

    /// Inside or on the boundary, as [`Banded::contains`].
    #[inline]
    fn contains(&self, p: Coord<f64>) -> bool {
        if !self.banded.in_bbox(p) {
            return false;
        }
        match self.grid.as_ref().map_or(Cell::Edge, |g| g.cell(p)) {
            Cell::Inside => true,
            Cell::Outside => false,
            Cell::Edge => self.banded.contains(p),
        }
    }
}

/// The edges of every ring of a multipolygon.
fn edges(mp: &MultiPolygon<f64>) -> Vec<(Coord<f64>, Coord<f64>)> {
    mp.iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .flat_map(|ring| ring.lines().map(|l| (l.start, l.end)))
        .collect()
}

/// WGS84 semi-major axis, metres.
const WGS84_A: f64 = 6_378_137.0;
/// WGS84 flattening.
const WGS84_F: f64 = 1.0 / 298.257_223_563;

/// A geodesic circle seen in a flat frame around its centre, with bounds that settle whether
/// a point is within the radius for all but a thin ring of points.
///
/// On the ellipsoid, ds² = M(φ)² dφ² + P(φ)² dλ² (M the meridional radius of curvature, P the
/// radius of the parallel). The frame measures ρ = √((M₀ Δφ)² + (P₀ Δλ)²) with the radii at the
/// centre. Over a band of latitudes where M/M₀ and P/P₀ lie within [lo, hi]:
/// - the path straight in (λ, φ) from the centre to a point is at most hi·ρ long, so hi·ρ ≤ r
///   puts the point within r (such a point is within r/M₀ of the centre's latitude, in the
///   band);
/// - a path shorter than r from the centre stays within r/M_min of the centre's latitude
///   (M_min: M at the equator), in the band, where it is at least lo·ρ long: lo·ρ > r puts the
///   point beyond r.
///
/// Margins of 1e-6 r + 0.1 mm on both bounds dwarf the rounding of the frame and of the
/// geodesic inverse (15 nm), so both bounds agree with `Geodesic.distance(c, p) <= r`.
#[derive(Debug, Clone, Copy)]
struct Disc {
    lon: f64,
    lat: f64,
    /// Metres per degree of longitude and of latitude at the centre (P₀, M₀ per degree).
    kx: f64,
    ky: f64,
    /// Squared flat radii (m²): below `inner2` a point is within the radius, above `outer2`
    /// beyond it.
    inner2: f64,
    outer2: f64,
}

impl Disc {
    /// The frame of a circle; `None` for a centre within about 0.06° of a pole, where the
    /// frame degenerates (the ellipsoid then decides every point).
    fn new(lon: f64, lat: f64, radius_m: f64) -> Option<Self> {
        let e2 = WGS84_F * (2.0 - WGS84_F);
        let w = |phi: f64| 1.0 - e2 * phi.sin().powi(2);
        let m = |phi: f64| WGS84_A * (1.0 - e2) / (w(phi) * w(phi).sqrt());
        let p = |phi: f64| (WGS84_A * phi.cos() / w(phi).sqrt()).max(0.0);
        let phi0 = lat.to_radians();
        if phi0.cos() < 1e-3 {
            return None;
        }
        let half_band = 1.001 * radius_m / (WGS84_A * (1.0 - e2));
        let (south, north) =
            ((phi0 - half_band).max(-std::f64::consts::FRAC_PI_2), (phi0 + half_band).min(std::f64::consts::FRAC_PI_2));
        // M grows and P shrinks away from the equator.
        let crosses_equator = south <= 0.0 && north >= 0.0;
        let (m_s, m_n, p_s, p_n) = (m(south), m(north), p(south), p(north));
        let m_min = if crosses_equator { m(0.0) } else { m_s.min(m_n) };
        let p_max = if crosses_equator { p(0.0) } else { p_s.max(p_n) };
        let (m0, p0) = (m(phi0), p(phi0));
        let lo = (m_min / m0).min(p_s.min(p_n) / p0);
        let hi = (m_s.max(m_n) / m0).max(p_max / p0);
        let inner = ((radius_m * (1.0 - 1e-6) - 1e-4) / hi).max(0.0);
        let outer = (radius_m * (1.0 + 1e-6) + 1e-4) / lo;
        let per_degree = std::f64::consts::PI / 180.0;
        Some(Self { lon, lat, kx: p0 * per_degree, ky: m0 * per_degree, inner2: inner * inner, outer2: outer * outer })
    }

    /// Boxes to look features up with, hugging the circle: [`CIRCLE_STRIPS`] bands of
    /// latitude (overlapping by 1e-9°), each as wide as the outer bound allows over it, cut to
    /// `boxes` (the circle's own boxes, so that no feature is looked at that was not before);
    /// `boxes` themselves when the outer bound overflows. Near a pole the bound is loose and
    /// the bands as wide as `boxes`.
    fn strips(&self, boxes: &[Rect<f64>]) -> Vec<Rect<f64>> {
        if !self.outer2.is_finite() {
            return boxes.to_vec();
        }
        let overlap = 1e-9;
        let half_lat = self.outer2.sqrt() / self.ky;
        let step = 2.0 * half_lat / CIRCLE_STRIPS as f64;
        let mut out = Vec::new();
        for k in 0..CIRCLE_STRIPS {
            let s = self.lat - half_lat + k as f64 * step - overlap;
            let n = self.lat - half_lat + (k + 1) as f64 * step + overlap;
            // Beyond the outer bound everywhere in the band: |Δλ|·kx > √(outer² − (Δφ·ky)²).
            let gap = if (s..=n).contains(&self.lat) { 0.0 } else { (s - self.lat).abs().min((n - self.lat).abs()) };
            let dlon = (self.outer2 - (gap * self.ky).powi(2)).max(0.0).sqrt() / self.kx + overlap;
            let (w, e) = (self.lon - dlon, self.lon + dlon);
            let pieces = if dlon >= 180.0 {
                vec![rect(-180.0, s, 180.0, n)]
            } else if w < -180.0 {
                vec![rect(w + 360.0, s, 180.0, n), rect(-180.0, s, e, n)]
            } else if e > 180.0 {
                vec![rect(w, s, 180.0, n), rect(-180.0, s, e - 360.0, n)]
            } else {
                vec![rect(w, s, e, n)]
            };
            for p in pieces {
                for b in boxes {
                    let (w, s) = (p.min().x.max(b.min().x), p.min().y.max(b.min().y));
                    let (e, n) = (p.max().x.min(b.max().x), p.max().y.min(b.max().y));
                    if w <= e && s <= n {
                        out.push(rect(w, s, e, n));
                    }
                }
            }
        }
        out
    }

    /// `Some(true)` surely within the radius, `Some(false)` surely beyond, `None` to ask the
    /// ellipsoid.
    #[inline]
    fn classify(&self, p: Coord<f64>) -> Option<bool> {
        let mut dlon = (p.x - self.lon).abs();
        if dlon > 180.0 {
            dlon = 360.0 - dlon;
        }
        let (u, v) = (dlon * self.kx, (p.y - self.lat) * self.ky);
        let d2 = u * u + v * v;
        if d2 < self.inner2 {
            Some(true)
        } else if d2 > self.outer2 {
            Some(false)
        } else {
            None
        }
    }
}

/// A region ready to test many features.
#[derive(Debug, Clone)]
pub struct Prepared {
    region: Region,
    /// WGS84 boxes to look features up with (two across the antimeridian; bands hugging a
    /// circle or polygons), together covering the region.
    boxes: Vec<Rect<f64>>,
    area: Option<Area>,
    disc: Option<Disc>,
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
    ///
    /// # Examples
    ///
    /// ```
    /// use geo::{MultiPolygon, polygon};
    /// use vigie_layers::region::{Prepared, Region, RegionError};
    ///
    /// assert!(Prepared::new(Region::Circle { lon: 2.2945, lat: 48.8584, radius_m: 500.0 }).is_ok());
    /// // South above north.
    /// let e = Prepared::new(Region::BBox([2.0, 49.0, 3.0, 48.0])).unwrap_err();
    /// assert!(matches!(&e, RegionError::Invalid(m) if m.contains("south <= north")));
    /// // A bow tie is no polygon.
    /// let bow = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0), (x: 1.0, y: 0.0), (x: 0.0, y: 1.0)];
    /// assert!(Prepared::new(Region::Polygons(MultiPolygon(vec![bow]))).is_err());
    /// // Radii are bounded (region queries are local).
    /// assert!(Prepared::new(Region::Circle { lon: 0.0, lat: 0.0, radius_m: 2e6 }).is_err());
    /// ```
    pub fn new(region: Region) -> Result<Self, RegionError> {
        let bad = |m: String| Err(RegionError::Invalid(m));
        let (boxes, area, cells) = match &region {
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
                let area = Area::new(mp).ok_or_else(|| RegionError::Invalid("empty polygon".into()))?;
                (area.strips(), Some(area), Vec::new())
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
        let disc = match region {
            Region::Circle { lon, lat, radius_m } => Disc::new(lon, lat, radius_m),
            _ => None,
        };
        let boxes = match disc {
            Some(d) => d.strips(&boxes),
            None => boxes,
        };
        Ok(Self { region, boxes, area, disc, cells })
    }

    /// The region.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// A WGS84 box holding the region (its lookup boxes' envelope).
    pub fn bounds(&self) -> Option<Rect<f64>> {
        self.boxes.iter().copied().reduce(|a, b| {
            rect(a.min().x.min(b.min().x), a.min().y.min(b.min().y), a.max().x.max(b.max().x), a.max().y.max(b.max().y))
        })
    }

    /// Web Mercator boxes covering the region, to query the index with.
    ///
    /// # Examples
    ///
    /// ```
    /// use vigie_layers::region::{Prepared, Region};
    /// use vigie_layers::tile::lonlat_to_mercator;
    ///
    /// // One box, or two on either side of the antimeridian.
    /// let paris = Prepared::new(Region::BBox([2.25, 48.815, 2.42, 48.905]))?;
    /// let boxes = paris.mercator_boxes();
    /// assert_eq!(boxes.len(), 1);
    /// assert_eq!(boxes[0].min(), lonlat_to_mercator(2.25, 48.815));
    /// assert_eq!(Prepared::new(Region::BBox([170.0, -10.0, -170.0, 10.0]))?.mercator_boxes().len(), 2);
    /// # Ok::<(), vigie_layers::region::RegionError>(())
    /// ```
    pub fn mercator_boxes(&self) -> Vec<Rect<f64>> {
        self.boxes
            .iter()
            .map(|r| Rect::new(lonlat_to_mercator(r.min().x, r.min().y), lonlat_to_mercator(r.max().x, r.max().y)))
            .collect()
    }

    /// Whether a WGS84 geometry meets the region.
    ///
    /// # Examples
    ///
    /// ```
    /// use geo::{Geometry, LineString, MultiPolygon, Point, polygon};
    /// use vigie_layers::region::{Prepared, Region};
    ///
    /// // A square with a hole; its boundary belongs to it (as `ST_Intersects`).
    /// let square = polygon!(
    ///     exterior: [(x: 0.0, y: 0.0), (x: 4.0, y: 0.0), (x: 4.0, y: 4.0), (x: 0.0, y: 4.0)],
    ///     interiors: [[(x: 1.0, y: 1.0), (x: 3.0, y: 1.0), (x: 3.0, y: 3.0), (x: 1.0, y: 3.0)]],
    /// );
    /// let r = Prepared::new(Region::Polygons(MultiPolygon(vec![square])))?;
    /// assert!(r.intersects(&Geometry::Point(Point::new(0.5, 0.5))));
    /// assert!(r.intersects(&Geometry::Point(Point::new(4.0, 2.0))));
    /// assert!(!r.intersects(&Geometry::Point(Point::new(2.0, 2.0))), "in the hole");
    /// // A line crossing the hole meets the ring around it.
    /// let line = LineString::from(vec![(2.0, 2.0), (2.0, 5.0)]);
    /// assert!(r.intersects(&Geometry::LineString(line)));
    /// # Ok::<(), vigie_layers::region::RegionError>(())
    /// ```
    pub fn intersects(&self, g: &Geometry<f64>) -> bool {
        match &self.region {
            Region::BBox(_) => self.boxes.iter().any(|b| b.intersects(g)),
            Region::Polygons(_) => {
                let Some(area) = &self.area else { return false };
                match g {
                    Geometry::Point(p) => area.contains(p.0),
                    Geometry::MultiPoint(mp) => mp.iter().any(|p| area.contains(p.0)),
                    other => area.shape.intersects(other),
                }
            }
            Region::Circle { lon, lat, radius_m } => {
                within_geodesic(Point::new(*lon, *lat), *radius_m, &|p| self.near(p), g)
            }
            Region::Cells(_) => crate::h3::representative_point(g)
                .is_some_and(|p| self.cells.iter().any(|(c, _)| crate::h3::counts_in(p.x, p.y, *c))),
        }
    }

    /// Whether a WGS84 point meets the region: [`Prepared::intersects`] of the point.
    ///
    /// # Examples
    ///
    /// ```
    /// use geo::{Coord, Destination, Geodesic, Point};
    /// use vigie_layers::region::{Prepared, Region};
    ///
    /// // A 1 km circle on the ellipsoid around the Eiffel Tower.
    /// let centre = Point::new(2.2945, 48.8584);
    /// let r = Prepared::new(Region::Circle { lon: centre.x(), lat: centre.y(), radius_m: 1000.0 })?;
    /// for bearing in [0.0, 45.0, 90.0, 200.0] {
    ///     let inside = Geodesic.destination(centre, bearing, 999.0);
    ///     let outside = Geodesic.destination(centre, bearing, 1001.0);
    ///     assert!(r.contains_point(Coord::from(inside)), "{bearing}");
    ///     assert!(!r.contains_point(Coord::from(outside)), "{bearing}");
    /// }
    /// # Ok::<(), vigie_layers::region::RegionError>(())
    /// ```
    #[inline]
    pub fn contains_point(&self, p: Coord<f64>) -> bool {
        match &self.region {
            Region::Polygons(_) => self.area.as_ref().is_some_and(|a| a.contains(p)),
            Region::Circle { .. } => self.near(p),
            Region::BBox(_) | Region::Cells(_) => self.intersects(&Geometry::Point(Point(p))),
        }
    }

    /// Whether a WGS84 rectangle lies wholly inside the region (boxes and polygons; `false`
    /// when it cannot tell cheaply): then every geometry meeting the rectangle meets the
    /// region. Read from the polygons' grid, whose inside cells are edge-free with a margin.
    pub fn covers(&self, r: Rect<f64>) -> bool {
        if let Region::BBox([w, s, e, n]) = self.region {
            return w <= e && r.min().x >= w && r.min().y >= s && r.max().x <= e && r.max().y <= n;
        }
        let Some(area) = &self.area else { return false };
        let Some(grid) = &area.grid else { return false };
        let b = area.banded.bbox;
        r.min().x >= b.min().x
            && r.min().y >= b.min().y
            && r.max().x <= b.max().x
            && r.max().y <= b.max().y
            && grid.all(r, Cell::Inside)
    }

    /// Whether an indexed feature meets the region: a point from its brief, without visiting
    /// the feature; other geometries from the feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use geo::{Geometry, Point};
    /// use vigie_layers::feature::{Attrs, Schema};
    /// use vigie_layers::index::Collection;
    /// use vigie_layers::region::{Prepared, Region};
    /// use vigie_layers::Feature;
    ///
    /// let point = |id, lon, lat| {
    ///     Feature::from_lonlat(id, &Geometry::Point(Point::new(lon, lat)), Attrs::default(), Box::new([]))
    /// };
    /// let features = vec![point(1, 2.2945, 48.8584)?, point(2, 2.3000, 48.8600)?, point(3, 2.3522, 48.8566)?];
    /// let index = Collection::bulk_load(Schema::default(), features);
    ///
    /// // The index finds candidates by box; `meets` keeps those within 1 km.
    /// let r = Prepared::new(Region::Circle { lon: 2.2945, lat: 48.8584, radius_m: 1000.0 }).unwrap();
    /// let mut hits = Vec::new();
    /// for b in r.mercator_boxes() {
    ///     index.for_each_item(b, |found| {
    ///         if r.meets(found.item()) {
    ///             hits.push(found.item().feature.id);
    ///         }
    ///     });
    /// }
    /// hits.sort_unstable();
    /// hits.dedup();
    /// assert_eq!(hits, [1, 2]);
    /// # Ok::<(), vigie_layers::feature::GeometryError>(())
    /// ```
    #[inline]
    pub fn meets(&self, item: &Item) -> bool {
        match item.brief().point() {
            Some(p) => self.contains_point(p),
            None => self.intersects(&item.feature.lonlat()),
        }
    }

    /// For a circle: whether a point is within the radius on the ellipsoid (the flat frame
    /// first, the geodesic inverse for the points it leaves open).
    #[inline]
    fn near(&self, p: Coord<f64>) -> bool {
        let Region::Circle { lon, lat, radius_m } = self.region else { return false };
        self.disc
            .and_then(|d| d.classify(p))
            .unwrap_or_else(|| Geodesic.distance(Point::new(lon, lat), Point(p)) <= radius_m)
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

/// Whether a geometry comes within `r` metres of `c` on the ellipsoid, `near` being the exact
/// test of a point: exact for points; for lines and polygon rings, edges are followed in steps
/// much finer than the radius.
fn within_geodesic(c: Point<f64>, r: f64, near: &dyn Fn(Coord<f64>) -> bool, g: &Geometry<f64>) -> bool {
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
        Geometry::MultiPolygon(mp) => mp.iter().any(|p| within_geodesic(c, r, near, &Geometry::Polygon(p.clone()))),
        _ => false,
    }
}

/// Grows WGS84 polygons by `metres` on the ground (a local equirectangular frame around their
/// centre: exact enough for the buffers of a city-scale perimeter).
///
/// # Examples
///
/// ```
/// use geo::{BoundingRect, MultiPolygon, polygon};
/// use vigie_layers::region::buffer_m;
///
/// let square = polygon![(x: 2.0, y: 48.0), (x: 2.01, y: 48.0), (x: 2.01, y: 48.01), (x: 2.0, y: 48.01)];
/// let grown = buffer_m(&MultiPolygon(vec![square]), 100.0);
/// let b = grown.bounding_rect().expect("not empty");
/// // 100 m is about 0.0009° of latitude, and 0.0013° of longitude at 48°N.
/// assert!((b.min().y - (48.0 - 100.0 / 110_574.0)).abs() < 1e-6);
/// assert!((b.max().x - (2.01 + 100.0 / (111_320.0 * 48.005f64.to_radians().cos()))).abs() < 1e-6);
/// ```
pub fn buffer_m(mp: &MultiPolygon<f64>, metres: f64) -> MultiPolygon<f64> {
    let Some(b) = mp.bounding_rect() else { return mp.clone() };
    let c = b.center();
    let kx = 111_320.0 * c.y.to_radians().cos().max(1e-6);
    let ky = 110_574.0;
    let local = mp.map_coords(|p| Coord { x: (p.x - c.x) * kx, y: (p.y - c.y) * ky });
    local.buffer(metres).map_coords(|p| Coord { x: c.x + p.x / kx, y: (c.y + p.y / ky).clamp(-90.0, 90.0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A point a hair off an edge (the decimal midpoint of a real département edge, about
    /// 1e-16° from the exact line) is on exactly one side of it, the side geo's robust
    /// predicates (and PostGIS) give: of two polygons sharing the edge, exactly one holds it.
    #[test]
    fn a_point_a_hair_off_a_shared_edge_is_in_exactly_one_of_the_two_polygons() {
        let (a, b) = (Coord { x: 2.36981, y: 49.10633 }, Coord { x: 2.37015, y: 49.10835 });
        let p = Geometry::Point(Point::new(2.36998, 49.10734));
        let mut held = 0;
        for third in [Coord { x: 2.3600, y: 49.1070 }, Coord { x: 2.3800, y: 49.1075 }] {
            let triangle = Polygon::new(LineString(vec![a, b, third, a]), vec![]);
            let prepared = Prepared::new(Region::Polygons(MultiPolygon(vec![triangle.clone()]))).unwrap();
            assert_eq!(prepared.intersects(&p), triangle.intersects(&p), "third vertex {third:?}");
            held += usize::from(prepared.intersects(&p));
        }
        assert!(held >= 1, "the point is on the shared edge or on one side of it");
    }
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

    /// Longitude back within -180..180.
    fn wrap(p: Point<f64>) -> Coord<f64> {
        Coord { x: (p.x() + 540.0).rem_euclid(360.0) - 180.0, y: p.y() }
    }

    #[test]
    fn the_flat_frame_agrees_with_the_ellipsoid() {
        let mut rng = crate::demo::Rng::new(7);
        let circles = [
            (2.2945, 48.8584, 1000.0),
            (2.35, 48.86, 40_000.0),
            (0.0, 0.0, 5000.0),
            (179.9, -15.0, 60_000.0),
            (-179.99, 70.0, 2000.0),
            (10.0, 89.8, 30_000.0),
            (45.0, -88.0, 300_000.0),
            (30.0, 60.0, MAX_RADIUS_M),
            (-120.0, -75.0, 500_000.0),
            (5.0, 45.0, 0.01),
        ];
        for (k, (lon, lat, r)) in circles.into_iter().enumerate() {
            let disc = Disc::new(lon, lat, r).expect("a frame away from the poles");
            let c = Point::new(lon, lat);
            let (mut settled, mut far, mut far_open) = (0, 0, 0);
            for i in 0..20_000 {
                // Points at 1 ± 1e-7 … 1 ± 0.5 radii in every direction, and exactly at the radius.
                let spread = [0.0, 1e-7, 1e-4, 1e-2, 0.5][i % 5];
                let d = r * (1.0 + rng.range(-spread, spread));
                let p = wrap(Geodesic.destination(c, rng.range(-180.0, 180.0), d));
                let exact = Geodesic.distance(c, Point(p)) <= r;
                let verdict = disc.classify(p);
                if let Some(v) = verdict {
                    assert_eq!(v, exact, "circle {k} ({lon}, {lat}, {r} m), point {p:?} at {d} m");
                    settled += 1;
                }
                if (d / r - 1.0).abs() > 0.05 {
                    far += 1;
                    far_open += usize::from(verdict.is_none());
                }
            }
            println!("circle {k}: {settled} of 20000 points settled without the ellipsoid");
            if k < 5 {
                // Away from the poles the ring left open is thin: every point 5 % off the
                // radius is settled.
                assert!(far > 3000 && far_open == 0, "circle {k}: {far_open} of {far} points 5 % off the radius open");
            }
        }
        assert!(Disc::new(0.0, 89.97, 100.0).is_none(), "no frame at a pole");
    }

    #[test]
    fn circle_points_are_the_ellipsoid_s() {
        let mut rng = crate::demo::Rng::new(11);
        for (lon, lat, r) in [
            (2.2945, 48.8584, 1000.0),
            (0.0, 89.999, 500.0),
            (179.95, 0.0, 20_000.0),
            (-179.9, 65.0, 80_000.0),
            (100.0, -70.0, MAX_RADIUS_M),
        ] {
            let region = Prepared::new(Region::Circle { lon, lat, radius_m: r }).unwrap();
            let lookup = region.mercator_boxes();
            let c = Point::new(lon, lat);
            for _ in 0..5000 {
                let p = wrap(Geodesic.destination(c, rng.range(-180.0, 180.0), r * rng.range(0.0, 1.1)));
                let exact = Geodesic.distance(c, Point(p)) <= r;
                assert_eq!(region.contains_point(p), exact, "{p:?}");
                assert_eq!(region.intersects(&Geometry::Point(Point(p))), exact, "{p:?}");
                let m = lonlat_to_mercator(p.x, p.y);
                assert!(!exact || lookup.iter().any(|b| b.intersects(&m)), "({lon}, {lat}, {r} m): {p:?} in no box");
            }
        }
    }

    const RANDOM_PROBES: usize = 20_000;

    /// Points that try the grid: random ones over the box (and a little beyond), every vertex,
    /// points on edges, and points a hair off vertices.
    fn probes(mp: &MultiPolygon<f64>, rng: &mut crate::demo::Rng) -> Vec<Coord<f64>> {
        let b = mp.bounding_rect().unwrap();
        let (dx, dy) = (b.width() * 0.05, b.height() * 0.05);
        let mut out: Vec<Coord<f64>> = (0..RANDOM_PROBES)
            .map(|_| Coord {
                x: rng.range(b.min().x - dx, b.max().x + dx),
                y: rng.range(b.min().y - dy, b.max().y + dy),
            })
            .collect();
        for (a, c) in edges(mp) {
            out.push(a);
            out.push(Coord { x: f64::midpoint(a.x, c.x), y: f64::midpoint(a.y, c.y) });
            for (ex, ey) in [(1e-12, 0.0), (-1e-12, 0.0), (0.0, 1e-12), (0.0, -1e-12), (1e-9, 1e-9)] {
                out.push(Coord { x: a.x + ex, y: a.y + ey });
            }
        }
        out
    }

    #[test]
    fn the_grid_agrees_with_the_edge_test() {
        let mut rng = crate::demo::Rng::new(3);
        let frame = Polygon::new(
            LineString::from(vec![(2.0, 48.5), (2.75, 48.5), (2.75, 49.125), (2.0, 49.125), (2.0, 48.5)]),
            vec![LineString::from(vec![(2.25, 48.75), (2.5, 48.75), (2.5, 48.875), (2.25, 48.875), (2.25, 48.75)])],
        );
        let lyon = polygon![(x: 4.75, y: 45.625), (x: 5.0, y: 45.625), (x: 5.0, y: 45.875), (x: 4.75, y: 45.875)];
        // A star of 2,000 vertices, its radius jittering (a département-like outline).
        let star: Vec<(f64, f64)> = (0..2000)
            .map(|i| {
                let a = f64::from(i) / 2000.0 * std::f64::consts::TAU;
                let r = 0.1 * (1.0 + 0.3 * (5.0 * a).sin()) + rng.range(0.0, 0.001);
                (2.4 + r * a.cos(), 48.9 + r * a.sin() * 0.7)
            })
            .collect();
        let star = Polygon::new(LineString::from(star), vec![]);
        let tiny = polygon![(x: 1.0, y: 1.0), (x: 1.000_000_1, y: 1.0), (x: 1.000_000_1, y: 1.000_000_2)];
        let sliver = polygon![(x: -10.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 0.001)];
        // Percent of random points the grid must settle: none for a sliver 20,000 times longer
        // than wide, whose every cell an edge crosses.
        for (name, mp, settles) in [
            ("frame with a hole and a second part", MultiPolygon(vec![frame, lyon]), 80),
            ("star", MultiPolygon(vec![star]), 80),
            ("tiny triangle", MultiPolygon(vec![tiny]), 80),
            ("sliver", MultiPolygon(vec![sliver]), 0),
        ] {
            let area = Area::new(&mp).unwrap();
            let grid = area.grid.as_ref().expect("a grid");
            let lookup = Prepared::new(Region::Polygons(mp.clone())).unwrap().mercator_boxes();
            let (mut settled, mut inside) = (0, 0);
            let points = probes(&mp, &mut rng);
            for (i, &p) in points.iter().enumerate() {
                let exact = area.banded.contains(p);
                assert_eq!(area.contains(p), exact, "{name}: {p:?}");
                let m = lonlat_to_mercator(p.x, p.y);
                assert!(!exact || lookup.iter().any(|b| b.intersects(&m)), "{name}: {p:?} in no lookup box");
                if i < RANDOM_PROBES && (!area.banded.in_bbox(p) || grid.cell(p) != Cell::Edge) {
                    settled += 1;
                }
                inside += usize::from(exact);
            }
            println!(
                "{name}: {} cells, {settled} of {RANDOM_PROBES} random points settled by the grid, {} lookup boxes",
                grid.cells.len(),
                lookup.len()
            );
            assert!(inside > 0, "{name}: some points inside");
            assert!(settled * 100 >= RANDOM_PROBES * settles, "{name}: the grid settles {settles} % of points");
        }
    }

    #[test]
    fn bad_regions_are_refused() {
        assert!(Prepared::new(Region::BBox([0.0, 10.0, 1.0, 5.0])).is_err());
        assert!(Prepared::new(Region::Circle { lon: 0.0, lat: 0.0, radius_m: -1.0 }).is_err());
        assert!(Prepared::new(Region::Circle { lon: 200.0, lat: 0.0, radius_m: 1.0 }).is_err());
        let bow = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0), (x: 1.0, y: 0.0), (x: 0.0, y: 1.0)];
        assert!(Prepared::new(Region::Polygons(MultiPolygon(vec![bow]))).is_err());
    }

    #[test]
    fn buffer_grows_by_metres() {
        use geo::Area;
        let square = polygon![(x: 2.0, y: 48.0), (x: 2.01, y: 48.0), (x: 2.01, y: 48.01), (x: 2.0, y: 48.01)];
        let mp = MultiPolygon(vec![square]);
        let grown = buffer_m(&mp, 100.0);
        let (kx, ky) = (111_320.0 * 48.005f64.to_radians().cos(), 110_574.0);
        let area = |m: &MultiPolygon<f64>| m.unsigned_area() * kx * ky;
        let (w, h) = (0.01 * kx, 0.01 * ky);
        let expected = w * h + 2.0 * 100.0 * (w + h) + std::f64::consts::PI * 100.0 * 100.0;
        assert!((area(&grown) - expected).abs() / expected < 0.01, "{} vs {expected}", area(&grown));
    }
}
