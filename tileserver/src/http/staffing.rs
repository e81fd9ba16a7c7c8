//! Liaison-officer staffing over HTTP ([`crate::staffing`], the `vigie-staffing` crate).
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /api/staffing` | reader | the plan (`ETag`), the level in effect, scheduled changes, the shift under way |
//! | `PUT /api/staffing/plan` | staffing manager | levels, shifts, rules, room, positions (`If-Match`) |
//! | `POST /api/staffing/level` `{"level", "reason", "at"?}` | staffing manager | change the alert level now or at `at` (logged, announced) |
//! | `DELETE /api/staffing/level/{id}` | staffing manager | withdraw a scheduled change |
//! | `GET /api/staffing/shifts?from=&days=` | reader | the shifts of a window, UTC and local |
//! | `GET /api/staffing/people` | reader | people and their unavailability (contacts: staffing managers) |
//! | `POST /api/staffing/people` | staffing manager | one person (JSON) or a CSV roster (`text/csv`, all or nothing) |
//! | `PUT/DELETE /api/staffing/people/{id}` | staffing manager | edit or remove a person |
//! | `POST /api/staffing/people/{id}/unavailability` `{"start", "end", "reason"}` | staffing manager | a period away |
//! | `DELETE /api/staffing/unavailability/{id}` | staffing manager | remove it |
//! | `GET /api/staffing/people/{id}/calendar.ics` | reader | the person's shifts, iCalendar |
//! | `GET /api/staffing/assignments?from=&days=&person=&position=` | reader | assignments of a window |
//! | `POST /api/staffing/assignments` `{"person", "position", "day", "shift", "status"?}` | staffing manager | 422 naming every rule it breaks |
//! | `PATCH/DELETE /api/staffing/assignments/{id}` | staffing manager | status (proposed, confirmed, declined), removal |
//! | `POST /api/staffing/assignments/confirm` `{"ids"}` | staffing manager | confirm proposals |
//! | `GET /api/staffing/gaps?level=&from=&days=&format=csv` | reader | the gap report |
//! | `POST /api/staffing/suggestions` `{"level"?, "from"?, "days"?, "apply"?}` | staffing manager | proposals filling the gaps |
//! | `GET /api/staffing/roster.csv?directorate=&from=&days=` | reader | a directorate's roster |
//!
//! Staffing is the workspace's: a member narrowed to a smaller territory is refused (403),
//! as for situation reports.

use super::entries::{json_request, version_matched};
use super::error::{ApiError, problem_response};
use super::reports::{etag, invalid, pairs, time_param, who};
use super::{AppState, Shared};
use crate::identity::{Access, Role};
use crate::staffing::store::{Change, NewAssignment, Outcome};
use crate::staffing::{Loaded, PLAN_DOCUMENT};
use crate::store::{Edited, edit_document};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use vigie_layers::journal::FieldError;
use vigie_staffing::{Person, Plan, Shift, Status};

/// Longest window of shifts, days.
pub const MAX_DAYS: i64 = 92;
/// Most gaps listed in a JSON gap report (the CSV lists them all).
pub const MAX_GAPS: usize = 5_000;
/// Most assignments listed at once.
pub const MAX_ASSIGNMENTS: usize = 50_000;
/// Most proposals applied by one suggestion run.
pub const MAX_APPLY: usize = 20_000;
/// Longest reason of a level change or an unavailability.
pub const MAX_REASON_CHARS: usize = 500;

/// The staffing of the asker's workspace, after checking they see all of it.
async fn roster(state: &Shared, access: &Access) -> Result<Arc<Loaded>, ApiError> {
    if !super::reports::may_see(state, access).await {
        return Err(ApiError::Forbidden(
            "staffing covers the workspace's whole territory, and yours is narrower: ask a staffing manager".into(),
        ));
    }
    Ok(state.staffing.roster().await?)
}

fn problem(status: StatusCode, title: &str, detail: &str, extra: Value) -> Response {
    let mut body = json!({"type": "about:blank", "title": title, "status": status.as_u16(), "detail": detail});
    if let (Some(b), Value::Object(more)) = (body.as_object_mut(), extra) {
        b.extend(more);
    }
    problem_response(status, body)
}

fn field_errors(problems: Vec<vigie_staffing::plan::Problem>) -> ApiError {
    ApiError::Invalid(
        problems.into_iter().map(|p| FieldError { field: p.field, value: None, reason: p.reason }).collect(),
    )
}

fn text_of<'a>(v: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    v.get(name).and_then(Value::as_str).ok_or_else(|| invalid(name, "required text"))
}

fn utc(ms: i64) -> String {
    crate::reports::schedule::utc_ms(ms)
}

fn shift_json(loaded: &Loaded, s: &Shift) -> Value {
    let p = &loaded.roster.pattern;
    json!({"day": s.day, "shift": s.name, "start": utc(s.start), "end": utc(s.end), "local_start": p.local(s.start), "local_end": p.local(s.end)})
}

/// The window `from` (a local day, default today) and `days` (default 7) of a query.
fn window(loaded: &Loaded, p: &Map<String, Value>) -> Result<(Date, i64, Vec<Shift>), ApiError> {
    let pattern = &loaded.roster.pattern;
    let from = match p.get("from").and_then(Value::as_str) {
        Some(d) => d.parse::<Date>().map_err(|_| invalid("from", "a day, YYYY-MM-DD"))?,
        None => pattern.day_of(crate::now_ms()).ok_or_else(|| invalid("from", "today is out of range"))?,
    };
    let days = match p.get("days").and_then(Value::as_str) {
        Some(d) => d.parse::<i64>().ok().filter(|d| (1..=MAX_DAYS).contains(d)),
        None => Some(7),
    }
    .ok_or_else(|| invalid("days", format!("1 to {MAX_DAYS} days")))?;
    let to =
        from.checked_add(jiff::Span::new().days(days - 1)).map_err(|_| invalid("days", "past the calendar's end"))?;
    Ok((from, days, pattern.shifts(from, to)))
}

fn level_param(loaded: &Loaded, v: Option<&Value>) -> Result<usize, ApiError> {
    let r = &loaded.roster;
    match v {
        None | Some(Value::Null) => Some(r.level_at(crate::now_ms())),
        Some(Value::Number(n)) => n.as_u64().map(|n| n as usize).filter(|&n| n < r.plan.levels.len()),
        Some(Value::String(s)) => r.plan.level(s),
        Some(_) => None,
    }
    .ok_or_else(|| invalid("level", format!("one of the plan's levels: {}", r.plan.levels.join(", "))))
}

fn done(outcome: Outcome, missing: &str) -> Result<(u64, Vec<u64>), ApiError> {
    match outcome {
        Outcome::Done { version, ids } => Ok((version, ids)),
        Outcome::Missing => Err(ApiError::Conflict(missing.to_owned())),
        Outcome::Taken => Err(ApiError::Conflict(
            "a person is already on that shift (another change got there first): reload and choose again".into(),
        )),
    }
}

/// A removal: 204, or `missing` when there was nothing to remove.
async fn remove(
    state: &Shared,
    access: &Access,
    change: &Change<'_>,
    what: &str,
    missing: String,
) -> Result<Response, ApiError> {
    roster(state, access).await?;
    let by = who(state, access).await?;
    match state.staffing.write(change, what, &by).await? {
        Outcome::Done { .. } => Ok(StatusCode::NO_CONTENT.into_response()),
        _ => Err(ApiError::NotFound(missing)),
    }
}

fn level_json(loaded: &Loaded, c: &vigie_staffing::LevelChange) -> Value {
    json!({
        "id": c.id, "level": c.level, "name": c.name, "at": utc(c.at),
        "local": loaded.roster.pattern.local(c.at), "reason": c.reason, "by": c.by,
        "entry": c.entry.filter(|&e| e > 0),
    })
}

/// `GET /api/staffing`.
///
/// # Errors
/// 403 for a narrowed member; the store's.
pub async fn overview(State(state): State<AppState>, access: Access) -> Result<Response, ApiError> {
    let loaded = roster(&state, &access).await?;
    let r = &loaded.roster;
    let now = crate::now_ms();
    let level = r.level_at(now);
    let scheduled: Vec<Value> = r.levels.iter().filter(|c| c.at > now).map(|c| level_json(&loaded, c)).collect();
    let history: Vec<Value> =
        r.levels.iter().rev().filter(|c| c.at <= now).take(20).map(|c| level_json(&loaded, c)).collect();
    let layers: Vec<&str> = state
        .tiles
        .iter()
        .filter(|s| s.layer().def.kind == vigie_layers::catalog::LayerKind::Staffing)
        .map(|s| s.id())
        .collect();
    let mut resp = Json(json!({
        "plan": r.plan,
        "plan_version": loaded.plan_version,
        "version": r.version,
        "level": {"index": level, "name": r.plan.levels[level], "since": r.change_at(now).map(|c| level_json(&loaded, c))},
        "scheduled": scheduled,
        "history": history,
        "shift": r.pattern.shift_at(now).map(|s| shift_json(&loaded, &s)),
        "people": r.people.len(),
        "layers": layers,
        "can_manage": access.allows(Role::StaffingManager),
    }))
    .into_response();
    etag(&mut resp, loaded.plan_version);
    Ok(resp)
}

/// `PUT /api/staffing/plan` (`If-Match` with the plan's version; 0 for the default plan).
///
/// # Errors
/// 412 when the plan changed meanwhile; 422 naming every field at fault.
pub async fn put_plan(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let loaded = roster(&state, &access).await?;
    let value = json_request(&headers, &body)?;
    let plan: Plan = serde_json::from_value(value).map_err(|e| invalid("plan", e.to_string()))?;
    let problems = plan.problems(&|code| loaded.venues.contains_key(code));
    if !problems.is_empty() {
        return Err(field_errors(problems));
    }
    let expected = version_matched::<u64>(&headers, "the staffing plan's")?;
    let document = serde_json::to_string(&plan).map_err(|e| ApiError::Internal(e.into()))?;
    let by = who(&state, &access).await?;
    let version = {
        let _one = state.documents.lock().await;
        match edit_document(state.store.as_ref(), PLAN_DOCUMENT, expected, &access.actor(), |_| {
            Ok::<_, ApiError>((document.clone(), ()))
        })
        .await?
        {
            Edited::Stored { to, .. } => to,
            Edited::Stale { current } => {
                return Err(ApiError::PreconditionFailed(format!(
                    "the staffing plan changed meanwhile (now version {current}): read it again"
                )));
            }
            Edited::Busy => return Err(ApiError::Conflict("the staffing plan is being changed: try again".into())),
        }
    };
    // After the document: a replica reading the new version reads the new plan.
    state.staffing.write(&Change::Touch, "plan", &by).await?;
    let draft = state.identities.draft(
        &access,
        "staffing.plan",
        "staffing/plan",
        crate::identity::audit::Outcome::Ok,
        json!({"version": version, "positions": plan.positions.len()}),
    );
    state.identities.record(draft).await;
    let mut resp = Json(json!({"plan": plan, "plan_version": version})).into_response();
    etag(&mut resp, version);
    Ok(resp)
}

/// `POST /api/staffing/level` `{"level", "reason", "at"?}`: in effect at once (recorded in the
/// log before the answer) or scheduled.
///
/// # Errors
/// 422 for an unknown level, a missing reason or a time in the past.
pub async fn change_level(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let loaded = roster(&state, &access).await?;
    let v = json_request(&headers, &body)?;
    let level = match v.get("level") {
        None | Some(Value::Null) => return Err(invalid("level", "required: the level's name or number")),
        given => level_param(&loaded, given)?,
    };
    let reason = text_of(&v, "reason")?.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(invalid("reason", format!("why, 1 to {MAX_REASON_CHARS} characters")));
    }
    let now = crate::now_ms();
    let at = match v.get("at").and_then(Value::as_str) {
        Some(t) => vigie_layers::feature::parse_time_ms(t)
            .map_err(|_| invalid("at", "an RFC 3339 date-time such as 2027-03-28T06:00:00+02:00"))?,
        None => now,
    };
    if at < now - 60_000 {
        return Err(invalid("at", "a change takes effect now or later, not in the past"));
    }
    let by = who(&state, &access).await?;
    let name = loaded.roster.plan.levels[level].clone();
    let change = Change::Level { level, name: &name, at, reason };
    let (_, ids) = done(state.staffing.write(&change, "level", &by).await?, "")?;
    if at <= now + 1_000 {
        crate::staffing::log_due_levels(&state, crate::now_ms()).await?;
    }
    let loaded = state.staffing.roster().await?;
    let made = loaded.roster.levels.iter().find(|c| ids.contains(&c.id)).map(|c| level_json(&loaded, c));
    let draft = state.identities.draft(
        &access,
        "staffing.level",
        &format!("staffing/level/{}", ids.first().copied().unwrap_or_default()),
        crate::identity::audit::Outcome::Ok,
        json!({"level": name, "at": utc(at)}),
    );
    state.identities.record(draft).await;
    Ok((StatusCode::CREATED, Json(json!({"change": made, "scheduled": at > now + 1_000}))).into_response())
}

/// `DELETE /api/staffing/level/{id}`: withdraws a change not in effect yet.
///
/// # Errors
/// 409 for a change already in effect (or gone).
pub async fn cancel_level(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    roster(&state, &access).await?;
    let by = who(&state, &access).await?;
    let change = Change::CancelLevel { id, now: crate::now_ms() };
    done(
        state.staffing.write(&change, "level", &by).await?,
        "this level change is in effect or gone: record a new one",
    )?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/staffing/shifts?from=&days=`.
