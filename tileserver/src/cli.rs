//! The `vigie` command line.

use crate::config::{Config, ServeArgs};
use crate::identity::audit::{AuditDraft, Outcome};
use crate::identity::{AccountChange, Identities, IdentityPolicy, NewToken, Role};
use crate::ingest::import::{ImportError, ImportOptions};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vigie_layers::dataset::Report;
use vigie_layers::readers::{Crs, CsvOptions, Format, ReadOptions};

/// vigie — crisis-room map service: thematic vector-tile layers from an operations log,
/// venues and source data.
#[derive(Debug, Parser)]
#[command(name = "vigie", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log format: `text` (one line an event; coloured only on a terminal) or `json` (one
    /// object a line, for log collectors).
    #[arg(long, global = true, env = "VIGIE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to log: `error`, `warn`, `info`, `debug` or a filter by target. The access log
    /// (target `vigie::access`) writes failed requests at `info` and `warn`, the others at
    /// `debug`: `info,vigie::access=debug` logs every request.
    #[arg(long, global = true, env = "VIGIE_LOG", default_value = "info")]
    pub log: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// JSON lines.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve(ServeArgs),
    /// Import a file or folder into a dataset layer of the catalog (replacing its previous
    /// version): GeoJSON, CSV, FlatGeobuf, GeoPackage, Shapefile (.shp, folder or .zip), KML.
    Import(ImportArgs),
    /// Sources files (scheduled imports).
    #[command(subcommand)]
    Sources(SourcesCommand),
    /// Local accounts: add, set a password, disable, enable.
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens for machines (GIS tools, feeds, scripts): create, list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Workspaces: each has its own log, datasets, catalog and members, served under
    /// `/w/{id}` (a running server picks a new one up within seconds).
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// A workspace's layer catalog (themes and layers): export it, replace it from a file.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// The configuration file: check one, print the reference of every key, flag and
    /// environment variable.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Copy the embedded store's data directory into DEST while the server runs: the database
    /// as one consistent snapshot (attachments included), the other files beside it, and a
    /// manifest with every file's SHA-256. A PostgreSQL store is backed up with `pg_dump`.
    Backup {
        /// A directory that does not exist or is empty.
        dest: PathBuf,
        /// Store, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
    /// Write an offline pack: the tiles of an area (`--bbox` or `--area`), zoom range, layers
    /// and filters into one PMTiles archive, as the server serves them now, with its style
    /// (`OUT.style.json`, beside it) and what it is (what, when, who, filters) in its metadata.
    /// Opens in MapLibre with the `pmtiles://` protocol, no server needed.
    Export(ExportArgs),
    /// Build a light basemap of France from the official administrative boundaries you
    /// downloaded (régions, départements, communes of IGN Admin Express, as GeoJSON or any
    /// format `vigie import` reads): one vector PMTiles archive, a layer per level, to put in
    /// the archives folder and name as the catalog's basemap (docs/basemaps.md).
    Basemap(BasemapArgs),
    /// Restore a backup made by `vigie backup` into the data directory (which must hold no
    /// database): every file is checked against the manifest, and the database's integrity,
    /// before anything is written.
    Restore {
        /// The backup directory.
        from: PathBuf,
        /// Store, as for `vigie serve` (its data directory receives the backup).
        #[command(flatten)]
        store: ServeArgs,
    },
}

/// `vigie basemap`.
#[derive(Debug, Args)]
pub struct BasemapArgs {
    /// The archive to write (`.pmtiles`); it must not exist [default: fond.pmtiles in the
    /// archives folder, which the bundled catalog's basemap layer `fond` reads].
    pub out: Option<PathBuf>,
    /// The folder of boundaries: files (or folders) named regions…, departements…, communes…
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Highest zoom of its tiles (clients overzoom beyond it).
    #[arg(long, default_value_t = crate::basemap::DEFAULT_MAXZOOM)]
    pub maxzoom: u8,
    /// Its attribution [default: IGN Admin Express's].
    #[arg(long)]
    pub attribution: Option<String>,
    /// Configuration and data directory, as for `vigie serve` (where the archives folder is).
    #[command(flatten)]
    pub store: ServeArgs,
}

/// `vigie export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The archive to write (`.pmtiles`); it must not exist.
    pub out: PathBuf,
    /// Layer ids, comma-separated, as in tile URLs (e.g. `departements,venues,entries`).
    #[arg(long)]
    pub layers: String,
    /// The area: west,south,east,north in degrees.
    #[arg(long, conflicts_with = "area", required_unless_present = "area", allow_hyphen_values = true)]
    pub bbox: Option<String>,
    /// The area: a feature of a dataset layer, `layer:code` (e.g. `departements:93`); only the
    /// tiles that meet its polygons are written.
    #[arg(long)]
    pub area: Option<String>,
    /// Lowest zoom.
    #[arg(long, default_value_t = 8)]
    pub minzoom: u8,
    /// Highest zoom.
    #[arg(long, default_value_t = 14)]
    pub maxzoom: u8,
    /// Tile filters, as in tile URLs (e.g. `severity=3&since=24h`).
    #[arg(long)]
    pub filters: Option<String>,
    /// Leave the workspace's basemap out (by default a vector basemap is written into the
    /// pack's tiles, under the layers, and a raster one into OUT.basemap.pmtiles beside it).
    #[arg(long)]
    pub no_basemap: bool,
    /// Most tiles of the pack (a request over it is refused before any work) [default: the
    /// configuration's export_max_tiles].
    #[arg(long)]
    pub max_tiles: Option<usize>,
    /// Store and workspace, as for `vigie serve`.
    #[command(flatten)]
    pub store: ServeArgs,
}

