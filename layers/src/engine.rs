//! The engine: catalog layers resolved against indexed collections, and tile rendering.

use crate::catalog::{Catalog, LayerDef, LayerKind};
use crate::clip::{ClipBox, TileGeometry, tile_geometry};
use crate::feature::{Feature, Schema, ThemeMask};
use crate::filter::Filter;
use crate::index::Collection;
use crate::model::{ThemeVocabulary, entry_schema, perimeter_schema, venue_schema};
use crate::mvt::{LayerEncoder, TileEncoder};
use crate::tile::{BUFFER_PX, EXTENT, TileCoord};
use geo::Rect;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Collection name of the operations log.
pub const ENTRIES: &str = "entries";
/// Collection name of venues.
pub const VENUES: &str = "venues";
/// Collection name of perimeters.
pub const PERIMETERS: &str = "perimeters";

/// Collection name of an imported dataset.
pub fn dataset_collection(id: &str) -> String {
    format!("dataset/{id}")
}

/// A catalog layer bound to its collection, with its selection resolved.
#[derive(Debug)]
pub struct Layer {
    /// The catalog definition.
    pub def: LayerDef,
    /// Name of the collection it reads.
    pub collection: String,
    themes: ThemeMask,
    free_tags: Vec<Arc<str>>,
    kinds: Vec<Arc<str>>,
}

impl Layer {
    /// Whether a feature of the collection belongs to this layer.
    #[inline]
    pub fn selects(&self, f: &Feature) -> bool {
        if !self.kinds.is_empty() && !f.attrs.kind.as_ref().is_some_and(|k| self.kinds.contains(k)) {
            return false;
        }
        if self.themes.0 == 0 && self.free_tags.is_empty() {
            return true;
        }
        f.attrs.themes.intersects(self.themes)
            || f.attrs
                .tags
                .as_ref()
                .is_some_and(|tags| tags.iter().any(|t| self.free_tags.contains(t)))
    }

    /// Whether the layer has data at zoom `z` (from its minzoom up to z24; maxzoom is only
    /// the overzoom hint given to clients).
    pub fn in_zoom(&self, z: u8) -> bool {
        z >= self.def.minzoom
    }
}

/// Feature counts of a rendered tile.
#[derive(Debug, Clone)]
pub struct RenderedTile {
    /// MVT bytes; empty when no layer had a feature.
    pub bytes: Vec<u8>,
    /// Features per requested layer, in request order.
    pub features: Vec<usize>,
}

