//! Sources as configuration: a TOML file lists where each dataset comes from (a local file or
//! folder, or an http(s) URL), in which format and CRS, how its fields map to vigie's
//! attributes, and how often to refresh it. `vigie sources check` validates every entry; the
//! server refreshes them in the background (bounded concurrency, so start-up and the tile
//! path never wait), swapping each new version in atomically, and reports the last run of
//! each at `GET /api/sources`. See `docs/sources.md`.
//!
//! Change detection: a local file by its modification time and size, a URL by conditional GET
//! (`If-None-Match` / `If-Modified-Since`) and, when the server ignores them, by the SHA-256 of
//! the body. What was last imported is kept in `<data_dir>/sources-state.json`, so a restart
//! does not import unchanged sources again.

use crate::import::{self, ImportError, ImportOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vigie_layers::catalog::LayerKind;
use vigie_layers::dataset::{Mapping, Problem};
use vigie_layers::readers::{Crs, CsvOptions, Format, ReadOptions};
use vigie_layers::{Catalog, LayerDef};

/// Default refresh interval, seconds.
pub const DEFAULT_REFRESH_S: u64 = 3600;
/// Default HTTP timeout (whole request, body included), seconds.
pub const DEFAULT_TIMEOUT_S: u64 = 60;
/// Default largest body downloaded, bytes (512 MiB).
pub const DEFAULT_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// Default number of refreshes running at once.
pub const DEFAULT_CONCURRENCY: usize = 2;
/// Problems kept per run in `GET /api/sources` (the import report has up to 100).
pub const LISTED_PROBLEMS: usize = 10;

/// `[defaults]`: values for entries that do not set them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Refresh interval, seconds (0: only once, at start).
    pub refresh_s: Option<u64>,
    /// HTTP timeout, seconds.
    pub timeout_s: Option<u64>,
    /// Largest download, bytes.
    pub max_bytes: Option<u64>,
    /// Refreshes running at once.
    pub concurrency: Option<usize>,
}

/// One `[[source]]` entry, as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDef {
    /// Identifier (a-z, 0-9, '-', '_'), unique in the file.
    pub id: String,
    /// What it is.
    pub title: String,
    /// Who publishes it.
    pub owner: String,
    /// Its licence.
    pub licence: String,
    /// The catalog layer (of kind `dataset`) it feeds.
    pub layer: String,
    /// `geojson`, `csv`, `flatgeobuf`, `gpkg`, `shapefile`, `kml`, `kmz`; default: from the file
    /// extension (or, for a URL, the Content-Type).
    #[serde(default)]
    pub format: Option<String>,
    /// A local file or folder (relative to the sources file).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// An http(s) URL.
    #[serde(default)]
    pub url: Option<String>,
    /// The source's CRS when the file does not say (or says wrong): `EPSG:2154`…
    #[serde(default)]
    pub crs: Option<String>,
    /// Refresh interval, seconds (0: only at start).
    #[serde(default)]
    pub refresh_s: Option<u64>,
    /// HTTP timeout, seconds.
    #[serde(default)]
    pub timeout_s: Option<u64>,
    /// Largest download, bytes.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Import the valid records and report the others (default: reject the whole file).
    #[serde(default)]
    pub skip_invalid: bool,
    /// GeoPackage feature table, when the file holds several.
    #[serde(default)]
    pub table: Option<String>,
    /// Field mapping (id, title, time, tags, severity, value maps).
    #[serde(default)]
    pub mapping: Mapping,
    /// CSV geometry columns and delimiter.
    #[serde(default)]
    pub csv: CsvOptions,
}

/// A source checked and resolved against the catalog.
#[derive(Debug, Clone)]
pub struct Source {
    /// The entry.
    pub def: SourceDef,
    /// Its layer.
    pub layer: LayerDef,
    /// Where it is.
    pub location: Location,
    /// Its format, when known before fetching.
    pub format: Option<Format>,
    /// Its CRS, when given.
    pub crs: Option<Crs>,
    /// Refresh interval (0: once).
    pub refresh_s: u64,
    /// HTTP timeout.
    pub timeout_s: u64,
    /// Largest download.
    pub max_bytes: u64,
}

/// Where a source is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local file or folder (absolute, or relative to the working directory).
    Path(PathBuf),
    /// An http(s) URL.
    Url(String),
}

