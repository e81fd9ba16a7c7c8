//! The production store: PostgreSQL 15 with PostGIS 3, shared by several vigie replicas.
//!
//! Writes take the workspace's counter row (`workspaces.last_seq`, `last_entry`) with a row lock
//! inside their transaction, so event numbers and entry ids are gap-free and in commit order
//! across replicas; every write ends with `pg_notify('vigie_events', 'workspace:seq:process')`
//! so the other replicas apply the change feed at once. A group of creations is one statement
//! (one round trip, the lock held for its execution and commit only), and several groups may be
//! in flight. A dataset version is a table of its own, filled by a binary COPY in the
//! transaction that switches the dataset to it. Geometries are `geometry(…, 4326)`; times
//! `timestamptz`.

use super::codec::{
    self, dataset_feature_from_row, dataset_info_from_row, entry_from_row, event_from_row, from_json, from_wkb,
    in_id_order, migrator, revision_from_row, to_json, to_wkb, write_ewkb_4326, write_json, write_props_json,
};
use super::pgcopy::CopyRows;
use super::{
    Attachment, Change, ChangeError, ChangeFn, Commit, DatasetInfo, EntryQuery, Event, EventDraft, Seed, Store,
    StoreError, creation_commits, number_creations,
};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgConnection, PgPool, Postgres, QueryBuilder, Row};
use std::str::FromStr;
use std::time::Duration;
use vigie_layers::dataset::{Dataset, DatasetFeature};
use vigie_layers::feature::{Qualification, QualificationSet};
use vigie_layers::journal::{Revision, created};
use vigie_layers::model::{Entry, Perimeter, Venue, Window};
use vigie_layers::text::fold;

/// Leaves a wake-up for the change-feed reader (a full channel already holds one); false
/// when the reader is gone.
fn poke(wake: &tokio::sync::mpsc::Sender<()>) -> bool {
    !matches!(wake.try_send(()), Err(tokio::sync::mpsc::error::TrySendError::Closed(())))
}

/// Channel of the change-feed notifications.
pub const CHANNEL: &str = "vigie_events";
/// Channel of the messages between replicas ([`Store::broadcast`]).
pub const MESSAGES: &str = "vigie_messages";

/// In order and append-only: a store made by an earlier version has a prefix of them applied.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../migrations/postgres/0001_init.sql")),
    (2, "identity", include_str!("../../../migrations/postgres/0002_identity.sql")),
    (3, "catalog", include_str!("../../../migrations/postgres/0003_catalog.sql")),
    (4, "territory", include_str!("../../../migrations/postgres/0004_territory.sql")),
    (5, "territory_scopes", include_str!("../../../migrations/postgres/0005_territory_scopes.sql")),
    (6, "escalation", include_str!("../../../migrations/postgres/0006_escalation.sql")),
    (7, "reports", include_str!("../../../migrations/postgres/0007_reports.sql")),
    (8, "staffing", include_str!("../../../migrations/postgres/0008_staffing.sql")),
    (9, "dataset_tables", include_str!("../../../migrations/postgres/0009_dataset_tables.sql")),
];

/// Migrations that stores ran in another text than the one kept, each with the checksum
/// (SHA-384, hex) of that other text. The texts differ in comments only, so such a store holds
/// the same schema; its recorded checksum is set to the kept text's before the migrator
/// compares them, otherwise the store would refuse to open. Append-only, like the migrations.
const SUPERSEDED: &[(i64, &str)] = &[
    // 0009 as 84488e2 to a5a8ade shipped it ("a third of a COPY's time"); 338f279 edited that
    // comment ("a quarter"), and its text is the one kept.
    (9, "8a112be0bc17fd95973f2d7d5a626c4bd4f2614eb7d95465777b6e50f5ba456aee12242b5eb732d2ed742bd61bcf8fa6"),
];

/// Sets the checksum a store recorded for a [`SUPERSEDED`] text to the kept text's.
async fn accept_superseded(pool: &PgPool, migrator: &sqlx::migrate::Migrator) -> Result<(), sqlx::Error> {
    let migrated: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(pool).await?;
    if !migrated {
        return Ok(());
    }
    for (version, edited) in SUPERSEDED {
        let Some(kept) = migrator.iter().find(|m| m.version == *version) else { continue };
        let done = sqlx::query(
            "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2 AND encode(checksum, 'hex') = $3",
        )
        .bind(&*kept.checksum)
        .bind(version)
        .bind(edited)
        .execute(pool)
        .await?;
        if done.rows_affected() > 0 {
            tracing::info!(version, "the store ran an edited text of this migration (comments only): accepted");
        }
    }
    Ok(())
}

/// Rows per multi-row INSERT (PostgreSQL binds at most 65,535 parameters).
const BATCH_ROWS: usize = 1000;

/// Columns of an entry row as read (geometry as WKB, times as epoch ms).
const ENTRY_SELECT: &str = "id, version::bigint AS version, title, body, tags::text AS tags, \
     severity::bigint AS severity, qualification, \
     (extract(epoch FROM occurred_at) * 1000)::bigint AS occurred_at, \
     (extract(epoch FROM reported_at) * 1000)::bigint AS reported_at, \
     (extract(epoch FROM recorded_at) * 1000)::bigint AS recorded_at, \
     author, source, location, links::text AS links, attachments::text AS attachments, \
     ST_AsBinary(geom) AS geometry, deleted";

