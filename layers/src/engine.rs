//! The engine: catalog layers resolved against indexed collections, H3 aggregates kept up to
//! date with them, and tile rendering.

use crate::budget::{self, Budget, Clusters, OverCeiling};
use crate::catalog::{Catalog, LayerDef, LayerKind};
use crate::clip::{ClipBox, TileGeometry, tile_geometry};
use crate::feature::Value;
use crate::feature::{Facts, Feature, FeatureId, Schema, Text, ThemeMask};
use crate::filter::Filter;
use crate::h3::{self, Aggregate};
use crate::hit::Hit;
use crate::index::{Collection, Item};
use crate::model::{ThemeVocabulary, entry_schema, perimeter_schema, venue_schema};
use crate::mvt::{LayerEncoder, MIN_POINT_FEATURE_BYTES, TileEncoder};
use crate::order::CellRect;
use crate::query::{Answer, Paging, Tally};
use crate::region::Prepared;
use crate::scope::Scope;
use crate::tile::{BUFFER_PX, EXTENT, TileCoord};
use geo::{Geometry, Rect};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Which indexed collection features live in: several layers may read one (the entries
/// layer, each theme layer and the H3 layer all read the operations log's).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CollectionId {
    /// The operations log's entries.
    Entries,
    /// The venues.
    Venues,
    /// The venues' security perimeters.
    Perimeters,
    /// An imported dataset, by dataset id.
    Dataset(Arc<str>),
    /// A layer whose features the engine does not hold (always empty): a PostGIS table
    /// layer's (they stay in PostGIS) or the staffing layer's (the service computes them), by
    /// layer id.
    Table(Arc<str>),
}

impl std::fmt::Display for CollectionId {
    /// `entries`, `venues`, `perimeters`, `dataset/{id}` or `table/{id}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Entries => f.write_str("entries"),
            Self::Venues => f.write_str("venues"),
            Self::Perimeters => f.write_str("perimeters"),
            Self::Dataset(id) => write!(f, "dataset/{id}"),
            Self::Table(id) => write!(f, "table/{id}"),
        }
    }
}

/// The operations log's collection.
pub const ENTRIES: CollectionId = CollectionId::Entries;
/// The venues' collection.
pub const VENUES: CollectionId = CollectionId::Venues;
/// The perimeters' collection.
pub const PERIMETERS: CollectionId = CollectionId::Perimeters;

/// The collection of an imported dataset.
pub fn dataset_collection(id: &str) -> CollectionId {
    CollectionId::Dataset(id.into())
}

/// A catalog layer bound to its collection, with its selection resolved.
#[derive(Debug)]
pub struct Layer {
    /// The catalog definition.
    pub def: LayerDef,
    /// The collection it reads.
    pub collection: CollectionId,
    /// For an H3 layer: the layer whose features it counts.
    pub source: Option<Arc<Layer>>,
    themes: ThemeMask,
    free_tags: Vec<Text>,
    kinds: Vec<Text>,
}

impl Layer {
    /// Whether a feature of the collection belongs to this layer (for an H3 layer: to its
    /// source layer).
    #[inline]
    pub fn selects(&self, f: &Feature) -> bool {
        if let Some(src) = &self.source {
            return src.selects(f);
        }
        if !self.kinds.is_empty() && !f.attrs.kind().is_some_and(|k| self.kinds.contains(k)) {
            return false;
        }
        if self.themes.0 == 0 && self.free_tags.is_empty() {
            return true;
        }
        f.attrs.themes.intersects(self.themes)
            || f.attrs.tags.as_ref().is_some_and(|tags| tags.iter().any(|t| self.free_tags.contains(t)))
    }

    /// [`Layer::selects`] read from a feature's facts; `None` when they cannot tell (the layer
    /// keeps some kinds, or free tags the feature's themes do not settle).
    #[inline]
    pub fn selects_facts(&self, b: &Facts) -> Option<bool> {
        if let Some(src) = &self.source {
            return src.selects_facts(b);
        }
        if !self.kinds.is_empty() {
            return None;
        }
        if (self.themes.0 == 0 && self.free_tags.is_empty()) || b.themes().intersects(self.themes) {
            return Some(true);
        }
        if self.free_tags.is_empty() || !b.has_tags() { Some(false) } else { None }
    }

    /// Whether the layer has data at zoom `z` (from its minzoom up to z24; maxzoom is only
    /// the overzoom hint given to clients).
    pub fn in_zoom(&self, z: u8) -> bool {
        z >= self.def.minzoom
    }

    /// Whether this is an H3 aggregate layer.
    pub fn is_h3(&self) -> bool {
        self.def.kind == LayerKind::H3
    }

    /// Whether a territory narrows what the layer shows: the log's entries, datasets marked
    /// `restricted`, and an H3 layer counting such a layer. Venues, perimeters and the other
    /// datasets are the whole workspace's reference.
    pub fn scoped(&self) -> bool {
        if let Some(src) = &self.source {
            return src.scoped();
        }
        self.def.kind == LayerKind::Entries || (self.def.kind == LayerKind::Dataset && self.def.restricted)
    }

    /// The territory of `filter` when it narrows this layer.
    #[inline]
    pub fn scope<'f>(&self, filter: &'f Filter) -> Option<&'f Scope> {
        filter.scope.as_deref().filter(|_| self.scoped())
    }
}

/// Where a change touched tiles: the old and new geometry (every layer over the collection),
/// and the hexagons whose counts moved (only tiles holding that H3 layer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Touched {
    /// Web Mercator envelopes of the old and new geometry.
    pub rects: Vec<Rect<f64>>,
    /// H3 layer id and the envelope of a hexagon of it whose counts changed.
    pub hexagons: Vec<HexagonChange>,
    /// The feature as it was before the change (`None`: it was not there).
    pub before: Option<Arc<Feature>>,
    /// The feature as it is after the change (`None`: it is gone).
    pub after: Option<Arc<Feature>>,
}

/// A hexagon of an H3 layer whose counts changed: only that layer's tiles at the zooms that
/// show the hexagon's resolution, over its envelope, changed.
#[derive(Debug, Clone, PartialEq)]
pub struct HexagonChange {
    /// The H3 layer's id.
    pub layer: String,
    /// The hexagon's envelope, Web Mercator metres.
    pub rect: Rect<f64>,
    /// The zooms whose tiles show its resolution.
    pub zooms: std::ops::RangeInclusive<u8>,
}

/// Feature counts of a rendered tile.
#[derive(Debug, Clone)]
pub struct RenderedTile {
    /// MVT bytes; empty when no layer had a feature.
    pub bytes: Vec<u8>,
    /// Features per requested layer, in request order.
    pub features: Vec<usize>,
    /// Whether each requested layer was thinned into clusters, in request order.
    pub thinned: Vec<bool>,
}