impl Location {
    /// For logs and `/api/sources`: the path, or the URL without credentials.
    pub fn shown(&self) -> String {
        match self {
            Self::Path(p) => p.display().to_string(),
            Self::Url(u) => redact(u),
        }
    }
}

/// A URL with any `user:password@` replaced by `***@`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(a)) if a > s && !url[s + 3..a].contains('/') => {
            format!("{}***@{}", &url[..s + 3], &url[a + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The result of checking a sources file: the usable sources, and what is wrong with each of
/// the others (and with the file).
#[derive(Debug, Default)]
pub struct Checked {
    /// Entries that can run.
    pub sources: Vec<Source>,
    /// `(entry id or "#N", problems)` for each entry that cannot run.
    pub invalid: Vec<(String, Vec<String>)>,
    /// Problems of the file itself (unknown top-level keys, `[defaults]`).
    pub file: Vec<String>,
    /// Refreshes at once.
    pub concurrency: usize,
}

impl Checked {
    /// Whether anything is wrong.
    pub fn has_problems(&self) -> bool {
        !self.invalid.is_empty() || !self.file.is_empty()
    }
}

/// Reads and checks a sources file against a catalog. Relative paths are resolved against the
/// file's folder. `check_files` also checks that local files exist (what `vigie sources check`
/// does; the server treats a missing file as a failed run, retried at the next refresh).
///
/// # Errors
/// When the file cannot be read or is not TOML (the message names the file and the line).
pub fn load(path: &Path, catalog: &Catalog, check_files: bool) -> anyhow::Result<Checked> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read sources file {}", path.display()))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    check(&text, &base, catalog, check_files).with_context(|| format!("sources file {}", path.display()))
}

/// Checks the text of a sources file; see [`load`].
///
/// # Errors
/// When the text is not TOML.
pub fn check(text: &str, base: &Path, catalog: &Catalog, check_files: bool) -> anyhow::Result<Checked> {
    let table: toml::Table = toml::from_str(text)?;
    let mut out = Checked::default();
    let mut defaults = Defaults::default();
    for (key, value) in &table {
        match key.as_str() {
            "defaults" => match value.clone().try_into::<Defaults>() {
                Ok(d) => defaults = d,
                Err(e) => out.file.push(format!("[defaults]: {}", one_line(&e.to_string()))),
            },
            "source" => {}
            other => out.file.push(format!("unknown top-level key '{other}' (expected [defaults] and [[source]])")),
        }
    }
    out.concurrency = defaults.concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1);
    let entries = match table.get("source") {
        None => Vec::new(),
        Some(toml::Value::Array(a)) => a.clone(),
        Some(_) => {
            out.file.push("'source' must be an array of tables: write each entry as [[source]]".into());
            Vec::new()
        }
    };
    let mut ids = HashSet::new();
    let mut datasets: HashMap<String, String> = HashMap::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let label = entry.get("id").and_then(toml::Value::as_str).map_or_else(|| format!("#{}", i + 1), str::to_owned);
        let def: SourceDef = match entry.try_into() {
            Ok(d) => d,
            Err(e) => {
                out.invalid.push((label, vec![one_line(&e.to_string())]));
                continue;
            }
        };
        match check_entry(&def, &defaults, base, catalog, check_files) {
            Ok(source) => {
                let mut problems = Vec::new();
                if !ids.insert(def.id.clone()) {
                    problems.push(format!("id '{}' is used by an earlier entry", def.id));
                }
                let dataset = source.layer.dataset.clone().unwrap_or_default();
                if let Some(other) = datasets.insert(dataset.clone(), def.id.clone()) {
                    problems.push(format!(
                        "dataset '{dataset}' (layer '{}') is already fed by source '{other}': one source per dataset, each refresh replaces it",
                        def.layer
                    ));
                }
                if problems.is_empty() {
                    out.sources.push(source);
                } else {
                    out.invalid.push((label, problems));
                }
            }
            Err(problems) => {
                ids.insert(def.id.clone());
                out.invalid.push((label, problems));
            }
        }
    }
    Ok(out)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks one entry; returns every problem found.
