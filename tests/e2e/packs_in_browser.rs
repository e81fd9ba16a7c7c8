//! An offline pack opened where vigie is not: `vigie export` writes `pack.pmtiles` and its
//! `pack.style.json`, the server is stopped, and MapLibre GL JS in Debian's Chromium (driven by
//! npm `playwright-core`) draws the pack from a static page served by a plain file server,
//! reading the archive with npm `pmtiles`, Protomaps' own reader (`tests/browser/pack.mjs`).
//!
//! The venue the page must draw is chosen here from the pack as PyPI `pmtiles` and
//! `mapbox-vector-tile` read it (`tests/python/read_pmtiles.py`): neither reader is vigie's.

use crate::browser::browser_tools;
use crate::support::{Server, python, repo_root, run, vigie_cli};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The layers of the pack: the example.
const LAYERS: &str = "perimeters,venues,entries";
/// Central Paris, `west,south,east,north`.
const BBOX: &str = "2.22,48.81,2.47,48.91";
const MINZOOM: &str = "10";
/// The page opens the pack at this zoom (`pack.mjs` ZOOM), where the venues' circles are largest.
const MAXZOOM: u64 = 13;

/// A venue of the pack: its point and feature id.
struct Venue {
    lon: f64,
    lat: f64,
    id: u64,
}

/// The venue of the pack's `MAXZOOM` tiles farthest from any other venue, so that the pixels
/// around it are its circle alone.
fn isolated_venue(pack: &Path) -> Venue {
    let read = |extra: &[&str]| -> Value {
        let out =
            run(Command::new(python()).arg(repo_root().join("tests/python/read_pmtiles.py")).arg(pack).args(extra));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("read_pmtiles.py {extra:?}: {e}\n{out}"))
    };
    let listing = read(&[]);
    let mut venues: Vec<Venue> = Vec::new();
    for t in listing["tiles"].as_array().expect("the pack's tiles") {
        if t["z"] != MAXZOOM || t["layers"]["venues"].as_u64().unwrap_or(0) == 0 {
            continue;
        }
        let tile = read(&["--tile", &format!("{}/{}/{}", t["z"], t["x"], t["y"])]);
        for f in tile["layers"]["venues"]["features"].as_array().expect("venue features") {
            let (Some(id), Some([lon, lat])) =
                (f["id"].as_u64(), f["geometry"]["coordinates"].as_array().map(Vec::as_slice))
            else {
                continue; // not a point with an id (a cluster has neither)
            };
            if f["properties"].get("point_count").is_none() && !venues.iter().any(|v| v.id == id) {
                venues.push(Venue { lon: lon.as_f64().unwrap(), lat: lat.as_f64().unwrap(), id });
            }
        }
    }
    assert!(venues.len() >= 2, "the pack's z{MAXZOOM} tiles hold {} venue point(s), the demo has dozens", venues.len());
    // Distances on the ground at Paris' latitude are enough to rank neighbours.
    let apart = |a: &Venue, b: &Venue| ((a.lon - b.lon) * a.lat.to_radians().cos()).hypot(a.lat - b.lat);
    let nearest = |v: &Venue| venues.iter().filter(|o| o.id != v.id).map(|o| apart(v, o)).fold(f64::INFINITY, f64::min);
    let best = venues.iter().max_by(|a, b| nearest(a).total_cmp(&nearest(b))).expect("venues");
    Venue { lon: best.lon, lat: best.lat, id: best.id }
}

#[test]
fn a_pack_opens_in_maplibre_with_no_server() {
    let node = browser_tools();
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let folder = tmp.path().join("pack");
    std::fs::create_dir_all(&folder).expect("pack folder");
    let pack = folder.join("pack.pmtiles");

    let server = Server::start(&data, &["--demo"]);
    let out = pack.to_str().expect("UTF-8 path");
    let (ok, _, both) = vigie_cli(
        &["export", out, "--layers", LAYERS, "--bbox", BBOX, "--minzoom", MINZOOM, "--maxzoom", &MAXZOOM.to_string()],
        &data,
        &[],
    );
    assert!(ok, "vigie export: {both}");
    assert!(folder.join("pack.style.json").is_file(), "vigie export wrote no pack.style.json beside the pack: {both}");
    // Killed and waited for: nothing of vigie answers while the browser reads the pack.
    server.kill();

    let venue = isolated_venue(&pack);
    let out = run(Command::new(node)
        .current_dir(repo_root())
        .arg("tests/browser/pack.mjs")
        .arg(&folder)
        .args([venue.lon.to_string(), venue.lat.to_string(), venue.id.to_string()])
        .env("VIGIE_TEST_PYTHON", python()));
    println!("{out}");
}
