//! Tile sources: whatever can answer "the MVT layer of this tile" — the engine's layers
//! (entries, venues, perimeters, datasets, H3 aggregates) and PostGIS table layers, tile
//! archives later — behind one trait, the way Martin's `Source` does it; and the tile cache.
//!
//! A composite tile asks each source of its layer set for its layer, in request order, and
//! concatenates the parts (an MVT is a sequence of layers). Handlers hold
//! `Arc<dyn TileSource>` and never ask what kind of source it is: what a source offers beyond
//! tiles (region queries, OGC items) is said by [`TileSource::features`].
//!
//! - `engine.rs`: the engine's layers, rendered from the in-memory index off the async workers;
//! - `table.rs`: PostGIS tables and views, through `ST_AsMVT`;
//! - `staffing.rs`: the staffing layer, places coloured by coverage, from the roster;
//! - `archive.rs`: PMTiles and MBTiles archives (basemaps, reference tiles, offline packs);
//! - `cache.rs`: encoded tiles by layer set, filters and address; renders in flight.

pub mod archive;
pub mod cache;
pub mod engine;
pub mod staffing;
pub mod table;

use crate::store::Store;
pub use archive::{ArchiveInfo, ArchiveReach, TileFormat};
use async_trait::async_trait;
pub use cache::{CachedTile, LayerSet, Outcome, RenderError, TileCache, TileKey};
use geo::Rect;
use std::collections::HashMap;
use std::sync::Arc;
use vigie_layers::feature::Schema;
use vigie_layers::{Budget, Engine, Filter, Layer, TileCoord};

/// One layer of a tile.
#[derive(Debug, Clone, Default)]
pub struct LayerTile {
    /// The encoded MVT layer; empty when nothing meets the tile.
    pub bytes: Vec<u8>,
    /// Features it holds (for a source that cannot count them: 1 when not empty).
    pub features: usize,
    /// Whether it was thinned into clusters (over its budget).
    pub thinned: bool,
}

/// What region queries and OGC API – Features can do with a source's features.
#[derive(Debug, Clone)]
pub enum Features {
    /// Indexed in memory: region queries, OGC items and exports read them through the
    /// engine's layer.
    Indexed(Arc<Layer>),
    /// Counts of another layer's features (H3 hexagons): queries go to that layer.
    Aggregate {
        /// The engine's layer of the aggregate.
        layer: Arc<Layer>,
        /// Id of the layer whose features it counts.
        source: String,
    },
    /// Served as tiles only (PostGIS tables): query the data where it lives.
    TilesOnly,
}

/// A source of one catalog layer's tiles.
#[async_trait]
pub trait TileSource: Send + Sync + std::fmt::Debug {
    /// The catalog layer it serves (id, titles, theme, zoom range, style hints).
    fn layer(&self) -> &Arc<Layer>;

    /// The id of that layer.
    fn id(&self) -> &str {
        &self.layer().def.id
    }

    /// The properties its features carry (TileJSON `vector_layers`, the catalog).
    fn schema(&self) -> Arc<Schema>;

    /// The properties of the clusters its tiles carry when thinned to their budget (`None`:
    /// its tiles are never thinned).
    fn cluster_schema(&self) -> Option<Schema> {
        None
    }

    /// Features it holds before request filters (0 when it does not count them).
    fn feature_count(&self) -> usize;

    /// Envelope of its features, Web Mercator metres (`None` when unknown or empty).
    fn extent(&self) -> Option<Rect<f64>>;

    /// What can be done with its features besides tiles.
    fn features(&self) -> Features;

    /// The encoding of its tiles: MVT but for raster archives.
    fn format(&self) -> TileFormat {
        TileFormat::Mvt
    }

    /// What its archive says of itself, for an archive layer that is open.
    fn archive(&self) -> Option<ArchiveInfo> {
        None
    }

    /// Whether its tiles can be served now, or why not (an archive that cannot be opened:
    /// asking tries it again, at most every [`archive::RETRY`]).
    async fn available(&self) -> Result<(), String> {
        Ok(())
    }

    /// Its MVT layer for one tile under a filter (empty outside its zoom range), within
    /// `budget` where the source can thin its features (the engine's layers: clusters).
    ///
    /// # Errors
    /// [`RenderError`] when the data behind it cannot be read, or a raw layer is over the
    /// budget's ceiling.
    async fn tile(&self, coord: TileCoord, filter: &Filter, budget: Budget) -> Result<LayerTile, RenderError>;
}

/// Every layer's source, in catalog order.
#[derive(Debug, Default)]
pub struct TileSources {
    list: Vec<Arc<dyn TileSource>>,
}

