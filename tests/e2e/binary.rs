//! The real binary: `vigie serve --demo` on a fresh directory, over a socket, read by GDAL's
//! MVT driver through TileJSON like a GIS client would.

use crate::support::{Server, require_tool, run};
use std::collections::BTreeSet;
use std::process::Command;

fn json(url: &str) -> serde_json::Value {
    let body = ureq::get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}")).into_body().read_to_string().unwrap();
    serde_json::from_str(&body).unwrap()
}

#[test]
fn serve_demo_read_by_gdal_and_restart_keeps_the_store() {
    let ogrinfo = require_tool("ogrinfo", "apt-get install -y gdal-bin");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", "2000"]);

    let health = json(&server.url("/health"));
    assert_eq!(health["status"], "ok");
    assert_eq!(health["store"]["backend"], "sqlite");
    assert!(dir.path().join("vigie.db").is_file(), "the embedded store lives in --data-dir");

    let tilejson = json(&server.url("/tiles/venues"));
    let tiles = tilejson["tiles"][0].as_str().unwrap();
    assert_eq!(tiles, server.url("/tiles/venues/{z}/{x}/{y}.mvt"), "absolute URL from the Host header");

    // GDAL finds the TileJSON next to the zoom-level URL, walks the tiles of z6 within its
    // bounds and decodes them: every venue, Teahupo'o included, comes out.
    let out = run(Command::new(&ogrinfo)
        .args(["-ro", "-al", "-oo", "TILE_EXTENSION=mvt"])
        .arg(format!("MVT:{}", server.url("/tiles/venues/6"))));
    let codes: BTreeSet<&str> = out.lines().filter_map(|l| l.trim().strip_prefix("code (String) = ")).collect();
    assert_eq!(codes.len(), 44, "venues read by GDAL: {codes:?}");
    assert!(codes.contains("TAH"));

    let catalog = json(&server.url("/catalog"));
    let count = |c: &serde_json::Value, id: &str| {
        c["layers"].as_array().unwrap().iter().find(|l| l["id"] == id).unwrap()["features"].as_u64().unwrap()
    };
    assert_eq!(count(&catalog, "entries"), 2000);
    drop(server);

    // A second start on the same directory reads the store; --demo does not seed again.
    let again = Server::start(dir.path(), &["--demo", "--demo-entries", "2000"]);
    let catalog = json(&again.url("/catalog"));
    assert_eq!(count(&catalog, "entries"), 2000);
    assert_eq!(count(&catalog, "venues"), 44);
    again.kill();
}

#[test]
fn bad_configuration_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigie.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\ncache_sise_mb = 3\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigie")).args(["serve", "--config"]).arg(&config).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cache_sise_mb") && err.contains("vigie.toml"), "{err}");
}