///
/// # Errors
/// 422 for a bad window.
pub async fn shifts(
    State(state): State<AppState>,
    access: Access,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let loaded = roster(&state, &access).await?;
    let (from, days, list) = window(&loaded, &pairs(q.as_deref())?)?;
    let out: Vec<Value> = list.iter().map(|s| shift_json(&loaded, s)).collect();
    Ok(Json(
        json!({"from": from.to_string(), "days": days, "timezone": loaded.roster.pattern.zone_name(), "shifts": out}),
    )
    .into_response())
}

fn person_json(loaded: &Loaded, p: &Person, contacts: bool) -> Value {
    let away: Vec<Value> = loaded
        .roster
        .unavailable
        .iter()
        .filter(|u| u.person == p.id)
        .map(|u| json!({"id": u.id, "start": utc(u.start), "end": utc(u.end), "reason": u.reason}))
        .collect();
    let mut v =
        json!({"id": p.id, "name": p.name, "directorate": p.directorate, "skills": p.skills, "unavailable": away});
    if contacts {
        v["phone"] = json!(p.phone);
        v["email"] = json!(p.email);
    }
    v
}

/// `GET /api/staffing/people?directorate=`.
///
/// # Errors
/// The store's.
pub async fn people(
    State(state): State<AppState>,
    access: Access,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let loaded = roster(&state, &access).await?;
    let p = pairs(q.as_deref())?;
    let dir = p.get("directorate").and_then(Value::as_str);
    let contacts = access.allows(Role::StaffingManager);
    let list: Vec<Value> = loaded
        .roster
        .people
        .iter()
        .filter(|x| dir.is_none_or(|d| x.directorate == d))
        .map(|x| person_json(&loaded, x, contacts))
        .collect();
    Ok(Json(json!({"people": list, "version": loaded.roster.version})).into_response())
}