/// Connection settings of the PostgreSQL store.
#[derive(Clone)]
pub struct PgSettings {
    /// `postgres://…` (a secret: never logged; `Debug` redacts it).
    pub url: String,
    /// Connections in the pool.
    pub pool_size: u32,
    /// `statement_timeout` of every connection, milliseconds.
    pub statement_timeout_ms: u64,
    /// Groups of log creations committed at once ([`Store::commits_in_flight`]), at least 1.
    pub commits_in_flight: usize,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &"<redacted>")
            .field("pool_size", &self.pool_size)
            .field("statement_timeout_ms", &self.statement_timeout_ms)
            .field("commits_in_flight", &self.commits_in_flight)
            .finish()
    }
}

/// The PostgreSQL store of one workspace.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Connections of the `LISTEN`ers ([`Store::change_notifications`], [`Store::messages`]):
    /// each holds one for as long as it listens, so they are not taken from `pool`, whose
    /// `pool_size` stays for queries (two listeners in a pool of two left none).
    listeners: PgPool,
    workspace: String,
    /// Groups of creations committed at once ([`Store::commits_in_flight`]).
    in_flight: usize,
}

/// Most listening connections of a workspace's store: its two listeners, and those of a state
/// being replaced (a catalog change), which end at their next notification.
const MAX_LISTENERS: u32 = 8;

impl PgStore {
    /// Connects, migrates the schema and registers the workspace.
    ///
    /// # Errors
    /// [`StoreError`] without the connection string in it.
    pub async fn open(settings: &PgSettings, workspace: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&settings.url)
            .map_err(|_| StoreError::Config("DATABASE_URL is not a valid postgres:// URL".into()))?;
        let timeout = settings.statement_timeout_ms;
        let pool = PgPoolOptions::new()
            .max_connections(settings.pool_size.max(2))
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute(format!("SET statement_timeout = {timeout}").as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await?;
        let listeners = PgPoolOptions::new()
            .max_connections(MAX_LISTENERS)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        let migrator = migrator(MIGRATIONS);
        accept_superseded(&pool, &migrator).await?;
        migrator.run(&pool).await.map_err(StoreError::Migrate)?;
        sqlx::query("INSERT INTO workspaces (id, title) VALUES ($1, $1) ON CONFLICT (id) DO NOTHING")
            .bind(workspace)
            .execute(&pool)
            .await?;
        Ok(Self { pool, listeners, workspace: workspace.to_owned(), in_flight: settings.commits_in_flight.max(1) })
    }

