//! `GET /api/staticmap`: a PNG of a region drawn on the server from the catalog's layers, with
//! a legend, a scale bar, a north arrow and the attribution (issue 16).
//!
//! | parameter | meaning |
//! |---|---|
//! | region | exactly one of `bbox`, `area`, `venue` (+ `perimeter`), `circle`, `geometry`, `h3`, as region queries take them (`buffer_m` too): the image shows its box with a 5 % margin, the shorter side extended to the image's shape |
//! | `layers` | comma-separated layer ids (default: the catalog's layers visible when the web view opens) |
//! | `from`, `to`, `last`, `tags`, `severity`, `qualification` | the tiles' filters |
//! | `width`, `height` | pixels, 64 to 2048 (default 1024 × 768) |
//! | `lang` | `fr` (default) or `en`: the legend's titles |
//!
//! The features are those the tiles of the same layers and filters show the asker (its
//! territory narrows the scoped layers). The answer carries `X-Map-Bbox`: the WGS84 box of the
//! image's edges (west,south,east,north), to place it or find a point on it.

use super::error::ApiError;
use super::filters::parse_filter;
use super::tiles::{if_none_match, resolve_layers};
use super::{AppState, query};
use crate::tiles::Features;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use vigie_layers::Layer;
use vigie_staticmap::{DrawError, Lang, MAX_FEATURES, MapSpec, Size};

/// Media type of the answer.
pub const PNG: &str = "image/png";
/// The map changes with the log: shared caches keep none, the asker's keeps it a minute.
const CACHE_CONTROL: &str = "private, max-age=60";
/// Header giving the image's WGS84 box.
pub const BBOX_HEADER: &str = "x-map-bbox";

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("Invalid static map", detail)
}

fn side(p: &Map<String, Value>, name: &str, default: u32) -> Result<u32, ApiError> {
    match p.get(name).and_then(Value::as_str) {
        None => Ok(default),
        Some(v) => v.trim().parse::<u32>().map_err(|_| {
            bad(format!(
                "{name} = '{}': a whole number of pixels from {} to {}",
                v.chars().take(20).collect::<String>(),
                vigie_staticmap::view::MIN_SIDE_PX,
                vigie_staticmap::view::MAX_SIDE_PX
            ))
        }),
    }
}

/// The engine layers to draw: `layers` resolved as tiles resolve them, or the catalog's
/// layers visible by default. Layers served as tiles only (PostGIS tables) are refused when
/// named and left out of the default.
fn layers(state: &AppState, p: &Map<String, Value>) -> Result<Vec<Arc<Layer>>, ApiError> {
    let explicit = p.get("layers").and_then(Value::as_str);
    let list = match explicit {
        Some(l) => l.to_owned(),
        None => state
            .tiles
            .iter()
            .filter(|s| s.layer().def.visible)
            .map(|s| s.id().to_owned())
            .collect::<Vec<_>>()
            .join(","),
    };
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for source in resolve_layers(state, &list)? {
        match source.features() {
            Features::Indexed(layer) | Features::Aggregate { layer, .. } => out.push(layer),
            Features::TilesOnly if explicit.is_some() => {
                return Err(bad(format!(
                    "layers: '{}' is served as tiles only and cannot be drawn on a static map",
                    source.id()
                )));
            }
            Features::TilesOnly => {}
        }
    }
    Ok(out)
}

/// Draws the map the parameters `p` describe (as `GET /api/staticmap` takes them, string
/// values) for an identity seeing `scope`. Blocking: call from a blocking task.
///
/// # Errors
/// 400 naming the parameter at fault (region, size, layers, filters), 404 for an unknown
/// layer, venue or area, 413 when more than [`MAX_FEATURES`] features would be drawn.
pub fn draw(
    state: &AppState,
    p: &Map<String, Value>,
    scope: Option<Arc<vigie_layers::scope::Scope>>,
) -> Result<vigie_staticmap::StaticMap, ApiError> {
    let size = Size::new(
        side(p, "width", vigie_staticmap::view::DEFAULT_WIDTH_PX)?,
        side(p, "height", vigie_staticmap::view::DEFAULT_HEIGHT_PX)?,
    )
    .map_err(|e| bad(e.to_string()))?;
    let lang = match p.get("lang").and_then(Value::as_str) {
        None | Some("fr") => Lang::Fr,
        Some("en") => Lang::En,
        Some(other) => return Err(bad(format!("lang = '{}': fr or en", other.chars().take(20).collect::<String>()))),
    };
    let region = query::region(state, p)?;
    let bounds = region.bounds().ok_or_else(|| bad("the region is empty"))?;
    let layers = layers(state, p)?;
    // The asker's territory narrows the scoped layers, as on tiles.
    let pairs: Vec<(&str, &str)> = p.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))).collect();
    let q = serde_urlencoded::to_string(pairs).unwrap_or_default();
    let filter = parse_filter(Some(&q), state.engine.vocabulary(), crate::now_ms())?.with_scope(scope);
    let spec = MapSpec { layers: &layers, filter: &filter, bounds, size, lang, max_features: MAX_FEATURES };
    vigie_staticmap::render(&state.engine, &spec).map_err(|e| match e {
        DrawError::TooManyFeatures { .. } => ApiError::TooLarge(e.to_string()),
        other => ApiError::Internal(other.into()),
    })
}

