//! The layer catalog: themes and the layers users toggle.
//!
//! A workspace's catalog is runtime configuration: a TOML file (format documented in
//! `data/catalog.toml`) seeds it, admins then edit it through the API, which stores it as JSON.
//! Every way in ([`Catalog::parse`], [`Catalog::from_json`], the edits [`Catalog::with_theme`],
//! [`Catalog::with_layer`], [`Catalog::without_theme`], [`Catalog::without_layer`]) checks
//! everything a later request would trip on (unknown keys, duplicate ids, ids unusable in a tile
//! URL, unknown themes, zoom ranges) and names the layer and key at fault.

use crate::tile::MAX_ZOOM;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Default lowest zoom of a layer.
pub const DEFAULT_MINZOOM: u8 = 0;
/// Default highest zoom advertised for a layer (TileJSON `maxzoom`): at z16 one tile unit is
/// about 15 cm at the equator, so clients overzoom beyond it without visible loss.
pub const DEFAULT_MAXZOOM: u8 = 16;

/// The theme of dataset layers created by an import.
pub const REFERENCE_THEME: &str = "reference";

/// Most layers a catalog may hold.
pub const MAX_LAYERS: usize = 1000;

/// Why a catalog was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The JSON does not parse or has unknown keys; the message names line and key.
    #[error("catalog {origin}: {source}")]
    Json {
        /// Where the document came from.
        origin: String,
        /// Parser error, with line, column and key.
        #[source]
        source: serde_json::Error,
    },
    /// The TOML does not parse or has unknown keys; the message names line and key.
    #[error("catalog {origin}: {source}")]
    Toml {
        /// File name or "bundled".
        origin: String,
        /// Parser error, with line, column and key.
        #[source]
        source: toml::de::Error,
    },
    /// A rule of the catalog is broken.
    #[error("catalog {origin}: {item}: {reason}")]
    Layer {
        /// File name or "bundled".
        origin: String,
        /// What is at fault: `layer 'id'`, `theme 'id'` or `catalog`.
        item: String,
        /// What to fix.
        reason: String,
    },
}

/// A theme: a colour and a name that layers are grouped by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Theme {
    /// Identifier, also the tag that marks log entries of this theme.
    pub id: String,
    /// French title (the interface's first language).
    pub title: String,
    /// English title.
    pub title_en: String,
    /// Colour as `#rrggbb`, used by styles and the legend.
    pub color: String,
    /// Whether log entries may carry this theme as a tag (venue and perimeter themes may not).
    #[serde(default = "yes")]
    pub entry_tag: bool,
}

fn yes() -> bool {
    true
}

/// Where a layer's features come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// Log entries, optionally only those carrying one of `tags`.
    Entries,
    /// Venue reference points.
    Venues,
    /// Venue security perimeters, optionally only some `kinds`.
    Perimeters,
    /// An imported dataset named by `dataset`.
    Dataset,
    /// H3 hexagons aggregating the features of another layer (`source`).
    H3,
    /// A PostGIS table or view served with `ST_AsMVT` (PostgreSQL store only): reference data
    /// too big to keep in memory.
    Table,
    /// Liaison-officer staffing: each place with positions, coloured by coverage (full,
    /// short, closed) for the shift under way or the one at the filter's `at`. Computed by the
    /// service from its roster, not held by the engine.
    Staffing,
    /// A PMTiles archive (`archive`: a file of the server's archives folder, or an http(s) URL
    /// read with range requests): a basemap or reference tiles made elsewhere, vector or raster,
    /// served as they are.
    Pmtiles,
    /// An MBTiles archive (`archive`: a file of the server's archives folder), vector or raster.
    Mbtiles,
}

impl LayerKind {
    /// Whether the layer is a tile archive (`pmtiles`, `mbtiles`): its tiles are read, not drawn.
    pub fn is_archive(self) -> bool {
        matches!(self, Self::Pmtiles | Self::Mbtiles)
    }
}

