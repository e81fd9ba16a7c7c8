//! The tables of escalation: the workspace tree, which entry mirrors which, and comments.
//! One SQL text for both databases (as the identity tables).

use crate::store::StoreError;
use async_trait::async_trait;
use serde::Serialize;
use sqlx::Row as _;

/// Which way a copy went: to the parent (`up`, escalated) or to a child (`down`, sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Escalated to the parent workspace.
    Up,
    /// Sent down to a child workspace.
    Down,
}

impl Direction {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "up" => Ok(Self::Up),
            "down" => Ok(Self::Down),
            other => Err(StoreError::Corrupt {
                what: "entry link direction",
                id: other.chars().take(20).collect(),
                reason: "neither up nor down".into(),
            }),
        }
    }
}

/// An entry of one workspace mirrored by a copy in another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// Workspace of the entry mirrored.
    pub source_workspace: String,
    /// The entry mirrored.
    pub source_entry: u64,
    /// Workspace of the copy.
    pub target_workspace: String,
    /// The copy.
    pub target_entry: u64,
    /// Up (escalated) or down (sent).
    pub direction: Direction,
    /// When, epoch ms.
    pub created_at: i64,
    /// Who escalated or sent it.
    pub created_by: String,
    /// The source's version the copy last took.
    pub synced_version: u32,
    /// Whether the target qualified the copy itself.
    pub target_qualified: bool,
    /// When it was de-escalated (or recalled), epoch ms.
    pub removed_at: Option<i64>,
}

/// A comment on an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comment {
    /// Number, from 1, per entry.
    pub seq: i64,
    /// Who.
    pub author: String,
    /// When, epoch ms.
    #[serde(skip)]
    pub at: i64,
    /// What (plain text).
    pub body: String,
}

/// The escalation tables.
#[async_trait]
pub trait LinkStore: Send + Sync + std::fmt::Debug {
    /// The parent of `workspace`, if it has one.
    async fn parent(&self, workspace: &str) -> Result<Option<String>, StoreError>;
    /// The children of `workspace`, by id.
    async fn children(&self, workspace: &str) -> Result<Vec<String>, StoreError>;
    /// Sets (or clears) the parent of `workspace`; `false` when there is no such workspace. The
    /// caller checks the tree stays a tree.
    async fn set_parent(&self, workspace: &str, parent: Option<&str>) -> Result<bool, StoreError>;
    /// Records a link (a link removed before comes back with the new copy).
    async fn put_link(&self, link: &Link) -> Result<(), StoreError>;
    /// The live links from an entry.
    async fn links_from(&self, workspace: &str, entry: u64) -> Result<Vec<Link>, StoreError>;
    /// The live link whose copy is `entry` of `workspace`, if it is one.
    async fn link_to(&self, workspace: &str, entry: u64) -> Result<Option<Link>, StoreError>;
    /// Notes the source's version a copy took (never lowers it).
    async fn mark_synced(&self, link: &Link, version: u32) -> Result<(), StoreError>;
    /// Notes that the target qualified its copy.
    async fn mark_target_qualified(&self, link: &Link) -> Result<(), StoreError>;
    /// Removes a link (de-escalation); `false` when it was not live.
    async fn remove_link(&self, link: &Link, at: i64) -> Result<bool, StoreError>;
    /// Live links whose source moved past the version the copy took (a relay that did not
    /// happen: a crash between the two writes), at most `limit`.
    async fn stale_links(&self, limit: i64) -> Result<Vec<Link>, StoreError>;
    /// Adds a comment; returns its number.
    async fn add_comment(
        &self,
        workspace: &str,
        entry: u64,
        author: &str,
        at: i64,
        body: &str,
    ) -> Result<i64, StoreError>;
    /// The comments on an entry, oldest first.
    async fn comments(&self, workspace: &str, entry: u64) -> Result<Vec<Comment>, StoreError>;
}

/// The escalation tables over a sqlx pool (`reader`, `writer` as for the identity tables).
#[derive(Debug, Clone)]
pub struct SqlLinks<DB: sqlx::Database> {
    reader: sqlx::Pool<DB>,
    writer: sqlx::Pool<DB>,
}

impl<DB: sqlx::Database> SqlLinks<DB> {
    /// Over these pools.
    pub fn new(reader: sqlx::Pool<DB>, writer: sqlx::Pool<DB>) -> Self {
        Self { reader, writer }
    }
}

const LINK_COLUMNS: &str = "l.source_workspace, l.source_entry, l.target_workspace, l.target_entry, l.direction, \
     l.created_at, l.created_by, l.synced_version, l.target_qualified, l.removed_at";

fn id_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

