//! vigie's service crate: the HTTP API over the engine, the stores, the CLI.

pub mod activity;
pub mod backup;
pub mod basemap;
pub mod cli;
pub mod config;
pub mod courante;
pub mod escalation;
pub mod export;
pub mod http;
pub mod identity;
pub mod ingest;
pub mod lifecycle;
pub mod load;
pub mod metrics;
pub mod reference;
pub mod reports;
pub mod staffing;
pub mod store;
pub mod tiles;

use anyhow::Context;
use config::Config;
use http::{Shared, styles::Styles};
use std::sync::Arc;
use std::time::Instant;
use store::{Store, StoreSettings};
use vigie_layers::demo::Spread;
use vigie_layers::{Catalog, Engine};

/// Current time, epoch milliseconds.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// 64 random bits drawn once per process: what tells this process's request ids and change
/// notifications apart from other replicas' (and from an earlier run's).
pub fn process_nonce() -> u64 {
    static NONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NONCE.get_or_init(|| {
        let mut bytes = [0u8; 8];
        // The OS's generator does not fail on Linux once booted; a zero nonce still works
        // (request ids keep their count; notifications a replica takes for its own are still
        // read back by its watchdog, every 500 ms).
        let _ = getrandom::fill(&mut bytes);
        u64::from_ne_bytes(bytes)
    })
}

/// Runs `tick` on `owner` every `period` (the first right away, a late tick delays the next)
/// until `owner` is dropped: the background loops of a service that must not keep it alive.
pub fn spawn_every<T, F, Fut>(owner: &Arc<T>, period: std::time::Duration, mut tick: F) -> tokio::task::JoinHandle<()>
where
    T: Send + Sync + 'static,
    F: FnMut(Arc<T>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let owner = Arc::downgrade(owner);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let Some(me) = owner.upgrade() else { return };
            tick(me).await;
        }
    })
}

/// Opens the configured store: PostgreSQL when a database URL is given, else the embedded
/// SQLite file.
///
/// # Errors
/// When the store cannot be opened (never with the connection string in the message).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let settings = match &config.database_url {
        Some(url) => StoreSettings::Postgres(store::postgres::PgSettings {
            url: url.0.clone(),
            pool_size: config.pool_size,
            statement_timeout_ms: config.statement_timeout_ms,
            commits_in_flight: config.commits_in_flight,
        }),
        None => StoreSettings::Sqlite { data_dir: config.data_dir.clone(), synchronous: config.sqlite_synchronous },
    };
    let store = store::open(&settings, &config.workspace).await.with_context(|| match &settings {
        StoreSettings::Postgres(_) => "cannot open the PostgreSQL store".to_owned(),
        StoreSettings::Sqlite { data_dir, .. } => format!("cannot open the store in {}", data_dir.display()),
    })?;
    tracing::info!(backend = store.backend(), workspace = %config.workspace, "store open");
    Ok(store)
}

/// The catalog named by the configuration, or the bundled one.
///
/// # Errors
/// When the file cannot be read or is invalid (the message names the file, layer and key).
pub fn load_catalog(config: &Config) -> anyhow::Result<Catalog> {
    Ok(match &config.catalog {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read catalog {}", path.display()))?;
            Catalog::parse(&text, &path.display().to_string())?
        }
        None => Catalog::bundled(),
    })
}

/// The workspace's catalog and its version: the stored one, else the configured TOML (or the
/// bundled one) stored as version 1, seeding the workspace. Once stored, the catalog is edited
/// through the API (or `vigie catalog import`); a catalog file that differs is then only
/// reported (at start).
///
/// # Errors
/// When the store cannot be read or written, or the stored or configured catalog is invalid.
pub async fn workspace_catalog(config: &Config, store: &dyn Store) -> anyhow::Result<(Catalog, u64)> {
    let origin = format!("of workspace '{}' (stored)", config.workspace);
    if let Some(stored) = store.catalog().await? {
        return Ok((Catalog::from_json(&stored.document, &origin)?, stored.version));
    }
    let seed = load_catalog(config)?;
    if store.put_catalog(0, &seed.to_json(), "seed").await?.is_some() {
        tracing::info!(workspace = %config.workspace, layers = seed.layers.len(), "catalog seeded");
        return Ok((seed, 1));
    }
    // Another process seeded it meanwhile.
    let stored = store.catalog().await?.context("the stored catalog vanished")?;
    Ok((Catalog::from_json(&stored.document, &origin)?, stored.version))
}

