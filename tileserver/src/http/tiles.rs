//! `GET /tiles/{layers}/{z}/{x}/{y}[.mvt|.pbf]`: one MVT layer per requested layer id.

use super::error::ApiError;
use super::filters::parse_filter;
use super::{AppState, Shared};
use crate::activity::OpKind;
use crate::config::MAX_LAYERS_PER_TILE;
use crate::tiles::{self, CachedTile, LayerSet, TileFormat, TileKey, TileSource};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Instant;
use vigie_layers::TileCoord;

/// Media type of Mapbox Vector Tiles.
pub const MVT_CONTENT_TYPE: &str = "application/vnd.mapbox-vector-tile";
/// Tiles change whenever the log does: clients revalidate every time (cheap with ETags).
const CACHE_CONTROL: &str = "no-cache";

/// Resolves a comma-separated layer list to its sources: in request order, duplicates
/// dropped.
///
/// # Errors
/// 400 for an empty or too long list, 404 naming the first unknown id.
pub fn resolve_layers(state: &Shared, list: &str) -> Result<Vec<Arc<dyn TileSource>>, ApiError> {
    let mut sources: Vec<Arc<dyn TileSource>> = Vec::new();
    for id in list.split(',') {
        if id.is_empty() {
            return Err(ApiError::bad_request(
                "Invalid layer list",
                format!("'{list}' has an empty layer id; separate ids with single commas"),
            ));
        }
        let source = state
            .tiles
            .get(id)
            .ok_or_else(|| ApiError::NotFound(format!("unknown layer '{id}'; GET /catalog lists the layers")))?;
        if !sources.iter().any(|s| s.id() == id) {
            sources.push(source.clone());
        }
        if sources.len() > 1
            && let Some(raster) = sources.iter().find(|s| !s.format().is_vector())
        {
            return Err(ApiError::bad_request(
                "Raster layer in a composite tile",
                format!(
                    "layer '{}' is a raster archive ({} images): ask for its tiles alone, \
                     /tiles/{}/{{z}}/{{x}}/{{y}}.{}",
                    raster.id(),
                    raster.format().extension(),
                    raster.id(),
                    raster.format().extension()
                ),
            ));
        }
        if sources.len() > MAX_LAYERS_PER_TILE {
            return Err(ApiError::bad_request(
                "Too many layers",
                format!("at most {MAX_LAYERS_PER_TILE} layers per tile"),
            ));
        }
    }
    Ok(sources)
}

/// Tile URL endings and the encoding each names.
const SUFFIXES: [(&str, TileFormat); 7] = [
    (".mvt", TileFormat::Mvt),
    (".pbf", TileFormat::Mvt),
    (".png", TileFormat::Png),
    (".jpg", TileFormat::Jpeg),
    (".jpeg", TileFormat::Jpeg),
    (".webp", TileFormat::Webp),
    (".avif", TileFormat::Avif),
];

/// A tile address and the encoding its ending names (`None`: no ending).
fn parse_coord(z: &str, x: &str, y: &str) -> Result<(TileCoord, Option<TileFormat>), ApiError> {
    let (y, format) = SUFFIXES.iter().find_map(|(s, f)| y.strip_suffix(s).map(|y| (y, Some(*f)))).unwrap_or((y, None));
    let num = |name: &str, v: &str| {
        v.parse::<u64>().map_err(|_| {
            ApiError::bad_request(
                "Invalid tile address",
                format!("{name} = '{v}' is not a whole number (tile URLs are /tiles/{{layers}}/{{z}}/{{x}}/{{y}}, optionally ending in .mvt or .pbf, or a raster archive's .png, .jpg, .webp or .avif)"),
            )
        })
    };
    let (zn, xn, yn) = (num("z", z)?, num("x", x)?, num("y", y)?);
    let coord = TileCoord::new(u32::try_from(zn).unwrap_or(u32::MAX), xn, yn)
        .map_err(|e| ApiError::bad_request("Invalid tile address", e.to_string()))?;
    Ok((coord, format))
}

/// Response header naming the layers of a tile thinned into clusters (comma-separated).
pub const THINNED_HEADER: &str = "vigie-thinned";