/// `vigie config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file without starting the server: its syntax and keys (an
    /// unknown or misspelt key is named with its line), its values, and the catalog and
    /// sources files it names. Exits non-zero with what is wrong.
    Check {
        /// The configuration file (TOML).
        file: PathBuf,
    },
    /// Print the configuration reference (Markdown): every key of the file, every environment
    /// variable, every command-line flag.
    Reference,
}

/// `vigie catalog …`.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Print the workspace's stored catalog (TOML, the format of data/catalog.toml; `--json`
    /// for the API's).
    Export {
        /// JSON instead of TOML.
        #[arg(long)]
        json: bool,
        /// Store and workspace, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
    /// Replace the workspace's catalog by a file (TOML, or JSON when it ends in .json),
    /// checked first; a running server serves it within seconds.
    Import {
        /// The catalog file.
        file: PathBuf,
        /// Store and workspace, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
}

/// `vigie workspace …`.
#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace, with an admin (an existing account) when given.
    Add {
        /// Id: letters, digits, '-' and '_' (it is the URL segment).
        id: String,
        /// An existing account to make its admin.
        #[arg(long)]
        admin: Option<String>,
        /// The workspace it escalates to (national → zone → département).
        #[arg(long)]
        parent: Option<String>,
        /// Store, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
    /// Show, set (`--set PARENT`) or clear the workspace a workspace escalates to.
    Parent(SetOrClear),
    /// List the store's workspaces.
    List {
        /// Store, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
    /// Show, set or clear a workspace's territory: its members but the admins see the log and
    /// the restricted layers within it (`--set` a JSON array of regions, e.g.
    /// '[{"area": "departements:93"}]'; areas are resolved by the server, which refuses access
    /// rather than widening it when one does not resolve).
    Territory(SetOrClear),
}

/// A workspace setting to show (no option), set or clear.
#[derive(Debug, clap::Args)]
pub struct SetOrClear {
    /// The new value.
    #[arg(long, conflicts_with = "clear")]
    set: Option<String>,
    /// Clear it.
    #[arg(long)]
    clear: bool,
    /// Store and workspace, as for `vigie serve`.
    #[command(flatten)]
    store: ServeArgs,
}

/// `vigie user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a local account and make it a member of the workspace.
    Add {
        /// Account name (letters, digits, '.', '-', '_', '@').
        name: String,
        /// Role in the workspace: reader, contributor, analyst, editor, staffing_manager, admin.
        #[arg(long, default_value = "reader")]
        role: Role,
        /// Read the password from the first line of standard input (else one is generated and
        /// printed once).
        #[arg(long)]
        password_stdin: bool,
        /// Store and workspace, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
    /// Set an account's password (its sessions are signed out).
    Passwd {
        /// Account name.
        name: String,
        /// Read the password from the first line of standard input (else one is generated and
        /// printed once).
        #[arg(long)]
        password_stdin: bool,
        /// Store, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
    /// Disable an account: signed out everywhere, its tokens revoked, sign-ins refused.
    Disable {
        /// Account name.
        name: String,
        /// Store, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
    /// Enable a disabled account again (its revoked tokens stay revoked).
    Enable {
        /// Account name.
        name: String,
        /// Store, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
}

/// `vigie token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token on behalf of an account; printed once, stored hashed.
    Create {
        /// The account creating it (the token never has more rights than this account).
        #[arg(long)]
        user: String,
        /// What the token is for (e.g. qgis-salle-crise).
        #[arg(long)]
        name: String,
        /// Its role [default: reader].
        #[arg(long, default_value = "reader")]
        role: Role,
        /// Days until it expires [default: never].
        #[arg(long)]
        expires_days: Option<u32>,
        /// Narrows the token inside its creator's territory: a JSON array of regions, e.g.
        /// '[{"area": "communes:93066"}]' (resolved by the server, which refuses the token
        /// rather than widen it when an area does not resolve).
        #[arg(long)]
        territory: Option<String>,
        /// Store and workspace, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
    /// List the workspace's tokens (never their secrets).
    List {
        /// Store and workspace, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
    /// Revoke a token by id.
    Revoke {
        /// Token id (see `vigie token list`).
        id: i64,
        /// Store and workspace, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
}

/// `vigie audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit trail's hash chain; exits 1 naming the first broken row.
    Verify {
        /// Store, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
}

/// Arguments of `vigie import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Catalog layer to import into (a layer of kind "dataset"); when the workspace has no
    /// layer of that id, a dataset layer is created for it once the import succeeds (titled
    /// after the file, theme "reference").
    #[arg(long)]
    pub layer: String,
    /// Import the valid records and report the invalid ones (default: reject the whole file).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Write the report of invalid records (JSON) there [default with --skip-invalid:
    /// ./LAYER-import-report.json].
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Format, when the extension does not tell it: geojson, csv, flatgeobuf, gpkg, shapefile,
    /// kml, kmz.
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// CRS of the coordinates when the file does not say it (or says it wrong): EPSG:2154,
    /// EPSG:3857, an OGC URN, a PROJ string.
    #[arg(long, value_parser = parse_crs)]
    pub crs: Option<Crs>,
    /// GeoPackage feature table, when the file holds several.
    #[arg(long)]
    pub table: Option<String>,
    /// CSV latitude column (default: recognised by name).
    #[arg(long)]
    pub lat: Option<String>,
    /// CSV longitude column (default: recognised by name).
    #[arg(long)]
    pub lon: Option<String>,
    /// CSV column of WKT (or GeoJSON) geometries.
    #[arg(long)]
    pub geometry: Option<String>,
    /// The file, or a folder (a Shapefile's folder, or several files of one dataset).
    pub file: PathBuf,
    /// Store and catalog settings, as for `vigie serve`.
    #[command(flatten)]
    pub store: ServeArgs,
}

/// `vigie sources …`.
#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Check every entry of a sources file against the catalog and say what is wrong with each.
    Check(SourcesCheckArgs),
    /// Print the workspace's stored sources (TOML; what `GET /api/sources/config` answers).
    Export {
        /// Store and workspace, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
    /// Replace the workspace's stored sources by a file (TOML, the sources file's schema),
    /// checked first as the API checks them (paths under the workspace's folder of
    /// `workspace_sources.dir`); a running server runs them within seconds.
    Import {
        /// The sources document.
        file: PathBuf,
        /// Store and workspace, as for `vigie serve`.
        #[command(flatten)]
        store: ServeArgs,
    },
}

/// Arguments of `vigie sources check`.
#[derive(Debug, Args)]
pub struct SourcesCheckArgs {
    /// The sources file [default: `sources` of the configuration file].
    #[arg(long)]
    pub sources: Option<PathBuf>,
    /// Catalog and configuration, as for `vigie serve`.
    #[command(flatten)]
    pub store: ServeArgs,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!("unsupported format '{s}': expected one of {}", names.join(", "))
    })
}

fn parse_crs(s: &str) -> Result<Crs, String> {
    Crs::parse(s).map_err(|e| e.to_string())
}

/// Runs the parsed command.
///
/// # Errors
/// Whatever the command fails with.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => crate::serve(Config::load(&args)?).await,
        Command::Import(args) => import(args).await,
        Command::Sources(SourcesCommand::Check(args)) => sources_check(&args).await,
        Command::Sources(SourcesCommand::Export { store }) => {
            let (config, _) = identities(&store).await?;
            let stored = crate::open_store(&config).await?.document(crate::store::SOURCES_DOCUMENT).await?;
            match stored {
                Some(d) => print!("{}", d.document),
                None => eprintln!("workspace '{}' stores no sources yet", config.workspace),
            }
            Ok(())
        }
        Command::Sources(SourcesCommand::Import { file, store }) => sources_import(&file, &store).await,
        Command::User(cmd) => user(cmd).await,
        Command::Token(cmd) => token(cmd).await,
        Command::Audit(AuditCommand::Verify { store }) => audit_verify(&store).await,
        Command::Workspace(cmd) => workspace(cmd).await,
        Command::Catalog(cmd) => catalog(cmd).await,
        Command::Backup { dest, store } => backup(&dest, &store),
        Command::Export(args) => export(args).await,
        Command::Basemap(args) => build_basemap(args).await,
        Command::Restore { from, store } => restore(&from, &store),
        Command::Config(ConfigCommand::Check { file }) => config_check(&file),
        Command::Config(ConfigCommand::Reference) => {
            use std::io::Write as _;
            // A reader that stops early (`| head`) is no error.
            match std::io::stdout().lock().write_all(crate::reference::markdown().as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
    }
}

/// `vigie config check FILE`.
fn config_check(file: &std::path::Path) -> anyhow::Result<()> {
    let args = ServeArgs { config: Some(file.to_owned()), ..ServeArgs::default() };
    let config = Config::load(&args)?;
    let catalog = crate::load_catalog(&config)?;
    if let Some(sources) = &config.sources {
        let mut claims = crate::ingest::sources::config::Claims::default();
        let checked = crate::ingest::sources::config::load(sources, &catalog, true, &mut claims)
            .with_context(|| format!("{}: sources file {}", file.display(), sources.display()))?;
        anyhow::ensure!(
            !checked.has_problems(),
            "{}: the sources file {} has problems: `vigie sources check --config {}` lists them",
            file.display(),
            sources.display(),
            file.display()
        );
    }
    let store = match &config.database_url {
        Some(_) => "PostgreSQL (DATABASE_URL)".to_owned(),
        None => format!("embedded SQLite in {}", config.data_dir.display()),
    };
    println!(
        "{}: valid configuration (listen {}, workspace '{}', store: {store}, catalog: {})",
        file.display(),
        config.listen,
        config.workspace,
        config.catalog.as_ref().map_or_else(|| "bundled".to_owned(), |c| c.display().to_string()),
    );
    Ok(())
}

async fn catalog(cmd: CatalogCommand) -> anyhow::Result<()> {
    match cmd {
        CatalogCommand::Export { json, store } => {
            let config = Config::load(&store)?;
            let (catalog, _) = crate::workspace_catalog(&config, crate::open_store(&config).await?.as_ref()).await?;
            print!("{}", if json { catalog.to_json() + "\n" } else { catalog.to_toml() });
        }
        CatalogCommand::Import { file, store } => {
            let config = Config::load(&store)?;
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let shown = file.display().to_string();
            let next = if file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
                vigie_layers::Catalog::from_json(&text, &shown)?
            } else {
                vigie_layers::Catalog::parse(&text, &shown)?
            };
            let store = crate::open_store(&config).await?;
            let version =
                store_catalog(&config, store.as_ref(), "catalog.replace", "catalog", &|_| Ok(next.clone())).await?;
            println!(
                "catalog of workspace '{}' replaced by {shown}: version {version} ({} themes, {} layers); a running \
                 server serves it within seconds",
                config.workspace,
                next.themes.len(),
                next.layers.len()
            );
        }
    }
    Ok(())
}

/// Stores `change` of the workspace's catalog as its next version (retrying when another
/// change lands in between) and audits it; returns the new version.
async fn store_catalog(
    config: &Config,
    store: &dyn crate::store::Store,
    action: &str,
    target: &str,
    change: &dyn Fn(&vigie_layers::Catalog) -> anyhow::Result<vigie_layers::Catalog>,
) -> anyhow::Result<u64> {
    // Seeded first, so that there is a catalog to change.
    crate::workspace_catalog(config, store).await?;
    let origin = format!("of workspace '{}' (stored)", config.workspace);
    let digest =
        |c: &vigie_layers::Catalog| crate::identity::audit::digest(&serde_json::to_value(c).unwrap_or_default());
    store_document(config, store, crate::store::CATALOG_DOCUMENT, action, target, &|stored| {
        let current =
            vigie_layers::Catalog::from_json(&stored.context("the catalog is not stored")?.document, &origin)?;
        let next = change(&current)?;
        Ok((next.to_json(), Some(digest(&current)), digest(&next)))
    })
    .await
}

/// A new version of a workspace document and the audit digests of the one it replaces (none
/// before the first) and of itself.
type Next = anyhow::Result<(String, Option<String>, String)>;

/// Stores workspace document `name` as `edit` makes it from the stored one (`None`: none
/// stored), as its next version (edited again when another change lands in between), and
/// audits it; returns the new version.
async fn store_document(
    config: &Config,
    store: &dyn crate::store::Store,
    name: &str,
    action: &str,
    target: &str,
    edit: &dyn Fn(Option<&crate::store::StoredDocument>) -> Next,
) -> anyhow::Result<u64> {
    use crate::store::{Edited, edit_document};
    let edited = edit_document(store, name, None, &cli_actor(), |stored| {
        edit(stored).map(|(document, before, after)| (document, (before, after)))
    })
    .await?;
    let Edited::Stored { from, to, value: (before, after) } = edited else {
        anyhow::bail!("the {name} of workspace '{}' kept changing meanwhile: try again", config.workspace)
    };
    let draft = AuditDraft {
        at: crate::now_ms(),
        workspace: Some(config.workspace.clone()),
        actor: cli_actor(),
        action: action.to_owned(),
        target: target.to_owned(),
        outcome: Outcome::Ok,
        client: None,
        detail: serde_json::json!({"from_version": from, "to_version": to, "before": before, "after": after}),
    };
    Identities::new(store.identity(), IdentityPolicy::default()).record(draft).await;
    Ok(to)
}

async fn workspace(cmd: WorkspaceCommand) -> anyhow::Result<()> {
    match cmd {
        WorkspaceCommand::Add { id, admin, parent, store } => {
            crate::config::check_workspace_id(&id)?;
            let mut config = Config::load(&store)?;
            config.workspace.clone_from(&id);
            let store = crate::open_store(&config).await?;
            let ids = Identities::new(store.identity(), IdentityPolicy::default());
            if let Some(name) = &admin {
                let account = ids
                    .store()
                    .account_by_name(name)
                    .await?
                    .with_context(|| format!("no account named '{name}' (create it with `vigie user add`)"))?;
                ids.store().set_membership(&id, account.id, Some(Role::Admin), crate::now_ms()).await?;
            }
            let draft = AuditDraft {
                at: crate::now_ms(),
                workspace: Some(id.clone()),
                actor: cli_actor(),
                action: "workspace.create".into(),
                target: format!("workspace/{id}"),
                outcome: Outcome::Ok,
                client: None,
                detail: serde_json::json!({ "admin": admin }),
            };
            ids.record(draft).await;
            if let Some(p) = &parent {
                set_parent(store.as_ref(), &id, Some(p)).await?;
            }
            let (catalog, _) = crate::workspace_catalog(&config, store.as_ref()).await?;
            println!(
                "workspace '{id}' ready: served under /w/{id}; its catalog ({} themes, {} layers) was seeded from {}",
                catalog.themes.len(),
                catalog.layers.len(),
                config.catalog.as_ref().map_or_else(|| "the bundled catalog".to_owned(), |p| p.display().to_string())
            );
        }
        WorkspaceCommand::List { store } => {
            let config = Config::load(&store)?;
            for id in crate::open_store(&config).await?.identity().workspaces().await? {
                println!("{id}");
            }
        }
        WorkspaceCommand::Parent(SetOrClear { set, clear, store }) => {
            let config = Config::load(&store)?;
            let s = crate::open_store(&config).await?;
            let ws = &config.workspace;
            if set.is_none() && !clear {
                match s.links().parent(ws).await? {
                    Some(p) => println!("{p}"),
                    None => println!("workspace '{ws}' has no parent"),
                }
                return Ok(());
            }
            set_parent(s.as_ref(), ws, set.as_deref()).await?;
            println!("workspace '{ws}': parent {}", set.as_deref().unwrap_or("cleared"));
        }
        WorkspaceCommand::Territory(SetOrClear { set, clear, store }) => {
            let config = Config::load(&store)?;
            let ids = Identities::new(crate::open_store(&config).await?.identity(), IdentityPolicy::default());
            let ws = &config.workspace;
            if set.is_none() && !clear {
                match ids.store().workspace_territory(ws).await? {
                    Some(t) => println!("{t}"),
                    None => println!("workspace '{ws}' has no territory (the whole map)"),
                }
                return Ok(());
            }
            let text = set.map(|t| regions_json("--set", &t)).transpose()?;
            ids.set_workspace_territory(ws, None, text.as_deref()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("workspace '{ws}': territory {}", if text.is_some() { "set" } else { "cleared" });
        }
    }
    Ok(())
}

/// A territory given on the command line: a JSON array of region objects, in canonical JSON.
/// Its areas are resolved by the server (a workspace's state holds the datasets).
fn regions_json(flag: &str, text: &str) -> anyhow::Result<String> {
    let v: serde_json::Value = serde_json::from_str(text).with_context(|| format!("{flag}: not JSON"))?;
    let regions = v.as_array().filter(|a| !a.is_empty() && a.iter().all(serde_json::Value::is_object));
    anyhow::ensure!(regions.is_some(), "{flag}: a JSON array of regions, e.g. '[{{\"area\": \"departements:93\"}}]'");
    Ok(v.to_string())
}

/// Makes `parent` the workspace `ws` escalates to (audited), refusing an unknown workspace and
/// a cycle.
async fn set_parent(store: &dyn crate::store::Store, ws: &str, parent: Option<&str>) -> anyhow::Result<()> {
    let links = store.links();
    if let Some(p) = parent {
        let known = store.identity().workspaces().await?;
        anyhow::ensure!(known.iter().any(|k| k == p), "no workspace '{p}' (create it with `vigie workspace add {p}`)");
        // Walk up from the new parent: meeting `ws` would make a cycle.
        let mut up = Some(p.to_owned());
        while let Some(w) = up {
            anyhow::ensure!(w != ws, "'{p}' is '{ws}' or below it: a workspace cannot escalate to itself");
            up = links.parent(&w).await?;
        }
    }
    anyhow::ensure!(links.set_parent(ws, parent).await?, "no workspace '{ws}'");
    let ids = Identities::new(store.identity(), IdentityPolicy::default());
    ids.record(AuditDraft {
        at: crate::now_ms(),
        workspace: Some(ws.to_owned()),
        actor: cli_actor(),
        action: "workspace.parent".into(),
        target: format!("workspace/{ws}"),
        outcome: Outcome::Ok,
        client: None,
        detail: serde_json::json!({ "parent": parent }),
    })
    .await;
    Ok(())
}

/// The identity service over the configured store, for a command acting in `--workspace`
/// (which must exist: a typo never creates a workspace).
async fn identities(args: &ServeArgs) -> anyhow::Result<(Config, Arc<Identities>)> {
    let config = Config::load(args)?;
    // The store is opened for the primary workspace (the configuration's), not the target.
    let primary = Config::load(&ServeArgs { workspace: None, ..args.clone() })?;
    let store = crate::open_store(&primary).await?;
    let known = store.identity().workspaces().await?;
    anyhow::ensure!(
        known.contains(&config.workspace),
        "no workspace '{}' in this store (create it with `vigie workspace add {}`)",
        config.workspace,
        config.workspace
    );
    let identities = Identities::new(store.identity(), IdentityPolicy::default());
    Ok((config, identities))
}

/// The actor the command line writes in the audit trail: `cli:` and the operating-system user.
pub(crate) fn cli_actor() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}

/// A password from standard input's first line, or a generated one (printed by the caller).
fn password_input(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((crate::identity::secret::random_secret()[..20].to_owned(), true));
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("cannot read the password from standard input")?;
    Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false))
}

async fn user(cmd: UserCommand) -> anyhow::Result<()> {
    let actor = cli_actor();
    match cmd {
        UserCommand::Add { name, role, password_stdin, store } => {
            let (config, ids) = identities(&store).await?;
            let (password, generated) = password_input(password_stdin)?;
            ids.add_account(&actor, &name, &password, &config.workspace, role).await?;
            println!("account '{name}' created, {role} in workspace '{}'", config.workspace);
            if generated {
                println!("password (shown once): {password}");
            }
        }
        UserCommand::Passwd { name, password_stdin, store } => {
            let (_, ids) = identities(&store).await?;
            let (password, generated) = password_input(password_stdin)?;
            ids.change_account(&actor, &name, AccountChange::Password(&password)).await?;
            println!("password of '{name}' changed; its sessions are signed out");
            if generated {
                println!("password (shown once): {password}");
            }
        }
        UserCommand::Disable { name, store } => {
            let (_, ids) = identities(&store).await?;
            ids.change_account(&actor, &name, AccountChange::Disable).await?;
            println!("account '{name}' disabled: signed out, its tokens revoked");
        }
        UserCommand::Enable { name, store } => {
            let (_, ids) = identities(&store).await?;
            ids.change_account(&actor, &name, AccountChange::Enable).await?;
            println!("account '{name}' enabled");
        }
    }
    Ok(())
}

async fn token(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { user, name, role, expires_days, territory, store } => {
            let territory = territory.map(|t| regions_json("--territory", &t)).transpose()?;
            let (config, ids) = identities(&store).await?;
            let access = ids.account_access(&config.workspace, &user).await?;
            let expires_at = expires_days.map(|d| crate::now_ms() + i64::from(d.max(1)) * 86_400_000);
            let (token, record) = ids.create_token(&access, NewToken { name, role, expires_at, territory }).await?;
            eprintln!(
                "token #{} '{}' ({}) for workspace '{}', shown once:",
                record.id, record.name, record.role, record.workspace
            );
            println!("{token}");
        }
        TokenCommand::List { store } => {
            let (config, ids) = identities(&store).await?;
            for t in ids.store().tokens(&config.workspace).await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else if t.expires_at.is_some_and(|e| e <= crate::now_ms()) {
                    "expired"
                } else {
                    "live"
                };
                println!("#{:<5} {:<24} {:<16} {:<8} {}… by {}", t.id, t.name, t.role, state, t.prefix, t.account_name);
            }
        }
        TokenCommand::Revoke { id, store } => {
            let (config, ids) = identities(&store).await?;
            ids.revoke_token_by(&config.workspace, &cli_actor(), None, id).await?;
            println!("token #{id} revoked");
        }
    }
    Ok(())
}

