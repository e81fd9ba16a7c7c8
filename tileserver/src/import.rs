//! Importing source files into datasets: read (any supported format, reprojected to WGS84),
//! check, then replace the dataset in one transaction. A file with any invalid record is
//! rejected whole unless invalid records are skipped on request; a rejected or interrupted
//! import leaves the previous version in place.
//!
//! Applying a new version to a running engine ([`apply_dataset`]) swaps the collection and
//! invalidates only the tiles of the features that changed (added, removed or modified, by id
//! and content), on the layers that read the dataset.

use crate::cache::TileCache;
use crate::store::{DatasetInfo, Store, StoreError};
use geo::{CoordsIter, Rect};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use vigie_layers::catalog::{LayerDef, LayerKind};
use vigie_layers::dataset::{DatasetBuilder, Mapping, Report};
use vigie_layers::engine::dataset_collection;
use vigie_layers::feature::{Feature, FeatureId};
use vigie_layers::index::Collection;
use vigie_layers::readers::{self, Format, ReadError, ReadOptions};
use vigie_layers::{Engine, Value};

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The target is not a dataset layer of the catalog.
    #[error("layer '{0}' is not a dataset layer of the catalog (kind = \"dataset\")")]
    NotADataset(String),
    /// The file cannot be read at all.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Records are invalid: nothing was imported.
    #[error("import rejected, nothing was changed:\n{0}")]
    Rejected(Report),
    /// The store failed: nothing was imported.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to import a file.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The format, when the file name does not tell it.
    pub format: Option<Format>,
    /// CRS, CSV columns, GeoPackage table.
    pub read: ReadOptions,
    /// Which source fields feed ids, titles, times, tags and severities.
    pub mapping: Mapping,
    /// Import the valid records and report the others (default: reject the whole file).
    pub skip_invalid: bool,
    /// Counts records as they are read (progress display).
    pub progress: Option<Arc<AtomicU64>>,
}

/// The dataset a catalog layer reads.
///
/// # Errors
/// [`ImportError::NotADataset`] for any other kind of layer.
pub fn dataset_of(layer: &LayerDef) -> Result<&str, ImportError> {
    match (&layer.kind, &layer.dataset) {
        (LayerKind::Dataset, Some(d)) => Ok(d),
        _ => Err(ImportError::NotADataset(layer.id.clone())),
    }
}

/// Reads a file into a builder, choosing the reader by the file's extension.
///
/// # Errors
/// [`ReadError`] when the file cannot be opened or its format is not supported.
pub fn read_path(path: &Path, dataset: &str, mapping: Mapping) -> Result<DatasetBuilder, ReadError> {
    read_with(path, dataset, &ImportOptions { mapping, ..ImportOptions::default() })
}

/// Reads a file or a folder into a builder with the given options.
///
/// # Errors
/// [`ReadError`] when the file cannot be opened, its format is not supported or it is
/// unusable as a whole.
pub fn read_with(path: &Path, dataset: &str, options: &ImportOptions) -> Result<DatasetBuilder, ReadError> {
    let mut builder = DatasetBuilder::new(dataset, options.mapping.clone());
    if let Some(p) = &options.progress {
        builder = builder.with_progress(p.clone());
    }
    readers::read_path(path, options.format, &options.read, &mut builder)?;
    Ok(builder)
}

/// Imports a file into a dataset layer.
///
/// # Errors
/// See [`ImportError`]; in every error case the store is unchanged.
pub async fn import_path(
    store: &dyn Store,
    layer: &LayerDef,
    path: &Path,
    mapping: Mapping,
    skip_invalid: bool,
) -> Result<(DatasetInfo, Report), ImportError> {
    let options = ImportOptions { mapping, skip_invalid, ..ImportOptions::default() };
    import(store, layer, path, &path.display().to_string(), &options).await
}

/// Imports a file (or folder) into a dataset layer; `source` is recorded with the version.
///
/// # Errors
/// See [`ImportError`]; in every error case the store is unchanged.
pub async fn import(
    store: &dyn Store,
    layer: &LayerDef,
    path: &Path,
    source: &str,
    options: &ImportOptions,
) -> Result<(DatasetInfo, Report), ImportError> {
    let dataset = dataset_of(layer)?.to_owned();
    let owned = path.to_path_buf();
    let opts = options.clone();
    let built =
        tokio::task::spawn_blocking(move || read_with(&owned, &dataset, &opts).map(|b| b.finish(opts.skip_invalid)))
            .await
            .map_err(|e| StoreError::Corrupt { what: "import task", id: layer.id.clone(), reason: e.to_string() })??;
    let (dataset, report) = built.map_err(ImportError::Rejected)?;
    let info = store.replace_dataset(&dataset, source).await?;
    Ok((info, report))
}

/// What applying a dataset version to the engine changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Features added, removed or modified.
    pub changed: usize,
    /// Cached tiles dropped.
    pub invalidated: usize,
}