fn check_entry(
    def: &SourceDef,
    defaults: &Defaults,
    base: &Path,
    catalog: &Catalog,
    check_files: bool,
) -> Result<Source, Vec<String>> {
    let mut problems = Vec::new();
    if def.id.is_empty()
        || def.id.len() > 64
        || !def.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        problems.push(format!("id '{}' must be 1 to 64 characters among a-z, 0-9, '-' and '_'", def.id));
    }
    for (name, value) in [("title", &def.title), ("owner", &def.owner), ("licence", &def.licence)] {
        if value.trim().is_empty() {
            problems.push(format!("{name} is empty"));
        }
    }
    let layer = match catalog.layer(&def.layer) {
        None => {
            problems.push(format!("layer '{}' is not in the catalog", def.layer));
            None
        }
        Some(l) if l.kind != LayerKind::Dataset || l.dataset.is_none() => {
            problems.push(format!("layer '{}' is not a dataset layer (kind = \"dataset\")", def.layer));
            None
        }
        Some(l) => Some(l.clone()),
    };
    let location = match (&def.path, &def.url) {
        (Some(_), Some(_)) => {
            problems.push("give either path or url, not both".into());
            None
        }
        (None, None) => {
            problems.push("give the path of a local file or folder, or an http(s) url".into());
            None
        }
        (Some(p), None) => {
            let full = if p.is_absolute() { p.clone() } else { base.join(p) };
            if check_files && !full.exists() {
                problems.push(format!("file {} does not exist", full.display()));
            }
            Some(Location::Path(full))
        }
        (None, Some(u)) => match check_url(u) {
            Ok(()) => Some(Location::Url(u.clone())),
            Err(e) => {
                problems.push(e);
                None
            }
        },
    };
    let format = match &def.format {
        Some(f) => Format::from_name(f).or_else(|| {
            let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
            problems.push(format!("unsupported format '{f}': expected one of {}", names.join(", ")));
            None
        }),
        None => match &location {
            Some(Location::Path(p)) if p.is_dir() => None,
            Some(Location::Path(p)) => Format::from_path(p).or_else(|| {
                problems
                    .push(format!("cannot tell the format of {} from its extension: give format = \"…\"", p.display()));
                None
            }),
            // A URL may say its format by Content-Type.
            Some(Location::Url(u)) => url_format(u),
            None => None,
        },
    };
    let crs = def.crs.as_deref().and_then(|c| Crs::parse(c).map_err(|e| problems.push(format!("crs: {e}"))).ok());
    let timeout_s = def.timeout_s.or(defaults.timeout_s).unwrap_or(DEFAULT_TIMEOUT_S);
    if !(1..=3600).contains(&timeout_s) {
        problems.push(format!("timeout_s = {timeout_s}: expected 1 to 3600"));
    }
    let max_bytes = def.max_bytes.or(defaults.max_bytes).unwrap_or(DEFAULT_MAX_BYTES);
    if max_bytes == 0 {
        problems.push("max_bytes must be positive".into());
    }
    match (problems.is_empty(), layer, location) {
        (true, Some(layer), Some(location)) => Ok(Source {
            def: def.clone(),
            layer,
            location,
            format,
            crs,
            refresh_s: def.refresh_s.or(defaults.refresh_s).unwrap_or(DEFAULT_REFRESH_S),
            timeout_s,
            max_bytes,
        }),
        _ => Err(problems),
    }
}

fn check_url(u: &str) -> Result<(), String> {
    let uri: ureq::http::Uri = u.parse().map_err(|e| format!("url '{}' is not a URL: {e}", redact(u)))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("url '{}' must start with http:// or https://", redact(u))),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("url '{}' has no host", redact(u)));
    }
    Ok(())
}

/// The format a URL's path ends with, if any.
fn url_format(u: &str) -> Option<Format> {
    let path = u.split(['?', '#']).next().unwrap_or(u);
    Format::from_path(Path::new(path.rsplit('/').next().unwrap_or("")))
}

// ---------------------------------------------------------------------------------------------
// Runs

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A new dataset version was stored and swapped in.
    Imported,
    /// The source has not changed since the last import: nothing was done.
    Unchanged,
    /// The file has invalid records: nothing was imported.
    Rejected,
    /// The source could not be fetched or read.
    Failed,
}

