//! `POST /api/layers/{id}/import` (a source file as the raw body with its content type, or as
//! the file part of a `multipart/form-data` form) and `GET /api/sources`.
//!
//! The upload is streamed to a temporary file (never held in memory), read and checked like
//! `vigie import`, stored as a new dataset version in one transaction and swapped in before
//! the answer. Invalid records reject the whole file with 422 and the list of problems (file,
//! line or feature, field, reason), unless `skip_invalid=true`.
//!
//! Parameters (query string, or text parts of the form): `format` (default: the Content-Type,
//! or the file name's extension), `crs`, `skip_invalid`, `table` (GeoPackage), `lat`, `lon`,
//! `point`, `geometry`, `delimiter` (CSV), and the mapping `id`, `title`, `time`, `tags`,
//! `severity` (source field names).

use super::AppState;
use super::error::{ApiError, problem_response};
use crate::ingest::apply_dataset;
use crate::ingest::import::{self, ImportError, ImportOptions};
use crate::metrics::{ImportOrigin, ImportOutcome};
use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;
use std::io::Write;
use vigie_layers::dataset::{MAX_LISTED_PROBLEMS, Report};
use vigie_layers::readers::{Crs, Format};

/// Largest upload, bytes (2 GiB): uploads are streamed to disk, so this bounds disk, not memory.
pub const MAX_IMPORT_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// What an import answers when it did not happen.
#[derive(Debug)]
pub enum ImportRejection {
    /// Any other error: its own status.
    Api(ApiError),
    /// Invalid records: 422 with each problem.
    Rejected(Report),
    /// The file cannot be read as a whole: 422 with the reason.
    Unreadable(String),
}