/// The data directory of an embedded store (a PostgreSQL one has its own tools).
fn embedded_data_dir(config: &Config, what: &str) -> anyhow::Result<PathBuf> {
    if config.database_url.is_some() {
        anyhow::bail!(
            "the store is PostgreSQL (DATABASE_URL): {what} it with pg_dump and pg_restore (README, \"Backups\")"
        );
    }
    Ok(config.data_dir.clone())
}

async fn export(args: ExportArgs) -> anyhow::Result<()> {
    use crate::export::{Pack, PackRequest};
    let out = &args.out;
    anyhow::ensure!(!out.exists(), "{} exists already: give another name, or remove it first", out.display());
    let file_name = out
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| n.ends_with(".pmtiles"))
        .with_context(|| format!("{}: the pack's name must end in .pmtiles", out.display()))?
        .to_owned();
    let mut config = Config::load(&args.store)?;
    // Read what the store holds: no demo written, no source run.
    config.demo = false;
    config.sources = None;
    config.workspace_sources_run = false;
    let state = crate::build_state(config).await?;
    let request = PackRequest {
        layers: args.layers.clone(),
        bbox: args.bbox.clone(),
        area: args.area.clone(),
        minzoom: args.minzoom,
        maxzoom: args.maxzoom,
        filters: args.filters.clone(),
        basemap: !args.no_basemap,
    };
    let who = format!("command line ({})", std::env::var("USER").unwrap_or_else(|_| "operator".into()));
    let max_tiles = args.max_tiles.unwrap_or(state.config.export_max_tiles);
    let pack = Pack::plan(&state, &request, None, &who, max_tiles).await?;
    if let Some(reason) = pack.metadata()["vigie"]["basemap"]["left_out"].as_str() {
        eprintln!("note: the basemap is left out of the pack: {reason}");
    }
    let total = pack.tiles() as u64;
    let done = Arc::new(AtomicU64::new(0));
    let progress = Progress::start(done.clone(), "tiles", Some(total));
    progress.message("exporting");
    let started = Instant::now();
    let written = pack.write(&state, out, &done, &std::sync::atomic::AtomicBool::new(false)).await;
    progress.finish();
    let written = written?;
    let style_path = out.with_file_name(format!("{}.style.json", file_name.trim_end_matches(".pmtiles")));
    std::fs::write(&style_path, serde_json::to_vec_pretty(&pack.style(&state, &file_name))?)
        .with_context(|| format!("cannot write {}", style_path.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}: {} tiles ({} with features), {} bytes, in {seconds:.1} s ({:.0} tiles/s); style in {}",
        out.display(),
        written.tiles,
        written.stored,
        written.bytes,
        written.tiles as f64 / seconds.max(1e-9),
        style_path.display()
    );
    if let Some(b) = &written.basemap {
        println!(
            "{}: the raster basemap, {} tiles, {} bytes",
            crate::export::basemap_path(out).display(),
            b.stored,
            b.bytes
        );
    }
    Ok(())
}

