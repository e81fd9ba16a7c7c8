//! Escalation (issue 15): a prefecture escalates an entry to the national room, where it shows
//! in the log, queries, tiles and event stream with its origin and follows every edit within a
//! second — on another replica too; the national room qualifies and comments on its side
//! without touching the origin; de-escalation removes it; the national room sends an entry
//! down to a child.

use crate::support::{PostgisDb, Server, Told, agent, ids_in_tile, member_token, sse, vigie_ok};
use serde_json::{Value, json};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn call(
    server: &Server,
    method: &str,
    path: &str,
    auth: &str,
    body: Option<&Value>,
    version: Option<u32>,
) -> (u16, Value) {
    let mut req = ureq::http::Request::builder().method(method).uri(server.url(path)).header("authorization", auth);
    if let Some(v) = version {
        req = req.header("if-match", format!("\"{v}\""));
    }
    let resp = match body {
        Some(b) => agent().run(req.header("content-type", "application/json").body(b.to_string()).unwrap()),
        None => agent().run(req.body(()).unwrap()),
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let code = resp.status().as_u16();
    (code, serde_json::from_slice(&resp.body_mut().read_to_vec().unwrap_or_default()).unwrap_or(Value::Null))
}

/// Waits for an event of `kind` on `entry` at most a second after `since` (just before the
/// write that makes it); how long after `since` it came.
fn told(events: &mpsc::Receiver<Told>, kind: &str, entry: u64, since: Instant) -> Duration {
    let within = Duration::from_secs(1);
    loop {
        let left =
            within.checked_sub(since.elapsed()).unwrap_or_else(|| panic!("no {kind} of {entry} within {within:?}"));
        match events.recv_timeout(left) {
            Ok(t) if t.kind == kind && t.data["entry_id"].as_u64() == Some(entry) => return t.at - since,
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout | mpsc::RecvTimeoutError::Disconnected) => {
                panic!("no {kind} of {entry} within {within:?}")
            }
        }
    }
}

/// The z15 tile holding a point.
fn tile(lon: f64, lat: f64) -> String {
    let n = f64::from(1u32 << 15);
    let x = ((lon + 180.0) / 360.0 * n) as u64;
    let y = ((1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n) as u64;
    format!("/tiles/entries/15/{x}/{y}")
}

fn tile_ids(server: &Server, path: &str, auth: &str) -> Vec<u64> {
    let mut r = agent().get(&server.url(path)).header("authorization", auth).call().unwrap();
    ids_in_tile(&r.body_mut().read_to_vec().unwrap_or_default())
}

#[test]
fn an_escalated_entry_follows_its_origin_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), &[], None);
}

#[test]
fn an_escalated_entry_follows_its_origin_across_replicas_postgis() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(PostgisDb::create());
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    scenario(a.path(), &[("DATABASE_URL", db.url.as_str())], Some(b.path()));
    rt.block_on(db.drop_db());
}

