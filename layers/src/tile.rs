//! Tile maths: Web Mercator projection, XYZ tile coordinates and tile envelopes.
//!
//! All index geometries are kept in Web Mercator metres (EPSG:3857), so a tile envelope is a
//! plain rectangle and projecting happens once, when a feature is loaded.

use geo::{Coord, Rect};
use std::fmt;

/// Highest zoom level served. Beyond z24 a tile is about 2 cm wide at the equator.
pub const MAX_ZOOM: u8 = 24;
/// Tile extent in MVT units (MVT 2.1 default; Martin and PostGIS use the same).
pub const EXTENT: u32 = 4096;
/// Buffer around each tile, in MVT units (64 px of 4096), so strokes and symbols at the edge
/// are not cut.
pub const BUFFER_PX: u32 = 64;

/// Equatorial radius of the WGS84 ellipsoid used by spherical Web Mercator, in metres.
pub const EARTH_RADIUS_M: f64 = 6_378_137.0;
/// Half the width of the Web Mercator square, in metres (π · R).
pub const ORIGIN_SHIFT_M: f64 = std::f64::consts::PI * EARTH_RADIUS_M;
/// Latitude limit of Web Mercator (the square's edge), in degrees.
pub const MAX_LATITUDE: f64 = 85.051_128_779_806_59;

/// Projects WGS84 longitude/latitude (degrees) to Web Mercator metres.
///
/// Latitudes beyond ±[`MAX_LATITUDE`] are clamped to the edge of the square.
///
/// # Examples
///
/// ```
/// use vigie_layers::tile::{MAX_LATITUDE, ORIGIN_SHIFT_M, lonlat_to_mercator};
///
/// // Null Island is the origin; the antimeridian and the latitude limit are the square's edges.
/// let origin = lonlat_to_mercator(0.0, 0.0);
/// assert!(origin.x.abs() < 1e-6 && origin.y.abs() < 1e-6);
/// assert!((lonlat_to_mercator(180.0, 0.0).x - ORIGIN_SHIFT_M).abs() < 1e-6);
/// assert!((lonlat_to_mercator(0.0, MAX_LATITUDE).y - ORIGIN_SHIFT_M).abs() < 1e-3);
/// // Beyond the limit, clamped.
/// assert_eq!(lonlat_to_mercator(0.0, 89.0), lonlat_to_mercator(0.0, MAX_LATITUDE));
///
/// // The Eiffel Tower, in EPSG:3857 metres.
/// let m = lonlat_to_mercator(2.2945, 48.8584);
/// assert!((m.x - 255_422.57).abs() < 0.01 && (m.y - 6_250_868.90).abs() < 0.01);
/// ```
#[inline]
pub fn lonlat_to_mercator(lon: f64, lat: f64) -> Coord<f64> {
    let lat = lat.clamp(-MAX_LATITUDE, MAX_LATITUDE);
    let x = lon.to_radians() * EARTH_RADIUS_M;
    let y = (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0).tan().ln() * EARTH_RADIUS_M;
    Coord { x, y }
}

/// Inverse of [`lonlat_to_mercator`]: Web Mercator metres to WGS84 degrees.
///
/// # Examples
///
/// ```
/// use vigie_layers::tile::{lonlat_to_mercator, mercator_to_lonlat};
///
/// let back = mercator_to_lonlat(lonlat_to_mercator(2.2945, 48.8584));
/// assert!((back.x - 2.2945).abs() < 1e-9 && (back.y - 48.8584).abs() < 1e-9);
/// ```
#[inline]
pub fn mercator_to_lonlat(c: Coord<f64>) -> Coord<f64> {
    let lon = (c.x / EARTH_RADIUS_M).to_degrees();
    let lat = (2.0 * (c.y / EARTH_RADIUS_M).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees();
    Coord { x: lon, y: lat }
}

/// Why a tile coordinate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileCoordError {
    /// The zoom is above [`MAX_ZOOM`].
    #[error("zoom {z} is out of range: the highest zoom served is {max}", max = MAX_ZOOM)]
    Zoom {
        /// The zoom that was asked for.
        z: u32,
    },
    /// x or y is off the 2^z × 2^z grid of this zoom.
    #[error("tile {z}/{x}/{y} is off the grid: at zoom {z}, x and y must be below {size}")]
    OffGrid {
        /// Zoom.
        z: u8,
        /// Column.
        x: u32,
        /// Row.
        y: u32,
        /// Number of tiles per axis at this zoom.
        size: u64,
    },
}