async fn build_basemap(args: BasemapArgs) -> anyhow::Result<()> {
    let out = &if let Some(out) = &args.out {
        out.clone()
    } else {
        let dir = Config::load(&args.store)?.archives.dir;
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        dir.join(crate::basemap::DEMO_ARCHIVE)
    };
    anyhow::ensure!(!out.exists(), "{} exists already: give another name, or remove it first", out.display());
    anyhow::ensure!(
        out.extension().is_some_and(|e| e == "pmtiles"),
        "{}: the basemap's name must end in .pmtiles",
        out.display()
    );
    anyhow::ensure!(args.maxzoom <= 14, "--maxzoom {}: at most 14 (clients overzoom beyond it)", args.maxzoom);
    let options = crate::basemap::Options {
        maxzoom: args.maxzoom,
        attribution: args.attribution.clone().unwrap_or_else(|| crate::basemap::DEFAULT_ATTRIBUTION.to_owned()),
    };
    let done = Arc::new(AtomicU64::new(0));
    // The folder is checked before any progress is shown.
    let found = crate::basemap::Boundaries::find(&args.from)?;
    let total = crate::export::covering(crate::basemap::FRANCE, 0, args.maxzoom)?.len() as u64;
    let progress = Progress::start(done.clone(), "tiles", Some(total));
    progress.message("building the basemap");
    let started = Instant::now();
    let built = crate::basemap::build(&found, out, &options, &done).await;
    progress.finish();
    let built = built?;
    let layers: Vec<String> = built.layers.iter().map(|(l, n)| format!("{l} ({n})")).collect();
    println!(
        "{}: {} tiles ({} with features), {} bytes, in {:.1} s; layers {}",
        out.display(),
        built.written.tiles,
        built.written.stored,
        built.written.bytes,
        started.elapsed().as_secs_f64(),
        layers.join(", ")
    );
    if args.out.is_some() {
        println!(
            "put it in the archives folder, then add a layer (kind = \"pmtiles\", archive = \"{}\") and name it as \
             the catalog's basemap (docs/basemaps.md)",
            out.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
        );
    } else {
        println!(
            "the bundled catalog's basemap layer 'fond' reads it: a running server serves it within 10 s, and the web \
             view draws it once reloaded"
        );
    }
    Ok(())
}

