//! Uncached tile rendering (`Engine::render`: R-tree query, filter, clip, MVT encode) over the
//! bundled demo (44 venues, 132 perimeters, 25 000 mixed log entries, default seed), at z8 over
//! Paris, z12 over central Paris and z16 at the Eiffel Tower, for the composite of every
//! catalog layer and for the `entries` layer alone.
//!
//! Compared against the target: a cold z12 tile over central Paris under 5 ms.

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use vigie_benches::{
    Spot, TILE_TARGET, Z8_PARIS, Z12_CENTRAL_PARIS, Z16_EIFFEL_TOWER, demo_engine, print_machine, quick_median, ratio,
};
use vigie_layers::demo::{DEFAULT_ENTRIES, Shapes};
use vigie_layers::{Engine, Filter, Layer};

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

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = render_uncached
}
criterion_main!(benches);