/// `POST /api/staffing/people`: one person as JSON, or a CSV roster (`text/csv`) whose people
/// are all created or replaced, or none when a row is bad.
///
/// # Errors
/// 422 naming every bad field (for a CSV: `line N: field`).
pub async fn add_people(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    roster(&state, &access).await?;
    let csv =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/csv"));
    let people = if csv {
        let text = std::str::from_utf8(&body)
            .map_err(|e| invalid("body", format!("not UTF-8 text (byte {})", e.valid_up_to())))?;
        vigie_staffing::import::people_csv(text).map_err(|errors| {
            ApiError::Invalid(
                errors
                    .into_iter()
                    .map(|e| FieldError {
                        field: if e.field.is_empty() {
                            format!("line {}", e.line)
                        } else {
                            format!("line {}: {}", e.line, e.field)
                        },
                        value: None,
                        reason: e.reason,
                    })
                    .collect(),
            )
        })?
    } else {
        let v = json_request(&headers, &body)?;
        let p: Person = serde_json::from_value(v).map_err(|e| invalid("person", e.to_string()))?;
        let problems = p.problems("");
        if !problems.is_empty() {
            return Err(field_errors(problems));
        }
        vec![p]
    };
    let by = who(&state, &access).await?;
    let (version, _) = done(state.staffing.write(&Change::People(&people), "people", &by).await?, "")?;
    let draft = state.identities.draft(
        &access,
        "staffing.people",
        "staffing/people",
        crate::identity::audit::Outcome::Ok,
        json!({"people": people.len(), "csv": csv}),
    );
    state.identities.record(draft).await;
    Ok((StatusCode::CREATED, Json(json!({"stored": people.len(), "version": version}))).into_response())
}