/// Where a table layer's features are, in PostGIS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSource {
    /// `table` or `schema.table` (a view works too).
    pub table: String,
    /// Geometry column.
    #[serde(default = "default_geometry_column")]
    pub geometry_column: String,
    /// Integer id column (the MVT feature id).
    pub id_column: String,
    /// Columns served as properties.
    #[serde(default)]
    pub properties: Vec<String>,
    /// Timestamp column the `from`/`to` filters apply to.
    #[serde(default)]
    pub time_column: Option<String>,
    /// Integer column the `severity` filter applies to.
    #[serde(default)]
    pub severity_column: Option<String>,
}

fn default_geometry_column() -> String {
    "geom".to_owned()
}

/// One layer of the catalog, as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerDef {
    /// Identifier used in tile URLs: lowercase letters, digits, `-` and `_`.
    pub id: String,
    /// French title.
    pub title: String,
    /// English title.
    pub title_en: String,
    /// What the layer shows.
    #[serde(default)]
    pub description: String,
    /// Theme the layer is grouped under (an id from `[[theme]]`).
    pub theme: String,
    /// Where the features come from.
    pub kind: LayerKind,
    /// For `entries`: keep entries carrying any of these tags (empty: all entries).
    #[serde(default)]
    pub tags: Vec<String>,
    /// For `perimeters`: keep perimeters of these kinds (empty: all kinds).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// For `dataset`: the dataset id.
    #[serde(default)]
    pub dataset: Option<String>,
    /// For `dataset`: the property naming an area in region queries (`{"area": {"layer": …,
    /// "code": …}}`), e.g. `code` for départements.
    #[serde(default)]
    pub key: Option<String>,
    /// For `h3`: the layer whose features are counted.
    #[serde(default)]
    pub source: Option<String>,
    /// For `h3`: finest and coarsest resolutions; the tile at zoom z shows resolution
    /// `z - resolution_offset` clamped to this range.
    #[serde(default)]
    pub min_resolution: Option<u8>,
    /// For `h3`: see `min_resolution`.
    #[serde(default)]
    pub max_resolution: Option<u8>,
    /// For `table`: the PostGIS table and its columns.
    #[serde(default)]
    pub postgis: Option<TableSource>,
    /// For `pmtiles` and `mbtiles`: the archive, a path relative to the server's archives folder
    /// (`archives.dir`) or, for `pmtiles`, an `http://` or `https://` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    /// Lowest zoom at which the layer has data: below it, its tiles are empty.
    #[serde(default = "default_minzoom")]
    pub minzoom: u8,
    /// Highest zoom advertised to clients (TileJSON `maxzoom`); they overzoom beyond it. vigie
    /// still serves full-precision tiles above it, up to z24, for clients that do not overzoom.
    #[serde(default = "default_maxzoom")]
    pub maxzoom: u8,
    /// Whether the web view shows the layer when it opens.
    #[serde(default)]
    pub visible: bool,
    /// For `dataset`: only identities whose territory its features meet see them (the log's
    /// entries always are; other datasets are the whole workspace's reference).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restricted: bool,
    /// Most features one tile of the layer holds before it is thinned into clusters (at most
    /// the tile's own budget, [`crate::budget`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_features: Option<usize>,
    /// Most bytes one tile of the layer holds before it is thinned into clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<usize>,
}

fn default_minzoom() -> u8 {
    DEFAULT_MINZOOM
}
fn default_maxzoom() -> u8 {
    DEFAULT_MAXZOOM
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    name: String,
    attribution: String,
    #[serde(default)]
    basemap: Option<String>,
    #[serde(default, rename = "theme")]
    themes: Vec<Theme>,
    #[serde(default, rename = "layer")]
    layers: Vec<LayerDef>,
}

/// A checked catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Name shown in TileJSON and the web view.
    pub name: String,
    /// Attribution line for every tile source.
    pub attribution: String,
    /// The layer the web view draws under the others: a `pmtiles` or `mbtiles` layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basemap: Option<String>,
    /// Themes, in display order.
    #[serde(default)]
    pub themes: Vec<Theme>,
    /// Layers, in display order.
    #[serde(default)]
    pub layers: Vec<LayerDef>,
}

