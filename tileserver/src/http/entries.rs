//! The operations log API: `/api/entries`, revisions, attachments.

use super::AppState;
use super::error::ApiError;
use super::filters::parse_filter;
use crate::identity::audit::{self, Outcome};
use crate::identity::{Access, Principal, Role};
use crate::store::{Change, ChangeError, Commit, EntryQuery, EventKind};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vigie_layers::feature::format_time_ms;
use vigie_layers::journal::{self, EditError, FieldError};
use vigie_layers::model::{AttachmentRef, Entry};
use vigie_layers::scope::Scope;

/// Default page size of the entry list.
pub const DEFAULT_PAGE: usize = 50;
/// Largest page of the entry list.
pub const MAX_PAGE: usize = 500;
/// Largest photo, bytes.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;

/// The digest of an entry's fields, for the audit trail's before/after.
fn entry_digest(e: &Entry) -> String {
    audit::digest(&Value::Object(journal::entry_fields(e)))
}

/// Records a change of entry `id` in the audit trail.
pub(super) async fn audit_entry(
    state: &super::Shared,
    access: &Access,
    action: &str,
    before: Option<&Entry>,
    after: &Entry,
) {
    let detail = json!({
        "version": after.version,
        "before": before.map(entry_digest),
        "after": entry_digest(after),
    });
    let draft = state.identities.draft(access, action, &format!("entry/{}", after.id), Outcome::Ok, detail);
    state.identities.record_queued(draft).await;
}

/// A contributor edits, deletes and adds photos to their own entries only; qualifying and
/// touching anyone's entry is the analyst's.
fn check_may_change(access: &Access, current: &Entry, qualifies: bool) -> Result<(), ApiError> {
    if access.allows(Role::Analyst) {
        return Ok(());
    }
    if qualifies {
        return Err(ApiError::Forbidden(format!(
            "qualifying an entry needs the analyst role; you are {}",
            access.role
        )));
    }
    if current.author != access.author {
        return Err(ApiError::Forbidden(format!(
            "entry {} is {}'s: changing someone else's entry needs the analyst role; you are {}",
            current.id, current.author, access.role
        )));
    }
    Ok(())
}

/// The entry as it is now, for the role checks of a change.
async fn current_entry(state: &super::Shared, id: u64) -> Result<Entry, ApiError> {
    state.courante.store().entry(id).await?.ok_or_else(|| ApiError::NotFound(format!("no entry {id}")))
}

/// The entry `id` as the asker may see it: 404 when it does not exist or lies outside their
/// territory (it does not exist for them).
pub(super) async fn visible_entry(state: &super::Shared, scope: Option<&Scope>, id: u64) -> Result<Entry, ApiError> {
    let e = current_entry(state, id).await?;
    if scope.is_some_and(|s| !s.admits(&e.geometry)) {
        return Err(ApiError::NotFound(format!("no entry {id}")));
    }
    Ok(e)
}

/// A member narrowed to a territory records and moves entries inside it only.
fn outside(scope: Option<&Scope>, e: &Entry) -> Option<FieldError> {
    scope.filter(|s| !s.admits(&e.geometry)).map(|_| FieldError {
        field: "geometry".into(),
        value: None,
        reason: "outside your territory: you record and move entries within it".into(),
    })
}

/// The API view of an entry: its fields, id, version, times, theme, layers and links.
pub fn entry_view(state: &super::Shared, e: &Entry) -> Value {
    let mut m = journal::entry_fields(e);
    let layers = state.engine.entry_layers(&[&e.tags]);
    let attachments: Vec<Value> = e
        .attachments
        .iter()
        .map(|a| {
            let mut v = json!(a);
            v["url"] = json!(attachment_url(state, &a.sha256, e.id));
            v
        })
        .collect();
    m.insert("id".into(), json!(e.id));
    m.insert("version".into(), json!(e.version));
    m.insert("recorded_at".into(), json!(format_time_ms(e.recorded_at)));
    m.insert("theme".into(), json!(state.engine.vocabulary().first_theme(&e.tags)));
    m.insert("layers".into(), json!(layers));
    m.insert("attachments".into(), Value::Array(attachments));
    m.insert("url".into(), json!(format!("{}/api/entries/{}", state.url_prefix, e.id)));
    Value::Object(m)
}

fn etag(version: u32) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header")
}

fn entry_response(state: &super::Shared, status: StatusCode, e: &Entry) -> Response {
    respond(state, status, e, entry_view(state, e))
}

/// An entry's answer with `view` as its body.
fn respond(state: &super::Shared, status: StatusCode, e: &Entry, view: Value) -> Response {
    let mut resp = (status, Json(view)).into_response();
    resp.headers_mut().insert(header::ETAG, etag(e.version));
    if status == StatusCode::CREATED
        && let Ok(loc) = HeaderValue::from_str(&format!("{}/api/entries/{}", state.url_prefix, e.id))
    {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    resp
}

fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("Invalid JSON", format!("the body is not valid JSON: {e}")))
}

/// Refuses a body that is not JSON (`application/json`, or `application/merge-patch+json`).
///
/// # Errors
/// 415 naming the type received.
pub(super) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    json_type(headers)
}

/// A JSON request's body, parsed.
///
/// # Errors
/// 415 for another type, 400 for a body that is not JSON.
pub(super) fn json_request(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    json_type(headers)?;
    parse_json(body)
}

fn json_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/json") || media.eq_ignore_ascii_case("application/merge-patch+json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "send the body as application/json (got '{}')",
            ct.chars().take(60).collect::<String>()
        )))
    }
}

