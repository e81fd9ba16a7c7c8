//! The tile cache: encoded tiles keyed by layer set, filters and z/x/y, bounded by bytes.
//!
//! After a write, exactly the tiles whose buffered envelope meets the old or new geometry are
//! invalidated, at every zoom, whatever their layer set and filters: an index from tile
//! address to cached keys finds them without scanning the cache. A render that overlaps an
//! invalidation is served but not cached, so a stale tile never lands in the cache. The gzip
//! form of a tile is made on first demand and kept beside it.

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use geo::Rect;
use moka::sync::Cache;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use vigie_layers::TileCoord;
use vigie_layers::tile::{BUFFER_PX, INDEX_SLACK_M, MAX_ZOOM, grow, tiles_covering};

/// What identifies a tile: every input that changes its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TileKey {
    /// Requested layer ids, comma-joined, in request order.
    pub layers: Arc<str>,
    /// Canonical filter text ([`vigie_layers::Filter::cache_key`]).
    pub filter: Arc<str>,
    /// The tile.
    pub coord: TileCoord,
}

/// An encoded tile and its validators.
#[derive(Debug)]
pub struct CachedTile {
    /// MVT bytes (empty for a tile without features).
    pub raw: Bytes,
    /// Strong ETag of `raw`, quoted.
    pub etag: String,
    /// Features per requested layer.
    pub features: Vec<usize>,
    gzip: OnceLock<(Bytes, String)>,
}

