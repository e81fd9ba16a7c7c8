//! The tables of situation reports: one row per report (with its workflow history and, once
//! validated, its compiled parts frozen as JSON) and one per section's text, versioned so two
//! edits of the same section never overwrite each other. One SQL text for both databases.

use super::{Kind, SectionDef, Status, Step};
use crate::store::StoreError;
use async_trait::async_trait;
use serde::Serialize;
use sqlx::Row as _;

/// A report as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Number, from 1, per workspace.
    pub id: u64,
    /// Title.
    pub title: String,
    /// Scheduled or ad hoc.
    pub kind: Kind,
    /// The due time of a scheduled report (epoch ms); `None` for ad-hoc reports and
    /// corrections.
    pub due_at: Option<i64>,
    /// Start of the period covered (epoch ms, inclusive).
    pub period_start: i64,
    /// End of the period covered (epoch ms, exclusive).
    pub period_end: i64,
    /// Where it is in the workflow.
    pub status: Status,
    /// The published report this one corrects.
    pub supersedes: Option<u64>,
    /// The correction that replaced this one once published.
    pub superseded_by: Option<u64>,
    /// 1, then 2 for the first correction…
    pub edition: u32,
    /// Every step, oldest first (creation is the first draft step).
    pub history: Vec<Step>,
    /// The compiled parts frozen at validation (JSON of [`super::compile::Compiled`]).
    #[serde(skip)]
    pub compiled: Option<String>,
    /// The template's sections when the report was created.
    pub sections: Vec<SectionDef>,
    /// Grows by one with every status change.
    pub version: u32,
}

/// A section's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionText {
    /// Section id.
    pub section: String,
    /// The text.
    pub body: String,
    /// 0 before the first edit, then grows by one with each.
    pub version: u32,
    /// Last edit, epoch ms (0: never edited).
    #[serde(skip)]
    pub updated_at: i64,
    /// Who edited it last (empty: never edited).
    pub updated_by: String,
}

/// Which reports to list.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Reports whose period ends after this (epoch ms).
    pub from: Option<i64>,
    /// Reports whose period starts before this (epoch ms).
    pub to: Option<i64>,
    /// Text in the title or a section (case-insensitive for ASCII).
    pub text: Option<String>,
    /// Only this status.
    pub status: Option<Status>,
    /// Most rows.
    pub limit: i64,
}

/// A section edit.
#[derive(Debug, Clone, Copy)]
pub struct Edit<'a> {
    /// Section id.
    pub section: &'a str,
    /// The version the text was edited from.
    pub base: u32,
    /// The new text.
    pub body: &'a str,
    /// Who.
    pub by: &'a str,
    /// When, epoch ms.
    pub at: i64,
}

/// What a section edit found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Stored as this version.
    Stored(u32),
    /// The section moved on meanwhile (or the report closed): the current text.
    Stale(Option<SectionText>),
}

