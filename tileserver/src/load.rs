//! Filling the engine from the store: at start, the whole index is rebuilt from what the store
//! committed (so a crash between a commit and an index update loses nothing).

use crate::store::{Seed, Store, StoreError};
use std::collections::HashMap;
use std::time::Instant;
use vigie_layers::demo::{self, Shapes};
use vigie_layers::engine::{ENTRIES, PERIMETERS, VENUES};
use vigie_layers::index::Collection;
use vigie_layers::model::{Interner, entry_schema, perimeter_schema, venue_schema};
use vigie_layers::{Engine, Feature};

/// What a load read.
#[derive(Debug, Clone, Copy, Default)]
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
    let venue_features: Vec<Feature> = venues
        .iter()
        .filter_map(|v| keep(v.to_feature(&mut interner), "venue", &v.code, &mut skipped))
        .collect();

    let perimeters = store.perimeters().await?;
    let perimeter_features: Vec<Feature> = perimeters
        .iter()
        .filter_map(|p| {
            let name = names.get(&p.venue).map_or("", String::as_str);
            keep(
                p.to_feature(name, &mut interner),
                "perimeter",
                &p.id.to_string(),
                &mut skipped,
            )
        })
        .collect();

    let vocab = engine.vocabulary().clone();
    let mut entry_features = Vec::new();
    let mut entry_skipped = 0;
    store
        .for_each_entry(&mut |e| {
            if let Some(f) = keep(
                e.to_feature(&vocab, &mut interner),
                "entry",
                &e.id.to_string(),
                &mut entry_skipped,
            ) {
                entry_features.push(f);
            }
        })
        .await?;
    skipped += entry_skipped;

    let stats = LoadStats {
        venues: venue_features.len(),
        perimeters: perimeter_features.len(),
        entries: entry_features.len(),
        skipped,
        seconds: 0.0,
    };
    let (v, p, e) = tokio::task::spawn_blocking(move || {
        (
            Collection::bulk_load(venue_schema(), venue_features),
            Collection::bulk_load(perimeter_schema(), perimeter_features),
            Collection::bulk_load(entry_schema(), entry_features),
        )
    })
    .await
    .map_err(|e| StoreError::Corrupt {
        what: "index",
        id: String::new(),
        reason: e.to_string(),
    })?;
    engine.replace(VENUES, v);
    engine.replace(PERIMETERS, p);
    engine.replace(ENTRIES, e);
    Ok(LoadStats {
        seconds: started.elapsed().as_secs_f64(),
        ..stats
    })
}

/// The bundled demo: venues, their perimeters and `entries` synthetic log entries.
pub fn demo_seed(seed: u64, entries: usize, points_only: bool) -> Seed {
    let venues = demo::bundled_venues();
    let perimeters = demo::perimeters(&venues, seed);
    let shapes = if points_only { Shapes::PointsOnly } else { Shapes::Mixed };
    let entries = demo::entries(&venues, seed, entries, shapes);
    Seed {
        venues,
        perimeters,
        entries,
    }
}
