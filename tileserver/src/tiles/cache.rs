//! The tile cache: encoded tiles keyed by layer set, filters and z/x/y, bounded by bytes, and
//! the renders in flight.
//!
//! After a write, exactly the tiles whose buffered envelope meets the old or new geometry are
//! invalidated, at every zoom, whatever their layer set and filters: an index from tile
//! address to cached keys finds them without scanning the cache. A render of a tile that an
//! invalidation touches while it runs is served but not cached, so a stale tile never lands in
//! the cache (renders of other tiles are not affected). The gzip form of a tile is made on
//! first demand and kept beside it.
//!
//! Concurrent misses of one tile render it once ([`TileCache::get_or_render`]): the first
//! request starts the render as a task of its own, later ones wait for its result — unless an
//! invalidation touched the tile since the render began, in which case they start a new one
//! (a client that got a write's answer never waits for a render older than the write).
//!
//! # Locks
//! One mutex of ours, over `Index` (cached keys by tile address, renders in flight, the
//! eviction inbox). Rules, which keep every path deadlock-free:
//! - nothing under it calls back into our code: no render, no store call, no `await`;
//! - moka's eviction listener, which moka runs synchronously on whichever thread inserts,
//!   reads or evicts (inside `insert` when it replaces a value), takes no lock of ours: it
//!   only sends the evicted key on a channel, drained by the next holder of the index lock.
//!   So moka can be called under the index lock — `insert` is, which makes the staleness check
//!   and the insert one step for invalidations, and so is the second `get` of a miss, which
//!   makes "cached, or in flight, or start a render" one step — without any path from moka
//!   back to it;
//! - invalidations call moka's `invalidate` after releasing it.
//!
//! (Before this rule the listener took the index lock and `insert` ran under it: a second
//! render of the same tile replaced the first inside `insert`, the listener ran on the same
//! thread and the server deadlocked.)

use crate::store::StoreError;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use geo::Rect;
use moka::sync::Cache;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write as _;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use vigie_layers::TileCoord;
use vigie_layers::scope::Scope;
use vigie_layers::tile::{BUFFER_PX, INDEX_SLACK_M, MAX_ZOOM, grow, tiles_covering};

/// The layer ids of a (composite) tile, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerSet(Arc<[Arc<str>]>);

impl LayerSet {
    /// The set of these ids, in this order.
    pub fn new<I: Into<Arc<str>>>(ids: impl IntoIterator<Item = I>) -> Self {
        Self(ids.into_iter().map(Into::into).collect())
    }

    /// Whether the set holds `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.0.iter().any(|l| l.as_ref() == id)
    }

    /// The ids, in request order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(AsRef::as_ref)
    }

    /// Bytes of the comma-joined ids (what a key weighs in the cache).
    fn text_len(&self) -> usize {
        self.0.iter().map(|l| l.len() + 1).sum()
    }
}

impl std::fmt::Display for LayerSet {
    /// The ids comma-joined, as in tile URLs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, id) in self.ids().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(id)?;
        }
        Ok(())
    }
}

/// What identifies a tile: every input that changes its bytes.
#[derive(Debug, Clone)]
pub struct TileKey {
    /// Requested layer ids, in request order.
    pub layers: LayerSet,
    /// Canonical filter text ([`vigie_layers::Filter::cache_key`], the territory's key
    /// included).
    pub filter: Arc<str>,
    /// The tile.
    pub coord: TileCoord,
    /// The asker's territory, when the tile was narrowed to one: not part of the identity
    /// (its key is in `filter`), kept so that a write invalidates the tiles of the territories
    /// that see it only.
    pub scope: Option<Arc<Scope>>,
}

impl TileKey {
    /// The key of a tile of `layers` at `coord` rendered with `filter`.
    pub fn new(layers: LayerSet, filter: &vigie_layers::Filter, coord: TileCoord) -> Self {
        Self { layers, filter: filter.cache_key().into(), coord, scope: filter.scope.clone() }
    }
}