/// What every workspace of one process shares: metrics, the running operations (stall
/// watchdog), the identity service (accounts are global, memberships per workspace) and the
/// process's phase.
#[derive(Debug, Clone)]
pub struct Globals {
    /// Metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Renders and writes under way.
    pub activity: Arc<activity::Activity>,
    /// Accounts, sessions, tokens, roles, audit.
    pub identities: Arc<identity::Identities>,
    /// The bound on tile renders at once.
    pub renders: Arc<tiles::RenderGate>,
    /// Writes and event streams per identity, request body pauses.
    pub limits: Arc<http::limits::Limits>,
    /// When the process started.
    pub started: Instant,
    /// Starting, serving or stopping.
    pub lifecycle: Arc<lifecycle::Lifecycle>,
}

impl Globals {
    /// The globals a workspace's state holds.
    pub fn of(state: &Shared) -> Self {
        Self {
            metrics: state.metrics.clone(),
            activity: state.activity.clone(),
            identities: state.identities.clone(),
            renders: state.renders.clone(),
            limits: state.limits.clone(),
            started: state.started,
            lifecycle: state.lifecycle.clone(),
        }
    }
}

/// Builds the state of the configured workspace (the one served at the root) and what every
/// workspace shares: store, catalog, styles, engine loaded from the store (seeding the demo
/// first when asked and the store is empty), identities.
///
/// # Errors
/// Start-up failures, with the file or setting at fault.
pub async fn build_state(config: Config) -> anyhow::Result<Arc<Shared>> {
    let lifecycle = Arc::new(lifecycle::Lifecycle::default());
    let state = build_state_in(config, lifecycle.clone()).await?;
    lifecycle.serving();
    Ok(state)
}

/// [`build_state`] for a process whose phase is `lifecycle` (left as it is: the caller says
/// when start-up is over).
///
/// # Errors
/// Start-up failures, with the file or setting at fault.
pub async fn build_state_in(config: Config, lifecycle: Arc<lifecycle::Lifecycle>) -> anyhow::Result<Arc<Shared>> {
    let started = Instant::now();
    let store = open_store(&config).await?;
    let metrics = Arc::new(metrics::Metrics::new());
    let activity =
        activity::Activity::new(std::time::Duration::from_millis(config.stall_after_ms), metrics.stalled_counters());
    activity.spawn_watchdog();
    let identities = identity::Identities::new(
        store.identity(),
        identity::IdentityPolicy {
            anonymous_role: config.anonymous_role,
            anonymous_names_itself: config.anonymous_names_itself,
            session_ttl_ms: config.session_ttl_ms,
            oidc: config.oidc.clone().map(identity::oidc::Provider::new),
        },
    );
    if config.demo {
        demo_accounts(&identities, &config.workspace).await?;
    }
    spawn_every(&identities, identity::service::SESSION_PURGE_EVERY, |ids| async move { ids.purge_sessions().await });
    if let Some(role) = config.anonymous_role {
        tracing::warn!(
            role = %role,
            listen = %config.listen,
            "requests without credentials are let in with this role (demo on loopback, or auth.anonymous_role)"
        );
    }
    let renders = tiles::RenderGate::new(
        config.max_renders,
        std::time::Duration::from_millis(config.render_wait_ms),
        config.tile_budget,
    );
    let limits = http::limits::Limits::new(config.limits);
    let globals = Globals { metrics, activity, identities, renders, limits, started, lifecycle };
    build_workspace(config, store, &globals, true, None).await
}

