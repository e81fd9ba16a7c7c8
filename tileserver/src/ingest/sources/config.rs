//! The sources file's schema and its validation: `[defaults]` and `[[source]]` entries as
//! written ([`Defaults`], [`SourceDef`]), resolved against the catalog into [`Source`]s, with
//! every problem of each entry named ([`Checked`]). What `vigie sources check` runs.
//!
//! Owns no state and performs no I/O beyond reading the sources file (and, on request, checking
//! that local files exist). Imports nothing of the crate: only the engine's catalog and readers.

use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use vigie_layers::catalog::LayerKind;
use vigie_layers::dataset::Mapping;
use vigie_layers::readers::{Crs, CsvOptions, Format};
use vigie_layers::{Catalog, LayerDef};

/// Default refresh interval, seconds.
pub const DEFAULT_REFRESH_S: u64 = 3600;
/// Default HTTP timeout (whole request, body included), seconds.
pub const DEFAULT_TIMEOUT_S: u64 = 60;
/// Default largest body downloaded, bytes (512 MiB).
pub const DEFAULT_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// Default number of refreshes running at once.
pub const DEFAULT_CONCURRENCY: usize = 2;

/// `[defaults]`: values for entries that do not set them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Refresh interval, seconds (0: only once, at start).
    pub refresh_s: Option<u64>,
    /// HTTP timeout, seconds.
    pub timeout_s: Option<u64>,
    /// Largest download, bytes.
    pub max_bytes: Option<u64>,
    /// Refreshes running at once.
    pub concurrency: Option<usize>,
}

/// One `[[source]]` entry, as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDef {
    /// Identifier (a-z, 0-9, '-', '_'), unique in the file.
    pub id: String,
    /// What it is.
    pub title: String,
    /// Who publishes it.
    pub owner: String,
    /// Its licence.
    pub licence: String,
    /// The catalog layer (of kind `dataset`) it feeds.
    pub layer: String,
    /// `geojson`, `csv`, `flatgeobuf`, `gpkg`, `shapefile`, `kml`, `kmz`; default: from the file
    /// extension (or, for a URL, the Content-Type).
    #[serde(default)]
    pub format: Option<String>,
    /// A local file or folder (relative to the sources file).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// An http(s) URL.
    #[serde(default)]
    pub url: Option<String>,
    /// The source's CRS when the file does not say (or says wrong): `EPSG:2154`…
    #[serde(default)]
    pub crs: Option<String>,
    /// Refresh interval, seconds (0: only at start).
    #[serde(default)]
    pub refresh_s: Option<u64>,
    /// HTTP timeout, seconds.
    #[serde(default)]
    pub timeout_s: Option<u64>,
    /// Largest download, bytes.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Import the valid records and report the others (default: reject the whole file).
    #[serde(default)]
    pub skip_invalid: bool,
    /// GeoPackage feature table, when the file holds several.
    #[serde(default)]
    pub table: Option<String>,
    /// Field mapping (id, title, time, tags, severity, value maps).
    #[serde(default)]
    pub mapping: Mapping,
    /// CSV geometry columns and delimiter.
    #[serde(default)]
    pub csv: CsvOptions,
}

/// A source checked and resolved against the catalog.
#[derive(Debug, Clone)]
pub struct Source {
    /// The entry.
    pub def: SourceDef,
    /// Its layer.
    pub layer: LayerDef,
    /// Where it is.
    pub location: Location,
    /// Its format, when known before fetching.
    pub format: Option<Format>,
    /// Its CRS, when given.
    pub crs: Option<Crs>,
    /// Refresh interval (0: once).
    pub refresh_s: u64,
    /// HTTP timeout.
    pub timeout_s: u64,
    /// Largest download.
    pub max_bytes: u64,
}

/// Where a source is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local file or folder (absolute, or relative to the working directory).
    Path(PathBuf),
    /// An http(s) URL.
    Url(String),
}

impl Location {
    /// For logs and `/api/sources`: the path, or the URL without credentials.
    pub fn shown(&self) -> String {
        match self {
            Self::Path(p) => p.display().to_string(),
            Self::Url(u) => redact(u),
        }
    }
}

