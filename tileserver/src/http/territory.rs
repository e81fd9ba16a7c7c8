//! Territories over HTTP (issue 15): the part of the map an identity sees.
//!
//! A territory is a JSON array of regions written as region queries write them — `{"area":
//! "departements:93"}` (a feature of a dataset layer, by its key), `{"geometry": {GeoJSON
//! polygon}}`, `{"bbox": [w, s, e, n]}`, `{"circle": {"lon", "lat", "radius_m"}}`. It is stored
//! on a membership (`PUT /api/members/{name}`), on a workspace (`PUT /api/workspace/territory`:
//! it narrows every member but the admins) and on an API token (inside its creator's). The
//! levels an identity has make its access's territory (`{"all_of": [...]}` when several); it
//! then sees, on the scoped layers (the log's entries, their H3 counts, restricted datasets),
//! only the features meeting every level ([`vigie_layers::scope`]).
//!
//! Narrowed: tiles (every layer, composite, H3), TileJSON bounds, region queries with their
//! summaries and CSV exports, `/api/h3`, the feature counts of `/catalog`, the entry list and
//! its full-text search, one entry, its revisions and photos (404 outside), the event stream,
//! the OGC API, and recording entries (422 outside, and no edit moves one out). Every other
//! route refuses an identity with a territory (403, [`TERRITORY_ROUTES`]): nothing is served
//! that is not narrowed.

use super::error::ApiError;
use super::{AppState, Shared, query};
use crate::identity::Access;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use vigie_layers::scope::Scope;

/// Most regions in a territory.
pub const MAX_PARTS: usize = 200;
/// Most bytes of a territory's JSON.
pub const MAX_TERRITORY_BYTES: usize = 2 * 1024 * 1024;

/// Routes (method and template; `HEAD` follows `GET`) that narrow what they serve to the
/// asker's territory, besides the public ones. The others refuse an identity with a territory
/// (see [`super::access`]) until they narrow too — writes included.
pub const TERRITORY_ROUTES: &[(Method, &str)] = &[
    (Method::DELETE, "/api/session"),
    (Method::GET, "/catalog"),
    (Method::GET, "/tiles/{layers}"),
    (Method::GET, "/tiles/{layers}/{z}/{x}/{y}"),
    (Method::GET, "/styles"),
    (Method::GET, "/styles/{file}"),
    (Method::GET, "/api/query"),
    (Method::POST, "/api/query"),
    (Method::GET, "/api/h3"),
    (Method::GET, "/api/staticmap"),
    (Method::GET, "/api/entries"),
    (Method::POST, "/api/entries"),
    (Method::GET, "/api/entries/{id}"),
    (Method::PATCH, "/api/entries/{id}"),
    (Method::DELETE, "/api/entries/{id}"),
    (Method::GET, "/api/entries/{id}/revisions"),
    (Method::POST, "/api/entries/{id}/escalate"),
    (Method::POST, "/api/entries/{id}/send"),
    (Method::DELETE, "/api/entries/{id}/copies/{workspace}"),
    (Method::POST, "/api/entries/{id}/comments"),
    (Method::GET, "/api/workspace"),
    (Method::POST, "/api/entries/{id}/attachments"),
    (Method::GET, "/api/attachments/{sha256}"),
    (Method::GET, "/api/events"),
    (Method::GET, "/ogc"),
    (Method::GET, "/ogc/conformance"),
    (Method::GET, "/ogc/api"),
    (Method::GET, "/ogc/collections"),
    (Method::GET, "/ogc/collections/{id}"),
    (Method::GET, "/ogc/collections/{id}/items"),
    (Method::GET, "/ogc/collections/{id}/items/{fid}"),
    // Reports cover the workspace's territory: a member narrowed further is refused in the
    // handlers (`reports::scope`).
    (Method::GET, "/api/reports"),
    (Method::POST, "/api/reports"),
    (Method::GET, "/api/reports/settings"),
    (Method::GET, "/api/reports/schedule"),
    (Method::GET, "/api/reports/feed.atom"),
    (Method::GET, "/api/reports/{id}"),
    (Method::GET, "/api/reports/{id}/compiled"),
    (Method::PUT, "/api/reports/{id}/sections/{section}"),
    (Method::POST, "/api/reports/{id}/status"),
    (Method::POST, "/api/reports/{id}/correct"),
    (Method::GET, "/api/reports/{id}/diff"),
    (Method::POST, "/api/reports/{id}/presence"),
    (Method::GET, "/api/reports/{id}/html"),
    (Method::GET, "/api/reports/{id}/pdf"),
    (Method::GET, "/api/reports/{id}/maps/{n}"),
    // Offline packs hold the asker's tiles (`export::Pack::plan` takes their scope).
    (Method::GET, "/api/exports"),
    (Method::POST, "/api/exports"),
    (Method::GET, "/api/exports/{id}"),
    (Method::DELETE, "/api/exports/{id}"),
    (Method::GET, "/api/exports/{id}/pack"),
    (Method::GET, "/api/exports/{id}/basemap"),
    (Method::GET, "/api/exports/{id}/style"),
    (Method::GET, "/api/workspace/territory"),
    (Method::GET, "/api/me/territory"),
    (Method::GET, "/api/tokens"),
    (Method::POST, "/api/tokens"),
    (Method::DELETE, "/api/tokens/{id}"),
];

