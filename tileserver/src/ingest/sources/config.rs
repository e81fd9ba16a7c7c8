//! The sources file's schema and its validation: `[defaults]` and `[[source]]` entries as
//! written ([`Defaults`], [`SourceDef`]), resolved against the catalog into [`Source`]s, with
//! every problem of each entry named ([`Checked`]). What `vigie sources check` runs.
//!
//! Owns no state and performs no I/O beyond reading the sources file (and, on request, checking
//! that local files exist). Imports nothing of the crate: only the engine's catalog and readers.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
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

/// Where a source is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The operator's sources file (`sources` in the configuration), trusted.
    File,
    /// The workspace's stored sources, edited by its admins (`PUT /api/sources/config`).
    Workspace,
}

/// What the entries of a sources document may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The operator's sources file: paths absolute or relative to `base` (the file's folder),
    /// any http(s) URL.
    File {
        /// The sources file's folder.
        base: PathBuf,
    },
    /// A workspace's stored sources: paths relative to `root` that stay inside it (links
    /// included, checked when read), and URLs of public addresses unless `private_urls`.
    Workspace {
        /// The workspace's sources folder.
        root: PathBuf,
        /// Whether loopback, private and link-local addresses may be fetched.
        private_urls: bool,
    },
}

impl Reach {
    /// The origin of the sources it bounds.
    pub fn origin(&self) -> Origin {
        match self {
            Self::File { .. } => Origin::File,
            Self::Workspace { .. } => Origin::Workspace,
        }
    }
}