impl PartialEq for TileKey {
    fn eq(&self, other: &Self) -> bool {
        self.coord == other.coord && self.filter == other.filter && self.layers == other.layers
    }
}

impl Eq for TileKey {}

impl Hash for TileKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.layers.hash(state);
        self.filter.hash(state);
        self.coord.hash(state);
    }
}

/// Tells cached values apart: a key evicted then cached again is another value.
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(0);

/// An encoded tile and its validators.
#[derive(Debug)]
pub struct CachedTile {
    /// MVT bytes (empty for a tile without features).
    pub raw: Bytes,
    /// Strong ETag of `raw`, quoted.
    pub etag: String,
    /// Features per requested layer.
    pub features: Vec<usize>,
    /// The requested layers thinned into clusters (over their tile budget).
    pub thinned: Vec<String>,
    /// Its encoding (MVT but for a raster archive's tile).
    pub format: super::TileFormat,
    gzip: OnceLock<(Bytes, String)>,
    serial: u64,
}

impl CachedTile {
    /// Wraps freshly encoded bytes.
    pub fn new(raw: Vec<u8>, features: Vec<usize>) -> Self {
        let mut h = DefaultHasher::new();
        raw.hash(&mut h);
        let etag = format!("\"{:016x}{:x}\"", h.finish(), raw.len());
        let serial = NEXT_SERIAL.fetch_add(1, Ordering::Relaxed);
        Self {
            raw: Bytes::from(raw),
            etag,
            features,
            thinned: Vec::new(),
            format: super::TileFormat::Mvt,
            gzip: OnceLock::new(),
            serial,
        }
    }

    /// Says the bytes are of another encoding than MVT (a raster archive's tile).
    #[must_use]
    pub fn with_format(mut self, format: super::TileFormat) -> Self {
        self.format = format;
        self
    }

    /// Names the layers thinned into clusters.
    #[must_use]
    pub fn with_thinned(mut self, layers: Vec<String>) -> Self {
        self.thinned = layers;
        self
    }

    /// The gzip body and its ETag (a strong ETag differs per content coding).
    pub fn gzip(&self) -> (&Bytes, &str) {
        let (b, e) = self.gzip.get_or_init(|| {
            let mut enc = GzEncoder::new(Vec::with_capacity(self.raw.len() / 2 + 64), Compression::default());
            // Writing to a Vec cannot fail.
            let _ = enc.write_all(&self.raw);
            let body = enc.finish().unwrap_or_default();
            let etag = format!("{}-gz\"", self.etag.trim_end_matches('"'));
            (Bytes::from(body), etag)
        });
        (b, e)
    }

    fn weight(&self) -> u32 {
        (self.raw.len() + self.gzip.get().map_or(0, |g| g.0.len()) + 256).min(u32::MAX as usize) as u32
    }
}

/// How a tile request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// From the cache.
    Hit,
    /// This request started the render.
    Rendered,
    /// Another request's render was under way: this one waited for its result.
    Joined,
}

/// Why a tile could not be rendered; every request that waited for the render gets it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RenderError {
    /// The store behind a PostGIS table layer failed.
    #[error("cannot read a table layer's tile")]
    Store(#[source] Arc<StoreError>),
    /// The render task panicked or was cancelled (shutdown).
    #[error("the tile render task failed: {0}")]
    Task(Arc<str>),
    /// A raw tile over the ceiling ([`vigie_layers::budget`]).
    #[error("{0}")]
    OverCeiling(Arc<vigie_layers::OverCeiling>),
    /// A tile archive cannot be read now (not there, out of reach, damaged): why, without the
    /// archive's credentials or query.
    #[error("{0}")]
    Archive(Arc<str>),
    /// Every render turn was taken for the whole wait ([`super::RenderGate`]).
    #[error("all {limit} tile renders are busy (max_renders); waited {waited_ms} ms")]
    Busy {
        /// The limit (`max_renders`).
        limit: usize,
        /// How long the render waited (`render_wait_ms`).
        waited_ms: u64,
    },
}

