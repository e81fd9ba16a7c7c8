//! The HTTP API described as it is routed. Every route is registered through [`Api`] with its
//! [`Op`] (summary, parameters, body, answers), so the OpenAPI 3.1 document served at
//! `/api/openapi.json` and the reference page at `/api/docs` come from the same calls that build
//! the router: a route cannot exist undocumented, nor a documented one unrouted.
//!
//! Who may call an operation is not repeated here: it comes from [`super::access::RULES`]. The
//! error answers every operation can give (problem+json) are added from its method, path and
//! rule: 401 and 403 where a role is needed, 404 where the path names something, 408, 413, 429
//! and 507 for writes, 500 and 503 everywhere. An operation adds its own with [`Op::fails`].

use super::AppState;
use super::access::Need;
use super::error::PROBLEM_JSON;
use axum::Router;
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::routing::MethodRouter;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Which group of the router a route belongs to: the groups differ by body limit and compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// JSON and other documents: the configured body limit, compressed answers.
    Documents,
    /// Photo uploads: their own body limit, answers not compressed.
    Attachments,
    /// Dataset uploads: streamed to disk under the import limit.
    Imports,
    /// Tiles (they negotiate gzip themselves) and health.
    Bare,
}

/// One operation's documentation: built with its methods, given to [`Api`] with the handler.
#[derive(Debug, Clone)]
pub struct Op {
    tag: &'static str,
    summary: &'static str,
    description: Option<&'static str>,
    params: Vec<Value>,
    body: Option<Value>,
    answers: BTreeMap<u16, Value>,
    fails: Vec<u16>,
    section: Section,
}

impl Op {
    /// An operation of group `tag` doing `summary` (a short line).
    #[must_use]
    pub fn new(tag: &'static str, summary: &'static str) -> Self {
        Self {
            tag,
            summary,
            description: None,
            params: Vec::new(),
            body: None,
            answers: BTreeMap::new(),
            fails: Vec::new(),
            section: Section::Documents,
        }
    }

    /// What the operation does, in a paragraph or more (Markdown).
    #[must_use]
    pub fn about(mut self, text: &'static str) -> Self {
        self.description = Some(text);
        self
    }

    fn param(mut self, name: &str, place: &str, required: bool, schema: Value, text: &str) -> Self {
        let mut p = json!({"name": name, "in": place, "required": required, "description": text});
        p["schema"] = schema;
        self.params.push(p);
        self
    }

    /// A path parameter (every `{name}` of the route must have one).
    #[must_use]
    pub fn path(self, name: &str, schema: Value, text: &str) -> Self {
        self.param(name, "path", true, schema, text)
    }

    /// An optional query parameter.
    #[must_use]
    pub fn query(self, name: &str, schema: Value, text: &str) -> Self {
        self.param(name, "query", false, schema, text)
    }

    /// A required query parameter.
    #[must_use]
    pub fn query_required(self, name: &str, schema: Value, text: &str) -> Self {
        self.param(name, "query", true, schema, text)
    }

    /// An optional request header.
    #[must_use]
    pub fn header(self, name: &str, schema: Value, text: &str) -> Self {
        self.param(name, "header", false, schema, text)
    }

    /// A required request header (its absence is refused, e.g. 428 without `If-Match`).
    #[must_use]
    pub fn header_required(self, name: &str, schema: Value, text: &str) -> Self {
        self.param(name, "header", true, schema, text)
    }

    /// Parameters several operations share (the log's filters, say).
    #[must_use]
    pub fn with(self, group: impl FnOnce(Self) -> Self) -> Self {
        group(self)
    }

    /// The request body, of media type `media` (called again, another media type it takes).
    #[must_use]
    pub fn body(mut self, media: &str, schema: Value, text: &str) -> Self {
        let body = self.body.get_or_insert_with(|| json!({"required": true, "description": text, "content": {}}));
        body["content"][media]["schema"] = schema;
        self
    }

    /// The body may be left out (an empty body takes every default).
    #[must_use]
    pub fn body_optional(mut self) -> Self {
        if let Some(body) = &mut self.body {
            body["required"] = json!(false);
        }
        self
    }

    /// A JSON request body.
    #[must_use]
    pub fn json_body(self, schema: Value, text: &str) -> Self {
        self.body("application/json", schema, text)
    }

    /// An answer with a body of media type `media`.
    #[must_use]
    pub fn answers(mut self, status: u16, text: &str, media: &str, schema: Value) -> Self {
        let content = self.answers.entry(status).or_insert_with(|| json!({"description": text, "content": {}}));
        content["content"][media]["schema"] = schema;
        self
    }

    /// A JSON answer.
    #[must_use]
    pub fn json(self, status: u16, text: &str, schema: Value) -> Self {
        self.answers(status, text, "application/json", schema)
    }