impl RenderedTile {
    /// Whether the tile holds no feature at all (served as 204).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

type Shared = Arc<RwLock<Collection>>;

/// The geospatial engine: the catalog, its vocabulary, the indexed collections and the H3
/// aggregates.
///
/// # Locks
/// Three kinds of `RwLock`: the map of collections, each collection, each H3 aggregate (the
/// workspace's and the territories'). At most one is held at a time — the map's read lock is
/// released once the collection's `Arc` is cloned, a write releases the collection before
/// taking an aggregate — and none is held across a call out of the engine (callbacks given to
/// `with_collection`/`with_aggregate` run under one read lock and must not call the engine
/// back). So no two engine locks can wait on each other, and a reader never takes the same lock
/// twice (which could wait forever behind a queued writer). Two mutexes are held for a few
/// instructions: the list of territory aggregates (it may be taken under a collection's write
/// lock) and, under it or alone, each one's list of changes made while it is built; no lock
/// is taken under the latter.
#[derive(Debug)]
pub struct Engine {
    catalog: Catalog,
    vocab: ThemeVocabulary,
    layers: Vec<Arc<Layer>>,
    collections: RwLock<HashMap<CollectionId, Shared>>,
    aggregates: HashMap<String, Arc<RwLock<Aggregate>>>,
    /// H3 counts of the territories in use, most recently used last.
    scoped: Mutex<Vec<Arc<ScopedAggregate>>>,
}

/// Territories whose H3 counts are kept per H3 layer (the least recently used goes first).
pub const MAX_SCOPED_AGGREGATES: usize = 16;

/// The H3 counts of one territory on one H3 layer: the features the layer counts that meet
/// the territory, kept up to date by every write like the workspace's aggregate. A border tile
/// of the territory then reads counts as an unscoped tile does, instead of visiting features.
#[derive(Debug)]
struct ScopedAggregate {
    layer: String,
    scope: Arc<Scope>,
    agg: RwLock<Aggregate>,
    /// While it is built (outside the collection's lock): the features changed meanwhile,
    /// counted again once it is built. `None` once built.
    building: Mutex<Option<Vec<FeatureId>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // A panic while holding the lock cannot leave an index half-updated in a way readers
    // could observe as unsafe; keep serving rather than poisoning every later request.
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

fn collection_of(def: &LayerDef) -> CollectionId {
    match def.kind {
        LayerKind::Entries | LayerKind::H3 => ENTRIES,
        LayerKind::Venues => VENUES,
        LayerKind::Perimeters => PERIMETERS,
        LayerKind::Dataset => dataset_collection(def.dataset.as_deref().unwrap_or_default()),
        LayerKind::Table | LayerKind::Staffing | LayerKind::Pmtiles | LayerKind::Mbtiles => {
            CollectionId::Table(def.id.as_str().into())
        }
    }
}

impl Engine {
    /// An engine with empty built-in collections for the catalog's layers.
    pub fn new(catalog: Catalog) -> Self {
        let vocab = ThemeVocabulary::new(catalog.entry_themes().map(|t| t.id.clone()));
        let resolve = |def: &LayerDef, source: Option<Arc<Layer>>| {
            Arc::new(Layer {
                themes: vocab.mask(&def.tags),
                free_tags: def.tags.iter().filter(|t| !vocab.contains(t)).map(|t| Text::from(t.as_str())).collect(),
                kinds: def.kinds.iter().map(|k| Text::from(k.as_str())).collect(),
                collection: source.as_ref().map_or_else(|| collection_of(def), |s| s.collection.clone()),
                source,
                def: def.clone(),
            })
        };
        let plain: HashMap<&str, Arc<Layer>> = catalog
            .layers
            .iter()
            .filter(|d| d.kind != LayerKind::H3)
            .map(|d| (d.id.as_str(), resolve(d, None)))
            .collect();
        let layers: Vec<Arc<Layer>> = catalog
            .layers
            .iter()
            .map(|d| match d.kind {
                // The catalog checked that the source exists and is not an H3 layer.
                LayerKind::H3 => resolve(d, d.source.as_deref().and_then(|s| plain.get(s)).cloned()),
                _ => plain[d.id.as_str()].clone(),
            })
            .collect();
        let aggregates = layers
            .iter()
            .filter(|l| l.is_h3())
            .map(|l| {
                let agg = Aggregate::new(l.def.min_resolution.unwrap_or(0), l.def.max_resolution.unwrap_or(h3::FINEST));
                (l.def.id.clone(), Arc::new(RwLock::new(agg)))
            })
            .collect();
        let mut collections = HashMap::new();
        for (name, schema) in [(ENTRIES, entry_schema()), (VENUES, venue_schema()), (PERIMETERS, perimeter_schema())] {
            collections.insert(name, Arc::new(RwLock::new(Collection::new(schema))));
        }
        Self { catalog, vocab, layers, collections: RwLock::new(collections), aggregates, scoped: Mutex::default() }
    }

    /// An engine for `catalog` that shares this engine's log entries, venues and perimeters
    /// (the features and their R-trees, not copies) when both catalogs give the log-entry
    /// themes the same bits, so a catalog change costs its layers rather than a reload of every
    /// entry; `None` when the themes differ (the features' theme masks must be made again).
    /// An H3 layer defined as before (and counting a source layer defined as before) shares its
    /// aggregate too; the others are built from the shared collections. Dataset collections are
    /// not shared (load them into the new engine).
    ///
    /// Both engines write to the shared collections: the caller must let only one apply
    /// changes at a time (vigie's log stops the old engine's updates before the new one
    /// starts), and re-apply to the new engine the changes made while it was built (its
    /// aggregates are built from the features present when it takes them).
    pub fn sharing(&self, catalog: Catalog) -> Option<Self> {
        let mut next = Self::new(catalog);
        if next.vocab.ids() != self.vocab.ids() {
            return None;
        }
        let same = |a: &Layer, b: &Layer| {
            a.def == b.def && a.source.as_ref().map(|s| &s.def) == b.source.as_ref().map(|s| &s.def)
        };
        for layer in next.layers.iter().filter(|l| l.is_h3()) {
            // Only over a shared collection (a dataset's is loaded again).
            let shared =
                matches!(layer.collection, CollectionId::Entries | CollectionId::Venues | CollectionId::Perimeters);
            if let (Some(old), Some(agg)) = (self.layer(&layer.def.id), self.aggregates.get(&layer.def.id))
                && shared
                && same(old, layer)
            {
                next.aggregates.insert(layer.def.id.clone(), agg.clone());
            }
        }
        for name in [ENTRIES, VENUES, PERIMETERS] {
            if let Some(c) = self.collection(&name) {
                write(&next.collections).insert(name, c);
            }
        }
        for layer in next.layers.iter().filter(|l| l.is_h3()) {
            let (Some(c), Some(slot)) = (next.collection(&layer.collection), next.aggregates.get(&layer.def.id)) else {
                continue;
            };
            if self.aggregates.get(&layer.def.id).is_some_and(|old| Arc::ptr_eq(old, slot)) {
                continue; // shared
            }
            let (min, max) = (layer.def.min_resolution.unwrap_or(0), layer.def.max_resolution.unwrap_or(h3::FINEST));
            // The features are taken under the read lock (a copy of pointers, milliseconds at a
            // million), the aggregate built without it: a lock held for the whole build would
            // stall the writers, and every reader queued behind them.
            let features: Vec<Arc<Feature>> = read(&c).iter().cloned().collect();
            let agg =
                Aggregate::build(min, max, features.iter().map(AsRef::as_ref).filter(|f| Self::counted(layer, f)));
            *write(slot) = agg;
        }
        Some(next)
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

    fn collection(&self, name: &CollectionId) -> Option<Shared> {
        read(&self.collections).get(name).cloned()
    }

    fn h3_layers_of<'a>(&'a self, collection: &'a CollectionId) -> impl Iterator<Item = &'a Arc<Layer>> + 'a {
        self.layers.iter().filter(move |l| l.is_h3() && l.collection == *collection)
    }

