//! Storage: the [`Store`] trait and its backends.
//!
//! The embedded SQLite store is the zero-setup default (`sqlite.rs`). Every backend commits a
//! write in one transaction before the engine sees it, so the in-memory index can always be
//! rebuilt from the store at start.

pub mod codec;
pub mod sqlite;

use async_trait::async_trait;
use vigie_layers::model::{Entry, Perimeter, Venue};

/// Why a store operation failed. `Display` never includes SQL text or connection strings.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is overloaded (served as 503).
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database error.
    #[error("database error")]
    Database(#[source] sqlx::Error),
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

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                Self::Unavailable(e)
            }
            other => Self::Database(other),
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

/// A workspace's persistent data. One instance serves one workspace.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Backend name for logs and `/health` (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Whether the workspace has no venue and no entry yet.
    async fn is_empty(&self) -> Result<bool, StoreError>;

    /// Writes a whole seed in one transaction: all of it or nothing.
    async fn seed(&self, seed: &Seed) -> Result<(), StoreError>;

    /// Every venue of the workspace, by code.
    async fn venues(&self) -> Result<Vec<Venue>, StoreError>;

    /// Every perimeter of the workspace, by id.
    async fn perimeters(&self) -> Result<Vec<Perimeter>, StoreError>;

    /// Streams every live (not deleted) entry to `sink`, without holding them all in memory;
    /// returns how many were read.
    async fn for_each_entry(&self, sink: &mut (dyn FnMut(Entry) + Send)) -> Result<usize, StoreError>;
}
