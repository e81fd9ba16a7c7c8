//! Offline packs through the API ([`crate::export`]): `POST /api/exports` plans an export
//! (400/404/413 before any work when the request is wrong or too large) and starts it (202
//! with the job); `GET /api/exports` lists the asker's, `GET /api/exports/{id}` tells its
//! progress; `GET /api/exports/{id}/pack` downloads the PMTiles archive once done,
//! `GET /api/exports/{id}/basemap` the raster basemap's archive when the pack has one, and
//! `GET /api/exports/{id}/style` its MapLibre style; `DELETE /api/exports/{id}` cancels it or
//! removes the pack.
//!
//! A pack holds what the asker may see: their territory narrows it as it narrows their tiles.
//! An export is seen by its owner and the workspace's admins only.

use super::AppState;
use super::error::ApiError;
use crate::export::{Job, JobState, Pack, PackRequest};
use crate::identity::{Access, Role};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use vigie_layers::feature::format_time_ms;

/// Most bytes of an export request.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

fn view(state: &super::Shared, job: &Job) -> Value {
    let (status, finished) = job.state();
    let base = format!("{}/api/exports/{}", state.url_prefix, job.id);
    let mut v = json!({
        "id": job.id,
        "owner": job.owner,
        "request": job.request,
        "created_at": format_time_ms(job.created_ms),
        "finished_at": finished.map(format_time_ms),
        "total": job.total,
        "done": job.done.load(Ordering::Relaxed),
        "links": {"self": base, "pack": format!("{base}/pack"), "style": format!("{base}/style")},
    });
    if job.basemap.is_some() {
        v["links"]["basemap"] = json!(format!("{base}/basemap"));
    }
    if let (Some(o), Value::Object(s)) = (v.as_object_mut(), serde_json::to_value(status).unwrap_or_default()) {
        o.extend(s);
    }
    v
}

/// The job `id`, if `access` may see it (its owner, or an admin).
fn visible(state: &super::Shared, access: &Access, id: &str) -> Result<Arc<Job>, ApiError> {
    let missing = || ApiError::NotFound(format!("no export {id} (exports are kept 24 hours after they finish)"));
    let job = id.parse().ok().and_then(|id| state.exports.get(id)).ok_or_else(missing)?;
    if job.owner != access.actor() && !access.allows(Role::Admin) {
        return Err(missing());
    }
    Ok(job)
}

/// `POST /api/exports`: plans and starts an export.
///
/// # Errors
/// 400 for a request that is not a pack request (or names a raster layer, a bad area, zooms or
/// filters), 404 for an unknown layer or area, 413 over the tile limit, 429 when the
/// workspace's exports are all running.
pub async fn create(State(state): State<AppState>, access: Access, body: Bytes) -> Result<Response, ApiError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(ApiError::TooLarge(format!("an export request is at most {MAX_REQUEST_BYTES} bytes")));
    }
    let request: PackRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "Invalid export request",
            format!(
                "{e}; send {{\"layers\": \"entries,venues\", \"bbox\": \"w,s,e,n\" or \"area\": \"departements:93\", \
                 \"minzoom\": 8, \"maxzoom\": 14, \"filters\": \"severity=3\"}}"
            ),
        )
    })?;
    let scope = super::territory::scope_of(&state, &access)?;
    let pack = Pack::plan(&state, &request, scope, &access.actor(), state.config.export_max_tiles).await?;
    let job = state.exports.start(&state, pack, request, access.actor())?;
    let draft = state.identities.draft(
        &access,
        "export.create",
        &format!("export/{}", job.id),
        crate::identity::audit::Outcome::Ok,
        json!({"request": job.request, "tiles": job.total}),
    );
    state.identities.record(draft).await;
    let body = view(&state, &job);
    let location = body["links"]["self"].as_str().unwrap_or_default().to_owned();
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(body)).into_response())
}

/// `GET /api/exports`: the asker's exports (every export for an admin), newest first.
pub async fn list(State(state): State<AppState>, access: Access) -> Json<Value> {
    let admin = access.allows(Role::Admin);
    let actor = access.actor();
    let jobs: Vec<Value> =
        state.exports.list().iter().filter(|j| admin || j.owner == actor).map(|j| view(&state, j)).collect();
    Json(json!({ "exports": jobs }))
}

