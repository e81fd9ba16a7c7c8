//! OGC API – Features, Part 1 (Core, GeoJSON, OpenAPI 3.0) under `/ogc`: one collection per
//! catalog layer (H3 aggregates excepted: they are views of their source layer, served as tiles
//! and by `/api/h3`; PostGIS table layers too: their table is in the database for direct
//! access). Readable by GDAL's OAPIF driver and QGIS.
//!
//! Items are in CRS84 (longitude, latitude), ordered by id; `bbox`, `datetime` (instant or
//! interval, open ends `..`), `limit` (default 10, at most 10,000) and `offset` page them, with
//! `next`/`prev` links and `numberMatched`/`numberReturned`. The tile filters (`tags`,
//! `severity`, `qualification`) are accepted too; refuted entries are hidden by default.
//!
//! A member with a territory gets, of the scoped layers, only the features meeting it: items,
//! `numberMatched` and single features (404 outside), and the territory's box as extent.

use super::error::ApiError;
use super::filters::parse_filter;
use super::query::feature_json;
use super::{AppState, Shared, base_url};
use crate::identity::Access;
use crate::tiles::Features;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use vigie_layers::engine::Layer;
use vigie_layers::feature::{format_time_ms, parse_time_ms};
use vigie_layers::region::{Prepared, Region};
use vigie_layers::scope::Scope;
use vigie_layers::tile::mercator_to_lonlat;

/// Default page size of items.
pub const DEFAULT_LIMIT: usize = 10;
/// Largest page of items.
pub const MAX_LIMIT: usize = 10_000;

const GEOJSON: &str = "application/geo+json";
const CONFORMANCE: [&str; 3] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
];
const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

fn link(href: &str, rel: &str, kind: &str, title: &str) -> Value {
    json!({"href": href, "rel": rel, "type": kind, "title": title})
}

/// The collections: every layer whose features are indexed (not the H3 aggregates, not the
/// layers served as tiles only).
fn collections(state: &Shared) -> impl Iterator<Item = Arc<Layer>> + '_ {
    state.tiles.iter().filter_map(|s| match s.features() {
        Features::Indexed(layer) => Some(layer),
        Features::Aggregate { .. } | Features::TilesOnly => None,
    })
}

fn collection(state: &Shared, id: &str) -> Result<Arc<Layer>, ApiError> {
    collections(state).find(|l| l.def.id == id).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no collection '{}'; GET /ogc/collections lists them",
            id.chars().take(64).collect::<String>()
        ))
    })
}

/// `GET /ogc`: the landing page.
///
/// # Errors
/// 400 without a usable Host header.
pub async fn landing(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let base = format!("{}/ogc", base_url(&state, &headers)?);
    Ok(Json(json!({
        "title": state.engine.catalog().name,
        "description": "vigie layers as OGC API – Features: the operations log, venues, perimeters and imported datasets.",
        "links": [
            link(&base, "self", "application/json", "This document"),
            link(&format!("{base}/api"), "service-desc", "application/vnd.oai.openapi+json;version=3.0", "The API definition"),
            link(&format!("{base}/conformance"), "conformance", "application/json", "Conformance classes"),
            link(&format!("{base}/collections"), "data", "application/json", "The collections"),
        ]
    })))
}

/// `GET /ogc/conformance`.
pub async fn conformance() -> Json<Value> {
    Json(json!({"conformsTo": CONFORMANCE}))
}

fn temporal_extent(state: &Shared, layer: &Layer) -> Option<(i64, i64)> {
    state
        .engine
        .with_collection(&layer.collection, |c| {
            c.iter()
                .filter(|f| layer.selects(f))
                .filter_map(|f| f.attrs.time_ms.get())
                .fold(None, |acc: Option<(i64, i64)>, t| Some(acc.map_or((t, t), |(a, b)| (a.min(t), b.max(t)))))
        })
        .flatten()
}

