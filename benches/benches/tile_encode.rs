//! Uncached tile rendering (`Engine::render`: R-tree query, filter, clip, MVT encode) over the
//! bundled demo (44 venues, 132 perimeters, 25 000 mixed log entries, default seed), at z8 over
//! Paris, z12 over central Paris and z16 at the Eiffel Tower, for the composite of every
//! catalog layer and for the `entries` layer alone.
//!
//! Compared against the target: a cold z12 tile over central Paris under 5 ms.
//!
//! `render_budgeted`: the same spots over 300 000 point entries (the demo's spread), each
//! tile raw (`budget=off`) and within the default tile budget (500 KB, 200 000 features,
//! shared by the layers of the composite): features, bytes and time of both.

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use vigie_benches::{
    Spot, TILE_TARGET, Z8_PARIS, Z12_CENTRAL_PARIS, Z16_EIFFEL_TOWER, demo_engine, print_machine, quick_median, ratio,
};
use vigie_layers::demo::{DEFAULT_ENTRIES, Shapes};
use vigie_layers::{Budget, Engine, Filter, Layer};

const SPOTS: [Spot; 3] = [Z8_PARIS, Z12_CENTRAL_PARIS, Z16_EIFFEL_TOWER];

fn layer_sets(engine: &Engine) -> [(&'static str, Vec<Arc<Layer>>); 2] {
    let entries = engine.layer("entries").expect("the bundled catalog has an entries layer").clone();
    [("all_layers", engine.layers().to_vec()), ("entries", vec![entries])]
}

fn render_uncached(c: &mut Criterion) {
    print_machine();
    let engine = demo_engine(DEFAULT_ENTRIES, Shapes::Mixed);
    let filter = Filter::default();
    let sets = layer_sets(&engine);
    println!(
        "demo: {DEFAULT_ENTRIES} mixed entries, {} catalog layers; target: cold z12 tile < {} ms",
        engine.layers().len(),
        TILE_TARGET.as_millis()
    );
    println!(
        "{:<18} {:<11} {:>9} {:>10} {:>12} {:>9}",
        "tile", "layers", "features", "bytes", "quick median", "vs 5 ms"
    );
    for spot in SPOTS {
        for (set, layers) in &sets {
            let tile = engine.render(layers, spot.coord(), &filter);
            let features: usize = tile.features.iter().sum();
            assert!(features > 0, "{} {set}: the benched tile must hold features", spot.name);
            let median = quick_median(21, || {
                black_box(engine.render(layers, spot.coord(), &filter));
            });
            println!(
                "{:<18} {:<11} {:>9} {:>10} {:>9.3} ms {:>9}",
                format!("{}/{}/{}", spot.z, spot.x, spot.y),
                set,
                features,
                tile.bytes.len(),
                median.as_secs_f64() * 1e3,
                ratio(median, TILE_TARGET)
            );
        }
    }

    let mut group = c.benchmark_group("render_uncached");
    for spot in SPOTS {
        let coord = spot.coord();
        for (set, layers) in &sets {
            group.bench_function(format!("{}/{set}", spot.name), |b| {
                b.iter(|| engine.render(black_box(layers), black_box(coord), &filter));
            });
        }
    }
    group.finish();
}

/// Point entries of the budget comparison.
const DENSE_ENTRIES: usize = 300_000;

fn render_budgeted(c: &mut Criterion) {
    let engine = demo_engine(DENSE_ENTRIES, Shapes::PointsOnly);
    let sets = layer_sets(&engine);
    let mut raw = Filter::default();
    raw.raw = true;
    let thin = Filter::default();
    println!("budgets: {DENSE_ENTRIES} point entries; default tile budget {:?}", Budget::default());
    println!(
        "{:<18} {:<11} {:>9} {:>10} {:>11} {:>9} {:>10} {:>11}",
        "tile", "layers", "raw feat", "raw bytes", "raw median", "feat", "bytes", "median"
    );
    let mut group = c.benchmark_group("render_budgeted");
    for spot in [Z8_PARIS, Z12_CENTRAL_PARIS] {
        for (set, layers) in &sets {
            let budget = Budget::default().share(layers.len());
            let render = |f: &Filter| engine.render_within(layers, spot.coord(), f, budget).expect("under the ceiling");
            let (r, t) = (render(&raw), render(&thin));
            let raw_median = quick_median(7, || {
                black_box(render(&raw));
            });
            let thin_median = quick_median(7, || {
                black_box(render(&thin));
            });
            println!(
                "{:<18} {:<11} {:>9} {:>10} {:>8.2} ms {:>9} {:>10} {:>8.2} ms",
                format!("{}/{}/{}", spot.z, spot.x, spot.y),
                set,
                r.features.iter().sum::<usize>(),
                r.bytes.len(),
                raw_median.as_secs_f64() * 1e3,
                t.features.iter().sum::<usize>(),
                t.bytes.len(),
                thin_median.as_secs_f64() * 1e3,
            );
            group.bench_function(format!("{}/{set}", spot.name), |b| b.iter(|| render(black_box(&thin))));
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = render_uncached, render_budgeted
}
criterion_main!(benches);
