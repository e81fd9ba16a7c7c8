//! The embedded store: one SQLite file under the data directory, so `vigie serve` needs
//! nothing installed.
//!
//! WAL journal with `synchronous = NORMAL` by default: a committed transaction survives a crash
//! or `kill -9` of vigie; `synchronous = FULL` (config `sqlite_synchronous = "full"`) also
//! survives a power cut at the cost of one fsync per commit.
//!
//! Writes go through a pool of one connection, so concurrent writers queue in order instead of
//! spinning on SQLite's busy handler; reads use their own pool and never wait for writers (WAL).

use super::codec::{
    self, dataset_feature_from_row, dataset_info_from_row, entry_from_row, event_from_row, from_json, from_wkb,
    in_id_order, migrator, revision_from_row, to_json, to_wkb, write_json, write_props_json, write_wkb,
};
use super::{
    Attachment, Change, ChangeError, ChangeFn, Commit, DatasetInfo, EntryQuery, Event, EventDraft, Seed, Store,
    StoreError, Synchronous, creation_commits, number_creations,
};
use crate::now_ms;
use async_trait::async_trait;
use futures_util::TryStreamExt;
use geo::BoundingRect;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use vigie_layers::dataset::{Dataset, DatasetFeature};
use vigie_layers::feature::QualificationSet;
use vigie_layers::journal::{Revision, created};
use vigie_layers::model::{AttachmentRef, Entry, Link, Perimeter, Venue, Window};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "vigie.db";

/// Migrations embedded in the binary, so it runs from any directory.
/// In order and append-only: a store made by an earlier version has a prefix of them applied.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../migrations/sqlite/0001_init.sql")),
    (2, "identity", include_str!("../../../migrations/sqlite/0002_identity.sql")),
    (3, "catalog", include_str!("../../../migrations/sqlite/0003_catalog.sql")),
    (4, "territory", include_str!("../../../migrations/sqlite/0004_territory.sql")),
    (5, "territory_scopes", include_str!("../../../migrations/sqlite/0005_territory_scopes.sql")),
    (6, "escalation", include_str!("../../../migrations/sqlite/0006_escalation.sql")),
    (7, "reports", include_str!("../../../migrations/sqlite/0007_reports.sql")),
    (8, "staffing", include_str!("../../../migrations/sqlite/0008_staffing.sql")),
];

/// How write transactions start: every workspace's store (and `vigie` commands run beside the
/// server) has its own writer connection to the file, and a deferred transaction that upgrades
/// to a write when another connection holds the lock fails at once with "database is locked";
/// an immediate one waits for the lock (`busy_timeout`).
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// Rows per multi-row INSERT when seeding (22 columns × 400 rows stays under SQLite's 32,766
/// bound parameters).
const BATCH_ROWS: usize = 400;

/// Columns of `entries`, in the order [`push_entry`] binds them.
const ENTRY_COLUMNS: &str = "workspace, id, version, title, body, tags, severity, qualification, occurred_at, \
     reported_at, recorded_at, author, source, location, links, attachments, geometry, min_lon, min_lat, max_lon, \
     max_lat, deleted";

/// The SQLite store of one workspace.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    workspace: String,
    sync: Synchronous,
}

impl SqliteStore {
    /// Opens (creating if needed) `DIR/vigie.db`, migrates it and registers the workspace.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the directory cannot be created; database and migration
    /// errors otherwise.
    pub async fn open(data_dir: &Path, workspace: &str, sync: Synchronous) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| StoreError::Open { path: data_dir.display().to_string(), source })?;
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| StoreError::Database(Box::new(e)))?
            .filename(data_dir.join(DB_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match sync {
                Synchronous::Normal => SqliteSynchronous::Normal,
                Synchronous::Full => SqliteSynchronous::Full,
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            // A transaction SQLite rolled back by itself (a COMMIT failing with SQLITE_FULL)
            // leaves sqlx counting it open: its ROLLBACK then fails and every later BEGIN is
            // refused. A connection released inside a transaction is closed, and the pool opens
            // a fresh one (tests/e2e/disk_full.rs).
            .after_release(|conn, _| Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) }))
            .connect_with(options.clone())
            .await?;
        migrator(MIGRATIONS).run(&writer).await.map_err(StoreError::Migrate)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.read_only(true))
            .await?;
        sqlx::query("INSERT OR IGNORE INTO workspaces (id, title, created_at) VALUES (?, ?, ?)")
            .bind(workspace)
            .bind(workspace)
            .bind(now_ms())
            .execute(&writer)
            .await?;
        Ok(Self { reader, writer, workspace: workspace.to_owned(), sync })
    }
}

fn window(start: Option<i64>, end: Option<i64>) -> Option<Window> {
    Some(Window { start: start?, end: end? })
}

fn venue_from_row(r: &SqliteRow) -> Result<Venue, StoreError> {
    let code: String = r.try_get("code")?;
    let sports: String = r.try_get("sports")?;
    Ok(Venue {
        sports: from_json(&sports, "venue", &code)?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        city: r.try_get("city")?,
        lon: r.try_get("lon")?,
        lat: r.try_get("lat")?,
        olympic: window(r.try_get("olympic_start")?, r.try_get("olympic_end")?),
        paralympic: window(r.try_get("paralympic_start")?, r.try_get("paralympic_end")?),
        code,
    })
}

