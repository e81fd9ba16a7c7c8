//! `GET /health` and `GET /metrics`.
//!
//! Both answer even when renders, writes or the store are stuck: they take no lock a render or
//! a write may hold (the activity registry's is a leaf), the store ping and the engine's
//! feature counts are bounded in time, and a stuck operation is reported, not waited for.

use super::AppState;
use crate::activity::Snapshot;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::time::Duration;

/// Longest wait for the store's ping, or for the engine's feature counts in `/metrics`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

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
    let cache = (state.cache.entry_count(), state.cache.weighted_size());
    let body = state.metrics.render(layers, cache, &state.activity.snapshot());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}
