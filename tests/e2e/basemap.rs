//! The catalog's basemap in the web view, in a real browser (`tests/browser/basemap.mjs`,
//! Debian's Chromium driven by npm `playwright-core`) against the real binary serving the demo.
//!
//! With a raster PMTiles written by PyPI `pmtiles` (`tests/python/make_pmtiles.py --raster`:
//! every tile of z0..3 a solid rgb(200, 30, 30) PNG) as the catalog's `basemap`, the scenario
//! checks that the basemap has its own source (never in the composite tile URL) and is drawn
//! right above the background, under every operational layer; that the map's pixels away from
//! features are its red; that the layer panel's "Fond de carte" switch hides it (the pixels no
//! longer red) and that the link remembers it across a reload; that greyscale turns the pixels
//! grey; that the attribution control names the archive ("© raster fixture"); that a new style
//! (wall mode) keeps all of it; and that the page asks nothing of another origin.
//!
//! With the basemap's archive missing from the archives folder (as the bundled catalog's `fond`
//! is in most setups), and a visible reference layer's archive too, GET /catalog marks both
//! `unavailable` and their tiles answer 503: the page must load without asking for their tiles
//! or TileJSON, with no failed request and no error, its "Fond de carte" switch disabled and a
//! note giving the reason, the reference layer listed with a disabled checkbox.

use crate::browser::browser_tools;
use crate::support::{Server, TEST_ENTRIES, python, repo_root, run};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes into `dir` the bundled catalog with `basemap = "<basemap>"` as its top-level basemap
/// (in place of any it names) and the `[[layer]]` tables of `layers` appended; its path.
fn catalog_with_basemap(dir: &Path, basemap: &str, layers: &str) -> PathBuf {
    let bundled = std::fs::read_to_string(repo_root().join("data/catalog.toml")).expect("data/catalog.toml");
    let key = format!("basemap = \"{basemap}\"\n");
    let mut text = String::new();
    let mut inserted = false;
    // Top-level keys come before the first table, or TOML reads them as keys of that table
    // (the header comment describing `[[theme]]` starts with `#`, not `[[`).
    let mut in_tables = false;
    for line in bundled.lines() {
        in_tables |= line.starts_with("[[");
        if !in_tables && line.starts_with("basemap = ") {
            continue;
        }
        text.push_str(line);
        text.push('\n');
        if !inserted && !in_tables && line.starts_with("attribution = ") {
            text.push_str(&key);
            inserted = true;
        }
    }
    assert!(inserted, "data/catalog.toml has no top-level `attribution = …` line before its first table");
    text.push_str(layers);
    let catalog = dir.join("catalog.toml");
    std::fs::write(&catalog, text).expect("catalog written");
    catalog
}

/// Serves the demo on `catalog` with `archives` as the archives folder, and runs
/// `tests/browser/basemap.mjs` against it with `args`; its output.
fn run_scenario(dir: &Path, catalog: &Path, archives: &Path, args: &[&str]) -> String {
    let node = browser_tools();
    let config = dir.join("vigie.toml");
    std::fs::write(&config, format!("[archives]\ndir = \"{}\"\n", archives.display())).expect("config written");
    let data = dir.join("data");
    let entries = TEST_ENTRIES.to_string();
    let server = Server::start(
        &data,
        &[
            "--demo",
            "--demo-entries",
            &entries,
            "--catalog",
            catalog.to_str().expect("UTF-8 path"),
            "--config",
            config.to_str().expect("UTF-8 path"),
        ],
    );
    run(Command::new(node).current_dir(repo_root()).arg("tests/browser/basemap.mjs").arg(server.url("")).args(args))
}

#[test]
fn the_basemap_is_drawn_under_the_layers() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let archives = tmp.path().join("archives");
    std::fs::create_dir_all(&archives).expect("archives folder");
    run(Command::new(python())
        .arg(repo_root().join("tests/python/make_pmtiles.py"))
        .arg(archives.join("base.pmtiles"))
        .arg("--raster"));
    let catalog = catalog_with_basemap(
        tmp.path(),
        "base",
        "\n[[layer]]\nid = \"base\"\ntitle = \"Fond\"\ntitle_en = \"Base\"\ntheme = \"reference\"\nkind = \"pmtiles\"\n\
         archive = \"base.pmtiles\"\nmaxzoom = 3\n",
    );
    println!("{}", run_scenario(tmp.path(), &catalog, &archives, &[]));
}

#[test]
fn a_missing_basemap_is_said_not_asked() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // The folder is there, the archives the catalog names are not.
    let archives = tmp.path().join("archives");
    std::fs::create_dir_all(&archives).expect("archives folder");
    let catalog = catalog_with_basemap(
        tmp.path(),
        "absent",
        "\n[[layer]]\nid = \"absent\"\ntitle = \"Fond absent\"\ntitle_en = \"Missing basemap\"\ntheme = \"reference\"\n\
         kind = \"pmtiles\"\narchive = \"absent.pmtiles\"\n\
         \n[[layer]]\nid = \"absent_ref\"\ntitle = \"Référence absente\"\ntitle_en = \"Missing reference\"\n\
         theme = \"reference\"\nkind = \"mbtiles\"\narchive = \"absent-ref.mbtiles\"\nvisible = true\n",
    );
    println!("{}", run_scenario(tmp.path(), &catalog, &archives, &["--missing"]));
}