/// The last run of a source.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Start, RFC 3339.
    pub started_at: String,
    /// How long it took, milliseconds.
    pub duration_ms: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Records read.
    pub read: usize,
    /// Records kept.
    pub kept: usize,
    /// Problems found (all of them; the list below has the first few).
    pub problem_count: usize,
    /// The first problems, with file, line or feature, field and reason.
    pub problems: Vec<Problem>,
    /// Why the run failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Dataset version stored (imported runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Bytes downloaded (URL sources).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// What `GET /api/sources` shows of a source.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Entry id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Publisher.
    pub owner: String,
    /// Licence.
    pub licence: String,
    /// Target layer.
    pub layer: String,
    /// Path, or URL without credentials.
    pub location: String,
    /// Format name, when known.
    pub format: Option<String>,
    /// Refresh interval, seconds (0: once).
    pub refresh_s: u64,
    /// `pending` (not run yet), `running`, `idle`, or `invalid` (the entry cannot run).
    pub state: &'static str,
    /// Problems of an invalid entry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<String>,
    /// Runs since start.
    pub runs: u64,
    /// Imports since start.
    pub imports: u64,
    /// The last run.
    pub last_run: Option<Run>,
}

/// What was last imported from a source (persisted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Modification time of the local file (ms) and its size.
    #[serde(default)]
    pub modified_ms: Option<i64>,
    /// Size in bytes.
    #[serde(default)]
    pub len: Option<u64>,
    /// HTTP `ETag`.
    #[serde(default)]
    pub etag: Option<String>,
    /// HTTP `Last-Modified`.
    #[serde(default)]
    pub last_modified: Option<String>,
    /// SHA-256 of the last body.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Dataset version it made.
    #[serde(default)]
    pub version: u64,
}

/// The background refresher of a server's sources.
///
/// Its two mutexes are leaves: each is held to read or update its map and nothing else (no
/// download, import, file write or `await` under them), and never both at once.
#[derive(Debug)]
pub struct Scheduler {
    sources: Vec<Source>,
    statuses: Mutex<Vec<Status>>,
    seen: Mutex<BTreeMap<String, Seen>>,
    state_file: PathBuf,
    concurrency: usize,
}

impl Scheduler {
    /// Every source's status, in file order (invalid entries last).
    pub fn statuses(&self) -> Vec<Status> {
        self.statuses.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Refreshes running at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn update(&self, i: usize, f: impl FnOnce(&mut Status)) {
        if let Some(s) = self.statuses.lock().unwrap_or_else(PoisonError::into_inner).get_mut(i) {
            f(s);
        }
    }

    fn seen(&self, id: &str) -> Seen {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).get(id).cloned().unwrap_or_default()
    }

    fn remember(&self, id: &str, seen: Seen) {
        let text = {
            let mut all = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            all.insert(id.to_owned(), seen);
            serde_json::to_string_pretty(&*all).unwrap_or_default()
        };
        // Written to a temporary file then renamed: a crash leaves the old state or the new.
        let tmp = self.state_file.with_extension("json.tmp");
        let written = std::fs::create_dir_all(self.state_file.parent().unwrap_or(Path::new(".")))
            .and_then(|()| std::fs::File::create(&tmp))
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, &self.state_file));
        if let Err(e) = written {
            tracing::warn!(file = %self.state_file.display(), error = %e, "cannot save the sources state");
        }
    }
}

