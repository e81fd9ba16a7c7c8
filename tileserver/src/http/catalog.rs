//! The layer catalog over HTTP.
//!
//! `GET /catalog` (readers): every layer with its theme, geometry types, zoom range, visibility,
//! feature count and fields, plus the themes with their colours and the catalog's version.
//!
//! `/api/catalog…` (admins): the stored definitions, edited at run time. `PUT` and `DELETE` of
//! one theme or layer (or `PUT /api/catalog` of the whole document) check the result as the
//! catalog file is checked (422 naming the theme or layer and what to fix), store it as the
//! next version (`If-Match` with the `ETag` guards against a concurrent edit: 412), record it in
//! the audit trail with before/after digests, then rebuild the workspace's state and swap it in
//! ([`crate::reload_workspace`]): when the answer comes, `/catalog`, TileJSON, tiles and queries
//! serve the new catalog. Other replicas pick it up within [`crate::WORKSPACE_SCAN`].

use super::AppState;
use super::error::ApiError;
use crate::identity::Access;
use crate::identity::audit::{Outcome, digest};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use vigie_layers::catalog::{Catalog, CatalogError, LayerDef, LayerKind, Theme};
use vigie_layers::feature::{Field, format_time_ms};

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
    /// Feature count; `null` for a scoped layer asked by an identity with a territory (the
    /// count would tell what lies outside).
    features: Option<usize>,
    fields: Vec<Field>,
    /// The encoding of its tiles (`mvt`, or a raster archive's `png`, `jpeg`, `webp`, `avif`):
    /// raster layers are drawn from their own source, never in a composite tile.
    format: crate::tiles::TileFormat,
    tiles: String,
    tilejson: String,
    /// Why its tiles cannot be served now (an archive not there yet, or unreachable): the web
    /// view then leaves it out rather than ask for tiles that answer 503.
    #[serde(skip_serializing_if = "Option::is_none")]
    unavailable: Option<String>,
}

/// The catalog document.
#[derive(Debug, Serialize)]
pub struct CatalogDoc {
    version: u64,
    name: String,
    attribution: String,
    /// The layer the web view draws under the others (an archive layer), if any.
    basemap: Option<String>,
    themes: Vec<Theme>,
    layers: Vec<CatalogLayer>,
}

/// Geometry types a layer kind carries.
pub fn geometry_types(kind: LayerKind) -> &'static [&'static str] {
    match kind {
        LayerKind::Venues | LayerKind::Staffing => &["Point"],
        LayerKind::Perimeters | LayerKind::H3 => &["Polygon"],
        LayerKind::Entries => &["Point", "LineString", "Polygon"],
        // An archive's layers are its own (TileJSON `vector_layers`); a raster one has none.
        LayerKind::Pmtiles | LayerKind::Mbtiles => &[],
        LayerKind::Dataset | LayerKind::Table => {
            &["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"]
        }
    }
}

/// The catalog handler.
pub async fn catalog(State(state): State<AppState>, access: Access) -> Json<CatalogDoc> {
    let engine = &state.engine;
    let c = engine.catalog();
    let mut layers = Vec::new();
    for source in state.tiles.iter() {
        let d = &source.layer().def;
        let unavailable = source.available().await.err();
        layers.push(CatalogLayer {
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
            features: (access.territory.is_none() || !source.layer().scoped()).then(|| source.feature_count()),
            fields: source.schema().fields.clone(),
            format: source.format(),
            tiles: format!("{}/tiles/{}/{{z}}/{{x}}/{{y}}.{}", state.url_prefix, d.id, source.format().extension()),
            tilejson: format!("{}/tiles/{}", state.url_prefix, d.id),
            unavailable,
        });
    }
    Json(CatalogDoc {
        version: state.catalog_version,
        name: c.name.clone(),
        attribution: c.attribution.clone(),
        basemap: c.basemap.clone(),
        themes: c.themes.clone(),
        layers,
    })
}

/// Most bytes of a catalog document sent to `PUT /api/catalog`.
pub const MAX_CATALOG_BYTES: usize = 1024 * 1024;

fn origin(state: &super::Shared) -> String {
    format!("of workspace '{}'", state.config.workspace)
}

fn invalid(e: &CatalogError) -> ApiError {
    ApiError::InvalidDefinition(e.to_string())
}