    fn counted(layer: &Layer, f: &Feature) -> bool {
        layer.selects(f) && Filter::default().matches(&f.attrs)
    }

    /// Replaces a whole collection (start-up load, dataset swap) and rebuilds the H3
    /// aggregates over it. Readers see the old or the new one, never a mix.
    pub fn replace(&self, name: &CollectionId, collection: Collection) {
        for layer in self.h3_layers_of(name) {
            let (min, max) = (layer.def.min_resolution.unwrap_or(0), layer.def.max_resolution.unwrap_or(h3::FINEST));
            let agg =
                Aggregate::build(min, max, collection.iter().map(AsRef::as_ref).filter(|f| Self::counted(layer, f)));
            if let Some(slot) = self.aggregates.get(&layer.def.id) {
                *write(slot) = agg;
            }
        }
        let shared = self.collection(name);
        match shared {
            Some(c) => {
                let mut guard = write(&c);
                *guard = collection;
                // Territories' counts over the old features go (built again when asked).
                let layers: Vec<&str> = self.h3_layers_of(name).map(|l| l.def.id.as_str()).collect();
                lock(&self.scoped).retain(|s| !layers.contains(&s.layer.as_str()));
            }
            None => {
                write(&self.collections).insert(name.clone(), Arc::new(RwLock::new(collection)));
            }
        }
    }

    /// Inserts or replaces a feature and updates the aggregates over its collection. Returns
    /// where tiles changed.
    pub fn upsert(&self, name: &CollectionId, feature: Feature) -> Touched {
        self.change(name, feature.id, Some(feature))
    }

    /// Removes a feature; returns where tiles changed.
    pub fn remove(&self, name: &CollectionId, id: FeatureId) -> Touched {
        self.change(name, id, None)
    }

    fn change(&self, name: &CollectionId, id: FeatureId, feature: Option<Feature>) -> Touched {
        let Some(shared) = self.collection(name) else { return Touched::default() };
        let mut rects = Vec::new();
        let mut hexagons = Vec::new();
        let mut c = write(&shared);
        let old = match feature {
            Some(f) => {
                rects.push(f.bbox());
                c.upsert(f)
            }
            None => c.remove(id),
        };
        let new = c.get(id).cloned();
        drop(c);
        rects.extend(old.as_ref().map(|o| o.bbox()));
        for layer in self.h3_layers_of(name) {
            let Some(slot) = self.aggregates.get(&layer.def.id) else { continue };
            let counted = new.as_deref().filter(|f| Self::counted(layer, f));
            let mut agg = write(slot);
            let (min, max) = agg.resolutions();
            for f in [old.as_deref(), counted].into_iter().flatten() {
                if let Some(p) = h3::representative_point(&f.lonlat()) {
                    for r in min..=max {
                        if let Some(cell) = h3::counting_cell(p.x, p.y, r) {
                            hexagons.push(HexagonChange {
                                layer: layer.def.id.clone(),
                                rect: h3::cell_rect(cell),
                                zooms: h3::zooms_showing(r, min, max),
                            });
                        }
                    }
                }
            }
            agg.update(id, counted);
        }
        let layers: Vec<&str> = self.h3_layers_of(name).map(|l| l.def.id.as_str()).collect();
        let scoped: Vec<Arc<ScopedAggregate>> =
            lock(&self.scoped).iter().filter(|s| layers.contains(&s.layer.as_str())).cloned().collect();
        for s in scoped {
            let Some(layer) = self.layer(&s.layer) else { continue };
            if let Some(changed) = lock(&s.building).as_mut() {
                changed.push(id);
            }
            let counted = new.as_deref().filter(|f| Self::counted(layer, f) && s.scope.admits(&f.lonlat()));
            write(&s.agg).update(id, counted);
        }
        Touched { rects, hexagons, before: old, after: new }
    }

    /// Runs `f` with read access to a collection.
    pub fn with_collection<R>(&self, name: &CollectionId, f: impl FnOnce(&Collection) -> R) -> Option<R> {
        let c = self.collection(name)?;
        let guard = read(&c);
        Some(f(&guard))
    }

    /// Ids of the entry layers an entry with any of these tag sets belongs to (an edit passes
    /// its old and new tags): what a change touches, for live events.
    pub fn entry_layers(&self, tag_sets: &[&[String]]) -> Vec<String> {
        self.layers
            .iter()
            .filter(|l| matches!(l.def.kind, LayerKind::Entries | LayerKind::H3))
            .filter(|l| {
                let def = &l.source.as_ref().unwrap_or(l).def;
                def.tags.is_empty() || tag_sets.iter().any(|tags| tags.iter().any(|t| def.tags.contains(t)))
            })
            .map(|l| l.def.id.clone())
            .collect()
    }

    /// The property schema of a layer's features (empty for a dataset not loaded yet).
    pub fn schema(&self, layer: &Layer) -> Arc<Schema> {
        if layer.is_h3() {
            return Arc::new(h3::schema(self.vocab.ids()));
        }
        self.with_collection(&layer.collection, |c| c.schema().clone()).unwrap_or_default()
    }

