//! Region queries and H3 aggregation over 1M synthetic point entries (issue 4):
//! - region query (match, summary and first page) for a 1 km circle, a bbox over Paris and
//!   département 93 (IGN boundary from `../shared/data/france`);
//! - H3: finest-cell assignment and roll-up of 1M points to resolution 8, hexagon tiles at z6,
//!   z9 and z12, and the incremental update of one write;
//! - territories: cold entry and H3 tiles and the 1 km circle query, unscoped and narrowed to
//!   département 93 or a 1,000-vertex polygon.
//!
//! Targets: 1 km circle p50 ≤ 5 ms; a département with 50,000 hits ≤ 50 ms; 1M-point roll-up
//! ≤ 300 ms; incremental update per write ≤ 20 µs.
#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use vigie_benches::demo_engine;
use vigie_layers::dataset::{DatasetBuilder, Mapping};
use vigie_layers::demo::Shapes;
use vigie_layers::engine::ENTRIES;
use vigie_layers::feature::Attrs;
use vigie_layers::h3::{self, Aggregate};
use vigie_layers::query;
use vigie_layers::region::{Prepared, Region};
use vigie_layers::{Engine, Feature, Filter, TileCoord};

const POINTS: usize = 1_000_000;

fn departement(code: &str) -> geo::MultiPolygon<f64> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/france/departements.geojson");
    let file = std::fs::File::open(path).expect("../shared/data/france/departements.geojson (see its README)");
    let mut b = DatasetBuilder::new("d", Mapping::default());
    vigie_layers::readers::geojson::read(file, path, &mut b).expect("readable");
    let (d, _) = b.finish(false).expect("valid");
    let i = d.schema.position("code").expect("code field");
    let f = d.features.iter().find(|f| f.props[i] == vigie_layers::Value::text(code)).expect("département");
    match &f.geometry {
        geo::Geometry::Polygon(p) => geo::MultiPolygon(vec![p.clone()]),
        geo::Geometry::MultiPolygon(mp) => mp.clone(),
        _ => panic!("polygonal"),
    }
}

/// What `POST /api/query` asks of the engine: the summary of every hit and the first page.
fn run_query(engine: &Engine, region: &Prepared) -> usize {
    let layers = [engine.layer("entries").expect("entries layer").clone()];
    let paging = query::Paging { cursor: None, limit: 100 };
    let answer = engine.region_query(&layers, region, &Filter::default(), paging, None);
    black_box(answer.page.len());
    answer.summary.total
}

fn benches(c: &mut Criterion) {
    let engine = demo_engine(POINTS, Shapes::PointsOnly);
    let regions = [
        ("circle_1km_eiffel", Region::Circle { lon: 2.2945, lat: 48.8584, radius_m: 1000.0 }),
        ("bbox_paris", Region::BBox([2.25, 48.815, 2.42, 48.905])),
        ("departement_93", Region::Polygons(departement("93"))),
    ];
    let mut g = c.benchmark_group("region_1M");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    for (name, r) in regions {
        let prepared = Prepared::new(r).expect("valid region");
        println!("region {name}: {} hits over {POINTS} points", run_query(&engine, &prepared));
        g.bench_function(name, |b| b.iter(|| run_query(&engine, black_box(&prepared))));
    }
    g.finish();

    let features: Vec<Arc<Feature>> =
        engine.with_collection(&ENTRIES, |c| c.iter().cloned().collect()).expect("entries collection");
    let mut g = c.benchmark_group("h3_1M");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("finest_cells", |b| {
        b.iter(|| {
            features
                .iter()
                .filter_map(|f| h3::representative_point(&f.lonlat()).and_then(|p| h3::cell_of(p.x, p.y, h3::FINEST)))
                .count()
        });
    });
    g.bench_function("assign_and_rollup_res8", |b| {
        b.iter(|| Aggregate::build(8, 8, features.iter().map(AsRef::as_ref)).len());
    });
    // The roll-up alone: from the finest cells every write keeps, to resolution 8.
    let finest = Aggregate::build(h3::FINEST, h3::FINEST, features.iter().map(AsRef::as_ref));
    println!("roll-up: {} features, {} cells at resolution 8", finest.len(), finest.roll_up(8).len());
    g.bench_function("rollup_res8_from_finest", |b| b.iter(|| finest.roll_up(8).len()));
    g.finish();

    let layer = [engine.layer("entries-h3").expect("h3 layer").clone()];
    let mut g = c.benchmark_group("h3_tiles_1M");
    g.sample_size(30);
    for (name, z, x, y) in [("z6", 6, 32, 22), ("z9", 9, 259, 176), ("z12", 12, 2074, 1409)] {
        let coord = TileCoord::new(z, x, y).expect("on the grid");
        let t = engine.render(&layer, coord, &Filter::default());
        println!("h3 tile {name}: {} hexagons, {} bytes", t.features[0], t.bytes.len());
        g.bench_function(name, |b| b.iter(|| engine.render(&layer, coord, &Filter::default()).bytes.len()));
    }
    g.finish();

    territories(c, &engine);

    // One write: move an entry to a new place (R-tree + H3 aggregates), as the log's applier does.
    let mut g = c.benchmark_group("write_1M");
    let template = features[0].clone();
    let mut i = 0u64;
    g.bench_function("engine_upsert_with_h3", |b| {
        b.iter(|| {
            i += 1;
            let lon = 2.30 + (i % 1000) as f64 * 1e-4;
            let attrs = Attrs { severity: Some(2), ..template.attrs.clone() };
            let f = Feature::from_lonlat(
                template.id,
                &geo::Geometry::Point(geo::Point::new(lon, 48.86)),
                attrs,
                template.props.clone(),
            )
            .expect("valid");
            engine.upsert(&ENTRIES, f).rects.len()
        });
    });
    let mut agg = Aggregate::build(3, 10, features.iter().take(200_000).map(AsRef::as_ref));
    g.bench_function("h3_aggregate_update", |b| {
        b.iter(|| {
            i += 1;
            let f = &features[(i % 200_000) as usize];
            agg.update(f.id, Some(f));
        });
    });
    g.finish();
}

