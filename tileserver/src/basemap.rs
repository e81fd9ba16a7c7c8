//! A light basemap of France made by vigie from the official administrative boundaries
//! (régions, départements, communes of IGN Admin Express, downloaded by the user): one vector
//! PMTiles archive with a layer per level, each from the zoom it is useful at, written with
//! the same engine, tile budget and archive writer as offline packs. It is what the web view
//! draws under the operational layers when a workspace has no Protomaps or OpenMapTiles
//! extract, so a newcomer sees where things are (`vigie basemap`, and `serve --demo
//! --demo-basemap DIR` at first start).
//!
//! The boundaries are read by the importers (`vigie import`'s GeoJSON, FlatGeobuf, GeoPackage,
//! Shapefile… readers): a file that cannot be read is refused with its name, line and field,
//! and nothing is written.

use crate::export::{Header, WriteError, Written, write_archive};
use crate::ingest::import::{ImportOptions, read_with};
use crate::tiles::{self, TileSource};
use anyhow::Context;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use vigie_layers::catalog::Catalog;
use vigie_layers::engine::dataset_collection;
use vigie_layers::index::Collection;
use vigie_layers::model::Interner;
use vigie_layers::{Budget, Engine, Filter, TileCoord};

/// Extent of the basemap's tiles: metropolitan France and Corsica, with a margin.
pub const FRANCE: [f64; 4] = [-5.5, 41.2, 9.8, 51.2];
/// Highest zoom of the basemap's tiles unless told otherwise (clients overzoom beyond it).
pub const DEFAULT_MAXZOOM: u8 = 10;
/// The attribution of IGN Admin Express boundaries.
pub const DEFAULT_ATTRIBUTION: &str = "Limites administratives © IGN Admin Express, INSEE COG (Licence Ouverte)";
/// The file name the demo builds and its catalog's `fond` layer reads, in the archives folder.
pub const DEMO_ARCHIVE: &str = "fond.pmtiles";

/// The levels of boundaries, how their files are recognised (names starting with it) and the
/// lowest zoom each is drawn from.
const LEVELS: [(&str, u8); 3] = [("regions", 0), ("departements", 5), ("communes", 9)];

/// Boundary files found in a folder: `(layer, path)` for each level found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boundaries(pub Vec<(&'static str, PathBuf)>);

impl Boundaries {
    /// Finds the boundary files in `dir`: for each level (`regions`, `departements`,
    /// `communes`), a folder whose name starts with it (every file in it is read) or else the
    /// largest file whose name starts with it (the least simplified of several versions).
    /// Names are compared without accents and case (`Départements.geojson` counts).
    ///
    /// # Errors
    /// The folder cannot be read, or holds none of the three.
    pub fn find(dir: &Path) -> anyhow::Result<Self> {
        let entries: Vec<(String, PathBuf, bool, u64)> = std::fs::read_dir(dir)
            .with_context(|| format!("{}: cannot read the boundaries folder", dir.display()))?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = plain(&e.file_name().to_string_lossy());
                let meta = e.metadata().ok()?;
                Some((name, e.path(), meta.is_dir(), meta.len()))
            })
            .filter(|(name, ..)| !name.starts_with('.'))
            .collect();
        let mut found = Vec::new();
        for (level, _) in LEVELS {
            let of_level = || entries.iter().filter(|(name, ..)| name.starts_with(level));
            let folder = of_level().filter(|e| e.2).min_by(|a, b| a.0.cmp(&b.0));
            let file = of_level().filter(|e| !e.2).max_by_key(|e| (e.3, std::cmp::Reverse(e.0.clone())));
            if let Some((_, path, ..)) = folder.or(file) {
                found.push((level, path.clone()));
            }
        }
        anyhow::ensure!(
            !found.is_empty(),
            "{}: no boundaries found; expected files or folders named regions…, departements… or communes… (e.g. \
             regions.geojson, departements.geojson, communes/ from IGN Admin Express or \
             github.com/gregoiredavid/france-geojson)",
            dir.display()
        );
        Ok(Self(found))
    }
}