/// The version a client says it edits, from `If-Match: "3"` (or `3`, or `W/"3"`), if sent;
/// `what` names the versioned thing in the error.
///
/// # Errors
/// 400 when it is not a version number.
pub(super) fn version_matched<T: std::str::FromStr>(headers: &HeaderMap, what: &str) -> Result<Option<T>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let s = v.to_str().unwrap_or("").trim();
    let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    s.parse()
        .map(Some)
        .map_err(|_| ApiError::bad_request("Invalid If-Match", format!("'{s}' is not {what} version (expected \"3\")")))
}

/// The entry version a client edits: `If-Match` is required.
fn if_match(headers: &HeaderMap) -> Result<u32, ApiError> {
    version_matched(headers, "an entry")?.ok_or_else(|| {
        ApiError::PreconditionRequired(
            "send If-Match with the version you edit (the ETag of GET /api/entries/{id}), so concurrent edits cannot overwrite each other".into(),
        )
    })
}

fn change_error(e: ChangeError, id: u64) -> ApiError {
    match e {
        ChangeError::NotFound => ApiError::NotFound(format!("no entry {id}")),
        ChangeError::Stale { current } => ApiError::PreconditionFailed(format!(
            "entry {id} is at version {current}: reload it (GET /api/entries/{id}) and apply your change again"
        )),
        ChangeError::Invalid(errors) => ApiError::Invalid(errors),
        ChangeError::NoChange => ApiError::bad_request("Nothing to change", "the request does not change the entry"),
        ChangeError::Store(e) => e.into(),
    }
}

pub(super) fn parse_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound(format!("no entry '{}'", id.chars().take(40).collect::<String>())))
}

/// `POST /api/entries` (contributor). The author is the signed-in identity; only the
/// anonymous demo identity may name another in the body.
///
/// # Errors
/// 415 for a non-JSON body, 400 for bad JSON, 422 listing every invalid field (an `author`
/// other than the signed-in identity included), 503 when the store is down.
pub async fn create(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let value = json_request(&headers, &body)?;
    if access.is_authenticated()
        && let Some(author) = value.get("author").filter(|a| a.as_str() != Some(access.author.as_str()))
    {
        return Err(ApiError::Invalid(vec![FieldError {
            field: "author".into(),
            value: Some(author.to_string().chars().take(80).collect()),
            reason: format!("the author is the signed-in identity ({}): leave the field out", access.author),
        }]));
    }
    // The anonymous identity names the author in the body or with X-Vigie-User (demo), else
    // the entry says who recorded it or is refused.
    let default_author = match &access.principal {
        Principal::Anonymous { claimed } => claimed.as_deref(),
        _ => Some(access.author.as_str()),
    };
    let new = journal::validate_new(&value, default_author, crate::now_ms()).map_err(ApiError::Invalid)?;
    let scope = super::territory::scope_of(&state, &access)?;
    if let Some(e) = outside(scope.as_deref(), &new.0) {
        return Err(ApiError::Invalid(vec![e]));
    }
    let commit = state.courante.create(new.0).await?;
    audit_entry(&state, &access, "entry.create", None, &commit.entry).await;
    Ok(entry_response(&state, StatusCode::CREATED, &commit.entry))
}

/// `GET /api/entries/{id}`.
///
/// # Errors
/// 404 for an unknown id.
pub async fn get_one(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let scope = super::territory::scope_of(&state, &access)?;
    // Outside the asker's territory, an entry does not exist for them.
    let e = visible_entry(&state, scope.as_deref(), id).await?;
    full_response(&state, StatusCode::OK, &e).await
}

/// An entry's answer with its copies, the source it follows and its comments.
///
/// # Errors
/// The store's.
pub(super) async fn full_response(state: &super::Shared, status: StatusCode, e: &Entry) -> Result<Response, ApiError> {
    let mut view = entry_view(state, e);
    if let (Value::Object(v), Value::Object(r)) = (&mut view, super::escalation::relations(state, e).await?) {
        v.extend(r);
    }
    Ok(respond(state, status, e, view))
}

/// `PATCH /api/entries/{id}` with `If-Match`: a JSON merge patch of the entry's fields,
/// `qualification` following the workflow. A contributor changes their own entries and cannot
/// qualify; an analyst changes any.
///
/// # Errors
/// 428 without If-Match, 412 on a stale version, 422 for invalid fields, 404 for an unknown id,
/// 403 for a contributor qualifying or editing someone else's entry.
pub async fn patch(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let value = json_request(&headers, &body)?;
    let expected = if_match(&headers)?;
    let scope = super::territory::scope_of(&state, &access)?;
    let before = visible_entry(&state, scope.as_deref(), id).await?;
    // A copy of another workspace's entry follows it: here only its qualification changes.
    let copy_of = state.store.links().link_to(&state.config.workspace, id).await?;
    if let Some(link) = &copy_of {
        crate::escalation::check_copy_patch(link, &value)?;
    }
    check_may_change(&access, &before, value.get("qualification").is_some())?;
    let who = access.author.clone();
    let engine = state.engine.clone();
    let courante = state.courante.clone();
    let now = crate::now_ms();
    let commit = state
        .courante
        .change(id, move |current| {
            if current.version != expected {
                return Err(ChangeError::Stale { current: current.version });
            }
            if outside(scope.as_deref(), current).is_some() {
                return Err(ChangeError::NotFound);
            }
            let (entry, revision) =
                journal::apply_patch(current, &value, &who, now, engine.vocabulary()).map_err(|e| match e {
                    EditError::Invalid(errors) => ChangeError::Invalid(errors),
                    EditError::NoChange => ChangeError::NoChange,
                })?;
            if let Some(e) = outside(scope.as_deref(), &entry) {
                return Err(ChangeError::Invalid(vec![e]));
            }
            let event = courante.draft(EventKind::Updated, Some(current), &entry);
            Ok(Change { entry, revision, event })
        })
        .await
        .map_err(|e| change_error(e, id))?;
    audit_entry(&state, &access, "entry.update", Some(&before), &commit.entry).await;
    if let Some(link) = copy_of.filter(|_| commit.entry.qualification != before.qualification) {
        state.store.links().mark_target_qualified(&link).await?;
    }
    crate::escalation::relay(&state, id).await;
    Ok(entry_response(&state, StatusCode::OK, &commit.entry))
}

