//! Tile budgets (issue 18): a layer over its budget is thinned into clusters that decoders we
//! did not write read (Python `mapbox-vector-tile`, GDAL's MVT driver) and that count exactly
//! the source features of their cell (tests/python/check_clusters.py, its own maths); raw
//! tiles (`budget=off`) hold every feature, up to a ceiling past which they are refused.

use crate::support::{TEST_ENTRIES, TEST_SEED, demo_config, get, python, repo_root, require_tool, run};
use axum::http::StatusCode;
use geozero::ToJson;
use serde_json::{Value, json};
use std::process::Command;
use vigie_layers::Qualification;
use vigie_layers::tile::{lonlat_to_mercator, tiles_covering};
use vigie_tileserver::store::Seed;

/// The tile at zoom `z` holding a point, and its eight neighbours.
fn around(lon: f64, lat: f64, z: u8) -> Vec<(u8, u32, u32)> {
    let c = lonlat_to_mercator(lon, lat);
    let (x, y, _, _) = tiles_covering(geo::Rect::new(c, c), z, 0);
    (x - 1..=x + 1).flat_map(|tx| (y - 1..=y + 1).map(move |ty| (z, tx, ty))).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn thinned_tiles_are_clusters_that_count_the_source_features() {
    let py = python();
    require_tool("ogrinfo", "apt-get install -y gdal-bin");
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path(), TEST_ENTRIES);
    config.tile_budget.features = 60;
    let state = vigie_tileserver::build_state(config).await.unwrap();
    let seed = Seed::demo(TEST_SEED, TEST_ENTRIES, false);
    let themes: Vec<String> = state.engine.vocabulary().ids().to_vec();

    // The entries layer's source: every entry but the refuted ones, with the catalog themes
    // among its tags.
    let out = tempfile::tempdir().unwrap();
    let features: Vec<Value> = seed
        .entries
        .iter()
        .filter(|e| e.qualification != Qualification::Refuted)
        .map(|e| {
            let geometry: Value = serde_json::from_str(&e.geometry.to_json().unwrap()).unwrap();
            let own: Vec<&String> = e.tags.iter().filter(|t| themes.contains(t)).collect();
            json!({"type": "Feature", "id": e.id, "geometry": geometry,
                   "properties": {"severity": e.severity, "themes": own}})
        })
        .collect();
    std::fs::write(
        out.path().join("source.geojson"),
        json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
    .unwrap();

    let mut tiles = Vec::new();
    for (z, x, y) in [(0, 0, 0), (5, 16, 11)]
        .into_iter()
        .chain(around(2.36, 48.92, 9))
        .chain(around(2.35, 48.86, 11))
        .chain(around(2.29, 48.86, 13))
    {
        let path = format!("/tiles/entries/{z}/{x}/{y}.mvt");
        let thin = get(&state, &path, &[]).await;
        if thin.status == StatusCode::NO_CONTENT {
            continue;
        }
        assert_eq!(thin.status, StatusCode::OK, "{path}");
        let thinned = thin.header("vigie-thinned").map(str::to_owned);
        let raw = get(&state, &format!("{path}?budget=off"), &[]).await;
        assert_eq!(raw.status, StatusCode::OK, "{path}?budget=off");
        assert_eq!(raw.header("vigie-thinned"), None, "{path}?budget=off");
        if raw.body.len() <= thin.body.len() {
            assert_eq!(thinned, None, "{path}: under budget, the same tile");
            continue;
        }
        assert_eq!(thinned.as_deref(), Some("entries"), "{path}: the header names the thinned layer");
        let (file, raw_file) = (format!("{z}-{x}-{y}.mvt"), format!("{z}-{x}-{y}-raw.mvt"));
        std::fs::write(out.path().join(&file), &thin.body).unwrap();
        std::fs::write(out.path().join(&raw_file), &raw.body).unwrap();
        tiles.push(json!({"z": z, "x": x, "y": y, "file": file, "raw": raw_file}));
    }
    assert!(tiles.len() >= 6, "dense tiles to check: {}", tiles.len());
    std::fs::write(
        out.path().join("tiles.json"),
        json!({"layer": "entries", "themes": themes, "tiles": tiles}).to_string(),
    )
    .unwrap();
    let report = run(Command::new(&py).arg(repo_root().join("tests/python/check_clusters.py")).arg(out.path()));
    println!("{report}");

    // Each thinned render is counted per layer.
    let metrics = String::from_utf8(get(&state, "/metrics", &[]).await.body).unwrap();
    let counted = metrics
        .lines()
        .find(|l| l.starts_with("vigie_tile_layers_thinned_total{layer=\"entries\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok());
    assert_eq!(counted, Some(tiles.len() as u64), "{metrics}");

    // TileJSON announces the clusters' properties with the layer's own.
    let tj = get(&state, "/tiles/entries.json", &[]).await.json();
    let fields = &tj["vector_layers"][0]["fields"];
    for f in ["title", "point_count", "max_severity", "n_health"] {
        assert!(fields.get(f).is_some(), "{f} in {fields}");
    }
    // Asked with budget=off, TileJSON hands it on to GIS clients in its tile URL.
    let raw_tj = get(&state, "/tiles/entries.json?budget=off", &[]).await.json();
    assert!(raw_tj["tiles"][0].as_str().unwrap().ends_with("?budget=off"), "{raw_tj}");
    // A bad budget value is named.
    let bad = get(&state, "/tiles/entries/9/259/176?budget=maybe", &[]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["detail"].as_str().unwrap().contains("'budget' = 'maybe'"), "{}", bad.json());
}

/// A raw tile over the ceiling gets 413 naming the layer, the tile, the ceiling and what to
/// ask instead; the same tile with its budget is served.
#[tokio::test(flavor = "multi_thread")]
async fn a_raw_tile_over_the_ceiling_is_refused_with_what_to_ask_instead() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo_config(dir.path(), TEST_ENTRIES);
    config.tile_budget.bytes = 2048;
    config.tile_budget.ceiling = 4096;
    let state = vigie_tileserver::build_state(config).await.unwrap();
    let r = get(&state, "/tiles/entries/5/16/11?budget=off", &[]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let detail = r.json()["detail"].as_str().unwrap().to_owned();
    for part in ["'entries'", "5/16/11", "4096 bytes", "raw_tile_max_bytes", "budget=off"] {
        assert!(detail.contains(part), "{part} in {detail}");
    }
    let thin = get(&state, "/tiles/entries/5/16/11", &[]).await;
    assert_eq!(thin.status, StatusCode::OK);
    assert!(thin.body.len() <= 2048, "{} bytes", thin.body.len());
}
