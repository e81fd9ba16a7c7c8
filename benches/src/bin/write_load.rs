//! Write load through HTTP against a running vigie (loopback only): throughput of `POST
//! /api/entries` with N concurrent clients, then write-to-visible latency — from the 201 to a
//! fresh tile request that contains the new entry.
//!
//! ```sh
//! vigie serve --demo --data-dir /tmp/w --writes-per-second 0 &
//! cargo run --release -p vigie-benches --bin write_load -- http://127.0.0.1:8080 8 20
//! ```
//! Arguments: base URL (must be 127.0.0.1 or localhost), clients (default 8), seconds of load
//! (default 20), write-to-visible samples (default 300), and optionally the base URL of another
//! replica on the same database: write-to-visible is then measured there (a write through the
//! first, tiles from the second).

use geozero::mvt::{Message, Tile};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigie_layers::tile::{lonlat_to_mercator, tiles_covering};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn body(i: u64, lon: f64, lat: f64) -> String {
    format!(
        r#"{{"title":"charge {i}","severity":{},"tags":["public_order"],"lon":{lon},"lat":{lat},"author":"bench","body":"write load"}}"#,
        i % 5
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let clients: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let seconds: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let samples: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(300);
    let reader = args.get(5).cloned().unwrap_or_else(|| base.clone());
    for b in [&base, &reader] {
        assert!(
            b.starts_with("http://127.0.0.1") || b.starts_with("http://localhost"),
            "load benchmarks target the loopback only"
        );
    }
    let url = format!("{base}/api/entries");

    // 1. Throughput.
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(0u64));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (stop, lat, err, url) = (stop.clone(), latencies.clone(), errors.clone(), url.clone());
            std::thread::spawn(move || {
                let a = agent();
                let mut i = 0u64;
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let (lon, lat_) =
                        (2.25 + (c as f64) * 0.02 + (i % 100) as f64 * 1e-4, 48.82 + (i / 100 % 100) as f64 * 1e-4);
                    let t = Instant::now();
                    let r = a.post(&url).header("content-type", "application/json").send(body(i, lon, lat_));
                    // The body is read, as a client does: the connection then goes back to the
                    // agent's pool (an unread body closes it, and every request would pay a new
                    // connection).
                    let created = r.is_ok_and(|resp| resp.status() == 201 && resp.into_body().read_to_vec().is_ok());
                    if created {
                        mine.push(t.elapsed());
                    } else {
                        *err.lock().unwrap() += 1;
                    }
                }
                lat.lock().unwrap().extend(mine);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = started.elapsed();
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    println!(
        "writes: {} clients, {:.1} s: {} entries, {:.0} entries/s, latency p50 {:.2} ms, p99 {:.2} ms, errors {}",
        clients,
        elapsed.as_secs_f64(),
        lat.len(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        errors.lock().unwrap()
    );

    // 2. Write-to-visible: after each 201, fetch the z16 tile holding the point until the entry
    // is in it.
    let a = agent();
    let mut visible = Vec::with_capacity(samples);
    for i in 0..samples as u64 {
        let (lon, lat_) = (2.30 + (i % 50) as f64 * 2e-3, 48.84 + (i / 50) as f64 * 2e-3);
        let mut r = a.post(&url).header("content-type", "application/json").send(body(i, lon, lat_)).unwrap();
        assert_eq!(r.status(), 201);
        let acked = Instant::now();
        let created: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        let id = created["id"].as_u64().unwrap();
        let m = lonlat_to_mercator(lon, lat_);
        let (x, y, _, _) = tiles_covering(geo::Rect::new(m, m), 16, 0);
        let tile = format!("{reader}/tiles/public-order/16/{x}/{y}.mvt");
        loop {
            let resp = a.get(&tile).call().unwrap();
            let bytes = resp.into_body().read_to_vec().unwrap();
            let found = !bytes.is_empty()
                && Tile::decode(bytes.as_slice())
                    .unwrap()
                    .layers
                    .iter()
                    .any(|l| l.features.iter().any(|f| f.id == Some(id)));
            if found {
                visible.push(acked.elapsed());
                break;
            }
            assert!(acked.elapsed() < Duration::from_secs(10), "entry {id} not visible after 10 s");
        }
    }
    visible.sort();
    println!(
        "write-to-visible ({} samples, 201 from {base} → a tile from {reader} containing the entry): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        visible.len(),
        percentile(&visible, 0.5).as_secs_f64() * 1e3,
        percentile(&visible, 0.99).as_secs_f64() * 1e3,
        visible.last().map_or(0.0, |d| d.as_secs_f64() * 1e3)
    );
}