/// An XYZ tile address (y grows southwards, as in OSM, Martin and MapLibre).
///
/// Only constructed through [`TileCoord::new`], so `x, y < 2^z` and `z <= MAX_ZOOM` always hold.
///
/// # Examples
///
/// ```
/// use vigie_layers::TileCoord;
///
/// // The z12 tile of the Eiffel Tower, as a client asks for it: /tiles/{layers}/12/2074/1409.
/// let t = TileCoord::new(12, 2074, 1409)?;
/// assert_eq!((t.z(), t.x(), t.y()), (12, 2074, 1409));
/// assert_eq!(t.to_string(), "12/2074/1409");
/// // Tiles order by zoom, then column, then row.
/// assert!(TileCoord::new(11, 2000, 0)? < t && t < TileCoord::new(12, 2074, 1410)?);
/// # Ok::<(), vigie_layers::tile::TileCoordError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileCoord {
    z: u8,
    x: u32,
    y: u32,
}

impl TileCoord {
    /// Checks and builds a tile coordinate.
    ///
    /// # Errors
    /// [`TileCoordError::Zoom`] when `z > MAX_ZOOM`, [`TileCoordError::OffGrid`] when x or y is
    /// not below `2^z`.
    ///
    /// # Examples
    ///
    /// ```
    /// use vigie_layers::TileCoord;
    /// use vigie_layers::tile::TileCoordError;
    ///
    /// assert!(TileCoord::new(0, 0, 0).is_ok());
    /// assert!(TileCoord::new(1, 1, 1).is_ok());
    /// assert_eq!(TileCoord::new(1, 2, 0), Err(TileCoordError::OffGrid { z: 1, x: 2, y: 0, size: 2 }));
    /// assert_eq!(TileCoord::new(25, 0, 0), Err(TileCoordError::Zoom { z: 25 }));
    /// // The message says what to fix.
    /// let e = TileCoord::new(3, 0, 8).unwrap_err();
    /// assert_eq!(e.to_string(), "tile 3/0/8 is off the grid: at zoom 3, x and y must be below 8");
    /// ```
    pub fn new(z: u32, x: u64, y: u64) -> Result<Self, TileCoordError> {
        if z > u32::from(MAX_ZOOM) {
            return Err(TileCoordError::Zoom { z });
        }
        let z = z as u8;
        let size = 1u64 << z;
        if x >= size || y >= size {
            return Err(TileCoordError::OffGrid {
                z,
                x: x.min(u64::from(u32::MAX)) as u32,
                y: y.min(u64::from(u32::MAX)) as u32,
                size,
            });
        }
        Ok(Self { z, x: x as u32, y: y as u32 })
    }

    /// Zoom level.
    pub fn z(self) -> u8 {
        self.z
    }
    /// Column, from the antimeridian eastwards.
    pub fn x(self) -> u32 {
        self.x
    }
    /// Row, from the north edge southwards.
    pub fn y(self) -> u32 {
        self.y
    }

    /// Width of a tile at this zoom, in Web Mercator metres.
    pub fn size_m(self) -> f64 {
        tile_size_m(self.z)
    }

