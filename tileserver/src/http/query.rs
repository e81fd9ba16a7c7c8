//! Region queries: `POST /api/query` (and `GET` with the same parameters) and `GET /api/h3`.
//!
//! Region, one of:
//! - `bbox`: west,south,east,north (west > east crosses the antimeridian);
//! - `geometry`: a GeoJSON Polygon or MultiPolygon;
//! - `circle`: lon,lat,radius_m — measured on the WGS84 ellipsoid;
//! - `venue` (+ `perimeter`: silt|red|blue, default blue) — a venue's security perimeter;
//! - `area`: `layer:code` — an area of an imported boundary layer by its key (départements:
//!   `departements:93`);
//! - `h3`: comma-separated H3 cells.
//!
//! `buffer_m` grows a polygon, perimeter or area region. Filters are those of the tiles
//! (`from`, `to`, `last`, `tags`, `severity`, `qualification`), plus `layers` (default
//! `entries`), `limit` (default 100, at most 10,000), `cursor`, `interval` (histogram bucket:
//! 15m, 1h, 6h, 1d, 7d, 30d; at most 2,000 buckets: a finer interval over a longer span is
//! widened and `interval_note` says so) and `format=csv` (or `Accept: text/csv`) for CSV with WKT.

use super::error::ApiError;
use super::filters::parse_filter;
use super::tiles::resolve_layers;
use super::{AppState, Shared};
use crate::tiles::Features;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use geo::{Geometry, MultiPolygon};
use geozero::ToWkt;
use serde_json::{Map, Value, json};
use std::fmt::Write as _;
use std::sync::Arc;
use vigie_layers::engine::{Layer, PERIMETERS};
use vigie_layers::feature::{Schema, format_time_ms};
use vigie_layers::hit::Hit;
use vigie_layers::query::{self, Key};
use vigie_layers::region::{self, Prepared, Region};
use vigie_layers::scope::Scope;
use vigie_layers::{Filter, LayerKind};

/// Default page size.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page.
pub const MAX_LIMIT: usize = 10_000;
/// Most rows of a CSV export.
pub const MAX_CSV_ROWS: usize = 200_000;
/// Largest buffer, metres.
pub const MAX_BUFFER_M: f64 = 50_000.0;

/// A parsed query.
#[derive(Debug)]
pub struct QuerySpec {
    region: Prepared,
    layers: Vec<Arc<Layer>>,
    filter: Filter,
    limit: usize,
    cursor: Option<Key>,
    csv: bool,
    interval_ms: Option<i64>,
}

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("Invalid query", detail)
}

fn numbers(s: &str, n: usize, what: &str) -> Result<Vec<f64>, ApiError> {
    let v: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad(format!("{what}: expected {n} comma-separated numbers, got '{}'", truncate(s))))?;
    if v.len() == n { Ok(v) } else { Err(bad(format!("{what}: expected {n} numbers, got {}", v.len()))) }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

fn polygons(g: Geometry<f64>) -> Result<MultiPolygon<f64>, ApiError> {
    match g {
        Geometry::Polygon(p) => Ok(MultiPolygon(vec![p])),
        Geometry::MultiPolygon(mp) => Ok(mp),
        _ => Err(bad("the region geometry must be a Polygon or a MultiPolygon")),
    }
}

