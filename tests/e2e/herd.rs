//! A room of users on the same tiles (issue 21): many clients missing the same and overlapping
//! uncached tiles at once, with the cache on, while writes invalidate them — on the real
//! binary, with a watchdog that fails the test, and prints every thread's stack, if any
//! request takes over a few seconds. Then `/health` and `/metrics` when renders or writes are
//! stuck.

use crate::support::{Server, TEST_ENTRIES, agent, agent_within, demo_config, ids_in_tile, require_tool, tile_ids};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, Once};
use std::time::{Duration, Instant};
use vigie_layers::engine::ENTRIES;

/// Clients walking the trace at once.
const CLIENTS: usize = 24;
/// Composite tiles in the trace.
const TILES: usize = 300;
/// Times each client walks the trace.
const ROUNDS: usize = 2;
/// Writes during the run (each invalidates the tiles around it at every zoom): bounded, so
/// that the renders they cause stay bounded however slow the machine is.
const MAX_WRITES: usize = 40;
/// A request slower than this is a hang: the watchdog dumps the stacks and the test fails.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// What every request asks for: the hypervision view's composite layers.
const LAYERS: &str = "entries,venues,perimeters,entries-h3";

/// The tile holding (lon, lat) at zoom z.
fn tile_of(lon: f64, lat: f64, z: u32) -> (u64, u64) {
    let n = f64::from(1u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let r = lat.to_radians();
    let y = ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor();
    (x as u64, y as u64)
}

/// A seeded generator (no dependency for a test trace).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn unit(&mut self) -> f64 {
        self.next() as f64 / f64::from(1u32 << 31)
    }
}

/// The trace: composite tiles over Paris, z11–15, as `../shared/repro/tiles-herd.lua` makes
/// them (same box and zooms), so neighbours and parents overlap.
fn trace() -> Vec<String> {
    let mut rng = Lcg(42);
    (0..TILES)
        .map(|_| {
            let z = rng.between(11, 15) as u32;
            let (x0, y0) = tile_of(2.10, 49.0, z);
            let (x1, y1) = tile_of(2.60, 48.7, z);
            format!("/tiles/{LAYERS}/{z}/{}/{}", rng.between(x0, x1), rng.between(y0, y1))
        })
        .collect()
}

/// Every thread's stack of the server, read with gdb, printed once.
fn dump_stacks(gdb: &std::path::Path, pid: u32, why: &str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        eprintln!("WATCHDOG: {why}; stacks of vigie (pid {pid}):");
        match std::process::Command::new(gdb)
            .args(["-p", &pid.to_string(), "-batch", "-ex", "thread apply all bt"])
            .output()
        {
            Ok(out) => eprintln!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
            Err(e) => eprintln!("cannot run gdb: {e}"),
        }
    });
}

/// A metric's value in a Prometheus text exposition.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

/// A counter's or whole gauge's value.
fn count(text: &str, name: &str) -> u64 {
    metric(text, name) as u64
}

