//! Ingestion: dataset versions going from the store into the running engine. [`Ingest`] holds
//! which version of each dataset the engine has and lets one apply run at a time;
//! [`apply_dataset`] swaps a version in and invalidates only the tiles of the features that
//! changed (added, removed or modified, by id and content), on the layers that read the
//! dataset; [`spawn_dataset_watcher`] picks up versions other processes stored.
//!
//! Submodules: [`import`] (files into stored datasets) and [`sources`] (the scheduled sources,
//! which import and apply). Dependencies point one way: `sources` → `import` and this module;
//! this module → [`crate::load`] → [`crate::store`]; `import` → the store. This module imports
//! `load`, the store and the tile cache, never its own submodules.

pub mod import;
pub mod sources;

use crate::load::{catalog_datasets, load_dataset};
use crate::store::{DatasetInfo, Store, StoreError};
use crate::tiles::TileCache;
use geo::{CoordsIter, Rect};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use vigie_layers::engine::dataset_collection;
use vigie_layers::feature::{Feature, FeatureId};
use vigie_layers::index::Collection;
use vigie_layers::{Engine, Value};

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
    /// Where imports are counted.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The workspace they are counted under.
    pub workspace: String,
    /// A leaf lock: held to read or note a version, nothing else.
    applied: Mutex<HashMap<String, u64>>,
    /// Serialises dataset applies. An async mutex, held across the store read and the
    /// engine swap on purpose; no other lock of ours is held while waiting for it.
    apply: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").field("applied", &self.applied).finish_non_exhaustive()
    }
}

impl Ingest {
    /// The ingestion state of an engine over a store, holding the dataset versions its
    /// start-up load read (`loaded`).
    pub fn new(
        engine: Arc<Engine>,
        store: Arc<dyn Store>,
        cache: TileCache,
        loaded: &[(String, u64)],
        metrics: Arc<crate::metrics::Metrics>,
        workspace: String,
    ) -> Arc<Self> {
        Arc::new(Self {
            engine,
            store,
            cache,
            metrics,
            workspace,
            applied: Mutex::new(loaded.iter().cloned().collect()),
            apply: tokio::sync::Mutex::default(),
        })
    }
}

impl Ingest {
    /// Counts an import of this workspace.
    pub fn count_import(&self, origin: crate::metrics::ImportOrigin, outcome: crate::metrics::ImportOutcome) {
        self.metrics.import(&self.workspace, origin, outcome);
    }

    /// The version of `dataset` the engine holds (0 when it holds none or it is unknown).
    pub fn applied_version(&self, dataset: &str) -> u64 {
        self.applied.lock().unwrap_or_else(PoisonError::into_inner).get(dataset).copied().unwrap_or(0)
    }

    /// Records that the engine holds `version` of `dataset`.
    pub fn note_applied(&self, dataset: &str, version: u64) {
        let mut m = self.applied.lock().unwrap_or_else(PoisonError::into_inner);
        let v = m.entry(dataset.to_owned()).or_insert(0);
        *v = (*v).max(version);
    }
}

/// One feature's content hash, box (metres) and the feature itself, for change detection.
type Summary = HashMap<FeatureId, (u64, Rect<f64>, Arc<Feature>)>;

/// A hash of everything a tile shows of a feature: geometry, properties (by field name),
/// time, severity and tags.
fn content_hash(f: &Feature, fields: &[String]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::mem::discriminant(&f.lonlat()).hash(&mut h);
    let mut n = 0usize;
    for c in f.lonlat().coords_iter() {
        c.x.to_bits().hash(&mut h);
        c.y.to_bits().hash(&mut h);
        n += 1;
    }
    n.hash(&mut h);
    if let geo::Geometry::MultiPolygon(mp) = &*f.lonlat() {
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
            Value::Text(s) => (4u8, s.as_str()).hash(&mut h),
            Value::Time(t) => (5u8, t).hash(&mut h),
        }
    }
    f.attrs.time_ms.get().hash(&mut h);
    f.attrs.severity.hash(&mut h);
    if let Some(tags) = &f.attrs.tags {
        for t in tags.iter() {
            t.as_str().hash(&mut h);
        }
    }
    h.finish()
}

fn summarise(c: &Collection) -> (Vec<String>, Summary) {
    let fields: Vec<String> = c.schema().fields.iter().map(|f| f.name.clone()).collect();
    let summary = c.iter().map(|f| (f.id, (content_hash(f, &fields), f.bbox(), f.clone()))).collect();
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
    load_dataset(engine, store, info).await?;
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
            common_box(&changed.iter().map(|f| f.bbox()).collect::<Vec<_>>()).into_iter().collect()
        } else {
            changed.iter().map(|f| f.bbox()).collect()
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

/// Drops an H3 layer's tiles over the hexagons, at each resolution it shows and at the zooms
/// that show it, that the changed features count in (every tile of the layer when too many features changed).
fn invalidate_hexagons(cache: &TileCache, layer: &vigie_layers::Layer, changed: &[Arc<Feature>]) -> usize {
    use vigie_layers::h3;
    let (min, max) = (layer.def.min_resolution.unwrap_or(0), layer.def.max_resolution.unwrap_or(h3::FINEST));
    if changed.len() > MAX_INVALIDATED_FEATURES {
        let world = vigie_layers::tile::lonlat_to_mercator(180.0, 85.06);
        let rect = Rect::new(geo::coord! { x: -world.x, y: -world.y }, world);
        return cache.invalidate_layer(&layer.def.id, &[rect]);
    }
    let points: Vec<_> = changed.iter().filter_map(|f| h3::representative_point(&f.lonlat())).collect();
    (min..=max)
        .map(|r| {
            let rects: Vec<Rect<f64>> =
                points.iter().filter_map(|p| h3::counting_cell(p.x, p.y, r)).map(h3::cell_rect).collect();
            cache.invalidate_layer_at(&layer.def.id, &rects, h3::zooms_showing(r, min, max))
        })
        .sum()
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

/// How often the service looks for datasets imported by another process (`vigie import`, a
/// replica).
pub const DATASET_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Watches the store for new dataset versions (imported by `vigie import`, a source refresh,
/// an upload or a replica) and swaps them in, invalidating only the tiles of the features that
/// changed ([`apply_dataset`]). Stops when the ingestion state is dropped (its workspace's
/// state retired).
pub fn spawn_dataset_watcher(state: &Arc<Ingest>) -> tokio::task::JoinHandle<()> {
    let wanted: Arc<[String]> = catalog_datasets(&state.engine).into();
    crate::spawn_every(state, DATASET_POLL, move |state| {
        let wanted = wanted.clone();
        async move {
            let infos = match state.store.datasets().await {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list datasets");
                    return;
                }
            };
            for info in infos.into_iter().filter(|i| wanted.contains(&i.id)) {
                if state.applied_version(&info.id) >= info.version {
                    continue;
                }
                if let Err(e) = apply_dataset(&state, &info).await {
                    tracing::warn!(dataset = %info.id, error = %e, "cannot load the new dataset version");
                }
            }
        }
    })
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
