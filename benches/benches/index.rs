//! The spatial index at the scale: 1 000 000 synthetic point entries (demo generator,
//! default seed, points only).
//!
//! - `bulk_load/1M_points`: `Collection::bulk_load` (id map, R-tree bulk load, theme counts),
//!   the index part of `vigie serve`'s start-up. The features are generated once; each sample
//!   loads a fresh clone (cloning is outside the timed section).
//! - `query/...`: R-tree query of a z12 and a z14 buffered tile envelope over central Paris,
//!   counting the hits.
//! - `render_entries/...`: `Engine::render` of the `entries` layer (uncached tile) over the 1M
//!   points, z12 and z14 over central Paris.
//!
//! Compared against the targets: 1M point entries loaded and served within 10 s of
//! start (the bulk load is one part of that budget), a cold z12 tile under 5 ms.

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};
use vigie_benches::{
    STARTUP_TARGET, Spot, TILE_TARGET, Z12_CENTRAL_PARIS, Z14_CENTRAL_PARIS, entry_features, print_machine,
    quick_median, ratio,
};
use vigie_layers::demo::Shapes;
use vigie_layers::engine::ENTRIES;
use vigie_layers::index::Collection;
use vigie_layers::model::entry_schema;
use vigie_layers::tile::BUFFER_PX;
use vigie_layers::{Catalog, Engine, Filter};

const POINTS: usize = 1_000_000;
const SPOTS: [Spot; 2] = [Z12_CENTRAL_PARIS, Z14_CENTRAL_PARIS];

fn index(c: &mut Criterion) {
    print_machine();
    let engine = Engine::new(Catalog::bundled());
    let t = Instant::now();
    let features = entry_features(engine.vocabulary(), POINTS, Shapes::PointsOnly);
    println!(
        "generated and converted {} point entries in {:.2} s (not timed below)",
        features.len(),
        t.elapsed().as_secs_f64()
    );

    let mut group = c.benchmark_group("bulk_load");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(25));
    group.bench_function("1M_points", |b| {
        b.iter_batched(|| features.clone(), |f| Collection::bulk_load(entry_schema(), f), BatchSize::PerIteration);
    });
    group.finish();

    let t = Instant::now();
    let collection = Collection::bulk_load(entry_schema(), features);
    let load = t.elapsed();
    println!(
        "one more bulk load: {:.3} s = {} of the {} s start-up budget",
        load.as_secs_f64(),
        ratio(load, STARTUP_TARGET),
        STARTUP_TARGET.as_secs()
    );

    let filter = Filter::default();
    println!(
        "{:<18} {:>10} {:>9} {:>10} {:>12} {:>9}",
        "tile", "R-tree hits", "features", "bytes", "quick median", "vs 5 ms"
    );
    let envelopes: Vec<_> = SPOTS.iter().map(|s| s.coord().buffered_bounds(BUFFER_PX)).collect();
    let hits: Vec<usize> = envelopes.iter().map(|e| collection.query(*e).count()).collect();
    engine.replace(&ENTRIES, collection);
    let entries = vec![engine.layer("entries").expect("the bundled catalog has an entries layer").clone()];
    for (spot, hits) in SPOTS.iter().zip(&hits) {
        assert!(*hits > 0, "{}: the benched envelope must hold points", spot.name);
        let tile = engine.render(&entries, spot.coord(), &filter);
        let median = quick_median(5, || {
            black_box(engine.render(&entries, spot.coord(), &filter));
        });
        println!(
            "{:<18} {:>10} {:>9} {:>10} {:>9.3} ms {:>9}",
            format!("{}/{}/{}", spot.z, spot.x, spot.y),
            hits,
            tile.features.iter().sum::<usize>(),
            tile.bytes.len(),
            median.as_secs_f64() * 1e3,
            ratio(median, TILE_TARGET)
        );
    }

    let mut group = c.benchmark_group("query");
    group.sample_size(50).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    for (spot, env) in SPOTS.iter().zip(&envelopes) {
        group.bench_function(spot.name, |b| {
            b.iter(|| engine.with_collection(&ENTRIES, |c| c.query(black_box(*env)).count()).unwrap_or(0));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("render_entries_1M");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    for spot in SPOTS {
        let coord = spot.coord();
        group.bench_function(spot.name, |b| {
            b.iter(|| engine.render(black_box(&entries), black_box(coord), &filter));
        });
    }
    group.finish();
}

criterion_group!(benches, index);
criterion_main!(benches);
