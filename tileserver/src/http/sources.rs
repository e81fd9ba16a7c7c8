//! A workspace's sources over HTTP.
//!
//! `GET /api/sources` (readers): every source with where it is defined (`file`: the operator's
//! sources file, `workspace`: the workspace's stored sources), its state and its last run.
//!
//! `GET` and `PUT /api/sources/config` (admins): the workspace's stored sources, a TOML
//! document with the sources file's schema (`docs/sources.md`). A `PUT` is checked as a whole
//! against the catalog and the sources file (422 listing every problem by source; nothing is
//! stored then), within what the operator lets stored sources reach: files under the
//! workspace's folder of `workspace_sources.dir`, URLs of public addresses. It is stored as the
//! next version (`If-Match` → 412), audited, and run at once: the workspace's scheduler is
//! replaced (other replicas within [`crate::WORKSPACE_SCAN`]).

use super::AppState;
use super::error::ApiError;
use crate::identity::Access;
use crate::identity::audit::{Outcome, digest};
use crate::store::{Edited, SOURCES_DOCUMENT, edit_document};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use vigie_layers::journal::FieldError;

/// Most bytes of a sources document sent to `PUT /api/sources/config`.
pub const MAX_SOURCES_BYTES: usize = 256 * 1024;
/// Most sources in a workspace's stored document.
pub const MAX_STORED_SOURCES: usize = 500;

/// Media type of a sources document.
pub const TOML: &str = "application/toml";

fn etag(resp: &mut Response, version: u64) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
}

fn status_body(state: &super::Shared) -> Json<Value> {
    let scheduler = state.scheduler();
    Json(json!({
        "configured": scheduler.configured(),
        "version": scheduler.version(),
        "concurrency": scheduler.concurrency(),
        "sources": scheduler.statuses(),
    }))
}

/// `GET /api/sources`: every source of the workspace with its last run (time, outcome, counts,
/// problems, error), and the version of its stored sources.
pub async fn statuses(State(state): State<AppState>) -> Json<Value> {
    status_body(&state)
}

/// `GET /api/sources/config` (admin): the workspace's stored sources as TOML (empty before
/// any is stored), `ETag` = version (0: none).
///
/// # Errors
/// 503 when the store is down.
pub async fn stored(State(state): State<AppState>) -> Result<Response, ApiError> {
    let stored = state.store.document(SOURCES_DOCUMENT).await?;
    let (text, version) = stored.map_or((String::new(), 0), |d| (d.document, d.version));
    let mut resp = ([(header::CONTENT_TYPE, "application/toml; charset=utf-8")], text).into_response();
    etag(&mut resp, version);
    Ok(resp)
}

/// `PUT /api/sources/config` (admin): replaces the workspace's stored sources by a TOML
/// document (`application/toml` or `text/plain`, at most [`MAX_SOURCES_BYTES`] and
/// [`MAX_STORED_SOURCES`] sources), then runs them.
///
/// # Errors
/// 422 with one item per problem (`field`: `source[id]`, or `document`), 412 on a stale
/// `If-Match`, 413, 415.
pub async fn put(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media != TOML && media != "text/plain" {
        return Err(ApiError::UnsupportedMediaType(format!(
            "send the sources as {TOML} (or text/plain), the sources file's format (got '{}')",
            ct.chars().take(60).collect::<String>()
        )));
    }
    if body.len() > MAX_SOURCES_BYTES {
        return Err(ApiError::TooLarge(format!("a sources document is at most {MAX_SOURCES_BYTES} bytes")));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("Invalid sources document", "the body is not UTF-8"))?;
    let wanted = super::entries::version_matched::<u64>(&headers, "the sources")?;
    let refuse = async |reason: String| {
        let detail = json!({"reason": reason});
        state
            .identities
            .record(state.identities.draft(&access, "sources.replace", "sources", Outcome::Refused, detail))
            .await;
    };
    let checked = match crate::check_stored_sources(&state.config, state.engine.catalog(), text, state.is_primary()) {
        Ok(c) => c,
        Err(e) => {
            refuse(e.clone()).await;
            return Err(ApiError::InvalidDefinition(format!("the sources document is not valid TOML: {e}")));
        }
    };
    let count = checked.sources.len() + checked.invalid.len();
    if count > MAX_STORED_SOURCES {
        return Err(ApiError::InvalidDefinition(format!(
            "{count} sources: a workspace stores at most {MAX_STORED_SOURCES}"
        )));
    }
    if checked.has_problems() {
        let problems = checked.problems();
        refuse(problems.iter().map(|(id, p)| format!("{id}: {p}")).collect::<Vec<_>>().join("; ")).await;
        return Err(ApiError::Invalid(
            problems
                .into_iter()
                .map(|(id, reason)| FieldError {
                    field: if id == "(document)" { "document".into() } else { format!("source[{id}]") },
                    value: None,
                    reason,
                })
                .collect(),
        ));
    }
    let one = state.documents.lock().await;
    let actor = access.actor();
    let edited = edit_document(state.store.as_ref(), SOURCES_DOCUMENT, wanted, &actor, |stored| {
        Ok::<_, ApiError>((text.to_owned(), stored.map(|d| digest(&Value::String(d.document.clone())))))
    })
    .await?;
    let (from, next, before) = match edited {
        Edited::Stored { from, to, value } => (from, to, value),
        Edited::Stale { current } => {
            return Err(ApiError::PreconditionFailed(format!(
                "the workspace's sources are at version {current}: reload them (GET /api/sources/config) and apply your change again"
            )));
        }
        Edited::Busy => {
            return Err(ApiError::Conflict("the workspace's sources are being changed by others: try again".into()));
        }
    };
    let detail = json!({
        "from_version": from,
        "to_version": next,
        "before": before,
        "after": digest(&Value::String(text.to_owned())),
        "sources": checked.sources.iter().map(|s| s.def.id.clone()).collect::<Vec<_>>(),
    });
    state.identities.record(state.identities.draft(&access, "sources.replace", "sources", Outcome::Ok, detail)).await;
    crate::apply_stored_sources(&state, &one).await.map_err(ApiError::Internal)?;
    drop(one);
    let mut resp = (StatusCode::OK, status_body(&state)).into_response();
    etag(&mut resp, next);
    Ok(resp)
}