/// `GET /api/exports/{id}`: where an export is.
///
/// # Errors
/// 404 for an export that is not there or not the asker's.
pub async fn one(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = visible(&state, &access, &id)?;
    Ok(Json(view(&state, &job)))
}

/// `GET /api/exports/{id}/pack`: the archive, once done.
///
/// # Errors
/// 404 as [`one`], 409 while it is running or when it failed.
pub async fn pack(State(state): State<AppState>, access: Access, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = visible(&state, &access, &id)?;
    download(&job, &id, &job.path).await
}

/// `GET /api/exports/{id}/basemap`: the raster basemap's archive, once done.
///
/// # Errors
/// 404 as [`one`] and for a pack without a raster basemap, 409 as [`pack`].
pub async fn basemap(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = visible(&state, &access, &id)?;
    let path = job.basemap.clone().ok_or_else(|| {
        ApiError::NotFound(format!(
            "export {id} has no basemap archive (only a workspace whose basemap is a raster archive gets one; a \
             vector basemap is in the pack's tiles)"
        ))
    })?;
    download(&job, &id, &path).await
}

/// One of a finished job's archives, streamed.
async fn download(job: &Job, id: &str, path: &std::path::Path) -> Result<Response, ApiError> {
    match job.state().0 {
        JobState::Done { .. } => {}
        JobState::Running => {
            return Err(ApiError::Conflict(format!(
                "export {id} is running ({} of {} tiles): ask again once its status is done",
                job.done.load(Ordering::Relaxed),
                job.total
            )));
        }
        other => {
            return Err(ApiError::Conflict(format!("export {id} did not finish: {}", json!(other)["status"])));
        }
    }
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("{}: {e}", path.display())))?;
    let len = file.metadata().await.map(|m| m.len()).unwrap_or_default();
    // Streamed in chunks: a pack can be hundreds of megabytes.
    let stream = futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    // Polled again after its end by the body: fused.
    let stream = futures_util::StreamExt::fuse(stream);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("pack.pmtiles").to_owned();
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.pmtiles".to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `GET /api/exports/{id}/style`: the pack's MapLibre style (its source `pmtiles://` the
/// pack's file name, to be served beside it).
///
/// # Errors
/// 404 as [`one`].
pub async fn style(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = visible(&state, &access, &id)?;
    Ok(Json(job.style.clone()))
}

/// `DELETE /api/exports/{id}`: cancels a running export, or removes a finished one's pack.
///
/// # Errors
/// 404 as [`one`].
pub async fn remove(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let job = visible(&state, &access, &id)?;
    state.exports.remove(job.id);
    Ok(StatusCode::NO_CONTENT)
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    api.get("/api/exports", list, Op::new("exports", "List exports").json(200, "The answer", s::any_object()));
    api.post(
        "/api/exports",
        create,
        Op::new("exports", "Start an offline pack")
            .json_body(s::any_object(), "What to export")
            .json(202, "Started", s::any_object())
            .fails(&[422]),
    );
    api.get(
        "/api/exports/{id}",
        one,
        Op::new("exports", "One export").path("id", s::string(), "The export's id").json(
            200,
            "The answer",
            s::any_object(),
        ),
    );
    api.delete(
        "/api/exports/{id}",
        remove,
        Op::new("exports", "Cancel or remove an export")
            .path("id", s::string(), "The export's id")
            .empty(204, "Removed"),
    );
    api.get(
        "/api/exports/{id}/pack",
        pack,
        Op::new("exports", "An export's archive")
            .path("id", s::string(), "The export's id")
            .answers(200, "The document", "application/vnd.pmtiles", s::binary())
            .fails(&[409]),
    );
    api.get(
        "/api/exports/{id}/basemap",
        basemap,
        Op::new("exports", "An export's basemap archive")
            .path("id", s::string(), "The export's id")
            .answers(200, "The document", "application/vnd.pmtiles", s::binary())
            .fails(&[409]),
    );
    api.get(
        "/api/exports/{id}/style",
        style,
        Op::new("exports", "An export's MapLibre style")
            .path("id", s::string(), "The export's id")
            .json(200, "The answer", s::any_object())
            .fails(&[409]),
    );
}
