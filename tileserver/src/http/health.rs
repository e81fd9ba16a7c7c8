//! The probes (`GET /livez`, `GET /readyz`), `GET /health` and `GET /metrics`.
//!
//! All answer even when renders, writes or the store are stuck: they take no lock a render or
//! a write may hold (the activity registry's is a leaf), the store ping and the engine's
//! feature counts are bounded in time, and a stuck operation is reported, not waited for.
//!
//! - `/livez`: the process and its runtime answer (200 from the moment the address is bound,
//!   during start-up and shutdown too). A container platform restarts the process when it
//!   stops answering.
//! - `/readyz`: send it requests (200) or not (503): not while starting (store opening, index
//!   loading), stopping, when a workspace's store does not answer, or when a workspace's index
//!   is behind the store's change feed (a replica that lost its feed).
//! - `/health`: what an operator reads (store, operations under way, cache).

use super::{AppState, Workspaces};
use crate::activity::Snapshot;
use crate::lifecycle::Phase;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for the store's ping, or for the engine's feature counts in `/metrics`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long `/readyz` lets a workspace's index catch up with the events its store committed
/// a moment ago before calling it behind.
const CATCH_UP_PATIENCE: Duration = Duration::from_secs(1);

/// Liveness: 200 whenever the process's runtime answers.
pub fn livez() -> Response {
    Json(json!({ "status": "alive", "version": env!("CARGO_PKG_VERSION") })).into_response()
}

/// What the process answers while its workspaces are being built: 200 at `/livez`, 503 at
/// `/readyz` (`starting`) and 503 problem+json with Retry-After anywhere else.
pub fn while_starting(path: &str) -> Response {
    match path {
        "/livez" => livez(),
        "/readyz" => not_ready(Phase::Starting, &[], &json!({})),
        _ => super::error::ApiError::Starting.into_response(),
    }
}

fn not_ready(phase: Phase, reasons: &[String], workspaces: &Value) -> Response {
    let body = json!({ "status": "not ready", "phase": phase.as_str(), "reasons": reasons, "workspaces": workspaces });
    let mut resp = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
    resp
}

/// Readiness: 200 when serving, every workspace's store answers and its index is caught up
/// with the store's events; else 503 with the reasons.
pub async fn readyz(State(workspaces): State<Arc<Workspaces>>) -> Response {
    let phase = workspaces.primary().lifecycle.phase();
    let states = workspaces.all();
    let checks = futures_util::future::join_all(states.iter().map(|s| async move {
        let id = s.config.workspace.clone();
        let store = match tokio::time::timeout(PROBE_TIMEOUT, s.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::warn!(workspace = %id, error = %e, "readiness: store unavailable");
                Err(format!("workspace '{id}': the store is unavailable"))
            }
            Err(_) => Err(format!("workspace '{id}': the store did not answer within {} s", PROBE_TIMEOUT.as_secs())),
        };
        let lag = match store {
            Ok(()) => match tokio::time::timeout(PROBE_TIMEOUT, s.courante.lag(CATCH_UP_PATIENCE)).await {
                Ok(Ok(0)) => Ok(0),
                Ok(Ok(n)) => Err((n, format!("workspace '{id}': the index is {n} event(s) behind the store"))),
                Ok(Err(_)) | Err(_) => Err((0, format!("workspace '{id}': the store's last event could not be read"))),
            },
            Err(e) => Err((0, e)),
        };
        (id, lag)
    }))
    .await;
    let mut reasons = Vec::new();
    if phase != Phase::Serving {
        reasons.push(format!("the process is {}", phase.as_str()));
    }
    let mut each = serde_json::Map::new();
    for (id, lag) in checks {
        match lag {
            Ok(n) => each.insert(id, json!({ "ready": true, "change_feed_lag": n })),
            Err((n, why)) => {
                reasons.push(why);
                each.insert(id, json!({ "ready": false, "change_feed_lag": n }))
            }
        };
    }
    if reasons.is_empty() {
        Json(json!({ "status": "ready", "phase": phase.as_str(), "workspaces": each })).into_response()
    } else {
        not_ready(phase, &reasons, &Value::Object(each))
    }
}

/// Health: 200 `ok` when the store answers and no operation runs past the stall deadline,
/// else 503 `degraded`, with what is wrong.
pub async fn health(State(state): State<AppState>) -> Response {
    let store = match tokio::time::timeout(PROBE_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: store unavailable");
            "unavailable"
        }
        Err(_) => {
            tracing::warn!(timeout_s = PROBE_TIMEOUT.as_secs(), "health check: the store did not answer in time");
            "timeout"
        }
    };
    let activity = state.activity.snapshot();
    let ok = store == "ok" && !activity.stalled();
    let body = json!({
        "status": if ok { "ok" } else { "degraded" },
        "store": { "backend": state.store.backend(), "status": store },
        "operations": operations(&activity),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
        "tile_cache": { "entries": state.cache.entry_count(), "bytes": state.cache.weighted_size() },
    });
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

/// Running operations by kind: how many, the oldest's age, how many are stalled.
fn operations(activity: &Snapshot) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("stall_after_s".into(), json!(activity.stall_after.as_secs_f64()));
    for k in &activity.kinds {
        out.insert(
            format!("{}s", k.kind.as_str()),
            json!({
                "running": k.running,
                "oldest_s": k.oldest.map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0),
                "stalled": k.stalled,
                "stalled_total": k.stalled_total,
            }),
        );
    }
    Value::Object(out)
}

