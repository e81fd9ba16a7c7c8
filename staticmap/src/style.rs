//! What the styles in `styles/` say, read at the view's zoom: theme colours, symbol sizes by
//! severity, the H3 count ramp, the background.

use std::collections::HashMap;
use vigie_layers::{Catalog, Layer, LayerKind};

/// An opaque colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb` (the catalog checks theme colours have this form).
    pub fn parse(hex: &str) -> Option<Self> {
        let h = hex.strip_prefix('#')?;
        if h.len() != 6 || !h.is_ascii() {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
        Some(Self(byte(0)?, byte(2)?, byte(4)?))
    }

    /// This colour at `alpha` (0–1), for tiny-skia.
    pub fn with_alpha(self, alpha: f32) -> tiny_skia::Color {
        tiny_skia::Color::from_rgba8(self.0, self.1, self.2, (alpha.clamp(0.0, 1.0) * 255.0).round() as u8)
    }

    fn mix(self, other: Self, t: f64) -> Self {
        let m = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t.clamp(0.0, 1.0)).round() as u8;
        Self(m(self.0, other.0), m(self.1, other.1), m(self.2, other.2))
    }
}

/// The background (the web view's `background-color`).
pub const BACKGROUND: Rgb = Rgb(0xee, 0xf1, 0xf4);
/// A layer whose theme has no colour (cannot happen with a checked catalog).
pub const FALLBACK: Rgb = Rgb(0x55, 0x55, 0x55);
/// Text and the north arrow.
pub const INK: Rgb = Rgb(0x1f, 0x29, 0x37);
/// Halos, venue rings, panels.
pub const WHITE: Rgb = Rgb(0xff, 0xff, 0xff);

/// The H3 fill ramp of `styles/hypervision.json` (`entries-h3-fill`): count → colour.
pub const H3_RAMP: [(f64, Rgb); 4] = [
    (1.0, Rgb(0xfd, 0xe6, 0x8a)),
    (10.0, Rgb(0xf5, 0x9e, 0x0b)),
    (50.0, Rgb(0xdc, 0x26, 0x26)),
    (200.0, Rgb(0x7f, 0x1d, 0x1d)),
];

/// The ramp's colour for a count (linear between stops, clamped at the ends).
pub fn h3_colour(count: u32) -> Rgb {
    let c = f64::from(count);
    let (first, last) = (H3_RAMP[0], H3_RAMP[H3_RAMP.len() - 1]);
    if c <= first.0 {
        return first.1;
    }
    H3_RAMP.windows(2).find(|w| c <= w[1].0).map_or(last.1, |w| w[0].1.mix(w[1].1, (c - w[0].0) / (w[1].0 - w[0].0)))
}

/// Linear interpolation over `(zoom, value)` stops, clamped at the ends (MapLibre's
/// `["interpolate", ["linear"], ["zoom"], …]`).
pub fn by_zoom(zoom: f64, stops: &[(f64, f64)]) -> f64 {
    let Some(first) = stops.first() else { return 0.0 };
    if zoom <= first.0 {
        return first.1;
    }
    for w in stops.windows(2) {
        if zoom <= w[1].0 {
            return w[0].1 + (w[1].1 - w[0].1) * (zoom - w[0].0) / (w[1].0 - w[0].0);
        }
    }
    stops[stops.len() - 1].1
}

/// Radius of an entry point, pixels: the styles' `circle-radius` (2 + ½·severity at z5,
/// 4 + severity at z10, 7 + 1.5·severity at z15).
pub fn entry_radius_px(zoom: f64, severity: u8) -> f64 {
    let s = f64::from(severity.min(4));
    by_zoom(zoom, &[(5.0, 2.0 + 0.5 * s), (10.0, 4.0 + s), (15.0, 7.0 + 1.5 * s)])
}

/// Width of an entry line, pixels (`line-width` of the entry layers).
pub fn entry_line_px(zoom: f64, severity: u8) -> f64 {
    let s = 0.5 * f64::from(severity.min(4));
    by_zoom(zoom, &[(5.0, 1.5 + s), (10.0, 2.5 + s), (15.0, 4.0 + s)])
}

/// Radius of a venue point, pixels (`venues-points`).
pub fn venue_radius_px(zoom: f64) -> f64 {
    by_zoom(zoom, &[(0.0, 3.0), (10.0, 7.0), (15.0, 11.0)])
}

/// Fill opacity of H3 hexagons. The style fades them out from z11 to z13, where the web map's
/// points take over; a static map has no zoom to move to, so they stay faint (0.35) beyond.
pub fn h3_opacity(zoom: f64) -> f32 {
    by_zoom(zoom, &[(4.0, 0.75), (11.0, 0.55), (13.0, 0.35)]) as f32
}

/// Drawing order of a layer kind: reference areas, hexagons, perimeters, the log, venues on
/// top (the order of `styles/hypervision.json`).
pub fn rank(kind: LayerKind) -> u8 {
    match kind {
        LayerKind::Dataset | LayerKind::Table | LayerKind::Pmtiles | LayerKind::Mbtiles => 0,
        LayerKind::H3 => 1,
        LayerKind::Perimeters => 2,
        LayerKind::Entries => 3,
        LayerKind::Venues | LayerKind::Staffing => 4,
    }
}

/// Theme colours of a catalog.
#[derive(Debug)]
pub struct Palette {
    themes: HashMap<String, Rgb>,
}

impl Palette {
    /// The colours of the catalog's themes.
    pub fn of(catalog: &Catalog) -> Self {
        Self { themes: catalog.themes.iter().filter_map(|t| Some((t.id.clone(), Rgb::parse(&t.color)?))).collect() }
    }

    /// A theme's colour.
    pub fn theme(&self, id: &str) -> Option<Rgb> {
        self.themes.get(id).copied()
    }

    /// A layer's colour: its theme's.
    pub fn layer(&self, layer: &Layer) -> Rgb {
        self.theme(&layer.def.theme).unwrap_or(FALLBACK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_ramps() {
        assert_eq!(Rgb::parse("#1f4fbf"), Some(Rgb(0x1f, 0x4f, 0xbf)));
        assert_eq!(Rgb::parse("1f4fbf"), None);
        assert_eq!(Rgb::parse("#1f4fb"), None);
        assert_eq!(h3_colour(0), H3_RAMP[0].1);
        assert_eq!(h3_colour(10), H3_RAMP[1].1);
        assert_eq!(h3_colour(5000), H3_RAMP[3].1);
        let mid = h3_colour(30);
        assert!(mid.1 < H3_RAMP[1].1.1 && mid.1 > H3_RAMP[2].1.1, "{mid:?}");
    }

    #[test]
    fn sizes_follow_the_style_stops() {
        assert!((entry_radius_px(10.0, 2) - 6.0).abs() < 1e-9);
        assert!((entry_radius_px(2.0, 0) - 2.0).abs() < 1e-9);
        assert!((entry_radius_px(20.0, 4) - 13.0).abs() < 1e-9);
        assert!((entry_radius_px(12.5, 0) - 5.5).abs() < 1e-9);
        assert!(entry_radius_px(13.0, 4) > entry_radius_px(13.0, 0));
        assert!((venue_radius_px(12.5) - 9.0).abs() < 1e-9);
    }

    #[test]
    fn every_bundled_theme_has_a_colour() {
        let catalog = Catalog::bundled();
        let palette = Palette::of(&catalog);
        for t in &catalog.themes {
            assert!(palette.theme(&t.id).is_some(), "{}", t.id);
        }
    }
}