    /// Number of features a layer holds (before request filters); for an H3 layer, the
    /// number of features it counts.
    pub fn layer_len(&self, layer: &Layer) -> usize {
        if layer.is_h3() {
            return self.aggregates.get(&layer.def.id).map_or(0, |a| read(a).len());
        }
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

    /// Runs `f` with read access to an H3 layer's aggregate.
    pub fn with_aggregate<R>(&self, layer: &Layer, f: impl FnOnce(&Aggregate) -> R) -> Option<R> {
        self.aggregates.get(&layer.def.id).map(|a| f(&read(a)))
    }

    /// Renders one tile holding one MVT layer per requested layer (layers outside their zoom
    /// range or without features are left out), every matched feature in it.
    pub fn render(&self, layers: &[Arc<Layer>], coord: TileCoord, filter: &Filter) -> RenderedTile {
        match self.render_within(layers, coord, filter, Budget::UNBOUNDED) {
            Ok(tile) => tile,
            Err(e) => unreachable!("an unbounded render has no ceiling: {e}"),
        }
    }

    /// Renders one tile as [`Engine::render`] does, each layer within `budget` (lowered to the
    /// layer's own): a layer over it is thinned into clusters ([`crate::budget`]), except
    /// under a raw filter, whose layers are refused past the budget's ceiling.
    /// H3 layers are not thinned (their hexagons are their thinning).
    ///
    /// # Errors
    /// [`OverCeiling`] for a raw layer over the budget's ceiling.
    pub fn render_within(
        &self,
        layers: &[Arc<Layer>],
        coord: TileCoord,
        filter: &Filter,
        budget: Budget,
    ) -> Result<RenderedTile, OverCeiling> {
        self.render_paths(layers, coord, filter, budget, true)
    }

    /// [`Engine::render_within`], taking the layers over their budget by count from the point
    /// orders when `ordered` (else, as tests compare, feature by feature like the others).
    pub(crate) fn render_paths(
        &self,
        layers: &[Arc<Layer>],
        coord: TileCoord,
        filter: &Filter,
        budget: Budget,
        ordered: bool,
    ) -> Result<RenderedTile, OverCeiling> {
        let mut counted = if ordered && !filter.raw {
            self.ordered_clusters(layers, coord, filter, budget)
        } else {
            layers.iter().map(|_| None).collect()
        };
        let tr = coord.transform();
        let clip = ClipBox::for_tile(coord, BUFFER_PX);
        let envelope = coord.feature_bounds();
        let mut tile = TileEncoder::new();
        let mut counts = Vec::with_capacity(layers.len());
        let mut thinned = vec![false; layers.len()];
        for (i, layer) in layers.iter().enumerate() {
            let mut enc = LayerEncoder::new(&layer.def.id, EXTENT);
            if !layer.in_zoom(coord.z()) {
            } else if layer.is_h3() {
                self.render_h3(&mut enc, layer, coord, filter);
            } else if let Some(clusters) = counted[i].take() {
                let mine = budget.within(&layer.def);
                enc = clusters.encode(&layer.def.id, self.vocab.ids(), mine.features, mine.bytes);
                thinned[i] = true;
            } else if let Some(shared) = self.collection(&layer.collection) {
                let c = read(&shared);
                // A territory: nothing to test when the buffered tile lies inside it (whatever
                // the tile draws meets it), else each feature.
                let scope = layer.scope(filter).filter(|s| !s.covers(lonlat_rect(envelope)));
                // The id is read once, next to the attributes the filter reads, so sorting does
                // not go back to every feature.
                let mut hits: Vec<(FeatureId, &Arc<Feature>)> = c
                    .query(envelope)
                    .filter(|f| {
                        layer.selects(f) && filter.matches(&f.attrs) && scope.is_none_or(|s| s.admits(&f.lonlat()))
                    })
                    .map(|f| (f.id, f))
                    .collect();
                let mine = budget.within(&layer.def);
                // Raw: every feature up to the ceiling; else the budget, past which the layer
                // is clustered (the features are not all encoded first when that shows early).
                let (limit, thin) = if filter.raw { (mine.ceiling, None) } else { (mine.bytes, Some(mine)) };
                let over_count = thin.is_some_and(|b| hits.len() > b.features);
                let mut over = over_count;
                if !over_count {
                    // Feature order decides drawing order; sorting by id makes the bytes (and
                    // the ETag) the same on every replica whatever the index's insertion
                    // history. (Clusters order their members themselves.)
                    hits.sort_unstable_by_key(|(id, _)| *id);
                    enc.set_properties(c.schema().fields.iter().map(|field| field.name.as_str()));
                    enc.reserve(hits.len());
                    for (n, (_, f)) in hits.iter().enumerate() {
                        if let Some(g) = tile_geometry(&f.geometry(), &tr, &clip) {
                            add(&mut enc, f, &g);
                        }
                        if n % LIMIT_CHECK_EVERY == LIMIT_CHECK_EVERY - 1 && enc.feature_bytes() > limit {
                            break;
                        }
                    }
                    over = enc.byte_len() > limit;
                }
                if over && thin.is_none() {
                    return Err(OverCeiling { layer: layer.def.id.clone(), tile: coord, ceiling: limit });
                }
                if let Some(Budget { features, bytes, .. }) = thin.filter(|_| over) {
                    let bounds = coord.bounds();
                    let members: Vec<budget::Member> =
                        hits.iter().filter(|(_, f)| rects_meet(f.bbox(), bounds)).map(|(_, f)| member(f)).collect();
                    enc = budget::encode(&layer.def.id, coord, &members, self.vocab.ids(), features, bytes);
                    thinned[i] = true;
                }
            }
            counts.push(enc.len());
            tile.push(&enc);
        }
        Ok(RenderedTile { bytes: tile.finish(), features: counts, thinned })
    }

    /// The clusters of the layers of a tile that are over their budget by count alone (more
    /// features than it allows, or more than its bytes hold at the least each point takes:
    /// [`crate::order::Slot::least_bytes`]),
    /// from their collections' point orders: one pass over each collection's run of the tile
    /// for all its layers, the collection's other geometries taken from its R-tree. `None`
    /// for a layer that is not, or that the point order cannot tell (H3 layers, layers kept
    /// by kind or by free tag, territories across the tile, filters the facts do not
    /// settle): the render reads it feature by feature, and comes to the same verdict and
    /// clusters.
    pub(crate) fn ordered_clusters(
        &self,
        layers: &[Arc<Layer>],
        coord: TileCoord,
        filter: &Filter,
        budget: Budget,
    ) -> Vec<Option<Clusters>> {
        let mut out: Vec<Option<Clusters>> = layers.iter().map(|_| None).collect();
        let envelope = lonlat_rect(coord.feature_bounds());
        let countable = |l: &Layer| {
            l.in_zoom(coord.z())
                && !l.is_h3()
                && l.kinds.is_empty()
                && l.free_tags.is_empty()
                && l.scope(filter).is_none_or(|s| s.covers(envelope))
        };
        let mut done = vec![false; layers.len()];
        for first in 0..layers.len() {
            if done[first] || !countable(&layers[first]) {
                continue;
            }
            let name = &layers[first].collection;
            let group: Vec<usize> = (first..layers.len())
                .filter(|&j| !done[j] && layers[j].collection == *name && countable(&layers[j]))
                .collect();
            for &j in &group {
                done[j] = true;
            }
            let Some(shared) = self.collection(name) else { continue };
            let c = read(&shared);
            // Only the layers the whole collection could put over budget (none, unbounded).
            let most = MIN_POINT_FEATURE_BYTES + 2 + 2 * usize::from(u8::MAX);
            let could = |n: usize, b: Budget| n > b.features || n.saturating_mul(most) > b.bytes;
            let mut group: Vec<usize> =
                group.into_iter().filter(|&j| could(c.len(), budget.within(&layers[j].def))).collect();
            // One bit per layer below (the others are rendered feature by feature).
            group.truncate(64);
            if c.points().is_empty() || group.is_empty() {
                continue;
            }
            // The lines, polygons and multipoints meeting the tile, which the order leaves out.
            let mut others: Vec<&Arc<Feature>> = Vec::new();
            if c.non_points() > 0 {
                c.for_each_non_point(coord.bounds(), |item| others.push(&item.feature));
            }
            let mut open: Vec<Clusters> = group
                .iter()
                .map(|&j| {
                    let layer = &layers[j];
                    let members: Vec<budget::Member> = others
                        .iter()
                        .filter(|f| layer.selects(f) && filter.matches(&f.attrs))
                        .map(|f| member(f))
                        .collect();
                    Clusters::new(coord, self.vocab.ids().len(), &members)
                })
                .collect();
            // Which of the open layers a point selects: every layer keeping all the
            // collection's features, and those of each of its themes ([`Layer::selects`] for
            // layers without kinds or free tags).
            let mut every = 0u64;
            let mut by_theme = [0u64; 64];
            for (k, &j) in group.iter().enumerate() {
                let themes = layers[j].themes.0;
                if themes == 0 {
                    every |= 1 << k;
                }
                for (bit, layers) in by_theme.iter_mut().enumerate() {
                    if themes & (1 << bit) != 0 {
                        *layers |= 1 << k;
                    }
                }
            }
            let (lo, hi) = open[0].code_range();
            let mut settled = true;
            for slot in c.points().range(lo, hi) {
                let facts = slot.facts();
                match filter.matches_facts(facts) {
                    Some(true) => {}
                    Some(false) => continue,
                    None => {
                        // The same for every layer of the group: read them feature by feature.
                        settled = false;
                        break;
                    }
                }
                let mut selected = every;
                let mut themes = facts.themes().0;
                while themes != 0 {
                    selected |= by_theme[themes.trailing_zeros() as usize];
                    themes &= themes - 1;
                }
                if selected == 0 {
                    continue;
                }
                let cell = slot.cell();
                while selected != 0 {
                    open[selected.trailing_zeros() as usize].push_point(slot, cell);
                    selected &= selected - 1;
                }
            }
            if !settled {
                continue;
            }
            for (j, clusters) in group.into_iter().zip(open) {
                let mine = budget.within(&layers[j].def);
                if clusters.len() > mine.features || clusters.least_bytes() > mine.bytes {
                    out[j] = Some(clusters);
                }
            }
        }
        out
    }

    fn render_h3(&self, enc: &mut LayerEncoder, layer: &Layer, coord: TileCoord, filter: &Filter) {
        let Some(slot) = self.aggregates.get(&layer.def.id) else { return };
        let (min, max) = read(slot).resolutions();
        let r = h3::resolution_for_zoom(coord.z(), min, max);
        let lookup = h3::lookup_rect(coord, r);
        let ids = self.vocab.ids();
        let scope = layer.scope(filter);
        if filter.keeps_default() && scope.is_none() {
            let agg = read(slot);
            h3::encode_cells(enc, coord, agg.cells_in(r, lookup).into_iter(), ids);
        } else if filter.keeps_default() && scope.is_some_and(|s| s.covers(lonlat_rect(h3::counted_rect(coord, r)))) {
            // A territory covering every hexagon of the tile: every feature counted in them
            // meets it, the aggregate's counts stand.
            let agg = read(slot);
            h3::encode_cells(enc, coord, agg.cells_in(r, lookup).into_iter(), ids);
        } else if let Some(counts) = filter
            .scope
            .as_ref()
            .filter(|_| filter.keeps_default() && scope.is_some())
            .and_then(|s| self.scoped_aggregate(layer, s))
        {
            // A territory across the tile, with its own counts kept up to date.
            let agg = read(&counts.agg);
            h3::encode_cells(enc, coord, agg.cells_in(r, lookup).into_iter(), ids);
        } else if let (true, Some(scope), Some(shared)) =
            (filter.keeps_default(), scope, self.collection(&layer.collection))
        {
            // (While the territory's counts are being built.)
            // A territory across the tile: count the features meeting it (a hexagon across its
            // border counts the features inside only), each in the cell the aggregate keeps for
            // it. The collection's lock is let go before the aggregate's is taken.
            let inside: Vec<FeatureId> = read(&shared)
                .query(lookup)
                .filter(|f| layer.selects(f) && filter.matches(&f.attrs) && scope.admits(&f.lonlat()))
                .map(|f| f.id)
                .collect();
            let stats = read(slot).count_of(r, inside.into_iter());
            let tile = coord.buffered_bounds(BUFFER_PX);
            let near = stats.iter().filter(|(cell, _)| rects_meet(h3::cell_rect(**cell), tile)).map(|(c, s)| (*c, s));
            h3::encode_cells(enc, coord, near, ids);
        } else if let Some(shared) = self.collection(&layer.collection) {
            // Any other filter: count the matching features of the area now.
            let c = read(&shared);
            let stats = h3::aggregate(
                r,
                c.query(lookup)
                    .filter(|f| {
                        layer.selects(f) && filter.matches(&f.attrs) && scope.is_none_or(|s| s.admits(&f.lonlat()))
                    })
                    .map(AsRef::as_ref),
            );
            let tile = coord.buffered_bounds(BUFFER_PX);
            let near = stats.iter().filter(|(cell, _)| rects_meet(h3::cell_rect(**cell), tile)).map(|(c, s)| (*c, s));
            h3::encode_cells(enc, coord, near, ids);
        }
    }
}

impl Engine {
    /// The counts of `scope` on H3 layer `layer`, built on first use (by the render asking:
    /// the features in the territory's box are taken under the collection's read lock, as
    /// pointers, and counted without it) and kept up to date by every write; `None` while
    /// another render builds them.
    fn scoped_aggregate(&self, layer: &Layer, scope: &Arc<Scope>) -> Option<Arc<ScopedAggregate>> {
        let mine = |s: &Arc<ScopedAggregate>| s.layer == layer.def.id && s.scope.key() == scope.key();
        let (min, max) = read(self.aggregates.get(&layer.def.id)?).resolutions();
        let slot = {
            let mut list = lock(&self.scoped);
            if let Some(i) = list.iter().position(mine) {
                let s = list.remove(i);
                list.push(s.clone()); // most recently used last
                let built = lock(&s.building).is_none();
                return built.then_some(s);
            }
            if list.len() >= MAX_SCOPED_AGGREGATES {
                list.remove(0);
            }
            let s = Arc::new(ScopedAggregate {
                layer: layer.def.id.clone(),
                scope: scope.clone(),
                agg: RwLock::new(Aggregate::new(min, max)),
                building: Mutex::new(Some(Vec::new())),
            });
            // Registered before the features are read: every write from now on reaches it.
            list.push(s.clone());
            s
        };
        let shared = self.collection(&layer.collection)?;
        let b = scope.bounds();
        let bounds = Rect::new(
            crate::tile::lonlat_to_mercator(b.min().x, b.min().y),
            crate::tile::lonlat_to_mercator(b.max().x, b.max().y),
        );
        let features: Vec<Arc<Feature>> =
            read(&shared).query(bounds).filter(|f| Self::counted(layer, f)).cloned().collect();
        let built =
            Aggregate::build(min, max, features.iter().map(AsRef::as_ref).filter(|f| scope.admits(&f.lonlat())));
        *write(&slot.agg) = built;
        // Count again what changed while it was built, until nothing did.
        loop {
            let changed = {
                let mut building = lock(&slot.building);
                let changed = building.as_mut().map(std::mem::take).unwrap_or_default();
                if changed.is_empty() {
                    *building = None;
                    break;
                }
                changed
            };
            for id in changed {
                let f = read(&shared).get(id).cloned();
                let counted = f.as_deref().filter(|f| Self::counted(layer, f) && scope.admits(&f.lonlat()));
                write(&slot.agg).update(id, counted);
            }
        }
        Some(slot)
    }

