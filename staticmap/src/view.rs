//! Where the map looks: a region's box fitted to the image in Web Mercator, pixel positions,
//! the zoom the styles are read at, and the scale bar's round length.

use geo::{Coord, Rect};
use vigie_layers::tile::{EARTH_RADIUS_M, ORIGIN_SHIFT_M, lonlat_to_mercator, mercator_to_lonlat};

/// Margin around the region, as a share of its span on each side.
pub const MARGIN: f64 = 0.05;
/// Smallest ground span shown, metres (a point, or a very small region).
pub const MIN_SPAN_M: f64 = 200.0;
/// Width in CSS pixels of the world at zoom 0 for MapLibre (512 px tiles): the zoom styles
/// interpolate on.
const WORLD_PX_AT_Z0: f64 = 512.0;

/// Smallest width or height of an image, pixels.
pub const MIN_SIDE_PX: u32 = 64;
/// Largest width or height of an image, pixels.
pub const MAX_SIDE_PX: u32 = 2048;
/// Default width, pixels.
pub const DEFAULT_WIDTH_PX: u32 = 1024;
/// Default height, pixels.
pub const DEFAULT_HEIGHT_PX: u32 = 768;

/// Why an image size was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Width out of range.
    #[error("width = {0}: the width must be {MIN_SIDE_PX} to {MAX_SIDE_PX} pixels")]
    Width(u32),
    /// Height out of range.
    #[error("height = {0}: the height must be {MIN_SIDE_PX} to {MAX_SIDE_PX} pixels")]
    Height(u32),
}

/// An image size within [`MIN_SIDE_PX`]..=[`MAX_SIDE_PX`] on each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    width_px: u32,
    height_px: u32,
}

impl Size {
    /// A checked size.
    ///
    /// # Errors
    /// [`SizeError`] naming the side out of range.
    pub fn new(width_px: u32, height_px: u32) -> Result<Self, SizeError> {
        let ok = |v: u32| (MIN_SIDE_PX..=MAX_SIDE_PX).contains(&v);
        if !ok(width_px) {
            return Err(SizeError::Width(width_px));
        }
        if !ok(height_px) {
            return Err(SizeError::Height(height_px));
        }
        Ok(Self { width_px, height_px })
    }

    /// Width, pixels.
    pub fn width_px(self) -> u32 {
        self.width_px
    }

    /// Height, pixels.
    pub fn height_px(self) -> u32 {
        self.height_px
    }
}

impl Default for Size {
    fn default() -> Self {
        Self { width_px: DEFAULT_WIDTH_PX, height_px: DEFAULT_HEIGHT_PX }
    }
}

/// The map's extent in Web Mercator and its pixel grid (y down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// Web Mercator x of the image's left edge, metres.
    pub west_m: f64,
    /// Web Mercator y of the image's top edge, metres.
    pub north_m: f64,
    /// Web Mercator metres per pixel (the same on both axes).
    pub m_per_px: f64,
    /// The image's size.
    pub size: Size,
}

impl View {
    /// The view of a WGS84 box: the box plus [`MARGIN`] on each side (at least [`MIN_SPAN_M`]
    /// of ground), centred, the shorter side extended so that the box keeps its shape in Web
    /// Mercator at `size`.
    pub fn fit(bounds: Rect<f64>, size: Size) -> Self {
        let min = lonlat_to_mercator(bounds.min().x, bounds.min().y);
        let max = lonlat_to_mercator(bounds.max().x, bounds.max().y);
        let centre = Coord { x: f64::midpoint(min.x, max.x), y: f64::midpoint(min.y, max.y) };
        // Web Mercator stretches ground distances by 1 / cos(latitude).
        let stretch = 1.0 / mercator_to_lonlat(centre).y.to_radians().cos().max(1e-6);
        let least = MIN_SPAN_M * stretch;
        let span_x = (max.x - min.x).max(least) * (1.0 + 2.0 * MARGIN);
        let span_y = (max.y - min.y).max(least) * (1.0 + 2.0 * MARGIN);
        let (w, h) = (f64::from(size.width_px), f64::from(size.height_px));
        let m_per_px = (span_x / w).max(span_y / h);
        Self { west_m: centre.x - m_per_px * w / 2.0, north_m: centre.y + m_per_px * h / 2.0, m_per_px, size }
    }

