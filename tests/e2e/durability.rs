//! Durability and concurrency with the real binary: a 201 survives `kill -9`; eight writers at
//! once lose nothing, duplicate nothing, and the event sequence has no gap.

use crate::support::{Server, agent, ids_in_tile};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};

fn post(agent: &ureq::Agent, server: &Server, body: &Value) -> (u16, Value) {
    let mut r = agent
        .post(&server.url("/api/entries"))
        .header("content-type", "application/json")
        .header("x-vigie-user", "test")
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

#[test]
fn an_acknowledged_entry_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", "50"]);
    let a = agent();
    let (status, entry) = post(
        &a,
        &server,
        &json!({"title": "Avant le crash", "severity": 4, "tags": ["crowd"], "lon": 2.3601, "lat": 48.9245}),
    );
    assert_eq!(status, 201);
    // SIGKILL at once: no shutdown, no flush beyond what the commit did.
    server.kill();

    let again = Server::start(dir.path(), &["--anonymous-role", "reader"]);
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

#[test]
fn eight_concurrent_writers_lose_and_duplicate_nothing() {
    const WRITERS: usize = 8;
    const EACH: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", "10"]);
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
