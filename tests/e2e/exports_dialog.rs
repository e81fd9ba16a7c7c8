//! Offline packs asked for and downloaded from the hypervision page, in a real browser
//! (`tests/browser/exports.mjs`, Debian's Chromium driven by npm `playwright-core`) against the
//! real binary serving the anonymous demo, with the IGN départements imported (the dialog then
//! offers an area by its code) and a tile limit small enough for a view of Paris from zoom 0 to
//! 18 to be refused.
//!
//! The scenario checks the dialog's defaults (the view's bounds, zooms 12 to 16 at zoom 12, the
//! layers and filters of the composite tile URL, read-only), an export to zoom 13 sent as that
//! request and followed to 100 % with a rate, its pack downloaded through the page (the PMTiles
//! magic, v3, the size the dialog announced) and its style reading that file; the 413's detail
//! shown word for word; an export of `departements:75`; a running export cancelled (or seen
//! done when it ended before the click, which the run prints); the list of the asker's exports
//! against `GET /api/exports`, one removed; English; and that the page asked nothing of another
//! origin, with no failed request but the 413 and no console error.

use crate::browser::browser_tools;
use crate::regions::departements_path;
use crate::support::{Server, TEST_ENTRIES, repo_root, run, vigie_bin};
use std::process::Command;

/// The server's `export_max_tiles`: a view of central Paris at zoom 12 in the scenario's
/// 1280×800 window holds some 700 tiles from zoom 12 to 16 and over 10 000 from 0 to 18.
const EXPORT_MAX_TILES: usize = 5_000;

#[test]
fn exports_are_asked_and_downloaded_from_the_page() {
    let node = browser_tools();
    let departements = departements_path();
    assert!(departements.is_file(), "{} is missing (the IGN départements of ../shared/data)", departements.display());
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = tmp.path().join("vigie.toml");
    std::fs::write(&config, format!("export_max_tiles = {EXPORT_MAX_TILES}\n")).expect("config written");
    let data = tmp.path().join("data");
    let entries = TEST_ENTRIES.to_string();
    let server =
        Server::start(&data, &["--demo", "--demo-entries", &entries, "--config", config.to_str().expect("UTF-8 path")]);
    // Into the running server's data: it picks the dataset up (the scenario waits for it in
    // GET /catalog).
    run(Command::new(vigie_bin())
        .args(["import", "--layer", "departements", "--data-dir"])
        .arg(&data)
        .arg(&departements));
    let out = run(Command::new(node)
        .current_dir(repo_root())
        .arg("tests/browser/exports.mjs")
        .arg(server.url(""))
        .env("VIGIE_TEST_EXPORT_MAX_TILES", EXPORT_MAX_TILES.to_string()));
    println!("{out}");
}
