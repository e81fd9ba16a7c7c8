//! The API's own description: `GET /api/openapi.json` (OpenAPI 3.1, made by
//! [`super::openapi`] from the routes) and `GET /api/docs`, a reference page rendered on the
//! server from the same document: one HTML file, inline CSS, no script, nothing fetched from
//! elsewhere.

use super::error::ApiError;
use super::openapi::{Api, Op, Section, schema as s};
use super::{AppState, base_url};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::sync::LazyLock;
use vigie_paper::escape as esc;

/// The media type of the document.
pub const OPENAPI_JSON: &str = "application/vnd.oai.openapi+json;version=3.1";

/// The document, built once per process (the routes do not change while it runs).
static DOCUMENT: LazyLock<Value> = LazyLock::new(|| super::api().document());

/// The document with the asker's server URL (the workspace's base, `/w/{id}` included).
fn document_for(state: &super::Shared, headers: &HeaderMap) -> Result<Value, ApiError> {
    let mut doc = DOCUMENT.clone();
    doc["servers"] =
        json!([{"url": base_url(state, headers)?, "description": format!("workspace {}", state.config.workspace)}]);
    Ok(doc)
}

/// `GET /api/openapi.json`.
///
/// # Errors
/// 400 without a usable Host header (the document's server URL is built from it).
pub async fn openapi(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let body = serde_json::to_vec_pretty(&document_for(&state, &headers)?).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static(OPENAPI_JSON))], body).into_response())
}

/// `GET /api/docs`: the reference page.
///
/// # Errors
/// 400 without a usable Host header.
pub async fn docs(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let page = render(&document_for(&state, &headers)?);
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'"),
            ),
        ],
        page,
    )
        .into_response())
}

