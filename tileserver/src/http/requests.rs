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
//! The access log is one event a request (the probes `/livez` and `/readyz` aside), target
//! `vigie::access`: request id, method, route
//! template, path, status, time to the response's head, workspace and identity (when the
//! request reached a workspace's routes). Its level follows the status: `debug` for answers
//! under 400, `info` for 4xx, `warn` for 5xx. The default filter (`info`) thus logs every
//! failed request and no successful one (a room's tile requests would be most of the log, and
//! logging each costs 14 % of the cached tiles' throughput: benches/README.md, "Operability");
//! `VIGIE_LOG=info,vigie::access=debug` logs them all.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

/// The header carrying the request id, both ways.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest path written in the access log, in bytes.
const MAX_LOGGED_PATH: usize = 512;

/// Longest request id, in bytes.
const MAX_ID: usize = 64;

/// A request id, held inline (no allocation per request).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    bytes: [u8; MAX_ID],
    len: u8,
}

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (`incoming` checks, `new_id` writes hexadecimal digits).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    fn of(text: &[u8]) -> Self {
        let mut bytes = [0u8; MAX_ID];
        let len = text.len().min(MAX_ID);
        bytes[..len].copy_from_slice(&text[..len]);
        Self { bytes, len: len as u8 }
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

/// What the access log line of the request being answered says beyond the request itself,
/// filled in by the layers that learn it.
#[derive(Default)]
struct Noted {
    /// The route template and the workspace that answered.
    route: Option<(MatchedPath, super::AppState)>,
    /// Who asked.
    asker: Option<String>,
}

/// The request the current task answers.
struct Current {
    id: RequestId,
    noted: RefCell<Noted>,
}

tokio::task_local! {
    static CURRENT: Current;
}

/// The id of the request being answered, when called while answering one.
pub fn current_request_id() -> Option<RequestId> {
    CURRENT.try_with(|c| c.id).ok()
}

/// Notes the route template and workspace that answer the current request (for its log line).
pub fn note_route(route: MatchedPath, state: super::AppState) {
    let _ = CURRENT.try_with(|c| c.noted.borrow_mut().route = Some((route, state)));
}

/// Notes who asks (for the current request's log line).
pub fn note_asker(actor: String) {
    let _ = CURRENT.try_with(|c| c.noted.borrow_mut().asker = Some(actor));
}

/// The id a proxy sent, when it is one we may repeat in logs and headers.
fn incoming(headers: &HeaderMap) -> Option<RequestId> {
    let v = headers.get(REQUEST_ID_HEADER)?.as_bytes();
    let ok = (1..=MAX_ID).contains(&v.len())
        && v.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then(|| RequestId::of(v))
}

/// A new id: 16 hexadecimal digits, a random prefix drawn once per process then a count of the
/// process's requests (no system call per request; two replicas, or two runs of one, share a
/// prefix once in four billion).
fn new_id() -> RequestId {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let prefix = crate::process_nonce() as u32;
    let n = u64::from(prefix) << 32 | u64::from(COUNT.fetch_add(1, Ordering::Relaxed));
    let mut hex = [0u8; 16];
    for (i, digit) in hex.iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[(n >> (60 - 4 * i) & 0xf) as usize];
    }
    RequestId::of(&hex)
}

/// A path as the access log writes it: its first [`MAX_LOGGED_PATH`] bytes.
fn logged_path(path: &str) -> &str {
    let mut end = path.len().min(MAX_LOGGED_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

/// Answers `req` with `answer` as the request it is: gives it its id, answers it within the
/// id's scope (error bodies name it, the layers note what the log line says), sends the id
/// back and writes the access log line.
pub async fn answer<F: Future<Output = Response>>(req: Request, answer: impl FnOnce(Request) -> F) -> Response {
    let started = Instant::now();
    let id = incoming(req.headers()).unwrap_or_else(new_id);
    let method = req.method().clone();
    // Shares the request's bytes (no copy); read only when the line is written.
    let uri = req.uri().clone();
    let current = Current { id, noted: RefCell::default() };
    let (mut resp, noted) = CURRENT
        .scope(current, async move {
            let resp = super::error::as_problem(answer(req).await).await;
            (resp, CURRENT.with(|c| c.noted.take()))
        })
        .await;
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let status = resp.status().as_u16();
    let duration_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    let route = noted.route.as_ref().map_or("-", |(r, _)| r.as_str());
    let workspace = noted.route.as_ref().map_or("-", |(_, s)| s.config.workspace.as_str());
    let identity = noted.asker.as_deref().unwrap_or("-");
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(target: "vigie::access", request_id = %id, %method, route, path = logged_path(uri.path()), status, duration_ms, workspace, identity, "request")
        };
    }
    match status {
        500.. => line!(warn),
        400..500 => line!(info),
        _ => line!(debug),
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
        assert_eq!(with("lb-4f2a.9_x").map(|i| i.to_string()).as_deref(), Some("lb-4f2a.9_x"));
        assert_eq!(with("a b"), None);
        assert_eq!(with("x\"}{"), None);
        assert_eq!(with(&"a".repeat(65)), None);
        assert_eq!(with(&"a".repeat(64)).map(|i| i.as_str().len()), Some(64));
        assert_eq!(with(""), None);
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.as_str().len(), 16);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        // The count is the last eight digits: consecutive ids differ by one there.
        let (ca, cb) =
            (u32::from_str_radix(&a.as_str()[8..], 16).unwrap(), u32::from_str_radix(&b.as_str()[8..], 16).unwrap());
        assert_eq!(cb, ca.wrapping_add(1));
        assert_eq!(a.as_str()[..8], b.as_str()[..8]);
    }

    #[tokio::test]
    async fn the_id_is_known_while_answering_only() {
        assert_eq!(current_request_id(), None);
        let req = Request::builder().uri("/x").header("x-request-id", "r1").body(axum::body::Body::empty()).unwrap();
        let resp = answer(req, |_| async {
            assert_eq!(current_request_id().map(|i| i.to_string()).as_deref(), Some("r1"));
            note_asker("someone".into());
            Response::new(axum::body::Body::empty())
        })
        .await;
        assert_eq!(resp.headers().get("x-request-id").unwrap(), "r1");
        assert_eq!(current_request_id(), None);
    }
}
