//! `GET /health` and `GET /metrics`.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Health: 200 `ok` when the store answers, 503 `degraded` otherwise.
pub async fn health(State(state): State<AppState>) -> Response {
    let store = state.store.ping().await;
    let (status, word) = match &store {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(e) => {
            tracing::warn!(error = %e, "health check: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "degraded")
        }
    };
    let body = json!({
        "status": word,
        "store": { "backend": state.store.backend(), "status": if store.is_ok() { "ok" } else { "unavailable" } },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
        "tile_cache": { "entries": state.cache.entry_count(), "bytes": state.cache.weighted_size() },
    });
    (status, Json(body)).into_response()
}

/// Prometheus / OpenMetrics text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let engine = &state.engine;
    let layers = engine.layers().iter().map(|l| (l.def.id.clone(), engine.layer_len(l)));
    let body = state.metrics.render(layers, (state.cache.entry_count(), state.cache.weighted_size()));
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}