/// Builds one workspace's state over its store: catalog, styles, engine, log writer, ingest,
/// sources, tile sources and cache. The primary workspace (the one `config` names at start)
/// also gets the demo data and the sources file. A state built to replace `previous` (its catalog
/// changed) shares its log entries, venues and perimeters when the log-entry themes are the
/// same ([`Engine::sharing`]), and applies nothing until `previous` retires (when the registry
/// swaps it in).
///
/// # Errors
/// Start-up failures, with the file or setting at fault.
pub async fn build_workspace(
    config: Config,
    store: Arc<dyn Store>,
    globals: &Globals,
    primary: bool,
    previous: Option<&Shared>,
) -> anyhow::Result<Arc<Shared>> {
    let started = Instant::now();
    let (catalog, catalog_version) = workspace_catalog(&config, store.as_ref()).await?;
    if let Some(path) = &config.catalog
        && previous.is_none()
        && load_catalog(&config).is_ok_and(|file| file != catalog)
    {
        tracing::warn!(
            file = %path.display(),
            workspace = %config.workspace,
            version = catalog_version,
            "the catalog file differs from the workspace's stored catalog, which is the one served (a file only \
             seeds a new workspace): edit the catalog through /api/catalog or the web view, or replace it with \
             `vigie catalog import FILE`"
        );
    }
    let styles =
        Styles::of_workspace(config.styles_dir.as_deref(), store.document(store::STYLES_DOCUMENT).await?.as_ref())?;
    if config.demo && primary {
        if store.is_empty().await? {
            let t = Instant::now();
            let seed = store::Seed::demo_spread(
                config.demo_seed,
                config.demo_entries,
                config.demo_points_only,
                if config.demo_region { Spread::Region } else { Spread::Venues },
            );
            let (venues, perimeters, entries) = (seed.venues.len(), seed.perimeters.len(), seed.entries.len());
            let mut written = 0;
            for part in seed.into_parts(SEED_PART_ENTRIES) {
                store.seed(&part).await.context("cannot write the demo data")?;
                written += part.entries.len();
                if written < entries {
                    tracing::info!(written, entries, "demo data: part written");
                }
            }
            tracing::info!(venues, perimeters, entries, seconds = t.elapsed().as_secs_f64(), "demo data written");
        } else {
            tracing::info!("store not empty: demo data not loaded again");
        }
        if staffing::seed_demo(store.as_ref(), &config.workspace).await? {
            tracing::info!("demo staffing plan and officers written");
        }
        if let Some(dir) = &config.demo_basemap {
            demo_boundaries(dir, &config, &catalog, store.as_ref()).await?;
        }
    }
    // Read before the load: a change committed meanwhile (another state of this workspace, a
    // replica) is then both in the load and read back by the log's catch-up, which re-applies
    // an entry's current state harmlessly; read after, it could be in neither. When sharing the
    // previous state's collections: what its log has applied to them, read before sharing.
    let sharing = previous.and_then(|p| {
        let applied = p.courante.applied_seq();
        p.engine.sharing(catalog.clone()).map(|e| (applied, e))
    });
    let shared = sharing.is_some();
    let (engine, last_seq, stats) = if let Some((applied, engine)) = sharing {
        let engine = Arc::new(engine);
        let stats = load::load_datasets(&engine, store.as_ref()).await.context("cannot load the datasets")?;
        (engine, applied, stats)
    } else {
        let engine = Arc::new(Engine::new(catalog));
        let last_seq = store.last_event_seq().await?;
        let stats = load::load_engine(&engine, store.as_ref()).await.context("cannot load the index from the store")?;
        (engine, last_seq, stats)
    };
    tracing::info!(
        venues = stats.venues,
        perimeters = stats.perimeters,
        entries = stats.entries,
        skipped = stats.skipped,
        seconds = stats.seconds,
        "index loaded"
    );
    let cache = tiles::TileCache::new(config.cache_size_bytes);
    let Globals { metrics, activity, identities, renders, limits, lifecycle, .. } = globals.clone();
    let courante = courante::Courante::new(
        store.clone(),
        engine.clone(),
        cache.clone(),
        last_seq,
        metrics.commit_group(),
        activity.clone(),
        previous.is_some(),
    );
    courante.spawn_watchdog();
    courante::spawn_change_feed(&courante);
    let ingest = ingest::Ingest::new(
        engine.clone(),
        store.clone(),
        cache.clone(),
        &stats.datasets,
        metrics.clone(),
        config.workspace.clone(),
    );
    ingest::spawn_dataset_watcher(&ingest);
    let scheduler = start_sources(&config, store.as_ref(), &ingest, primary).await?;
    tracing::info!(
        workspace = %config.workspace,
        catalog_version,
        shared_collections = shared,
        seconds = started.elapsed().as_secs_f64(),
        last_event = last_seq,
        "state ready"
    );
    let staffing_layers = engine
        .layers()
        .iter()
        .filter(|l| l.def.kind == vigie_layers::catalog::LayerKind::Staffing)
        .map(|l| l.def.id.clone())
        .collect();
    let staffing = staffing::Staffing::new(store.clone(), &config.workspace, cache.clone(), staffing_layers);
    let tiles = tiles::TileSources::prepare(&engine, store.as_ref(), &staffing, &config.archives).await?;
    let state = Arc::new(Shared {
        engine,
        store,
        courante,
        ingest,
        sources: std::sync::RwLock::new(scheduler),
        tiles,
        cache,
        metrics,
        activity,
        styles: std::sync::RwLock::new(Arc::new(styles)),
        documents: tokio::sync::Mutex::default(),
        scopes: std::sync::Mutex::default(),
        reports: reports::Live::default(),
        staffing,
        exports: previous.map_or_else(
            || export::Jobs::new(config.data_dir.join("exports").join(&config.workspace)),
            |p| p.exports.clone(),
        ),
        identities,
        renders,
        limits,
        lifecycle,
        url_prefix: if primary { String::new() } else { format!("/w/{}", config.workspace) },
        catalog_version,
        registry: std::sync::OnceLock::new(),
        config,
        started: globals.started,
    });
    reports::spawn_relay(&state);
    Ok(state)
}

