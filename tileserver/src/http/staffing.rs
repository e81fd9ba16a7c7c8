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
        return Ok(Json(json!({"assignments": [], "version": loaded.roster.version})).into_response());
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
    // The directorate is the asker's text: only what is safe in a header and a file name.
    let label: String = dir
        .unwrap_or("all")
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    let name = format!("attachment; filename=\"roster-{label}-{from}-{days}d.csv\"");
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, name)], csv)
        .into_response())
}

/// Schemas of this module's documentation.
mod doc {
    use super::super::openapi::schema as s;
    use super::super::reports::doc::{count, more, tuple};
    use serde_json::{Value, json};
    use vigie_staffing::plan::{MAX_LEVELS, MAX_NEED, MAX_POSITIONS, MAX_SKILLS};

    /// A person, position or skill id.
    pub fn id() -> Value {
        more(s::pattern("^[A-Za-z0-9._-]{1,64}$"), json!({"description": "1 to 64 letters, digits, `-`, `_` or `.`"}))
    }

    /// A local day.
    pub fn day() -> Value {
        json!({"type": "string", "format": "date", "description": "A local day, YYYY-MM-DD"})
    }

    /// A local time without offset, in the plan's time zone.
    pub fn local() -> Value {
        more(s::string(), json!({"description": "Local time in the plan's time zone, `YYYY-MM-DDTHH:MM`"}))
    }

    fn hh_mm() -> Value {
        more(s::pattern("^([01][0-9]|2[0-3]):[0-5][0-9]$"), json!({"description": "Local time of day, `HH:MM`"}))
    }

    fn lonlat() -> Value {
        more(
            tuple(&[
                json!({"type": "number", "minimum": -180, "maximum": 180}),
                json!({"type": "number", "minimum": -85, "maximum": 85}),
            ]),
            json!({"description": "Longitude, latitude (WGS84)"}),
        )
    }

    fn skills() -> Value {
        more(s::array(id()), json!({"maxItems": MAX_SKILLS}))
    }

