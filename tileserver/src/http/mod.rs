//! The HTTP API: routes, shared state, middleware.

pub mod access;
pub mod account;
pub mod catalog;
pub mod entries;
pub mod error;
pub mod escalation;
pub mod events;
pub mod exports;
pub mod filters;
pub mod health;
pub mod import;
pub mod limits;
pub mod ogc;
pub mod openapi;
pub mod query;
pub mod reference;
pub mod reports;
pub mod requests;
pub mod sources;
pub mod staffing;
pub mod staticmap;
pub mod styles;
pub mod territory;
pub mod tilejson;
pub mod tiles;
pub mod web;

use crate::config::Config;
use crate::courante::Courante;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::tiles::TileCache;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use error::ApiError;
use std::sync::Arc;
use std::time::Instant;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};
use vigie_layers::Engine;

/// Everything handlers share.
#[derive(Debug)]
pub struct Shared {
    /// The geospatial engine.
    pub engine: Arc<Engine>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The operations log's write path and live stream.
    pub courante: Arc<Courante>,
    /// Dataset versions applied to the engine.
    pub ingest: Arc<crate::ingest::Ingest>,
    /// The sources scheduler (`GET /api/sources`), replaced when the stored sources change.
    pub sources: std::sync::RwLock<Arc<crate::ingest::sources::Scheduler>>,
    /// Every layer's tile source, in catalog order.
    pub tiles: crate::tiles::TileSources,
    /// Encoded tiles.
    pub cache: TileCache,
    /// Metrics (one registry for the process).
    pub metrics: Arc<Metrics>,
    /// Renders and writes under way (for `/health`, `/metrics` and the stall watchdog).
    pub activity: Arc<crate::activity::Activity>,
    /// MapLibre styles, replaced when the workspace's stored styles change.
    pub styles: std::sync::RwLock<Arc<styles::Styles>>,
    /// One change of the stored sources or styles applied at a time (an async mutex).
    pub documents: tokio::sync::Mutex<()>,
    /// Members' territories prepared, by their text (`territory::scope_of`).
    pub scopes: std::sync::Mutex<std::collections::HashMap<Arc<str>, Arc<vigie_layers::scope::Scope>>>,
    /// Situation reports' presences and live events.
    pub reports: crate::reports::Live,
    /// Liaison-officer staffing: the roster in memory, its live events.
    pub staffing: Arc<crate::staffing::Staffing>,
    /// Offline packs asked through the API (kept across the workspace's reloads).
    pub exports: Arc<crate::export::Jobs>,
    /// The process's bound on tile renders at once (shared by every workspace).
    pub renders: Arc<crate::tiles::RenderGate>,
    /// Writes and event streams per identity, request body pauses (shared by every
    /// workspace).
    pub limits: Arc<limits::Limits>,
    /// The process's phase (shared by every workspace): the readiness probe reads it, live
    /// event streams end when it stops.
    pub lifecycle: Arc<crate::lifecycle::Lifecycle>,
    /// Accounts, sessions, tokens, roles and the audit trail.
    pub identities: Arc<crate::identity::Identities>,
    /// What this workspace's links start with: empty for the primary workspace (served at the
    /// root), `/w/{id}` for the others.
    pub url_prefix: String,
    /// The version of the stored catalog this state was built with.
    pub catalog_version: u64,
    /// The registry serving this state (set when it is inserted), which a catalog change
    /// asks to rebuild and swap the workspace's state.
    pub registry: std::sync::OnceLock<std::sync::Weak<Workspaces>>,
    /// Resolved configuration.
    pub config: Config,
    /// When the service started.
    pub started: Instant,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // A replaced state (catalog change) goes once its last request is answered; this line
        // is the evidence that nothing keeps it (and its engine) alive.
        tracing::info!(workspace = %self.config.workspace, catalog_version = self.catalog_version, "workspace state released");
    }
}

impl Shared {
    /// Whether this is the workspace served at the root (the one the configuration names).
    pub fn is_primary(&self) -> bool {
        self.url_prefix.is_empty()
    }

