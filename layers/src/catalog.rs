//! The layer catalog: themes and the layers users toggle, read from a TOML file.
//!
//! The file format is documented in `data/catalog.toml`. Parsing checks everything a later
//! request would trip on (unknown keys, duplicate ids, ids unusable in a tile URL, unknown
//! themes, zoom ranges) and names the layer and key at fault.

use crate::tile::MAX_ZOOM;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Default lowest zoom of a layer.
pub const DEFAULT_MINZOOM: u8 = 0;
/// Default highest zoom advertised for a layer (TileJSON `maxzoom`): at z16 one tile unit is
/// about 15 cm at the equator, so clients overzoom beyond it without visible loss.
pub const DEFAULT_MAXZOOM: u8 = 16;

/// Why a catalog was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
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
    #[error("catalog {origin}: layer '{layer}': {reason}")]
    Layer {
        /// File name or "bundled".
        origin: String,
        /// The layer (or theme) id at fault.
        layer: String,
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
    #[serde(default, rename = "theme")]
    themes: Vec<Theme>,
    #[serde(default, rename = "layer")]
    layers: Vec<LayerDef>,
}

/// A checked catalog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Catalog {
    /// Name shown in TileJSON and the web view.
    pub name: String,
    /// Attribution line for every tile source.
    pub attribution: String,
    /// Themes, in display order.
    pub themes: Vec<Theme>,
    /// Layers, in display order.
    pub layers: Vec<LayerDef>,
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
        let catalog = Self { name: file.name, attribution: file.attribution, themes: file.themes, layers: file.layers };
        catalog.check(origin)?;
        Ok(catalog)
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
            layer: layer.to_owned(),
            reason,
        };
        if self.themes.len() > 64 {
            return Err(fail("-", format!("{} themes: at most 64 are supported", self.themes.len())));
        }
        let mut theme_ids = HashSet::new();
        for t in &self.themes {
            check_id(&t.id).map_err(|r| fail(&t.id, r))?;
            if !theme_ids.insert(t.id.as_str()) {
                return Err(fail(&t.id, "theme id used twice".into()));
            }
            if !is_hex_colour(&t.color) {
                return Err(fail(&t.id, format!("color '{}' must be #rrggbb", t.color)));
            }
        }
        let mut layer_ids = HashSet::new();
        for l in &self.layers {
            check_id(&l.id).map_err(|r| fail(&l.id, r))?;
            if !layer_ids.insert(l.id.as_str()) {
                return Err(fail(&l.id, "layer id used twice".into()));
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

/// Layer and theme ids go into URLs and comma-separated lists.
fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(format!("id '{id}' must be 1 to 64 characters among a-z, 0-9, '-' and '_'")) }
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