/// `DELETE /api/entries/{id}` with `If-Match`: a soft delete, itself a revision. The entry
/// leaves every layer; its history stays. A contributor deletes their own entries only.
///
/// # Errors
/// As [`patch`].
pub async fn delete(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let expected = if_match(&headers)?;
    let scope = super::territory::scope_of(&state, &access)?;
    let before = visible_entry(&state, scope.as_deref(), id).await?;
    if let Some(link) = state.store.links().link_to(&state.config.workspace, id).await? {
        return Err(ApiError::Conflict(format!(
            "this entry is a copy of entry {} of '{}': it leaves when '{}' withdraws it",
            link.source_entry, link.source_workspace, link.source_workspace
        )));
    }
    check_may_change(&access, &before, false)?;
    let who = access.author.clone();
    let courante = state.courante.clone();
    let now = crate::now_ms();
    let commit = state
        .courante
        .change(id, move |current| {
            if current.version != expected {
                return Err(ChangeError::Stale { current: current.version });
            }
            if outside(scope.as_deref(), current).is_some() {
                return Err(ChangeError::NotFound);
            }
            if current.deleted {
                return Err(ChangeError::NoChange);
            }
            let (entry, revision) = journal::delete(current, &who, now);
            let event = courante.draft(EventKind::Deleted, Some(current), &entry);
            Ok(Change { entry, revision, event })
        })
        .await
        .map_err(|e| change_error(e, id))?;
    audit_entry(&state, &access, "entry.delete", Some(&before), &commit.entry).await;
    crate::escalation::relay(&state, id).await;
    Ok(entry_response(&state, StatusCode::OK, &commit.entry))
}

/// `GET /api/entries/{id}/revisions`: who changed what and when, oldest first.
///
/// # Errors
/// 404 for an unknown id.
pub async fn revisions(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let scope = super::territory::scope_of(&state, &access)?;
    if scope.is_some() {
        visible_entry(&state, scope.as_deref(), id).await?;
    }
    let mut revs = state.courante.store().revisions(id).await?;
    if revs.is_empty() {
        return Err(ApiError::NotFound(format!("no entry {id}")));
    }
    if let Some(scope) = &scope {
        for r in &mut revs {
            hide_positions_outside(&mut r.changes, scope);
        }
    }
    let items: Vec<Value> = revs
        .iter()
        .map(|r| json!({"version": r.version, "action": r.action, "actor": r.actor, "at": format_time_ms(r.at_ms), "changes": r.changes}))
        .collect();
    Ok(Json(json!({"entry": id, "revisions": items})))
}

/// In a revision's changes, the positions outside `scope` (where an entry now inside came
/// from) become `null`, named in `hidden`.
fn hide_positions_outside(changes: &mut serde_json::Map<String, Value>, scope: &Scope) {
    let Some(Value::Object(change)) = changes.get_mut("geometry") else { return };
    let mut hidden = Vec::new();
    for side in ["from", "to"] {
        let outside = change.get(side).and_then(journal::stored_geometry).is_some_and(|g| !scope.admits(&g));
        if outside {
            change.insert(side.into(), Value::Null);
            hidden.push(side);
        }
    }
    if !hidden.is_empty() {
        change.insert("hidden".into(), json!({"sides": hidden, "reason": "outside your territory"}));
    }
}

/// Where an entry's photo is read (the entry named, so that a member with a territory reads
/// the photos of the entries inside it).
fn attachment_url(state: &super::Shared, sha256: &str, entry: u64) -> String {
    format!("{}/api/attachments/{sha256}?entry={entry}", state.url_prefix)
}

/// Store pages read at most for one page of a member with a territory.
const MAX_SCANNED_PAGES: usize = 20;

/// One page of the entries meeting `scope`, newest first, and where the next page starts (the
/// last entry examined: entries outside are skipped, never shown). Reads store pages until the
/// page is full, the log ends, or [`MAX_SCANNED_PAGES`] were read (the page may then be short,
/// with a `next` link).
async fn within(
    state: &super::Shared,
    mut q: EntryQuery,
    scope: &Scope,
) -> Result<(Vec<Entry>, Option<(i64, u64)>), ApiError> {
    let limit = q.limit;
    let mut kept = Vec::with_capacity(limit);
    let mut last = None;
    for _ in 0..MAX_SCANNED_PAGES {
        let page = state.courante.store().list_entries(&q).await?;
        let full = page.len() == q.limit;
        for e in page {
            last = Some((e.occurred_at, e.id));
            if scope.admits(&e.geometry) {
                kept.push(e);
                if kept.len() == limit {
                    return Ok((kept, last));
                }
            }
        }
        if !full {
            return Ok((kept, None));
        }
        q.before = last;
    }
    Ok((kept, last))
}

fn cursor_encode(occurred_at: i64, id: u64) -> String {
    format!("{occurred_at}_{id}")
}

fn cursor_decode(s: &str) -> Option<(i64, u64)> {
    let (t, id) = s.split_once('_')?;
    Some((t.parse().ok()?, id.parse().ok()?))
}

