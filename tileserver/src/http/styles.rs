//! MapLibre styles whose `vigie://` URLs point at this server.
//!
//! A workspace serves the server's styles (the bundled ones, or those of `styles_dir`) and its
//! own, stored in its `styles` document ([`STYLES_DOCUMENT`]) by its admins: a stored style with
//! the id of a server style replaces it in that workspace only (its web view then draws with
//! it), any other id adds one.
//!
//! `GET /styles` lists them, `GET /styles/{id}.json` serves one (readers); `PUT` and `DELETE
//! /api/styles/{id}` (admins) store and remove a workspace's own style, checked first
//! ([`check_style`]: 422 naming what to fix), versioned (`If-Match` → 412), audited, and served
//! by this process at once (other replicas within [`crate::WORKSPACE_SCAN`]).

use super::error::ApiError;
use super::{AppState, base_url};
use crate::identity::Access;
use crate::identity::audit::{Outcome, digest};
use crate::store::STYLES_DOCUMENT;
use anyhow::Context;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::Path as FsPath;

/// Styles bundled in the binary (`styles/` at build time).
pub const BUNDLED: &[(&str, &str)] = &[
    ("hypervision", include_str!("../../../styles/hypervision.json")),
    ("wall", include_str!("../../../styles/wall.json")),
];

/// URL scheme in style documents that stands for this server's base URL.
const SELF_SCHEME: &str = "vigie://";

/// Most bytes of one style sent to `PUT /api/styles/{id}`.
pub const MAX_STYLE_BYTES: usize = 1024 * 1024;
/// Most styles a workspace stores.
pub const MAX_STORED_STYLES: usize = 50;
/// Most layers in one style.
pub const MAX_STYLE_LAYERS: usize = 2000;

/// MapLibre style layer types (style specification v8).
const LAYER_TYPES: &[&str] =
    &["background", "fill", "line", "symbol", "circle", "heatmap", "fill-extrusion", "raster", "hillshade", "sky"];
/// MapLibre source types.
const SOURCE_TYPES: &[&str] = &["vector", "raster", "raster-dem", "geojson", "image", "video"];

/// Where a served style comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StyleOrigin {
    /// Bundled, or the operator's `styles_dir`: every workspace serves it.
    Server,
    /// Stored by the workspace's admins: that workspace only.
    Workspace,
}

/// A workspace's styles by id, with the version of its stored styles (0: none stored).
#[derive(Debug, Clone, Default)]
pub struct Styles {
    styles: BTreeMap<String, (Value, StyleOrigin)>,
    version: u64,
}

impl Styles {
    /// The bundled styles.
    ///
    /// # Errors
    /// When a bundled style is not JSON (a test checks they are).
    pub fn bundled() -> anyhow::Result<Self> {
        let styles = BUNDLED
            .iter()
            .map(|(id, text)| {
                let v = serde_json::from_str(text).with_context(|| format!("bundled style {id}"))?;
                Ok(((*id).to_owned(), (v, StyleOrigin::Server)))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { styles, version: 0 })
    }

    /// Every `*.json` file of a directory, by file stem.
    ///
    /// # Errors
    /// When the directory cannot be read or a file is not JSON (names the file).
    pub fn from_dir(dir: &FsPath) -> anyhow::Result<Self> {
        let mut styles = BTreeMap::new();
        for entry in
            std::fs::read_dir(dir).with_context(|| format!("cannot read styles directory {}", dir.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json")
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
                let v: Value =
                    serde_json::from_str(&text).with_context(|| format!("style {} is not JSON", path.display()))?;
                styles.insert(stem.to_owned(), (v, StyleOrigin::Server));
            }
        }
        Ok(Self { styles, version: 0 })
    }

    /// The server's styles (`styles_dir`, else the bundled ones) with a workspace's stored
    /// styles over them.
    ///
    /// # Errors
    /// When the styles directory cannot be read, or the stored document is not a JSON object
    /// of styles.
    pub fn of_workspace(
        styles_dir: Option<&FsPath>,
        stored: Option<&crate::store::StoredDocument>,
    ) -> anyhow::Result<Self> {
        let mut styles = match styles_dir {
            Some(dir) => Self::from_dir(dir)?,
            None => Self::bundled()?,
        };
        if let Some(doc) = stored {
            for (id, style) in parse_stored(&doc.document).context("the workspace's stored styles")? {
                styles.styles.insert(id, (style, StyleOrigin::Workspace));
            }
            styles.version = doc.version;
        }
        Ok(styles)
    }

    /// The version of the workspace's stored styles (0: none stored).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Style ids.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.styles.keys().map(String::as_str)
    }