/// What the stored sources of workspace `config.workspace` may reach: files under its folder
/// of `workspace_sources.dir`, and public addresses unless the operator allows private ones.
pub fn stored_sources_reach(config: &Config) -> ingest::sources::config::Reach {
    ingest::sources::config::Reach::Workspace {
        root: config.workspace_sources_dir.join(&config.workspace),
        private_urls: config.workspace_sources_private_urls,
    }
}

/// Checks a stored-sources document of workspace `config.workspace` against `catalog`, within
/// [`stored_sources_reach`]; the sources file's ids and datasets are taken first when the
/// workspace is the `primary` one (where the file runs).
///
/// # Errors
/// The TOML syntax error (naming the line) when the text is not TOML.
pub fn check_stored_sources(
    config: &Config,
    catalog: &Catalog,
    text: &str,
    primary: bool,
) -> Result<ingest::sources::config::Checked, String> {
    use ingest::sources::config::{Claims, check, load};
    let mut claims = Claims::default();
    if let Some(path) = config.sources.as_deref().filter(|_| primary) {
        // The file's own problems are the operator's (reported at start), not this document's.
        let _ = load(path, catalog, false, &mut claims);
    }
    check(text, &stored_sources_reach(config), catalog, false, &mut claims).map_err(|e| e.to_string())
}

/// Checks a workspace's sources (the sources file's when `primary`, then its stored ones) and
/// starts refreshing them.
async fn start_sources(
    config: &Config,
    store: &dyn Store,
    ingest: &Arc<ingest::Ingest>,
    primary: bool,
) -> anyhow::Result<Arc<ingest::sources::Scheduler>> {
    let stored = store.document(store::SOURCES_DOCUMENT).await?;
    let file = config.sources.as_deref().filter(|_| primary);
    let checked = ingest::sources::check_workspace(
        file,
        stored.as_ref().map(|d| d.document.as_str()),
        &stored_sources_reach(config),
        ingest.engine.catalog(),
        false,
    )?;
    if stored.is_some() && config.workspace_sources_run {
        // Where the operator (or a file drop) puts the files its sources read.
        let root = config.workspace_sources_dir.join(&config.workspace);
        if let Err(e) = std::fs::create_dir_all(&root) {
            tracing::warn!(folder = %root.display(), error = %e, "cannot create the workspace's sources folder");
        }
    }
    let plan = ingest::sources::Plan {
        state_file: if primary {
            config.data_dir.join("sources-state.json")
        } else {
            config.data_dir.join(format!("sources-state-{}.json", config.workspace))
        },
        version: stored.as_ref().map_or(0, |d| d.version),
        configured: file.is_some() || stored.is_some(),
        run_stored: config.workspace_sources_run,
    };
    Ok(ingest::sources::spawn(ingest, checked, &plan))
}

