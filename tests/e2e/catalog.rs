//! The layer catalog as runtime configuration: admins add, change and remove themes and layers
//! through the API while the server runs and writes keep coming; the change is served when the
//! answer comes (tiles, TileJSON, `/catalog`), survives a restart, reaches a replica within
//! seconds, ends live streams so clients reconnect, and loses no write made meanwhile.
//! `vigie import --layer NEW FILE` creates the dataset layer it imports into; `vigie catalog
//! export`/`import` round-trip the catalog as a file.

use crate::support::{PostgisDb, Server, agent, ids_in_tile, vigie_bin};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Status, JSON body and ETag of a request (the loopback demo lets it in as admin).
fn call(
    server: &Server,
    method: &str,
    path: &str,
    body: Option<&Value>,
    if_match: Option<&str>,
) -> (u16, Value, String) {
    let mut req = ureq::http::Request::builder().method(method).uri(server.url(path));
    if let Some(v) = if_match {
        req = req.header("if-match", v);
    }
    let resp = match body {
        Some(b) => agent().run(req.header("content-type", "application/json").body(b.to_string()).unwrap()),
        None => agent().run(req.body(()).unwrap()),
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let code = resp.status().as_u16();
    let etag = resp.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (code, serde_json::from_str(&text).unwrap_or(Value::Null), etag)
}

fn layer<'a>(catalog: &'a Value, id: &str) -> Option<&'a Value> {
    catalog["layers"].as_array().unwrap().iter().find(|l| l["id"] == id)
}

fn vigie(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> std::process::Output {
    Command::new(vigie_bin()).args(args).arg("--data-dir").arg(dir).envs(env.iter().copied()).output().unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Waits until `check` holds, at most `limit`; returns how long it took.
fn within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !check() {
        assert!(t0.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    t0.elapsed()
}

/// Creates entries one after the other until told to stop; returns how many were created.
fn writer(server_url: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let body = json!({"title": format!("écriture {n}"), "author": "test", "severity": 1, "tags": ["cyber"], "lon": 2.35, "lat": 48.85});
            let r = agent()
                .post(&format!("{server_url}/api/entries"))
                .header("content-type", "application/json")
                .send(body.to_string())
                .unwrap();
            assert_eq!(r.status(), 201, "a write during catalog changes failed");
            n += 1;
        }
        n
    })
}

#[test]
fn catalog_edited_at_run_time_sqlite() {
    scenario(&[], false);
}

#[test]
fn catalog_edited_at_run_time_postgis_with_a_replica() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(PostgisDb::create());
    scenario(&[("DATABASE_URL", db.url.as_str())], true);
    rt.block_on(db.drop_db());
}