    /// The tile's envelope in Web Mercator metres.
    ///
    /// # Examples
    ///
    /// ```
    /// use vigie_layers::TileCoord;
    /// use vigie_layers::tile::ORIGIN_SHIFT_M;
    ///
    /// // z0 is the whole square; 1/0/0 its north-west quarter (y grows southwards).
    /// let world = TileCoord::new(0, 0, 0)?.bounds();
    /// assert_eq!((world.min().x, world.max().y), (-ORIGIN_SHIFT_M, ORIGIN_SHIFT_M));
    /// let nw = TileCoord::new(1, 0, 0)?.bounds();
    /// assert_eq!((nw.min().x, nw.min().y, nw.max().x, nw.max().y), (-ORIGIN_SHIFT_M, 0.0, 0.0, ORIGIN_SHIFT_M));
    /// # Ok::<(), vigie_layers::tile::TileCoordError>(())
    /// ```
    pub fn bounds(self) -> Rect<f64> {
        let size = self.size_m();
        let min_x = -ORIGIN_SHIFT_M + f64::from(self.x) * size;
        let max_y = ORIGIN_SHIFT_M - f64::from(self.y) * size;
        Rect::new(Coord { x: min_x, y: max_y - size }, Coord { x: min_x + size, y: max_y })
    }

    /// The tile's envelope grown by `buffer_px` MVT units (of [`EXTENT`]) on every side.
    ///
    /// # Examples
    ///
    /// ```
    /// use vigie_layers::TileCoord;
    /// use vigie_layers::tile::{BUFFER_PX, INDEX_SLACK_M};
    ///
    /// let t = TileCoord::new(12, 2074, 1409)?;
    /// let (b, g) = (t.bounds(), t.buffered_bounds(BUFFER_PX));
    /// // 64 units of 4096 on each side: the tile is 1 + 2 × 64/4096 times as wide.
    /// assert!((g.width() / b.width() - (1.0 + 128.0 / 4096.0)).abs() < 1e-12);
    /// // Points are looked up a few metres further out, as PostGIS selects them.
    /// assert!((t.feature_bounds().width() - g.width() - 2.0 * INDEX_SLACK_M).abs() < 1e-6);
    /// # Ok::<(), vigie_layers::tile::TileCoordError>(())
    /// ```
    pub fn buffered_bounds(self, buffer_px: u32) -> Rect<f64> {
        let b = self.bounds();
        grow(b, self.size_m() * f64::from(buffer_px) / f64::from(EXTENT))
    }

    /// Where the points this tile may show lie: the buffered tile grown by [`INDEX_SLACK_M`]
    /// (the exact rule is `clip::ClipBox::snap_point`'s).
    pub fn feature_bounds(self) -> Rect<f64> {
        grow(self.buffered_bounds(BUFFER_PX), INDEX_SLACK_M)
    }

    /// The transform from Web Mercator metres to this tile's MVT units.
    ///
    /// # Examples
    ///
    /// ```
    /// use vigie_layers::TileCoord;
    /// use vigie_layers::tile::lonlat_to_mercator;
    ///
    /// let t = TileCoord::new(12, 2074, 1409)?;
    /// let tr = t.transform();
    /// // The north-west corner is (0, 0), the south-east corner (4096, 4096).
    /// let b = t.bounds();
    /// let nw = tr.apply(geo::Coord { x: b.min().x, y: b.max().y });
    /// let se = tr.apply(geo::Coord { x: b.max().x, y: b.min().y });
    /// assert!(nw.x.abs() < 1e-6 && nw.y.abs() < 1e-6);
    /// assert!((se.x - 4096.0).abs() < 1e-6 && (se.y - 4096.0).abs() < 1e-6);
    /// // The Eiffel Tower lies in the tile's north-west part.
    /// let p = tr.apply(lonlat_to_mercator(2.2945, 48.8584));
    /// assert_eq!((p.x.round(), p.y.round()), (435.0, 447.0));
    /// // A z12 tile unit is about 2.4 m.
    /// assert!((tr.metres_per_unit() - 2.3887).abs() < 1e-4);
    /// # Ok::<(), vigie_layers::tile::TileCoordError>(())
    /// ```
    pub fn transform(self) -> TileTransform {
        let b = self.bounds();
        TileTransform { min_x: b.min().x, max_y: b.max().y, scale: f64::from(EXTENT) / self.size_m() }
    }