    /// An answer without a body (204, 304).
    #[must_use]
    pub fn empty(mut self, status: u16, text: &str) -> Self {
        self.answers.insert(status, json!({"description": text}));
        self
    }

    /// A header an answer of `status` carries (declared after that answer).
    #[must_use]
    pub fn answer_header(mut self, status: u16, name: &str, schema: Value, text: &str) -> Self {
        if let Some(a) = self.answers.get_mut(&status) {
            a["headers"][name] = json!({"description": text});
            a["headers"][name]["schema"] = schema;
        }
        self
    }

    /// Error answers (problem+json) beyond those every operation of its kind can give.
    #[must_use]
    pub fn fails(mut self, statuses: &[u16]) -> Self {
        self.fails.extend_from_slice(statuses);
        self
    }

    /// The router group the route belongs to (default [`Section::Documents`]).
    #[must_use]
    pub fn in_section(mut self, section: Section) -> Self {
        self.section = section;
        self
    }
}

/// The routes of one workspace, and their documentation.
#[derive(Default)]
pub struct Api {
    documents: Router<AppState>,
    attachments: Router<AppState>,
    imports: Router<AppState>,
    bare: Router<AppState>,
    ops: Vec<(Method, &'static str, Op)>,
    components: Map<String, Value>,
}

macro_rules! method {
    ($($(#[$doc:meta])* $name:ident => $method:ident, $routing:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name<H, T>(&mut self, path: &'static str, handler: H, op: Op)
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.add(Method::$method, path, axum::routing::$routing(handler), op);
        }
    )*};
}

impl Api {
    method! {
        /// Routes and documents `GET path`.
        get => GET, get;
        /// Routes and documents `POST path`.
        post => POST, post;
        /// Routes and documents `PUT path`.
        put => PUT, put;
        /// Routes and documents `PATCH path`.
        patch => PATCH, patch;
        /// Routes and documents `DELETE path`.
        delete => DELETE, delete;
    }

    fn add(&mut self, method: Method, path: &'static str, route: MethodRouter<AppState>, op: Op) {
        let router = match op.section {
            Section::Documents => &mut self.documents,
            Section::Attachments => &mut self.attachments,
            Section::Imports => &mut self.imports,
            Section::Bare => &mut self.bare,
        };
        *router = std::mem::take(router).route(path, route);
        self.ops.push((method, path, op));
    }

    /// Documents a route the workspace router does not hold (the process's probes).
    pub fn document_only(&mut self, method: Method, path: &'static str, op: Op) {
        self.ops.push((method, path, op));
    }

    /// A named schema the operations refer to with [`schema::named`].
    pub fn component(&mut self, name: &str, schema: Value) {
        self.components.insert(name.to_owned(), schema);
    }

    /// The four router groups: documents, attachments, imports, bare.
    pub fn into_routers(self) -> [Router<AppState>; 4] {
        [self.documents, self.attachments, self.imports, self.bare]
    }

    /// The OpenAPI 3.1 document, without `servers` (the asker's base URL is added per request).
    ///
    /// # Panics
    /// When an operation lacks the documentation of one of its path's `{parameters}`, or a
    /// route has no access rule: both are programming errors a unit test catches.
    #[must_use]
    pub fn document(&self) -> Value {
        let mut paths: Map<String, Value> = Map::new();
        let mut tags: Vec<&str> = Vec::new();
        for (method, path, op) in &self.ops {
            if !tags.contains(&op.tag) {
                tags.push(op.tag);
            }
            // OpenAPI has no catch-all: axum's `{*rest}` is written `{rest}`.
            let item = paths.entry(path.replace("{*", "{")).or_insert_with(|| json!({}));
            item[method.as_str().to_ascii_lowercase()] = operation(method, path, op);
        }
        let mut schemas = self.components.clone();
        schemas.insert("Problem".into(), problem_schema());
        json!({
            "openapi": "3.1.0",
            "info": {
                "title": "vigie",
                "version": env!("CARGO_PKG_VERSION"),
                "summary": "Map layers for crisis rooms: the operations log, vector tiles, regions, H3, situation reports and staffing.",
                "description": "Every error is `application/problem+json` (RFC 9457) with a `detail` saying what to fix. \
                    Workspaces other than the primary one are addressed under `/w/{workspace}`: the same operations, \
                    whose server URL this document gives. Writes are counted per identity (`writes_per_second`).",
                "license": {"name": "EUPL-1.2", "identifier": "EUPL-1.2"},
            },
            "tags": tags.iter().map(|t| json!({"name": t})).collect::<Vec<_>>(),
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer", "description": "An API token (`vigie token create`, `POST /api/tokens`)."},
                    "session": {"type": "apiKey", "in": "cookie", "name": crate::identity::SESSION_COOKIE, "description": "A signed-in browser's session (`POST /api/session`); writes also need the `X-CSRF-Token` header."},
                },
            },
        })
    }

    /// The operations as registered: method and route template.
    pub fn routes(&self) -> impl Iterator<Item = (&Method, &'static str)> {
        self.ops.iter().map(|(m, p, _)| (m, *p))
    }
}

