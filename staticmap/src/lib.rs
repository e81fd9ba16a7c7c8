//! vigie's static maps: the engine's layers drawn on the server to a PNG, with a legend, a
//! scale bar, a north arrow and the catalog's attribution — for briefings, e-mails and the
//! situation reports.
//!
//! The features are those a tile of the same layers and filter shows (the layer's selection,
//! the filter, the asker's territory on the scoped layers), read from the engine's index; the
//! colours and sizes are those of `styles/` (theme colours of the catalog, symbol sizes by
//! severity at the view's zoom, the H3 count ramp). No HTTP here: `vigie-tileserver` parses the
//! request (`GET /api/staticmap`) and calls [`render`]; the benches call it directly.
//!
//! Drawing is [`tiny_skia`]'s (a pure-Rust rasteriser), text is outlines of the embedded DejaVu
//! Sans read with [`ttf_parser`] (see [`text`]). Points, the bulk of a map of the log, are
//! stamped from a sprite per symbol, once per symbol and pixel.

mod collect;
mod paint;
mod style;
pub mod text;
pub mod view;

use geo::Rect;
use std::sync::Arc;
use vigie_layers::{Engine, Filter, Layer, LayerKind};

pub use view::{ScaleBar, Size, SizeError, View};

/// Most features a map draws (points, lines, polygons and hexagons, each layer counting its
/// own): a map of the whole log of a city over a million entries stays under it, a country
/// does not (ask for a smaller area, fewer layers or narrower filters).
pub const MAX_FEATURES: usize = 1_000_000;

/// Images narrower or lower than this have no legend, scale bar or north arrow (they would
/// cover the map); the attribution is always drawn.
pub const MIN_FURNITURE_PX: u32 = 200;

/// The language of the legend (the catalog's titles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// French titles (`title`), the interface's first language.
    #[default]
    Fr,
    /// English titles (`title_en`).
    En,
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct MapSpec<'a> {
    /// The layers, in the legend's order (drawn by kind: reference areas, hexagons, perimeters,
    /// the log, venues on top).
    pub layers: &'a [Arc<Layer>],
    /// The filter, with the asker's territory.
    pub filter: &'a Filter,
    /// The region's WGS84 box: the view is this box with a margin, fitted to `size`.
    pub bounds: Rect<f64>,
    /// The image's size.
    pub size: Size,
    /// Legend language.
    pub lang: Lang,
    /// Most features drawn ([`MAX_FEATURES`] for requests).
    pub max_features: usize,
}

/// A drawn map.
#[derive(Debug)]
pub struct StaticMap {
    /// The PNG file.
    pub png: Vec<u8>,
    /// Where it looks.
    pub view: View,
    /// Features drawn (each layer counting its own).
    pub features: usize,
}

/// Why a map was not drawn.
#[derive(Debug, thiserror::Error)]
pub enum DrawError {
    /// Too much to draw.
    #[error(
        "more than {limit} features to draw: ask for a smaller area, fewer layers or narrower filters (tags, severity, a time window)"
    )]
    TooManyFeatures {
        /// The limit.
        limit: usize,
    },
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Encode(String),
    /// The image could not be allocated.
    #[error("cannot allocate a {0} × {1} image")]
    Allocate(u32, u32),
}

fn title(layer: &Layer, lang: Lang) -> &str {
    match lang {
        Lang::Fr => &layer.def.title,
        Lang::En => &layer.def.title_en,
    }
}