/// Whether a route narrows what it serves to the asker's territory.
pub fn narrows(method: &Method, path: &str) -> bool {
    TERRITORY_ROUTES.iter().any(|(m, p)| m == method && *p == path)
}

/// Checks a territory an admin gives: every region must resolve in this workspace now (an
/// unknown area is a 422 naming it). Returns the canonical JSON stored.
///
/// # Errors
/// 422 naming the region and what is wrong.
pub fn check(state: &Shared, territory: &Value) -> Result<String, ApiError> {
    let text = territory.to_string();
    if text.len() > MAX_TERRITORY_BYTES {
        return Err(ApiError::InvalidDefinition(format!("a territory is at most {MAX_TERRITORY_BYTES} bytes")));
    }
    resolve_level(state, territory)?;
    Ok(text)
}

/// `GET /api/me/territory`: the asker's territory as GeoJSON, for a map to outline it and
/// grey out the rest: one feature per level (`level` 0 is the narrowest: a token's, then the
/// membership's, then the workspace's), boxes and circles drawn as polygons. No feature when
/// the asker sees the whole workspace.
///
/// # Errors
/// 403 when the territory no longer resolves.
pub async fn mine(State(state): State<AppState>, access: Access) -> Result<Response, ApiError> {
    let scope = scope_of(&state, &access)?;
    let features: Vec<Value> = scope
        .map(|s| s.outlines())
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(level, mp)| {
            let geometry = vigie_layers::journal::geometry_json(&geo::Geometry::MultiPolygon(mp.clone()));
            json!({"type": "Feature", "properties": {"level": level}, "geometry": geometry})
        })
        .collect();
    let mut r = Json(json!({"type": "FeatureCollection", "features": features})).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/geo+json"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    Ok(r)
}

/// `GET /api/workspace/territory`: the workspace's territory (`{"territory": [...]}`, `null`
/// for the whole map) and its box.
///
/// # Errors
/// The store's.
pub async fn get_workspace(State(state): State<AppState>, access: Access) -> Result<Json<Value>, ApiError> {
    let text = state.identities.store().workspace_territory(&access.workspace).await?;
    let bbox = text.as_deref().and_then(|t| resolve(&state, t).ok()).map(|s| {
        let b = s.bounds();
        json!([b.min().x, b.min().y, b.max().x, b.max().y])
    });
    Ok(Json(json!({
        "territory": text.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok()),
        "bbox": bbox,
    })))
}