/// Reads the sources file, then starts refreshing its valid entries in the background (each
/// source on its own timer, at most `concurrency` at once). Returns at once: start-up does
/// not wait for any source. Invalid entries are logged and listed with their problems.
///
/// # Errors
/// When the sources file cannot be read or is not TOML.
pub fn spawn(ingest: &Arc<import::Ingest>, path: &Path, data_dir: &Path) -> anyhow::Result<Arc<Scheduler>> {
    let checked = load(path, ingest.engine.catalog(), false)?;
    for p in &checked.file {
        tracing::warn!(file = %path.display(), problem = %p, "sources file");
    }
    for (id, problems) in &checked.invalid {
        tracing::warn!(source = %id, problems = %problems.join("; "), "source left out");
    }
    let state_file = data_dir.join("sources-state.json");
    let seen: BTreeMap<String, Seen> =
        std::fs::read_to_string(&state_file).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let mut statuses: Vec<Status> = checked.sources.iter().map(status_of).collect();
    statuses.extend(checked.invalid.iter().map(|(id, problems)| Status {
        id: id.clone(),
        title: String::new(),
        owner: String::new(),
        licence: String::new(),
        layer: String::new(),
        location: String::new(),
        format: None,
        refresh_s: 0,
        state: "invalid",
        invalid: problems.clone(),
        runs: 0,
        imports: 0,
        last_run: None,
    }));
    let scheduler = Arc::new(Scheduler {
        sources: checked.sources,
        statuses: Mutex::new(statuses),
        seen: Mutex::new(seen),
        state_file,
        concurrency: checked.concurrency,
    });
    let permits = Arc::new(tokio::sync::Semaphore::new(scheduler.concurrency));
    tracing::info!(sources = scheduler.sources.len(), concurrency = scheduler.concurrency, "sources scheduled");
    for i in 0..scheduler.sources.len() {
        let (scheduler, ingest, permits) = (scheduler.clone(), ingest.clone(), permits.clone());
        tokio::spawn(async move {
            // The dataset watcher first records what start-up loaded; an import applied before
            // that would be mistaken for it.
            ingest.baseline(Duration::from_secs(10)).await;
            loop {
                let Ok(permit) = permits.acquire().await else { return };
                run_source(&scheduler, i, &ingest).await;
                drop(permit);
                let every = scheduler.sources[i].refresh_s;
                if every == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(every)).await;
            }
        });
    }
    let _ = ingest.sources.set(scheduler.clone());
    Ok(scheduler)
}

fn status_of(s: &Source) -> Status {
    Status {
        id: s.def.id.clone(),
        title: s.def.title.clone(),
        owner: s.def.owner.clone(),
        licence: s.def.licence.clone(),
        layer: s.def.layer.clone(),
        location: s.location.shown(),
        format: s.format.map(|f| f.name().to_owned()),
        refresh_s: s.refresh_s,
        state: "pending",
        invalid: Vec::new(),
        runs: 0,
        imports: 0,
        last_run: None,
    }
}

/// What a fetch found.
enum Fetched {
    /// Nothing new.
    Unchanged,
    /// A file to import (kept alive by the guard), its format, and what to remember.
    File { path: PathBuf, _guard: Option<tempfile::TempPath>, format: Option<Format>, seen: Seen, bytes: Option<u64> },
}

async fn run_source(scheduler: &Scheduler, i: usize, ingest: &import::Ingest) {
    let store = ingest.store.as_ref();
    let source = &scheduler.sources[i];
    let started = std::time::Instant::now();
    let started_at = vigie_layers::feature::format_time_ms(crate::now_ms());
    scheduler.update(i, |s| s.state = "running");
    let seen = scheduler.seen(&source.def.id);
    let dataset = source.layer.dataset.clone().unwrap_or_default();
    // What the store holds: a source is unchanged only if the store still has the version it made.
    let stored_version =
        store.datasets().await.ok().and_then(|d| d.into_iter().find(|i| i.id == dataset)).map(|i| i.version);
    let current = stored_version.is_some_and(|v| v == seen.version && v > 0);
    let fetched = {
        let (source, seen) = (source.clone(), seen.clone());
        tokio::task::spawn_blocking(move || fetch(&source, &seen, current))
            .await
            .unwrap_or_else(|e| Err(format!("fetch task failed: {e}")))
    };
    let mut run = Run {
        started_at,
        duration_ms: 0,
        outcome: Outcome::Failed,
        read: 0,
        kept: 0,
        problem_count: 0,
        problems: Vec::new(),
        error: None,
        version: None,
        bytes: None,
    };
    match fetched {
        Err(e) => run.error = Some(e),
        Ok(Fetched::Unchanged) => run.outcome = Outcome::Unchanged,
        Ok(Fetched::File { path, _guard, format, mut seen, bytes }) => {
            run.bytes = bytes;
            let options = ImportOptions {
                format: source.format.or(format),
                read: ReadOptions {
                    crs: source.crs.clone(),
                    csv: source.def.csv.clone(),
                    layer: source.def.table.clone(),
                },
                mapping: source.def.mapping.clone(),
                skip_invalid: source.def.skip_invalid,
                progress: None,
            };
            let label = format!("source {} ({})", source.def.id, source.location.shown());
            match import::import(store, &source.layer, &path, &label, &options).await {
                Ok((info, report)) => {
                    run.outcome = Outcome::Imported;
                    run.version = Some(info.version);
                    (run.read, run.kept, run.problem_count) = (report.read, report.kept, report.problem_count);
                    run.problems = report.problems.into_iter().take(LISTED_PROBLEMS).collect();
                    seen.version = info.version;
                    scheduler.remember(&source.def.id, seen);
                    if let Err(e) = import::apply_dataset(ingest, &info).await {
                        tracing::warn!(source = %source.def.id, error = %e, "imported, but not swapped in yet (the watcher retries)");
                    }
                }
                Err(ImportError::Rejected(report)) => {
                    run.outcome = Outcome::Rejected;
                    (run.read, run.kept, run.problem_count) = (report.read, report.kept, report.problem_count);
                    run.problems = report.problems.into_iter().take(LISTED_PROBLEMS).collect();
                    run.error = Some(format!("{} invalid record(s): nothing was imported", run.problem_count));
                }
                Err(e) => run.error = Some(e.to_string()),
            }
        }
    }
    run.duration_ms = started.elapsed().as_millis() as u64;
    match run.outcome {
        Outcome::Imported | Outcome::Unchanged => {
            tracing::info!(source = %source.def.id, outcome = ?run.outcome, ms = run.duration_ms, "source refreshed");
        }
        Outcome::Rejected | Outcome::Failed => tracing::warn!(
            source = %source.def.id,
            outcome = ?run.outcome,
            error = run.error.as_deref().unwrap_or(""),
            "source not refreshed"
        ),
    }
    let imported = run.outcome == Outcome::Imported;
    scheduler.update(i, |s| {
        s.state = "idle";
        s.runs += 1;
        s.imports += u64::from(imported);
        s.last_run = Some(run);
    });
}