    /// The sources scheduler serving now.
    pub fn scheduler(&self) -> Arc<crate::ingest::sources::Scheduler> {
        self.sources.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The styles serving now.
    pub fn styles(&self) -> Arc<styles::Styles> {
        self.styles.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Serves `next` in place of the current scheduler, which stops.
    pub fn replace_scheduler(&self, next: Arc<crate::ingest::sources::Scheduler>) {
        let old =
            std::mem::replace(&mut *self.sources.write().unwrap_or_else(std::sync::PoisonError::into_inner), next);
        old.stop();
    }

    /// Serves `next` in place of the current styles.
    pub fn replace_styles(&self, next: styles::Styles) {
        *self.styles.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
    }
}

/// Handle on the shared state, cheap to clone.
pub type AppState = Arc<Shared>;

/// The workspaces a process serves, each with its own state (log, datasets, catalog, engine,
/// tile cache) and router; the primary one is also served at the root.
pub struct Workspaces {
    primary: String,
    // Lock rule: held to look a state up or swap one; never across a request or a build.
    served: std::sync::RwLock<std::collections::HashMap<String, (AppState, Router)>>,
    /// One state rebuild at a time (held across the build, an async mutex).
    rebuilds: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Workspaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspaces").field("primary", &self.primary).finish_non_exhaustive()
    }
}

impl Workspaces {
    /// The registry with its primary workspace.
    pub fn new(primary: AppState) -> Arc<Self> {
        let w = Arc::new(Self {
            primary: primary.config.workspace.clone(),
            served: std::sync::RwLock::default(),
            rebuilds: tokio::sync::Mutex::default(),
        });
        w.insert(primary);
        w
    }

    /// Serves `state` under `/w/{its workspace}`. A state it replaces is retired: its live
    /// streams end (their clients reconnect to the new one) and its background tasks stop
    /// once the requests still using it are answered.
    pub fn insert(self: &Arc<Self>, state: AppState) {
        let _ = state.registry.set(Arc::downgrade(self));
        let id = state.config.workspace.clone();
        let router = routes(state.clone());
        let mut served = self.served.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Retired before the new state takes requests: from then on only its log applies changes
        // (the two engines may share their collections).
        if let Some((old, _)) = served.get(&id) {
            old.courante.retire(&state.courante);
            old.scheduler().stop();
        }
        served.insert(id, (state, router));
    }

    /// Every state served.
    pub fn all(&self) -> Vec<AppState> {
        self.served.read().unwrap_or_else(std::sync::PoisonError::into_inner).values().map(|(s, _)| s.clone()).collect()
    }

    /// Whether workspace `id` is served.
    pub fn serves(&self, id: &str) -> bool {
        self.served.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(id)
    }

    /// The state serving workspace `id`.
    pub fn state(&self, id: &str) -> Option<AppState> {
        self.served.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).map(|(s, _)| s.clone())
    }

    /// The state serving the primary workspace.
    ///
    /// # Panics
    /// Never: the primary is inserted at creation and only ever replaced.
    pub fn primary(&self) -> AppState {
        self.state(&self.primary).expect("the primary workspace is always served")
    }

    /// Waits for the right to rebuild a state (one rebuild at a time).
    pub async fn rebuilding(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.rebuilds.lock().await
    }

    fn router(&self, id: &str) -> Option<Router> {
        self.served.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).map(|(_, r)| r.clone())
    }
}

/// The router of one workspace's state, served at the root and under `/w/{workspace}`. Tests
/// drive it with `tower::ServiceExt::oneshot`, no socket needed.
pub fn app(state: AppState) -> Router {
    app_for(Workspaces::new(state))
}

/// The router of every workspace: `/w/{workspace}/…` goes to that workspace's routes with the
/// prefix stripped, anything else to the primary's. A workspace that is not served answers 404,
/// like one the asker is not a member of (the access middleware), so neither reveals it exists.
///
/// Beside them, the probes (`/livez`, `/readyz`, public, see [`health`]); every other request
/// gets its id and its access log line ([`requests`]).
pub fn app_for(workspaces: Arc<Workspaces>) -> Router {
    Router::new().fallback(dispatch).with_state(workspaces)
}

/// The service of a process whose workspaces are being built: `app` once it is set, until
/// then `/livez` 200 and 503 anywhere else ([`health::while_starting`]).
pub fn starting(app: Arc<std::sync::OnceLock<Router>>) -> Router {
    use tower::ServiceExt as _;
    Router::new().fallback(move |req: Request| {
        let app = app.get().cloned();
        async move {
            match app {
                Some(app) => match app.oneshot(req).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                },
                None => health::while_starting(req.uri().path()),
            }
        }
    })
}