fn perimeter_from_row(r: &SqliteRow) -> Result<Perimeter, StoreError> {
    let id: i64 = r.try_get("id")?;
    let sid = id.to_string();
    let windows: Vec<(i64, i64)> = from_json(r.try_get("windows")?, "perimeter", &sid)?;
    Ok(Perimeter {
        id: id as u64,
        venue: r.try_get("venue")?,
        kind: r.try_get("kind")?,
        geometry: from_wkb(r.try_get("geometry")?, "perimeter", &sid)?,
        windows: windows.into_iter().map(|(start, end)| Window { start, end }).collect(),
    })
}

/// Entries per batch of the bulk read (one channel message each).
const BULK_BATCH_ROWS: usize = 2048;

/// Batches the bulk read may run ahead of the sink: bounds the memory of a slow sink.
const BULK_BATCHES_AHEAD: usize = 4;

/// The bulk read's query; columns in the order [`entry_from_bulk_row`] reads them.
const BULK_ENTRIES_SQL: &str = "SELECT id, version, title, body, tags, severity, qualification, occurred_at, \
     reported_at, recorded_at, author, source, location, links, attachments, geometry \
     FROM entries WHERE workspace = ?1 AND deleted = 0 ORDER BY id";

fn bulk_error(e: rusqlite::Error) -> StoreError {
    let busy = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked | rusqlite::ErrorCode::CannotOpen)
    );
    if busy {
        StoreError::Unavailable(Box::new(e))
    } else if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        StoreError::Full(Box::new(e))
    } else {
        StoreError::Database(Box::new(e))
    }
}

/// Reads every live entry of `workspace` from the database file at `path` (read-only, one
/// read transaction, so one consistent snapshot), sending them in batches until the receiver
/// goes away.
fn bulk_read_entries(
    path: &Path,
    workspace: &str,
    tx: &tokio::sync::mpsc::Sender<Vec<Entry>>,
) -> Result<(), StoreError> {
    use rusqlite::OpenFlags;
    let conn =
        rusqlite::Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(bulk_error)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(bulk_error)?;
    let mut statement = conn.prepare(BULK_ENTRIES_SQL).map_err(bulk_error)?;
    let mut rows = statement.query([workspace]).map_err(bulk_error)?;
    let mut batch = Vec::with_capacity(BULK_BATCH_ROWS);
    while let Some(row) = rows.next().map_err(bulk_error)? {
        batch.push(entry_from_bulk_row(row)?);
        if batch.len() == BULK_BATCH_ROWS {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BULK_BATCH_ROWS));
            if tx.blocking_send(full).is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(batch);
    }
    Ok(())
}

/// An entry from a row of [`BULK_ENTRIES_SQL`]; the same checks as [`entry_from_row`].
fn entry_from_bulk_row(r: &rusqlite::Row<'_>) -> Result<Entry, StoreError> {
    let id: i64 = r.get(0).map_err(bulk_error)?;
    let sid = id.to_string();
    let text = |i: usize| -> Result<&str, StoreError> {
        r.get_ref(i).and_then(|v| v.as_str().map_err(Into::into)).map_err(bulk_error)
    };
    let int = |i: usize| -> Result<i64, StoreError> { r.get(i).map_err(bulk_error) };
    let qualification = text(6)?;
    Ok(Entry {
        id: id as u64,
        version: int(1)? as u32,
        title: text(2)?.to_owned(),
        body: text(3)?.to_owned(),
        tags: from_json(text(4)?, "entry", &sid)?,
        severity: int(5)? as u8,
        qualification: qualification.parse().map_err(|e: vigie_layers::feature::UnknownQualification| {
            StoreError::Corrupt { what: "entry", id: sid.clone(), reason: e.to_string() }
        })?,
        occurred_at: int(7)?,
        reported_at: int(8)?,
        recorded_at: int(9)?,
        author: text(10)?.to_owned(),
        source: text(11)?.to_owned(),
        location: r.get(12).map_err(bulk_error)?,
        links: from_json::<Vec<Link>>(text(13)?, "entry", &sid)?,
        attachments: from_json::<Vec<AttachmentRef>>(text(14)?, "entry", &sid)?,
        geometry: from_wkb(
            r.get_ref(15).and_then(|v| v.as_blob().map_err(Into::into)).map_err(bulk_error)?,
            "entry",
            &sid,
        )?,
        deleted: false,
    })
}

/// Features per batch of a dataset write (one channel message each).
const DATASET_BATCH_ROWS: usize = 4096;

/// Encoded batches a dataset write may hold ahead of the SQLite writer: bounds its memory.
const DATASET_BATCHES_AHEAD: usize = 4;

/// Page cache of the dataset writer's connection, in KiB (SQLite's default is 2 MiB): the
/// b-tree pages being filled stay in memory between rows, and spilled pages go to the
/// write-ahead log as the transaction grows, so memory stays bounded whatever the dataset size.
const DATASET_WRITE_CACHE_KIB: i64 = 16 * 1024;

const DATASET_DELETE_SQL: &str = "DELETE FROM dataset_features WHERE workspace = ?1 AND dataset = ?2";

/// Rows per INSERT of a dataset write: one statement run keeps its cursor on the last page
/// of the table from row to row instead of seeking it from the root for each row.
const DATASET_INSERT_ROWS: usize = 64;

/// Parameters of a row in [`dataset_insert_sql`], after the three every row shares.
const DATASET_ROW_PARAMS: usize = 6;

