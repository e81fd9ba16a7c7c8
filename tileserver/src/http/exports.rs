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

/// The request of an export, as sent (`body`) or as shown in the export.
fn request_schema(body: bool) -> Value {
    use super::openapi::schema as s;
    let zoom = || s::int_in(0, i64::from(vigie_layers::tile::MAX_ZOOM));
    let mut r = s::object(
        &[
            ("layers", s::string()),
            ("bbox", s::nullable(s::string())),
            ("area", s::nullable(s::string())),
            ("minzoom", zoom()),
            ("maxzoom", zoom()),
            ("filters", s::nullable(s::string())),
            ("basemap", s::boolean()),
        ],
        if body {
            &["layers", "minzoom", "maxzoom"]
        } else {
            &["layers", "bbox", "area", "minzoom", "maxzoom", "filters", "basemap"]
        },
    );
    let p = &mut r["properties"];
    p["layers"]["description"] = json!("Layer ids, comma-separated, as in tile URLs (vector layers only)");
    p["bbox"]["description"] = json!("`west,south,east,north` in degrees (exactly one of bbox and area)");
    p["area"]["description"] = json!("An area of a dataset layer, `layer:code` (`departements:93`)");
    p["filters"]["description"] = json!("The tile filters, as a query string (`severity=3&since=6h`)");
    p["basemap"]["description"] = json!(
        "Whether the workspace's basemap comes with the pack (default true): a raster one in an archive of its own"
    );
    r
}

/// Registers the exports' schemas.
fn components(api: &mut super::openapi::Api) {
    use super::openapi::schema as s;
    let mut written =
        s::object(&[("tiles", s::int()), ("stored", s::int()), ("bytes", s::int())], &["tiles", "stored", "bytes"]);
    let inner = written.clone();
    written["properties"]["basemap"] = inner;
    api.component(
        "Export",
        s::object(
            &[
                ("id", s::int()),
                ("owner", s::string()),
                ("request", request_schema(false)),
                ("created_at", s::date_time()),
                ("finished_at", s::nullable(s::date_time())),
                ("total", s::int()),
                ("done", s::int()),
                (
                    "links",
                    s::object(
                        &[
                            ("self", s::string()),
                            ("pack", s::string()),
                            ("style", s::string()),
                            ("basemap", s::string()),
                        ],
                        &["self", "pack", "style"],
                    ),
                ),
                ("status", s::one_of(&["running", "done", "failed", "cancelled"])),
                ("written", written),
                ("error", s::string()),
            ],
            &["id", "owner", "request", "created_at", "finished_at", "total", "done", "links", "status"],
        ),
    );
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, Section, schema as s};
    components(api);
    let id = || s::int();
    let archive = |op: Op| {
        op.answer_header(200, "Content-Disposition", s::pattern("^attachment; filename=\""), "The archive's file name")
            .answer_header(200, "Content-Length", s::int(), "The archive's size")
            .fails(&[409])
            // Streamed as they are: gzip would only take the length away (the tiles are compressed).
            .in_section(Section::Bare)
    };
    api.get(
        "/api/exports",
        list,
        Op::new("exports", "List exports")
            .about("The asker's exports (every export for an admin), newest first. Exports are kept 24 hours after they finish.")
            .json(200, "The exports", s::object(&[("exports", s::array(s::named("Export")))], &["exports"])),
    );
    api.post(
        "/api/exports",
        create,
        Op::new("exports", "Start an offline pack")
            .about(
                "Plans an offline pack (a PMTiles archive of vector tiles, with its MapLibre style) of \
                 `layers` over a box or an area and a zoom range, narrowed to the asker's territory, and \
                 starts writing it: 202 with the export, whose `status` tells when it is `done`. Refused \
                 before any work: 400 for a request that is not a pack request (a raster layer, a bad box, \
                 zooms or filters), 404 for an unknown layer or area, 413 over the tile limit \
                 (`export_max_tiles`), 429 when the workspace's exports are all running.",
            )
            .json_body(
                {
                    let mut r = request_schema(true);
                    r["examples"] = json!([
                        {"layers": "entries,venues", "bbox": "2.2,48.8,2.5,48.95", "minzoom": 8, "maxzoom": 11}
                    ]);
                    r
                },
                "What to export (no other field; at most 64 KiB)",
            )
            .json(202, "Started", s::named("Export"))
            .answer_header(202, "Location", s::string(), "The export's URL")
            .fails(&[404]),
    );
    api.get(
        "/api/exports/{id}",
        one,
        Op::new("exports", "One export")
            .about("Where an export is: its status, tiles done of the total, what was written once done. 404 for an export that is not there (any more) or not the asker's.")
            .path("id", id(), "The export's id")
            .json(200, "The export", s::named("Export")),
    );
    api.delete(
        "/api/exports/{id}",
        remove,
        Op::new("exports", "Cancel or remove an export")
            .about("Cancels a running export, or removes a finished one and its archives.")
            .path("id", id(), "The export's id")
            .empty(204, "Cancelled or removed"),
    );
    api.get(
        "/api/exports/{id}/pack",
        pack,
        Op::new("exports", "An export's archive")
            .about("The pack's PMTiles archive, once the export is done; 409 while it runs or when it failed.")
            .path("id", id(), "The export's id")
            .answers(200, "The PMTiles archive", "application/vnd.pmtiles", s::binary())
            .with(archive),
    );
    api.get(
        "/api/exports/{id}/basemap",
        basemap,
        Op::new("exports", "An export's basemap archive")
            .about(
                "The raster basemap's PMTiles archive beside the pack, once done (only a workspace whose \
                 basemap is a raster archive gets one: 404 otherwise); 409 while it runs or when it failed.",
            )
            .path("id", id(), "The export's id")
            .answers(200, "The PMTiles archive", "application/vnd.pmtiles", s::binary())
            .with(archive),
    );
    api.get(
        "/api/exports/{id}/style",
        style,
        Op::new("exports", "An export's MapLibre style")
            .about(
                "The pack's MapLibre style: its source is `pmtiles://` the pack's file name, to be served beside it.",
            )
            .path("id", id(), "The export's id")
            .json(200, "The style", s::named("Style")),
    );
}
