//! `GET /styles/{id}.json`: MapLibre styles whose `vigie://` URLs point at this server.

use super::error::ApiError;
use super::{AppState, base_url};
use anyhow::Context;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path as FsPath;

/// Styles bundled in the binary (`styles/` at build time).
pub const BUNDLED: &[(&str, &str)] = &[
    ("hypervision", include_str!("../../../styles/hypervision.json")),
    ("wall", include_str!("../../../styles/wall.json")),
];

/// URL scheme in style documents that stands for this server's base URL.
const SELF_SCHEME: &str = "vigie://";

/// Parsed styles by id.
#[derive(Debug, Clone, Default)]
pub struct Styles(BTreeMap<String, Value>);

impl Styles {
    /// The bundled styles.
    ///
    /// # Errors
    /// When a bundled style is not JSON (a test checks they are).
    pub fn bundled() -> anyhow::Result<Self> {
        BUNDLED
            .iter()
            .map(|(id, text)| {
                Ok(((*id).to_owned(), serde_json::from_str(text).with_context(|| format!("bundled style {id}"))?))
            })
            .collect::<anyhow::Result<_>>()
            .map(Self)
    }

    /// Every `*.json` file of a directory, by file stem.
    ///
    /// # Errors
    /// When the directory cannot be read or a file is not JSON (names the file).
    pub fn from_dir(dir: &FsPath) -> anyhow::Result<Self> {
        let mut styles = BTreeMap::new();
        for entry in
            std::fs::read_dir(dir).with_context(|| format!("cannot read styles directory {}", dir.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json")
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
                let v: Value =
                    serde_json::from_str(&text).with_context(|| format!("style {} is not JSON", path.display()))?;
                styles.insert(stem.to_owned(), v);
            }
        }
        Ok(Self(styles))
    }

    /// Style ids.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// A style with its `vigie://` URLs made absolute against `base`.
    pub fn resolved(&self, id: &str, base: &str) -> Option<Value> {
        let mut v = self.0.get(id)?.clone();
        rewrite(&mut v, &format!("{base}/"));
        Some(v)
    }
}

fn rewrite(v: &mut Value, base: &str) {
    match v {
        Value::String(s) => {
            if let Some(rest) = s.strip_prefix(SELF_SCHEME) {
                *s = format!("{base}{rest}");
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, base)),
        Value::Object(o) => o.values_mut().for_each(|x| rewrite(x, base)),
        _ => {}
    }
}

/// The style handler (`/styles/hypervision.json`; the `.json` suffix is optional).
///
/// # Errors
/// 404 naming the known styles; 400 without a usable Host header.
pub async fn style(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let id = file.strip_suffix(".json").unwrap_or(&file);
    let base = base_url(&state, &headers)?;
    state.styles.resolved(id, &base).map(Json).ok_or_else(|| {
        let known: Vec<&str> = state.styles.ids().collect();
        ApiError::NotFound(format!("unknown style '{id}'; styles: {}", known.join(", ")))
    })
}