/// The names of `{parameters}` in a route template (`{*rest}` gives `rest`).
fn template_params(path: &str) -> Vec<&str> {
    path.split('{').skip(1).filter_map(|s| s.split_once('}')).map(|(name, _)| name.trim_start_matches('*')).collect()
}

fn operation(method: &Method, path: &str, op: &Op) -> Value {
    for name in template_params(path) {
        assert!(
            op.params.iter().any(|p| p["in"] == "path" && p["name"] == name),
            "{method} {path}: path parameter {{{name}}} is not documented"
        );
    }
    let rule = super::access::rule_for(method, path)
        .unwrap_or_else(|| panic!("{method} {path} has no rule in http::access::RULES"));
    let writes = matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    let mut fails: Vec<u16> = vec![500, 503];
    if let Need::Role(_) = rule.need {
        fails.extend([401, 403]);
    }
    if path.contains('{') {
        fails.push(404);
    }
    // A typed path parameter that does not parse, a bad query or body.
    if !op.params.is_empty() || op.body.is_some() {
        fails.push(400);
    }
    if op.body.is_some() {
        fails.push(415);
    }
    if writes {
        fails.extend([408, 413, 429, 507]);
    }
    fails.extend(&op.fails);
    let mut answers = op.answers.clone();
    for status in fails {
        answers.entry(status).or_insert_with(|| problem_answer(status));
    }
    let mut description = op.description.unwrap_or_default().to_owned();
    let (security, role) = match rule.need {
        Need::Public => (json!([{}]), None),
        Need::Role(role) => (json!([{"bearer": []}, {"session": []}]), Some(role)),
    };
    if let Some(role) = role {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        let _ = write!(description, "Needs the **{role}** role in the workspace.");
    }
    let id: String = format!("{}{}", method.as_str().to_ascii_lowercase(), path)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    let mut o = json!({
        "operationId": id,
        "tags": [op.tag],
        "summary": op.summary,
        "parameters": op.params,
        "responses": answers.into_iter().map(|(s, a)| (s.to_string(), a)).collect::<Map<_, _>>(),
        "security": security,
    });
    if !description.is_empty() {
        o["description"] = json!(description);
    }
    if let Some(role) = role {
        o["x-vigie-role"] = json!(role.to_string());
    }
    if let Some(body) = &op.body {
        o["requestBody"] = body.clone();
    }
    o
}

fn problem_answer(status: u16) -> Value {
    let reason = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let text = match status {
        400 => "A parameter or the body is malformed; `detail` names it",
        401 => "No credential, or an invalid one",
        403 => "The identity lacks the role, the territory or the origin this needs",
        404 => "Nothing by that name (or it lies outside the asker's territory)",
        408 => "The body stalled (`body_read_timeout_ms`)",
        413 => "The body or the answer is over its limit; `detail` names it",
        422 => "Well-formed but invalid fields; `errors` lists each",
        429 => "Over a limit per identity; wait `Retry-After` seconds",
        500 => "An internal error (logged)",
        503 => "Starting, too busy or the database is unavailable; ask again after `Retry-After`",
        507 => "The database's disk is full: nothing was written",
        _ => reason,
    };
    let mut a = json!({
        "description": text,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    });
    if matches!(status, 429 | 503) {
        a["headers"] = json!({"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before asking again"}});
    }
    a
}

fn problem_schema() -> Value {
    json!({
        "type": "object",
        "description": "An error (RFC 9457).",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "What was wrong and what to do"},
            "errors": {
                "type": "array",
                "description": "Each invalid field (422)",
                "items": {
                    "type": "object",
                    "required": ["field", "reason"],
                    "properties": {
                        "field": {"type": "string"},
                        "value": {"type": ["string", "null"]},
                        "reason": {"type": "string"},
                    },
                },
            },
        },
    })
}

/// Schema builders, so operations read as what they take and give.
pub mod schema {
    use serde_json::{Value, json};