    /// A style with its `vigie://` URLs made absolute against `base`.
    pub fn resolved(&self, id: &str, base: &str) -> Option<Value> {
        let mut v = self.styles.get(id)?.0.clone();
        rewrite(&mut v, &format!("{base}/"));
        Some(v)
    }
}

/// A stored styles document: a JSON object of styles by id.
///
/// # Errors
/// When it is not such an object.
pub fn parse_stored(document: &str) -> anyhow::Result<Map<String, Value>> {
    match serde_json::from_str(document)? {
        Value::Object(m) => Ok(m),
        _ => anyhow::bail!("expected a JSON object of styles by id"),
    }
}

fn rewrite(v: &mut Value, base: &str) {
    match v {
        Value::String(s) => {
            if let Some(rest) = s.strip_prefix(SELF_SCHEME) {
                *s = format!("{base}{rest}");
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, base)),
        Value::Object(o) => o.values_mut().for_each(|x| rewrite(x, base)),
        _ => {}
    }
}

/// Checks a style id: 1 to 64 characters among a-z, 0-9, '-' and '_'.
///
/// # Errors
/// What is wrong.
pub fn check_style_id(id: &str) -> Result<(), String> {
    if id.is_empty()
        || id.len() > 64
        || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(format!("style id '{id}' must be 1 to 64 characters among a-z, 0-9, '-' and '_'"));
    }
    Ok(())
}

/// Checks what a MapLibre client needs of a style before it draws anything (style
/// specification v8): `version` 8, `sources` an object of sources of known types, each with
/// `url`, `tiles` or `data`; `layers` an array of at most [`MAX_STYLE_LAYERS`] layers, each
/// with a unique `id` and a known `type`, and (but `background` and `sky`) a `source` the style
/// defines. Paint and layout values are the client's to read (the tests run the reference
/// validator, `gl-style-validate`, over what is served). Returns every problem.
///
/// # Errors
/// One line per problem, naming the source or layer.
pub fn check_style(style: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let Some(obj) = style.as_object() else {
        return Err(vec!["a style is a JSON object".into()]);
    };
    if obj.get("version").and_then(Value::as_u64) != Some(8) {
        problems.push("version must be 8 (MapLibre style specification v8)".into());
    }
    // The specification's text fields (found by schemathesis: a name stored as [null, null]).
    for key in ["name", "sprite", "glyphs"] {
        if obj.get(key).is_some_and(|v| !(v.is_string() || key == "sprite" && v.is_array())) {
            problems.push(format!("{key} must be a string"));
        }
    }
    let sources = if let Some(Value::Object(s)) = obj.get("sources") {
        s.clone()
    } else {
        problems.push("sources must be an object of sources by id".into());
        Map::new()
    };
    for (id, source) in &sources {
        let kind = source.get("type").and_then(Value::as_str).unwrap_or_default();
        if !SOURCE_TYPES.contains(&kind) {
            problems.push(format!("source '{id}': type must be one of {}", SOURCE_TYPES.join(", ")));
        }
        if !["url", "tiles", "data", "urls"].iter().any(|k| source.get(*k).is_some()) {
            problems.push(format!("source '{id}': give url (TileJSON), tiles, data or urls"));
        }
    }
    match obj.get("layers") {
        Some(Value::Array(layers)) => {
            if layers.len() > MAX_STYLE_LAYERS {
                problems.push(format!("{} layers: at most {MAX_STYLE_LAYERS}", layers.len()));
            }
            let mut ids = std::collections::HashSet::new();
            for (i, layer) in layers.iter().enumerate() {
                let Some(id) = layer.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) else {
                    problems.push(format!("layers[{i}]: id must be a non-empty string"));
                    continue;
                };
                if layer.get("source").is_some_and(|s| !s.is_string()) {
                    problems.push(format!("layer '{id}': source must be the id of one of the style's sources"));
                }
                if !ids.insert(id) {
                    problems.push(format!("layer '{id}': id used by an earlier layer"));
                }
                let kind = layer.get("type").and_then(Value::as_str).unwrap_or_default();
                if !LAYER_TYPES.contains(&kind) {
                    problems.push(format!("layer '{id}': type must be one of {}", LAYER_TYPES.join(", ")));
                } else if !matches!(kind, "background" | "sky") {
                    match layer.get("source").and_then(Value::as_str) {
                        Some(s) if sources.contains_key(s) => {}
                        Some(s) => problems.push(format!("layer '{id}': source '{s}' is not in the style's sources")),
                        None => problems.push(format!("layer '{id}': a {kind} layer names its source")),
                    }
                }
            }
        }
        _ => problems.push("layers must be an array".into()),
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// The style handler (`/styles/hypervision.json`; the `.json` suffix is optional).
///
/// # Errors
/// 404 naming the known styles; 400 without a usable Host header.
pub async fn style(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let id = file.strip_suffix(".json").unwrap_or(&file);
    let base = base_url(&state, &headers)?;
    let styles = state.styles();
    styles.resolved(id, &base).map(Json).ok_or_else(|| {
        let known: Vec<&str> = styles.ids().collect();
        ApiError::NotFound(format!("unknown style '{id}'; styles: {}", known.join(", ")))
    })
}

/// `GET /styles`: the workspace's styles, with where each comes from and its URL.
pub async fn list(State(state): State<AppState>) -> Response {
    let styles = state.styles();
    let list: Vec<Value> = styles
        .styles
        .iter()
        .map(|(id, (style, origin))| {
            json!({
                "id": id,
                "name": style.get("name").and_then(Value::as_str).unwrap_or(id),
                "origin": origin,
                "url": format!("{}/styles/{id}.json", state.url_prefix),
            })
        })
        .collect();
    with_etag(StatusCode::OK, json!({"version": styles.version, "styles": list}), styles.version)
}

fn with_etag(status: StatusCode, body: Value, version: u64) -> Response {
    let mut resp = (status, Json(body)).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert(header::ETAG, etag);
    }
    resp
}

