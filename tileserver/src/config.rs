//! Configuration: one TOML file, command-line flags over it, environment for secrets.
//!
//! Precedence: built-in defaults < config file < flags. Unknown keys in the file are refused
//! with their name, so a typo never silently drops a setting. See `vigie.example.toml`.

use crate::identity::Role;
use crate::store::Synchronous;
use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default listen address: loopback only, so a fresh install is not exposed by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./vigie-data";
/// Default workspace (tenant) id.
pub const DEFAULT_WORKSPACE: &str = "default";
/// Default tile cache size, MiB. 0 disables the cache.
pub const DEFAULT_CACHE_SIZE_MB: u64 = 256;
/// Default largest request body accepted, bytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most layers one composite tile may ask for.
pub const MAX_LAYERS_PER_TILE: usize = 64;
/// Default PostgreSQL pool size.
pub const DEFAULT_POOL_SIZE: u32 = 16;
/// Default PostgreSQL statement timeout, milliseconds.
pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 10_000;

/// Time a client has to send a request's headers (hyper's own default).
const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 30_000;
const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 15_000;
const DEFAULT_WRITES_PER_SECOND: f64 = 50.0;
const DEFAULT_WRITE_BURST: u32 = 1000;
const DEFAULT_EVENT_STREAMS: usize = 16;

/// Default stall deadline, milliseconds: a render or log write running longer is reported
/// (log, `/metrics`) and makes `/health` answer `degraded` until it ends.
pub const DEFAULT_STALL_AFTER_MS: u64 = 10_000;
/// How long a tile render waits for its turn by default, milliseconds.
pub const DEFAULT_RENDER_WAIT_MS: u64 = 2_000;
/// How long the requests in flight may take to finish after a stop signal by default,
/// milliseconds (what container platforms give a process before killing it).
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 30_000;

/// A secret (the database URL): shown as `<redacted>` in `Debug`, so it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The `[database]` table (the URL itself comes from `--database-url` or `DATABASE_URL`).
#[derive(Debug, Clone, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseFile {
    /// Connections in the pool, for queries; a workspace's listeners (its change feed, its
    /// replicas' messages) have connections of their own [default: 16].
    pub pool_size: Option<u32>,
    /// Statement timeout, milliseconds [default: 10000].
    pub statement_timeout_ms: Option<u64>,
    /// Groups of log entry creations committed at once, 1 to half the pool [default: 1]. Each
    /// group is one round trip; the next waits at the server while one commits. Measured on
    /// one machine with its own PostgreSQL, 1 writes the most (larger groups); with the
    /// database across a network, 2 to 4 keep writers from waiting for each other's round trip.
    pub commits_in_flight: Option<u32>,
}

/// The `[demo]` table.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DemoFile {
    /// Load the bundled demo (44 Paris 2024 venues, perimeters, a synthetic log) into an empty
    /// store at start [default: false].
    #[serde(default)]
    pub enabled: bool,
    /// Generator seed [default: 2024].
    pub seed: Option<u64>,
    /// Number of synthetic entries [default: 25000].
    pub entries: Option<usize>,
    /// A folder of administrative boundaries (régions, départements, communes GeoJSON of IGN
    /// Admin Express, downloaded by you): at start, the light basemap the demo catalog's
    /// `fond` layer reads is built from them into the archives folder when it is not there
    /// yet, and the départements are imported when the `departements` dataset is empty.
    pub basemap: Option<PathBuf>,
}

/// Checks a workspace id: 1 to 64 characters among A-Z, a-z, 0-9, '-' and '_' (it is a URL
/// segment, `/w/{id}`).
///
/// # Errors
/// What is wrong with it.
pub fn check_workspace_id(id: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "workspace '{}' must be 1 to 64 characters among A-Z, a-z, 0-9, '-' and '_'",
        id.chars().take(80).collect::<String>()
    );
    Ok(())
}

/// The `[auth]` table.
#[derive(Debug, Clone, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// Role of requests without credentials. Unset (the default): they get 401 outside the
    /// public routes. Setting it opens the API to anyone who reaches the address, at that role.
    pub anonymous_role: Option<Role>,
    /// Session lifetime, hours [default: 12].
    pub session_hours: Option<u64>,
    /// Refuse requests without credentials even in demo mode on loopback [default: false].
    #[serde(default)]
    pub require_sign_in: bool,
    /// OpenID Connect sign-in.
    pub oidc: Option<OidcFile>,
    /// Addresses of reverse proxies whose `X-Forwarded-For` names the client.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// The `[auth.oidc]` table (the client secret comes from `VIGIE_OIDC_CLIENT_SECRET`).
