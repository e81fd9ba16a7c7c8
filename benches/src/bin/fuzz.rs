//! The import readers against a million damaged files each (issue 20, item 3: the bench job;
//! CI's short pass is `tests/e2e/mutations.rs`, with the same damage).
//!
//! ```sh
//! benches/fuzz.sh                        # 1,000,000 cases per reader, every reader
//! CASES=20000 benches/fuzz.sh csv kmz    # a quick pass over two readers
//! ```
//! Each reader (GeoJSON, GeoJSON sequence, CSV, FlatGeobuf, GeoPackage, Shapefile, zipped
//! Shapefile, KML, KMZ) gets small real files made by GDAL from the régions (Corse and
//! Île-de-France) and the organiser's CSV, each case damaged by one to three of
//! [`vigie_layers::demo::mutate`]'s mutations (a Shapefile's `.shp`, `.dbf` or `.shx`). Case `n`
//! comes from `--seed` and `n` alone, so `--replay READER N` remakes it.
//!
//! Cases run in worker processes (`--jobs`, one per core), each under a data limit of its own
//! size at start plus 256 MiB (`RLIMIT_DATA`: an allocation past it fails and the worker
//! aborts). A case fails when the reader panics, takes over 1 s, answers a rejection that does
//! not name the file, or its worker dies (allocation refused, a signal) or is stopped by the
//! watchdog (no answer within 10 s). A failed case's files are kept in `--keep`
//! (`target/fuzz-failures`), ready for `tests/fixtures/mutations/`, and the worker goes on from
//! the next case. Prints a line per reader and exits 1 when a case failed.
//!
//! Arguments: `fuzz SEEDS_DIR [READER...] [--cases N] [--jobs N] [--seed N] [--keep DIR]
//! [--work DIR]`, or `fuzz SEEDS_DIR --replay READER N`. `SEEDS_DIR` holds `seed.geojson`,
//! `seed.geojsonl`, `seed.csv`, `seed.fgb`, `seed.gpkg`, `seed.shp` (with `.dbf`, `.shx`,
//! `.prj`), `seed.zip`, `seed.kml` and `seed.kmz` (`benches/fuzz.sh` makes them).

use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vigie_layers::dataset::{DatasetBuilder, Mapping};
use vigie_layers::demo::{Rng, mutate};
use vigie_layers::readers::{ReadOptions, read_path};

/// A read slower than this fails its case.
const SLOW: Duration = Duration::from_secs(1);
/// A read still running after this is a hang: the watchdog stops the worker.
const HANG: Duration = Duration::from_secs(10);
/// What one case may allocate above the worker's size at start.
const ALLOCATION_LIMIT: u64 = 256 << 20;

/// A reader and the files of its seed; the first is the one read, any of the first three may
/// be damaged.
struct Reader {
    name: &'static str,
    files: &'static [&'static str],
}

const READERS: &[Reader] = &[
    Reader { name: "geojson", files: &["seed.geojson"] },
    Reader { name: "geojsonl", files: &["seed.geojsonl"] },
    Reader { name: "csv", files: &["seed.csv"] },
    Reader { name: "fgb", files: &["seed.fgb"] },
    Reader { name: "gpkg", files: &["seed.gpkg"] },
    Reader { name: "shp", files: &["seed.shp", "seed.dbf", "seed.shx", "seed.prj"] },
    Reader { name: "shp.zip", files: &["seed.zip"] },
    Reader { name: "kml", files: &["seed.kml"] },
    Reader { name: "kmz", files: &["seed.kmz"] },
];

fn reader(name: &str) -> &'static Reader {
    READERS.iter().find(|r| r.name == name).unwrap_or_else(|| {
        let names: Vec<&str> = READERS.iter().map(|r| r.name).collect();
        die(&format!("unknown reader '{name}': one of {}", names.join(", ")))
    })
}

fn die(message: &str) -> ! {
    eprintln!("fuzz: {message}");
    std::process::exit(2)
}