impl From<StoreError> for RenderError {
    fn from(e: StoreError) -> Self {
        Self::Store(Arc::new(e))
    }
}

impl From<tokio::task::JoinError> for RenderError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Task(e.to_string().into())
    }
}

type FlightResult = Result<Arc<CachedTile>, RenderError>;

/// A render in flight: its id (so that only it removes itself) and its shared result.
struct Flight {
    id: u64,
    result: Shared<BoxFuture<'static, FlightResult>>,
}

/// Cached keys by tile address (with the serial of the cached value), renders in flight, and
/// what moka evicted since the lock was last held.
struct Index {
    by_coord: HashMap<TileCoord, Vec<(TileKey, u64)>>,
    flights: HashMap<TileKey, Flight>,
    evicted: mpsc::Receiver<(TileKey, u64)>,
}

impl Index {
    /// Forgets the keys moka evicted (by size), unless the key was cached again since.
    fn drain_evicted(&mut self) {
        while let Ok((key, serial)) = self.evicted.try_recv() {
            if let Some(keys) = self.by_coord.get_mut(&key.coord) {
                keys.retain(|(k, s)| !(*s == serial && *k == key));
                if keys.is_empty() {
                    self.by_coord.remove(&key.coord);
                }
            }
        }
    }
}

/// The bounded cache; a size of 0 disables caching (every request renders, but concurrent
/// requests for one tile still share a render).
#[derive(Clone)]
pub struct TileCache {
    cache: Option<Cache<TileKey, Arc<CachedTile>>>,
    index: Arc<Mutex<Index>>,
    next_flight: Arc<AtomicU64>,
    invalidated: Arc<AtomicU64>,
}

impl std::fmt::Debug for TileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileCache").field("entries", &self.entry_count()).finish()
    }
}