    /// Any JSON value.
    #[must_use]
    pub fn any() -> Value {
        json!({})
    }
    /// A string.
    #[must_use]
    pub fn string() -> Value {
        json!({"type": "string"})
    }
    /// A string of at most `max` characters.
    #[must_use]
    pub fn text(max: u64) -> Value {
        json!({"type": "string", "maxLength": max})
    }
    /// A string matching `regex`.
    #[must_use]
    pub fn pattern(regex: &str) -> Value {
        json!({"type": "string", "pattern": regex})
    }
    /// One of these strings.
    #[must_use]
    pub fn one_of(values: &[&str]) -> Value {
        json!({"type": "string", "enum": values})
    }
    /// An RFC 3339 date-time.
    #[must_use]
    pub fn date_time() -> Value {
        json!({"type": "string", "format": "date-time"})
    }
    /// A string or null.
    #[must_use]
    pub fn nullable(mut s: Value) -> Value {
        if let Some(t) = s.get("type").cloned() {
            s["type"] = match t {
                Value::Array(mut a) => {
                    a.push(json!("null"));
                    Value::Array(a)
                }
                t => json!([t, "null"]),
            };
            s
        } else {
            json!({"anyOf": [s, {"type": "null"}]})
        }
    }
    /// An integer.
    #[must_use]
    pub fn int() -> Value {
        json!({"type": "integer"})
    }
    /// An integer from `lo` to `hi`.
    #[must_use]
    pub fn int_in(lo: i64, hi: i64) -> Value {
        json!({"type": "integer", "minimum": lo, "maximum": hi})
    }
    /// A number.
    #[must_use]
    pub fn number() -> Value {
        json!({"type": "number"})
    }
    /// A boolean.
    #[must_use]
    pub fn boolean() -> Value {
        json!({"type": "boolean"})
    }
    /// An array of `item`.
    #[must_use]
    pub fn array(item: Value) -> Value {
        let mut s = json!({"type": "array"});
        s["items"] = item;
        s
    }
    /// An object with these properties, of which `required` must be there (others may be).
    #[must_use]
    pub fn object(properties: &[(&str, Value)], required: &[&str]) -> Value {
        let props: serde_json::Map<String, Value> =
            properties.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        json!({"type": "object", "properties": props, "required": required})
    }
    /// An object whose values are all `value`.
    #[must_use]
    pub fn map_of(value: Value) -> Value {
        let mut s = json!({"type": "object"});
        s["additionalProperties"] = value;
        s
    }
    /// Any object.
    #[must_use]
    pub fn any_object() -> Value {
        json!({"type": "object"})
    }
    /// A schema of the document's components.
    #[must_use]
    pub fn named(name: &str) -> Value {
        json!({"$ref": format!("#/components/schemas/{name}")})
    }
    /// Bytes (an image, a tile, an archive).
    #[must_use]
    pub fn binary() -> Value {
        json!({"type": "string", "contentMediaType": "application/octet-stream"})
    }
    /// The JSON Schema of a Rust type that derives it.
    #[must_use]
    pub fn of<T: schemars::JsonSchema>() -> Value {
        let mut s = schemars::SchemaGenerator::new(schemars::generate::SchemaSettings::draft2020_12())
            .into_root_schema_for::<T>()
            .to_value();
        if let Some(o) = s.as_object_mut() {
            o.remove("$schema");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_documented_and_every_route_has_a_rule() {
        // document() panics on a route without a rule or an undocumented path parameter.
        let doc = crate::http::api().document();
        for r in super::super::access::RULES {
            let method = r.method.as_str().to_ascii_lowercase();
            assert!(
                doc["paths"][&r.path.replace("{*", "{")][&method].is_object(),
                "{} {} has a rule but is not routed",
                r.method,
                r.path
            );
        }
        let ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .map(|op| op["operationId"].as_str().unwrap())
            .collect();
        let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "operation ids repeat");
    }

    #[test]
    fn template_params_are_found() {
        assert_eq!(template_params("/tiles/{layers}/{z}/{x}/{y}"), ["layers", "z", "x", "y"]);
        assert_eq!(template_params("/web/{*path}"), ["path"]);
        assert!(template_params("/api/entries").is_empty());
    }

    #[test]
    #[should_panic(expected = "path parameter {id} is not documented")]
    fn an_undocumented_path_parameter_is_refused() {
        let _ = operation(&Method::GET, "/api/entries/{id}", &Op::new("log", "One entry"));
    }

    #[test]
    fn errors_follow_the_method_path_and_rule() {
        let op = Op::new("log", "Change an entry").path("id", schema::int(), "The entry").json(
            200,
            "Changed",
            schema::any(),
        );
        let o = operation(&Method::PATCH, "/api/entries/{id}", &op);
        let statuses: Vec<&str> = o["responses"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(statuses, ["200", "400", "401", "403", "404", "408", "413", "429", "500", "503", "507"]);
        assert_eq!(o["operationId"], "patch_api_entries_id");
        assert_eq!(o["x-vigie-role"], "contributor");
        let public =
            operation(&Method::GET, "/health", &Op::new("operations", "Health").json(200, "ok", schema::any()));
        assert!(public["responses"].get("401").is_none());
        assert_eq!(public["security"], json!([{}]));
    }
}
