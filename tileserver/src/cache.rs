//! The tile cache: encoded tiles keyed by layer set, filters and z/x/y, bounded by bytes.
//!
//! Concurrent misses of one key render once (moka coalesces them). The gzip form of a tile is
//! made on first demand and kept beside it.

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use moka::sync::Cache;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write as _;
use std::sync::{Arc, OnceLock};
use vigie_layers::TileCoord;

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
        Self {
            raw: Bytes::from(raw),
            etag,
            features,
            gzip: OnceLock::new(),
        }
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

/// The bounded cache; a size of 0 disables it (every request renders).
#[derive(Clone)]
pub struct TileCache {
    cache: Option<Cache<TileKey, Arc<CachedTile>>>,
}

impl std::fmt::Debug for TileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileCache")
            .field("entries", &self.entry_count())
            .finish()
    }
}

impl TileCache {
    /// A cache holding at most `capacity_bytes` of tiles.
    pub fn new(capacity_bytes: u64) -> Self {
        let cache = (capacity_bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|k: &TileKey, v: &Arc<CachedTile>| {
                    v.weight().saturating_add((k.layers.len() + k.filter.len()) as u32)
                })
                .build()
        });
        Self { cache }
    }

    /// The cached tile for `key`, or the one `render` makes (rendered once for concurrent
    /// callers). The flag says whether it was a hit.
    pub fn get_or_render(&self, key: TileKey, render: impl FnOnce() -> CachedTile) -> (Arc<CachedTile>, bool) {
        let Some(cache) = &self.cache else {
            return (Arc::new(render()), false);
        };
        let mut rendered = false;
        let tile = cache.get_with(key, || {
            rendered = true;
            Arc::new(render())
        });
        (tile, !rendered)
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

    fn key(z: u32) -> TileKey {
        TileKey {
            layers: "a".into(),
            filter: "".into(),
            coord: TileCoord::new(z, 0, 0).unwrap(),
        }
    }

    #[test]
    fn second_get_is_a_hit_and_disabled_cache_always_renders() {
        let c = TileCache::new(1 << 20);
        let (_, hit) = c.get_or_render(key(1), || CachedTile::new(vec![1, 2, 3], vec![1]));
        assert!(!hit);
        let (t, hit) = c.get_or_render(key(1), || panic!("must not render"));
        assert!(hit);
        assert_eq!(&t.raw[..], &[1, 2, 3]);
        let off = TileCache::new(0);
        let (_, hit) = off.get_or_render(key(1), || CachedTile::new(vec![], vec![]));
        let (_, hit2) = off.get_or_render(key(1), || CachedTile::new(vec![], vec![]));
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