impl From<ApiError> for ImportRejection {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl IntoResponse for ImportRejection {
    fn into_response(self) -> Response {
        let body = match self {
            Self::Api(e) => return e.into_response(),
            Self::Rejected(report) => json!({
                "type": "about:blank",
                "title": "Import rejected",
                "status": 422,
                "detail": format!(
                    "{} record(s) read, {} problem(s): nothing was imported. Fix them, or send skip_invalid=true to import the valid records",
                    report.read, report.problem_count
                ),
                "read": report.read,
                "problem_count": report.problem_count,
                "listed": report.problems.len().min(MAX_LISTED_PROBLEMS),
                "problems": report.problems,
            }),
            Self::Unreadable(detail) => json!({
                "type": "about:blank",
                "title": "Unreadable file",
                "status": 422,
                "detail": detail,
            }),
        };
        problem_response(StatusCode::UNPROCESSABLE_ENTITY, body)
    }
}

/// Import parameters gathered from the query string and form fields.
#[derive(Debug, Default)]
struct Params {
    options: ImportOptions,
    filename: Option<String>,
}

impl Params {
    fn set(&mut self, key: &str, value: &str) -> Result<(), ApiError> {
        let v = value.trim();
        let text = || (!v.is_empty()).then(|| v.to_owned());
        let o = &mut self.options;
        match key {
            "format" => {
                o.format = Some(Format::from_name(v).ok_or_else(|| {
                    ApiError::UnsupportedMediaType(format!(
                        "format '{v}' is not supported: geojson, csv, flatgeobuf, gpkg, shapefile (zip), kml, kmz"
                    ))
                })?);
            }
            "crs" => {
                o.read.crs = Some(Crs::parse(v).map_err(|e| ApiError::bad_request("Invalid crs", e.to_string()))?);
            }
            "skip_invalid" => {
                o.skip_invalid = matches!(v, "true" | "1" | "yes" | "on");
            }
            "table" => o.read.layer = text(),
            "lat" => o.read.csv.lat = text(),
            "lon" => o.read.csv.lon = text(),
            "point" => o.read.csv.point = text(),
            "geometry" => o.read.csv.geometry = text(),
            "delimiter" => o.read.csv.delimiter = v.chars().next(),
            "id" => o.mapping.id = text(),
            "title" => o.mapping.title = text(),
            "time" => o.mapping.time = text(),
            "tags" => o.mapping.tags = text(),
            "severity" => o.mapping.severity = text(),
            "filename" => self.filename = text(),
            other => {
                return Err(ApiError::bad_request(
                    "Unknown parameter",
                    format!(
                        "'{other}' is not an import parameter: format, crs, skip_invalid, table, lat, lon, point, geometry, delimiter, id, title, time, tags, severity, filename"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A temporary file an upload is written to, with a size limit.
struct Spool {
    file: tempfile::NamedTempFile,
    bytes: u64,
}

impl Spool {
    fn new() -> Result<Self, ApiError> {
        let file = tempfile::Builder::new()
            .prefix("vigie-upload-")
            .tempfile()
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("cannot create the upload file")))?;
        Ok(Self { file, bytes: 0 })
    }

    fn write(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.bytes += chunk.len() as u64;
        if self.bytes > MAX_IMPORT_BYTES {
            return Err(ApiError::TooLarge(format!("an upload is at most {} GiB", MAX_IMPORT_BYTES >> 30)));
        }
        self.file.write_all(chunk).map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("upload file")))
    }
}

/// `POST /api/layers/{id}/import`.
///
/// # Errors
/// 404 unknown layer, 400 bad parameters or not a dataset layer, 413 too large, 415 unknown
/// format, 422 unreadable file or invalid records (nothing imported), 503 store down.
pub async fn import(
    State(state): State<AppState>,
    access: crate::identity::Access,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, ImportRejection> {
    let layer = state.engine.layer(&id).ok_or_else(|| ApiError::NotFound(format!("no layer '{id}'")))?.def.clone();
    import::dataset_of(&layer).map_err(|e| ApiError::bad_request("Not a dataset layer", e.to_string()))?;
    let mut params = Params::default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request("Invalid query string", e.to_string()))?;
    for (k, v) in &pairs {
        params.set(k, v)?;
    }
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut spool = Spool::new()?;
    let mut part_type = None;
    if content_type.to_ascii_lowercase().starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(request, &state)
            .await
            .map_err(|e| ApiError::bad_request("Invalid multipart form", e.body_text()))?;
        let mut got_file = false;
        while let Some(mut field) =
            form.next_field().await.map_err(|e| ApiError::bad_request("Invalid multipart form", e.body_text()))?
        {
            let name = field.name().unwrap_or("").to_owned();
            if field.file_name().is_some() || name == "file" {
                if got_file {
                    return Err(
                        ApiError::bad_request("One file per import", "the form holds more than one file").into()
                    );
                }
                got_file = true;
                if params.filename.is_none() {
                    params.filename = field.file_name().map(str::to_owned);
                }
                part_type = field.content_type().map(str::to_owned);
                while let Some(chunk) =
                    field.chunk().await.map_err(|e| ApiError::bad_request("Invalid multipart form", e.body_text()))?
                {
                    spool.write(&chunk)?;
                }
            } else {
                let value =
                    field.text().await.map_err(|e| ApiError::bad_request("Invalid multipart form", e.body_text()))?;
                params.set(&name, &value)?;
            }
        }
        if !got_file {
            return Err(ApiError::bad_request("No file", "the form has no file part (name it \"file\")").into());
        }
    } else {
        part_type = Some(content_type.clone());
        let mut stream = request.into_body().into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ApiError::bad_request("Unreadable body", e.to_string()))?;
            spool.write(&chunk)?;
        }
    }
    if spool.bytes == 0 {
        return Err(
            ApiError::bad_request("Empty body", "send the file as the body, or as the file part of a form").into()
        );
    }
    let format = params
        .options
        .format
        .or_else(|| params.filename.as_deref().and_then(|f| Format::from_path(std::path::Path::new(f))))
        .or_else(|| part_type.as_deref().and_then(Format::from_media_type))
        .ok_or_else(|| {
            ApiError::UnsupportedMediaType(format!(
                "cannot tell the format of the upload (Content-Type '{}'): send it as application/geo+json, text/csv, application/flatgeobuf, application/geopackage+sqlite3, application/zip (Shapefile), application/vnd.google-earth.kml+xml or .kmz, or give format=",
                part_type.as_deref().unwrap_or("")
            ))
        })?;
    params.options.format = Some(format);
    // The readers choose by extension for zips (Shapefile) and GeoPackages: name the file so.
    let path = spool.file.path().with_extension(format.extension());
    let _guard = {
        let temp = spool.file.into_temp_path();
        std::fs::rename(&temp, &path)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("cannot name the upload file")))?;
        Removal(path.clone())
    };
    let source = format!("upload {}", params.filename.as_deref().unwrap_or(&content_type));
    let result = import::import(state.store.as_ref(), &layer, &path, &source, &params.options).await;
    let outcome = match &result {
        Ok(_) => ImportOutcome::Imported,
        Err(ImportError::Rejected(_) | ImportError::Read(_) | ImportError::NotADataset(_)) => ImportOutcome::Rejected,
        Err(ImportError::Store(_)) => ImportOutcome::Failed,
    };
    state.ingest.count_import(ImportOrigin::Api, outcome);
    let (info, report) = match result {
        Ok(r) => r,
        Err(ImportError::Rejected(report)) => return Err(ImportRejection::Rejected(report)),
        Err(ImportError::Read(e)) => {
            let upload = path.display().to_string();
            let shown = params.filename.clone().unwrap_or_else(|| "upload".into());
            return Err(ImportRejection::Unreadable(e.to_string().replace(&upload, &shown)));
        }
        Err(ImportError::NotADataset(l)) => {
            return Err(
                ApiError::bad_request("Not a dataset layer", format!("layer '{l}' is not a dataset layer")).into()
            );
        }
        Err(ImportError::Store(e)) => return Err(ApiError::from(e).into()),
    };
    let applied = apply_dataset(&state.ingest, &info).await.map_err(ApiError::from)?;
    let body = json!({
        "layer": layer.id,
        "dataset": info.id,
        "version": info.version,
        "features": info.feature_count,
        "read": report.read,
        "kept": report.kept,
        "changed": applied.changed,
        "problem_count": report.problem_count,
        "problems": report.problems,
    });
    let detail = json!({
        "version": info.version,
        "features": info.feature_count,
        "source": source,
        "after": crate::identity::audit::digest(&body),
    });
    let draft = state.identities.draft(
        &access,
        "dataset.import",
        &format!("layer/{}", layer.id),
        crate::identity::audit::Outcome::Ok,
        detail,
    );
    state.identities.record(draft).await;
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// Deletes the upload when the request ends, whatever happened.
struct Removal(std::path::PathBuf);