/// The handler.
///
/// # Errors
/// As [`draw`].
pub async fn staticmap(
    State(state): State<AppState>,
    access: crate::identity::Access,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request("Invalid query string", e.to_string()))?;
    let p: Map<String, Value> = pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let scope = super::territory::scope_of(&state, &access)?;
    let worker = state.clone();
    let drawn = tokio::task::spawn_blocking(move || draw(&worker, &p, scope))
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    let etag = format!("\"{}\"", &crate::identity::secret::hex(&Sha256::digest(&drawn.png))[..32]);
    let [w, s, e, n] = drawn.view.lonlat_bbox();
    let mut resp = if if_none_match(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(Body::from(drawn.png));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PNG));
        r
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{w:.7},{s:.7},{e:.7},{n:.7}")) {
        h.insert(BBOX_HEADER, v);
    }
    Ok(resp)
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    use serde_json::json;
    use vigie_staticmap::view::{DEFAULT_HEIGHT_PX, DEFAULT_WIDTH_PX, MAX_SIDE_PX, MIN_SIDE_PX};
    let side =
        |default: u32| json!({"type": "integer", "minimum": MIN_SIDE_PX, "maximum": MAX_SIDE_PX, "default": default});
    let bbox = |op: Op, status: u16| {
        op.answer_header(
            status,
            BBOX_HEADER,
            s::pattern(r"^-?[0-9]+\.[0-9]{7}(,-?[0-9]+\.[0-9]{7}){3}$"),
            "The WGS84 box of the image's edges: west,south,east,north",
        )
    };
    let etag = |op: Op, status: u16| {
        op.answer_header(status, "ETag", s::pattern("^\"[0-9a-f]{32}\"$"), "The image's digest, quoted")
    };
    let cache = |op: Op, status: u16| op.answer_header(status, "Cache-Control", s::string(), "`private, max-age=60`");
    let op = Op::new("maps", "A map as an image")
        .about(
            "A PNG of a region drawn on the server from the catalog's layers, with a legend, a scale bar, a north \
             arrow and the attribution. The region is exactly one of `bbox`, `geometry`, `circle`, `venue` (+ \
             `perimeter`), `area` and `h3`, as region queries take them: the image shows its box with a 5 % margin, \
             the shorter side extended to the image's shape. The features are those the tiles of the same layers \
             and filters show the asker. `X-Map-Bbox` gives the box of the image's edges. 413 when more features \
             than a map holds would be drawn.",
        )
        .with(query::documented_region)
        .query(
            "layers",
            s::pattern(r"^[^,]+(,[^,]+)*$"),
            "Comma-separated layer ids (default: the catalog's layers visible when the web view opens); not layers \
             served as tiles only",
        )
        .query("width", side(DEFAULT_WIDTH_PX), "The image's width, pixels")
        .query("height", side(DEFAULT_HEIGHT_PX), "The image's height, pixels")
        .query("lang", json!({"type": "string", "enum": ["fr", "en"], "default": "fr"}), "The legend's language")
        .with(super::filters::documented_selection)
        .header("If-None-Match", s::string(), "The ETag held: 304 when it matches")
        .answers(200, "The map", PNG, s::binary())
        .empty(304, "Not modified: the ETag held matches");
    let op = bbox(etag(cache(op, 200), 200), 200);
    let op = bbox(etag(cache(op, 304), 304), 304);
    api.get("/api/staticmap", staticmap, op.fails(&[404, 413]));
}