fn backup(dest: &std::path::Path, args: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(args)?;
    let data_dir = embedded_data_dir(&config, "back up")?;
    let t = Instant::now();
    let m = crate::backup::backup(&data_dir, dest)?;
    let bytes: u64 = m.files.iter().map(|f| f.bytes).sum();
    println!(
        "backed up {} into {}: {} entries, {} files, {} bytes, {:.1} s (snapshot taken at {})",
        data_dir.display(),
        dest.display(),
        m.entries,
        m.files.len(),
        bytes,
        t.elapsed().as_secs_f64(),
        m.started_at
    );
    Ok(())
}

fn restore(from: &std::path::Path, args: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(args)?;
    let data_dir = embedded_data_dir(&config, "restore")?;
    let m = crate::backup::restore(from, &data_dir)?;
    println!(
        "restored {} into {}: {} entries, {} files, the backup of {} (vigie {})",
        from.display(),
        data_dir.display(),
        m.entries,
        m.files.len(),
        m.started_at,
        m.vigie
    );
    Ok(())
}

async fn audit_verify(args: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(args)?;
    let store = crate::open_store(&config).await?.identity();
    let v = crate::identity::audit::verify_store(store.as_ref()).await?;
    match &v.broken {
        None => {
            println!("audit trail intact: {} rows, head {} {}", v.rows, v.head_seq, v.head_hash);
            Ok(())
        }
        Some(b) => {
            anyhow::bail!("audit trail broken at row {}: {} ({} rows checked)", b.seq, b.reason, v.rows)
        }
    }
}