/// The TOML file's shape on the way out (`[[theme]]`, `[[layer]]`).
#[derive(Serialize)]
struct CatalogFileOut<'a> {
    name: &'a str,
    attribution: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    basemap: Option<&'a str>,
    theme: &'a [Theme],
    layer: &'a [LayerDef],
}

/// The catalog bundled with vigie (`data/catalog.toml`).
pub const BUNDLED_CATALOG: &str = include_str!("../../data/catalog.toml");

impl Catalog {
    /// Parses and checks a catalog. `origin` names the file in error messages.
    ///
    /// # Errors
    /// [`CatalogError::Toml`] for syntax, types and unknown keys; [`CatalogError::Layer`] for a
    /// broken rule, naming the layer and what to fix.
    pub fn parse(text: &str, origin: &str) -> Result<Self, CatalogError> {
        let file: CatalogFile =
            toml::from_str(text).map_err(|source| CatalogError::Toml { origin: origin.to_owned(), source })?;
        let catalog = Self {
            name: file.name,
            attribution: file.attribution,
            basemap: file.basemap,
            themes: file.themes,
            layers: file.layers,
        };
        catalog.check(origin)?;
        Ok(catalog)
    }

    /// Parses and checks a catalog stored or sent as JSON (`{name, attribution, themes,
    /// layers}`). `origin` names it in error messages.
    ///
    /// # Errors
    /// [`CatalogError::Json`] for syntax, types and unknown keys; [`CatalogError::Layer`] for a
    /// broken rule.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, CatalogError> {
        let catalog: Self =
            serde_json::from_str(text).map_err(|source| CatalogError::Json { origin: origin.to_owned(), source })?;
        catalog.check(origin)?;
        Ok(catalog)
    }

    /// Checks a catalog built in memory (e.g. deserialized from a request).
    ///
    /// # Errors
    /// [`CatalogError::Layer`] for a broken rule, naming the layer and what to fix.
    pub fn checked(self, origin: &str) -> Result<Self, CatalogError> {
        self.check(origin)?;
        Ok(self)
    }

    /// The catalog as JSON, as [`Catalog::from_json`] reads it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The catalog as a TOML file [`Catalog::parse`] reads back (`vigie catalog export`).
    pub fn to_toml(&self) -> String {
        let out = CatalogFileOut {
            name: &self.name,
            attribution: &self.attribution,
            basemap: self.basemap.as_deref(),
            theme: &self.themes,
            layer: &self.layers,
        };
        toml::to_string(&out).unwrap_or_default()
    }

    /// This catalog with `theme` added at the end, or replacing the theme of the same id in
    /// place; `None` as the second value when it was added.
    ///
    /// # Errors
    /// [`CatalogError::Layer`] when the result breaks a rule.
    pub fn with_theme(&self, theme: Theme, origin: &str) -> Result<(Self, bool), CatalogError> {
        let mut next = self.clone();
        let id = theme.id.clone();
        let replaced = upsert(&mut next.themes, theme, |t| t.id == id);
        Ok((next.checked(origin)?, replaced))
    }

    /// This catalog with `layer` added at the end, or replacing the layer of the same id in
    /// place; the second value says whether it replaced one.
    ///
    /// # Errors
    /// [`CatalogError::Layer`] when the result breaks a rule.
    pub fn with_layer(&self, layer: LayerDef, origin: &str) -> Result<(Self, bool), CatalogError> {
        let mut next = self.clone();
        let id = layer.id.clone();
        let replaced = upsert(&mut next.layers, layer, |l| l.id == id);
        Ok((next.checked(origin)?, replaced))
    }

    /// This catalog without theme `id`; `None` when there is no such theme.
    ///
    /// # Errors
    /// [`CatalogError::Layer`] when layers still use the theme (named in the message).
    pub fn without_theme(&self, id: &str, origin: &str) -> Option<Result<Self, CatalogError>> {
        self.theme(id)?;
        let users: Vec<&str> = self.layers.iter().filter(|l| l.theme == id).map(|l| l.id.as_str()).collect();
        if !users.is_empty() {
            return Some(Err(CatalogError::Layer {
                origin: origin.to_owned(),
                item: format!("theme '{id}'"),
                reason: format!(
                    "used by layer(s) {}: move them to another theme or remove them first",
                    users.join(", ")
                ),
            }));
        }
        let mut next = self.clone();
        next.themes.retain(|t| t.id != id);
        Some(next.checked(origin))
    }

    /// This catalog without layer `id`; `None` when there is no such layer.
    ///
    /// # Errors
    /// [`CatalogError::Layer`] when another layer needs it (an H3 layer counting it).
    pub fn without_layer(&self, id: &str, origin: &str) -> Option<Result<Self, CatalogError>> {
        self.layer(id)?;
        if let Some(h3) = self.layers.iter().find(|l| l.source.as_deref() == Some(id)) {
            return Some(Err(CatalogError::Layer {
                origin: origin.to_owned(),
                item: format!("layer '{id}'"),
                reason: format!("counted by the H3 layer '{}': remove or change that one first", h3.id),
            }));
        }
        let mut next = self.clone();
        next.layers.retain(|l| l.id != id);
        Some(next.checked(origin))
    }

    /// This catalog with a new dataset layer `id` reading dataset `id`, titled `title`, under
    /// the theme `reference` (added when missing): what `vigie import --layer NEW FILE` makes
    /// for a layer that does not exist, as ogr2ogr makes a table.
    ///
    /// # Errors
    /// [`CatalogError::Layer`] when `id` is not a usable layer id or is taken.
    pub fn with_dataset_layer(&self, id: &str, title: &str, origin: &str) -> Result<Self, CatalogError> {
        if self.layer(id).is_some() {
            return Err(CatalogError::Layer {
                origin: origin.to_owned(),
                item: format!("layer '{id}'"),
                reason: "id already taken".into(),
            });
        }
        let mut next = self.clone();
        if next.theme(REFERENCE_THEME).is_none() {
            next.themes.push(Theme {
                id: REFERENCE_THEME.into(),
                title: "Données de référence".into(),
                title_en: "Reference data".into(),
                color: "#6b7280".into(),
                entry_tag: false,
            });
        }
        let title: String = title.chars().take(200).collect();
        next.layers.push(LayerDef {
            id: id.to_owned(),
            title: title.clone(),
            title_en: title,
            description: String::new(),
            theme: REFERENCE_THEME.into(),
            kind: LayerKind::Dataset,
            tags: Vec::new(),
            kinds: Vec::new(),
            dataset: Some(id.to_owned()),
            key: None,
            source: None,
            min_resolution: None,
            max_resolution: None,
            postgis: None,
            archive: None,
            minzoom: DEFAULT_MINZOOM,
            maxzoom: DEFAULT_MAXZOOM,
            visible: false,
            restricted: false,
            max_features: None,
            max_bytes: None,
        });
        next.checked(origin)
    }

    /// The bundled catalog.
    ///
    /// # Panics
    /// Never in a released build: a test parses the bundled file.
    pub fn bundled() -> Self {
        Self::parse(BUNDLED_CATALOG, "bundled data/catalog.toml").expect("the bundled catalog is valid")
    }

    fn check(&self, origin: &str) -> Result<(), CatalogError> {
        let fail = |layer: &str, reason: String| CatalogError::Layer {
            origin: origin.to_owned(),
            item: format!("layer '{layer}'"),
            reason,
        };
        let fail_theme = |theme: &str, reason: String| CatalogError::Layer {
            origin: origin.to_owned(),
            item: format!("theme '{theme}'"),
            reason,
        };
        let fail_all =
            |reason: String| CatalogError::Layer { origin: origin.to_owned(), item: "catalog".into(), reason };
        if self.themes.len() > 64 {
            return Err(fail_all(format!("{} themes: at most 64 are supported", self.themes.len())));
        }
        if self.layers.len() > MAX_LAYERS {
            return Err(fail_all(format!("{} layers: at most {MAX_LAYERS} are supported", self.layers.len())));
        }
        if self.name.chars().count() > 200 || self.attribution.chars().count() > 1000 {
            return Err(fail_all("name (200) or attribution (1000 characters) too long".into()));
        }
        let mut theme_ids = HashSet::new();
        for t in &self.themes {
            check_id(&t.id).map_err(|r| fail_theme(&t.id, r))?;
            if !theme_ids.insert(t.id.as_str()) {
                return Err(fail_theme(&t.id, "id used twice".into()));
            }
            if !is_hex_colour(&t.color) {
                return Err(fail_theme(&t.id, format!("color '{}' must be #rrggbb", t.color)));
            }
            check_texts(&[&t.title, &t.title_en], "").map_err(|r| fail_theme(&t.id, r))?;
        }
        if let Some(b) = &self.basemap
            && !self.layers.iter().any(|l| &l.id == b && l.kind.is_archive())
        {
            return Err(fail_all(format!("basemap '{b}' must be the id of a pmtiles or mbtiles layer of the catalog")));
        }
        let mut layer_ids = HashSet::new();
        for l in &self.layers {
            check_id(&l.id).map_err(|r| fail(&l.id, r))?;
            if !layer_ids.insert(l.id.as_str()) {
                return Err(fail(&l.id, "id used twice".into()));
            }
            check_texts(&[&l.title, &l.title_en], &l.description).map_err(|r| fail(&l.id, r))?;
            if l.tags.len() > 64
                || l.kinds.len() > 64
                || l.tags.iter().chain(&l.kinds).any(|t| t.is_empty() || t.len() > 64)
            {
                return Err(fail(&l.id, "tags and kinds: at most 64 of them, each 1 to 64 characters".into()));
            }
            if !theme_ids.contains(l.theme.as_str()) {
                return Err(fail(&l.id, format!("theme '{}' is not declared in [[theme]]", l.theme)));
            }
            if l.minzoom > l.maxzoom || l.maxzoom > MAX_ZOOM {
                return Err(fail(
                    &l.id,
                    format!("zoom range {}..{} must satisfy minzoom <= maxzoom <= {MAX_ZOOM}", l.minzoom, l.maxzoom),
                ));
            }
            let misplaced = |key: &str| fail(&l.id, format!("key '{key}' does not apply to kind {:?}", l.kind));
            if l.kind != LayerKind::H3
                && (l.source.is_some() || l.min_resolution.is_some() || l.max_resolution.is_some())
            {
                return Err(misplaced("source/min_resolution/max_resolution"));
            }
            if l.kind != LayerKind::Dataset && l.key.is_some() {
                return Err(misplaced("key"));
            }
            if l.kind != LayerKind::Table && l.postgis.is_some() {
                return Err(misplaced("postgis"));
            }
            if l.kind != LayerKind::Dataset && l.restricted {
                return Err(misplaced("restricted"));
            }
            if !l.kind.is_archive() && l.archive.is_some() {
                return Err(misplaced("archive"));
            }
            if (matches!(l.kind, LayerKind::H3 | LayerKind::Table | LayerKind::Staffing) || l.kind.is_archive())
                && (l.max_features.is_some() || l.max_bytes.is_some())
            {
                return Err(misplaced("max_features/max_bytes"));
            }
            if l.max_features == Some(0) || l.max_bytes.is_some_and(|b| b < 1024) {
                return Err(fail(&l.id, "max_features must be at least 1 and max_bytes at least 1024".into()));
            }
            match l.kind {
                LayerKind::Entries => {
                    if !l.kinds.is_empty() {
                        return Err(misplaced("kinds"));
                    }
                    if l.dataset.is_some() {
                        return Err(misplaced("dataset"));
                    }
                }
                LayerKind::Perimeters => {
                    if !l.tags.is_empty() {
                        return Err(misplaced("tags"));
                    }
                    if l.dataset.is_some() {
                        return Err(misplaced("dataset"));
                    }
                }
                LayerKind::Venues => {
                    if !l.tags.is_empty() {
                        return Err(misplaced("tags"));
                    }
                    if !l.kinds.is_empty() {
                        return Err(misplaced("kinds"));
                    }
                    if l.dataset.is_some() {
                        return Err(misplaced("dataset"));
                    }
                }
                LayerKind::Dataset => {
                    let Some(d) = &l.dataset else {
                        return Err(fail(&l.id, "kind dataset needs a 'dataset' key".into()));
                    };
                    check_id(d).map_err(|r| fail(&l.id, format!("dataset: {r}")))?;
                    if !l.tags.is_empty() {
                        return Err(misplaced("tags"));
                    }
                }
                LayerKind::Staffing => {
                    if !l.tags.is_empty() || !l.kinds.is_empty() || l.dataset.is_some() {
                        return Err(misplaced("tags/kinds/dataset"));
                    }
                }
                LayerKind::Pmtiles | LayerKind::Mbtiles => {
                    let Some(a) = &l.archive else {
                        return Err(fail(&l.id, format!("kind {:?} needs an 'archive' key", l.kind).to_lowercase()));
                    };
                    check_archive(a, l.kind).map_err(|r| fail(&l.id, r))?;
                    if !l.tags.is_empty() || !l.kinds.is_empty() || l.dataset.is_some() {
                        return Err(misplaced("tags/kinds/dataset"));
                    }
                }
                LayerKind::Table => {
                    let Some(t) = &l.postgis else {
                        return Err(fail(
                            &l.id,
                            "kind table needs a [layer.postgis] table with table and id_column".into(),
                        ));
                    };
                    if t.table.is_empty() || t.id_column.is_empty() || t.geometry_column.is_empty() {
                        return Err(fail(
                            &l.id,
                            "postgis: table, id_column and geometry_column must not be empty".into(),
                        ));
                    }
                    if !l.tags.is_empty() || !l.kinds.is_empty() || l.dataset.is_some() {
                        return Err(misplaced("tags/kinds/dataset"));
                    }
                }
                LayerKind::H3 => {
                    let Some(src) = &l.source else {
                        return Err(fail(&l.id, "kind h3 needs a 'source' layer".into()));
                    };
                    let Some(source) = self.layers.iter().find(|s| &s.id == src) else {
                        return Err(fail(&l.id, format!("source layer '{src}' is not in the catalog")));
                    };
                    if matches!(source.kind, LayerKind::H3) {
                        return Err(fail(&l.id, "an h3 layer cannot aggregate another h3 layer".into()));
                    }
                    let (lo, hi) = (l.min_resolution.unwrap_or(0), l.max_resolution.unwrap_or(crate::h3::FINEST));
                    if lo > hi || hi > crate::h3::FINEST {
                        return Err(fail(
                            &l.id,
                            format!("resolutions {lo}..{hi} must satisfy min <= max <= {}", crate::h3::FINEST),
                        ));
                    }
                    if !l.tags.is_empty() || !l.kinds.is_empty() || l.dataset.is_some() {
                        return Err(misplaced("tags/kinds/dataset"));
                    }
                }
            }
        }
        Ok(())
    }

    /// A layer by id.
    pub fn layer(&self, id: &str) -> Option<&LayerDef> {
        self.layers.iter().find(|l| l.id == id)
    }

    /// A theme by id.
    pub fn theme(&self, id: &str) -> Option<&Theme> {
        self.themes.iter().find(|t| t.id == id)
    }

    /// Themes that log entries may carry as tags, in display order.
    pub fn entry_themes(&self) -> impl Iterator<Item = &Theme> {
        self.themes.iter().filter(|t| t.entry_tag)
    }
}

