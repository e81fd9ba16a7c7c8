//! The embedded store: one SQLite file under the data directory, so `vigie serve` needs
//! nothing installed.
//!
//! WAL journal with `synchronous = NORMAL` by default: a committed transaction survives a crash
//! or `kill -9` of vigie; `synchronous = FULL` (config `sqlite_synchronous = "full"`) also
//! survives a power cut at the cost of one fsync per commit.

use super::codec::{from_json, from_wkb, to_json, to_wkb};
use super::{Seed, Store, StoreError};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use vigie_layers::model::{Entry, Link, Perimeter, Venue, Window};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "vigie.db";

/// Migrations embedded in the binary, so it runs from any directory.
const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "init", include_str!("../../../migrations/sqlite/0001_init.sql"))];

/// Rows per multi-row INSERT when seeding (16 columns × 400 rows stays under SQLite's 32,766
/// bound parameters).
const BATCH_ROWS: usize = 400;

/// Durability of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Survives a process crash (WAL + NORMAL).
    #[default]
    Normal,
    /// Also survives a power cut (fsync on every commit).
    Full,
}

fn migrator() -> Migrator {
    let migrations: Vec<Migration> = MIGRATIONS
        .iter()
        .map(|(v, d, sql)| Migration::new(*v, Cow::Borrowed(*d), MigrationType::Simple, Cow::Borrowed(*sql), false))
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// The SQLite store of one workspace.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    workspace: String,
}

impl SqliteStore {
    /// Opens (creating if needed) `DIR/vigie.db`, migrates it and registers the workspace.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the directory cannot be created; database and migration
    /// errors otherwise.
    pub async fn open(data_dir: &Path, workspace: &str, sync: Synchronous) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Open {
            path: data_dir.display().to_string(),
            source,
        })?;
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(StoreError::Database)?
            .filename(data_dir.join(DB_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match sync {
                Synchronous::Normal => SqliteSynchronous::Normal,
                Synchronous::Full => SqliteSynchronous::Full,
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        migrator().run(&pool).await.map_err(StoreError::Migrate)?;
        sqlx::query("INSERT OR IGNORE INTO workspaces (id, title, created_at) VALUES (?, ?, ?)")
            .bind(workspace)
            .bind(workspace)
            .bind(now_ms())
            .execute(&pool)
            .await?;
        Ok(Self {
            pool,
            workspace: workspace.to_owned(),
        })
    }
}

/// Current time, epoch milliseconds.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn window(start: Option<i64>, end: Option<i64>) -> Option<Window> {
    Some(Window {
        start: start?,
        end: end?,
    })
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

fn entry_from_row(r: &SqliteRow) -> Result<Entry, StoreError> {
    let id: i64 = r.try_get("id")?;
    let sid = id.to_string();
    let qualification: &str = r.try_get("qualification")?;
    let severity: i64 = r.try_get("severity")?;
    let version: i64 = r.try_get("version")?;
    Ok(Entry {
        id: id as u64,
        version: version as u32,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        tags: from_json(r.try_get("tags")?, "entry", &sid)?,
        severity: severity as u8,
        qualification: qualification
            .parse()
            .map_err(|e: vigie_layers::feature::UnknownQualification| StoreError::Corrupt {
                what: "entry",
                id: sid.clone(),
                reason: e.to_string(),
            })?,
        occurred_at: r.try_get("occurred_at")?,
        reported_at: r.try_get("reported_at")?,
        recorded_at: r.try_get("recorded_at")?,
        author: r.try_get("author")?,
        source: r.try_get("source")?,
        location: r.try_get("location")?,
        links: from_json::<Vec<Link>>(r.try_get("links")?, "entry", &sid)?,
        geometry: from_wkb(r.try_get("geometry")?, "entry", &sid)?,
        deleted: r.try_get::<i64, _>("deleted")? != 0,
    })
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn is_empty(&self) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM venues WHERE workspace = ?1) + (SELECT count(*) FROM entries WHERE workspace = ?1)",
        )
        .bind(&self.workspace)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>(0)? == 0)
    }

    async fn seed(&self, seed: &Seed) -> Result<(), StoreError> {
        let ws = self.workspace.as_str();
        let mut tx = self.pool.begin().await?;
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
            let rows = chunk
                .iter()
                .map(|p| {
                    let windows: Vec<(i64, i64)> = p.windows.iter().map(|w| (w.start, w.end)).collect();
                    Ok((
                        p,
                        to_wkb(&p.geometry, "perimeter", &p.id.to_string())?,
                        to_json(&windows),
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
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
        for chunk in seed.entries.chunks(BATCH_ROWS) {
            let rows = chunk
                .iter()
                .map(|e| Ok((e, to_wkb(&e.geometry, "entry", &e.id.to_string())?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO entries (workspace, id, version, title, body, tags, severity, qualification, occurred_at, reported_at, recorded_at, author, source, location, links, geometry, deleted) ",
            );
            q.push_values(rows, |mut b, (e, wkb)| {
                b.push_bind(ws)
                    .push_bind(e.id as i64)
                    .push_bind(i64::from(e.version))
                    .push_bind(&e.title)
                    .push_bind(&e.body)
                    .push_bind(to_json(&e.tags))
                    .push_bind(i64::from(e.severity))
                    .push_bind(e.qualification.as_str())
                    .push_bind(e.occurred_at)
                    .push_bind(e.reported_at)
                    .push_bind(e.recorded_at)
                    .push_bind(&e.author)
                    .push_bind(&e.source)
                    .push_bind(e.location.as_deref())
                    .push_bind(to_json(&e.links))
                    .push_bind(wkb)
                    .push_bind(i64::from(e.deleted));
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn venues(&self) -> Result<Vec<Venue>, StoreError> {
        sqlx::query("SELECT * FROM venues WHERE workspace = ? ORDER BY code")
            .bind(&self.workspace)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(venue_from_row)
            .collect()
    }

    async fn perimeters(&self) -> Result<Vec<Perimeter>, StoreError> {
        sqlx::query("SELECT * FROM perimeters WHERE workspace = ? ORDER BY id")
            .bind(&self.workspace)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(perimeter_from_row)
            .collect()
    }

    async fn for_each_entry(&self, sink: &mut (dyn FnMut(Entry) + Send)) -> Result<usize, StoreError> {
        let mut rows = sqlx::query("SELECT * FROM entries WHERE workspace = ? AND deleted = 0 ORDER BY id")
            .bind(&self.workspace)
            .fetch(&self.pool);
        let mut n = 0;
        while let Some(row) = rows.try_next().await? {
            sink(entry_from_row(&row)?);
            n += 1;
        }
        Ok(n)
    }
}