/// An INSERT of `rows` dataset features: `?1` to `?3` (workspace, dataset, version) are shared,
/// then [`DATASET_ROW_PARAMS`] parameters per row in the order [`RowBatch::insert`] binds them.
fn dataset_insert_sql(rows: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = String::from(
        "INSERT INTO dataset_features (workspace, dataset, version, id, geometry, props, time, severity, tags) VALUES ",
    );
    for row in 0..rows {
        let p = 4 + row * DATASET_ROW_PARAMS;
        let sep = if row == 0 { "" } else { ", " };
        let _ = write!(sql, "{sep}(?1, ?2, ?3, ?{}, ?{}, ?{}, ?{}, ?{}, ?{})", p, p + 1, p + 2, p + 3, p + 4, p + 5);
    }
    sql
}

const DATASET_UPSERT_SQL: &str = "INSERT INTO datasets (workspace, id, version, schema, source, imported_at, feature_count) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (workspace, id) DO UPDATE SET version = excluded.version, \
     schema = excluded.schema, source = excluded.source, imported_at = excluded.imported_at, \
     feature_count = excluded.feature_count";

/// The `datasets` row of an import, version aside (read in the writing transaction).
struct DatasetRow {
    workspace: String,
    id: String,
    schema: String,
    source: String,
    imported_at_ms: i64,
    feature_count: usize,
}

/// What the encoding task sends the SQLite writer.
enum DatasetMessage {
    /// The next features, in id order.
    Rows(RowBatch),
    /// Every feature was sent: commit.
    Commit,
}

/// Features encoded for their rows: the variable-length columns of every row back to back in
/// one buffer, reused from batch to batch (no allocation per row).
#[derive(Default)]
struct RowBatch {
    rows: Vec<EncodedRow>,
    bytes: Vec<u8>,
}

/// One row of a [`RowBatch`]: its scalar columns and where its WKB, props and tags end.
struct EncodedRow {
    id: i64,
    time_ms: Option<i64>,
    severity: Option<i64>,
    ends: [usize; 3],
}

impl RowBatch {
    fn clear(&mut self) {
        self.rows.clear();
        self.bytes.clear();
    }

    fn push(&mut self, f: &DatasetFeature) -> Result<(), StoreError> {
        write_wkb(&f.geometry, &mut self.bytes, "dataset feature", f.id)?;
        let geometry_end = self.bytes.len();
        write_props_json(&f.props, &mut self.bytes);
        let props_end = self.bytes.len();
        write_json(&f.tags, &mut self.bytes);
        self.rows.push(EncodedRow {
            id: f.id as i64,
            time_ms: f.time_ms,
            severity: f.severity.map(i64::from),
            ends: [geometry_end, props_end, self.bytes.len()],
        });
        Ok(())
    }

    /// Inserts the rows: by [`DATASET_INSERT_ROWS`] with `many`, the rest one by one with `one`
    /// (statements of [`dataset_insert_sql`] with their shared parameters bound).
    fn insert(&self, many: &mut rusqlite::Statement<'_>, one: &mut rusqlite::Statement<'_>) -> rusqlite::Result<()> {
        let mut start = 0;
        let mut chunks = self.rows.chunks_exact(DATASET_INSERT_ROWS);
        for chunk in &mut chunks {
            for (i, row) in chunk.iter().enumerate() {
                start = self.bind(many, 4 + i * DATASET_ROW_PARAMS, row, start)?;
            }
            many.raw_execute()?;
        }
        for row in chunks.remainder() {
            start = self.bind(one, 4, row, start)?;
            one.raw_execute()?;
        }
        Ok(())
    }

    /// Binds `row` (whose bytes start at `start`) from parameter `first`; returns where the
    /// next row's bytes start.
    fn bind(
        &self,
        insert: &mut rusqlite::Statement<'_>,
        first: usize,
        row: &EncodedRow,
        start: usize,
    ) -> rusqlite::Result<usize> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        let [geometry_end, props_end, tags_end] = row.ends;
        // serde_json wrote the JSON columns: UTF-8, bound as text without a second check.
        let text = |range: std::ops::Range<usize>| ToSqlOutput::Borrowed(ValueRef::Text(&self.bytes[range]));
        insert.raw_bind_parameter(first, row.id)?;
        insert.raw_bind_parameter(first + 1, &self.bytes[start..geometry_end])?;
        insert.raw_bind_parameter(first + 2, text(geometry_end..props_end))?;
        insert.raw_bind_parameter(first + 3, row.time_ms)?;
        insert.raw_bind_parameter(first + 4, row.severity)?;
        insert.raw_bind_parameter(first + 5, text(props_end..tags_end))?;
        Ok(tags_end)
    }
}