#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn scenario(env: &[(&str, &str)], replica: bool) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = ["--demo", "--demo-entries", "300"];
    let server = Server::start_with_env(d, &args, env);
    let other_dir = tempfile::tempdir().unwrap();
    let other = replica.then(|| Server::start_with_env(other_dir.path(), &args, env));

    let (code, stored, etag) = call(&server, "GET", "/api/catalog", None, None);
    assert_eq!(code, 200, "{stored}");
    assert_eq!((stored["version"].as_u64(), etag.as_str()), (Some(1), "\"1\""), "seeded from the bundled catalog");
    assert_eq!(stored["updated_by"], "seed");
    let bundled_layers = stored["layers"].as_array().unwrap().len();

    // A live stream, open across the change.
    let events = agent().get(&server.url("/api/events")).call().unwrap();
    let stream = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(events.into_body().into_reader()).lines() {
            match line {
                Ok(l) => lines.push(l),
                Err(_) => break,
            }
        }
        lines
    });

    // Writes keep coming while the catalog changes.
    let stop = Arc::new(AtomicBool::new(false));
    let writing = writer(server.url(""), stop.clone());
    std::thread::sleep(Duration::from_millis(200));

    let theme = json!({"title": "Drones", "title_en": "Drones", "color": "#8e44ad", "entry_tag": true});
    let (code, body, etag) = call(&server, "PUT", "/api/catalog/themes/drones", Some(&theme), Some("\"1\""));
    assert_eq!((code, etag.as_str()), (201, "\"2\""), "{body}");
    let def = json!({"title": "Survols de drones", "title_en": "Drone overflights", "theme": "drones",
                     "kind": "entries", "tags": ["drones"], "minzoom": 5, "visible": true});
    let t0 = Instant::now();
    let (code, body, _) = call(&server, "PUT", "/api/catalog/layers/drones", Some(&def), None);
    let swap = t0.elapsed();
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["version"], 3);
    assert_eq!(body["updated_by"], "anonymous:anonymous");
    println!("layer added and served after {swap:?}");

    // Served as soon as the answer came: listing, TileJSON, tiles.
    let (_, listing, _) = call(&server, "GET", "/catalog", None, None);
    assert_eq!(listing["version"], 3);
    let drones = layer(&listing, "drones").expect("the new layer is listed");
    assert_eq!((drones["theme"].as_str(), drones["minzoom"].as_u64()), (Some("drones"), Some(5)));
    let (code, tilejson, _) = call(&server, "GET", "/tiles/drones", None, None);
    assert_eq!(code, 200);
    assert!(tilejson["tiles"][0].as_str().unwrap().ends_with("/tiles/drones/{z}/{x}/{y}.mvt"), "{tilejson}");
    let entry = json!({"title": "Drone au-dessus du Stade de France", "author": "test", "severity": 3, "tags": ["drones"], "lon": 2.3601, "lat": 48.9244});
    let (code, created, _) = call(&server, "POST", "/api/entries", Some(&entry), None);
    assert_eq!(code, 201, "{created}");
    let id = created["id"].as_u64().unwrap();
    // z14 tile holding 2.3601, 48.9244.
    let tile = agent().get(&server.url("/tiles/drones/14/8299/5631")).call().unwrap();
    assert_eq!(tile.status(), 200, "the new layer's tile has the new entry");
    assert_eq!(ids_in_tile(&tile.into_body().read_to_vec().unwrap()), [id], "only entries tagged drones");
    let tile = agent().get(&server.url("/tiles/drones/4/8/5")).call().unwrap();
    assert_eq!(tile.status(), 204, "below its minzoom the layer is empty");

    // Bad edits say what to fix and change nothing.
    let (code, body, _) = call(&server, "PUT", "/api/catalog/layers/drones", Some(&def), Some("\"1\""));
    assert_eq!(code, 412, "a stale If-Match: {body}");
    assert!(body["detail"].as_str().unwrap().contains("version 3"), "{body}");
    let (code, body, _) = call(&server, "PUT", "/api/catalog/layers/Bad_Id", Some(&def), None);
    assert_eq!(code, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("a-z"), "{body}");
    let nowhere = json!({"title": "x", "title_en": "x", "theme": "nope", "kind": "entries"});
    let (code, body, _) = call(&server, "PUT", "/api/catalog/layers/x", Some(&nowhere), None);
    assert_eq!(code, 422);
    assert!(body["detail"].as_str().unwrap().contains("'nope'"), "{body}");
    let (code, body, _) = call(&server, "PUT", "/api/catalog/layers/x", Some(&json!({"title": 3})), None);
    assert_eq!(code, 422, "{body}");
    let (code, body, _) = call(&server, "DELETE", "/api/catalog/themes/drones", None, None);
    assert_eq!(code, 422);
    assert!(body["detail"].as_str().unwrap().contains("drones"), "the layer using it is named: {body}");
    let (code, body, _) = call(&server, "DELETE", "/api/catalog/layers/entries", None, None);
    assert_eq!(code, 422);
    assert!(body["detail"].as_str().unwrap().contains("entries-h3"), "{body}");
    assert_eq!(call(&server, "DELETE", "/api/catalog/layers/nowhere", None, None).0, 404);
    assert_eq!(call(&server, "GET", "/api/catalog", None, None).1["version"], 3, "nothing stored");

    // The live stream ended with a reconnect hint when the catalog changed.
    let lines = stream.join().unwrap();
    assert!(
        lines.iter().any(|l| l == "retry: 250"),
        "no reconnect hint: {:?}",
        &lines[lines.len().saturating_sub(5)..]
    );
    assert!(lines.iter().any(|l| l.starts_with("event: entry.created")), "the stream carried the writes before");

    // A replica serves the change within seconds.
    if let Some(other) = &other {
        let took = within(Duration::from_secs(10), "the replica serves the new layer", || {
            layer(&call(other, "GET", "/catalog", None, None).1, "drones").is_some()
        });
        println!("replica serves the new layer after {took:?}");
    }

    // Every write made meanwhile is in the index of the state now serving.
    stop.store(true, Ordering::Relaxed);
    let written = writing.join().unwrap();
    assert!(written > 0);
    let (_, listing, _) = call(&server, "GET", "/catalog", None, None);
    let total = layer(&listing, "entries").unwrap()["features"].as_u64().unwrap();
    assert_eq!(total as usize, 300 + written + 1, "{written} writes during the changes, all indexed");
    // The layer was added without a new entry theme: the new state shares the entries and built
    // its own H3 aggregate while writes went on; it counts what a fresh load counts (below).
    let counted = layer(&listing, "entries-h3").unwrap()["features"].as_u64().unwrap();
    println!("{written} entries written during the catalog changes, all indexed");

    // Removal: the layer's tiles are gone, then its theme can go.
    assert_eq!(call(&server, "DELETE", "/api/catalog/layers/drones", None, None).0, 200);
    assert_eq!(call(&server, "GET", "/tiles/drones", None, None).0, 404);
    let (code, body, _) = call(&server, "DELETE", "/api/catalog/themes/drones", None, None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["layers"].as_array().unwrap().len(), bundled_layers);

    // Audited with before/after digests.
    let (_, audit, _) = call(&server, "GET", "/api/audit?action=catalog.&limit=100", None, None);
    let rows = audit["rows"].as_array().expect("audit rows");
    let actions: Vec<(&str, &str)> =
        rows.iter().map(|r| (r["action"].as_str().unwrap(), r["outcome"].as_str().unwrap())).collect();
    for wanted in [
        ("catalog.theme.put", "ok"),
        ("catalog.layer.put", "ok"),
        ("catalog.layer.put", "refused"),
        ("catalog.layer.delete", "ok"),
        ("catalog.theme.delete", "ok"),
    ] {
        assert!(actions.contains(&wanted), "{wanted:?} not in {actions:?}");
    }
    let ok = rows.iter().find(|r| r["outcome"] == "ok").unwrap();
    assert!(ok["detail"]["before"].as_str().unwrap().len() == 64 && ok["detail"]["before"] != ok["detail"]["after"]);

    // The stored catalog outlives the process; `vigie catalog export`/`import` round-trip it.
    drop(other);
    server.kill();
    let out = vigie(&["catalog", "export"], d, env);
    assert!(out.status.success(), "{}", text(&out));
    let exported = String::from_utf8(out.stdout).unwrap();
    assert!(exported.contains("[[layer]]") && !exported.contains("drones"), "{exported}");
    let file = d.join("catalog.toml");
    std::fs::write(&file, exported.replacen("name = \"", "name = \"Préfecture — ", 1)).unwrap();
    let server = Server::start_with_env(d, &args, env);
    let (_, restarted, _) = call(&server, "GET", "/catalog", None, None);
    assert_eq!(restarted["version"], 5, "kept across the restart");
    assert_eq!(layer(&restarted, "entries-h3").unwrap()["features"], counted, "H3 counts as a fresh load");
    let out = vigie(&["catalog", "import", file.to_str().unwrap()], d, env);
    assert!(out.status.success(), "{}", text(&out));
    let took = within(Duration::from_secs(10), "the running server serves the imported catalog", || {
        call(&server, "GET", "/catalog", None, None).1["name"].as_str().unwrap().starts_with("Préfecture — ")
    });
    println!("catalog imported from a file, served after {took:?}");
    std::fs::write(&file, "name = \"x\"\nattribution = \"y\"\n[[layer]]\nid = \"a\"\n").unwrap();
    let out = vigie(&["catalog", "import", file.to_str().unwrap()], d, env);
    assert!(!out.status.success());
    assert!(text(&out).contains("catalog.toml"), "the file is named: {}", text(&out));

    import_creates_its_layer(&server, d, env);
}