/// Applying dataset versions to the running engine, shared by the dataset watcher, the HTTP
/// import and the sources scheduler: which versions the engine holds, and one apply at a time.
pub struct Ingest {
    /// The engine the datasets go into.
    pub engine: Arc<Engine>,
    /// The store they come from.
    pub store: Arc<dyn Store>,
    /// The tile cache to invalidate.
    pub cache: TileCache,
    /// A leaf lock: held to read or note a version, nothing else.
    applied: Mutex<HashMap<String, u64>>,
    /// Serialises dataset applies. An async mutex, held across the store read and the
    /// engine swap on purpose; no other lock of ours is held while waiting for it.
    apply: tokio::sync::Mutex<()>,
    /// Set once the watcher has recorded the versions start-up loaded.
    baseline: tokio::sync::watch::Sender<bool>,
    /// The sources scheduler, when a sources file is configured.
    pub sources: std::sync::OnceLock<Arc<crate::sources::Scheduler>>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").field("applied", &self.applied).finish_non_exhaustive()
    }
}

impl Ingest {
    /// The ingestion state of an engine over a store.
    pub fn new(engine: Arc<Engine>, store: Arc<dyn Store>, cache: TileCache) -> Arc<Self> {
        Arc::new(Self {
            engine,
            store,
            cache,
            applied: Mutex::default(),
            apply: tokio::sync::Mutex::default(),
            baseline: tokio::sync::watch::Sender::new(false),
            sources: std::sync::OnceLock::new(),
        })
    }
}

impl Ingest {
    /// The version of `dataset` the engine holds (0 when it holds none or it is unknown).
    pub fn applied_version(&self, dataset: &str) -> u64 {
        self.applied.lock().unwrap_or_else(PoisonError::into_inner).get(dataset).copied().unwrap_or(0)
    }

    /// Records that the engine holds `version` of `dataset` (start-up load).
    pub fn note_applied(&self, dataset: &str, version: u64) {
        let mut m = self.applied.lock().unwrap_or_else(PoisonError::into_inner);
        let v = m.entry(dataset.to_owned()).or_insert(0);
        *v = (*v).max(version);
    }

    /// Marks the versions start-up loaded as recorded (the watcher's first round).
    pub fn mark_baseline(&self) {
        self.baseline.send_replace(true);
    }

    /// Waits until the start-up versions are recorded, at most `limit`: an import applied
    /// before would be taken for one start-up already loaded.
    pub async fn baseline(&self, limit: std::time::Duration) {
        let mut rx = self.baseline.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|ready| *ready)).await;
    }
}

/// One feature's content hash, box (metres) and the feature itself, for change detection.
type Summary = HashMap<FeatureId, (u64, Rect<f64>, Arc<Feature>)>;

/// A hash of everything a tile shows of a feature: geometry, properties (by field name),
/// time, severity and tags.
fn content_hash(f: &Feature, fields: &[String]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::mem::discriminant(&f.lonlat).hash(&mut h);
    let mut n = 0usize;
    for c in f.lonlat.coords_iter() {
        c.x.to_bits().hash(&mut h);
        c.y.to_bits().hash(&mut h);
        n += 1;
    }
    n.hash(&mut h);
    if let geo::Geometry::MultiPolygon(mp) = &f.lonlat {
        for p in &mp.0 {
            p.exterior().0.len().hash(&mut h);
            p.interiors().len().hash(&mut h);
        }
    }
    for (name, v) in fields.iter().zip(f.props.iter()) {
        if v.is_null() {
            continue;
        }
        name.hash(&mut h);
        match v {
            Value::Null => 0u8.hash(&mut h),
            Value::Bool(b) => (1u8, b).hash(&mut h),
            Value::Int(i) => (2u8, i).hash(&mut h),
            Value::Float(x) => (3u8, x.to_bits()).hash(&mut h),
            Value::Text(s) => (4u8, s.as_ref()).hash(&mut h),
            Value::Time(t) => (5u8, t).hash(&mut h),
        }
    }
    f.attrs.time_ms.hash(&mut h);
    f.attrs.severity.hash(&mut h);
    if let Some(tags) = &f.attrs.tags {
        for t in tags {
            t.as_ref().hash(&mut h);
        }
    }
    h.finish()
}

fn summarise(c: &Collection) -> (Vec<String>, Summary) {
    let fields: Vec<String> = c.schema().fields.iter().map(|f| f.name.clone()).collect();
    let summary = c.iter().map(|f| (f.id, (content_hash(f, &fields), f.bbox, f.clone()))).collect();
    (fields, summary)
}

/// Most features whose tiles are invalidated one by one; beyond, the common box of all of
/// them is invalidated.
pub const MAX_INVALIDATED_FEATURES: usize = 1024;

