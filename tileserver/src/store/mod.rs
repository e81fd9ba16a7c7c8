//! Storage: the [`Store`] trait and its backends.
//!
//! The embedded SQLite store is the zero-setup default (`sqlite.rs`), PostgreSQL/PostGIS the
//! production one (`postgres.rs`). Every backend commits a write in one transaction before the
//! engine sees it, so the in-memory index can always be rebuilt from the store at start.
//!
//! The rest of the service sees `Arc<dyn Store>` only, opened by [`open`]: a backend owns its
//! change feed ([`Store::change_notifications`], replicas' commits) and its PostGIS pool
//! ([`Store::postgis_pool`], table layers). What both backends share — geometry and JSON
//! encoding, event and revision rows, the migrator — is written once in `codec.rs`.

pub mod codec;
mod pgcopy;
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use serde::Serialize;
use vigie_layers::dataset::{Dataset, DatasetFeature};
use vigie_layers::demo::{self, Shapes, Spread};
use vigie_layers::feature::{QualificationSet, Schema};
use vigie_layers::journal::{FieldError, Revision};
use vigie_layers::model::{Entry, Perimeter, Venue};

/// Why a store operation failed. `Display` never includes SQL text or connection strings.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is overloaded (served as 503): a sqlx error, or the
    /// embedded file busy or not openable for a direct (rusqlite) read.
    #[error("the database is unavailable")]
    Unavailable(#[source] DbError),
    /// The database's disk is full (SQLite's SQLITE_FULL, PostgreSQL's 53100): the
    /// transaction was rolled back, and writes work again once there is space (served as 507).
    #[error("the database's disk is full")]
    Full(#[source] DbError),
    /// Any other database error.
    #[error("database error")]
    Database(#[source] DbError),
    /// A task doing store work panicked or was cancelled (shutdown).
    #[error("the {what} task failed or was cancelled")]
    Task {
        /// What the task was doing.
        what: &'static str,
        /// Why it ended.
        #[source]
        source: tokio::task::JoinError,
    },
    /// The log's group writer has stopped (the service is shutting down): nothing was written.
    #[error("the log writer has stopped")]
    WriterStopped,
    /// Schema migration failed.
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A stored row cannot be decoded.
    #[error("stored {what} {id} is unreadable: {reason}")]
    Corrupt {
        /// Table or record kind.
        what: &'static str,
        /// Record id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The store is misconfigured (the message never holds the connection string).
    #[error("{0}")]
    Config(String),
    /// Opening the store failed (data directory).
    #[error("cannot open the store at {path}: {source}")]
    Open {
        /// Path that could not be used.
        path: String,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The database library's error: sqlx for both stores, rusqlite for the embedded store's
/// bulk paths.
pub type DbError = Box<dyn std::error::Error + Send + Sync>;

impl StoreError {
    /// A store task that panicked or was cancelled, doing `what`.
    pub fn task(what: &'static str) -> impl FnOnce(tokio::task::JoinError) -> Self {
        move |source| Self::Task { what, source }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // PostgreSQL codes of a server going away or overloaded: connection exceptions (08…),
        // operator intervention (57P01 admin shutdown, 57P02 crash, 57P03 cannot connect now),
        // too many connections (53300) and a statement timeout (57014).
        let code = e.as_database_error().and_then(sqlx::error::DatabaseError::code);
        let unavailable_code = code
            .as_deref()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "53300" || c == "57014");
        // SQLITE_FULL (13; SQLite reports a write failing with ENOSPC so), PostgreSQL's disk_full.
        if code.as_deref().is_some_and(|c| c == "13" || c == "53100") {
            return Self::Full(Box::new(e));
        }
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(Box::new(e)),
            other if unavailable_code => Self::Unavailable(Box::new(other)),
            other => Self::Database(Box::new(other)),
        }
    }
}

/// What `vigie serve --demo` loads into an empty store.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    /// Venues.
    pub venues: Vec<Venue>,
    /// Perimeters of those venues.
    pub perimeters: Vec<Perimeter>,
    /// Log entries.
    pub entries: Vec<Entry>,
}

impl Seed {
    /// The bundled demo: the venues, their perimeters and `entries` synthetic log entries
    /// around them (points only when `points_only`), from generator seed `seed`.
    pub fn demo(seed: u64, entries: usize, points_only: bool) -> Self {
        Self::demo_spread(seed, entries, points_only, Spread::Venues)
    }

    /// [`Seed::demo`] with point entries spread as `spread` says (the load benchmark spreads
    /// them over the region).
    pub fn demo_spread(seed: u64, entries: usize, points_only: bool, spread: Spread) -> Self {
        let venues = demo::bundled_venues();
        let perimeters = demo::perimeters(&venues, seed);
        let shapes = if points_only { Shapes::PointsOnly } else { Shapes::Mixed };
        let entries = demo::entries_spread(&venues, seed, entries, shapes, spread);
        Self { venues, perimeters, entries }
    }

    /// This seed in parts of at most `per_part` entries (at least one part; the venues and
    /// perimeters go with the first), each to be written in a transaction of its own: a
    /// transaction of millions of entries would first hold all of them in SQLite's WAL (11.9 GB
    /// for a part of 10M, `benches/README.md`).
    pub fn into_parts(self, per_part: usize) -> Vec<Self> {
        let Self { venues, perimeters, entries } = self;
        let mut rest = entries.into_iter();
        let mut part = || rest.by_ref().take(per_part.max(1)).collect::<Vec<_>>();
        let mut parts = vec![Self { venues, perimeters, entries: part() }];
        parts.extend(
            std::iter::from_fn(|| Some(part()).filter(|p| !p.is_empty()))
                .map(|entries| Self { entries, ..Self::default() }),
        );
        parts
    }
}

/// What kind of change an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventKind {
    /// A new entry.
    #[serde(rename = "entry.created")]
    Created,
    /// An entry changed (fields, qualification, attachments).
    #[serde(rename = "entry.updated")]
    Updated,
    /// An entry was (soft) deleted.
    #[serde(rename = "entry.deleted")]
    Deleted,
}

impl EventKind {
    /// The SSE event name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "entry.created",
            Self::Updated => "entry.updated",
            Self::Deleted => "entry.deleted",
        }
    }

    /// Parses an SSE event name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Created, Self::Updated, Self::Deleted].into_iter().find(|k| k.as_str() == s)
    }
}