impl TileCache {
    /// A cache holding at most `capacity_bytes` of tiles.
    pub fn new(capacity_bytes: u64) -> Self {
        let (evictions, evicted) = mpsc::channel::<(TileKey, u64)>();
        let cache = (capacity_bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|k: &TileKey, v: &Arc<CachedTile>| {
                    v.weight().saturating_add((k.layers.text_len() + k.filter.len()) as u32)
                })
                .eviction_listener(move |k: Arc<TileKey>, v: Arc<CachedTile>, cause| {
                    // Replaced: the index already names the new value. Explicit: the
                    // invalidation took the key out of the index first. Only evictions by
                    // size (or age) are news to the index. No lock here (module docs).
                    if cause.was_evicted() {
                        let _ = evictions.send((k.as_ref().clone(), v.serial));
                    }
                })
                .build()
        });
        let index = Index { by_coord: HashMap::new(), flights: HashMap::new(), evicted };
        Self { cache, index: Arc::new(Mutex::new(index)), next_flight: Arc::default(), invalidated: Arc::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        let mut idx = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        idx.drain_evicted();
        idx
    }

    /// The cached tile for `key`.
    pub fn get(&self, key: &TileKey) -> Option<Arc<CachedTile>> {
        self.cache.as_ref()?.get(key)
    }

    /// The cached tile for `key`, or the result of a render: the one already in flight for
    /// `key` if no invalidation touched the tile since it began, else a new one, which
    /// `render` makes and which runs as a task of its own (a caller that goes away does not
    /// cancel it, and callers that came meanwhile get its result). The new tile is cached
    /// unless an invalidation ran while it rendered.
    ///
    /// # Errors
    /// The render's error (shared by every caller that waited for it), or
    /// [`RenderError::Task`] when the render task panicked.
    pub async fn get_or_render<F, Fut>(
        &self,
        key: TileKey,
        render: F,
    ) -> Result<(Arc<CachedTile>, Outcome), RenderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedTile, RenderError>> + Send + 'static,
    {
        if let Some(tile) = self.get(&key) {
            return Ok((tile, Outcome::Hit));
        }
        let (result, outcome) = {
            let mut idx = self.lock();
            if let Some(flight) = idx.flights.get(&key) {
                (flight.result.clone(), Outcome::Joined)
            } else {
                // A render that finished between the cache lookup and this lock removed its
                // flight after caching its tile: look again before rendering once more.
                if let Some(tile) = self.get(&key) {
                    return Ok((tile, Outcome::Hit));
                }
                let id = self.next_flight.fetch_add(1, Ordering::Relaxed);
                let task = tokio::spawn(self.clone().fly(key.clone(), id, render()));
                let result = async move { task.await.unwrap_or_else(|e| Err(e.into())) }.boxed().shared();
                idx.flights.insert(key, Flight { id, result: result.clone() });
                (result, Outcome::Rendered)
            }
        };
        result.await.map(|tile| (tile, outcome))
    }

    /// Body of a render task: renders, caches, then leaves the flights (even on panic).
    async fn fly(
        self,
        key: TileKey,
        id: u64,
        render: impl Future<Output = Result<CachedTile, RenderError>>,
    ) -> FlightResult {
        /// Leaves the flights when the task ends, however it ends.
        struct Land<'a>(&'a TileCache, &'a TileKey, u64);
        impl Drop for Land<'_> {
            fn drop(&mut self) {
                let mut idx = self.0.lock();
                if idx.flights.get(self.1).is_some_and(|f| f.id == self.2) {
                    idx.flights.remove(self.1);
                }
            }
        }
        let _land = Land(&self, &key, id);
        let tile = render.await?;
        Ok(self.insert(key.clone(), tile, id))
    }

    /// Caches the tile of flight `flight` — unless an invalidation touched the tile since the
    /// render began, which took the flight out of the map: the check and the insert happen under
    /// the index lock, so an invalidation either sees this key in the index or makes the insert
    /// skip. Only the tiles a write touches lose their renders in progress. Returns the tile
    /// either way.
    fn insert(&self, key: TileKey, tile: CachedTile, flight: u64) -> Arc<CachedTile> {
        let tile = Arc::new(tile);
        let Some(cache) = &self.cache else { return tile };
        let mut idx = self.lock();
        if idx.flights.get(&key).is_some_and(|f| f.id == flight) {
            // Under the index lock: allowed because the eviction listener takes no lock.
            cache.insert(key.clone(), tile.clone());
            let keys = idx.by_coord.entry(key.coord).or_default();
            match keys.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = tile.serial,
                None => keys.push((key, tile.serial)),
            }
        }
        tile
    }

    /// Drops every cached tile, at every zoom, whose envelope grown by the tile buffer meets
    /// `rect` (Web Mercator metres), and lets no later request join a render of such a tile
    /// already under way. Returns how many cached tiles were dropped.
    pub fn invalidate(&self, rects: &[Rect<f64>]) -> usize {
        self.invalidate_where(rects, 0..=MAX_ZOOM, |_| true)
    }

    /// As [`Self::invalidate`], for the tiles whose layer set holds `layer` only.
    pub fn invalidate_layer(&self, layer: &str, rects: &[Rect<f64>]) -> usize {
        self.invalidate_where(rects, 0..=MAX_ZOOM, |k| k.layers.contains(layer))
    }

    /// As [`Self::invalidate_layer`], at the zooms `zooms` only (an H3 hexagon changes the
    /// tiles of the zooms that show its resolution, no others).
    pub fn invalidate_layer_at(&self, layer: &str, rects: &[Rect<f64>], zooms: RangeInclusive<u8>) -> usize {
        self.invalidate_where(rects, zooms, |k| k.layers.contains(layer))
    }

    /// Drops the tiles over `rects` at `zooms` (of those holding `layer` when given) that a
    /// change of the log shows in: every unnarrowed one, and of the tiles narrowed to a
    /// territory, those whose territory `sees` the change. `sees` runs under the index lock,
    /// once per tile: memoise it per territory.
    pub fn invalidate_seen(
        &self,
        rects: &[Rect<f64>],
        layer: Option<&str>,
        zooms: RangeInclusive<u8>,
        sees: impl Fn(&Arc<Scope>) -> bool,
    ) -> usize {
        self.invalidate_where(rects, zooms, |k| {
            layer.is_none_or(|l| k.layers.contains(l)) && k.scope.as_ref().is_none_or(&sees)
        })
    }

    fn invalidate_where(
        &self,
        rects: &[Rect<f64>],
        zooms: RangeInclusive<u8>,
        wanted: impl Fn(&TileKey) -> bool,
    ) -> usize {
        // Tile ranges (z, x0, y0, x1, y1) the rectangles touch.
        let ranges: Vec<(u8, u32, u32, u32, u32)> = rects
            .iter()
            .flat_map(|rect| {
                zooms.clone().map(move |z| {
                    let (x0, y0, x1, y1) = tiles_covering(grow(*rect, INDEX_SLACK_M), z, BUFFER_PX);
                    (z, x0, y0, x1, y1)
                })
            })
            .collect();
        let touches = |c: &TileCoord| {
            ranges
                .iter()
                .any(|&(z, x0, y0, x1, y1)| z == c.z() && (x0..=x1).contains(&c.x()) && (y0..=y1).contains(&c.y()))
        };
        let keys: Vec<TileKey> = {
            let mut idx = self.lock();
            idx.flights.retain(|k, _| !(touches(&k.coord) && wanted(k)));
            let mut coords: Vec<TileCoord> = Vec::new();
            for &(z, x0, y0, x1, y1) in &ranges {
                let span = u64::from(x1 - x0 + 1) * u64::from(y1 - y0 + 1);
                if span <= idx.by_coord.len() as u64 {
                    for x in x0..=x1 {
                        for y in y0..=y1 {
                            if let Ok(c) = TileCoord::new(u32::from(z), u64::from(x), u64::from(y)) {
                                coords.push(c);
                            }
                        }
                    }
                } else {
                    coords.extend(
                        idx.by_coord
                            .keys()
                            .filter(|c| c.z() == z && (x0..=x1).contains(&c.x()) && (y0..=y1).contains(&c.y())),
                    );
                }
            }
            let mut dropped = Vec::new();
            for c in &coords {
                if let Some(keys) = idx.by_coord.get_mut(c) {
                    let (out, keep): (Vec<_>, Vec<_>) = keys.drain(..).partition(|(k, _)| wanted(k));
                    *keys = keep;
                    if keys.is_empty() {
                        idx.by_coord.remove(c);
                    }
                    dropped.extend(out.into_iter().map(|(k, _)| k));
                }
            }
            dropped
        };
        // Outside the lock (module docs).
        if let Some(cache) = &self.cache {
            for k in &keys {
                cache.invalidate(k);
            }
        }
        self.invalidated.fetch_add(keys.len() as u64, Ordering::Relaxed);
        keys.len()
    }

    /// Tiles dropped by invalidation since start.
    pub fn invalidated_total(&self) -> u64 {
        self.invalidated.load(Ordering::Relaxed)
    }

    /// Number of cached tiles.
    pub fn entry_count(&self) -> u64 {
        self.cache.as_ref().map_or(0, Cache::entry_count)
    }

    /// Bytes held.
    pub fn weighted_size(&self) -> u64 {
        self.cache.as_ref().map_or(0, Cache::weighted_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// Starts a flight for `key` (as a render beginning now), without a task behind it.
    fn begin(c: &TileCache, key: &TileKey) -> u64 {
        let id = c.next_flight.fetch_add(1, Ordering::Relaxed);
        let result = futures_util::future::pending::<FlightResult>().boxed().shared();
        c.lock().flights.insert(key.clone(), Flight { id, result });
        id
    }

    /// Caches a tile as a render that began and ended now would.
    fn fill(c: &TileCache, key: &TileKey) -> Arc<CachedTile> {
        let id = begin(c, key);
        let tile = c.insert(key.clone(), CachedTile::new(vec![1], vec![1]), id);
        let mut idx = c.lock();
        if idx.flights.get(key).is_some_and(|f| f.id == id) {
            idx.flights.remove(key);
        }
        tile
    }

    fn key(z: u32) -> TileKey {
        key_at(z, 0, 0)
    }

    fn key_at(z: u32, x: u64, y: u64) -> TileKey {
        TileKey::new(LayerSet::new(["a"]), &vigie_layers::Filter::default(), TileCoord::new(z, x, y).unwrap())
    }

    /// The Web Mercator point of the Eiffel tower: in 12/2074/1409 and 13/4148/2818.
    fn eiffel() -> Rect<f64> {
        let p = vigie_layers::tile::lonlat_to_mercator(2.2945, 48.8584);
        Rect::new(p, p)
    }

    /// Runs `f` on another thread and fails (rather than hangs) if it takes over 20 s.
    fn within_20s(f: impl FnOnce() + Send + 'static) {
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            f();
            let _ = done.send(());
        });
        finished.recv_timeout(Duration::from_secs(20)).expect("deadlock: the work did not finish in 20 s");
    }

    #[test]
    fn invalidation_drops_exactly_the_tiles_meeting_the_change() {
        let c = TileCache::new(1 << 20);
        for k in [key_at(12, 2074, 1409), key_at(13, 4148, 2818), key_at(13, 4150, 2818), key_at(0, 0, 0)] {
            fill(&c, &k);
        }
        let other_filter = TileKey { filter: "sev=3;".into(), ..key_at(12, 2074, 1409) };
        fill(&c, &other_filter);
        let dropped = c.invalidate(&[eiffel()]);
        assert_eq!(dropped, 4, "z12, z13 and z0 tiles holding the point, every filter");
        assert!(c.get(&key_at(13, 4150, 2818)).is_some(), "a tile two columns away is kept");
        assert!(c.get(&other_filter).is_none());
        assert!(c.get(&key_at(0, 0, 0)).is_none());
    }

    #[test]
    fn a_change_drops_the_tiles_of_the_territories_that_see_it_only() {
        use geo::{Geometry, MultiPolygon, Point, polygon};
        let c = TileCache::new(1 << 20);
        let square = |x: f64, y: f64| {
            let p = polygon![(x: x, y: y), (x: x + 0.1, y: y), (x: x + 0.1, y: y + 0.1), (x: x, y: y + 0.1)];
            Arc::new(Scope::new(MultiPolygon(vec![p])).unwrap())
        };
        // The Eiffel tower (2.2945, 48.8584) is in the western square, not in the eastern one.
        let (west, east) = (square(2.2, 48.8), square(2.3, 48.8));
        let coord = TileCoord::new(12, 2074, 1409).unwrap();
        let narrowed = |s: &Arc<Scope>| {
            TileKey::new(LayerSet::new(["a"]), &vigie_layers::Filter::default().with_scope(Some(s.clone())), coord)
        };
        let (w, e, whole) = (narrowed(&west), narrowed(&east), key_at(12, 2074, 1409));
        assert_ne!(w, e, "two territories never share a tile");
        for k in [&w, &e, &whole] {
            fill(&c, k);
        }
        let tower = Geometry::Point(Point::new(2.2945, 48.8584));
        let asked = std::cell::Cell::new(0);
        let sees = |s: &Arc<Scope>| {
            asked.set(asked.get() + 1);
            s.admits(&tower)
        };
        assert_eq!(c.invalidate_seen(&[eiffel()], None, 0..=MAX_ZOOM, sees), 2);
        assert!(c.get(&w).is_none() && c.get(&whole).is_none());
        assert!(c.get(&e).is_some(), "the territory that does not see the change keeps its tile");
        assert_eq!(asked.get(), 2, "once per narrowed tile");
    }

    #[test]
    fn a_hexagon_change_drops_only_the_zooms_that_show_its_resolution() {
        let c = TileCache::new(1 << 20);
        let h3 = |z: u32, x: u64, y: u64| TileKey { layers: LayerSet::new(["entries", "h3"]), ..key_at(z, x, y) };
        for k in [h3(12, 2074, 1409), h3(13, 4148, 2818), key_at(13, 4148, 2818)] {
            fill(&c, &k);
        }
        assert_eq!(c.invalidate_layer_at("h3", &[eiffel()], 13..=13), 1);
        assert!(c.get(&h3(13, 4148, 2818)).is_none());
        assert!(c.get(&h3(12, 2074, 1409)).is_some(), "z12 shows another resolution");
        assert!(c.get(&key_at(13, 4148, 2818)).is_some(), "a tile without the layer is kept");
    }

    #[test]
    fn a_render_overlapping_an_invalidation_is_not_cached_and_others_are() {
        let c = TileCache::new(1 << 20);
        let (touched, elsewhere) = (key_at(12, 2074, 1409), key_at(12, 100, 100));
        let (a, b) = (begin(&c, &touched), begin(&c, &elsewhere));
        c.invalidate(&[eiffel()]);
        c.insert(touched.clone(), CachedTile::new(vec![1], vec![1]), a);
        c.insert(elsewhere.clone(), CachedTile::new(vec![1], vec![1]), b);
        assert!(c.get(&touched).is_none(), "the write may have come after the render read the index");
        assert!(c.get(&elsewhere).is_some(), "a write elsewhere does not cost this render");
    }

    #[test]
    fn caching_one_tile_from_many_threads_at_once_does_not_deadlock() {
        // The hang of issue 21: a second insert of a key replaced the first inside moka, whose
        // eviction listener then locked the index the insert held.
        let c = TileCache::new(1 << 20);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        fill(&c, &key_at(12, 2074, 1409));
                        if i % 100 == 0 {
                            c.invalidate(&[eiffel()]);
                        }
                    }
                })
            })
            .collect();
        within_20s(move || threads.into_iter().for_each(|t| t.join().unwrap()));
    }

    #[test]
    fn a_replaced_tile_stays_known_to_invalidation() {
        let c = TileCache::new(1 << 20);
        fill(&c, &key_at(12, 2074, 1409));
        fill(&c, &key_at(12, 2074, 1409)); // replaces the value; the listener must not forget the key
        c.cache.as_ref().unwrap().run_pending_tasks();
        assert_eq!(c.invalidate(&[eiffel()]), 1);
        assert!(c.get(&key_at(12, 2074, 1409)).is_none(), "no stale tile left behind");
    }

    #[test]
    fn tiles_evicted_by_size_leave_the_index() {
        // About 270 bytes a tile: a 16 KiB cache holds some 60 of 2,000.
        let c = TileCache::new(16 * 1024);
        for x in 0..2_000 {
            fill(&c, &key_at(12, x, 7));
        }
        let cache = c.cache.as_ref().unwrap();
        cache.run_pending_tasks();
        let indexed: usize = c.lock().by_coord.values().map(Vec::len).sum();
        assert!(cache.entry_count() < 100, "{} tiles held", cache.entry_count());
        assert_eq!(indexed as u64, cache.entry_count(), "the index names exactly the cached tiles");
    }

    #[test]
    fn etags_differ_by_content_and_coding() {
        let a = CachedTile::new(vec![1, 2, 3], vec![]);
        let b = CachedTile::new(vec![1, 2, 4], vec![]);
        assert_ne!(a.etag, b.etag);
        let (gz, gz_etag) = a.gzip();
        assert_ne!(gz_etag, a.etag);
        assert!(gz_etag.starts_with('"') && gz_etag.ends_with("-gz\""));
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
    }

    /// A render that counts itself and waits for a permit of `gate` before answering.
    fn gated(
        renders: &Arc<AtomicUsize>,
        gate: &Arc<tokio::sync::Semaphore>,
    ) -> impl FnOnce() -> BoxFuture<'static, Result<CachedTile, RenderError>> + use<> {
        let (renders, gate) = (renders.clone(), gate.clone());
        move || {
            async move {
                let n = renders.fetch_add(1, Ordering::SeqCst);
                let _pass = gate.acquire().await;
                Ok(CachedTile::new(vec![n as u8 + 1], vec![1]))
            }
            .boxed()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_of_one_tile_render_it_once() {
        let c = TileCache::new(1 << 20);
        let (renders, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::Semaphore::new(0)));
        let waiting: Vec<_> = (0..32)
            .map(|_| {
                let (c, render) = (c.clone(), gated(&renders, &gate));
                tokio::spawn(async move { c.get_or_render(key(3), render).await })
            })
            .collect();
        while c.lock().flights.is_empty() {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        gate.add_permits(64);
        let mut outcomes = Vec::new();
        for w in waiting {
            let (tile, outcome) = w.await.unwrap().unwrap();
            assert_eq!(&tile.raw[..], &[1], "every request gets the one render");
            outcomes.push(outcome);
        }
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Rendered).count(), 1);
        assert!(c.get(&key(3)).is_some(), "and it is cached");
        assert!(c.lock().flights.is_empty(), "the flight is gone");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_an_invalidation_requests_do_not_join_an_older_render() {
        let c = TileCache::new(1 << 20);
        let (renders, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::Semaphore::new(0)));
        let k = key_at(12, 2074, 1409);
        let first = {
            let (c, k, render) = (c.clone(), k.clone(), gated(&renders, &gate));
            tokio::spawn(async move { c.get_or_render(k, render).await })
        };
        while renders.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // A write lands on the tile while it renders: later requests must see the write.
        c.invalidate(&[eiffel()]);
        let second = {
            let (c, k, render) = (c.clone(), k.clone(), gated(&renders, &gate));
            tokio::spawn(async move { c.get_or_render(k, render).await })
        };
        while renders.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(64);
        let (a, _) = first.await.unwrap().unwrap();
        let (b, outcome) = second.await.unwrap().unwrap();
        assert_eq!((&a.raw[..], &b.raw[..], outcome), (&[1][..], &[2][..], Outcome::Rendered));
        assert_eq!(&c.get(&k).expect("the newer render is cached").raw[..], &[2]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_leaves_does_not_cancel_the_render_others_wait_for() {
        let c = TileCache::new(1 << 20);
        let (renders, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::Semaphore::new(0)));
        let leaver = c.get_or_render(key(2), gated(&renders, &gate));
        assert!(tokio::time::timeout(Duration::from_millis(20), leaver).await.is_err());
        let follower = {
            let (c, render) = (c.clone(), gated(&renders, &gate));
            tokio::spawn(async move { c.get_or_render(key(2), render).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        gate.add_permits(64);
        let (tile, outcome) = follower.await.unwrap().unwrap();
        assert_eq!((outcome, renders.load(Ordering::SeqCst), &tile.raw[..]), (Outcome::Joined, 1, &[1][..]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_render_fails_its_waiters_and_the_next_request_renders_again() {
        let c = TileCache::new(1 << 20);
        let failed = c.get_or_render(key(1), || async { panic!("render bug") }).await;
        assert!(matches!(failed, Err(RenderError::Task(_))), "{failed:?}");
        let again = c.get_or_render(key(1), || async { Ok(CachedTile::new(vec![9], vec![1])) }).await;
        assert_eq!(again.unwrap().1, Outcome::Rendered);
        assert_eq!(c.get_or_render(key(1), || async { panic!("cached") }).await.unwrap().1, Outcome::Hit);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_disabled_cache_still_shares_a_render() {
        let c = TileCache::new(0);
        let (renders, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::Semaphore::new(0)));
        let waiting: Vec<_> = (0..4)
            .map(|_| {
                let (c, render) = (c.clone(), gated(&renders, &gate));
                tokio::spawn(async move { c.get_or_render(key(1), render).await })
            })
            .collect();
        while renders.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        gate.add_permits(64);
        for w in waiting {
            w.await.unwrap().unwrap();
        }
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        assert!(c.get(&key(1)).is_none(), "nothing is cached");
    }
}