/// A name in lower case without the accents of French (`Régions` → `regions`).
fn plain(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'à' | 'â' => 'a',
            'î' | 'ï' => 'i',
            'ô' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// How to build the basemap.
#[derive(Debug, Clone)]
pub struct Options {
    /// Highest zoom of its tiles.
    pub maxzoom: u8,
    /// Its attribution.
    pub attribution: String,
}

impl Default for Options {
    fn default() -> Self {
        Self { maxzoom: DEFAULT_MAXZOOM, attribution: DEFAULT_ATTRIBUTION.to_owned() }
    }
}

/// What was built: the archive, and the features of each layer.
#[derive(Debug, Clone)]
pub struct Built {
    /// The archive written.
    pub written: Written,
    /// `(layer, features)` for each level.
    pub layers: Vec<(&'static str, usize)>,
}

/// The catalog of the basemap's layers (one dataset layer per level found).
fn catalog(found: &Boundaries, options: &Options) -> anyhow::Result<Catalog> {
    let mut text = format!(
        "name = \"Fond de carte\"\nattribution = {}\n\n[[theme]]\nid = \"reference\"\ntitle = \"Fond de carte\"\n\
         title_en = \"Basemap\"\ncolor = \"#78909c\"\nentry_tag = false\n",
        toml_string(&options.attribution)
    );
    for (level, _) in &found.0 {
        let minzoom = LEVELS.iter().find(|(l, _)| l == level).map_or(0, |(_, z)| *z);
        let _ = write!(
            text,
            "\n[[layer]]\nid = \"{level}\"\ntitle = \"{level}\"\ntitle_en = \"{level}\"\ntheme = \"reference\"\nkind = \"dataset\"\n\
             dataset = \"{level}\"\nminzoom = {minzoom}\nmaxzoom = {}\n",
            options.maxzoom
        );
    }
    Catalog::parse(&text, "the basemap's catalog").map_err(anyhow::Error::from)
}

fn toml_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// Builds the basemap from the boundaries `found` ([`Boundaries::find`]) into `out` (a PMTiles
/// archive written through `out.part`), counting tiles in `done`.
///
/// # Errors
/// A boundary file that cannot be read (its name, line and field), or the archive cannot be
/// written; nothing is left at `out` then.
pub async fn build(found: &Boundaries, out: &Path, options: &Options, done: &AtomicU64) -> anyhow::Result<Built> {
    let catalog = catalog(found, options)?;
    let engine = Arc::new(Engine::new(catalog));
    let mut layers = Vec::new();
    for (level, path) in &found.0 {
        let (path, id) = (path.clone(), (*level).to_owned());
        let vocab = engine.vocabulary().clone();
        let (schema, features) = tokio::task::spawn_blocking(move || {
            let builder = read_with(&path, &id, &ImportOptions::default())?;
            let (dataset, _) =
                builder.finish(false).map_err(|report| anyhow::anyhow!("{}: {report}", path.display()))?;
            let mut interner = Interner::default();
            let features = dataset
                .features
                .iter()
                .map(|f| f.to_feature(&vocab, &mut interner).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok::<_, anyhow::Error>((dataset.schema, features))
        })
        .await??;
        layers.push((*level, features.len()));
        let collection = tokio::task::spawn_blocking(move || Collection::bulk_load(schema, features)).await?;
        engine.replace(&dataset_collection(level), collection);
    }
    let sources: Vec<Arc<dyn TileSource>> = engine
        .layers()
        .iter()
        .map(|l| Arc::new(tiles::engine::EngineSource::new(engine.clone(), l.clone())) as Arc<dyn TileSource>)
        .collect();
    let coords = crate::export::covering(FRANCE, 0, options.maxzoom)?;
    let total = coords.len();
    let filter = Filter::default();
    let (sources, filter) = (&sources, &filter);
    let rendered = futures_util::stream::iter(coords)
        .map(|coord: TileCoord| async move {
            let tile = tiles::render(sources, coord, filter, Budget::default())
                .await
                .map_err(|source| WriteError::Render { coord, source })?;
            Ok::<_, WriteError>((coord, tile.raw.to_vec()))
        })
        .buffered(crate::export::CONCURRENCY);
    let vector_layers: Vec<Value> = engine
        .layers()
        .iter()
        .map(|l| {
            let fields: serde_json::Map<String, Value> =
                engine.schema(l).fields.iter().map(|f| (f.name.clone(), json!("String"))).collect();
            json!({"id": l.def.id, "fields": fields, "minzoom": l.def.minzoom, "maxzoom": options.maxzoom})
        })
        .collect();
    let header = Header {
        format: tiles::TileFormat::Mvt,
        bounds: FRANCE,
        minzoom: 0,
        maxzoom: options.maxzoom,
        metadata: json!({
            "name": "Fond de carte — limites administratives",
            "description": "Régions, départements and communes boundaries, built by vigie",
            "attribution": options.attribution,
            "type": "baselayer",
            "format": "pbf",
            "vector_layers": vector_layers,
            "vigie": {
                "basemap": layers.iter().map(|(l, n)| json!({"layer": l, "features": n})).collect::<Vec<_>>(),
                "built_at": vigie_layers::feature::format_time_ms(crate::now_ms()),
                "version": env!("CARGO_PKG_VERSION"),
            },
        }),
    };
    let written = write_archive(Box::pin(rendered), total, &header, out, done, &AtomicBool::new(false)).await?;
    Ok(Built { written, layers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_files_are_found_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("Régions-version-simplifiee.geojson"), "{}").unwrap();
        std::fs::write(p.join("departements.geojson"), "{\"a much larger file\": true}").unwrap();
        std::fs::write(p.join("departements-version-simplifiee.geojson"), "{}").unwrap();
        std::fs::create_dir(p.join("communes-idf")).unwrap();
        std::fs::write(p.join("readme.txt"), "").unwrap();
        let found = Boundaries::find(p).unwrap();
        let names: Vec<(&str, String)> =
            found.0.iter().map(|(l, path)| (*l, path.file_name().unwrap().to_string_lossy().into_owned())).collect();
        assert_eq!(
            names,
            [
                ("regions", "Régions-version-simplifiee.geojson".to_owned()),
                ("departements", "departements.geojson".to_owned()),
                ("communes", "communes-idf".to_owned()),
            ]
        );
        let empty = tempfile::tempdir().unwrap();
        let e = Boundaries::find(empty.path()).unwrap_err().to_string();
        assert!(e.contains("no boundaries found") && e.contains("departements"), "{e}");
    }

    #[test]
    fn the_catalog_has_a_layer_per_level_found() {
        let found = Boundaries(vec![("regions", PathBuf::from("r")), ("communes", PathBuf::from("c"))]);
        let c = catalog(&found, &Options { attribution: "A \"quoted\" line".into(), ..Options::default() }).unwrap();
        let ids: Vec<(&str, u8)> = c.layers.iter().map(|l| (l.id.as_str(), l.minzoom)).collect();
        assert_eq!(ids, [("regions", 0), ("communes", 9)]);
        assert_eq!(c.attribution, "A \"quoted\" line");
    }
}