/// What the writer knows of an event before the store numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    /// Kind of change.
    pub kind: EventKind,
    /// Catalog layers whose tiles the change touches.
    pub layers: Vec<String>,
    /// Longitude/latitude box of the old and new geometry.
    pub bbox: Option<[f64; 4]>,
}

/// A persisted event of the live stream. `seq` is gap-free per workspace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Sequence number (1, 2, 3, … with no gap).
    pub seq: u64,
    /// Kind of change.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The entry.
    pub entry_id: u64,
    /// Its version after the change.
    pub version: u32,
    /// Who.
    pub actor: String,
    /// When (epoch ms).
    #[serde(skip)]
    pub at_ms: i64,
    /// Catalog layers whose tiles the change touches.
    pub layers: Vec<String>,
    /// Longitude/latitude box touched.
    pub bbox: Option<[f64; 4]>,
}

impl Event {
    /// The event numbered `seq` of a change by `actor` that left `entry` as it is, at `at_ms`.
    pub fn numbered(seq: u64, entry: &Entry, draft: EventDraft, actor: &str, at_ms: i64) -> Self {
        Self {
            seq,
            kind: draft.kind,
            entry_id: entry.id,
            version: entry.version,
            actor: actor.to_owned(),
            at_ms,
            layers: draft.layers,
            bbox: draft.bbox,
        }
    }
}