/// Runs the workspace's stored sources when they changed since its scheduler started: a new
/// scheduler replaces it (the old one stops). `_one` proves the caller holds the state's
/// [`Shared::documents`] lock.
///
/// # Errors
/// When the store cannot be read or the sources file cannot be read.
pub async fn apply_stored_sources(state: &Shared, _one: &tokio::sync::MutexGuard<'_, ()>) -> anyhow::Result<()> {
    let version = state.store.document(store::SOURCES_DOCUMENT).await?.map_or(0, |d| d.version);
    if version == state.scheduler().version() {
        return Ok(());
    }
    let next = start_sources(&state.config, state.store.as_ref(), &state.ingest, state.is_primary()).await?;
    tracing::info!(workspace = %state.config.workspace, version = next.version(), "stored sources changed: scheduler replaced");
    state.replace_scheduler(next);
    Ok(())
}

/// [`apply_stored_sources`] under the state's documents lock.
///
/// # Errors
/// As [`apply_stored_sources`].
pub async fn refresh_sources(state: &Shared) -> anyhow::Result<()> {
    let one = state.documents.lock().await;
    apply_stored_sources(state, &one).await
}

/// Serves the workspace's stored styles when they changed since they were read.
///
/// # Errors
/// When the store or the styles directory cannot be read.
pub async fn refresh_styles(state: &Shared) -> anyhow::Result<()> {
    let _one = state.documents.lock().await;
    let stored = state.store.document(store::STYLES_DOCUMENT).await?;
    if stored.as_ref().map_or(0, |d| d.version) == state.styles().version() {
        return Ok(());
    }
    let next = Styles::of_workspace(state.config.styles_dir.as_deref(), stored.as_ref())?;
    tracing::info!(workspace = %state.config.workspace, version = next.version(), "stored styles changed: now served");
    state.replace_styles(next);
    Ok(())
}

/// The demo's boundaries from `dir` (downloaded by the user): its basemap built into the
/// archives folder when not there yet (before the archive layers open), and the départements
/// imported when the catalog reads a `departements` dataset the store does not hold.
async fn demo_boundaries(
    dir: &std::path::Path,
    config: &Config,
    catalog: &Catalog,
    store: &dyn Store,
) -> anyhow::Result<()> {
    let found = basemap::Boundaries::find(dir)?;
    let out = config.archives.dir.join(basemap::DEMO_ARCHIVE);
    if !out.exists() {
        std::fs::create_dir_all(&config.archives.dir)
            .with_context(|| format!("cannot create the archives folder {}", config.archives.dir.display()))?;
        let t = Instant::now();
        let built = basemap::build(&found, &out, &basemap::Options::default(), &std::sync::atomic::AtomicU64::new(0))
            .await
            .context("cannot build the demo's basemap (--demo-basemap)")?;
        tracing::info!(
            archive = %out.display(),
            tiles = built.written.stored,
            bytes = built.written.bytes,
            layers = ?built.layers,
            seconds = t.elapsed().as_secs_f64(),
            "demo basemap built"
        );
    }
    let layer = catalog
        .layers
        .iter()
        .find(|l| l.kind == vigie_layers::catalog::LayerKind::Dataset && l.dataset.as_deref() == Some("departements"));
    if let (Some(layer), Some((_, path))) = (layer, found.0.iter().find(|(level, _)| *level == "departements"))
        && !store.datasets().await?.iter().any(|d| d.id == "departements")
    {
        let (info, _) =
            ingest::import::import_path(store, layer, path, vigie_layers::dataset::Mapping::default(), false)
                .await
                .with_context(|| format!("cannot import the départements from {}", path.display()))?;
        tracing::info!(features = info.feature_count, file = %path.display(), "demo départements imported");
    }
    Ok(())
}

