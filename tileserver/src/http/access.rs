//! Who may call what: the one table of access rules ([`RULES`]), the middleware that resolves
//! every request to an [`Access`] in the workspace it addresses and enforces its route's rule,
//! and the extractor handlers take.
//!
//! A route missing from the table is refused to everyone (500, logged): a new route cannot be
//! forgotten open. The role-matrix test walks this table.

use super::AppState;
use super::error::ApiError;
use crate::identity::audit::{AuditDraft, Outcome};
use crate::identity::service::Credential;
use crate::identity::{Access, Role, SESSION_COOKIE, Via};
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};

/// Header carrying the session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Header the anonymous demo identity may name itself with (demo mode on loopback only).
pub const USER_HEADER: &str = "x-vigie-user";

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone (the page, its assets, health, sign-in).
    Public,
    /// A member of the workspace with at least this role.
    Role(Role),
}

/// One route's rule: method, route template (as registered), need.
#[derive(Debug, Clone)]
pub struct Rule {
    /// HTTP method (`HEAD` follows `GET`).
    pub method: Method,
    /// The route template.
    pub path: &'static str,
    /// What it needs.
    pub need: Need,
}

const fn rule(method: Method, path: &'static str, need: Need) -> Rule {
    Rule { method, path, need }
}

const READ: Need = Need::Role(Role::Reader);
const WRITE: Need = Need::Role(Role::Contributor);
const ADMIN: Need = Need::Role(Role::Admin);
const STAFF: Need = Need::Role(Role::StaffingManager);

