//! Region queries, H3 and OGC API – Features against real data and references: PostGIS
//! (`ST_Intersects`, `ST_DWithin(geography)`), the reference H3 library (h3-py) and GDAL's
//! OAPIF driver.

use crate::support::{PostgisDb, Server, demo_config, get, get_json, python, repo_root, require_tool, run};
use axum::http::StatusCode;
use geozero::mvt::Message;
use serde_json::{Value, json};
use sqlx::Connection;
use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use vigie_layers::demo::Rng;
use vigie_tileserver::http::Shared;
use vigie_tileserver::ingest::import::import_path;
use vigie_tileserver::load::load_dataset;

/// The IGN départements (../shared/data): 96 features, MultiPolygons, codes 2A/2B.
pub fn departements_path() -> std::path::PathBuf {
    repo_root().join("../shared/data/france/departements.geojson")
}

/// A catalog = the bundled one plus a `probe` dataset layer for test features.
fn catalog_with_probe(dir: &std::path::Path) -> std::path::PathBuf {
    let text = format!(
        "{}\n[[layer]]\nid = \"probe\"\ntitle = \"Probe\"\ntitle_en = \"Probe\"\ntheme = \"reference\"\nkind = \"dataset\"\ndataset = \"probe\"\n",
        vigie_layers::catalog::BUNDLED_CATALOG
    );
    let path = dir.join("catalog.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub async fn import(state: &Arc<Shared>, layer: &str, path: &std::path::Path) {
    let def = state.engine.layer(layer).unwrap().def.clone();
    let (info, report) =
        import_path(state.store.as_ref(), &def, path, vigie_layers::dataset::Mapping::default(), false).await.unwrap();
    assert_eq!(report.problem_count, 0, "{report}");
    load_dataset(&state.engine, state.store.as_ref(), &info).await.unwrap();
}

/// The query polygon: an axis-aligned frame around Paris with a square hole, plus a second
/// part near Lyon, so that points can sit exactly on edges and vertices.
fn query_multipolygon() -> Value {
    json!({"type": "MultiPolygon", "coordinates": [
        [[[2.0, 48.5], [2.75, 48.5], [2.75, 49.125], [2.0, 49.125], [2.0, 48.5]],
         [[2.25, 48.75], [2.5, 48.75], [2.5, 48.875], [2.25, 48.875], [2.25, 48.75]]],
        [[[4.75, 45.625], [5.0, 45.625], [5.0, 45.875], [4.75, 45.875], [4.75, 45.625]]]
    ]})
}

/// Probe features: random points over France, points exactly on the query polygon's edges,
/// vertices and hole, points near the antimeridian and the north pole, short lines and small
/// polygons.
fn probe_features() -> Value {
    let mut rng = Rng::new(93);
    let mut features = Vec::new();
    let mut push = |g: Value| {
        let id = features.len() + 1;
        features.push(json!({"type": "Feature", "id": id, "geometry": g, "properties": {"n": id}}));
    };
    for _ in 0..3000 {
        push(json!({"type": "Point", "coordinates": [rng.range(-1.0, 7.0), rng.range(43.0, 50.0)]}));
    }
    for _ in 0..1500 {
        push(json!({"type": "Point", "coordinates": [rng.range(2.2, 2.5), rng.range(48.8, 48.95)]}));
    }
    for _ in 0..300 {
        push(json!({"type": "Point", "coordinates": [rng.range(8.5, 9.6), rng.range(41.3, 43.1)]}));
    }
    // Exactly on edges, vertices, the hole's edges, and just outside.
    for (x, y) in [
        (2.0, 48.5),
        (2.75, 49.125),
        (2.0, 48.8),
        (2.375, 48.5),
        (2.75, 48.6),
        (2.4, 49.125),
        (2.25, 48.8),
        (2.375, 48.75),
        (2.5, 48.875),
        (2.3, 48.8),
        (2.375, 48.8125),
        (4.75, 45.7),
        (5.0, 45.875),
        (1.999_999_9, 48.8),
        (2.750_000_1, 48.8),
    ] {
        push(json!({"type": "Point", "coordinates": [x, y]}));
    }
    for _ in 0..200 {
        push(json!({"type": "Point", "coordinates": [rng.range(178.5, 180.0), rng.range(-20.0, -10.0)]}));
        push(json!({"type": "Point", "coordinates": [rng.range(-180.0, -178.5), rng.range(-20.0, -10.0)]}));
        push(json!({"type": "Point", "coordinates": [rng.range(-180.0, 180.0), rng.range(89.6, 90.0)]}));
    }
    for _ in 0..300 {
        let (x, y) = (rng.range(1.8, 3.0), rng.range(48.4, 49.3));
        push(
            json!({"type": "LineString", "coordinates": [[x, y], [x + rng.range(-0.1, 0.1), y + rng.range(-0.1, 0.1)], [x + rng.range(-0.1, 0.1), y + rng.range(-0.1, 0.1)]]}),
        );
        let (dx, dy) = (rng.range(0.001, 0.05), rng.range(0.001, 0.05));
        push(json!({"type": "Polygon", "coordinates": [[[x, y], [x + dx, y], [x + dx, y + dy], [x, y + dy], [x, y]]]}));
    }
    json!({"type": "FeatureCollection", "features": features})
}

async fn ids(state: &Arc<Shared>, body: Value) -> BTreeSet<u64> {
    let resp = crate::journal::send(
        state,
        "POST",
        "/api/query",
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK, "{body}: {}", String::from_utf8_lossy(&resp.body));
    let v = resp.json();
    assert_eq!(v["numberMatched"], v["numberReturned"], "one page holds all: {body}");
    v["features"].as_array().unwrap().iter().map(|f| f["id"].as_u64().unwrap()).collect()
}

async fn postgis_ids(conn: &mut sqlx::PgConnection, condition: &str) -> BTreeSet<u64> {
    let rows: Vec<i64> =
        sqlx::query_scalar(&format!("SELECT id FROM probe WHERE {condition}")).fetch_all(&mut *conn).await.unwrap();
    rows.into_iter().map(|i| i as u64).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn region_queries_match_postgis() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path(), 200);
    config.catalog = Some(catalog_with_probe(dir.path()));
    let state = vigie_tileserver::build_state(config).await.unwrap();
    let probe = probe_features();
    let probe_path = dir.path().join("probe.geojson");
    std::fs::write(&probe_path, probe.to_string()).unwrap();
    import(&state, "probe", &probe_path).await;
    import(&state, "departements", &departements_path()).await;

    let db = PostgisDb::create().await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("CREATE TABLE probe (id bigint PRIMARY KEY, geom geometry(Geometry, 4326) NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE dep (code text PRIMARY KEY, geom geometry(Geometry, 4326) NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    for f in probe["features"].as_array().unwrap() {
        sqlx::query("INSERT INTO probe VALUES ($1, ST_SetSRID(ST_GeomFromGeoJSON($2), 4326))")
            .bind(f["id"].as_i64().unwrap())
            .bind(f["geometry"].to_string())
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let deps: Value = serde_json::from_str(&std::fs::read_to_string(departements_path()).unwrap()).unwrap();
    for f in deps["features"].as_array().unwrap() {
        sqlx::query("INSERT INTO dep VALUES ($1, ST_SetSRID(ST_GeomFromGeoJSON($2), 4326))")
            .bind(f["properties"]["code"].as_str().unwrap())
            .bind(f["geometry"].to_string())
            .execute(&mut conn)
            .await
            .unwrap();
    }

    let mp = query_multipolygon();
    let cases: Vec<(&str, Value, String)> = vec![
        ("bbox", json!({"bbox": [2.1, 48.7, 2.6, 49.0]}), "ST_Intersects(geom, ST_MakeEnvelope(2.1, 48.7, 2.6, 49.0, 4326))".into()),
        (
            "antimeridian bbox",
            json!({"bbox": [179.0, -18.0, -179.0, -12.0]}),
            "ST_Intersects(geom, ST_MakeEnvelope(179, -18, 180, -12, 4326)) OR ST_Intersects(geom, ST_MakeEnvelope(-180, -18, -179, -12, 4326))".into(),
        ),
        (
            "multipolygon with a hole, points on edges",
            json!({"geometry": mp}),
            format!("ST_Intersects(geom, ST_SetSRID(ST_GeomFromGeoJSON('{mp}'), 4326))"),
        ),
        (
            "circle 1 km",
            json!({"circle": {"lon": 2.35, "lat": 48.86, "radius_m": 1000.0}}),
            "ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(2.35, 48.86), 4326)::geography, 1000)".into(),
        ),
        (
            "circle 40 km",
            json!({"circle": {"lon": 2.35, "lat": 48.86, "radius_m": 40000.0}}),
            "ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(2.35, 48.86), 4326)::geography, 40000)".into(),
        ),
        (
            "circle near the pole",
            json!({"circle": {"lon": 10.0, "lat": 89.8, "radius_m": 30000.0}}),
            "ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(10, 89.8), 4326)::geography, 30000)".into(),
        ),
        (
            "circle across the antimeridian",
            json!({"circle": {"lon": 179.9, "lat": -15.0, "radius_m": 60000.0}}),
            "ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(179.9, -15), 4326)::geography, 60000)".into(),
        ),
        (
            "département 93",
            json!({"area": {"layer": "departements", "code": "93"}}),
            "ST_Intersects(geom, (SELECT geom FROM dep WHERE code = '93'))".into(),
        ),
        (
            "département 2A (Corse-du-Sud)",
            json!({"area": "departements:2A"}),
            "ST_Intersects(geom, (SELECT geom FROM dep WHERE code = '2A'))".into(),
        ),
    ];
    let mut report = Vec::new();
    for (name, region, condition) in cases {
        let mut body = region.as_object().unwrap().clone();
        body.insert("layers".into(), json!(["probe"]));
        body.insert("limit".into(), json!(10_000));
        let ours = ids(&state, Value::Object(body)).await;
        let theirs = postgis_ids(&mut conn, &condition).await;
        let only_ours: Vec<&u64> = ours.difference(&theirs).take(10).collect();
        let only_theirs: Vec<&u64> = theirs.difference(&ours).take(10).collect();
        assert!(
            only_ours.is_empty() && only_theirs.is_empty(),
            "{name}: vigie {} vs PostGIS {} — only vigie {only_ours:?}, only PostGIS {only_theirs:?}",
            ours.len(),
            theirs.len()
        );
        assert!(!ours.is_empty(), "{name} matched nothing: the case checks nothing");
        report.push(format!("{name}: {}", ours.len()));
    }
    println!("region queries equal to PostGIS: {}", report.join(", "));
    drop(conn);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn query_api_summary_paging_csv_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let state = vigie_tileserver::build_state(demo_config(dir.path(), 3000)).await.unwrap();
    import(&state, "departements", &departements_path()).await;

    // Département 93 (Stade de France, Aquatics Centre…), every page once, newest first.
    let first = get(&state, "/api/query?area=departements:93&limit=100&interval=1d", &[]).await;
    assert_eq!(first.status, StatusCode::OK);
    let v = first.json();
    let total = v["numberMatched"].as_u64().unwrap();
    assert!(total > 200, "{total}");
    let s = &v["summary"];
    assert_eq!(s["total"], total);
    let sum = |o: &Value| o.as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum(&s["by_layer"]), total);
    assert_eq!(sum(&s["by_severity"]), total);
    assert_eq!(sum(&s["by_qualification"]), total);
    assert!(s["by_qualification"].get("refuted").is_none(), "refuted hidden by default");
    assert_eq!(s["interval"], "1d");
    assert_eq!(s["histogram"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum::<u64>(), total);
    let mut seen = BTreeSet::new();
    let mut next = v["next"].as_str().map(str::to_owned);
    for f in v["features"].as_array().unwrap() {
        seen.insert(f["id"].as_u64().unwrap());
        assert_eq!(f["properties"]["layer"], "entries");
    }
    while let Some(cursor) = next {
        let page = get(&state, &format!("/api/query?area=departements:93&limit=100&cursor={cursor}"), &[]).await.json();
        for f in page["features"].as_array().unwrap() {
            assert!(seen.insert(f["id"].as_u64().unwrap()), "no repeat");
        }
        next = page["next"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len() as u64, total);

    // Filters narrow; a venue perimeter with a buffer widens.
    let severe = get(&state, "/api/query?area=departements:93&severity=4", &[]).await.json();
    assert!(severe["numberMatched"].as_u64().unwrap() < total);
    let red = get(&state, "/api/query?venue=STA&perimeter=red", &[]).await.json()["numberMatched"].as_u64().unwrap();
    let red_buffered =
        get(&state, "/api/query?venue=STA&perimeter=red&buffer_m=500", &[]).await.json()["numberMatched"]
            .as_u64()
            .unwrap();
    assert!(red > 0 && red_buffered > red, "{red} {red_buffered}");
    let cells = get(&state, "/api/h3?layer=entries&res=7&area=departements:93", &[]).await.json();
    assert_eq!(cells["total"].as_u64().unwrap(), total, "every hit is in one cell");
    let some: Vec<String> =
        cells["cells"].as_array().unwrap().iter().take(3).map(|c| c["cell"].as_str().unwrap().to_owned()).collect();
    let in_cells = get(&state, &format!("/api/query?h3={}", some.join(",")), &[]).await.json();
    let expected: u64 = cells["cells"].as_array().unwrap().iter().take(3).map(|c| c["count"].as_u64().unwrap()).sum();
    assert_eq!(in_cells["numberMatched"].as_u64().unwrap(), expected, "points of the cells = their counts");

    // CSV with WKT.
    let csv = get(&state, "/api/query?venue=STA&perimeter=red&format=csv", &[]).await;
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = String::from_utf8(csv.body.clone()).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("layer,id,title,"));
    assert!(text.contains(",POINT("));
    assert_eq!(text.lines().count() as u64, red + 1);
    let accept = get(&state, "/api/query?venue=STA&perimeter=red", &[("accept", "text/csv")]).await;
    assert_eq!(accept.body, csv.body);

    for (uri, status, needle) in [
        ("/api/query", StatusCode::BAD_REQUEST, "exactly one region"),
        ("/api/query?bbox=1,2,3,4&circle=1,2,3", StatusCode::BAD_REQUEST, "exactly one region"),
        ("/api/query?bbox=1,2,3", StatusCode::BAD_REQUEST, "bbox"),
        ("/api/query?circle=2,48,-5", StatusCode::BAD_REQUEST, "radius_m"),
        ("/api/query?area=departements:999", StatusCode::NOT_FOUND, "999"),
        ("/api/query?venue=XXX", StatusCode::NOT_FOUND, "XXX"),
        ("/api/query?bbox=1,2,3,4&layers=nope", StatusCode::NOT_FOUND, "nope"),
        ("/api/query?bbox=1,2,3,4&limit=0", StatusCode::BAD_REQUEST, "limit"),
        ("/api/query?h3=zzz", StatusCode::BAD_REQUEST, "H3"),
        ("/api/h3?res=16", StatusCode::BAD_REQUEST, "res"),
    ] {
        let a = get(&state, uri, &[]).await;
        assert_eq!(a.status, status, "{uri}");
        assert!(a.json()["detail"].as_str().unwrap().contains(needle), "{uri}: {}", a.json()["detail"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn h3_cells_match_the_reference_library() {
    let py = python();
    let mut rng = Rng::new(5);
    let mut rows = Vec::new();
    for _ in 0..400 {
        let (lon, lat) = (rng.range(-4.8, 8.2), rng.range(42.3, 51.1));
        for r in 5..=11u8 {
            let cell = vigie_layers::h3::cell_of(lon, lat, r).unwrap();
            rows.push(json!([lon, lat, r, cell.to_string()]));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cells.json");
    std::fs::write(&path, Value::from(rows).to_string()).unwrap();
    let script = "import h3, json, sys\nrows = json.load(open(sys.argv[1]))\nbad = [r for r in rows if h3.latlng_to_cell(r[1], r[0], r[2]) != r[3]]\nprint(len(rows), len(bad))\nsys.exit(1 if bad else 0)\n";
    let out = run(Command::new(&py).arg("-c").arg(script).arg(&path));
    assert_eq!(out.trim(), "2800 0", "cells compared, mismatches");
}

#[tokio::test(flavor = "multi_thread")]
async fn h3_tiles_carry_cell_ids_and_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let state = vigie_tileserver::build_state(demo_config(dir.path(), 3000)).await.unwrap();
    // Every z6 tile over metropolitan France: hexagons de-duplicated by cell id add up to every
    // counted entry there.
    let mut cells = std::collections::BTreeMap::new();
    for x in 30..=34u32 {
        for y in 21..=24u32 {
            let a = get(&state, &format!("/tiles/entries-h3/6/{x}/{y}"), &[]).await;
            if a.status == StatusCode::NO_CONTENT {
                continue;
            }
            let tile = geozero::mvt::Tile::decode(a.body.as_slice()).unwrap();
            for l in &tile.layers {
                let key = |name: &str| l.keys.iter().position(|k| k == name).unwrap() as u32;
                let (kc, kn) = (key("cell"), key("count"));
                for f in &l.features {
                    let val = |k: u32| &l.values[f.tags.chunks(2).find(|kv| kv[0] == k).unwrap()[1] as usize];
                    let cell: h3o::CellIndex = val(kc).string_value.as_deref().unwrap().parse().unwrap();
                    assert_eq!(f.id, Some(u64::from(cell)), "the feature id is the cell");
                    assert_eq!(u8::from(cell.resolution()), 4, "z6 shows resolution 4");
                    cells.insert(u64::from(cell), val(kn).uint_value.unwrap());
                }
            }
        }
    }
    let api = get(&state, "/api/h3?layer=entries-h3&res=4&bbox=-6,41,10,52", &[]).await.json();
    let from_api: std::collections::BTreeMap<u64, u64> = api["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (u64::from(c["cell"].as_str().unwrap().parse::<h3o::CellIndex>().unwrap()), c["count"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(cells, from_api, "tiles and /api/h3 agree cell by cell");
    // A write moves the counts at once.
    let sta_cell = vigie_layers::h3::cell_of(2.3601, 48.9245, 4).unwrap();
    let before = cells[&u64::from(sta_cell)];
    crate::journal::send(
        &state,
        "POST",
        "/api/entries",
        &[("content-type", "application/json"), ("x-vigie-user", "t")],
        json!({"title": "h3", "severity": 4, "lon": 2.3601, "lat": 48.9245}).to_string().into_bytes(),
    )
    .await;
    let after = get(&state, &format!("/api/h3?layer=entries-h3&res=4&h3={sta_cell}"), &[]).await.json();
    assert_eq!(after["total"].as_u64().unwrap(), before + 1);
}

#[test]
fn gdal_reads_the_ogc_api_features() {
    let ogrinfo = require_tool("ogrinfo", "apt-get install -y gdal-bin");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", "2000"]);
    let vigie = env!("CARGO_BIN_EXE_vigie");
    run(Command::new(vigie)
        .args(["import", "--layer", "departements", "--data-dir"])
        .arg(dir.path())
        .arg(departements_path()));
    std::thread::sleep(std::time::Duration::from_secs(3)); // the server picks the new dataset up
    let url = format!("OAPIF:{}", server.url("/ogc"));
    let listing = run(Command::new(&ogrinfo).args(["-ro", "-so"]).arg(&url));
    for layer in ["venues", "perimeters", "departements", "entries", "health"] {
        assert!(listing.contains(&format!(": {layer} (")), "{layer} not listed:\n{listing}");
    }
    assert!(!listing.contains("entries-h3"), "aggregates are not collections");
    let count = |layer: &str| -> u64 {
        let out = run(Command::new(&ogrinfo).args(["-ro", "-al", "-q"]).arg(&url).arg(layer));
        out.matches("OGRFeature(").count() as u64
    };
    assert_eq!(count("venues"), 44);
    assert_eq!(count("departements"), 96);
    let catalog = get_json(&server.url("/catalog"));
    // Refuted entries are not in the default view.
    let items = get_json(&server.url("/ogc/collections/health/items?limit=1"));
    let matched = items["numberMatched"].as_u64().unwrap();
    let health = catalog["layers"].as_array().unwrap().iter().find(|l| l["id"] == "health").unwrap()["features"]
        .as_u64()
        .unwrap();
    assert!(matched > 0 && matched <= health);
    assert_eq!(count("health"), matched, "GDAL follows the next links to the end");
    // A bbox and a time window, as GDAL sends them.
    let paris = run(Command::new(&ogrinfo)
        .args(["-ro", "-al", "-q", "-spat", "2.25", "48.81", "2.42", "48.91"])
        .arg(&url)
        .arg("venues"));
    let codes: BTreeSet<&str> = paris.lines().filter_map(|l| l.trim().strip_prefix("code (String) = ")).collect();
    assert!(codes.contains("EIF") && codes.contains("BCY") && !codes.contains("STA"), "{codes:?}");
}

/// One entry dated 1900 and `interval=15m` once made a 4.4-million-bucket histogram (3.4 GB
/// resident, a 188 MB answer): the histogram now stops at its limit, says so, and still
/// counts every hit.
#[test]
fn a_histogram_over_a_century_stays_within_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let token = crate::support::member_token(dir.path(), &[], "archiviste", "default", "contributor");
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", "50", "--require-sign-in"]);
    let old =
        json!({"title": "Archive", "severity": 1, "lon": 2.35, "lat": 48.85, "occurred_at": "1900-01-01T00:00:00Z"});
    let r = crate::support::call(&server, "POST", "/api/entries", &token, Some(&old), &[]);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let q = crate::support::call(
        &server,
        "GET",
        "/api/query?bbox=-180,-90,180,90&layers=entries&qualification=all&interval=15m&limit=1",
        &token,
        None,
        &[],
    );
    assert_eq!(q.status, 200);
    assert!(q.body.len() < 1_000_000, "{} bytes", q.body.len());
    let s = &q.json()["summary"];
    let buckets = s["histogram"].as_array().unwrap();
    assert!(buckets.len() <= vigie_layers::query::MAX_HISTOGRAM_BUCKETS as usize, "{}", buckets.len());
    assert_eq!(buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum::<u64>(), s["total"].as_u64().unwrap());
    assert_eq!(s["interval"], "30d");
    assert!(s["interval_note"].as_str().unwrap().contains("15m"), "{s}");
}