#[derive(Debug, Clone, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcFile {
    /// Issuer URL, exactly as the provider's tokens name it.
    pub issuer: String,
    /// This client's id at the provider.
    pub client_id: String,
    /// The `aud` of access tokens accepted as bearer tokens [default: the client id].
    pub audience: Option<String>,
    /// Redirect URI registered at the provider [default: `public_url` + `/auth/oidc/callback`].
    pub redirect_uri: Option<String>,
    /// Role given in the workspace at an identity's first sign-in [default: none, an admin
    /// grants one].
    pub default_role: Option<Role>,
}

/// Environment variable holding the OpenID client secret.
pub const OIDC_SECRET_ENV: &str = "VIGIE_OIDC_CLIENT_SECRET";

/// The environment variables read with no command-line flag, and what they hold (the others
/// are flags' environment variables, listed with them).
pub const ENV_ONLY: &[(&str, &str)] = &[(
    OIDC_SECRET_ENV,
    "the OpenID Connect client secret of `[auth.oidc]` (confidential clients; public clients use PKCE without one)",
)];

/// The configuration file, as written.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on [default: 127.0.0.1:8080, loopback only].
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded SQLite store [default: ./vigie-data].
    pub data_dir: Option<PathBuf>,
    /// The workspace served at the root (every workspace of the store is served under
    /// `/w/{id}`) [default: default].
    pub workspace: Option<String>,
    /// Layer catalog file (default: the bundled `data/catalog.toml`).
    pub catalog: Option<PathBuf>,
    /// Directory of MapLibre styles (default: the bundled `styles/`).
    pub styles_dir: Option<PathBuf>,
    /// Public base URL (e.g. `https://vigie.example.org`) used in TileJSON and styles instead
    /// of the request's Host.
    pub public_url: Option<String>,
    /// Tile cache size, MiB; 0 disables it [default: 256].
    pub cache_size_mb: Option<u64>,
    /// Largest request body, bytes (imports and attachments have their own) [default: 1048576].
    pub max_body_bytes: Option<usize>,
    /// SQLite durability [default: normal].
    pub sqlite_synchronous: Option<Synchronous>,
    /// Demo data.
    pub demo: Option<DemoFile>,
    /// PostgreSQL settings (the URL itself comes from `DATABASE_URL`).
    pub database: Option<DatabaseFile>,
    /// Sources file (TOML, see docs/sources.md): datasets the server refreshes on schedule, in
    /// the workspace served at the root.
    pub sources: Option<PathBuf>,
    /// What the sources admins store in a workspace (`PUT /api/sources/config`) may read.
    pub workspace_sources: Option<WorkspaceSourcesFile>,
    /// Most tiles of one offline pack (`vigie export`, `POST /api/exports`): a request over it
    /// is refused before any work [default: 100000].
    pub export_max_tiles: Option<usize>,
    /// Where the catalogs' tile archives (`pmtiles` and `mbtiles` layers) may be.
    pub archives: Option<ArchivesFile>,
    /// A tile render or log write running longer than this is reported in the log and
    /// `/metrics`, and `/health` answers `degraded` while it runs, milliseconds [default: 10000].
    pub stall_after_ms: Option<u64>,
    /// Most tile renders at once, all workspaces together (default: twice the cores).
    pub max_renders: Option<usize>,
    /// How long a tile render waits for its turn before the request gets 503, milliseconds
    /// [default: 2000].
    pub render_wait_ms: Option<u64>,
    /// Most features of one tile before its layers are thinned into clusters [default: 200000].
    pub tile_max_features: Option<usize>,
    /// Most bytes of one tile before its layers are thinned into clusters [default: 500000].
    pub tile_max_bytes: Option<usize>,
    /// Most bytes of one raw tile (`budget=off`); past it, 413 [default: 33554432].
    pub raw_tile_max_bytes: Option<usize>,
    /// After a stop signal, how long to keep accepting requests while `/readyz` answers 503,
    /// so a load balancer stops sending new ones first, milliseconds [default: 0].
    pub shutdown_delay_ms: Option<u64>,
    /// After a stop signal (and the delay), how long the requests in flight may take to
    /// finish before the process exits anyway (a second signal exits at once), milliseconds
    /// [default: 30000].
    pub shutdown_grace_ms: Option<u64>,
    /// How long a client may take to send a request's headers, from its connection's start or
    /// the end of its previous request, milliseconds; past it the connection is closed, so
    /// slow clients cannot hold connections [default: 30000].
    pub header_read_timeout_ms: Option<u64>,
    /// Longest pause while a client sends a request's body, milliseconds; past it the request
    /// gets 408 and its connection is closed [default: 15000].
    pub body_read_timeout_ms: Option<u64>,
    /// Writes (POST, PUT, PATCH, DELETE) one identity may make per second, sustained, across
    /// workspaces; past it, 429 with Retry-After; 0 turns the limit off [default: 50].
    pub writes_per_second: Option<f64>,
    /// Writes one identity may make at once before `writes_per_second` applies [default:
    /// 1000].
    pub write_burst: Option<u32>,
    /// Live event streams (`GET /api/events`) one identity may hold open at once (tabs, wall
    /// displays); past it, 429; 0: no limit [default: 16].
    pub event_streams_per_identity: Option<usize>,
    /// Identity settings.
    pub auth: Option<AuthFile>,
}