/// Case `n`'s files (name, bytes) and what was done to them.
fn case(reader: &Reader, seeds: &[Vec<u8>], seed: u64, n: u64) -> (Vec<(String, Vec<u8>)>, String) {
    let mut rng = Rng::new(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let damaged = if reader.files.len() > 1 { rng.weighted(&[0.6, 0.25, 0.15]) } else { 0 };
    let mut bytes = seeds[damaged].clone();
    let mut how = Vec::new();
    for _ in 0..=rng.below(3) {
        if bytes.is_empty() {
            break;
        }
        let (b, done) = mutate(&bytes, &mut rng);
        bytes = b;
        how.push(done);
    }
    let files = reader
        .files
        .iter()
        .zip(seeds)
        .enumerate()
        .map(|(i, (name, seed))| {
            let ext = name.split_once('.').map_or("", |(_, e)| e);
            (format!("case-{n}.{ext}"), if i == damaged { bytes.clone() } else { seed.clone() })
        })
        .collect();
    let part = reader.files[damaged].split_once('.').map_or("", |(_, e)| e);
    (files, format!("{part}: {}", how.join(", then ")))
}

/// Reads a case: `Ok(features)` or `Err(rejection)`; a panic is `Err` of its message, marked.
fn read(path: &Path) -> Result<Result<usize, String>, String> {
    std::panic::catch_unwind(|| {
        let mut builder = DatasetBuilder::new("fuzzed", Mapping::default());
        read_path(path, None, &ReadOptions::default(), &mut builder)
            .map_err(|e| e.to_string())
            .and_then(|()| builder.finish(true).map(|(d, _)| d.features.len()).map_err(|r| r.to_string()))
    })
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

fn seed_bytes(dir: &Path, reader: &Reader) -> Vec<Vec<u8>> {
    reader
        .files
        .iter()
        .map(|f| {
            std::fs::read(dir.join(f))
                .unwrap_or_else(|e| die(&format!("{}: {e} (benches/fuzz.sh makes the seeds)", dir.join(f).display())))
        })
        .collect()
}

/// A field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> u64 {
    vigie_benches::proc_status_kib("self", field).map_or(0, |kib| kib * 1024)
}

/// The worker: cases `from..to` of one reader in `dir`; a line of JSON per failed case, and
/// its totals so far every 4,096 cases and at the end.
fn worker(seeds_dir: &Path, name: &str, seed: u64, from: u64, to: u64, dir: &Path) {
    let reader = reader(name);
    let seeds = seed_bytes(seeds_dir, reader);
    std::fs::create_dir_all(dir).unwrap_or_else(|e| die(&format!("{}: {e}", dir.display())));
    let started = Instant::now();
    // The case running and when it started (ms since `started`, +1 so 0 means idle).
    let current = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    {
        let current = current.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let since = current.1.load(Ordering::SeqCst);
                if since > 0 && started.elapsed().as_millis() as u64 + 1 - since > HANG.as_millis() as u64 {
                    eprintln!("case {} gave no answer within {HANG:?}", current.0.load(Ordering::SeqCst));
                    std::process::exit(3);
                }
            }
        });
    }
    std::panic::set_hook(Box::new(|_| {}));
    let limit = status_bytes("VmData") + ALLOCATION_LIMIT;
    rustix::process::setrlimit(
        rustix::process::Resource::Data,
        rustix::process::Rlimit { current: Some(limit), maximum: Some(limit) },
    )
    .unwrap_or_else(|e| die(&format!("setting the data limit: {e}")));
    let out = std::io::stdout();
    let mut out = out.lock();
    let (mut accepted, mut rejected, mut slowest) = (0u64, 0u64, (Duration::ZERO, from));
    let mut previous: Vec<PathBuf> = Vec::new();
    for n in from..to {
        let (files, how) = case(reader, &seeds, seed, n);
        for p in previous.drain(..) {
            let _ = std::fs::remove_file(p);
        }
        for (file, bytes) in &files {
            let path = dir.join(file);
            std::fs::write(&path, bytes).unwrap_or_else(|e| die(&format!("{}: {e}", path.display())));
            previous.push(path);
        }
        let path = dir.join(&files[0].0);
        current.0.store(n, Ordering::SeqCst);
        current.1.store(started.elapsed().as_millis() as u64 + 1, Ordering::SeqCst);
        let t = Instant::now();
        let outcome = read(&path);
        let took = t.elapsed();
        current.1.store(0, Ordering::SeqCst);
        if took > slowest.0 {
            slowest = (took, n);
        }
        let failure = match &outcome {
            Err(panic) => Some(format!("panicked: {panic}")),
            Ok(_) if took > SLOW => Some(format!("took {took:?}")),
            Ok(Err(reason)) if !reason.contains(&format!("case-{n}.")) && !reason.contains("no feature found") => {
                Some(format!("the rejection does not name the file: {reason}"))
            }
            Ok(_) => None,
        };
        match outcome {
            Ok(Ok(_)) => accepted += 1,
            _ => rejected += 1,
        }
        if let Some(what) = failure {
            let _ = writeln!(out, "{}", json!({"failure": n, "what": what, "how": how}));
            previous.clear(); // kept for the parent to copy
        }
        // The totals so far, every 4,096 cases: what the parent counts if this worker dies.
        if (n + 1 - from).is_multiple_of(4096) || n + 1 == to {
            let _ = writeln!(
                out,
                "{}",
                json!({"done": n + 1 - from, "accepted": accepted, "rejected": rejected,
                       "slowest_us": slowest.0.as_micros() as u64, "slowest_case": slowest.1,
                       "peak_rss": status_bytes("VmHWM"), "finished": n + 1 == to})
            );
        }
    }
    for p in previous {
        let _ = std::fs::remove_file(p);
    }
}