/// The tile handler.
///
/// # Errors
/// 400 for a bad address or filter, 404 for an unknown layer, 413 for a raw tile
/// (`budget=off`) over `raw_tile_max_bytes`, 503 with Retry-After when every render turn
/// stayed taken for `render_wait_ms`.
pub async fn tile(
    State(state): State<AppState>,
    access: crate::identity::Access,
    Path((layers, z, x, y)): Path<(String, String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (coord, asked) = parse_coord(&z, &x, &y)?;
    let resolved = resolve_layers(&state, &layers)?;
    let served = resolved.first().map_or(TileFormat::Mvt, |s| s.format());
    if asked.is_some_and(|f| f != served) {
        return Err(ApiError::bad_request(
            "Invalid tile address",
            format!(
                "'{y}': these layers serve {} tiles: end the URL in .{} (or nothing)",
                served.extension(),
                served.extension()
            ),
        ));
    }
    // The asker's territory narrows the scoped layers, and is part of the cache key.
    let filter = parse_filter(query.as_deref(), state.engine.vocabulary(), crate::now_ms())?
        .with_scope(super::territory::scope_of(&state, &access)?);
    let key = TileKey::new(LayerSet::new(resolved.iter().map(|s| s.id())), &filter, coord);
    let running = state.activity.clone();
    let gate = state.renders.clone();
    let (tile, outcome) = state
        .cache
        .get_or_render(key.clone(), move || async move {
            // Cache hits and joined renders take no turn: only a render does.
            let _turn = gate.turn().await?;
            let _running = running.start(OpKind::Render, format!("tile {}/{coord}", key.layers));
            tiles::render(&resolved, coord, &filter, gate.budget()).await
        })
        .await?;
    let resp = tile_response(&tile, &headers);
    state.metrics.tile(started.elapsed().as_secs_f64(), outcome);
    if outcome == tiles::Outcome::Rendered {
        state.metrics.thinned(&tile.thinned);
    }
    Ok(resp)
}

/// Builds the answer for a tile: 204 when empty, 304 when the client's ETag matches, else the
/// bytes (gzip when accepted).
pub fn tile_response(tile: &CachedTile, headers: &HeaderMap) -> Response {
    let mut resp = if tile.raw.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        // Images are compressed already.
        let gzip = tile.format.is_vector() && accepts_gzip(headers);
        let (body, etag) = if gzip { tile.gzip() } else { (&tile.raw, tile.etag.as_str()) };
        if if_none_match(headers, etag) {
            let mut r = StatusCode::NOT_MODIFIED.into_response();
            set(&mut r, header::ETAG, etag);
            r
        } else {
            let mut r = Response::new(Body::from(body.clone()));
            set(&mut r, header::CONTENT_TYPE, tile.format.content_type());
            set(&mut r, header::ETAG, etag);
            if gzip {
                set(&mut r, header::CONTENT_ENCODING, "gzip");
            }
            r
        }
    };
    if !tile.thinned.is_empty() {
        // Which layers hold clusters rather than features (ask with budget=off for those).
        set(&mut resp, HeaderName::from_static(THINNED_HEADER), &tile.thinned.join(","));
    }
    set(&mut resp, header::VARY, "Accept-Encoding");
    set(&mut resp, header::CACHE_CONTROL, CACHE_CONTROL);
    resp
}

fn set(resp: &mut Response, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// Whether `Accept-Encoding` accepts gzip (`gzip` or `*` with a non-zero quality).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let q_zero =
                parts.any(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()).is_some_and(|q| q <= 0.0));
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        },
    )
}

/// Whether `If-None-Match` lists `etag` (weak comparison, as RFC 9110 asks for this header).
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |tag| {
            let tag = tag.trim();
            tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag
        },
    )
}