const CSS: &str = r"
body { font-family: system-ui, 'DejaVu Sans', sans-serif; margin: 0; color: #1a1a1a; line-height: 1.45; }
header { background: #1c2b4a; color: #fff; padding: 14px 24px; }
header a { color: #cfe0ff; }
main { display: grid; grid-template-columns: 280px 1fr; }
nav { border-right: 1px solid #d0d4da; padding: 12px 16px; font-size: 13px; position: sticky; top: 0;
  max-height: 100vh; overflow-y: auto; }
nav h3 { margin: 14px 0 4px; font-size: 13px; text-transform: uppercase; color: #5c5c5c; }
nav a { display: block; color: #1a1a1a; text-decoration: none; padding: 1px 0; }
article { padding: 8px 28px 40px; max-width: 1000px; }
section.op { border-top: 1px solid #d0d4da; padding: 10px 0 14px; }
h2 { border-bottom: 2px solid #1c2b4a; margin-top: 28px; }
.m { display: inline-block; min-width: 58px; font: bold 12px monospace; padding: 2px 6px; border-radius: 3px;
  color: #fff; text-align: center; margin-right: 6px; }
.get { background: #2b6cb0; } .post { background: #2f855a; } .put { background: #b7791f; }
.patch { background: #6b46c1; } .delete { background: #c53030; }
code, pre { font-family: 'DejaVu Sans Mono', monospace; font-size: 12.5px; }
pre { background: #f4f5f7; padding: 8px; overflow-x: auto; max-height: 360px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0; }
th, td { text-align: left; vertical-align: top; padding: 3px 6px; border-bottom: 1px solid #e2e4e8; }
th { background: #eef0f3; }
.role { font-size: 12px; color: #7a4b00; }
";

/// Markdown's inline code and bold, the only marks the descriptions use, over escaped text.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(text).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            for (j, p) in part.split("**").enumerate() {
                if j % 2 == 1 {
                    let _ = write!(out, "<strong>{p}</strong>");
                } else {
                    out.push_str(p);
                }
            }
        }
    }
    out
}

fn paragraphs(text: &str) -> String {
    text.split("\n\n").filter(|p| !p.trim().is_empty()).fold(String::new(), |mut out, p| {
        let _ = write!(out, "<p>{}</p>", inline(p));
        out
    })
}

/// A schema in one line: its type, or the component it names.
fn brief(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{0}\">{0}</a>", esc(name));
    }
    let kind = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ => "any".to_owned(),
    };
    let mut out = esc(&kind);
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| format!("<code>{}</code>", esc(&v.to_string()))).collect();
        let _ = write!(out, " ({})", values.join(", "));
    }
    if let (Some(lo), Some(hi)) = (schema["minimum"].as_i64(), schema["maximum"].as_i64()) {
        let _ = write!(out, " {lo}…{hi}");
    }
    if let Some(f) = schema["format"].as_str() {
        let _ = write!(out, " ({})", esc(f));
    }
    out
}

fn pretty(schema: &Value) -> String {
    esc(&serde_json::to_string_pretty(schema).unwrap_or_default())
}

/// The reference page of a document.
fn render(doc: &Value) -> String {
    let mut nav = String::new();
    let mut body = String::new();
    let empty = serde_json::Map::new();
    let paths = doc["paths"].as_object().unwrap_or(&empty);
    for tag in doc["tags"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()) {
        let _ = write!(nav, "<h3>{}</h3>", esc(tag));
        let _ = write!(body, "<h2 id=\"tag-{0}\">{0}</h2>", esc(tag));
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap_or(&empty) {
                if op["tags"][0].as_str() != Some(tag) {
                    continue;
                }
                operation(&mut nav, &mut body, method, path, op);
            }
        }
    }
    let _ = write!(body, "<h2 id=\"schemas\">Schemas</h2>");
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap_or(&empty) {
        let _ = write!(body, "<h3 id=\"schema-{0}\">{0}</h3><pre>{1}</pre>", esc(name), pretty(schema));
    }
    let server = doc["servers"][0]["url"].as_str().unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>vigie API {version}</title><style>{CSS}</style></head>\
         <body><header><strong>vigie API</strong> {version} · <code>{server}</code> · \
         <a href=\"openapi.json\">openapi.json</a></header><main><nav>{nav}<h3><a href=\"#schemas\">Schemas</a></h3></nav>\
         <article>{intro}{body}</article></main></body></html>",
        version = esc(doc["info"]["version"].as_str().unwrap_or_default()),
        server = esc(server),
        intro = paragraphs(doc["info"]["description"].as_str().unwrap_or_default()),
    )
}

fn operation(nav: &mut String, body: &mut String, method: &str, path: &str, op: &Value) {
    let id = esc(op["operationId"].as_str().unwrap_or_default());
    let summary = esc(op["summary"].as_str().unwrap_or_default());
    let _ = write!(nav, "<a href=\"#{id}\"><span class=\"m {method}\">{}</span>{summary}</a>", method.to_uppercase());
    let _ = write!(
        body,
        "<section class=\"op\" id=\"{id}\"><h3><span class=\"m {method}\">{}</span><code>{}</code></h3><p><strong>{summary}</strong></p>{}",
        method.to_uppercase(),
        esc(path),
        paragraphs(op["description"].as_str().unwrap_or_default())
    );
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        body.push_str("<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Meaning</th></tr>");
        for p in params {
            let required = if p["required"] == true { " *" } else { "" };
            let _ = write!(
                body,
                "<tr><td><code>{}</code>{required}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(p["name"].as_str().unwrap_or_default()),
                esc(p["in"].as_str().unwrap_or_default()),
                brief(&p["schema"]),
                inline(p["description"].as_str().unwrap_or_default())
            );
        }
        body.push_str("</table>");
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        for (media, c) in content {
            let _ = write!(
                body,
                "<details><summary>Body: <code>{}</code> — {}</summary><pre>{}</pre></details>",
                esc(media),
                inline(op["requestBody"]["description"].as_str().unwrap_or_default()),
                pretty(&c["schema"])
            );
        }
    }
    body.push_str("<table><tr><th>Status</th><th>Answer</th><th>Body</th></tr>");
    for (status, answer) in op["responses"].as_object().into_iter().flatten() {
        let media: Vec<String> = answer["content"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(m, c)| format!("<code>{}</code> {}", esc(m), brief(&c["schema"])))
            .collect();
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(status),
            inline(answer["description"].as_str().unwrap_or_default()),
            media.join("<br>")
        );
    }
    body.push_str("</table></section>");
}

/// This module's routes, each with its documentation.
pub(super) fn routes(api: &mut Api) {
    api.get(
        "/api/openapi.json",
        openapi,
        Op::new("operations", "This API's OpenAPI 3.1 document")
            .about("Made from the routes as the server registers them, so it cannot drift from what is served.")
            .answers(200, "The document", OPENAPI_JSON, s::any_object())
            .in_section(Section::Documents),
    );
    api.get(
        "/api/docs",
        docs,
        Op::new("operations", "The API reference page").answers(
            200,
            "One HTML page, no script",
            "text/html",
            s::string(),
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_and_links_every_operation() {
        let doc = super::super::api().document();
        let page = render(&doc);
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap();
                assert!(page.contains(&format!("href=\"#{id}\"")), "{id} is not in the page's index");
                assert!(page.contains(&format!("id=\"{id}\"")), "{id} has no section");
            }
        }
        assert!(!page.contains("<script"));
        assert_eq!(inline("a `<b>` **c**"), "a <code>&lt;b&gt;</code> <strong>c</strong>");
    }
}