fn parse_bbox(s: &str) -> Result<[f64; 4], FieldError> {
    let bad = || FieldError {
        field: "bbox".into(),
        value: Some(s.chars().take(80).collect()),
        reason: "expected west,south,east,north in degrees (west > east crosses the antimeridian)".into(),
    };
    let v: Vec<f64> = s.split(',').map(|p| p.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| bad())?;
    let [w, so, e, n] = <[f64; 4]>::try_from(v).map_err(|_| bad())?;
    let lon_ok = |x: f64| (-180.0..=180.0).contains(&x);
    if !(lon_ok(w) && lon_ok(e) && (-90.0..=90.0).contains(&so) && (-90.0..=90.0).contains(&n) && so <= n) {
        return Err(bad());
    }
    Ok([w, so, e, n])
}

/// `GET /api/entries`: newest first, with the tile filters (`from`, `to`, `last`, `tags`,
/// `severity`, `qualification`) plus `bbox`, `q` (full text) and `limit`; `next` holds the
/// cursor of the following page.
///
/// # Errors
/// 400 for a bad parameter.
pub async fn list(
    State(state): State<AppState>,
    access: Access,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let filter = parse_filter(query.as_deref(), state.engine.vocabulary(), crate::now_ms())?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request("Invalid query string", e.to_string()))?;
    let mut q = EntryQuery {
        from_ms: filter.from_ms,
        to_ms: filter.to_ms,
        tags: filter.tags().iter().map(ToString::to_string).collect(),
        min_severity: filter.min_severity,
        qualifications: filter.qualifications,
        limit: DEFAULT_PAGE,
        ..EntryQuery::default()
    };
    for (k, v) in &pairs {
        match k.as_str() {
            "bbox" => q.bbox = Some(parse_bbox(v).map_err(|e| ApiError::bad_request("Invalid bbox", e.reason))?),
            "q" => {
                // SQLite's full-text search ends a string at NUL, PostgreSQL refuses it: a
                // control character is never in an entry's words anyway.
                if v.chars().any(char::is_control) {
                    return Err(ApiError::bad_request("Invalid q", "q: control characters are not searchable"));
                }
                q.text = Some(v.chars().take(200).collect());
            }
            "cursor" => {
                q.before = Some(cursor_decode(v).ok_or_else(|| {
                    ApiError::bad_request("Invalid cursor", "use the `next` link of the previous page")
                })?);
            }
            "limit" => {
                q.limit =
                    v.parse::<usize>().ok().filter(|l| (1..=MAX_PAGE).contains(l)).ok_or_else(|| {
                        ApiError::bad_request("Invalid limit", format!("limit must be 1 to {MAX_PAGE}"))
                    })?;
            }
            _ => {}
        }
    }
    let scope = super::territory::scope_of(&state, &access)?;
    let (entries, more_after) = match &scope {
        None => {
            let entries = state.courante.store().list_entries(&q).await?;
            let more = (entries.len() == q.limit).then(|| entries.last().map(|e| (e.occurred_at, e.id))).flatten();
            (entries, more)
        }
        Some(scope) => within(&state, q, scope).await?,
    };
    let next = more_after.map(|(occurred_at, id)| {
        let mut p: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != "cursor").cloned().collect();
        p.push(("cursor".into(), cursor_encode(occurred_at, id)));
        format!("{}/api/entries?{}", state.url_prefix, serde_urlencoded::to_string(p).unwrap_or_default())
    });
    let items: Vec<Value> = entries.iter().map(|e| entry_view(&state, e)).collect();
    Ok(Json(json!({"entries": items, "count": items.len(), "next": next})))
}

/// Media type of an image from its first bytes: JPEG, PNG or WebP only.
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// `POST /api/entries/{id}/attachments`: the raw image as body (its type is read from the
/// bytes, whatever Content-Type says), `?filename=` optional. Stored once by SHA-256; attaching
/// is a revision of the entry.
///
/// A contributor adds photos to their own entries; an analyst to any.
///
/// # Errors
/// 413 above 10 MiB, 415 for anything but JPEG, PNG or WebP, 404 for an unknown entry, 403
/// for a contributor and someone else's entry.
pub async fn attach(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    if body.len() > MAX_ATTACHMENT_BYTES {
        return Err(ApiError::TooLarge(format!("a photo is at most {} MiB", MAX_ATTACHMENT_BYTES / 1024 / 1024)));
    }
    let media_type = sniff_image(&body).ok_or_else(|| {
        ApiError::UnsupportedMediaType(
            "the body is not a JPEG, PNG or WebP image (the type is read from the bytes)".into(),
        )
    })?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let filename: String = pairs
        .iter()
        .find(|(k, _)| k == "filename")
        .map(|(_, v)| v.chars().filter(|c| !c.is_control() && !matches!(c, '/' | '\\' | '"')).take(120).collect())
        .unwrap_or_default();
    let sha256 = format!("{:x}", Sha256::digest(&body));
    let scope = super::territory::scope_of(&state, &access)?;
    let before = visible_entry(&state, scope.as_deref(), id).await?;
    check_may_change(&access, &before, false)?;
    if let Some(link) = state.store.links().link_to(&state.config.workspace, id).await? {
        return Err(ApiError::Conflict(format!(
            "this entry is a copy of entry {} of '{}', whose photos it shows: attach it there",
            link.source_entry, link.source_workspace
        )));
    }
    state.courante.store().put_attachment(&sha256, media_type, &body).await?;
    let reference =
        AttachmentRef { sha256: sha256.clone(), media_type: media_type.to_owned(), size: body.len() as u64, filename };
    let who = access.author.clone();
    let courante = state.courante.clone();
    let now = crate::now_ms();
    let r = reference.clone();
    let result = state
        .courante
        .change(id, move |current| {
            if outside(scope.as_deref(), current).is_some() {
                return Err(ChangeError::NotFound);
            }
            let (entry, revision) = journal::attach(current, r.clone(), &who, now).ok_or(ChangeError::NoChange)?;
            let event = courante.draft(EventKind::Updated, Some(current), &entry);
            Ok(Change { entry, revision, event })
        })
        .await;
    let entry = match result {
        Ok(Commit { entry, .. }) => {
            audit_entry(&state, &access, "entry.attach", Some(&before), &entry).await;
            crate::escalation::relay(&state, id).await;
            entry
        }
        // Already attached (or the entry is deleted): nothing new, answer with the entry as is.
        Err(ChangeError::NoChange) => {
            state.courante.store().entry(id).await?.ok_or_else(|| ApiError::NotFound(format!("no entry {id}")))?
        }
        Err(e) => return Err(change_error(e, id)),
    };
    let mut v = json!(reference);
    let url = attachment_url(&state, &sha256, id);
    v["url"] = json!(url);
    v["entry"] = entry_view(&state, &entry);
    let mut resp = (StatusCode::CREATED, Json(v)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&url) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}