    /// The parent tile one zoom up, or `None` at z0.
    ///
    /// # Examples
    ///
    /// ```
    /// use vigie_layers::TileCoord;
    ///
    /// let t = TileCoord::new(12, 2074, 1409)?;
    /// assert_eq!(t.parent(), Some(TileCoord::new(11, 1037, 704)?));
    /// // Walking up ends at the world tile.
    /// let top = std::iter::successors(Some(t), |c| c.parent()).last();
    /// assert_eq!(top, Some(TileCoord::new(0, 0, 0)?));
    /// # Ok::<(), vigie_layers::tile::TileCoordError>(())
    /// ```
    pub fn parent(self) -> Option<Self> {
        (self.z > 0).then(|| Self { z: self.z - 1, x: self.x / 2, y: self.y / 2 })
    }
}

impl fmt::Display for TileCoord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

/// Width of one tile at zoom `z`, in Web Mercator metres.
///
/// # Examples
///
/// ```
/// use vigie_layers::tile::{ORIGIN_SHIFT_M, tile_size_m};
///
/// assert_eq!(tile_size_m(0), 2.0 * ORIGIN_SHIFT_M);
/// assert_eq!(tile_size_m(1), ORIGIN_SHIFT_M);
/// assert!((tile_size_m(12) - 9_783.94).abs() < 0.01);
/// ```
#[inline]
pub fn tile_size_m(z: u8) -> f64 {
    2.0 * ORIGIN_SHIFT_M / f64::from(1u32 << z)
}

/// How far beyond its buffered envelope (metres) a point may lie and still show in a tile.
/// vigie keeps the points PostGIS's `ST_AsMVT` keeps: PostGIS selects them with `&&`, which
/// compares float4 boxes rounded outward, so a point up to one float4 step outside the envelope
/// is kept (a float4 step is at most 2 m on the Web Mercator plane, and both boxes round).
pub const INDEX_SLACK_M: f64 = 4.0;

/// `r` grown by `by` metres on every side.
pub fn grow(r: Rect<f64>, by: f64) -> Rect<f64> {
    Rect::new(Coord { x: r.min().x - by, y: r.min().y - by }, Coord { x: r.max().x + by, y: r.max().y + by })
}