/// A source checked and resolved against the catalog.
#[derive(Debug, Clone)]
pub struct Source {
    /// The entry.
    pub def: SourceDef,
    /// Where it is defined.
    pub origin: Origin,
    /// A stored source's folder: its files must resolve inside it (checked at every run, so a
    /// link added later cannot lead outside).
    pub confined_to: Option<PathBuf>,
    /// Whether its URL may reach loopback, private and link-local addresses.
    pub private_urls: bool,
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

impl Source {
    /// For logs and `/api/sources`: the path (a stored source's as written, relative to its
    /// workspace's folder), or the URL without credentials.
    pub fn shown(&self) -> String {
        match (&self.location, &self.def.path) {
            (Location::Path(_), Some(p)) if self.confined_to.is_some() => p.display().to_string(),
            (location, _) => location.shown(),
        }
    }
}

impl Location {
    /// The path, or the URL without credentials.
    pub fn shown(&self) -> String {
        match self {
            Self::Path(p) => p.display().to_string(),
            Self::Url(u) => redact(u),
        }
    }
}

/// A URL with any `user:password@` replaced by `***@`.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(a)) if a > s && !url[s + 3..a].contains('/') => {
            format!("{}***@{}", &url[..s + 3], &url[a + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The result of checking a sources document (or several, [`Checked::merge`]): the usable
/// sources, and what is wrong with each of the others (and with the document).
#[derive(Debug, Default)]
pub struct Checked {
    /// Entries that can run.
    pub sources: Vec<Source>,
    /// Each entry that cannot run, with its problems.
    pub invalid: Vec<Invalid>,
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

    /// Every problem, one line each, naming the entry (or the document).
    pub fn problems(&self) -> Vec<(String, String)> {
        let doc = self.file.iter().map(|p| ("(document)".to_owned(), p.clone()));
        doc.chain(self.invalid.iter().flat_map(|i| i.problems.iter().map(move |p| (i.id.clone(), p.clone())))).collect()
    }

    /// Both documents' sources (`other` checked with the same [`Claims`] after `self`); the
    /// larger concurrency.
    #[must_use]
    pub fn merge(mut self, other: Self) -> Self {
        self.sources.extend(other.sources);
        self.invalid.extend(other.invalid);
        self.file.extend(other.file);
        self.concurrency = self.concurrency.max(other.concurrency);
        self
    }
}

/// An entry that cannot run.
#[derive(Debug, Clone)]
pub struct Invalid {
    /// Its id, or `#N` (its rank) when it has none.
    pub id: String,
    /// Where it is defined.
    pub origin: Origin,
    /// What is wrong, one line each.
    pub problems: Vec<String>,
}

/// Source ids and datasets taken by the documents checked so far: ids are unique within a
/// workspace, and each dataset is fed by one source (each refresh replaces it).
#[derive(Debug, Default)]
pub struct Claims {
    ids: HashSet<String>,
    datasets: HashMap<String, String>,
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
pub fn load(
    path: &Path,
    catalog: &Catalog,
    check_files: bool,
    claims: &mut Claims,
) -> Result<Checked, SourcesFileError> {
    let shown = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|source| SourcesFileError::Read { path: shown.clone(), source })?;
    let reach = Reach::File { base: path.parent().map(Path::to_path_buf).unwrap_or_default() };
    check(&text, &reach, catalog, check_files, claims)
        .map_err(|source| SourcesFileError::Syntax { path: shown, source })
}

/// Checks the text of a sources document within `reach`; ids and datasets already in `claims`
/// (an earlier document of the workspace) are problems, and the document's are added to it.
/// See [`load`].
///
/// # Errors
/// When the text is not TOML (the error names the line).
pub fn check(
    text: &str,
    reach: &Reach,
    catalog: &Catalog,
    check_files: bool,
    claims: &mut Claims,
) -> Result<Checked, toml::de::Error> {
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
    for (i, entry) in entries.into_iter().enumerate() {
        let label = entry.get("id").and_then(toml::Value::as_str).map_or_else(|| format!("#{}", i + 1), str::to_owned);
        let def: SourceDef = match entry.try_into() {
            Ok(d) => d,
            Err(e) => {
                out.invalid.push(Invalid {
                    id: label,
                    origin: reach.origin(),
                    problems: vec![one_line(&e.to_string())],
                });
                continue;
            }
        };
        match check_entry(&def, &defaults, reach, catalog, check_files) {
            Ok(source) => {
                let mut problems = Vec::new();
                if !claims.ids.insert(def.id.clone()) {
                    problems.push(format!("id '{}' is used by another source of the workspace", def.id));
                }
                let dataset = source.layer.dataset.clone().unwrap_or_default();
                if let Some(other) = claims.datasets.get(&dataset) {
                    problems.push(format!(
                        "dataset '{dataset}' (layer '{}') is already fed by source '{other}': one source per dataset, each refresh replaces it",
                        def.layer
                    ));
                }
                if problems.is_empty() {
                    claims.datasets.insert(dataset, def.id.clone());
                    out.sources.push(source);
                } else {
                    out.invalid.push(Invalid { id: label, origin: reach.origin(), problems });
                }
            }
            Err(problems) => {
                claims.ids.insert(def.id.clone());
                out.invalid.push(Invalid { id: label, origin: reach.origin(), problems });
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
    reach: &Reach,
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
            let full = match reach {
                Reach::File { base } => Some(if p.is_absolute() { p.clone() } else { base.join(p) }),
                Reach::Workspace { root, .. } => confined(root, p).map_err(|e| problems.push(e)).ok(),
            };
            if let Some(full) = &full
                && check_files
                && !full.exists()
            {
                problems.push(format!("file {} does not exist", def.path.as_deref().unwrap_or(full).display()));
            }
            full.map(Location::Path)
        }
        (None, Some(u)) => match check_url(u, reach) {
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
                let shown = def.path.as_deref().unwrap_or(p).display();
                problems.push(format!("cannot tell the format of {shown} from its extension: give format = \"…\""));
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
            origin: reach.origin(),
            confined_to: match reach {
                Reach::Workspace { root, .. } => Some(root.clone()),
                Reach::File { .. } => None,
            },
            private_urls: !matches!(reach, Reach::Workspace { private_urls: false, .. }),
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

/// A stored source's path: relative, without `..`, inside the workspace's folder.
fn confined(root: &Path, p: &Path) -> Result<PathBuf, String> {
    if p.as_os_str().is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!(
            "path '{}' must be relative to the workspace's sources folder and stay in it (no leading '/', no '..')",
            p.display()
        ));
    }
    Ok(root.join(p))
}

fn check_url(u: &str, reach: &Reach) -> Result<(), String> {
    let uri: ureq::http::Uri = u.parse().map_err(|e| format!("url '{}' is not a URL: {e}", redact(u)))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("url '{}' must start with http:// or https://", redact(u))),
    }
    let host = uri.host().unwrap_or_default();
    if host.is_empty() {
        return Err(format!("url '{}' has no host", redact(u)));
    }
    // Host names are checked when resolved, at every fetch (see `fetch`).
    if let Reach::Workspace { private_urls: false, .. } = reach
        && let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>()
        && !super::fetch::is_public(ip)
    {
        return Err(format!(
            "url '{}': {ip} is not a public address (loopback, private and link-local addresses are refused unless \
             the operator sets workspace_sources.allow_private_urls)",
            redact(u)
        ));
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
        let reach = Reach::File { base: dir.path().to_path_buf() };
        let c = check(text, &reach, &catalog(), true, &mut Claims::default()).unwrap();
        assert_eq!(c.file, ["unknown top-level key 'colour' (expected [defaults] and [[source]])"]);
        assert_eq!(c.sources.len(), 1);
        assert_eq!(c.sources[0].refresh_s, 600);
        assert_eq!(c.sources[0].def.mapping.title.as_deref(), Some("nom"));
        let by_id: HashMap<&str, String> = c.invalid.iter().map(|i| (i.id.as_str(), i.problems.join(" | "))).collect();
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
    fn stored_sources_stay_in_their_folder_and_off_private_addresses() {
        let root = PathBuf::from("/srv/vigie/sources/pp");
        let reach = Reach::Workspace { root: root.clone(), private_urls: false };
        let entry = |id: &str, location: &str| {
            format!(
                "[[source]]\nid = \"{id}\"\ntitle = \"t\"\nowner = \"o\"\nlicence = \"l\"\nlayer = \"departements\"\nformat = \"geojson\"\n{location}\n"
            )
        };
        let problems = |location: &str, reach: &Reach| -> String {
            let c = check(&entry("s", location), reach, &catalog(), false, &mut Claims::default()).unwrap();
            c.invalid.iter().flat_map(|i| i.problems.clone()).collect::<Vec<_>>().join(" | ")
        };
        for bad in ["path = \"../other/x.geojson\"", "path = \"/etc/passwd\"", "path = \"a/../../x\"", "path = \"\""] {
            assert!(problems(bad, &reach).contains("stay in it"), "{bad}");
        }
        for bad in [
            "url = \"http://127.0.0.1/x\"",
            "url = \"http://10.1.2.3/x\"",
            "url = \"http://169.254.169.254/latest/meta-data\"",
            "url = \"http://[::1]/x\"",
            "url = \"http://[fd00::1]/x\"",
            "url = \"http://[::ffff:192.168.0.1]/x\"",
            "url = \"http://100.64.0.1/x\"",
        ] {
            assert!(problems(bad, &reach).contains("not a public address"), "{bad}");
        }
        let c = check(&entry("s", "path = \"sub/dep.geojson\""), &reach, &catalog(), false, &mut Claims::default())
            .unwrap();
        assert_eq!(c.sources[0].location, Location::Path(root.join("sub/dep.geojson")));
        assert_eq!((c.sources[0].shown(), c.sources[0].origin), ("sub/dep.geojson".to_owned(), Origin::Workspace));
        assert!(problems("url = \"https://data.example.org/x.geojson\"", &reach).is_empty());
        // The operator may allow the internal network; the file is trusted.
        let internal = Reach::Workspace { root, private_urls: true };
        assert!(problems("url = \"http://10.1.2.3/x\"", &internal).is_empty());
        let file = Reach::File { base: PathBuf::from("/etc/vigie") };
        assert!(problems("path = \"/data/x.geojson\"", &file).is_empty());
        // Ids and datasets are the workspace's: a stored source cannot take the file's.
        let mut claims = Claims::default();
        check(&entry("s", "path = \"x.geojson\""), &file, &catalog(), false, &mut claims).unwrap();
        let c = check(&entry("s", "path = \"y.geojson\""), &reach, &catalog(), false, &mut claims).unwrap();
        let all = c.invalid[0].problems.join(" | ");
        assert!(all.contains("id 's' is used by another source") && all.contains("already fed by source 's'"), "{all}");
    }

    #[test]
    fn public_addresses() {
        use super::super::fetch::is_public;
        for public in ["8.8.8.8", "193.51.24.1", "2001:4860:4860::8888"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
    }

    #[test]
    fn credentials_never_show() {
        assert_eq!(redact("https://u:p@host/x?y"), "https://***@host/x?y");
        assert_eq!(redact("https://host/a@b"), "https://host/a@b");
        assert_eq!(url_format("https://h/x/data.csv?token=1"), Some(Format::Csv));
        assert_eq!(url_format("https://h/api/records"), None);
    }
}