/// `PUT /api/workspace/territory` `{"territory": [...] | null}` (admin): sets the territory
/// of the workspace; its members but the admins then see the scoped layers within it.
///
/// # Errors
/// 422 for a territory that does not resolve; 400 for a body without `territory`.
pub async fn put_workspace(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let v = super::entries::json_request(&headers, &body)?;
    let territory = match v.get("territory") {
        None => {
            return Err(ApiError::bad_request(
                "Missing territory",
                "give {\"territory\": [regions]} or {\"territory\": null} for the whole map",
            ));
        }
        Some(Value::Null) => None,
        Some(t) => Some(check(&state, t)?),
    };
    state.identities.set_workspace_territory(&access.workspace, Some(&access), territory.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The territory `text` prepared: a JSON array of regions, or (an identity narrowed at
/// several levels: token, membership, workspace) `{"all_of": [territory, …]}`, where a feature
/// must meet each.
fn resolve(state: &Shared, text: &str) -> Result<Scope, ApiError> {
    let value = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    if let Some(Value::Array(levels)) = value.get("all_of") {
        let mut scopes = levels.iter().map(|level| resolve_level(state, level));
        let first = scopes.next().ok_or_else(|| ApiError::InvalidDefinition("territory: empty all_of".into()))??;
        return scopes.try_fold(first, |inner, outer| Ok(inner.within(&outer?)));
    }
    resolve_level(state, &value)
}

/// One level of a territory: a JSON array of regions.
fn resolve_level(state: &Shared, value: &Value) -> Result<Scope, ApiError> {
    let invalid = |m: String| ApiError::InvalidDefinition(format!("territory: {m}"));
    let parts = match value {
        Value::Array(parts) if !parts.is_empty() && parts.len() <= MAX_PARTS => parts,
        _ => {
            return Err(invalid(format!(
                "a JSON array of 1 to {MAX_PARTS} regions, e.g. [{{\"area\": \"departements:93\"}}]"
            )));
        }
    };
    let prepared = parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let Value::Object(p) = part else { return Err(invalid(format!("[{i}] is not a JSON object"))) };
            query::region(state, p).map_err(|e| match e {
                ApiError::BadRequest { detail, .. } | ApiError::NotFound(detail) => invalid(format!("[{i}]: {detail}")),
                other => other,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Scope::of_parts(prepared).map_err(|e| invalid(e.to_string()))
}

/// The territory of the asker, prepared (cached per workspace state by its text); `None` for
/// the whole workspace.
///
/// # Errors
/// 403 when the territory no longer resolves (its area's dataset was removed or changed):
/// nothing is served rather than everything.
pub fn scope_of(state: &Shared, access: &Access) -> Result<Option<Arc<Scope>>, ApiError> {
    let Some(text) = &access.territory else { return Ok(None) };
    scope_for(state, text).map(Some).map_err(|e| {
        tracing::warn!(actor = %access.actor(), error = %e, "a member's territory does not resolve");
        ApiError::Forbidden(
            "your territory cannot be resolved in this workspace (an area it names is missing): ask an admin".into(),
        )
    })
}

/// The territory `text` prepared (cached per workspace state by its text).
///
/// # Errors
/// 422 when it does not resolve.
pub fn scope_for(state: &Shared, text: &Arc<str>) -> Result<Arc<Scope>, ApiError> {
    if let Some(scope) = state.scopes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(text) {
        return Ok(scope.clone());
    }
    let scope = Arc::new(resolve(state, text)?);
    let mut cache = state.scopes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if cache.len() >= 1024 {
        cache.clear();
    }
    cache.insert(text.clone(), scope.clone());
    Ok(scope)
}

/// The schema of a territory (members', tokens' and the workspace's).
pub(super) fn schema() -> Value {
    use super::openapi::schema as s;
    let mut territory = s::array(s::named("TerritoryRegion"));
    territory["minItems"] = json!(1);
    territory["maxItems"] = json!(MAX_PARTS);
    territory["description"] = json!(
        "Regions written as region queries write them (`{\"area\": \"departements:93\"}`, `{\"bbox\": [w, s, e, n]}`…; \
         not H3 cells): the territory is their union"
    );
    territory
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    let territory = schema();
    let bbox = json!({"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4});
    api.get(
        "/api/me/territory",
        mine,
        Op::new("identity", "The asker's territory")
            .about(
                "The part of the map the asker sees, as GeoJSON for a map to outline it: one feature per level \
                 (`level` 0 is the narrowest: a token's, then the membership's, then the workspace's), boxes and \
                 circles drawn as polygons. No feature when the asker sees the whole workspace. 403 when the \
                 territory no longer resolves.",
            )
            .answers(
                200,
                "The territory's outlines",
                "application/geo+json",
                s::object(
                    &[
                        ("type", json!({"type": "string", "const": "FeatureCollection"})),
                        (
                            "features",
                            s::array(s::object(
                                &[
                                    ("type", json!({"type": "string", "const": "Feature"})),
                                    (
                                        "properties",
                                        s::object(&[("level", json!({"type": "integer", "minimum": 0}))], &["level"]),
                                    ),
                                    ("geometry", s::named("Geometry")),
                                ],
                                &["type", "properties", "geometry"],
                            )),
                        ),
                    ],
                    &["type", "features"],
                ),
            )
            .answer_header(200, "Cache-Control", s::string(), "`private, no-cache`"),
    );
    api.get(
        "/api/workspace/territory",
        get_workspace,
        Op::new("workspaces", "The workspace's territory")
            .about(
                "The territory narrowing every member of the workspace but the admins (`null`: the whole map), and \
                 its box (`null` when there is none or it no longer resolves).",
            )
            .json(
                200,
                "The territory and its box",
                s::object(
                    &[("territory", s::nullable(territory.clone())), ("bbox", s::nullable(bbox))],
                    &["territory", "bbox"],
                ),
            ),
    );
    api.put(
        "/api/workspace/territory",
        put_workspace,
        Op::new("workspaces", "Set the workspace's territory")
            .about(
                "Sets the territory of the workspace (`null`: the whole map): its members but the admins then see \
                 the scoped layers (the log's entries, their H3 counts, restricted datasets) within it. Every region \
                 must resolve now (422 naming the one that does not); at most 200 regions and 2 MiB.",
            )
            .json_body(s::object(&[("territory", s::nullable(territory))], &["territory"]), "The territory, or `null`")
            .empty(204, "Set")
            .fails(&[422]),
    );
}