/// Every route and what it needs. Finer rules inside a handler (a contributor edits only their
/// own entries and cannot qualify) are stated in the handler's doc.
pub const RULES: &[Rule] = &[
    rule(Method::GET, "/health", Need::Public),
    rule(Method::GET, "/livez", Need::Public),
    rule(Method::GET, "/readyz", Need::Public),
    rule(Method::GET, "/api/openapi.json", Need::Public),
    rule(Method::GET, "/api/docs", Need::Public),
    rule(Method::GET, "/", Need::Public),
    rule(Method::GET, "/web/{*path}", Need::Public),
    rule(Method::POST, "/api/session", Need::Public),
    rule(Method::GET, "/api/me", Need::Public),
    rule(Method::GET, "/api/auth/methods", Need::Public),
    rule(Method::GET, "/auth/oidc/login", Need::Public),
    rule(Method::GET, "/auth/oidc/callback", Need::Public),
    rule(Method::DELETE, "/api/session", READ),
    rule(Method::GET, "/metrics", READ),
    rule(Method::GET, "/catalog", READ),
    rule(Method::GET, "/tiles/{layers}", READ),
    rule(Method::GET, "/tiles/{layers}/{z}/{x}/{y}", READ),
    rule(Method::GET, "/styles", READ),
    rule(Method::GET, "/styles/{file}", READ),
    rule(Method::PUT, "/api/styles/{id}", ADMIN),
    rule(Method::DELETE, "/api/styles/{id}", ADMIN),
    rule(Method::GET, "/api/entries", READ),
    rule(Method::POST, "/api/entries", WRITE),
    rule(Method::GET, "/api/entries/{id}", READ),
    rule(Method::PATCH, "/api/entries/{id}", WRITE),
    rule(Method::DELETE, "/api/entries/{id}", WRITE),
    rule(Method::GET, "/api/entries/{id}/revisions", READ),
    rule(Method::POST, "/api/entries/{id}/escalate", WRITE),
    rule(Method::POST, "/api/entries/{id}/send", WRITE),
    rule(Method::DELETE, "/api/entries/{id}/copies/{workspace}", WRITE),
    rule(Method::POST, "/api/entries/{id}/comments", WRITE),
    rule(Method::GET, "/api/workspace", READ),
    rule(Method::GET, "/api/reports", READ),
    rule(Method::POST, "/api/reports", Need::Role(Role::Editor)),
    rule(Method::GET, "/api/reports/settings", READ),
    rule(Method::PUT, "/api/reports/settings", ADMIN),
    rule(Method::GET, "/api/reports/schedule", READ),
    rule(Method::GET, "/api/reports/feed.atom", READ),
    rule(Method::GET, "/api/reports/{id}", READ),
    rule(Method::GET, "/api/reports/{id}/compiled", READ),
    rule(Method::PUT, "/api/reports/{id}/sections/{section}", WRITE),
    rule(Method::POST, "/api/reports/{id}/status", WRITE),
    rule(Method::POST, "/api/reports/{id}/correct", Need::Role(Role::Editor)),
    rule(Method::GET, "/api/reports/{id}/diff", READ),
    rule(Method::POST, "/api/reports/{id}/presence", WRITE),
    rule(Method::GET, "/api/reports/{id}/html", READ),
    rule(Method::GET, "/api/reports/{id}/pdf", READ),
    // Offline packs: readers take the map offline (their territory narrows it); each sees
    // their own exports, admins every one.
    rule(Method::GET, "/api/exports", READ),
    rule(Method::POST, "/api/exports", READ),
    rule(Method::GET, "/api/exports/{id}", READ),
    rule(Method::DELETE, "/api/exports/{id}", READ),
    rule(Method::GET, "/api/exports/{id}/pack", READ),
    rule(Method::GET, "/api/exports/{id}/basemap", READ),
    rule(Method::GET, "/api/exports/{id}/style", READ),
    rule(Method::GET, "/api/reports/{id}/maps/{n}", READ),
    rule(Method::GET, "/api/staffing", READ),
    rule(Method::PUT, "/api/staffing/plan", STAFF),
    rule(Method::POST, "/api/staffing/level", STAFF),
    rule(Method::DELETE, "/api/staffing/level/{id}", STAFF),
    rule(Method::GET, "/api/staffing/shifts", READ),
    rule(Method::GET, "/api/staffing/people", READ),
    rule(Method::POST, "/api/staffing/people", STAFF),
    rule(Method::PUT, "/api/staffing/people/{id}", STAFF),
    rule(Method::DELETE, "/api/staffing/people/{id}", STAFF),
    rule(Method::POST, "/api/staffing/people/{id}/unavailability", STAFF),
    rule(Method::GET, "/api/staffing/people/{id}/calendar.ics", READ),
    rule(Method::DELETE, "/api/staffing/unavailability/{id}", STAFF),
    rule(Method::GET, "/api/staffing/assignments", READ),
    rule(Method::POST, "/api/staffing/assignments", STAFF),
    rule(Method::POST, "/api/staffing/assignments/confirm", STAFF),
    rule(Method::PATCH, "/api/staffing/assignments/{id}", STAFF),
    rule(Method::DELETE, "/api/staffing/assignments/{id}", STAFF),
    rule(Method::GET, "/api/staffing/gaps", READ),
    rule(Method::POST, "/api/staffing/suggestions", STAFF),
    rule(Method::GET, "/api/staffing/roster.csv", READ),
    rule(Method::POST, "/api/entries/{id}/attachments", WRITE),
    rule(Method::GET, "/api/attachments/{sha256}", READ),
    rule(Method::GET, "/api/events", READ),
    rule(Method::GET, "/api/query", READ),
    rule(Method::POST, "/api/query", READ),
    rule(Method::GET, "/api/h3", READ),
    rule(Method::GET, "/api/staticmap", READ),
    rule(Method::GET, "/api/sources", READ),
    rule(Method::GET, "/api/sources/config", ADMIN),
    rule(Method::PUT, "/api/sources/config", ADMIN),
    rule(Method::POST, "/api/layers/{id}/import", ADMIN),
    rule(Method::GET, "/api/tokens", ADMIN),
    rule(Method::POST, "/api/tokens", ADMIN),
    rule(Method::DELETE, "/api/tokens/{id}", ADMIN),
    rule(Method::GET, "/api/members", ADMIN),
    rule(Method::GET, "/api/workspace/territory", READ),
    rule(Method::GET, "/api/me/territory", READ),
    rule(Method::PUT, "/api/workspace/territory", ADMIN),
    rule(Method::PUT, "/api/members/{name}", ADMIN),
    rule(Method::DELETE, "/api/members/{name}", ADMIN),
    rule(Method::GET, "/api/audit", ADMIN),
    rule(Method::GET, "/api/catalog", ADMIN),
    rule(Method::PUT, "/api/catalog", ADMIN),
    rule(Method::PUT, "/api/catalog/themes/{id}", ADMIN),
    rule(Method::DELETE, "/api/catalog/themes/{id}", ADMIN),
    rule(Method::PUT, "/api/catalog/layers/{id}", ADMIN),
    rule(Method::DELETE, "/api/catalog/layers/{id}", ADMIN),
    rule(Method::GET, "/ogc", READ),
    rule(Method::GET, "/ogc/conformance", READ),
    rule(Method::GET, "/ogc/api", READ),
    rule(Method::GET, "/ogc/collections", READ),
    rule(Method::GET, "/ogc/collections/{id}", READ),
    rule(Method::GET, "/ogc/collections/{id}/items", READ),
    rule(Method::GET, "/ogc/collections/{id}/items/{fid}", READ),
];

