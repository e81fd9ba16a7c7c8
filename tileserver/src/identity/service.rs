//! The identity service: resolves credentials to an [`Access`], signs people in and out,
//! issues and revokes API tokens, and feeds the audit trail.
//!
//! Hot path: a bearer token or session cookie is looked up by its SHA-256 in the store once,
//! then served from memory for [`RESOLVE_TTL_MS`]: no store round trip per tile, and a token or
//! session revoked on any replica is refused by every replica within that time.

use super::audit::{AuditDraft, Outcome};
use super::store::{
    Account, IdentityStore, IdentityStoreError, MemberRow, NewAccount, SessionRecord, TokenInsert, TokenRecord,
};
use super::throttle::{ACCOUNT_FREE_FAILURES, ADDRESS_FREE_FAILURES, Throttle};
use super::{Access, Principal, Role, Via, password, secret};
use crate::store::StoreError;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "vigie_session";
/// How long a resolved credential is trusted without asking the store again, milliseconds.
pub const RESOLVE_TTL_MS: u64 = 500;
/// Default session lifetime, hours.
pub const DEFAULT_SESSION_HOURS: u64 = 12;
/// Audit rows waiting to be written at most; beyond, refused-request rows are dropped (and
/// counted in the log) rather than letting a flood of bad requests grow memory.
const AUDIT_QUEUE: usize = 10_000;
/// Audit rows per append transaction at most.
const AUDIT_BATCH: usize = 500;

/// What a deployment allows without credentials.
#[derive(Debug, Clone, Default)]
pub struct IdentityPolicy {
    /// The role of requests without credentials (`None`: they get 401). Set by
    /// `auth.anonymous_role`, or to admin by `--demo` on a loopback address.
    pub anonymous_role: Option<Role>,
    /// Whether the anonymous identity may name itself with `X-Vigie-User` (demo on loopback).
    pub anonymous_names_itself: bool,
    /// Session lifetime, milliseconds.
    pub session_ttl_ms: i64,
    /// The OpenID provider, when one is configured.
    pub oidc: Option<Arc<super::oidc::Provider>>,
}

/// Why a request is refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credential, or one that is not valid (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credential, not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// Not a member of the workspace (404: its existence is not revealed).
    #[error("no such workspace")]
    NotMember,
    /// Too many failed sign-ins (429).
    #[error("too many failed sign-ins; retry in {retry_after_s} s")]
    Throttled {
        /// Seconds to wait.
        retry_after_s: u64,
    },
    /// Invalid input (400).
    #[error("{0}")]
    Invalid(String),
    /// Unknown thing (404).
    #[error("{0}")]
    NotFound(String),
    /// A name is taken (409).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<IdentityStoreError> for AuthError {
    fn from(e: IdentityStoreError) -> Self {
        match e {
            IdentityStoreError::Exists(what) => AuthError::Conflict(format!("{what} already exists")),
            IdentityStoreError::Store(e) => AuthError::Store(e),
        }
    }
}

/// A credential presented by a request.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// `Authorization: Bearer …`.
    Bearer(&'a str),
    /// The session cookie's value.
    Session(&'a str),
    /// Nothing.
    None,
}

/// A successful sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The cookie's secret (sent once, in `Set-Cookie`).
    pub cookie_secret: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// The account.
    pub account: Account,
    /// Role in the workspace signed in to.
    pub role: Role,
    /// Expiry, epoch ms.
    pub expires_at: i64,
}

/// A token to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Name (what it is for).
    pub name: String,
    /// Role, at most the creator's.
    pub role: Role,
    /// Expiry, epoch ms.
    pub expires_at: Option<i64>,
    /// Territory inside the creator's (JSON, checked by the caller): the token sees what
    /// meets both.
    pub territory: Option<String>,
}

#[derive(Debug, Clone)]
enum Resolved {
    Token(TokenRecord, Membership),
    Session(SessionRecord, Account, Membership),
    Oidc(Account, Membership),
}

/// A membership as resolved, or none.
type Membership = Option<MemberRow>;

/// The territory an identity acting as `role` sees (JSON, shared by the accesses that carry
/// it): the membership's, inside the workspace's unless `role` is admin, and inside that, a
/// token's own. One level is the level's JSON array; several are `{"all_of": [...]}` (a
/// feature must meet each; `crate::http::territory`).
pub fn territory_of(m: &Membership, role: Role, token: Option<&str>) -> Option<Arc<str>> {
    let m = m.as_ref()?;
    let workspace = m.workspace_territory.as_deref().filter(|_| role < Role::Admin);
    let levels: Vec<&str> = [token, m.territory.as_deref(), workspace].into_iter().flatten().collect();
    match levels.as_slice() {
        [] => None,
        [one] => Some(Arc::from(*one)),
        many => Some(Arc::from(format!("{{\"all_of\":[{}]}}", many.join(",")))),
    }
}

