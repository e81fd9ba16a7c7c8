//! `GET /api/events`: the live stream (Server-Sent Events) of entry changes.
//!
//! Each event has `id: <seq>` (gap-free, persisted), `event: entry.created|entry.updated|
//! entry.deleted` and JSON data with the entry id, its version, the layers and the lon/lat box
//! touched. A client reconnecting with `Last-Event-ID` (or `?since=<seq>`) first gets every
//! event it missed, read from the store, then the live ones, in order and without gaps.
//!
//! A member with a territory is told only of entries inside it: an event whose entry is
//! outside both before and after the change is left out, its box covers only the positions
//! inside, and an entry that leaves the territory comes as `entry.deleted` (with its last
//! position inside), never with where it went. Sequence numbers then have gaps: `Last-Event-ID`
//! still resumes exactly.

use super::AppState;
use super::error::ApiError;
use crate::courante::{Applied, Courante, lonlat_bbox};
use crate::identity::Access;
use crate::store::{Event, EventKind};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt as _};
use geo::Geometry;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};
use vigie_layers::feature::format_time_ms;
use vigie_layers::journal;
use vigie_layers::scope::Scope;

/// How soon a client whose stream ended because the workspace's catalog changed reconnects.
const RECONNECT_AFTER: std::time::Duration = std::time::Duration::from_millis(250);

/// How soon a client whose stream ended because the server is stopping reconnects (to
/// another replica behind the load balancer, or this one restarted).
const RECONNECT_AFTER_STOP: std::time::Duration = std::time::Duration::from_secs(2);

/// Events read from the store per round trip while catching up.
const BACKLOG_PAGE: usize = 500;

struct Cursor {
    courante: Arc<Courante>,
    lifecycle: Arc<crate::lifecycle::Lifecycle>,
    live: broadcast::Receiver<Arc<Applied>>,
    backlog: VecDeque<Event>,
    last: u64,
    caught_up: bool,
    /// The asker's territory.
    scope: Option<Arc<Scope>>,
    /// For a narrowed stream catching up: where the backlog's entries were at each version.
    positions: HashMap<u64, journal::Positions>,
}