/// `PUT /api/staffing/people/{id}`.
///
/// # Errors
/// 422 for a bad person or an id other than the path's.
pub async fn put_person(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let loaded = roster(&state, &access).await?;
    let mut v = json_request(&headers, &body)?;
    if let Some(o) = v.as_object_mut() {
        o.entry("id").or_insert_with(|| json!(id));
    }
    let p: Person = serde_json::from_value(v).map_err(|e| invalid("person", e.to_string()))?;
    if p.id != id {
        return Err(invalid("id", "the path's id"));
    }
    let problems = p.problems("");
    if !problems.is_empty() {
        return Err(field_errors(problems));
    }
    let by = who(&state, &access).await?;
    let created = loaded.roster.person_index(&id).is_none();
    let (version, _) = done(state.staffing.write(&Change::People(std::slice::from_ref(&p)), "people", &by).await?, "")?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({"person": p, "version": version}))).into_response())
}

/// `DELETE /api/staffing/people/{id}` (with their periods and assignments).
///
/// # Errors
/// 404 for an unknown person.
pub async fn delete_person(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let missing = format!("no person '{}'", id.chars().take(64).collect::<String>());
    remove(&state, &access, &Change::RemovePerson(&id), "people", missing).await
}

/// `POST /api/staffing/people/{id}/unavailability` `{"start", "end", "reason"}`.
///
/// # Errors
/// 404 for an unknown person; 422 for a bad period.
pub async fn add_unavailability(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    roster(&state, &access).await?;
    let v = json_request(&headers, &body)?;
    let m = v.as_object().cloned().unwrap_or_default();
    let start = time_param(&m, "start")?.ok_or_else(|| invalid("start", "required"))?;
    let end = time_param(&m, "end")?.ok_or_else(|| invalid("end", "required"))?;
    if end <= start || end - start > 366 * vigie_staffing::shifts::DAY_MS {
        return Err(invalid("end", "after the start, at most a year later"));
    }
    let reason = v.get("reason").and_then(Value::as_str).unwrap_or("").trim();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(invalid("reason", format!("at most {MAX_REASON_CHARS} characters")));
    }
    let by = who(&state, &access).await?;
    let change = Change::Away { person: &id, start, end, reason };
    match state.staffing.write(&change, "unavailability", &by).await? {
        Outcome::Done { version, ids } => {
            Ok((StatusCode::CREATED, Json(json!({"id": ids.first(), "version": version}))).into_response())
        }
        _ => Err(ApiError::NotFound(format!("no person '{}'", id.chars().take(64).collect::<String>()))),
    }
}