    /// Features of `layers` meeting a region and passing the filter (H3 layers are skipped:
    /// query their source layer).
    pub fn region_hits(&self, layers: &[Arc<Layer>], region: &Prepared, filter: &Filter) -> Vec<Hit> {
        let mut hits = Vec::new();
        self.each_hit(layers, region, filter, |layer, item| hits.push(Hit { layer, feature: item.feature.clone() }));
        hits
    }

    /// A region query's summary and one page of its hits, in the result order of
    /// [`crate::query::sort`]: the same as [`Engine::region_hits`] sorted, summarised and
    /// paged, with no feature visited or shared beyond those the page returns (and those the
    /// briefs leave open). `interval_ms` fixes the histogram's bucket width.
    pub fn region_query(
        &self,
        layers: &[Arc<Layer>],
        region: &Prepared,
        filter: &Filter,
        paging: Paging,
        interval_ms: Option<i64>,
    ) -> Answer {
        let mut tally = Tally::new(layers.len(), &self.vocab, paging);
        self.each_hit(layers, region, filter, |layer, item| tally.add(layer, item.brief(), &item.feature));
        tally.finish(layers.iter().map(|l| l.def.id.as_str()), &self.vocab, interval_ms)
    }

    /// Calls `visit` with the index of the layer and the index entry of each feature of
    /// `layers` meeting the region and passing the filter, once per layer, under the read lock
    /// of the layer's collection. H3 layers are skipped.
    fn each_hit(&self, layers: &[Arc<Layer>], region: &Prepared, filter: &Filter, mut visit: impl FnMut(usize, &Item)) {
        let boxes = region.mercator_boxes();
        // A feature meeting several lookup boxes is one hit. With few boxes, the first box it
        // meets has it: each box knows the earlier boxes it meets (for bands, the neighbours).
        // With many (H3 cells), the hits are sorted and deduplicated by id.
        let earlier: Option<Vec<Vec<CellRect>>> = (boxes.len() <= MAX_OWNING_BOXES).then(|| {
            boxes
                .iter()
                .enumerate()
                .map(|(k, b)| boxes[..k].iter().filter(|a| rects_meet(**a, *b)).map(|a| CellRect::of(*a)).collect())
                .collect()
        });
        // A territory covering the region's box needs no test per feature.
        let covered = filter.scope.as_ref().is_some_and(|s| region.bounds().is_some_and(|b| s.covers(b)));
        let hit = |layer: &Layer, item: &Item| {
            let (b, f) = (item.brief(), &item.feature);
            layer.selects_facts(b.facts()).unwrap_or_else(|| layer.selects(f))
                && filter.matches_facts(b.facts()).unwrap_or_else(|| filter.matches(&f.attrs))
                && region.meets(item)
                && (covered || layer.scope(filter).is_none_or(|s| s.admits_item(item)))
        };
        for (i, layer) in layers.iter().enumerate().filter(|(_, l)| !l.is_h3()) {
            self.with_collection(&layer.collection, |c| {
                if let Some(earlier) = &earlier {
                    for (b, earlier) in boxes.iter().zip(earlier) {
                        c.for_each_item(*b, |found| {
                            let item = found.item();
                            if !earlier.iter().any(|a| found.meets(a)) && hit(layer, item) {
                                visit(i, item);
                            }
                        });
                    }
                } else {
                    let mut found: Vec<&Item> = Vec::new();
                    for b in &boxes {
                        c.for_each_item(*b, |entry| {
                            let item = entry.item();
                            if hit(layer, item) {
                                found.push(item);
                            }
                        });
                    }
                    found.sort_unstable_by_key(|item| item.feature.id);
                    found.dedup_by_key(|item| item.feature.id);
                    for item in found {
                        visit(i, item);
                    }
                }
            });
        }
    }