/// Demo mode: one account per role (`demo-reader` … `demo-admin`), created once with a random
/// password printed on standard output (the only time it is shown), so a newcomer can try
/// each role in the web view.
async fn demo_accounts(identities: &identity::Identities, workspace: &str) -> anyhow::Result<()> {
    let mut created = Vec::new();
    for role in identity::Role::ALL {
        let name = format!("demo-{}", role.as_str().replace('_', "-"));
        if identities.store().account_by_name(&name).await?.is_some() {
            continue;
        }
        let password = identity::secret::random_secret()[..16].to_owned();
        identities.add_account("demo", &name, &password, workspace, role).await?;
        created.push((name, password));
    }
    if !created.is_empty() {
        println!("demo accounts (passwords shown once; change them with `vigie user passwd NAME`):");
        for (name, password) in created {
            println!("  {name:<24} {password}");
        }
    }
    Ok(())
}

/// Runs `vigie serve` until SIGTERM or SIGINT (Ctrl-C).
///
/// The address is bound first: while the store opens and the index loads, `/livez` answers
/// 200 and everything else 503 (`/readyz` says `starting`). On a stop signal `/readyz` turns
/// 503 and live event streams end with a reconnect hint; after `shutdown_delay_ms` the
/// listener closes and the requests in flight get `shutdown_grace_ms` to finish; past it, or
/// at a second signal, the function returns anyway (what a store was writing is committed or
/// rolled back by its transaction).
///
/// # Errors
/// Start-up failures (configuration, store, address in use).
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let (delay, grace) = (
        std::time::Duration::from_millis(config.shutdown_delay_ms),
        std::time::Duration::from_millis(config.shutdown_grace_ms),
    );
    let mut signals = lifecycle::Signals::install().context("cannot install the stop signal handlers")?;
    let lifecycle = Arc::new(lifecycle::Lifecycle::default());
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    let app = Arc::new(std::sync::OnceLock::new());
    let closing = lifecycle.clone();
    let server = tokio::spawn(serve_connections(
        listener,
        http::starting(app.clone()),
        std::time::Duration::from_millis(config.header_read_timeout_ms),
        async move {
            closing.until_stopping().await;
            tokio::time::sleep(delay).await;
        },
    ));
    tracing::info!(address = %bound, "vigie listening (starting: /readyz answers 503 until the index is loaded)");
    let start = async {
        let workspaces = http::Workspaces::new(build_state_in(config, lifecycle.clone()).await?);
        sync_workspaces(&workspaces).await?;
        anyhow::Ok(workspaces)
    };
    let workspaces = tokio::select! {
        built = start => built?,
        signal = signals.next() => {
            tracing::info!(signal, "stop signal during start-up: exiting");
            return Ok(());
        }
    };
    // The task holds no state: a state it held would outlive its replacement.
    spawn_every(&workspaces, WORKSPACE_SCAN, |w| async move {
        if let Err(e) = sync_workspaces(&w).await {
            tracing::warn!(error = %format!("{e:#}"), "workspaces could not be brought up to date yet");
        }
    });
    escalation::spawn_reconciler(&workspaces);
    reports::spawn_scheduler(&workspaces);
    staffing::spawn_ticker(&workspaces);
    let _ = app.set(http::app_for(workspaces.clone()));
    lifecycle.serving();
    tracing::info!(address = %bound, "vigie ready");
    let signal = signals.next().await;
    lifecycle.stop();
    tracing::info!(
        signal,
        delay_ms = delay.as_millis() as u64,
        grace_ms = grace.as_millis() as u64,
        "stopping: /readyz answers 503, event streams end; requests in flight get the grace period"
    );
    tokio::select! {
        served = server => {
            served.context("the server task failed")??;
            tracing::info!("every request answered: exiting");
        }
        () = tokio::time::sleep(delay + grace) => {
            let busy = workspaces.primary().activity.snapshot().kinds.iter().map(|k| k.running).sum::<usize>();
            tracing::warn!(
                operations_running = busy,
                "grace period over with requests still open: exiting without them"
            );
        }
        signal = signals.next() => tracing::warn!(signal, "second stop signal: exiting now"),
    }
    Ok(())
}

