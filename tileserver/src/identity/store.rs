//! Identity tables (accounts, memberships, API tokens, sessions, the audit trail) on both
//! stores. The SQL is the same text for PostgreSQL and SQLite (`$n` parameters, epoch-ms
//! integers, nullable times instead of booleans), so one implementation body serves both
//! through [`SqlIdentity`].

use super::Role;
use super::audit::{AuditDraft, AuditFilter, AuditRow, GENESIS};
use crate::store::StoreError;
use async_trait::async_trait;
use serde::Serialize;
use sqlx::Row as _;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Id.
    pub id: i64,
    /// Unique name (the author of what they write).
    pub name: String,
    /// Name shown.
    pub display_name: String,
    /// argon2id PHC string, when the account has a local password.
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// Created, epoch ms.
    pub created_at: i64,
    /// Disabled since, epoch ms.
    pub disabled_at: Option<i64>,
}

/// A member of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Account name.
    pub name: String,
    /// Name shown.
    pub display_name: String,
    /// Role in the workspace.
    pub role: Role,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// The territory the membership is narrowed to (JSON, shown as JSON), if any.
    #[serde(serialize_with = "as_json")]
    pub territory: Option<String>,
}

/// A stored JSON text, serialized as the JSON it holds (serde hands `&Option`).
#[expect(clippy::ref_option, reason = "the signature serde's serialize_with calls")]
fn as_json<S: serde::Serializer>(text: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize as _;
    text.as_deref().and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()).serialize(s)
}

/// An API token's stored record (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    /// Id.
    pub id: i64,
    /// Workspace it acts in.
    pub workspace: String,
    /// Account that created it.
    pub account: i64,
    /// Name of the account that created it.
    pub account_name: String,
    /// Its name.
    pub name: String,
    /// Its role (at most its creator's).
    pub role: Role,
    /// First characters of the token.
    pub prefix: String,
    /// Created, epoch ms.
    pub created_at: i64,
    /// Expires, epoch ms.
    pub expires_at: Option<i64>,
    /// Revoked, epoch ms.
    pub revoked_at: Option<i64>,
    /// First used, epoch ms.
    pub first_used_at: Option<i64>,
    /// The territory the token is narrowed to inside its creator's (JSON), if any.
    pub territory: Option<String>,
}

/// A membership as requests resolve it: the role, the member's territory and the
/// workspace's (JSON arrays of regions, see `crate::http::territory`; `None`: not narrowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    /// The role.
    pub role: Role,
    /// The territory the membership is narrowed to.
    pub territory: Option<String>,
    /// The workspace's territory (it narrows every member but its admins).
    pub workspace_territory: Option<String>,
}

/// A session's stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the cookie's secret.
    pub secret_sha256: String,
    /// Account.
    pub account: i64,
    /// CSRF token of the session.
    pub csrf: String,
    /// Created, epoch ms.
    pub created_at: i64,
    /// Expires, epoch ms.
    pub expires_at: i64,
    /// Revoked (signed out), epoch ms.
    pub revoked_at: Option<i64>,
    /// Client address at sign-in.
    pub client: Option<String>,
}

/// A new account: a name, and how it proves who it is.
#[derive(Debug, Clone, Copy)]
pub struct NewAccount<'a> {
    /// Unique name.
    pub name: &'a str,
    /// Name shown.
    pub display_name: &'a str,
    /// argon2id PHC string of a local password.
    pub password_hash: Option<&'a str>,
    /// `(iss, sub)` of the OpenID provider that vouches for it.
    pub oidc: Option<(&'a str, &'a str)>,
}

/// A new token's stored fields.
#[derive(Debug, Clone)]
pub struct TokenInsert<'a> {
    /// Workspace.
    pub workspace: &'a str,
    /// Creator.
    pub account: i64,
    /// Name.
    pub name: &'a str,
    /// Role.
    pub role: Role,
    /// SHA-256 of the secret.
    pub secret_sha256: &'a str,
    /// First characters.
    pub prefix: &'a str,
    /// Created, epoch ms.
    pub created_at: i64,
    /// Expires, epoch ms.
    pub expires_at: Option<i64>,
    /// Territory inside the creator's (JSON), if any.
    pub territory: Option<&'a str>,
}

