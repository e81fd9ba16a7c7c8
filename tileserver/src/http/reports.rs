//! Situation reports over HTTP ([`crate::reports`]).
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET/PUT /api/reports/settings` | reader / admin | the rhythm, template, desks, maps, marking (`ETag`, `If-Match`) |
//! | `GET /api/reports/schedule?from=&to=` | reader | due times in a window, UTC and local |
//! | `GET /api/reports?from=&to=&q=&status=&limit=` | reader | reports whose period meets the window, text in the title or a section |
//! | `POST /api/reports` `{"title"?, "from"?, "to"?}` | editor | an ad-hoc report (default: since the last report until now) |
//! | `GET /api/reports/{id}` | reader | the report, its sections (text, version, who may write) and who is editing |
//! | `GET /api/reports/{id}/compiled` | reader | the compiled parts (live, or frozen once validated) |
//! | `PUT /api/reports/{id}/sections/{s}` `{"body", "base_version"}` | the section's owners, editors | 412 with both texts when `base_version` is stale |
//! | `POST /api/reports/{id}/status` `{"to"}` | contributor (to review), editor | the workflow |
//! | `POST /api/reports/{id}/correct` | editor | a new edition of a published report |
//! | `GET /api/reports/{id}/diff` | reader | a correction against the edition it corrects |
//! | `POST /api/reports/{id}/presence` `{"section"}` | writers | "I am editing this section" (heartbeat; `null` to leave) |
//! | `GET /api/reports/{id}/html`, `/pdf` | reader | the report, self-contained HTML or PDF |
//! | `GET /api/reports/{id}/maps/{n}` | reader | the n-th map (PNG) |
//! | `GET /api/reports/feed.atom` | reader | the published reports |
//!
//! Reports cover the workspace's territory: a member narrowed to a smaller one is refused
//! (403), since a report's figures and maps are the workspace's.

use super::entries::json_request;
use super::error::ApiError;
use super::{AppState, Shared};
use crate::identity::{Access, Role};
use crate::reports::compile::{self, Compiled, Previous};
use crate::reports::render;
use crate::reports::store::{Edit, Listing, Report, SectionText, Written};
use crate::reports::{Kind, SETTINGS_DOCUMENT, Settings, Status, Step};
use crate::store::{Edited, edit_document};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use vigie_layers::feature::parse_time_ms;
use vigie_layers::journal::FieldError;
use vigie_layers::scope::Scope;

/// How long a draft's live parts are reused when nothing else changed.
pub const LIVE_FOR: std::time::Duration = std::time::Duration::from_secs(30);
/// Most reports listed at once.
pub const MAX_LIST: i64 = 500;
/// Most photos printed in a report (the first significant events' with one).
pub const MAX_PHOTOS: usize = 12;
/// Largest photo printed, bytes (bigger ones are linked).
pub const MAX_PHOTO_BYTES: usize = 4 * 1024 * 1024;
/// Longest ad-hoc period.
pub const MAX_PERIOD_MS: i64 = 31 * crate::reports::schedule::DAY_MS;

pub(super) fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
    ApiError::Invalid(vec![FieldError { field: field.into(), value: None, reason: reason.into() }])
}

/// The workspace's report settings and their version (0: the defaults, never stored).
///
/// # Errors
/// The store's; 500 for a stored document that no longer parses.
pub async fn load_settings(state: &Shared) -> Result<(Settings, u64), ApiError> {
    match state.store.document(SETTINGS_DOCUMENT).await? {
        None => Ok((Settings::default(), 0)),
        Some(d) => Ok((
            serde_json::from_str(&d.document)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored report settings: {e}")))?,
            d.version,
        )),
    }
}

/// The territory reports are compiled for (the workspace's), after checking the asker sees
/// all of it.
async fn scope(state: &Shared, access: &Access) -> Result<Option<Arc<Scope>>, ApiError> {
    let text: Option<Arc<str>> =
        state.identities.store().workspace_territory(&state.config.workspace).await?.map(Arc::from);
    match (&access.territory, &text) {
        (Some(mine), Some(ws)) if mine == ws => {}
        (Some(_), _) => {
            return Err(ApiError::Forbidden(
                "situation reports cover the workspace's whole territory, and yours is narrower: ask an editor for the published PDF".into(),
            ));
        }
        (None, _) => {}
    }
    text.map(|t| super::territory::scope_for(state, &t)).transpose()
}

/// The account behind the asker: its own, or a token's creator (desks list accounts).
async fn person(state: &Shared, access: &Access) -> Result<Option<String>, ApiError> {
    Ok(match &access.principal {
        crate::identity::Principal::Account { name, .. } => Some(name.clone()),
        crate::identity::Principal::Token { account, .. } => {
            state.identities.store().account(*account).await?.map(|a| a.name)
        }
        crate::identity::Principal::Anonymous { .. } => None,
    })
}

/// The name recorded for the asker's steps and edits: the account (a token's creator), else
/// the author name.
pub(super) async fn who(state: &Shared, access: &Access) -> Result<String, ApiError> {
    Ok(person(state, access).await?.unwrap_or_else(|| access.author.clone()))
}

/// Whether the asker sees the reports (and their live events).
pub async fn may_see(state: &Shared, access: &Access) -> bool {
    scope(state, access).await.is_ok()
}

fn parse_id(s: &str) -> Result<u64, ApiError> {
    s.parse().map_err(|_| ApiError::NotFound(format!("no report '{}'", s.chars().take(20).collect::<String>())))
}

async fn report_of(state: &Shared, id: &str) -> Result<Report, ApiError> {
    let id = parse_id(id)?;
    state
        .store
        .reports()
        .report(&state.config.workspace, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report {id}")))
}

pub(super) fn etag(resp: &mut Response, version: u64) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
}

/// `GET /api/reports/settings`.
///
/// # Errors
/// The store's.
pub async fn settings(State(state): State<AppState>, access: Access) -> Result<Response, ApiError> {
    scope(&state, &access).await?;
    let (s, version) = load_settings(&state).await?;
    let mut resp = Json(json!({"settings": s, "version": version})).into_response();
    etag(&mut resp, version);
    Ok(resp)
}

/// Checks settings against this workspace (every field, and the area and map regions
/// resolve now).
fn check_settings(state: &Shared, s: &Settings) -> Result<(), ApiError> {
    let mut errors: Vec<FieldError> =
        s.problems().into_iter().map(|p| FieldError { field: p.field, value: None, reason: p.reason }).collect();
    let regions =
        s.area.iter().map(|a| ("area".to_owned(), a)).chain(
            s.maps.iter().enumerate().filter_map(|(i, m)| Some((format!("maps[{i}].region"), m.region.as_ref()?))),
        );
    for (field, region) in regions {
        if let Err(e) = super::query::region(state, region) {
            errors.push(FieldError { field, value: None, reason: e.to_string() });
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Invalid(errors)) }
}

/// `PUT /api/reports/settings` (admin) with the settings as JSON; `If-Match` with the version
/// read makes a concurrent change a 412.
///
/// # Errors
/// 422 naming each field at fault; 412 for a stale `If-Match`.
pub async fn put_settings(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let value = json_request(&headers, &body)?;
    let s: Settings = serde_json::from_value(value).map_err(|e| invalid("settings", e.to_string()))?;
    check_settings(&state, &s)?;
    let expected = super::entries::version_matched::<u64>(&headers, "the report settings'")?;
    let document = serde_json::to_string(&s).map_err(|e| ApiError::Internal(e.into()))?;
    let _guard = state.documents.lock().await;
    let edited = edit_document(state.store.as_ref(), SETTINGS_DOCUMENT, expected, &access.actor(), |_| {
        Ok::<_, ApiError>((document.clone(), ()))
    })
    .await?;
    let version = match edited {
        Edited::Stored { to, .. } => to,
        Edited::Stale { current } => {
            return Err(ApiError::PreconditionFailed(format!(
                "the report settings changed meanwhile (now version {current}): read them again"
            )));
        }
        Edited::Busy => return Err(ApiError::Conflict("the report settings are being changed: try again".into())),
    };
    let draft = state.identities.draft(
        &access,
        "reports.settings",
        "reports/settings",
        crate::identity::audit::Outcome::Ok,
        json!({"version": version}),
    );
    state.identities.record(draft).await;
    // A new rhythm has its next draft at once, not at the scheduler's next pass.
    if let Err(e) = ensure_scheduled(&state, crate::now_ms()).await {
        tracing::warn!(error = %e, "cannot prepare the next situation report");
    }
    let mut resp = Json(json!({"settings": s, "version": version})).into_response();
    etag(&mut resp, version);
    Ok(resp)
}

pub(super) fn pairs(q: Option<&str>) -> Result<Map<String, Value>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q.unwrap_or(""))
        .map_err(|e| ApiError::bad_request("Invalid query string", e.to_string()))?;
    Ok(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

pub(super) fn time_param(p: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    p.get(name)
        .and_then(Value::as_str)
        .map(|v| {
            parse_time_ms(v).map_err(|_| {
                ApiError::bad_request(
                    "Invalid time",
                    format!("{name}: an RFC 3339 date-time such as 2027-03-28T06:00:00+02:00"),
                )
            })
        })
        .transpose()
}

/// `GET /api/reports/schedule?from=&to=`: the due times in the window (default: the next 24
/// hours; at most 31 days), each with the period its report covers.
///
/// # Errors
/// 400 for a bad time or window.
pub async fn schedule(
    State(state): State<AppState>,
    access: Access,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    scope(&state, &access).await?;
    let p = pairs(q.as_deref())?;
    let now = crate::now_ms();
    let from = time_param(&p, "from")?.unwrap_or(now);
    let to = time_param(&p, "to")?.unwrap_or(from + crate::reports::schedule::DAY_MS);
    if to <= from || to - from > MAX_PERIOD_MS {
        return Err(ApiError::bad_request("Invalid window", "to must be after from, at most 31 days later"));
    }
    let (settings, _) = load_settings(&state).await?;
    let rhythm = settings.rhythm().ok_or_else(|| ApiError::Internal(anyhow::anyhow!("stored rhythm invalid")))?;
    let due: Vec<Value> = rhythm
        .due_between(from - 1, to)
        .into_iter()
        .map(|t| {
            json!({
                "due_at": crate::reports::schedule::utc_ms(t),
                "local": rhythm.local(t),
                "period_start": rhythm.previous(t - 1).map(crate::reports::schedule::utc_ms),
            })
        })
        .collect();
    Ok(Json(json!({"timezone": rhythm.zone(), "times": settings.times, "due": due})))
}

fn step(status: Status, by: &str, at: i64) -> Step {
    Step { status, by: by.to_owned(), at }
}

fn title_for(settings: &Settings, end: i64) -> String {
    let when = settings.rhythm().map(|r| r.readable(end)).unwrap_or_default();
    format!("{} — {when}", settings.title)
}

/// Makes sure a draft exists for the next due time after `now` and for the last one at or
/// before it (idempotent; replicas agree through the store's unique due time), its period
/// starting at the due time before it under the rhythm in force (a draft made under an
/// earlier rhythm is moved). Returns the ids created.
///
/// # Errors
/// The store's.
pub async fn ensure_scheduled(state: &Shared, now: i64) -> Result<Vec<u64>, ApiError> {
    let (settings, _) = load_settings(state).await?;
    let Some(rhythm) = settings.rhythm().filter(|r| !r.is_empty()) else { return Ok(Vec::new()) };
    let store = state.store.reports();
    let ws = &state.config.workspace;
    let mut created = Vec::new();
    for due in [rhythm.previous(now), rhythm.next(now)].into_iter().flatten() {
        let Some(start) = rhythm.previous(due - 1) else { continue };
        if let Some(id) = store.due(ws, due).await? {
            // Drafted under another rhythm: a draft's period follows the rhythm now in force.
            if store.repoint(ws, id, start).await? {
                state.reports.tell(state.store.as_ref(), "report.status", id, json!({"period_start": start})).await;
            }
            continue;
        }
        let report = Report {
            id: 0,
            title: title_for(&settings, due),
            kind: Kind::Scheduled,
            due_at: Some(due),
            period_start: start,
            period_end: due,
            status: Status::Draft,
            supersedes: None,
            superseded_by: None,
            edition: 1,
            history: vec![step(Status::Draft, "schedule", now)],
            compiled: None,
            sections: settings.sections.clone(),
            version: 1,
        };
        if let Some(id) = store.create(ws, &report, &[], now).await? {
            state.reports.tell(state.store.as_ref(), "report.created", id, json!({"title": report.title})).await;
            created.push(id);
        }
    }
    Ok(created)
}

fn summary(r: &Report, rhythm: Option<&crate::reports::schedule::Rhythm>) -> Value {
    let local = |ms: i64| rhythm.map(|z| z.local(ms));
    json!({
        "id": r.id,
        "title": r.title,
        "kind": r.kind,
        "status": r.status,
        "edition": r.edition,
        "due_at": r.due_at.map(crate::reports::schedule::utc_ms),
        "period": {
            "start": crate::reports::schedule::utc_ms(r.period_start),
            "end": crate::reports::schedule::utc_ms(r.period_end),
            "start_local": local(r.period_start),
            "end_local": local(r.period_end),
        },
        "supersedes": r.supersedes,
        "superseded_by": r.superseded_by,
        "history": r.history.iter().map(|s| json!({"status": s.status, "by": s.by, "at": crate::reports::schedule::utc_ms(s.at)})).collect::<Vec<_>>(),
        "version": r.version,
    })
}

/// `GET /api/reports?from=&to=&q=&status=&limit=`: newest period first.
///
/// # Errors
/// 400 for a bad parameter.
pub async fn list(
    State(state): State<AppState>,
    access: Access,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    scope(&state, &access).await?;
    let p = pairs(q.as_deref())?;
    let status =
        match p.get("status").and_then(Value::as_str) {
            None => None,
            Some(s) => Some(Status::parse(s).ok_or_else(|| {
                ApiError::bad_request("Invalid status", "status: draft, review, validated or published")
            })?),
        };
    let limit = match p.get("limit").and_then(Value::as_str) {
        None => 100,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_LIST).contains(l))
            .ok_or_else(|| ApiError::bad_request("Invalid limit", format!("limit: 1 to {MAX_LIST}")))?,
    };
    let text = p
        .get("q")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(200).collect());
    let listing = Listing { from: time_param(&p, "from")?, to: time_param(&p, "to")?, text, status, limit };
    let reports = state.store.reports().list(&state.config.workspace, &listing).await?;
    let (settings, _) = load_settings(&state).await?;
    let rhythm = settings.rhythm();
    Ok(Json(json!({"reports": reports.iter().map(|r| summary(r, rhythm.as_ref())).collect::<Vec<_>>()})))
}

/// `POST /api/reports` `{"title"?, "from"?, "to"?}` (editor): an ad-hoc report, by default
/// from the end of the last report (or 24 hours ago) until now.
///
/// # Errors
/// 422 for a bad title or period.
pub async fn create(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    scope(&state, &access).await?;
    let v = if body.is_empty() { json!({}) } else { json_request(&headers, &body)? };
    let who = who(&state, &access).await?;
    let (settings, _) = load_settings(&state).await?;
    let now = crate::now_ms();
    let store = state.store.reports();
    let ws = &state.config.workspace;
    let time = |k: &str| -> Result<Option<i64>, ApiError> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => parse_time_ms(s).map(Some).map_err(|_| invalid(k, "an RFC 3339 date-time")),
            Some(_) => Err(invalid(k, "an RFC 3339 date-time")),
        }
    };
    let end = time("to")?.unwrap_or(now);
    let start = match time("from")? {
        Some(s) => s,
        None => store
            .before(ws, end)
            .await?
            .map(|r| r.period_end)
            .filter(|s| *s < end)
            .unwrap_or(end - crate::reports::schedule::DAY_MS),
    };
    if start >= end || end - start > MAX_PERIOD_MS {
        return Err(invalid("from", "the period must end after it starts, and last at most 31 days"));
    }
    let title = match v.get("title") {
        None | Some(Value::Null) => title_for(&settings, end),
        Some(Value::String(t)) if !t.trim().is_empty() && t.chars().count() <= crate::reports::MAX_TITLE_CHARS => {
            t.trim().to_owned()
        }
        Some(_) => return Err(invalid("title", "1 to 200 characters")),
    };
    let report = Report {
        id: 0,
        title,
        kind: Kind::Adhoc,
        due_at: None,
        period_start: start,
        period_end: end,
        status: Status::Draft,
        supersedes: None,
        superseded_by: None,
        edition: 1,
        history: vec![step(Status::Draft, &who, now)],
        compiled: None,
        sections: settings.sections.clone(),
        version: 1,
    };
    let id = store
        .create(ws, &report, &[], now)
        .await?
        .ok_or_else(|| ApiError::Conflict("a report could not be created".into()))?;
    audit(&state, &access, "report.create", id).await;
    state.reports.tell(state.store.as_ref(), "report.created", id, json!({"title": report.title, "by": who})).await;
    let created = report_of(&state, &id.to_string()).await?;
    let mut resp = (StatusCode::CREATED, Json(summary(&created, settings.rhythm().as_ref()))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/api/reports/{id}", state.url_prefix)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn audit(state: &Shared, access: &Access, action: &str, id: u64) {
    let draft =
        state.identities.draft(access, action, &format!("report/{id}"), crate::identity::audit::Outcome::Ok, json!({}));
    state.identities.record(draft).await;
}

fn text_of<'a>(texts: &'a [SectionText], id: &str) -> Option<&'a SectionText> {
    texts.iter().find(|t| t.section == id)
}

/// `GET /api/reports/{id}`.
///
/// # Errors
/// 404 for an unknown report.
pub async fn one(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    scope(&state, &access).await?;
    let r = report_of(&state, &id).await?;
    let texts = state.store.reports().texts(&state.config.workspace, r.id).await?;
    let (settings, _) = load_settings(&state).await?;
    let me = person(&state, &access).await?;
    let sections: Vec<Value> = r
        .sections
        .iter()
        .map(|def| {
            let t = text_of(&texts, &def.id);
            json!({
                "id": def.id,
                "title": def.title,
                "owner": def.owner,
                "body": t.map_or("", |t| t.body.as_str()),
                "version": t.map_or(0, |t| t.version),
                "updated_by": t.map(|t| t.updated_by.as_str()).filter(|b| !b.is_empty()),
                "updated_at": t.filter(|t| t.updated_at > 0).map(|t| crate::reports::schedule::utc_ms(t.updated_at)),
                "may_write": r.status.is_open() && settings.may_write(def, &access, me.as_deref()),
            })
        })
        .collect();
    let moves: Vec<Status> = [Status::Draft, Status::Review, Status::Validated, Status::Published]
        .into_iter()
        .filter(|to| r.status.move_needs(*to).is_some_and(|need| access.allows(need)))
        .collect();
    let mut v = summary(&r, settings.rhythm().as_ref());
    v["sections"] = json!(sections);
    v["presence"] = json!(state.reports.presence.of(r.id));
    v["moves"] = json!(moves);
    v["may_correct"] = json!(r.status == Status::Published && r.superseded_by.is_none() && access.allows(Role::Editor));
    v["classification"] = json!(settings.classification);
    Ok(Json(v))
}

/// The previous report's period (and its frozen figures) for a report starting at `start`.
async fn previous_of(state: &Shared, r: &Report) -> Result<Option<(Previous, Option<compile::Figures>)>, ApiError> {
    let ws = &state.config.workspace;
    let store = state.store.reports();
    let before = store.before(ws, r.period_start).await?.filter(|p| p.id != r.id && Some(p.id) != r.supersedes);
    Ok(Some(if let Some(p) = before {
        let frozen = p.compiled.as_deref().and_then(|c| serde_json::from_str::<Compiled>(c).ok()).map(|c| c.figures);
        (Previous { period: [p.period_start, p.period_end], report: Some(p.id), frozen: frozen.is_some() }, frozen)
    } else {
        let len = r.period_end - r.period_start;
        (Previous { period: [r.period_start - len, r.period_start], report: None, frozen: false }, None)
    }))
}

/// Compiles a report now (live parts).
///
/// # Errors
/// The store's; 400/404 for an area that no longer resolves.
pub async fn compile_now(
    state: &AppState,
    r: &Report,
    scope: Option<Arc<Scope>>,
    settings: Settings,
) -> Result<Compiled, ApiError> {
    let input = compile::Input {
        settings,
        period: [r.period_start, r.period_end],
        scope,
        previous: previous_of(state, r).await?,
        sources: compile::source_issues(state, crate::now_ms()),
        staffing: crate::staffing::report_part(&*state.staffing.roster().await?, [r.period_start, r.period_end]),
    };
    let worker = state.clone();
    let mut compiled = tokio::task::spawn_blocking(move || compile::compile(&worker, &input))
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    compile::details(state, &mut compiled).await?;
    Ok(compiled)
}

/// The compiled parts of a report: frozen once validated, else live.
/// A draft's live parts are reused while the log and the staffing roster have not moved, the
/// report and the settings are unchanged and they are younger than [`LIVE_FOR`] (sources and datasets change without
/// the log): a room opening the same draft compiles it once.
async fn compiled_of(state: &AppState, r: &Report, scope: Option<Arc<Scope>>) -> Result<Compiled, ApiError> {
    if let Some(c) = r.compiled.as_deref() {
        return serde_json::from_str(c).map_err(|e| ApiError::Internal(anyhow::anyhow!("report {}: {e}", r.id)));
    }
    let (settings, settings_version) = load_settings(state).await?;
    let key = crate::reports::LiveKey {
        report: r.id,
        version: r.version,
        settings: settings_version,
        seq: state.courante.applied_seq(),
        staffing: state.staffing.roster().await?.roster.version,
    };
    if let Some(c) = state.reports.cached(&key, LIVE_FOR) {
        return Ok(c);
    }
    let c = compile_now(state, r, scope, settings).await?;
    state.reports.keep(key, &c);
    Ok(c)
}

/// `GET /api/reports/{id}/compiled`.
///
/// # Errors
/// 404 for an unknown report.
pub async fn compiled(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let scope = scope(&state, &access).await?;
    let r = report_of(&state, &id).await?;
    let c = compiled_of(&state, &r, scope).await?;
    let mut v = serde_json::to_value(&c).map_err(|e| ApiError::Internal(e.into()))?;
    v["frozen"] = json!(r.compiled.is_some());
    Ok(Json(v))
}

/// `PUT /api/reports/{id}/sections/{section}` `{"body", "base_version"}`.
///
/// # Errors
/// 403 for someone who may not write the section; 409 for a closed report; 412 (with the
/// current text and yours) when the section moved past `base_version`; 422 for a bad body.
pub async fn write_section(
    State(state): State<AppState>,
    access: Access,
    Path((id, section)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    scope(&state, &access).await?;
    let v = json_request(&headers, &body)?;
    let text = match v.get("body") {
        Some(Value::String(t)) if t.chars().count() <= crate::reports::MAX_SECTION_CHARS => t.clone(),
        _ => {
            return Err(invalid(
                "body",
                format!("the section's text, at most {} characters", crate::reports::MAX_SECTION_CHARS),
            ));
        }
    };
    let base = v.get("base_version").and_then(Value::as_u64).and_then(|b| u32::try_from(b).ok()).ok_or_else(|| {
        invalid("base_version", "the version of the text you edited (GET /api/reports/{id} gives it)")
    })?;
    let r = report_of(&state, &id).await?;
    let def = r.sections.iter().find(|d| d.id == section).ok_or_else(|| {
        ApiError::NotFound(format!("report {} has no section '{}'", r.id, section.chars().take(40).collect::<String>()))
    })?;
    let (settings, _) = load_settings(&state).await?;
    if !settings.may_write(def, &access, person(&state, &access).await?.as_deref()) {
        return Err(ApiError::Forbidden(format!("section '{}' is written by its owners and editors", def.title)));
    }
    if !r.status.is_open() {
        return Err(ApiError::Conflict(format!("report {} is {}: its text is closed", r.id, r.status.as_str())));
    }
    let now = crate::now_ms();
    let who = who(&state, &access).await?;
    let edit = Edit { section: &section, base, body: &text, by: &who, at: now };
    match state.store.reports().write(&state.config.workspace, r.id, &edit).await? {
        Written::Stored(version) => {
            state
                .reports
                .tell(
                    state.store.as_ref(),
                    "report.section",
                    r.id,
                    json!({"section": section, "version": version, "by": who}),
                )
                .await;
            Ok(Json(json!({"section": section, "version": version, "updated_by": who})).into_response())
        }
        Written::Stale(current) => {
            let closed = report_of(&state, &id).await.is_ok_and(|r| !r.status.is_open());
            if closed {
                return Err(ApiError::Conflict(format!("report {} was closed meanwhile", r.id)));
            }
            let current = current.unwrap_or_else(|| SectionText {
                section: section.clone(),
                body: String::new(),
                version: 0,
                updated_at: 0,
                updated_by: String::new(),
            });
            let problem = json!({
                "type": "about:blank",
                "title": "Section changed meanwhile",
                "status": 412,
                "detail": format!(
                    "'{}' was saved by {} (version {}) since you started from version {base}: merge your text into theirs and save on version {}",
                    def.title, current.updated_by, current.version, current.version
                ),
                "current": {
                    "body": current.body,
                    "version": current.version,
                    "updated_by": current.updated_by,
                    "updated_at": (current.updated_at > 0).then(|| crate::reports::schedule::utc_ms(current.updated_at)),
                },
                "yours": {"body": text, "base_version": base},
            });
            Ok(super::error::problem_response(StatusCode::PRECONDITION_FAILED, problem))
        }
    }
}

/// Freezes the compiled parts: computed now, maps drawn and stored (attachments store, by
/// SHA-256).
async fn freeze(state: &AppState, r: &Report, scope: Option<Arc<Scope>>) -> Result<Compiled, ApiError> {
    let mut c = compile_now(state, r, scope.clone(), load_settings(state).await?.0).await?;
    for i in 0..c.maps.len() {
        let part = c.maps[i].clone();
        let (worker, sc) = (state.clone(), scope.clone());
        let drawn = tokio::task::spawn_blocking(move || compile::draw_map(&worker, &part, sc))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        match drawn {
            Ok(png) => {
                let sha = crate::identity::secret::hex(&<sha2::Sha256 as sha2::Digest>::digest(&png));
                state.store.put_attachment(&sha, "image/png", &png).await?;
                c.maps[i].sha256 = Some(sha);
            }
            Err(e) => c.maps[i].error = Some(e.to_string()),
        }
    }
    Ok(c)
}

/// `POST /api/reports/{id}/status` `{"to": "review" | "draft" | "validated" | "published"}`.
///
/// # Errors
/// 403 without the role the move needs; 409 for a move the workflow does not allow (or a
/// concurrent one); 422 for an unknown status.
pub async fn move_to(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let scope = scope(&state, &access).await?;
    let v = json_request(&headers, &body)?;
    let to = v
        .get("to")
        .and_then(Value::as_str)
        .and_then(Status::parse)
        .ok_or_else(|| invalid("to", "draft, review, validated or published"))?;
    let r = report_of(&state, &id).await?;
    let need = r.status.move_needs(to).ok_or_else(|| {
        ApiError::Conflict(format!(
            "a report {} cannot go to {} (draft → review → validated → published)",
            r.status.as_str(),
            to.as_str()
        ))
    })?;
    if !access.allows(need) {
        return Err(ApiError::Forbidden(format!("moving a report to {} needs the {need} role", to.as_str())));
    }
    let now = crate::now_ms();
    let who = who(&state, &access).await?;
    let frozen = match to {
        Status::Validated => Some(Some(
            serde_json::to_string(&freeze(&state, &r, scope).await?).map_err(|e| ApiError::Internal(e.into()))?,
        )),
        Status::Review if r.status == Status::Validated => Some(None),
        _ => None,
    };
    let store = state.store.reports();
    let ws = &state.config.workspace;
    if !store.step(ws, r.id, r.version, &step(to, &who, now), frozen.as_ref().map(|f| f.as_deref())).await? {
        return Err(ApiError::Conflict(format!("report {} changed meanwhile: read it again", r.id)));
    }
    if to == Status::Published
        && let Some(old) = r.supersedes
    {
        store.supersede(ws, old, r.id).await?;
    }
    audit(&state, &access, &format!("report.{}", to.as_str()), r.id).await;
    let kind = if to == Status::Published { "report.published" } else { "report.status" };
    state
        .reports
        .tell(
            state.store.as_ref(),
            kind,
            r.id,
            json!({"status": to, "by": who, "title": r.title, "edition": r.edition}),
        )
        .await;
    let after = report_of(&state, &id).await?;
    let (settings, _) = load_settings(&state).await?;
    Ok(Json(summary(&after, settings.rhythm().as_ref())).into_response())
}

/// `POST /api/reports/{id}/correct` (editor): a new edition of a published report, its text
/// copied, its figures live again until it is validated.
///
/// # Errors
/// 409 for a report not published or already corrected.
pub async fn correct(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    scope(&state, &access).await?;
    let r = report_of(&state, &id).await?;
    if r.status != Status::Published || r.superseded_by.is_some() {
        return Err(ApiError::Conflict(format!(
            "report {} is not the current published edition: correct that one",
            r.id
        )));
    }
    let texts = state.store.reports().texts(&state.config.workspace, r.id).await?;
    let bodies: Vec<(String, String)> = texts.into_iter().map(|t| (t.section, t.body)).collect();
    let now = crate::now_ms();
    let who = who(&state, &access).await?;
    let new = Report {
        id: 0,
        kind: r.kind,
        due_at: None,
        status: Status::Draft,
        supersedes: Some(r.id),
        superseded_by: None,
        edition: r.edition + 1,
        history: vec![step(Status::Draft, &who, now)],
        compiled: None,
        version: 1,
        ..r.clone()
    };
    let created = state
        .store
        .reports()
        .create(&state.config.workspace, &new, &bodies, now)
        .await?
        .ok_or_else(|| ApiError::Conflict(format!("report {} already has a correction under way", r.id)))?;
    audit(&state, &access, "report.correct", created).await;
    state
        .reports
        .tell(state.store.as_ref(), "report.created", created, json!({"title": new.title, "corrects": r.id, "by": who}))
        .await;
    let (settings, _) = load_settings(&state).await?;
    let after = report_of(&state, &created.to_string()).await?;
    Ok((StatusCode::CREATED, Json(summary(&after, settings.rhythm().as_ref()))).into_response())
}

async fn diff_of(state: &AppState, r: &Report, scope: Option<Arc<Scope>>) -> Result<Option<render::Diff>, ApiError> {
    let Some(old_id) = r.supersedes else { return Ok(None) };
    let ws = &state.config.workspace;
    let store = state.store.reports();
    let Some(old) = store.report(ws, old_id).await? else { return Ok(None) };
    let (old_texts, new_texts) = (store.texts(ws, old.id).await?, store.texts(ws, r.id).await?);
    let old_c = compiled_of(state, &old, scope.clone()).await?;
    let new_c = compiled_of(state, r, scope).await?;
    Ok(Some(render::diff((&old, &old_texts, &old_c), (r, &new_texts, &new_c))))
}

/// `GET /api/reports/{id}/diff`: a correction against the edition it corrects.
///
/// # Errors
/// 404 for a report that corrects none.
pub async fn diff(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let scope = scope(&state, &access).await?;
    let r = report_of(&state, &id).await?;
    let d = diff_of(&state, &r, scope)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("report {} corrects no other", r.id)))?;
    Ok(Json(serde_json::to_value(&d).map_err(|e| ApiError::Internal(e.into()))?))
}

/// `POST /api/reports/{id}/presence` `{"section": "id" | null}`: a heartbeat every ~10 s
/// while editing; announced when it changes.
///
/// # Errors
/// 404 for an unknown report or section.
pub async fn presence(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    scope(&state, &access).await?;
    let v = json_request(&headers, &body)?;
    let r = report_of(&state, &id).await?;
    let section = match v.get("section") {
        Some(Value::String(s)) => {
            if !r.sections.iter().any(|d| d.id == *s) {
                return Err(invalid("section", "a section id of the report, or null"));
            }
            Some(s.as_str())
        }
        Some(Value::Null) => None,
        _ => return Err(invalid("section", "a section id of the report, or null")),
    };
    let who = who(&state, &access).await?;
    state.reports.note_presence(state.store.as_ref(), r.id, &who, section).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A map's PNG: the frozen one once validated, else drawn now.
async fn map_png(state: &AppState, part: &compile::MapPart, scope: Option<Arc<Scope>>) -> Result<Vec<u8>, ApiError> {
    if let Some(sha) = &part.sha256 {
        return state
            .store
            .attachment(sha)
            .await?
            .map(|a| a.bytes)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("frozen map {sha} missing from the attachments")));
    }
    let (worker, part) = (state.clone(), part.clone());
    tokio::task::spawn_blocking(move || compile::draw_map(&worker, &part, scope))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
}

/// Everything the printable document needs.
async fn document_of(
    state: &AppState,
    access: &Access,
    id: &str,
    headers: &HeaderMap,
) -> Result<(Report, vigie_paper::Document), ApiError> {
    let scope = scope(state, access).await?;
    let r = report_of(state, id).await?;
    let texts = state.store.reports().texts(&state.config.workspace, r.id).await?;
    let c = compiled_of(state, &r, scope.clone()).await?;
    let (settings, _) = load_settings(state).await?;
    let mut maps = Vec::with_capacity(c.maps.len());
    for part in &c.maps {
        maps.push(map_png(state, part, scope.clone()).await.ok());
    }
    // The first photos (PNG or JPEG, as they are) of the first significant events having one;
    // the others are linked.
    let mut photos = Vec::new();
    for s in &c.significant {
        if photos.len() == MAX_PHOTOS {
            break;
        }
        if let Some((sha, media)) = &s.photo
            && matches!(media.as_str(), "image/png" | "image/jpeg")
            && let Some(a) = state.store.attachment(sha).await?
            && a.bytes.len() <= MAX_PHOTO_BYTES
        {
            photos.push((sha.clone(), a.bytes));
        }
    }
    let diff = diff_of(state, &r, scope).await?;
    let base = super::base_url(state, headers)?;
    let parts = render::Parts {
        report: &r,
        texts: &texts,
        compiled: &c,
        maps: &maps,
        photos: &photos,
        settings: &settings,
        workspace: &state.config.workspace,
        base: &base,
        diff: diff.as_ref(),
    };
    let doc = render::document(&parts);
    Ok((r, doc))
}

fn file_response(bytes: Vec<u8>, media: &'static str, name: &str, published: bool) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    // A published report never changes; a draft does with every entry.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if published { "private, max-age=86400" } else { "private, no-cache" }),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// `GET /api/reports/{id}/html`: one self-contained page (maps inline).
///
/// # Errors
/// 404 for an unknown report.
pub async fn html(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (r, doc) = document_of(&state, &access, &id, &headers).await?;
    let page = vigie_paper::html(&doc).into_bytes();
    let mut resp = file_response(
        page,
        "text/html; charset=utf-8",
        &format!("rapport-{}-ed{}.html", r.id, r.edition),
        r.status == Status::Published,
    );
    // The page is ours and inert: no script runs in it.
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; img-src data:; style-src 'unsafe-inline'"),
    );
    Ok(resp)
}

/// `GET /api/reports/{id}/pdf`: A4, fonts embedded, maps as images, page numbers, the
/// workspace's marking on every page; drafts carry a watermark.
///
/// # Errors
/// 404 for an unknown report.
pub async fn pdf(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (r, doc) = document_of(&state, &access, &id, &headers).await?;
    let bytes = tokio::task::spawn_blocking(move || vigie_paper::pdf(&doc))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("PDF: {e}")))?;
    Ok(file_response(
        bytes,
        "application/pdf",
        &format!("rapport-{}-ed{}.pdf", r.id, r.edition),
        r.status == Status::Published,
    ))
}

/// `GET /api/reports/{id}/maps/{n}`: the n-th map (from 0): frozen once validated, else
/// drawn now.
///
/// # Errors
/// 404 for an unknown report or map.
pub async fn map(
    State(state): State<AppState>,
    access: Access,
    Path((id, n)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let scope = scope(&state, &access).await?;
    let r = report_of(&state, &id).await?;
    let c = compiled_of(&state, &r, scope.clone()).await?;
    let part =
        n.trim_end_matches(".png").parse::<usize>().ok().and_then(|i| c.maps.get(i).cloned()).ok_or_else(|| {
            ApiError::NotFound(format!("report {} has no map {}", r.id, n.chars().take(10).collect::<String>()))
        })?;
    let png = map_png(&state, &part, scope).await?;
    Ok(file_response(png, "image/png", &format!("rapport-{}-carte-{n}.png", r.id), r.status == Status::Published))
}

/// `GET /api/reports/feed.atom`: the published reports (the last 50), newest first.
///
/// # Errors
/// 400 without a usable Host header and public URL.
pub async fn feed(State(state): State<AppState>, access: Access, headers: HeaderMap) -> Result<Response, ApiError> {
    scope(&state, &access).await?;
    let store = state.store.reports();
    let ws = &state.config.workspace;
    let listing = Listing { status: Some(Status::Published), limit: 50, ..Listing::default() };
    let mut entries = Vec::new();
    for r in store.list(ws, &listing).await? {
        let at = r.history.iter().rev().find(|s| s.status == Status::Published).map_or(0, |s| s.at);
        let texts = store.texts(ws, r.id).await?;
        let first = r.sections.first().and_then(|d| text_of(&texts, &d.id)).map(|t| t.body.clone()).unwrap_or_default();
        entries.push((r, at, first));
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.1));
    let base = super::base_url(&state, &headers)?;
    let body = render::atom(ws, &base, &entries);
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/atom+xml; charset=utf-8"));
    Ok(resp)
}

/// Schemas of this module's documentation.
pub(super) mod doc {
    use super::super::openapi::schema as s;
    use crate::identity::Role;
    use serde_json::{Value, json};

    /// `schema` with more keywords (`description`, `examples`, `minimum`…).
    pub fn more(mut schema: Value, extra: Value) -> Value {
        if let (Some(o), Value::Object(e)) = (schema.as_object_mut(), extra) {
            o.extend(e);
        }
        schema
    }

    /// An array of exactly these items, in order (a Rust tuple). Written without `prefixItems`,
    /// which some OpenAPI tools do not take: each item is one of the kinds given.
    pub fn tuple(items: &[Value]) -> Value {
        let mut kinds: Vec<Value> = Vec::new();
        for i in items {
            if !kinds.contains(i) {
                kinds.push(i.clone());
            }
        }
        let item = if kinds.len() == 1 { kinds.remove(0) } else { json!({"anyOf": kinds}) };
        json!({"type": "array", "items": item, "minItems": items.len(), "maxItems": items.len()})
    }

    /// A count or an id (never negative).
    pub fn count() -> Value {
        json!({"type": "integer", "minimum": 0})
    }

    /// An instant as epoch milliseconds.
    pub fn epoch_ms() -> Value {
        json!({"type": "integer", "description": "Epoch milliseconds"})
    }

    /// A workflow status.
    pub fn status() -> Value {
        s::one_of(&["draft", "review", "validated", "published"])
    }

    /// A role name.
    pub fn role() -> Value {
        s::one_of(&Role::ALL.map(Role::as_str))
    }

    /// A region as region queries take it.
    pub fn region(text: &str) -> Value {
        more(s::any_object(), json!({"description": text}))
    }

    pub fn section_id() -> Value {
        more(s::pattern("^[a-z0-9-]{1,40}$"), json!({"description": "Lower-case letters, digits and `-`, 1 to 40"}))
    }

    pub fn owner() -> Value {
        more(
            s::object(
                &[
                    ("role", more(role(), json!({"description": "Members with this role and those above it"}))),
                    ("desk", more(section_id(), json!({"description": "The members of this desk of `desks`"}))),
                ],
                &[],
            ),
            json!({"description": "Who writes the section besides editors: exactly one of `role` and `desk`"}),
        )
    }

    fn side() -> Value {
        use vigie_staticmap::view::{MAX_SIDE_PX, MIN_SIDE_PX};
        s::int_in(i64::from(MIN_SIDE_PX), i64::from(MAX_SIDE_PX))
    }

    /// The report settings; `answer`: as served (every field present).
    pub fn settings(answer: bool) -> Value {
        let req = |all: &'static [&'static str]| if answer { all } else { &[] };
        let section =
            s::object(&[("id", section_id()), ("title", s::text(200)), ("owner", owner())], &["id", "title", "owner"]);
        let map = s::object(
            &[
                ("title", more(s::text(200), json!({"description": "Caption"}))),
                (
                    "region",
                    region(
                        "A region as region queries take it (`{\"bbox\": [...]}`, `{\"area\": \"departements:75\"}`, `{\"venue\": \"STADE\"}`); none: the report's area, else the box of the period's entries",
                    ),
                ),
                (
                    "layers",
                    more(
                        s::string(),
                        json!({"description": "Layer ids, comma-separated; none: those the web view shows at first"}),
                    ),
                ),
                ("width", more(side(), json!({"description": "Pixels (default 1024)"}))),
                ("height", more(side(), json!({"description": "Pixels (default 768)"}))),
            ],
            if answer { &["title", "width", "height"] } else { &["title"] },
        );
        let hotspots = s::object(
            &[
                ("resolution", more(s::int_in(5, 10), json!({"description": "H3 resolution of the cells"}))),
                (
                    "baseline_days",
                    more(
                        s::int_in(1, 60),
                        json!({"description": "Days before the period making the trailing average"}),
                    ),
                ),
                (
                    "alpha",
                    more(
                        json!({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5}),
                        json!({"description": "Family-wise false-alarm rate"}),
                    ),
                ),
                (
                    "min_count",
                    more(
                        s::int_in(1, 1000),
                        json!({"description": "Fewest entries in the period for a cell to be tested"}),
                    ),
                ),
            ],
            req(&["resolution", "baseline_days", "alpha", "min_count"]),
        );
        more(
            s::object(
                &[
                    (
                        "timezone",
                        more(
                            s::string(),
                            json!({"description": "IANA time zone of the due times", "examples": ["Europe/Paris"]}),
                        ),
                    ),
                    (
                        "times",
                        more(
                            s::array(s::pattern("^([01][0-9]|2[0-3]):[0-5][0-9]$")),
                            json!({"maxItems": 24, "uniqueItems": true, "description": "Local times of day reports are due (`HH:MM`); empty: ad-hoc reports only"}),
                        ),
                    ),
                    (
                        "title",
                        more(s::text(200), json!({"description": "Title of a report, followed by its due time"})),
                    ),
                    (
                        "classification",
                        more(
                            s::text(200),
                            json!({"description": "Marking printed on every page (`DIFFUSION RESTREINTE`)"}),
                        ),
                    ),
                    ("area", region("The region reports cover, as region queries take it; none: the whole workspace")),
                    (
                        "sections",
                        more(
                            s::array(section),
                            json!({"minItems": 1, "maxItems": 30, "description": "The template: sections in order"}),
                        ),
                    ),
                    (
                        "desks",
                        more(
                            s::map_of(more(s::array(s::string()), json!({"maxItems": 500}))),
                            json!({
                                "propertyNames": {"pattern": "^[a-z0-9-]{1,40}$"},
                                "description": "Desks (ids as section ids) and their members' account names",
                            }),
                        ),
                    ),
                    ("maps", more(s::array(map), json!({"maxItems": 6, "description": "The maps of a report"}))),
                    (
                        "significant_severity",
                        more(s::int_in(0, 4), json!({"description": "Lowest severity of a significant event"})),
                    ),
                    ("hotspots", more(hotspots, json!({"description": "The hotspot test"}))),
                ],
                req(&["timezone", "times", "title", "sections", "desks", "maps", "significant_severity", "hotspots"]),
            ),
            json!({"description": if answer { "A workspace's report settings." } else { "A workspace's report settings; a field left out takes its default." }}),
        )
    }

    pub fn settings_answer() -> Value {
        s::object(
            &[
                ("settings", s::named("ReportSettings")),
                (
                    "version",
                    more(count(), json!({"description": "Their version (0: the defaults, never stored), as the ETag"})),
                ),
            ],
            &["settings", "version"],
        )
    }

    /// A report as listed (`ReportSummary`); `more_props` adds the full report's.
    pub fn summary(more_props: &[(&str, Value)], more_required: &[&str]) -> Value {
        let step =
            s::object(&[("status", status()), ("by", s::string()), ("at", s::date_time())], &["status", "by", "at"]);
        let period = s::object(
            &[
                ("start", s::date_time()),
                ("end", s::date_time()),
                (
                    "start_local",
                    more(s::string(), json!({"description": "In the rhythm's time zone, with its offset"})),
                ),
                ("end_local", s::string()),
            ],
            &["start", "end", "start_local", "end_local"],
        );
        let mut props: Vec<(&str, Value)> = vec![
            ("id", more(s::int(), json!({"minimum": 1}))),
            ("title", s::string()),
            ("kind", s::one_of(&["scheduled", "adhoc"])),
            ("status", status()),
            ("edition", more(s::int(), json!({"minimum": 1, "description": "1, then 2 for its first correction…"}))),
            ("due_at", more(s::nullable(s::date_time()), json!({"description": "A scheduled report's due time"}))),
            ("period", more(period, json!({"description": "What it covers, `[start, end)`"}))),
            ("supersedes", more(s::nullable(s::int()), json!({"description": "The report this one corrects"}))),
            ("superseded_by", more(s::nullable(s::int()), json!({"description": "The correction published for it"}))),
            ("history", more(s::array(step), json!({"description": "Its workflow steps, oldest first"}))),
            ("version", more(s::int(), json!({"minimum": 1}))),
        ];
        props.extend(more_props.iter().cloned());
        let mut required = vec![
            "id",
            "title",
            "kind",
            "status",
            "edition",
            "due_at",
            "period",
            "supersedes",
            "superseded_by",
            "history",
            "version",
        ];
        required.extend_from_slice(more_required);
        s::object(&props, &required)
    }

    pub fn report() -> Value {
        let section = s::object(
            &[
                ("id", s::string()),
                ("title", s::string()),
                ("owner", owner()),
                ("body", s::string()),
                (
                    "version",
                    more(
                        count(),
                        json!({"description": "The text's version (0: never written); `base_version` of the next write"}),
                    ),
                ),
                ("updated_by", s::nullable(s::string())),
                ("updated_at", s::nullable(s::date_time())),
                ("may_write", more(s::boolean(), json!({"description": "Whether the asker may write it now"}))),
            ],
            &["id", "title", "owner", "body", "version", "updated_by", "updated_at", "may_write"],
        );
        let present = s::object(&[("who", s::string()), ("section", s::string())], &["who", "section"]);
        summary(
            &[
                ("sections", s::array(section)),
                ("presence", more(s::array(present), json!({"description": "Who is editing which section now"}))),
                ("moves", more(s::array(status()), json!({"description": "The statuses the asker may move it to"}))),
                ("may_correct", more(s::boolean(), json!({"description": "Whether the asker may start a correction"}))),
                ("classification", s::nullable(s::string())),
            ],
            &["sections", "presence", "moves", "may_correct", "classification"],
        )
    }

    pub fn compiled() -> Value {
        let row = s::object(
            &[
                ("key", s::string()),
                ("label", s::string()),
                ("count", count()),
                ("previous", more(s::nullable(count()), json!({"description": "In the previous period"}))),
                ("query", more(s::string(), json!({"description": "The query giving this figure"}))),
            ],
            &["key", "label", "count", "previous", "query"],
        );
        let rows = s::array(row);
        let figures = s::object(
            &[
                ("total", count()),
                ("previous_total", s::nullable(count())),
                ("query", s::string()),
                ("by_theme", rows.clone()),
                ("by_severity", rows.clone()),
                ("by_qualification", rows.clone()),
                ("by_departement", rows),
            ],
            &["total", "previous_total", "query", "by_theme", "by_severity", "by_qualification", "by_departement"],
        );
        let lonlat = tuple(&[s::number(), s::number()]);
        let significant = s::object(
            &[
                ("id", s::int()),
                ("time", s::string()),
                ("title", s::string()),
                ("severity", s::int_in(0, 255)),
                ("tags", s::array(s::string())),
                ("place", s::string()),
                ("lonlat", lonlat.clone()),
                ("links", more(s::array(tuple(&[s::string(), s::string()])), json!({"description": "URL, title"}))),
                (
                    "photo",
                    more(
                        s::nullable(tuple(&[s::string(), s::string()])),
                        json!({"description": "SHA-256, media type"}),
                    ),
                ),
            ],
            &["id", "time", "title", "severity", "tags", "place", "lonlat", "links", "photo"],
        );
        let hotspot = s::object(
            &[
                ("cell", more(s::string(), json!({"description": "H3 cell"}))),
                ("lonlat", lonlat),
                ("count", count()),
                ("baseline", count()),
                ("expected", s::number()),
                ("p_value", s::number()),
                ("query", s::string()),
            ],
            &["cell", "lonlat", "count", "baseline", "expected", "p_value", "query"],
        );
        let source = s::object(
            &[
                ("id", s::string()),
                ("title", s::string()),
                ("problem", s::one_of(&["failed", "rejected", "invalid", "stale"])),
                ("last_run", s::nullable(s::string())),
                ("detail", s::string()),
            ],
            &["id", "title", "problem", "last_run", "detail"],
        );
        let map = s::object(
            &[
                ("title", s::string()),
                ("query", more(s::string(), json!({"description": "The static map query drawing it"}))),
                ("sha256", more(s::nullable(s::string()), json!({"description": "The frozen image, once validated"}))),
                ("error", more(s::nullable(s::string()), json!({"description": "Why it could not be drawn"}))),
            ],
            &["title", "query", "sha256", "error"],
        );
        let period = tuple(&[epoch_ms(), epoch_ms()]);
        let previous = s::object(
            &[("period", period.clone()), ("report", s::nullable(s::int())), ("frozen", s::boolean())],
            &["period", "report", "frozen"],
        );
        let staffing = s::object(
            &[
                ("level", s::string()),
                (
                    "changes",
                    more(
                        s::array(tuple(&[s::string(), s::string(), s::string(), s::string()])),
                        json!({"description": "Level changes of the period: local time, level, reason, who"}),
                    ),
                ),
                ("shifts", count()),
                ("needed", count()),
                ("confirmed", count()),
                ("short", count()),
                (
                    "by_directorate",
                    more(
                        s::array(tuple(&[s::string(), count(), count()])),
                        json!({"description": "Name, needed, short"}),
                    ),
                ),
                ("query", s::string()),
            ],
            &["level", "changes", "shifts", "needed", "confirmed", "short", "by_directorate", "query"],
        );
        s::object(
            &[
                ("computed_at", epoch_ms()),
                ("period", more(period, json!({"description": "Epoch ms `[start, end)`"}))),
                (
                    "area",
                    more(
                        s::nullable(s::any_object()),
                        json!({"description": "The area's region (null: the whole workspace)"}),
                    ),
                ),
                ("previous", s::nullable(previous)),
                ("figures", figures),
                ("significant", s::array(significant)),
                ("significant_more", count()),
                ("significant_query", s::string()),
                ("hotspots", s::array(hotspot)),
                ("hotspot_method", s::string()),
                ("hotspot_cells_tested", count()),
                ("sources", s::array(source)),
                ("maps", s::array(map)),
                (
                    "staffing",
                    more(
                        s::nullable(staffing),
                        json!({"description": "The alert level and the gaps of the next 24 hours"}),
                    ),
                ),
                ("frozen", more(s::boolean(), json!({"description": "Frozen at validation (else computed live)"}))),
            ],
            &[
                "computed_at",
                "period",
                "area",
                "previous",
                "figures",
                "significant",
                "significant_more",
                "significant_query",
                "hotspots",
                "hotspot_method",
                "hotspot_cells_tested",
                "sources",
                "maps",
                "staffing",
                "frozen",
            ],
        )
    }

    pub fn diff() -> Value {
        let line = s::object(&[("op", s::one_of(&["+", "-", " "])), ("text", s::string())], &["op", "text"]);
        s::object(
            &[
                ("against", more(s::int(), json!({"description": "The report corrected"}))),
                (
                    "sections",
                    more(
                        s::array(tuple(&[s::string(), s::array(line)])),
                        json!({"description": "Per section whose text changed: its title and the lines"}),
                    ),
                ),
                (
                    "figures",
                    more(
                        s::array(tuple(&[s::string(), s::string(), count(), count()])),
                        json!({"description": "Figures that changed: table, line, before, after"}),
                    ),
                ),
            ],
            &["against", "sections", "figures"],
        )
    }

    pub fn schedule() -> Value {
        let due = s::object(
            &[
                ("due_at", s::date_time()),
                ("local", more(s::string(), json!({"description": "In the rhythm's time zone, with its offset"}))),
                (
                    "period_start",
                    more(s::nullable(s::date_time()), json!({"description": "Where its report's period starts"})),
                ),
            ],
            &["due_at", "local", "period_start"],
        );
        s::object(
            &[("timezone", s::string()), ("times", s::array(s::string())), ("due", s::array(due))],
            &["timezone", "times", "due"],
        )
    }
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    use doc::more;
    api.component("ReportSettings", doc::settings(true));
    api.component("ReportSummary", doc::summary(&[], &[]));
    api.component("Report", doc::report());
    api.component("ReportCompiled", doc::compiled());
    api.component("ReportDiff", doc::diff());
    let id = || more(s::int(), json!({"minimum": 1, "examples": [1]}));
    let etag = || more(s::string(), json!({"examples": ["\"3\""]}));
    let disposition = || more(s::string(), json!({"examples": ["inline; filename=\"rapport-1-ed1.pdf\""]}));
    let caching = || s::one_of(&["private, max-age=86400", "private, no-cache"]);
    api.get(
        "/api/reports",
        list,
        Op::new("reports", "List situation reports")
            .about(
                "The reports whose period meets the window `from`–`to`, newest period first, optionally only those of \
                 one `status` or with `q` in their title or a section's text.",
            )
            .query("from", s::date_time(), "Reports whose period ends after this instant (RFC 3339)")
            .query("to", s::date_time(), "Reports whose period starts before this instant (RFC 3339)")
            .query(
                "q",
                s::string(),
                "Text in the title or a section, case-insensitive (its first 200 characters are used)",
            )
            .query("status", doc::status(), "Only the reports of this status")
            .query("limit", more(s::int_in(1, MAX_LIST), json!({"default": 100})), "Most reports listed")
            .json(200, "The reports", s::object(&[("reports", s::array(s::named("ReportSummary")))], &["reports"])),
    );
    api.post(
        "/api/reports",
        create,
        Op::new("reports", "Start an ad-hoc report")
            .about(
                "Starts an ad-hoc report (a draft) over `from`–`to`: by default from the end of the last report \
                 (else 24 hours before) until now, at most 31 days; its title defaults to the settings' title and the \
                 period's end. An empty body takes every default.",
            )
            .json_body(
                s::object(
                    &[
                        (
                            "title",
                            more(
                                s::nullable(s::text(200)),
                                json!({"minLength": 1, "description": "1 to 200 characters"}),
                            ),
                        ),
                        ("from", more(s::nullable(s::date_time()), json!({"description": "Start of the period"}))),
                        (
                            "to",
                            more(
                                s::nullable(s::date_time()),
                                json!({"description": "End of the period (default: now)"}),
                            ),
                        ),
                    ],
                    &[],
                ),
                "Title and period, each optional",
            )
            .body_optional()
            .json(201, "Started", s::named("ReportSummary"))
            .answer_header(
                201,
                "Location",
                more(s::string(), json!({"examples": ["/api/reports/3"]})),
                "The report's URL",
            )
            .fails(&[409, 422]),
    );
    api.get(
        "/api/reports/settings",
        settings,
        Op::new("reports", "Report settings")
            .about(
                "The workspace's report settings (rhythm, title, marking, area, sections and their owners, desks, maps, \
                 significance and hotspot rules) and their version, also the `ETag` to send as `If-Match` when changing them.",
            )
            .json(200, "The settings", doc::settings_answer())
            .answer_header(200, "ETag", etag(), "The settings' version, quoted"),
    );
    api.put(
        "/api/reports/settings",
        put_settings,
        Op::new("reports", "Change report settings")
            .about(
                "Replaces the report settings (a field left out takes its default), checked field by field and the \
                 area and map regions resolved now. With `If-Match` (the version read), a concurrent change is a 412. \
                 A new rhythm has its next draft prepared at once.",
            )
            .header("If-Match", more(s::string(), json!({"examples": ["\"3\""]})), "The version the change was made on")
            .json_body(doc::settings(false), "The settings")
            .json(200, "Stored", doc::settings_answer())
            .answer_header(200, "ETag", etag(), "The new version, quoted")
            .fails(&[409, 412, 422]),
    );
    api.get(
        "/api/reports/schedule",
        schedule,
        Op::new("reports", "The reports due")
            .about(
                "The due times of the rhythm in the window `from`–`to` (default: the next 24 hours; at most 31 days), \
                 in UTC and local time, each with the start of the period its report covers.",
            )
            .query("from", s::date_time(), "Start of the window (default: now)")
            .query("to", s::date_time(), "End of the window (default: 24 hours after `from`)")
            .json(200, "The due times", doc::schedule()),
    );
    api.get(
        "/api/reports/feed.atom",
        feed,
        Op::new("reports", "Published reports as Atom")
            .about("The last 50 published reports as an Atom feed, newest first, linking to their HTML pages.")
            .answers(200, "The feed", "application/atom+xml", s::string())
            .fails(&[400]),
    );
    api.get(
        "/api/reports/{id}",
        one,
        Op::new("reports", "One report")
            .about(
                "The report with its sections (text, version, who may write them), who is editing which section, the \
                 statuses the asker may move it to and whether they may correct it.",
            )
            .path("id", id(), "The report's id")
            .json(200, "The report", s::named("Report")),
    );
    api.get(
        "/api/reports/{id}/compiled",
        compiled,
        Op::new("reports", "A report's compiled figures")
            .about(
                "The parts compiled from the log and the workspace's data: key figures against the previous period, \
                 significant events, new hotspots, sources in trouble, maps, staffing. Live while the report is a draft \
                 or in review (reused for 30 s when nothing changed), frozen once validated.",
            )
            .path("id", id(), "The report's id")
            .json(200, "The compiled parts", s::named("ReportCompiled")),
    );
    api.put(
        "/api/reports/{id}/sections/{section}",
        write_section,
        Op::new("reports", "Write a report's section")
            .about(
                "Saves a section's text, written by its owners and editors while the report is a draft or in review. \
                 `base_version` is the version the text was written on: when someone saved since, the answer is a 412 \
                 whose `current` holds their text and `yours` this one, to merge.",
            )
            .path("id", id(), "The report's id")
            .path("section", more(doc::section_id(), json!({"examples": ["synthesis"]})), "The section's id")
            .json_body(
                s::object(
                    &[
                        ("body", more(s::text(crate::reports::MAX_SECTION_CHARS as u64), json!({"description": "The section's text"}))),
                        (
                            "base_version",
                            more(s::int_in(0, i64::from(u32::MAX)), json!({"description": "The version of the text edited (`GET /api/reports/{id}` gives it)"})),
                        ),
                    ],
                    &["body", "base_version"],
                ),
                "The text and the version it was written on",
            )
            .json(
                200,
                "Saved",
                s::object(
                    &[("section", s::string()), ("version", more(s::int(), json!({"minimum": 1}))), ("updated_by", s::string())],
                    &["section", "version", "updated_by"],
                ),
            )
            .fails(&[409, 412, 422]),
    );
    api.post(
        "/api/reports/{id}/status",
        move_to,
        Op::new("reports", "Move a report along its workflow")
            .about(
                "Moves the report: draft → review (contributors), review → draft or validated, validated → review or \
                 published (editors). Validating freezes its figures and maps; publishing a correction marks the \
                 edition it corrects as superseded. Another move is a 409.",
            )
            .path("id", id(), "The report's id")
            .json_body(s::object(&[("to", doc::status())], &["to"]), "The status to move to")
            .json(200, "Moved", s::named("ReportSummary"))
            .fails(&[409, 422]),
    );
    api.post(
        "/api/reports/{id}/correct",
        correct,
        Op::new("reports", "Correct a published report")
            .about(
                "Starts a new edition (a draft) of the current published edition of a report, its text copied and its \
                 figures live again until it is validated. 409 for a report not published, already superseded or with \
                 a correction under way.",
            )
            .path("id", id(), "The report's id")
            .json(201, "The correction", s::named("ReportSummary"))
            .fails(&[409]),
    );
    api.get(
        "/api/reports/{id}/diff",
        diff,
        Op::new("reports", "A correction against what it corrects")
            .about(
                "What a correction changes in the edition it corrects: the lines of each section whose text changed, \
                 and the figures that changed. 404 for a report that corrects none.",
            )
            .path("id", id(), "The report's id")
            .json(200, "The differences", s::named("ReportDiff")),
    );
    api.post(
        "/api/reports/{id}/presence",
        presence,
        Op::new("reports", "Say who is editing which section")
            .about(
                "A heartbeat (every ~10 s) while the asker edits a section; `null` when they leave it. It lasts 30 s \
                 and is announced on the event stream when it changes.",
            )
            .path("id", id(), "The report's id")
            .json_body(
                s::object(
                    &[(
                        "section",
                        more(s::nullable(s::string()), json!({"description": "A section id of the report, or null"})),
                    )],
                    &["section"],
                ),
                "The section edited",
            )
            .empty(204, "Noted")
            .fails(&[422]),
    );
    api.get(
        "/api/reports/{id}/html",
        html,
        Op::new("reports", "A report as one page")
            .about("The report as one self-contained HTML page (maps inline, no script), cached a day once published.")
            .path("id", id(), "The report's id")
            .answers(200, "The page", "text/html", s::string())
            .answer_header(200, "Content-Disposition", disposition(), "`inline`, with a file name")
            .answer_header(200, "Cache-Control", caching(), "A day once published, else revalidated")
            .answer_header(
                200,
                "Content-Security-Policy",
                s::one_of(&["default-src 'none'; img-src data:; style-src 'unsafe-inline'"]),
                "Nothing but inline images and styles",
            ),
    );
    api.get(
        "/api/reports/{id}/pdf",
        pdf,
        Op::new("reports", "A report as PDF")
            .about(
                "The report as an A4 PDF: fonts embedded, maps as images, page numbers, the workspace's marking on \
                 every page; drafts carry a watermark.",
            )
            .path("id", id(), "The report's id")
            .answers(200, "The document", "application/pdf", s::binary())
            .answer_header(200, "Content-Disposition", disposition(), "`inline`, with a file name")
            .answer_header(200, "Cache-Control", caching(), "A day once published, else revalidated"),
    );
    api.get(
        "/api/reports/{id}/maps/{n}",
        map,
        Op::new("reports", "A report's map")
            .about("The report's n-th map (from 0) as PNG: the one frozen at validation, else drawn now.")
            .path("id", id(), "The report's id")
            .path(
                "n",
                more(s::pattern("^[0-9]+(\\.png)?$"), json!({"examples": ["0", "0.png"]})),
                "The map's rank, from 0 (`.png` may follow)",
            )
            .answers(200, "The map", "image/png", s::binary())
            .answer_header(200, "Content-Disposition", disposition(), "`inline`, with a file name")
            .answer_header(200, "Cache-Control", caching(), "A day once published, else revalidated"),
    );
}