/// A change computed from the current state of an entry, inside the writing transaction.
#[derive(Debug, Clone)]
pub struct Change {
    /// The new state (version = old version + 1).
    pub entry: Entry,
    /// The revision to append.
    pub revision: Revision,
    /// The event to publish.
    pub event: EventDraft,
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// No such entry.
    #[error("no such entry")]
    NotFound,
    /// The client's version is not the current one.
    #[error("stale version: the entry is at version {current}")]
    Stale {
        /// Current version.
        current: u32,
    },
    /// Invalid fields.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// Nothing would change.
    #[error("nothing to change")]
    NoChange,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a committed write returns.
#[derive(Debug, Clone)]
pub struct Commit {
    /// The entry as stored.
    pub entry: Entry,
    /// The state before the change (`None` for a creation).
    pub previous: Option<Entry>,
    /// The numbered event.
    pub event: Event,
}

/// Numbers a batch of creations as one transaction stores them: ids from `first_id`, event
/// seqs from `first_seq`, version 1, one event time. Returns the entries and their events.
pub fn number_creations(
    batch: &[(Entry, EventDraft)],
    first_id: u64,
    first_seq: u64,
    at_ms: i64,
) -> (Vec<Entry>, Vec<Event>) {
    batch
        .iter()
        .zip(0..)
        .map(|((entry, draft), i)| {
            let mut entry = entry.clone();
            entry.id = first_id + i;
            entry.version = 1;
            let event = Event::numbered(first_seq + i, &entry, draft.clone(), &entry.author, at_ms);
            (entry, event)
        })
        .unzip()
}

/// The commits of created entries and their events.
pub fn creation_commits(entries: Vec<Entry>, events: Vec<Event>) -> Vec<Commit> {
    entries.into_iter().zip(events).map(|(entry, event)| Commit { entry, previous: None, event }).collect()
}

/// Filters of the entry list (`GET /api/entries`).
#[derive(Debug, Clone, PartialEq)]
pub struct EntryQuery {
    /// occurred_at ≥ (epoch ms).
    pub from_ms: Option<i64>,
    /// occurred_at ≤ (epoch ms).
    pub to_ms: Option<i64>,
    /// Carrying any of these tags.
    pub tags: Vec<String>,
    /// Severity ≥.
    pub min_severity: Option<u8>,
    /// In these qualification states.
    pub qualifications: QualificationSet,
    /// Geometry box meets this lon/lat box.
    pub bbox: Option<[f64; 4]>,
    /// Full-text search (title, body, location), every word, prefix match, accent-insensitive.
    pub text: Option<String>,
    /// Keyset cursor: entries strictly older than (occurred_at, id).
    pub before: Option<(i64, u64)>,
    /// Page size.
    pub limit: usize,
}

impl Default for EntryQuery {
    /// Every entry, in any qualification state, no page limit set.
    fn default() -> Self {
        Self {
            from_ms: None,
            to_ms: None,
            tags: Vec::new(),
            min_severity: None,
            qualifications: QualificationSet::ALL,
            bbox: None,
            text: None,
            before: None,
            limit: 0,
        }
    }
}

/// A stored photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Media type sniffed at upload.
    pub media_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// What the store knows of an imported dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    /// Dataset id.
    pub id: String,
    /// Version, incremented by every import.
    pub version: u64,
    /// Fields of its features.
    pub schema: Schema,
    /// Where it came from.
    pub source: String,
    /// When it was imported (epoch ms).
    pub imported_at_ms: i64,
    /// Number of features.
    pub feature_count: usize,
}

/// Name of the workspace document holding the layer catalog (JSON).
pub const CATALOG_DOCUMENT: &str = "catalog";
/// Name of the workspace document holding its sources (TOML, the sources file's schema).
pub const SOURCES_DOCUMENT: &str = "sources";
/// Name of the workspace document holding its own MapLibre styles (JSON object, by style id).
pub const STYLES_DOCUMENT: &str = "styles";