/// Encodes the features of `dataset` in id order (the order of the table's key, so rows are
/// appended) and sends them in batches, reusing the batches the writer hands back. Stops
/// early when the writer has gone (its error is the one to report).
async fn send_dataset_rows(
    dataset: &Dataset,
    rows_tx: &tokio::sync::mpsc::Sender<DatasetMessage>,
    spent_rx: &mut tokio::sync::mpsc::Receiver<RowBatch>,
) -> Result<(), StoreError> {
    let mut features = in_id_order(&dataset.features).peekable();
    while features.peek().is_some() {
        let mut batch = spent_rx.try_recv().unwrap_or_default();
        batch.clear();
        for f in features.by_ref().take(DATASET_BATCH_ROWS) {
            batch.push(f)?;
        }
        if rows_tx.send(DatasetMessage::Rows(batch)).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Replaces the features of dataset `meta.id` in one immediate transaction on its own
/// connection to the database at `path`: old rows deleted, the batches from `rows_rx` inserted,
/// the `datasets` row updated. Commits only on [`DatasetMessage::Commit`]; when the sender goes
/// away first, rolls back and returns `None`. Returns the new version.
fn write_dataset(
    path: &Path,
    sync: Synchronous,
    meta: &DatasetRow,
    mut rows_rx: tokio::sync::mpsc::Receiver<DatasetMessage>,
    spent_tx: &tokio::sync::mpsc::Sender<RowBatch>,
) -> Result<Option<u64>, StoreError> {
    use rusqlite::{OpenFlags, OptionalExtension, TransactionBehavior, params};
    let mut conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(bulk_error)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(bulk_error)?;
    // The same guarantees as the pool's connections (see `SqliteStore::open`).
    let synchronous = match sync {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous).map_err(bulk_error)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(bulk_error)?;
    conn.pragma_update(None, "cache_size", -DATASET_WRITE_CACHE_KIB).map_err(bulk_error)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(bulk_error)?;
    let old: Option<i64> = tx
        .query_row("SELECT version FROM datasets WHERE workspace = ?1 AND id = ?2", [&meta.workspace, &meta.id], |r| {
            r.get(0)
        })
        .optional()
        .map_err(bulk_error)?;
    let version = old.unwrap_or(0) + 1;
    tx.execute(DATASET_DELETE_SQL, [&meta.workspace, &meta.id]).map_err(bulk_error)?;
    {
        let mut many = tx.prepare(&dataset_insert_sql(DATASET_INSERT_ROWS)).map_err(bulk_error)?;
        let mut one = tx.prepare(&dataset_insert_sql(1)).map_err(bulk_error)?;
        // Bindings outlive each run of a statement: the columns every row shares are bound once.
        for insert in [&mut many, &mut one] {
            insert.raw_bind_parameter(1, &meta.workspace).map_err(bulk_error)?;
            insert.raw_bind_parameter(2, &meta.id).map_err(bulk_error)?;
            insert.raw_bind_parameter(3, version).map_err(bulk_error)?;
        }
        loop {
            match rows_rx.blocking_recv() {
                Some(DatasetMessage::Rows(batch)) => {
                    batch.insert(&mut many, &mut one).map_err(bulk_error)?;
                    let _ = spent_tx.try_send(batch);
                }
                Some(DatasetMessage::Commit) => break,
                // Dropping the transaction rolls it back.
                None => return Ok(None),
            }
        }
    }
    tx.execute(
        DATASET_UPSERT_SQL,
        params![
            meta.workspace,
            meta.id,
            version,
            meta.schema,
            meta.source,
            meta.imported_at_ms,
            meta.feature_count as i64
        ],
    )
    .map_err(bulk_error)?;
    tx.commit().map_err(bulk_error)?;
    Ok(Some(version as u64))
}

/// An entry encoded for its row.
struct EntryRow<'a> {
    e: &'a Entry,
    wkb: Vec<u8>,
    bbox: [f64; 4],
}

fn entry_row(e: &Entry) -> Result<EntryRow<'_>, StoreError> {
    let sid = e.id.to_string();
    let wkb = to_wkb(&e.geometry, "entry", &sid)?;
    let r = e.geometry.bounding_rect().ok_or_else(|| StoreError::Corrupt {
        what: "entry",
        id: sid,
        reason: "empty geometry".into(),
    })?;
    Ok(EntryRow { e, wkb, bbox: [r.min().x, r.min().y, r.max().x, r.max().y] })
}

/// Binds one entry row in [`ENTRY_COLUMNS`] order.
fn push_entry(mut b: sqlx::query_builder::Separated<'_, '_, Sqlite, &'static str>, ws: String, row: EntryRow<'_>) {
    let e = row.e;
    b.push_bind(ws)
        .push_bind(e.id as i64)
        .push_bind(i64::from(e.version))
        .push_bind(e.title.clone())
        .push_bind(e.body.clone())
        .push_bind(to_json(&e.tags))
        .push_bind(i64::from(e.severity))
        .push_bind(e.qualification.as_str())
        .push_bind(e.occurred_at)
        .push_bind(e.reported_at)
        .push_bind(e.recorded_at)
        .push_bind(e.author.clone())
        .push_bind(e.source.clone())
        .push_bind(e.location.clone())
        .push_bind(to_json(&e.links))
        .push_bind(to_json(&e.attachments))
        .push_bind(row.wkb)
        .push_bind(row.bbox[0])
        .push_bind(row.bbox[1])
        .push_bind(row.bbox[2])
        .push_bind(row.bbox[3])
        .push_bind(i64::from(e.deleted));
}