async fn dispatch(State(workspaces): State<Arc<Workspaces>>, req: Request) -> Response {
    // The probes by path (a route table here would be searched by every request).
    match (req.method() == Method::GET || req.method() == Method::HEAD, req.uri().path()) {
        (true, "/livez") => health::livez(),
        (true, "/readyz") => health::readyz(State(workspaces)).await,
        _ => requests::answer(req, |req| route_to_workspace(workspaces, req)).await,
    }
}

async fn route_to_workspace(workspaces: Arc<Workspaces>, mut req: Request) -> Response {
    use axum::response::IntoResponse as _;
    use tower::ServiceExt as _;
    let id = match req.uri().path().strip_prefix("/w/") {
        None => workspaces.primary.clone(),
        Some(rest) => {
            let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
            let id = id.to_owned();
            let path_and_query = match req.uri().query() {
                Some(q) => format!("/{tail}?{q}"),
                None => format!("/{tail}"),
            };
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = path_and_query.parse().ok();
            match axum::http::Uri::from_parts(parts) {
                Ok(uri) => *req.uri_mut() = uri,
                Err(_) => return not_found().await.into_response(),
            }
            id
        }
    };
    let Some(router) = workspaces.router(&id) else {
        return ApiError::NotFound("no such workspace".into()).into_response();
    };
    match router.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// Every route of a workspace with its documentation (see [`openapi`]).
pub fn api() -> openapi::Api {
    let mut api = openapi::Api::default();
    health::routes(&mut api);
    reference::routes(&mut api);
    web::routes(&mut api);
    account::routes(&mut api);
    territory::routes(&mut api);
    escalation::routes(&mut api);
    catalog::routes(&mut api);
    styles::routes(&mut api);
    tilejson::routes(&mut api);
    tiles::routes(&mut api);
    entries::routes(&mut api);
    events::routes(&mut api);
    query::routes(&mut api);
    staticmap::routes(&mut api);
    import::routes(&mut api);
    sources::routes(&mut api);
    exports::routes(&mut api);
    reports::routes(&mut api);
    staffing::routes(&mut api);
    ogc::routes(&mut api);
    api
}

fn routes(state: AppState) -> Router {
    let [documents, attachments, imports, bare] = api().into_routers();
    // Tiles negotiate gzip themselves (the gzip form is cached beside the tile); JSON
    // documents go through the compression layer.
    // The framework's plain-text refusals become problem+json before they are compressed.
    let documents = documents.layer(middleware::map_response(error::as_problem)).layer(CompressionLayer::new());
    let attachments = attachments.layer(DefaultBodyLimit::max(entries::MAX_ATTACHMENT_BYTES + 1));
    // Uploads stream to disk with their own limit (import::MAX_IMPORT_BYTES).
    let imports = imports.layer(DefaultBodyLimit::disable());
    bare.merge(documents)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .merge(attachments)
        .merge(imports)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), access::authorize))
        .layer(middleware::from_fn_with_state(state.clone(), limits::body_deadline))
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::HEAD])
                .allow_headers([header::AUTHORIZATION])
                .expose_headers([header::ETAG, header::CONTENT_ENCODING]),
        )
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; see the README for the API".to_owned())
}

/// Counts every answer by route template and status, times it, and tells the access log which
/// route of which workspace answered.
async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let resp = next.run(req).await;
    state.metrics.request(route, resp.status().as_u16(), started.elapsed().as_secs_f64());
    if resp.extensions().get::<error::StoreFailure>().is_some() {
        state.metrics.store_error(route);
    }
    if let Some(matched) = matched {
        requests::note_route(matched, state);
    }
    resp
}

/// Base URL for absolute links: the configured public URL, else `http://` + the request's
/// Host header (checked, so it cannot inject anything into documents); then the workspace's
/// prefix.
///
/// # Errors
/// 400 when there is no usable Host header.
pub fn base_url(state: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(u) = &state.config.public_url {
        return Ok(format!("{u}{}", state.url_prefix));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        })
        .ok_or_else(|| {
            ApiError::bad_request("Bad Host header", "a Host header (name[:port]) is required to build absolute URLs")
        })?;
    Ok(format!("http://{host}{}", state.url_prefix))
}
