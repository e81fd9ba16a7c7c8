//! Escalation ("remontée", issue 15): workspaces form a tree (national → defence zone →
//! département). A contributor escalates an entry to the parent workspace, and the parent
//! sends an entry down to children (an instruction, an alert): either way the other workspace
//! gets a copy in its own log, layers and queries, labelled with where it comes from, and the
//! copy follows its source.
//!
//! # Keeping in step
//! After every change of an entry, the process that committed it relays it to the entry's
//! copies ([`relay`]): each copy takes the source's fields (title, body, tags, severity, times,
//! place, links, geometry, photos; its qualification too until the target qualifies the copy
//! itself; deletion) in one change of the target's log, so the target's tiles, queries and
//! event stream show it at once, and other replicas through their change feed. A relay is
//! idempotent (a copy equal to its source is not changed again), so two replicas relaying the
//! same change write once. A relay that did not happen (the process died between the source's
//! commit and the copy's) is caught by [`spawn_reconciler`], which looks for links whose source
//! moved past the version the copy took.
//!
//! # On the target's side
//! The target qualifies its copy and comments on it without touching the source; the source's
//! fields of a copy cannot be edited there (422 naming the source), nor can it be deleted: the
//! source's workspace de-escalates (or recalls) it, which deletes the copy.

pub mod store;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::{Change, ChangeError, EventKind};
use std::sync::Arc;
use std::time::Duration;
use store::{Direction, Link};
use vigie_layers::journal::{self, Action, FieldError, Revision};
use vigie_layers::model::Entry;

/// How often each process looks for copies left behind.
const RECONCILE_EVERY: Duration = Duration::from_secs(2);

/// The state serving workspace `id` in this process.
fn workspace(state: &crate::http::Shared, id: &str) -> Result<AppState, ApiError> {
    state
        .registry
        .get()
        .and_then(std::sync::Weak::upgrade)
        .and_then(|w| w.state(id))
        .ok_or_else(|| ApiError::NotFound(format!("workspace '{id}' is not served here")))
}

/// The entry a copy follows, as it is now.
///
/// # Errors
/// The store's; 404 when its workspace is not served here.
pub async fn source_of(state: &crate::http::Shared, link: &Link) -> Result<Option<Entry>, ApiError> {
    Ok(workspace(state, &link.source_workspace)?.store.entry(link.source_entry).await?)
}

/// What a copy says of where it comes from (its `source`).
fn label(link_direction: Direction, workspace: &str, entry: u64) -> String {
    match link_direction {
        Direction::Up => format!("escalated from {workspace} (entry {entry})"),
        Direction::Down => format!("sent by {workspace} (entry {entry})"),
    }
}

/// `copy` brought in step with `source`.
fn mirrored(copy: &Entry, source: &Entry, link: &Link) -> Entry {
    let mut next = copy.clone();
    next.title.clone_from(&source.title);
    next.body.clone_from(&source.body);
    next.tags.clone_from(&source.tags);
    next.severity = source.severity;
    next.occurred_at = source.occurred_at;
    next.reported_at = source.reported_at;
    next.location.clone_from(&source.location);
    next.links.clone_from(&source.links);
    next.geometry.clone_from(&source.geometry);
    next.attachments.clone_from(&source.attachments);
    if !link.target_qualified {
        next.qualification = source.qualification;
    }
    next.deleted = copy.deleted || source.deleted;
    next
}

/// Copies `source` (an entry of `from`) into workspace `to`'s log and links the two.
async fn copy_into(
    from: &AppState,
    to: &AppState,
    source: &Entry,
    direction: Direction,
    by: &str,
) -> Result<Link, ApiError> {
    let links = from.store.links();
    let ws = &from.config.workspace;
    if let Some(live) =
        links.links_from(ws, source.id).await?.into_iter().find(|l| l.target_workspace == to.config.workspace)
    {
        return Err(ApiError::Conflict(format!(
            "entry {} is already in '{}' (entry {} there)",
            source.id, live.target_workspace, live.target_entry
        )));
    }
    let mut copy = source.clone();
    copy.version = 1;
    copy.recorded_at = crate::now_ms();
    copy.source = label(direction, ws, source.id);
    let commit = to.courante.create(copy).await?;
    let link = Link {
        source_workspace: ws.clone(),
        source_entry: source.id,
        target_workspace: to.config.workspace.clone(),
        target_entry: commit.entry.id,
        direction,
        created_at: crate::now_ms(),
        created_by: by.to_owned(),
        synced_version: source.version,
        target_qualified: false,
        removed_at: None,
    };
    links.put_link(&link).await?;
    // The source may have changed between its read and the link: bring the copy in step.
    sync(from, &link).await;
    Ok(link)
}