impl SqliteStore {
    async fn insert_entries(&self, conn: &mut SqliteConnection, entries: &[Entry]) -> Result<(), StoreError> {
        for chunk in entries.chunks(BATCH_ROWS) {
            let rows = chunk.iter().map(entry_row).collect::<Result<Vec<_>, _>>()?;
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!("INSERT INTO entries ({ENTRY_COLUMNS}) "));
            q.push_values(rows, |b, row| push_entry(b, self.workspace.clone(), row));
            q.build().execute(&mut *conn).await?;
            let revisions: Vec<(u64, Revision)> = chunk.iter().map(|e| (e.id, created(e))).collect();
            self.insert_revisions(conn, &revisions).await?;
        }
        Ok(())
    }

    async fn insert_revisions(
        &self,
        conn: &mut SqliteConnection,
        revisions: &[(u64, Revision)],
    ) -> Result<(), StoreError> {
        codec::insert_revisions::<Sqlite>(&self.workspace, revisions).build().execute(&mut *conn).await?;
        Ok(())
    }

    /// The next event seq. The single writer connection makes MAX(seq) + 1 gap-free and unique.
    async fn next_seq(&self, conn: &mut SqliteConnection) -> Result<u64, StoreError> {
        let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE workspace = ?")
            .bind(&self.workspace)
            .fetch_one(&mut *conn)
            .await?;
        Ok(seq as u64)
    }

    /// Numbers and appends an event inside the writing transaction.
    async fn append_event(
        &self,
        conn: &mut SqliteConnection,
        entry: &Entry,
        draft: EventDraft,
        actor: &str,
    ) -> Result<Event, StoreError> {
        let event = Event::numbered(self.next_seq(conn).await?, entry, draft, actor, now_ms());
        self.insert_events(conn, std::slice::from_ref(&event)).await?;
        Ok(event)
    }

    /// Appends numbered events (9 columns × 400 rows per statement, under SQLite's bound).
    async fn insert_events(&self, conn: &mut SqliteConnection, events: &[Event]) -> Result<(), StoreError> {
        for chunk in events.chunks(BATCH_ROWS) {
            codec::insert_events::<Sqlite>(&self.workspace, chunk).build().execute(&mut *conn).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn links(&self) -> std::sync::Arc<dyn crate::escalation::store::LinkStore> {
        std::sync::Arc::new(crate::escalation::store::SqlLinks::new(self.reader.clone(), self.writer.clone()))
    }

    fn reports(&self) -> std::sync::Arc<dyn crate::reports::store::ReportStore> {
        std::sync::Arc::new(crate::reports::store::SqlReports::new(self.reader.clone(), self.writer.clone()))
    }

    fn staffing(&self) -> std::sync::Arc<dyn crate::staffing::store::StaffingStore> {
        std::sync::Arc::new(crate::staffing::store::SqlStaffing::new(self.reader.clone(), self.writer.clone()))
    }

    fn identity(&self) -> std::sync::Arc<dyn crate::identity::store::IdentityStore> {
        std::sync::Arc::new(crate::identity::store::SqlIdentity::new(
            self.reader.clone(),
            self.writer.clone(),
            BEGIN_WRITE,
        ))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn is_empty(&self) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM venues WHERE workspace = ?1) + (SELECT count(*) FROM entries WHERE workspace = ?1)",
        )
        .bind(&self.workspace)
        .fetch_one(&self.reader)
        .await?;
        Ok(row.try_get::<i64, _>(0)? == 0)
    }

    async fn seed(&self, seed: &Seed) -> Result<(), StoreError> {
        let ws = self.workspace.as_str();
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        for chunk in seed.venues.chunks(BATCH_ROWS) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO venues (workspace, code, name, kind, city, lon, lat, sports, olympic_start, olympic_end, paralympic_start, paralympic_end) ",
            );
            q.push_values(chunk, |mut b, v| {
                b.push_bind(ws)
                    .push_bind(&v.code)
                    .push_bind(&v.name)
                    .push_bind(&v.kind)
                    .push_bind(&v.city)
                    .push_bind(v.lon)
                    .push_bind(v.lat)
                    .push_bind(to_json(&v.sports))
                    .push_bind(v.olympic.map(|w| w.start))
                    .push_bind(v.olympic.map(|w| w.end))
                    .push_bind(v.paralympic.map(|w| w.start))
                    .push_bind(v.paralympic.map(|w| w.end));
            });
            q.build().execute(&mut *tx).await?;
        }
        for chunk in seed.perimeters.chunks(BATCH_ROWS) {
            let rows = codec::perimeter_rows(chunk)?;
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO perimeters (workspace, id, venue, kind, geometry, windows) ");
            q.push_values(rows, |mut b, (p, wkb, windows)| {
                b.push_bind(ws)
                    .push_bind(p.id as i64)
                    .push_bind(&p.venue)
                    .push_bind(&p.kind)
                    .push_bind(wkb)
                    .push_bind(windows);
            });
            q.build().execute(&mut *tx).await?;
        }
        self.insert_entries(&mut tx, &seed.entries).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn venues(&self) -> Result<Vec<Venue>, StoreError> {
        sqlx::query("SELECT * FROM venues WHERE workspace = ? ORDER BY code")
            .bind(&self.workspace)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(venue_from_row)
            .collect()
    }

    async fn perimeters(&self) -> Result<Vec<Perimeter>, StoreError> {
        sqlx::query("SELECT * FROM perimeters WHERE workspace = ? ORDER BY id")
            .bind(&self.workspace)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(perimeter_from_row)
            .collect()
    }

    async fn for_each_entry(&self, sink: &mut (dyn FnMut(Entry) + Send)) -> Result<usize, StoreError> {
        // The start-up load reads every row: sqlx's driver would copy each value and hand each
        // row to this task across threads (17 s for 1M rows). A plain connection on a blocking
        // thread reads them in place and hands them over in batches, while this task runs
        // `sink` on the previous batch.
        let path = self.reader.connect_options().get_filename().to_owned();
        let workspace = self.workspace.clone();
        let (tx, mut rx) = tokio::sync::mpsc::channel(BULK_BATCHES_AHEAD);
        let reader = tokio::task::spawn_blocking(move || bulk_read_entries(&path, &workspace, &tx));
        let mut n = 0;
        while let Some(batch) = rx.recv().await {
            for entry in batch {
                sink(entry);
                n += 1;
            }
        }
        reader.await.map_err(StoreError::task("entry bulk read"))??;
        Ok(n)
    }

    async fn create_entries(&self, batch: &[(Entry, EventDraft)]) -> Result<Vec<Commit>, StoreError> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let first_id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM entries WHERE workspace = ?")
            .bind(&self.workspace)
            .fetch_one(&mut *tx)
            .await?;
        let first_seq = self.next_seq(&mut tx).await?;
        let (entries, events) = number_creations(batch, first_id as u64, first_seq, now_ms());
        self.insert_entries(&mut tx, &entries).await?;
        self.insert_events(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(creation_commits(entries, events))
    }

    async fn change_entry(&self, id: u64, change: ChangeFn<'_>) -> Result<Commit, ChangeError> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await.map_err(StoreError::from)?;
        let row = sqlx::query("SELECT * FROM entries WHERE workspace = ? AND id = ?")
            .bind(&self.workspace)
            .bind(id as i64)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let current = entry_from_row(&row.ok_or(ChangeError::NotFound)?)?;
        let Change { entry, revision, event: draft } = change(&current)?;
        update_entry(&mut tx, &self.workspace, &entry).await?;
        self.insert_revisions(&mut tx, &[(entry.id, revision.clone())]).await?;
        let event = self.append_event(&mut tx, &entry, draft, &revision.actor).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Commit { entry, previous: Some(current), event })
    }

    async fn entry(&self, id: u64) -> Result<Option<Entry>, StoreError> {
        sqlx::query("SELECT * FROM entries WHERE workspace = ? AND id = ?")
            .bind(&self.workspace)
            .bind(id as i64)
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(entry_from_row)
            .transpose()
    }

    async fn revisions(&self, id: u64) -> Result<Vec<Revision>, StoreError> {
        sqlx::query("SELECT * FROM entry_revisions WHERE workspace = ? AND entry_id = ? ORDER BY version")
            .bind(&self.workspace)
            .bind(id as i64)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(revision_from_row)
            .collect()
    }

    async fn list_entries(&self, query: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM entries WHERE workspace = ");
        q.push_bind(&self.workspace).push(" AND deleted = 0");
        if let Some(t) = query.from_ms {
            q.push(" AND occurred_at >= ").push_bind(t);
        }
        if let Some(t) = query.to_ms {
            q.push(" AND occurred_at <= ").push_bind(t);
        }
        if let Some(s) = query.min_severity {
            q.push(" AND severity >= ").push_bind(i64::from(s));
        }
        if query.qualifications != QualificationSet::ALL {
            q.push(" AND qualification IN (");
            let mut sep = q.separated(", ");
            for s in query.qualifications.iter() {
                sep.push_bind(s.as_str());
            }
            q.push(")");
        }
        if !query.tags.is_empty() {
            q.push(" AND EXISTS (SELECT 1 FROM json_each(entries.tags) WHERE json_each.value IN (");
            let mut sep = q.separated(", ");
            for t in &query.tags {
                sep.push_bind(t);
            }
            q.push("))");
        }
        if let Some([w, s, e, n]) = query.bbox {
            q.push(" AND max_lat >= ").push_bind(s).push(" AND min_lat <= ").push_bind(n);
            if w <= e {
                q.push(" AND max_lon >= ").push_bind(w).push(" AND min_lon <= ").push_bind(e);
            } else {
                // The box crosses the antimeridian: two longitude ranges.
                q.push(" AND (max_lon >= ").push_bind(w).push(" OR min_lon <= ").push_bind(e).push(")");
            }
        }
        if let Some(text) = query.text.as_deref().and_then(fts_query) {
            q.push(" AND rowid IN (SELECT rowid FROM entries_fts WHERE entries_fts MATCH ").push_bind(text).push(")");
        }
        if let Some((t, id)) = query.before {
            q.push(" AND (occurred_at < ")
                .push_bind(t)
                .push(" OR (occurred_at = ")
                .push_bind(t)
                .push(" AND id < ")
                .push_bind(id as i64)
                .push("))");
        }
        q.push(" ORDER BY occurred_at DESC, id DESC LIMIT ").push_bind(query.limit as i64);
        q.build().fetch_all(&self.reader).await?.iter().map(entry_from_row).collect()
    }

    async fn events_after(&self, seq: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        sqlx::query("SELECT * FROM events WHERE workspace = ? AND seq > ? ORDER BY seq LIMIT ?")
            .bind(&self.workspace)
            .bind(seq as i64)
            .bind(limit as i64)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(event_from_row)
            .collect()
    }

    async fn last_event_seq(&self) -> Result<u64, StoreError> {
        let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events WHERE workspace = ?")
            .bind(&self.workspace)
            .fetch_one(&self.reader)
            .await?;
        Ok(seq as u64)
    }

    async fn put_attachment(&self, sha256: &str, media_type: &str, bytes: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR IGNORE INTO attachments (sha256, media_type, size, bytes, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(sha256)
        .bind(media_type)
        .bind(bytes.len() as i64)
        .bind(bytes)
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn attachment(&self, sha256: &str) -> Result<Option<Attachment>, StoreError> {
        let row = sqlx::query("SELECT media_type, bytes FROM attachments WHERE sha256 = ?")
            .bind(sha256)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(codec::attachment_from_row).transpose()
    }

    async fn replace_dataset(&self, dataset: &Dataset, source: &str) -> Result<DatasetInfo, StoreError> {
        // A bulk write through sqlx costs more than SQLite's own work (each value copied into
        // its arguments, each statement handed to its worker thread): a plain connection on a
        // blocking thread inserts the rows with one prepared statement while this task encodes
        // the next batch. Holding the pool's only writer connection meanwhile keeps this
        // process's writes queued in order, as they are behind any other write.
        let _writer = self.writer.acquire().await?;
        let imported_at_ms = now_ms();
        let meta = DatasetRow {
            workspace: self.workspace.clone(),
            id: dataset.id.clone(),
            schema: to_json(&dataset.schema.fields),
            source: source.to_owned(),
            imported_at_ms,
            feature_count: dataset.features.len(),
        };
        let path = self.writer.connect_options().get_filename().to_owned();
        let sync = self.sync;
        let (rows_tx, rows_rx) = tokio::sync::mpsc::channel(DATASET_BATCHES_AHEAD);
        let (spent_tx, mut spent_rx) = tokio::sync::mpsc::channel(DATASET_BATCHES_AHEAD + 2);
        let writer = tokio::task::spawn_blocking(move || write_dataset(&path, sync, &meta, rows_rx, &spent_tx));
        let encoded = send_dataset_rows(dataset, &rows_tx, &mut spent_rx).await;
        // Without the commit message the writer rolls back: an encoding error (or this future
        // dropped) leaves the previous version in place.
        if encoded.is_ok() {
            let _ = rows_tx.send(DatasetMessage::Commit).await;
        }
        drop(rows_tx);
        let written = writer.await.map_err(StoreError::task("dataset write"))?;
        encoded?;
        let version = written?.ok_or_else(|| StoreError::Corrupt {
            what: "dataset",
            id: dataset.id.clone(),
            reason: "the store write stopped before the last feature".into(),
        })?;
        Ok(DatasetInfo {
            id: dataset.id.clone(),
            version,
            schema: dataset.schema.clone(),
            source: source.to_owned(),
            imported_at_ms,
            feature_count: dataset.features.len(),
        })
    }

    async fn datasets(&self) -> Result<Vec<DatasetInfo>, StoreError> {
        sqlx::query("SELECT * FROM datasets WHERE workspace = ? ORDER BY id")
            .bind(&self.workspace)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(dataset_info_from_row)
            .collect()
    }

    async fn dataset_features(&self, info: &DatasetInfo) -> Result<Vec<DatasetFeature>, StoreError> {
        let mut rows = sqlx::query(
            "SELECT * FROM dataset_features WHERE workspace = ? AND dataset = ? AND version = ? ORDER BY id",
        )
        .bind(&self.workspace)
        .bind(&info.id)
        .bind(info.version as i64)
        .fetch(&self.reader);
        let mut out = Vec::with_capacity(info.feature_count);
        while let Some(r) = rows.try_next().await? {
            out.push(dataset_feature_from_row(&r, &info.schema)?);
        }
        Ok(out)
    }

    async fn document(&self, name: &str) -> Result<Option<super::StoredDocument>, StoreError> {
        let row = sqlx::query(
            "SELECT version, document, updated_at, updated_by FROM workspace_documents WHERE workspace = ?1 AND name = ?2",
        )
        .bind(&self.workspace)
        .bind(name)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(codec::document_from_row).transpose()
    }

    async fn put_document(
        &self,
        name: &str,
        expected: u64,
        document: &str,
        actor: &str,
    ) -> Result<Option<u64>, StoreError> {
        // Both statements bind workspace, name, document, time, actor, expected version.
        let sql = if expected == 0 {
            "INSERT INTO workspace_documents (workspace, name, document, updated_at, updated_by, version) \
             SELECT ?1, ?2, ?3, ?4, ?5, 1 WHERE ?6 = 0 ON CONFLICT (workspace, name) DO NOTHING"
        } else {
            "UPDATE workspace_documents SET document = ?3, updated_at = ?4, updated_by = ?5, version = version + 1 \
             WHERE workspace = ?1 AND name = ?2 AND version = ?6"
        };
        let done = sqlx::query(sql)
            .bind(&self.workspace)
            .bind(name)
            .bind(document)
            .bind(now_ms())
            .bind(actor)
            .bind(expected as i64)
            .execute(&self.writer)
            .await?;
        Ok((done.rows_affected() == 1).then_some(expected + 1))
    }
}

async fn update_entry(conn: &mut SqliteConnection, ws: &str, e: &Entry) -> Result<(), StoreError> {
    let row = entry_row(e)?;
    sqlx::query(
        "UPDATE entries SET version = ?, title = ?, body = ?, tags = ?, severity = ?, qualification = ?, occurred_at = ?, \
         reported_at = ?, author = ?, source = ?, location = ?, links = ?, attachments = ?, geometry = ?, min_lon = ?, \
         min_lat = ?, max_lon = ?, max_lat = ?, deleted = ? WHERE workspace = ? AND id = ?",
    )
    .bind(i64::from(e.version))
    .bind(&e.title)
    .bind(&e.body)
    .bind(to_json(&e.tags))
    .bind(i64::from(e.severity))
    .bind(e.qualification.as_str())
    .bind(e.occurred_at)
    .bind(e.reported_at)
    .bind(&e.author)
    .bind(&e.source)
    .bind(&e.location)
    .bind(to_json(&e.links))
    .bind(to_json(&e.attachments))
    .bind(row.wkb)
    .bind(row.bbox[0])
    .bind(row.bbox[1])
    .bind(row.bbox[2])
    .bind(row.bbox[3])
    .bind(i64::from(e.deleted))
    .bind(ws)
    .bind(e.id as i64)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An FTS5 query from user text: every word must match as a prefix. Words are quoted, so FTS5
/// syntax in the text is searched for, never interpreted.
fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| w.chars().filter(|c| *c != '"').collect::<String>())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::{BULK_BATCH_ROWS, DATASET_BATCH_ROWS, DATASET_INSERT_ROWS, SqliteStore, fts_query};
    use crate::store::Store;
    use crate::store::Synchronous;
    use geo::{Geometry, point, polygon};
    use vigie_layers::Value;
    use vigie_layers::dataset::{Dataset, DatasetFeature};
    use vigie_layers::feature::{Field, FieldType, Schema};

    /// `n` features with ids 1..=n in a scrambled order, a polygon every tenth, every kind of
    /// value; `salt` changes the values.
    fn scrambled_dataset(n: usize, salt: i64) -> Dataset {
        let schema = Schema {
            fields: vec![
                Field::new("code", FieldType::String, ""),
                Field::new("n", FieldType::Integer, ""),
                Field::new("x", FieldType::Number, ""),
                Field::new("t", FieldType::Datetime, ""),
            ],
        };
        // 7919 is prime and does not divide n: i -> i * 7919 mod n visits every id once.
        let features = (0..n)
            .map(|i| {
                let id = (i * 7919) % n + 1;
                let (x, y) = (-4.0 + (id % 1000) as f64 * 0.01, 42.0 + (id / 1000) as f64 * 0.01);
                let geometry: Geometry<f64> = if id.is_multiple_of(10) {
                    polygon![(x: x, y: y), (x: x + 0.001, y: y), (x: x, y: y + 0.001), (x: x, y: y)].into()
                } else {
                    point!(x: x, y: y).into()
                };
                let id_i = id as i64;
                DatasetFeature {
                    id: id as u64,
                    geometry,
                    props: vec![
                        if id.is_multiple_of(7) { Value::Null } else { Value::text(format!("{:05}\"é", id_i + salt)) },
                        Value::Int(id_i * salt),
                        Value::Float(id_i as f64 / 8.0),
                        Value::Time(1_721_952_000_000 + id_i * 1000),
                    ],
                    time_ms: id.is_multiple_of(3).then_some(id_i * 60_000),
                    severity: id.is_multiple_of(5).then_some((id / 5 % 5) as u8),
                    tags: if id.is_multiple_of(4) { vec!["crowd".into(), format!("t{salt}")] } else { Vec::new() },
                }
            })
            .collect();
        Dataset { id: "probe".into(), schema, features }
    }

    /// The dataset write (more than one batch, scrambled ids, a partial INSERT at the end of
    /// each batch) stores what the row reader reads back, in id order; a second import replaces
    /// the first whole.
    #[tokio::test]
    async fn dataset_write_round_trips_and_replaces_the_previous_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), "ws", Synchronous::Normal).await.unwrap();
        let n = DATASET_BATCH_ROWS * 2 + DATASET_INSERT_ROWS + 5;
        let first = scrambled_dataset(n, 3);
        assert!(!first.features.is_sorted_by_key(|f| f.id), "the test writes unsorted ids");
        let v1 = store.replace_dataset(&first, "a.csv").await.unwrap();
        assert_eq!((v1.version, v1.feature_count), (1, n));
        let mut expected = first.features.clone();
        expected.sort_by_key(|f| f.id);
        assert_eq!(store.dataset_features(&v1).await.unwrap(), expected);

        let second = scrambled_dataset(n / 3, 5);
        let v2 = store.replace_dataset(&second, "b.csv").await.unwrap();
        assert_eq!((v2.version, v2.feature_count, v2.source.as_str()), (2, n / 3, "b.csv"));
        assert_eq!(store.datasets().await.unwrap(), vec![v2.clone()]);
        let mut expected = second.features.clone();
        expected.sort_by_key(|f| f.id);
        assert_eq!(store.dataset_features(&v2).await.unwrap(), expected);
        let rows: i64 =
            sqlx::query_scalar("SELECT count(*) FROM dataset_features").fetch_one(&store.reader).await.unwrap();
        assert_eq!(rows as usize, n / 3, "the first version's rows are gone");
    }

    /// The bulk read gives what the row-by-row read gives, entry for entry (bodies, links and
    /// all), over more than one batch, and leaves deleted entries out.
    #[tokio::test]
    async fn bulk_read_matches_the_row_reader() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), "ws", Synchronous::Normal).await.unwrap();
        let count = BULK_BATCH_ROWS * 2 + 7;
        let seed = crate::store::Seed::demo(11, count, false);
        store.seed(&seed).await.unwrap();
        sqlx::query("UPDATE entries SET deleted = 1 WHERE id IN (3, 2050)").execute(&store.writer).await.unwrap();
        let mut read = Vec::new();
        let n = store.for_each_entry(&mut |e| read.push(e)).await.unwrap();
        assert_eq!((n, read.len()), (count - 2, count - 2));
        assert!(read.windows(2).all(|w| w[0].id < w[1].id), "in id order");
        assert!(read.iter().all(|e| e.id != 3 && e.id != 2050), "deleted entries left out");
        assert!(read.iter().any(|e| !e.links.is_empty()), "the seed has links to compare");
        for e in &read {
            assert_eq!(Some(e), store.entry(e.id).await.unwrap().as_ref(), "entry {}", e.id);
        }
    }

    #[test]
    fn fts_queries_are_quoted() {
        assert_eq!(fts_query("colis  suspect").as_deref(), Some("\"colis\"* \"suspect\"*"));
        assert_eq!(fts_query("a\"b OR c").as_deref(), Some("\"ab\"* \"OR\"* \"c\"*"));
        assert_eq!(fts_query("  "), None);
    }
}