/// `DELETE /api/staffing/unavailability/{id}`.
///
/// # Errors
/// 404 for an unknown period.
pub async fn delete_unavailability(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    remove(&state, &access, &Change::RemoveAway(id), "unavailability", format!("no unavailability {id}")).await
}

/// `GET /api/staffing/people/{id}/calendar.ics`.
///
/// # Errors
/// 404 for an unknown person.
pub async fn calendar(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let loaded = roster(&state, &access).await?;
    let i = loaded.roster.person_index(&id).ok_or_else(|| ApiError::NotFound("no such person".into()))?;
    let place = |p: &vigie_staffing::Place| loaded.place(p).map(|(_, name)| name).unwrap_or_default();
    let ics = loaded.roster.ics(i, &state.config.workspace, crate::now_ms(), &place);
    let name = format!("attachment; filename=\"{id}.ics\"");
    Ok(([(header::CONTENT_TYPE, "text/calendar; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, name)], ics)
        .into_response())
}

fn assignment_json(loaded: &Loaded, a: &vigie_staffing::Assignment) -> Value {
    let p = &loaded.roster.pattern;
    json!({
        "id": a.id, "person": a.person, "position": a.position, "day": a.day, "shift": a.shift,
        "start": utc(a.start), "end": utc(a.end), "local_start": p.local(a.start), "status": a.status,
        "by": a.by, "at": utc(a.at),
    })
}

/// `GET /api/staffing/assignments?from=&days=&person=&position=`.
///
/// # Errors
/// 422 for a bad window.
pub async fn assignments(
    State(state): State<AppState>,
    access: Access,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let loaded = roster(&state, &access).await?;
    let p = pairs(q.as_deref())?;
    let (_, _, list) = window(&loaded, &p)?;
    let (Some(from), Some(to)) = (list.first().map(|s| s.start), list.iter().map(|s| s.start).max()) else {
        return Ok(Json(json!({"assignments": []})).into_response());
    };
    let person = p.get("person").and_then(Value::as_str);
    let position = p.get("position").and_then(Value::as_str);
    let out: Vec<Value> = loaded
        .roster
        .assignments
        .iter()
        .filter(|a| a.start >= from && a.start <= to)
        .filter(|a| person.is_none_or(|x| a.person == x) && position.is_none_or(|x| a.position == x))
        .take(MAX_ASSIGNMENTS)
        .map(|a| assignment_json(&loaded, a))
        .collect();
    Ok(Json(json!({"assignments": out, "version": loaded.roster.version})).into_response())
}

fn breaches_response(breaches: &[vigie_staffing::Breach], loaded: &Loaded) -> Response {
    let list: Vec<Value> = breaches
        .iter()
        .map(|b| {
            let shifts: Vec<Value> = b
                .shifts
                .iter()
                .map(|[s, e]| json!({"start": utc(*s), "end": utc(*e), "local_start": loaded.roster.pattern.local(*s)}))
                .collect();
            json!({"rule": b.rule, "detail": b.detail, "shifts": shifts})
        })
        .collect();
    let names: Vec<&str> = breaches.iter().map(|b| b.rule).collect();
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Rules broken",
        &format!("this assignment breaks: {}", names.join(", ")),
        json!({"breaches": list}),
    )
}

/// `POST /api/staffing/assignments` `{"person", "position", "day", "shift", "status"?}`
/// (`confirmed` unless `proposed` is asked).
///
/// # Errors
/// 422 naming every rule broken (`breaches`) or the unknown field; 409 when the person was
/// put on that shift meanwhile.
pub async fn assign(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let loaded = roster(&state, &access).await?;
    let v = json_request(&headers, &body)?;
    let r = &loaded.roster;
    let person = text_of(&v, "person")?;
    let who_i = r.person_index(person).ok_or_else(|| invalid("person", "no such person"))?;
    let position = r.plan.position(text_of(&v, "position")?).ok_or_else(|| invalid("position", "no such position"))?;
    let shift = r.shift(text_of(&v, "day")?, text_of(&v, "shift")?).ok_or_else(|| {
        invalid(
            "shift",
            format!("a day YYYY-MM-DD and one of the shifts: {}", r.pattern.names().collect::<Vec<_>>().join(", ")),
        )
    })?;
    let status = match v.get("status").and_then(Value::as_str) {
        None => Status::Confirmed,
        Some(s) => Status::parse(s)
            .filter(|s| *s != Status::Declined)
            .ok_or_else(|| invalid("status", "proposed or confirmed"))?,
    };
    let breaches = r.check(who_i, position, [shift.start, shift.end], None, &[]);
    if !breaches.is_empty() {
        return Ok(breaches_response(&breaches, &loaded));
    }
    let new = NewAssignment {
        person: person.to_owned(),
        position: position.id.clone(),
        day: shift.day.clone(),
        shift: shift.name.clone(),
        start: shift.start,
        end: shift.end,
        status,
    };
    let by = who(&state, &access).await?;
    let (version, ids) = done(
        state.staffing.write(&Change::Assign(std::slice::from_ref(&new)), "assignments", &by).await?,
        "the person was removed meanwhile",
    )?;
    Ok((StatusCode::CREATED, Json(json!({"id": ids.first(), "version": version}))).into_response())
}

/// `PATCH /api/staffing/assignments/{id}` `{"status"}`: back from `declined`, the rules are
/// checked again.
///
/// # Errors
/// 404 for an unknown assignment; 409 when it changed meanwhile; 422 for broken rules.
pub async fn patch_assignment(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let loaded = roster(&state, &access).await?;
    let v = json_request(&headers, &body)?;
    let to = v
        .get("status")
        .and_then(Value::as_str)
        .and_then(Status::parse)
        .ok_or_else(|| invalid("status", "proposed, confirmed or declined"))?;
    let r = &loaded.roster;
    let a =
        r.assignments.iter().find(|a| a.id == id).ok_or_else(|| ApiError::NotFound(format!("no assignment {id}")))?;
    if a.status == Status::Declined && to != Status::Declined {
        let person = r.person_index(&a.person).ok_or_else(|| ApiError::Conflict("the person was removed".into()))?;
        let position = r
            .plan
            .position(&a.position)
            .ok_or_else(|| ApiError::Conflict("the position is no longer in the plan".into()))?;
        let breaches = r.check(person, position, [a.start, a.end], Some(id), &[]);
        if !breaches.is_empty() {
            return Ok(breaches_response(&breaches, &loaded));
        }
    }
    let by = who(&state, &access).await?;
    let change = Change::Status { id, from: a.status, to };
    let (version, _) =
        done(state.staffing.write(&change, "assignments", &by).await?, "the assignment changed meanwhile: reload")?;
    Ok(Json(json!({"id": id, "status": to, "version": version})).into_response())
}

/// `DELETE /api/staffing/assignments/{id}`.
///
/// # Errors
/// 404 for an unknown assignment.
pub async fn delete_assignment(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    remove(&state, &access, &Change::RemoveAssignment(id), "assignments", format!("no assignment {id}")).await
}

/// `POST /api/staffing/assignments/confirm` `{"ids": [...]}`: the proposals among them
/// confirmed, in one transaction.
///
/// # Errors
/// 422 for a bad list.
pub async fn confirm(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    roster(&state, &access).await?;
    let v = json_request(&headers, &body)?;
    let ids: Vec<u64> = v
        .get("ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .filter(|a: &Vec<u64>| !a.is_empty() && a.len() <= MAX_APPLY)
        .ok_or_else(|| invalid("ids", format!("1 to {MAX_APPLY} assignment ids")))?;
    let by = who(&state, &access).await?;
    let (version, confirmed) = done(state.staffing.write(&Change::Confirm(&ids), "assignments", &by).await?, "")?;
    Ok(Json(json!({"confirmed": confirmed.len(), "version": version})).into_response())
}

/// `GET /api/staffing/gaps?level=&from=&days=&limit=&format=csv`: at the level in effect
/// unless `level` names one.
///
/// # Errors
/// 422 for a bad level or window.
pub async fn gaps(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let loaded = roster(&state, &access).await?;
    let p = pairs(q.as_deref())?;
    let level = level_param(&loaded, p.get("level"))?;
    let (from, days, shifts) = window(&loaded, &p)?;
    let r = &loaded.roster;
    if p.get("format").and_then(Value::as_str) == Some("csv") {
        let report = r.gaps(level, &shifts, usize::MAX);
        let csv = r.gaps_csv(&report).map_err(|e| ApiError::Internal(e.into()))?;
        let name = format!("attachment; filename=\"gaps-{from}-{days}d.csv\"");
        return Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, name)],
            csv,
        )
            .into_response());
    }
    let limit = p
        .get("limit")
        .and_then(Value::as_str)
        .map(|l| {
            l.parse::<usize>()
                .ok()
                .filter(|l| *l <= MAX_GAPS)
                .ok_or_else(|| invalid("limit", format!("0 to {MAX_GAPS}")))
        })
        .transpose()?
        .unwrap_or(MAX_GAPS);
    // The level in effect and today are in the key: they move with the clock, not the roster.
    let now = crate::now_ms();
    let key = format!("gaps {level} {from} {days} {limit} {}", r.level_at(now));
    let body = state
        .staffing
        .answer(&key, r.version, || {
            let report = r.gaps(level, &shifts, limit);
            let mut v = serde_json::to_value(&report).map_err(|e| ApiError::Internal(e.into()))?;
            // Instants as everywhere in the API: RFC 3339 UTC, with the local start beside.
            for (g, gap) in v["gaps"].as_array_mut().into_iter().flatten().zip(&report.gaps) {
                g["start"] = json!(utc(gap.start));
                g["end"] = json!(utc(gap.end));
                g["local_start"] = json!(r.pattern.local(gap.start));
            }
            v["from"] = json!(from.to_string());
            v["days"] = json!(days);
            v["version"] = json!(r.version);
            v["current_level"] = json!(r.level_at(now));
            serde_json::to_vec(&v).map_err(|e| ApiError::Internal(e.into()))
        })
        .await?;
    // Compressed once per answer, not once per response (the compression layer leaves an
    // encoded body alone).
    let gzip = super::tiles::accepts_gzip(&headers);
    let (bytes, tag) = if gzip { body.gzip() } else { (&body.raw, body.etag.as_str()) };
    let mut resp = ([(header::CONTENT_TYPE, "application/json")], bytes.clone()).into_response();
    let h = resp.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, v);
    }
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(resp)
}