    /// The staffing plan; `answer`: as served (every field present).
    pub fn plan(answer: bool) -> Value {
        let req = |all: &'static [&'static str]| if answer { all } else { &[] };
        let shift = s::object(
            &[
                ("name", more(s::string(), json!({"minLength": 1, "examples": ["matin"]}))),
                ("start", hh_mm()),
                (
                    "end",
                    more(hh_mm(), json!({"description": "Local end, `HH:MM` (at or before the start: the next day)"})),
                ),
            ],
            &["name", "start", "end"],
        );
        let place = more(
            s::object(
                &[
                    ("venue", more(s::string(), json!({"description": "A venue's code"}))),
                    ("point", lonlat()),
                    ("label", more(s::string(), json!({"description": "The place's name (a point's)"}))),
                ],
                &[],
            ),
            json!({"description": "A venue, or a point, or neither: the crisis room"}),
        );
        let position = s::object(
            &[
                ("id", id()),
                ("title", more(s::text(200), json!({"minLength": 1}))),
                (
                    "directorate",
                    more(s::text(64), json!({"description": "The directorate whose officers sit here (empty: any)"})),
                ),
                ("place", place),
                ("skills", more(skills(), json!({"description": "Skills every person sitting here must have"}))),
                (
                    "needs",
                    more(
                        s::array(s::int_in(0, i64::from(MAX_NEED))),
                        json!({"description": "People needed on each shift, one number per alert level (0: closed)"}),
                    ),
                ),
            ],
            if answer {
                &["id", "title", "directorate", "place", "skills", "needs"]
            } else {
                &["id", "title", "needs"]
            },
        );
        s::object(
            &[
                (
                    "timezone",
                    more(
                        s::string(),
                        json!({"description": "IANA time zone of the shifts", "examples": ["Europe/Paris"]}),
                    ),
                ),
                (
                    "shifts",
                    more(s::array(shift), json!({"minItems": 1, "maxItems": 12, "description": "The shift pattern"})),
                ),
                (
                    "levels",
                    more(
                        s::array(more(s::text(60), json!({"minLength": 1}))),
                        json!({"minItems": 2, "maxItems": MAX_LEVELS, "uniqueItems": true, "description": "Alert levels, lowest first"}),
                    ),
                ),
                (
                    "rules",
                    s::object(
                        &[
                            (
                                "min_rest_hours",
                                more(
                                    json!({"type": "number", "minimum": 0, "maximum": 24}),
                                    json!({"description": "Least rest between two shifts"}),
                                ),
                            ),
                            (
                                "max_week_hours",
                                more(
                                    json!({"type": "number", "minimum": 1, "maximum": 168}),
                                    json!({"description": "Most work in any 7 days"}),
                                ),
                            ),
                        ],
                        &["min_rest_hours", "max_week_hours"],
                    ),
                ),
                (
                    "room",
                    more(
                        s::object(
                            &[("label", more(s::string(), json!({"minLength": 1}))), ("point", lonlat())],
                            &["label", "point"],
                        ),
                        json!({"description": "The crisis room"}),
                    ),
                ),
                (
                    "positions",
                    more(
                        s::array(position),
                        json!({"maxItems": MAX_POSITIONS, "description": "Positions, in display order"}),
                    ),
                ),
            ],
            req(&["timezone", "shifts", "levels", "rules", "room", "positions"]),
        )
    }

    /// A person; `answer`: as stored (every field present); `path`: its id may be left out.
    pub fn person(answer: bool, path: bool) -> Value {
        let required: &[&str] = match (answer, path) {
            (true, _) => &["id", "name", "directorate", "skills", "phone", "email"],
            (false, false) => &["id", "name", "directorate"],
            (false, true) => &["name", "directorate"],
        };
        s::object(
            &[
                (
                    "id",
                    more(
                        id(),
                        json!({"description": "A registration number: 1 to 64 letters, digits, `-`, `_` or `.`"}),
                    ),
                ),
                ("name", more(s::text(200), json!({"minLength": 1}))),
                ("directorate", more(s::text(64), json!({"minLength": 1, "description": "Directorate or ministry"}))),
                ("skills", skills()),
                ("phone", s::text(40)),
                ("email", more(s::text(200), json!({"description": "An address with `@`, or empty"}))),
            ],
            required,
        )
    }

    pub fn listed_person() -> Value {
        let away = s::object(
            &[("id", count()), ("start", s::date_time()), ("end", s::date_time()), ("reason", s::string())],
            &["id", "start", "end", "reason"],
        );
        s::object(
            &[
                ("id", s::string()),
                ("name", s::string()),
                ("directorate", s::string()),
                ("skills", s::array(s::string())),
                ("unavailable", more(s::array(away), json!({"description": "Periods away, `[start, end)`"}))),
                ("phone", more(s::string(), json!({"description": "Staffing managers only"}))),
                ("email", more(s::string(), json!({"description": "Staffing managers only"}))),
            ],
            &["id", "name", "directorate", "skills", "unavailable"],
        )
    }

    pub fn level_change() -> Value {
        s::object(
            &[
                ("id", count()),
                ("level", more(count(), json!({"description": "The level's index in the plan"}))),
                ("name", more(s::string(), json!({"description": "Its name when it was decided"}))),
                ("at", more(s::date_time(), json!({"description": "When it takes effect"}))),
                ("local", local()),
                ("reason", s::string()),
                ("by", s::string()),
                (
                    "entry",
                    more(s::nullable(count()), json!({"description": "The log entry recording it, once in effect"})),
                ),
            ],
            &["id", "level", "name", "at", "local", "reason", "by", "entry"],
        )
    }

    pub fn level() -> Value {
        s::object(&[("index", count()), ("name", s::string())], &["index", "name"])
    }

    pub fn shift() -> Value {
        s::object(
            &[
                ("day", more(day(), json!({"description": "The local day it starts on"}))),
                ("shift", s::string()),
                ("start", s::date_time()),
                ("end", s::date_time()),
                ("local_start", local()),
                ("local_end", local()),
            ],
            &["day", "shift", "start", "end", "local_start", "local_end"],
        )
    }

    pub fn assignment() -> Value {
        s::object(
            &[
                ("id", count()),
                ("person", s::string()),
                ("position", s::string()),
                ("day", day()),
                ("shift", s::string()),
                ("start", s::date_time()),
                ("end", s::date_time()),
                ("local_start", local()),
                ("status", s::named("AssignmentStatus")),
                ("by", more(s::string(), json!({"description": "Who made or last changed it"}))),
                ("at", more(s::date_time(), json!({"description": "When"}))),
            ],
            &["id", "person", "position", "day", "shift", "start", "end", "local_start", "status", "by", "at"],
        )
    }

    const TOTALS: [&str; 5] = ["needed", "confirmed", "proposed", "short", "uncovered"];

    fn totals_props() -> Vec<(&'static str, Value)> {
        TOTALS.iter().map(|k| (*k, count())).collect()
    }

    pub fn gap_report() -> Value {
        let totals = s::object(&totals_props(), &TOTALS);
        let mut gap_props = totals_props();
        gap_props.extend([
            ("day", day()),
            ("shift", s::string()),
            ("start", s::date_time()),
            ("end", s::date_time()),
            ("local_start", local()),
            ("position", s::string()),
            ("unavailable", more(count(), json!({"description": "Assignments not counted: their person is away"}))),
        ]);
        let mut gap_required = TOTALS.to_vec();
        gap_required.extend(["day", "shift", "start", "end", "local_start", "position", "unavailable"]);
        let mut group_props = totals_props();
        group_props.push((
            "key",
            more(
                s::string(),
                json!({"description": "The directorate, or the place (`venue:CODE`, `point:LON,LAT`, `room`)"}),
            ),
        ));
        let mut group_required = TOTALS.to_vec();
        group_required.push("key");
        let groups = s::array(s::object(&group_props, &group_required));
        let raise = s::object(
            &[
                ("level", s::named("Level")),
                ("totals", totals.clone()),
                ("extra_short", more(count(), json!({"description": "People short beyond the current level's"}))),
                ("opening", more(s::array(s::string()), json!({"description": "Positions that open at that level"}))),
            ],
            &["level", "totals", "extra_short", "opening"],
        );
        s::object(
            &[
                ("level", more(s::named("Level"), json!({"description": "The level it is computed at"}))),
                ("current_level", more(count(), json!({"description": "The level in effect now"}))),
                ("from", day()),
                ("days", s::int_in(1, super::MAX_DAYS)),
                ("shifts", more(count(), json!({"description": "Shifts covered"}))),
                ("totals", totals),
                (
                    "gaps",
                    more(
                        s::array(s::object(&gap_props, &gap_required)),
                        json!({"description": "Slots short of people, by start then plan order (at most `limit`)"}),
                    ),
                ),
                ("gaps_total", more(count(), json!({"description": "Slots short in all"}))),
                ("by_directorate", groups.clone()),
                ("by_place", groups),
                (
                    "raise",
                    more(s::nullable(raise), json!({"description": "What one level up would add (null at the top)"})),
                ),
                ("version", more(count(), json!({"description": "The roster's version"}))),
            ],
            &[
                "level",
                "current_level",
                "from",
                "days",
                "shifts",
                "totals",
                "gaps",
                "gaps_total",
                "by_directorate",
                "by_place",
                "raise",
                "version",
            ],
        )
    }

    /// `{"id", "version"}` of a creation.
    pub fn created() -> Value {
        s::object(
            &[
                ("id", more(count(), json!({"description": "The id created"}))),
                ("version", more(count(), json!({"description": "The roster's version after it"}))),
            ],
            &["id", "version"],
        )
    }
}