/// The smallest rectangle holding `a` and `b`.
#[inline]
pub fn union(a: Rect<f64>, b: Rect<f64>) -> Rect<f64> {
    Rect::new(
        Coord { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
        Coord { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
    )
}

/// The inclusive range of tile columns and rows at zoom `z` whose envelope, grown by
/// `buffer_px`, meets `rect` (Web Mercator metres). Used to find the tiles a change touches.
///
/// Returns `(min x, min y, max x, max y)`, clamped to the grid.
///
/// # Examples
///
/// ```
/// use geo::Rect;
/// use vigie_layers::tile::{BUFFER_PX, lonlat_to_mercator, tiles_covering};
///
/// // A point at the Eiffel Tower, 435 and 447 units from its z12 tile's west and north edges.
/// let p = lonlat_to_mercator(2.2945, 48.8584);
/// let r = Rect::new(p, p);
/// assert_eq!(tiles_covering(r, 12, BUFFER_PX), (2074, 1409, 2074, 1409));
/// // With a 512-unit buffer the western and northern neighbours show it too.
/// assert_eq!(tiles_covering(r, 12, 512), (2073, 1408, 2074, 1409));
/// // A change anywhere touches the one tile at z0.
/// assert_eq!(tiles_covering(r, 0, BUFFER_PX), (0, 0, 0, 0));
/// ```
pub fn tiles_covering(rect: Rect<f64>, z: u8, buffer_px: u32) -> (u32, u32, u32, u32) {
    let size = tile_size_m(z);
    let pad = size * f64::from(buffer_px) / f64::from(EXTENT);
    let n = f64::from(1u32 << z);
    let col = |x: f64| ((x + ORIGIN_SHIFT_M) / size).floor().clamp(0.0, n - 1.0) as u32;
    let row = |y: f64| ((ORIGIN_SHIFT_M - y) / size).floor().clamp(0.0, n - 1.0) as u32;
    (col(rect.min().x - pad), row(rect.max().y + pad), col(rect.max().x + pad), row(rect.min().y - pad))
}

/// Maps Web Mercator metres to tile units (0..EXTENT, y down) for one tile.
#[derive(Debug, Clone, Copy)]
pub struct TileTransform {
    min_x: f64,
    max_y: f64,
    scale: f64,
}

impl TileTransform {
    /// Tile units (floating point) of a Web Mercator coordinate.
    #[inline]
    pub fn apply(&self, c: Coord<f64>) -> Coord<f64> {
        Coord { x: (c.x - self.min_x) * self.scale, y: (self.max_y - c.y) * self.scale }
    }

    /// Web Mercator metres per tile unit at this tile's zoom.
    pub fn metres_per_unit(&self) -> f64 {
        1.0 / self.scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0, 0, 0, true)]
    #[case(1, 1, 1, true)]
    #[case(1, 2, 0, false)]
    #[case(24, (1 << 24) - 1, 0, true)]
    #[case(24, 1 << 24, 0, false)]
    #[case(25, 0, 0, false)]
    #[case(12, 2074, 1409, true)]
    #[case(12, 2074, 4096, false)]
    fn tile_coord_validation(#[case] z: u32, #[case] x: u64, #[case] y: u64, #[case] ok: bool) {
        assert_eq!(TileCoord::new(z, x, y).is_ok(), ok, "{z}/{x}/{y}");
    }

    #[test]
    fn zoom_error_names_the_limit() {
        let err = TileCoord::new(30, 0, 0).unwrap_err().to_string();
        assert!(err.contains("30") && err.contains("24"), "{err}");
    }

    #[rstest]
    #[case(0.0, 0.0, 0.0, 0.0)]
    #[case(180.0, 0.0, ORIGIN_SHIFT_M, 0.0)]
    #[case(2.2945, 48.8584, 255_422.57, 6_250_868.9)]
    #[case(-149.25, -17.87, -16_614_434.0, -2_022_337.9)]
    fn projection_matches_epsg3857(#[case] lon: f64, #[case] lat: f64, #[case] x: f64, #[case] y: f64) {
        let c = lonlat_to_mercator(lon, lat);
        assert!((c.x - x).abs() < 1.0, "x {} vs {x}", c.x);
        assert!((c.y - y).abs() < 1.0, "y {} vs {y}", c.y);
        let back = mercator_to_lonlat(c);
        assert!((back.x - lon).abs() < 1e-9 && (back.y - lat).abs() < 1e-9);
    }

    #[test]
    fn bounds_cover_the_world_at_z0_and_split_at_z1() {
        let b = TileCoord::new(0, 0, 0).unwrap().bounds();
        assert!((b.min().x + ORIGIN_SHIFT_M).abs() < 1e-6 && (b.max().y - ORIGIN_SHIFT_M).abs() < 1e-6);
        let nw = TileCoord::new(1, 0, 0).unwrap().bounds();
        assert!((nw.max().x).abs() < 1e-6 && (nw.min().y).abs() < 1e-6);
    }

    #[test]
    fn transform_maps_tile_corners_to_extent() {
        let t = TileCoord::new(12, 2074, 1409).unwrap();
        let b = t.bounds();
        let tr = t.transform();
        let nw = tr.apply(Coord { x: b.min().x, y: b.max().y });
        let se = tr.apply(Coord { x: b.max().x, y: b.min().y });
        assert!(nw.x.abs() < 1e-6 && nw.y.abs() < 1e-6);
        assert!((se.x - 4096.0).abs() < 1e-6 && (se.y - 4096.0).abs() < 1e-6);
    }

    #[test]
    fn eiffel_tower_is_in_the_expected_z12_tile() {
        let c = lonlat_to_mercator(2.2945, 48.8584);
        let (x0, y0, x1, y1) = tiles_covering(Rect::new(c, c), 12, 0);
        assert_eq!((x0, y0, x1, y1), (2074, 1409, 2074, 1409));
        let (bx0, by0, bx1, by1) = tiles_covering(Rect::new(c, c), 12, BUFFER_PX);
        assert!(bx0 <= 2074 && bx1 >= 2074 && by0 <= 1409 && by1 >= 1409);
    }
}
