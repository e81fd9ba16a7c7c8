//! Territories over HTTP (issue 15, first part): a membership narrowed to part of the map.
//!
//! A territory is a JSON array of regions written as region queries write them — `{"area":
//! "departements:93"}` (a feature of a dataset layer, by its key), `{"geometry": {GeoJSON
//! polygon}}`, `{"bbox": [w, s, e, n]}`, `{"circle": {"lon", "lat", "radius_m"}}` — stored on
//! the membership (`PUT /api/members/{name}` with `territory`, `vigie user territory`). The
//! member's sessions and API tokens then see, on the scoped layers (the log's entries, their H3
//! counts, restricted datasets), only the features meeting it ([`vigie_layers::scope`]).
//!
//! Enforced so far: tiles (every layer, composite, H3), TileJSON bounds, region queries with
//! their summaries and CSV exports, `/api/h3`, the feature counts of `/catalog`, the entry list
//! and its full-text search, reading, editing and deleting one entry (404 outside), and
//! recording entries (422 outside, and no edit moves one out). Every other route refuses an
//! identity with a territory (403, [`TERRITORY_ROUTES`]): nothing is served that is not
//! narrowed.

use super::error::ApiError;
use super::{Shared, query};
use crate::identity::Access;
use axum::http::Method;
use serde_json::Value;
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
    (Method::GET, "/api/entries"),
    (Method::POST, "/api/entries"),
    (Method::GET, "/api/entries/{id}"),
    (Method::PATCH, "/api/entries/{id}"),
    (Method::DELETE, "/api/entries/{id}"),
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
    resolve(state, &text)?;
    Ok(text)
}

/// The territory `text` prepared.
fn resolve(state: &Shared, text: &str) -> Result<Scope, ApiError> {
    let invalid = |m: String| ApiError::InvalidDefinition(format!("territory: {m}"));
    let parts = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(parts)) if !parts.is_empty() && parts.len() <= MAX_PARTS => parts,
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
    if let Some(scope) = state.scopes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(text) {
        return Ok(Some(scope.clone()));
    }
    let scope = Arc::new(resolve(state, text).map_err(|e| {
        tracing::warn!(actor = %access.actor(), error = %e, "a member's territory does not resolve");
        ApiError::Forbidden(
            "your territory cannot be resolved in this workspace (an area it names is missing): ask an admin".into(),
        )
    })?);
    let mut cache = state.scopes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if cache.len() >= 1024 {
        cache.clear();
    }
    cache.insert(text.clone(), scope.clone());
    Ok(Some(scope))
}