/// `POST /api/staffing/suggestions` `{"level"?, "from"?, "days"?, "apply"?}`: proposals filling
/// the gaps of the window (shifts not started yet); with `apply`, stored as proposed
/// assignments for a manager to confirm.
///
/// # Errors
/// 422 for a bad level or window; 409 when the roster changed under the run.
pub async fn suggestions(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let loaded = roster(&state, &access).await?;
    let v = if body.is_empty() { json!({}) } else { json_request(&headers, &body)? };
    let mut p = Map::new();
    for k in ["from", "days"] {
        match v.get(k) {
            Some(Value::String(s)) => {
                p.insert(k.into(), json!(s));
            }
            Some(Value::Number(n)) => {
                p.insert(k.into(), json!(n.to_string()));
            }
            _ => {}
        }
    }
    let level = level_param(&loaded, v.get("level"))?;
    let (_, _, shifts) = window(&loaded, &p)?;
    let r = &loaded.roster;
    let roster = loaded.clone();
    let shifts2 = shifts.clone();
    let s = tokio::task::spawn_blocking(move || roster.roster.suggest(level, &shifts2, crate::now_ms()))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let apply = v.get("apply").and_then(Value::as_bool).unwrap_or(false);
    let mut applied = Vec::new();
    if apply && !s.proposals.is_empty() {
        if s.proposals.len() > MAX_APPLY {
            return Err(invalid("days", format!("at most {MAX_APPLY} proposals applied at once: a shorter window")));
        }
        let list: Vec<NewAssignment> = s
            .proposals
            .iter()
            .map(|x| NewAssignment {
                person: x.person.clone(),
                position: x.position.clone(),
                day: x.day.clone(),
                shift: x.shift.clone(),
                start: x.start,
                end: x.end,
                status: Status::Proposed,
            })
            .collect();
        let by = who(&state, &access).await?;
        applied = done(
            state.staffing.write(&Change::Assign(&list), "assignments", &by).await?,
            "a person was removed during the run: run it again",
        )?
        .1;
    }
    let proposals: Vec<Value> = s
        .proposals
        .iter()
        .take(MAX_GAPS)
        .map(|x| json!({"person": x.person, "position": x.position, "day": x.day, "shift": x.shift, "start": utc(x.start), "local_start": r.pattern.local(x.start)}))
        .collect();
    Ok(Json(json!({
        "level": {"index": level, "name": r.plan.levels[level]},
        "open": s.open, "filled": s.proposals.len(), "unfilled": s.unfilled,
        "proposals": proposals, "applied": applied,
    }))
    .into_response())
}