    /// A dedicated connection listening to the change feed.
    ///
    /// # Errors
    /// When the database cannot be reached.
    async fn listener(&self) -> Result<sqlx::postgres::PgListener, StoreError> {
        let mut l = sqlx::postgres::PgListener::connect_with(&self.listeners).await?;
        l.listen(CHANNEL).await?;
        Ok(l)
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Listens to [`CHANNEL`] and sends a wake-up on `wake` for each notification of another
    /// process's change to this workspace and after each (re)connection, until the receiver is
    /// dropped. A lost connection is retried every
    /// second.
    async fn listen(self, wake: tokio::sync::mpsc::Sender<()>) {
        loop {
            match self.listener().await {
                Ok(mut listener) => {
                    // Connected: what was committed while we were not listening is in the feed.
                    if !poke(&wake) {
                        return;
                    }
                    loop {
                        match listener.try_recv().await {
                            // This process's own commits are applied by their writers, and
                            // other workspaces' are not this feed's.
                            Ok(Some(n)) if !self.concerns_this_feed(n.payload()) => {}
                            // A notification, or a dropped connection that sqlx re-established
                            // on this call: read the feed either way.
                            Ok(_) => {
                                if !poke(&wake) {
                                    return;
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "change-feed listener failed; reconnecting");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot listen to the change feed; retrying"),
            }
            if wake.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The end of this process's change notifications: `:<nonce>` after `workspace:seq`.
    fn notification_suffix() -> String {
        format!(":{:016x}", crate::process_nonce())
    }

    /// Whether a change notification (`workspace:seq:process`) may announce events this
    /// process has not applied: another process's, of this workspace (or one it cannot read).
    fn concerns_this_feed(&self, payload: &str) -> bool {
        payload.split(':').next() == Some(self.workspace.as_str()) && !payload.ends_with(&Self::notification_suffix())
    }

    /// Takes the next `n` values of a workspace counter under the row lock.
    async fn next(&self, conn: &mut PgConnection, column: &str, n: i64) -> Result<i64, StoreError> {
        let q = format!("UPDATE workspaces SET {column} = {column} + $2 WHERE id = $1 RETURNING {column}");
        let v: i64 = sqlx::query_scalar(&q).bind(&self.workspace).bind(n).fetch_one(&mut *conn).await?;
        Ok(v)
    }

    /// Drops the features tables no dataset reads any more: the version an import replaced,
    /// and any a crash or a reader holding it kept from being dropped before. A table another
    /// import is filling is not seen (its creation is not committed). Each drop waits at most
    /// a second for the readers of the table; one still read is dropped after a later import.
    async fn drop_retired_tables(&self) {
        let retired: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_class c WHERE c.relkind = 'r' \
             AND c.relnamespace = current_schema()::regnamespace AND c.relname ~ '^dataset_features_[0-9]+$' \
             AND NOT EXISTS (SELECT 1 FROM datasets d WHERE d.features_table = c.relname::text)",
        )
        .fetch_all(&self.pool)
        .await;
        for table in retired.unwrap_or_default() {
            let Ok(table) = features_table(&table) else { continue };
            let dropped = async {
                let mut tx = self.pool.begin().await?;
                tx.execute("SET LOCAL lock_timeout = 1000").await?;
                tx.execute(format!("DROP TABLE IF EXISTS {table}").as_str()).await?;
                tx.commit().await
            };
            if let Err(e) = dropped.await {
                tracing::info!(table, error = %e, "a replaced dataset version is still read; dropped after a later import");
            }
        }
    }

    /// Inserts entries with their ids and versions as they are, and their creation revisions
    /// (the seed), [`ENTRY_CHUNK`] rows per statement.
    async fn insert_entries(&self, conn: &mut PgConnection, entries: &[Entry]) -> Result<(), StoreError> {
        let sql = format!("WITH b AS (SELECT $2::bigint AS id0), {ENTRY_ROWS} SELECT count(*) FROM r");
        for chunk in entries.chunks(ENTRY_CHUNK) {
            let columns = EntryColumns::of(chunk.iter().map(|e| (e, None)), false)?;
            columns.bind(sqlx::query(&sql).bind(&self.workspace).bind(0i64)).execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn insert_revisions(&self, conn: &mut PgConnection, revisions: &[(u64, Revision)]) -> Result<(), StoreError> {
        codec::insert_revisions::<Postgres>(&self.workspace, revisions).build().execute(&mut *conn).await?;
        Ok(())
    }

    /// Numbers and appends an event, then notifies the replicas (delivered at commit).
    async fn append_event(
        &self,
        conn: &mut PgConnection,
        entry: &Entry,
        draft: EventDraft,
        actor: &str,
    ) -> Result<Event, StoreError> {
        let seq = self.next(conn, "last_seq", 1).await?;
        let event = Event::numbered(seq as u64, entry, draft, actor, crate::now_ms());
        self.insert_events(conn, std::slice::from_ref(&event)).await?;
        Ok(event)
    }

    /// Appends numbered events, then notifies the replicas once (delivered at commit).
    async fn insert_events(&self, conn: &mut PgConnection, events: &[Event]) -> Result<(), StoreError> {
        for chunk in events.chunks(BATCH_ROWS) {
            codec::insert_events::<Postgres>(&self.workspace, chunk).build().execute(&mut *conn).await?;
        }
        if let Some(last) = events.last() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(format!("{}:{}{}", self.workspace, last.seq, Self::notification_suffix()))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

/// Entries inserted by one seed statement.
const ENTRY_CHUNK: usize = 5000;

/// The rows `r` of entries, one array per column ([`EntryColumns`], `$3` to `$23`), inserted
/// with their creation revisions; `b.id0` is added to each row's id (the ids as they are, or the
/// positions in a group of creations numbered after the workspace's last entry).
const ENTRY_ROWS: &str = "r AS (SELECT * FROM unnest($3::bigint[], $4::int[], $5::text[], $6::text[], \
     $7::text[]::jsonb[], $8::int2[], $9::text[], $10::float8[], $11::float8[], $12::float8[], $13::text[], \
     $14::text[], $15::text[], $16::text[]::jsonb[], $17::text[]::jsonb[], $18::bytea[], $19::bool[], $20::text[], \
     $21::text[]::jsonb[], $22::text[]::jsonb[], $23::text[]::jsonb[]) AS r(id, version, title, body, tags, severity, \
     qualification, occurred_at, reported_at, recorded_at, author, source, location, links, attachments, wkb, \
     deleted, search_text, changes, layers, bbox)), \
     e AS (INSERT INTO entries (workspace, id, version, title, body, tags, severity, qualification, occurred_at, \
     reported_at, recorded_at, author, source, location, links, attachments, geom, deleted, search_text) \
     SELECT $1, b.id0 + r.id, r.version, r.title, r.body, r.tags, r.severity, r.qualification, \
     to_timestamp(r.occurred_at), to_timestamp(r.reported_at), to_timestamp(r.recorded_at), r.author, r.source, \
     r.location, r.links, r.attachments, ST_GeomFromWKB(r.wkb, 4326), r.deleted, r.search_text FROM b, r), \
     v AS (INSERT INTO entry_revisions (workspace, entry_id, version, action, actor, at, changes) \
     SELECT $1, b.id0 + r.id, r.version, 'created', r.author, to_timestamp(r.recorded_at), r.changes FROM b, r)";

/// A group of creations in one statement: `$2` entries numbered after the workspace's last
/// entry and event under its row lock, their rows, revisions and events (time `$24`), and the
/// notification on channel `$25` (`workspace:last seq` then `$26`, the process's suffix).
static CREATE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH b AS (UPDATE workspaces SET last_seq = last_seq + $2, last_entry = last_entry + $2 WHERE id = $1 \
         RETURNING last_seq - $2 AS seq0, last_entry - $2 AS id0), {ENTRY_ROWS}, \
         ev AS (INSERT INTO events (workspace, seq, kind, entry_id, version, actor, at, layers, bbox) \
         SELECT $1, b.seq0 + r.id, 'entry.created', b.id0 + r.id, r.version, r.author, to_timestamp($24), r.layers, \
         r.bbox FROM b, r) \
         SELECT b.seq0, b.id0, pg_notify($25, $1 || ':' || (b.seq0 + $2) || $26) FROM b"
    )
});

/// Entries as the columns of [`ENTRY_ROWS`].
#[derive(Default)]
struct EntryColumns<'a> {
    id: Vec<i64>,
    version: Vec<i32>,
    title: Vec<&'a str>,
    body: Vec<&'a str>,
    tags: Vec<String>,
    severity: Vec<i16>,
    qualification: Vec<&'a str>,
    occurred_at: Vec<f64>,
    reported_at: Vec<f64>,
    recorded_at: Vec<f64>,
    author: Vec<&'a str>,
    source: Vec<&'a str>,
    location: Vec<Option<&'a str>>,
    links: Vec<String>,
    attachments: Vec<String>,
    wkb: Vec<Vec<u8>>,
    deleted: Vec<bool>,
    search_text: Vec<String>,
    changes: Vec<String>,
    layers: Vec<String>,
    bbox: Vec<Option<String>>,
}

impl<'a> EntryColumns<'a> {
    /// The columns of `rows` (an entry and, for a creation, its event): as they are, or when
    /// `numbered` (a group of creations the statement numbers) with ids 1, 2, 3… and version 1.
    fn of(rows: impl Iterator<Item = (&'a Entry, Option<&'a EventDraft>)>, numbered: bool) -> Result<Self, StoreError> {
        let mut c = Self::default();
        for ((e, draft), i) in rows.zip(1..) {
            c.id.push(if numbered { i } else { e.id as i64 });
            c.version.push(if numbered { 1 } else { e.version as i32 });
            c.title.push(&e.title);
            c.body.push(&e.body);
            c.tags.push(to_json(&e.tags));
            c.severity.push(i16::from(e.severity));
            c.qualification.push(e.qualification.as_str());
            c.occurred_at.push(e.occurred_at as f64 / 1000.0);
            c.reported_at.push(e.reported_at as f64 / 1000.0);
            c.recorded_at.push(e.recorded_at as f64 / 1000.0);
            c.author.push(&e.author);
            c.source.push(&e.source);
            c.location.push(e.location.as_deref());
            c.links.push(to_json(&e.links));
            c.attachments.push(to_json(&e.attachments));
            c.wkb.push(to_wkb(&e.geometry, "entry", &e.id.to_string())?);
            c.deleted.push(e.deleted);
            c.search_text.push(search_text(e));
            // A creation's changes name the fields, not the id or the version.
            c.changes.push(to_json(&created(e).changes));
            if let Some(d) = draft {
                c.layers.push(to_json(&d.layers));
                c.bbox.push(d.bbox.map(|b| to_json(&b)));
            }
        }
        Ok(c)
    }

    /// Binds `$3` to `$23` after `$1` and `$2`.
    fn bind(
        self,
        q: sqlx::query::Query<'a, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'a, Postgres, sqlx::postgres::PgArguments> {
        q.bind(self.id)
            .bind(self.version)
            .bind(self.title)
            .bind(self.body)
            .bind(self.tags)
            .bind(self.severity)
            .bind(self.qualification)
            .bind(self.occurred_at)
            .bind(self.reported_at)
            .bind(self.recorded_at)
            .bind(self.author)
            .bind(self.source)
            .bind(self.location)
            .bind(self.links)
            .bind(self.attachments)
            .bind(self.wkb)
            .bind(self.deleted)
            .bind(self.search_text)
            .bind(self.changes)
            .bind(self.layers)
            .bind(self.bbox)
    }
}

/// Accent- and case-folded text searched by `q` (title, body, place).
fn search_text(e: &Entry) -> String {
    fold(&format!("{} {} {}", e.title, e.body, e.location.as_deref().unwrap_or("")))
}

/// A `to_tsquery` text from user words: each word folded, kept to letters and digits, prefix
/// matched; words joined with AND. Nothing the user types is interpreted as syntax.
fn ts_query(text: &str) -> Option<String> {
    let words: Vec<String> = fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("{w}:*"))
        .collect();
    (!words.is_empty()).then(|| words.join(" & "))
}

/// A read-only transaction for reading a whole table at start-up or on a dataset swap: one
/// snapshot, and no statement timeout — the configured one bounds requests, and a million-row
/// read legitimately takes longer.
async fn bulk_read(pool: &PgPool) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    sqlx::query("SET LOCAL statement_timeout = 0").execute(&mut *tx).await?;
    Ok(tx)
}

/// A dataset's features table name as the database gave it (`dataset_features_<n>`, made by
/// `vigie_new_dataset_table()`), checked before it is written into SQL.
fn features_table(name: &str) -> Result<&str, StoreError> {
    let digits = name.strip_prefix("dataset_features_").unwrap_or_default();
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(name)
    } else {
        Err(StoreError::Corrupt { what: "dataset table", id: name.to_owned(), reason: "not a features table".into() })
    }
}

/// Bytes of COPY data encoded before they are sent: the server parses one chunk while the
/// next is encoded.
const COPY_CHUNK: usize = 1 << 20;

/// Streams a dataset's features, in id order, into `table` (created in this transaction) with
/// a binary COPY: geometries as EWKB, properties and tags as JSON text, no statement per row.
/// The rows are written frozen, as a table created in the same transaction allows: no later
/// vacuum has to visit them.
async fn copy_features(conn: &mut PgConnection, table: &str, dataset: &Dataset) -> Result<(), StoreError> {
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY {table} (id, geom, props, time, severity, tags) FROM STDIN (FORMAT binary, FREEZE)"
        ))
        .await?;
    let mut rows = CopyRows::new();
    for f in in_id_order(&dataset.features) {
        rows.row(6);
        rows.int8(f.id as i64);
        if let Err(e) = rows.field(|out| write_ewkb_4326(&f.geometry, out, "dataset feature", f.id)) {
            // The transaction is rolled back; the server needs only to leave the COPY.
            let _ = copy.abort("a feature could not be encoded").await;
            return Err(e);
        }
        rows.text(|out| write_props_json(&f.props, out));
        rows.timestamptz_ms(f.time_ms);
        rows.int2(f.severity.map(i16::from));
        rows.text(|out| write_json(&f.tags, out));
        if rows.bytes().len() >= COPY_CHUNK {
            copy.send(rows.bytes()).await?;
            rows.clear();
        }
    }
    rows.finish();
    copy.send(rows.bytes()).await?;
    copy.finish().await?;
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn postgis_pool(&self) -> Option<&PgPool> {
        Some(&self.pool)
    }

    fn commits_in_flight(&self) -> usize {
        self.in_flight
    }

    fn links(&self) -> std::sync::Arc<dyn crate::escalation::store::LinkStore> {
        std::sync::Arc::new(crate::escalation::store::SqlLinks::new(self.pool.clone(), self.pool.clone()))
    }

    fn reports(&self) -> std::sync::Arc<dyn crate::reports::store::ReportStore> {
        std::sync::Arc::new(crate::reports::store::SqlReports::new(self.pool.clone(), self.pool.clone()))
    }

    fn staffing(&self) -> std::sync::Arc<dyn crate::staffing::store::StaffingStore> {
        std::sync::Arc::new(crate::staffing::store::SqlStaffing::new(self.pool.clone(), self.pool.clone()))
    }

    fn identity(&self) -> std::sync::Arc<dyn crate::identity::store::IdentityStore> {
        std::sync::Arc::new(crate::identity::store::SqlIdentity::new(self.pool.clone(), self.pool.clone(), "BEGIN"))
    }

    async fn broadcast(&self, message: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)").bind(MESSAGES).bind(message).execute(&self.pool).await?;
        Ok(())
    }

    fn messages(&self) -> Option<tokio::sync::mpsc::Receiver<String>> {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let pool = self.listeners.clone();
        tokio::spawn(async move {
            // A lost connection loses what was sent meanwhile: news, not the record (clients
            // read the reports again when they reconnect).
            while !tx.is_closed() {
                let listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut l) => l.listen(MESSAGES).await.map(|()| l),
                    Err(e) => Err(e),
                };
                match listener {
                    Ok(mut listener) => loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => {
                                if tx.send(n.payload().to_owned()).await.is_err() {
                                    return;
                                }
                            }
                            Ok(None) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "replica messages listener failed; reconnecting");
                                break;
                            }
                        }
                    },
                    Err(e) => tracing::warn!(error = %e, "cannot listen to replica messages; retrying"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Some(rx)
    }