fn modified(path: &Path) -> std::io::Result<(i64, u64)> {
    let meta = std::fs::metadata(path)?;
    let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    if meta.is_dir() {
        // A folder changes when any file in it does.
        let mut latest = (0i64, 0u64);
        for e in std::fs::read_dir(path)?.filter_map(Result::ok) {
            if let Ok(m) = e.metadata()
                && m.is_file()
            {
                latest.0 = latest.0.max(m.modified().map_or(0, ms));
                latest.1 += m.len();
            }
        }
        return Ok(latest);
    }
    Ok((meta.modified().map_or(0, ms), meta.len()))
}

/// Fetches a source when it changed (blocking: file system and HTTP).
fn fetch(source: &Source, seen: &Seen, current: bool) -> Result<Fetched, String> {
    match &source.location {
        Location::Path(p) => {
            let (modified_ms, len) = modified(p).map_err(|e| format!("{}: {e}", p.display()))?;
            if current && seen.modified_ms == Some(modified_ms) && seen.len == Some(len) {
                return Ok(Fetched::Unchanged);
            }
            let seen = Seen { modified_ms: Some(modified_ms), len: Some(len), ..Seen::default() };
            Ok(Fetched::File { path: p.clone(), _guard: None, format: None, seen, bytes: None })
        }
        Location::Url(url) => download(url, source, seen, current),
    }
}