/// The stored catalog and its version, as the admin API shows it.
async fn stored_catalog(state: &super::Shared) -> Result<(Catalog, crate::store::StoredDocument), ApiError> {
    let stored = state
        .store
        .catalog()
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the workspace's catalog is not stored")))?;
    let catalog = Catalog::from_json(&stored.document, &origin(state)).map_err(|e| ApiError::Internal(e.into()))?;
    Ok((catalog, stored))
}

fn admin_view(catalog: &Catalog, version: u64, updated_at_ms: i64, updated_by: &str, status: StatusCode) -> Response {
    let body = json!({
        "version": version,
        "updated_at": format_time_ms(updated_at_ms),
        "updated_by": updated_by,
        "name": catalog.name,
        "attribution": catalog.attribution,
        "basemap": catalog.basemap,
        "themes": catalog.themes,
        "layers": catalog.layers,
    });
    let mut resp = (status, Json(body)).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert(header::ETAG, etag);
    }
    resp
}

/// `GET /api/catalog` (admin): the stored themes and layer definitions, `ETag` = version.
///
/// # Errors
/// 503 when the store is down.
pub async fn stored(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (catalog, stored) = stored_catalog(&state).await?;
    Ok(admin_view(&catalog, stored.version, stored.updated_at_ms, &stored.updated_by, StatusCode::OK))
}

/// What one edit does to the catalog: the new catalog and whether it created something
/// (201), or `None` when what it removes does not exist (404).
type Edit<'a> = dyn Fn(&Catalog) -> Option<Result<(Catalog, bool), CatalogError>> + Send + Sync + 'a;

/// Why an edit of the catalog was not stored.
enum Failure {
    /// Answered as it is.
    Api(ApiError),
    /// The result breaks a rule: audited as refused, then 422.
    Refused(CatalogError),
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Api(e.into())
    }
}

/// Applies `edit` to the stored catalog, stores the result as the next version, audits it and
/// swaps the workspace's state; answers the new stored catalog. A lost race without
/// `If-Match` is edited again on the new version (the edits touch one theme or layer each);
/// with `If-Match` it is a 412.
async fn apply(
    state: &AppState,
    access: &Access,
    headers: &HeaderMap,
    action: &str,
    target: &str,
    edit: &Edit<'_>,
) -> Result<Response, ApiError> {
    use crate::store::{CATALOG_DOCUMENT, Edited, edit_document};
    let wanted = super::entries::version_matched::<u64>(headers, "a catalog")?;
    let actor = access.actor();
    let edited = edit_document(state.store.as_ref(), CATALOG_DOCUMENT, wanted, &actor, |stored| {
        let stored =
            stored.ok_or_else(|| Failure::Api(ApiError::Internal(anyhow::anyhow!("the catalog is not stored"))))?;
        let current = Catalog::from_json(&stored.document, &origin(state))
            .map_err(|e| Failure::Api(ApiError::Internal(e.into())))?;
        match edit(&current) {
            None => Err(Failure::Api(ApiError::NotFound(format!("no {target} in the catalog")))),
            Some(Err(e)) => Err(Failure::Refused(e)),
            Some(Ok((next, created))) => Ok((next.to_json(), (current, next, created))),
        }
    })
    .await;
    let (from, version, (current, next, created)) = match edited {
        Ok(Edited::Stored { from, to, value }) => (from, to, value),
        Ok(Edited::Stale { current }) => {
            return Err(ApiError::PreconditionFailed(format!(
                "the catalog is at version {current}: reload it (GET /api/catalog) and apply your change again"
            )));
        }
        Ok(Edited::Busy) => {
            return Err(ApiError::Conflict(
                "the catalog is being changed by others at the same time: try again".into(),
            ));
        }
        Err(Failure::Api(e)) => return Err(e),
        Err(Failure::Refused(e)) => {
            let reason = json!({"reason": e.to_string()});
            state.identities.record(state.identities.draft(access, action, target, Outcome::Refused, reason)).await;
            return Err(invalid(&e));
        }
    };
    let detail = json!({
        "from_version": from,
        "to_version": version,
        "before": digest(&serde_json::to_value(&current).unwrap_or_default()),
        "after": digest(&serde_json::to_value(&next).unwrap_or_default()),
    });
    state.identities.record(state.identities.draft(access, action, target, Outcome::Ok, detail)).await;
    swap(state).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(admin_view(&next, version, crate::now_ms(), &actor, status))
}