/// The features that differ between two versions: removed and modified ones as they were,
/// added and modified ones as they are.
fn changed_features(before: &Summary, after: &Summary) -> Vec<Arc<Feature>> {
    let mut out = Vec::new();
    for (id, (h, _, old)) in before {
        match after.get(id) {
            Some((h2, _, new)) if h2 != h => {
                out.push(old.clone());
                out.push(new.clone());
            }
            None => out.push(old.clone()),
            Some(_) => {}
        }
    }
    out.extend(after.iter().filter(|(id, _)| !before.contains_key(id)).map(|(_, (_, _, f))| f.clone()));
    out
}

/// Swaps a dataset version into the engine (when it is newer than the one it holds) and drops
/// the cached tiles of what changed — the boxes of added, removed and modified features (by id
/// and content) — on the layers that show the dataset, and the hexagons they fall in on H3
/// layers that count them. Applies run one at a time.
///
/// # Errors
/// Store errors; the engine keeps the previous version then.
pub async fn apply_dataset(state: &Ingest, info: &DatasetInfo) -> Result<Applied, StoreError> {
    let (engine, store, cache) = (&state.engine, state.store.as_ref(), &state.cache);
    let _one_at_a_time = state.apply.lock().await;
    if state.applied_version(&info.id) >= info.version {
        return Ok(Applied::default());
    }
    let name = dataset_collection(&info.id);
    let (before_fields, before) = engine.with_collection(&name, summarise).unwrap_or_default();
    crate::load::load_dataset(engine, store, info).await?;
    state.note_applied(&info.id, info.version);
    let (after_fields, after) = engine.with_collection(&name, summarise).unwrap_or_default();
    let changed: Vec<Arc<Feature>> = if before_fields == after_fields {
        changed_features(&before, &after)
    } else {
        // Other fields: every tile of the old and new features changes.
        before.values().chain(after.values()).map(|(_, _, f)| f.clone()).collect()
    };
    let count = if before_fields == after_fields {
        before.iter().filter(|(id, (h, _, _))| after.get(id).is_none_or(|(h2, _, _)| h2 != h)).count()
            + after.keys().filter(|id| !before.contains_key(id)).count()
    } else {
        before.len().max(after.len())
    };
    drop((before, after));
    let mut invalidated = 0;
    if !changed.is_empty() {
        let rects: Vec<Rect<f64>> = if changed.len() > MAX_INVALIDATED_FEATURES {
            common_box(&changed.iter().map(|f| f.bbox).collect::<Vec<_>>()).into_iter().collect()
        } else {
            changed.iter().map(|f| f.bbox).collect()
        };
        for layer in engine.layers().iter().filter(|l| l.collection == name) {
            if layer.is_h3() {
                invalidated += invalidate_hexagons(cache, layer, &changed);
            } else {
                invalidated += cache.invalidate_layer(&layer.def.id, &rects);
            }
        }
    }
    tracing::info!(dataset = %info.id, version = info.version, changed = count, invalidated, "dataset version applied");
    Ok(Applied { changed: count, invalidated })
}

/// Drops an H3 layer's tiles over the hexagons, at each resolution it shows, that the changed
/// features count in (every tile of the layer when too many features changed).
fn invalidate_hexagons(cache: &TileCache, layer: &vigie_layers::Layer, changed: &[Arc<Feature>]) -> usize {
    use vigie_layers::h3;
    let (min, max) = (layer.def.min_resolution.unwrap_or(0), layer.def.max_resolution.unwrap_or(h3::FINEST));
    if changed.len() > MAX_INVALIDATED_FEATURES {
        let world = vigie_layers::tile::lonlat_to_mercator(180.0, 85.06);
        let rect = Rect::new(geo::coord! { x: -world.x, y: -world.y }, world);
        return cache.invalidate_layer(&layer.def.id, &[rect]);
    }
    let mut rects = Vec::new();
    for f in changed {
        if let Some(p) = h3::representative_point(&f.lonlat) {
            for r in min..=max {
                if let Some(cell) = h3::cell_of(p.x, p.y, r) {
                    rects.push(h3::cell_rect(cell));
                }
            }
        }
    }
    cache.invalidate_layer(&layer.def.id, &rects)
}

fn common_box(rects: &[Rect<f64>]) -> Option<Rect<f64>> {
    let mut it = rects.iter();
    let first = *it.next()?;
    Some(it.fold(first, |a, r| {
        Rect::new(
            geo::coord! { x: a.min().x.min(r.min().x), y: a.min().y.min(r.min().y) },
            geo::coord! { x: a.max().x.max(r.max().x), y: a.max().y.max(r.max().y) },
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_box_spans_every_rect() {
        let r = |a: f64, b: f64| Rect::new(geo::coord! { x: a, y: a }, geo::coord! { x: b, y: b });
        let b = common_box(&[r(0.0, 1.0), r(-2.0, -1.0), r(5.0, 6.0)]).unwrap();
        assert_eq!((b.min().x, b.max().y), (-2.0, 6.0));
        assert!(common_box(&[]).is_none());
    }
}
