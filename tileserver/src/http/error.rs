//! `ApiError`: the one place that picks an HTTP status. Bodies are RFC 9457
//! `application/problem+json` with a message that says what to fix; internal errors get a
//! generic body while their whole chain goes to the log.

use crate::store::StoreError;
use crate::tiles::RenderError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vigie_layers::journal::FieldError;

/// Media type of error bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Longest body of an error answer [`as_problem`] reads, bytes.
const PLAIN_ERROR_BYTES: usize = 4096;

/// An error answer that is not problem+json made one: the framework's own refusals (a body
/// over the limit, a method the route does not take, a malformed form) come as plain text or
/// empty. Their text becomes the detail; their headers (`Allow`, `Retry-After`) stay.
pub async fn as_problem(resp: Response) -> Response {
    let status = resp.status();
    let plain = resp.headers().get(header::CONTENT_TYPE).is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    // An encoded body is not read as text (the documents' own refusals were made problem+json
    // before they were compressed).
    let encoded = resp.headers().contains_key(header::CONTENT_ENCODING);
    if !(status.is_client_error() || status.is_server_error()) || !plain || encoded {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text =
        axum::body::to_bytes(body, PLAIN_ERROR_BYTES).await.map(|b| String::from_utf8_lossy(&b).trim().to_owned());
    let allow = parts.headers.get(header::ALLOW).and_then(|v| v.to_str().ok());
    let detail = match (text, status, allow) {
        (_, StatusCode::METHOD_NOT_ALLOWED, Some(allow)) => {
            format!("this route does not take this method; it takes {allow}")
        }
        (Ok(t), StatusCode::PAYLOAD_TOO_LARGE, _) => format!("{t}: send a smaller body"),
        (Ok(t), _, _) if !t.is_empty() => t,
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut resp = problem_response(status, body);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            resp.headers_mut().insert(name.clone(), value.clone());
        }
    }
    resp
}