/// The prefecture's client on one server, the national room's on `replica` when given (the
/// same database), else on the same server.
fn scenario(d: &std::path::Path, env: &[(&str, &str)], replica: Option<&std::path::Path>) {
    let national = member_token(d, env, "cheffe", "default", "editor");
    vigie_ok(&["workspace", "add", "pp", "--parent", "default"], d, env);
    vigie_ok(&["workspace", "add", "zone"], d, env);
    assert_eq!(vigie_ok(&["workspace", "parent", "--workspace", "pp"], d, env), "default");
    let (ok, _, err) =
        crate::support::vigie_cli(&["workspace", "parent", "--workspace", "default", "--set", "pp"], d, env);
    assert!(!ok && err.contains("cannot escalate to itself"), "{err}");
    let officer = member_token(d, env, "paul", "pp", "contributor");
    let prefecture = Server::start_with_env(d, &["--require-sign-in"], env);
    let replica_dir = replica.unwrap_or(d);
    let room =
        if replica.is_some() { Some(Server::start_with_env(replica_dir, &["--require-sign-in"], env)) } else { None };
    let room = room.as_ref().unwrap_or(&prefecture);

    let (code, ws) = call(&prefecture, "GET", "/w/pp/api/workspace", &officer, None, None);
    assert_eq!((code, ws["parent"].as_str()), (200, Some("default")), "{ws}");
    let (_, top) = call(room, "GET", "/api/workspace", &national, None, None);
    assert_eq!(top["children"], json!(["pp"]), "{top}");

    // Escalated: the copy is in the national log, queries, tiles and events, with its origin.
    let events = sse(room, "/api/events", &national);
    let (lon, lat) = (2.3574, 48.9245);
    let body = json!({"title": "Rixe devant la gare", "severity": 3, "tags": ["public_order"], "lon": lon, "lat": lat});
    let (code, e) = call(&prefecture, "POST", "/w/pp/api/entries", &officer, Some(&body), None);
    assert_eq!(code, 201, "{e}");
    let id = e["id"].as_u64().unwrap();
    let t0 = Instant::now();
    let (code, link) = call(&prefecture, "POST", &format!("/w/pp/api/entries/{id}/escalate"), &officer, None, None);
    assert_eq!(code, 201, "{link}");
    let copy = link["target"]["entry"].as_u64().unwrap();
    let took = told(&events, "entry.created", copy, t0);
    let (code, again) = call(&prefecture, "POST", &format!("/w/pp/api/entries/{id}/escalate"), &officer, None, None);
    assert_eq!(code, 409, "escalated once: {again}");
    let (_, n) = call(room, "GET", &format!("/api/entries/{copy}"), &national, None, None);
    assert_eq!(n["title"], "Rixe devant la gare");
    assert_eq!(n["source"], format!("escalated from pp (entry {id})"));
    assert_eq!(
        (n["copy_of"]["source"]["workspace"].as_str(), n["copy_of"]["source"]["entry"].as_u64()),
        (Some("pp"), Some(id))
    );
    let (_, origin) = call(&prefecture, "GET", &format!("/w/pp/api/entries/{id}"), &officer, None, None);
    assert_eq!(origin["copies"][0]["target"], json!({"workspace": "default", "entry": copy}), "{origin}");
    assert!(tile_ids(room, &tile(lon, lat), &national).contains(&copy));
    let region = json!({"circle": {"lon": lon, "lat": lat, "radius_m": 50.0}, "layers": ["entries"]});
    let (_, q) = call(room, "POST", "/api/query", &national, Some(&region), None);
    assert_eq!(q["features"][0]["properties"]["source"], format!("escalated from pp (entry {id})"), "{q}");
    println!("escalation: created in the national room after {took:?}");

    // An edit of the origin shows in the national room within a second: fields, position, tile.
    let (moved_lon, moved_lat) = (2.3601, 48.9262);
    let edit = json!({"title": "Rixe devant la gare (renforts)", "severity": 4, "lon": moved_lon, "lat": moved_lat});
    let t0 = Instant::now();
    let (code, _) = call(&prefecture, "PATCH", &format!("/w/pp/api/entries/{id}"), &officer, Some(&edit), Some(1));
    assert_eq!(code, 200);
    let took = told(&events, "entry.updated", copy, t0);
    println!("escalation: an edit reached the national room after {took:?}");
    let (_, n) = call(room, "GET", &format!("/api/entries/{copy}"), &national, None, None);
    assert_eq!((n["title"].as_str(), n["severity"].as_u64()), (Some("Rixe devant la gare (renforts)"), Some(4)));
    assert!(tile_ids(room, &tile(moved_lon, moved_lat), &national).contains(&copy));
    assert!(
        !tile_ids(room, &tile(lon, lat), &national).contains(&copy) || tile(lon, lat) == tile(moved_lon, moved_lat)
    );

    // The national room qualifies and comments on its side; the origin's record is untouched.
    let v = n["version"].as_u64().unwrap() as u32;
    let (code, refused) =
        call(room, "PATCH", &format!("/api/entries/{copy}"), &national, Some(&json!({"title": "x"})), Some(v));
    assert_eq!(code, 422, "{refused}");
    assert!(refused["errors"][0]["reason"].as_str().unwrap().contains(&format!("entry {id} of 'pp'")), "{refused}");
    let (code, _) = call(
        room,
        "PATCH",
        &format!("/api/entries/{copy}"),
        &national,
        Some(&json!({"qualification": "in_review"})),
        Some(v),
    );
    assert_eq!(code, 200);
    let (code, commented) = call(
        room,
        "POST",
        &format!("/api/entries/{copy}/comments"),
        &national,
        Some(&json!({"body": "CRS 4 engagée"})),
        None,
    );
    assert_eq!(code, 201, "{commented}");
    assert_eq!(commented["comments"][0]["body"], "CRS 4 engagée");
    assert_eq!(call(room, "DELETE", &format!("/api/entries/{copy}"), &national, None, Some(v + 1)).0, 409);
    let (_, origin) = call(&prefecture, "GET", &format!("/w/pp/api/entries/{id}"), &officer, None, None);
    assert_eq!((origin["qualification"].as_str(), origin["version"].as_u64()), (Some("raw"), Some(2)));
    assert_eq!(origin["comments"], json!([]));
    // The origin's own qualification shows on the copy, which keeps the national one.
    let t0 = Instant::now();
    let (code, _) = call(
        &prefecture,
        "PATCH",
        &format!("/w/pp/api/entries/{id}"),
        &officer,
        Some(&json!({"body": "Deux blessés légers"})),
        Some(2),
    );
    assert_eq!(code, 200);
    told(&events, "entry.updated", copy, t0);
    let (_, n) = call(room, "GET", &format!("/api/entries/{copy}"), &national, None, None);
    assert_eq!((n["body"].as_str(), n["qualification"].as_str()), (Some("Deux blessés légers"), Some("in_review")));
    assert_eq!(n["copy_of"]["source"]["qualification"], "raw");

    // De-escalated: it leaves the national room.
    let t0 = Instant::now();
    let (code, _) =
        call(&prefecture, "DELETE", &format!("/w/pp/api/entries/{id}/copies/default"), &officer, None, None);
    assert_eq!(code, 200);
    told(&events, "entry.deleted", copy, t0);
    assert!(!tile_ids(room, &tile(moved_lon, moved_lat), &national).contains(&copy));
    let (_, origin) = call(&prefecture, "GET", &format!("/w/pp/api/entries/{id}"), &officer, None, None);
    assert_eq!(origin["copies"], json!([]));

    // Sent down: a national alert reaches the prefecture's log and follows its edits.
    let alert = json!({"title": "Alerte : colis suspect signalé", "severity": 4, "tags": ["public_order"], "lon": lon, "lat": lat});
    let (_, a) = call(room, "POST", "/api/entries", &national, Some(&alert), None);
    let aid = a["id"].as_u64().unwrap();
    let (code, bad) =
        call(room, "POST", &format!("/api/entries/{aid}/send"), &national, Some(&json!({"to": ["pp", "zone"]})), None);
    assert_eq!(code, 422, "zone is no child: {bad}");
    assert_eq!(bad["errors"][0]["field"], "to[1]", "{bad}");
    let down = sse(&prefecture, "/w/pp/api/events", &officer);
    let t0 = Instant::now();
    let (code, sent) =
        call(room, "POST", &format!("/api/entries/{aid}/send"), &national, Some(&json!({"to": ["pp"]})), None);
    assert_eq!(code, 201, "{sent}");
    let child = sent["copies"][0]["target"]["entry"].as_u64().unwrap();
    told(&down, "entry.created", child, t0);
    let t0 = Instant::now();
    let (code, _) =
        call(room, "PATCH", &format!("/api/entries/{aid}"), &national, Some(&json!({"severity": 3})), Some(1));
    assert_eq!(code, 200);
    told(&down, "entry.updated", child, t0);
    let (_, c) = call(&prefecture, "GET", &format!("/w/pp/api/entries/{child}"), &officer, None, None);
    assert_eq!(
        (c["severity"].as_u64(), c["source"].as_str()),
        (Some(3), Some(format!("sent by default (entry {aid})").as_str()))
    );
    let (code, _) = call(room, "POST", "/w/zone/api/entries/1/escalate", &national, None, None);
    assert_eq!(code, 404, "not a member of zone");
}