/// The report tables.
#[async_trait]
pub trait ReportStore: Send + Sync + std::fmt::Debug {
    /// Creates a report with empty sections (bodies from `bodies` when given, by section id);
    /// `None` when a report is already due at `report.due_at`, or already corrects
    /// `report.supersedes`.
    async fn create(
        &self,
        workspace: &str,
        report: &Report,
        bodies: &[(String, String)],
        at: i64,
    ) -> Result<Option<u64>, StoreError>;
    /// One report.
    async fn report(&self, workspace: &str, id: u64) -> Result<Option<Report>, StoreError>;
    /// The report due at `due_at`, if any.
    async fn due(&self, workspace: &str, due_at: i64) -> Result<Option<u64>, StoreError>;
    /// The latest report whose period ends at or before `at` and that no correction replaced.
    async fn before(&self, workspace: &str, at: i64) -> Result<Option<Report>, StoreError>;
    /// Reports, newest period first.
    async fn list(&self, workspace: &str, listing: &Listing) -> Result<Vec<Report>, StoreError>;
    /// The sections' texts of a report.
    async fn texts(&self, workspace: &str, id: u64) -> Result<Vec<SectionText>, StoreError>;
    /// Writes a section if it is still at `edit.base` and the report is open (draft or
    /// review).
    async fn write(&self, workspace: &str, id: u64, edit: &Edit<'_>) -> Result<Written, StoreError>;
    /// Moves a report still at `version` to `step.status`, appending the step; `compiled`
    /// sets (or with `Some(None)` clears) the frozen parts. `false` when it moved meanwhile.
    async fn step(
        &self,
        workspace: &str,
        id: u64,
        version: u32,
        step: &Step,
        compiled: Option<Option<&str>>,
    ) -> Result<bool, StoreError>;
    /// Notes the correction that replaced a published report.
    async fn supersede(&self, workspace: &str, id: u64, by: u64) -> Result<(), StoreError>;
    /// Moves the start of a scheduled report's period (the rhythm changed) while it is still a
    /// draft; `false` when it is not.
    async fn repoint(&self, workspace: &str, id: u64, start: i64) -> Result<bool, StoreError>;
}

/// The report tables over a sqlx pool (`reader`, `writer` as for the identity tables).
#[derive(Debug, Clone)]
pub struct SqlReports<DB: sqlx::Database> {
    reader: sqlx::Pool<DB>,
    writer: sqlx::Pool<DB>,
}

impl<DB: sqlx::Database> SqlReports<DB> {
    /// Over these pools.
    pub fn new(reader: sqlx::Pool<DB>, writer: sqlx::Pool<DB>) -> Self {
        Self { reader, writer }
    }
}

const COLUMNS: &str = "id, title, kind, due_at, period_start, period_end, status, supersedes, superseded_by, \
     edition, history, compiled, sections, version";

fn id_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

fn stored_id(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn corrupt(id: i64, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { what: "report", id: id.to_string(), reason: reason.to_string() }
}

/// `%text%` for LIKE, its wildcards escaped with `\`.
fn like_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

macro_rules! sql_reports {
    ($db:ty, $row:ty) => {
        impl SqlReports<$db> {
            fn report_from(r: &$row) -> Result<Report, StoreError> {
                let id: i64 = r.try_get("id")?;
                let kind = match r.try_get::<String, _>("kind")?.as_str() {
                    "scheduled" => Kind::Scheduled,
                    "adhoc" => Kind::Adhoc,
                    other => return Err(corrupt(id, format!("kind '{other}'"))),
                };
                let status: String = r.try_get("status")?;
                Ok(Report {
                    id: id_of(id),
                    title: r.try_get("title")?,
                    kind,
                    due_at: r.try_get("due_at")?,
                    period_start: r.try_get("period_start")?,
                    period_end: r.try_get("period_end")?,
                    status: Status::parse(&status).ok_or_else(|| corrupt(id, format!("status '{status}'")))?,
                    supersedes: r.try_get::<Option<i64>, _>("supersedes")?.map(id_of),
                    superseded_by: r.try_get::<Option<i64>, _>("superseded_by")?.map(id_of),
                    edition: u32::try_from(r.try_get::<i32, _>("edition")?).unwrap_or(1),
                    history: serde_json::from_str(&r.try_get::<String, _>("history")?)
                        .map_err(|e| corrupt(id, e))?,
                    compiled: r.try_get("compiled")?,
                    sections: serde_json::from_str(&r.try_get::<String, _>("sections")?)
                        .map_err(|e| corrupt(id, e))?,
                    version: u32::try_from(r.try_get::<i32, _>("version")?).unwrap_or_default(),
                })
            }
        }

        #[async_trait]
        impl ReportStore for SqlReports<$db> {
            async fn create(
                &self,
                workspace: &str,
                report: &Report,
                bodies: &[(String, String)],
                at: i64,
            ) -> Result<Option<u64>, StoreError> {
                let history = serde_json::to_string(&report.history).unwrap_or_else(|_| "[]".into());
                let sections = serde_json::to_string(&report.sections).unwrap_or_else(|_| "[]".into());
                // Two creations at once may pick the same number: the loser tries the next.
                for _ in 0..5 {
                    let mut tx = self.writer.begin().await?;
                    let taken: Option<i64> = if let Some(due) = report.due_at {
                        sqlx::query_scalar("SELECT id FROM reports WHERE workspace = $1 AND due_at = $2")
                            .bind(workspace)
                            .bind(due)
                            .fetch_optional(&mut *tx)
                            .await?
                    } else if let Some(s) = report.supersedes {
                        sqlx::query_scalar("SELECT id FROM reports WHERE workspace = $1 AND supersedes = $2")
                            .bind(workspace)
                            .bind(stored_id(s))
                            .fetch_optional(&mut *tx)
                            .await?
                    } else {
                        None
                    };
                    if taken.is_some() {
                        return Ok(None);
                    }
                    let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(
                        "INSERT INTO reports (workspace, id, title, kind, due_at, period_start, period_end, status, \
                         supersedes, superseded_by, edition, history, compiled, sections, version, created_at) \
                         SELECT $1, COALESCE(MAX(id), 0) + 1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10, NULL, $11, 1, $12 \
                         FROM reports WHERE workspace = $1 RETURNING id",
                    )
                    .bind(workspace)
                    .bind(&report.title)
                    .bind(report.kind.as_str())
                    .bind(report.due_at)
                    .bind(report.period_start)
                    .bind(report.period_end)
                    .bind(report.status.as_str())
                    .bind(report.supersedes.map(stored_id))
                    .bind(i32::try_from(report.edition).unwrap_or(1))
                    .bind(&history)
                    .bind(&sections)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await;
                    let id = match inserted {
                        Ok(id) => id,
                        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => continue,
                        Err(e) => return Err(e.into()),
                    };
                    for s in &report.sections {
                        let body = bodies.iter().find(|(k, _)| *k == s.id).map_or("", |(_, b)| b.as_str());
                        sqlx::query(
                            "INSERT INTO report_sections (workspace, report, section, body, version, updated_at, updated_by) \
                             VALUES ($1, $2, $3, $4, 0, 0, '')",
                        )
                        .bind(workspace)
                        .bind(id)
                        .bind(&s.id)
                        .bind(body)
                        .execute(&mut *tx)
                        .await?;
                    }
                    match tx.commit().await {
                        Ok(()) => return Ok(Some(id_of(id))),
                        // Another creation took the number: the next round tries again.
                        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(StoreError::Corrupt {
                    what: "report",
                    id: String::new(),
                    reason: "no number could be taken after 5 tries (too many creations at once)".into(),
                })
            }

            async fn report(&self, workspace: &str, id: u64) -> Result<Option<Report>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM reports WHERE workspace = $1 AND id = $2");
                let row = sqlx::query(&sql).bind(workspace).bind(stored_id(id)).fetch_optional(&self.reader).await?;
                row.as_ref().map(Self::report_from).transpose()
            }

            async fn due(&self, workspace: &str, due_at: i64) -> Result<Option<u64>, StoreError> {
                let id: Option<i64> = sqlx::query_scalar("SELECT id FROM reports WHERE workspace = $1 AND due_at = $2")
                    .bind(workspace)
                    .bind(due_at)
                    .fetch_optional(&self.reader)
                    .await?;
                Ok(id.map(id_of))
            }

            async fn before(&self, workspace: &str, at: i64) -> Result<Option<Report>, StoreError> {
                let sql = format!(
                    "SELECT {COLUMNS} FROM reports WHERE workspace = $1 AND period_end <= $2 AND superseded_by IS NULL \
                     ORDER BY period_end DESC, edition DESC, id DESC LIMIT 1"
                );
                let row = sqlx::query(&sql).bind(workspace).bind(at).fetch_optional(&self.reader).await?;
                row.as_ref().map(Self::report_from).transpose()
            }

            async fn list(&self, workspace: &str, l: &Listing) -> Result<Vec<Report>, StoreError> {
                let sql = format!(
                    "SELECT {COLUMNS} FROM reports r WHERE workspace = $1 \
                     AND ($2 IS NULL OR period_end > $2) AND ($3 IS NULL OR period_start < $3) \
                     AND ($4 IS NULL OR status = $4) \
                     AND ($5 IS NULL OR LOWER(title) LIKE $5 ESCAPE '\\' OR EXISTS (SELECT 1 FROM report_sections s \
                          WHERE s.workspace = r.workspace AND s.report = r.id AND LOWER(s.body) LIKE $5 ESCAPE '\\')) \
                     ORDER BY period_end DESC, id DESC LIMIT $6"
                );
                let rows = sqlx::query(&sql)
                    .bind(workspace)
                    .bind(l.from)
                    .bind(l.to)
                    .bind(l.status.map(Status::as_str))
                    .bind(l.text.as_deref().map(like_pattern))
                    .bind(l.limit)
                    .fetch_all(&self.reader)
                    .await?;
                rows.iter().map(Self::report_from).collect()
            }

            async fn texts(&self, workspace: &str, id: u64) -> Result<Vec<SectionText>, StoreError> {
                let rows = sqlx::query(
                    "SELECT section, body, version, updated_at, updated_by FROM report_sections \
                     WHERE workspace = $1 AND report = $2",
                )
                .bind(workspace)
                .bind(stored_id(id))
                .fetch_all(&self.reader)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(SectionText {
                            section: r.try_get("section")?,
                            body: r.try_get("body")?,
                            version: u32::try_from(r.try_get::<i32, _>("version")?).unwrap_or_default(),
                            updated_at: r.try_get("updated_at")?,
                            updated_by: r.try_get("updated_by")?,
                        })
                    })
                    .collect()
            }

            async fn write(&self, workspace: &str, id: u64, edit: &Edit<'_>) -> Result<Written, StoreError> {
                // One statement: the version check and the report's status are read where the
                // row is written.
                let done = sqlx::query(
                    "UPDATE report_sections SET body = $1, version = version + 1, updated_at = $2, updated_by = $3 \
                     WHERE workspace = $4 AND report = $5 AND section = $6 AND version = $7 \
                     AND EXISTS (SELECT 1 FROM reports r WHERE r.workspace = $4 AND r.id = $5 \
                                 AND r.status IN ('draft', 'review'))",
                )
                .bind(edit.body)
                .bind(edit.at)
                .bind(edit.by)
                .bind(workspace)
                .bind(stored_id(id))
                .bind(edit.section)
                .bind(i32::try_from(edit.base).unwrap_or(i32::MAX))
                .execute(&self.writer)
                .await?;
                if done.rows_affected() == 1 {
                    return Ok(Written::Stored(edit.base + 1));
                }
                let current = self.texts(workspace, id).await?.into_iter().find(|t| t.section == edit.section);
                Ok(Written::Stale(current))
            }

            async fn step(
                &self,
                workspace: &str,
                id: u64,
                version: u32,
                step: &Step,
                compiled: Option<Option<&str>>,
            ) -> Result<bool, StoreError> {
                let Some(mut report) = self.report(workspace, id).await? else { return Ok(false) };
                if report.version != version {
                    return Ok(false);
                }
                report.history.push(step.clone());
                let history = serde_json::to_string(&report.history).unwrap_or_else(|_| "[]".into());
                let done = sqlx::query(
                    "UPDATE reports SET status = $1, history = $2, \
                     compiled = CASE WHEN $3 = 1 THEN $4 ELSE compiled END, version = version + 1 \
                     WHERE workspace = $5 AND id = $6 AND version = $7",
                )
                .bind(step.status.as_str())
                .bind(history)
                .bind(i32::from(compiled.is_some()))
                .bind(compiled.flatten())
                .bind(workspace)
                .bind(stored_id(id))
                .bind(i32::try_from(version).unwrap_or(i32::MAX))
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn repoint(&self, workspace: &str, id: u64, start: i64) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE reports SET period_start = $1, version = version + 1 \
                     WHERE workspace = $2 AND id = $3 AND status = 'draft' AND period_start <> $1",
                )
                .bind(start)
                .bind(workspace)
                .bind(stored_id(id))
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn supersede(&self, workspace: &str, id: u64, by: u64) -> Result<(), StoreError> {
                sqlx::query("UPDATE reports SET superseded_by = $1 WHERE workspace = $2 AND id = $3")
                    .bind(stored_id(by))
                    .bind(workspace)
                    .bind(stored_id(id))
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }
        }
    };
}

sql_reports!(sqlx::Postgres, sqlx::postgres::PgRow);
sql_reports!(sqlx::Sqlite, sqlx::sqlite::SqliteRow);

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn search_text_is_taken_literally() {
        assert_eq!(like_pattern("100%_Sûr\\"), "%100\\%\\_sûr\\\\%");
    }
}
