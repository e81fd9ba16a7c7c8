//! Where the memory of the log's entries goes: the engine built as the server builds it at
//! start, one part after the other, with the growth of the process's resident memory and the
//! time each part took (on one thread, where the server reads the store on a second).
//!
//! Usage: `cargo run --release -p vigie-benches --example memory -- [POINTS]` (default
//! 1 000 000 point entries).
//!
//! Resident memory only grows here (nothing large is freed before the last part), so each
//! step's growth is roughly what the part holds. For exact live bytes by allocation site, run it
//! under massif (`valgrind --tool=massif --massif-out-file=massif.out …/examples/memory 200000`,
//! then `ms_print massif.out`): the peak snapshot is the built engine.

use std::sync::Arc;
use vigie_layers::demo::{self, DEFAULT_SEED, Shapes};
use vigie_layers::engine::ENTRIES;
use vigie_layers::index::Collection;
use vigie_layers::model::{Interner, entry_schema};
use vigie_layers::{Catalog, Engine, Feature};

fn status(key: &str) -> String {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines().find(|l| l.starts_with(key)).map_or_else(String::new, |l| l[key.len()..].trim().to_owned())
}

fn rss_kib() -> usize {
    vigie_benches::proc_status_kib("self", "VmRSS").unwrap_or(0) as usize
}

fn main() {
    let points: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    vigie_benches::print_machine();
    println!(
        "sizes: Feature {} B, Value {} B, geo::Geometry {} B",
        size_of::<Feature>(),
        size_of::<vigie_layers::feature::Value>(),
        size_of::<geo::Geometry<f64>>()
    );
    let mut last = (rss_kib(), std::time::Instant::now());
    let mut step = |what: &str| {
        let now = rss_kib();
        let grown = now.saturating_sub(last.0) as f64 * 1024.0;
        let seconds = last.1.elapsed().as_secs_f64();
        println!(
            "{what:<48} +{:>7.1} MiB {:>7.1} B/entry {seconds:>7.2} s",
            grown / 1_048_576.0,
            grown / points as f64
        );
        last = (now, std::time::Instant::now());
    };
    let engine = Engine::new(Catalog::bundled());
    let venues = demo::bundled_venues();
    let vocab = engine.vocabulary().clone();
    let entries = demo::entries(&venues, DEFAULT_SEED, points, Shapes::PointsOnly);
    step("demo entries (the store's rows, freed below)");
    let mut interner = Interner::default();
    let features: Vec<Arc<Feature>> =
        entries.iter().filter_map(|e| e.to_feature(&vocab, &mut interner).ok()).map(Arc::new).collect();
    step("features (Arc<Feature>, properties, tags)");
    let collection = Collection::bulk_load_shared(entry_schema(), features);
    step("index (point order, R-tree of the others, id map)");
    engine.replace(&ENTRIES, collection);
    step("H3 aggregates (Engine::replace)");
    println!("VmRSS {}, VmHWM {} ({points} point entries)", status("VmRSS:"), status("VmHWM:"));

    // The write path: a fifth more entries, each upserted on its own as a log write is applied
    // (the soak's writes; issue 20, item 5). Made first, and nothing freed before the upserts
    // (freed memory would be reused and hide their growth), so only the upserts are measured.
    let written = points / 5;
    let mut more = demo::entries(&venues, DEFAULT_SEED + 1, written, Shapes::PointsOnly);
    for (i, e) in more.iter_mut().enumerate() {
        e.id = (points + i + 1) as u64;
    }
    let features: Vec<Feature> = more.iter().filter_map(|e| e.to_feature(&vocab, &mut interner).ok()).collect();
    last = (rss_kib(), std::time::Instant::now());
    for f in features {
        engine.upsert(&ENTRIES, f);
    }
    let grown = rss_kib().saturating_sub(last.0) as f64 * 1024.0;
    println!(
        "{:<48} +{:>7.1} MiB {:>7.1} B/written entry {:>7.2} s",
        format!("{written} entries written one at a time (upsert)"),
        grown / 1_048_576.0,
        grown / written as f64,
        last.1.elapsed().as_secs_f64()
    );
    println!("VmRSS {}, VmHWM {}", status("VmRSS:"), status("VmHWM:"));
    drop((entries, more, interner));
}
