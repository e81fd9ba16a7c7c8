//! A room's day, compressed: mixed load against a running vigie on the loopback for a set time,
//! watching the server's memory, open files and latency (issue 20, item 5).
//!
//! ```sh
//! benches/load/soak.sh            # 30 minutes at 64 connections over 1M entries
//! MINUTES=5 benches/load/soak.sh  # the quick check
//! ```
//! The mix: each of `--connections` clients asks, at random, a tile of the recorded flight
//! (80 %, the web view's composite layers), a region query (10 %), a new log entry (5 %) or a
//! page of the log (5 %); `--sse` clients hold live event streams; a dataset is imported every
//! minute. Every 10 s the server's resident memory and open files are read from `/proc`.
//!
//! Prints a line per window (a sixth of the run): requests, 5xx, p50 and p99, resident memory
//! and open files; then the verdicts, and exits 1 when one fails:
//! - no 5xx, no failed request, no import refused;
//! - resident memory drift after warm-up (the first window) under 5 %: the mean of the last
//!   window against the mean of the second;
//! - no open-file growth: the most open files in the last window at most those of the second;
//! - p99 of the last window within 20 % of the first's.
//!
//! Arguments: `soak BASE_URL PID TRACE [--minutes N] [--connections N] [--sse N] [--import
//! FILE --import-layer ID]`.

use std::io::{BufRead as _, BufReader};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The header naming a demo identity (the server runs `--demo` on the loopback).
const USER: &str = "x-vigie-user";

/// The composite the web view asks for when it opens.
const LAYERS: &str = "venues,perimeters,public-order,transport,health,fire-rescue,crowd";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tile,
    Query,
    Write,
    Log,
}

/// One answered request: seconds since the start, kind, status (0: no answer), latency.
#[derive(Clone, Copy)]
struct Record {
    at_s: u32,
    kind: Kind,
    status: u16,
    micros: u32,
}

/// The server's resident memory (KiB), open files and tile cache (bytes, from `/metrics`) at a
/// time.
#[derive(Clone, Copy)]
struct Sample {
    at_s: u32,
    rss_kib: u64,
    fds: usize,
    cache_bytes: u64,
}

struct Options {
    base: String,
    pid: u32,
    tiles: Vec<String>,
    minutes: u64,
    connections: usize,
    sse: usize,
    import: Option<(String, Vec<u8>)>,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        eprintln!(
            "usage: soak BASE_URL PID TRACE [--minutes N] [--connections N] [--sse N] [--import FILE --import-layer ID]"
        );
        std::process::exit(2)
    };
    if args.len() < 3 {
        usage();
    }
    let base = args[0].trim_end_matches('/').to_owned();
    assert!(
        base.starts_with("http://127.0.0.1") || base.starts_with("http://localhost"),
        "load benchmarks target the loopback only"
    );
    let pid: u32 = args[1].parse().unwrap_or_else(|_| usage());
    let trace = std::fs::read_to_string(&args[2]).unwrap_or_else(|e| panic!("{}: {e}", args[2]));
    let tiles: Vec<String> = trace
        .lines()
        .filter(|l| l.split('/').count() == 3)
        .map(|l| format!("{base}/tiles/{LAYERS}/{}", l.trim()))
        .collect();
    assert!(!tiles.is_empty(), "{}: no z/x/y line", args[2]);
    let mut o = Options { base, pid, tiles, minutes: 30, connections: 64, sse: 50, import: None };
    let (mut file, mut layer) = (None, None);
    let mut rest = args[3..].iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--minutes" => o.minutes = value.parse().unwrap_or_else(|_| usage()),
            "--connections" => o.connections = value.parse().unwrap_or_else(|_| usage()),
            "--sse" => o.sse = value.parse().unwrap_or_else(|_| usage()),
            "--import" => file = Some(value.clone()),
            "--import-layer" => layer = Some(value.clone()),
            _ => usage(),
        }
    }
    if let (Some(file), Some(layer)) = (file, layer) {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let name = std::path::Path::new(&file).file_name().and_then(|n| n.to_str()).unwrap_or("data").to_owned();
        o.import = Some((format!("{}/api/layers/{layer}/import?filename={name}", o.base), bytes));
    }
    o
}

fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(timeout).http_status_as_error(false).build().into()
}

/// xorshift64*: the same requests for the same client and seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A request of `kind` for client `c`: method, URL, body.
fn request(o: &Options, rng: &mut Rng, c: usize, n: u64) -> (Kind, &'static str, String, Option<String>) {
    let roll = rng.next() % 100;
    if roll < 80 {
        let t = &o.tiles[(rng.next() % o.tiles.len() as u64) as usize];
        return (Kind::Tile, "GET", t.clone(), None);
    }
    // Metropolitan France, where the demo spreads its entries.
    let (lon, lat) = (-4.5 + rng.unit() * 12.0, 42.5 + rng.unit() * 8.5);
    if roll < 90 {
        let size = 0.05 + rng.unit() * 0.45;
        let url =
            format!("{}/api/query?bbox={lon:.4},{lat:.4},{:.4},{:.4}&limit=100", o.base, lon + size, lat + size * 0.7);
        return (Kind::Query, "GET", url, None);
    }
    if roll < 95 {
        let body = format!(
            r#"{{"title":"soak {c}-{n}","severity":{},"tags":["public_order"],"lon":{lon:.5},"lat":{lat:.5},"body":"soak"}}"#,
            n % 5
        );
        return (Kind::Write, "POST", format!("{}/api/entries", o.base), Some(body));
    }
    (Kind::Log, "GET", format!("{}/api/entries?limit=50", o.base), None)
}