/// Serves HTTP/1 connections from `listener` with `app` until `stop` completes, then stops
/// accepting and returns once every connection has finished its request in flight (idle ones
/// close at once). A client gets `header_timeout` to send a request's headers, from its
/// connection's start or the end of its previous request; past it hyper closes the connection.
/// `axum::serve` set no timer, so hyper's header timeout never applied and a client sending a
/// partial header held its connection for good.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    header_timeout: std::time::Duration,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // A connection reset before it was accepted is nothing.
                Err(e) if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionRefused
                ) => continue,
                Err(e) => {
                    // Out of file descriptors or memory: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(tower::ServiceExt::map_request(
            app.clone(),
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                request
            },
        ));
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Demo entries written per transaction (see [`store::Seed::into_parts`]).
const SEED_PART_ENTRIES: usize = 100_000;

/// How often the store is asked for workspaces created since (`vigie workspace add`) and for
/// catalogs, sources and styles changed elsewhere (a replica, `vigie catalog import`, `vigie
/// sources import`).
pub const WORKSPACE_SCAN: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves every workspace of the store not served yet, each with its own state (built like
/// the primary's, without demo data or sources file), rebuilds the state of every served
/// workspace whose stored catalog changed since its state was built, and applies changed
/// stored sources and styles.
///
/// # Errors
/// When the store cannot list them or a workspace's state cannot be built.
pub async fn sync_workspaces(workspaces: &Arc<http::Workspaces>) -> anyhow::Result<()> {
    let primary = workspaces.primary();
    for id in primary.identities.store().workspaces().await? {
        if let Some(state) = workspaces.state(&id) {
            let stored = state.store.catalog().await?.map(|c| c.version);
            if stored.is_some_and(|v| v != state.catalog_version) {
                reload_workspace(workspaces, &id).await.with_context(|| format!("workspace '{id}'"))?;
            } else {
                refresh_sources(&state).await.with_context(|| format!("workspace '{id}': sources"))?;
                refresh_styles(&state).await.with_context(|| format!("workspace '{id}': styles"))?;
            }
            continue;
        }
        let mut config = primary.config.clone();
        config.workspace.clone_from(&id);
        let store = open_store(&config).await?;
        let state = build_workspace(config, store, &Globals::of(&primary), false, None)
            .await
            .with_context(|| format!("workspace '{id}'"))?;
        workspaces.insert(state);
        tracing::info!(workspace = %id, "workspace served under /w/{id}");
    }
    Ok(())
}

/// Rebuilds workspace `id`'s state with its stored catalog (engine reloaded from the store,
/// tile sources, sources, cache) while the current state keeps serving, then swaps it in and
/// retires the old one. Changes the old state committed meanwhile are read back from the
/// store. Returns the state now serving (the current one when it already has the stored
/// catalog's version).
///
/// # Errors
/// When the workspace is not served, or its new state cannot be built (the old one keeps
/// serving then).
pub async fn reload_workspace(workspaces: &Arc<http::Workspaces>, id: &str) -> anyhow::Result<http::AppState> {
    let _one = workspaces.rebuilding().await;
    let current = workspaces.state(id).context("workspace not served")?;
    let stored = current.store.catalog().await?.map(|c| c.version);
    if stored.is_none_or(|v| v == current.catalog_version) {
        return Ok(current);
    }
    let t = Instant::now();
    let primary = current.url_prefix.is_empty();
    let state =
        build_workspace(current.config.clone(), current.store.clone(), &Globals::of(&current), primary, Some(&current))
            .await?;
    workspaces.insert(state.clone());
    drop(current);
    // Changes the old state committed after the new one read the store.
    let caught_up = state.courante.catch_up().await?;
    tracing::info!(
        workspace = %id,
        catalog_version = state.catalog_version,
        caught_up,
        seconds = t.elapsed().as_secs_f64(),
        "catalog changed: workspace state rebuilt and swapped in"
    );
    Ok(state)
}
