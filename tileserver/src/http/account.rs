//! Identity routes: sign-in and sign-out (`/api/session`), who am I (`/api/me`), API tokens
//! (`/api/tokens`), members (`/api/members`) and the audit trail (`/api/audit`).

use super::AppState;
use super::access::{MaybeAccess, client_of};
use super::error::ApiError;
use crate::identity::audit::{AuditFilter, Outcome};
use crate::identity::store::TokenRecord;
use crate::identity::{Access, NewToken, Principal, Role, SESSION_COOKIE, Via};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use vigie_layers::feature::format_time_ms;

/// Most audit rows in one JSON page.
pub const MAX_AUDIT_PAGE: usize = 1000;
/// Most audit rows in one NDJSON export.
pub const MAX_AUDIT_EXPORT: usize = 1_000_000;

fn json_body<T: for<'de> Deserialize<'de>>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    super::entries::require_json(headers)?;
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("Invalid JSON", e.to_string()))
}

fn cookie_header(state: &super::Shared, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = state.config.public_url.as_deref().is_some_and(|u| u.starts_with("https://"));
    let v = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn me_view(access: &Access) -> Value {
    let (kind, name) = match &access.principal {
        Principal::Account { name, .. } => ("account", name.clone()),
        Principal::Token { name, .. } => ("token", name.clone()),
        Principal::Anonymous { .. } => ("anonymous", access.author.clone()),
    };
    let csrf = match &access.via {
        Via::Session { csrf, .. } => Some(csrf.clone()),
        _ => None,
    };
    json!({
        "kind": kind,
        "name": name,
        "actor": access.actor(),
        "workspace": access.workspace,
        "role": access.role,
        "territory": access.territory.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok()),
        "csrf": csrf,
        "can": {
            "write": access.allows(Role::Contributor),
            "qualify": access.allows(Role::Analyst),
            // Start, validate and publish situation reports.
            "report": access.allows(Role::Editor),
            "admin": access.allows(Role::Admin),
        },
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    name: String,
    password: String,
}

/// `POST /api/session` `{"name", "password"}`: signs in; sets the session cookie (HttpOnly,
/// SameSite=Strict) and answers the identity with its CSRF token.
///
/// # Errors
/// 401 for a wrong name or password, 429 while throttled, 404 when the account is not a member
/// of the workspace.
pub async fn sign_in(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let client = client_of(&req, &state.config.trusted_proxies);
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|_| ApiError::TooLarge("a sign-in body is at most 64 KiB".into()))?;
    let creds: SignIn = json_body(&parts.headers, &body)?;
    let ws = state.config.workspace.clone();
    let signed = state.identities.sign_in(&ws, &creds.name, &creds.password, client).await?;
    let member = state.identities.store().member(&ws, signed.account.id).await?;
    let access = Access {
        principal: Principal::Account { id: signed.account.id, name: signed.account.name.clone() },
        workspace: ws,
        role: signed.role,
        via: Via::Session { csrf: signed.csrf.clone(), secret_sha256: String::new() },
        client,
        author: signed.account.name.clone(),
        territory: crate::identity::service::territory_of(&member, signed.role, None),
    };
    let mut body = me_view(&access);
    body["display_name"] = json!(signed.account.display_name);
    body["expires_at"] = json!(format_time_ms(signed.expires_at));
    let mut resp = Json(body).into_response();
    let max_age = (signed.expires_at - crate::now_ms()) / 1000;
    resp.headers_mut().insert(header::SET_COOKIE, cookie_header(&state, &signed.cookie_secret, max_age));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `DELETE /api/session`: signs out (the session is revoked in the store, so a replayed cookie
/// is refused) and clears the cookie.
///
/// # Errors
/// The store's.
pub async fn sign_out(State(state): State<AppState>, access: Access) -> Result<Response, ApiError> {
    state.identities.sign_out(&access).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie_header(&state, "", 0));
    Ok(resp)
}

/// `GET /api/me`: who the request is, its role, and (for a session) the CSRF token to send in
/// `X-CSRF-Token` with every change.
///
/// # Errors
/// 401 without a valid credential (and no anonymous access).
pub async fn me(MaybeAccess(access): MaybeAccess) -> Result<Response, ApiError> {
    let access = access.ok_or_else(|| ApiError::Unauthorized("not signed in".into()))?;
    let mut resp = Json(me_view(&access)).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

fn token_view(t: &TokenRecord) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "role": t.role,
        "prefix": t.prefix,
        "created_by": t.account_name,
        "created_at": format_time_ms(t.created_at),
        "expires_at": t.expires_at.map(format_time_ms),
        "revoked_at": t.revoked_at.map(format_time_ms),
        "first_used_at": t.first_used_at.map(format_time_ms),
        "territory": t.territory.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok()),
    })
}