/// Turns the region parameters into a prepared region (one kind of region exactly).
pub(crate) fn region(state: &Shared, p: &Map<String, Value>) -> Result<Prepared, ApiError> {
    let text = |k: &str| {
        p.get(k).and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        })
    };
    let given: Vec<&str> =
        ["bbox", "geometry", "circle", "venue", "area", "h3"].into_iter().filter(|k| p.contains_key(*k)).collect();
    if given.len() != 1 {
        return Err(bad(format!(
            "give exactly one region among bbox, geometry, circle, venue, area, h3 (got {})",
            if given.is_empty() { "none".to_owned() } else { given.join(", ") }
        )));
    }
    let buffer = match p.get("buffer_m") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .filter(|b| b.is_finite() && *b >= 0.0 && *b <= MAX_BUFFER_M)
                .ok_or_else(|| bad(format!("buffer_m must be a number of metres from 0 to {MAX_BUFFER_M}")))?,
        ),
    };
    let with_buffer = |mp: MultiPolygon<f64>| match buffer {
        Some(b) if b > 0.0 => region::buffer_m(&mp, b),
        _ => mp,
    };
    let r = match given[0] {
        "bbox" => {
            let v = match &p["bbox"] {
                Value::Array(a) => {
                    a.iter().map(|x| x.as_f64().ok_or_else(|| bad("bbox: numbers"))).collect::<Result<Vec<_>, _>>()?
                }
                other => numbers(&text("bbox").unwrap_or_else(|| other.to_string()), 4, "bbox")?,
            };
            let b: [f64; 4] = v.try_into().map_err(|_| bad("bbox: expected west,south,east,north"))?;
            Region::BBox(b)
        }
        "geometry" => {
            let g = match &p["geometry"] {
                Value::String(s) => serde_json::from_str(s).map_err(|e| bad(format!("geometry: not GeoJSON: {e}")))?,
                other => other.clone(),
            };
            let gj: geojson::Geometry =
                serde_json::from_value(g).map_err(|e| bad(format!("geometry: not a GeoJSON geometry: {e}")))?;
            let geom = Geometry::<f64>::try_from(gj.value).map_err(|e| bad(format!("geometry: {e}")))?;
            Region::Polygons(with_buffer(polygons(geom)?))
        }
        "circle" => {
            let (lon, lat, radius_m) = if let Value::Object(o) = &p["circle"] {
                let f = |k: &str| o.get(k).and_then(Value::as_f64).ok_or_else(|| bad(format!("circle.{k}: a number")));
                (f("lon")?, f("lat")?, f("radius_m")?)
            } else {
                let v = numbers(&text("circle").unwrap_or_default(), 3, "circle (lon,lat,radius_m)")?;
                (v[0], v[1], v[2])
            };
            Region::Circle { lon, lat, radius_m }
        }
        "venue" => {
            let code = text("venue").unwrap_or_default();
            let kind = text("perimeter").unwrap_or_else(|| "blue".to_owned());
            let layer = state
                .engine
                .layers()
                .iter()
                .find(|l| l.collection == PERIMETERS && l.def.kinds.is_empty())
                .or_else(|| state.engine.layers().iter().find(|l| l.collection == PERIMETERS))
                .ok_or_else(|| bad("the catalog has no perimeters layer"))?;
            let g = state
                .engine
                .find_by_properties(layer, &[("venue", &code), ("kind", &kind)])
                .ok_or_else(|| ApiError::NotFound(format!("no '{kind}' perimeter for venue '{}'", truncate(&code))))?;
            Region::Polygons(with_buffer(polygons(g)?))
        }
        "area" => {
            let (layer_id, code) = if let Value::Object(o) = &p["area"] {
                (
                    o.get("layer").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    o.get("code").map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned)).unwrap_or_default(),
                )
            } else {
                let t = text("area").unwrap_or_default();
                let (l, c) = t.split_once(':').ok_or_else(|| bad("area: expected layer:code, e.g. departements:93"))?;
                (l.to_owned(), c.to_owned())
            };
            let layer = state
                .engine
                .layer(&layer_id)
                .filter(|l| l.def.kind == LayerKind::Dataset)
                .ok_or_else(|| ApiError::NotFound(format!("no dataset layer '{}'", truncate(&layer_id))))?;
            let key = layer.def.key.as_deref().unwrap_or("code");
            let g = state.engine.find_by_properties(layer, &[(key, &code)]).ok_or_else(|| {
                ApiError::NotFound(format!("no area with {key} = '{}' in layer '{layer_id}'", truncate(&code)))
            })?;
            Region::Polygons(with_buffer(polygons(g)?))
        }
        _ => {
            let cells: Vec<String> = match &p["h3"] {
                Value::Array(a) => a.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect(),
                _ => text("h3").unwrap_or_default().split(',').map(|c| c.trim().to_owned()).collect(),
            };
            let cells = cells
                .iter()
                .map(|c| {
                    c.parse::<h3o::CellIndex>()
                        .map_err(|_| bad(format!("h3: '{}' is not an H3 cell index", truncate(c))))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Region::Cells(cells)
        }
    };
    Prepared::new(r).map_err(|e| bad(e.to_string()))
}