fn stored_id(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

macro_rules! sql_links {
    ($db:ty, $row:ty) => {
        impl SqlLinks<$db> {
            fn link_from(r: &$row) -> Result<Link, StoreError> {
                Ok(Link {
                    source_workspace: r.try_get("source_workspace")?,
                    source_entry: id_of(r.try_get("source_entry")?),
                    target_workspace: r.try_get("target_workspace")?,
                    target_entry: id_of(r.try_get("target_entry")?),
                    direction: Direction::parse(r.try_get("direction")?)?,
                    created_at: r.try_get("created_at")?,
                    created_by: r.try_get("created_by")?,
                    synced_version: u32::try_from(r.try_get::<i32, _>("synced_version")?).unwrap_or_default(),
                    target_qualified: r.try_get::<i32, _>("target_qualified")? != 0,
                    removed_at: r.try_get("removed_at")?,
                })
            }
        }

        #[async_trait]
        impl LinkStore for SqlLinks<$db> {
            async fn parent(&self, workspace: &str) -> Result<Option<String>, StoreError> {
                let p: Option<Option<String>> = sqlx::query_scalar("SELECT parent FROM workspaces WHERE id = $1")
                    .bind(workspace)
                    .fetch_optional(&self.reader)
                    .await?;
                Ok(p.flatten())
            }

            async fn children(&self, workspace: &str) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT id FROM workspaces WHERE parent = $1 ORDER BY id")
                    .bind(workspace)
                    .fetch_all(&self.reader)
                    .await?)
            }

            async fn set_parent(&self, workspace: &str, parent: Option<&str>) -> Result<bool, StoreError> {
                let done = sqlx::query("UPDATE workspaces SET parent = $1 WHERE id = $2")
                    .bind(parent)
                    .bind(workspace)
                    .execute(&self.writer)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn put_link(&self, l: &Link) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO entry_links (source_workspace, source_entry, target_workspace, target_entry, direction, \
                     created_at, created_by, synced_version, target_qualified, removed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL) \
                     ON CONFLICT (source_workspace, source_entry, target_workspace) DO UPDATE SET \
                     target_entry = excluded.target_entry, direction = excluded.direction, \
                     created_at = excluded.created_at, created_by = excluded.created_by, \
                     synced_version = excluded.synced_version, target_qualified = excluded.target_qualified, \
                     removed_at = NULL",
                )
                .bind(&l.source_workspace)
                .bind(stored_id(l.source_entry))
                .bind(&l.target_workspace)
                .bind(stored_id(l.target_entry))
                .bind(l.direction.as_str())
                .bind(l.created_at)
                .bind(&l.created_by)
                .bind(i32::try_from(l.synced_version).unwrap_or(i32::MAX))
                .bind(i32::from(l.target_qualified))
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn links_from(&self, workspace: &str, entry: u64) -> Result<Vec<Link>, StoreError> {
                let sql = format!(
                    "SELECT {LINK_COLUMNS} FROM entry_links l WHERE l.source_workspace = $1 AND l.source_entry = $2 \
                     AND l.removed_at IS NULL ORDER BY l.target_workspace"
                );
                let rows = sqlx::query(&sql).bind(workspace).bind(stored_id(entry)).fetch_all(&self.reader).await?;
                rows.iter().map(Self::link_from).collect()
            }

            async fn link_to(&self, workspace: &str, entry: u64) -> Result<Option<Link>, StoreError> {
                let sql = format!(
                    "SELECT {LINK_COLUMNS} FROM entry_links l WHERE l.target_workspace = $1 AND l.target_entry = $2 \
                     AND l.removed_at IS NULL"
                );
                let row =
                    sqlx::query(&sql).bind(workspace).bind(stored_id(entry)).fetch_optional(&self.reader).await?;
                row.as_ref().map(Self::link_from).transpose()
            }

            async fn mark_synced(&self, l: &Link, version: u32) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE entry_links SET synced_version = $1 WHERE source_workspace = $2 AND source_entry = $3 \
                     AND target_workspace = $4 AND synced_version < $1",
                )
                .bind(i32::try_from(version).unwrap_or(i32::MAX))
                .bind(&l.source_workspace)
                .bind(stored_id(l.source_entry))
                .bind(&l.target_workspace)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn mark_target_qualified(&self, l: &Link) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE entry_links SET target_qualified = 1 WHERE source_workspace = $1 AND source_entry = $2 \
                     AND target_workspace = $3",
                )
                .bind(&l.source_workspace)
                .bind(stored_id(l.source_entry))
                .bind(&l.target_workspace)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn remove_link(&self, l: &Link, at: i64) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE entry_links SET removed_at = $1 WHERE source_workspace = $2 AND source_entry = $3 \
                     AND target_workspace = $4 AND removed_at IS NULL",
                )
                .bind(at)
                .bind(&l.source_workspace)
                .bind(stored_id(l.source_entry))
                .bind(&l.target_workspace)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn stale_links(&self, limit: i64) -> Result<Vec<Link>, StoreError> {
                let sql = format!(
                    "SELECT {LINK_COLUMNS} FROM entry_links l JOIN entries e \
                     ON e.workspace = l.source_workspace AND e.id = l.source_entry \
                     WHERE l.removed_at IS NULL AND e.version > l.synced_version LIMIT $1"
                );
                let rows = sqlx::query(&sql).bind(limit).fetch_all(&self.reader).await?;
                rows.iter().map(Self::link_from).collect()
            }

            async fn add_comment(
                &self,
                workspace: &str,
                entry: u64,
                author: &str,
                at: i64,
                body: &str,
            ) -> Result<i64, StoreError> {
                // The number is taken in the insert itself: two comments at once get two.
                Ok(sqlx::query_scalar(
                    "INSERT INTO entry_comments (workspace, entry, seq, author, at, body) \
                     SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5 FROM entry_comments \
                     WHERE workspace = $1 AND entry = $2 RETURNING seq",
                )
                .bind(workspace)
                .bind(stored_id(entry))
                .bind(author)
                .bind(at)
                .bind(body)
                .fetch_one(&self.writer)
                .await?)
            }

            async fn comments(&self, workspace: &str, entry: u64) -> Result<Vec<Comment>, StoreError> {
                let rows = sqlx::query(
                    "SELECT seq, author, at, body FROM entry_comments WHERE workspace = $1 AND entry = $2 ORDER BY seq",
                )
                .bind(workspace)
                .bind(stored_id(entry))
                .fetch_all(&self.reader)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(Comment {
                            seq: r.try_get("seq")?,
                            author: r.try_get("author")?,
                            at: r.try_get("at")?,
                            body: r.try_get("body")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

sql_links!(sqlx::Postgres, sqlx::postgres::PgRow);
sql_links!(sqlx::Sqlite, sqlx::sqlite::SqliteRow);
