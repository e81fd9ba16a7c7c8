//! Renders one demo tile many times, for profilers (`perf record`, `valgrind --tool=callgrind`)
//! and for a figure that other work on the machine disturbs less than a median: the minimum
//! wall time of many renders (the runs no other process interrupted).
//!
//! Usage: `cargo run --release -p vigie-benches --example render_loop -- [SPOT] [LAYERS] [RUNS] [POINTS] [BUDGET]`
//! - SPOT: `z8_paris`, `z12_central_paris` (default), `z14_central_paris` or `z16_eiffel_tower`
//! - LAYERS: `entries` (default) or `all_layers`
//! - RUNS: renders to time (default 200)
//! - POINTS: instead of the 25 000 mixed demo entries, this many point entries (as the 1M
//!   benches: `1000000`; `-` for the demo)
//! - BUDGET: `raw` (default: every feature, `Engine::render`) or `thin` (the default tile
//!   budget shared by the layers, as the server renders: `Engine::render_within`)

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigie_benches::{Z8_PARIS, Z12_CENTRAL_PARIS, Z14_CENTRAL_PARIS, Z16_EIFFEL_TOWER, demo_engine, print_machine};
use vigie_layers::demo::{DEFAULT_ENTRIES, Shapes};
use vigie_layers::{Budget, Filter, Layer, RenderedTile};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spot = match args.first().map_or("z12_central_paris", String::as_str) {
        "z8_paris" => Z8_PARIS,
        "z14_central_paris" => Z14_CENTRAL_PARIS,
        "z16_eiffel_tower" => Z16_EIFFEL_TOWER,
        _ => Z12_CENTRAL_PARIS,
    };
    let set = args.get(1).map_or("entries", String::as_str);
    let runs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(200).max(1);
    print_machine();
    let engine = match args.get(3).and_then(|n| n.parse().ok()) {
        Some(points) => demo_engine(points, Shapes::PointsOnly),
        None => demo_engine(DEFAULT_ENTRIES, Shapes::Mixed),
    };
    let layers: Vec<Arc<Layer>> = if set == "all_layers" {
        engine.layers().to_vec()
    } else {
        vec![engine.layer("entries").expect("the bundled catalog has an entries layer").clone()]
    };
    let filter = Filter::default();
    let thin = args.get(4).is_some_and(|b| b == "thin");
    let budget = Budget::default().share(layers.len());
    let render = |layers: &[Arc<Layer>]| -> RenderedTile {
        if thin {
            engine.render_within(layers, spot.coord(), &filter, budget).expect("a thin budget has no ceiling")
        } else {
            engine.render(layers, spot.coord(), &filter)
        }
    };
    let tile = render(&layers);
    let mut wall = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        black_box(render(black_box(&layers)));
        wall.push(t.elapsed());
    }
    wall.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{} {set} {}: {} features, {} bytes; {runs} renders: min {:.3} ms, median {:.3} ms",
        spot.name,
        if thin { "thin" } else { "raw" },
        tile.features.iter().sum::<usize>(),
        tile.bytes.len(),
        ms(wall[0]),
        ms(wall[runs / 2]),
    );
    print_machine();
}
