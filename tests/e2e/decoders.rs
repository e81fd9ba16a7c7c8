//! Tiles decoded by decoders we did not write: Python `mapbox-vector-tile` + shapely and GDAL's
//! MVT driver (tests/python/check_tiles.py), checked against the source data with independent
//! projection maths.

use crate::support::{TEST_ENTRIES, TEST_SEED, demo_state, get, python, repo_root, require_tool, run};
use axum::http::StatusCode;
use geozero::ToJson;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use vigie_layers::Qualification;
use vigie_layers::model::{Entry, Perimeter, Venue};
use vigie_layers::tile::{lonlat_to_mercator, tiles_covering};
use vigie_tileserver::store::Seed;

fn feature(id: u64, g: &geo::Geometry<f64>) -> Value {
    let geometry: Value = serde_json::from_str(&g.to_json().expect("geojson")).expect("json");
    json!({"type": "Feature", "id": id, "geometry": geometry, "properties": {}})
}

fn write_layer(dir: &Path, name: &str, features: &[Value]) {
    let minzoom = vigie_layers::Catalog::bundled().layer(name).expect("catalog layer").minzoom;
    let fc = json!({"type": "FeatureCollection", "minzoom": minzoom, "features": features});
    std::fs::write(dir.join(format!("{name}.geojson")), fc.to_string()).unwrap();
}

/// What each tested layer must hold, selected here from the seed without the engine's code:
/// entries are hidden when refuted; theme layers keep entries tagged with the theme.
fn write_sources(dir: &Path, venues: &[Venue], perimeters: &[Perimeter], entries: &[Entry]) {
    std::fs::create_dir_all(dir).unwrap();
    let venue_point = |v: &Venue| geo::Geometry::Point(geo::Point::new(v.lon, v.lat));
    write_layer(
        dir,
        "venues",
        &venues
            .iter()
            .map(|v| feature(vigie_layers::model::venue_feature_id(&v.code), &venue_point(v)))
            .collect::<Vec<_>>(),
    );
    write_layer(dir, "perimeters", &perimeters.iter().map(|p| feature(p.id, &p.geometry)).collect::<Vec<_>>());
    let visible = |e: &&Entry| e.qualification != Qualification::Refuted;
    write_layer(
        dir,
        "entries",
        &entries.iter().filter(visible).map(|e| feature(e.id, &e.geometry)).collect::<Vec<_>>(),
    );
    for (layer, tag) in [("health", "health"), ("crowd", "crowd"), ("transport", "transport")] {
        let tagged = entries.iter().filter(visible).filter(|e| e.tags.iter().any(|t| t == tag));
        write_layer(dir, layer, &tagged.map(|e| feature(e.id, &e.geometry)).collect::<Vec<_>>());
    }
}

/// Tiles around a point: the block of `radius` tiles on each side at zoom `z`.
fn block(lon: f64, lat: f64, z: u8, radius: u32) -> Vec<(u8, u32, u32)> {
    let c = lonlat_to_mercator(lon, lat);
    let (x, y, _, _) = tiles_covering(geo::Rect::new(c, c), z, 0);
    let mut out = Vec::new();
    for tx in x.saturating_sub(radius)..=x + radius {
        for ty in y.saturating_sub(radius)..=y + radius {
            out.push((z, tx, ty));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn python_and_gdal_decoders_agree_with_the_source_data() {
    let py = python();
    require_tool("ogrinfo", "apt-get install -y gdal-bin");
    let (state, _store_dir) = demo_state(TEST_ENTRIES).await;
    let seed = Seed::demo(TEST_SEED, TEST_ENTRIES, false);
    let venue = |code: &str| seed.venues.iter().find(|v| v.code == code).expect("venue").clone();
    let (sta, tro, eif) = (venue("STA"), venue("TRO"), venue("EIF"));

    let out = tempfile::tempdir().unwrap();
    write_sources(&out.path().join("layers"), &seed.venues, &seed.perimeters, &seed.entries);

    let mut requests: Vec<((u8, u32, u32), &str)> = vec![
        ((0, 0, 0), "venues,perimeters,entries"),
        ((8, 129, 88), "venues,perimeters,entries,health"),
        ((12, 2074, 1409), "venues,perimeters,entries,crowd,transport"),
    ];
    // z16 at the Eiffel Tower; z14 blocks at the Stade de France (perimeters crossing seams)
    // and at Trocadéro (road-race lines crossing tile edges); z13 over the whole of Paris.
    let z16 = block(eif.lon, eif.lat, 16, 0);
    let sta14 = block(sta.lon, sta.lat, 14, 1);
    let tro14 = block(tro.lon, tro.lat, 14, 1);
    let paris13 = block(2.35, 48.86, 13, 1);
    for coords in [&z16, &sta14, &tro14, &paris13] {
        for c in coords {
            requests.push((*c, "venues,perimeters,entries,crowd"));
        }
    }

    let mut manifest = Vec::new();
    let mut non_empty = 0;
    for ((z, x, y), layers) in &requests {
        // Every feature (budget=off): the clusters of thinned tiles are checked in budgets.rs.
        let a = get(&state, &format!("/tiles/{layers}/{z}/{x}/{y}.mvt?budget=off"), &[]).await;
        assert!(matches!(a.status, StatusCode::OK | StatusCode::NO_CONTENT), "{z}/{x}/{y}: {}", a.status);
        if a.status == StatusCode::OK {
            let dir = out.path().join(format!("tiles/{z}/{x}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{y}.mvt")), &a.body).unwrap();
            non_empty += 1;
        }
        let layers: Vec<&str> = layers.split(',').collect();
        manifest.push(json!({"z": z, "x": x, "y": y, "layers": layers}));
    }
    assert!(non_empty > 20, "most test tiles hold features");
    std::fs::write(out.path().join("tiles.json"), Value::from(manifest).to_string()).unwrap();

    let report = run(Command::new(&py).arg(repo_root().join("tests/python/check_tiles.py")).arg(out.path()));
    let summary: Value = serde_json::from_str(report.lines().next().unwrap_or("{}")).expect("summary line");
    assert!(summary["points"].as_u64().unwrap() > 1000, "{summary}");
    assert!(summary["lines"].as_u64().unwrap() > 5, "{summary}");
    assert!(summary["polygons"].as_u64().unwrap() > 50, "{summary}");
    assert!(summary["seams"].as_u64().unwrap() > 5, "{summary}");
}