    /// The WGS84 geometry of the first feature of a layer whose properties equal every
    /// `(key, value)` given (a venue's perimeter of a kind, an administrative area by code).
    pub fn find_by_properties(&self, layer: &Layer, wanted: &[(&str, &str)]) -> Option<Geometry<f64>> {
        self.with_collection(&layer.collection, |c| {
            let idx: Vec<(usize, &str)> =
                wanted.iter().map(|(k, v)| c.schema().position(k).map(|i| (i, *v))).collect::<Option<_>>()?;
            let mut found: Vec<&Arc<Feature>> = c
                .iter()
                .filter(|f| layer.selects(f))
                .filter(|f| {
                    idx.iter().all(|(i, value)| match f.props.get(*i) {
                        Some(Value::Text(s)) => s.as_str() == *value,
                        Some(Value::Int(n)) => n.to_string() == *value,
                        _ => false,
                    })
                })
                .collect();
            found.sort_unstable_by_key(|f| f.id);
            found.first().map(|f| f.lonlat().into_owned())
        })
        .flatten()
    }
}

/// Most lookup boxes of a region query whose hits are deduplicated by the first box they meet
/// (pairs of boxes are compared once per query).
const MAX_OWNING_BOXES: usize = 128;

/// A feature as clustering sees it.
fn member(f: &Feature) -> budget::Member {
    budget::Member {
        at: f.bbox().center(),
        extended: !f.is_point(),
        severity: f.attrs.severity,
        themes: f.attrs.themes.0,
    }
}

/// A Web Mercator rectangle in longitude/latitude.
fn lonlat_rect(r: Rect<f64>) -> Rect<f64> {
    Rect::new(crate::tile::mercator_to_lonlat(r.min()), crate::tile::mercator_to_lonlat(r.max()))
}

/// A render checks its bytes against its limit (budget or ceiling) every this many features.
const LIMIT_CHECK_EVERY: usize = 1024;

fn rects_meet(a: Rect<f64>, b: Rect<f64>) -> bool {
    a.min().x <= b.max().x && b.min().x <= a.max().x && a.min().y <= b.max().y && b.min().y <= a.max().y
}

/// Adds a feature of a collection whose schema the encoder was given.
fn add(enc: &mut LayerEncoder, f: &Feature, g: &TileGeometry) {
    enc.add_feature(f.id, g, &f.props);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::Rng;
    use crate::feature::{Attrs, QualificationSet};
    use crate::query::tests::{keys, random_features, reference_page, reference_summary};
    use crate::query::{Key, sort};
    use crate::region::Region;
    use geo::{MultiPolygon, Point, polygon};

    #[test]
    fn a_new_catalog_with_the_same_themes_shares_the_entries() {
        let engine = Engine::new(Catalog::bundled());
        let vocab = engine.vocabulary().clone();
        let features = random_features(&mut Rng::new(7), 500, &vocab);
        let n = features.len();
        engine.replace(&ENTRIES, Collection::bulk_load(entry_schema(), features));
        let mut catalog = Catalog::bundled();
        catalog.layers.retain(|l| l.id != "cyber");
        let next = engine.sharing(catalog.clone()).expect("same entry themes");
        let h3 = next.layer("entries-h3").unwrap().clone();
        let counted = engine.layer_len(engine.layer("entries-h3").unwrap());
        assert!(counted > n / 2);
        assert_eq!(next.layer_len(&h3), counted, "the aggregate is shared");
        assert!(Arc::ptr_eq(&engine.aggregates["entries-h3"], &next.aggregates["entries-h3"]));
        let mut coarser = catalog.clone();
        coarser.layers.iter_mut().find(|l| l.id == "entries-h3").unwrap().max_resolution = Some(9);
        let rebuilt = engine.sharing(coarser).unwrap();
        assert!(!Arc::ptr_eq(&engine.aggregates["entries-h3"], &rebuilt.aggregates["entries-h3"]));
        assert_eq!(rebuilt.layer_len(rebuilt.layer("entries-h3").unwrap()), counted, "rebuilt from the shared entries");
        assert!(next.layer("cyber").is_none());
        // One collection: a change through either engine is seen by both.
        next.remove(&ENTRIES, 0);
        assert_eq!(engine.layer_len(engine.layer("entries").unwrap()), n - 1);
        assert_eq!(next.layer_len(next.layer("entries").unwrap()), n - 1);
        // A new entry theme changes the bits: no sharing.
        let mut themed = catalog;
        let mut t = themed.theme("cyber").unwrap().clone();
        t.id = "drones".into();
        themed.themes.insert(0, t);
        assert!(engine.sharing(themed).is_none());
    }

    /// A territory narrows the scoped layers exactly: a scoped tile or query over all the
    /// features is the unscoped one over only the features meeting the territory, byte for
    /// byte, for random territories with holes and features on their vertices and edges.
    /// A feature near the edge of its resolution-10 cell counts in the parent of its finest
    /// cell, not in the cell holding it: a change must drop the tiles of the hexagon that
    /// counts it (found by the territory leak test: a cached H3 tile kept counting an entry
    /// that had moved away).
    #[test]
    fn a_change_drops_the_hexagon_that_counts_the_feature() {
        let engine = Engine::new(Catalog::bundled());
        let vocab = engine.vocabulary().clone();
        let template = random_features(&mut Rng::new(1), 1, &vocab).remove(0);
        let (lon, lat) = (2.17677, 48.50238);
        let f = Feature::from_lonlat(7, &Geometry::Point(Point::new(lon, lat)), template.attrs.clone(), template.props)
            .unwrap();
        let touched = engine.upsert(&ENTRIES, f);
        let counting = h3::cell_rect(h3::counting_cell(lon, lat, 10).unwrap());
        let holding = h3::cell_rect(h3::cell_of(lon, lat, 10).unwrap());
        assert_ne!(counting, holding, "the point is one of those near an edge");
        let at_10: Vec<Rect<f64>> = touched.hexagons.iter().filter(|h| h.zooms.contains(&12)).map(|h| h.rect).collect();
        assert!(at_10.contains(&counting), "{at_10:?}");
    }

    #[test]
    fn a_territory_shows_exactly_the_features_meeting_it() {
        use crate::scope::Scope;
        for seed in 1..=6u64 {
            let mut rng = Rng::new(seed);
            let all = Engine::new(Catalog::bundled());
            let vocab = all.vocabulary().clone();
            let (x0, y0) = (rng.range(2.2, 2.35), rng.range(48.8, 48.87));
            let (w, h) = (rng.range(0.03, 0.15), rng.range(0.02, 0.08));
            let (hx, hy) = (x0 + w * rng.range(0.2, 0.5), y0 + h * rng.range(0.2, 0.5));
            let territory = polygon!(
                exterior: [(x: x0, y: y0), (x: x0 + w, y: y0), (x: x0 + w * 0.8, y: y0 + h), (x: x0, y: y0 + h)],
                interiors: [[(x: hx, y: hy), (x: hx + w * 0.2, y: hy), (x: hx + w * 0.2, y: hy + h * 0.2), (x: hx, y: hy + h * 0.2)]],
            );
            let mut features = random_features(&mut rng, 3000, &vocab);
            // Features on every vertex and edge midpoint of both rings, and just outside them.
            let template = features[0].attrs.clone();
            let rings = [territory.exterior().clone(), territory.interiors()[0].clone()];
            for ring in &rings {
                for l in ring.lines() {
                    for (t, dy) in [(0.0, 0.0), (0.5, 0.0), (0.5, 1e-9), (0.5, -1e-9)] {
                        let p = Point::new(
                            l.start.x + (l.end.x - l.start.x) * t,
                            l.start.y + (l.end.y - l.start.y) * t + dy,
                        );
                        let id = features.len() as u64;
                        features.push(
                            Feature::from_lonlat(id, &Geometry::Point(p), template.clone(), Box::new([])).unwrap(),
                        );
                    }
                }
            }
            let scope = Arc::new(Scope::new(MultiPolygon(vec![territory])).unwrap());
            let inside: Vec<Feature> = features.iter().filter(|f| scope.admits(&f.lonlat())).cloned().collect();
            assert!(
                inside.len() > 10 && inside.len() < features.len(),
                "seed {seed}: {} of {}",
                inside.len(),
                features.len()
            );
            let only = Engine::new(Catalog::bundled());
            let features_len = features.len();
            all.replace(&ENTRIES, Collection::bulk_load(entry_schema(), features));
            only.replace(&ENTRIES, Collection::bulk_load(entry_schema(), inside));
            let scoped = Filter::default().with_scope(Some(scope.clone()));
            let plain = Filter::default();
            assert_ne!(scoped.cache_key(), plain.cache_key(), "the territory is part of the cache key");
            let layers: Vec<Arc<Layer>> =
                ["entries", "entries-h3", "public-order"].iter().map(|id| all.layer(id).unwrap().clone()).collect();
            let layers_only: Vec<Arc<Layer>> =
                ["entries", "entries-h3", "public-order"].iter().map(|id| only.layer(id).unwrap().clone()).collect();
            let (cx, cy) = (x0 + w / 2.0, y0 + h / 2.0);
            let same_tiles = |when: &str| {
                for z in [9u32, 11, 13, 15] {
                    let centre = crate::tile::lonlat_to_mercator(cx, cy);
                    let n = f64::from(1u32 << z);
                    let tx = (f64::midpoint(centre.x / crate::tile::ORIGIN_SHIFT_M, 1.0) * n) as u64;
                    let ty = ((1.0 - centre.y / crate::tile::ORIGIN_SHIFT_M) / 2.0 * n) as u64;
                    for (dx, dy) in [(0u64, 0u64), (1, 0), (0, 1), (1, 1), (2, 2)] {
                        let Ok(coord) = TileCoord::new(z, tx + dx - 1, ty + dy - 1) else {
                            continue;
                        };
                        let a = all.render(&layers, coord, &scoped);
                        let b = only.render(&layers_only, coord, &plain);
                        assert_eq!(a.features, b.features, "seed {seed} tile {coord:?} {when}");
                        assert_eq!(a.bytes, b.bytes, "seed {seed} tile {coord:?} {when}");
                    }
                }
            };
            same_tiles("first render (the territory's H3 counts are built)");
            same_tiles("second render (read from them)");
            // Writes move features in and out of the territory, and delete some: the
            // territory's counts follow them.
            for i in 0..200u64 {
                let id = rng.below(features_len) as u64;
                if i % 7 == 0 {
                    all.remove(&ENTRIES, id);
                    only.remove(&ENTRIES, id);
                    continue;
                }
                let p = Point::new(x0 + w * rng.range(-0.2, 1.2), y0 + h * rng.range(-0.2, 1.2));
                let f = Feature::from_lonlat(id, &Geometry::Point(p), template.clone(), Box::new([])).unwrap();
                if scope.admits(&f.lonlat()) {
                    only.upsert(&ENTRIES, f.clone());
                } else {
                    only.remove(&ENTRIES, id);
                }
                all.upsert(&ENTRIES, f);
            }
            same_tiles("after 200 writes");
            let region = Prepared::new(Region::BBox([2.0, 48.5, 2.8, 49.2])).unwrap();
            let ids = |hits: Vec<Hit>| {
                let mut ids: Vec<_> = hits.iter().map(|h| (h.layer, h.feature.id)).collect();
                ids.sort_unstable();
                ids
            };
            let (entries_all, entries_only) = (&layers[..1], &layers_only[..1]);
            assert_eq!(
                ids(all.region_hits(entries_all, &region, &scoped)),
                ids(only.region_hits(entries_only, &region, &plain)),
                "seed {seed}: region query"
            );
        }
    }

    #[test]
    fn region_queries_are_their_hits_sorted_summarised_and_paged() {
        let mut catalog = Catalog::bundled();
        let mut vip = catalog.layers.iter().find(|l| l.id == "health").unwrap().clone();
        vip.id = "health-or-vip".into();
        vip.tags.push("vip".into());
        let mut red = catalog.layers.iter().find(|l| l.id == "perimeters").unwrap().clone();
        red.id = "red".into();
        red.kinds = vec!["red".into()];
        catalog.layers.extend([vip, red]);
        let engine = Engine::new(catalog);
        let vocab = engine.vocabulary().clone();
        let mut rng = Rng::new(4);
        engine.replace(&ENTRIES, Collection::bulk_load(entry_schema(), random_features(&mut rng, 20_000, &vocab)));
        let perimeters: Vec<Feature> = (0..300)
            .map(|i| {
                let attrs = Attrs::default().with_kind(Text::from(["red", "blue"][i % 2]));
                let p = Point::new(rng.range(2.2, 2.5), rng.range(48.8, 48.95));
                Feature::from_lonlat(i as u64, &Geometry::Point(p), attrs, Box::new([])).unwrap()
            })
            .collect();
        engine.replace(&PERIMETERS, Collection::bulk_load(perimeter_schema(), perimeters));
        let layer_sets: [&[&str]; 3] = [&["entries"], &["health-or-vip", "crowd", "entries"], &["red", "perimeters"]];
        let frame = polygon![(x: 2.25, y: 48.82), (x: 2.45, y: 48.82), (x: 2.45, y: 48.92), (x: 2.25, y: 48.92)];
        let cells = h3::cell_of(2.35, 48.86, 6).unwrap();
        let regions = [
            Region::BBox([2.3, 48.84, 2.4, 48.9]),
            Region::BBox([179.5, -15.5, -179.5, -14.5]),
            Region::Polygons(MultiPolygon(vec![frame])),
            Region::Circle { lon: 2.2945, lat: 48.8584, radius_m: 3000.0 },
            Region::Circle { lon: 179.9, lat: -15.0, radius_m: 60_000.0 },
            Region::Cells(vec![cells, cells.parent(h3o::Resolution::Five).unwrap()]),
        ];
        let mut windowed = Filter::default();
        (windowed.from_ms, windowed.qualifications) = (Some(1_720_040_000_000), QualificationSet::ALL);
        let mut severe = Filter::default().with_tags(&["crowd".into(), "vip".into()], &vocab);
        severe.min_severity = Some(2);
        let filters = [Filter::default(), windowed, severe];
        let mut seen_hits = 0;
        for region in regions {
            let region = Prepared::new(region).unwrap();
            for filter in &filters {
                for ids in layer_sets {
                    let layers: Vec<Arc<Layer>> = ids.iter().map(|id| engine.layer(id).unwrap().clone()).collect();
                    let hits = engine.region_hits(&layers, &region, filter);
                    // Every feature, tested without the index or the briefs.
                    let mut expected = Vec::new();
                    for (i, l) in layers.iter().enumerate() {
                        engine.with_collection(&l.collection, |c| {
                            for f in c.iter() {
                                if l.selects(f) && filter.matches(&f.attrs) && region.intersects(&f.lonlat()) {
                                    expected.push((i, f.id));
                                }
                            }
                        });
                    }
                    let mut got: Vec<(usize, u64)> = hits.iter().map(|h| (h.layer, h.feature.id)).collect();
                    got.sort_unstable();
                    expected.sort_unstable();
                    assert_eq!(got, expected, "{:?} {filter:?} {ids:?}", region.region());
                    seen_hits += hits.len();
                    for _ in 0..5 {
                        let cursor =
                            (!hits.is_empty() && rng.below(2) == 0).then(|| Key::of(&hits[rng.below(hits.len())]));
                        let paging = Paging { cursor, limit: [1, 10, 100, 10_000][rng.below(4)] };
                        let answer = engine.region_query(&layers, &region, filter, paging, None);
                        let mut sorted = hits.clone();
                        sort(&mut sorted);
                        let (page, next) = reference_page(&sorted, paging.cursor, paging.limit);
                        assert_eq!(keys(&answer.page), keys(page));
                        assert_eq!(answer.next, next);
                        assert_eq!(answer.summary, reference_summary(&hits, ids, &vocab, None));
                    }
                }
            }
        }
        assert!(seen_hits > 20_000, "{seen_hits}");
    }
}