/// A collection's description. Narrowed to a territory, a scoped layer's spatial extent is
/// the territory's box and its temporal extent is left open (it would tell of entries
/// outside).
fn collection_doc(state: &Shared, layer: &Layer, base: &str, scope: Option<&Scope>) -> Value {
    let narrowed = scope.filter(|_| layer.scoped());
    let bbox = match narrowed {
        Some(t) => {
            let b = t.bounds();
            json!([b.min().x, b.min().y, b.max().x, b.max().y])
        }
        None => state.engine.extent(layer).map_or(json!([-180.0, -90.0, 180.0, 90.0]), |r| {
            let (sw, ne) = (mercator_to_lonlat(r.min()), mercator_to_lonlat(r.max()));
            json!([sw.x, sw.y, ne.x, ne.y])
        }),
    };
    let interval = narrowed
        .map_or_else(|| temporal_extent(state, layer), |_| None)
        .map_or(json!([[null, null]]), |(a, b)| json!([[format_time_ms(a), format_time_ms(b)]]));
    let id = &layer.def.id;
    json!({
        "id": id,
        "title": layer.def.title,
        "description": layer.def.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {"spatial": {"bbox": [bbox], "crs": CRS84}, "temporal": {"interval": interval}},
        "links": [
            link(&format!("{base}/collections/{id}"), "self", "application/json", &layer.def.title),
            link(&format!("{base}/collections/{id}/items"), "items", GEOJSON, "Items"),
        ]
    })
}

/// `GET /ogc/collections`.
///
/// # Errors
/// 400 without a usable Host header.
pub async fn list(State(state): State<AppState>, access: Access, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let base = format!("{}/ogc", base_url(&state, &headers)?);
    let scope = super::territory::scope_of(&state, &access)?;
    let docs: Vec<Value> = collections(&state).map(|l| collection_doc(&state, &l, &base, scope.as_deref())).collect();
    Ok(Json(json!({
        "links": [link(&format!("{base}/collections"), "self", "application/json", "Collections")],
        "collections": docs
    })))
}

/// `GET /ogc/collections/{id}`.
///
/// # Errors
/// 404 for an unknown collection.
pub async fn one(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let base = format!("{}/ogc", base_url(&state, &headers)?);
    let layer = collection(&state, &id)?;
    let scope = super::territory::scope_of(&state, &access)?;
    Ok(Json(collection_doc(&state, &layer, &base, scope.as_deref())))
}

/// Parses `datetime`: an instant, or `start/end` with `..` (or nothing) for an open end.
fn datetime(v: &str) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "Invalid datetime",
            format!("'{v}': expected an RFC 3339 instant or an interval start/end with '..' for an open end"),
        )
    };
    let one = |s: &str| -> Result<Option<i64>, ApiError> {
        if s.is_empty() || s == ".." { Ok(None) } else { parse_time_ms(s).map(Some).map_err(|_| bad()) }
    };
    if let Some((a, b)) = v.split_once('/') {
        return Ok((one(a)?, one(b)?));
    }
    let t = one(v)?.ok_or_else(bad)?;
    Ok((Some(t), Some(t)))
}

fn geojson(v: Value) -> Response {
    let mut r = Json(v).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(GEOJSON));
    r
}