/// Serves the stored catalog: rebuilds the workspace's state and swaps it in.
async fn swap(state: &AppState) -> Result<(), ApiError> {
    let Some(registry) = state.registry.get().and_then(std::sync::Weak::upgrade) else {
        // Not served through a registry (cannot happen in `vigie serve`): the scan applies it.
        return Ok(());
    };
    crate::reload_workspace(&registry, &state.config.workspace).await.map_err(ApiError::Internal)?;
    Ok(())
}

/// A JSON body as `T`, with the path's id filled in (or checked against it).
fn definition<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &Bytes, id: &str) -> Result<T, ApiError> {
    super::entries::require_json(headers)?;
    let mut v: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request("Invalid JSON", e.to_string()))?;
    let Some(obj) = v.as_object_mut() else {
        return Err(ApiError::bad_request("Invalid JSON", "expected a JSON object"));
    };
    match obj.get("id") {
        None => {
            obj.insert("id".into(), Value::String(id.to_owned()));
        }
        Some(Value::String(s)) if s == id => {}
        Some(other) => {
            return Err(ApiError::InvalidDefinition(format!("id {other} differs from the id in the path ('{id}')")));
        }
    }
    serde_json::from_value(v).map_err(|e| ApiError::InvalidDefinition(format!("'{id}': {e}")))
}

/// A theme or a layer: what `PUT` and `DELETE /api/catalog/{themes|layers}/{id}` edit.
pub trait Definition: serde::de::DeserializeOwned + Clone + Send + Sync + 'static {
    /// `theme` or `layer`: the audit action's and target's word.
    const KIND: &'static str;
    /// The catalog with this definition added or replaced; whether it replaced one.
    ///
    /// # Errors
    /// When the result breaks a rule.
    fn put(self, catalog: &Catalog, origin: &str) -> Result<(Catalog, bool), CatalogError>;
    /// The catalog without definition `id`; `None` when there is none.
    fn remove(catalog: &Catalog, id: &str, origin: &str) -> Option<Result<Catalog, CatalogError>>;
}

impl Definition for Theme {
    const KIND: &'static str = "theme";
    fn put(self, catalog: &Catalog, origin: &str) -> Result<(Catalog, bool), CatalogError> {
        catalog.with_theme(self, origin)
    }
    fn remove(catalog: &Catalog, id: &str, origin: &str) -> Option<Result<Catalog, CatalogError>> {
        catalog.without_theme(id, origin)
    }
}

impl Definition for LayerDef {
    const KIND: &'static str = "layer";
    fn put(self, catalog: &Catalog, origin: &str) -> Result<(Catalog, bool), CatalogError> {
        catalog.with_layer(self, origin)
    }
    fn remove(catalog: &Catalog, id: &str, origin: &str) -> Option<Result<Catalog, CatalogError>> {
        catalog.without_layer(id, origin)
    }
}

/// `PUT /api/catalog/themes/{id}` and `/api/catalog/layers/{id}` (admin): creates (201) or
/// replaces (200) a theme or a layer. (A dataset layer's data, imported under its `dataset`
/// id, stays in the store when the layer is removed and comes back with a layer naming the
/// same dataset.)
///
/// # Errors
/// 422 for an invalid definition, 412 on a stale `If-Match`.
pub async fn put<D: Definition>(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let def: D = definition(&headers, &body, &id)?;
    let origin = origin(&state);
    let edit = move |c: &Catalog| Some(def.clone().put(c, &origin).map(|(n, replaced)| (n, !replaced)));
    let (action, target) = (format!("catalog.{}.put", D::KIND), format!("{}/{id}", D::KIND));
    apply(&state, &access, &headers, &action, &target, &edit).await
}

/// `DELETE /api/catalog/themes/{id}` and `/api/catalog/layers/{id}` (admin): removes a theme
/// no layer uses, or a layer no H3 layer counts.
///
/// # Errors
/// 404 for an unknown id, 422 when another definition needs it, 412 on a stale `If-Match`.
pub async fn delete<D: Definition>(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let origin = origin(&state);
    let edit = |c: &Catalog| D::remove(c, &id, &origin).map(|r| r.map(|n| (n, false)));
    let (action, target) = (format!("catalog.{}.delete", D::KIND), format!("{}/{id}", D::KIND));
    apply(&state, &access, &headers, &action, &target, &edit).await
}

