//! Prometheus metrics: requests by route and status, tile latency, cache hits and misses,
//! renders shared by concurrent requests, features per layer, log entries per commit, and the
//! operations running now (how many, the oldest's age, how many stalled).

use crate::activity::{OpKind, Snapshot};
use crate::tiles::Outcome;
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// The service's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    tile_seconds: Histogram,
    cache_hits: Counter,
    cache_misses: Counter,
    render_joins: Counter,
    thinned: Family<LayerLabels, Counter>,
    features: Family<LayerLabels, Gauge>,
    running: Family<KindLabels, Gauge<u64, AtomicU64>>,
    oldest: Family<KindLabels, Gauge<f64, AtomicU64>>,
    stalled: Family<KindLabels, Counter>,
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
        registry.register(
            "tile_cache_misses",
            "Tile requests the cache did not answer (they rendered, or waited for a render under way)",
            cache_misses.clone(),
        );
        let render_joins = Counter::default();
        registry.register(
            "tile_render_joins",
            "Tile requests that missed the cache and waited for the same tile's render already under way",
            render_joins.clone(),
        );
        let thinned = Family::<LayerLabels, Counter>::default();
        registry.register(
            "tile_layers_thinned",
            "Layers of rendered tiles thinned into clusters (over their tile budget), per catalog layer",
            thinned.clone(),
        );
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
        let running = Family::<KindLabels, Gauge<u64, AtomicU64>>::default();
        registry.register("operations_running", "Operations under way now, by kind (render, write)", running.clone());
        let oldest = Family::<KindLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "oldest_operation_seconds",
            "Age of the oldest operation under way, by kind (0 when none runs)",
            oldest.clone(),
        );
        let stalled = Family::<KindLabels, Counter>::default();
        registry.register(
            "stalled_operations",
            "Operations that ran past the stall deadline (each counted once, when it passes it)",
            stalled.clone(),
        );
        Self {
            registry,
            requests,
            tile_seconds,
            cache_hits,
            cache_misses,
            render_joins,
            thinned,
            features,
            running,
            oldest,
            stalled,
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

    /// The counters of stalled operations, render then write, for [`crate::activity::Activity`].
    pub fn stalled_counters(&self) -> [Counter; 2] {
        OpKind::ALL.map(|kind| self.stalled.get_or_create(&KindLabels { kind: kind.as_str() }).clone())
    }

    /// Records a tile answer's latency and how it was answered.
    pub fn tile(&self, seconds: f64, outcome: Outcome) {
        self.tile_seconds.observe(seconds);
        match outcome {
            Outcome::Hit => self.cache_hits.inc(),
            Outcome::Rendered => self.cache_misses.inc(),
            Outcome::Joined => {
                self.cache_misses.inc();
                self.render_joins.inc()
            }
        };
    }

    /// Counts the layers a render thinned into clusters.
    pub fn thinned(&self, layers: &[String]) {
        for layer in layers {
            self.thinned.get_or_create(&LayerLabels { layer: layer.clone() }).inc();
        }
    }

    /// Renders the text exposition, after setting the gauges read at scrape time. Layer
    /// feature counts are `None` when the engine could not be read in time (the gauges keep
    /// their last values).
    pub fn render(
        &self,
        layer_features: Option<Vec<(String, usize)>>,
        cache: (u64, u64),
        activity: &Snapshot,
    ) -> String {
        for (layer, n) in layer_features.into_iter().flatten() {
            self.features.get_or_create(&LayerLabels { layer }).set(n as i64);
        }
        for k in &activity.kinds {
            let labels = KindLabels { kind: k.kind.as_str() };
            self.running.get_or_create(&labels).set(k.running as u64);
            self.oldest.get_or_create(&labels).set(k.oldest.map_or(0.0, |d| d.as_secs_f64()));
        }
        self.cache_entries.set(cache.0);
        self.cache_bytes.set(cache.1);
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