type AuditJob = (AuditDraft, Option<oneshot::Sender<()>>);

/// Sessions that ended longer ago than this are deleted, milliseconds (a replayed cookie of a
/// deleted session is refused as unknown, like any other).
pub const SESSION_PURGE_AFTER_MS: i64 = 7 * 24 * 3_600_000;
/// How often ended sessions are purged.
pub const SESSION_PURGE_EVERY: std::time::Duration = std::time::Duration::from_hours(1);

/// Most credentials kept resolved at once (beyond, expired ones are dropped, then all).
const MAX_RESOLVED: usize = 100_000;

/// Credentials resolved in the last [`RESOLVE_TTL_MS`], by kind, workspace and secret digest.
/// A plain map under a read-write lock: a lookup per authenticated request is one read lock
/// and one hash (measured cheaper on this path than moka's, whose admission bookkeeping we
/// do not need: entries live half a second).
#[derive(Debug, Default)]
struct Resolutions {
    // Lock rule: held for one map operation; never across an await or another lock.
    map: std::sync::RwLock<std::collections::HashMap<String, (i64, Arc<Resolved>)>>,
}

impl Resolutions {
    fn get(&self, key: &str) -> Option<Arc<Resolved>> {
        let now = crate::now_ms();
        let map = self.map.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key).filter(|(until, _)| *until > now).map(|(_, r)| r.clone())
    }

    fn insert(&self, key: String, r: Arc<Resolved>) {
        let now = crate::now_ms();
        let mut map = self.map.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_RESOLVED {
            map.retain(|_, (until, _)| *until > now);
            if map.len() >= MAX_RESOLVED {
                map.clear();
            }
        }
        map.insert(key, (now + RESOLVE_TTL_MS as i64, r));
    }

    fn invalidate(&self, key: &str) {
        self.map.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
    }

    fn invalidate_all(&self) {
        self.map.write().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }
}

/// Credentials, sessions, tokens, memberships and the audit trail.
#[derive(Debug)]
pub struct Identities {
    store: Arc<dyn IdentityStore>,
    policy: IdentityPolicy,
    resolved: Resolutions,
    throttle: Throttle,
    audit_tx: mpsc::Sender<AuditJob>,
}

impl Identities {
    /// The service over `store`, with its audit writer running on the current runtime.
    pub fn new(store: Arc<dyn IdentityStore>, policy: IdentityPolicy) -> Arc<Self> {
        let (audit_tx, audit_rx) = mpsc::channel(AUDIT_QUEUE);
        tokio::spawn(audit_writer(store.clone(), audit_rx));
        Arc::new(Self { store, policy, resolved: Resolutions::default(), throttle: Throttle::default(), audit_tx })
    }

