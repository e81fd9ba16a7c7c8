//! Router tests: every status code and header the tile API promises.

use crate::support::{TEST_ENTRIES, demo_state, get};
use axum::http::StatusCode;
use geozero::mvt::{Message, Tile};

/// A central-Paris tile (Eiffel Tower, Champ de Mars, Trocadéro, Invalides…) with every kind of
/// geometry at z13.
const PARIS_Z13: &str = "13/4149/2818";

fn decode(body: &[u8]) -> Tile {
    Tile::decode(body).expect("valid MVT")
}

fn problem(a: &crate::support::Answer) -> serde_json::Value {
    assert_eq!(a.header("content-type"), Some("application/problem+json"));
    let p = a.json();
    assert_eq!(p["status"].as_u64(), Some(u64::from(a.status.as_u16())));
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn tile_statuses_headers_and_composites() {
    let (state, _dir) = demo_state(TEST_ENTRIES).await;

    // 200 with the MVT media type, a strong ETag and Vary.
    let a = get(&state, &format!("/tiles/entries/{PARIS_Z13}.mvt"), &[]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), Some("application/vnd.mapbox-vector-tile"));
    assert_eq!(a.header("vary"), Some("Accept-Encoding"));
    let etag = a.header("etag").expect("etag").to_owned();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "strong etag: {etag}");
    let tile = decode(&a.body);
    assert_eq!(tile.layers.len(), 1);
    assert_eq!(tile.layers[0].name, "entries");
    assert!(tile.layers[0].features.len() > 50, "dense central tile");

    // The .pbf suffix and no suffix give the same tile.
    for suffix in [".pbf", ""] {
        let b = get(&state, &format!("/tiles/entries/{PARIS_Z13}{suffix}"), &[]).await;
        assert_eq!(b.body, a.body, "suffix '{suffix}'");
    }

    // 304 on a matching If-None-Match, 200 on another.
    let c = get(&state, &format!("/tiles/entries/{PARIS_Z13}"), &[("if-none-match", &etag)]).await;
    assert_eq!(c.status, StatusCode::NOT_MODIFIED);
    assert!(c.body.is_empty());
    assert_eq!(c.header("etag"), Some(etag.as_str()));
    let d = get(&state, &format!("/tiles/entries/{PARIS_Z13}"), &[("if-none-match", "\"other\"")]).await;
    assert_eq!(d.status, StatusCode::OK);

    // gzip when asked, with its own ETag; the decompressed bytes are the tile.
    let g = get(&state, &format!("/tiles/entries/{PARIS_Z13}"), &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.header("content-encoding"), Some("gzip"));
    assert_eq!(g.header("vary"), Some("Accept-Encoding"));
    assert_ne!(g.header("etag"), Some(etag.as_str()));
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(g.body.as_slice()), &mut raw).unwrap();
    assert_eq!(raw, a.body);
    assert!(g.body.len() < a.body.len());

    // Composite: one MVT layer per requested id, in request order.
    let comp = get(&state, &format!("/tiles/venues,perimeters,public-order,health/{PARIS_Z13}"), &[]).await;
    assert_eq!(comp.status, StatusCode::OK);
    let names: Vec<String> = decode(&comp.body).layers.into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["venues", "perimeters", "public-order", "health"]);

    // 204 for an empty tile (open Atlantic), with Vary.
    let e = get(&state, "/tiles/entries,venues/13/3000/2800", &[]).await;
    assert_eq!(e.status, StatusCode::NO_CONTENT);
    assert!(e.body.is_empty());
    assert_eq!(e.header("vary"), Some("Accept-Encoding"));

    // Below a layer's minzoom its tile is empty (entries start at z5).
    let low = get(&state, "/tiles/entries/3/4/2", &[]).await;
    assert_eq!(low.status, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_problem_json_naming_what_is_wrong() {
    let (state, _dir) = demo_state(200).await;
    let cases = [
        ("/tiles/entries/25/0/0", StatusCode::BAD_REQUEST, "24"),
        ("/tiles/entries/3/8/0", StatusCode::BAD_REQUEST, "off the grid"),
        ("/tiles/entries/3/0/9.mvt", StatusCode::BAD_REQUEST, "off the grid"),
        ("/tiles/entries/3/0/1.png", StatusCode::BAD_REQUEST, "1.png"),
        ("/tiles/entries/x/0/0", StatusCode::BAD_REQUEST, "z = 'x'"),
        ("/tiles/entries/3/0/0?severity=7", StatusCode::BAD_REQUEST, "severity"),
        ("/tiles/entries/3/0/0?from=hier", StatusCode::BAD_REQUEST, "RFC 3339"),
        ("/tiles/entries,,venues/3/0/0", StatusCode::BAD_REQUEST, "empty layer id"),
        ("/tiles/nope/3/0/0", StatusCode::NOT_FOUND, "'nope'"),
        ("/tiles/venues,nope/3/0/0", StatusCode::NOT_FOUND, "'nope'"),
        ("/tiles/nope", StatusCode::NOT_FOUND, "'nope'"),
        ("/styles/nope.json", StatusCode::NOT_FOUND, "hypervision"),
        ("/no/such/route", StatusCode::NOT_FOUND, "route"),
    ];
    for (uri, status, needle) in cases {
        let a = get(&state, uri, &[]).await;
        assert_eq!(a.status, status, "{uri}");
        let p = problem(&a);
        let detail = p["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(needle), "{uri}: detail '{detail}' should mention '{needle}'");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_change_tiles_and_are_part_of_the_key() {
    let (state, _dir) = demo_state(TEST_ENTRIES).await;
    let count = |body: &[u8]| -> usize {
        if body.is_empty() { 0 } else { decode(body).layers.iter().map(|l| l.features.len()).sum() }
    };
    let all = get(&state, &format!("/tiles/entries/{PARIS_Z13}"), &[]).await;
    let severe = get(&state, &format!("/tiles/entries/{PARIS_Z13}?severity=3"), &[]).await;
    let with_refuted = get(&state, &format!("/tiles/entries/{PARIS_Z13}?qualification=all"), &[]).await;
    let window =
        get(&state, &format!("/tiles/entries/{PARIS_Z13}?from=2024-08-01T00:00:00Z&to=2024-08-06T00:00:00Z"), &[])
            .await;
    let (n_all, n_severe, n_refuted, n_window) =
        (count(&all.body), count(&severe.body), count(&with_refuted.body), count(&window.body));
    assert!(n_severe < n_all && n_severe > 0, "{n_severe} severe of {n_all}");
    assert!(n_refuted > n_all, "refuted entries are hidden by default: {n_refuted} vs {n_all}");
    assert!(n_window < n_all / 2 && n_window > 0, "five days of 47: {n_window} of {n_all}");
    let tile = decode(&severe.body);
    let layer = &tile.layers[0];
    let sev_key = layer.keys.iter().position(|k| k == "severity").unwrap() as u32;
    for f in &layer.features {
        let value = f.tags.chunks(2).find(|kv| kv[0] == sev_key).expect("every entry has a severity")[1];
        assert!(layer.values[value as usize].uint_value.unwrap() >= 3);
    }
    // Parameter order does not matter: same cache entry, same bytes and ETag.
    let a = get(&state, &format!("/tiles/entries/{PARIS_Z13}?severity=2&tags=health,crowd"), &[]).await;
    let b = get(&state, &format!("/tiles/entries/{PARIS_Z13}?tags=crowd,health&severity=2&v=1"), &[]).await;
    assert_eq!(a.header("etag"), b.header("etag"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tilejson_catalog_health_metrics() {
    let (state, _dir) = demo_state(500).await;

    let tj = get(&state, "/tiles/venues,health?severity=2", &[]).await;
    assert_eq!(tj.status, StatusCode::OK);
    let doc = tj.json();
    assert_eq!(doc["tilejson"], "3.0.0");
    assert_eq!(doc["tiles"][0], "http://vigie.test:8080/tiles/venues,health/{z}/{x}/{y}.mvt?severity=2");
    let ids: Vec<&str> = doc["vector_layers"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["venues", "health"]);
    assert_eq!(doc["vector_layers"][1]["fields"]["severity"], "Number");
    assert_eq!(doc["vector_layers"][1]["fields"]["title"], "String");
    let b = doc["bounds"].as_array().unwrap();
    assert!(b[0].as_f64().unwrap() < -149.0, "Teahupo'o is in the bounds: {b:?}");
    assert_eq!(doc["minzoom"], 0);
    assert!(doc["center"].as_array().unwrap().len() == 3);
    assert!(doc["attribution"].as_str().unwrap().contains("Paris 2024"));
    let same = get(&state, "/tiles/venues,health.json?severity=2", &[]).await;
    assert_eq!(same.json(), doc);

    let cat = get(&state, "/catalog", &[]).await.json();
    let layers = cat["layers"].as_array().unwrap();
    assert_eq!(layers.len(), vigie_layers::Catalog::bundled().layers.len());
    let health = layers.iter().find(|l| l["id"] == "health").unwrap();
    assert_eq!(health["theme"], "health");
    assert_eq!(health["geometry_types"], serde_json::json!(["Point", "LineString", "Polygon"]));
    assert!(health["features"].as_u64().unwrap() > 10);
    assert!(health["fields"].as_array().unwrap().iter().any(|f| f["name"] == "qualification" && f["type"] == "string"));
    let venues = layers.iter().find(|l| l["id"] == "venues").unwrap();
    assert_eq!(venues["features"], 44);
    assert_eq!(venues["visible"], true);
    assert_eq!(layers.iter().find(|l| l["id"] == "perimeters").unwrap()["features"], 132);

    let h = get(&state, "/health", &[]).await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.json()["status"], "ok");

    // One hit and one miss, then the metrics show them with requests by route and status.
    get(&state, "/tiles/venues/0/0/0", &[]).await;
    get(&state, "/tiles/venues/0/0/0", &[]).await;
    get(&state, "/tiles/nope/0/0/0", &[]).await;
    let entry = serde_json::json!({"title": "Sac abandonné", "severity": 2, "tags": ["public_order"], "lon": 2.35, "lat": 48.86});
    let entry = vigie_layers::journal::validate_new(&entry, Some("router"), vigie_tileserver::now_ms()).unwrap().0;
    state.courante.create(entry).await.unwrap();
    let m = String::from_utf8(get(&state, "/metrics", &[]).await.body).unwrap();
    for needle in [
        "vigie_http_requests_total{route=\"/tiles/{layers}/{z}/{x}/{y}\",status=\"200\"} 2",
        "vigie_http_requests_total{route=\"/tiles/{layers}/{z}/{x}/{y}\",status=\"404\"} 1",
        "vigie_tile_cache_hits_total 1",
        "vigie_tile_cache_misses_total 1",
        "vigie_tile_seconds_bucket",
        "vigie_layer_features{layer=\"venues\"} 44",
        "vigie_layer_features{layer=\"perimeters\"} 132",
        "vigie_entry_commit_group_size_count 1",
        "vigie_entry_commit_group_size_bucket{le=\"1.0\"} 1",
        "vigie_http_request_seconds_count{route=\"/tiles/{layers}/{z}/{x}/{y}\"} 3",
        "vigie_change_feed_lag_events{workspace=\"default\"} 0",
        "vigie_event_stream_clients 0",
        "vigie_process_resident_memory_bytes ",
        "vigie_process_open_fds ",
    ] {
        assert!(m.contains(needle), "metrics lack '{needle}':\n{m}");
    }
    // The probes: alive, and ready once built.
    assert_eq!(get(&state, "/livez", &[]).await.status, StatusCode::OK);
    let ready = get(&state, "/readyz", &[]).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.json());
    assert_eq!(ready.json()["workspaces"]["default"]["change_feed_lag"], 0);
}
