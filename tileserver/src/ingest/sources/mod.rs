//! Sources as configuration: a TOML file lists where each dataset comes from (a local file or
//! folder, or an http(s) URL), in which format and CRS, how its fields map to vigie's
//! attributes, and how often to refresh it. `vigie sources check` validates every entry; the
//! server refreshes them in the background (bounded concurrency, so start-up and the tile
//! path never wait), swapping each new version in atomically, and reports the last run of
//! each at `GET /api/sources`. See `docs/sources.md`.
//!
//! [`config`]: the file's schema and validation. `fetch`: change detection and downloads.
//! [`state`]: what was last imported, persisted. This module: the [`Scheduler`] and its runs.
//! It sits at the top of ingestion: it imports [`crate::ingest`] (import, apply) and its own
//! submodules; within ingestion nothing imports it. Its users are start-up (`build_state`),
//! `vigie sources check` and the `GET /api/sources` handler.

pub mod config;
mod fetch;
pub mod state;

use crate::ingest::import::{self, ImportError, ImportOptions};
use crate::ingest::{Ingest, apply_dataset};
use config::{Source, SourcesFileError};
use fetch::{Fetched, fetch};
use serde::Serialize;
use state::SeenFile;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use vigie_layers::dataset::Problem;
use vigie_layers::readers::ReadOptions;

/// Problems kept per run in `GET /api/sources` (the import report has up to 100).
pub const LISTED_PROBLEMS: usize = 10;

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

/// Where a source is in its cycle, as `GET /api/sources` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceState {
    /// Not run yet.
    Pending,
    /// A run is under way.
    Running,
    /// Waiting for its next refresh.
    Idle,
    /// The entry cannot run (its problems are listed).
    Invalid,
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
    /// Where the source is in its cycle.
    pub state: SourceState,
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

/// The background refresher of a server's sources.
///
/// Its two mutexes (its statuses', and the one of its [`SeenFile`]) are leaves: each is held to
/// read or update its map and nothing else (no download, import, file write or `await` under
/// them), and never both at once.
#[derive(Debug)]
pub struct Scheduler {
    sources: Vec<Source>,
    statuses: Mutex<Vec<Status>>,
    state: SeenFile,
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
}

/// Reads the sources file, then starts refreshing its valid entries in the background (each
/// source on its own timer, at most `concurrency` at once). Returns at once: start-up does
/// not wait for any source. Invalid entries are logged and listed with their problems.
///
/// # Errors
/// [`SourcesFileError`] when the sources file cannot be read or is not TOML.
pub fn spawn(ingest: &Arc<Ingest>, path: &Path, data_dir: &Path) -> Result<Arc<Scheduler>, SourcesFileError> {
    let checked = config::load(path, ingest.engine.catalog(), false)?;
    for p in &checked.file {
        tracing::warn!(file = %path.display(), problem = %p, "sources file");
    }
    for (id, problems) in &checked.invalid {
        tracing::warn!(source = %id, problems = %problems.join("; "), "source left out");
    }
    let state = SeenFile::open(data_dir);
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
        state: SourceState::Invalid,
        invalid: problems.clone(),
        runs: 0,
        imports: 0,
        last_run: None,
    }));
    let scheduler = Arc::new(Scheduler {
        sources: checked.sources,
        statuses: Mutex::new(statuses),
        state,
        concurrency: checked.concurrency,
    });
    let permits = Arc::new(tokio::sync::Semaphore::new(scheduler.concurrency));
    tracing::info!(sources = scheduler.sources.len(), concurrency = scheduler.concurrency, "sources scheduled");
    for i in 0..scheduler.sources.len() {
        // Weak: the sources of a workspace's retired state (its catalog changed) stop.
        let (scheduler, ingest, permits) = (scheduler.clone(), Arc::downgrade(ingest), permits.clone());
        tokio::spawn(async move {
            loop {
                let Ok(permit) = permits.acquire().await else { return };
                let Some(ingest) = ingest.upgrade() else { return };
                run_source(&scheduler, i, &ingest).await;
                drop((permit, ingest));
                let every = scheduler.sources[i].refresh_s;
                if every == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(every)).await;
            }
        });
    }
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
        state: SourceState::Pending,
        invalid: Vec::new(),
        runs: 0,
        imports: 0,
        last_run: None,
    }
}

async fn run_source(scheduler: &Scheduler, i: usize, ingest: &Ingest) {
    let store = ingest.store.as_ref();
    let source = &scheduler.sources[i];
    let started = std::time::Instant::now();
    let started_at = vigie_layers::feature::format_time_ms(crate::now_ms());
    scheduler.update(i, |s| s.state = SourceState::Running);
    let seen = scheduler.state.seen(&source.def.id);
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
                    scheduler.state.remember(&source.def.id, seen);
                    if let Err(e) = apply_dataset(ingest, &info).await {
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
        s.state = SourceState::Idle;
        s.runs += 1;
        s.imports += u64::from(imported);
        s.last_run = Some(run);
    });
}