impl RenderedTile {
    /// Whether the tile holds no feature at all (served as 204).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

type Shared = Arc<RwLock<Collection>>;

/// The geospatial engine: the catalog, its vocabulary and the indexed collections.
#[derive(Debug)]
pub struct Engine {
    catalog: Catalog,
    vocab: ThemeVocabulary,
    layers: Vec<Arc<Layer>>,
    collections: RwLock<HashMap<String, Shared>>,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // A panic while holding the lock cannot leave an index half-updated in a way readers
    // could observe as unsafe; keep serving rather than poisoning every later request.
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

impl Engine {
    /// An engine with empty built-in collections for the catalog's layers.
    pub fn new(catalog: Catalog) -> Self {
        let vocab = ThemeVocabulary::new(catalog.entry_themes().map(|t| t.id.clone()));
        let layers = catalog
            .layers
            .iter()
            .map(|def| {
                let collection = match def.kind {
                    LayerKind::Entries => ENTRIES.to_owned(),
                    LayerKind::Venues => VENUES.to_owned(),
                    LayerKind::Perimeters => PERIMETERS.to_owned(),
                    LayerKind::Dataset => dataset_collection(def.dataset.as_deref().unwrap_or_default()),
                };
                Arc::new(Layer {
                    themes: vocab.mask(&def.tags),
                    free_tags: def
                        .tags
                        .iter()
                        .filter(|t| !vocab.contains(t))
                        .map(|t| Arc::from(t.as_str()))
                        .collect(),
                    kinds: def.kinds.iter().map(|k| Arc::from(k.as_str())).collect(),
                    collection,
                    def: def.clone(),
                })
            })
            .collect();
        let mut collections = HashMap::new();
        for (name, schema) in [
            (ENTRIES, entry_schema()),
            (VENUES, venue_schema()),
            (PERIMETERS, perimeter_schema()),
        ] {
            collections.insert(name.to_owned(), Arc::new(RwLock::new(Collection::new(schema))));
        }
        Self {
            catalog,
            vocab,
            layers,
            collections: RwLock::new(collections),
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Theme vocabulary of log-entry tags.
    pub fn vocabulary(&self) -> &ThemeVocabulary {
        &self.vocab
    }

    /// Layers in catalog order.
    pub fn layers(&self) -> &[Arc<Layer>] {
        &self.layers
    }

    /// A layer by id.
    pub fn layer(&self, id: &str) -> Option<&Arc<Layer>> {
        self.layers.iter().find(|l| l.def.id == id)
    }

    fn collection(&self, name: &str) -> Option<Shared> {
        read(&self.collections).get(name).cloned()
    }

    /// Replaces a whole collection (start-up load, dataset swap). Readers see the old or the
    /// new one, never a mix.
    pub fn replace(&self, name: &str, collection: Collection) {
        let shared = self.collection(name);
        match shared {
            Some(c) => *write(&c) = collection,
            None => {
                write(&self.collections).insert(name.to_owned(), Arc::new(RwLock::new(collection)));
            }
        }
    }

    /// Runs `f` with write access to a collection (incremental updates).
    ///
    /// Returns `None` when there is no such collection.
    pub fn update<R>(&self, name: &str, f: impl FnOnce(&mut Collection) -> R) -> Option<R> {
        let c = self.collection(name)?;
        let mut guard = write(&c);
        Some(f(&mut guard))
    }

    /// Runs `f` with read access to a collection.
    pub fn with_collection<R>(&self, name: &str, f: impl FnOnce(&Collection) -> R) -> Option<R> {
        let c = self.collection(name)?;
        let guard = read(&c);
        Some(f(&guard))
    }

    /// Ids of the entry layers an entry with any of these tag sets belongs to (an edit passes
    /// its old and new tags): what a change touches, for live events.
    pub fn entry_layers(&self, tag_sets: &[&[String]]) -> Vec<String> {
        self.layers
            .iter()
            .filter(|l| l.def.kind == LayerKind::Entries)
            .filter(|l| {
                l.def.tags.is_empty() || tag_sets.iter().any(|tags| tags.iter().any(|t| l.def.tags.contains(t)))
            })
            .map(|l| l.def.id.clone())
            .collect()
    }

    /// The property schema of a layer's features (empty for a dataset not loaded yet).
    pub fn schema(&self, layer: &Layer) -> Arc<Schema> {
        self.with_collection(&layer.collection, |c| c.schema().clone())
            .unwrap_or_default()
    }

    /// Number of features a layer holds (before request filters).
    pub fn layer_len(&self, layer: &Layer) -> usize {
        self.with_collection(&layer.collection, |c| {
            if !layer.kinds.is_empty() {
                layer.kinds.iter().map(|k| c.kind_count(k)).sum()
            } else if layer.free_tags.is_empty() && layer.themes.0.is_power_of_two() {
                c.theme_count(layer.themes.0.trailing_zeros())
            } else if layer.free_tags.is_empty() && layer.themes.0 == 0 {
                c.len()
            } else {
                c.iter().filter(|f| layer.selects(f)).count()
            }
        })
        .unwrap_or(0)
    }

    /// Envelope of a layer's collection (Web Mercator metres).
    pub fn extent(&self, layer: &Layer) -> Option<Rect<f64>> {
        self.with_collection(&layer.collection, Collection::extent).flatten()
    }

    /// Renders one tile holding one MVT layer per requested layer (layers outside their zoom
    /// range or without features are left out).
    pub fn render(&self, layers: &[Arc<Layer>], coord: TileCoord, filter: &Filter) -> RenderedTile {
        let tr = coord.transform();
        let clip = ClipBox::new(BUFFER_PX);
        let envelope = coord.buffered_bounds(BUFFER_PX);
        let mut tile = TileEncoder::new();
        let mut counts = Vec::with_capacity(layers.len());
        for layer in layers {
            let mut enc = LayerEncoder::new(&layer.def.id, EXTENT);
            if layer.in_zoom(coord.z())
                && let Some(shared) = self.collection(&layer.collection)
            {
                let c = read(&shared);
                let mut hits: Vec<&Arc<Feature>> = c
                    .query(envelope)
                    .filter(|f| layer.selects(f) && filter.matches(&f.attrs))
                    .collect();
                // Feature order decides drawing order; sorting by id makes the bytes (and the
                // ETag) the same on every replica whatever the index's insertion history.
                hits.sort_unstable_by_key(|f| f.id);
                let schema = c.schema();
                for f in hits {
                    if let Some(g) = tile_geometry(&f.geometry, &tr, &clip) {
                        add(&mut enc, f, &g, schema);
                    }
                }
            }
            counts.push(enc.len());
            tile.push(&enc);
        }
        RenderedTile {
            bytes: tile.finish(),
            features: counts,
        }
    }
}

fn add(enc: &mut LayerEncoder, f: &Feature, g: &TileGeometry, schema: &Schema) {
    let props = schema
        .fields
        .iter()
        .zip(f.props.iter())
        .map(|(field, v)| (field.name.as_str(), v));
    enc.add_feature(f.id, g, props);
}
