//! The hypervision web page, embedded in the binary at build time from `web/`.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::hash::{DefaultHasher, Hash, Hasher};

include!(concat!(env!("OUT_DIR"), "/web_files.rs"));

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// The embedded file at `path`, with a content ETag; `None` when there is none.
pub fn file(path: &str, headers: &HeaderMap) -> Option<Response> {
    let (_, bytes) = WEB_FILES.iter().find(|(p, _)| *p == path)?;
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    let etag = format!("\"{:016x}\"", h.finish());
    let mut resp = if super::tiles::if_none_match(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = bytes.into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
        r
    };
    let hv = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        hv.insert(header::ETAG, v);
    }
    hv.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    hv.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if std::path::Path::new(path).extension().is_some_and(|e| e.eq_ignore_ascii_case("html")) {
        // The page loads nothing from elsewhere: no CDN, no external font, no tracker.
        hv.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data: blob:; worker-src 'self' blob:; child-src blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'",
            ),
        );
        hv.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    Some(resp)
}

/// `GET /`: the page.
pub async fn index(headers: HeaderMap) -> Response {
    file("/index.html", &headers)
        .unwrap_or_else(|| (StatusCode::NOT_FOUND, "the web page was not built into this binary").into_response())
}

/// `GET /web/{*path}`: the page's scripts, styles and vendored MapLibre.
///
/// # Errors
/// 404 for a file that is not embedded.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, super::error::ApiError> {
    file(&format!("/{path}"), &headers).ok_or_else(|| super::error::ApiError::NotFound(format!("no web file '{path}'")))
}

/// The media types [`content_type`] gives, without their parameters.
const MEDIA_TYPES: &[&str] = &[
    "text/html",
    "text/javascript",
    "text/css",
    "text/plain",
    "application/json",
    "image/svg+xml",
    "image/png",
    "font/woff2",
    "application/octet-stream",
];

/// What a file's answers are: 200 with its content ETag, or 304 when the asker holds it.
fn file_answers(op: super::openapi::Op, media: &[&str]) -> super::openapi::Op {
    use super::openapi::schema as s;
    let etag = || s::pattern("^\"[0-9a-f]{16}\"$");
    let op = op.header(
        "If-None-Match",
        s::string(),
        "The `ETag` of the copy the asker holds (or `*`): 304 without a body when it is this one",
    );
    let op = media.iter().fold(op, |op, m| {
        let schema = if m.starts_with("text/") || *m == "image/svg+xml" { s::string() } else { s::binary() };
        op.answers(200, "The file", m, schema)
    });
    op.answer_header(200, "ETag", etag(), "The file's content hash")
        .answer_header(200, "Cache-Control", s::one_of(&["no-cache"]), "Kept, but checked again before use")
        .empty(304, "Not modified: the asker's copy is this one")
        .answer_header(304, "ETag", etag(), "The file's content hash")
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut super::openapi::Api) {
    use super::openapi::{Op, schema as s};
    api.get(
        "/",
        index,
        file_answers(
            Op::new("web", "The web view").about(
                "The hypervision page (embedded in the binary): one HTML file loading the view's scripts \
                 and styles from `/web/`, nothing from elsewhere (a `Content-Security-Policy` says so).",
            ),
            &["text/html"],
        )
        .fails(&[404]),
    );
    let mut path = s::string();
    path["examples"] = serde_json::json!(["app.css", "js/app.js", "vendor/maplibre-gl/maplibre-gl-csp.js"]);
    api.get(
        "/web/{*path}",
        asset,
        file_answers(
            Op::new("web", "The web view's scripts and styles")
                .about(
                    "A file of the web view (embedded in the binary): its scripts, styles and the vendored \
                     MapLibre, with the media type of its extension. 404 for a file that is not embedded.",
                )
                .path("path", path, "The file's path under `web/`"),
            MEDIA_TYPES,
        ),
    );
}