/// `GET /ogc/collections/{id}/items`.
///
/// # Errors
/// 400 for a bad parameter, 404 for an unknown collection.
pub async fn items(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = format!("{}/ogc", base_url(&state, &headers)?);
    let layer = collection(&state, &id)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request("Invalid query string", e.to_string()))?;
    let mut filter = parse_filter(query.as_deref(), state.engine.vocabulary(), crate::now_ms())?
        .with_scope(super::territory::scope_of(&state, &access)?);
    let mut limit = DEFAULT_LIMIT;
    let mut offset = 0usize;
    let mut bbox = None;
    for (k, v) in &pairs {
        match k.as_str() {
            "limit" => {
                limit = v.parse::<usize>().ok().filter(|l| *l >= 1).map(|l| l.min(MAX_LIMIT)).ok_or_else(|| {
                    ApiError::bad_request(
                        "Invalid limit",
                        format!("limit must be a positive integer (at most {MAX_LIMIT} are returned)"),
                    )
                })?;
            }
            "offset" => {
                offset = v
                    .parse()
                    .map_err(|_| ApiError::bad_request("Invalid offset", "offset must be a non-negative integer"))?;
            }
            "datetime" => (filter.from_ms, filter.to_ms) = datetime(v)?,
            "bbox" => {
                let n: Vec<f64> =
                    v.split(',').map(|x| x.trim().parse()).collect::<Result<_, _>>().map_err(|_| {
                        ApiError::bad_request("Invalid bbox", "bbox must be minLon,minLat,maxLon,maxLat")
                    })?;
                let b: [f64; 4] = match n.as_slice() {
                    [a, b, c, d] | [a, b, _, c, d, _] => [*a, *b, *c, *d],
                    _ => return Err(ApiError::bad_request("Invalid bbox", "bbox must have 4 (or 6) numbers")),
                };
                bbox = Some(
                    Prepared::new(Region::BBox(b)).map_err(|e| ApiError::bad_request("Invalid bbox", e.to_string()))?,
                );
            }
            _ => {}
        }
    }
    let worker = state.clone();
    let l = layer.clone();
    let f = filter.clone();
    let mut found: Vec<Arc<vigie_layers::Feature>> = tokio::task::spawn_blocking(move || match &bbox {
        Some(region) => {
            worker.engine.region_hits(std::slice::from_ref(&l), region, &f).into_iter().map(|h| h.feature).collect()
        }
        None => worker
            .engine
            .with_collection(&l.collection, |c| {
                let scope = l.scope(&f);
                c.iter()
                    .filter(|x| l.selects(x) && f.matches(&x.attrs) && scope.is_none_or(|s| s.admits(&x.lonlat())))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default(),
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    found.sort_unstable_by_key(|f| f.id);
    let matched = found.len();
    let page: Vec<&Arc<vigie_layers::Feature>> = found.iter().skip(offset).take(limit).collect();
    let schema = state.engine.schema(&layer);
    let features: Vec<Value> = page.iter().map(|f| feature_json(f, &schema, None)).collect();
    let rest: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != "offset" && k != "limit").cloned().collect();
    let href = |off: usize| {
        let mut p = rest.clone();
        p.push(("limit".into(), limit.to_string()));
        p.push(("offset".into(), off.to_string()));
        format!("{base}/collections/{id}/items?{}", serde_urlencoded::to_string(p).unwrap_or_default())
    };
    let mut links = vec![link(&href(offset), "self", GEOJSON, "This page")];
    if offset + page.len() < matched {
        links.push(link(&href(offset + limit), "next", GEOJSON, "Next page"));
    }
    if offset > 0 {
        links.push(link(&href(offset.saturating_sub(limit)), "prev", GEOJSON, "Previous page"));
    }
    Ok(geojson(json!({
        "type": "FeatureCollection",
        "timeStamp": format_time_ms(crate::now_ms()),
        "numberMatched": matched,
        "numberReturned": features.len(),
        "features": features,
        "links": links,
    })))
}

/// `GET /ogc/collections/{id}/items/{featureId}`.
///
/// # Errors
/// 404 for an unknown collection or feature.
pub async fn item(
    State(state): State<AppState>,
    access: Access,
    Path((id, fid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = format!("{}/ogc", base_url(&state, &headers)?);
    let layer = collection(&state, &id)?;
    let missing = || {
        ApiError::NotFound(format!("no feature '{}' in collection '{id}'", fid.chars().take(40).collect::<String>()))
    };
    let n: u64 = fid.parse().map_err(|_| missing())?;
    let scope = super::territory::scope_of(&state, &access)?.filter(|_| layer.scoped());
    let f = state
        .engine
        .with_collection(&layer.collection, |c| {
            c.get(n).filter(|f| layer.selects(f) && scope.as_ref().is_none_or(|s| s.admits(&f.lonlat()))).cloned()
        })
        .flatten()
        .ok_or_else(missing)?;
    let mut v = feature_json(&f, &state.engine.schema(&layer), None);
    v["links"] = json!([
        link(&format!("{base}/collections/{id}/items/{n}"), "self", GEOJSON, "This feature"),
        link(&format!("{base}/collections/{id}"), "collection", "application/json", &layer.def.title),
    ]);
    Ok(geojson(v))
}

/// `GET /ogc/api`: the OpenAPI 3.0 definition.
///
/// # Errors
/// 400 without a usable Host header.
pub async fn openapi(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let base = format!("{}/ogc", base_url(&state, &headers)?);
    let ids: Vec<String> = collections(&state).map(|l| l.def.id.clone()).collect();
    let param = |name: &str, desc: &str, schema: Value| json!({"name": name, "in": "query", "required": false, "description": desc, "schema": schema});
    let doc = json!({
        "openapi": "3.0.3",
        "info": {"title": format!("{} — OGC API – Features", state.engine.catalog().name), "version": env!("CARGO_PKG_VERSION")},
        "servers": [{"url": base}],
        "paths": {
            "/": {"get": {"summary": "Landing page", "responses": {"200": {"description": "Links to the API"}}}},
            "/conformance": {"get": {"summary": "Conformance classes", "responses": {"200": {"description": "conformsTo"}}}},
            "/collections": {"get": {"summary": "The collections", "responses": {"200": {"description": "Collections"}}}},
            "/collections/{collectionId}": {"get": {
                "summary": "One collection",
                "parameters": [{"name": "collectionId", "in": "path", "required": true, "schema": {"type": "string", "enum": ids}}],
                "responses": {"200": {"description": "The collection"}, "404": {"description": "Unknown collection"}}}},
            "/collections/{collectionId}/items": {"get": {
                "summary": "Features of a collection",
                "parameters": [
                    {"name": "collectionId", "in": "path", "required": true, "schema": {"type": "string", "enum": ids}},
                    param("bbox", "minLon,minLat,maxLon,maxLat (CRS84)", json!({"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 6})),
                    param("datetime", "RFC 3339 instant or interval (start/end, '..' for open)", json!({"type": "string"})),
                    param("limit", "page size", json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT})),
                    param("offset", "items to skip", json!({"type": "integer", "minimum": 0, "default": 0})),
                    param("tags", "comma-separated tags (any)", json!({"type": "string"})),
                    param("severity", "minimum severity 0-4", json!({"type": "integer", "minimum": 0, "maximum": 4})),
                    param("qualification", "states, comma-separated, or 'all'", json!({"type": "string"})),
                ],
                "responses": {"200": {"description": "GeoJSON FeatureCollection", "content": {GEOJSON: {}}}, "400": {"description": "Bad parameter"}, "404": {"description": "Unknown collection"}}}},
            "/collections/{collectionId}/items/{featureId}": {"get": {
                "summary": "One feature",
                "parameters": [
                    {"name": "collectionId", "in": "path", "required": true, "schema": {"type": "string", "enum": ids}},
                    {"name": "featureId", "in": "path", "required": true, "schema": {"type": "integer"}},
                ],
                "responses": {"200": {"description": "GeoJSON Feature", "content": {GEOJSON: {}}}, "404": {"description": "Unknown feature"}}}},
        }
    });
    let mut r = Json(doc).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.oai.openapi+json;version=3.0"));
    Ok(r)
}

/// The OGC API's schemas: links, collections, features.
fn components(api: &mut super::openapi::Api) {
    use super::openapi::schema as s;
    api.component(
        "OgcLink",
        s::object(
            &[("href", s::string()), ("rel", s::string()), ("type", s::string()), ("title", s::string())],
            &["href", "rel", "type", "title"],
        ),
    );
    let links = s::array(s::named("OgcLink"));
    let time = json!({"type": ["string", "null"], "format": "date-time"});
    api.component(
        "OgcCollection",
        s::object(
            &[
                ("id", s::string()),
                ("title", s::string()),
                ("description", s::string()),
                ("itemType", json!({"type": "string", "const": "feature"})),
                ("crs", s::array(json!({"type": "string", "const": CRS84}))),
                (
                    "extent",
                    s::object(
                        &[
                            (
                                "spatial",
                                s::object(
                                    &[
                                        (
                                            "bbox",
                                            s::array(json!({"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4})),
                                        ),
                                        ("crs", json!({"type": "string", "const": CRS84})),
                                    ],
                                    &["bbox", "crs"],
                                ),
                            ),
                            (
                                "temporal",
                                s::object(
                                    &[(
                                        "interval",
                                        s::array(json!({"type": "array", "items": time, "minItems": 2, "maxItems": 2})),
                                    )],
                                    &["interval"],
                                ),
                            ),
                        ],
                        &["spatial", "temporal"],
                    ),
                ),
                ("links", links.clone()),
            ],
            &["id", "title", "description", "itemType", "crs", "extent", "links"],
        ),
    );
    api.component(
        "OgcFeatureCollection",
        s::object(
            &[
                ("type", json!({"type": "string", "const": "FeatureCollection"})),
                ("timeStamp", s::date_time()),
                ("numberMatched", json!({"type": "integer", "minimum": 0})),
                ("numberReturned", json!({"type": "integer", "minimum": 0})),
                ("features", s::array(s::named("Feature"))),
                ("links", links.clone()),
            ],
            &["type", "timeStamp", "numberMatched", "numberReturned", "features", "links"],
        ),
    );
    api.component("OgcFeature", json!({"allOf": [s::named("Feature"), s::object(&[("links", links)], &["links"])]}));
}

/// The path parameter naming a collection.
fn collection_id(op: super::openapi::Op) -> super::openapi::Op {
    op.path(
        "id",
        json!({"type": "string", "examples": ["entries", "venues"]}),
        "The collection: a catalog layer's id (`GET /ogc/collections` lists them)",
    )
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    components(api);
    let links = s::array(s::named("OgcLink"));
    api.get(
        "/ogc",
        landing,
        Op::new("ogc", "OGC API: landing page")
            .about("The OGC API – Features landing page: links to the API definition, the conformance classes and the collections.")
            .json(
                200,
                "The landing page",
                s::object(&[("title", s::string()), ("description", s::string()), ("links", links.clone())], &[
                    "title",
                    "description",
                    "links",
                ]),
            )
            .fails(&[400]),
    );
    api.get(
        "/ogc/conformance",
        conformance,
        Op::new("ogc", "OGC API: conformance")
            .about("The conformance classes: OGC API – Features Part 1 core, GeoJSON and OpenAPI 3.0.")
            .json(200, "The conformance classes", s::object(&[("conformsTo", s::array(s::string()))], &["conformsTo"])),
    );
    api.get(
        "/ogc/api",
        openapi,
        Op::new("ogc", "OGC API: its OpenAPI 3.0 definition")
            .about("The OGC API's own OpenAPI 3.0 definition, as OGC clients (GDAL, QGIS) read it.")
            .answers(
                200,
                "The definition",
                "application/vnd.oai.openapi+json;version=3.0",
                s::object(
                    &[
                        ("openapi", json!({"type": "string", "const": "3.0.3"})),
                        ("info", s::any_object()),
                        ("servers", s::array(s::any_object())),
                        ("paths", s::any_object()),
                    ],
                    &["openapi", "info", "servers", "paths"],
                ),
            )
            .fails(&[400]),
    );
    api.get(
        "/ogc/collections",
        list,
        Op::new("ogc", "OGC API: collections")
            .about(
                "One collection per catalog layer whose features are indexed (not the H3 aggregates, nor the layers \
                 served as tiles only), with its spatial and temporal extent. For a member with a territory, a \
                 scoped layer's extent is the territory's box, its temporal extent open.",
            )
            .json(
                200,
                "The collections",
                s::object(
                    &[("links", links), ("collections", s::array(s::named("OgcCollection")))],
                    &["links", "collections"],
                ),
            )
            .fails(&[400]),
    );
    api.get(
        "/ogc/collections/{id}",
        one,
        Op::new("ogc", "OGC API: a collection")
            .about("One collection, as `GET /ogc/collections` lists it.")
            .with(collection_id)
            .json(200, "The collection", s::named("OgcCollection")),
    );
    let number = r"-?[0-9]+(\.[0-9]+)?";
    let instant = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})";
    api.get(
        "/ogc/collections/{id}/items",
        items,
        Op::new("ogc", "OGC API: a collection's features")
            .about(
                "The collection's features as GeoJSON in CRS84, ordered by id, paged by `limit` and `offset` with \
                 `next` and `prev` links, `numberMatched` counting every match. The tile filters apply too (refuted \
                 entries are hidden unless `qualification` asks for them); a member with a territory gets only the \
                 scoped layers' features meeting it.",
            )
            .with(collection_id)
            .query(
                "bbox",
                s::pattern(&format!("^{number}(,{number}){{3}}(,{number},{number})?$")),
                "minLon,minLat,maxLon,maxLat (CRS84), or 6 numbers (the heights ignored)",
            )
            .query(
                "datetime",
                s::pattern(&format!("^({instant}|({instant}|\\.\\.)?/({instant}|\\.\\.)?)$")),
                "An RFC 3339 instant, or an interval `start/end` with `..` (or nothing) for an open end; it replaces \
                 `from` and `to`",
            )
            .query(
                "limit",
                json!({"type": "integer", "minimum": 1, "default": DEFAULT_LIMIT}),
                "Features per page (at most 10,000 are returned)",
            )
            .query("offset", json!({"type": "integer", "minimum": 0, "default": 0}), "Features to skip")
            .with(super::filters::documented_selection)
            .answers(200, "A page of features", GEOJSON, s::named("OgcFeatureCollection")),
    );
    api.get(
        "/ogc/collections/{id}/items/{fid}",
        item,
        Op::new("ogc", "OGC API: a feature")
            .about("One feature of the collection as GeoJSON (404 outside the asker's territory), with its links.")
            .with(collection_id)
            .path("fid", json!({"type": "integer", "minimum": 0, "examples": [1]}), "The feature's id")
            .answers(200, "The feature", GEOJSON, s::named("OgcFeature")),
    );
}
