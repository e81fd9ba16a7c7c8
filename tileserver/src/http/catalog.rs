//! `GET /catalog`: every layer with its theme, geometry types, zoom range, visibility and
//! fields, plus the themes with their colours.

use super::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use vigie_layers::catalog::{LayerKind, Theme};
use vigie_layers::feature::Field;

/// One layer as the catalog lists it.
#[derive(Debug, Serialize)]
pub struct CatalogLayer {
    id: String,
    title: String,
    title_en: String,
    description: String,
    theme: String,
    kind: LayerKind,
    geometry_types: &'static [&'static str],
    minzoom: u8,
    maxzoom: u8,
    visible: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    features: usize,
    fields: Vec<Field>,
    tiles: String,
    tilejson: String,
}

/// The catalog document.
#[derive(Debug, Serialize)]
pub struct CatalogDoc {
    name: String,
    attribution: String,
    themes: Vec<Theme>,
    layers: Vec<CatalogLayer>,
}

/// Geometry types a layer kind carries.
pub fn geometry_types(kind: LayerKind) -> &'static [&'static str] {
    match kind {
        LayerKind::Venues => &["Point"],
        LayerKind::Perimeters | LayerKind::H3 => &["Polygon"],
        LayerKind::Entries => &["Point", "LineString", "Polygon"],
        LayerKind::Dataset | LayerKind::Table => {
            &["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"]
        }
    }
}

/// The catalog handler.
pub async fn catalog(State(state): State<AppState>) -> Json<CatalogDoc> {
    let engine = &state.engine;
    let c = engine.catalog();
    let layers = state
        .tiles
        .iter()
        .map(|source| {
            let d = &source.layer().def;
            CatalogLayer {
                id: d.id.clone(),
                title: d.title.clone(),
                title_en: d.title_en.clone(),
                description: d.description.clone(),
                theme: d.theme.clone(),
                kind: d.kind,
                geometry_types: geometry_types(d.kind),
                minzoom: d.minzoom,
                maxzoom: d.maxzoom,
                visible: d.visible,
                tags: d.tags.clone(),
                features: source.feature_count(),
                fields: source.schema().fields.clone(),
                tiles: format!("{}/tiles/{}/{{z}}/{{x}}/{{y}}.mvt", state.url_prefix, d.id),
                tilejson: format!("{}/tiles/{}", state.url_prefix, d.id),
            }
        })
        .collect();
    Json(CatalogDoc { name: c.name.clone(), attribution: c.attribution.clone(), themes: c.themes.clone(), layers })
}
