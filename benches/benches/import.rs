//! Import readers on the engine directly: records read, checked and turned into a dataset
//! (`DatasetBuilder::finish`: schema inference, ids, value coercion), from bytes in memory.
//!
//! - `csv/200k_points`: a `;`-separated CSV with decimal commas on every other row, the
//!   shape of French open-data exports (the first 200 000 rows of `benches/import-data.sh`'s
//!   file, generated here the same way).
//! - `geojson/50k_features`: a FeatureCollection of points with six properties and a polygon
//!   every tenth feature, streamed through the serde visitor.
//!
//! Compared against the target of 200 000 points/s for a CSV *into the embedded store*:
//! the read-and-check part must leave room for the store write. The whole path (store included)
//! and peak memory are measured by `benches/import.sh` with the real binary.

#![expect(missing_docs, reason = "criterion_group! generates undocumented items")]

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};
use vigie_benches::print_machine;
use vigie_layers::dataset::{DatasetBuilder, Mapping};
use vigie_layers::readers::{self, ReadOptions};

const CSV_ROWS: usize = 200_000;
const GEOJSON_FEATURES: usize = 50_000;
/// Points per second the issue asks for, store write included.
const TARGET_POINTS_PER_S: f64 = 200_000.0;

/// A small deterministic generator (xorshift), so every run reads the same bytes.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn csv_text() -> String {
    let mut rng = Rng(2024);
    let mut s = String::from("code;nom;categorie;date;latitude;longitude\n");
    for i in 1..=CSV_ROWS {
        let (lat, lon) = (42.5 + rng.unit() * 8.5, -4.5 + rng.unit() * 12.0);
        let (la, lo) = if i % 2 == 0 {
            (format!("{lat:.6}").replace('.', ","), format!("{lon:.6}").replace('.', ","))
        } else {
            (format!("{lat:.6}"), format!("{lon:.6}"))
        };
        writeln!(s, "{i:07};site {i};cat-{};2024-{:02}-{:02};{la};{lo}", i % 12, 1 + i % 12, 1 + i % 28).unwrap();
    }
    s
}

fn geojson_text() -> String {
    let mut rng = Rng(93);
    let mut s = String::from("{\"type\":\"FeatureCollection\",\"features\":[\n");
    for n in 1..=GEOJSON_FEATURES {
        let (x, y) = (-4.5 + rng.unit() * 12.0, 42.5 + rng.unit() * 8.5);
        let g = if n % 10 == 0 {
            let d = 0.001 + rng.unit() * 0.01;
            format!(
                "{{\"type\":\"Polygon\",\"coordinates\":[[[{x:.6},{y:.6}],[{:.6},{y:.6}],[{:.6},{:.6}],[{x:.6},{:.6}],[{x:.6},{y:.6}]]]}}",
                x + d,
                x + d,
                y + d,
                y + d
            )
        } else {
            format!("{{\"type\":\"Point\",\"coordinates\":[{x:.6},{y:.6}]}}")
        };
        writeln!(
            s,
            "{}{{\"type\":\"Feature\",\"properties\":{{\"id\":{n},\"code\":\"{:05}\",\"nom\":\"objet {n}\",\"niveau\":{},\"valeur\":{:.3},\"date\":\"2024-07-{:02}\"}},\"geometry\":{g}}}",
            if n > 1 { "," } else { "" },
            n % 100_000,
            n % 5,
            rng.unit() * 1000.0,
            1 + n % 28
        )
        .unwrap();
    }
    s.push_str("]}\n");
    s
}

fn import(c: &mut Criterion) {
    print_machine();
    let csv = csv_text();
    let geojson = geojson_text();
    println!(
        "inputs: CSV {CSV_ROWS} rows ({:.1} MB), GeoJSON {GEOJSON_FEATURES} features ({:.1} MB), built in memory",
        csv.len() as f64 / 1e6,
        geojson.len() as f64 / 1e6
    );
    let read_csv = || {
        let mut b = DatasetBuilder::new("bench", Mapping::default());
        readers::csv::read(csv.as_bytes(), "bench.csv", &ReadOptions::default(), &mut b).unwrap();
        b.finish(false).unwrap()
    };
    let read_geojson = || {
        let mut b = DatasetBuilder::new("bench", Mapping::default());
        readers::geojson::read(geojson.as_bytes(), "bench.geojson", &mut b).unwrap();
        b.finish(false).unwrap()
    };
    assert_eq!(read_csv().0.features.len(), CSV_ROWS);
    assert_eq!(read_geojson().0.features.len(), GEOJSON_FEATURES);

    let mut group = c.benchmark_group("csv");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Elements(CSV_ROWS as u64));
    group.bench_function("200k_points", |b| b.iter(|| black_box(read_csv())));
    group.finish();

    let mut group = c.benchmark_group("geojson");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Bytes(geojson.len() as u64));
    group.bench_function("50k_features", |b| b.iter(|| black_box(read_geojson())));
    group.finish();

    let t = Instant::now();
    black_box(read_csv());
    let rate = CSV_ROWS as f64 / t.elapsed().as_secs_f64();
    println!(
        "CSV read and check: {rate:.0} points/s = {:.2}x the {TARGET_POINTS_PER_S:.0} points/s target (store write not included)",
        rate / TARGET_POINTS_PER_S
    );
}

criterion_group!(benches, import);
criterion_main!(benches);
