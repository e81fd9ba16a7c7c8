//! What each layer draws in the view, read from the engine with the tiles' selection: the
//! layer's own selection, the request's filter and the asker's territory on the scoped layers.
//!
//! Points become [`Dot`]s (a symbol id and a pixel), one per symbol and 2 × 2 pixels (a
//! million entries over a city land on far fewer); other geometries are kept as features and
//! drawn as paths once the collection's lock is let go.

use crate::style::{self, Palette, Rgb};
use crate::view::View;
use geo::{Coord, Geometry, Rect};
use std::collections::HashMap;
use std::sync::Arc;
use vigie_layers::index::Item;
use vigie_layers::tile::{grow, lonlat_to_mercator, mercator_to_lonlat};
use vigie_layers::{Engine, Feature, Filter, Layer, LayerKind};

/// How a point is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Symbol {
    /// Fill colour.
    pub colour: Rgb,
    /// Radius in quarter pixels.
    pub radius_q: u16,
    /// Width of a white ring around it, in quarter pixels (venues).
    pub ring_q: u16,
}

/// One point symbol at one pixel.
#[derive(Debug, Clone, Copy)]
pub struct Dot {
    /// Pixel column (may be a little off the image: the symbol overlaps its edge).
    pub x: i16,
    /// Pixel row.
    pub y: i16,
    /// Index in [`Marks::symbols`].
    pub symbol: u16,
}

/// A feature drawn as a path (line or polygon).
#[derive(Debug)]
pub struct Shape {
    /// The feature (its Web Mercator geometry is drawn).
    pub feature: Arc<Feature>,
    /// Stroke and fill colour.
    pub colour: Rgb,
    /// Stroke width, pixels.
    pub width_px: f32,
    /// Fill opacity of polygons.
    pub fill: f32,
    /// Stroke opacity.
    pub stroke: f32,
}

/// Why collecting stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooMany;

/// Everything collected so far.
#[derive(Debug, Default)]
pub struct Marks {
    /// Point symbols, by id.
    pub symbols: Vec<Symbol>,
    symbol_ids: HashMap<Symbol, u16>,
    /// Dots by drawing order (layer rank × 8 + severity): lower first.
    pub dots: Vec<Vec<Dot>>,
    /// For each symbol, the 2 × 2 pixel cells already holding it (a bit per cell).
    seen: Vec<Vec<u64>>,
    /// Features drawn (each layer counts its own).
    pub features: usize,
    /// Theme colours of entries drawn by layers without a theme of their own, in first-seen
    /// order (the legend lists them).
    pub entry_themes: Vec<String>,
}

const ORDERS: usize = 5 * 8;
/// Side of the cells in which one dot per symbol is stamped, pixels.
const CELL_PX: usize = 2;

impl Marks {
    fn symbol(&mut self, s: Symbol) -> u16 {
        if let Some(id) = self.symbol_ids.get(&s) {
            return *id;
        }
        let id = self.symbols.len() as u16;
        self.symbols.push(s);
        self.symbol_ids.insert(s, id);
        id
    }

    fn dot(&mut self, view: &View, at: Coord<f64>, symbol: u16, order: usize) {
        let (x, y) = view.px(at);
        let (x, y) = (x.floor(), y.floor());
        let (w, h) = (view.size.width_px(), view.size.height_px());
        if !(-64.0..=(w as f32 + 64.0)).contains(&x) || !(-64.0..=(h as f32 + 64.0)).contains(&y) {
            return;
        }
        let (x, y) = (x as i32, y as i32);
        if x >= 0 && y >= 0 && (x as u32) < w && (y as u32) < h {
            // One symbol per 2 × 2 pixels: the same symbol again less than two pixels away
            // changes a sliver of its edge at most (symbols are 4 px wide and more).
            let seen = &mut self.seen;
            if seen.len() <= usize::from(symbol) {
                seen.resize_with(usize::from(symbol) + 1, Vec::new);
            }
            let bits = &mut seen[usize::from(symbol)];
            let cells_w = (w as usize).div_ceil(CELL_PX);
            if bits.is_empty() {
                bits.resize((cells_w * (h as usize).div_ceil(CELL_PX)).div_ceil(64), 0);
            }
            let i = y as usize / CELL_PX * cells_w + x as usize / CELL_PX;
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            if bits[word] & bit != 0 {
                return;
            }
            bits[word] |= bit;
        }
        if self.dots.is_empty() {
            self.dots.resize_with(ORDERS, Vec::new);
        }
        self.dots[order.min(ORDERS - 1)].push(Dot { x: x as i16, y: y as i16, symbol });
    }
}