/// `vigie import --layer NEW FILE` creates the dataset layer (title from the file name, theme
/// "reference"); a rejected import creates nothing.
fn import_creates_its_layer(server: &Server, d: &Path, env: &[(&str, &str)]) {
    let file = d.join("postes-de-commandement.geojson");
    let features: Vec<Value> = (0..3)
        .map(|i| {
            json!({"type": "Feature", "properties": {"nom": format!("PC {i}")},
                        "geometry": {"type": "Point", "coordinates": [2.3 + f64::from(i) * 0.01, 48.86]}})
        })
        .collect();
    std::fs::write(&file, json!({"type": "FeatureCollection", "features": features}).to_string()).unwrap();
    let out = vigie(&["import", "--layer", "Postes PC", file.to_str().unwrap()], d, env);
    assert!(!out.status.success());
    assert!(text(&out).contains("Postes PC"), "the bad id is named: {}", text(&out));

    let broken = d.join("broken.geojson");
    std::fs::write(&broken, "{\"type\": \"FeatureCollection\", \"features\": [").unwrap();
    let out = vigie(&["import", "--layer", "broken", broken.to_str().unwrap()], d, env);
    assert!(!out.status.success(), "{}", text(&out));

    let out = vigie(&["import", "--layer", "pc", file.to_str().unwrap()], d, env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("layer 'pc' created"), "{}", text(&out));
    let took = within(Duration::from_secs(15), "the running server serves the imported layer", || {
        layer(&call(server, "GET", "/catalog", None, None).1, "pc").is_some_and(|l| l["features"] == 3)
    });
    println!("imported into a new layer, served with its features after {took:?}");
    let (_, listing, _) = call(server, "GET", "/catalog", None, None);
    let pc = layer(&listing, "pc").unwrap();
    assert_eq!(
        (pc["title"].as_str(), pc["theme"].as_str(), pc["kind"].as_str()),
        (Some("postes-de-commandement"), Some("reference"), Some("dataset"))
    );
    assert!(layer(&listing, "broken").is_none(), "a rejected import creates no layer");
    let (_, items, _) = call(server, "GET", "/ogc/collections/pc/items", None, None);
    assert_eq!(items["numberMatched"], 3, "{items}");
}

