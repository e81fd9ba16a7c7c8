//! `GET /api/events`: the live stream (Server-Sent Events) of entry changes.
//!
//! Each event has `id: <seq>` (gap-free, persisted), `event: entry.created|entry.updated|
//! entry.deleted` and JSON data with the entry id, its version, the layers and the lon/lat box
//! touched. A client reconnecting with `Last-Event-ID` (or `?since=<seq>`) first gets every
//! event it missed, read from the store, then the live ones, in order and without gaps.

use super::AppState;
use super::error::ApiError;
use crate::courante::Courante;
use crate::store::Event;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::json;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};
use vigie_layers::feature::format_time_ms;

/// How soon a client whose stream ended because the workspace's catalog changed reconnects.
const RECONNECT_AFTER: std::time::Duration = std::time::Duration::from_millis(250);

/// Events read from the store per round trip while catching up.
const BACKLOG_PAGE: usize = 500;

struct Cursor {
    courante: Arc<Courante>,
    live: broadcast::Receiver<Arc<Event>>,
    backlog: VecDeque<Event>,
    last: u64,
    caught_up: bool,
}

fn sse(e: &Event) -> SseEvent {
    let data = json!({
        "seq": e.seq,
        "type": e.kind,
        "entry_id": e.entry_id,
        "version": e.version,
        "actor": e.actor,
        "at": format_time_ms(e.at_ms),
        "layers": e.layers,
        "bbox": e.bbox,
    });
    SseEvent::default().id(e.seq.to_string()).event(e.kind.as_str()).data(data.to_string())
}

impl Cursor {
    /// The next event in seq order, waiting for it if needed; `None` when the service stops
    /// or is retired (the client reconnects with `Last-Event-ID` to the workspace's new state).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.backlog.pop_front() {
                if e.seq == self.last + 1 {
                    self.last = e.seq;
                    return Some(e);
                }
                continue;
            }
            if !self.caught_up {
                // Only events already applied to the index: a client told of a change must
                // find it in the next tile it asks for.
                let applied = self.courante.applied_seq();
                if self.last >= applied {
                    self.caught_up = true;
                    continue;
                }
                match self.courante.store().events_after(self.last, BACKLOG_PAGE).await {
                    Ok(events) => self.backlog.extend(events.into_iter().filter(|e| e.seq <= applied)),
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream cannot read the store; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
                continue;
            }
            let received = tokio::select! {
                r = self.live.recv() => r,
                () = self.courante.until_retired() => return None,
            };
            match received {
                Ok(e) if e.seq <= self.last => {}
                Ok(e) if e.seq == self.last + 1 => {
                    self.last = e.seq;
                    return Some((*e).clone());
                }
                // A gap (the subscriber fell behind) or a lag: read the rest from the store.
                Ok(_) | Err(RecvError::Lagged(_)) => self.caught_up = false,
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// The SSE handler.
///
/// # Errors
/// 400 for a malformed `Last-Event-ID` or `since`.
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let since = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| pairs.iter().find(|(k, _)| k == "since").map(|(_, v)| v.clone()));
    let courante = state.courante.clone();
    // Subscribe before reading the backlog, so nothing falls between the two.
    let live = courante.subscribe();
    let last = match since {
        Some(s) => s.trim().parse::<u64>().map_err(|_| {
            ApiError::bad_request("Invalid Last-Event-ID", format!("'{s}' is not an event sequence number"))
        })?,
        None => courante.applied_seq(),
    };
    let cursor = Cursor { courante, live, backlog: VecDeque::new(), last, caught_up: false };
    let stream = futures_util::stream::unfold(Some(cursor), |c| async move {
        let mut c = c?;
        match c.next().await {
            Some(e) => Some((Ok(sse(&e)), Some(c))),
            // Retired: the last message asks the client to come back soon (EventSource waits
            // `retry` ms), to the workspace's new state.
            None if c.courante.is_retired() => Some((
                Ok(SseEvent::default().retry(RECONNECT_AFTER).comment("the workspace's catalog changed: reconnect")),
                None,
            )),
            None => None,
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