/// Territories (issue 15): cold tiles of the log's entries and their H3 counts, unscoped and
/// narrowed to a département or a 1,000-vertex polygon (target: at most 1.2× the unscoped
/// tile), and the 1 km circle query narrowed to a territory (target: p50 ≤ 5 ms).
fn territories(c: &mut Criterion, engine: &Engine) {
    use vigie_layers::scope::Scope;
    let scopes = [
        ("none", None),
        ("departement_93", Some(Arc::new(Scope::new(departement("93")).expect("valid")))),
        ("polygon_1000", Some(Arc::new(Scope::new(vigie_layers::demo::wobbly_territory()).expect("valid")))),
    ];
    // Tiles over the north-east of Paris, where département 93 and the polygon have borders.
    let tiles: Vec<TileCoord> = [(12, 2073..2077, 1407..1411), (14, 8298..8302, 5633..5637)]
        .into_iter()
        .flat_map(|(z, xs, ys)| xs.flat_map(move |x| ys.clone().map(move |y| TileCoord::new(z, x, y).expect("grid"))))
        .collect();
    for layer_id in ["entries", "entries-h3"] {
        let layer = [engine.layer(layer_id).expect("layer").clone()];
        let mut g = c.benchmark_group(format!("territory_tiles_1M_{layer_id}"));
        g.sample_size(20).measurement_time(Duration::from_secs(6));
        for (name, scope) in &scopes {
            let filter = Filter::default().with_scope(scope.clone());
            // The first pass over a territory's H3 tiles builds its counts.
            let first = std::time::Instant::now();
            let features: usize = tiles.iter().map(|t| engine.render(&layer, *t, &filter).features[0]).sum();
            println!(
                "{layer_id} over {} tiles, territory {name}: {features} features; first pass {:.0} ms",
                tiles.len(),
                first.elapsed().as_secs_f64() * 1000.0
            );
            g.bench_function(*name, |b| {
                b.iter(|| {
                    tiles.iter().map(|t| engine.render(&layer, *t, black_box(&filter)).bytes.len()).sum::<usize>()
                });
            });
        }
        g.finish();
    }
    let circle = Prepared::new(Region::Circle { lon: 2.2945, lat: 48.8584, radius_m: 1000.0 }).expect("valid");
    let layers = [engine.layer("entries").expect("entries layer").clone()];
    let mut g = c.benchmark_group("territory_query_1M");
    g.sample_size(20).measurement_time(Duration::from_secs(6));
    for (name, scope) in &scopes {
        let filter = Filter::default().with_scope(scope.clone());
        let paging = query::Paging { cursor: None, limit: 100 };
        g.bench_function(format!("circle_1km_{name}"), |b| {
            b.iter(|| engine.region_query(&layers, &circle, black_box(&filter), paging, None).summary.total);
        });
    }
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