#[test]
fn a_room_on_the_same_uncached_tiles_while_writes_land() {
    let gdb = require_tool("gdb", "apt-get install -y gdb");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", &TEST_ENTRIES.to_string()]);
    let (pid, base) = (server.pid(), server.url(""));
    let tiles = Arc::new(trace());
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let fail = {
        let (failures, gdb) = (failures.clone(), gdb.clone());
        move |what: String| {
            if what.contains("timed out") || what.to_lowercase().contains("timeout") {
                dump_stacks(&gdb, pid, &what);
            }
            failures.lock().unwrap().push(what);
        }
    };
    let readers_done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(CLIENTS + 1));
    let answered = Arc::new(AtomicUsize::new(0));

    // Every client walks the same trace from the same start: the first round is a herd of
    // cold misses on the same tiles, the second mixes hits with tiles the writes invalidated.
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (tiles, start, answered, fail, base) =
                (tiles.clone(), start.clone(), answered.clone(), fail.clone(), base.clone());
            let agent = agent_within(REQUEST_DEADLINE);
            std::thread::spawn(move || {
                start.wait();
                for path in tiles.iter().cycle().take(TILES * ROUNDS) {
                    let t = Instant::now();
                    match agent.get(&format!("{base}{path}")).header("accept-encoding", "gzip").call() {
                        Ok(mut r) if matches!(r.status().as_u16(), 200 | 204) => {
                            let _ = r.body_mut().read_to_vec();
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => fail(format!("GET {path}: status {}", r.status())),
                        Err(e) => {
                            fail(format!("GET {path} after {:?}: {e}", t.elapsed()));
                            return;
                        }
                    }
                }
            })
        })
        .collect();

    // Writes during the herd: each must answer 201 and be in the next tile that holds it.
    let writer = {
        let (readers_done, fail, base) = (readers_done.clone(), fail.clone(), base.clone());
        let agent = agent_within(REQUEST_DEADLINE);
        std::thread::spawn(move || {
            let mut rng = Lcg(7);
            let mut written = 0;
            while (!readers_done.load(Ordering::Relaxed) || written < 3) && written < MAX_WRITES {
                let (lon, lat) = (2.25 + rng.unit() * 0.2, 48.82 + rng.unit() * 0.08);
                let body = json!({"title": "Herd test", "severity": 3, "tags": ["public-order"], "lon": lon, "lat": lat,
                                  "occurred_at": "2024-08-02T20:15:00+02:00"});
                let r = agent
                    .post(&format!("{base}/api/entries"))
                    .header("content-type", "application/json")
                    .header("x-vigie-user", "herd test")
                    .send(body.to_string());
                let id = match r {
                    Ok(mut r) if r.status() == 201 => {
                        let v: serde_json::Value =
                            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                        v["id"].as_u64().expect("an id")
                    }
                    Ok(r) => {
                        fail(format!("POST /api/entries: status {}", r.status()));
                        return written;
                    }
                    Err(e) => {
                        fail(format!("POST /api/entries: {e}"));
                        return written;
                    }
                };
                written += 1;
                for z in [13, 15] {
                    let (x, y) = tile_of(lon, lat, z);
                    let path = format!("{base}/tiles/{LAYERS}/{z}/{x}/{y}");
                    let ids = match agent.get(&path).call() {
                        Ok(mut r) if r.status() == 200 => ids_in_tile(&r.body_mut().read_to_vec().unwrap()),
                        Ok(r) => {
                            fail(format!("GET {path} after a write: status {}", r.status()));
                            Vec::new()
                        }
                        Err(e) => {
                            fail(format!("GET {path} after a write: {e}"));
                            return written;
                        }
                    };
                    if !ids.contains(&id) {
                        fail(format!("entry {id} answered 201 but is not in the next z{z} tile holding it"));
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            written
        })
    };

    // Health throughout: 200 within the deadline every time.
    let health = {
        let (readers_done, fail, base) = (readers_done.clone(), fail.clone(), base.clone());
        let agent = agent_within(REQUEST_DEADLINE);
        std::thread::spawn(move || {
            let mut n = 0;
            while !readers_done.load(Ordering::Relaxed) {
                match agent.get(&format!("{base}/health")).call() {
                    Ok(r) if r.status() == 200 => n += 1,
                    Ok(r) => fail(format!("GET /health: status {}", r.status())),
                    Err(e) => {
                        fail(format!("GET /health: {e}"));
                        return n;
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            n
        })
    };

    let t = Instant::now();
    start.wait();
    for c in clients {
        c.join().unwrap();
    }
    let seconds = t.elapsed().as_secs_f64();
    readers_done.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    let health_answers = health.join().unwrap();
    let failures = failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "{} failures, first ones: {:#?}", failures.len(), &failures[..failures.len().min(10)]);
    let requests = answered.load(Ordering::Relaxed);
    assert_eq!(requests, CLIENTS * TILES * ROUNDS);
    assert!(written >= 3 && health_answers >= 1, "{written} writes, {health_answers} health answers");

    let metrics = agent().get(&server.url("/metrics")).call().unwrap().into_body().read_to_string().unwrap();
    let misses = metric(&metrics, "vigie_tile_cache_misses_total");
    let joins = metric(&metrics, "vigie_tile_render_joins_total");
    let renders = misses - joins;
    eprintln!(
        "herd: {requests} tile requests in {seconds:.1} s, {written} writes; {renders} renders for {TILES} distinct \
         tiles, {joins} requests waited for another's render"
    );
    assert!(joins > 0.0, "clients in step on the same tiles share renders");
    // Without sharing, every client renders every tile it misses: up to CLIENTS × TILES
    // renders. Shared, each tile renders once, plus once more after each write that touched
    // it (a write touches at most a few tiles per zoom).
    let bound = (TILES + MAX_WRITES * 5 * 4) as f64;
    assert!(renders <= bound, "{renders} renders (at most {bound} expected): the herd was not coalesced");
    assert_eq!(count(&metrics, "vigie_stalled_operations_total{kind=\"render\"}"), 0);
    assert_eq!(count(&metrics, "vigie_stalled_operations_total{kind=\"write\"}"), 0);
    // Still serving after the run.
    assert!(!tile_ids(&server, &format!("/tiles/{LAYERS}/12/2074/1409")).is_empty());
}

/// With the engine stuck (a reader holds a collection while a write waits for it, so every
/// later reader queues), `/health` and `/metrics` still answer, and a write stuck past the
/// deadline turns `/health` to `degraded` with its age, then back to `ok` when it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_answer_while_renders_and_writes_are_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path(), 200);
    config.stall_after_ms = 300;
    let state = vigie_tileserver::build_state(config).await.unwrap();

    let (hold, held) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let engine = state.engine.clone();
    let reader = std::thread::spawn(move || {
        engine.with_collection(&ENTRIES, |_| {
            hold.send(()).unwrap();
            released.recv().unwrap();
        });
    });
    held.recv().unwrap();
    let engine = state.engine.clone();
    // Queues for the write lock behind the reader (given time to get there: from then on,
    // every new reader of the collection waits too).
    let write = std::thread::spawn(move || engine.remove(&ENTRIES, 1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A tile render now waits for the engine; run one, marked as a running render.
    let tile = {
        let state = state.clone();
        tokio::spawn(async move { crate::support::get(&state, "/tiles/entries/12/2074/1409", &[]).await })
    };
    // Once the render is under way (and stuck), let it pass the deadline.
    let asked = Instant::now();
    while state.activity.snapshot().kinds[0].running == 0 {
        assert!(asked.elapsed() < Duration::from_secs(30), "the render never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!tile.is_finished(), "the render waits for the engine");
    state.activity.sweep();

    let t = Instant::now();
    let h = crate::support::get(&state, "/health", &[]).await;
    assert_eq!(h.status, 503, "{}", String::from_utf8_lossy(&h.body));
    let body = h.json();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["operations"]["renders"]["running"], 1);
    assert_eq!(body["operations"]["renders"]["stalled"], 1);
    assert!(body["operations"]["renders"]["oldest_s"].as_f64().unwrap() >= 0.3, "{body}");
    let m = crate::support::get(&state, "/metrics", &[]).await;
    assert_eq!(m.status, 200);
    let text = String::from_utf8(m.body).unwrap();
    assert_eq!(count(&text, "vigie_operations_running{kind=\"render\"}"), 1);
    assert!(metric(&text, "vigie_oldest_operation_seconds{kind=\"render\"}") >= 0.3);
    assert_eq!(count(&text, "vigie_stalled_operations_total{kind=\"render\"}"), 1);
    assert!(t.elapsed() < Duration::from_secs(10), "both answered while the engine was stuck");

    release.send(()).unwrap();
    reader.join().unwrap();
    write.join().unwrap();
    assert!(tile.await.unwrap().status.is_success());
    let h = crate::support::get(&state, "/health", &[]).await;
    assert_eq!(h.status, 200, "{}", String::from_utf8_lossy(&h.body));
    assert_eq!(h.json()["operations"]["renders"]["stalled_total"], 1);
}

/// Tile renders past the process's limit wait their turn, then get 503 with Retry-After and a
/// problem+json naming the limit; asked again, they are served. No other error.
#[test]
fn renders_past_the_limit_get_503_with_retry_after_then_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--demo", "--demo-entries", "20000", "--max-renders", "1", "--render-wait-ms", "0"],
    );
    // The anonymous loopback demo: no Authorization header at all.
    let get = |t: &str| {
        let mut resp = agent().get(&server.url(t)).call().unwrap();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        crate::support::Reply {
            status: resp.status().as_u16(),
            headers,
            body: resp.body_mut().read_to_vec().unwrap_or_default(),
        }
    };
    let tiles: Vec<String> =
        (0..32u32).map(|i| format!("/tiles/entries,entries-h3/6/{}/{}", 28 + i % 8, 20 + i / 8)).collect();
    let answers: Vec<(String, crate::support::Reply)> = std::thread::scope(|s| {
        let handles: Vec<_> = tiles.iter().map(|t| s.spawn(|| (t.clone(), get(t)))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut busy = Vec::new();
    for (t, r) in &answers {
        match r.status {
            200 | 204 => {}
            503 => {
                assert_eq!(r.header("content-type"), Some("application/problem+json"), "{t}");
                assert!(r.header("retry-after").is_some(), "{t}: Retry-After");
                let detail = r.json()["detail"].as_str().unwrap().to_owned();
                assert!(detail.contains("max_renders") && detail.contains("all 1 tile renders"), "{detail}");
                busy.push(t.clone());
            }
            other => panic!("{t}: {other} {}", String::from_utf8_lossy(&r.body)),
        }
    }
    println!("{} of {} tiles refused while the one render turn was taken", busy.len(), tiles.len());
    for t in busy {
        let r = get(&t);
        assert!(matches!(r.status, 200 | 204), "{t} asked again: {}", r.status);
    }
}