/// `GET /api/staffing/roster.csv?directorate=&from=&days=`.
///
/// # Errors
/// 422 for a bad window.
pub async fn roster_csv(
    State(state): State<AppState>,
    access: Access,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let loaded = roster(&state, &access).await?;
    let p = pairs(q.as_deref())?;
    let (from, days, shifts) = window(&loaded, &p)?;
    let dir = p.get("directorate").and_then(Value::as_str);
    // Contacts are the managers' to see: for the others the columns stay, empty.
    let csv = loaded
        .roster
        .roster_csv(dir, &shifts, access.allows(Role::StaffingManager))
        .map_err(|e| ApiError::Internal(e.into()))?;
    let name = format!("attachment; filename=\"roster-{}-{from}-{days}d.csv\"", dir.unwrap_or("all"));
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, name)], csv)
        .into_response())
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    api.get(
        "/api/staffing",
        overview,
        Op::new("staffing", "Staffing at a glance").json(200, "The answer", s::any_object()),
    );
    api.put(
        "/api/staffing/plan",
        put_plan,
        Op::new("staffing", "Change the staffing plan")
            .json_body(s::any_object(), "The plan")
            .json(200, "The answer", s::any_object())
            .fails(&[412, 422, 428]),
    );
    api.post(
        "/api/staffing/level",
        change_level,
        Op::new("staffing", "Change the alert level")
            .json_body(s::any_object(), "The level")
            .json(200, "The answer", s::any_object())
            .fails(&[422]),
    );
    api.delete(
        "/api/staffing/level/{id}",
        cancel_level,
        Op::new("staffing", "Withdraw a planned level change")
            .path("id", s::int_in(1, i64::MAX), "The change's id")
            .empty(204, "Withdrawn"),
    );
    api.get("/api/staffing/shifts", shifts, Op::new("staffing", "Shifts").json(200, "The answer", s::any_object()));
    api.get("/api/staffing/people", people, Op::new("staffing", "People").json(200, "The answer", s::any_object()));
    api.post(
        "/api/staffing/people",
        add_people,
        Op::new("staffing", "Add people")
            .json_body(s::any_object(), "A person (or `text/csv`, a roster)")
            .json(200, "The answer", s::any_object())
            .fails(&[415, 422]),
    );
    api.put(
        "/api/staffing/people/{id}",
        put_person,
        Op::new("staffing", "Change a person")
            .path("id", s::string(), "The person's id")
            .json_body(s::any_object(), "The person")
            .json(200, "The answer", s::any_object())
            .fails(&[412, 422]),
    );
    api.delete(
        "/api/staffing/people/{id}",
        delete_person,
        Op::new("staffing", "Remove a person").path("id", s::string(), "The person's id").empty(204, "Removed"),
    );
    api.post(
        "/api/staffing/people/{id}/unavailability",
        add_unavailability,
        Op::new("staffing", "Record an unavailability")
            .path("id", s::string(), "The person's id")
            .json_body(s::any_object(), "The period")
            .json(201, "Recorded", s::any_object())
            .fails(&[422]),
    );
    api.get(
        "/api/staffing/people/{id}/calendar.ics",
        calendar,
        Op::new("staffing", "A person's calendar").path("id", s::string(), "The person's id").answers(
            200,
            "The document",
            "text/calendar",
            s::binary(),
        ),
    );
    api.delete(
        "/api/staffing/unavailability/{id}",
        delete_unavailability,
        Op::new("staffing", "Remove an unavailability")
            .path("id", s::int_in(1, i64::MAX), "The period's id")
            .empty(204, "Removed"),
    );
    api.get(
        "/api/staffing/assignments",
        assignments,
        Op::new("staffing", "Assignments").json(200, "The answer", s::any_object()),
    );
    api.post(
        "/api/staffing/assignments",
        assign,
        Op::new("staffing", "Assign someone")
            .json_body(s::any_object(), "The assignment")
            .json(201, "Assigned", s::any_object())
            .fails(&[409, 422]),
    );
    api.post(
        "/api/staffing/assignments/confirm",
        confirm,
        Op::new("staffing", "Confirm proposals")
            .json_body(s::any_object(), "The ids")
            .json(200, "The answer", s::any_object())
            .fails(&[422]),
    );
    api.patch(
        "/api/staffing/assignments/{id}",
        patch_assignment,
        Op::new("staffing", "Change an assignment's status")
            .path("id", s::int_in(1, i64::MAX), "The assignment's id")
            .json_body(s::any_object(), "The status")
            .json(200, "The answer", s::any_object())
            .fails(&[409, 422]),
    );
    api.delete(
        "/api/staffing/assignments/{id}",
        delete_assignment,
        Op::new("staffing", "Remove an assignment")
            .path("id", s::int_in(1, i64::MAX), "The assignment's id")
            .empty(204, "Removed"),
    );
    api.get(
        "/api/staffing/gaps",
        gaps,
        Op::new("staffing", "Unfilled positions").json(200, "The answer", s::any_object()),
    );
    api.post(
        "/api/staffing/suggestions",
        suggestions,
        Op::new("staffing", "Proposals filling the gaps")
            .json_body(s::any_object(), "Level and period")
            .json(200, "The answer", s::any_object())
            .fails(&[422]),
    );
    api.get(
        "/api/staffing/roster.csv",
        roster_csv,
        Op::new("staffing", "The roster as CSV").answers(200, "The document", "text/csv", s::binary()),
    );
}