/// `GET /api/tokens`: the workspace's API tokens (never their secrets).
///
/// # Errors
/// The store's.
pub async fn tokens(State(state): State<AppState>, access: Access) -> Result<Json<Value>, ApiError> {
    let list = state.identities.store().tokens(&access.workspace).await?;
    Ok(Json(json!({ "tokens": list.iter().map(token_view).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    name: String,
    role: Role,
    expires_in_days: Option<u32>,
    territory: Option<Value>,
}

/// `POST /api/tokens` `{"name", "role", "expires_in_days"?, "territory"?}`: a new API token
/// for the workspace, at most the creator's role, and narrowed to `territory` (regions as a
/// membership's) inside the creator's when given. The token is in the answer once and never
/// again.
///
/// # Errors
/// 400 for a bad name, role or expiry; 403 for a role above the creator's or a creator that is
/// not a signed-in account; 422 for a territory that does not resolve.
pub async fn create_token(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: TokenRequest = json_body(&headers, &body)?;
    let territory = req.territory.filter(|t| !t.is_null()).map(|t| super::territory::check(&state, &t)).transpose()?;
    let expires_at = req.expires_in_days.map(|d| crate::now_ms() + i64::from(d.clamp(1, 3650)) * 86_400_000);
    let (token, record) = state
        .identities
        .create_token(&access, NewToken { name: req.name, role: req.role, expires_at, territory })
        .await?;
    let mut v = token_view(&record);
    v["token"] = json!(token);
    let mut resp = (StatusCode::CREATED, Json(v)).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `DELETE /api/tokens/{id}`: revokes a token; every replica refuses it within a second.
///
/// # Errors
/// 404 for no live token with that id in the workspace.
pub async fn revoke_token(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("no token '{}'", id.chars().take(20).collect::<String>())))?;
    state.identities.revoke_token(&access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/members`: the workspace's members and roles.
///
/// # Errors
/// The store's.
pub async fn members(State(state): State<AppState>, access: Access) -> Result<Json<Value>, ApiError> {
    let list = state.identities.store().members(&access.workspace).await?;
    Ok(Json(json!({ "members": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberRequest {
    role: Role,
    /// Read from the raw body (absent and `null` differ).
    #[serde(default)]
    #[expect(dead_code, reason = "read from the raw body, where absent and null differ")]
    territory: Option<Value>,
}

/// A token acts for the account that created it: like a session of that account
/// ([`crate::identity::Identities::set_member`]), it cannot lower or remove that account's admin
/// role (which would also take its own rights away, or revoke it).
///
/// # Errors
/// 403 when it would; the store's.
async fn guard_creator(state: &super::Shared, access: &Access, name: &str, role: Option<Role>) -> Result<(), ApiError> {
    let Principal::Token { account, .. } = access.principal else { return Ok(()) };
    if role == Some(Role::Admin) {
        return Ok(());
    }
    if state.identities.store().account_by_name(name).await?.is_some_and(|a| a.id == account) {
        return Err(ApiError::Forbidden(
            "a token cannot lower or remove the admin role of the account that created it (another admin can)".into(),
        ));
    }
    Ok(())
}

/// `PUT /api/members/{name}` `{"role", "territory"}`: grants (or changes) an account's role
/// here; `territory` (optional) narrows the membership to part of the map (a JSON array of
/// regions, see [`super::territory`]; `null` gives the whole workspace back).
///
/// # Errors
/// 404 for an unknown account; 403 when an admin would lower their own role; 422 for a
/// territory that does not resolve.
pub async fn put_member(
    State(state): State<AppState>,
    access: Access,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: MemberRequest = json_body(&headers, &body)?;
    // Absent: unchanged; null: the whole workspace; an array: checked, then stored.
    let territory = match serde_json::from_slice::<Value>(&body).ok().and_then(|v| v.get("territory").cloned()) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(t) => Some(Some(super::territory::check(&state, &t)?)),
    };
    guard_creator(&state, &access, &name, Some(req.role)).await?;
    state.identities.set_member(&access, &name, Some(req.role)).await?;
    if let Some(t) = territory {
        state.identities.set_territory(&access, &name, t.as_deref()).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/members/{name}`: removes an account from the workspace and revokes the tokens
/// it created here.
///
/// # Errors
/// As [`put_member`].
pub async fn delete_member(
    State(state): State<AppState>,
    access: Access,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    guard_creator(&state, &access, &name, None).await?;
    state.identities.set_member(&access, &name, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn parse_time(key: &str, v: &str) -> Result<i64, ApiError> {
    vigie_layers::feature::parse_time_ms(v).map_err(|_| {
        ApiError::bad_request(
            "Invalid time",
            format!("{key}: expected an RFC 3339 time, got '{}'", v.chars().take(40).collect::<String>()),
        )
    })
}

/// `GET /api/audit`: the workspace's audit rows, oldest first, filtered by `actor`, `action`
/// (exact, or a prefix ending in `.` such as `entry.`), `outcome` (ok, refused, failed),
/// `since` and `until` (RFC 3339), paged with `after` (a seq) and `limit` (1 to 1000, default
/// 100). `format=ndjson` (or `Accept: application/x-ndjson`) exports every matching row, one
/// JSON object per line; the export is itself audited.
///
/// # Errors
/// 400 for a bad parameter.
pub async fn audit(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request("Invalid query string", e.to_string()))?;
    let mut filter = AuditFilter { workspace: Some(access.workspace.clone()), limit: 100, ..AuditFilter::default() };
    let mut ndjson =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/x-ndjson"));
    for (k, v) in &pairs {
        match k.as_str() {
            "actor" => filter.actor = Some(v.clone()),
            "action" => filter.action = Some(v.clone()),
            "outcome" => {
                filter.outcome = Some(
                    Outcome::parse(v)
                        .ok_or_else(|| ApiError::bad_request("Invalid outcome", "outcome is ok, refused or failed"))?,
                );
            }
            "since" => filter.since_ms = Some(parse_time(k, v)?),
            "until" => filter.until_ms = Some(parse_time(k, v)?),
            "after" => {
                filter.after_seq =
                    v.parse().map_err(|_| ApiError::bad_request("Invalid after", "after is a seq number"))?;
            }
            "limit" => {
                filter.limit =
                    v.parse().ok().filter(|l| (1..=MAX_AUDIT_PAGE).contains(l)).ok_or_else(|| {
                        ApiError::bad_request("Invalid limit", format!("limit is 1 to {MAX_AUDIT_PAGE}"))
                    })?;
            }
            "format" => ndjson = v.eq_ignore_ascii_case("ndjson"),
            other => {
                return Err(ApiError::bad_request(
                    "Unknown parameter",
                    format!(
                        "'{}' is not a filter: use actor, action, outcome, since, until, after, limit, format",
                        other.chars().take(40).collect::<String>()
                    ),
                ));
            }
        }
    }
    let row_view = |r: &crate::identity::audit::AuditRow| {
        let mut v = json!(r);
        v["at"] = json!(format_time_ms(r.at));
        v["detail"] = serde_json::from_str(&r.detail).unwrap_or(Value::Null);
        v
    };
    if !ndjson {
        let rows = state.identities.store().audit(&filter).await?;
        let next = (rows.len() == filter.limit).then(|| rows.last().map(|r| r.seq)).flatten();
        return Ok(
            Json(json!({ "rows": rows.iter().map(row_view).collect::<Vec<_>>(), "next_after": next })).into_response()
        );
    }
    let mut out = Vec::new();
    let mut exported = 0usize;
    filter.limit = MAX_AUDIT_PAGE;
    loop {
        let rows = state.identities.store().audit(&filter).await?;
        for r in &rows {
            serde_json::to_writer(&mut out, &row_view(r)).map_err(|e| ApiError::Internal(e.into()))?;
            out.push(b'\n');
        }
        exported += rows.len();
        match rows.last() {
            Some(last) if rows.len() == filter.limit && exported < MAX_AUDIT_EXPORT => filter.after_seq = last.seq,
            _ => break,
        }
    }
    let detail = json!({ "rows": exported, "query": query.unwrap_or_default() });
    state.identities.record(state.identities.draft(&access, "audit.export", "audit", Outcome::Ok, detail)).await;
    let mut resp = out.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    Ok(resp)
}

/// Cookie holding a sign-in under way with the OpenID provider (state, nonce, PKCE verifier).
const OIDC_COOKIE: &str = "vigie_oidc";

/// `GET /api/auth/methods`: how one signs in here (the web view shows the SSO button when
/// `oidc` is set).
pub async fn methods(State(state): State<AppState>) -> Json<Value> {
    let oidc = state
        .identities
        .policy()
        .oidc
        .as_ref()
        .map(|p| json!({ "login": "/auth/oidc/login", "issuer": p.settings().issuer }));
    Json(json!({ "password": true, "oidc": oidc }))
}

fn oidc_provider(state: &super::Shared) -> Result<std::sync::Arc<crate::identity::oidc::Provider>, ApiError> {
    state
        .identities
        .policy()
        .oidc
        .clone()
        .ok_or_else(|| ApiError::NotFound("no OpenID provider is configured here ([auth.oidc])".into()))
}

fn provider_error(e: &crate::identity::oidc::ProviderError) -> ApiError {
    use crate::identity::oidc::ProviderError;
    tracing::warn!(error = %e, "OpenID sign-in failed");
    match e {
        ProviderError::Token(t) => ApiError::Unauthorized(format!("the identity provider's answer is refused: {t}")),
        other => ApiError::Unauthorized(format!("sign-in with the identity provider failed: {other}")),
    }
}

/// `GET /auth/oidc/login?return=/path`: starts the OpenID Connect sign-in (Authorization Code
/// with PKCE): redirects to the provider, keeping state, nonce and verifier in an HttpOnly
/// cookie for the callback.
///
/// # Errors
/// 404 without a configured provider; 401 when its discovery document cannot be read.
pub async fn oidc_login(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let provider = oidc_provider(&state)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let return_to = pairs.iter().find(|(k, _)| k == "return").map_or("/", |(_, v)| v.as_str()).to_owned();
    let (url, pending) = tokio::task::spawn_blocking(move || provider.begin(&return_to))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| provider_error(&e))?;
    let mut resp = StatusCode::FOUND.into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_str(&url).map_err(|e| ApiError::Internal(e.into()))?);
    let cookie = format!("{OIDC_COOKIE}={}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=600", pending.encode());
    h.insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.into()))?);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET /auth/oidc/callback?code=&state=`: ends the sign-in: checks `state` against the cookie,
/// exchanges the code (with the PKCE verifier), checks the id token (signature, issuer,
/// audience, expiry, nonce), maps the identity to its account (created at first sign-in), opens
/// a session and goes back to where the sign-in started.
///
/// # Errors
/// 400 for a callback without its sign-in (no cookie, other state) or an error from the
/// provider; 401 for a refused id token; 404 when the account is not a member.
pub async fn oidc_callback(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let provider = oidc_provider(&state)?;
    let client = client_of(&req, &state.config.trusted_proxies);
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let param = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let refused = |reason: String| {
        state.identities.record_detached(crate::identity::audit::AuditDraft {
            at: crate::now_ms(),
            workspace: Some(state.config.workspace.clone()),
            actor: "unknown".into(),
            action: "session.create".into(),
            target: "oidc".into(),
            outcome: Outcome::Refused,
            client: client.map(|c| c.to_string()),
            detail: json!({ "reason": reason, "via": "oidc" }),
        });
    };
    if let Some(error) = param("error") {
        refused(format!("provider error: {}", error.chars().take(80).collect::<String>()));
        return Err(ApiError::bad_request(
            "Sign-in refused by the identity provider",
            format!(
                "the provider answered '{}': start again from the sign-in page",
                error.chars().take(80).collect::<String>()
            ),
        ));
    }
    let pending = super::access::cookie(req.headers(), OIDC_COOKIE).and_then(crate::identity::oidc::Pending::decode);
    let (Some(pending), Some(code), Some(sent_state)) = (pending, param("code"), param("state")) else {
        refused("no sign-in under way".into());
        return Err(ApiError::bad_request(
            "No sign-in under way",
            "this callback does not match a sign-in started here (or it took more than 10 minutes): start again",
        ));
    };
    if !crate::identity::secret::constant_time_eq(&sent_state, &pending.state) {
        refused("state mismatch".into());
        return Err(ApiError::bad_request("No sign-in under way", "the state does not match the sign-in started here"));
    }
    let p = pending.clone();
    let claims = tokio::task::spawn_blocking(move || provider.finish(&code, &p))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| {
            refused(format!("{e}"));
            provider_error(&e)
        })?;
    let signed = state.identities.sign_in_oidc(&state.config.workspace, &claims, client).await?;
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let max_age = (signed.expires_at - crate::now_ms()) / 1000;
    let h = resp.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_str(&pending.return_to).unwrap_or(HeaderValue::from_static("/")));
    h.append(header::SET_COOKIE, cookie_header(&state, &signed.cookie_secret, max_age));
    h.append(
        header::SET_COOKIE,
        HeaderValue::from_static("vigie_oidc=; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The identity `GET /api/me` shows.
fn identity_schema() -> Value {
    use super::openapi::schema as s;
    let mut levels = s::object(&[("all_of", s::array(super::territory::schema()))], &["all_of"]);
    levels["description"] =
        json!("An identity narrowed at several levels (token, membership, workspace): it sees what meets each");
    s::object(
        &[
            ("kind", s::one_of(&["account", "token", "anonymous"])),
            ("name", s::string()),
            ("actor", s::string()),
            ("workspace", s::string()),
            ("role", s::of::<Role>()),
            ("territory", json!({"anyOf": [super::territory::schema(), levels, {"type": "null"}]})),
            ("csrf", s::nullable(s::string())),
            (
                "can",
                s::object(
                    &[
                        ("write", s::boolean()),
                        ("qualify", s::boolean()),
                        ("report", s::boolean()),
                        ("admin", s::boolean()),
                    ],
                    &["write", "qualify", "report", "admin"],
                ),
            ),
        ],
        &["kind", "name", "actor", "workspace", "role", "territory", "csrf", "can"],
    )
}

/// Registers the identity schemas and returns nothing: operations refer to them by name.
fn components(api: &mut super::openapi::Api) {
    use super::openapi::schema as s;
    api.component(
        "TokenRecord",
        s::object(
            &[
                ("id", s::int()),
                ("name", s::string()),
                ("role", s::of::<Role>()),
                ("prefix", s::string()),
                ("created_by", s::string()),
                ("created_at", s::date_time()),
                ("expires_at", s::nullable(s::date_time())),
                ("revoked_at", s::nullable(s::date_time())),
                ("first_used_at", s::nullable(s::date_time())),
                ("territory", s::nullable(super::territory::schema())),
            ],
            &[
                "id",
                "name",
                "role",
                "prefix",
                "created_by",
                "created_at",
                "expires_at",
                "revoked_at",
                "first_used_at",
                "territory",
            ],
        ),
    );
    api.component(
        "Member",
        s::object(
            &[
                ("name", s::string()),
                ("display_name", s::string()),
                ("role", s::of::<Role>()),
                ("disabled", s::boolean()),
                ("territory", s::nullable(super::territory::schema())),
            ],
            &["name", "display_name", "role", "disabled", "territory"],
        ),
    );
    api.component(
        "AuditRow",
        s::object(
            &[
                ("seq", s::int()),
                ("at", s::date_time()),
                ("workspace", s::nullable(s::string())),
                ("actor", s::string()),
                ("action", s::string()),
                ("target", s::string()),
                ("outcome", s::one_of(&["ok", "refused", "failed"])),
                ("client", s::nullable(s::string())),
                ("detail", s::nullable(s::any_object())),
                ("prev_hash", s::pattern("^[0-9a-f]{64}$")),
                ("hash", s::pattern("^[0-9a-f]{64}$")),
            ],
            &[
                "seq",
                "at",
                "workspace",
                "actor",
                "action",
                "target",
                "outcome",
                "client",
                "detail",
                "prev_hash",
                "hash",
            ],
        ),
    );
}

/// A session cookie answer header.
const SET_SESSION: &str =
    "The session cookie (`vigie_session`, HttpOnly, SameSite=Strict, Secure behind an https `public_url`)";

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    components(api);
    let name = || {
        let mut n = s::text(crate::identity::MAX_NAME_CHARS as u64);
        n["minLength"] = json!(1);
        n
    };
    let mut signed_in = identity_schema();
    signed_in = json!({"allOf": [signed_in, s::object(&[("display_name", s::string()), ("expires_at", s::date_time())], &["display_name", "expires_at"])]});
    api.post(
        "/api/session",
        sign_in,
        Op::new("identity", "Sign in")
            .about(
                "Signs an account in with its name and password: sets the session cookie (HttpOnly, \
                 SameSite=Strict) and answers the identity with the CSRF token to send in `X-CSRF-Token` \
                 with every change. Failed attempts are throttled per account and per client (429 with \
                 `Retry-After`).",
            )
            .json_body(
                s::object(&[("name", s::string()), ("password", s::string())], &["name", "password"]),
                "The account's name and password (no other field; at most 64 KiB)",
            )
            .json(200, "Signed in: the identity, its display name and when the session ends", signed_in)
            .answer_header(200, "Set-Cookie", s::string(), SET_SESSION)
            .answer_header(200, "Cache-Control", s::one_of(&["no-store"]), "Never cached")
            .fails(&[401, 404]),
    );
    api.delete(
        "/api/session",
        sign_out,
        Op::new("identity", "Sign out")
            .about(
                "Signs the session out: it is revoked in the store (a replayed cookie is refused) and the \
                 cookie is cleared. With an API token, nothing is revoked.",
            )
            .empty(204, "Signed out")
            .answer_header(204, "Set-Cookie", s::string(), "The session cookie, cleared (`Max-Age=0`)"),
    );
    api.get(
        "/api/me",
        me,
        Op::new("identity", "Who is asking")
            .about(
                "Who the request is (an account, a token, or the anonymous demo identity), its role and \
                 territory in the workspace, what it may do, and (for a session) the CSRF token to send in \
                 `X-CSRF-Token` with every change. 401 without a valid credential.",
            )
            .json(200, "The identity", identity_schema())
            .answer_header(200, "Cache-Control", s::one_of(&["no-store"]), "Never cached")
            .fails(&[401]),
    );
    api.get(
        "/api/auth/methods",
        methods,
        Op::new("identity", "How to sign in")
            .about("How one signs in here: by password always; `oidc` is set when single sign-on is configured (the web view then shows its button).")
            .json(
                200,
                "The sign-in methods",
                s::object(
                    &[
                        ("password", s::boolean()),
                        (
                            "oidc",
                            s::nullable(s::object(
                                &[("login", s::string()), ("issuer", s::string())],
                                &["login", "issuer"],
                            )),
                        ),
                    ],
                    &["password", "oidc"],
                ),
            ),
    );
    api.get(
        "/auth/oidc/login",
        oidc_login,
        Op::new("identity", "Start the single sign-on")
            .about(
                "Starts the OpenID Connect sign-in (Authorization Code with PKCE): redirects to the \
                 provider, keeping state, nonce and verifier in an HttpOnly cookie (`vigie_oidc`, 10 \
                 minutes) for the callback. 404 when no provider is configured (`[auth.oidc]`), 401 when \
                 its discovery document cannot be read.",
            )
            .query(
                "return",
                s::text(1000),
                "Where to go back once signed in: a path of this server (anything else goes back to `/`)",
            )
            .empty(302, "To the identity provider")
            .answer_header(302, "Location", s::string(), "The provider's authorization URL")
            .answer_header(
                302,
                "Set-Cookie",
                s::string(),
                "`vigie_oidc`: the sign-in under way (HttpOnly, SameSite=Lax)",
            )
            .answer_header(302, "Cache-Control", s::one_of(&["no-store"]), "Never cached")
            .fails(&[401, 404]),
    );
    api.get(
        "/auth/oidc/callback",
        oidc_callback,
        Op::new("identity", "End the single sign-on")
            .about(
                "Ends the sign-in: checks `state` against the `vigie_oidc` cookie, exchanges the code \
                 (with the PKCE verifier), checks the id token (signature, issuer, audience, expiry, \
                 nonce), maps the identity to its account (created at first sign-in), opens a session and \
                 goes back to where the sign-in started. 400 for a callback without its sign-in (no \
                 cookie, another state) or an error from the provider; 401 for a refused id token; 404 \
                 when no provider is configured or the account is not a member.",
            )
            .query("code", s::string(), "The authorization code the provider gives")
            .query("state", s::string(), "The state sent at the start of the sign-in")
            .query("error", s::string(), "The provider's error, when it refused")
            .empty(303, "Back to the page the sign-in started from, signed in")
            .answer_header(303, "Location", s::string(), "The path the sign-in started from")
            .answer_header(
                303,
                "Set-Cookie",
                s::string(),
                "The session cookie (`vigie_session`), and `vigie_oidc` cleared",
            )
            .answer_header(303, "Cache-Control", s::one_of(&["no-store"]), "Never cached")
            .fails(&[401, 404]),
    );
    api.get(
        "/api/tokens",
        tokens,
        Op::new("identity", "API tokens")
            .about("The workspace's API tokens, revoked and expired ones included (never their secrets).")
            .json(200, "The tokens", s::object(&[("tokens", s::array(s::named("TokenRecord")))], &["tokens"])),
    );
    let mut expires = s::int_in(0, i64::from(u32::MAX));
    expires["description"] = json!(
        "Days until it expires, from 1 to 3650 (other values are brought into that range); none: it does not expire"
    );
    let mut created = s::named("TokenRecord");
    created = json!({"allOf": [created, s::object(&[("token", s::pattern("^vgt_"))], &["token"])]});
    api.post(
        "/api/tokens",
        create_token,
        Op::new("identity", "Create an API token")
            .about(
                "Creates an API token for the workspace, with at most the creator's role, narrowed to \
                 `territory` (inside the creator's) when given. The secret (`token`) is in this answer \
                 and never again. Only a signed-in account creates tokens (403 for a token); 400 for a \
                 bad name or role; 422 for a territory that does not resolve.",
            )
            .json_body(
                s::object(
                    &[
                        ("name", name()),
                        ("role", s::of::<Role>()),
                        ("expires_in_days", s::nullable(expires)),
                        ("territory", s::nullable(super::territory::schema())),
                    ],
                    &["name", "role"],
                ),
                "The token's name (letters, digits, `.`, `-`, `_`, `@`), role, expiry and territory (no other field)",
            )
            .json(201, "Created: the record, and the secret shown once", created)
            .answer_header(201, "Cache-Control", s::one_of(&["no-store"]), "Never cached")
            .fails(&[422]),
    );
    api.delete(
        "/api/tokens/{id}",
        revoke_token,
        Op::new("identity", "Revoke an API token")
            .about("Revokes a live token of the workspace; every replica refuses it within a second. 404 for no live token with that id.")
            .path("id", s::int(), "The token's id")
            .empty(204, "Revoked"),
    );
    api.get(
        "/api/members",
        members,
        Op::new("identity", "Members and roles")
            .about("The workspace's members: their role, whether the account is disabled, and the territory their membership is narrowed to.")
            .json(200, "The members", s::object(&[("members", s::array(s::named("Member")))], &["members"])),
    );
    api.put(
        "/api/members/{name}",
        put_member,
        Op::new("identity", "Grant a role")
            .about(
                "Makes an existing account a member with `role` (or changes its role). `territory` \
                 narrows the membership to part of the map; `null` gives the whole workspace back; absent, \
                 it is left as it is. 404 for an unknown account; 403 when an admin would lower their own \
                 role; 422 for a territory that does not resolve.",
            )
            .path("name", s::string(), "The account's name")
            .json_body(
                s::object(
                    &[("role", s::of::<Role>()), ("territory", s::nullable(super::territory::schema()))],
                    &["role"],
                ),
                "The role, and the territory (no other field)",
            )
            .empty(204, "Granted")
            .fails(&[422]),
    );
    api.delete(
        "/api/members/{name}",
        delete_member,
        Op::new("identity", "Remove a member")
            .about("Removes an account from the workspace and revokes the tokens it created here. 404 for an unknown account; 403 when an admin would remove themself.")
            .path("name", s::string(), "The account's name")
            .empty(204, "Removed"),
    );
    let mut limit = s::int_in(1, MAX_AUDIT_PAGE as i64);
    limit["default"] = json!(100);
    api.get(
        "/api/audit",
        audit,
        Op::new("identity", "The audit trail")
            .about(
                "The workspace's audit rows, oldest first, filtered and paged with `after` (the \
                 `next_after` of the page before). `format=ndjson` (or `Accept: application/x-ndjson`) \
                 exports every matching row instead, one JSON object per line (at most 1,000,000); the \
                 export is itself audited. An unknown parameter is a 400.",
            )
            .query("actor", s::string(), "Who acted, exactly (`account:name`, `token:name`…)")
            .query("action", s::string(), "The action, exactly, or a prefix ending in `.` (`entry.`)")
            .query("outcome", s::one_of(&["ok", "refused", "failed"]), "How it ended")
            .query("since", s::date_time(), "From this time (RFC 3339, included)")
            .query("until", s::date_time(), "Until this time (RFC 3339, excluded)")
            .query("after", s::int(), "Rows after this seq (paging)")
            .query("limit", limit, "Most rows in the page")
            .query("format", s::one_of(&["json", "ndjson"]), "`ndjson`: every matching row, one per line")
            .json(
                200,
                "A page of rows; `next_after` is the seq to page on with, `null` on the last page",
                s::object(
                    &[("rows", s::array(s::named("AuditRow"))), ("next_after", s::nullable(s::int()))],
                    &["rows", "next_after"],
                ),
            )
            .answers(200, "Every matching row, one JSON object per line", "application/x-ndjson", s::string()),
    );
}