/// The rule of `method` on route template `path`.
pub fn rule_for(method: &Method, path: &str) -> Option<&'static Rule> {
    let method = if method == Method::HEAD { &Method::GET } else { method };
    RULES.iter().find(|r| r.method == *method && r.path == path)
}

fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let v = v.to_str().map_err(|_| ApiError::Unauthorized("the Authorization header is not text".into()))?;
    let (scheme, token) = v.trim().split_once(' ').unwrap_or((v, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized("use `Authorization: Bearer <API token>`".into()));
    }
    Ok(Some(token.trim()))
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn claimed_name(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(USER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.chars().count() <= vigie_layers::journal::MAX_SHORT_CHARS)
}

/// The client address: the socket peer, or — when the peer is one of the configured trusted
/// proxies (`[auth] trusted_proxies`) — the right-most `X-Forwarded-For` address that is not a
/// trusted proxy (what the audit trail records and sign-in throttling counts per address).
pub fn client_of(req: &Request, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())?;
    Some(forwarded_client(peer, req.headers(), trusted))
}

/// The client behind `peer` (see [`client_of`]). Addresses left of an unparsable one are not
/// trusted: the peer's own view is kept.
pub fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => {}
            Ok(ip) => return ip,
            Err(_) => return peer,
        }
    }
    peer
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the Origin header, when the browser sent one, names the host the request went to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