/// What a stream narrowed to `scope` shows of `e`, given where its entry was before and is
/// after the change: the event with a box over the positions inside only, a removal when the
/// entry left the territory, or nothing when the entry was never inside.
fn narrowed(e: &Event, before: Option<&Geometry<f64>>, after: Option<&Geometry<f64>>, scope: &Scope) -> Option<Event> {
    let is = after.filter(|g| scope.admits(g));
    let shown: Vec<&Geometry<f64>> = before.filter(|g| scope.admits(g)).into_iter().chain(is).collect();
    if shown.is_empty() {
        return None;
    }
    let mut e = e.clone();
    if is.is_none() {
        e.kind = EventKind::Deleted;
    }
    e.bbox = lonlat_bbox(&shown);
    Some(e)
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
    /// The next event in seq order the asker may see, waiting for it if needed; `None` when
    /// the service stops, the process is stopping, or the service is retired (the client reconnects with `Last-Event-ID` to the
    /// workspace's new state).
    async fn next(&mut self) -> Option<Event> {
        loop {
            let e = self.next_any().await?;
            let Some(scope) = self.scope.clone() else { return Some(e.event().clone()) };
            let shown = match &e {
                Next::Live(a) => {
                    let (before, after) = (a.before.as_ref().map(|f| f.lonlat()), a.after.as_ref().map(|f| f.lonlat()));
                    narrowed(&a.event, before.as_deref(), after.as_deref(), &scope)
                }
                Next::Stored(e) => {
                    let positions = self.positions_of(e.entry_id).await?;
                    let at = |v: u32| positions.iter().find(|(version, _)| *version == v).and_then(|(_, g)| g.as_ref());
                    narrowed(e, at(e.version.saturating_sub(1)), at(e.version), &scope)
                }
            };
            if shown.is_some() {
                return shown;
            }
        }
    }

    /// Where entry `id` was at each version (read once per backlog page); `None` when the
    /// service stops.
    async fn positions_of(&mut self, id: u64) -> Option<&journal::Positions> {
        if !self.positions.contains_key(&id) {
            let revisions = loop {
                match self.courante.store().revisions(id).await {
                    Ok(r) => break r,
                    Err(e) if self.courante.is_retired() => {
                        tracing::debug!(error = %e, "event stream retired while reading revisions");
                        return None;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream cannot read revisions; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            };
            self.positions.insert(id, journal::positions(&revisions));
        }
        self.positions.get(&id)
    }

    /// The next event in seq order, whoever may see it.
    async fn next_any(&mut self) -> Option<Next> {
        loop {
            if let Some(e) = self.backlog.pop_front() {
                if e.seq == self.last + 1 {
                    self.last = e.seq;
                    return Some(Next::Stored(e));
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
                self.positions.clear();
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
                () = self.lifecycle.until_stopping() => return None,
            };
            match received {
                Ok(a) if a.event.seq <= self.last => {}
                Ok(a) if a.event.seq == self.last + 1 => {
                    self.last = a.event.seq;
                    return Some(Next::Live(a));
                }
                // A gap (the subscriber fell behind) or a lag: read the rest from the store.
                Ok(_) | Err(RecvError::Lagged(_)) => self.caught_up = false,
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// An event read back from the store, or one just applied (with the entry before and after).
enum Next {
    Stored(Event),
    Live(Arc<Applied>),
}

impl Next {
    fn event(&self) -> &Event {
        match self {
            Self::Stored(e) => e,
            Self::Live(a) => &a.event,
        }
    }
}

/// The SSE handler.
///
/// # Errors
/// 400 for a malformed `Last-Event-ID` or `since`; 403 when the asker's territory no longer
/// resolves.
pub async fn events(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let since = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| pairs.iter().find(|(k, _)| k == "since").map(|(_, v)| v.clone()));
    let scope = super::territory::scope_of(&state, &access)?;
    // Held while the stream lives: one identity cannot hold every connection.
    let slot = state.limits.stream(&access.actor())?;
    let courante = state.courante.clone();
    // Subscribe before reading the backlog, so nothing falls between the two.
    let live = courante.subscribe();
    let last = match since {
        Some(s) => s.trim().parse::<u64>().map_err(|_| {
            ApiError::bad_request("Invalid Last-Event-ID", format!("'{s}' is not an event sequence number"))
        })?,
        None => courante.applied_seq(),
    };
    let lifecycle = state.lifecycle.clone();
    let cursor = Cursor {
        courante,
        lifecycle: lifecycle.clone(),
        live,
        backlog: VecDeque::new(),
        last,
        caught_up: false,
        scope,
        positions: HashMap::new(),
    };
    // Situation reports' events (no id: they are not in the log's sequence), for those who
    // may see the reports (a member narrowed below the workspace's territory may not).
    // Staffing changes likewise (event `staffing`: what changed, the roster's version).
    let wide = super::reports::may_see(&state, &access).await;
    let reports = wide.then(|| state.reports.events.subscribe());
    let reports = futures_util::stream::unfold(reports, |rx| async move {
        let mut rx = rx?;
        loop {
            match rx.recv().await {
                Ok(e) => {
                    let data = serde_json::to_string(&*e).unwrap_or_default();
                    return Some((Ok(SseEvent::default().event(e.kind).data(data)), Some(rx)));
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let staffing = wide.then(|| state.staffing.events.subscribe());
    let staffing = futures_util::stream::unfold(staffing, |rx| async move {
        let mut rx = rx?;
        let data = match rx.recv().await {
            Ok(e) => serde_json::to_string(&*e).unwrap_or_default(),
            // Missed changes: one event still says "read again".
            Err(RecvError::Lagged(_)) => json!({"what": "lagged", "version": 0}).to_string(),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(SseEvent::default().event("staffing").data(data)), Some(rx)))
    });
    let reports = futures_util::stream::select(Box::pin(reports), Box::pin(staffing));
    let entries = futures_util::stream::unfold(Some(cursor), |c| async move {
        let mut c = c?;
        match c.next().await {
            Some(e) => Some((Ok(sse(&e)), Some(c))),
            // Stopping or retired: the last message asks the client to come back (EventSource
            // waits `retry` ms) with its Last-Event-ID, to the workspace's new state or to
            // whichever server answers next.
            None if c.lifecycle.is_stopping() => Some((
                Ok(SseEvent::default().retry(RECONNECT_AFTER_STOP).comment("the server is stopping: reconnect")),
                None,
            )),
            None if c.courante.is_retired() => Some((
                Ok(SseEvent::default().retry(RECONNECT_AFTER).comment("the workspace's catalog changed: reconnect")),
                None,
            )),
            None => None,
        }
    });
    // Report events end with the log's stream (a retired workspace state, a stopping server).
    let retired = state.courante.clone();
    let ended = async move {
        tokio::select! {
            () = retired.until_retired() => {},
            () = lifecycle.until_stopping() => {},
        }
    };
    let stream = futures_util::stream::select(Box::pin(entries), Box::pin(reports.take_until(Box::pin(ended))));
    // Counted as a live client, and in its identity's streams, while the stream lives.
    let client = state.metrics.stream_client();
    let stream = stream.map(move |e| {
        let _counted = (&client, &slot);
        e
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    api.get(
        "/api/events",
        events,
        Op::new("log", "Live events (server-sent)")
            .about(
                "The live stream (Server-Sent Events) of the log's changes: `event: entry.created`, `entry.updated` \
                 or `entry.deleted`, `id:` the change's sequence number (gap-free), and JSON `data` with `seq`, \
                 `type`, `entry_id`, `version`, `actor`, `at`, the `layers` and the lon/lat `bbox` touched. A client \
                 reconnecting with `Last-Event-ID` (or `since`) first gets every change it missed, then the live \
                 ones, in order. Situation reports' events (`report.created`, `report.section`, `report.status`, \
                 `report.published`, `report.presence`) and `staffing` changes come too, without id, for those who \
                 may see them.\n\n\
                 A member with a territory is told only of entries inside it: one that leaves it comes as \
                 `entry.deleted`, and sequence numbers then have gaps. The stream ends when the server stops or \
                 the workspace's catalog changes, asking the client to reconnect (`retry`). 429 when the identity \
                 holds as many streams as `event_streams_per_identity` allows.",
            )
            .query(
                "since",
                json!({"type": "integer", "minimum": 0}),
                "Resume after this sequence number (as `Last-Event-ID`)",
            )
            .header(
                "Last-Event-ID",
                s::pattern(r"^\s*[0-9]+\s*$"),
                "The last sequence number received: resume after it",
            )
            .answers(200, "The event stream (never ends by itself)", "text/event-stream", s::string())
            .fails(&[429]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{MultiPolygon, Point, polygon};

    fn event(kind: EventKind) -> Event {
        Event {
            seq: 7,
            kind,
            entry_id: 42,
            version: 2,
            actor: "a".into(),
            at_ms: 0,
            layers: vec!["entries".into()],
            bbox: Some([0.0, 0.0, 9.0, 9.0]),
        }
    }

    #[test]
    fn a_narrowed_stream_never_shows_a_position_outside() {
        let square = polygon![(x: 2.0, y: 48.0), (x: 3.0, y: 48.0), (x: 3.0, y: 49.0), (x: 2.0, y: 49.0)];
        let scope = Scope::new(MultiPolygon(vec![square])).unwrap();
        let inside = Geometry::Point(Point::new(2.5, 48.5));
        let edge = Geometry::Point(Point::new(3.0, 48.2));
        let outside = Geometry::Point(Point::new(5.0, 45.0));
        let created = narrowed(&event(EventKind::Created), None, Some(&edge), &scope).unwrap();
        assert_eq!(
            (created.kind, created.bbox),
            (EventKind::Created, Some([3.0, 48.2, 3.0, 48.2])),
            "boundary included"
        );
        assert_eq!(narrowed(&event(EventKind::Created), None, Some(&outside), &scope), None);
        assert_eq!(narrowed(&event(EventKind::Updated), Some(&outside), Some(&outside), &scope), None);
        let moved_in = narrowed(&event(EventKind::Updated), Some(&outside), Some(&inside), &scope).unwrap();
        assert_eq!((moved_in.kind, moved_in.bbox), (EventKind::Updated, Some([2.5, 48.5, 2.5, 48.5])));
        let moved_out = narrowed(&event(EventKind::Updated), Some(&inside), Some(&outside), &scope).unwrap();
        assert_eq!((moved_out.kind, moved_out.bbox), (EventKind::Deleted, Some([2.5, 48.5, 2.5, 48.5])), "a removal");
        let moved = narrowed(&event(EventKind::Updated), Some(&inside), Some(&edge), &scope).unwrap();
        assert_eq!((moved.kind, moved.bbox), (EventKind::Updated, Some([2.5, 48.2, 3.0, 48.5])));
        let deleted = narrowed(&event(EventKind::Deleted), Some(&inside), None, &scope).unwrap();
        assert_eq!(deleted.kind, EventKind::Deleted);
        assert_eq!(narrowed(&event(EventKind::Deleted), Some(&outside), None, &scope), None);
    }
}
