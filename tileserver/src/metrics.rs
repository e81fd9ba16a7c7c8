//! Prometheus metrics: requests by route and status and their latency by route, tile latency,
//! cache hits and misses, renders shared by concurrent requests, features per layer, log
//! entries per commit, the operations running now (how many, the oldest's age, how many
//! stalled), live event-stream clients, each workspace's change-feed lag, store errors,
//! imports by outcome, and the process's memory and open files. `docs/operations.md` lists
//! them with the alert rules of `docs/alerts.yml`.

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
    route: &'static str,
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteOnly {
    route: &'static str,
}

/// Most distinct route templates kept as labels; past it (never with the router's routes, a
/// few dozen), `other`.
const MAX_ROUTES: usize = 1024;

/// A route template as a label, kept once for the process (no allocation per request).
fn route_label(route: &str) -> &'static str {
    type Routes = std::sync::RwLock<std::collections::HashSet<&'static str>>;
    static ROUTES: std::sync::OnceLock<Routes> = std::sync::OnceLock::new();
    let routes = ROUTES.get_or_init(Routes::default);
    if let Some(r) = routes.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(route) {
        return r;
    }
    let mut routes = routes.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(r) = routes.get(route) {
        return r;
    }
    if routes.len() >= MAX_ROUTES {
        return "other";
    }
    // Leaked once per distinct template: the set is the router's, bounded above.
    let kept: &'static str = Box::leak(route.to_owned().into_boxed_str());
    routes.insert(kept);
    kept
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkspaceLabels {
    workspace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ImportLabels {
    workspace: String,
    origin: &'static str,
    outcome: &'static str,
}

/// Where an import came from, for [`Metrics::import`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportOrigin {
    /// `POST /api/layers/{id}/import`.
    Api,
    /// A scheduled source.
    Source,
}

/// How an import ended, for [`Metrics::import`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// A new version was stored.
    Imported,
    /// The source had not changed: nothing to do.
    Unchanged,
    /// Invalid records: nothing was imported.
    Rejected,
    /// The file could not be fetched, read or stored.
    Failed,
}

impl ImportOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Imported => "imported",
            Self::Unchanged => "unchanged",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
        }
    }
}

/// Buckets of the request latency histograms: 0.5 ms to about 16 s.
fn request_seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
}

/// One live event-stream client, counted while it lives.
#[derive(Debug)]
pub struct StreamClient(Gauge);

impl Drop for StreamClient {
    fn drop(&mut self) {
        self.0.dec();
    }
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
    request_seconds: Family<RouteOnly, Histogram, fn() -> Histogram>,
    stream_clients: Gauge,
    feed_lag: Family<WorkspaceLabels, Gauge>,
    store_errors: Family<RouteOnly, Counter>,
    imports: Family<ImportLabels, Counter>,
    resident_bytes: Gauge<u64, AtomicU64>,
    open_fds: Gauge<u64, AtomicU64>,
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
        let request_seconds = Family::<RouteOnly, Histogram, fn() -> Histogram>::new_with_constructor(request_seconds);
        registry.register(
            "http_request_seconds",
            "Time to answer a request (to the response's head), by route template",
            request_seconds.clone(),
        );
        let stream_clients = Gauge::default();
        registry.register("event_stream_clients", "Live event streams open (GET /api/events)", stream_clients.clone());
        let feed_lag = Family::<WorkspaceLabels, Gauge>::default();
        registry.register(
            "change_feed_lag_events",
            "Events the workspace's store committed that this process's index has not applied yet (read at scrape)",
            feed_lag.clone(),
        );
        let store_errors = Family::<RouteOnly, Counter>::default();
        registry.register(
            "store_errors",
            "Requests answered 5xx because the store failed or was unavailable, by route template",
            store_errors.clone(),
        );
        let imports = Family::<ImportLabels, Counter>::default();
        registry.register(
            "imports",
            "Dataset imports by workspace, origin (api, source) and outcome (imported, unchanged, rejected, failed)",
            imports.clone(),
        );
        let resident_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register("process_resident_memory_bytes", "Resident memory of the process", resident_bytes.clone());
        let open_fds = Gauge::<u64, AtomicU64>::default();
        registry.register("process_open_fds", "File descriptors open in the process", open_fds.clone());
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
            request_seconds,
            stream_clients,
            feed_lag,
            store_errors,
            imports,
            resident_bytes,
            open_fds,
        }
    }

    /// The histogram of creations per transaction, for the log's group writer.
    pub fn commit_group(&self) -> Histogram {
        self.commit_group.clone()
    }

    /// Counts one answered request and its time.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        let route = route_label(route);
        self.requests.get_or_create(&RouteLabels { route, status }).inc();
        self.request_seconds.get_or_create(&RouteOnly { route }).observe(seconds);
    }

    /// Counts a request answered 5xx because of the store.
    pub fn store_error(&self, route: &str) {
        self.store_errors.get_or_create(&RouteOnly { route: route_label(route) }).inc();
    }

    /// Counts one import.
    pub fn import(&self, workspace: &str, origin: ImportOrigin, outcome: ImportOutcome) {
        let origin = match origin {
            ImportOrigin::Api => "api",
            ImportOrigin::Source => "source",
        };
        let labels = ImportLabels { workspace: workspace.to_owned(), origin, outcome: outcome.as_str() };
        self.imports.get_or_create(&labels).inc();
    }

    /// Counts a live event-stream client until the returned guard is dropped.
    pub fn stream_client(&self) -> StreamClient {
        self.stream_clients.inc();
        StreamClient(self.stream_clients.clone())
    }

    /// Sets a workspace's change-feed lag (read by the scrape).
    pub fn feed_lag(&self, workspace: &str, events: u64) {
        let lag = i64::try_from(events).unwrap_or(i64::MAX);
        self.feed_lag.get_or_create(&WorkspaceLabels { workspace: workspace.to_owned() }).set(lag);
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
        let (resident, fds) = process_usage();
        self.resident_bytes.set(resident);
        self.open_fds.set(fds);
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The process's resident memory (bytes) and open file descriptors, from `/proc` (zeros
/// where there is none).
fn process_usage() -> (u64, u64) {
    let resident = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024);
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    (resident, fds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_the_documented_alert_rules_use_is_exposed() {
        let m = Metrics::new();
        // Each family once, so that it is written out.
        m.request("/tiles/{layers}/{z}/{x}/{y}", 200, 0.01);
        m.store_error("/api/entries");
        m.import("default", ImportOrigin::Source, ImportOutcome::Failed);
        m.feed_lag("default", 0);
        m.tile(0.01, Outcome::Hit);
        m.thinned(&["entries".to_owned()]);
        let _client = m.stream_client();
        let activity = crate::activity::Activity::new(std::time::Duration::from_secs(10), m.stalled_counters());
        let text = m.render(Some(vec![("entries".into(), 1)]), (0, 0), &activity.snapshot());
        let rules = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/alerts.yml")).unwrap();
        let mut used: Vec<&str> = rules
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("vigie_"))
            .collect();
        used.sort_unstable();
        used.dedup();
        assert!(used.len() >= 10, "{used:?}");
        for name in used {
            let family =
                ["_total", "_bucket", "_count", "_sum"].iter().fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
            assert!(
                text.contains(&format!("# TYPE {family} ")) && text.contains(&format!("\n{name}")),
                "docs/alerts.yml uses {name}, which /metrics does not expose:\n{text}"
            );
        }
    }
}