/// The `[workspace_sources]` table: the bounds of the sources a workspace's admins define
/// through the API (the sources file is the operator's, and is trusted).
#[derive(Debug, Clone, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceSourcesFile {
    /// Folder holding one folder per workspace: a stored source's `path` is relative to
    /// `<dir>/<workspace>/` and may not leave it (default: `<data_dir>/sources`).
    pub dir: Option<PathBuf>,
    /// Let stored sources fetch URLs whose host is a loopback, private or link-local address
    /// (the machine's own services, the internal network) [default: false].
    pub allow_private_urls: Option<bool>,
    /// Run the stored sources on this replica [default: true]. With several replicas on one
    /// PostgreSQL store, let one run them (each would import every change otherwise).
    pub run: Option<bool>,
}

/// The `[archives]` table: where the tile archives of catalog layers (`kind = "pmtiles"` or
/// `"mbtiles"`, docs/basemaps.md) may be. Catalogs are edited by workspace admins: a local
/// archive is a path relative to this folder (links may not lead out of it), and a remote one
/// may not reach the machine's own or internal addresses unless allowed here.
#[derive(Debug, Clone, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchivesFile {
    /// Folder of the archives, shared by every workspace (default: `<data_dir>/archives`).
    pub dir: Option<PathBuf>,
    /// Let remote PMTiles archives be read from loopback, private and link-local addresses (a
    /// tile server on the internal network) [default: false].
    pub allow_private_urls: Option<bool>,
}