/// Registers the sources' schemas.
fn components(api: &mut super::openapi::Api) {
    use super::openapi::schema as s;
    let problem = s::object(
        &[("file", s::string()), ("position", s::string()), ("field", s::string()), ("reason", s::string())],
        &["file", "position", "field", "reason"],
    );
    let run = s::object(
        &[
            ("started_at", s::date_time()),
            ("duration_ms", s::int()),
            ("outcome", s::one_of(&["imported", "unchanged", "rejected", "failed"])),
            ("read", s::int()),
            ("kept", s::int()),
            ("problem_count", s::int()),
            ("problems", s::array(problem)),
            ("error", s::string()),
            ("version", s::int()),
            ("bytes", s::int()),
        ],
        &["started_at", "duration_ms", "outcome", "read", "kept", "problem_count", "problems"],
    );
    api.component(
        "Source",
        s::object(
            &[
                ("id", s::string()),
                ("origin", s::one_of(&["file", "workspace"])),
                ("title", s::string()),
                ("owner", s::string()),
                ("licence", s::string()),
                ("layer", s::string()),
                ("location", s::string()),
                ("format", s::nullable(s::string())),
                ("refresh_s", s::int()),
                ("state", s::one_of(&["pending", "running", "idle", "invalid", "elsewhere"])),
                ("invalid", s::array(s::string())),
                ("runs", s::int()),
                ("imports", s::int()),
                ("last_run", s::nullable(run)),
            ],
            &[
                "id",
                "origin",
                "title",
                "owner",
                "licence",
                "layer",
                "location",
                "format",
                "refresh_s",
                "state",
                "runs",
                "imports",
                "last_run",
            ],
        ),
    );
    api.component(
        "SourcesStatus",
        s::object(
            &[
                ("configured", s::boolean()),
                ("version", s::int()),
                ("concurrency", s::int()),
                ("sources", s::array(s::named("Source"))),
            ],
            &["configured", "version", "concurrency", "sources"],
        ),
    );
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    components(api);
    let etag = || s::pattern("^\"[0-9]+\"$");
    let mut toml = s::string();
    toml["maxLength"] = json!(MAX_SOURCES_BYTES);
    toml["description"] = json!("The sources as TOML, the sources file's schema (`docs/sources.md`)");
    api.get(
        "/api/sources",
        statuses,
        Op::new("sources", "Sources and their last runs")
            .about(
                "Every source of the workspace: where it is defined (`file`: the operator's sources file; \
                 `workspace`: the workspace's stored sources), its state, and its last run (time, outcome, \
                 counts, first problems, error); with the version of the stored sources it runs.",
            )
            .json(200, "The sources", s::named("SourcesStatus")),
    );
    api.get(
        "/api/sources/config",
        stored,
        Op::new("sources", "The stored sources (TOML)")
            .about(
                "The workspace's stored sources as TOML (empty before any is stored), with its version as \
                 the `ETag` (0: none) to send in `If-Match` with a change.",
            )
            .answers(200, "The document", TOML, s::string())
            .answer_header(200, "ETag", etag(), "The stored sources' version"),
    );
    api.put(
        "/api/sources/config",
        put,
        Op::new("sources", "Replace the stored sources")
            .about(
                "Replaces the workspace's stored sources by a TOML document (at most 256 KiB and 500 \
                 sources), checked as a whole against the catalog and within what the operator lets stored \
                 sources reach (files under the workspace's folder of `workspace_sources.dir`, URLs of \
                 public addresses): 422 with one item per problem (`field`: `source[id]`, or `document`), \
                 nothing stored then. Stored as the next version, audited, and run at once.",
            )
            .header(
                "If-Match",
                s::pattern("^(W/)?\"?[0-9]+\"?$"),
                "The version being replaced (the `ETag` of `GET /api/sources/config`): a stale one is a 412",
            )
            .body(TOML, toml.clone(), "The sources as TOML")
            .body("text/plain", toml, "The sources as TOML")
            .json(200, "Stored and running: the sources and their state", s::named("SourcesStatus"))
            .answer_header(200, "ETag", etag(), "The stored sources' new version")
            .fails(&[409, 412, 422]),
    );
}