impl CachedTile {
    /// Wraps freshly encoded bytes.
    pub fn new(raw: Vec<u8>, features: Vec<usize>) -> Self {
        let mut h = DefaultHasher::new();
        raw.hash(&mut h);
        let etag = format!("\"{:016x}{:x}\"", h.finish(), raw.len());
        Self { raw: Bytes::from(raw), etag, features, gzip: OnceLock::new() }
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

/// Cached keys by tile address, and a counter of invalidations.
#[derive(Default)]
struct Index {
    by_coord: HashMap<TileCoord, Vec<TileKey>>,
    epoch: u64,
}

/// The bounded cache; a size of 0 disables it (every request renders).
#[derive(Clone)]
pub struct TileCache {
    cache: Option<Cache<TileKey, Arc<CachedTile>>>,
    index: Arc<Mutex<Index>>,
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
        let index: Arc<Mutex<Index>> = Arc::default();
        let cache = (capacity_bytes > 0).then(|| {
            let index = index.clone();
            Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|k: &TileKey, v: &Arc<CachedTile>| {
                    v.weight().saturating_add((k.layers.len() + k.filter.len()) as u32)
                })
                .eviction_listener(move |k: Arc<TileKey>, _, _| {
                    let mut idx = index.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(keys) = idx.by_coord.get_mut(&k.coord) {
                        keys.retain(|key| key != k.as_ref());
                        if keys.is_empty() {
                            idx.by_coord.remove(&k.coord);
                        }
                    }
                })
                .build()
        });
        Self { cache, index, invalidated: Arc::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Renders a tile [`Self::get`] did not find and caches it, the invalidation counter read
    /// before `render` runs (see [`Self::insert`]).
    pub fn render_miss(&self, key: TileKey, render: impl FnOnce() -> CachedTile) -> Arc<CachedTile> {
        let epoch = self.epoch();
        self.insert(key, render(), epoch)
    }

    /// The cached tile for `key`.
    pub fn get(&self, key: &TileKey) -> Option<Arc<CachedTile>> {
        self.cache.as_ref()?.get(key)
    }

    /// The invalidation counter, to read before rendering a tile that [`Self::insert`] will
    /// cache.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Caches a tile rendered since `epoch` was read — unless an invalidation ran meanwhile:
    /// the insert happens under the index lock, so an invalidation either sees this key in the
    /// index or makes the insert skip. Returns the tile either way.
    pub fn insert(&self, key: TileKey, tile: CachedTile, epoch: u64) -> Arc<CachedTile> {
        let tile = Arc::new(tile);
        let Some(cache) = &self.cache else { return tile };
        let mut idx = self.lock();
        if idx.epoch == epoch {
            cache.insert(key.clone(), tile.clone());
            let keys = idx.by_coord.entry(key.coord).or_default();
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        tile
    }

    /// Drops every cached tile, at every zoom, whose envelope grown by the tile buffer meets
    /// `rect` (Web Mercator metres). Returns how many were dropped.
    pub fn invalidate(&self, rects: &[Rect<f64>]) -> usize {
        self.invalidate_where(rects, |_| true)
    }

    /// As [`Self::invalidate`], for the tiles whose layer set holds `layer` only.
    pub fn invalidate_layer(&self, layer: &str, rects: &[Rect<f64>]) -> usize {
        self.invalidate_where(rects, |k| k.layers.split(',').any(|l| l == layer))
    }

    fn invalidate_where(&self, rects: &[Rect<f64>], wanted: impl Fn(&TileKey) -> bool) -> usize {
        let Some(cache) = &self.cache else { return 0 };
        let keys: Vec<TileKey> = {
            let mut idx = self.lock();
            idx.epoch += 1;
            let mut coords: Vec<TileCoord> = Vec::new();
            for rect in rects {
                for z in 0..=MAX_ZOOM {
                    let (x0, y0, x1, y1) = tiles_covering(grow(*rect, INDEX_SLACK_M), z, BUFFER_PX);
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
            }
            let mut dropped = Vec::new();
            for c in &coords {
                if let Some(keys) = idx.by_coord.get_mut(c) {
                    let (out, keep): (Vec<TileKey>, Vec<TileKey>) = keys.drain(..).partition(|k| wanted(k));
                    *keys = keep;
                    if keys.is_empty() {
                        idx.by_coord.remove(c);
                    }
                    dropped.extend(out);
                }
            }
            dropped
        };
        // Outside the lock: moka may call the eviction listener, which takes it.
        for k in &keys {
            cache.invalidate(k);
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

    /// The cached tile for `key`, or the one `render` makes, as the tile handler does; the
    /// flag says whether it was a hit.
    fn get_or_render(c: &TileCache, key: TileKey, render: impl FnOnce() -> CachedTile) -> (Arc<CachedTile>, bool) {
        match c.get(&key) {
            Some(t) => (t, true),
            None => (c.render_miss(key, render), false),
        }
    }

    fn key(z: u32) -> TileKey {
        key_at(z, 0, 0)
    }

    fn key_at(z: u32, x: u64, y: u64) -> TileKey {
        TileKey { layers: "a".into(), filter: "".into(), coord: TileCoord::new(z, x, y).unwrap() }
    }

    #[test]
    fn invalidation_drops_exactly_the_tiles_meeting_the_change() {
        use vigie_layers::tile::lonlat_to_mercator;
        let c = TileCache::new(1 << 20);
        let p = lonlat_to_mercator(2.2945, 48.8584); // in 12/2074/1409 and 13/4148/2818
        let tile = || CachedTile::new(vec![1], vec![1]);
        for k in [key_at(12, 2074, 1409), key_at(13, 4148, 2818), key_at(13, 4150, 2818), key_at(0, 0, 0)] {
            get_or_render(&c, k, tile);
        }
        let other_filter = TileKey { filter: "sev=3;".into(), ..key_at(12, 2074, 1409) };
        get_or_render(&c, other_filter.clone(), tile);
        let dropped = c.invalidate(&[Rect::new(p, p)]);
        assert_eq!(dropped, 4, "z12, z13 and z0 tiles holding the point, every filter");
        assert!(get_or_render(&c, key_at(13, 4150, 2818), || panic!("kept")).1, "a tile two columns away is kept");
        assert!(!get_or_render(&c, other_filter, tile).1);
        assert!(!get_or_render(&c, key_at(0, 0, 0), tile).1);
    }

    #[test]
    fn second_get_is_a_hit_and_disabled_cache_always_renders() {
        let c = TileCache::new(1 << 20);
        let (_, hit) = get_or_render(&c, key(1), || CachedTile::new(vec![1, 2, 3], vec![1]));
        assert!(!hit);
        let (t, hit) = get_or_render(&c, key(1), || panic!("must not render"));
        assert!(hit);
        assert_eq!(&t.raw[..], &[1, 2, 3]);
        let off = TileCache::new(0);
        let (_, hit) = get_or_render(&off, key(1), || CachedTile::new(vec![], vec![]));
        let (_, hit2) = get_or_render(&off, key(1), || CachedTile::new(vec![], vec![]));
        assert!(!hit && !hit2);
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
}