/// Escalates entry `source` of `state`'s workspace to its parent workspace.
///
/// # Errors
/// 409 without a parent or when already escalated; 422 for a deleted entry.
pub async fn escalate(state: &AppState, source: &Entry, by: &str) -> Result<Link, ApiError> {
    let ws = &state.config.workspace;
    let parent = state.store.links().parent(ws).await?.ok_or_else(|| {
        ApiError::Conflict(format!("workspace '{ws}' has no parent to escalate to (`vigie workspace parent`)"))
    })?;
    live(source)?;
    copy_into(state, &workspace(state, &parent)?, source, Direction::Up, by).await
}

/// Sends entry `source` down to `children` (each a child of `state`'s workspace).
///
/// # Errors
/// 422 naming a workspace that is not a child, or for a deleted entry; 409 when already sent
/// to one of them (nothing is sent then).
pub async fn send_down(state: &AppState, source: &Entry, children: &[String], by: &str) -> Result<Vec<Link>, ApiError> {
    live(source)?;
    let ws = &state.config.workspace;
    let mine = state.store.links().children(ws).await?;
    let errors: Vec<FieldError> = children
        .iter()
        .enumerate()
        .filter(|(_, c)| !mine.contains(c))
        .map(|(i, c)| FieldError {
            field: format!("to[{i}]"),
            value: Some(c.chars().take(64).collect()),
            reason: format!(
                "not a child of '{ws}' (its children: {})",
                if mine.is_empty() { "none".into() } else { mine.join(", ") }
            ),
        })
        .collect();
    if children.is_empty() {
        return Err(ApiError::Invalid(vec![FieldError {
            field: "to".into(),
            value: None,
            reason: "name one or more child workspaces".into(),
        }]));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let targets = children.iter().map(|c| workspace(state, c)).collect::<Result<Vec<_>, _>>()?;
    let mut links = Vec::with_capacity(targets.len());
    for to in &targets {
        links.push(copy_into(state, to, source, Direction::Down, by).await?);
    }
    Ok(links)
}

fn live(source: &Entry) -> Result<(), ApiError> {
    if source.deleted {
        return Err(ApiError::Invalid(vec![FieldError {
            field: String::new(),
            value: None,
            reason: "the entry is deleted".into(),
        }]));
    }
    Ok(())
}

/// Removes the copy of entry `source` in workspace `target` (de-escalation, or recalling an
/// entry sent down): the link ends and the copy is deleted from the target's log.
///
/// # Errors
/// 404 when the entry has no copy there.
pub async fn withdraw(state: &AppState, source: u64, target: &str, by: &str) -> Result<Link, ApiError> {
    let links = state.store.links();
    let link = links
        .links_from(&state.config.workspace, source)
        .await?
        .into_iter()
        .find(|l| l.target_workspace == target)
        .ok_or_else(|| ApiError::NotFound(format!("entry {source} has no copy in '{target}'")))?;
    links.remove_link(&link, crate::now_ms()).await?;
    let to = workspace(state, target)?;
    let actor = format!("{} ({})", label(link.direction, &link.source_workspace, link.source_entry), by);
    let courante = to.courante.clone();
    let result = to
        .courante
        .change(link.target_entry, move |copy| {
            let (entry, revision) = journal::delete(copy, &actor, crate::now_ms());
            let event = courante.draft(EventKind::Deleted, Some(copy), &entry);
            Ok(Change { entry, revision, event })
        })
        .await;
    match result {
        Ok(_) | Err(ChangeError::NoChange | ChangeError::NotFound) => Ok(link),
        Err(e) => Err(ApiError::Internal(anyhow::anyhow!("de-escalation of {source}: {e}"))),
    }
}

/// Brings every copy of entry `id` of `state`'s workspace in step (after a change of it).
pub async fn relay(state: &AppState, id: u64) {
    match state.store.links().links_from(&state.config.workspace, id).await {
        Ok(links) => {
            for link in &links {
                sync(state, link).await;
            }
        }
        Err(e) => tracing::warn!(entry = id, error = %e, "cannot read the copies of an entry; the reconciler retries"),
    }
}

/// Brings one copy in step with its source (read now, so the last state wins whatever order
/// relays run in), then the copies of that copy (an entry escalated from a département to its
/// zone and on to the national room). Failures are logged: the reconciler retries.
async fn sync(state: &AppState, link: &Link) {
    if let Err(e) = try_sync(state, link).await {
        tracing::warn!(
            source = %format!("{}#{}", link.source_workspace, link.source_entry),
            target = %format!("{}#{}", link.target_workspace, link.target_entry),
            error = %e,
            "copy not brought in step; the reconciler retries"
        );
    }
}

async fn try_sync(state: &AppState, link: &Link) -> Result<(), ApiError> {
    let from = workspace(state, &link.source_workspace)?;
    let to = workspace(state, &link.target_workspace)?;
    let Some(source) = from.store.entry(link.source_entry).await? else { return Ok(()) };
    let source = Arc::new(source);
    let (l, s) = (link.clone(), source.clone());
    let actor = label(link.direction, &link.source_workspace, link.source_entry);
    let courante = to.courante.clone();
    let result = to
        .courante
        .change(link.target_entry, move |copy| {
            if copy.deleted {
                return Err(ChangeError::NoChange);
            }
            let mut next = mirrored(copy, &s, &l);
            let changes = journal::diff(copy, &next);
            if changes.is_empty() {
                return Err(ChangeError::NoChange);
            }
            next.version = copy.version + 1;
            let action = if next.deleted { Action::Deleted } else { Action::Updated };
            let kind = if next.deleted { EventKind::Deleted } else { EventKind::Updated };
            let revision =
                Revision { version: next.version, action, actor: actor.clone(), at_ms: crate::now_ms(), changes };
            let event = courante.draft(kind, Some(copy), &next);
            Ok(Change { entry: next, revision, event })
        })
        .await;
    match result {
        Ok(_) => {
            state.store.links().mark_synced(link, source.version).await?;
            // Links between entries form no cycle (a copy is always a new entry).
            Box::pin(relay(&to, link.target_entry)).await;
            Ok(())
        }
        Err(ChangeError::NoChange) => {
            state.store.links().mark_synced(link, source.version).await?;
            Ok(())
        }
        Err(e) => Err(ApiError::Internal(anyhow::anyhow!("{e}"))),
    }
}

/// Every 2 s (`RECONCILE_EVERY`), brings in step the copies a relay missed (the workspaces of a
/// process share one database: one pass over it covers them all). Stops with the registry.
pub fn spawn_reconciler(workspaces: &Arc<crate::http::Workspaces>) -> tokio::task::JoinHandle<()> {
    crate::spawn_every(workspaces, RECONCILE_EVERY, |w| async move {
        let primary = w.primary();
        match primary.store.links().stale_links(100).await {
            Ok(stale) => {
                for link in &stale {
                    sync(&primary, link).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot look for copies left behind"),
        }
    })
}

/// What the target may change of a copy: its qualification only (and its own comments).
///
/// # Errors
/// 422 naming the source for any other field.
pub fn check_copy_patch(link: &Link, body: &serde_json::Value) -> Result<(), ApiError> {
    let errors: Vec<FieldError> = body
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .filter(|k| k.as_str() != "qualification")
        .map(|k| FieldError {
            field: k.clone(),
            value: None,
            reason: format!(
                "this entry is a copy of entry {} of '{}', which it follows: edit it there (here you qualify and comment)",
                link.source_entry, link.source_workspace
            ),
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Invalid(errors)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_layers::feature::Qualification;

    fn entry() -> Entry {
        let body = serde_json::json!({"title": "Colis suspect", "severity": 2, "tags": ["public_order"], "lon": 2.35, "lat": 48.85, "author": "PC"});
        journal::validate_new(&body, None, 1_722_000_000_000).unwrap().0
    }

    fn link(target_qualified: bool) -> Link {
        Link {
            source_workspace: "pp".into(),
            source_entry: 7,
            target_workspace: "national".into(),
            target_entry: 3,
            direction: Direction::Up,
            created_at: 0,
            created_by: "a".into(),
            synced_version: 1,
            target_qualified,
            removed_at: None,
        }
    }

    #[test]
    fn a_copy_takes_its_source_s_fields_but_keeps_its_own_qualification_once_set() {
        let mut source = entry();
        source.title = "Colis suspect — levée de doute".into();
        source.severity = 3;
        source.qualification = Qualification::Confirmed;
        let mut copy = entry();
        copy.id = 3;
        copy.source = label(Direction::Up, "pp", 7);
        copy.qualification = Qualification::InReview;
        let next = mirrored(&copy, &source, &link(false));
        assert_eq!(
            (next.title.as_str(), next.severity, next.qualification),
            (source.title.as_str(), 3, Qualification::Confirmed)
        );
        assert_eq!(
            (next.id, next.source.as_str()),
            (3, "escalated from pp (entry 7)"),
            "the copy keeps its id and label"
        );
        assert_eq!(mirrored(&copy, &source, &link(true)).qualification, Qualification::InReview);
        source.deleted = true;
        assert!(mirrored(&copy, &source, &link(true)).deleted);
        assert!(check_copy_patch(&link(false), &serde_json::json!({"qualification": "confirmed"})).is_ok());
        let Err(ApiError::Invalid(e)) =
            check_copy_patch(&link(false), &serde_json::json!({"title": "x", "severity": 4}))
        else {
            panic!("refused")
        };
        assert_eq!(e.len(), 2);
        assert!(e[0].reason.contains("entry 7 of 'pp'"), "{e:?}");
    }
}
