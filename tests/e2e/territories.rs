//! Territories (issue 15, first part): a member narrowed to a département sees, on tiles,
//! region queries, H3 counts, TileJSON and the catalog, only what meets it — checked with a
//! decoder and a geometry library vigie did not write — while the routes that do not narrow
//! yet refuse them, and the same tile asked from both sides is two cached tiles.

use crate::support::{Server, agent, member_token, python, repo_root, run, vigie_ok};
use serde_json::{Value, json};
use std::process::Command;

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

#[test]
fn a_member_narrowed_to_a_departement_sees_only_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let departements = repo_root().join("../shared/data/france/departements.geojson");
    vigie_ok(&["import", "--layer", "departements", departements.to_str().unwrap()], d, &[]);
    let admin = member_token(d, &[], "nadia", "default", "admin");
    let prefect = member_token(d, &[], "paul", "default", "reader");
    let officer = member_token(d, &[], "carl", "default", "contributor");
    let args = ["--demo", "--demo-entries", "20000", "--demo-points-only", "--demo-region", "--require-sign-in"];
    let server = Server::start(d, &args);

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
                let path = format!("/tiles/entries/{z}/{x}/{y}");
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
    let (_, dep) = json_of(
        &server,
        "POST",
        "/api/query",
        &admin,
        Some(&json!({"area": "departements:93", "layers": ["entries"], "limit": 1})),
    );
    let (_, everything) = json_of(&server, "POST", "/api/query", &admin, Some(&region));
    let n = mine["numberMatched"].as_u64().unwrap();
    assert_eq!(n, dep["numberMatched"].as_u64().unwrap(), "{mine}");
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

    // What does not narrow yet refuses the member rather than show more.
    let revisions = format!("/api/entries/{}/revisions", listed[0]);
    for path in ["/api/events", "/ogc/collections", "/metrics", revisions.as_str()] {
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