/// Draws a map.
///
/// # Errors
/// [`DrawError::TooManyFeatures`] past `spec.max_features`; [`DrawError::Encode`] and
/// [`DrawError::Allocate`] should not happen.
pub fn render(engine: &Engine, spec: &MapSpec<'_>) -> Result<StaticMap, DrawError> {
    let view = View::fit(spec.bounds, spec.size);
    let (w, h) = (spec.size.width_px(), spec.size.height_px());
    let mut pm = tiny_skia::Pixmap::new(w, h).ok_or(DrawError::Allocate(w, h))?;
    pm.fill(style::BACKGROUND.with_alpha(1.0));
    let palette = style::Palette::of(engine.catalog());
    let zoom = view.zoom().floor().clamp(0.0, f64::from(vigie_layers::tile::MAX_ZOOM)) as u8;
    let too_many = || DrawError::TooManyFeatures { limit: spec.max_features };

    let mut order: Vec<&Layer> = spec
        .layers
        .iter()
        .map(AsRef::as_ref)
        .filter(|l| l.in_zoom(zoom) && l.def.kind != LayerKind::Table && !l.def.kind.is_archive())
        .collect();
    order.sort_by_key(|l| style::rank(l.def.kind));
    let mut marks = collect::Marks::default();
    let mut rest = order.as_slice();
    while let Some(first) = rest.first() {
        if first.is_h3() {
            let cells = collect::hexagons(engine, first, spec.filter, &view);
            marks.features += cells.len();
            if marks.features > spec.max_features {
                return Err(too_many());
            }
            paint::hexagons(&mut pm, &cells, &view);
            rest = &rest[1..];
            continue;
        }
        // The layers of one rank over one collection (the log's themes) read it in one pass.
        let n = rest
            .iter()
            .take_while(|l| !l.is_h3() && l.collection == first.collection && l.def.kind == first.def.kind)
            .count();
        let (group, next) = rest.split_at(n);
        let shapes = collect::layers(engine, group, spec.filter, &view, &palette, &mut marks, spec.max_features)
            .map_err(|collect::TooMany| too_many())?;
        for s in &shapes {
            paint::shapes(&mut pm, s, &view);
        }
        rest = next;
    }
    let sprites: Vec<paint::Sprite> = marks.symbols.iter().map(|s| paint::Sprite::of(*s)).collect();
    for dots in &marks.dots {
        paint::dots(&mut pm, dots, &sprites);
    }
    // The furniture.
    let catalog = engine.catalog();
    let mut left = 0.0;
    if w.min(h) >= MIN_FURNITURE_PX {
        let rows = legend_rows(spec, zoom, &palette, &marks.entry_themes, catalog);
        let heading = match spec.lang {
            Lang::Fr => "Légende",
            Lang::En => "Legend",
        };
        paint::legend(&mut pm, heading, &rows, (w as f32 * 0.4).max(160.0), h as f32 - 60.0);
        left = paint::scale_bar(&mut pm, &view);
        paint::north_arrow(&mut pm);
    }
    paint::attribution(&mut pm, &catalog.attribution, left);
    let png = encode(&pm)?;
    Ok(StaticMap { png, view, features: marks.features })
}

