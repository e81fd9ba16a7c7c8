//! The staffing tables: people, unavailability, assignments, level changes, and the version
//! every change bumps in its transaction. One SQL text for both databases.

use crate::store::StoreError;
use async_trait::async_trait;
use sqlx::Row as _;
use vigie_staffing::{Assignment, LevelChange, Person, Status, Unavailability};

/// Everything stored, with the version it was read at.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Bumped by every change (0: nothing stored yet).
    pub version: u64,
    /// People.
    pub people: Vec<Person>,
    /// Unavailability periods.
    pub unavailable: Vec<Unavailability>,
    /// Assignments.
    pub assignments: Vec<Assignment>,
    /// Level changes.
    pub levels: Vec<LevelChange>,
}

/// A new assignment.
#[derive(Debug, Clone)]
pub struct NewAssignment {
    /// The person.
    pub person: String,
    /// The position.
    pub position: String,
    /// Local day.
    pub day: String,
    /// Shift name.
    pub shift: String,
    /// Start, epoch ms.
    pub start: i64,
    /// End, epoch ms.
    pub end: i64,
    /// Status.
    pub status: Status,
}

/// One change, written in one transaction with the version's bump.
#[derive(Debug, Clone)]
pub enum Change<'a> {
    /// People created or replaced (by id).
    People(&'a [Person]),
    /// A person removed, with their periods and assignments.
    RemovePerson(&'a str),
    /// A period a person cannot work.
    Away {
        /// The person.
        person: &'a str,
        /// Start, epoch ms.
        start: i64,
        /// End, epoch ms.
        end: i64,
        /// Why.
        reason: &'a str,
    },
    /// A period removed.
    RemoveAway(u64),
    /// Assignments created, all or none.
    Assign(&'a [NewAssignment]),
    /// An assignment's status changed, if it is still `from`.
    Status {
        /// The assignment.
        id: u64,
        /// The status it must have now.
        from: Status,
        /// The new one.
        to: Status,
    },
    /// Proposals confirmed (the ids of those that were proposals come back).
    Confirm(&'a [u64]),
    /// An assignment removed.
    RemoveAssignment(u64),
    /// A level change decided (in effect from `at`).
    Level {
        /// Index.
        level: usize,
        /// Name.
        name: &'a str,
        /// From when.
        at: i64,
        /// Why.
        reason: &'a str,
    },
    /// A scheduled level change withdrawn (only before it takes effect).
    CancelLevel {
        /// The change.
        id: u64,
        /// Now: a change in effect is not withdrawn.
        now: i64,
    },
    /// The log entry recording a level change: 0 claims the change (done once, whichever
    /// replica gets there first), then the entry's id replaces the claim.
    LevelLogged {
        /// The change.
        id: u64,
        /// The entry (0: the claim).
        entry: u64,
    },
    /// Nothing but the version (the plan document changed).
    Touch,
}

/// What a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written: the new version and the ids created.
    Done {
        /// The version after it.
        version: u64,
        /// Ids created (assignments, periods, level changes).
        ids: Vec<u64>,
    },
    /// What it changes is not there (or no longer in the state it expects).
    Missing,
    /// A person already sits somewhere on that shift (another change got there first).
    Taken,
}

/// The staffing tables.
#[async_trait]
pub trait StaffingStore: Send + Sync + std::fmt::Debug {
    /// The current version (0: nothing stored yet).
    async fn version(&self, workspace: &str) -> Result<u64, StoreError>;
    /// Everything, read in one transaction.
    async fn load(&self, workspace: &str) -> Result<Rows, StoreError>;
    /// Writes one change and bumps the version, in one transaction.
    async fn write(&self, workspace: &str, change: &Change<'_>, by: &str, at: i64) -> Result<Outcome, StoreError>;
}

/// The staffing tables over a sqlx pool (`reader`, `writer` as for the identity tables).
#[derive(Debug, Clone)]
pub struct SqlStaffing<DB: sqlx::Database> {
    reader: sqlx::Pool<DB>,
    writer: sqlx::Pool<DB>,
}

impl<DB: sqlx::Database> SqlStaffing<DB> {
    /// Over these pools.
    pub fn new(reader: sqlx::Pool<DB>, writer: sqlx::Pool<DB>) -> Self {
        Self { reader, writer }
    }
}

fn id_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

fn stored_id(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn corrupt(what: &'static str, id: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { what, id: id.to_owned(), reason: reason.to_string() }
}

macro_rules! sql_staffing {
    ($db:ty, $row:ty) => {
        impl SqlStaffing<$db> {
            /// The next id of `table` in the workspace (the version's row lock, taken first,
            /// keeps two writers from picking the same one).
            async fn next_id(
                tx: &mut sqlx::Transaction<'_, $db>,
                table: &str,
                workspace: &str,
            ) -> Result<i64, StoreError> {
                let sql = format!("SELECT COALESCE(MAX(id), 0) + 1 FROM {table} WHERE workspace = $1");
                Ok(sqlx::query_scalar(&sql).bind(workspace).fetch_one(&mut **tx).await?)
            }

            /// Writes `change`: the ids created, or why nothing was.
            async fn apply(
                tx: &mut sqlx::Transaction<'_, $db>,
                workspace: &str,
                change: &Change<'_>,
                by: &str,
                at: i64,
            ) -> Result<Result<Vec<u64>, Outcome>, StoreError> {
                let done = |n: u64, ids: Vec<u64>| if n == 1 { Ok(ids) } else { Err(Outcome::Missing) };
                Ok(match change {
                    Change::People(people) => {
                        for p in *people {
                            let skills = serde_json::to_string(&p.skills).unwrap_or_else(|_| "[]".into());
                            sqlx::query(
                                "INSERT INTO staffing_people (workspace, id, name, directorate, skills, phone, email, \
                                 updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                                 ON CONFLICT (workspace, id) DO UPDATE SET name = excluded.name, \
                                 directorate = excluded.directorate, skills = excluded.skills, phone = excluded.phone, \
                                 email = excluded.email, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                            )
                            .bind(workspace)
                            .bind(&p.id)
                            .bind(&p.name)
                            .bind(&p.directorate)
                            .bind(skills)
                            .bind(&p.phone)
                            .bind(&p.email)
                            .bind(at)
                            .bind(by)
                            .execute(&mut **tx)
                            .await?;
                        }
                        Ok(Vec::new())
                    }
                    Change::RemovePerson(id) => {
                        // The periods and assignments go with the person (ON DELETE CASCADE;
                        // said here too, whatever the connection's foreign-key setting).
                        for table in ["staffing_unavailability", "staffing_assignments"] {
                            let sql = format!("DELETE FROM {table} WHERE workspace = $1 AND person = $2");
                            sqlx::query(&sql).bind(workspace).bind(*id).execute(&mut **tx).await?;
                        }
                        let n = sqlx::query("DELETE FROM staffing_people WHERE workspace = $1 AND id = $2")
                            .bind(workspace)
                            .bind(*id)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected();
                        done(n, Vec::new())
                    }
                    Change::Away { person, start, end, reason } => {
                        let id = Self::next_id(tx, "staffing_unavailability", workspace).await?;
                        let n = sqlx::query(
                            "INSERT INTO staffing_unavailability (workspace, id, person, start_at, end_at, reason, \
                             created_by, created_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
                             WHERE EXISTS (SELECT 1 FROM staffing_people WHERE workspace = $1 AND id = $3)",
                        )
                        .bind(workspace)
                        .bind(id)
                        .bind(*person)
                        .bind(*start)
                        .bind(*end)
                        .bind(*reason)
                        .bind(by)
                        .bind(at)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected();
                        done(n, vec![id_of(id)])
                    }
                    Change::RemoveAway(id) => {
                        let n = sqlx::query("DELETE FROM staffing_unavailability WHERE workspace = $1 AND id = $2")
                            .bind(workspace)
                            .bind(stored_id(*id))
                            .execute(&mut **tx)
                            .await?
                            .rows_affected();
                        done(n, Vec::new())
                    }
                    Change::Assign(list) => {
                        let mut ids = Vec::with_capacity(list.len());
                        let mut id = Self::next_id(tx, "staffing_assignments", workspace).await?;
                        for a in *list {
                            let inserted = sqlx::query(
                                "INSERT INTO staffing_assignments (workspace, id, person, position, day, shift, \
                                 start_at, end_at, status, updated_by, updated_at) \
                                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
                                 WHERE EXISTS (SELECT 1 FROM staffing_people WHERE workspace = $1 AND id = $3)",
                            )
                            .bind(workspace)
                            .bind(id)
                            .bind(&a.person)
                            .bind(&a.position)
                            .bind(&a.day)
                            .bind(&a.shift)
                            .bind(a.start)
                            .bind(a.end)
                            .bind(a.status.as_str())
                            .bind(by)
                            .bind(at)
                            .execute(&mut **tx)
                            .await;
                            match inserted {
                                Ok(r) if r.rows_affected() == 1 => {}
                                Ok(_) => return Ok(Err(Outcome::Missing)),
                                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                                    return Ok(Err(Outcome::Taken));
                                }
                                Err(e) => return Err(e.into()),
                            }
                            ids.push(id_of(id));
                            id += 1;
                        }
                        Ok(ids)
                    }
                    Change::Status { id, from, to } => {
                        let updated = sqlx::query(
                            "UPDATE staffing_assignments SET status = $1, updated_by = $2, updated_at = $3 \
                             WHERE workspace = $4 AND id = $5 AND status = $6",
                        )
                        .bind(to.as_str())
                        .bind(by)
                        .bind(at)
                        .bind(workspace)
                        .bind(stored_id(*id))
                        .bind(from.as_str())
                        .execute(&mut **tx)
                        .await;
                        match updated {
                            Ok(r) => done(r.rows_affected(), Vec::new()),
                            // Back from declined onto a seat taken meanwhile.
                            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(Outcome::Taken),
                            Err(e) => return Err(e.into()),
                        }
                    }
                    Change::Confirm(list) => {
                        let mut ids = Vec::new();
                        for id in *list {
                            let n = sqlx::query(
                                "UPDATE staffing_assignments SET status = 'confirmed', updated_by = $1, updated_at = $2 \
                                 WHERE workspace = $3 AND id = $4 AND status = 'proposed'",
                            )
                            .bind(by)
                            .bind(at)
                            .bind(workspace)
                            .bind(stored_id(*id))
                            .execute(&mut **tx)
                            .await?
                            .rows_affected();
                            if n == 1 {
                                ids.push(*id);
                            }
                        }
                        Ok(ids)
                    }
                    Change::RemoveAssignment(id) => {
                        let n = sqlx::query("DELETE FROM staffing_assignments WHERE workspace = $1 AND id = $2")
                            .bind(workspace)
                            .bind(stored_id(*id))
                            .execute(&mut **tx)
                            .await?
                            .rows_affected();
                        done(n, Vec::new())
                    }
                    Change::Level { level, name, at: from, reason } => {
                        let id = Self::next_id(tx, "staffing_levels", workspace).await?;
                        sqlx::query(
                            "INSERT INTO staffing_levels (workspace, id, level, name, at, reason, decided_by, \
                             decided_at, entry) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
                        )
                        .bind(workspace)
                        .bind(id)
                        .bind(i32::try_from(*level).unwrap_or(i32::MAX))
                        .bind(*name)
                        .bind(*from)
                        .bind(*reason)
                        .bind(by)
                        .bind(at)
                        .execute(&mut **tx)
                        .await?;
                        Ok(vec![id_of(id)])
                    }
                    Change::CancelLevel { id, now } => {
                        let n = sqlx::query(
                            "DELETE FROM staffing_levels WHERE workspace = $1 AND id = $2 AND at > $3 AND entry IS NULL",
                        )
                        .bind(workspace)
                        .bind(stored_id(*id))
                        .bind(*now)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected();
                        done(n, Vec::new())
                    }
                    Change::LevelLogged { id, entry } => {
                        // 0 claims the change (once); then the entry replaces the claim.
                        let sql = if *entry == 0 {
                            "UPDATE staffing_levels SET entry = $1 WHERE workspace = $2 AND id = $3 AND entry IS NULL"
                        } else {
                            "UPDATE staffing_levels SET entry = $1 WHERE workspace = $2 AND id = $3 AND entry = 0"
                        };
                        let n = sqlx::query(sql)
                        .bind(stored_id(*entry))
                        .bind(workspace)
                        .bind(stored_id(*id))
                        .execute(&mut **tx)
                        .await?
                        .rows_affected();
                        done(n, Vec::new())
                    }
                    Change::Touch => Ok(Vec::new()),
                })
            }

            fn person_from(r: &$row) -> Result<Person, StoreError> {
                let id: String = r.try_get("id")?;
                let skills: String = r.try_get("skills")?;
                Ok(Person {
                    skills: serde_json::from_str(&skills).map_err(|e| corrupt("person", &id, e))?,
                    name: r.try_get("name")?,
                    directorate: r.try_get("directorate")?,
                    phone: r.try_get("phone")?,
                    email: r.try_get("email")?,
                    id,
                })
            }

            fn assignment_from(r: &$row) -> Result<Assignment, StoreError> {
                let id: i64 = r.try_get("id")?;
                let status: String = r.try_get("status")?;
                Ok(Assignment {
                    id: id_of(id),
                    person: r.try_get("person")?,
                    position: r.try_get("position")?,
                    day: r.try_get("day")?,
                    shift: r.try_get("shift")?,
                    start: r.try_get("start_at")?,
                    end: r.try_get("end_at")?,
                    status: Status::parse(&status).ok_or_else(|| corrupt("assignment", &id.to_string(), format!("status '{status}'")))?,
                    by: r.try_get("updated_by")?,
                    at: r.try_get("updated_at")?,
                })
            }
        }

        #[async_trait]
        impl StaffingStore for SqlStaffing<$db> {
            async fn version(&self, workspace: &str) -> Result<u64, StoreError> {
                let v: Option<i64> = sqlx::query_scalar("SELECT version FROM staffing_state WHERE workspace = $1")
                    .bind(workspace)
                    .fetch_optional(&self.reader)
                    .await?;
                Ok(v.map_or(0, id_of))
            }

            async fn load(&self, workspace: &str) -> Result<Rows, StoreError> {
                let mut tx = self.reader.begin().await?;
                let version: Option<i64> = sqlx::query_scalar("SELECT version FROM staffing_state WHERE workspace = $1")
                    .bind(workspace)
                    .fetch_optional(&mut *tx)
                    .await?;
                let people = sqlx::query(
                    "SELECT id, name, directorate, skills, phone, email FROM staffing_people WHERE workspace = $1 ORDER BY id",
                )
                .bind(workspace)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(Self::person_from)
                .collect::<Result<Vec<_>, _>>()?;
                let unavailable = sqlx::query(
                    "SELECT id, person, start_at, end_at, reason FROM staffing_unavailability WHERE workspace = $1 ORDER BY id",
                )
                .bind(workspace)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| {
                    Ok(Unavailability {
                        id: id_of(r.try_get("id")?),
                        person: r.try_get("person")?,
                        start: r.try_get("start_at")?,
                        end: r.try_get("end_at")?,
                        reason: r.try_get("reason")?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
                let assignments = sqlx::query(
                    "SELECT id, person, position, day, shift, start_at, end_at, status, updated_by, updated_at \
                     FROM staffing_assignments WHERE workspace = $1 ORDER BY id",
                )
                .bind(workspace)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(Self::assignment_from)
                .collect::<Result<Vec<_>, _>>()?;
                let levels = sqlx::query(
                    "SELECT id, level, name, at, reason, decided_by, entry FROM staffing_levels WHERE workspace = $1 ORDER BY at, id",
                )
                .bind(workspace)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| {
                    Ok(LevelChange {
                        id: id_of(r.try_get("id")?),
                        level: usize::try_from(r.try_get::<i32, _>("level")?).unwrap_or_default(),
                        name: r.try_get("name")?,
                        at: r.try_get("at")?,
                        reason: r.try_get("reason")?,
                        by: r.try_get("decided_by")?,
                        entry: r.try_get::<Option<i64>, _>("entry")?.map(id_of),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
                tx.commit().await?;
                Ok(Rows { version: version.map_or(0, id_of), people, unavailable, assignments, levels })
            }

            async fn write(&self, workspace: &str, change: &Change<'_>, by: &str, at: i64) -> Result<Outcome, StoreError> {
                let mut tx = self.writer.begin().await?;
                // First: the version's row lock serialises the workspace's staffing writers.
                let version: i64 = sqlx::query_scalar(
                    "INSERT INTO staffing_state (workspace, version) VALUES ($1, 1) \
                     ON CONFLICT (workspace) DO UPDATE SET version = staffing_state.version + 1 RETURNING version",
                )
                .bind(workspace)
                .fetch_one(&mut *tx)
                .await?;
                match Self::apply(&mut tx, workspace, change, by, at).await? {
                    Ok(ids) => {
                        tx.commit().await?;
                        Ok(Outcome::Done { version: id_of(version), ids })
                    }
                    Err(outcome) => {
                        tx.rollback().await?;
                        Ok(outcome)
                    }
                }
            }
        }
    };
}

sql_staffing!(sqlx::Postgres, sqlx::postgres::PgRow);
sql_staffing!(sqlx::Sqlite, sqlx::sqlite::SqliteRow);
