//! `GET /tiles/{layers}` (also `{layers}.json`): TileJSON 3.0.0 for one or several layers.

use super::error::ApiError;
use super::filters::{parse_filter, to_query};
use super::tiles::resolve_layers;
use super::{AppState, Shared, base_url};
use crate::tiles::TileSource;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use geo::{Coord, Rect};
use std::collections::BTreeMap;
use std::sync::Arc;
use tilejson::{Bounds, Center, TileJSON, VectorLayer};
use vigie_layers::Layer;
use vigie_layers::feature::FieldType;
use vigie_layers::tile::{MAX_LATITUDE, lonlat_to_mercator, mercator_to_lonlat};

/// Zoom of the TileJSON centre when the layers allow it (a city-wide view).
const CENTER_ZOOM: u8 = 10;

/// TileJSON field type names, as GDAL and the MBTiles convention read them.
pub fn field_type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Integer | FieldType::Number => "Number",
        FieldType::Boolean => "Boolean",
        FieldType::String | FieldType::Datetime => "String",
    }
}

/// The TileJSON document for a list of resolved sources.
/// With a territory, a scoped layer's extent is the territory's box (the extent of its
/// features would tell where the features outside lie).
pub fn document(
    state: &Shared,
    sources: &[Arc<dyn TileSource>],
    base: &str,
    query: &str,
    scope: Option<&vigie_layers::scope::Scope>,
) -> TileJSON {
    let ids: Vec<&str> = sources.iter().map(|s| s.id()).collect();
    let layers: Vec<&Arc<Layer>> = sources.iter().map(|s| s.layer()).collect();
    let format = sources.first().map_or(crate::tiles::TileFormat::Mvt, |s| s.format());
    let mut url = format!("{base}/tiles/{}/{{z}}/{{x}}/{{y}}.{}", ids.join(","), format.extension());
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    let vector_layers = sources
        .iter()
        .flat_map(|source| {
            // An archive's layers are the ones it holds, as its metadata lists them.
            if let Some(archive) = source.archive() {
                return archive.vector_layers;
            }
            let (l, schema) = (source.layer(), source.schema());
            // A thinned tile's clusters carry their own properties instead.
            let clusters = source.cluster_schema();
            let fields: BTreeMap<String, String> = schema
                .fields
                .iter()
                .chain(clusters.iter().flat_map(|c| &c.fields))
                .map(|f| (f.name.clone(), field_type_name(f.kind).to_owned()))
                .collect();
            let mut v = VectorLayer::new(l.def.id.clone(), fields);
            v.description = Some(format!("{} — {}", l.def.title, l.def.description).trim_end_matches(" — ").to_owned());
            v.minzoom = Some(l.def.minzoom);
            v.maxzoom = Some(l.def.maxzoom);
            vec![v]
        })
        .collect();
    let territory = scope.map(|t| {
        let (b, clamp) = (t.bounds(), |y: f64| y.clamp(-MAX_LATITUDE, MAX_LATITUDE));
        Rect::new(lonlat_to_mercator(b.min().x, clamp(b.min().y)), lonlat_to_mercator(b.max().x, clamp(b.max().y)))
    });
    let extent_of = |s: &Arc<dyn TileSource>| match territory {
        Some(t) if s.layer().scoped() => Some(t),
        _ => s.extent(),
    };
    let extent = sources.iter().filter_map(extent_of).reduce(|a, b| {
        Rect::new(
            Coord { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
            Coord { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
        )
    });
    let bounds = extent.map_or(Bounds::new(-180.0, -MAX_LATITUDE, 180.0, MAX_LATITUDE), |r| {
        let (sw, ne) = (mercator_to_lonlat(r.min()), mercator_to_lonlat(r.max()));
        Bounds::new(sw.x, sw.y, ne.x, ne.y)
    });
    // An archive's tiles exist within its own zoom range too.
    let zooms = |s: &Arc<dyn TileSource>| {
        let d = &s.layer().def;
        s.archive().map_or((d.minzoom, d.maxzoom), |a| (d.minzoom.max(a.minzoom), d.maxzoom.min(a.maxzoom)))
    };
    let minzoom = sources.iter().map(|s| zooms(s).0).min().unwrap_or(0);
    let maxzoom = sources.iter().map(|s| zooms(s).1).max().unwrap_or(0);
    let catalog = state.engine.catalog();
    // The archives' own attributions (a basemap's © OpenStreetMap contributors) follow the
    // catalog's.
    let attribution = std::iter::once(catalog.attribution.clone())
        .chain(sources.iter().filter_map(|s| s.archive().and_then(|a| a.attribution)))
        .collect::<Vec<_>>()
        .join(" · ");
    let mut doc = tilejson::tilejson! {
        tilejson: "3.0.0".to_owned(),
        tiles: vec![url],
        vector_layers: vector_layers,
        attribution: attribution,
        bounds: bounds,
        center: Center::new(
            f64::midpoint(bounds.left, bounds.right),
            f64::midpoint(bounds.bottom, bounds.top),
            CENTER_ZOOM.clamp(minzoom, maxzoom.max(minzoom)),
        ),
        minzoom: minzoom,
        maxzoom: maxzoom,
        name: layers.iter().map(|l| l.def.title.as_str()).collect::<Vec<_>>().join(", "),
        description: format!("{} — {}", catalog.name, ids.join(", ")),
        scheme: "xyz".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let format = if format.is_vector() { "pbf" } else { format.extension() };
    doc.other.insert("format".to_owned(), serde_json::Value::from(format));
    doc
}

/// The TileJSON handler. The tile URL carries the request's filters in canonical form.
///
/// # Errors
/// 404 for an unknown layer, 400 for a bad filter or Host header.
pub async fn tilejson(
    State(state): State<AppState>,
    access: crate::identity::Access,
    Path(layers): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<TileJSON>, ApiError> {
    let list = layers.strip_suffix(".json").unwrap_or(&layers);
    let resolved = resolve_layers(&state, list)?;
    let filter = parse_filter(query.as_deref(), state.engine.vocabulary(), crate::now_ms())?;
    let base = base_url(&state, &headers)?;
    let scope = super::territory::scope_of(&state, &access)?;
    Ok(Json(document(&state, &resolved, &base, &to_query(&filter), scope.as_deref())))
}

/// The schema of a TileJSON 3.0.0 document as [`document`] writes it.
fn schema() -> serde_json::Value {
    use super::openapi::schema as s;
    use serde_json::json;
    let zoom = json!({"type": "integer", "minimum": 0});
    let vector_layer = s::object(
        &[
            ("id", s::string()),
            (
                "fields",
                json!({"type": "object", "additionalProperties": {"type": "string"}, "description": "Property name → `Number`, `Boolean` or `String`"}),
            ),
            ("description", s::string()),
            ("minzoom", zoom.clone()),
            ("maxzoom", zoom.clone()),
        ],
        &["id", "fields"],
    );
    s::object(
        &[
            ("tilejson", json!({"type": "string", "const": "3.0.0"})),
            (
                "tiles",
                json!({"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "The tile URL template, with the request's filters in canonical form"}),
            ),
            ("vector_layers", s::array(vector_layer)),
            ("attribution", s::string()),
            (
                "bounds",
                json!({"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4, "description": "west, south, east, north (a territory's box for its scoped layers)"}),
            ),
            (
                "center",
                json!({"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3, "description": "longitude, latitude, zoom"}),
            ),
            ("minzoom", zoom.clone()),
            ("maxzoom", zoom),
            ("name", s::string()),
            ("description", s::string()),
            ("scheme", json!({"type": "string", "const": "xyz"})),
            ("version", s::string()),
            ("format", json!({"type": "string", "enum": ["pbf", "png", "jpg", "webp", "avif"]})),
        ],
        &[
            "tilejson",
            "tiles",
            "vector_layers",
            "attribution",
            "bounds",
            "center",
            "minzoom",
            "maxzoom",
            "name",
            "description",
            "scheme",
            "version",
            "format",
        ],
    )
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    api.component("TileJSON", schema());
    api.get(
        "/tiles/{layers}",
        tilejson,
        Op::new("tiles", "TileJSON of layers")
            .about(
                "TileJSON 3.0.0 for one layer or several (the same URL may end in `.json`): the tile URL template \
                 carrying the request's filters in canonical form, each layer's fields and zooms, the bounds (a \
                 territory's box for the scoped layers of a member with one), the attribution.",
            )
            .with(|op| super::tiles::layers_param(op, true))
            .with(super::filters::documented)
            .json(200, "The TileJSON document", s::named("TileJSON")),
    );
}