/// What one change does to the stored styles: `Some(created)` when it applies, `None` when
/// the style to remove is not stored (404).
type Change<'a> = dyn Fn(&mut Map<String, Value>) -> Option<bool> + Send + Sync + 'a;

/// Applies `change` to the stored styles, stores the result as the next version (`If-Match`:
/// 412 when stale; without it a lost race is retried), audits it and serves it at once.
async fn apply(
    state: &AppState,
    access: &Access,
    headers: &HeaderMap,
    action: &str,
    id: &str,
    change: &Change<'_>,
) -> Result<Response, ApiError> {
    use crate::store::{Edited, edit_document};
    let wanted = super::entries::version_matched::<u64>(headers, "the styles")?;
    let edited = edit_document(state.store.as_ref(), STYLES_DOCUMENT, wanted, &access.actor(), |stored| {
        let before = match stored {
            Some(d) => parse_stored(&d.document).map_err(ApiError::Internal)?,
            None => Map::new(),
        };
        let mut after = before.clone();
        let Some(created) = change(&mut after) else {
            return Err(ApiError::NotFound(format!(
                "the workspace stores no style '{id}' (a server style cannot be removed; replace it with PUT)"
            )));
        };
        if after.len() > MAX_STORED_STYLES {
            return Err(ApiError::InvalidDefinition(format!("a workspace stores at most {MAX_STORED_STYLES} styles")));
        }
        let digests = (before.get(id).map(digest), after.get(id).map(digest));
        Ok((Value::Object(after).to_string(), (digests, created)))
    })
    .await?;
    let (from, to, ((before, after), created)) = match edited {
        Edited::Stored { from, to, value } => (from, to, value),
        Edited::Stale { current } => {
            return Err(ApiError::PreconditionFailed(format!(
                "the workspace's styles are at version {current}: reload them (GET /styles) and apply your change again"
            )));
        }
        Edited::Busy => {
            return Err(ApiError::Conflict(
                "the workspace's styles are being changed by others at the same time: try again".into(),
            ));
        }
    };
    let detail = json!({"from_version": from, "to_version": to, "before": before, "after": after});
    let target = format!("style/{id}");
    state.identities.record(state.identities.draft(access, action, &target, Outcome::Ok, detail)).await;
    crate::refresh_styles(state).await.map_err(ApiError::Internal)?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let body = json!({"id": id, "version": to, "url": format!("{}/styles/{id}.json", state.url_prefix)});
    Ok(with_etag(status, body, to))
}