fn download(url: &str, source: &Source, seen: &Seen, current: bool) -> Result<Fetched, String> {
    let shown = redact(url);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(source.timeout_s)))
        .http_status_as_error(false)
        .user_agent(concat!("vigie/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut request = agent.get(url);
    if current {
        if let Some(etag) = &seen.etag {
            request = request.header("If-None-Match", etag);
        }
        if let Some(lm) = &seen.last_modified {
            request = request.header("If-Modified-Since", lm);
        }
    }
    let response = request.call().map_err(|e| format!("{shown}: {e}"))?;
    let status = response.status().as_u16();
    if status == 304 {
        return Ok(Fetched::Unchanged);
    }
    if status != 200 {
        return Err(format!("{shown}: HTTP {status}"));
    }
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (etag, last_modified) = (header("etag"), header("last-modified"));
    let content_type = header("content-type");
    if let Some(n) = header("content-length").and_then(|l| l.parse::<u64>().ok())
        && n > source.max_bytes
    {
        return Err(format!("{shown}: {n} bytes, more than max_bytes = {}", source.max_bytes));
    }
    let format =
        source.format.or_else(|| url_format(url)).or_else(|| content_type.as_deref().and_then(Format::from_media_type));
    let Some(format) = format else {
        return Err(format!(
            "{shown}: cannot tell the format (Content-Type {}): give format = \"…\"",
            content_type.as_deref().unwrap_or("none")
        ));
    };
    let mut file = tempfile::Builder::new()
        .prefix("vigie-source-")
        .suffix(&format!(".{}", format.extension()))
        .tempfile()
        .map_err(|e| format!("temporary file: {e}"))?;
    let mut body = response.into_body();
    let mut reader = body.with_config().limit(source.max_bytes).reader();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.to_string().contains("limit") || e.to_string().contains("exceeds") => {
                return Err(format!("{shown}: the body is larger than max_bytes = {}", source.max_bytes));
            }
            Err(e) => return Err(format!("{shown}: {e}")),
        };
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| format!("temporary file: {e}"))?;
        bytes += n as u64;
    }
    file.flush().map_err(|e| format!("temporary file: {e}"))?;
    let sha256 = format!("{:x}", hasher.finalize());
    if current && seen.sha256.as_deref() == Some(sha256.as_str()) {
        return Ok(Fetched::Unchanged);
    }
    let path = file.into_temp_path();
    let seen = Seen { etag, last_modified, sha256: Some(sha256), ..Seen::default() };
    Ok(Fetched::File { path: path.to_path_buf(), _guard: Some(path), format: Some(format), seen, bytes: Some(bytes) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::bundled()
    }

    #[test]
    fn every_entry_says_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dep.geojson"), "{}").unwrap();
        let text = r#"
            colour = "red"
            [defaults]
            refresh_s = 600
            [[source]]
            id = "ok"
            title = "Départements"
            owner = "IGN"
            licence = "Licence Ouverte 2.0"
            layer = "departements"
            path = "dep.geojson"
            [source.mapping]
            title = "nom"
            [[source]]
            id = "typo"
            title = "t"
            owner = "o"
            licence = "l"
            layer = "departements"
            path = "dep.geojson"
            refresh = 60
            [[source]]
            id = "Bad Id"
            title = "t"
            owner = "o"
            licence = "l"
            layer = "nowhere"
            url = "ftp://example.org/x.geojson"
            format = "xlsx"
            crs = "EPSG:99999"
            [[source]]
            id = "missing"
            title = "t"
            owner = "o"
            licence = "l"
            layer = "venues"
            path = "nope.csv"
            [[source]]
            id = "again"
            title = "t"
            owner = "o"
            licence = "l"
            layer = "departements"
            url = "https://user:secret@example.org/data"
        "#;
        let c = check(text, dir.path(), &catalog(), true).unwrap();
        assert_eq!(c.file, ["unknown top-level key 'colour' (expected [defaults] and [[source]])"]);
        assert_eq!(c.sources.len(), 1);
        assert_eq!(c.sources[0].refresh_s, 600);
        assert_eq!(c.sources[0].def.mapping.title.as_deref(), Some("nom"));
        let by_id: HashMap<&str, String> = c.invalid.iter().map(|(id, p)| (id.as_str(), p.join(" | "))).collect();
        assert!(by_id["typo"].contains("unknown field `refresh`"), "{by_id:?}");
        let bad = &by_id["Bad Id"];
        for needle in [
            "id 'Bad Id'",
            "layer 'nowhere' is not in the catalog",
            "ftp://",
            "unsupported format 'xlsx'",
            "EPSG:99999",
        ] {
            assert!(bad.contains(needle), "{needle}: {bad}");
        }
        assert!(by_id["missing"].contains("is not a dataset layer") && by_id["missing"].contains("does not exist"));
        assert!(by_id["again"].contains("already fed by source 'ok'"), "{by_id:?}");
        assert!(!by_id["again"].contains("secret"));
    }

    #[test]
    fn credentials_never_show() {
        assert_eq!(redact("https://u:p@host/x?y"), "https://***@host/x?y");
        assert_eq!(redact("https://host/a@b"), "https://host/a@b");
        assert_eq!(url_format("https://h/x/data.csv?token=1"), Some(Format::Csv));
        assert_eq!(url_format("https://h/api/records"), None);
    }
}