/// `PUT /api/catalog` (admin): replaces the whole catalog (`{name, attribution, themes,
/// layers}`), e.g. to reorder layers or restore an export.
///
/// # Errors
/// 422 for an invalid catalog, 412 on a stale `If-Match`, 413 above [`MAX_CATALOG_BYTES`].
pub async fn put_all(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    super::entries::require_json(&headers)?;
    if body.len() > MAX_CATALOG_BYTES {
        return Err(ApiError::TooLarge(format!("a catalog document is at most {MAX_CATALOG_BYTES} bytes")));
    }
    let origin = origin(&state);
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("Invalid JSON", "the body is not UTF-8"))?;
    let next = Catalog::from_json(text, &origin).map_err(|e| invalid(&e))?;
    let edit = move |_: &Catalog| Some(Ok((next.clone(), false)));
    apply(&state, &access, &headers, "catalog.replace", "catalog", &edit).await
}

/// A string of `lo` to `hi` characters.
fn text_between(lo: u64, hi: u64) -> Value {
    json!({"type": "string", "minLength": lo, "maxLength": hi})
}

/// A string of at least one character.
fn nonempty() -> Value {
    json!({"type": "string", "minLength": 1})
}

/// A title: 1 to 200 characters, not only spaces.
fn title() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"})
}

/// The layer kinds ([`LayerKind`]).
const KINDS: &[&str] = &["entries", "venues", "perimeters", "dataset", "h3", "table", "staffing", "pmtiles", "mbtiles"];

/// A theme or layer id, as the catalog checks it.
const ID_PATTERN: &str = "^[a-z0-9_-]{1,64}$";

/// A theme as sent (`id` optional in `PUT /api/catalog/themes/{id}`, where the path gives it).
fn theme_schema(required: &[&str]) -> Value {
    use super::openapi::schema as s;
    s::object(
        &[
            ("id", s::pattern(ID_PATTERN)),
            ("title", title()),
            ("title_en", title()),
            ("color", s::pattern("^#[0-9a-fA-F]{6}$")),
            ("entry_tag", s::boolean()),
        ],
        required,
    )
}

/// A layer definition; `body`: as sent (defaults may be left out, `null` for none), else as
/// stored and shown.
fn layer_schema(body: bool) -> Value {
    use super::openapi::schema as s;
    let opt = |v: Value| if body { s::nullable(v) } else { v };
    let tag = || {
        let mut a = s::array(text_between(1, 64));
        a["maxItems"] = json!(64);
        a
    };
    let mut max_features = s::int();
    max_features["minimum"] = json!(1);
    let mut max_bytes = s::int();
    max_bytes["minimum"] = json!(1024);
    let postgis = s::object(
        &[
            ("table", nonempty()),
            ("geometry_column", nonempty()),
            ("id_column", nonempty()),
            ("properties", s::array(s::string())),
            ("time_column", s::nullable(s::string())),
            ("severity_column", s::nullable(s::string())),
        ],
        if body {
            &["table", "id_column"]
        } else {
            &["table", "geometry_column", "id_column", "properties", "time_column", "severity_column"]
        },
    );
    let zoom = s::int_in(0, i64::from(vigie_layers::tile::MAX_ZOOM));
    let resolution = s::int_in(0, i64::from(vigie_layers::h3::FINEST));
    let mut layer = s::object(
        &[
            ("id", s::pattern(ID_PATTERN)),
            ("title", title()),
            ("title_en", title()),
            ("description", s::text(2000)),
            ("theme", s::string()),
            ("kind", s::one_of(KINDS)),
            ("tags", tag()),
            ("kinds", tag()),
            ("dataset", s::nullable(s::pattern(ID_PATTERN))),
            ("key", s::nullable(s::string())),
            ("source", s::nullable(s::string())),
            ("min_resolution", s::nullable(resolution.clone())),
            ("max_resolution", s::nullable(resolution)),
            ("postgis", s::nullable(postgis)),
            ("archive", opt(s::text(2048))),
            ("minzoom", zoom.clone()),
            ("maxzoom", zoom),
            ("visible", s::boolean()),
            ("restricted", s::boolean()),
            ("max_features", opt(max_features)),
            ("max_bytes", opt(max_bytes)),
        ],
        &[],
    );
    layer["required"] = if body {
        json!(["title", "title_en", "theme", "kind"])
    } else {
        json!([
            "id",
            "title",
            "title_en",
            "description",
            "theme",
            "kind",
            "tags",
            "kinds",
            "dataset",
            "key",
            "source",
            "min_resolution",
            "max_resolution",
            "postgis",
            "minzoom",
            "maxzoom",
            "visible"
        ])
    };
    layer["description"] = json!(
        "A layer definition (`docs/catalog.md`): `kind` says where its features come from, and which keys \
         apply (`tags` for entries; `kinds` for perimeters; `dataset`, `key` and `restricted` for a dataset; \
         `source` and the resolutions for h3; `postgis` for a table; `archive` for pmtiles and mbtiles)"
    );
    layer
}

