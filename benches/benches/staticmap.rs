//! Static maps (issue 16): `vigie_staticmap::render` — what `GET /api/staticmap` runs after
//! parsing — for a 1024 × 768 map of Paris (bbox 2.25,48.815,2.42,48.905) with the catalog's
//! default layers (venues, perimeters, the H3 hexagons, the five visible entry themes) over
//! 1,000,000 demo point entries (`Shapes::PointsOnly`, default seed): the index read with the
//! tiles' selection, the hexagons, the point symbols, the legend and furniture, and the PNG
//! encoding. A second case draws the whole log (`entries`, each entry in its theme's colour).
//!
//! Compared against the target: a 1024 × 768 static map of Paris ≤ 200 ms.

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use criterion::{Criterion, criterion_group, criterion_main};
use geo::{Coord, Rect};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use vigie_benches::{demo_engine, print_machine, quick_median, ratio};
use vigie_layers::demo::Shapes;
use vigie_layers::{Engine, Filter, Layer};
use vigie_staticmap::{Lang, MAX_FEATURES, MapSpec, Size};

const POINTS: usize = 1_000_000;
const TARGET: Duration = Duration::from_millis(200);

fn draw(engine: &Engine, layers: &[Arc<Layer>], filter: &Filter, bounds: Rect<f64>) -> (usize, usize) {
    let spec = MapSpec { layers, filter, bounds, size: Size::default(), lang: Lang::Fr, max_features: MAX_FEATURES };
    let map = vigie_staticmap::render(engine, &spec).expect("the map is drawn");
    (map.features, map.png.len())
}

fn benches(c: &mut Criterion) {
    print_machine();
    let engine = demo_engine(POINTS, Shapes::PointsOnly);
    let filter = Filter::default();
    let paris = Rect::new(Coord { x: 2.25, y: 48.815 }, Coord { x: 2.42, y: 48.905 });
    let visible: Vec<Arc<Layer>> = engine.layers().iter().filter(|l| l.def.visible).cloned().collect();
    let whole = vec![engine.layer("entries").expect("entries layer").clone()];
    let mut g = c.benchmark_group("staticmap_1M");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    for (name, layers) in [("paris_default_layers", &visible), ("paris_whole_log", &whole)] {
        let (features, bytes) = draw(&engine, layers, &filter, paris);
        let median = quick_median(11, || {
            black_box(draw(&engine, layers, &filter, paris));
        });
        println!(
            "{name}: {} layers, {features} features drawn, {bytes} PNG bytes; quick median {:.1} ms ({} of the 200 ms target)",
            layers.len(),
            median.as_secs_f64() * 1000.0,
            ratio(median, TARGET)
        );
        g.bench_function(name, |b| b.iter(|| draw(&engine, black_box(layers), &filter, paris)));
    }
    g.finish();
}

criterion_group!(staticmap, benches);
criterion_main!(staticmap);