/// A change of an escalated entry that no relay carried (here: written to the database behind
/// vigie's back, as a process dying between the two commits would leave it) reaches the copy
/// through the reconciler within its period.
#[test]
fn a_missed_relay_is_caught_up_by_the_reconciler_postgis() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(PostgisDb::create());
    let env = [("DATABASE_URL", db.url.as_str())];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let national = member_token(d, &env, "cheffe", "default", "editor");
    vigie_ok(&["workspace", "add", "pp", "--parent", "default"], d, &env);
    let officer = member_token(d, &env, "paul", "pp", "contributor");
    let server = Server::start_with_env(d, &["--require-sign-in"], &env);
    let body = json!({"title": "Feu de poubelles", "severity": 2, "tags": ["public_order"], "lon": 2.36, "lat": 48.92});
    let (_, e) = call(&server, "POST", "/w/pp/api/entries", &officer, Some(&body), None);
    let id = e["id"].as_u64().unwrap();
    let (code, link) = call(&server, "POST", &format!("/w/pp/api/entries/{id}/escalate"), &officer, None, None);
    assert_eq!(code, 201, "{link}");
    let copy = link["target"]["entry"].as_u64().unwrap();
    rt.block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let done = sqlx::query(
            "UPDATE entries SET title = 'Feu de poubelles (éteint)', version = version + 1 \
             WHERE workspace = 'pp' AND id = $1",
        )
        .bind(i64::try_from(id).unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
        assert_eq!(done.rows_affected(), 1);
    });
    let start = Instant::now();
    loop {
        let (_, n) = call(&server, "GET", &format!("/api/entries/{copy}"), &national, None, None);
        if n["title"] == "Feu de poubelles (éteint)" {
            println!("reconciler: the copy caught up after {:?}", start.elapsed());
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(6), "the copy never caught up: {n}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, revs) = call(&server, "GET", &format!("/api/entries/{copy}/revisions"), &national, None, None);
    let last = revs["revisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], format!("escalated from pp (entry {id})"), "{last}");
    drop(server);
    rt.block_on(db.drop_db());
}