/// One reader's totals over its workers.
#[derive(Default)]
struct Totals {
    done: u64,
    accepted: u64,
    rejected: u64,
    slowest: (u64, u64),
    peak_rss: u64,
    failures: Vec<String>,
}

/// Runs cases `from..to` of `name` in worker processes, one after the other, a new worker
/// going on after the case that stopped the previous one.
fn supervise(seeds_dir: &Path, name: &str, seed: u64, range: (u64, u64), dir: &Path, keep: &Path) -> Totals {
    let mut totals = Totals::default();
    let exe = std::env::current_exe().expect("the bench's own path");
    let mut from = range.0;
    while from < range.1 {
        let mut child = Command::new(&exe)
            .arg("--worker")
            .args([seeds_dir.as_os_str(), name.as_ref(), dir.as_os_str()])
            .args([seed.to_string(), from.to_string(), range.1.to_string()])
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| die(&format!("starting a worker: {e}")));
        let stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
        let (mut finished, mut last) = (false, Value::Null);
        for line in BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok) {
            let v: Value = serde_json::from_str(&line).unwrap_or_default();
            if let Some(n) = v["failure"].as_u64() {
                let kept = keep_case(dir, keep, name, n);
                totals.failures.push(format!("case {n} ({}): {} (kept: {kept})", v["how"], v["what"]));
            } else if v["done"].is_u64() {
                finished = v["finished"] == true;
                last = v;
            }
        }
        // This worker's totals as last told (up to 4,095 cases before a death are not counted
        // as read or refused, only as done).
        totals.accepted += last["accepted"].as_u64().unwrap_or(0);
        totals.rejected += last["rejected"].as_u64().unwrap_or(0);
        let slowest = (last["slowest_us"].as_u64().unwrap_or(0), last["slowest_case"].as_u64().unwrap_or(0));
        totals.slowest = totals.slowest.max(slowest);
        totals.peak_rss = totals.peak_rss.max(last["peak_rss"].as_u64().unwrap_or(0));
        let status = child.wait().expect("waiting for a worker");
        let errors = errors.join().unwrap_or_default();
        if finished && status.success() {
            totals.done += range.1 - from;
            break;
        }
        // The worker died: the case it was on is the one whose files are left.
        let Some(n) = left_case(dir) else {
            die(&format!("a worker of {name} stopped ({status}) before its first case: {errors}"));
        };
        let kept = keep_case(dir, keep, name, n);
        // What the process said before it stopped (not its backtrace).
        let why = errors
            .lines()
            .find(|l| !l.starts_with(' ') && !l.starts_with("stack backtrace") && !l.starts_with("note:"))
            .unwrap_or("")
            .to_owned();
        totals.failures.push(format!("case {n}: the worker stopped ({status}): {why} (kept: {kept})"));
        totals.done += n + 1 - from;
        from = n + 1;
    }
    totals
}

/// The case whose files are in `dir` (what a worker leaves when it stops mid-case).
fn left_case(dir: &Path) -> Option<u64> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("case-")?.split('.').next()?.parse().ok())
        .max()
}

/// Moves case `n`'s files from `dir` to `keep`, named after the reader; where they went.
fn keep_case(dir: &Path, keep: &Path, name: &str, n: u64) -> String {
    let _ = std::fs::create_dir_all(keep);
    let prefix = format!("case-{n}.");
    for entry in std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok) {
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(ext) = file.strip_prefix(&prefix) {
            // Copied, not renamed: the work folder is usually on another file system (/dev/shm).
            let _ = std::fs::copy(entry.path(), keep.join(format!("{}-{n}.{ext}", name.replace('.', "-"))));
            let _ = std::fs::remove_file(entry.path());
        }
    }
    keep.join(format!("{}-{n}.*", name.replace('.', "-"))).display().to_string()
}