/// Flags of `vigie serve` (each overrides the file).
#[derive(Debug, Clone, Args, Default)]
#[expect(clippy::struct_excessive_bools, reason = "command-line switches, one per flag")]
pub struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long, short = 'c', env = "VIGIE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded SQLite store [default: ./vigie-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Load the bundled demo (44 Paris 2024 venues, perimeters, synthetic log) into an empty
    /// store.
    #[arg(long)]
    pub demo: bool,
    /// Seed of the demo generator [default: 2024].
    #[arg(long)]
    pub demo_seed: Option<u64>,
    /// Number of synthetic log entries in the demo [default: 25000].
    #[arg(long)]
    pub demo_entries: Option<usize>,
    /// A folder of administrative boundaries (régions, départements, communes GeoJSON of IGN
    /// Admin Express, downloaded by you): the demo builds its basemap (archives/fond.pmtiles)
    /// from them at first start, and imports the départements.
    #[arg(long, value_name = "DIR")]
    pub demo_basemap: Option<PathBuf>,
    /// Generate point entries only (benchmarks).
    #[arg(long)]
    pub demo_points_only: bool,
    /// Spread point entries over the region (kilometres from the venues) rather than around
    /// the venues: the load benchmark's dataset.
    #[arg(long)]
    pub demo_region: bool,
    /// Layer catalog file [default: bundled data/catalog.toml].
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// Tile cache size in MiB; 0 disables it [default: 256].
    #[arg(long)]
    pub cache_size_mb: Option<u64>,
    /// Public base URL used in TileJSON and styles.
    #[arg(long)]
    pub public_url: Option<String>,
    /// PostgreSQL/PostGIS URL (`postgres://user@host/db`); without it the embedded SQLite store
    /// in --data-dir is used. Prefer the environment variable: command lines are visible to
    /// other users of the machine.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// A tile render or log write running longer than this (milliseconds) is reported in the
    /// log and `/metrics`, and `/health` answers `degraded` while it runs [default: 10000].
    #[arg(long)]
    pub stall_after_ms: Option<u64>,
    /// Most tile renders at once, all workspaces together: a render past it waits
    /// --render-wait-ms for its turn, then the request gets 503 with Retry-After. Bounds the
    /// memory renders take however many clients miss the cache at once [default: twice the
    /// cores].
    #[arg(long)]
    pub max_renders: Option<usize>,
    /// How long a tile render waits for its turn (milliseconds) [default: 2000].
    #[arg(long)]
    pub render_wait_ms: Option<u64>,
    /// Most features of one tile: past it, layers are thinned into clusters (each layer of a
    /// composite tile gets an equal share) [default: 200000, tippecanoe's].
    #[arg(long)]
    pub tile_max_features: Option<usize>,
    /// Most bytes of one tile: past it, layers are thinned into clusters (each layer of a
    /// composite tile gets an equal share) [default: 500000, tippecanoe's].
    #[arg(long)]
    pub tile_max_bytes: Option<usize>,
    /// Most bytes of one raw tile (`budget=off`, every feature): past it the request gets 413
    /// [default: 33554432].
    #[arg(long)]
    pub raw_tile_max_bytes: Option<usize>,
    /// After SIGTERM or SIGINT, keep accepting requests this long (milliseconds) while
    /// `/readyz` answers 503, so a load balancer takes the server out first [default: 0].
    #[arg(long)]
    pub shutdown_delay_ms: Option<u64>,
    /// After SIGTERM or SIGINT (and --shutdown-delay-ms), how long the requests in flight may
    /// take to finish (milliseconds) before the process exits anyway; a second signal exits
    /// at once [default: 30000].
    #[arg(long)]
    pub shutdown_grace_ms: Option<u64>,
    /// How long a client may take to send a request's headers (milliseconds, from its
    /// connection's start or the end of its previous request); past it the connection is
    /// closed [default: 30000].
    #[arg(long)]
    pub header_read_timeout_ms: Option<u64>,
    /// Writes one identity may make per second, sustained; 0 turns the limit off (write
    /// benchmarks) [default: 50].
    #[arg(long)]
    pub writes_per_second: Option<f64>,
    /// Let requests without credentials in with this role (reader … admin). Without it they
    /// get 401, except with --demo on a loopback address, where they act as the demo identity
    /// with the admin role.
    #[arg(long)]
    pub anonymous_role: Option<Role>,
    /// Refuse requests without credentials, even with --demo on a loopback address (the demo
    /// accounts then sign in).
    #[arg(long, conflicts_with = "anonymous_role")]
    pub require_sign_in: bool,
    /// The workspace: the one served at the root by `vigie serve` (every workspace of the
    /// store is served under `/w/{id}`), the one a command acts in [default: `default`].
    #[arg(long)]
    pub workspace: Option<String>,
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq)]
#[expect(clippy::struct_excessive_bools, reason = "resolved switches, one per flag")]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory of the embedded store.
    pub data_dir: PathBuf,
    /// Workspace id.
    pub workspace: String,
    /// Catalog file, or `None` for the bundled one.
    pub catalog: Option<PathBuf>,
    /// Styles directory, or `None` for the bundled ones.
    pub styles_dir: Option<PathBuf>,
    /// Public base URL without trailing slash.
    pub public_url: Option<String>,
    /// Tile cache size, bytes.
    pub cache_size_bytes: u64,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// SQLite durability.
    pub sqlite_synchronous: Synchronous,
    /// Load the demo into an empty store.
    pub demo: bool,
    /// Demo seed.
    pub demo_seed: u64,
    /// Demo entry count.
    pub demo_entries: usize,
    /// Demo boundaries folder (the demo's basemap and départements).
    pub demo_basemap: Option<PathBuf>,
    /// Demo with point entries only.
    pub demo_points_only: bool,
    /// Demo point entries spread over the region.
    pub demo_region: bool,
    /// PostgreSQL URL; `None` for the embedded store.
    pub database_url: Option<Secret>,
    /// PostgreSQL pool size.
    pub pool_size: u32,
    /// PostgreSQL statement timeout, milliseconds.
    pub statement_timeout_ms: u64,
    /// Groups of log creations committed at once on PostgreSQL.
    pub commits_in_flight: usize,
    /// Sources file, or `None` for no scheduled sources.
    pub sources: Option<PathBuf>,
    /// Folder of the files stored sources may read (one folder per workspace).
    pub workspace_sources_dir: PathBuf,
    /// Whether stored sources may fetch loopback, private and link-local addresses.
    pub workspace_sources_private_urls: bool,
    /// Whether this replica runs the workspaces' stored sources.
    pub workspace_sources_run: bool,
    /// Where tile archives may be.
    pub archives: crate::tiles::ArchiveReach,
    /// Most tiles of one offline pack.
    pub export_max_tiles: usize,
    /// Stall deadline of renders and log writes, milliseconds.
    pub stall_after_ms: u64,
    /// Most tile renders at once.
    pub max_renders: usize,
    /// How long a render waits for its turn, milliseconds.
    pub render_wait_ms: u64,
    /// What one tile may hold (features and bytes before thinning, the raw ceiling).
    pub tile_budget: vigie_layers::Budget,
    /// Accepting on after a stop signal, milliseconds.
    pub shutdown_delay_ms: u64,
    /// Grace period of the requests in flight after a stop signal, milliseconds.
    pub shutdown_grace_ms: u64,
    /// Time a client has to send a request's headers, milliseconds (at least 1).
    pub header_read_timeout_ms: u64,
    /// Writes and event streams per identity, request body pauses.
    pub limits: crate::http::limits::Settings,
    /// Role of requests without credentials (`None`: 401).
    pub anonymous_role: Option<Role>,
    /// Whether the anonymous identity names itself with `X-Vigie-User` (demo on loopback).
    pub anonymous_names_itself: bool,
    /// Session lifetime, milliseconds.
    pub session_ttl_ms: i64,
    /// OpenID Connect, when configured.
    pub oidc: Option<crate::identity::oidc::OidcSettings>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Config {
    /// Reads the file named by `--config` (if any) and applies the flags over it.
    ///
    /// # Errors
    /// When the file cannot be read or parsed (the message names the file, line and key), or a
    /// value is out of range.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => Self::read_file(path)?,
            None => FileConfig::default(),
        };
        Self::resolve(file, args)
    }

    fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
    }

    /// Applies flags over the file and defaults.
    ///
    /// # Errors
    /// When a value is out of range (workspace id, public URL).
    ///
    /// # Panics
    /// Never: the default listen address is a valid constant.
    pub fn resolve(file: FileConfig, args: &ServeArgs) -> anyhow::Result<Self> {
        let demo = file.demo.clone();
        let workspace = args.workspace.clone().or(file.workspace).unwrap_or_else(|| DEFAULT_WORKSPACE.to_owned());
        check_workspace_id(&workspace)?;
        let public_url = args.public_url.clone().or(file.public_url).map(|u| u.trim_end_matches('/').to_owned());
        if let Some(u) = &public_url {
            anyhow::ensure!(
                u.starts_with("http://") || u.starts_with("https://"),
                "public_url '{u}' must start with http:// or https://"
            );
        }
        let listen = args.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default"));
        let is_demo = args.demo || demo.as_ref().is_some_and(|d| d.enabled);
        let auth = file.auth.clone().unwrap_or_default();
        let require_sign_in = args.require_sign_in || auth.require_sign_in;
        let demo_on_loopback = is_demo && listen.ip().is_loopback() && !require_sign_in;
        let anonymous_role = if require_sign_in {
            None
        } else {
            args.anonymous_role.or(auth.anonymous_role).or(demo_on_loopback.then_some(Role::Admin))
        };
        let session_hours = auth.session_hours.unwrap_or(crate::identity::service::DEFAULT_SESSION_HOURS);
        anyhow::ensure!((1..=24 * 30).contains(&session_hours), "auth.session_hours must be 1 to 720");
        let oidc = match &auth.oidc {
            None => None,
            Some(o) => {
                anyhow::ensure!(
                    o.issuer.starts_with("https://")
                        || o.issuer.starts_with("http://127.0.0.1")
                        || o.issuer.starts_with("http://localhost"),
                    "auth.oidc.issuer '{}' must be https (plain http only on loopback, for tests)",
                    o.issuer
                );
                let redirect_uri = match (&o.redirect_uri, &public_url) {
                    (Some(r), _) => r.clone(),
                    (None, Some(base)) => format!("{base}/auth/oidc/callback"),
                    (None, None) => anyhow::bail!(
                        "auth.oidc needs redirect_uri (or public_url): the address the provider sends people back to"
                    ),
                };
                Some(crate::identity::oidc::OidcSettings {
                    issuer: o.issuer.clone(),
                    client_id: o.client_id.clone(),
                    client_secret: std::env::var(OIDC_SECRET_ENV).ok().filter(|s| !s.is_empty()),
                    audience: o.audience.clone().unwrap_or_else(|| o.client_id.clone()),
                    redirect_uri,
                    default_role: o.default_role,
                })
            }
        };
        let data_dir = args.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let workspace_sources = file.workspace_sources.unwrap_or_default();
        let pool_size = file.database.as_ref().and_then(|d| d.pool_size).unwrap_or(DEFAULT_POOL_SIZE);
        let commits_in_flight = file.database.as_ref().and_then(|d| d.commits_in_flight).unwrap_or(1);
        anyhow::ensure!(
            commits_in_flight >= 1 && commits_in_flight <= (pool_size / 2).max(1),
            "database.commits_in_flight = {commits_in_flight}: it must be 1 to half of database.pool_size ({pool_size}), \
             so that reads always find a connection"
        );
        Ok(Self {
            listen,
            workspace_sources_dir: workspace_sources.dir.unwrap_or_else(|| data_dir.join("sources")),
            workspace_sources_private_urls: workspace_sources.allow_private_urls.unwrap_or(false),
            workspace_sources_run: workspace_sources.run.unwrap_or(true),
            export_max_tiles: file.export_max_tiles.unwrap_or(crate::export::DEFAULT_MAX_TILES).max(1),
            archives: crate::tiles::ArchiveReach {
                dir: file.archives.as_ref().and_then(|a| a.dir.clone()).unwrap_or_else(|| data_dir.join("archives")),
                private_urls: file.archives.as_ref().and_then(|a| a.allow_private_urls).unwrap_or(false),
            },
            data_dir,
            workspace,
            catalog: args.catalog.clone().or(file.catalog),
            styles_dir: file.styles_dir,
            public_url,
            cache_size_bytes: args.cache_size_mb.or(file.cache_size_mb).unwrap_or(DEFAULT_CACHE_SIZE_MB) * 1024 * 1024,
            max_body_bytes: file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            sqlite_synchronous: file.sqlite_synchronous.unwrap_or_default(),
            demo: is_demo,
            demo_seed: args
                .demo_seed
                .or(demo.as_ref().and_then(|d| d.seed))
                .unwrap_or(vigie_layers::demo::DEFAULT_SEED),
            demo_entries: args
                .demo_entries
                .or(demo.as_ref().and_then(|d| d.entries))
                .unwrap_or(vigie_layers::demo::DEFAULT_ENTRIES),
            demo_basemap: args.demo_basemap.clone().or_else(|| demo.as_ref().and_then(|d| d.basemap.clone())),
            demo_points_only: args.demo_points_only,
            demo_region: args.demo_region,
            database_url: args.database_url.clone().filter(|u| !u.is_empty()).map(Secret),
            pool_size,
            commits_in_flight: commits_in_flight as usize,
            statement_timeout_ms: file
                .database
                .as_ref()
                .and_then(|d| d.statement_timeout_ms)
                .unwrap_or(DEFAULT_STATEMENT_TIMEOUT_MS),
            sources: file.sources,
            stall_after_ms: args.stall_after_ms.or(file.stall_after_ms).unwrap_or(DEFAULT_STALL_AFTER_MS).max(1),
            max_renders: args
                .max_renders
                .or(file.max_renders)
                .unwrap_or_else(|| 2 * std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
                .max(1),
            render_wait_ms: args.render_wait_ms.or(file.render_wait_ms).unwrap_or(DEFAULT_RENDER_WAIT_MS),
            tile_budget: {
                let d = vigie_layers::Budget::default();
                let bytes = args.tile_max_bytes.or(file.tile_max_bytes).unwrap_or(d.bytes).max(1024);
                vigie_layers::Budget {
                    features: args.tile_max_features.or(file.tile_max_features).unwrap_or(d.features).max(1),
                    bytes,
                    // A thinned tile is never refused: the ceiling is at least the budget.
                    ceiling: args.raw_tile_max_bytes.or(file.raw_tile_max_bytes).unwrap_or(d.ceiling).max(bytes),
                }
            },
            shutdown_delay_ms: args.shutdown_delay_ms.or(file.shutdown_delay_ms).unwrap_or(0),
            shutdown_grace_ms: args.shutdown_grace_ms.or(file.shutdown_grace_ms).unwrap_or(DEFAULT_SHUTDOWN_GRACE_MS),
            header_read_timeout_ms: args
                .header_read_timeout_ms
                .or(file.header_read_timeout_ms)
                .unwrap_or(DEFAULT_HEADER_READ_TIMEOUT_MS)
                .max(1),
            limits: crate::http::limits::Settings {
                writes_per_second: args
                    .writes_per_second
                    .or(file.writes_per_second)
                    .unwrap_or(DEFAULT_WRITES_PER_SECOND)
                    .max(0.0),
                write_burst: file.write_burst.unwrap_or(DEFAULT_WRITE_BURST).max(1),
                event_streams: file.event_streams_per_identity.unwrap_or(DEFAULT_EVENT_STREAMS),
                body_read_timeout: std::time::Duration::from_millis(
                    file.body_read_timeout_ms.unwrap_or(DEFAULT_BODY_READ_TIMEOUT_MS).max(1),
                ),
            },
            anonymous_role,
            anonymous_names_itself: demo_on_loopback,
            session_ttl_ms: (session_hours * 3_600_000) as i64,
            oidc,
            trusted_proxies: auth.trusted_proxies.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let err =
            toml::from_str::<FileConfig>("listen = \"127.0.0.1:1\"\ncache_sise_mb = 3\n").unwrap_err().to_string();
        assert!(err.contains("cache_sise_mb"), "{err}");
    }

    #[test]
    fn flags_override_the_file_and_defaults_fill_the_rest() {
        let file: FileConfig =
            toml::from_str("cache_size_mb = 8\ndata_dir = \"/tmp/a\"\n[demo]\nenabled = true\nseed = 5\n").unwrap();
        let args = ServeArgs { data_dir: Some("/tmp/b".into()), ..ServeArgs::default() };
        let c = Config::resolve(file, &args).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/b"));
        assert_eq!(c.cache_size_bytes, 8 * 1024 * 1024);
        assert!(c.demo);
        assert_eq!(c.demo_seed, 5);
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn anonymous_access_is_explicit_or_a_loopback_demo() {
        let demo =
            |listen: &str| ServeArgs { demo: true, listen: Some(listen.parse().unwrap()), ..ServeArgs::default() };
        let c = Config::resolve(FileConfig::default(), &demo("127.0.0.1:8080")).unwrap();
        assert_eq!((c.anonymous_role, c.anonymous_names_itself), (Some(Role::Admin), true));
        let args = ServeArgs { require_sign_in: true, ..demo("127.0.0.1:8080") };
        assert_eq!(Config::resolve(FileConfig::default(), &args).unwrap().anonymous_role, None);
        let c = Config::resolve(FileConfig::default(), &demo("0.0.0.0:8080")).unwrap();
        assert_eq!(c.anonymous_role, None, "never an open API on a non-loopback address by default");
        let c = Config::resolve(FileConfig::default(), &ServeArgs::default()).unwrap();
        assert_eq!(c.anonymous_role, None);
        let file: FileConfig =
            toml::from_str("listen = \"0.0.0.0:80\"\n[auth]\nanonymous_role = \"reader\"\n").unwrap();
        let c = Config::resolve(file, &ServeArgs::default()).unwrap();
        assert_eq!((c.anonymous_role, c.anonymous_names_itself), (Some(Role::Reader), false));
        assert!(toml::from_str::<FileConfig>("[auth]\nanonymous_role = \"root\"\n").is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        let file: FileConfig = toml::from_str("workspace = \"a b\"").unwrap();
        assert!(Config::resolve(file, &ServeArgs::default()).unwrap_err().to_string().contains("workspace"));
        let args = ServeArgs { public_url: Some("ftp://x".into()), ..ServeArgs::default() };
        assert!(Config::resolve(FileConfig::default(), &args).is_err());
    }
}
