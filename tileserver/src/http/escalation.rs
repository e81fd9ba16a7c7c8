//! Escalation over HTTP ([`crate::escalation`]): the workspace tree, escalating an entry to
//! the parent, sending one down to children, withdrawing a copy, and comments.
//!
//! - `GET /api/workspace`: this workspace, its parent and children.
//! - `POST /api/entries/{id}/escalate`: a copy in the parent's log (201 with the link).
//! - `POST /api/entries/{id}/send` `{"to": ["child", …]}`: a copy in each child's log.
//! - `DELETE /api/entries/{id}/copies/{workspace}`: de-escalates (or recalls) the copy there.
//! - `POST /api/entries/{id}/comments` `{"body"}`: a comment, on this workspace's side.
//!
//! `GET /api/entries/{id}` shows an entry's `copies`, the source a copy follows (`copy_of`,
//! with the source's current qualification) and its `comments`.

use super::entries::{audit_entry, full_response, json_request, parse_id, visible_entry};
use super::error::ApiError;
use super::{AppState, Shared};
use crate::escalation::{self, store::Link};
use crate::identity::Access;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use vigie_layers::feature::format_time_ms;
use vigie_layers::journal::FieldError;
use vigie_layers::model::Entry;

/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 4_000;

fn link_view(l: &Link) -> Value {
    json!({
        "source": {"workspace": l.source_workspace, "entry": l.source_entry},
        "target": {"workspace": l.target_workspace, "entry": l.target_entry},
        "direction": l.direction,
        "created_at": format_time_ms(l.created_at),
        "created_by": l.created_by,
    })
}

/// What `GET /api/entries/{id}` adds: `copies`, `copy_of`, `comments`.
///
/// # Errors
/// The store's.
pub async fn relations(state: &Shared, e: &Entry) -> Result<Value, ApiError> {
    let links = state.store.links();
    let ws = &state.config.workspace;
    let copies: Vec<Value> = links.links_from(ws, e.id).await?.iter().map(link_view).collect();
    let copy_of = match links.link_to(ws, e.id).await? {
        Some(l) => {
            let source = escalation::source_of(state, &l).await.ok().flatten();
            let mut v = link_view(&l);
            v["source"]["qualification"] = json!(source.as_ref().map(|s| s.qualification));
            v["source"]["version"] = json!(source.as_ref().map(|s| s.version));
            v
        }
        None => Value::Null,
    };
    let comments: Vec<Value> = links
        .comments(ws, e.id)
        .await?
        .iter()
        .map(|c| json!({"seq": c.seq, "author": c.author, "at": format_time_ms(c.at), "body": c.body}))
        .collect();
    Ok(json!({"copies": copies, "copy_of": copy_of, "comments": comments}))
}

/// `GET /api/workspace`: this workspace, its parent and children.
///
/// # Errors
/// The store's.
pub async fn workspace(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let links = state.store.links();
    let ws = &state.config.workspace;
    Ok(Json(json!({
        "id": ws,
        "parent": links.parent(ws).await?,
        "children": links.children(ws).await?,
    })))
}

/// The entry `id` as the asker may see it.
async fn entry_for(state: &Shared, access: &Access, id: &str) -> Result<Entry, ApiError> {
    let id = parse_id(id)?;
    let scope = super::territory::scope_of(state, access)?;
    visible_entry(state, scope.as_deref(), id).await
}

async fn audit_link(state: &Shared, access: &Access, action: &str, link: &Link) {
    let target = format!("entry/{}", link.source_entry);
    let detail = json!({"target": {"workspace": link.target_workspace, "entry": link.target_entry}});
    state
        .identities
        .record(state.identities.draft(access, action, &target, crate::identity::audit::Outcome::Ok, detail))
        .await;
}

/// `POST /api/entries/{id}/escalate`.
///
/// # Errors
/// 404 for an entry the asker cannot see; 409 without a parent or when already escalated.
pub async fn escalate(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let e = entry_for(&state, &access, &id).await?;
    let link = escalation::escalate(&state, &e, &access.author).await?;
    audit_link(&state, &access, "entry.escalate", &link).await;
    Ok((StatusCode::CREATED, Json(link_view(&link))).into_response())
}

/// `POST /api/entries/{id}/send` `{"to": ["child", …]}`.
///
/// # Errors
/// 404 for an entry the asker cannot see; 422 naming a workspace that is not a child; 409 when
/// already sent there.
pub async fn send(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let value = json_request(&headers, &body)?;
    let to: Vec<String> = match value.get("to") {
        Some(Value::Array(a)) if a.iter().all(Value::is_string) && a.len() <= 100 => {
            a.iter().filter_map(Value::as_str).map(str::to_owned).collect()
        }
        other => {
            return Err(ApiError::Invalid(vec![FieldError {
                field: "to".into(),
                value: other.map(|v| v.to_string().chars().take(80).collect()),
                reason: "an array of child workspace ids (at most 100)".into(),
            }]));
        }
    };
    let e = entry_for(&state, &access, &id).await?;
    let links = escalation::send_down(&state, &e, &to, &access.author).await?;
    for link in &links {
        audit_link(&state, &access, "entry.send", link).await;
    }
    Ok((StatusCode::CREATED, Json(json!({"copies": links.iter().map(link_view).collect::<Vec<_>>()}))).into_response())
}