/// A URL with any `user:password@` replaced by `***@`.
pub(super) fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(a)) if a > s && !url[s + 3..a].contains('/') => {
            format!("{}***@{}", &url[..s + 3], &url[a + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The result of checking a sources file: the usable sources, and what is wrong with each of
/// the others (and with the file).
#[derive(Debug, Default)]
pub struct Checked {
    /// Entries that can run.
    pub sources: Vec<Source>,
    /// `(entry id or "#N", problems)` for each entry that cannot run.
    pub invalid: Vec<(String, Vec<String>)>,
    /// Problems of the file itself (unknown top-level keys, `[defaults]`).
    pub file: Vec<String>,
    /// Refreshes at once.
    pub concurrency: usize,
}

impl Checked {
    /// Whether anything is wrong.
    pub fn has_problems(&self) -> bool {
        !self.invalid.is_empty() || !self.file.is_empty()
    }
}

/// Why a sources file cannot be checked at all (its entries' problems are in [`Checked`]).
#[derive(Debug, thiserror::Error)]
pub enum SourcesFileError {
    /// The file cannot be read.
    #[error("cannot read sources file {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML (the message names the line).
    #[error("sources file {path}: {source}")]
    Syntax {
        /// The file.
        path: String,
        /// Where and why.
        #[source]
        source: toml::de::Error,
    },
}

/// Reads and checks a sources file against a catalog. Relative paths are resolved against the
/// file's folder. `check_files` also checks that local files exist (what `vigie sources check`
/// does; the server treats a missing file as a failed run, retried at the next refresh).
///
/// # Errors
/// [`SourcesFileError`] when the file cannot be read or is not TOML (naming the file and the
/// line).
pub fn load(path: &Path, catalog: &Catalog, check_files: bool) -> Result<Checked, SourcesFileError> {
    let shown = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|source| SourcesFileError::Read { path: shown.clone(), source })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    check(&text, &base, catalog, check_files).map_err(|source| SourcesFileError::Syntax { path: shown, source })
}

/// Checks the text of a sources file; see [`load`].
///
/// # Errors
/// When the text is not TOML (the error names the line).
pub fn check(text: &str, base: &Path, catalog: &Catalog, check_files: bool) -> Result<Checked, toml::de::Error> {
    let table: toml::Table = toml::from_str(text)?;
    let mut out = Checked::default();
    let mut defaults = Defaults::default();
    for (key, value) in &table {
        match key.as_str() {
            "defaults" => match value.clone().try_into::<Defaults>() {
                Ok(d) => defaults = d,
                Err(e) => out.file.push(format!("[defaults]: {}", one_line(&e.to_string()))),
            },
            "source" => {}
            other => out.file.push(format!("unknown top-level key '{other}' (expected [defaults] and [[source]])")),
        }
    }
    out.concurrency = defaults.concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1);
    let entries = match table.get("source") {
        None => Vec::new(),
        Some(toml::Value::Array(a)) => a.clone(),
        Some(_) => {
            out.file.push("'source' must be an array of tables: write each entry as [[source]]".into());
            Vec::new()
        }
    };
    let mut ids = HashSet::new();
    let mut datasets: HashMap<String, String> = HashMap::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let label = entry.get("id").and_then(toml::Value::as_str).map_or_else(|| format!("#{}", i + 1), str::to_owned);
        let def: SourceDef = match entry.try_into() {
            Ok(d) => d,
            Err(e) => {
                out.invalid.push((label, vec![one_line(&e.to_string())]));
                continue;
            }
        };
        match check_entry(&def, &defaults, base, catalog, check_files) {
            Ok(source) => {
                let mut problems = Vec::new();
                if !ids.insert(def.id.clone()) {
                    problems.push(format!("id '{}' is used by an earlier entry", def.id));
                }
                let dataset = source.layer.dataset.clone().unwrap_or_default();
                if let Some(other) = datasets.insert(dataset.clone(), def.id.clone()) {
                    problems.push(format!(
                        "dataset '{dataset}' (layer '{}') is already fed by source '{other}': one source per dataset, each refresh replaces it",
                        def.layer
                    ));
                }
                if problems.is_empty() {
                    out.sources.push(source);
                } else {
                    out.invalid.push((label, problems));
                }
            }
            Err(problems) => {
                ids.insert(def.id.clone());
                out.invalid.push((label, problems));
            }
        }
    }
    Ok(out)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks one entry; returns every problem found.
fn check_entry(
    def: &SourceDef,
    defaults: &Defaults,
    base: &Path,
    catalog: &Catalog,
    check_files: bool,
) -> Result<Source, Vec<String>> {
    let mut problems = Vec::new();
    if def.id.is_empty()
        || def.id.len() > 64
        || !def.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        problems.push(format!("id '{}' must be 1 to 64 characters among a-z, 0-9, '-' and '_'", def.id));
    }
    for (name, value) in [("title", &def.title), ("owner", &def.owner), ("licence", &def.licence)] {
        if value.trim().is_empty() {
            problems.push(format!("{name} is empty"));
        }
    }
    let layer = match catalog.layer(&def.layer) {
        None => {
            problems.push(format!("layer '{}' is not in the catalog", def.layer));
            None
        }
        Some(l) if l.kind != LayerKind::Dataset || l.dataset.is_none() => {
            problems.push(format!("layer '{}' is not a dataset layer (kind = \"dataset\")", def.layer));
            None
        }
        Some(l) => Some(l.clone()),
    };
    let location = match (&def.path, &def.url) {
        (Some(_), Some(_)) => {
            problems.push("give either path or url, not both".into());
            None
        }
        (None, None) => {
            problems.push("give the path of a local file or folder, or an http(s) url".into());
            None
        }
        (Some(p), None) => {
            let full = if p.is_absolute() { p.clone() } else { base.join(p) };
            if check_files && !full.exists() {
                problems.push(format!("file {} does not exist", full.display()));
            }
            Some(Location::Path(full))
        }
        (None, Some(u)) => match check_url(u) {
            Ok(()) => Some(Location::Url(u.clone())),
            Err(e) => {
                problems.push(e);
                None
            }
        },
    };
    let format = match &def.format {
        Some(f) => Format::from_name(f).or_else(|| {
            let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
            problems.push(format!("unsupported format '{f}': expected one of {}", names.join(", ")));
            None
        }),
        None => match &location {
            Some(Location::Path(p)) if p.is_dir() => None,
            Some(Location::Path(p)) => Format::from_path(p).or_else(|| {
                problems
                    .push(format!("cannot tell the format of {} from its extension: give format = \"…\"", p.display()));
                None
            }),
            // A URL may say its format by Content-Type.
            Some(Location::Url(u)) => url_format(u),
            None => None,
        },
    };
    let crs = def.crs.as_deref().and_then(|c| Crs::parse(c).map_err(|e| problems.push(format!("crs: {e}"))).ok());
    let timeout_s = def.timeout_s.or(defaults.timeout_s).unwrap_or(DEFAULT_TIMEOUT_S);
    if !(1..=3600).contains(&timeout_s) {
        problems.push(format!("timeout_s = {timeout_s}: expected 1 to 3600"));
    }
    let max_bytes = def.max_bytes.or(defaults.max_bytes).unwrap_or(DEFAULT_MAX_BYTES);
    if max_bytes == 0 {
        problems.push("max_bytes must be positive".into());
    }
    match (problems.is_empty(), layer, location) {
        (true, Some(layer), Some(location)) => Ok(Source {
            def: def.clone(),
            layer,
            location,
            format,
            crs,
            refresh_s: def.refresh_s.or(defaults.refresh_s).unwrap_or(DEFAULT_REFRESH_S),
            timeout_s,
            max_bytes,
        }),
        _ => Err(problems),
    }
}