/// The WGS84 box of a Web Mercator rectangle.
fn lonlat_rect(r: Rect<f64>) -> Rect<f64> {
    Rect::new(mercator_to_lonlat(r.min()), mercator_to_lonlat(r.max()))
}

fn quarter(px: f64) -> u16 {
    (px * 4.0).round().clamp(1.0, 400.0) as u16
}

/// How one layer of a group draws, worked out once.
struct Plan<'a> {
    layer: &'a Layer,
    scope: Option<&'a vigie_layers::scope::Scope>,
    colour: Rgb,
    rank: usize,
    /// An entry layer with no theme of its own (the whole log) colours each entry by the first
    /// of its themes in catalog order.
    per_entry: bool,
}

/// Collects what `group` (layers over one collection, no H3 layer) draws in `view`: the
/// features of the collection whose envelope meets the view (grown so symbols across the edge
/// show), selected for each layer as its tiles select them, in one pass over the index. Returns
/// the shapes (lines, polygons) of each layer of the group, in order.
///
/// # Errors
/// [`TooMany`] once more than `limit` features in all were collected.
pub fn layers(
    engine: &Engine,
    group: &[&Layer],
    filter: &Filter,
    view: &View,
    palette: &Palette,
    marks: &mut Marks,
    limit: usize,
) -> Result<Vec<Vec<Shape>>, TooMany> {
    let Some(first) = group.first() else { return Ok(Vec::new()) };
    let zoom = view.zoom();
    let rect = grow(view.mercator_rect(), 32.0 * view.m_per_px);
    let mut shapes: Vec<Vec<Shape>> = group.iter().map(|_| Vec::new()).collect();
    let mut over = false;
    engine.with_collection(&first.collection, |c| {
        // The log's themes by bit, with their colours.
        let themes: Vec<(String, Rgb)> = engine
            .vocabulary()
            .ids()
            .iter()
            .map(|id| (id.clone(), palette.theme(id).unwrap_or(style::FALLBACK)))
            .collect();
        let plans: Vec<Plan<'_>> = group
            .iter()
            .map(|layer| Plan {
                layer,
                // As a tile: nothing to test when the view lies inside the territory.
                scope: layer.scope(filter).filter(|s| !s.covers(lonlat_rect(rect))),
                colour: palette.layer(layer),
                rank: usize::from(style::rank(layer.def.kind)),
                per_entry: layer.def.kind == LayerKind::Entries && layer.def.tags.is_empty(),
            })
            .collect();
        // The filter does not depend on the layer: read once per feature.
        let passes = |item: &Item| {
            let (b, f) = (item.brief(), &item.feature);
            filter.matches_facts(b.facts()).unwrap_or_else(|| filter.matches(&f.attrs))
        };
        c.for_each_item(rect, |found| {
            let item = found.item();
            if over || !passes(item) {
                return;
            }
            let b = item.brief();
            for (k, plan) in plans.iter().enumerate() {
                let layer = plan.layer;
                if !(layer.selects_facts(b.facts()).unwrap_or_else(|| layer.selects(&item.feature))
                    && plan.scope.is_none_or(|s| s.admits_item(item)))
                {
                    continue;
                }
                marks.features += 1;
                if marks.features > limit {
                    over = true;
                    return;
                }
                let severity = b.facts().severity().unwrap_or(0);
                let mut colour = plan.colour;
                // The first of its themes in catalog order, from the brief (no visit to the feature).
                let first_theme = b.facts().themes().0.trailing_zeros() as usize;
                if plan.per_entry
                    && let Some((id, c)) = themes.get(first_theme)
                {
                    if !marks.entry_themes.iter().any(|t| t == id) {
                        marks.entry_themes.push(id.clone());
                    }
                    colour = *c;
                }
                let symbol = match layer.def.kind {
                    LayerKind::Venues => {
                        Symbol { colour, radius_q: quarter(style::venue_radius_px(zoom)), ring_q: quarter(2.0) }
                    }
                    LayerKind::Entries => {
                        Symbol { colour, radius_q: quarter(style::entry_radius_px(zoom, severity)), ring_q: 0 }
                    }
                    _ => Symbol { colour, radius_q: quarter(4.0), ring_q: quarter(1.0) },
                };
                let order = plan.rank * 8 + usize::from(severity.min(4));
                // Points from the brief (WGS84), without visiting the feature.
                if let Some(p) = b.point() {
                    let id = marks.symbol(symbol);
                    marks.dot(view, lonlat_to_mercator(p.x, p.y), id, order);
                    continue;
                }
                match &*item.feature.geometry() {
                    Geometry::Point(p) => {
                        let id = marks.symbol(symbol);
                        marks.dot(view, p.0, id, order);
                    }
                    Geometry::MultiPoint(mp) => {
                        let id = marks.symbol(symbol);
                        for p in mp {
                            marks.dot(view, p.0, id, order);
                        }
                    }
                    _ => {
                        let (width_px, fill, stroke) = match layer.def.kind {
                            LayerKind::Entries => (style::entry_line_px(zoom, severity) as f32, 0.19, 0.95),
                            LayerKind::Perimeters => (1.5, 0.10, 0.9),
                            _ => (1.2, 0.10, 0.8),
                        };
                        shapes[k].push(Shape { feature: item.feature.clone(), colour, width_px, fill, stroke });
                    }
                }
            }
        });
    });
    if over { Err(TooMany) } else { Ok(shapes) }
}