fn replay(seeds_dir: &Path, name: &str, seed: u64, n: u64, keep: &Path) {
    let reader = reader(name);
    let (files, how) = case(reader, &seed_bytes(seeds_dir, reader), seed, n);
    std::fs::create_dir_all(keep).unwrap_or_else(|e| die(&format!("{}: {e}", keep.display())));
    for (file, bytes) in &files {
        std::fs::write(keep.join(file), bytes).unwrap_or_else(|e| die(&format!("{}: {e}", keep.display())));
    }
    let path = keep.join(&files[0].0);
    let t = Instant::now();
    let outcome = read(&path);
    println!("{name} case {n} ({how}), written to {}: {outcome:?} in {:?}", path.display(), t.elapsed());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--worker") {
        let [_, seeds, name, dir, seed, from, to] = args.as_slice() else {
            die("--worker: SEEDS READER DIR SEED FROM TO")
        };
        let num = |s: &str| s.parse::<u64>().unwrap_or_else(|_| die(&format!("'{s}' is not a number")));
        worker(Path::new(seeds), name, num(seed), num(from), num(to), Path::new(dir));
        return;
    }
    let mut it = args.iter();
    let seeds = PathBuf::from(it.next().unwrap_or_else(|| die("usage: fuzz SEEDS_DIR [READER...] [--cases N] [--jobs N] [--seed N] [--keep DIR] [--work DIR] | --replay READER N")));
    let (mut names, mut cases, mut seed) = (Vec::new(), 1_000_000u64, 2024u64);
    let mut jobs = std::thread::available_parallelism().map_or(2, usize::from) as u64;
    let mut keep = PathBuf::from("target/fuzz-failures");
    let mut work = std::env::temp_dir().join("vigie-fuzz");
    let mut replaying = None;
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| die(&format!("{a} needs a value")));
        let num = |v: String| {
            v.replace('_', "").parse::<u64>().unwrap_or_else(|_| die(&format!("{a}: '{v}' is not a number")))
        };
        match a.as_str() {
            "--cases" => cases = num(value()),
            "--jobs" => jobs = num(value()).max(1),
            "--seed" => seed = num(value()),
            "--keep" => keep = PathBuf::from(value()),
            "--work" => work = PathBuf::from(value()),
            "--replay" => {
                let name = value();
                replaying = Some((name, num(value())));
            }
            s if s.starts_with("--") => die(&format!("unknown option {s}")),
            s => names.push(reader(s).name),
        }
    }
    if let Some((name, n)) = replaying {
        replay(&seeds, &name, seed, n, &keep);
        return;
    }
    if names.is_empty() {
        names = READERS.iter().map(|r| r.name).collect();
    }
    println!("{cases} cases per reader, {jobs} workers, seed {seed}; failed cases kept in {}", keep.display());
    println!(
        "{:<9} {:>9} {:>9} {:>9} {:>9} {:>12} {:>9} {:>9}",
        "reader", "cases", "cases/s", "read", "refused", "slowest ms", "peak MiB", "failed"
    );
    let mut failed = 0;
    for name in names {
        let t = Instant::now();
        let chunk = cases.div_ceil(jobs);
        let parts: Vec<Totals> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..jobs)
                .map(|j| (j * chunk, ((j + 1) * chunk).min(cases)))
                .filter(|(from, to)| from < to)
                .enumerate()
                .map(|(j, range)| {
                    let (seeds, keep, dir) = (&seeds, &keep, work.join(format!("{name}-{j}")));
                    s.spawn(move || supervise(seeds, name, seed, range, &dir, keep))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a supervisor")).collect()
        });
        let mut all = Totals::default();
        for p in parts {
            all.done += p.done;
            all.accepted += p.accepted;
            all.rejected += p.rejected;
            all.slowest = all.slowest.max(p.slowest);
            all.peak_rss = all.peak_rss.max(p.peak_rss);
            all.failures.extend(p.failures);
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{name:<9} {:>9} {:>9.0} {:>9} {:>9} {:>12.1} {:>9.1} {:>9}",
            all.done,
            all.done as f64 / secs,
            all.accepted,
            all.rejected,
            all.slowest.0 as f64 / 1000.0,
            all.peak_rss as f64 / f64::from(1 << 20),
            all.failures.len()
        );
        for f in &all.failures {
            println!("  {name} {f}");
        }
        failed += all.failures.len();
    }
    let _ = std::fs::remove_dir_all(&work);
    if failed > 0 {
        println!("{failed} cases failed: replay one with `fuzz SEEDS --replay READER N --seed {seed}`");
        std::process::exit(1);
    }
}