/// `PUT /api/styles/{id}` (admin): stores a MapLibre style (JSON, at most
/// [`MAX_STYLE_BYTES`]) as the workspace's style `id`: 201 when new, 200 when it replaces the
/// workspace's own or overrides a server style. `vigie://` URLs in it stand for the workspace's
/// base URL (`vigie://tiles/…`), as in the bundled styles.
///
/// # Errors
/// 422 naming every problem ([`check_style`]), 412 on a stale `If-Match`, 413, 415.
pub async fn put_style(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    super::entries::require_json(&headers)?;
    if body.len() > MAX_STYLE_BYTES {
        return Err(ApiError::TooLarge(format!("a style is at most {MAX_STYLE_BYTES} bytes")));
    }
    check_style_id(&id).map_err(ApiError::InvalidDefinition)?;
    let style: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("Invalid JSON", e.to_string()))?;
    if let Err(problems) = check_style(&style) {
        let reason = json!({"reason": problems.join("; ")});
        let target = format!("style/{id}");
        state.identities.record(state.identities.draft(&access, "style.put", &target, Outcome::Refused, reason)).await;
        return Err(ApiError::InvalidDefinition(format!("style '{id}': {}", problems.join("; "))));
    }
    // Created: neither the workspace's own nor a server style had this id.
    let served = state.styles().ids().any(|known| known == id);
    let change = |styles: &mut Map<String, Value>| Some(styles.insert(id.clone(), style.clone()).is_none() && !served);
    apply(&state, &access, &headers, "style.put", &id, &change).await
}

/// `DELETE /api/styles/{id}` (admin): removes the workspace's own style `id`; a server style
/// it overrode is served again.
///
/// # Errors
/// 404 when the workspace stores no such style, 412 on a stale `If-Match`.
pub async fn delete_style(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let change = |styles: &mut Map<String, Value>| styles.remove(&id).map(|_| false);
    apply(&state, &access, &headers, "style.delete", &id, &change).await
}