/// The image as an RGB PNG, compressed for speed. Every pixel is opaque (the background is
/// filled first and everything is drawn over it), so premultiplied RGBA is plain RGB.
fn encode(pm: &tiny_skia::Pixmap) -> Result<Vec<u8>, DrawError> {
    let rgb: Vec<u8> = pm.data().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    let mut out = Vec::with_capacity(rgb.len() / 4);
    let mut encoder = png::Encoder::new(&mut out, pm.width(), pm.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let fail = |e: png::EncodingError| DrawError::Encode(e.to_string());
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(&rgb).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}

fn legend_rows(
    spec: &MapSpec<'_>,
    zoom: u8,
    palette: &style::Palette,
    entry_themes: &[String],
    catalog: &vigie_layers::Catalog,
) -> Vec<paint::Row> {
    use paint::{Row, Swatch};
    let mut rows = Vec::new();
    for layer in spec.layers {
        let colour = palette.layer(layer);
        let swatch = match layer.def.kind {
            LayerKind::Entries => Swatch::Point(colour, false),
            LayerKind::Venues => Swatch::Point(colour, true),
            LayerKind::H3 => Swatch::Ramp,
            LayerKind::Perimeters | LayerKind::Dataset => Swatch::Area(colour),
            LayerKind::Table | LayerKind::Staffing | LayerKind::Pmtiles | LayerKind::Mbtiles => Swatch::None,
        };
        let mut t = title(layer, spec.lang).to_owned();
        if !layer.in_zoom(zoom) {
            t.push_str(match spec.lang {
                Lang::Fr => " (non affiché à cette échelle)",
                Lang::En => " (not shown at this scale)",
            });
        }
        rows.push(Row { swatch, title: t, indent: false });
        // The whole log is drawn in its entries' theme colours: list those drawn.
        if layer.def.kind == LayerKind::Entries && layer.def.tags.is_empty() && layer.in_zoom(zoom) {
            for id in entry_themes {
                if let (Some(theme), Some(c)) = (catalog.theme(id), palette.theme(id)) {
                    let t = match spec.lang {
                        Lang::Fr => &theme.title,
                        Lang::En => &theme.title_en,
                    };
                    rows.push(Row { swatch: Swatch::Point(c, false), title: t.clone(), indent: true });
                }
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Coord, Geometry, MultiPolygon, Point, polygon};
    use vigie_layers::engine::ENTRIES;
    use vigie_layers::feature::{Attrs, Qualification};
    use vigie_layers::index::Collection;
    use vigie_layers::model::entry_schema;
    use vigie_layers::scope::Scope;
    use vigie_layers::{Catalog, Feature, Value};

    /// An engine with entries at `(lon, lat, theme)`.
    fn engine(entries: &[(f64, f64, &str)]) -> Engine {
        let engine = Engine::new(Catalog::bundled());
        let vocab = engine.vocabulary().clone();
        let fields = entry_schema().fields.len();
        let features = entries
            .iter()
            .enumerate()
            .map(|(i, (lon, lat, theme))| {
                let attrs = Attrs {
                    time_ms: vigie_layers::feature::Millis::at(1_720_000_000_000),
                    severity: Some(2),
                    qualification: Some(Qualification::Confirmed),
                    themes: vocab.mask(&[*theme]),
                    tags: Some([vigie_layers::feature::Text::from(*theme)].into_iter().collect()),
                    ..Attrs::default()
                };
                let mut props = vec![Value::Null; fields];
                props[1] = Value::text(theme);
                Feature::from_lonlat(i as u64, &Geometry::Point(Point::new(*lon, *lat)), attrs, props.into())
                    .expect("valid point")
            })
            .collect();
        engine.replace(&ENTRIES, Collection::bulk_load(entry_schema(), features));
        engine
    }

    fn bounds() -> Rect<f64> {
        Rect::new(Coord { x: 2.0, y: 48.0 }, Coord { x: 2.2, y: 48.1 })
    }

    /// The decoded image and the pixel of a point on it.
    fn draw(
        engine: &Engine,
        layers: &[&str],
        filter: &Filter,
        max: usize,
    ) -> Result<(tiny_skia::Pixmap, View), DrawError> {
        let layers: Vec<Arc<Layer>> = layers.iter().map(|id| engine.layer(id).expect("layer").clone()).collect();
        let spec = MapSpec {
            layers: &layers,
            filter,
            bounds: bounds(),
            size: Size::new(600, 400).expect("size"),
            lang: Lang::Fr,
            max_features: max,
        };
        let map = render(engine, &spec)?;
        Ok((tiny_skia::Pixmap::decode_png(&map.png).expect("a PNG"), map.view))
    }

    fn rgb_at(pm: &tiny_skia::Pixmap, view: &View, lon: f64, lat: f64) -> (u8, u8, u8) {
        let (x, y) = view.px(vigie_layers::tile::lonlat_to_mercator(lon, lat));
        let p = pm.pixel(x as u32, y as u32).expect("on the image").demultiply();
        (p.red(), p.green(), p.blue())
    }

    #[test]
    fn the_whole_log_is_drawn_in_each_entrys_theme_colour() {
        let e = engine(&[(2.05, 48.05, "health"), (2.15, 48.06, "cyber")]);
        let (pm, view) = draw(&e, &["entries"], &Filter::default(), MAX_FEATURES).unwrap();
        assert_eq!((pm.width(), pm.height()), (600, 400));
        assert_eq!(rgb_at(&pm, &view, 2.05, 48.05), (0xd6, 0x28, 0x39), "health");
        assert_eq!(rgb_at(&pm, &view, 2.15, 48.06), (0x2e, 0x7d, 0x32), "cyber");
        assert_eq!(rgb_at(&pm, &view, 2.10, 48.02), (style::BACKGROUND.0, style::BACKGROUND.1, style::BACKGROUND.2));
        // A theme layer keeps its own entries only.
        let (pm, view) = draw(&e, &["health"], &Filter::default(), MAX_FEATURES).unwrap();
        assert_eq!(rgb_at(&pm, &view, 2.15, 48.06), (style::BACKGROUND.0, style::BACKGROUND.1, style::BACKGROUND.2));
    }

    #[test]
    fn a_territory_hides_what_lies_outside_it() {
        let e = engine(&[(2.05, 48.05, "health"), (2.15, 48.06, "health")]);
        let west = polygon![(x: 2.0, y: 48.0), (x: 2.1, y: 48.0), (x: 2.1, y: 48.1), (x: 2.0, y: 48.1)];
        let scope = Arc::new(Scope::new(MultiPolygon(vec![west])).expect("valid territory"));
        let filter = Filter::default().with_scope(Some(scope));
        let (pm, view) = draw(&e, &["health", "entries-h3"], &filter, MAX_FEATURES).unwrap();
        assert_eq!(rgb_at(&pm, &view, 2.05, 48.05), (0xd6, 0x28, 0x39));
        let background = (style::BACKGROUND.0, style::BACKGROUND.1, style::BACKGROUND.2);
        assert_eq!(rgb_at(&pm, &view, 2.15, 48.06), background, "neither the entry nor its hexagon");
        // Without the territory, its hexagon and the entry are drawn.
        let (pm, view) = draw(&e, &["entries-h3"], &Filter::default(), MAX_FEATURES).unwrap();
        assert_ne!(rgb_at(&pm, &view, 2.15, 48.06), background, "its hexagon");
    }

    #[test]
    fn too_many_features_is_an_error_naming_the_limit() {
        let e = engine(&[(2.05, 48.05, "health"), (2.15, 48.06, "health"), (2.1, 48.07, "health")]);
        assert!(draw(&e, &["health"], &Filter::default(), 3).is_ok());
        let err = draw(&e, &["health"], &Filter::default(), 2).unwrap_err();
        assert!(matches!(err, DrawError::TooManyFeatures { limit: 2 }));
        assert!(err.to_string().contains("more than 2 features"));
    }
}