fn check_url(u: &str) -> Result<(), String> {
    let uri: ureq::http::Uri = u.parse().map_err(|e| format!("url '{}' is not a URL: {e}", redact(u)))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("url '{}' must start with http:// or https://", redact(u))),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("url '{}' has no host", redact(u)));
    }
    Ok(())
}

pub(super) fn url_format(u: &str) -> Option<Format> {
    let path = u.split(['?', '#']).next().unwrap_or(u);
    Format::from_path(Path::new(path.rsplit('/').next().unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::bundled()
    }

    #[test]
    fn every_entry_says_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dep.geojson"), "{}").unwrap();
        let text = r#"
            colour = "red"
            [defaults]
            refresh_s = 600
            [[source]]
            id = "ok"
            title = "Départements"
            owner = "IGN"
            licence = "Licence Ouverte 2.0"
            layer = "departements"
            path = "dep.geojson"
            [source.mapping]
            title = "nom"
            [[source]]
            id = "typo"
            title = "t"
            owner = "o"
            licence = "l"
            layer = "departements"
            path = "dep.geojson"
            refresh = 60
            [[source]]
            id = "Bad Id"
            title = "t"
            owner = "o"
            licence = "l"
            layer = "nowhere"
            url = "ftp://example.org/x.geojson"
            format = "xlsx"
            crs = "EPSG:99999"
            [[source]]
            id = "missing"
            title = "t"
            owner = "o"
            licence = "l"
            layer = "venues"
            path = "nope.csv"
            [[source]]
            id = "again"
            title = "t"
            owner = "o"
            licence = "l"
            layer = "departements"
            url = "https://user:secret@example.org/data"
        "#;
        let c = check(text, dir.path(), &catalog(), true).unwrap();
        assert_eq!(c.file, ["unknown top-level key 'colour' (expected [defaults] and [[source]])"]);
        assert_eq!(c.sources.len(), 1);
        assert_eq!(c.sources[0].refresh_s, 600);
        assert_eq!(c.sources[0].def.mapping.title.as_deref(), Some("nom"));
        let by_id: HashMap<&str, String> = c.invalid.iter().map(|(id, p)| (id.as_str(), p.join(" | "))).collect();
        assert!(by_id["typo"].contains("unknown field `refresh`"), "{by_id:?}");
        let bad = &by_id["Bad Id"];
        for needle in [
            "id 'Bad Id'",
            "layer 'nowhere' is not in the catalog",
            "ftp://",
            "unsupported format 'xlsx'",
            "EPSG:99999",
        ] {
            assert!(bad.contains(needle), "{needle}: {bad}");
        }
        assert!(by_id["missing"].contains("is not a dataset layer") && by_id["missing"].contains("does not exist"));
        assert!(by_id["again"].contains("already fed by source 'ok'"), "{by_id:?}");
        assert!(!by_id["again"].contains("secret"));
    }

    #[test]
    fn credentials_never_show() {
        assert_eq!(redact("https://u:p@host/x?y"), "https://***@host/x?y");
        assert_eq!(redact("https://host/a@b"), "https://host/a@b");
        assert_eq!(url_format("https://h/x/data.csv?token=1"), Some(Format::Csv));
        assert_eq!(url_format("https://h/api/records"), None);
    }
}
