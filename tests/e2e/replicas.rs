//! Two real `vigie` processes on one PostGIS database: a write through one shows in the tiles,
//! queries and live stream of the other within a second; a replica that was down catches up
//! from the change feed when it comes back.

use crate::support::{PostgisDb, Server, agent, get_json, tile_ids};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn post(server: &Server, body: &Value) -> Value {
    let mut r = agent()
        .post(&server.url("/api/entries"))
        .header("content-type", "application/json")
        .header("x-vigie-user", "replica test")
        .send(body.to_string())
        .unwrap();
    assert_eq!(r.status(), 201);
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

/// Streams events (seq, entry id) of a server into a channel, from after `last`.
fn listen(server: &Server, last: Option<u64>) -> mpsc::Receiver<(u64, u64, Instant)> {
    let (tx, rx) = mpsc::channel();
    let mut req = agent().get(&server.url("/api/events"));
    if let Some(l) = last {
        req = req.header("last-event-id", l.to_string());
    }
    let resp = req.call().unwrap();
    std::thread::spawn(move || {
        let mut seq = 0;
        for line in BufReader::new(resp.into_body().into_reader()).lines() {
            let Ok(line) = line else { return };
            if let Some(v) = line.strip_prefix("id: ") {
                seq = v.parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("data: ") {
                let d: Value = serde_json::from_str(v).unwrap();
                if tx.send((seq, d["entry_id"].as_u64().unwrap(), Instant::now())).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

#[test]
fn a_write_on_one_replica_shows_on_the_other_within_a_second() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(PostgisDb::create());
    let env = [("DATABASE_URL", db.url.as_str())];
    let (da, db_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start_with_env(da.path(), &["--demo", "--demo-entries", "500"], &env);
    let b = Server::start_with_env(db_dir.path(), &[], &env);
    let health = get_json(&b.url("/health"));
    assert_eq!(health["store"]["backend"], "postgres");

    // Quai de Bercy: an empty z15 tile on both replicas before the write.
    let tile = "/tiles/entries/15/16600/11275";
    let events_b = listen(&b, None);
    std::thread::sleep(Duration::from_millis(200));
    let before_b = tile_ids(&b, tile);
    let near = |s: &Server| -> u64 {
        get_json(&s.url("/api/query?circle=2.3745,48.8376,50"))["numberMatched"].as_u64().unwrap()
    };
    let near_before = near(&b);
    let mut latencies = Vec::new();
    for i in 0..10 {
        let t = Instant::now();
        let e = post(&a, &json!({"title": format!("Réplique {i}"), "severity": 3, "lon": 2.3745, "lat": 48.8376}));
        let id = e["id"].as_u64().unwrap();
        let (_, got, at) = events_b.recv_timeout(Duration::from_secs(5)).expect("B streams the event");
        assert_eq!(got, id);
        // The event means B's index has it: the tile shows it at once.
        assert!(tile_ids(&b, tile).contains(&id), "entry {id} in B's tile");
        latencies.push(at - t);
    }
    latencies.sort();
    println!(
        "write on A → event on B: p50 {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    assert!(latencies.iter().all(|l| *l < Duration::from_secs(1)), "{latencies:?}");
    assert_eq!(tile_ids(&b, tile).len(), before_b.len() + 10);
    assert_eq!(near(&b), near_before + 10, "B's region query sees A's writes");

    // B goes down; A keeps writing; B comes back and catches up from the feed.
    let last_seen = 10;
    drop(events_b);
    b.kill();
    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(
            post(&a, &json!({"title": format!("Pendant la panne {i}"), "severity": 1, "lon": 2.3745, "lat": 48.8376}))
                ["id"]
                .as_u64()
                .unwrap(),
        );
    }
    let b = Server::start_with_env(db_dir.path(), &[], &env);
    let replay = listen(&b, Some(last_seen));
    let got: Vec<u64> = (0..5).map(|_| replay.recv_timeout(Duration::from_secs(5)).unwrap().1).collect();
    assert_eq!(got, missed, "the events B missed, in order");
    let ids = tile_ids(&b, tile);
    assert!(missed.iter().all(|id| ids.contains(id)));
    drop(a);
    drop(b);
    rt.block_on(db.drop_db());
}