    /// The pixel position (x right, y down, fractional) of a Web Mercator point.
    #[inline]
    pub fn px(&self, c: Coord<f64>) -> (f32, f32) {
        (((c.x - self.west_m) / self.m_per_px) as f32, ((self.north_m - c.y) / self.m_per_px) as f32)
    }

    /// The image's extent, Web Mercator metres.
    pub fn mercator_rect(&self) -> Rect<f64> {
        let east = self.west_m + self.m_per_px * f64::from(self.size.width_px);
        let south = self.north_m - self.m_per_px * f64::from(self.size.height_px);
        Rect::new(Coord { x: self.west_m, y: south }, Coord { x: east, y: self.north_m })
    }

    /// The image's extent in WGS84: `[west, south, east, north]`, degrees.
    pub fn lonlat_bbox(&self) -> [f64; 4] {
        let r = self.mercator_rect();
        let (a, b) = (mercator_to_lonlat(r.min()), mercator_to_lonlat(r.max()));
        [a.x, a.y, b.x, b.y]
    }

    /// The MapLibre zoom of this scale (512-pixel tiles), at which style values are read.
    pub fn zoom(&self) -> f64 {
        (2.0 * ORIGIN_SHIFT_M / (WORLD_PX_AT_Z0 * self.m_per_px)).log2()
    }

    /// Ground metres per pixel at the image's centre latitude.
    pub fn ground_m_per_px(&self) -> f64 {
        let centre_y = self.north_m - self.m_per_px * f64::from(self.size.height_px) / 2.0;
        let lat = (2.0 * (centre_y / EARTH_RADIUS_M).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees();
        self.m_per_px * lat.to_radians().cos()
    }
}

/// A scale bar: a round ground length and its length on the image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleBar {
    /// Ground length, metres: 1, 2 or 5 times a power of ten.
    pub length_m: f64,
    /// Its length on the image, pixels.
    pub length_px: f64,
}

impl ScaleBar {
    /// The longest round length (1, 2 or 5 × 10ⁿ metres, at least 1 m) that fits in `max_px`
    /// pixels at `ground_m_per_px`.
    pub fn choose(ground_m_per_px: f64, max_px: f64) -> Self {
        let most_m = (ground_m_per_px * max_px).max(1.0);
        let power = 10f64.powi(most_m.log10().floor() as i32);
        let step = [5.0, 2.0, 1.0].into_iter().map(|k| k * power).find(|l| *l <= most_m).unwrap_or(power);
        Self { length_m: step, length_px: step / ground_m_per_px }
    }

