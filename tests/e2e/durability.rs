//! Durability and concurrency with the real binary, on both stores: a 201 survives `kill -9`,
//! also in the middle of group commits (no entry without its event, no acknowledged entry
//! lost); eight writers at once lose nothing, duplicate nothing, and the event sequence has no
//! gap.

use crate::support::{PostgisDb, Server, agent, ids_in_tile};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use vigie_tileserver::store::postgres::{PgSettings, PgStore};
use vigie_tileserver::store::sqlite::SqliteStore;
use vigie_tileserver::store::{Store, Synchronous};

/// `POST /api/entries` as the demo user `who` (each writer its own identity: the per-identity
/// write limit is not what these tests measure).
fn post(agent: &ureq::Agent, server: &Server, who: &str, body: &Value) -> (u16, Value) {
    let mut r = agent
        .post(&server.url("/api/entries"))
        .header("content-type", "application/json")
        .header("x-vigie-user", who)
        .send(body.to_string())
        .expect("POST answers");
    let status = r.status().as_u16();
    (status, serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap())
}

fn get_json(agent: &ureq::Agent, url: &str) -> (u16, Value) {
    let mut r = agent.get(url).call().expect("GET answers");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Reads events from the stream starting after `last_event_id` until `n` were read.
fn read_events(server: &Server, last_event_id: u64, n: usize) -> Vec<(u64, Value)> {
    let r = agent().get(&server.url("/api/events")).header("last-event-id", last_event_id.to_string()).call().unwrap();
    let mut lines = BufReader::new(r.into_body().into_reader()).lines();
    let mut out = Vec::new();
    let mut id = None;
    while out.len() < n {
        let line = lines.next().expect("stream open").unwrap();
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("data: ") {
            out.push((id.take().expect("id before data"), serde_json::from_str(v).unwrap()));
        }
    }
    out
}

/// Runs `test` against the embedded store and against a fresh PostGIS database: the server's
/// environment for each.
fn on_both_stores(test: impl Fn(&[(&str, &str)])) {
    test(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(PostgisDb::create());
    test(&[("DATABASE_URL", db.url.as_str())]);
    rt.block_on(db.drop_db());
}

/// The store the server of `env` uses (the data directory's, or `DATABASE_URL`'s).
async fn open_store(dir: &std::path::Path, env: &[(&str, &str)]) -> std::sync::Arc<dyn Store> {
    match env.iter().find(|(k, _)| *k == "DATABASE_URL") {
        Some((_, url)) => {
            let settings =
                PgSettings { url: (*url).to_owned(), pool_size: 2, statement_timeout_ms: 10_000, commits_in_flight: 1 };
            std::sync::Arc::new(PgStore::open(&settings, "default").await.unwrap())
        }
        None => std::sync::Arc::new(SqliteStore::open(dir, "default", Synchronous::Normal).await.unwrap()),
    }
}

#[test]
fn an_acknowledged_entry_survives_kill_9() {
    on_both_stores(an_acknowledged_entry_survives_kill_9_on);
}

fn an_acknowledged_entry_survives_kill_9_on(env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), &["--demo", "--demo-entries", "50"], env);
    let a = agent();
    let (status, entry) = post(
        &a,
        &server,
        "test",
        &json!({"title": "Avant le crash", "severity": 4, "tags": ["crowd"], "lon": 2.3601, "lat": 48.9245}),
    );
    assert_eq!(status, 201);
    // SIGKILL at once: no shutdown, no flush beyond what the commit did.
    server.kill();

    let again = Server::start_with_env(dir.path(), &["--anonymous-role", "reader"], env);
    let id = entry["id"].as_u64().unwrap();
    let (status, stored) = get_json(&a, &again.url(&format!("/api/entries/{id}")));
    assert_eq!(status, 200);
    assert_eq!(stored["title"], "Avant le crash");
    let events = read_events(&again, 0, 1);
    assert_eq!(events[0].0, 1);
    assert_eq!(events[0].1["entry_id"], id);
    // The index was rebuilt from the store: the entry is in its tile.
    let tile = a.get(&again.url("/tiles/crowd/14/8299/5631")).call().unwrap().into_body().read_to_vec().unwrap();
    let ids = ids_in_tile(&tile);
    assert!(ids.contains(&id));
}

/// Eight writers post without pause; the server is killed while group commits are under way.
/// Whatever the moment: every acknowledged entry is there, every entry has its event and every
/// event its entry (a group is whole or absent), and the sequence has no gap.
#[test]
fn kill_9_during_group_commits_loses_no_acknowledged_entry() {
    on_both_stores(kill_9_during_group_commits_on);
}