/// A versioned configuration document of a workspace ([`CATALOG_DOCUMENT`],
/// [`SOURCES_DOCUMENT`], [`STYLES_DOCUMENT`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    /// Grows by one with every change (1 once seeded).
    pub version: u64,
    /// The document (the catalog as JSON: `vigie_layers::Catalog::from_json`; the sources as
    /// TOML; the styles as a JSON object).
    pub document: String,
    /// When it last changed (epoch ms).
    pub updated_at_ms: i64,
    /// Who changed it last (an account name, or `seed`).
    pub updated_by: String,
}

/// How [`edit_document`] ended.
#[derive(Debug)]
pub enum Edited<T> {
    /// Stored as version `to` over version `from` (0: none before); `value` is what the edit
    /// returned beside the document.
    Stored {
        /// The version edited.
        from: u64,
        /// The version stored.
        to: u64,
        /// What the edit returned.
        value: T,
    },
    /// The caller edits version `expected`, and the stored one is `current`.
    Stale {
        /// The stored version.
        current: u64,
    },
    /// Other changes kept getting there first.
    Busy,
}

/// Edits workspace document `name`: `edit` gets the stored document (`None` before any) and
/// returns the next one (and a value for the caller), stored as the next version if nobody
/// changed it meanwhile. When the caller named the version it edits (`expected`, an
/// `If-Match`), a different stored version is [`Edited::Stale`]; otherwise a lost race is
/// edited again on the new version (up to 5 times, then [`Edited::Busy`]).
///
/// # Errors
/// What `edit` returns, and the store's errors.
pub async fn edit_document<T, E: From<StoreError>>(
    store: &dyn Store,
    name: &str,
    expected: Option<u64>,
    actor: &str,
    edit: impl Fn(Option<&StoredDocument>) -> Result<(String, T), E>,
) -> Result<Edited<T>, E> {
    for _ in 0..5 {
        let stored = store.document(name).await?;
        let from = stored.as_ref().map_or(0, |d| d.version);
        if let Some(v) = expected
            && v != from
        {
            return Ok(Edited::Stale { current: from });
        }
        let (document, value) = edit(stored.as_ref())?;
        if let Some(to) = store.put_document(name, from, &document, actor).await? {
            return Ok(Edited::Stored { from, to, value });
        }
        if expected.is_some() {
            return Ok(Edited::Stale { current: store.document(name).await?.map_or(0, |d| d.version) });
        }
    }
    Ok(Edited::Busy)
}

/// The change function run inside the writing transaction, from the current state.
pub type ChangeFn<'a> = &'a (dyn Fn(&Entry) -> Result<Change, ChangeError> + Send + Sync);

/// Durability of a commit to the embedded store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Survives a process crash (WAL + NORMAL).
    #[default]
    Normal,
    /// Also survives a power cut (fsync on every commit).
    Full,
}

/// Where the store lives and how to open it.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// The embedded SQLite file `vigie.db` in a directory.
    Sqlite {
        /// The data directory.
        data_dir: std::path::PathBuf,
        /// Commit durability.
        synchronous: Synchronous,
    },
    /// A PostgreSQL/PostGIS database shared by replicas.
    Postgres(postgres::PgSettings),
}

/// Opens (creating and migrating as needed) the store of `workspace`.
///
/// # Errors
/// When the store cannot be opened or migrated (never with the connection string).
pub async fn open(settings: &StoreSettings, workspace: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    Ok(match settings {
        StoreSettings::Sqlite { data_dir, synchronous } => {
            std::sync::Arc::new(sqlite::SqliteStore::open(data_dir, workspace, *synchronous).await?)
        }
        StoreSettings::Postgres(pg) => std::sync::Arc::new(postgres::PgStore::open(pg, workspace).await?),
    })
}