/// The path parameter listing layers (`suffix`: the TileJSON form's optional `.json`).
pub(super) fn layers_param(op: super::openapi::Op, suffix: bool) -> super::openapi::Op {
    let pattern = if suffix { r"^[^,/]+(,[^,/]+)*(\.json)?$" } else { r"^[^,/]+(,[^,/]+)*$" };
    let examples = if suffix {
        serde_json::json!(["entries", "entries,venues.json"])
    } else {
        serde_json::json!(["entries", "entries,venues"])
    };
    op.path(
        "layers",
        serde_json::json!({"type": "string", "pattern": pattern, "examples": examples}),
        "Comma-separated layer ids (`GET /catalog` lists them; at most 64; a raster archive alone)",
    )
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, Section, schema as s};
    use serde_json::json;
    let etag = |op: Op, status: u16| {
        op.answer_header(
            status,
            "ETag",
            s::pattern("^\"[^\"]+\"$"),
            "The tile's version (of its gzip form when gzipped)",
        )
    };
    let cache = |op: Op, status: u16| {
        op.answer_header(
            status,
            "Cache-Control",
            s::string(),
            "`no-cache`: revalidate every time (cheap with the ETag)",
        )
    };
    let thinned = |op: Op, status: u16| {
        op.answer_header(
            status,
            THINNED_HEADER,
            s::string(),
            "The layers of the tile thinned into clusters (comma-separated; ask with `budget=off` for every feature)",
        )
    };
    let mut op = Op::new("tiles", "A tile")
        .about(
            "One tile: an MVT layer per requested layer (or a raster archive's image), with the filters. Features \
             of layers over their budget are thinned into clusters (`vigie-thinned` names them) unless \
             `budget=off`. 204 when the tile holds nothing; gzip when `Accept-Encoding` takes it; 304 when \
             `If-None-Match` holds the ETag. A member with a territory gets the scoped layers' features inside it. \
             413 for a raw tile (`budget=off`) over `raw_tile_max_bytes`; 503 with `Retry-After` when every render \
             turn stayed taken for `render_wait_ms`.",
        )
        .with(|op| layers_param(op, false))
        .path("z", json!({"type": "integer", "minimum": 0, "maximum": 24, "examples": [12]}), "Zoom, 0 to 24")
        .path("x", json!({"type": "integer", "minimum": 0, "examples": [2074]}), "Column, below 2^z")
        .path(
            "y",
            json!({"type": "string", "pattern": r"^[0-9]+(\.(mvt|pbf|png|jpg|jpeg|webp|avif))?$", "examples": ["1409", "1409.mvt"]}),
            "Row, below 2^z, optionally ending in the layers' format: `.mvt` or `.pbf` (vector), a raster archive's \
             `.png`, `.jpg`, `.webp` or `.avif`",
        )
        .with(super::filters::documented)
        .header("If-None-Match", s::string(), "The ETag held: 304 when it matches")
        .answers(200, "The tile", MVT_CONTENT_TYPE, s::binary());
    for raster in ["image/png", "image/jpeg", "image/webp", "image/avif"] {
        op = op.answers(200, "The tile", raster, s::binary());
    }
    let op = op
        .answer_header(
            200,
            "Content-Encoding",
            s::one_of(&["gzip"]),
            "`gzip` when the client accepts it (vector tiles)",
        )
        .empty(204, "No feature here")
        .empty(304, "Not modified: the ETag held matches");
    let op = etag(cache(thinned(op, 200), 200), 200);
    let op = etag(cache(thinned(op, 304), 304), 304);
    let op = cache(thinned(op, 204), 204);
    api.get("/tiles/{layers}/{z}/{x}/{y}", tile, op.fails(&[413]).in_section(Section::Bare));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "gzip, deflate, br")])));
        assert!(accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "br;q=1.0, GZIP;q=0.5")])));
        assert!(!accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "gzip;q=0, br")])));
        assert!(!accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "identity")])));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn etag_matching() {
        assert!(if_none_match(&headers(&[(header::IF_NONE_MATCH, "\"a\", W/\"b\"")]), "\"b\""));
        assert!(if_none_match(&headers(&[(header::IF_NONE_MATCH, "*")]), "\"x\""));
        assert!(!if_none_match(&headers(&[(header::IF_NONE_MATCH, "\"a\"")]), "\"b\""));
    }

    #[test]
    fn coordinates_and_suffixes() {
        assert_eq!(parse_coord("3", "1", "2.mvt").unwrap().1, Some(TileFormat::Mvt));
        assert_eq!(parse_coord("3", "1", "2.pbf").unwrap().1, Some(TileFormat::Mvt));
        assert_eq!(parse_coord("3", "1", "2").unwrap().1, None);
        assert_eq!(parse_coord("3", "1", "2.jpeg").unwrap().1, Some(TileFormat::Jpeg));
        assert!(parse_coord("3", "1", "2.gif").is_err());
        assert!(parse_coord("25", "0", "0").unwrap_err().to_string().contains("24"));
        assert!(parse_coord("99999999999", "0", "0").is_err());
        assert!(parse_coord("3", "8", "0").unwrap_err().to_string().contains("off the grid"));
        assert!(parse_coord("-1", "0", "0").is_err());
    }
}
