//! The catalog's basemap in the web view, in a real browser (`tests/browser/basemap.mjs`,
//! Debian's Chromium driven by npm `playwright-core`) against the real binary serving the demo
//! with a raster PMTiles written by PyPI `pmtiles` (`tests/python/make_pmtiles.py --raster`:
//! every tile of z0..3 a solid rgb(200, 30, 30) PNG) as the catalog's `basemap`.
//!
//! The scenario checks that the basemap has its own source (never in the composite tile URL)
//! and is drawn right above the background, under every operational layer; that the map's
//! pixels away from features are its red; that the layer panel's "Fond de carte" switch hides
//! it (the pixels no longer red) and that the link remembers it across a reload; that
//! greyscale turns the pixels grey; that the attribution control names the archive
//! ("© raster fixture"); that a new style (wall mode) keeps all of it; and that the page asks
//! nothing of another origin.

use crate::support::{Server, TEST_ENTRIES, python, repo_root, require_tool, run};
use std::process::Command;

#[test]
fn the_basemap_is_drawn_under_the_layers() {
    // Failing, never skipping, when a tool is missing.
    let node = require_tool("node", "apt-get install -y nodejs npm");
    require_tool("chromium", "apt-get install -y chromium");
    assert!(
        repo_root().join("node_modules/playwright-core/package.json").is_file(),
        "playwright-core is missing from node_modules: run `npm ci` at the repository root (tests/run does)"
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let archives = tmp.path().join("archives");
    std::fs::create_dir_all(&archives).expect("archives folder");
    run(Command::new(python())
        .arg(repo_root().join("tests/python/make_pmtiles.py"))
        .arg(archives.join("base.pmtiles"))
        .arg("--raster"));

    // The bundled catalog with `basemap` as a top-level key (before the first table, or TOML
    // would read it as a key of that table) and the archive layer it names appended.
    let bundled = std::fs::read_to_string(repo_root().join("data/catalog.toml")).expect("data/catalog.toml");
    let mut text = String::new();
    let mut inserted = false;
    for line in bundled.lines() {
        text.push_str(line);
        text.push('\n');
        if !inserted && line.starts_with("attribution = ") {
            text.push_str("basemap = \"base\"\n");
            inserted = true;
        }
    }
    // The first table itself, not the header comment that describes `[[theme]]`.
    let (key, table) =
        (text.find("\nbasemap = \"base\"\n").unwrap_or(usize::MAX), text.find("\n[[theme]]\n").unwrap_or(0));
    assert!(
        inserted && key < table,
        "data/catalog.toml has no top-level `attribution = …` line before its first [[theme]]"
    );
    text.push_str(
        "\n[[layer]]\nid = \"base\"\ntitle = \"Fond\"\ntitle_en = \"Base\"\ntheme = \"reference\"\nkind = \"pmtiles\"\n\
         archive = \"base.pmtiles\"\nmaxzoom = 3\n",
    );
    let catalog = tmp.path().join("catalog.toml");
    std::fs::write(&catalog, text).expect("catalog written");
    let config = tmp.path().join("vigie.toml");
    std::fs::write(&config, format!("[archives]\ndir = \"{}\"\n", archives.display())).expect("config written");

    let data = tmp.path().join("data");
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
    let out = run(Command::new(node).current_dir(repo_root()).arg("tests/browser/basemap.mjs").arg(server.url("")));
    println!("{out}");
}