impl TileSources {
    /// A source for each layer of the engine's catalog: table layers from the store's
    /// PostGIS pool, archive layers from their archives within `archives`, the others from the
    /// engine.
    ///
    /// # Errors
    /// A table layer that cannot be served (no PostgreSQL store, a missing table or column).
    /// An archive that cannot be opened is not an error: its layer answers 503 until it can be.
    pub async fn prepare(
        engine: &Arc<Engine>,
        store: &dyn Store,
        staffing: &Arc<crate::staffing::Staffing>,
        archives: &ArchiveReach,
    ) -> Result<Self, table::TableError> {
        let mut opened = HashMap::new();
        for layer in engine.layers().iter().filter(|l| l.def.kind.is_archive()) {
            let source = archive::ArchiveSource::open(layer.clone(), archives.clone()).await;
            opened.insert(layer.def.id.clone(), Arc::new(source));
        }
        let mut tables: HashMap<String, table::TableSource> =
            table::TableSource::prepare_all(engine, store.postgis_pool())
                .await?
                .into_iter()
                .map(|t| (t.id().to_owned(), t))
                .collect();
        let list = engine
            .layers()
            .iter()
            .map(|layer| -> Arc<dyn TileSource> {
                if layer.def.kind == vigie_layers::catalog::LayerKind::Staffing {
                    return Arc::new(staffing::StaffingSource::new(layer.clone(), staffing.clone()));
                }
                if let Some(a) = opened.remove(&layer.def.id) {
                    return a;
                }
                match tables.remove(&layer.def.id) {
                    Some(t) => Arc::new(t),
                    None => Arc::new(engine::EngineSource::new(engine.clone(), layer.clone())),
                }
            })
            .collect();
        Ok(Self { list })
    }

    /// The source of a layer.
    pub fn get(&self, id: &str) -> Option<&Arc<dyn TileSource>> {
        self.list.iter().find(|s| s.id() == id)
    }

    /// Every source, in catalog order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn TileSource>> {
        self.list.iter()
    }
}

/// The process's bounds on tile renders (all workspaces): how many at once — a render waits
/// at most `wait` for its turn, then fails with [`RenderError::Busy`] (503 with Retry-After) —
/// and what one tile may hold (its [`Budget`]). What renders hold in memory is bounded by the
/// limit and the budget, not by how many clients miss the cache or how dense the data is.
#[derive(Debug)]
pub struct RenderGate {
    permits: Arc<tokio::sync::Semaphore>,
    limit: usize,
    wait: std::time::Duration,
    budget: Budget,
}

impl RenderGate {
    /// At most `limit` renders at once, each waiting at most `wait` for its turn, each tile
    /// within `budget`.
    pub fn new(limit: usize, wait: std::time::Duration, budget: Budget) -> Arc<Self> {
        let limit = limit.max(1);
        Arc::new(Self { permits: Arc::new(tokio::sync::Semaphore::new(limit)), limit, wait, budget })
    }

    /// What one tile may hold.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// A turn to render, held until dropped.
    ///
    /// # Errors
    /// [`RenderError::Busy`] when no turn came within the wait.
    pub async fn turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit, RenderError> {
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(RenderError::Busy { limit: self.limit, waited_ms: self.wait.as_millis() as u64 }),
        }
    }

    /// Renders under way.
    pub fn in_use(&self) -> usize {
        self.limit - self.permits.available_permits()
    }
}

/// A composite tile: each source's layer for `coord`, in order, concatenated. The parts are
/// rendered concurrently, each within an equal share of `budget` (among the layers drawn at
/// that zoom); the whole is refused past the budget's ceiling (whatever the sources, table
/// layers included).
///
/// # Errors
/// The first source that fails; [`RenderError::OverCeiling`] for a tile over the ceiling.
pub async fn render(
    sources: &[Arc<dyn TileSource>],
    coord: TileCoord,
    filter: &Filter,
    budget: Budget,
) -> Result<CachedTile, RenderError> {
    // Shared by the layers that draw at this zoom.
    let share = budget.share(sources.iter().filter(|s| s.layer().in_zoom(coord.z())).count());
    let parts = futures_util::future::try_join_all(sources.iter().map(|s| s.tile(coord, filter, share))).await?;
    let total: usize = parts.iter().map(|p| p.bytes.len()).sum();
    if total > budget.ceiling {
        let layer = sources.iter().map(|s| s.id()).collect::<Vec<_>>().join(",");
        return Err(RenderError::OverCeiling(Arc::new(vigie_layers::OverCeiling {
            layer,
            tile: coord,
            ceiling: budget.ceiling,
        })));
    }
    let mut bytes = Vec::with_capacity(total);
    let mut features = Vec::with_capacity(parts.len());
    let mut thinned = Vec::new();
    for (part, source) in parts.into_iter().zip(sources) {
        bytes.extend(part.bytes);
        features.push(part.features);
        if part.thinned {
            thinned.push(source.id().to_owned());
        }
    }
    // A raster archive's tile is requested alone (see `http::tiles::resolve_layers`).
    let format = sources.first().map_or(TileFormat::Mvt, |s| s.format());
    Ok(CachedTile::new(bytes, features).with_thinned(thinned).with_format(format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_render_past_the_limit_waits_then_is_refused_naming_the_limit() {
        let gate = RenderGate::new(1, Duration::from_millis(20), Budget::default());
        let first = gate.turn().await.expect("a free turn");
        assert_eq!(gate.in_use(), 1);
        let t = std::time::Instant::now();
        match gate.turn().await {
            Err(RenderError::Busy { limit: 1, waited_ms: 20 }) => {}
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() >= Duration::from_millis(20), "it waited its turn first");
        // A turn given back within the wait is taken.
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.turn().await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(first);
        waiting.await.unwrap().expect("the freed turn");
        assert_eq!(gate.in_use(), 0);
    }
}
