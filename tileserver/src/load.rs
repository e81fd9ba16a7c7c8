//! Filling the engine from the store: at start, the whole index is rebuilt from what the store
//! committed (so a crash between a commit and an index update loses nothing).
//!
//! Sits below ingestion: imports the store and the engine only; ingestion (the `ingest`
//! module) calls [`load_dataset`] to swap a new dataset version in. The demo seed is
//! [`crate::store::Seed::demo`].

use crate::store::{DatasetInfo, Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use vigie_layers::catalog::LayerKind;
use vigie_layers::engine::dataset_collection;
use vigie_layers::engine::{ENTRIES, PERIMETERS, VENUES};
use vigie_layers::index::Collection;
use vigie_layers::model::{Interner, entry_schema, perimeter_schema, venue_schema};
use vigie_layers::{Engine, Feature};

/// What a load read.
#[derive(Debug, Clone, Default)]
pub struct LoadStats {
    /// Venues indexed.
    pub venues: usize,
    /// Perimeters indexed.
    pub perimeters: usize,
    /// Entries indexed.
    pub entries: usize,
    /// Records skipped because their geometry cannot be indexed (logged one by one).
    pub skipped: usize,
    /// Seconds spent.
    pub seconds: f64,
    /// The dataset versions loaded, by dataset id.
    pub datasets: Vec<(String, u64)>,
}

fn keep(
    result: Result<Feature, vigie_layers::feature::GeometryError>,
    what: &str,
    id: &str,
    skipped: &mut usize,
) -> Option<Feature> {
    match result {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!(%what, %id, error = %e, "record left out of the index");
            *skipped += 1;
            None
        }
    }
}

/// Rebuilds every built-in collection of the engine from the store (R-trees bulk-loaded).
///
/// # Errors
/// Store errors; the engine keeps what it had.
pub async fn load_engine(engine: &Engine, store: &dyn Store) -> Result<LoadStats, StoreError> {
    let started = Instant::now();
    let mut interner = Interner::default();
    let mut skipped = 0;

    let venues = store.venues().await?;
    let names: HashMap<String, String> = venues.iter().map(|v| (v.code.clone(), v.name.clone())).collect();
    let venue_features: Vec<Feature> =
        venues.iter().filter_map(|v| keep(v.to_feature(&mut interner), "venue", &v.code, &mut skipped)).collect();

    let perimeters = store.perimeters().await?;
    let perimeter_features: Vec<Feature> = perimeters
        .iter()
        .filter_map(|p| {
            let name = names.get(&p.venue).map_or("", String::as_str);
            keep(p.to_feature(name, &mut interner), "perimeter", &p.id.to_string(), &mut skipped)
        })
        .collect();

    let vocab = engine.vocabulary().clone();
    // Each feature goes into its Arc as it is made: the index shares them, and a Vec<Feature>
    // moved into Arcs would hold every feature twice at the peak.
    let mut entry_features: Vec<Arc<Feature>> = Vec::new();
    let mut entry_skipped = 0;
    store
        .for_each_entry(&mut |e| {
            if let Some(f) = keep(e.to_feature(&vocab, &mut interner), "entry", &e.id.to_string(), &mut entry_skipped) {
                entry_features.push(Arc::new(f));
            }
        })
        .await?;
    skipped += entry_skipped;
    tracing::debug!(entries = entry_features.len(), seconds = started.elapsed().as_secs_f64(), "records read");

    let mut stats = LoadStats {
        venues: venue_features.len(),
        perimeters: perimeter_features.len(),
        entries: entry_features.len(),
        skipped,
        ..LoadStats::default()
    };
    let (v, p, e) = tokio::task::spawn_blocking(move || {
        (
            Collection::bulk_load(venue_schema(), venue_features),
            Collection::bulk_load(perimeter_schema(), perimeter_features),
            Collection::bulk_load_shared(entry_schema(), entry_features),
        )
    })
    .await
    .map_err(StoreError::task("index build"))?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "collections indexed");
    engine.replace(&VENUES, v);
    engine.replace(&PERIMETERS, p);
    engine.replace(&ENTRIES, e);
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "collections swapped in, aggregates built");
    let datasets = load_datasets(engine, store).await?;
    stats.skipped += datasets.skipped;
    stats.datasets = datasets.datasets;
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

/// Loads the current version of every dataset the catalog's layers read (what
/// [`load_engine`] does after the built-in collections).
///
/// # Errors
/// Store errors.
pub async fn load_datasets(engine: &Engine, store: &dyn Store) -> Result<LoadStats, StoreError> {
    let started = Instant::now();
    let mut stats = LoadStats::default();
    let wanted = catalog_datasets(engine);
    for info in store.datasets().await? {
        if wanted.contains(&info.id) {
            let (skipped, version) = match load_dataset(engine, store, &info).await {
                Ok(skipped) => (skipped, info.version),
                Err(e) => {
                    // An import may have replaced this version since the list was read (the
                    // PostGIS store then drops its table): read the current one, once.
                    let newer =
                        store.datasets().await?.into_iter().find(|i| i.id == info.id && i.version > info.version);
                    let Some(newer) = newer else { return Err(e) };
                    (load_dataset(engine, store, &newer).await?, newer.version)
                }
            };
            stats.skipped += skipped;
            stats.datasets.push((info.id.clone(), version));
        }
    }
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

/// Dataset ids the catalog's layers read.
pub fn catalog_datasets(engine: &Engine) -> Vec<String> {
    engine.layers().iter().filter(|l| l.def.kind == LayerKind::Dataset).filter_map(|l| l.def.dataset.clone()).collect()
}

/// Loads (or reloads) one dataset's current version into the engine; returns how many
/// features could not be indexed.
///
/// # Errors
/// Store errors; the engine keeps the previous version then.
pub async fn load_dataset(engine: &Engine, store: &dyn Store, info: &DatasetInfo) -> Result<usize, StoreError> {
    let features = store.dataset_features(info).await?;
    let vocab = engine.vocabulary().clone();
    let mut interner = Interner::default();
    let mut skipped = 0;
    let indexed: Vec<Feature> = features
        .iter()
        .filter_map(|f| keep(f.to_feature(&vocab, &mut interner), "dataset feature", &f.id.to_string(), &mut skipped))
        .collect();
    let schema = info.schema.clone();
    let collection = tokio::task::spawn_blocking(move || Collection::bulk_load(schema, indexed))
        .await
        .map_err(StoreError::task("dataset index build"))?;
    engine.replace(&dataset_collection(&info.id), collection);
    tracing::info!(dataset = %info.id, version = info.version, features = info.feature_count, "dataset loaded");
    Ok(skipped)
}