/// Registers the catalog's schemas.
fn components(api: &mut super::openapi::Api) {
    use super::openapi::schema as s;
    api.component("Theme", theme_schema(&["id", "title", "title_en", "color", "entry_tag"]));
    api.component("Layer", layer_schema(false));
    api.component(
        "CatalogField",
        s::object(
            &[
                ("name", s::string()),
                ("type", s::one_of(&["string", "integer", "number", "boolean", "datetime"])),
                ("description", s::string()),
            ],
            &["name", "type", "description"],
        ),
    );
    let geometry = s::one_of(&["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"]);
    api.component(
        "CatalogLayer",
        s::object(
            &[
                ("id", s::string()),
                ("title", s::string()),
                ("title_en", s::string()),
                ("description", s::string()),
                ("theme", s::string()),
                ("kind", s::one_of(KINDS)),
                ("geometry_types", s::array(geometry)),
                ("minzoom", s::int_in(0, 24)),
                ("maxzoom", s::int_in(0, 24)),
                ("visible", s::boolean()),
                ("tags", s::array(s::string())),
                ("features", s::nullable(s::int())),
                ("fields", s::array(s::named("CatalogField"))),
                ("format", s::one_of(&["mvt", "png", "jpeg", "webp", "avif"])),
                ("tiles", s::string()),
                ("tilejson", s::string()),
                ("unavailable", s::string()),
            ],
            &[
                "id",
                "title",
                "title_en",
                "description",
                "theme",
                "kind",
                "geometry_types",
                "minzoom",
                "maxzoom",
                "visible",
                "features",
                "fields",
                "format",
                "tiles",
                "tilejson",
            ],
        ),
    );
    api.component(
        "Catalog",
        s::object(
            &[
                ("version", s::int()),
                ("name", s::string()),
                ("attribution", s::string()),
                ("basemap", s::nullable(s::string())),
                ("themes", s::array(s::named("Theme"))),
                ("layers", s::array(s::named("CatalogLayer"))),
            ],
            &["version", "name", "attribution", "basemap", "themes", "layers"],
        ),
    );
    api.component(
        "CatalogStored",
        s::object(
            &[
                ("version", s::int()),
                ("updated_at", s::date_time()),
                ("updated_by", s::string()),
                ("name", s::string()),
                ("attribution", s::string()),
                ("basemap", s::nullable(s::string())),
                ("themes", s::array(s::named("Theme"))),
                ("layers", s::array(s::named("Layer"))),
            ],
            &["version", "updated_at", "updated_by", "name", "attribution", "basemap", "themes", "layers"],
        ),
    );
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    components(api);
    let etag = || s::pattern("^\"[0-9]+\"$");
    let if_match = |op: Op| {
        op.header(
            "If-Match",
            s::pattern("^(W/)?\"?[0-9]+\"?$"),
            "The catalog's version being edited (its `ETag`): a stale one is a 412; without it, a change \
             made meanwhile by someone else is kept and this one applied over it",
        )
    };
    // An answer holding the stored catalog, its version as the ETag.
    let stored_doc = |op: Op, status: u16, text: &str| {
        op.json(status, text, s::named("CatalogStored")).answer_header(status, "ETag", etag(), "The catalog's version")
    };
    let mut themes = s::array(theme_schema(&["id", "title", "title_en", "color"]));
    themes["maxItems"] = json!(64);
    let mut layers = s::array(layer_schema(true));
    layers["maxItems"] = json!(vigie_layers::catalog::MAX_LAYERS);
    layers["items"]["required"] = json!(["id", "title", "title_en", "theme", "kind"]);
    let mut whole = s::object(
        &[
            ("name", s::text(200)),
            ("attribution", s::text(1000)),
            ("basemap", s::nullable(s::string())),
            ("themes", themes),
            ("layers", layers),
        ],
        &["name", "attribution"],
    );
    whole["description"] = json!(
        "A whole catalog (no other field): every layer's `theme` declared in `themes`, `basemap` the id of a \
         pmtiles or mbtiles layer"
    );
    api.get(
        "/catalog",
        catalog,
        Op::new("catalog", "The catalog of layers")
            .about(
                "Every layer with its theme, geometry types, zoom range, visibility, feature count, fields \
                 and tile URLs, plus the themes with their colours and the catalog's version. A scoped \
                 layer's `features` is `null` for an identity with a territory; `unavailable` says why an \
                 archive layer's tiles cannot be served now.",
            )
            .json(200, "The catalog", s::named("Catalog")),
    );
    api.get(
        "/api/catalog",
        stored,
        Op::new("catalog", "The stored catalog")
            .about("The stored themes and layer definitions as edited, with the version (`ETag`) to send in `If-Match` with a change.")
            .with(|op| stored_doc(op, 200, "The stored catalog")),
    );
    api.put(
        "/api/catalog",
        put_all,
        Op::new("catalog", "Replace the catalog")
            .about(
                "Replaces the whole catalog (`{name, attribution, basemap, themes, layers}`), e.g. to \
                 reorder layers or restore a copy; checked as the catalog file is (422 naming the theme or \
                 layer and what to fix), stored as the next version, audited, and served when the answer \
                 comes. At most 1 MiB.",
            )
            .with(if_match)
            .json_body(whole, "The catalog")
            .with(|op| stored_doc(op, 200, "Stored and served"))
            .fails(&[409, 412, 422]),
    );
    api.put(
        "/api/catalog/themes/{id}",
        put::<Theme>,
        Op::new("catalog", "Create or change a theme")
            .about(
                "Creates (201) or replaces (200) a theme. Checked with the whole catalog (422 naming what \
                 to fix), stored as the catalog's next version, audited, and served when the answer \
                 comes. The body's `id`, when given, must be the path's.",
            )
            .path("id", s::pattern(ID_PATTERN), "The theme's id (also the tag of its entries)")
            .with(if_match)
            .json_body(theme_schema(&["title", "title_en", "color"]), "The theme (no other field)")
            .with(|op| stored_doc(op, 200, "Replaced: the stored catalog"))
            .with(|op| stored_doc(op, 201, "Created: the stored catalog"))
            .fails(&[409, 412, 422]),
    );
    api.delete(
        "/api/catalog/themes/{id}",
        delete::<Theme>,
        Op::new("catalog", "Remove a theme")
            .about("Removes a theme no layer uses (422 naming the layers that do); stored as the catalog's next version, audited and served when the answer comes.")
            .path("id", s::string(), "The theme's id")
            .with(if_match)
            .with(|op| stored_doc(op, 200, "Removed: the stored catalog"))
            .fails(&[409, 412, 422]),
    );
    api.put(
        "/api/catalog/layers/{id}",
        put::<LayerDef>,
        Op::new("catalog", "Create or change a layer")
            .about(
                "Creates (201) or replaces (200) a layer. Checked with the whole catalog (422 naming what \
                 to fix: an undeclared theme, a key that does not apply to the kind…), stored as the \
                 catalog's next version, audited, and served when the answer comes: `/catalog`, TileJSON, \
                 tiles and queries show it. The body's `id`, when given, must be the path's. A dataset \
                 layer's data stays in the store when the layer is removed and comes back with a layer \
                 naming the same dataset.",
            )
            .path("id", s::pattern(ID_PATTERN), "The layer's id (used in tile URLs)")
            .with(if_match)
            .json_body(layer_schema(true), "The layer definition (no other field)")
            .with(|op| stored_doc(op, 200, "Replaced: the stored catalog"))
            .with(|op| stored_doc(op, 201, "Created: the stored catalog"))
            .fails(&[409, 412, 422]),
    );
    api.delete(
        "/api/catalog/layers/{id}",
        delete::<LayerDef>,
        Op::new("catalog", "Remove a layer")
            .about("Removes a layer no other needs (an H3 layer counting it, the catalog's basemap: 422); stored as the catalog's next version, audited and served when the answer comes.")
            .path("id", s::string(), "The layer's id")
            .with(if_match)
            .with(|op| stored_doc(op, 200, "Removed: the stored catalog"))
            .fails(&[409, 412, 422]),
    );
}