/// Replaces the item `same` finds in place, else appends `item`; says whether it replaced one.
fn upsert<T>(items: &mut Vec<T>, item: T, same: impl Fn(&T) -> bool) -> bool {
    if let Some(slot) = items.iter_mut().find(|i| same(i)) {
        *slot = item;
        true
    } else {
        items.push(item);
        false
    }
}

/// Layer and theme ids go into URLs and comma-separated lists.
/// An archive's address: an http(s) URL (PMTiles only), or a relative path without `..` (the
/// server resolves it in its archives folder and checks that links do not lead out of it).
fn check_archive(a: &str, kind: LayerKind) -> Result<(), String> {
    if a.len() > 2048 || a.chars().any(char::is_control) {
        return Err("archive: at most 2048 characters, no control character".into());
    }
    if a.starts_with("http://") || a.starts_with("https://") {
        return if kind == LayerKind::Pmtiles {
            Ok(())
        } else {
            Err(format!("archive '{a}': an MBTiles archive is an SQLite file, it must be a local file"))
        };
    }
    if a.contains("://") {
        return Err(format!("archive '{a}': only http:// and https:// URLs are read"));
    }
    let path = std::path::Path::new(a);
    if a.is_empty() || !path.components().all(|c| matches!(c, std::path::Component::Normal(_))) {
        return Err(format!(
            "archive '{a}' must be a path relative to the server's archives folder (archives.dir) that stays in it \
             (no leading '/', no '..'), or an http(s) URL"
        ));
    }
    Ok(())
}

fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(format!("id '{id}' must be 1 to 64 characters among a-z, 0-9, '-' and '_'")) }
}

/// Titles must be there and short; a description may be longer.
fn check_texts(titles: &[&str], description: &str) -> Result<(), String> {
    if titles.iter().any(|t| t.trim().is_empty() || t.chars().count() > 200) {
        return Err("title and title_en must be 1 to 200 characters".into());
    }
    if description.chars().count() > 2000 {
        return Err("description must be at most 2000 characters".into());
    }
    Ok(())
}

fn is_hex_colour(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_catalog_is_valid_and_has_every_required_theme() {
        let c = Catalog::bundled();
        for theme in ["public_order", "transport", "health", "fire_rescue", "crowd", "weather", "cyber", "venue_ops"] {
            assert!(c.theme(theme).is_some(), "theme {theme} missing");
            assert!(
                c.layers.iter().any(|l| l.kind == LayerKind::Entries && l.tags == [theme]),
                "no layer for theme {theme}"
            );
        }
        assert!(c.layers.iter().any(|l| l.kind == LayerKind::Venues));
        assert!(c.layers.iter().any(|l| l.kind == LayerKind::Perimeters));
        assert!(c.layers.iter().any(|l| l.kind == LayerKind::Entries && l.tags.is_empty()));
    }

    const HEAD: &str = "name = \"t\"\nattribution = \"a\"\n[[theme]]\nid = \"x\"\ntitle = \"X\"\ntitle_en = \"X\"\ncolor = \"#112233\"\n";

    #[test]
    fn unknown_key_is_named() {
        let text = format!(
            "{HEAD}[[layer]]\nid = \"a\"\ntitle = \"A\"\ntitle_en = \"A\"\ntheme = \"x\"\nkind = \"entries\"\ncolour = 1\n"
        );
        let err = Catalog::parse(&text, "test.toml").unwrap_err().to_string();
        assert!(err.contains("colour") && err.contains("test.toml"), "{err}");
    }

    #[test]
    fn archive_layers_and_the_basemap_are_checked() {
        let layer = |kind: &str, archive: &str| {
            format!(
                "[[layer]]\nid = \"b\"\ntitle = \"B\"\ntitle_en = \"B\"\ntheme = \"x\"\nkind = \"{kind}\"\n{archive}\n"
            )
        };
        let ok = format!("basemap = \"b\"\n{HEAD}{}", layer("pmtiles", "archive = \"fr/france.pmtiles\""));
        let c = Catalog::parse(&ok, "t").unwrap();
        assert_eq!(c.basemap.as_deref(), Some("b"));
        assert_eq!(Catalog::parse(&c.to_toml(), "t").unwrap(), c, "TOML round trip keeps the basemap");
        assert_eq!(Catalog::from_json(&c.to_json(), "t").unwrap(), c, "JSON too");
        for (text, needle) in [
            (format!("{HEAD}{}", layer("pmtiles", "")), "needs an 'archive' key"),
            (format!("{HEAD}{}", layer("mbtiles", "archive = \"/abs.mbtiles\"")), "stays in it"),
            (format!("{HEAD}{}", layer("pmtiles", "archive = \"a/../../b.pmtiles\"")), "stays in it"),
            (format!("{HEAD}{}", layer("entries", "archive = \"a.pmtiles\"")), "'archive' does not apply"),
            (format!("{HEAD}{}", layer("pmtiles", "archive = \"a.pmtiles\"\nmax_features = 5")), "max_features"),
            (format!("basemap = \"nope\"\n{HEAD}"), "basemap 'nope'"),
        ] {
            let err = Catalog::parse(&text, "t").unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn json_and_toml_round_trip_and_edits_are_checked() {
        let c = Catalog::bundled();
        assert_eq!(Catalog::from_json(&c.to_json(), "j").unwrap(), c);
        assert_eq!(Catalog::parse(&c.to_toml(), "t").unwrap(), c);
        let err = Catalog::from_json(r#"{"name":"n","attribution":"a","themes":[],"layers":[],"extra":1}"#, "j");
        assert!(err.unwrap_err().to_string().contains("extra"));

        let mut theme = c.theme("cyber").unwrap().clone();
        theme.color = "#010203".into();
        let (edited, replaced) = c.with_theme(theme.clone(), "t").unwrap();
        assert!(replaced);
        assert_eq!(edited.themes.len(), c.themes.len());
        assert_eq!(edited.theme("cyber").unwrap().color, "#010203");
        theme.color = "red".into();
        assert!(c.with_theme(theme, "t").unwrap_err().to_string().contains("#rrggbb"));

        let err = c.without_theme("cyber", "t").unwrap().unwrap_err().to_string();
        assert!(err.contains("cyber") && err.contains("layer"), "{err}");
        assert!(c.without_theme("nope", "t").is_none());
        let err = c.without_layer("entries", "t").unwrap().unwrap_err().to_string();
        assert!(err.contains("entries-h3"), "{err}");
        let fewer = c.without_layer("cyber", "t").unwrap().unwrap();
        assert!(fewer.layer("cyber").is_none() && fewer.layers.len() == c.layers.len() - 1);

        let mut layer = c.layer("cyber").unwrap().clone();
        layer.id = "Cyber".into();
        assert!(c.with_layer(layer, "t").unwrap_err().to_string().contains("a-z"));
    }

    #[test]
    fn an_import_creates_its_dataset_layer_and_the_reference_theme() {
        let c = Catalog::parse(HEAD, "t").unwrap();
        let next = c.with_dataset_layer("communes", "communes-2024", "t").unwrap();
        let l = next.layer("communes").unwrap();
        assert_eq!(
            (l.kind, l.dataset.as_deref(), l.theme.as_str()),
            (LayerKind::Dataset, Some("communes"), "reference")
        );
        assert_eq!(l.title, "communes-2024");
        assert!(!next.theme("reference").unwrap().entry_tag);
        assert!(next.with_dataset_layer("communes", "x", "t").is_err());
        assert!(c.with_dataset_layer("Communes 2024", "x", "t").is_err());
    }

    #[test]
    fn broken_rules_name_the_layer() {
        let cases = [
            ("id = \"a,b\"\ntheme = \"x\"\nkind = \"entries\"", "a,b"),
            ("id = \"a\"\ntheme = \"nope\"\nkind = \"entries\"", "nope"),
            ("id = \"a\"\ntheme = \"x\"\nkind = \"entries\"\nminzoom = 9\nmaxzoom = 3", "minzoom"),
            ("id = \"a\"\ntheme = \"x\"\nkind = \"venues\"\ntags = [\"x\"]", "tags"),
            ("id = \"a\"\ntheme = \"x\"\nkind = \"dataset\"", "dataset"),
        ];
        for (body, needle) in cases {
            let text = format!("{HEAD}[[layer]]\ntitle = \"A\"\ntitle_en = \"A\"\n{body}\n");
            let err = Catalog::parse(&text, "t").unwrap_err().to_string();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }
}
