//! The engine's layers as tile sources: entries and their theme layers, venues, perimeters,
//! imported datasets and H3 aggregates, rendered from the in-memory index.

use super::{Features, LayerTile, RenderError, TileSource};
use async_trait::async_trait;
use geo::Rect;
use std::sync::Arc;
use vigie_layers::feature::Schema;
use vigie_layers::{Budget, Engine, Filter, Layer, TileCoord};

/// One engine layer.
#[derive(Debug)]
pub struct EngineSource {
    engine: Arc<Engine>,
    layer: Arc<Layer>,
}

impl EngineSource {
    /// The source of an engine layer.
    pub fn new(engine: Arc<Engine>, layer: Arc<Layer>) -> Self {
        Self { engine, layer }
    }
}

#[async_trait]
impl TileSource for EngineSource {
    fn layer(&self) -> &Arc<Layer> {
        &self.layer
    }

    fn schema(&self) -> Arc<Schema> {
        self.engine.schema(&self.layer)
    }

    fn cluster_schema(&self) -> Option<Schema> {
        (!self.layer.is_h3()).then(|| vigie_layers::budget::schema(self.engine.vocabulary().ids()))
    }

    fn feature_count(&self) -> usize {
        self.engine.layer_len(&self.layer)
    }

    fn extent(&self) -> Option<Rect<f64>> {
        self.engine.extent(&self.layer)
    }

    fn features(&self) -> Features {
        match &self.layer.source {
            Some(counted) if self.layer.is_h3() => {
                Features::Aggregate { layer: self.layer.clone(), source: counted.def.id.clone() }
            }
            _ => Features::Indexed(self.layer.clone()),
        }
    }

    async fn tile(&self, coord: TileCoord, filter: &Filter, budget: Budget) -> Result<LayerTile, RenderError> {
        let (engine, layer, filter) = (self.engine.clone(), self.layer.clone(), filter.clone());
        // CPU work (milliseconds for dense tiles): off the async workers.
        let t = tokio::task::spawn_blocking(move || {
            engine.render_within(std::slice::from_ref(&layer), coord, &filter, budget)
        })
        .await?
        .map_err(|e| RenderError::OverCeiling(Arc::new(e)))?;
        Ok(LayerTile {
            features: t.features.first().copied().unwrap_or(0),
            thinned: t.thinned.first().copied().unwrap_or(false),
            bytes: t.bytes,
        })
    }
}