/// Why an identity write failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityStoreError {
    /// A unique name is taken.
    #[error("{0} already exists")]
    Exists(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for IdentityStoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// The identity tables.
#[async_trait]
pub trait IdentityStore: Send + Sync + std::fmt::Debug + 'static {
    /// Creates an account; its id.
    ///
    /// # Errors
    /// [`IdentityStoreError::Exists`] when the name (or the OpenID identity) is taken.
    async fn create_account(&self, account: &NewAccount<'_>, at: i64) -> Result<i64, IdentityStoreError>;
    /// The account an OpenID provider's `(iss, sub)` maps to.
    async fn account_by_oidc(&self, issuer: &str, subject: &str) -> Result<Option<Account>, StoreError>;
    /// The account named `name`.
    async fn account_by_name(&self, name: &str) -> Result<Option<Account>, StoreError>;
    /// The account `id`.
    async fn account(&self, id: i64) -> Result<Option<Account>, StoreError>;
    /// Sets an account's password hash and signs its sessions out; whether it exists.
    async fn set_password(&self, id: i64, password_hash: &str, at: i64) -> Result<bool, StoreError>;
    /// Disables (`Some(at)`: its sessions are signed out and its tokens revoked) or enables
    /// an account; whether it exists.
    async fn set_disabled(&self, id: i64, at: Option<i64>) -> Result<bool, StoreError>;
    /// Grants `role` in `workspace` (`None` removes the membership and revokes the tokens the
    /// account created there).
    async fn set_membership(
        &self,
        workspace: &str,
        account: i64,
        role: Option<Role>,
        at: i64,
    ) -> Result<(), StoreError>;
    /// The account's role in `workspace`.
    async fn membership(&self, workspace: &str, account: i64) -> Result<Option<Role>, StoreError> {
        Ok(self.member(workspace, account).await?.map(|m| m.role))
    }
    /// The account's membership of `workspace`: role, territory, and the workspace's territory.
    async fn member(&self, workspace: &str, account: i64) -> Result<Option<MemberRow>, StoreError>;
    /// Sets (or clears) `workspace`'s territory; `false` when there is no such workspace.
    async fn set_workspace_territory(&self, workspace: &str, territory: Option<&str>) -> Result<bool, StoreError>;
    /// `workspace`'s territory, if it has one.
    async fn workspace_territory(&self, workspace: &str) -> Result<Option<String>, StoreError>;
    /// Narrows the account's membership of `workspace` to a territory (`None`: the whole
    /// workspace); `false` when it is not a member.
    async fn set_territory(&self, workspace: &str, account: i64, territory: Option<&str>) -> Result<bool, StoreError>;
    /// Members of `workspace`, by name.
    async fn members(&self, workspace: &str) -> Result<Vec<Member>, StoreError>;
    /// Stores a new token; its id.
    async fn create_token(&self, token: &TokenInsert<'_>) -> Result<i64, StoreError>;
    /// The token whose secret digests to `secret_sha256`.
    async fn token_by_secret(&self, secret_sha256: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Tokens of `workspace`, newest first.
    async fn tokens(&self, workspace: &str) -> Result<Vec<TokenRecord>, StoreError>;
    /// Revokes token `id` of `workspace`; whether it was live.
    async fn revoke_token(&self, workspace: &str, id: i64, at: i64) -> Result<bool, StoreError>;
    /// Marks a token used; whether this was its first use.
    async fn mark_token_used(&self, id: i64, at: i64) -> Result<bool, StoreError>;
    /// Stores a new session.
    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// The session whose secret digests to `secret_sha256`.
    async fn session(&self, secret_sha256: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Signs a session out; whether it was live.
    async fn revoke_session(&self, secret_sha256: &str, at: i64) -> Result<bool, StoreError>;
    /// Deletes the sessions that expired or were signed out before `before`; how many.
    async fn purge_sessions(&self, before: i64) -> Result<u64, StoreError>;
    /// Appends rows to the audit trail in one transaction, chained after the current head.
    async fn append_audit(&self, drafts: &[AuditDraft]) -> Result<(), StoreError>;
    /// Audit rows matching `filter`, in seq order.
    async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError>;
    /// The head of the chain: last seq and hash written.
    async fn audit_head(&self) -> Result<(i64, String), StoreError>;
    /// Ids of every workspace of the store (a workspace is registered when a store is opened
    /// for it: `vigie workspace add`).
    async fn workspaces(&self) -> Result<Vec<String>, StoreError>;
}

/// The identity tables over a sqlx pool: `reader` for reads, `writer` for writes (the same
/// pool on PostgreSQL; SQLite's single writer connection and its read-only pool).
#[derive(Debug, Clone)]
pub struct SqlIdentity<DB: sqlx::Database> {
    reader: sqlx::Pool<DB>,
    writer: sqlx::Pool<DB>,
    begin: &'static str,
}

impl<DB: sqlx::Database> SqlIdentity<DB> {
    /// Over these pools; write transactions start with `begin` (`BEGIN IMMEDIATE` on SQLite,
    /// where each workspace's store has its own writer connection to the same file: a deferred
    /// transaction upgrading to a write would fail at once with "database is locked" instead of
    /// waiting for the lock).
    pub fn new(reader: sqlx::Pool<DB>, writer: sqlx::Pool<DB>, begin: &'static str) -> Self {
        Self { reader, writer, begin }
    }
}

const ACCOUNT_COLUMNS: &str = "id, name, display_name, password_hash, created_at, disabled_at";
const TOKEN_SELECT: &str = "SELECT t.id, t.workspace, t.account, a.name AS account_name, t.name, t.role, t.prefix, \
     t.created_at, t.expires_at, t.revoked_at, t.first_used_at, t.territory FROM api_tokens t \
     JOIN accounts a ON a.id = t.account";
const AUDIT_COLUMNS: &str = "seq, at, workspace, actor, action, target, outcome, client, detail, prev_hash, hash";

fn role_of(text: &str) -> Result<Role, StoreError> {
    text.parse().map_err(|e: super::UnknownRole| StoreError::Corrupt {
        what: "role",
        id: text.chars().take(40).collect(),
        reason: e.to_string(),
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(sqlx::error::DatabaseError::is_unique_violation)
}

/// One implementation body for both databases: the SQL is shared, the row types differ.
macro_rules! sql_identity {
    ($db:ty, $row:ty) => {
        impl SqlIdentity<$db> {
            fn account_from(r: &$row) -> Result<Account, sqlx::Error> {
                Ok(Account {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    display_name: r.try_get("display_name")?,
                    password_hash: r.try_get("password_hash")?,
                    created_at: r.try_get("created_at")?,
                    disabled_at: r.try_get("disabled_at")?,
                })
            }

            fn token_from(r: &$row) -> Result<TokenRecord, StoreError> {
                Ok(TokenRecord {
                    id: r.try_get("id")?,
                    workspace: r.try_get("workspace")?,
                    account: r.try_get("account")?,
                    account_name: r.try_get("account_name")?,
                    name: r.try_get("name")?,
                    role: role_of(r.try_get("role")?)?,
                    prefix: r.try_get("prefix")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                    first_used_at: r.try_get("first_used_at")?,
                    territory: r.try_get("territory")?,
                })
            }

            fn audit_from(r: &$row) -> Result<AuditRow, sqlx::Error> {
                Ok(AuditRow {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    workspace: r.try_get("workspace")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    outcome: r.try_get("outcome")?,
                    client: r.try_get("client")?,
                    detail: r.try_get("detail")?,
                    prev_hash: r.try_get("prev_hash")?,
                    hash: r.try_get("hash")?,
                })
            }
        }

        #[async_trait]
        impl IdentityStore for SqlIdentity<$db> {
            async fn create_account(&self, a: &NewAccount<'_>, at: i64) -> Result<i64, IdentityStoreError> {
                sqlx::query_scalar(
                    "INSERT INTO accounts (name, display_name, password_hash, oidc_issuer, oidc_subject, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(a.name)
                .bind(a.display_name)
                .bind(a.password_hash)
                .bind(a.oidc.map(|o| o.0))
                .bind(a.oidc.map(|o| o.1))
                .bind(at)
                .fetch_one(&self.writer)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        IdentityStoreError::Exists(format!("an account named '{}' (or for this identity)", a.name))
                    } else {
                        e.into()
                    }
                })
            }

            async fn account_by_oidc(&self, issuer: &str, subject: &str) -> Result<Option<Account>, StoreError> {
                let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE oidc_issuer = $1 AND oidc_subject = $2");
                let row = sqlx::query(&sql).bind(issuer).bind(subject).fetch_optional(&self.reader).await?;
                Ok(row.as_ref().map(Self::account_from).transpose()?)
            }

            async fn account_by_name(&self, name: &str) -> Result<Option<Account>, StoreError> {
                let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1");
                let row = sqlx::query(&sql).bind(name).fetch_optional(&self.reader).await?;
                Ok(row.as_ref().map(Self::account_from).transpose()?)
            }

            async fn account(&self, id: i64) -> Result<Option<Account>, StoreError> {
                let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_optional(&self.reader).await?;
                Ok(row.as_ref().map(Self::account_from).transpose()?)
            }

            async fn set_password(&self, id: i64, password_hash: &str, at: i64) -> Result<bool, StoreError> {
                let mut tx = self.writer.begin_with(self.begin).await?;
                let n = sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
                    .bind(password_hash)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE account = $2 AND revoked_at IS NULL")
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(n == 1)
            }

            async fn set_disabled(&self, id: i64, at: Option<i64>) -> Result<bool, StoreError> {
                let mut tx = self.writer.begin_with(self.begin).await?;
                let n = sqlx::query("UPDATE accounts SET disabled_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if let Some(at) = at {
                    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE account = $2 AND revoked_at IS NULL")
                        .bind(at)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE account = $2 AND revoked_at IS NULL")
                        .bind(at)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(n == 1)
            }

            async fn set_membership(
                &self,
                workspace: &str,
                account: i64,
                role: Option<Role>,
                at: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.writer.begin_with(self.begin).await?;
                match role {
                    Some(role) => {
                        sqlx::query(
                            "INSERT INTO memberships (workspace, account, role, granted_at) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (workspace, account) DO UPDATE SET role = excluded.role, granted_at = excluded.granted_at",
                        )
                        .bind(workspace)
                        .bind(account)
                        .bind(role.as_str())
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM memberships WHERE workspace = $1 AND account = $2")
                            .bind(workspace)
                            .bind(account)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(
                            "UPDATE api_tokens SET revoked_at = $1 WHERE workspace = $2 AND account = $3 AND revoked_at IS NULL",
                        )
                        .bind(at)
                        .bind(workspace)
                        .bind(account)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn member(&self, workspace: &str, account: i64) -> Result<Option<MemberRow>, StoreError> {
                let row: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT m.role, m.territory, w.territory FROM memberships m JOIN workspaces w ON w.id = m.workspace \
                     WHERE m.workspace = $1 AND m.account = $2",
                )
                .bind(workspace)
                .bind(account)
                .fetch_optional(&self.reader)
                .await?;
                row.map(|(role, territory, workspace_territory)| {
                    Ok(MemberRow { role: role_of(&role)?, territory, workspace_territory })
                })
                .transpose()
            }

            async fn set_workspace_territory(
                &self,
                workspace: &str,
                territory: Option<&str>,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query("UPDATE workspaces SET territory = $1 WHERE id = $2")
                    .bind(territory)
                    .bind(workspace)
                    .execute(&self.writer)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn workspace_territory(&self, workspace: &str) -> Result<Option<String>, StoreError> {
                let t: Option<Option<String>> = sqlx::query_scalar("SELECT territory FROM workspaces WHERE id = $1")
                    .bind(workspace)
                    .fetch_optional(&self.reader)
                    .await?;
                Ok(t.flatten())
            }

            async fn set_territory(
                &self,
                workspace: &str,
                account: i64,
                territory: Option<&str>,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query("UPDATE memberships SET territory = $1 WHERE workspace = $2 AND account = $3")
                    .bind(territory)
                    .bind(workspace)
                    .bind(account)
                    .execute(&self.writer)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn members(&self, workspace: &str) -> Result<Vec<Member>, StoreError> {
                let rows = sqlx::query(
                    "SELECT a.name, a.display_name, a.disabled_at, m.role, m.territory FROM memberships m \
                     JOIN accounts a ON a.id = m.account WHERE m.workspace = $1 ORDER BY a.name",
                )
                .bind(workspace)
                .fetch_all(&self.reader)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(Member {
                            name: r.try_get("name")?,
                            display_name: r.try_get("display_name")?,
                            role: role_of(r.try_get("role")?)?,
                            disabled: r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
                            territory: r.try_get("territory")?,
                        })
                    })
                    .collect()
            }

            async fn create_token(&self, t: &TokenInsert<'_>) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO api_tokens (workspace, account, name, role, secret_sha256, prefix, created_at, expires_at, \
                     territory) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                )
                .bind(t.workspace)
                .bind(t.account)
                .bind(t.name)
                .bind(t.role.as_str())
                .bind(t.secret_sha256)
                .bind(t.prefix)
                .bind(t.created_at)
                .bind(t.expires_at)
                .bind(t.territory)
                .fetch_one(&self.writer)
                .await?)
            }

            async fn token_by_secret(&self, secret_sha256: &str) -> Result<Option<TokenRecord>, StoreError> {
                let sql = format!("{TOKEN_SELECT} WHERE t.secret_sha256 = $1");
                let row = sqlx::query(&sql).bind(secret_sha256).fetch_optional(&self.reader).await?;
                row.as_ref().map(Self::token_from).transpose()
            }

            async fn tokens(&self, workspace: &str) -> Result<Vec<TokenRecord>, StoreError> {
                let sql = format!("{TOKEN_SELECT} WHERE t.workspace = $1 ORDER BY t.id DESC");
                let rows = sqlx::query(&sql).bind(workspace).fetch_all(&self.reader).await?;
                rows.iter().map(Self::token_from).collect()
            }

            async fn revoke_token(&self, workspace: &str, id: i64, at: i64) -> Result<bool, StoreError> {
                let n = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $1 WHERE workspace = $2 AND id = $3 AND revoked_at IS NULL",
                )
                .bind(at)
                .bind(workspace)
                .bind(id)
                .execute(&self.writer)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn mark_token_used(&self, id: i64, at: i64) -> Result<bool, StoreError> {
                let n = sqlx::query("UPDATE api_tokens SET first_used_at = $1 WHERE id = $2 AND first_used_at IS NULL")
                    .bind(at)
                    .bind(id)
                    .execute(&self.writer)
                    .await?
                    .rows_affected();
                Ok(n == 1)
            }

            async fn create_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO sessions (secret_sha256, account, csrf, created_at, expires_at, client) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&s.secret_sha256)
                .bind(s.account)
                .bind(&s.csrf)
                .bind(s.created_at)
                .bind(s.expires_at)
                .bind(s.client.as_deref())
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn session(&self, secret_sha256: &str) -> Result<Option<SessionRecord>, StoreError> {
                let row = sqlx::query(
                    "SELECT secret_sha256, account, csrf, created_at, expires_at, revoked_at, client FROM sessions \
                     WHERE secret_sha256 = $1",
                )
                .bind(secret_sha256)
                .fetch_optional(&self.reader)
                .await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some(SessionRecord {
                    secret_sha256: r.try_get("secret_sha256")?,
                    account: r.try_get("account")?,
                    csrf: r.try_get("csrf")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                    client: r.try_get("client")?,
                }))
            }

            async fn revoke_session(&self, secret_sha256: &str, at: i64) -> Result<bool, StoreError> {
                let n = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE secret_sha256 = $2 AND revoked_at IS NULL")
                    .bind(at)
                    .bind(secret_sha256)
                    .execute(&self.writer)
                    .await?
                    .rows_affected();
                Ok(n == 1)
            }

            async fn purge_sessions(&self, before: i64) -> Result<u64, StoreError> {
                Ok(sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
                    .bind(before)
                    .execute(&self.writer)
                    .await?
                    .rows_affected())
            }

            async fn append_audit(&self, drafts: &[AuditDraft]) -> Result<(), StoreError> {
                if drafts.is_empty() {
                    return Ok(());
                }
                let n = drafts.len() as i64;
                let mut tx = self.writer.begin_with(self.begin).await?;
                // The UPDATE takes the head row's lock: appends from every writer (and every
                // replica) are ordered here.
                let head = sqlx::query("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash")
                    .bind(n)
                    .fetch_one(&mut *tx)
                    .await?;
                let last: i64 = head.try_get("seq")?;
                let mut prev: String = head.try_get("hash")?;
                let mut rows = Vec::with_capacity(drafts.len());
                for (i, d) in drafts.iter().enumerate() {
                    let row = AuditRow::chain(d, last - n + 1 + i as i64, &prev);
                    prev.clone_from(&row.hash);
                    rows.push(row);
                }
                // One statement for the batch (11 parameters a row: a batch stays far below
                // both databases' limits).
                let mut q = sqlx::QueryBuilder::<$db>::new(format!("INSERT INTO audit ({AUDIT_COLUMNS}) "));
                q.push_values(&rows, |mut b, row| {
                    b.push_bind(row.seq)
                        .push_bind(row.at)
                        .push_bind(row.workspace.as_deref())
                        .push_bind(row.actor.as_str())
                        .push_bind(row.action.as_str())
                        .push_bind(row.target.as_str())
                        .push_bind(row.outcome.as_str())
                        .push_bind(row.client.as_deref())
                        .push_bind(row.detail.as_str())
                        .push_bind(row.prev_hash.as_str())
                        .push_bind(row.hash.as_str());
                });
                q.build().execute(&mut *tx).await?;
                sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1").bind(&prev).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
                let mut q = sqlx::QueryBuilder::<$db>::new(format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > "));
                q.push_bind(f.after_seq);
                if let Some(w) = &f.workspace {
                    q.push(" AND workspace = ").push_bind(w.clone());
                }
                if let Some(a) = &f.actor {
                    q.push(" AND actor = ").push_bind(a.clone());
                }
                match f.action.as_deref() {
                    Some(prefix) if prefix.ends_with('.') => {
                        q.push(" AND substr(action, 1, ").push_bind(prefix.len() as i32).push(") = ").push_bind(prefix.to_owned());
                    }
                    Some(a) => {
                        q.push(" AND action = ").push_bind(a.to_owned());
                    }
                    None => {}
                }
                if let Some(o) = f.outcome {
                    q.push(" AND outcome = ").push_bind(o.as_str());
                }
                if let Some(t) = f.since_ms {
                    q.push(" AND at >= ").push_bind(t);
                }
                if let Some(t) = f.until_ms {
                    q.push(" AND at < ").push_bind(t);
                }
                q.push(" ORDER BY seq LIMIT ").push_bind(f.limit as i64);
                let rows = q.build().fetch_all(&self.reader).await?;
                Ok(rows.iter().map(Self::audit_from).collect::<Result<_, _>>()?)
            }

            async fn workspaces(&self) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT id FROM workspaces ORDER BY id").fetch_all(&self.reader).await?)
            }

            async fn audit_head(&self) -> Result<(i64, String), StoreError> {
                let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_optional(&self.reader).await?;
                Ok(match row {
                    Some(r) => (r.try_get("seq")?, r.try_get("hash")?),
                    None => (0, GENESIS.to_owned()),
                })
            }
        }
    };
}

sql_identity!(sqlx::Postgres, sqlx::postgres::PgRow);
sql_identity!(sqlx::Sqlite, sqlx::sqlite::SqliteRow);