/// A progress line on stderr (only when it is a terminal): records read, rate, elapsed.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// A spinner counting `unit`s (records, tiles), or a bar when their `total` is known; on a
    /// terminal only.
    fn start(counter: Arc<AtomicU64>, unit: &'static str, total: Option<u64>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { bar: None, ticker: None };
        }
        let (bar, template) = match total {
            Some(n) => (
                indicatif::ProgressBar::new(n),
                format!("{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit}, {{rate}}, {{elapsed}} (eta {{eta}})"),
            ),
            None => (
                indicatif::ProgressBar::new_spinner(),
                format!("{{spinner}} {{msg}}: {{human_pos}} {unit}, {{rate}}, {{elapsed}}"),
            ),
        };
        let style = indicatif::ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
            .with_key("rate", move |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} {unit}/s", s.per_sec());
            });
        bar.set_style(style);
        bar.set_message("reading");
        let b = bar.clone();
        let ticker = tokio::spawn(async move {
            loop {
                b.set_position(counter.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { bar: Some(bar), ticker: Some(ticker) }
    }

    fn message(&self, m: &'static str) {
        if let Some(b) = &self.bar {
            b.set_message(m);
        }
    }

    fn finish(self) {
        if let Some(t) = self.ticker {
            t.abort();
        }
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

fn write_report(path: &std::path::Path, layer: &str, file: &std::path::Path, report: &Report) -> anyhow::Result<()> {
    let body = serde_json::json!({
        "layer": layer,
        "file": file.display().to_string(),
        "read": report.read,
        "kept": report.kept,
        "problem_count": report.problem_count,
        "problems": report.problems,
    });
    std::fs::write(path, serde_json::to_string_pretty(&body)?)
        .with_context(|| format!("cannot write the report {}", path.display()))
}

/// The title of a layer created by an import: the file's name without its extensions
/// (`communes-2024.shp.zip` → `communes-2024`).
fn title_of(file: &std::path::Path) -> String {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut title = name.as_str();
    while let Some((stem, ext)) = title.rsplit_once('.') {
        if stem.is_empty() || ext.is_empty() || ext.len() > 8 || !ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
            break;
        }
        title = stem;
    }
    if title.is_empty() { name } else { title.to_owned() }
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.store)?;
    let store = crate::open_store(&config).await?;
    let (catalog, _) = crate::workspace_catalog(&config, store.as_ref()).await?;
    // A layer that does not exist is created as a dataset layer once the file is in: checked
    // now (its id), stored after the import.
    let title = title_of(&args.file);
    let origin = format!("of workspace '{}'", config.workspace);
    let created = match catalog.layer(&args.layer) {
        Some(_) => None,
        None => Some(catalog.with_dataset_layer(&args.layer, &title, &origin)?),
    };
    let catalog = created.clone().unwrap_or(catalog);
    let layer = catalog.layer(&args.layer).with_context(|| format!("no layer '{}' in the catalog", args.layer))?;
    let dataset = crate::ingest::import::dataset_of(layer)?.to_owned();
    let counter = Arc::new(AtomicU64::new(0));
    let options = ImportOptions {
        format: args.format,
        read: ReadOptions {
            crs: args.crs.clone(),
            csv: CsvOptions {
                lat: args.lat.clone(),
                lon: args.lon.clone(),
                geometry: args.geometry.clone(),
                ..CsvOptions::default()
            },
            layer: args.table.clone(),
        },
        mapping: vigie_layers::dataset::Mapping::default(),
        skip_invalid: args.skip_invalid,
        progress: Some(counter.clone()),
    };
    let started = Instant::now();
    let progress = Progress::start(counter, "records", None);
    let file = args.file.clone();
    let read = tokio::task::spawn_blocking(move || {
        crate::ingest::import::read_with(&file, &dataset, &options).map(|b| b.finish(options.skip_invalid))
    })
    .await
    .context("the import task failed")?;
    let read_s = started.elapsed().as_secs_f64();
    let built = match read {
        Ok(b) => b,
        Err(e) => {
            progress.finish();
            return Err(ImportError::Read(e).into());
        }
    };
    let (dataset, report) = match built {
        Ok(d) => d,
        Err(report) => {
            progress.finish();
            if let Some(path) = &args.report {
                write_report(path, &layer.id, &args.file, &report)?;
                eprintln!("report written to {}", path.display());
            }
            return Err(ImportError::Rejected(report).into());
        }
    };
    progress.message("writing to the store");
    let info = store.replace_dataset(&dataset, &args.file.display().to_string()).await.map_err(ImportError::Store)?;
    progress.finish();
    if created.is_some() {
        let id = &args.layer;
        let version = store_catalog(&config, store.as_ref(), "catalog.layer.put", &format!("layer/{id}"), &|c| {
            // Created meanwhile by someone else: keep theirs.
            if c.layer(id).is_some() { Ok(c.clone()) } else { Ok(c.with_dataset_layer(id, &title, &origin)?) }
        })
        .await?;
        println!(
            "layer '{}' created in the catalog (dataset layer, theme \"reference\", title \"{title}\"; catalog version \
             {version}): rename or restyle it in the web view or through /api/catalog",
            args.layer
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}: {} feature(s) imported into layer '{}' (dataset '{}' version {}) in {seconds:.1} s \
         (read and check {read_s:.1} s, store {:.1} s; {:.0} features/s)",
        args.file.display(),
        info.feature_count,
        layer.id,
        info.id,
        info.version,
        seconds - read_s,
        info.feature_count as f64 / seconds.max(1e-9)
    );
    if report.problem_count > 0 {
        print!("skipped {report}");
        let path = args.report.clone().unwrap_or_else(|| PathBuf::from(format!("{}-import-report.json", layer.id)));
        write_report(&path, &layer.id, &args.file, &report)?;
        println!("report written to {}", path.display());
    }
    Ok(())
}

async fn sources_check(args: &SourcesCheckArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.store)?;
    // Against the workspace's stored catalog; with no embedded store yet, against the catalog
    // it will be seeded with (a check creates no store).
    let no_store = config.database_url.is_none() && !config.data_dir.join(crate::store::sqlite::DB_FILE).exists();
    let catalog = if no_store {
        crate::load_catalog(&config)?
    } else {
        crate::workspace_catalog(&config, crate::open_store(&config).await?.as_ref()).await?.0
    };
    let path = args
        .sources
        .clone()
        .or(config.sources)
        .context("no sources file: give --sources FILE, or `sources = \"…\"` in the configuration file")?;
    let mut claims = crate::ingest::sources::config::Claims::default();
    let checked = crate::ingest::sources::config::load(&path, &catalog, true, &mut claims)?;
    for p in &checked.file {
        println!("{}: {p}", path.display());
    }
    for s in &checked.sources {
        println!(
            "ok       {}: layer '{}' <- {} ({}, every {})",
            s.def.id,
            s.def.layer,
            s.shown(),
            s.format.map_or("format from the Content-Type", Format::name),
            if s.refresh_s == 0 { "start only".to_owned() } else { format!("{} s", s.refresh_s) }
        );
    }
    for i in &checked.invalid {
        println!("invalid  {}:", i.id);
        for p in &i.problems {
            println!("           - {p}");
        }
    }
    println!(
        "{} source(s): {} valid, {} invalid{}",
        checked.sources.len() + checked.invalid.len(),
        checked.sources.len(),
        checked.invalid.len(),
        if checked.file.is_empty() { String::new() } else { format!(", {} file problem(s)", checked.file.len()) }
    );
    anyhow::ensure!(!checked.has_problems(), "{} has problems (see above)", path.display());
    Ok(())
}

async fn sources_import(file: &std::path::Path, args: &ServeArgs) -> anyhow::Result<()> {
    let (config, _) = identities(args).await?;
    let primary = Config::load(&ServeArgs { workspace: None, ..args.clone() })?.workspace == config.workspace;
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let store = crate::open_store(&config).await?;
    let (catalog, _) = crate::workspace_catalog(&config, store.as_ref()).await?;
    let checked = crate::check_stored_sources(&config, &catalog, &text, primary)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    if checked.has_problems() {
        for (id, p) in checked.problems() {
            eprintln!("{}: {id}: {p}", file.display());
        }
        anyhow::bail!("{} has problems (see above): nothing was stored", file.display());
    }
    let digest = |t: &str| crate::identity::audit::digest(&serde_json::Value::String(t.to_owned()));
    let version = store_document(
        &config,
        store.as_ref(),
        crate::store::SOURCES_DOCUMENT,
        "sources.replace",
        "sources",
        &|stored| Ok((text.clone(), stored.map(|d| digest(&d.document)), digest(&text))),
    )
    .await?;
    println!(
        "sources of workspace '{}' replaced by {}: version {version} ({} sources); a running server runs them within \
         seconds (files under {})",
        config.workspace,
        file.display(),
        checked.sources.len(),
        config.workspace_sources_dir.join(&config.workspace).display()
    );
    Ok(())
}