impl Drop for Removal {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The import parameters, in the query string (or as text parts of a form).
fn parameters(op: super::openapi::Op) -> super::openapi::Op {
    use super::openapi::schema as s;
    let formats = &[
        "geojson",
        "json",
        "ndjson",
        "geojsonseq",
        "geojsonl",
        "geojsons",
        "jsonl",
        "csv",
        "tsv",
        "txt",
        "flatgeobuf",
        "fgb",
        "gpkg",
        "geopackage",
        "shapefile",
        "shp",
        "zip",
        "kml",
        "kmz",
    ];
    op.query(
        "format",
        s::one_of(formats),
        "The file's format (any case); default: the file name's extension, else the Content-Type. An unknown one is a 415",
    )
    .query("crs", json!({"type": "string", "minLength": 1}), "The CRS of the coordinates: an EPSG code (`EPSG:2154`), an OGC URN, a PROJ string or WKT; default: the file's, else WGS84")
    .query("skip_invalid", s::boolean(), "Import the valid records and report the invalid ones (`true`, `1`, `yes`, `on`), rather than reject the whole file")
    .query("table", s::string(), "GeoPackage: the table to read (default: the first)")
    .query("lat", s::string(), "CSV: the latitude column")
    .query("lon", s::string(), "CSV: the longitude column")
    .query("point", s::string(), "CSV: a column holding `lat,lon` points")
    .query("geometry", s::string(), "CSV: a column holding WKT or GeoJSON geometries")
    .query("delimiter", s::text(1), "CSV: the delimiter (its first character; default: guessed)")
    .query("id", s::string(), "The field giving a stable numeric feature id (default: features numbered 1, 2…)")
    .query("title", s::string(), "The field giving the feature's title")
    .query("time", s::string(), "The field giving the feature's time (the time filters read it)")
    .query("tags", s::string(), "The field giving the feature's tags")
    .query("severity", s::string(), "The field giving the feature's severity (1 to 4)")
    .query("filename", s::string(), "The file's name, whose extension tells its format (a form's file part gives it)")
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, Section, schema as s};
    let problem = || {
        s::object(
            &[("file", s::string()), ("position", s::string()), ("field", s::string()), ("reason", s::string())],
            &["file", "position", "field", "reason"],
        )
    };
    let mut form = s::object(&[("file", s::binary())], &["file"]);
    form["description"] = json!(
        "The file part (`file`, or any part with a file name), and the parameters as text parts (as in the query string)"
    );
    let op = Op::new("imports", "Import a dataset")
        .about(
            "Imports a source file into a dataset layer: the file is the raw body (its Content-Type, the \
             `format` or `filename` parameter telling its format) or the file part of a \
             `multipart/form-data` form; at most 2 GiB, streamed to disk. It is read and checked like `vigie \
             import`, stored as the dataset's next version in one transaction and served before the answer. \
             Invalid records reject the whole file (422 listing each problem: file, line or feature, field, \
             reason; nothing imported) unless `skip_invalid=true`; a file that cannot be read is a 422 too. \
             400 for a layer that is not a dataset layer, an empty body, a bad parameter or form; 415 for a \
             format that cannot be told or is not supported.",
        )
        .path("id", json!({"type": "string", "examples": ["departements"]}), "The dataset layer")
        .with(parameters)
        .body("multipart/form-data", form, "The file: the raw body with its media type, or the file part of a form")
        .body(
            "application/geo+json",
            json!({
                "type": "object",
                "description": "A GeoJSON FeatureCollection (or newline-delimited features)",
                "examples": [{
                    "type": "FeatureCollection",
                    "features": [{
                        "type": "Feature",
                        "properties": {"code": "75", "nom": "Paris"},
                        "geometry": {"type": "Polygon", "coordinates": [[[2.25, 48.82], [2.42, 48.82], [2.42, 48.90], [2.25, 48.90], [2.25, 48.82]]]}
                    }]
                }]
            }),
            "A GeoJSON FeatureCollection",
        )
        .body("text/csv", s::string(), "CSV, with the coordinate columns named by `lat` and `lon`, `point` or `geometry`");
    let op = [
        "application/flatgeobuf",
        "application/geopackage+sqlite3",
        "application/zip",
        "application/vnd.google-earth.kml+xml",
        "application/vnd.google-earth.kmz",
        "application/octet-stream",
    ]
    .into_iter()
    .fold(op, |op, media| op.body(media, s::binary(), "The file"));
    api.post(
        "/api/layers/{id}/import",
        import,
        op.json(
            200,
            "Imported and served: the dataset's new version, and what was read, kept and skipped",
            s::object(
                &[
                    ("layer", s::string()),
                    ("dataset", s::string()),
                    ("version", s::int()),
                    ("features", s::int()),
                    ("read", s::int()),
                    ("kept", s::int()),
                    ("changed", s::int()),
                    ("problem_count", s::int()),
                    ("problems", s::array(problem())),
                ],
                &["layer", "dataset", "version", "features", "read", "kept", "changed", "problem_count", "problems"],
            ),
        )
        .answers(
            422,
            "Nothing imported: the file cannot be read (`detail` says why), or it has invalid records (each listed)",
            super::error::PROBLEM_JSON,
            json!({"allOf": [s::named("Problem"), s::object(
                &[
                    ("read", s::int()),
                    ("problem_count", s::int()),
                    ("listed", s::int()),
                    ("problems", s::array(problem())),
                ],
                &[],
            )]}),
        )
        .in_section(Section::Imports),
    );
}
