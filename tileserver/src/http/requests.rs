//! Request ids and the access log.
//!
//! Every error answer is `problem+json` ([`super::error::as_problem`] turns the framework's own
//! plain-text refusals into one).
//!
//! Every request gets an id: the `X-Request-Id` a proxy in front sent (when it is 1 to 64
//! characters among A-Z, a-z, 0-9, `.`, `_` and `-`), else 16 random hexadecimal digits. The
//! id is sent back in `X-Request-Id`, written in the request's access log line, and named by
//! every error body (`problem+json` `instance`, `urn:vigie:request:<id>`, and `request_id`), so
//! an operator finds a user's failed request in the log from what the user saw.
//!
//! The access log is one event a request, target `vigie::access`, at `info` (`warn` for 5xx):
//! request id, method, route template, path, status, time to the response's head, workspace
//! and identity (when the request reached a workspace's routes). `VIGIE_LOG=info,vigie::access=warn`
//! keeps the failures only.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

/// The header carrying the request id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest path written in the access log, in bytes.
const MAX_LOGGED_PATH: usize = 512;

tokio::task_local! {
    /// The id of the request the current task answers.
    static REQUEST_ID: Arc<str>;
}

/// The id of the request being answered, when called while answering one.
pub fn current_request_id() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

/// Which route of which workspace answered (a response extension the workspace's routes add).
#[derive(Clone, Debug)]
pub struct Served {
    /// The route template (`/tiles/{layers}/{z}/{x}/{y}`), or `unmatched`.
    pub route: String,
    /// The workspace.
    pub workspace: String,
}

/// Who asked (a response extension the access check adds when it knows the identity).
#[derive(Clone, Debug)]
pub struct Asker(pub String);

/// The id a proxy sent, when it is one we may repeat in logs and headers.
fn incoming(headers: &HeaderMap) -> Option<Arc<str>> {
    let v = headers.get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let ok =
        (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then(|| Arc::from(v))
}

/// A new id: 16 random hexadecimal digits.
fn new_id() -> Arc<str> {
    let mut bytes = [0u8; 8];
    // The OS's generator does not fail on Linux once booted; a zero id is still unique enough
    // for one log line if it ever did.
    let _ = getrandom::fill(&mut bytes);
    let mut id = String::with_capacity(16);
    for b in bytes {
        let _ = write!(id, "{b:02x}");
    }
    Arc::from(id)
}

/// The middleware: gives the request its id, answers it within the id's scope (error bodies
/// name it), sends the id back and writes the access log line.
pub async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = incoming(req.headers()).unwrap_or_else(new_id);
    let method = req.method().clone();
    let mut path = req.uri().path().to_owned();
    if path.len() > MAX_LOGGED_PATH {
        let mut end = MAX_LOGGED_PATH;
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        path.truncate(end);
    }
    let mut resp =
        REQUEST_ID.scope(id.clone(), async move { super::error::as_problem(next.run(req).await).await }).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let status = resp.status().as_u16();
    let duration_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    let served = resp.extensions().get::<Served>();
    let route = served.map_or("-", |s| s.route.as_str());
    let workspace = served.map_or("-", |s| s.workspace.as_str());
    let identity = resp.extensions().get::<Asker>().map_or("-", |a| a.0.as_str());
    if status >= 500 {
        tracing::warn!(target: "vigie::access", request_id = %id, %method, route, path, status, duration_ms, workspace, identity, "request");
    } else {
        tracing::info!(target: "vigie::access", request_id = %id, %method, route, path, status, duration_ms, workspace, identity, "request");
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_id_is_kept_only_when_safe_to_repeat() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(REQUEST_ID_HEADER, HeaderValue::from_str(v).unwrap());
            incoming(&h)
        };
        assert_eq!(with("lb-4f2a.9_x").as_deref(), Some("lb-4f2a.9_x"));
        assert_eq!(with("a b"), None);
        assert_eq!(with("x\"}{"), None);
        assert_eq!(with(&"a".repeat(65)), None);
        assert_eq!(with(""), None);
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn the_id_is_known_while_answering_only() {
        assert_eq!(current_request_id(), None);
        let seen = REQUEST_ID.scope(Arc::from("r1"), async { current_request_id() }).await;
        assert_eq!(seen.as_deref(), Some("r1"));
    }
}