/// Filter parameters given as JSON, as a query string for [`parse_filter`].
fn filter_query(p: &Map<String, Value>) -> String {
    let pairs: Vec<(&str, String)> = ["from", "to", "last", "tags", "severity", "qualification"]
        .into_iter()
        .filter_map(|k| {
            let v = p.get(k)?;
            let s = match v {
                Value::Null => return None,
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            Some((k, s))
        })
        .collect();
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// Parses a query from JSON-like parameters.
///
/// # Errors
/// 400 naming the bad parameter, 404 for an unknown layer, venue or area.
pub fn parse(state: &Shared, p: &Map<String, Value>, headers: &HeaderMap) -> Result<QuerySpec, ApiError> {
    let region = region(state, p)?;
    let layers = match p.get("layers") {
        None | Some(Value::Null) => "entries".to_owned(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let layers = resolve_layers(state, &layers)?
        .iter()
        .map(|source| match source.features() {
            Features::Indexed(layer) => Ok(layer),
            Features::Aggregate { source: counted, .. } => Err(bad(format!(
                "'{}' is an H3 layer: query its source layer '{counted}', or use GET /api/h3",
                source.id()
            ))),
            Features::TilesOnly => {
                Err(bad(format!("'{}' is served as tiles only: query its data where it lives", source.id())))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let filter = parse_filter(Some(&filter_query(p)), state.engine.vocabulary(), crate::now_ms())?;
    let num = |k: &str| p.get(k).and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
    let limit = match p.get("limit") {
        None => DEFAULT_LIMIT,
        Some(_) => num("limit")
            .filter(|l| (1..=MAX_LIMIT as u64).contains(l))
            .ok_or_else(|| bad(format!("limit must be 1 to {MAX_LIMIT}")))? as usize,
    };
    let cursor = match p.get("cursor").and_then(Value::as_str) {
        None => None,
        Some(c) => Some(Key::decode(c).ok_or_else(|| bad("cursor: use the `next` value of the previous page"))?),
    };
    let interval_ms = match p.get("interval").and_then(Value::as_str) {
        None => None,
        Some(i) => Some(query::interval_ms(i).ok_or_else(|| bad("interval: one of 15m, 1h, 6h, 1d, 7d, 30d"))?),
    };
    let accept_csv = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"));
    let csv = p.get("format").and_then(Value::as_str).map_or(accept_csv, |f| f.eq_ignore_ascii_case("csv"));
    Ok(QuerySpec { region, layers, filter, limit, cursor, csv, interval_ms })
}

fn value_json(v: &vigie_layers::Value) -> Value {
    use vigie_layers::Value as V;
    match v {
        V::Null => Value::Null,
        V::Bool(b) => json!(b),
        V::Int(i) => json!(i),
        V::Float(f) => json!(f),
        V::Text(s) => json!(s.as_str()),
        V::Time(t) => json!(format_time_ms(*t)),
    }
}

/// A GeoJSON Feature of an indexed feature (WGS84), its properties named by the schema, plus
/// `layer` when given.
pub fn feature_json(f: &vigie_layers::Feature, schema: &Schema, layer: Option<&str>) -> Value {
    let mut props = Map::new();
    if let Some(l) = layer {
        props.insert("layer".into(), json!(l));
    }
    for (field, v) in schema.fields.iter().zip(f.props.iter()) {
        props.insert(field.name.clone(), value_json(v));
    }
    json!({"type": "Feature", "id": f.id, "geometry": vigie_layers::journal::geometry_json(&f.lonlat()), "properties": props})
}

fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

fn csv(state: &Shared, spec: &QuerySpec, hits: &[Hit]) -> Result<Response, ApiError> {
    if hits.len() > MAX_CSV_ROWS {
        return Err(ApiError::TooLarge(format!(
            "{} rows match: a CSV export holds at most {MAX_CSV_ROWS}; narrow the region, the time window or the layers",
            hits.len()
        )));
    }
    let schemas: Vec<Arc<Schema>> = spec.layers.iter().map(|l| state.engine.schema(l)).collect();
    let mut columns: Vec<String> = Vec::new();
    for s in &schemas {
        for f in &s.fields {
            if !columns.contains(&f.name) {
                columns.push(f.name.clone());
            }
        }
    }
    let mut out = String::from("layer,id");
    for c in &columns {
        out.push(',');
        csv_field(&mut out, c);
    }
    out.push_str(",wkt\n");
    for h in hits {
        let schema = &schemas[h.layer];
        out.push_str(&spec.layers[h.layer].def.id);
        let _ = write!(out, ",{}", h.feature.id);
        for c in &columns {
            out.push(',');
            if let Some(v) = schema.position(c).and_then(|i| h.feature.props.get(i)) {
                let text = match value_json(v) {
                    Value::Null => String::new(),
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                csv_field(&mut out, &text);
            }
        }
        out.push(',');
        csv_field(&mut out, &h.feature.lonlat().to_wkt().unwrap_or_default());
        out.push('\n');
    }
    let mut resp = out.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    resp.headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"vigie-query.csv\""));
    Ok(resp)
}

/// Runs a parsed query: every hit, sorted newest first (CSV export, H3 counts).
pub fn run(state: &Shared, spec: &QuerySpec) -> Vec<Hit> {
    let mut hits = state.engine.region_hits(&spec.layers, &spec.region, &spec.filter);
    query::sort(&mut hits);
    hits
}

/// Runs a parsed query for a JSON answer: the summary of every hit and the requested page.
pub fn run_page(state: &Shared, spec: &QuerySpec) -> query::Answer {
    let paging = query::Paging { cursor: spec.cursor, limit: spec.limit };
    state.engine.region_query(&spec.layers, &spec.region, &spec.filter, paging, spec.interval_ms)
}

/// Parses the query `p` and runs it for an identity seeing `scope` (blocking: call from a
/// blocking task): the summary of every hit and the first page of `limit` (its default 100).
///
/// # Errors
/// As [`parse`].
pub fn summary(state: &Shared, p: &Map<String, Value>, scope: Option<Arc<Scope>>) -> Result<query::Answer, ApiError> {
    let mut spec = parse(state, p, &HeaderMap::new())?;
    spec.filter = spec.filter.with_scope(scope);
    Ok(run_page(state, &spec))
}

/// Parses the query `p` and gives every hit for an identity seeing `scope`, newest first
/// (blocking).
///
/// # Errors
/// As [`parse`].
pub fn hits(state: &Shared, p: &Map<String, Value>, scope: Option<Arc<Scope>>) -> Result<Vec<Hit>, ApiError> {
    let mut spec = parse(state, p, &HeaderMap::new())?;
    spec.filter = spec.filter.with_scope(scope);
    Ok(run(state, &spec))
}

/// The link to `GET /api/query` with parameters `p` (string values), under the workspace's
/// prefix: what a report's figure links to.
pub fn link(state: &Shared, p: &Map<String, Value>) -> String {
    let pairs: Vec<(&str, String)> =
        p.iter().map(|(k, v)| (k.as_str(), v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect();
    format!("{}/api/query?{}", state.url_prefix, serde_urlencoded::to_string(pairs).unwrap_or_default())
}

/// What a query's worker found.
enum Found {
    /// Every hit, sorted (a CSV export).
    Every(Vec<Hit>),
    /// The summary and one page (JSON), boxed: far bigger than a vector.
    Page(Box<query::Answer>),
}

async fn answer(
    state: AppState,
    access: &crate::identity::Access,
    p: Map<String, Value>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut spec = parse(&state, &p, &headers)?;
    spec.filter = spec.filter.with_scope(super::territory::scope_of(&state, access)?);
    let worker = state.clone();
    let (spec, found) = tokio::task::spawn_blocking(move || {
        let found =
            if spec.csv { Found::Every(run(&worker, &spec)) } else { Found::Page(Box::new(run_page(&worker, &spec))) };
        (spec, found)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    let answer = match found {
        Found::Page(answer) => *answer,
        Found::Every(hits) => {
            let layers: Vec<&str> = spec.layers.iter().map(|l| l.def.id.as_str()).collect();
            let detail = json!({ "format": "csv", "rows": hits.len(), "query": crate::identity::audit::digest(&Value::Object(p)) });
            let draft = state.identities.draft(
                access,
                "export",
                &format!("layers/{}", layers.join(",")),
                crate::identity::audit::Outcome::Ok,
                detail,
            );
            state.identities.record(draft).await;
            return csv(&state, &spec, &hits);
        }
    };
    let schemas: Vec<Arc<Schema>> = spec.layers.iter().map(|l| state.engine.schema(l)).collect();
    let features: Vec<Value> = answer
        .page
        .iter()
        .map(|h| feature_json(&h.feature, &schemas[h.layer], Some(&spec.layers[h.layer].def.id)))
        .collect();
    Ok(Json(json!({
        "type": "FeatureCollection",
        "numberMatched": answer.summary.total,
        "numberReturned": features.len(),
        "features": features,
        "summary": answer.summary,
        "next": answer.next.map(Key::encode),
    }))
    .into_response())
}

/// `POST /api/query` with a JSON body.
///
/// # Errors
/// 400 for a bad parameter, 404 for an unknown layer, venue or area.
pub async fn post(
    State(state): State<AppState>,
    access: crate::identity::Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let v: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("Invalid JSON", e.to_string()))?;
    let Value::Object(p) = v else { return Err(bad("the body must be a JSON object")) };
    answer(state, &access, p, headers).await
}

fn pairs(query: Option<&str>) -> Result<Map<String, Value>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::bad_request("Invalid query string", e.to_string()))?;
    Ok(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

/// `GET /api/query` with the same parameters in the query string.
///
/// # Errors
/// As [`post`].
pub async fn get(
    State(state): State<AppState>,
    access: crate::identity::Access,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    answer(state, &access, pairs(q.as_deref())?, headers).await
}

/// `GET /api/h3?layer=&res=` plus an optional region and filters: counts per cell.
///
/// # Errors
/// 400 for a bad parameter, 404 for an unknown layer.
pub async fn h3(
    State(state): State<AppState>,
    access: crate::identity::Access,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut p = pairs(q.as_deref())?;
    let layer_id = p.get("layer").and_then(Value::as_str).unwrap_or("entries").to_owned();
    let requested = resolve_layers(&state, &layer_id)?.remove(0);
    let source = match requested.features() {
        Features::Indexed(layer) => layer,
        Features::Aggregate { layer, .. } => layer.source.clone().unwrap_or(layer),
        Features::TilesOnly => {
            return Err(bad(format!("'{}' is served as tiles only: it has no features to count", requested.id())));
        }
    };
    let r: u8 = p
        .get("res")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .filter(|r| *r <= vigie_layers::h3::FINEST)
        .ok_or_else(|| bad(format!("res: an H3 resolution from 0 to {}", vigie_layers::h3::FINEST)))?;
    let scope = super::territory::scope_of(&state, &access)?;
    let filter = parse_filter(q.as_deref(), state.engine.vocabulary(), crate::now_ms())?.with_scope(scope.clone());
    let has_region = ["bbox", "geometry", "circle", "venue", "area", "h3"].iter().any(|k| p.contains_key(*k));
    let worker = state.clone();
    let stats = if has_region {
        p.insert("layers".into(), json!(source.def.id));
        let mut spec = parse(&state, &p, &HeaderMap::new())?;
        spec.filter = spec.filter.with_scope(scope);
        tokio::task::spawn_blocking(move || {
            let hits = run(&worker, &spec);
            vigie_layers::h3::aggregate(r, hits.iter().map(|h| h.feature.as_ref()))
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
    } else {
        tokio::task::spawn_blocking(move || {
            worker
                .engine
                .with_collection(&source.collection, |c| {
                    vigie_layers::h3::aggregate(
                        r,
                        c.iter()
                            .filter(|f| {
                                source.selects(f)
                                    && filter.matches(&f.attrs)
                                    && source.scope(&filter).is_none_or(|s| s.admits(&f.lonlat()))
                            })
                            .map(AsRef::as_ref),
                    )
                })
                .unwrap_or_default()
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
    };
    let ids = state.engine.vocabulary().ids();
    let mut cells: Vec<(u64, Value)> = stats
        .iter()
        .map(|(cell, s)| {
            let by_theme: Map<String, Value> = ids
                .iter()
                .enumerate()
                .filter_map(|(i, t)| s.by_theme.get(i).filter(|n| **n > 0).map(|n| (t.clone(), json!(n))))
                .collect();
            (
                u64::from(*cell),
                json!({"cell": cell.to_string(), "count": s.count, "max_severity": s.max_severity(), "by_theme": by_theme}),
            )
        })
        .collect();
    cells.sort_unstable_by_key(|(c, _)| *c);
    let total: u64 = stats.values().map(|s| u64::from(s.count)).sum();
    Ok(Json(
        json!({"layer": requested.id(), "resolution": r, "total": total, "cells": cells.into_iter().map(|(_, v)| v).collect::<Vec<_>>()}),
    ))
}

/// The kinds of region, of which a query names exactly one.
const REGION_KINDS: [&str; 6] = ["bbox", "geometry", "circle", "venue", "area", "h3"];

/// A schema that holds when exactly one of the region kinds is given.
fn exactly_one_region() -> Value {
    Value::Array(REGION_KINDS.iter().map(|k| json!({"required": [k]})).collect())
}

/// The region properties of a JSON query or a territory's part.
fn region_properties() -> Vec<(&'static str, Value)> {
    use super::openapi::schema as s;
    let lon = json!({"type": "number", "minimum": -180, "maximum": 180});
    let lat = json!({"type": "number", "minimum": -90, "maximum": 90});
    vec![
        (
            "bbox",
            json!({
                "description": "west,south,east,north in degrees (west > east crosses the antimeridian; south <= north)",
                "oneOf": [
                    {"type": "array", "prefixItems": [lon, lat, lon, lat], "minItems": 4, "maxItems": 4},
                    {"type": "string", "examples": ["2.2,48.8,2.5,48.9"]},
                ],
            }),
        ),
        (
            "geometry",
            json!({
                "description": "A GeoJSON Polygon or MultiPolygon (WGS84), or its text",
                "oneOf": [s::named("RegionPolygon"), {"type": "string"}],
            }),
        ),
        (
            "circle",
            json!({
                "description": "A circle measured on the WGS84 ellipsoid: an object, or `lon,lat,radius_m`",
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["lon", "lat", "radius_m"],
                        "properties": {
                            "lon": lon,
                            "lat": lat,
                            "radius_m": {"type": "number", "exclusiveMinimum": 0, "maximum": region::MAX_RADIUS_M},
                        },
                    },
                    {"type": "string", "examples": ["2.35,48.85,500"]},
                ],
            }),
        ),
        (
            "venue",
            json!({"type": "string", "description": "A venue's code: the region is its security perimeter", "examples": ["BCY"]}),
        ),
        (
            "perimeter",
            json!({"type": "string", "enum": ["silt", "red", "blue"], "description": "Which perimeter of the `venue` (default `blue`)"}),
        ),
        (
            "area",
            json!({
                "description": "A feature of a dataset layer by its key: `layer:code`, or an object",
                "oneOf": [
                    {"type": "string", "pattern": "^[^:]*:", "examples": ["departements:93"]},
                    {"type": "object", "required": ["layer", "code"], "properties": {"layer": {"type": "string"}, "code": {"type": ["string", "integer"]}}},
                ],
            }),
        ),
        (
            "h3",
            json!({
                "description": "H3 cells (1 to 10,000): an array, or comma-separated",
                "oneOf": [
                    {"type": "array", "items": {"type": "string", "pattern": "^[0-9a-fA-F]{15,16}$"}, "minItems": 1, "maxItems": 10_000},
                    {"type": "string", "examples": ["851fb467fffffff"]},
                ],
            }),
        ),
        (
            "buffer_m",
            json!({
                "description": "Metres to grow a polygon, perimeter or area region by",
                "oneOf": [{"type": "number", "minimum": 0, "maximum": MAX_BUFFER_M}, {"type": "string"}],
            }),
        ),
    ]
}

/// The region parameters of the `GET` forms (query string), documented.
pub(super) fn documented_region(op: super::openapi::Op) -> super::openapi::Op {
    use super::openapi::schema as s;
    let number = r"-?[0-9]+(\.[0-9]+)?";
    op.query(
        "bbox",
        s::pattern(&format!("^{number}(,{number}){{3}}$")),
        "Region: west,south,east,north in degrees (west > east crosses the antimeridian). Give exactly one region \
         among `bbox`, `geometry`, `circle`, `venue`, `area` and `h3`",
    )
    .query("geometry", s::string(), "Region: a GeoJSON Polygon or MultiPolygon (WGS84), as JSON text")
    .query(
        "circle",
        s::pattern(&format!("^{number},{number},{number}$")),
        "Region: `lon,lat,radius_m`, a circle measured on the WGS84 ellipsoid (radius above 0, at most 1,000 km)",
    )
    .query("venue", s::string(), "Region: a venue's code (`BCY`); its security perimeter")
    .query("perimeter", s::one_of(&["silt", "red", "blue"]), "Which perimeter of the `venue` (default `blue`)")
    .query(
        "area",
        s::pattern("^[^:]*:"),
        "Region: `layer:code`, a feature of a dataset layer by its key (`departements:93`)",
    )
    .query("h3", s::string(), "Region: comma-separated H3 cell indexes (1 to 10,000)")
    .query(
        "buffer_m",
        json!({"type": "number", "minimum": 0, "maximum": MAX_BUFFER_M}),
        "Metres to grow a polygon, perimeter or area region by",
    )
}

/// The schemas of regions, features and query answers, shared with the territory, OGC and
/// entry operations.
fn components(api: &mut super::openapi::Api) {
    use super::openapi::schema as s;
    let position = json!({"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2});
    let line = json!({"type": "array", "items": position});
    let rings = json!({"type": "array", "items": line});
    let polygons = json!({"type": "array", "items": rings});
    let kind = |name: &str, coordinates: &Value| {
        s::object(
            &[("type", json!({"type": "string", "const": name})), ("coordinates", coordinates.clone())],
            &["type", "coordinates"],
        )
    };
    api.component(
        "Geometry",
        json!({
            "description": "A GeoJSON geometry, positions in WGS84 longitude, latitude",
            "oneOf": [
                kind("Point", &position),
                kind("MultiPoint", &line),
                kind("LineString", &line),
                kind("MultiLineString", &rings),
                kind("Polygon", &rings),
                kind("MultiPolygon", &polygons),
            ],
        }),
    );
    api.component(
        "RegionPolygon",
        json!({
            "description": "A GeoJSON Polygon or MultiPolygon, positions in WGS84 (longitude within -180..180, latitude within -90..90), valid (no self-intersection)",
            "oneOf": [kind("Polygon", &rings), kind("MultiPolygon", &polygons)],
        }),
    );
    // A territory's part: a region as queries write them, but H3 cells.
    let parts: Vec<(&str, Value)> = region_properties().into_iter().filter(|(k, _)| *k != "h3").collect();
    let mut region = s::object(&parts, &[]);
    region["description"] = json!("One region: exactly one of `bbox`, `geometry`, `circle`, `venue` and `area`");
    region["oneOf"] =
        Value::Array(REGION_KINDS.iter().filter(|k| **k != "h3").map(|k| json!({"required": [k]})).collect());
    api.component("TerritoryRegion", region);
    api.component(
        "Feature",
        s::object(
            &[
                ("type", json!({"type": "string", "const": "Feature"})),
                ("id", json!({"type": "integer", "minimum": 0})),
                ("geometry", s::nullable(s::named("Geometry"))),
                ("properties", s::map_of(json!({"type": ["string", "number", "boolean", "null"]}))),
            ],
            &["type", "id", "geometry", "properties"],
        ),
    );
    let counts = s::map_of(json!({"type": "integer", "minimum": 0}));
    let mut by_severity = counts.clone();
    by_severity["propertyNames"] = json!({"pattern": "^[0-4]$"});
    api.component(
        "QuerySummary",
        s::object(
            &[
                ("total", json!({"type": "integer", "minimum": 0, "description": "Every hit, not only the page"})),
                ("by_layer", counts.clone()),
                ("by_theme", {
                    let mut c = counts.clone();
                    c["description"] = json!("Hits per theme (an entry with two themes counts in both; `none`: no theme)");
                    c
                }),
                ("by_severity", by_severity),
                ("by_qualification", counts.clone()),
                (
                    "interval",
                    json!({"type": ["string", "null"], "enum": ["15m", "1h", "6h", "1d", "7d", "30d", "custom", null], "description": "The histogram's bucket width (`null`: no hit has a time)"}),
                ),
                ("interval_note", json!({"type": "string", "description": "Why the interval is wider than asked (at most 2,000 buckets)"})),
                (
                    "histogram",
                    s::array(s::object(
                        &[("start", s::date_time()), ("count", json!({"type": "integer", "minimum": 0}))],
                        &["start", "count"],
                    )),
                ),
            ],
            &["total", "by_layer", "by_theme", "by_severity", "by_qualification", "interval", "histogram"],
        ),
    );
    let mut hit = s::named("Feature");
    hit = json!({"allOf": [hit, {"properties": {"properties": {"required": ["layer"], "properties": {"layer": {"type": "string"}}}}}]});
    api.component(
        "QueryAnswer",
        s::object(
            &[
                ("type", json!({"type": "string", "const": "FeatureCollection"})),
                ("numberMatched", json!({"type": "integer", "minimum": 0})),
                ("numberReturned", json!({"type": "integer", "minimum": 0})),
                ("features", s::array(hit)),
                ("summary", s::named("QuerySummary")),
                ("next", json!({"type": ["string", "null"], "description": "The `cursor` of the next page; `null` on the last"})),
            ],
            &["type", "numberMatched", "numberReturned", "features", "summary", "next"],
        ),
    );
    let mut props = region_properties();
    props.extend([
        (
            "layers",
            json!({"description": "Layer ids (default `entries`): an array or comma-separated", "oneOf": [{"type": "array", "items": {"type": "string"}, "minItems": 1}, {"type": "string"}]}),
        ),
        ("from", s::date_time()),
        ("to", s::date_time()),
        ("last", s::pattern(r"^[0-9]+[mhd]$")),
        ("tags", json!({"oneOf": [{"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 32}, {"type": "string"}]})),
        ("severity", json!({"type": "integer", "minimum": 0, "maximum": 4})),
        (
            "qualification",
            json!({"oneOf": [{"type": "array", "items": {"type": "string", "enum": ["raw", "in_review", "confirmed", "refuted", "closed"]}, "minItems": 1}, {"type": "string"}]}),
        ),
        ("limit", json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT})),
        ("cursor", s::pattern(r"^-?[0-9]+_[0-9]+_[0-9]+$")),
        ("interval", s::one_of(&["15m", "1h", "6h", "1d", "7d", "30d"])),
        ("format", s::one_of(&["json", "csv"])),
    ]);
    let mut request = s::object(&props, &[]);
    request["description"] = json!(
        "A region (exactly one of `bbox`, `geometry`, `circle`, `venue`, `area`, `h3`), the layers and filters, the page"
    );
    request["oneOf"] = exactly_one_region();
    api.component("QueryRequest", request);
    api.component(
        "H3Counts",
        s::object(
            &[
                ("layer", json!({"type": "string", "description": "The layer asked for"})),
                ("resolution", s::int_in(0, i64::from(vigie_layers::h3::FINEST))),
                ("total", json!({"type": "integer", "minimum": 0})),
                (
                    "cells",
                    s::array(s::object(
                        &[
                            ("cell", s::pattern("^[0-9a-f]{15}$")),
                            ("count", json!({"type": "integer", "minimum": 0})),
                            ("max_severity", json!({"type": ["integer", "null"], "minimum": 0, "maximum": 4})),
                            ("by_theme", counts),
                        ],
                        &["cell", "count", "max_severity", "by_theme"],
                    )),
                ),
            ],
            &["layer", "resolution", "total", "cells"],
        ),
    );
}

/// The parameters of a query besides its region and filters.
fn documented_query(op: super::openapi::Op) -> super::openapi::Op {
    use super::openapi::schema as s;
    op.query("layers", s::string(), "Comma-separated layer ids (default `entries`); not H3 layers, nor layers served as tiles only")
        .query("limit", json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}), "Features per page")
        .query("cursor", s::pattern(r"^-?[0-9]+_[0-9]+_[0-9]+$"), "Where the page starts: the `next` of the previous page")
        .query(
            "interval",
            s::one_of(&["15m", "1h", "6h", "1d", "7d", "30d"]),
            "The histogram's bucket width (default: the finest giving at most 100 buckets); widened past 2,000 buckets, `interval_note` says so",
        )
        .query("format", s::one_of(&["json", "csv"]), "`csv`: every hit as CSV with a WKT column (as `Accept: text/csv` asks)")
}

const QUERY_ABOUT: &str = "The features of the given layers (default `entries`, the log) inside a region, with the tile filters: a \
GeoJSON FeatureCollection of one page, newest first (`limit`, `cursor`), each feature's `layer` in its properties, and \
the `summary` of every hit (counts per layer, theme, severity, qualification, a time histogram).\n\n\
The region is exactly one of `bbox`, `geometry`, `circle`, `venue` (+ `perimeter`), `area` and `h3`; `buffer_m` grows \
a polygon, perimeter or area. With `format=csv` (or `Accept: text/csv`) the answer is every hit as CSV (at most \
200,000 rows), its geometry as WKT. A member with a territory gets only the features meeting it.";

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    components(api);
    let csv = "text/csv";
    api.get(
        "/api/query",
        get,
        Op::new("queries", "Entries and features in a region")
            .about(QUERY_ABOUT)
            .with(documented_region)
            .with(documented_query)
            .with(super::filters::documented_selection)
            .json(200, "One page of the features, and the summary of every hit", s::named("QueryAnswer"))
            .answers(200, "Every hit as CSV (`format=csv`)", csv, s::string())
            .fails(&[404, 413]),
    );
    api.post(
        "/api/query",
        post,
        Op::new("queries", "Entries and features in a region (JSON)")
            .about(
                "As `GET /api/query`, the parameters in a JSON object (whatever the Content-Type): arrays and objects \
                 where the query string has comma-separated text (`bbox`, `circle`, `area`, `h3`, `layers`, `tags`, \
                 `qualification`), `geometry` as GeoJSON.",
            )
            .json_body(s::named("QueryRequest"), "The region, the layers, the filters and the page")
            .json(200, "One page of the features, and the summary of every hit", s::named("QueryAnswer"))
            .answers(200, "Every hit as CSV (`format`: `csv`)", csv, s::string())
            .fails(&[404]),
    );
    api.get(
        "/api/h3",
        h3,
        Op::new("queries", "Counts per H3 cell")
            .about(
                "How many features of a layer fall in each H3 cell of resolution `res`, with their highest severity \
                 and their count per theme, cells in index order. An H3 layer counts its source layer. Optionally \
                 inside a region (as `GET /api/query` takes it) and with the tile filters; a member with a \
                 territory counts only the features meeting it.",
            )
            .query_required("res", s::int_in(0, i64::from(vigie_layers::h3::FINEST)), "The H3 resolution")
            .query(
                "layer",
                json!({"type": "string", "default": "entries", "examples": ["entries"]}),
                "The layer counted (an H3 layer counts its source)",
            )
            .with(documented_region)
            .with(super::filters::documented_selection)
            .json(200, "The counts per cell", s::named("H3Counts"))
            .fails(&[404]),
    );
}