    fn change_notifications(&self) -> Option<tokio::sync::mpsc::Receiver<()>> {
        // A wake-up only says "read the feed": one pending is as good as many.
        let (wake, woken) = tokio::sync::mpsc::channel(1);
        tokio::spawn(self.clone().listen(wake));
        Some(woken)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn is_empty(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM venues WHERE workspace = $1) + (SELECT count(*) FROM entries WHERE workspace = $1)",
        )
        .bind(&self.workspace)
        .fetch_one(&self.pool)
        .await?;
        Ok(n == 0)
    }

    async fn seed(&self, seed: &Seed) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for chunk in seed.venues.chunks(BATCH_ROWS) {
            let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
                "INSERT INTO venues (workspace, code, name, kind, city, geom, sports, olympic_start, olympic_end, paralympic_start, paralympic_end) ",
            );
            q.push_values(chunk, |mut b, v| {
                let t = |w: Option<Window>, end: bool| w.map(|w| (if end { w.end } else { w.start }) as f64 / 1000.0);
                b.push_bind(&self.workspace)
                    .push_bind(&v.code)
                    .push_bind(&v.name)
                    .push_bind(&v.kind)
                    .push_bind(&v.city)
                    .push("ST_SetSRID(ST_MakePoint(")
                    .push_bind_unseparated(v.lon)
                    .push_unseparated(", ")
                    .push_bind_unseparated(v.lat)
                    .push_unseparated("), 4326)")
                    .push_bind(to_json(&v.sports))
                    .push_unseparated("::jsonb")
                    .push("to_timestamp(")
                    .push_bind_unseparated(t(v.olympic, false))
                    .push_unseparated(")")
                    .push("to_timestamp(")
                    .push_bind_unseparated(t(v.olympic, true))
                    .push_unseparated(")")
                    .push("to_timestamp(")
                    .push_bind_unseparated(t(v.paralympic, false))
                    .push_unseparated(")")
                    .push("to_timestamp(")
                    .push_bind_unseparated(t(v.paralympic, true))
                    .push_unseparated(")");
            });
            q.build().execute(&mut *tx).await?;
        }
        for chunk in seed.perimeters.chunks(BATCH_ROWS) {
            let rows = codec::perimeter_rows(chunk)?;
            let mut q: QueryBuilder<Postgres> =
                QueryBuilder::new("INSERT INTO perimeters (workspace, id, venue, kind, geom, windows) ");
            q.push_values(rows, |mut b, (p, wkb, windows)| {
                b.push_bind(&self.workspace)
                    .push_bind(p.id as i64)
                    .push_bind(&p.venue)
                    .push_bind(&p.kind)
                    .push("ST_GeomFromWKB(")
                    .push_bind_unseparated(wkb)
                    .push_unseparated(", 4326)")
                    .push_bind(windows)
                    .push_unseparated("::jsonb");
            });
            q.build().execute(&mut *tx).await?;
        }
        self.insert_entries(&mut tx, &seed.entries).await?;
        let max = seed.entries.iter().map(|e| e.id).max().unwrap_or(0) as i64;
        sqlx::query("UPDATE workspaces SET last_entry = greatest(last_entry, $2) WHERE id = $1")
            .bind(&self.workspace)
            .bind(max)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn venues(&self) -> Result<Vec<Venue>, StoreError> {
        let rows = sqlx::query(
            "SELECT code, name, kind, city, ST_X(geom) AS lon, ST_Y(geom) AS lat, sports::text AS sports, \
             (extract(epoch FROM olympic_start) * 1000)::bigint AS os, (extract(epoch FROM olympic_end) * 1000)::bigint AS oe, \
             (extract(epoch FROM paralympic_start) * 1000)::bigint AS ps, (extract(epoch FROM paralympic_end) * 1000)::bigint AS pe \
             FROM venues WHERE workspace = $1 ORDER BY code",
        )
        .bind(&self.workspace)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let code: String = r.try_get("code")?;
                let w = |a: Option<i64>, b: Option<i64>| Some(Window { start: a?, end: b? });
                Ok(Venue {
                    sports: from_json(r.try_get("sports")?, "venue", &code)?,
                    name: r.try_get("name")?,
                    kind: r.try_get("kind")?,
                    city: r.try_get("city")?,
                    lon: r.try_get("lon")?,
                    lat: r.try_get("lat")?,
                    olympic: w(r.try_get("os")?, r.try_get("oe")?),
                    paralympic: w(r.try_get("ps")?, r.try_get("pe")?),
                    code,
                })
            })
            .collect()
    }

    async fn perimeters(&self) -> Result<Vec<Perimeter>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, venue, kind, ST_AsBinary(geom) AS wkb, windows::text AS windows FROM perimeters WHERE workspace = $1 ORDER BY id",
        )
        .bind(&self.workspace)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.try_get("id")?;
                let sid = id.to_string();
                let windows: Vec<(i64, i64)> = from_json(r.try_get("windows")?, "perimeter", &sid)?;
                Ok(Perimeter {
                    id: id as u64,
                    venue: r.try_get("venue")?,
                    kind: r.try_get("kind")?,
                    geometry: from_wkb(r.try_get("wkb")?, "perimeter", &sid)?,
                    windows: windows.into_iter().map(|(start, end)| Window { start, end }).collect(),
                })
            })
            .collect()
    }

    async fn for_each_entry(&self, sink: &mut (dyn FnMut(Entry) + Send)) -> Result<usize, StoreError> {
        let q = format!("SELECT {ENTRY_SELECT} FROM entries WHERE workspace = $1 AND NOT deleted ORDER BY id");
        let mut tx = bulk_read(&self.pool).await?;
        let mut n = 0;
        {
            let mut rows = sqlx::query(&q).bind(&self.workspace).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                sink(entry_from_row(&row)?);
                n += 1;
            }
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn create_entries(&self, batch: &[(Entry, EventDraft)]) -> Result<Vec<Commit>, StoreError> {
        // One statement, outside any explicit transaction: the workspace's counters, the rows,
        // their revisions and events and the notification are one round trip, so the counter
        // row's lock is held for the statement and its commit only, and the next group's
        // statement is already at the server, waiting for it.
        let n = batch.len() as i64;
        let at_ms = crate::now_ms();
        let columns = EntryColumns::of(batch.iter().map(|(e, d)| (e, Some(d))), true)?;
        let row = columns
            .bind(sqlx::query(&CREATE_SQL).bind(&self.workspace).bind(n))
            .bind(at_ms as f64 / 1000.0)
            .bind(CHANNEL)
            .bind(Self::notification_suffix())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::Config(format!("workspace '{}' is not in the database", self.workspace)))?;
        let (seq0, id0): (i64, i64) = (row.try_get("seq0")?, row.try_get("id0")?);
        let (entries, events) = number_creations(batch, id0 as u64 + 1, seq0 as u64 + 1, at_ms);
        Ok(creation_commits(entries, events))
    }

    async fn change_entry(&self, id: u64, change: ChangeFn<'_>) -> Result<Commit, ChangeError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        self.next(&mut tx, "last_seq", 0).await?;
        let q = format!("SELECT {ENTRY_SELECT} FROM entries WHERE workspace = $1 AND id = $2 FOR UPDATE");
        let row = sqlx::query(&q)
            .bind(&self.workspace)
            .bind(id as i64)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let current = entry_from_row(&row.ok_or(ChangeError::NotFound)?)?;
        let Change { entry, revision, event: draft } = change(&current)?;
        let wkb = to_wkb(&entry.geometry, "entry", &id.to_string())?;
        sqlx::query(
            "UPDATE entries SET version = $3, title = $4, body = $5, tags = $6::jsonb, severity = $7, qualification = $8, \
             occurred_at = to_timestamp($9), reported_at = to_timestamp($10), author = $11, source = $12, location = $13, \
             links = $14::jsonb, attachments = $15::jsonb, geom = ST_GeomFromWKB($16, 4326), deleted = $17, search_text = $18 \
             WHERE workspace = $1 AND id = $2",
        )
        .bind(&self.workspace)
        .bind(id as i64)
        .bind(entry.version as i32)
        .bind(&entry.title)
        .bind(&entry.body)
        .bind(to_json(&entry.tags))
        .bind(i16::from(entry.severity))
        .bind(entry.qualification.as_str())
        .bind(entry.occurred_at as f64 / 1000.0)
        .bind(entry.reported_at as f64 / 1000.0)
        .bind(&entry.author)
        .bind(&entry.source)
        .bind(&entry.location)
        .bind(to_json(&entry.links))
        .bind(to_json(&entry.attachments))
        .bind(wkb)
        .bind(entry.deleted)
        .bind(search_text(&entry))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        self.insert_revisions(&mut tx, &[(entry.id, revision.clone())]).await?;
        let event = self.append_event(&mut tx, &entry, draft, &revision.actor).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Commit { entry, previous: Some(current), event })
    }

    async fn entry(&self, id: u64) -> Result<Option<Entry>, StoreError> {
        let q = format!("SELECT {ENTRY_SELECT} FROM entries WHERE workspace = $1 AND id = $2");
        sqlx::query(&q)
            .bind(&self.workspace)
            .bind(id as i64)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(entry_from_row)
            .transpose()
    }

    async fn revisions(&self, id: u64) -> Result<Vec<Revision>, StoreError> {
        let rows = sqlx::query(
            "SELECT version::bigint AS version, action, actor, (extract(epoch FROM at) * 1000)::bigint AS at, \
             changes::text AS changes \
             FROM entry_revisions WHERE workspace = $1 AND entry_id = $2 ORDER BY version",
        )
        .bind(&self.workspace)
        .bind(id as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(revision_from_row).collect()
    }

    async fn list_entries(&self, query: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {ENTRY_SELECT} FROM entries WHERE workspace = "));
        q.push_bind(&self.workspace).push(" AND NOT deleted");
        if let Some(t) = query.from_ms {
            q.push(" AND occurred_at >= to_timestamp(").push_bind(t as f64 / 1000.0).push(")");
        }
        if let Some(t) = query.to_ms {
            q.push(" AND occurred_at <= to_timestamp(").push_bind(t as f64 / 1000.0).push(")");
        }
        if let Some(s) = query.min_severity {
            q.push(" AND severity >= ").push_bind(i16::from(s));
        }
        if query.qualifications != QualificationSet::ALL {
            let states: Vec<&str> = query.qualifications.iter().map(Qualification::as_str).collect();
            q.push(" AND qualification = ANY(").push_bind(states).push(")");
        }
        if !query.tags.is_empty() {
            q.push(" AND tags ?| ").push_bind(query.tags.clone());
        }
        if let Some([w, s, e, n]) = query.bbox {
            if w <= e {
                q.push(" AND geom && ST_MakeEnvelope(").push_bind(w).push(", ").push_bind(s).push(", ");
                q.push_bind(e).push(", ").push_bind(n).push(", 4326)");
            } else {
                q.push(" AND (geom && ST_MakeEnvelope(").push_bind(w).push(", ").push_bind(s).push(", 180, ");
                q.push_bind(n).push(", 4326) OR geom && ST_MakeEnvelope(-180, ").push_bind(s).push(", ");
                q.push_bind(e).push(", ").push_bind(n).push(", 4326))");
            }
        }
        if let Some(text) = query.text.as_deref().and_then(ts_query) {
            q.push(" AND to_tsvector('simple', search_text) @@ to_tsquery('simple', ").push_bind(text).push(")");
        }
        if let Some((t, id)) = query.before {
            q.push(" AND (occurred_at, id) < (to_timestamp(").push_bind(t as f64 / 1000.0).push("), ");
            q.push_bind(id as i64).push(")");
        }
        q.push(" ORDER BY occurred_at DESC, id DESC LIMIT ").push_bind(query.limit as i64);
        q.build().fetch_all(&self.pool).await?.iter().map(entry_from_row).collect()
    }

    async fn events_after(&self, seq: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, kind, entry_id, version::bigint AS version, actor, (extract(epoch FROM at) * 1000)::bigint AS at, \
             layers::text AS layers, bbox::text AS bbox FROM events WHERE workspace = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(&self.workspace)
        .bind(seq as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn last_event_seq(&self) -> Result<u64, StoreError> {
        let seq: i64 = sqlx::query_scalar("SELECT last_seq FROM workspaces WHERE id = $1")
            .bind(&self.workspace)
            .fetch_one(&self.pool)
            .await?;
        Ok(seq as u64)
    }

    async fn put_attachment(&self, sha256: &str, media_type: &str, bytes: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO attachments (sha256, media_type, size, bytes) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(sha256)
        .bind(media_type)
        .bind(bytes.len() as i64)
        .bind(bytes)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn attachment(&self, sha256: &str) -> Result<Option<Attachment>, StoreError> {
        let row = sqlx::query("SELECT media_type, bytes FROM attachments WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(codec::attachment_from_row).transpose()
    }

    async fn replace_dataset(&self, dataset: &Dataset, source: &str) -> Result<DatasetInfo, StoreError> {
        let mut tx = self.pool.begin().await?;
        // A million rows take longer than a request may.
        sqlx::query("SET LOCAL statement_timeout = 0").execute(&mut *tx).await?;
        // Serialise imports of the same dataset (and create its row if needed).
        sqlx::query(
            "INSERT INTO datasets (workspace, id, version, schema, source, imported_at, feature_count) \
             VALUES ($1, $2, 0, '[]'::jsonb, '', now(), 0) ON CONFLICT (workspace, id) DO NOTHING",
        )
        .bind(&self.workspace)
        .bind(&dataset.id)
        .execute(&mut *tx)
        .await?;
        let old: i64 = sqlx::query_scalar("SELECT version FROM datasets WHERE workspace = $1 AND id = $2 FOR UPDATE")
            .bind(&self.workspace)
            .bind(&dataset.id)
            .fetch_one(&mut *tx)
            .await?;
        let version = old + 1;
        // A table of its own, created in this transaction: invisible to every other one until
        // the commit, gone with a rollback or a killed process.
        let table: String = sqlx::query_scalar("SELECT vigie_new_dataset_table()").fetch_one(&mut *tx).await?;
        let table = features_table(&table)?;
        copy_features(&mut tx, table, dataset).await?;
        // The key built once over the rows in place costs less than maintained row by row.
        tx.execute(format!("ALTER TABLE {table} ADD PRIMARY KEY (id)").as_str()).await?;
        let info = DatasetInfo {
            id: dataset.id.clone(),
            version: version as u64,
            schema: dataset.schema.clone(),
            source: source.to_owned(),
            imported_at_ms: crate::now_ms(),
            feature_count: dataset.features.len(),
        };
        sqlx::query(
            "UPDATE datasets SET version = $3, schema = $4::jsonb, source = $5, imported_at = to_timestamp($6), \
             feature_count = $7, features_table = $8 WHERE workspace = $1 AND id = $2",
        )
        .bind(&self.workspace)
        .bind(&info.id)
        .bind(version)
        .bind(to_json(&info.schema.fields))
        .bind(&info.source)
        .bind(info.imported_at_ms as f64 / 1000.0)
        .bind(info.feature_count as i64)
        .bind(table)
        .execute(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("{}:dataset:{}", self.workspace, info.id))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.drop_retired_tables().await;
        Ok(info)
    }

    async fn datasets(&self) -> Result<Vec<DatasetInfo>, StoreError> {
        sqlx::query(
            "SELECT id, version, schema::text AS schema, source, \
             (extract(epoch FROM imported_at) * 1000)::bigint AS imported_at, feature_count \
             FROM datasets WHERE workspace = $1 AND version > 0 ORDER BY id",
        )
        .bind(&self.workspace)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(dataset_info_from_row)
        .collect()
    }

    async fn dataset_features(&self, info: &DatasetInfo) -> Result<Vec<DatasetFeature>, StoreError> {
        let mut tx = bulk_read(&self.pool).await?;
        let table: Option<Option<String>> =
            sqlx::query_scalar("SELECT features_table FROM datasets WHERE workspace = $1 AND id = $2 AND version = $3")
                .bind(&self.workspace)
                .bind(&info.id)
                .bind(info.version as i64)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(Some(table)) = table else {
            return Err(StoreError::Corrupt {
                what: "dataset",
                id: info.id.clone(),
                reason: format!("version {} is no longer the current one: read the datasets again", info.version),
            });
        };
        let q = format!(
            "SELECT id, ST_AsBinary(geom) AS geometry, props::text AS props, \
             (extract(epoch FROM time) * 1000)::bigint AS time, severity::bigint AS severity, tags::text AS tags \
             FROM {} ORDER BY id",
            features_table(&table)?
        );
        let mut rows = sqlx::query(&q).fetch(&mut *tx);
        let mut out = Vec::with_capacity(info.feature_count);
        while let Some(r) = rows.try_next().await? {
            out.push(dataset_feature_from_row(&r, &info.schema)?);
        }
        drop(rows);
        tx.commit().await?;
        Ok(out)
    }

    async fn document(&self, name: &str) -> Result<Option<super::StoredDocument>, StoreError> {
        let row = sqlx::query(
            "SELECT version, document, updated_at, updated_by FROM workspace_documents WHERE workspace = $1 AND name = $2",
        )
        .bind(&self.workspace)
        .bind(name)
        .fetch_optional(&self.pool)
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
             SELECT $1, $2, $3, $4, $5, 1 WHERE $6 = 0 ON CONFLICT (workspace, name) DO NOTHING"
        } else {
            "UPDATE workspace_documents SET document = $3, updated_at = $4, updated_by = $5, version = version + 1 \
             WHERE workspace = $1 AND name = $2 AND version = $6"
        };
        let done = sqlx::query(sql)
            .bind(&self.workspace)
            .bind(name)
            .bind(document)
            .bind(crate::now_ms())
            .bind(actor)
            .bind(expected as i64)
            .execute(&self.pool)
            .await?;
        Ok((done.rows_affected() == 1).then_some(expected + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::ts_query;

    #[test]
    fn ts_queries_keep_words_only() {
        assert_eq!(ts_query("Hôtel  fumée").as_deref(), Some("hotel:* & fumee:*"));
        assert_eq!(ts_query("a' | b & !c").as_deref(), Some("a:* & b:* & c:*"));
        assert_eq!(ts_query(" ' "), None);
    }
}
