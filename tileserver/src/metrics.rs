//! Prometheus metrics: requests by route and status, tile latency, cache hits and misses,
//! features per layer, log entries per commit.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
pub use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LayerLabels {
    layer: String,
}

/// The service's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    tile_seconds: Histogram,
    cache_hits: Counter,
    cache_misses: Counter,
    features: Family<LayerLabels, Gauge>,
    cache_entries: Gauge<u64, AtomicU64>,
    cache_bytes: Gauge<u64, AtomicU64>,
    commit_group: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("vigie");
        let requests = Family::<RouteLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route template and status", requests.clone());
        // 100 µs to about 3.3 s.
        let tile_seconds = Histogram::new(exponential_buckets(0.000_1, 2.0, 16));
        registry.register("tile_seconds", "Time to answer a tile request, cache hits included", tile_seconds.clone());
        let cache_hits = Counter::default();
        registry.register("tile_cache_hits", "Tile requests answered from the cache", cache_hits.clone());
        let cache_misses = Counter::default();
        registry.register("tile_cache_misses", "Tile requests that rendered the tile", cache_misses.clone());
        let features = Family::<LayerLabels, Gauge>::default();
        registry.register(
            "layer_features",
            "Features held per catalog layer (before request filters)",
            features.clone(),
        );
        let cache_entries = Gauge::<u64, AtomicU64>::default();
        registry.register("tile_cache_entries", "Tiles in the cache", cache_entries.clone());
        let cache_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register("tile_cache_bytes", "Bytes held by the tile cache", cache_bytes.clone());
        // 1 to 256 creations per transaction.
        let commit_group = Histogram::new(exponential_buckets(1.0, 2.0, 9));
        registry.register(
            "entry_commit_group_size",
            "Log entries created per transaction (concurrent creations are committed together)",
            commit_group.clone(),
        );
        Self {
            registry,
            requests,
            tile_seconds,
            cache_hits,
            cache_misses,
            features,
            cache_entries,
            cache_bytes,
            commit_group,
        }
    }

    /// The histogram of creations per transaction, for the log's group writer.
    pub fn commit_group(&self) -> Histogram {
        self.commit_group.clone()
    }

    /// Counts one answered request.
    pub fn request(&self, route: &str, status: u16) {
        self.requests.get_or_create(&RouteLabels { route: route.to_owned(), status }).inc();
    }

    /// Records a tile answer's latency and whether the cache had it.
    pub fn tile(&self, seconds: f64, hit: bool) {
        self.tile_seconds.observe(seconds);
        if hit {
            self.cache_hits.inc();
        } else {
            self.cache_misses.inc();
        }
    }

    /// Renders the text exposition, after setting the gauges read at scrape time.
    pub fn render(&self, layer_features: impl IntoIterator<Item = (String, usize)>, cache: (u64, u64)) -> String {
        for (layer, n) in layer_features {
            self.features.get_or_create(&LayerLabels { layer }).set(n as i64);
        }
        self.cache_entries.set(cache.0);
        self.cache_bytes.set(cache.1);
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