/// A workspace's persistent data. One instance serves one workspace.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Backend name for logs and `/health` (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    /// The PostGIS pool, for layers served straight from PostGIS tables; `None` when the
    /// store is not PostgreSQL.
    fn postgis_pool(&self) -> Option<&sqlx::PgPool> {
        None
    }

    /// The identity tables (accounts, memberships, tokens, sessions, audit) of this database.
    fn identity(&self) -> std::sync::Arc<dyn crate::identity::store::IdentityStore>;
    /// The escalation tables (workspace tree, mirrored entries, comments), over the same
    /// database.
    fn links(&self) -> std::sync::Arc<dyn crate::escalation::store::LinkStore>;
    /// The situation reports' tables, over the same database.
    fn reports(&self) -> std::sync::Arc<dyn crate::reports::store::ReportStore>;
    /// The staffing tables, over the same database.
    fn staffing(&self) -> std::sync::Arc<dyn crate::staffing::store::StaffingStore>;

    /// The change feed's wake-ups, when other processes (replicas) write to the same store:
    /// each message says "changes may have been committed elsewhere: read the feed"
    /// ([`Store::events_after`]). One is also sent after every reconnection, since
    /// notifications may have been missed meanwhile. `None` for a store only this process
    /// writes. Call once: the listener it starts runs until the receiver is dropped.
    fn change_notifications(&self) -> Option<tokio::sync::mpsc::Receiver<()>> {
        None
    }

    /// Sends a message to the other processes serving this workspace from the same database
    /// (replicas), which read it from [`Store::messages`]: live news that is not stored, such
    /// as situation reports' events and presences. A no-op for a store only this process uses.
    async fn broadcast(&self, _message: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// The messages other processes [`Store::broadcast`] for this workspace (this process's
    /// own come back too: tell them apart inside the message). `None` for a store only this
    /// process uses. Call once per consumer: the listener it starts runs until the receiver is
    /// dropped.
    fn messages(&self) -> Option<tokio::sync::mpsc::Receiver<String>> {
        None
    }

    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Whether the workspace has no venue and no entry yet.
    async fn is_empty(&self) -> Result<bool, StoreError>;

    /// Writes a seed, or one part of it ([`Seed::into_parts`]), in one transaction: all of it or
    /// nothing.
    async fn seed(&self, seed: &Seed) -> Result<(), StoreError>;

    /// Every venue of the workspace, by code.
    async fn venues(&self) -> Result<Vec<Venue>, StoreError>;

    /// Every perimeter of the workspace, by id.
    async fn perimeters(&self) -> Result<Vec<Perimeter>, StoreError>;

    /// Streams every live (not deleted) entry to `sink`, without holding them all in memory;
    /// returns how many were read.
    async fn for_each_entry(&self, sink: &mut (dyn FnMut(Entry) + Send)) -> Result<usize, StoreError>;

    /// Creates entries in one transaction: for each, the row (the store assigns the id), its
    /// creation revision and its event, numbered in the batch's order. Returns only after the
    /// commit; nothing is written on an error.
    async fn create_entries(&self, batch: &[(Entry, EventDraft)]) -> Result<Vec<Commit>, StoreError>;

    /// How many [`Store::create_entries`] calls the log's group writer may have under way at
    /// once. One for a store with a single writer (SQLite: a second would only queue behind
    /// the first); PostGIS's is configured (`database.commits_in_flight`): a group's round trip
    /// then overlaps the previous group's commit, and numbers stay in commit order.
    fn commits_in_flight(&self) -> usize {
        1
    }

    /// Creates one entry: [`Store::create_entries`] of one.
    async fn create_entry(&self, entry: Entry, event: EventDraft) -> Result<Commit, StoreError> {
        let mut commits = self.create_entries(&[(entry, event)]).await?;
        commits.pop().ok_or_else(|| StoreError::Corrupt {
            what: "commit",
            id: String::new(),
            reason: "the store answered an empty batch".into(),
        })
    }

    /// Changes an entry in one transaction: reads the current state, runs `change` on it,
    /// writes the new state, appends the revision and the event.
    async fn change_entry(&self, id: u64, change: ChangeFn<'_>) -> Result<Commit, ChangeError>;

    /// One entry, deleted or not.
    async fn entry(&self, id: u64) -> Result<Option<Entry>, StoreError>;

    /// The revisions of an entry, oldest first.
    async fn revisions(&self, id: u64) -> Result<Vec<Revision>, StoreError>;

    /// Entries matching a query, newest first (occurred_at, then id), deleted ones left out.
    async fn list_entries(&self, query: &EntryQuery) -> Result<Vec<Entry>, StoreError>;

    /// Events after `seq`, in order, at most `limit`.
    async fn events_after(&self, seq: u64, limit: usize) -> Result<Vec<Event>, StoreError>;

    /// The last event's seq (0 when none).
    async fn last_event_seq(&self) -> Result<u64, StoreError>;

    /// Stores a photo under its SHA-256 (a no-op when it is already there).
    async fn put_attachment(&self, sha256: &str, media_type: &str, bytes: &[u8]) -> Result<(), StoreError>;

    /// A photo by SHA-256.
    async fn attachment(&self, sha256: &str) -> Result<Option<Attachment>, StoreError>;

    /// Replaces a dataset by a new version in one transaction: readers see the old or the
    /// new one, never a mix, and a failed import leaves the old one intact.
    async fn replace_dataset(&self, dataset: &Dataset, source: &str) -> Result<DatasetInfo, StoreError>;

    /// Every dataset of the workspace.
    async fn datasets(&self) -> Result<Vec<DatasetInfo>, StoreError>;

    /// The features of version `info.version` of a dataset. Once a later version replaced it,
    /// the SQLite store answers no feature and PostGIS an error (its table is dropped): read
    /// [`Store::datasets`] again.
    async fn dataset_features(&self, info: &DatasetInfo) -> Result<Vec<DatasetFeature>, StoreError>;

    /// The workspace's configuration document `name`; `None` before it is stored.
    async fn document(&self, name: &str) -> Result<Option<StoredDocument>, StoreError>;

    /// Stores document `name` if the stored one is still at version `expected` (0: none
    /// stored yet): returns the new version, or `None` when another change got there first
    /// (nothing written then).
    async fn put_document(
        &self,
        name: &str,
        expected: u64,
        document: &str,
        actor: &str,
    ) -> Result<Option<u64>, StoreError>;

    /// The workspace's layer catalog; `None` before it is seeded.
    async fn catalog(&self) -> Result<Option<StoredDocument>, StoreError> {
        self.document(CATALOG_DOCUMENT).await
    }

    /// [`Store::put_document`] of the catalog.
    async fn put_catalog(&self, expected: u64, document: &str, actor: &str) -> Result<Option<u64>, StoreError> {
        self.put_document(CATALOG_DOCUMENT, expected, document, actor).await
    }
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.backend())
    }
}

#[cfg(test)]
mod tests {
    use super::Seed;

    #[test]
    fn a_seed_in_parts_keeps_every_entry_in_order() {
        let whole = Seed::demo(7, 23, true);
        let ids: Vec<u64> = whole.entries.iter().map(|e| e.id).collect();
        for size in [1, 5, 22, 23, 24, 100] {
            let parts = whole.clone().into_parts(size);
            assert_eq!(parts.len(), 23usize.div_ceil(size).max(1), "parts of {size}");
            assert!(parts.iter().all(|p| (1..=size).contains(&p.entries.len())), "parts of {size}");
            assert_eq!(
                (parts[0].venues.len(), parts[0].perimeters.len()),
                (whole.venues.len(), whole.perimeters.len())
            );
            assert!(parts[1..].iter().all(|p| p.venues.is_empty() && p.perimeters.is_empty()));
            let again: Vec<u64> = parts.iter().flat_map(|p| p.entries.iter().map(|e| e.id)).collect();
            assert_eq!(again, ids, "parts of {size}");
        }
        let empty = Seed::demo(7, 0, true).into_parts(10);
        assert_eq!((empty.len(), empty[0].entries.len()), (1, 0));
        assert!(!empty[0].venues.is_empty());
    }
}