/// `DELETE /api/entries/{id}/copies/{workspace}`: de-escalates or recalls the copy there.
///
/// # Errors
/// 404 for an entry the asker cannot see, or without a copy there.
pub async fn withdraw(
    State(state): State<AppState>,
    access: Access,
    Path((id, target)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let e = entry_for(&state, &access, &id).await?;
    let link = escalation::withdraw(&state, e.id, &target, &access.author).await?;
    audit_link(&state, &access, "entry.withdraw", &link).await;
    Ok(Json(link_view(&link)).into_response())
}

/// `POST /api/entries/{id}/comments` `{"body"}`: a comment on this workspace's side.
///
/// # Errors
/// 404 for an entry the asker cannot see; 422 for an empty or too long body.
pub async fn comment(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let value = json_request(&headers, &body)?;
    let text = value.get("body").and_then(Value::as_str).map(str::trim).unwrap_or_default();
    if text.is_empty() || text.chars().count() > MAX_COMMENT_CHARS {
        return Err(ApiError::Invalid(vec![FieldError {
            field: "body".into(),
            value: None,
            reason: format!("a comment is 1 to {MAX_COMMENT_CHARS} characters of text"),
        }]));
    }
    let e = entry_for(&state, &access, &id).await?;
    let at = crate::now_ms();
    state.store.links().add_comment(&state.config.workspace, e.id, &access.author, at, text).await?;
    audit_entry(&state, &access, "entry.comment", Some(&e), &e).await;
    full_response(&state, StatusCode::CREATED, &e).await
}

/// The path parameter naming an entry.
fn entry_id(op: super::openapi::Op) -> super::openapi::Op {
    op.path("id", json!({"type": "integer", "minimum": 1, "examples": [1]}), "The entry's id")
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    let workspace_id = json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"});
    api.get(
        "/api/workspace",
        workspace,
        Op::new("workspaces", "This workspace, its parent and children")
            .about(
                "The workspace addressed, the one its entries escalate to (`parent`, `null` for none) and those it \
                 sends entries down to (`children`).",
            )
            .json(
                200,
                "The workspace and its neighbours",
                s::object(
                    &[
                        ("id", workspace_id.clone()),
                        ("parent", s::nullable(workspace_id.clone())),
                        ("children", s::array(workspace_id.clone())),
                    ],
                    &["id", "parent", "children"],
                ),
            ),
    );
    api.post(
        "/api/entries/{id}/escalate",
        escalate,
        Op::new("log", "Escalate an entry to the parent workspace")
            .about(
                "Copies the entry into the parent workspace's log and links the two: the copy follows the entry \
                 (its fields, photos and deletion), the parent qualifies and comments it. 409 without a parent or \
                 when already escalated; 422 for a deleted entry.",
            )
            .with(entry_id)
            .json(201, "Escalated: the link to the copy", s::named("EntryCopy"))
            .fails(&[409, 422]),
    );
    let mut to = s::array(workspace_id.clone());
    to["maxItems"] = json!(100);
    to["minItems"] = json!(1);
    to["description"] = json!("Child workspaces (`GET /api/workspace` lists them)");
    api.post(
        "/api/entries/{id}/send",
        send,
        Op::new("log", "Send an entry to child workspaces")
            .about(
                "Copies the entry into each child workspace named in `to`, linked as escalated copies are. 422 for a \
                 workspace that is not a child or a deleted entry; 409 when it is already in one of them (nothing \
                 is sent then).",
            )
            .with(entry_id)
            .json_body(s::object(&[("to", to)], &["to"]), "The child workspaces")
            .json(
                201,
                "Sent: the links to the copies",
                s::object(&[("copies", s::array(s::named("EntryCopy")))], &["copies"]),
            )
            .fails(&[409, 422]),
    );
    api.delete(
        "/api/entries/{id}/copies/{workspace}",
        withdraw,
        Op::new("log", "Withdraw an entry's copy")
            .about(
                "De-escalates (or recalls) the entry's copy in `workspace`: the link ends and the copy is deleted \
                 from that workspace's log. 404 when the entry has no copy there.",
            )
            .with(entry_id)
            .path("workspace", workspace_id, "The workspace holding the copy")
            .json(200, "Withdrawn: the link that ended", s::named("EntryCopy")),
    );
    api.post(
        "/api/entries/{id}/comments",
        comment,
        Op::new("log", "Comment on an entry")
            .about(
                "Adds a comment on this workspace's side of the entry (a copy's comments stay with the copy); the \
                 answer is the entry with its comments.",
            )
            .with(entry_id)
            .json_body(
                s::object(
                    &[(
                        "body",
                        json!({"type": "string", "minLength": 1, "maxLength": MAX_COMMENT_CHARS, "pattern": "\\S", "description": "The comment (trimmed: 1 to 4,000 characters)"}),
                    )],
                    &["body"],
                ),
                "The comment",
            )
            .json(201, "Commented: the entry with its comments", s::named("EntryDetail"))
            .answer_header(201, "ETag", json!({"type": "string", "pattern": "^\"[0-9]+\"$"}), "The entry's version, quoted")
            .answer_header(201, "Location", s::string(), "The entry's address")
            .fails(&[422]),
    );
}
