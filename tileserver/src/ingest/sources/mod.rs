//! Sources as configuration: a TOML document lists where each dataset comes from (a local file
//! or folder, or an http(s) URL), in which format and CRS, how its fields map to vigie's
//! attributes, and how often to refresh it. A workspace's sources are those of its stored
//! document (edited by its admins, `PUT /api/sources/config`, bounded by a [`Reach`]) and, for
//! the workspace served at the root, those of the operator's sources file. `vigie sources
//! check` validates every entry; the server refreshes them in the background (bounded
//! concurrency, so start-up and the tile path never wait), swapping each new version in
//! atomically, and reports the last run of each at `GET /api/sources`. See `docs/sources.md`.
//!
//! [`config`]: the documents' schema and validation. `fetch`: change detection and downloads.
//! [`state`]: what was last imported, persisted. This module: the [`Scheduler`] and its runs.
//! It sits at the top of ingestion: it imports [`crate::ingest`] (import, apply) and its own
//! submodules; within ingestion nothing imports it. Its users are start-up (`build_workspace`),
//! `vigie sources …` and the `/api/sources` handlers.

pub mod config;
pub(crate) mod fetch;
pub mod state;

use crate::ingest::import::{self, ImportError, ImportOptions};
use crate::ingest::{Ingest, apply_dataset};
use config::{Checked, Claims, Origin, Reach, Source, SourcesFileError};
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
    /// A stored source this replica leaves to another (`workspace_sources.run = false`).
    Elsewhere,
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
    /// Where it is defined.
    pub origin: Origin,
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

/// The background refresher of a workspace's sources. Replaced as a whole when the
/// workspace's stored sources change ([`Scheduler::stop`] ends the old one's timers).
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
    /// The version of the workspace's stored sources it runs (0: none stored).
    version: u64,
    /// Whether a sources file is configured, or sources are stored.
    configured: bool,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Scheduler {
    /// Every source's status, in document order (the file's first; invalid entries last).
    pub fn statuses(&self) -> Vec<Status> {
        self.statuses.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Refreshes running at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The version of the stored sources document it runs (0: none stored).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether the workspace has a sources file or stored sources.
    pub fn configured(&self) -> bool {
        self.configured
    }

    /// Ends its timers: a run under way finishes (its import is atomic), none starts.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    fn update(&self, i: usize, f: impl FnOnce(&mut Status)) {
        if let Some(s) = self.statuses.lock().unwrap_or_else(PoisonError::into_inner).get_mut(i) {
            f(s);
        }
    }
}

/// A workspace's sources checked against its catalog: the operator's sources `file` first (the
/// primary workspace's), then the `stored` document (`version`) within `reach`. The stored
/// document was checked when it was stored; an entry the catalog no longer allows (its layer
/// was removed) is listed as invalid.
///
/// # Errors
/// [`SourcesFileError`] when the sources file cannot be read or is not TOML.
pub fn check_workspace(
    file: Option<&Path>,
    stored: Option<&str>,
    reach: &Reach,
    catalog: &vigie_layers::Catalog,
    check_files: bool,
) -> Result<Checked, SourcesFileError> {
    let mut claims = Claims::default();
    let mut checked = match file {
        Some(path) => config::load(path, catalog, check_files, &mut claims)?,
        None => Checked { concurrency: config::DEFAULT_CONCURRENCY, ..Checked::default() },
    };
    if let Some(text) = stored {
        let mine = config::check(text, reach, catalog, check_files, &mut claims).unwrap_or_else(|e| Checked {
            file: vec![format!("stored sources: {}", e.message())],
            concurrency: 1,
            ..Checked::default()
        });
        checked = checked.merge(mine);
    }
    Ok(checked)
}

/// How a workspace's sources are run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The file remembering what each source imported.
    pub state_file: std::path::PathBuf,
    /// The version of the stored sources (0: none stored).
    pub version: u64,
    /// Whether a sources file is configured or sources are stored.
    pub configured: bool,
    /// Whether this replica runs the stored sources (the file's always run).
    pub run_stored: bool,
}