fn kill_9_during_group_commits_on(env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), &["--demo", "--demo-entries", "10"], env);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let acknowledged: Vec<u64> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let (server, stop) = (&server, &stop);
                s.spawn(move || {
                    let a = agent();
                    let mut acked = Vec::new();
                    for i in 0.. {
                        let body = json!({"title": format!("w{w} #{i}"), "severity": 1, "tags": ["transport"], "lon": 2.35, "lat": 48.92});
                        let sent = a
                            .post(&server.url("/api/entries"))
                            .header("content-type", "application/json")
                            .header("x-vigie-user", &format!("writer-{w}"))
                            .send(body.to_string());
                        match sent {
                            Ok(mut r) if r.status() == 201 => {
                                let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                                acked.push(v["id"].as_u64().unwrap());
                            }
                            // The server was killed under this request: not acknowledged.
                            _ if stop.load(std::sync::atomic::Ordering::SeqCst) => return acked,
                            Ok(r) => panic!("status {}", r.status()),
                            Err(e) => panic!("{e}"),
                        }
                    }
                    acked
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        server.signal("KILL");
        writers.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(acknowledged.len() > 50, "the writers were writing: {} acknowledged", acknowledged.len());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = open_store(dir.path(), env).await;
        let events = store.events_after(0, 1_000_000).await.unwrap();
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "gap-free sequence");
        let mut created = BTreeSet::new();
        store
            .for_each_entry(&mut |e| {
                if e.id > 10 {
                    created.insert(e.id);
                }
            })
            .await
            .unwrap();
        let evented: BTreeSet<u64> = events.iter().map(|e| e.entry_id).collect();
        assert_eq!(created, evented, "every entry with its event, every event with its entry");
        let missing: Vec<&u64> = acknowledged.iter().filter(|id| !created.contains(id)).take(5).collect();
        assert!(missing.is_empty(), "acknowledged entries lost, e.g. {missing:?}");
        for id in created.iter().step_by(97) {
            assert_eq!(store.revisions(*id).await.unwrap().len(), 1, "entry {id}: its creation revision");
        }
    });
}

#[test]
fn eight_concurrent_writers_lose_and_duplicate_nothing() {
    on_both_stores(eight_concurrent_writers_on);
}

fn eight_concurrent_writers_on(env: &[(&str, &str)]) {
    const WRITERS: usize = 8;
    const EACH: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), &["--demo", "--demo-entries", "10"], env);
    let ids: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let server = &server;
                s.spawn(move || {
                    let a = agent();
                    (0..EACH)
                        .map(|i| {
                            // Around the Stade de France.
                            let lon = 2.345 + (w as f64) * 0.003 + (i % 20) as f64 * 0.0001;
                            let lat = 48.915 + (i / 20) as f64 * 0.0004;
                            let (status, e) = post(
                                &a,
                                server,
                                &format!("writer-{w}"),
                                &json!({"title": format!("w{w} #{i}"), "severity": 1, "tags": ["transport"], "lon": lon, "lat": lat}),
                            );
                            assert_eq!(status, 201, "{e}");
                            e["id"].as_u64().unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let distinct: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), WRITERS * EACH, "no duplicate id");

    // Every event, 1..=4000, in order, each entry once.
    let events = read_events(&server, 0, WRITERS * EACH);
    let seqs: Vec<u64> = events.iter().map(|e| e.0).collect();
    assert_eq!(seqs, (1..=(WRITERS * EACH) as u64).collect::<Vec<_>>(), "gap-free sequence");
    let evented: BTreeSet<u64> = events.iter().map(|e| e.1["entry_id"].as_u64().unwrap()).collect();
    assert_eq!(evented, distinct);

    // Every entry in the store and in the tile.
    let a = agent();
    let (_, catalog) = get_json(&a, &server.url("/catalog"));
    let count = catalog["layers"].as_array().unwrap().iter().find(|l| l["id"] == "transport").unwrap()["features"]
        .as_u64()
        .unwrap();
    assert!(count >= (WRITERS * EACH) as u64);
    // The writes cover two z12 tiles.
    let mut in_tile = BTreeSet::new();
    for y in [1407, 1408] {
        let tile = a
            .get(&server.url(&format!("/tiles/transport/12/2074/{y}")))
            .call()
            .unwrap()
            .into_body()
            .read_to_vec()
            .unwrap();
        in_tile.extend(ids_in_tile(&tile));
    }
    let missing: Vec<&u64> = distinct.difference(&in_tile).take(5).collect();
    assert!(missing.is_empty(), "entries missing from the tile, e.g. {missing:?}");
}