/// A MapLibre style document (style specification v8), as [`check_style`] checks it.
fn style_schema() -> Value {
    use super::openapi::schema as s;
    let mut source = s::object(&[("type", s::one_of(SOURCE_TYPES))], &["type"]);
    source["description"] = json!("A source: its `type`, and `url` (TileJSON), `tiles`, `data` or `urls`");
    let mut layer = s::object(
        &[("id", json!({"type": "string", "minLength": 1})), ("type", s::one_of(LAYER_TYPES)), ("source", s::string())],
        &["id", "type"],
    );
    layer["description"] =
        json!("A layer: a unique `id`, its `type` and (but `background` and `sky`) a `source` of the style");
    let mut layers = s::array(layer);
    layers["maxItems"] = json!(MAX_STYLE_LAYERS);
    let mut style = s::object(
        &[
            ("version", json!({"type": "integer", "const": 8})),
            ("name", s::string()),
            ("sources", s::map_of(source)),
            ("layers", layers),
        ],
        &["version", "sources", "layers"],
    );
    style["description"] = json!(
        "A MapLibre style (specification v8, https://maplibre.org/maplibre-style-spec/): paint and layout are \
         the client's to read"
    );
    style
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    api.component("Style", style_schema());
    let etag = || s::pattern("^\"[0-9]+\"$");
    let if_match = |op: Op| {
        op.header(
            "If-Match",
            s::pattern("^(W/)?\"?[0-9]+\"?$"),
            "The version of the workspace's styles being edited (the `ETag` of `GET /styles`): a stale one \
             is a 412",
        )
    };
    let stored =
        s::object(&[("id", s::string()), ("version", s::int()), ("url", s::string())], &["id", "version", "url"]);
    let id = || s::pattern("^[a-z0-9_-]{1,64}$");
    api.get(
        "/styles",
        list,
        Op::new("styles", "The styles")
            .about(
                "The workspace's styles: the server's (bundled, or the operator's `styles_dir`) and those its \
                 admins stored, with where each comes from and its URL. `version` (the `ETag`) is the \
                 version of the stored styles (0: none).",
            )
            .json(
                200,
                "The styles",
                s::object(
                    &[
                        ("version", s::int()),
                        (
                            "styles",
                            s::array(s::object(
                                &[
                                    ("id", s::string()),
                                    ("name", s::string()),
                                    ("origin", s::one_of(&["server", "workspace"])),
                                    ("url", s::string()),
                                ],
                                &["id", "name", "origin", "url"],
                            )),
                        ),
                    ],
                    &["version", "styles"],
                ),
            )
            .answer_header(200, "ETag", etag(), "The version of the workspace's stored styles"),
    );
    api.get(
        "/styles/{file}",
        style,
        Op::new("styles", "A MapLibre style")
            .about(
                "One style, its `vigie://` URLs made absolute against the asker's base URL (the workspace's, \
                 `/w/{workspace}` included). 404 naming the known styles.",
            )
            .path(
                "file",
                json!({"type": "string", "examples": ["hypervision.json", "wall"]}),
                "The style's id, with or without `.json` (`hypervision.json`)",
            )
            .json(200, "The style", s::named("Style")),
    );
    api.put(
        "/api/styles/{id}",
        put_style,
        Op::new("styles", "Store a style")
            .about(
                "Stores a MapLibre style (JSON, at most 1 MiB) as the workspace's style `id`: 201 when new, \
                 200 when it replaces the workspace's own or overrides a server style (in this workspace \
                 only). `vigie://` URLs in it stand for the workspace's base URL (`vigie://tiles/…`). \
                 Checked first (422 naming every problem: an id outside a-z, 0-9, `-` and `_`, a version \
                 other than 8, an unknown source or layer type, a layer without its source…); a workspace \
                 stores at most 50 styles. Versioned, audited, and served at once.",
            )
            .path("id", id(), "The style's id")
            .with(if_match)
            .json_body(s::named("Style"), "The style")
            .json(200, "Replaced: the style's id, the styles' new version and its URL", stored.clone())
            .answer_header(200, "ETag", etag(), "The new version of the workspace's stored styles")
            .json(201, "Created", stored.clone())
            .answer_header(201, "ETag", etag(), "The new version of the workspace's stored styles")
            .fails(&[409, 412, 422]),
    );
    api.delete(
        "/api/styles/{id}",
        delete_style,
        Op::new("styles", "Remove a stored style")
            .about(
                "Removes the workspace's own style `id`; a server style it overrode is served again. 404 \
                 when the workspace stores no such style (a server style cannot be removed).",
            )
            .path("id", s::string(), "The style's id")
            .with(if_match)
            .json(200, "Removed: the style's id, the styles' new version and its URL", stored)
            .answer_header(200, "ETag", etag(), "The new version of the workspace's stored styles")
            .fails(&[409, 412]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_styles_pass_and_broken_ones_are_named() {
        let bundled = Styles::bundled().unwrap();
        for id in bundled.ids() {
            check_style(&bundled.styles[id].0).unwrap_or_else(|p| panic!("{id}: {p:?}"));
        }
        let style = json!({
            "version": 8,
            "sources": {"v": {"type": "vector", "url": "vigie://tiles/entries"}, "x": {"type": "wms"}},
            "layers": [
                {"id": "bg", "type": "background"},
                {"id": "a", "type": "circle", "source": "v"},
                {"id": "a", "type": "line", "source": "nope"},
                {"id": "b", "type": "blob", "source": "v"},
                {"id": "c", "type": "fill"},
                {"type": "fill"},
                {"id": "", "type": "fill", "source": "v"},
                {"id": "d", "type": "background", "source": {}}
            ],
            "name": [null, null]
        });
        let problems = check_style(&style).unwrap_err().join("\n");
        for needle in [
            "source 'x': type must be one of",
            "source 'x': give url",
            "layer 'a': id used by an earlier layer",
            "layer 'a': source 'nope' is not in the style's sources",
            "layer 'b': type must be one of",
            "layer 'c': a fill layer names its source",
            "layers[5]: id must be a non-empty string",
            "layers[6]: id must be a non-empty string",
            "layer 'd': source must be the id of one of the style's sources",
            "name must be a string",
        ] {
            assert!(problems.contains(needle), "{needle}: {problems}");
        }
        assert!(check_style(&json!([])).is_err());
        assert!(check_style_id("night-2").is_ok() && check_style_id("../x").is_err() && check_style_id("").is_err());
    }
}