/// `GET /api/attachments/{sha256}`: the image with its sniffed type, cacheable forever (the
/// address is the content). A member with a territory names the entry holding it
/// (`?entry=ID`, inside the territory), or gets a 404.
///
/// # Errors
/// 404 for an unknown or malformed hash.
pub async fn attachment(
    State(state): State<AppState>,
    access: Access,
    Path(sha256): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return Err(ApiError::NotFound("attachments are addressed by a lowercase hex SHA-256".into()));
    }
    // A member with a territory reads the photos of the entries inside it: the entry is named
    // (`?entry=`, as the entry's attachment `url` has it) and must hold the photo.
    let scope = super::territory::scope_of(&state, &access)?;
    if let Some(scope) = &scope {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
        let entry = pairs.iter().find(|(k, _)| k == "entry").and_then(|(_, v)| v.parse::<u64>().ok());
        let holds = match entry {
            Some(id) => visible_entry(&state, Some(scope), id)
                .await
                .is_ok_and(|e| !e.deleted && e.attachments.iter().any(|a| a.sha256 == sha256)),
            None => false,
        };
        if !holds {
            return Err(ApiError::NotFound(format!(
                "no attachment {sha256} on an entry of your territory (name the entry: ?entry=ID)"
            )));
        }
    }
    // Looked up before If-None-Match is: `*` (or a made-up ETag) must not make a photo that
    // does not exist answer 304.
    let a = state
        .courante
        .store()
        .attachment(&sha256)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no attachment {sha256}")))?;
    let etag = format!("\"{sha256}\"");
    let etag_value = HeaderValue::from_str(&etag).map_err(|e| ApiError::Internal(e.into()))?;
    if super::tiles::if_none_match(&headers, &etag) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().insert(header::ETAG, etag_value);
        return Ok(r);
    }
    let mut r = a.bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&a.media_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::ETAG, etag_value);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if scope.is_some() {
            "private, max-age=31536000, immutable"
        } else {
            "public, max-age=31536000, immutable"
        }),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    Ok(r)
}

/// The path parameter naming an entry.
fn entry_id(op: super::openapi::Op) -> super::openapi::Op {
    op.path("id", json!({"type": "integer", "minimum": 1, "examples": [1]}), "The entry's id")
}