/// The hexagons an H3 layer draws in `view`: cell and count, at the resolution its tiles show
/// at this zoom. With the default filter and no territory, read from the layer's aggregate;
/// with a territory and the default filter, the features meeting it counted in the cells the
/// aggregate keeps for them; with any other filter, the matching features counted now.
pub fn hexagons(engine: &Engine, layer: &Layer, filter: &Filter, view: &View) -> Vec<(h3o::CellIndex, u32)> {
    let Some((min, max)) = engine.with_aggregate(layer, vigie_layers::h3::Aggregate::resolutions) else {
        return Vec::new();
    };
    let z = view.zoom().floor().clamp(0.0, f64::from(vigie_layers::tile::MAX_ZOOM)) as u8;
    let r = vigie_layers::h3::resolution_for_zoom(z, min, max);
    let view_rect = view.mercator_rect();
    // Grown by a hexagon, so that hexagons across the edge count every feature in them.
    let centre = mercator_to_lonlat(view_rect.center());
    let hexagon_m = vigie_layers::h3::cell_of(centre.x, centre.y, r)
        .map_or(0.0, |c| vigie_layers::h3::cell_rect(c).width().max(vigie_layers::h3::cell_rect(c).height()));
    let lookup = grow(view_rect, hexagon_m);
    let scope = layer.scope(filter);
    if filter.keeps_default() && scope.is_none() {
        return engine
            .with_aggregate(layer, |a| a.cells_in(r, view_rect).into_iter().map(|(c, s)| (c, s.count)).collect())
            .unwrap_or_default();
    }
    let found: Vec<Arc<Feature>> = engine
        .with_collection(&layer.collection, |c| {
            let mut found = Vec::new();
            c.for_each_item(lookup, |entry| {
                let item = entry.item();
                let (b, f) = (item.brief(), &item.feature);
                if layer.selects_facts(b.facts()).unwrap_or_else(|| layer.selects(f))
                    && filter.matches_facts(b.facts()).unwrap_or_else(|| filter.matches(&f.attrs))
                    && scope.is_none_or(|s| s.admits_item(item))
                {
                    found.push(item.feature.clone());
                }
            });
            found
        })
        .unwrap_or_default();
    let stats = if filter.keeps_default() {
        // The aggregate knows each counted feature's cell: no point is located again.
        engine.with_aggregate(layer, |a| a.count_of(r, found.iter().map(|f| f.id))).unwrap_or_default()
    } else {
        vigie_layers::h3::aggregate(r, found.iter().map(AsRef::as_ref))
    };
    let near = |cell: h3o::CellIndex| {
        let c = vigie_layers::h3::cell_rect(cell);
        c.min().x <= view_rect.max().x
            && view_rect.min().x <= c.max().x
            && c.min().y <= view_rect.max().y
            && view_rect.min().y <= c.max().y
    };
    stats.into_iter().filter(|(c, _)| near(*c)).map(|(c, s)| (c, s.count)).collect()
}