/// The window parameters of a query (`from`, `days`).
fn window_params(op: super::openapi::Op) -> super::openapi::Op {
    use super::openapi::schema as s;
    use super::reports::doc::more;
    op.query("from", doc::day(), "The window's first local day (default: today)").query(
        "days",
        more(s::int_in(1, MAX_DAYS), json!({"default": 7})),
        "Days in the window",
    )
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    use super::reports::doc::{count, more};
    api.component("Plan", doc::plan(true));
    api.component("Person", doc::person(true, false));
    api.component("LevelChange", doc::level_change());
    api.component("Level", doc::level());
    api.component("Shift", doc::shift());
    api.component("AssignmentStatus", s::one_of(&["proposed", "confirmed", "declined"]));
    api.component("Assignment", doc::assignment());
    api.component("GapReport", doc::gap_report());
    let version = || more(count(), json!({"description": "The roster's version after the change"}));
    let person_id = || more(doc::id(), json!({"examples": ["o00001"]}));
    let etag = || more(s::string(), json!({"examples": ["\"3\""]}));
    let level_given = || {
        json!({
            "anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}],
            "description": "A level of the plan, by name (`crise`) or index from 0",
        })
    };
    let disposition = |example: &str| more(s::string(), json!({"examples": [example]}));
    api.get(
        "/api/staffing",
        overview,
        Op::new("staffing", "Staffing at a glance")
            .about(
                "The plan (its version as `ETag`), the alert level in effect and since when, scheduled level changes, \
                 the last 20 changes, the shift under way, how many people, the staffing map layers and whether the \
                 asker may manage staffing.",
            )
            .json(
                200,
                "The overview",
                s::object(
                    &[
                        ("plan", s::named("Plan")),
                        (
                            "plan_version",
                            more(
                                count(),
                                json!({"description": "The plan's version (0: the default plan), as the ETag"}),
                            ),
                        ),
                        ("version", more(count(), json!({"description": "The roster's version"}))),
                        (
                            "level",
                            s::object(
                                &[
                                    ("index", count()),
                                    ("name", s::string()),
                                    (
                                        "since",
                                        more(
                                            s::nullable(s::named("LevelChange")),
                                            json!({"description": "The change that set it (null: never changed)"}),
                                        ),
                                    ),
                                ],
                                &["index", "name", "since"],
                            ),
                        ),
                        (
                            "scheduled",
                            more(
                                s::array(s::named("LevelChange")),
                                json!({"description": "Changes not in effect yet"}),
                            ),
                        ),
                        (
                            "history",
                            more(
                                s::array(s::named("LevelChange")),
                                json!({"description": "The last 20 changes in effect, newest first"}),
                            ),
                        ),
                        ("shift", more(s::nullable(s::named("Shift")), json!({"description": "The shift under way"}))),
                        ("people", more(count(), json!({"description": "People on the roster"}))),
                        ("layers", more(s::array(s::string()), json!({"description": "The staffing map layers"}))),
                        (
                            "can_manage",
                            more(s::boolean(), json!({"description": "Whether the asker is a staffing manager"})),
                        ),
                    ],
                    &[
                        "plan",
                        "plan_version",
                        "version",
                        "level",
                        "scheduled",
                        "history",
                        "shift",
                        "people",
                        "layers",
                        "can_manage",
                    ],
                ),
            )
            .answer_header(200, "ETag", etag(), "The plan's version, quoted"),
    );
    api.put(
        "/api/staffing/plan",
        put_plan,
        Op::new("staffing", "Change the staffing plan")
            .about(
                "Replaces the plan: time zone and shift pattern, alert levels, the labour rules' numbers, the crisis \
                 room and the positions with their needs per level (a field left out takes its default). Every field \
                 at fault is named (422). With `If-Match` (the plan's version; 0 for the default plan), a concurrent \
                 change is a 412.",
            )
            .header(
                "If-Match",
                more(s::string(), json!({"examples": ["\"0\""]})),
                "The plan's version the change was made on",
            )
            .json_body(doc::plan(false), "The plan")
            .json(
                200,
                "Stored",
                s::object(&[("plan", s::named("Plan")), ("plan_version", count())], &["plan", "plan_version"]),
            )
            .answer_header(200, "ETag", etag(), "The plan's new version, quoted")
            .fails(&[409, 412, 422]),
    );
    api.post(
        "/api/staffing/level",
        change_level,
        Op::new("staffing", "Change the alert level")
            .about(
                "Changes the alert level now (recorded in the log before the answer) or at `at` (scheduled; within a \
                 minute of now counts as now, earlier is refused), with a reason. Announced to the room.",
            )
            .json_body(
                s::object(
                    &[
                        ("level", level_given()),
                        (
                            "reason",
                            more(s::text(MAX_REASON_CHARS as u64), json!({"minLength": 1, "description": "Why"})),
                        ),
                        ("at", more(s::date_time(), json!({"description": "When it takes effect (default: now)"}))),
                    ],
                    &["level", "reason"],
                ),
                "The level, why, and when",
            )
            .json(
                201,
                "Recorded",
                s::object(
                    &[
                        ("change", s::named("LevelChange")),
                        ("scheduled", more(s::boolean(), json!({"description": "Whether it takes effect later"}))),
                    ],
                    &["change", "scheduled"],
                ),
            )
            .fails(&[422]),
    );
    api.delete(
        "/api/staffing/level/{id}",
        cancel_level,
        Op::new("staffing", "Withdraw a planned level change")
            .about("Withdraws a scheduled level change. 409 for one already in effect, or gone.")
            .path("id", s::int_in(1, i64::MAX), "The change's id")
            .empty(204, "Withdrawn")
            .fails(&[409]),
    );
    api.get(
        "/api/staffing/shifts",
        shifts,
        Op::new("staffing", "Shifts")
            .about("The shifts of the window (`days` local days from `from`), in UTC and local time.")
            .with(window_params)
            .json(
                200,
                "The shifts",
                s::object(
                    &[
                        ("from", doc::day()),
                        ("days", s::int_in(1, MAX_DAYS)),
                        ("timezone", s::string()),
                        ("shifts", s::array(s::named("Shift"))),
                    ],
                    &["from", "days", "timezone", "shifts"],
                ),
            )
            .fails(&[422]),
    );
    api.get(
        "/api/staffing/people",
        people,
        Op::new("staffing", "People")
            .about(
                "The people on the roster with their periods away, optionally of one directorate. Phone and e-mail \
                 are given to staffing managers only.",
            )
            .query("directorate", s::string(), "Only the people of this directorate")
            .json(
                200,
                "The people",
                s::object(
                    &[
                        ("people", s::array(doc::listed_person())),
                        ("version", more(count(), json!({"description": "The roster's version"}))),
                    ],
                    &["people", "version"],
                ),
            ),
    );
    api.post(
        "/api/staffing/people",
        add_people,
        Op::new("staffing", "Add people")
            .about(
                "Creates or replaces (by id) one person sent as JSON, or every person of a CSV roster sent as \
                 `text/csv`: a header naming the columns (`id`, `name`, `directorate` required; `skills` separated by \
                 `;`, `phone`, `email`), one person a row, `,` or `;` as separator. Nothing is stored when a row is \
                 bad: each is named (`line N: field`, 422).",
            )
            .json_body(doc::person(false, false), "A person")
            .body(
                "text/csv",
                more(
                    s::string(),
                    json!({"examples": ["id,name,directorate,skills\no00999,Jeanne Martin,DGPN,radio;sig\n"]}),
                ),
                "A person (JSON), or a CSV roster",
            )
            .json(
                201,
                "Stored",
                s::object(
                    &[
                        ("stored", more(count(), json!({"description": "People created or replaced"}))),
                        ("version", version()),
                    ],
                    &["stored", "version"],
                ),
            )
            .fails(&[422]),
    );
    let person_answer = || s::object(&[("person", s::named("Person")), ("version", version())], &["person", "version"]);
    api.put(
        "/api/staffing/people/{id}",
        put_person,
        Op::new("staffing", "Change a person")
            .about("Replaces the person (created when new: 201). The body's `id`, if given, must be the path's.")
            .path("id", person_id(), "The person's id")
            .json_body(doc::person(false, true), "The person")
            .json(200, "Replaced", person_answer())
            .json(201, "Created", person_answer())
            .fails(&[422]),
    );
    api.delete(
        "/api/staffing/people/{id}",
        delete_person,
        Op::new("staffing", "Remove a person")
            .about("Removes the person, their periods away and their assignments.")
            .path("id", person_id(), "The person's id")
            .empty(204, "Removed"),
    );
    api.post(
        "/api/staffing/people/{id}/unavailability",
        add_unavailability,
        Op::new("staffing", "Record an unavailability")
            .about("Records a period `[start, end)` the person cannot work (at most a year), with a reason.")
            .path("id", person_id(), "The person's id")
            .json_body(
                s::object(
                    &[
                        ("start", s::date_time()),
                        ("end", more(s::date_time(), json!({"description": "After the start, at most a year later"}))),
                        ("reason", more(s::text(MAX_REASON_CHARS as u64), json!({"description": "Leave, training…"}))),
                    ],
                    &["start", "end"],
                ),
                "The period",
            )
            .json(201, "Recorded", doc::created())
            .fails(&[422]),
    );
    api.get(
        "/api/staffing/people/{id}/calendar.ics",
        calendar,
        Op::new("staffing", "A person's calendar")
            .about("The person's shifts as an iCalendar file, to subscribe to.")
            .path("id", person_id(), "The person's id")
            .answers(200, "The calendar", "text/calendar", s::string())
            .answer_header(
                200,
                "Content-Disposition",
                disposition("attachment; filename=\"o00001.ics\""),
                "`attachment`, with a file name",
            ),
    );
    api.delete(
        "/api/staffing/unavailability/{id}",
        delete_unavailability,
        Op::new("staffing", "Remove an unavailability")
            .about("Removes a period away.")
            .path("id", s::int_in(1, i64::MAX), "The period's id")
            .empty(204, "Removed"),
    );
    api.get(
        "/api/staffing/assignments",
        assignments,
        Op::new("staffing", "Assignments")
            .about("The assignments of the shifts of the window, optionally of one person or one position.")
            .with(window_params)
            .query("person", s::string(), "Only this person's")
            .query("position", s::string(), "Only this position's")
            .json(
                200,
                "The assignments",
                s::object(
                    &[
                        ("assignments", s::array(s::named("Assignment"))),
                        ("version", more(count(), json!({"description": "The roster's version"}))),
                    ],
                    &["assignments", "version"],
                ),
            )
            .fails(&[422]),
    );
    api.post(
        "/api/staffing/assignments",
        assign,
        Op::new("staffing", "Assign someone")
            .about(
                "Puts a person on a position for one shift, `confirmed` unless `proposed` is asked. Checked against \
                 every rule (overlap, rest, weekly hours, directorate, skills, unavailability): a 422 lists the \
                 `breaches`. 409 when the person was removed or put on that shift meanwhile.",
            )
            .json_body(
                s::object(
                    &[
                        ("person", more(doc::id(), json!({"examples": ["o00005"]}))),
                        ("position", more(doc::id(), json!({"examples": ["p0005"]}))),
                        ("day", doc::day()),
                        (
                            "shift",
                            more(
                                s::string(),
                                json!({"description": "One of the plan's shifts", "examples": ["matin"]}),
                            ),
                        ),
                        ("status", more(s::one_of(&["proposed", "confirmed"]), json!({"default": "confirmed"}))),
                    ],
                    &["person", "position", "day", "shift"],
                ),
                "The assignment",
            )
            .json(201, "Assigned", doc::created())
            .fails(&[409, 422]),
    );
    api.post(
        "/api/staffing/assignments/confirm",
        confirm,
        Op::new("staffing", "Confirm proposals")
            .about(
                "Confirms the proposals among the assignments listed, in one transaction; the others are left alone.",
            )
            .json_body(
                s::object(
                    &[("ids", more(s::array(s::int_in(0, i64::MAX)), json!({"minItems": 1, "maxItems": MAX_APPLY})))],
                    &["ids"],
                ),
                "The assignments' ids",
            )
            .json(
                200,
                "Confirmed",
                s::object(
                    &[
                        ("confirmed", more(count(), json!({"description": "Proposals confirmed"}))),
                        ("version", version()),
                    ],
                    &["confirmed", "version"],
                ),
            )
            .fails(&[422]),
    );
    api.patch(
        "/api/staffing/assignments/{id}",
        patch_assignment,
        Op::new("staffing", "Change an assignment's status")
            .about(
                "Sets an assignment's status. Back from `declined`, the rules are checked again (422 with the \
                 `breaches`); 409 when it changed meanwhile, or its person or position is gone.",
            )
            .path("id", s::int_in(1, i64::MAX), "The assignment's id")
            .json_body(s::object(&[("status", s::named("AssignmentStatus"))], &["status"]), "The status")
            .json(
                200,
                "Changed",
                s::object(
                    &[("id", count()), ("status", s::named("AssignmentStatus")), ("version", version())],
                    &["id", "status", "version"],
                ),
            )
            .fails(&[409, 422]),
    );
    api.delete(
        "/api/staffing/assignments/{id}",
        delete_assignment,
        Op::new("staffing", "Remove an assignment")
            .about("Removes an assignment.")
            .path("id", s::int_in(1, i64::MAX), "The assignment's id")
            .empty(204, "Removed"),
    );
    api.get(
        "/api/staffing/gaps",
        gaps,
        Op::new("staffing", "Unfilled positions")
            .about(
                "The gap report of the window at the level in effect (or `level`): every position × shift short of \
                 people, totals by directorate and by place, and what one level up would add. As JSON (with an \
                 `ETag`, gzip when accepted) or, with `format=csv`, every gap as CSV.",
            )
            .query(
                "level",
                more(s::string(), json!({"examples": ["crise", "2"]})),
                "A level by name or index (default: the level in effect)",
            )
            .with(window_params)
            .query(
                "limit",
                more(s::int_in(0, MAX_GAPS as i64), json!({"default": MAX_GAPS})),
                "Most gaps listed (JSON)",
            )
            .query("format", s::one_of(&["json", "csv"]), "`csv` for the CSV file (default: JSON)")
            .json(200, "The gap report", s::named("GapReport"))
            .answers(200, "The gap report", "text/csv", s::string())
            .fails(&[422]),
    );
    api.post(
        "/api/staffing/suggestions",
        suggestions,
        Op::new("staffing", "Proposals filling the gaps")
            .about(
                "Proposals filling the gaps of the window's shifts not started yet, at the level in effect (or \
                 `level`), by maximum matching per shift under every rule. With `apply`, they are stored as proposed \
                 assignments for a manager to confirm (409 when the roster changed under the run). An empty body \
                 takes every default.",
            )
            .json_body(
                s::object(
                    &[
                        ("level", level_given()),
                        (
                            "from",
                            more(doc::day(), json!({"description": "The window's first local day (default: today)"})),
                        ),
                        ("days", more(s::int_in(1, MAX_DAYS), json!({"default": 7}))),
                        ("apply", more(s::boolean(), json!({"default": false, "description": "Store the proposals"}))),
                    ],
                    &[],
                ),
                "Level and window, each optional",
            )
            .body_optional()
            .json(
                200,
                "The proposals",
                s::object(
                    &[
                        ("level", s::named("Level")),
                        ("open", more(count(), json!({"description": "Open slots looked at"}))),
                        ("filled", more(count(), json!({"description": "Proposals made"}))),
                        ("unfilled", more(count(), json!({"description": "Slots nobody may take"}))),
                        (
                            "proposals",
                            more(
                                s::array(s::object(
                                    &[
                                        ("person", s::string()),
                                        ("position", s::string()),
                                        ("day", doc::day()),
                                        ("shift", s::string()),
                                        ("start", s::date_time()),
                                        ("local_start", doc::local()),
                                    ],
                                    &["person", "position", "day", "shift", "start", "local_start"],
                                )),
                                json!({"maxItems": MAX_GAPS, "description": "By shift (the first 5,000)"}),
                            ),
                        ),
                        (
                            "applied",
                            more(s::array(count()), json!({"description": "The assignments stored (with `apply`)"})),
                        ),
                    ],
                    &["level", "open", "filled", "unfilled", "proposals", "applied"],
                ),
            )
            .fails(&[409, 422]),
    );
    api.get(
        "/api/staffing/roster.csv",
        roster_csv,
        Op::new("staffing", "The roster as CSV")
            .about(
                "Who sits where on each shift of the window, as CSV, optionally for one directorate. The contact \
                 columns are filled for staffing managers only.",
            )
            .query("directorate", s::string(), "Only this directorate's")
            .with(window_params)
            .answers(200, "The roster", "text/csv", s::string())
            .answer_header(
                200,
                "Content-Disposition",
                disposition("attachment; filename=\"roster-all-2027-03-28-7d.csv\""),
                "`attachment`, with a file name",
            )
            .fails(&[422]),
    );
}