fn client(o: &Options, c: usize, started: Instant, until: Instant) -> (Vec<Record>, u64) {
    let a = agent(Some(Duration::from_mins(1)));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut records = Vec::new();
    let mut failed = 0;
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let (kind, method, url, body) = request(o, &mut rng, c, n);
        let t = Instant::now();
        // Each client is a person of its own (the demo on loopback takes the name): writes
        // are limited per identity.
        let who = format!("soak-{c}");
        let answer = match (method, body) {
            ("POST", Some(b)) => a.post(&url).header("content-type", "application/json").header(USER, &who).send(b),
            _ => a.get(&url).header("accept-encoding", "gzip").header(USER, &who).call(),
        };
        // The body is read, as a client does (an unread body closes the connection).
        let status = match answer {
            Ok(r) => {
                let s = r.status().as_u16();
                if r.into_body().with_config().limit(256 << 20).read_to_vec().is_ok() { s } else { 0 }
            }
            Err(_) => 0,
        };
        if status == 0 {
            failed += 1;
        }
        records.push(Record {
            at_s: started.elapsed().as_secs() as u32,
            kind,
            status,
            micros: t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32,
        });
    }
    (records, failed)
}

/// A live event stream held until `until`, reconnecting when it ends; returns the events read
/// and the reconnections.
fn listener(base: &str, n: usize, until: Instant, events: &AtomicU64, reconnects: &AtomicU64) {
    let a = agent(None);
    // Streams are limited per identity: each listener is someone.
    let who = format!("watch-{n}");
    while Instant::now() < until {
        if let Ok(r) = a.get(&format!("{base}/api/events")).header(USER, &who).call()
            && r.status() == 200
        {
            let mut lines = BufReader::new(r.into_body().into_reader()).lines();
            while Instant::now() < until {
                match lines.next() {
                    Some(Ok(l)) if l.starts_with("data:") => {
                        events.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
        }
        if Instant::now() < until {
            reconnects.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

fn sample(base: &str, pid: u32, started: Instant) -> Option<Sample> {
    let rss_kib = vigie_benches::proc_status_kib(&pid.to_string(), "VmRSS")?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    // The tile cache fills up to its size (cache_size_mb) during the first minutes: its share
    // of the resident memory is told apart.
    let metrics = agent(Some(Duration::from_secs(10)))
        .get(&format!("{base}/metrics"))
        .call()
        .ok()
        .and_then(|r| r.into_body().read_to_string().ok())
        .unwrap_or_default();
    let cache_bytes = metrics
        .lines()
        .filter(|l| l.starts_with("vigie_tile_cache_bytes"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum::<f64>() as u64;
    Some(Sample { at_s: started.elapsed().as_secs() as u32, rss_kib, fds, cache_bytes })
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    f64::from(sorted[((sorted.len() - 1) as f64 * p).round() as usize]) / 1e3
}

fn main() {
    let o = Arc::new(options());
    let run = Duration::from_secs(o.minutes * 60);
    let started = Instant::now();
    let until = started + run;
    println!(
        "soak: {} min, {} connections, {} event streams, {}; server pid {}",
        o.minutes,
        o.connections,
        o.sse,
        if o.import.is_some() { "an import every minute" } else { "no import" },
        o.pid
    );

    let (events, reconnects) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let listeners: Vec<_> = (0..o.sse)
        .map(|n| {
            let (base, e, r) = (o.base.clone(), events.clone(), reconnects.clone());
            std::thread::spawn(move || listener(&base, n, until, &e, &r))
        })
        .collect();
    let clients: Vec<_> = (0..o.connections)
        .map(|c| {
            let o = o.clone();
            std::thread::spawn(move || client(&o, c, started, until))
        })
        .collect();
    let imports = Arc::new(Mutex::new(Vec::<(u16, f64)>::new()));
    let importer = o.import.clone().map(|(url, bytes)| {
        let imports = imports.clone();
        std::thread::spawn(move || {
            let a = agent(Some(Duration::from_mins(5)));
            let mut next = started + Duration::from_secs(30);
            while next < until {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                let t = Instant::now();
                let status = a
                    .post(&url)
                    .header("content-type", "application/octet-stream")
                    .send(&bytes[..])
                    .map_or(0, |r| r.status().as_u16());
                imports.lock().unwrap().push((status, t.elapsed().as_secs_f64()));
                next += Duration::from_mins(1);
            }
        })
    });
    let mut samples = Vec::new();
    while Instant::now() < until {
        if let Some(s) = sample(&o.base, o.pid, started) {
            samples.push(s);
        } else {
            eprintln!("soak: the server (pid {}) is gone", o.pid);
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_secs(10).min(until.saturating_duration_since(Instant::now())));
    }
    samples.extend(sample(&o.base, o.pid, started));
    let mut records = Vec::new();
    let mut failed = 0;
    for t in clients {
        let (r, f) = t.join().unwrap();
        records.extend(r);
        failed += f;
    }
    for t in listeners {
        t.join().unwrap();
    }
    if let Some(t) = importer {
        t.join().unwrap();
    }

    // Windows: a sixth of the run each (five minutes of thirty).
    let window = (run.as_secs() / 6).max(1) as u32;
    println!(
        "{:>9} {:>9} {:>7} {:>5} {:>8} {:>8} {:>12} {:>9} {:>9} {:>10} {:>6}",
        "window",
        "requests",
        "req/s",
        "5xx",
        "p50_ms",
        "p99_ms",
        "tile_p99_ms",
        "rss_mib",
        "rss_max",
        "cache_mib",
        "fds"
    );
    let mut rows = Vec::new();
    for w in 0..6u32 {
        let (lo, hi) = (w * window, (w + 1) * window);
        let inside: Vec<&Record> = records.iter().filter(|r| r.at_s >= lo && r.at_s < hi).collect();
        let mut all: Vec<u32> = inside.iter().map(|r| r.micros).collect();
        all.sort_unstable();
        let mut tiles: Vec<u32> = inside.iter().filter(|r| r.kind == Kind::Tile).map(|r| r.micros).collect();
        tiles.sort_unstable();
        let errors = inside.iter().filter(|r| r.status >= 500).count();
        let s: Vec<&Sample> = samples.iter().filter(|s| s.at_s >= lo && s.at_s < hi.max(lo + 1)).collect();
        let rss_mean = s.iter().map(|s| s.rss_kib as f64).sum::<f64>() / s.len().max(1) as f64 / 1024.0;
        let rss_max = s.iter().map(|s| s.rss_kib).max().unwrap_or(0) as f64 / 1024.0;
        let fds = s.iter().map(|s| s.fds).max().unwrap_or(0);
        let cache = s.iter().map(|s| s.cache_bytes as f64).sum::<f64>() / s.len().max(1) as f64 / 1_048_576.0;
        let (p50, p99) = (percentile(&all, 0.5), percentile(&all, 0.99));
        println!(
            "{:>4}-{:<4} {:>9} {:>7.0} {:>5} {:>8.1} {:>8.1} {:>12.1} {:>9.0} {:>9.0} {:>10.0} {:>6}",
            lo,
            hi,
            inside.len(),
            inside.len() as f64 / f64::from(window),
            errors,
            p50,
            p99,
            percentile(&tiles, 0.99),
            rss_mean,
            rss_max,
            cache,
            fds
        );
        rows.push((p99, rss_mean, fds, cache));
    }
    let by_kind = |k: Kind| records.iter().filter(|r| r.kind == k).count();
    let server_errors = records.iter().filter(|r| r.status >= 500).count();
    let imports = imports.lock().unwrap().clone();
    let imports_failed = imports.iter().filter(|(s, _)| !(200..300).contains(s)).count();
    println!(
        "requests: {} tiles, {} region queries, {} writes, {} log pages; events read {} (reconnects {}); imports {} (slowest {:.1} s)",
        by_kind(Kind::Tile),
        by_kind(Kind::Query),
        by_kind(Kind::Write),
        by_kind(Kind::Log),
        events.load(Ordering::Relaxed),
        reconnects.load(Ordering::Relaxed),
        imports.len(),
        imports.iter().map(|(_, s)| *s).fold(0.0, f64::max)
    );
    let drift = (rows[5].1 - rows[1].1) / rows[1].1 * 100.0;
    let outside = |r: &(f64, f64, usize, f64)| r.1 - r.3;
    println!(
        "resident memory outside the tile cache: {:.0} MiB in the second window, {:.0} MiB in the last ({:+.1} %)",
        outside(&rows[1]),
        outside(&rows[5]),
        (outside(&rows[5]) - outside(&rows[1])) / outside(&rows[1]) * 100.0
    );
    let p99_change = (rows[5].0 - rows[0].0) / rows[0].0 * 100.0;
    let verdicts = [
        (
            "no 5xx, no failed request, no import refused",
            server_errors == 0 && failed == 0 && imports_failed == 0,
            format!("{server_errors} 5xx, {failed} failed, {imports_failed} imports refused"),
        ),
        ("resident memory drift after warm-up < 5 %", drift.abs() < 5.0, format!("{drift:+.1} %")),
        ("no open-file growth", rows[5].2 <= rows[1].2, format!("{} → {}", rows[1].2, rows[5].2)),
        ("p99 of the last window within 20 % of the first", p99_change <= 20.0, format!("{p99_change:+.1} %")),
    ];
    let mut ok = true;
    for (what, pass, figure) in &verdicts {
        println!("{} {what}: {figure}", if *pass { "PASS" } else { "FAIL" });
        ok &= pass;
    }
    std::process::exit(i32::from(!ok));
}
