//! Territories (issue 15): a member narrowed to a département sees, on tiles, region
//! queries, H3 counts, TileJSON, the catalog, the log, its events, revisions and photos and
//! the OGC API, only what meets it — checked with a decoder and a geometry library vigie did
//! not write — while the routes that do not narrow refuse them; the same tile asked from two
//! territories is two cached tiles, and a write drops only the tiles of the territories that
//! see it. Tokens and workspaces have territories too.

use crate::support::{PNG, Server, Told, agent, member_token, python, repo_root, run, sse, vigie_ok};
use serde_json::{Value, json};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

fn call(server: &Server, method: &str, path: &str, auth: &str, body: Option<&Value>) -> (u16, Vec<u8>) {
    let req = ureq::http::Request::builder().method(method).uri(server.url(path)).header("authorization", auth);
    let resp = match body {
        Some(b) => agent().run(req.header("content-type", "application/json").body(b.to_string()).unwrap()),
        None => agent().run(req.body(()).unwrap()),
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    (resp.status().as_u16(), resp.body_mut().read_to_vec().unwrap_or_default())
}

fn json_of(server: &Server, method: &str, path: &str, auth: &str, body: Option<&Value>) -> (u16, Value) {
    let (code, bytes) = call(server, method, path, auth, body);
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// How many entries the whole-workspace `admin` finds in département 93.
fn in_93(server: &Server, admin: &str) -> u64 {
    let region = json!({"area": "departements:93", "layers": ["entries"], "limit": 1});
    json_of(server, "POST", "/api/query", admin, Some(&region)).1["numberMatched"].as_u64().unwrap()
}

/// The tile x, y holding a point at zoom z.
fn tile_of(lon: f64, lat: f64, z: u32) -> (u64, u64) {
    let n = f64::from(1u32 << z);
    let x = (lon + 180.0) / 360.0 * n;
    let y = (1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n;
    (x as u64, y as u64)
}

/// Département 93 as a GeoJSON geometry, from the test data.
fn departement_93() -> Value {
    let path = repo_root().join("../shared/data/france/departements.geojson");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all["features"].as_array().unwrap().iter().find(|f| f["properties"]["code"] == "93").unwrap()["geometry"].clone()
}

/// A data folder with the IGN départements imported (layer `departements`) and members of the
/// default workspace (name, role) with an API token each (`Authorization` values, in order).
pub fn with_departements(members: &[(&str, &str)]) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let departements = repo_root().join("../shared/data/france/departements.geojson");
    vigie_ok(&["import", "--layer", "departements", departements.to_str().unwrap()], dir.path(), &[]);
    let tokens = members.iter().map(|(name, role)| member_token(dir.path(), &[], name, "default", role)).collect();
    (dir, tokens)
}

/// A signed-in server over `entries` demo entries around Paris.
fn demo_server(d: &std::path::Path, entries: &str) -> Server {
    Server::start(d, &["--demo", "--demo-entries", entries, "--demo-points-only", "--demo-region", "--require-sign-in"])
}

#[test]
fn a_member_narrowed_to_a_departement_sees_only_it() {
    let (dir, tokens) = with_departements(&[("nadia", "admin"), ("paul", "reader"), ("carl", "contributor")]);
    let [admin, prefect, officer]: [String; 3] = tokens.try_into().unwrap();
    let server = demo_server(dir.path(), "20000");

    // Territories that do not resolve are refused, naming the region.
    for (bad, needle) in [
        (json!([{"area": "departements:999"}]), "[0]: no area with code = '999'"),
        (json!([]), "a JSON array of 1 to"),
        (json!([{"bbox": [2, 48, 3]}]), "[0]: bbox"),
        (json!([{"h3": ["871fb4662ffffff"]}]), "not H3 cells"),
    ] {
        let body = json!({"role": "reader", "territory": bad});
        let (code, problem) = json_of(&server, "PUT", "/api/members/paul", &admin, Some(&body));
        assert_eq!(code, 422, "{bad}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains(needle), "{bad}: {problem}");
    }
    let body = json!({"role": "reader", "territory": [{"area": "departements:93"}]});
    assert_eq!(call(&server, "PUT", "/api/members/paul", &admin, Some(&body)).0, 204);
    let (_, me) = json_of(&server, "GET", "/api/me", &prefect, None);
    assert_eq!(me["territory"], json!([{"area": "departements:93"}]), "{me}");

    // Tiles over the département and around it, at three zooms, as each member gets them.
    let out = tempfile::tempdir().unwrap();
    let o = out.path();
    std::fs::write(o.join("territory.geojson"), departement_93().to_string()).unwrap();
    let mut tiles = Vec::new();
    let (mut differ, mut scoped_cached) = (0, 0);
    for z in [10u32, 12, 13] {
        let (x0, y0) = tile_of(2.25, 49.03, z);
        let (x1, y1) = tile_of(2.62, 48.80, z);
        for x in x0..=x1 {
            for y in y0..=y1 {
                // Every feature (budget=off), for the check to see each one the member may.
                let path = format!("/tiles/entries/{z}/{x}/{y}?budget=off");
                let (sc, scoped) = call(&server, "GET", &path, &prefect, None);
                let (wc, whole) = call(&server, "GET", &path, &admin, None);
                assert!(matches!(sc, 200 | 204) && matches!(wc, 200 | 204), "{path}: {sc} {wc}");
                differ += usize::from(scoped != whole);
                // Asked again: served from the cache, still the member's own.
                let (_, again) = call(&server, "GET", &path, &prefect, None);
                assert_eq!(again, scoped, "{path}: the cache keeps the territory's tile");
                scoped_cached += 1;
                for (side, bytes) in [("scoped", &scoped), ("whole", &whole)] {
                    let file = o.join(side).join(z.to_string()).join(x.to_string()).join(format!("{y}.mvt"));
                    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                    std::fs::write(file, bytes).unwrap();
                }
                tiles.push(json!({"z": z, "x": x, "y": y, "layer": "entries"}));
            }
        }
    }
    std::fs::write(o.join("tiles.json"), Value::Array(tiles.clone()).to_string()).unwrap();
    assert!(differ > tiles.len() / 4, "{differ} of {} tiles differ between the two members", tiles.len());
    let report = run(Command::new(python()).arg(repo_root().join("tests/python/check_territory.py")).arg(o));
    let summary: Value = serde_json::from_str(report.trim()).unwrap();
    println!("{} tiles ({scoped_cached} asked twice), {summary}", tiles.len());
    assert!(summary["inside"].as_u64().unwrap() > 100, "{summary}");
    assert!(summary["scoped"].as_u64().unwrap() < summary["whole"].as_u64().unwrap(), "{summary}");

    // Region queries and H3 counts: the member's whole-region answer is the département's.
    let region = json!({"bbox": [2.0, 48.5, 2.9, 49.3], "layers": ["entries"], "limit": 1});
    let (_, mine) = json_of(&server, "POST", "/api/query", &prefect, Some(&region));
    let (_, everything) = json_of(&server, "POST", "/api/query", &admin, Some(&region));
    let n = mine["numberMatched"].as_u64().unwrap();
    assert_eq!(n, in_93(&server, &admin), "{mine}");
    assert!(n > 100 && n < everything["numberMatched"].as_u64().unwrap());
    let (_, h3) = json_of(&server, "GET", "/api/h3?layer=entries&res=7", &prefect, None);
    assert_eq!(h3["total"].as_u64(), Some(n), "H3 counts what the territory holds");
    let (_, h3) = json_of(&server, "GET", "/api/h3?layer=entries&res=7&bbox=2.0,48.5,2.9,49.3", &prefect, None);
    assert_eq!(h3["total"].as_u64(), Some(n));

    // TileJSON bounds are the territory's box; the catalog does not count what lies outside.
    let (_, tj) = json_of(&server, "GET", "/tiles/entries", &prefect, None);
    let b: Vec<f64> = tj["bounds"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(b[0] > 2.2 && b[1] > 48.79 && b[2] < 2.63 && b[3] < 49.02, "{b:?}");
    let (_, catalog) = json_of(&server, "GET", "/catalog", &prefect, None);
    let layer = |id: &str| catalog["layers"].as_array().unwrap().iter().find(|l| l["id"] == id).unwrap().clone();
    assert_eq!(layer("entries")["features"], Value::Null);
    assert_eq!(layer("venues")["features"], 44, "reference layers are the whole workspace's");

    // The log's list (and its search) and single entries: only what meets the territory, paged
    // to the end; an entry outside does not exist for the member.
    let polygon: geo::Geometry<f64> =
        geojson::Geometry::from_json_value(departement_93()).unwrap().value.try_into().unwrap();
    let mut listed = Vec::new();
    let mut next = Some("/api/entries?limit=500".to_owned());
    while let Some(path) = next {
        let (code, page) = json_of(&server, "GET", &path, &prefect, None);
        assert_eq!(code, 200, "{path}: {page}");
        for e in page["entries"].as_array().unwrap() {
            let g: geo::Geometry<f64> =
                geojson::Geometry::from_json_value(e["geometry"].clone()).unwrap().value.try_into().unwrap();
            assert!(geo::Intersects::intersects(&polygon, &g), "entry {} lies outside 93", e["id"]);
            listed.push(e["id"].as_u64().unwrap());
        }
        next = page["next"].as_str().map(str::to_owned);
    }
    let distinct: std::collections::HashSet<u64> = listed.iter().copied().collect();
    assert_eq!(distinct.len(), listed.len(), "no entry twice across pages");
    assert_eq!(listed.len() as u64, n, "the list holds what the territory holds");
    let (_, paris) = json_of(&server, "GET", "/api/entries?bbox=2.33,48.84,2.36,48.86&limit=1", &admin, None);
    let outside = paris["entries"][0]["id"].as_u64().unwrap();
    assert_eq!(call(&server, "GET", &format!("/api/entries/{outside}"), &prefect, None).0, 404);
    assert_eq!(call(&server, "GET", &format!("/api/entries/{}", listed[0]), &prefect, None).0, 200);
    let (_, found) = json_of(&server, "GET", "/api/entries?q=Paris&limit=500", &prefect, None);
    for e in found["entries"].as_array().unwrap() {
        assert!(distinct.contains(&e["id"].as_u64().unwrap()), "search stays in the territory");
    }

    // A contributor narrowed to the territory records and moves entries inside it only, and
    // cannot touch one outside.
    let body = json!({"role": "contributor", "territory": [{"area": "departements:93"}]});
    assert_eq!(call(&server, "PUT", "/api/members/carl", &admin, Some(&body)).0, 204);
    let at =
        |lon: f64, lat: f64| json!({"title": "Rixe", "severity": 2, "tags": ["public_order"], "lon": lon, "lat": lat});
    let (code, created) = json_of(&server, "POST", "/api/entries", &officer, Some(&at(2.3574, 48.9245)));
    assert_eq!(code, 201, "Saint-Denis lies in 93: {created}");
    let (code, problem) = json_of(&server, "POST", "/api/entries", &officer, Some(&at(2.3522, 48.8566)));
    assert_eq!(code, 422, "central Paris lies outside 93: {problem}");
    assert_eq!(problem["errors"][0]["field"], "geometry", "{problem}");
    let mine = format!("/api/entries/{}", created["id"]);
    let patch = |body: &Value| {
        let req = ureq::http::Request::builder()
            .method("PATCH")
            .uri(server.url(&mine))
            .header("authorization", &officer)
            .header("content-type", "application/json")
            .header("if-match", "\"1\"");
        let mut r = agent().run(req.body(body.to_string()).unwrap()).unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default())
    };
    let (code, text) = patch(&json!({"lon": 2.3522, "lat": 48.8566}));
    assert_eq!(code, 422, "no edit moves an entry out of the territory: {text}");
    assert_eq!(patch(&json!({"title": "Rixe (confirmée)"})).0, 200);
    let req = ureq::http::Request::builder()
        .method("DELETE")
        .uri(server.url(&format!("/api/entries/{outside}")))
        .header("authorization", &officer)
        .header("if-match", "\"1\"");
    assert_eq!(agent().run(req.body(()).unwrap()).unwrap().status().as_u16(), 404, "an entry outside does not exist");

    // What does not narrow refuses the member rather than show more.
    for path in ["/metrics", "/api/sources"] {
        let (code, body) = json_of(&server, "GET", path, &prefect, None);
        assert_eq!(code, 403, "{path}: {body}");
        assert!(body["detail"].as_str().unwrap().contains("territory"), "{path}: {body}");
    }
    // Given the whole workspace back, the member sees everything again at once.
    let body = json!({"role": "reader", "territory": null});
    assert_eq!(call(&server, "PUT", "/api/members/paul", &admin, Some(&body)).0, 204);
    assert_eq!(call(&server, "GET", "/api/entries?limit=1", &prefect, None).0, 200);
    let (_, mine) = json_of(&server, "POST", "/api/query", &prefect, Some(&region));
    let (_, everything) = json_of(&server, "POST", "/api/query", &admin, Some(&region));
    assert_eq!(mine["numberMatched"], everything["numberMatched"]);
    let (_, audit) = json_of(&server, "GET", "/api/audit?action=member.territory", &admin, None);
    assert_eq!(audit["rows"].as_array().unwrap().len(), 3, "paul set, carl set, paul cleared: {audit}");
}

/// The events (type, entry id, bbox) `auth` is told, from now on.
fn listen(server: &Server, auth: &str) -> mpsc::Receiver<Told> {
    sse(server, "/api/events", auth)
}

/// What `events` holds within `wait`, after the last one came.
fn drain(events: &mpsc::Receiver<Told>, wait: Duration) -> Vec<(String, u64, Value)> {
    let mut got = Vec::new();
    while let Ok(e) = events.recv_timeout(wait) {
        got.push((e.kind, e.data["entry_id"].as_u64().unwrap(), e.data["bbox"].clone()));
    }
    got
}

/// A counter of the Prometheus text at `/metrics`.
fn counter(server: &Server, auth: &str, name: &str) -> u64 {
    let (code, bytes) = call(server, "GET", "/metrics", auth, None);
    assert_eq!(code, 200);
    let text = String::from_utf8(bytes).unwrap();
    text.lines()
        .find(|l| {
            !l.starts_with('#')
                && l.split([' ', '{'])
                    .next()
                    .is_some_and(|n| n.ends_with(name) || n.ends_with(&format!("{name}_total")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or_else(|| panic!("no {name} in /metrics"), |v| v as u64)
}

fn send_with(server: &Server, method: &str, path: &str, auth: &str, version: u32, body: &Value) -> (u16, Value) {
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(server.url(path))
        .header("authorization", auth)
        .header("content-type", "application/json")
        .header("if-match", format!("\"{version}\""));
    let mut r = agent().run(req.body(body.to_string()).unwrap()).unwrap();
    (
        r.status().as_u16(),
        serde_json::from_slice(&r.body_mut().read_to_vec().unwrap_or_default()).unwrap_or(Value::Null),
    )
}

#[test]
fn events_revisions_photos_ogc_tokens_and_workspaces_narrow_too() {
    let members = [("nadia", "admin"), ("paul", "reader"), ("pia", "reader"), ("rita", "reader"), ("olga", "admin")];
    let (dir, tokens) = with_departements(&members);
    let [admin, prefect, parisian, rita, _]: [String; 5] = tokens.try_into().unwrap();
    let server = demo_server(dir.path(), "3000");
    for (who, code) in [("paul", "93"), ("pia", "75")] {
        let body = json!({"role": "reader", "territory": [{"area": format!("departements:{code}")}]});
        assert_eq!(call(&server, "PUT", &format!("/api/members/{who}"), &admin, Some(&body)).0, 204);
    }
    let at = |lon: f64, lat: f64| json!({"title": "Attroupement", "severity": 2, "tags": ["public_order"], "lon": lon, "lat": lat});
    let (saint_denis, paris) = ((2.3574, 48.9245), (2.3522, 48.8566));

    // Events: of an entry created inside, moved out, and one moved in then deleted, the member
    // is told of the positions inside only; the move out is a removal.
    let mine = listen(&server, &prefect);
    let everything = listen(&server, &admin);
    let (_, a) = json_of(&server, "POST", "/api/entries", &admin, Some(&at(saint_denis.0, saint_denis.1)));
    let (_, b) = json_of(&server, "POST", "/api/entries", &admin, Some(&at(paris.0, paris.1)));
    let (ia, ib) = (a["id"].as_u64().unwrap(), b["id"].as_u64().unwrap());
    let moved = json!({"lon": paris.0, "lat": paris.1});
    assert_eq!(send_with(&server, "PATCH", &format!("/api/entries/{ia}"), &admin, 1, &moved).0, 200);
    let moved = json!({"lon": saint_denis.0, "lat": saint_denis.1});
    assert_eq!(send_with(&server, "PATCH", &format!("/api/entries/{ib}"), &admin, 1, &moved).0, 200);
    assert_eq!(send_with(&server, "DELETE", &format!("/api/entries/{ib}"), &admin, 2, &json!({})).0, 200);
    let point = |(x, y): (f64, f64)| json!([x, y, x, y]);
    let told = drain(&mine, Duration::from_secs(2));
    assert_eq!(
        told,
        [
            ("entry.created".to_owned(), ia, point(saint_denis)),
            ("entry.deleted".to_owned(), ia, point(saint_denis)),
            ("entry.updated".to_owned(), ib, point(saint_denis)),
            ("entry.deleted".to_owned(), ib, point(saint_denis)),
        ],
        "never Paris"
    );
    assert_eq!(drain(&everything, Duration::from_millis(200)).len(), 5, "the admin is told of all five");
    // Replayed from the store (Last-Event-ID): the same narrowing.
    let replay = sse(&server, "/api/events?since=0", &prefect);
    assert_eq!(drain(&replay, Duration::from_secs(2)), told, "the backlog narrows as the live stream does");

    // Revisions: an entry outside does not exist; of one inside, the positions outside are
    // hidden.
    assert_eq!(call(&server, "GET", &format!("/api/entries/{ia}/revisions"), &prefect, None).0, 404);
    let (code, revs) = json_of(&server, "GET", &format!("/api/entries/{ib}/revisions"), &prefect, None);
    assert_eq!(code, 200, "{revs}");
    let created = &revs["revisions"][0]["changes"]["geometry"];
    assert_eq!((created["to"].clone(), created["hidden"]["sides"].clone()), (Value::Null, json!(["to"])), "{revs}");
    let moved_in = &revs["revisions"][1]["changes"]["geometry"];
    assert_eq!(moved_in["from"], Value::Null, "{revs}");
    assert_eq!(moved_in["to"]["coordinates"], json!([saint_denis.0, saint_denis.1]), "{revs}");
    let (_, all) = json_of(&server, "GET", &format!("/api/entries/{ib}/revisions"), &admin, None);
    assert_eq!(all["revisions"][0]["changes"]["geometry"]["to"]["coordinates"], json!([paris.0, paris.1]));

    // Photos: read through an entry inside, never by their hash alone.
    let (_, c) = json_of(&server, "POST", "/api/entries", &admin, Some(&at(saint_denis.0, saint_denis.1)));
    let (_, e) = json_of(&server, "POST", "/api/entries", &admin, Some(&at(paris.0, paris.1)));
    let attach = |id: u64| {
        let req = ureq::http::Request::builder()
            .method("POST")
            .uri(server.url(&format!("/api/entries/{id}/attachments")))
            .header("authorization", &admin)
            .header("content-type", "image/png");
        let mut r = agent().run(req.body(PNG.to_vec()).unwrap()).unwrap();
        assert_eq!(r.status().as_u16(), 201);
        serde_json::from_slice::<Value>(&r.body_mut().read_to_vec().unwrap()).unwrap()
    };
    let photo = attach(c["id"].as_u64().unwrap());
    attach(e["id"].as_u64().unwrap());
    let sha = photo["sha256"].as_str().unwrap();
    let url = photo["url"].as_str().unwrap();
    assert!(url.ends_with(&format!("/api/attachments/{sha}?entry={}", c["id"])), "{url}");
    let photo_path = |q: &str| format!("/api/attachments/{sha}{q}");
    assert_eq!(call(&server, "GET", &photo_path(&format!("?entry={}", c["id"])), &prefect, None), (200, PNG.to_vec()));
    for q in [String::new(), format!("?entry={}", e["id"]), "?entry=x".into()] {
        assert_eq!(call(&server, "GET", &photo_path(&q), &prefect, None).0, 404, "{q}");
    }
    assert_eq!(call(&server, "GET", &photo_path(""), &admin, None).0, 200, "the whole workspace needs no entry");
    assert_eq!(call(&server, "GET", &photo_path(&format!("?entry={}", c["id"])), &parisian, None).0, 404);

    // OGC API: items, numberMatched, single features and the extent.
    let n = in_93(&server, &admin);
    let (code, items) = json_of(&server, "GET", "/ogc/collections/entries/items?limit=10000", &prefect, None);
    assert_eq!(code, 200, "{items}");
    assert_eq!(items["numberMatched"].as_u64(), Some(n), "OGC counts what the territory holds");
    let polygon: geo::Geometry<f64> =
        geojson::Geometry::from_json_value(departement_93()).unwrap().value.try_into().unwrap();
    for f in items["features"].as_array().unwrap() {
        let g: geo::Geometry<f64> =
            geojson::Geometry::from_json_value(f["geometry"].clone()).unwrap().value.try_into().unwrap();
        assert!(geo::Intersects::intersects(&polygon, &g), "item {} lies outside 93", f["id"]);
    }
    let (_, bbox_items) =
        json_of(&server, "GET", "/ogc/collections/entries/items?bbox=2.0,48.5,2.9,49.3&limit=1", &prefect, None);
    assert_eq!(bbox_items["numberMatched"].as_u64(), Some(n));
    assert_eq!(call(&server, "GET", &format!("/ogc/collections/entries/items/{}", e["id"]), &prefect, None).0, 404);
    assert_eq!(call(&server, "GET", &format!("/ogc/collections/entries/items/{}", c["id"]), &prefect, None).0, 200);
    let (_, coll) = json_of(&server, "GET", "/ogc/collections/entries", &prefect, None);
    let b: Vec<f64> =
        coll["extent"]["spatial"]["bbox"][0].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(b[0] > 2.2 && b[1] > 48.79 && b[2] < 2.63 && b[3] < 49.02, "{b:?}");

    // The cache: one tile over Paris and Saint-Denis, two territories, two tiles; a write in
    // 93 drops the 93 tile only.
    let (x, y) = tile_of(2.355, 48.89, 11);
    let tile = format!("/tiles/entries/11/{x}/{y}");
    let misses = || counter(&server, &admin, "tile_cache_misses");
    let before = misses();
    let (_, t93) = call(&server, "GET", &tile, &prefect, None);
    let (_, t75) = call(&server, "GET", &tile, &parisian, None);
    assert_ne!(t93, t75, "two territories, two tiles");
    assert_eq!(misses() - before, 2);
    assert_eq!(call(&server, "GET", &tile, &prefect, None).1, t93);
    assert_eq!(call(&server, "GET", &tile, &parisian, None).1, t75);
    assert_eq!(misses() - before, 2, "both served from the cache");
    let (code, _) = json_of(&server, "POST", "/api/entries", &admin, Some(&at(2.36, 48.91)));
    assert_eq!(code, 201);
    assert_eq!(call(&server, "GET", &tile, &parisian, None).1, t75);
    assert_eq!(misses() - before, 2, "a write in 93 leaves the Paris tile cached");
    let (_, t93_after) = call(&server, "GET", &tile, &prefect, None);
    assert_eq!(misses() - before, 3, "and drops the 93 tile");
    assert_ne!(t93_after, t93, "which now shows the new entry");

    // A token narrowed inside its creator's territory sees what meets both.
    let signed = agent()
        .post(&server.url("/api/session"))
        .header("content-type", "application/json")
        .send(json!({"name": "olga", "password": "a long enough password"}).to_string())
        .unwrap();
    let cookie = signed.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = serde_json::from_str::<Value>(&signed.into_body().read_to_string().unwrap()).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    let circle = json!({"circle": {"lon": 2.3574, "lat": 48.9245, "radius_m": 3000.0}});
    let body = json!({"role": "admin", "territory": [{"area": "departements:93"}]});
    assert_eq!(call(&server, "PUT", "/api/members/olga", &admin, Some(&body)).0, 204, "olga, admin of 93");
    let mut r = agent()
        .post(&server.url("/api/tokens"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/json")
        .send(json!({"name": "dsp", "role": "reader", "territory": [circle.clone()]}).to_string())
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let token: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(token["territory"], json!([circle]));
    let narrowed = format!("Bearer {}", token["token"].as_str().unwrap());
    let (_, me) = json_of(&server, "GET", "/api/me", &narrowed, None);
    assert_eq!(me["territory"]["all_of"].as_array().map(Vec::len), Some(2), "{me}");
    let region = json!({"bbox": [2.0, 48.5, 2.9, 49.3], "layers": ["entries"], "limit": 10000});
    let (_, seen) = json_of(&server, "POST", "/api/query", &narrowed, Some(&region));
    let mut in_circle = json!({"layers": ["entries"], "limit": 10000});
    in_circle["circle"] = circle["circle"].clone();
    let (_, round) = json_of(&server, "POST", "/api/query", &admin, Some(&in_circle));
    let both: Vec<u64> = round["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            let g: geo::Geometry<f64> =
                geojson::Geometry::from_json_value(f["geometry"].clone()).unwrap().value.try_into().unwrap();
            geo::Intersects::intersects(&polygon, &g)
        })
        .map(|f| f["id"].as_u64().unwrap())
        .collect();
    let outside_93 = round["numberMatched"].as_u64().unwrap() - both.len() as u64;
    assert!(outside_93 > 0 && !both.is_empty(), "the circle straddles 93's border: {outside_93} outside");
    let mut ids: Vec<u64> = seen["features"].as_array().unwrap().iter().map(|f| f["id"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    let mut want = both.clone();
    want.sort_unstable();
    assert_eq!(ids, want, "the token sees the circle within 93, nothing else");
    // The same from the command line.
    let d = dir.path();
    let circle_text = json!([circle]).to_string();
    let cli = format!(
        "Bearer {}",
        vigie_ok(&["token", "create", "--user", "olga", "--name", "dsp-cli", "--territory", &circle_text], d, &[])
    );
    let (_, seen_cli) = json_of(&server, "POST", "/api/query", &cli, Some(&region));
    let mut cli_ids: Vec<u64> =
        seen_cli["features"].as_array().unwrap().iter().map(|f| f["id"].as_u64().unwrap()).collect();
    cli_ids.sort_unstable();
    assert_eq!(cli_ids, want, "a token made by `vigie token create --territory`");
    let (ok, _, err) = crate::support::vigie_cli(
        &["token", "create", "--user", "olga", "--name", "bad", "--territory", r#"{"bbox": [2, 48, 3, 49]}"#],
        d,
        &[],
    );
    assert!(!ok && err.contains("--territory: a JSON array of regions"), "{err}");

    // A workspace's territory narrows its members but the admins.
    assert_eq!(json_of(&server, "GET", "/api/workspace/territory", &rita, None).1["territory"], Value::Null);
    let body = json!({"territory": [{"area": "departements:93"}]});
    assert_eq!(call(&server, "PUT", "/api/workspace/territory", &admin, Some(&body)).0, 204);
    let (_, ws) = json_of(&server, "GET", "/api/workspace/territory", &rita, None);
    assert_eq!(ws["territory"], body["territory"], "{ws}");
    std::thread::sleep(Duration::from_millis(1500)); // identities are cached for a second
    let (_, hers) = json_of(&server, "POST", "/api/query", &rita, Some(&region));
    assert_eq!(hers["numberMatched"].as_u64(), Some(in_93(&server, &admin)), "rita sees 93");
    let (_, whole) = json_of(&server, "POST", "/api/query", &admin, Some(&region));
    assert!(whole["numberMatched"].as_u64() > hers["numberMatched"].as_u64(), "the admin sees everything");
    let (_, pias) = json_of(&server, "POST", "/api/query", &parisian, Some(&region));
    assert_eq!(pias["numberMatched"], 0, "Paris within 93 is nothing: {pias}");
    let (_, outline) = json_of(&server, "GET", "/api/me/territory", &parisian, None);
    assert_eq!(outline["features"].as_array().map(Vec::len), Some(2), "pia's level and the workspace's");
    assert_eq!(call(&server, "PUT", "/api/workspace/territory", &admin, Some(&json!({"territory": null}))).0, 204);
    let (_, audit) = json_of(&server, "GET", "/api/audit?action=workspace.territory", &admin, None);
    assert_eq!(audit["rows"].as_array().unwrap().len(), 2, "{audit}");
}