/// A catalog change swaps the workspace's state; the old one (its engine, indexes, cache,
/// background tasks) is released once nothing uses it, not kept alive by a task or a registry.
#[tokio::test]
async fn the_old_state_is_released_after_a_change() {
    use tower::ServiceExt as _;
    let (state, _dir) = crate::support::demo_state(300).await;
    let old = Arc::downgrade(&state);
    let old_engine = Arc::downgrade(&state.engine);
    let router = vigie_tileserver::http::app(state);
    let def = json!({"title": "Extra", "title_en": "Extra", "theme": "cyber", "kind": "entries", "tags": ["cyber"]});
    let put = axum::http::Request::put("/api/catalog/layers/extra")
        .header("host", "vigie.test:8080")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(def.to_string()))
        .unwrap();
    let resp = router.clone().oneshot(put).await.unwrap();
    assert_eq!(resp.status(), 201);
    let t0 = Instant::now();
    while old.upgrade().is_some() || old_engine.upgrade().is_some() {
        assert!(t0.elapsed() < Duration::from_secs(5), "the old state is still alive 5 s after the swap");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let get = axum::http::Request::get("/catalog").header("host", "vigie.test:8080").body(axum::body::Body::empty());
    let resp = router.oneshot(get.unwrap()).await.unwrap();
    let body: Value =
        serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap();
    assert_eq!(body["version"], 2);
    assert!(layer(&body, "extra").is_some());
}