/// Prometheus / OpenMetrics text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let counting = state.clone();
    // The counts read the engine's locks: off the async workers, and not waited for past the
    // timeout (a stuck write must not take /metrics down with it).
    let counts = tokio::task::spawn_blocking(move || {
        counting.tiles.iter().map(|s| (s.id().to_owned(), s.feature_count())).collect::<Vec<_>>()
    });
    let layers = tokio::time::timeout(PROBE_TIMEOUT, counts).await.ok().and_then(Result::ok);
    if layers.is_none() {
        tracing::warn!("metrics: the engine's feature counts were not read in time");
    }
    // Each served workspace's change-feed lag, as the store says now (no wait).
    let served =
        state.registry.get().and_then(std::sync::Weak::upgrade).map_or_else(|| vec![state.clone()], |w| w.all());
    for s in served {
        if let Ok(Ok(lag)) = tokio::time::timeout(PROBE_TIMEOUT, s.courante.lag(Duration::ZERO)).await {
            state.metrics.feed_lag(&s.config.workspace, lag);
        }
    }
    let cache = (state.cache.entry_count(), state.cache.weighted_size());
    let body = state.metrics.render(layers, cache, &state.activity.snapshot());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}

/// Registers the probes' schemas.
fn components(api: &mut super::openapi::Api) {
    use super::openapi::schema as s;
    let kind = s::object(
        &[
            ("running", s::int()),
            ("oldest_s", s::nullable(s::number())),
            ("stalled", s::int()),
            ("stalled_total", s::int()),
        ],
        &["running", "oldest_s", "stalled", "stalled_total"],
    );
    api.component(
        "Health",
        s::object(
            &[
                ("status", s::one_of(&["ok", "degraded"])),
                (
                    "store",
                    s::object(
                        &[("backend", s::string()), ("status", s::one_of(&["ok", "unavailable", "timeout"]))],
                        &["backend", "status"],
                    ),
                ),
                (
                    "operations",
                    s::object(
                        &[("stall_after_s", s::number()), ("renders", kind.clone()), ("writes", kind)],
                        &["stall_after_s", "renders", "writes"],
                    ),
                ),
                ("version", s::string()),
                ("uptime_s", s::int()),
                ("tile_cache", s::object(&[("entries", s::int()), ("bytes", s::int())], &["entries", "bytes"])),
            ],
            &["status", "store", "operations", "version", "uptime_s", "tile_cache"],
        ),
    );
    let phase = s::one_of(&["starting", "serving", "stopping"]);
    let workspaces =
        s::map_of(s::object(&[("ready", s::boolean()), ("change_feed_lag", s::int())], &["ready", "change_feed_lag"]));
    api.component(
        "HealthReady",
        s::object(
            &[
                ("status", s::one_of(&["ready", "not ready"])),
                ("phase", phase),
                ("reasons", s::array(s::string())),
                ("workspaces", workspaces),
            ],
            &["status", "phase", "workspaces"],
        ),
    );
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::error::PROBLEM_JSON;
    use super::openapi::{Op, Section, schema as s};
    use axum::http::Method;
    components(api);
    let retry = || s::int();
    api.document_only(
        Method::GET,
        "/livez",
        Op::new("operations", "Liveness: the process answers")
            .about(
                "200 whenever the process's runtime answers, from the moment its address is bound, during \
                 start-up and shutdown too: a platform restarts the process when it stops answering. Served by \
                 the process, for every workspace.",
            )
            .json(
                200,
                "Alive",
                s::object(&[("status", s::one_of(&["alive"])), ("version", s::string())], &["status", "version"]),
            ),
    );
    api.document_only(
        Method::GET,
        "/readyz",
        Op::new("operations", "Readiness: the store answers and the index is loaded")
            .about(
                "Whether to send the process requests: 200 when it serves, every workspace's store answers \
                 and its index is caught up with the store's change feed; else 503 with the reasons (while \
                 starting or stopping, a store that does not answer, an index behind its store). Served by \
                 the process, for every workspace.",
            )
            .json(200, "Ready", s::named("HealthReady"))
            .json(503, "Not ready: `reasons` says why", s::named("HealthReady"))
            .answer_header(503, "Retry-After", retry(), "Seconds to wait before asking again"),
    );
    api.get(
        "/health",
        health,
        Op::new("operations", "Health of the workspace")
            .about(
                "What an operator reads: the store's state, the operations under way (renders and writes: \
                 how many, the oldest's age, how many run past the stall deadline), the tile cache. 200 `ok` \
                 when the store answers and no operation is stalled, else 503 `degraded` with the same body. \
                 Answers even when renders, writes or the store are stuck.",
            )
            .json(200, "Healthy", s::named("Health"))
            .json(503, "Degraded (the same body), or starting (problem+json with `Retry-After`)", s::named("Health"))
            .answers(503, "", PROBLEM_JSON, s::named("Problem"))
            .answer_header(503, "Retry-After", retry(), "Seconds to wait before asking again (while starting)")
            .in_section(Section::Bare),
    );
    api.get(
        "/metrics",
        metrics,
        Op::new("operations", "Metrics (OpenMetrics)")
            .about(
                "Prometheus / OpenMetrics text exposition: requests, renders, the tile cache, imports, the \
                 store, each workspace's change-feed lag and feature counts per layer (left out when the \
                 engine does not give them within 2 s).",
            )
            .answers(200, "The metrics", "application/openmetrics-text", s::string()),
    );
}
