//! Shared set-up of the benches: the demo data indexed the way `vigie serve` indexes it, and the
//! tile addresses every bench measures.
//!
//! The engine is filled straight from the demo generator (no store), with the same conversions
//! as `tileserver/src/load.rs`: one [`Interner`] shared by every record, entries converted
//! against the engine's theme vocabulary, each collection bulk-loaded once.

use std::time::{Duration, Instant};
use vigie_layers::demo::{self, DEFAULT_SEED, Shapes};
use vigie_layers::engine::{ENTRIES, PERIMETERS, VENUES};
use vigie_layers::index::Collection;
use vigie_layers::model::{Interner, ThemeVocabulary, entry_schema, perimeter_schema, venue_schema};
use vigie_layers::{Catalog, Engine, Feature, TileCoord};

/// The target for one cold (uncached) z12 tile over central Paris.
pub const TILE_TARGET: Duration = Duration::from_millis(5);

/// The start-up budget: 1M point entries loaded and served within this time.
pub const STARTUP_TARGET: Duration = Duration::from_secs(10);

/// A named tile address benches measure.
#[derive(Debug, Clone, Copy)]
pub struct Spot {
    /// Short name used in bench ids, e.g. `z12_central_paris`.
    pub name: &'static str,
    /// Zoom.
    pub z: u32,
    /// Column.
    pub x: u64,
    /// Row.
    pub y: u64,
}

impl Spot {
    /// The checked tile coordinate.
    ///
    /// # Panics
    /// When the address is off the grid (the constants below are not).
    pub fn coord(self) -> TileCoord {
        TileCoord::new(self.z, self.x, self.y).expect("bench tile addresses are on the grid")
    }
}

/// z8 tile holding Paris and its inner suburbs.
pub const Z8_PARIS: Spot = Spot { name: "z8_paris", z: 8, x: 129, y: 88 };

/// z12 tile over central Paris (Eiffel Tower, Trocadéro, Champ-de-Mars, Invalides, Grand Palais,
/// Concorde).
pub const Z12_CENTRAL_PARIS: Spot = Spot { name: "z12_central_paris", z: 12, x: 2074, y: 1409 };

/// z14 tile inside [`Z12_CENTRAL_PARIS`], holding the Eiffel Tower.
pub const Z14_CENTRAL_PARIS: Spot = Spot { name: "z14_central_paris", z: 14, x: 8296, y: 5636 };

/// z16 tile at the Eiffel Tower.
pub const Z16_EIFFEL_TOWER: Spot = Spot { name: "z16_eiffel_tower", z: 16, x: 33186, y: 22546 };

/// `count` demo log entries as indexed features, converted against `vocab` (the engine's theme
/// vocabulary). Entries whose geometry cannot be indexed are left out, as the loader does.
pub fn entry_features(vocab: &ThemeVocabulary, count: usize, shapes: Shapes) -> Vec<Feature> {
    let venues = demo::bundled_venues();
    let mut interner = Interner::default();
    demo::entries(&venues, DEFAULT_SEED, count, shapes)
        .iter()
        .filter_map(|e| e.to_feature(vocab, &mut interner).ok())
        .collect()
}

/// An engine over the bundled catalog holding the demo venues, their perimeters and `entries`
/// synthetic log entries of the given shape mix (default seed).
///
/// # Panics
/// When a bundled venue or perimeter cannot be indexed (a test of `vigie-layers` rules it out).
pub fn demo_engine(entries: usize, shapes: Shapes) -> Engine {
    let engine = Engine::new(Catalog::bundled());
    let venues = demo::bundled_venues();
    let perimeters = demo::perimeters(&venues, DEFAULT_SEED);
    let mut interner = Interner::default();
    let venue_features: Vec<Feature> =
        venues.iter().map(|v| v.to_feature(&mut interner).expect("bundled venues index")).collect();
    let perimeter_features: Vec<Feature> = perimeters
        .iter()
        .map(|p| {
            let name = venues.iter().find(|v| v.code == p.venue).map_or("", |v| v.name.as_str());
            p.to_feature(name, &mut interner).expect("demo perimeters index")
        })
        .collect();
    let vocab = engine.vocabulary().clone();
    let entry_features: Vec<Feature> = demo::entries(&venues, DEFAULT_SEED, entries, shapes)
        .iter()
        .filter_map(|e| e.to_feature(&vocab, &mut interner).ok())
        .collect();
    engine.replace(&VENUES, Collection::bulk_load(venue_schema(), venue_features));
    engine.replace(&PERIMETERS, Collection::bulk_load(perimeter_schema(), perimeter_features));
    engine.replace(&ENTRIES, Collection::bulk_load(entry_schema(), entry_features));
    engine
}

/// Prints the cores available and the load average, so figures taken while other builds ran
/// say so.
pub fn print_machine() {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!("machine: {cores} cores, load average {}", load.join(" "));
}

/// A field of a process's `/proc/PID/status` given in kB (`VmRSS`, `VmHWM`, `VmData`…), in
/// KiB; `pid` is a process id or `self`.
pub fn proc_status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?.split_whitespace().next()?.parse().ok()
}

/// Median wall time of `runs` calls of `f` (a quick check printed next to a target before
/// criterion's own measurement; criterion's median is the figure to quote).
pub fn quick_median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

/// `measured` as a multiple of `target`, e.g. `0.42x`.
pub fn ratio(measured: Duration, target: Duration) -> String {
    format!("{:.2}x", measured.as_secs_f64() / target.as_secs_f64())
}