/// `If-Match`: the version edited (the entry's ETag).
fn if_match_header(op: super::openapi::Op) -> super::openapi::Op {
    op.header_required(
        "If-Match",
        json!({"type": "string", "pattern": r#"^(W/)?"?[0-9]+"?$"#, "examples": ["\"1\""]}),
        "The version edited, as the entry's `ETag` gives it (`\"3\"`); without it 428, and 412 when the \
         entry has moved on since",
    )
}

/// The `ETag` of an entry's answer.
fn entry_etag(op: super::openapi::Op, status: u16) -> super::openapi::Op {
    op.answer_header(
        status,
        "ETag",
        json!({"type": "string", "pattern": "^\"[0-9]+\"$"}),
        "The entry's version, quoted: what `If-Match` sends back",
    )
}

/// The schemas of entries (views, inputs, revisions, copies).
pub(super) fn components(api: &mut super::openapi::Api) {
    use super::openapi::schema as s;
    use vigie_layers::journal::{
        MAX_BODY_CHARS, MAX_LINKS, MAX_SHORT_CHARS, MAX_TAG_CHARS, MAX_TAGS, MAX_TITLE_CHARS, MAX_URL_CHARS,
        MAX_VERTICES,
    };
    let qualification = s::one_of(&["raw", "in_review", "confirmed", "refuted", "closed"]);
    let position = json!({
        "type": "array",
        "prefixItems": [
            {"type": "number", "minimum": -180, "maximum": 180},
            {"type": "number", "minimum": -90, "maximum": 90},
        ],
        "minItems": 2,
        "description": "[longitude, latitude]",
    });
    let kind = |name: &str, coordinates: Value| {
        s::object(
            &[("type", json!({"type": "string", "const": name})), ("coordinates", coordinates)],
            &["type", "coordinates"],
        )
    };
    let mut line = s::array(position.clone());
    line["minItems"] = json!(2);
    let mut ring = s::array(position.clone());
    ring["minItems"] = json!(4);
    let mut rings = s::array(ring);
    rings["minItems"] = json!(1);
    api.component(
        "EntryGeometry",
        json!({
            "description": format!(
                "Where the entry is: a GeoJSON Point, LineString (two distinct positions at least) or Polygon \
                 (rings closed, exterior first, no self-intersection), WGS84, at most {MAX_VERTICES} positions"
            ),
            "oneOf": [kind("Point", position), kind("LineString", line), kind("Polygon", rings)],
        }),
    );
    let tag = json!({"type": "string", "pattern": format!(r"^\s*[\w-]{{1,{MAX_TAG_CHARS}}}\s*$")});
    let mut tags = s::array(tag);
    tags["maxItems"] = json!(MAX_TAGS);
    tags["description"] =
        json!("Catalog themes or free tags: letters, digits, `-` and `_` (stored lowercase, without repeats)");
    let url = json!({"type": "string", "pattern": "^https?://[^\\s\"<>\\\\`]+$", "maxLength": MAX_URL_CHARS});
    let link_out = s::object(&[("url", url.clone()), ("title", s::string())], &["url", "title"]);
    let link_in = json!({"oneOf": [
        url.clone(),
        s::object(&[("url", url), ("title", s::text(MAX_SHORT_CHARS as u64))], &["url"]),
    ]});
    let mut links_in = s::array(link_in);
    links_in["maxItems"] = json!(MAX_LINKS);
    let title = json!({"type": "string", "maxLength": MAX_TITLE_CHARS, "pattern": "\\S"});
    let short = || s::nullable(s::text(MAX_SHORT_CHARS as u64));
    let severity =
        json!({"type": "integer", "minimum": 0, "maximum": 4, "description": "0 (information) to 4 (critical)"});
    let time = |text: &str| {
        let mut t = s::date_time();
        t["description"] = json!(text);
        t
    };
    // What a creation and an edit take (a merge patch: the fields given change).
    let fields = |patch: bool| {
        let mut f = vec![
            ("title", title.clone()),
            ("body", s::nullable(s::text(MAX_BODY_CHARS as u64))),
            ("tags", tags.clone()),
            ("severity", severity.clone()),
            (
                "occurred_at",
                s::nullable(time(
                    "When it happened (default: `reported_at`); not in the future, not after `reported_at`",
                )),
            ),
            ("reported_at", s::nullable(time("When it was reported (default: now); not in the future"))),
            ("geometry", s::named("EntryGeometry")),
            (
                "lon",
                json!({"type": "number", "minimum": -180, "maximum": 180, "description": "With `lat`, a Point (instead of `geometry`)"}),
            ),
            ("lat", json!({"type": "number", "minimum": -90, "maximum": 90})),
            ("location", short()),
            ("links", links_in.clone()),
            ("source", short()),
        ];
        if patch {
            let mut q = qualification.clone();
            q["description"] = json!(
                "The workflow: raw → in_review → confirmed | refuted → closed (the analyst's; a copy's only editable field)"
            );
            f.push(("qualification", q));
        } else {
            f.push((
                "author",
                json!({"type": ["string", "null"], "maxLength": MAX_SHORT_CHARS, "description": "Who records it: only the anonymous demo identity names it; a signed-in identity leaves it out (it is the author)"}),
            ));
        }
        f
    };
    let mut input = s::object(&fields(false), &["title", "severity"]);
    input["additionalProperties"] = json!(false);
    input["oneOf"] = json!([
        {"required": ["geometry"], "not": {"anyOf": [{"required": ["lon"]}, {"required": ["lat"]}]}},
        {"required": ["lon", "lat"], "not": {"required": ["geometry"]}},
    ]);
    input["description"] =
        json!("A new entry: `title`, `severity` and where (`geometry`, or `lon` and `lat`) are required");
    api.component("EntryInput", input);
    let mut patch = s::object(&fields(true), &[]);
    patch["additionalProperties"] = json!(false);
    patch["minProperties"] = json!(1);
    patch["dependentRequired"] = json!({"lon": ["lat"], "lat": ["lon"]});
    patch["not"] = json!({"required": ["geometry", "lon"]});
    patch["description"] = json!("A JSON merge patch of the entry's fields: those given change");
    api.component("EntryPatch", patch);
    api.component(
        "Attachment",
        s::object(
            &[
                ("sha256", s::pattern("^[0-9a-f]{64}$")),
                ("media_type", s::one_of(&["image/jpeg", "image/png", "image/webp"])),
                ("size", json!({"type": "integer", "minimum": 1})),
                ("filename", s::string()),
                ("url", json!({"type": "string", "description": "Where the photo is read (`GET /api/attachments/{sha256}?entry=ID`)"})),
            ],
            &["sha256", "media_type", "size", "url"],
        ),
    );
    let view = vec![
        ("id", json!({"type": "integer", "minimum": 1})),
        ("version", json!({"type": "integer", "minimum": 1})),
        ("title", s::string()),
        ("body", s::string()),
        ("tags", s::array(s::string())),
        ("severity", severity),
        ("qualification", qualification.clone()),
        ("occurred_at", s::date_time()),
        ("reported_at", s::date_time()),
        ("recorded_at", time("When the server recorded it")),
        ("author", s::string()),
        ("source", s::string()),
        ("location", s::nullable(s::string())),
        ("links", s::array(link_out)),
        ("geometry", s::named("EntryGeometry")),
        ("attachments", s::array(s::named("Attachment"))),
        ("deleted", s::boolean()),
        ("theme", json!({"type": ["string", "null"], "description": "Its first tag that is a catalog theme"})),
        (
            "layers",
            json!({"type": "array", "items": {"type": "string"}, "description": "The catalog's entry and H3 layers showing it"}),
        ),
        ("url", s::string()),
    ];
    let required: Vec<&str> = view.iter().map(|(k, _)| *k).collect();
    api.component("Entry", s::object(&view, &required));
    let side = |extra: &[(&str, Value)]| {
        let mut props = vec![("workspace", s::string()), ("entry", json!({"type": "integer", "minimum": 1}))];
        props.extend(extra.iter().cloned());
        s::object(&props, &["workspace", "entry"])
    };
    let link = |source: Value| {
        s::object(
            &[
                ("source", source),
                ("target", side(&[])),
                (
                    "direction",
                    json!({"type": "string", "enum": ["up", "down"], "description": "`up`: escalated to the parent; `down`: sent to a child"}),
                ),
                ("created_at", s::date_time()),
                ("created_by", s::string()),
            ],
            &["source", "target", "direction", "created_at", "created_by"],
        )
    };
    api.component("EntryCopy", link(side(&[])));
    let mut copy_of = link(side(&[
        ("qualification", s::nullable(qualification)),
        ("version", json!({"type": ["integer", "null"], "minimum": 1})),
    ]));
    copy_of["description"] = json!("The entry this one is a copy of, with its current qualification and version");
    let mut detail = view.clone();
    detail.extend([
        (
            "copies",
            json!({"type": "array", "items": s::named("EntryCopy"), "description": "Its copies in other workspaces"}),
        ),
        ("copy_of", s::nullable(copy_of)),
        (
            "comments",
            s::array(s::object(
                &[
                    ("seq", json!({"type": "integer", "minimum": 1})),
                    ("author", s::string()),
                    ("at", s::date_time()),
                    ("body", s::string()),
                ],
                &["seq", "author", "at", "body"],
            )),
        ),
    ]);
    let required: Vec<&str> = detail.iter().map(|(k, _)| *k).collect();
    api.component("EntryDetail", s::object(&detail, &required));
}

const LIST_ABOUT: &str = "The log's entries, newest first (by `occurred_at`), with the tile filters, `bbox`, a full-text \
search `q` and pages of `limit`: `next` is the link to the following page (`null` on the last). Refuted entries are left \
out unless `qualification` asks for them. A member with a territory sees only the entries inside it (a page may then be \
short, with a `next` link).";

const CREATE_ABOUT: &str = "Records an entry (version 1, qualification `raw`). The author is the signed-in identity; only \
the anonymous demo identity names another (`author`, or the `X-Vigie-User` header). Every invalid field is listed at \
once (422), an entry outside the asker's territory included.";

const PATCH_ABOUT: &str = "A JSON merge patch of the entry's fields, sent with `If-Match` (the version edited, from the \
`ETag`). `qualification` follows the workflow raw → in_review → confirmed | refuted → closed. A contributor changes \
their own entries and cannot qualify; an analyst changes any. A copy of another workspace's entry follows it: only its \
qualification changes here (422 for other fields). A patch changing nothing is a 400; a deleted entry cannot be edited \
(422).";

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, Section, schema as s};
    components(api);
    api.get(
        "/api/entries",
        list,
        Op::new("log", "List entries")
            .about(LIST_ABOUT)
            .with(super::filters::documented_selection)
            .query(
                "bbox",
                s::pattern(r"^-?[0-9]+(\.[0-9]+)?(,-?[0-9]+(\.[0-9]+)?){3}$"),
                "west,south,east,north in degrees (west > east crosses the antimeridian; south <= north)",
            )
            .query("q", s::string(), "Full-text search of the title, body and location: every word, as a prefix, accents ignored (its first 200 characters)")
            .query("cursor", s::pattern(r"^-?[0-9]+_[0-9]+$"), "Where the page starts (as the `next` link gives it)")
            .query("limit", json!({"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE}), "Entries per page")
            .json(
                200,
                "One page of entries",
                s::object(
                    &[
                        ("entries", s::array(s::named("Entry"))),
                        ("count", json!({"type": "integer", "minimum": 0, "maximum": MAX_PAGE})),
                        ("next", json!({"type": ["string", "null"], "description": "The link to the next page"})),
                    ],
                    &["entries", "count", "next"],
                ),
            ),
    );
    api.post(
        "/api/entries",
        create,
        Op::new("log", "Record an entry")
            .about(CREATE_ABOUT)
            .json_body(s::named("EntryInput"), "The entry")
            .json(201, "Recorded", s::named("Entry"))
            .with(|op| entry_etag(op, 201))
            .answer_header(201, "Location", s::string(), "The entry's address")
            .fails(&[422]),
    );
    api.get(
        "/api/entries/{id}",
        get_one,
        Op::new("log", "One entry")
            .about(
                "The entry (deleted ones included, `deleted: true`), with its copies in other workspaces, the entry \
                 it is a copy of and its comments. An entry outside the asker's territory does not exist for them.",
            )
            .with(entry_id)
            .json(200, "The entry", s::named("EntryDetail"))
            .with(|op| entry_etag(op, 200)),
    );
    api.patch(
        "/api/entries/{id}",
        patch,
        Op::new("log", "Change an entry")
            .about(PATCH_ABOUT)
            .with(entry_id)
            .with(if_match_header)
            .json_body(s::named("EntryPatch"), "A JSON merge patch of its fields")
            .body("application/merge-patch+json", s::named("EntryPatch"), "A JSON merge patch of its fields")
            .json(200, "The entry as changed", s::named("Entry"))
            .with(|op| entry_etag(op, 200))
            .fails(&[412, 422, 428]),
    );
    api.delete(
        "/api/entries/{id}",
        delete,
        Op::new("log", "Delete an entry")
            .about(
                "A soft delete with `If-Match`, itself a revision: the entry leaves every layer, its history stays. \
                 A contributor deletes their own entries only. An entry already deleted is a 400; a copy of another \
                 workspace's entry leaves when that workspace withdraws it (409).",
            )
            .with(entry_id)
            .with(if_match_header)
            .json(200, "The entry as deleted", s::named("Entry"))
            .with(|op| entry_etag(op, 200))
            .fails(&[409, 412, 428]),
    );
    api.get(
        "/api/entries/{id}/revisions",
        revisions,
        Op::new("log", "An entry's revisions")
            .about(
                "Who changed what and when, oldest first: each revision's `changes` maps a field to its `from` and \
                 `to`. For a member with a territory, positions outside it are `null`, named in `hidden`.",
            )
            .with(entry_id)
            .json(
                200,
                "The revisions",
                s::object(
                    &[
                        ("entry", json!({"type": "integer", "minimum": 1})),
                        (
                            "revisions",
                            s::array(s::object(
                                &[
                                    ("version", json!({"type": "integer", "minimum": 1})),
                                    ("action", s::one_of(&["created", "updated", "attached", "deleted"])),
                                    ("actor", s::string()),
                                    ("at", s::date_time()),
                                    (
                                        "changes",
                                        s::map_of(json!({
                                            "type": "object",
                                            "description": "A field's value before and after",
                                            "properties": {
                                                "from": {},
                                                "to": {},
                                                "hidden": s::object(&[("sides", s::array(s::one_of(&["from", "to"]))), ("reason", s::string())], &["sides", "reason"]),
                                            },
                                        })),
                                    ),
                                ],
                                &["version", "action", "actor", "at", "changes"],
                            )),
                        ),
                    ],
                    &["entry", "revisions"],
                ),
            ),
    );
    let attached = s::object(
        &[
            ("sha256", s::pattern("^[0-9a-f]{64}$")),
            ("media_type", s::one_of(&["image/jpeg", "image/png", "image/webp"])),
            ("size", json!({"type": "integer", "minimum": 1})),
            ("filename", s::string()),
            ("url", s::string()),
            ("entry", s::named("Entry")),
        ],
        &["sha256", "media_type", "size", "url", "entry"],
    );
    let image = "A JPEG, PNG or WebP image (its type is read from the bytes, whatever Content-Type says)";
    api.post(
        "/api/entries/{id}/attachments",
        attach,
        Op::new("log", "Attach a photo")
            .about(
                "Attaches the image sent as the body (at most 10 MiB; JPEG, PNG or WebP, read from its bytes) to the \
                 entry: stored once by its SHA-256, attaching is a revision of the entry (the same photo twice is \
                 attached once). A contributor adds photos to their own entries; an analyst to any. A copy of \
                 another workspace's entry shows its source's photos (409).",
            )
            .with(entry_id)
            .query("filename", s::string(), "The file's name, kept with the photo (its first 120 characters)")
            .body("image/jpeg", s::binary(), image)
            .body("image/png", s::binary(), image)
            .body("image/webp", s::binary(), image)
            .body("application/octet-stream", s::binary(), image)
            .json(201, "Attached: the photo and the entry", attached)
            .answer_header(201, "Location", s::string(), "Where the photo is read")
            .fails(&[409])
            .in_section(Section::Attachments),
    );
    api.get(
        "/api/attachments/{sha256}",
        attachment,
        Op::new("log", "A photo")
            .about(
                "An entry's photo by its SHA-256, with its type, cacheable for ever (the address is the content). A \
                 member with a territory names the entry holding it (`entry`, inside the territory; as the entry's \
                 attachment `url` has it), else 404.",
            )
            .path("sha256", s::pattern("^[0-9a-f]{64}$"), "The image's SHA-256, lowercase hex")
            .query(
                "entry",
                json!({"type": "integer", "minimum": 1}),
                "The entry holding the photo (needed with a territory)",
            )
            .header("If-None-Match", s::string(), "The ETag held: 304 when it matches")
            .answers(200, "The image", "image/jpeg", s::binary())
            .answers(200, "The image", "image/png", s::binary())
            .answers(200, "The image", "image/webp", s::binary())
            .answer_header(200, "ETag", s::pattern("^\"[0-9a-f]{64}\"$"), "The SHA-256, quoted")
            .answer_header(200, "Cache-Control", s::string(), "Cacheable for a year, immutable")
            .empty(304, "Not modified: the ETag held matches")
            .answer_header(304, "ETag", s::pattern("^\"[0-9a-f]{64}\"$"), "The SHA-256, quoted")
            .in_section(Section::Attachments),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_sniffed_from_their_bytes() {
        assert_eq!(sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Some("image/jpeg"));
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_image(b"<svg xmlns=..."), None);
        assert_eq!(sniff_image(b"GIF89a"), None);
    }

    #[test]
    #[expect(clippy::float_cmp, reason = "parsed decimal literals compare exactly")]
    fn cursors_and_boxes() {
        assert_eq!(cursor_decode(&cursor_encode(-5, 9)), Some((-5, 9)));
        assert_eq!(cursor_decode("x"), None);
        assert_eq!(parse_bbox("2.2,48.8,2.5,48.9").unwrap(), [2.2, 48.8, 2.5, 48.9]);
        assert!(parse_bbox("170,-20,-170,-10").is_ok(), "antimeridian");
        assert!(parse_bbox("2.2,48.9,2.5,48.8").is_err());
        assert!(parse_bbox("1,2,3").is_err());
        assert!(parse_bbox("200,0,0,0").is_err());
    }
}