    /// Deletes sessions that ended more than [`SESSION_PURGE_AFTER_MS`] ago (run hourly).
    pub async fn purge_sessions(&self) {
        match self.store.purge_sessions(crate::now_ms() - SESSION_PURGE_AFTER_MS).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "ended sessions purged"),
            Err(e) => tracing::warn!(error = %e, "ended sessions could not be purged"),
        }
    }

    /// The identity tables.
    pub fn store(&self) -> &Arc<dyn IdentityStore> {
        &self.store
    }

    /// The policy.
    pub fn policy(&self) -> &IdentityPolicy {
        &self.policy
    }

    /// Resolves a credential for `workspace`. `Ok(None)`: no credential and no anonymous
    /// access (the caller answers 401 where a role is needed).
    ///
    /// # Errors
    /// 401 for an invalid, expired or revoked credential; 404 when the identity is not a
    /// member of `workspace`; the store's errors.
    pub async fn resolve(
        &self,
        workspace: &str,
        credential: Credential<'_>,
        client: Option<IpAddr>,
        claimed_name: Option<&str>,
    ) -> Result<Option<Access>, AuthError> {
        let now = crate::now_ms();
        match credential {
            Credential::None => Ok(self.policy.anonymous_role.map(|role| {
                let claimed = claimed_name.filter(|_| self.policy.anonymous_names_itself).map(str::to_owned);
                Access {
                    author: claimed.clone().unwrap_or_else(|| "anonymous".to_owned()),
                    principal: Principal::Anonymous { claimed },
                    workspace: workspace.to_owned(),
                    role,
                    via: Via::Anonymous,
                    client,
                    territory: None,
                }
            })),
            Credential::Bearer(token) if !token.starts_with(secret::TOKEN_PREFIX) => {
                self.resolve_oidc(workspace, token, client).await.map(Some)
            }
            Credential::Bearer(token) => {
                let sha = secret::sha256_hex(token);
                let Resolved::Token(t, creator) = &*self
                    .lookup(&format!("t:{workspace}:{sha}"), || async {
                        let Some(t) = self.store.token_by_secret(&sha).await? else {
                            return Ok(None);
                        };
                        let member = self.store.member(&t.workspace, t.account).await?;
                        Ok(Some(Resolved::Token(t, member)))
                    })
                    .await?
                    .ok_or_else(|| AuthError::Unauthenticated("unknown API token".into()))?
                else {
                    return Err(AuthError::Unauthenticated("unknown API token".into()));
                };
                if t.revoked_at.is_some() {
                    return Err(AuthError::Unauthenticated(format!("API token #{} was revoked", t.id)));
                }
                if t.expires_at.is_some_and(|e| e <= now) {
                    return Err(AuthError::Unauthenticated(format!("API token #{} has expired", t.id)));
                }
                if t.workspace != workspace {
                    return Err(AuthError::NotMember);
                }
                // A token never does more, nor sees more, than its creator can today.
                let role = creator.as_ref().map(|c| c.role.min(t.role)).ok_or(AuthError::NotMember)?;
                let first_use = t.first_used_at.is_none() && self.store.mark_token_used(t.id, now).await?;
                if t.first_used_at.is_none() {
                    // Reloaded with its first use on the next request, not marked again each time.
                    self.resolved.invalidate(&format!("t:{workspace}:{sha}"));
                }
                if first_use {
                    self.record_detached(AuditDraft {
                        at: now,
                        workspace: Some(t.workspace.clone()),
                        actor: format!("token:{}#{}", t.name, t.id),
                        action: "token.first_use".into(),
                        target: format!("token/{}", t.id),
                        outcome: Outcome::Ok,
                        client: client.map(|c| c.to_string()),
                        detail: serde_json::json!({}),
                    });
                }
                Ok(Some(Access {
                    principal: Principal::Token { id: t.id, name: t.name.clone(), account: t.account },
                    workspace: workspace.to_owned(),
                    role,
                    via: Via::Bearer,
                    client,
                    author: format!("token:{}", t.name),
                    territory: territory_of(creator, role, t.territory.as_deref()),
                }))
            }
            Credential::Session(cookie) => {
                let sha = secret::sha256_hex(cookie);
                let resolved = self
                    .lookup(&format!("s:{workspace}:{sha}"), || async {
                        let Some(s) = self.store.session(&sha).await? else { return Ok(None) };
                        let Some(a) = self.store.account(s.account).await? else { return Ok(None) };
                        let member = self.store.member(workspace, a.id).await?;
                        Ok(Some(Resolved::Session(s, a, member)))
                    })
                    .await?
                    .ok_or_else(|| AuthError::Unauthenticated("unknown session: sign in again".into()))?;
                let Resolved::Session(s, a, member) = &*resolved else {
                    return Err(AuthError::Unauthenticated("unknown session: sign in again".into()));
                };
                if s.revoked_at.is_some() || s.expires_at <= now || a.disabled_at.is_some() {
                    return Err(AuthError::Unauthenticated("the session has ended: sign in again".into()));
                }
                let role = member.as_ref().map(|m| m.role).ok_or(AuthError::NotMember)?;
                Ok(Some(Access {
                    principal: Principal::Account { id: a.id, name: a.name.clone() },
                    workspace: workspace.to_owned(),
                    role,
                    via: Via::Session { csrf: s.csrf.clone(), secret_sha256: sha },
                    client,
                    author: a.name.clone(),
                    territory: territory_of(member, role, None),
                }))
            }
        }
    }

    /// An OpenID provider's access token: verified locally (signature, issuer, audience,
    /// expiry), mapped to its account (created at first sight), cached like the rest.
    async fn resolve_oidc(&self, workspace: &str, token: &str, client: Option<IpAddr>) -> Result<Access, AuthError> {
        let Some(provider) = self.policy.oidc.clone() else {
            return Err(AuthError::Unauthenticated(
                "the bearer token is not a vigie API token (vgt_…), and no OpenID provider is configured".into(),
            ));
        };
        if !super::jwt::looks_like_jwt(token) {
            return Err(AuthError::Unauthenticated("the bearer token is neither a vigie API token nor a JWT".into()));
        }
        let key = format!("j:{workspace}:{}", secret::sha256_hex(token));
        let resolved = if let Some(hit) = self.resolved.get(&key) {
            hit
        } else {
            let audience = provider.settings().audience.clone();
            let owned = token.to_owned();
            let claims = tokio::task::spawn_blocking(move || provider.verify(&owned, &audience, None))
                .await
                .map_err(StoreError::task("token check"))?
                .map_err(|e| {
                    tracing::info!(error = %e, "OpenID bearer token refused");
                    AuthError::Unauthenticated(format!("OpenID token refused: {e}"))
                })?;
            let account = self.oidc_account(workspace, &claims, client).await?;
            let member = self.store.member(workspace, account.id).await?;
            let r = Arc::new(Resolved::Oidc(account, member));
            self.resolved.insert(key, r.clone());
            r
        };
        let Resolved::Oidc(account, member) = &*resolved else {
            return Err(AuthError::Unauthenticated("unknown token".into()));
        };
        if account.disabled_at.is_some() {
            return Err(AuthError::Unauthenticated("the account is disabled".into()));
        }
        let role = member.as_ref().map(|m| m.role).ok_or(AuthError::NotMember)?;
        Ok(Access {
            principal: Principal::Account { id: account.id, name: account.name.clone() },
            workspace: workspace.to_owned(),
            role,
            via: Via::Bearer,
            client,
            author: account.name.clone(),
            territory: territory_of(member, role, None),
        })
    }

    /// The account of an identity the OpenID provider vouches for: found by `(iss, sub)`, or
    /// created at first sight (named after `preferred_username`, made unique) and given the
    /// configured default role in `workspace` when it has none there.
    async fn oidc_account(
        &self,
        workspace: &str,
        claims: &super::jwt::Claims,
        client: Option<IpAddr>,
    ) -> Result<Account, AuthError> {
        let now = crate::now_ms();
        let account = if let Some(a) = self.store.account_by_oidc(&claims.issuer, &claims.subject).await? {
            a
        } else {
            let base: String = claims
                .username
                .chars()
                .map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') { c } else { '-' })
                .take(super::MAX_NAME_CHARS - 7)
                .collect();
            let base = if base.is_empty() { "oidc".to_owned() } else { base };
            let display = claims.name.clone().unwrap_or_else(|| base.clone());
            let new = NewAccount {
                name: &base,
                display_name: &display,
                password_hash: None,
                oidc: Some((&claims.issuer, &claims.subject)),
            };
            let id = match self.store.create_account(&new, now).await {
                Ok(id) => id,
                Err(IdentityStoreError::Exists(_)) => {
                    let unique = format!("{base}-{}", &secret::sha256_hex(&claims.subject)[..6]);
                    self.store.create_account(&NewAccount { name: &unique, ..new }, now).await?
                }
                Err(e) => return Err(e.into()),
            };
            let account = self
                .store
                .account(id)
                .await?
                .ok_or_else(|| AuthError::NotFound(format!("account {id} vanished after its creation")))?;
            self.record(AuditDraft {
                at: now,
                workspace: Some(workspace.to_owned()),
                actor: "oidc".into(),
                action: "account.create".into(),
                target: format!("account/{}", account.name),
                outcome: Outcome::Ok,
                client: client.map(|c| c.to_string()),
                detail: serde_json::json!({ "issuer": claims.issuer, "subject_sha256": secret::sha256_hex(&claims.subject) }),
            })
            .await;
            account
        };
        let default_role = self.policy.oidc.as_ref().and_then(|p| p.settings().default_role);
        if let Some(role) = default_role
            && self.store.membership(workspace, account.id).await?.is_none()
        {
            self.store.set_membership(workspace, account.id, Some(role), now).await?;
            self.record(AuditDraft {
                at: now,
                workspace: Some(workspace.to_owned()),
                actor: "oidc".into(),
                action: "member.set".into(),
                target: format!("account/{}", account.name),
                outcome: Outcome::Ok,
                client: client.map(|c| c.to_string()),
                detail: serde_json::json!({ "before": null, "after": role, "reason": "default role of a first sign-in" }),
            })
            .await;
        }
        Ok(account)
    }

    /// Signs in an identity the OpenID provider vouched for at the end of the web sign-in
    /// (its id token already checked): a new session.
    ///
    /// # Errors
    /// 401 for a disabled account, 404 when it is not a member of the workspace.
    pub async fn sign_in_oidc(
        &self,
        workspace: &str,
        claims: &super::jwt::Claims,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, AuthError> {
        let account = self.oidc_account(workspace, claims, client).await?;
        let refuse = |reason: &str| AuditDraft {
            at: crate::now_ms(),
            workspace: Some(workspace.to_owned()),
            actor: account.name.clone(),
            action: "session.create".into(),
            target: format!("account/{}", account.name),
            outcome: Outcome::Refused,
            client: client.map(|c| c.to_string()),
            detail: serde_json::json!({ "reason": reason, "via": "oidc" }),
        };
        if account.disabled_at.is_some() {
            self.record(refuse("disabled")).await;
            return Err(AuthError::Unauthenticated("this account is disabled".into()));
        }
        let Some(role) = self.store.membership(workspace, account.id).await? else {
            self.record(refuse("not a member")).await;
            return Err(AuthError::NotMember);
        };
        self.open_session(workspace, account, role, client, "oidc").await
    }

    /// A new session for `account` (signed in by `via`), audited.
    async fn open_session(
        &self,
        workspace: &str,
        account: Account,
        role: Role,
        client: Option<IpAddr>,
        via: &str,
    ) -> Result<SignedIn, AuthError> {
        let now = crate::now_ms();
        let cookie_secret = secret::random_secret();
        let session = SessionRecord {
            secret_sha256: secret::sha256_hex(&cookie_secret),
            account: account.id,
            csrf: secret::random_secret(),
            created_at: now,
            expires_at: now + self.policy.session_ttl_ms,
            revoked_at: None,
            client: client.map(|c| c.to_string()),
        };
        self.store.create_session(&session).await?;
        self.record(AuditDraft {
            at: now,
            workspace: Some(workspace.to_owned()),
            actor: account.name.clone(),
            action: "session.create".into(),
            target: format!("account/{}", account.name),
            outcome: Outcome::Ok,
            client: client.map(|c| c.to_string()),
            detail: serde_json::json!({ "reason": via }),
        })
        .await;
        Ok(SignedIn { cookie_secret, csrf: session.csrf, account, role, expires_at: session.expires_at })
    }

    async fn lookup<F, Fut>(&self, key: &str, load: F) -> Result<Option<Arc<Resolved>>, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Resolved>, StoreError>>,
    {
        if let Some(hit) = self.resolved.get(key) {
            return Ok(Some(hit));
        }
        let Some(r) = load().await? else { return Ok(None) };
        let r = Arc::new(r);
        self.resolved.insert(key.to_owned(), r.clone());
        Ok(Some(r))
    }

    /// Signs `name` in to `workspace` with a password: a new session.
    ///
    /// # Errors
    /// 429 while throttled; 401 for an unknown or disabled account or a wrong password (the
    /// same message and the same time for each); 404 when the account is not a member.
    pub async fn sign_in(
        &self,
        workspace: &str,
        name: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, AuthError> {
        let now = crate::now_ms();
        let account_key = format!("account:{name}");
        let address_key = client.map(|c| format!("address:{c}"));
        let wait_ms = address_key
            .iter()
            .map(|k| self.throttle.wait_ms(k, now))
            .chain([self.throttle.wait_ms(&account_key, now)])
            .max()
            .unwrap_or(0);
        let audit = |outcome: Outcome, reason: &str| AuditDraft {
            at: now,
            workspace: Some(workspace.to_owned()),
            actor: name.chars().take(super::MAX_NAME_CHARS).collect(),
            action: "session.create".into(),
            target: format!("account/{}", name.chars().take(super::MAX_NAME_CHARS).collect::<String>()),
            outcome,
            client: client.map(|c| c.to_string()),
            detail: serde_json::json!({ "reason": reason }),
        };
        if wait_ms > 0 {
            self.record_detached(audit(Outcome::Refused, "throttled"));
            return Err(AuthError::Throttled { retry_after_s: (wait_ms as u64).div_ceil(1000) });
        }
        let account = self.store.account_by_name(name).await?;
        let phc = account.as_ref().filter(|a| a.disabled_at.is_none()).and_then(|a| a.password_hash.clone());
        let pw = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            if let Some(phc) = phc {
                password::verify(&pw, &phc)
            } else {
                password::verify_nothing(&pw);
                false
            }
        })
        .await
        .map_err(StoreError::task("password check"))?;
        let Some(account) = account.filter(|_| ok) else {
            self.throttle.fail(&account_key, ACCOUNT_FREE_FAILURES, now);
            if let Some(k) = &address_key {
                self.throttle.fail(k, ADDRESS_FREE_FAILURES, now);
            }
            self.record(audit(Outcome::Refused, "bad credentials")).await;
            return Err(AuthError::Unauthenticated("unknown account or wrong password".into()));
        };
        self.throttle.clear(&account_key);
        let Some(role) = self.store.membership(workspace, account.id).await? else {
            self.record(audit(Outcome::Refused, "not a member")).await;
            return Err(AuthError::NotMember);
        };
        self.open_session(workspace, account, role, client, "password").await
    }

    /// Ends the session `access` came with.
    ///
    /// # Errors
    /// The store's.
    pub async fn sign_out(&self, access: &Access) -> Result<(), AuthError> {
        if let Via::Session { secret_sha256, .. } = &access.via {
            self.store.revoke_session(secret_sha256, crate::now_ms()).await?;
            self.resolved.invalidate(&format!("s:{}:{secret_sha256}", access.workspace));
            self.record(self.draft(access, "session.delete", "session", Outcome::Ok, serde_json::json!({}))).await;
        }
        Ok(())
    }

    /// Creates an API token for `access`'s workspace; the token (shown once) and its record.
    ///
    /// # Errors
    /// 403 when the asker is not a signed-in account or asks for a role above its own; 400
    /// for a bad name or an expiry in the past.
    pub async fn create_token(&self, access: &Access, new: NewToken) -> Result<(String, TokenRecord), AuthError> {
        let Principal::Account { id: account, .. } = access.principal else {
            return Err(AuthError::Forbidden("API tokens are created by a signed-in account, not by a token".into()));
        };
        super::check_name(&new.name, "a token name").map_err(AuthError::Invalid)?;
        if new.role > access.role {
            return Err(AuthError::Forbidden(format!(
                "a token cannot have more rights than its creator: you are {}, the token asks for {}",
                access.role, new.role
            )));
        }
        let now = crate::now_ms();
        if new.expires_at.is_some_and(|e| e <= now) {
            return Err(AuthError::Invalid("the expiry is in the past".into()));
        }
        let token = secret::new_token();
        let sha = secret::sha256_hex(&token);
        let prefix: String = token.chars().take(secret::TOKEN_PREFIX.len() + 6).collect();
        let insert = TokenInsert {
            workspace: &access.workspace,
            account,
            name: &new.name,
            role: new.role,
            secret_sha256: &sha,
            prefix: &prefix,
            created_at: now,
            expires_at: new.expires_at,
            territory: new.territory.as_deref(),
        };
        let id = self.store.create_token(&insert).await?;
        let record = self
            .store
            .token_by_secret(&sha)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("token #{id} vanished after its creation")))?;
        let detail = serde_json::json!({
            "after": super::audit::digest(&serde_json::json!(record)),
            "role": new.role,
            "territory": new.territory.is_some(),
        });
        self.record(self.draft(access, "token.create", &format!("token/{id}"), Outcome::Ok, detail)).await;
        Ok((token, record))
    }

    /// Revokes token `id` of `access`'s workspace.
    ///
    /// # Errors
    /// 404 when there is no live token `id` in the workspace.
    pub async fn revoke_token(&self, access: &Access, id: i64) -> Result<(), AuthError> {
        self.revoke_token_by(&access.workspace, &access.actor(), access.client, id).await
    }

    /// As [`Self::revoke_token`], for an actor without an [`Access`] (the command line).
    ///
    /// # Errors
    /// 404 when there is no live token `id` in `workspace`.
    pub async fn revoke_token_by(
        &self,
        workspace: &str,
        actor: &str,
        client: Option<IpAddr>,
        id: i64,
    ) -> Result<(), AuthError> {
        let now = crate::now_ms();
        if !self.store.revoke_token(workspace, id, now).await? {
            return Err(AuthError::NotFound(format!("no live token #{id} in workspace '{workspace}'")));
        }
        self.resolved.invalidate_all();
        self.record(AuditDraft {
            at: now,
            workspace: Some(workspace.to_owned()),
            actor: actor.to_owned(),
            action: "token.revoke".into(),
            target: format!("token/{id}"),
            outcome: Outcome::Ok,
            client: client.map(|c| c.to_string()),
            detail: serde_json::json!({}),
        })
        .await;
        Ok(())
    }

    /// Grants `role` in `access`'s workspace to account `name` (`None` removes it).
    ///
    /// # Errors
    /// 404 for an unknown account; 403 when an admin would remove their own admin role.
    pub async fn set_member(&self, access: &Access, name: &str, role: Option<Role>) -> Result<(), AuthError> {
        let account = self.store.account_by_name(name).await?.ok_or_else(|| {
            AuthError::NotFound(format!("no account named '{name}' (create it with `vigie user add`)"))
        })?;
        if matches!(access.principal, Principal::Account { id, .. } if id == account.id) && role != Some(Role::Admin) {
            return Err(AuthError::Forbidden(
                "you cannot lower or remove your own admin role (another admin can)".into(),
            ));
        }
        let before = self.store.membership(&access.workspace, account.id).await?;
        self.store.set_membership(&access.workspace, account.id, role, crate::now_ms()).await?;
        self.resolved.invalidate_all();
        let detail = serde_json::json!({ "before": before, "after": role });
        self.record(self.draft(access, "member.set", &format!("account/{name}"), Outcome::Ok, detail)).await;
        Ok(())
    }

    /// Narrows `name`'s membership of the asker's workspace to a territory (JSON, checked by
    /// the caller), or gives it the whole workspace again (`None`); audited with digests.
    ///
    /// # Errors
    /// 404 for an unknown account or one that is not a member.
    pub async fn set_territory(&self, access: &Access, name: &str, territory: Option<&str>) -> Result<(), AuthError> {
        let account = self
            .store
            .account_by_name(name)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("no account named '{name}'")))?;
        let before = self.store.member(&access.workspace, account.id).await?.and_then(|m| m.territory);
        if !self.store.set_territory(&access.workspace, account.id, territory).await? {
            return Err(AuthError::NotFound(format!("'{name}' is not a member of this workspace")));
        }
        self.resolved.invalidate_all();
        let digest = |t: Option<&str>| t.map(|t| super::audit::digest(&serde_json::Value::String(t.to_owned())));
        let detail = serde_json::json!({ "before": digest(before.as_deref()), "after": digest(territory) });
        self.record(self.draft(access, "member.territory", &format!("account/{name}"), Outcome::Ok, detail)).await;
        Ok(())
    }

    /// Sets the territory of the asker's workspace (JSON, checked by the caller; `None`: the
    /// whole map): every member but its admins then sees the scoped layers within it. Audited
    /// with digests; `by` is the admin who does it (`None`: the command line).
    ///
    /// # Errors
    /// 404 for no such workspace.
    pub async fn set_workspace_territory(
        &self,
        workspace: &str,
        by: Option<&Access>,
        territory: Option<&str>,
    ) -> Result<(), AuthError> {
        let before = self.store.workspace_territory(workspace).await?;
        if !self.store.set_workspace_territory(workspace, territory).await? {
            return Err(AuthError::NotFound(format!("no workspace '{workspace}'")));
        }
        self.resolved.invalidate_all();
        let digest = |t: Option<&str>| t.map(|t| super::audit::digest(&serde_json::Value::String(t.to_owned())));
        let detail = serde_json::json!({ "before": digest(before.as_deref()), "after": digest(territory) });
        let draft = match by {
            Some(access) => {
                self.draft(access, "workspace.territory", &format!("workspace/{workspace}"), Outcome::Ok, detail)
            }
            None => AuditDraft {
                at: crate::now_ms(),
                workspace: Some(workspace.to_owned()),
                actor: crate::cli::cli_actor(),
                action: "workspace.territory".into(),
                target: format!("workspace/{workspace}"),
                outcome: Outcome::Ok,
                client: None,
                detail,
            },
        };
        self.record(draft).await;
        Ok(())
    }

    /// Creates an account (with a password, checked and hashed with argon2id) and makes it a
    /// member of `workspace` with `role`. `actor` is who does it (`cli`, an admin's name).
    ///
    /// # Errors
    /// 400 for a bad name or password; 409 when the name is taken.
    pub async fn add_account(
        &self,
        actor: &str,
        name: &str,
        password: &str,
        workspace: &str,
        role: Role,
    ) -> Result<i64, AuthError> {
        super::check_name(name, "an account name").map_err(AuthError::Invalid)?;
        password::check_new(password).map_err(AuthError::Invalid)?;
        let phc = hash_off_thread(password).await?;
        let now = crate::now_ms();
        let new = NewAccount { name, display_name: name, password_hash: Some(&phc), oidc: None };
        let id = self.store.create_account(&new, now).await?;
        self.store.set_membership(workspace, id, Some(role), now).await?;
        self.record(AuditDraft {
            at: now,
            workspace: Some(workspace.to_owned()),
            actor: actor.to_owned(),
            action: "account.create".into(),
            target: format!("account/{name}"),
            outcome: Outcome::Ok,
            client: None,
            detail: serde_json::json!({ "role": role }),
        })
        .await;
        Ok(id)
    }

    /// Sets an account's password (signing its sessions out) or disables/enables it
    /// (disabling signs it out and revokes its tokens).
    ///
    /// # Errors
    /// 404 for an unknown account, 400 for a bad password.
    pub async fn change_account(&self, actor: &str, name: &str, change: AccountChange<'_>) -> Result<(), AuthError> {
        let account = self
            .store
            .account_by_name(name)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("no account named '{name}'")))?;
        let now = crate::now_ms();
        let action = match change {
            AccountChange::Password(pw) => {
                password::check_new(pw).map_err(AuthError::Invalid)?;
                let phc = hash_off_thread(pw).await?;
                self.store.set_password(account.id, &phc, now).await?;
                "account.password"
            }
            AccountChange::Disable => {
                self.store.set_disabled(account.id, Some(now)).await?;
                "account.disable"
            }
            AccountChange::Enable => {
                self.store.set_disabled(account.id, None).await?;
                "account.enable"
            }
        };
        self.resolved.invalidate_all();
        self.record(AuditDraft {
            at: now,
            workspace: None,
            actor: actor.to_owned(),
            action: action.into(),
            target: format!("account/{name}"),
            outcome: Outcome::Ok,
            client: None,
            detail: serde_json::json!({}),
        })
        .await;
        Ok(())
    }

    /// The access of account `name` in `workspace`, for the command line acting on its behalf
    /// (`vigie token create --user NAME`).
    ///
    /// # Errors
    /// 404 for an unknown account or one that is not a member.
    pub async fn account_access(&self, workspace: &str, name: &str) -> Result<Access, AuthError> {
        let account = self
            .store
            .account_by_name(name)
            .await?
            .filter(|a| a.disabled_at.is_none())
            .ok_or_else(|| AuthError::NotFound(format!("no active account named '{name}'")))?;
        let member = self.store.member(workspace, account.id).await?;
        let role = member
            .as_ref()
            .map(|m| m.role)
            .ok_or_else(|| AuthError::NotFound(format!("'{name}' is not a member of workspace '{workspace}'")))?;
        Ok(Access {
            principal: Principal::Account { id: account.id, name: account.name.clone() },
            workspace: workspace.to_owned(),
            role,
            via: Via::Anonymous,
            client: None,
            author: account.name,
            territory: territory_of(&member, role, None),
        })
    }

    /// An audit row of `access` doing `action` on `target`.
    pub fn draft(
        &self,
        access: &Access,
        action: &str,
        target: &str,
        outcome: Outcome,
        detail: serde_json::Value,
    ) -> AuditDraft {
        AuditDraft {
            at: crate::now_ms(),
            workspace: Some(access.workspace.clone()),
            actor: access.actor(),
            action: action.to_owned(),
            target: target.to_owned(),
            outcome,
            client: access.client.map(|c| c.to_string()),
            detail,
        }
    }

    /// Appends a row to the audit trail and waits until it is committed (or its write failed,
    /// which is logged).
    pub async fn record(&self, draft: AuditDraft) {
        let (tx, rx) = oneshot::channel();
        if self.audit_tx.send((draft, Some(tx))).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Queues a row, waiting for room in the queue but not for its commit: the log's writes,
    /// whose throughput must not halve by a second commit each (measured: 2,100–2,500 entries/s
    /// from 8 clients on the embedded store without the audit, 800–1,250 when each write waited
    /// for its row). The row commits within milliseconds; a crash in between loses it (the
    /// entry itself stays committed, with its author and revision).
    pub async fn record_queued(&self, draft: AuditDraft) {
        let _ = self.audit_tx.send((draft, None)).await;
    }

    /// Appends a row without waiting (refused requests: a flood of them must not hold
    /// connections open); dropped when the queue is full.
    pub fn record_detached(&self, draft: AuditDraft) {
        if self.audit_tx.try_send((draft, None)).is_err() {
            tracing::warn!("audit queue full: a refused-request row was dropped");
        }
    }
}

/// A change to an account.
#[derive(Debug, Clone, Copy)]
pub enum AccountChange<'a> {
    /// A new password.
    Password(&'a str),
    /// Disable: sign out everywhere, revoke its tokens, refuse sign-ins.
    Disable,
    /// Enable again.
    Enable,
}

async fn hash_off_thread(password: &str) -> Result<String, AuthError> {
    let pw = password.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(StoreError::task("password hash"))?
        .map_err(|e| AuthError::Invalid(format!("the password cannot be hashed: {e}")))
}

/// Appends queued rows in batches, one transaction each, in arrival order.
async fn audit_writer(store: Arc<dyn IdentityStore>, mut rx: mpsc::Receiver<AuditJob>) {
    let mut jobs = Vec::with_capacity(AUDIT_BATCH);
    while rx.recv_many(&mut jobs, AUDIT_BATCH).await > 0 {
        let drafts: Vec<AuditDraft> = jobs.iter().map(|(d, _)| d.clone()).collect();
        if let Err(e) = store.append_audit(&drafts).await {
            tracing::error!(error = %e, rows = drafts.len(), "audit rows could not be written");
        }
        for (_, done) in jobs.drain(..) {
            if let Some(done) = done {
                let _ = done.send(());
            }
        }
    }
}
