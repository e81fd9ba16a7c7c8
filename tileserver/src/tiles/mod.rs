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
//! - `cache.rs`: encoded tiles by layer set, filters and address; renders in flight.

pub mod cache;
pub mod engine;
pub mod table;

use crate::store::Store;
use async_trait::async_trait;
pub use cache::{CachedTile, LayerSet, Outcome, RenderError, TileCache, TileKey};
use geo::Rect;
use std::collections::HashMap;
use std::sync::Arc;
use vigie_layers::feature::Schema;
use vigie_layers::{Engine, Filter, Layer, TileCoord};

/// One layer of a tile.
#[derive(Debug, Clone, Default)]
pub struct LayerTile {
    /// The encoded MVT layer; empty when nothing meets the tile.
    pub bytes: Vec<u8>,
    /// Features it holds (for a source that cannot count them: 1 when not empty).
    pub features: usize,
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

    /// Features it holds before request filters (0 when it does not count them).
    fn feature_count(&self) -> usize;

    /// Envelope of its features, Web Mercator metres (`None` when unknown or empty).
    fn extent(&self) -> Option<Rect<f64>>;

    /// What can be done with its features besides tiles.
    fn features(&self) -> Features;

    /// Its MVT layer for one tile under a filter (empty outside its zoom range).
    ///
    /// # Errors
    /// [`RenderError`] when the data behind it cannot be read.
    async fn tile(&self, coord: TileCoord, filter: &Filter) -> Result<LayerTile, RenderError>;
}

/// Every layer's source, in catalog order.
#[derive(Debug, Default)]
pub struct TileSources {
    list: Vec<Arc<dyn TileSource>>,
}

impl TileSources {
    /// A source for each layer of the engine's catalog: table layers from the store's
    /// PostGIS pool, the others from the engine.
    ///
    /// # Errors
    /// A table layer that cannot be served (no PostgreSQL store, a missing table or column).
    pub async fn prepare(engine: &Arc<Engine>, store: &dyn Store) -> Result<Self, table::TableError> {
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

/// A composite tile: each source's layer for `coord`, in order, concatenated. The parts are
/// rendered concurrently.
///
/// # Errors
/// The first source that fails.
pub async fn render(
    sources: &[Arc<dyn TileSource>],
    coord: TileCoord,
    filter: &Filter,
) -> Result<CachedTile, RenderError> {
    let parts = futures_util::future::try_join_all(sources.iter().map(|s| s.tile(coord, filter))).await?;
    let mut bytes = Vec::with_capacity(parts.iter().map(|p| p.bytes.len()).sum());
    let mut features = Vec::with_capacity(parts.len());
    for part in parts {
        bytes.extend(part.bytes);
        features.push(part.features);
    }
    Ok(CachedTile::new(bytes, features))
}