/// Resolves the request's identity and enforces its route's rule; puts the [`Access`] in the
/// request for handlers. Refusals are written to the audit trail.
pub async fn authorize(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(path) = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()) else {
        // No route matched: the fallback answers 404.
        return next.run(req).await;
    };
    let method = req.method().clone();
    let Some(rule) = rule_for(&method, &path) else {
        if RULES.iter().any(|r| r.path == path) {
            // A method the route does not take: the router answers 405 with `Allow`.
            return next.run(req).await;
        }
        tracing::error!(%method, path, "route without an access rule: refused (add it to http::access::RULES)");
        return ApiError::Internal(anyhow::anyhow!("route {method} {path} has no access rule")).into_response();
    };
    let workspace = state.config.workspace.clone();
    let client = client_of(&req, &state.config.trusted_proxies);
    let headers = req.headers();
    let resolved = match bearer(headers) {
        Err(e) => Err(e),
        Ok(token) => {
            let credential = match (token, cookie(headers, SESSION_COOKIE)) {
                (Some(t), _) => Credential::Bearer(t),
                (None, Some(c)) => Credential::Session(c),
                (None, None) => Credential::None,
            };
            state
                .identities
                .resolve(&workspace, credential, client, claimed_name(headers))
                .await
                .map_err(ApiError::from)
        }
    };
    let refusal = match (rule.need, resolved) {
        // Public routes serve everyone; a stale cookie does not stop the page from loading.
        (Need::Public, resolved) => {
            if let Ok(Some(access)) = resolved {
                super::requests::note_asker(access.actor());
                req.extensions_mut().insert(access);
            }
            return next.run(req).await;
        }
        (Need::Role(_), Err(e)) => (e, None),
        (Need::Role(_), Ok(None)) => (
            ApiError::Unauthorized("sign in (POST /api/session) or send `Authorization: Bearer <API token>`".into()),
            None,
        ),
        (Need::Role(need), Ok(Some(access))) => {
            let headers = req.headers();
            if !access.allows(need) {
                (ApiError::Forbidden(format!("this needs the {need} role; you are {} here", access.role)), Some(access))
            } else if access.territory.is_some() && !super::territory::narrows(&rule.method, rule.path) {
                (
                    ApiError::Forbidden(
                        "your membership is narrowed to a territory, and this route does not narrow what it serves \
                         yet: it is refused rather than showing what lies outside"
                            .into(),
                    ),
                    Some(access),
                )
            } else if is_state_changing(&method) && !same_origin(headers) {
                (ApiError::Forbidden("cross-origin request refused".into()), Some(access))
            } else if let (true, Via::Session { csrf, .. }) = (is_state_changing(&method), &access.via)
                && !headers
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|sent| crate::identity::secret::constant_time_eq(sent, csrf))
            {
                (
                    ApiError::Forbidden(
                        "missing or wrong X-CSRF-Token: send the token of GET /api/me with every change".into(),
                    ),
                    Some(access),
                )
            } else if is_state_changing(&method)
                && let Err(e) = state.limits.write(&access.actor(), std::time::Instant::now())
            {
                // Counted, not audited: a client over its rate would flood the audit trail.
                super::requests::note_asker(access.actor());
                return e.into_response();
            } else {
                super::requests::note_asker(access.actor());
                req.extensions_mut().insert(access);
                return next.run(req).await;
            }
        }
    };
    let (error, access) = refusal;
    if let Some(access) = &access {
        super::requests::note_asker(access.actor());
    }
    let resp = error.into_response();
    let detail = serde_json::json!({ "status": resp.status().as_u16() });
    state.identities.record_detached(AuditDraft {
        at: crate::now_ms(),
        workspace: Some(workspace),
        actor: access.as_ref().map_or_else(|| "unknown".to_owned(), Access::actor),
        action: "request.refused".into(),
        target: format!("{method} {path}"),
        outcome: Outcome::Refused,
        client: client.map(|c| c.to_string()),
        detail,
    });
    resp
}

impl<S: Send + Sync> FromRequestParts<S> for Access {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Access>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("sign in or send an API token".into()))
    }
}

/// The identity of a request on a public route, when it has one.
#[derive(Debug, Clone)]
pub struct MaybeAccess(pub Option<Access>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeAccess {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<Access>().cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_behind_trusted_proxies_is_the_right_most_untrusted_hop() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxy = ip("127.0.0.1");
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
        h.append("x-forwarded-for", "10.0.0.2".parse().unwrap());
        let trusted = [proxy, ip("10.0.0.2")];
        assert_eq!(forwarded_client(proxy, &h, &trusted), ip("198.51.100.7"), "a client cannot spoof by prepending");
        assert_eq!(forwarded_client(ip("192.0.2.1"), &h, &trusted), ip("192.0.2.1"), "an untrusted peer is the client");
        assert_eq!(forwarded_client(proxy, &HeaderMap::new(), &trusted), proxy);
        let mut bad = HeaderMap::new();
        bad.append("x-forwarded-for", "nonsense".parse().unwrap());
        assert_eq!(forwarded_client(proxy, &bad, &trusted), proxy);
    }
}