/// Marks an answer the store's failure caused (a response extension `/metrics` counts).
#[derive(Clone, Copy, Debug)]
pub struct StoreFailure;

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request: 400.
    #[error("{title}: {detail}")]
    BadRequest {
        /// Short summary.
        title: &'static str,
        /// What was wrong and how to fix it.
        detail: String,
    },
    /// Well-formed but invalid fields: 422 listing each.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// No credential, or an invalid one: 401 with `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid identity without the right (role, CSRF token, origin): 403.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown resource: 404.
    #[error("{0}")]
    NotFound(String),
    /// A definition (catalog theme or layer) that breaks a rule: 422 naming it and what to fix.
    #[error("{0}")]
    InvalidDefinition(String),
    /// A name already taken: 409.
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts: 429 with `Retry-After`.
    #[error("{detail}")]
    TooManyRequests {
        /// What to do.
        detail: String,
        /// Seconds to wait.
        retry_after_s: u64,
    },
    /// Stale version: 412.
    #[error("{0}")]
    PreconditionFailed(String),
    /// A required precondition header is missing: 428.
    #[error("{0}")]
    PreconditionRequired(String),
    /// The media type of the body is not accepted: 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Body too large: 413.
    #[error("{0}")]
    TooLarge(String),
    /// The client took too long to send its request: 408.
    #[error("{0}")]
    RequestTimeout(String),
    /// The database is down or overloaded: 503; its disk is full: 507.
    #[error("service unavailable")]
    Unavailable(#[source] StoreError),
    /// The process is starting (store opening, index loading): 503.
    #[error("starting")]
    Starting,
    /// A tile render failed (shared by every request that waited for it): 503 when the
    /// database behind a table layer is unavailable, else 500.
    #[error("tile render failed")]
    Render(#[source] RenderError),
    /// Anything else: 500, generic body.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 400 with a title and a detail.
    pub fn bad_request(title: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest { title, detail: detail.into() }
    }
}

impl From<RenderError> for ApiError {
    fn from(e: RenderError) -> Self {
        Self::Render(e)
    }
}

impl From<crate::identity::AuthError> for ApiError {
    fn from(e: crate::identity::AuthError) -> Self {
        use crate::identity::AuthError;
        match e {
            AuthError::Unauthenticated(d) => Self::Unauthorized(d),
            AuthError::Forbidden(d) => Self::Forbidden(d),
            AuthError::NotMember => Self::NotFound("no such workspace".into()),
            AuthError::Throttled { retry_after_s } => Self::TooManyRequests {
                detail: format!("too many failed sign-ins: wait {retry_after_s} s before trying again"),
                retry_after_s,
            },
            AuthError::Invalid(d) => Self::bad_request("Invalid request", d),
            AuthError::NotFound(d) => Self::NotFound(d),
            AuthError::Conflict(d) => Self::Conflict(d),
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) | StoreError::WriterStopped | StoreError::Full(_) => Self::Unavailable(e),
            other => Self::Internal(other.into()),
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

/// A `problem+json` answer: `body` (an object with at least `type`, `title`, `status` and
/// `detail`) naming the request it answers (`instance`, `request_id`: see
/// [`super::requests`]), with its status and media type.
pub fn problem_response(status: StatusCode, mut body: serde_json::Value) -> Response {
    if let (Some(fields), Some(id)) = (body.as_object_mut(), super::requests::current_request_id()) {
        fields.insert("instance".into(), format!("urn:vigie:request:{id}").into());
        fields.insert("request_id".into(), id.as_str().into());
    }
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, title, detail, errors) = match &self {
            Self::BadRequest { title, detail } => (StatusCode::BAD_REQUEST, *title, detail.clone(), None),
            Self::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid fields",
                format!("{} field(s) are invalid; see `errors` for each field and what is allowed", errors.len()),
                Some(errors.as_slice()),
            ),
            Self::Unauthorized(d) => (StatusCode::UNAUTHORIZED, "Unauthorized", d.clone(), None),
            Self::Forbidden(d) => (StatusCode::FORBIDDEN, "Forbidden", d.clone(), None),
            Self::NotFound(d) => (StatusCode::NOT_FOUND, "Not found", d.clone(), None),
            Self::Conflict(d) => (StatusCode::CONFLICT, "Conflict", d.clone(), None),
            Self::InvalidDefinition(d) => (StatusCode::UNPROCESSABLE_ENTITY, "Invalid definition", d.clone(), None),
            Self::TooManyRequests { detail, .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "Too many requests", detail.clone(), None)
            }
            Self::PreconditionFailed(d) => (StatusCode::PRECONDITION_FAILED, "Precondition failed", d.clone(), None),
            Self::TooLarge(d) => (StatusCode::PAYLOAD_TOO_LARGE, "Payload too large", d.clone(), None),
            Self::RequestTimeout(d) => (StatusCode::REQUEST_TIMEOUT, "Request timeout", d.clone(), None),
            Self::PreconditionRequired(d) => {
                (StatusCode::PRECONDITION_REQUIRED, "Precondition required", d.clone(), None)
            }
            Self::UnsupportedMediaType(d) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type", d.clone(), None)
            }
            Self::Unavailable(e) => unavailable(e),
            Self::Starting => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Starting",
                "the service is starting (opening its store, loading its index): ask again after Retry-After"
                    .to_owned(),
                None,
            ),
            Self::Render(RenderError::Store(e)) if matches!(**e, StoreError::Unavailable(_)) => unavailable(e.as_ref()),
            Self::Render(RenderError::Busy { limit, waited_ms }) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Too busy",
                format!(
                    "all {limit} tile renders (the server's max_renders) stayed busy for {waited_ms} ms (render_wait_ms): \
                     ask again after Retry-After"
                ),
                None,
            ),
            // Logged by the archive's source once per attempt to open it, not here per request.
            Self::Render(RenderError::Archive(reason)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Tile archive unavailable",
                format!("{reason}; it is tried again every few seconds"),
                None,
            ),
            Self::Render(RenderError::OverCeiling(e)) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Tile too large",
                format!(
                    "{e} (raw_tile_max_bytes): ask without budget=off for a tile whose dense layers are thinned \
                     into clusters, or ask for the tiles of a higher zoom"
                ),
                None,
            ),
            Self::Render(e) => internal(&error_chain(e)),
            Self::Internal(e) => internal(&format!("{e:#}")),
        };
        let body = Problem { kind: "about:blank", title, status: status.as_u16(), detail, errors };
        let mut resp = problem_response(status, serde_json::to_value(&body).unwrap_or_default());
        let store_failed = match &self {
            Self::Unavailable(_) | Self::Render(RenderError::Store(_)) => true,
            Self::Internal(e) => e.downcast_ref::<StoreError>().is_some(),
            _ => false,
        };
        if store_failed {
            resp.extensions_mut().insert(StoreFailure);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        if let Self::TooManyRequests { retry_after_s, .. } = &self {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"vigie\""));
        }
        resp
    }
}

fn unavailable(e: &StoreError) -> (StatusCode, &'static str, String, Option<&'static [FieldError]>) {
    if matches!(e, StoreError::Full(_)) {
        tracing::error!(error = %error_chain(e), "the database's disk is full: writes are refused until there is space");
        return (
            StatusCode::INSUFFICIENT_STORAGE,
            "Insufficient storage",
            "the database's disk is full: nothing of this request was written; free space on its volume, and writes \
             resume by themselves"
                .to_owned(),
            None,
        );
    }
    tracing::warn!(error = %error_chain(e), "store unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Service unavailable",
        "the database is unavailable; retry shortly".to_owned(),
        None,
    )
}

fn internal(chain: &str) -> (StatusCode, &'static str, String, Option<&'static [FieldError]>) {
    tracing::error!(error = %chain, "internal error");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal error",
        "an internal error occurred; it has been logged".to_owned(),
        None,
    )
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