/// Starts refreshing the valid entries of `checked` in the background (each source on its own
/// timer, at most `concurrency` at once), as `plan` says. Returns at once: start-up does not
/// wait for any source. Invalid entries are logged and listed with their problems.
pub fn spawn(ingest: &Arc<Ingest>, checked: Checked, plan: &Plan) -> Arc<Scheduler> {
    for p in &checked.file {
        tracing::warn!(problem = %p, "sources");
    }
    for i in &checked.invalid {
        tracing::warn!(source = %i.id, problems = %i.problems.join("; "), "source left out");
    }
    let state = SeenFile::open(&plan.state_file);
    let runs = |s: &Source| s.origin == Origin::File || plan.run_stored;
    let mut statuses: Vec<Status> = checked
        .sources
        .iter()
        .map(|s| Status { state: if runs(s) { SourceState::Pending } else { SourceState::Elsewhere }, ..status_of(s) })
        .collect();
    statuses.extend(checked.invalid.iter().map(|i| Status {
        id: i.id.clone(),
        origin: i.origin,
        title: String::new(),
        owner: String::new(),
        licence: String::new(),
        layer: String::new(),
        location: String::new(),
        format: None,
        refresh_s: 0,
        state: SourceState::Invalid,
        invalid: i.problems.clone(),
        runs: 0,
        imports: 0,
        last_run: None,
    }));
    let (stop, _) = tokio::sync::watch::channel(false);
    let scheduler = Arc::new(Scheduler {
        sources: checked.sources,
        statuses: Mutex::new(statuses),
        state,
        concurrency: checked.concurrency.max(1),
        version: plan.version,
        configured: plan.configured,
        stop,
    });
    let permits = Arc::new(tokio::sync::Semaphore::new(scheduler.concurrency));
    if !scheduler.sources.is_empty() {
        tracing::info!(
            sources = scheduler.sources.len(),
            concurrency = scheduler.concurrency,
            version = plan.version,
            run_stored = plan.run_stored,
            "sources scheduled"
        );
    }
    for i in (0..scheduler.sources.len()).filter(|i| runs(&scheduler.sources[*i])) {
        // Weak: the sources of a workspace's retired state (its catalog changed) stop.
        let (scheduler, ingest, permits) = (scheduler.clone(), Arc::downgrade(ingest), permits.clone());
        let mut stopped = scheduler.stop.subscribe();
        tokio::spawn(async move {
            loop {
                let permit = tokio::select! {
                    p = permits.acquire() => p,
                    _ = stopped.wait_for(|s| *s) => return,
                };
                let Ok(permit) = permit else { return };
                if *stopped.borrow() {
                    return;
                }
                let Some(ingest) = ingest.upgrade() else { return };
                run_source(&scheduler, i, &ingest).await;
                drop((permit, ingest));
                let every = scheduler.sources[i].refresh_s;
                if every == 0 {
                    return;
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(every)) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
            }
        });
    }
    scheduler
}

fn status_of(s: &Source) -> Status {
    Status {
        id: s.def.id.clone(),
        origin: s.origin,
        title: s.def.title.clone(),
        owner: s.def.owner.clone(),
        licence: s.def.licence.clone(),
        layer: s.def.layer.clone(),
        location: s.shown(),
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
            let label = format!("source {} ({})", source.def.id, source.shown());
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
    ingest.count_import(
        crate::metrics::ImportOrigin::Source,
        match run.outcome {
            Outcome::Imported => crate::metrics::ImportOutcome::Imported,
            Outcome::Unchanged => crate::metrics::ImportOutcome::Unchanged,
            Outcome::Rejected => crate::metrics::ImportOutcome::Rejected,
            Outcome::Failed => crate::metrics::ImportOutcome::Failed,
        },
    );
    scheduler.update(i, |s| {
        s.state = SourceState::Idle;
        s.runs += 1;
        s.imports += u64::from(imported);
        s.last_run = Some(run);
    });
}