    /// Its label: `500 m`, `2 km`.
    pub fn label(&self) -> String {
        if self.length_m >= 1000.0 {
            format!("{} km", (self.length_m / 1000.0).round())
        } else {
            format!("{} m", self.length_m.round())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn rect(w: f64, s: f64, e: f64, n: f64) -> Rect<f64> {
        Rect::new(Coord { x: w, y: s }, Coord { x: e, y: n })
    }

    #[rstest]
    #[case::wide_region_on_a_square(rect(2.25, 48.815, 2.42, 48.905), 800, 800)]
    #[case::tall_region_on_a_wide_image(rect(2.3, 48.7, 2.35, 49.0), 1024, 768)]
    #[case::a_point(rect(2.2945, 48.8584, 2.2945, 48.8584), 1024, 768)]
    #[case::south(rect(-70.7, -33.5, -70.5, -33.4), 300, 2000)]
    fn the_region_fits_with_its_margin_and_keeps_its_shape(#[case] bounds: Rect<f64>, #[case] w: u32, #[case] h: u32) {
        let view = View::fit(bounds, Size::new(w, h).unwrap());
        // Every corner of the region is inside the image, at least the margin from one pair of
        // edges and not nearer than it to the other.
        let (x0, y1) = view.px(lonlat_to_mercator(bounds.min().x, bounds.min().y));
        let (x1, y0) = view.px(lonlat_to_mercator(bounds.max().x, bounds.max().y));
        let (wf, hf) = (w as f32, h as f32);
        assert!(x0 >= 0.0 && x1 <= wf && y0 >= 0.0 && y1 <= hf, "{x0} {x1} {y0} {y1}");
        // Centred.
        assert!((f32::midpoint(x0, x1) - wf / 2.0).abs() < 0.01 && (f32::midpoint(y0, y1) - hf / 2.0).abs() < 0.01);
        // One side is fitted exactly (with the margin), the other extended.
        let fill_x = (x1 - x0) / wf;
        let fill_y = (y1 - y0) / hf;
        let fitted = 1.0 / (1.0 + 2.0 * MARGIN as f32);
        assert!((fill_x.max(fill_y) - fitted).abs() < 1e-3 || bounds.width() == 0.0, "{fill_x} {fill_y}");
        assert!(fill_x <= fitted + 1e-3 && fill_y <= fitted + 1e-3);
        // Square pixels: the image's box has the image's aspect ratio in Web Mercator.
        let r = view.mercator_rect();
        assert!((r.width() / r.height() - f64::from(w) / f64::from(h)).abs() < 1e-9);
    }

    #[test]
    fn a_point_shows_the_least_span_of_ground() {
        let view = View::fit(rect(2.2945, 48.8584, 2.2945, 48.8584), Size::new(1000, 500).unwrap());
        // The height is the shorter side: 200 m plus the margins.
        let ground_h = view.ground_m_per_px() * 500.0;
        assert!((ground_h - MIN_SPAN_M * (1.0 + 2.0 * MARGIN)).abs() < 1.0, "{ground_h}");
        let [w, s, e, n] = view.lonlat_bbox();
        assert!(w < 2.2945 && e > 2.2945 && s < 48.8584 && n > 48.8584);
    }

    #[test]
    fn zoom_follows_maplibre() {
        // Paris in 1024 × 768 px: the zoom a 1024 px MapLibre map of it shows.
        let view = View::fit(rect(2.25, 48.815, 2.42, 48.905), Size::default());
        assert!((11.5..12.5).contains(&view.zoom()), "{}", view.zoom());
    }

    #[test]
    fn sizes_are_bounded() {
        assert!(Size::new(64, 2048).is_ok());
        assert_eq!(Size::new(63, 100), Err(SizeError::Width(63)));
        assert_eq!(Size::new(100, 2049), Err(SizeError::Height(2049)));
        assert!(SizeError::Width(5000).to_string().contains("width = 5000"));
    }

    #[rstest]
    #[case(18.0, 150.0, 2000.0, "2 km")]
    #[case(10.0, 150.0, 1000.0, "1 km")]
    #[case(1.0, 150.0, 100.0, "100 m")]
    #[case(0.3, 150.0, 20.0, "20 m")]
    #[case(400.0, 150.0, 50_000.0, "50 km")]
    #[case(0.001, 150.0, 1.0, "1 m")]
    fn scale_bars_are_round_and_fit(#[case] m_per_px: f64, #[case] max_px: f64, #[case] m: f64, #[case] label: &str) {
        let bar = ScaleBar::choose(m_per_px, max_px);
        assert!((bar.length_m - m).abs() < 1e-9, "{}", bar.length_m);
        assert_eq!(bar.label(), label);
        assert!((bar.length_px - m / m_per_px).abs() < 1e-9);
        if m > 1.0 {
            assert!(bar.length_px <= max_px && bar.length_px > max_px / 2.5, "{}", bar.length_px);
        }
    }
}
