//! The hypervision page in a real browser: Debian's Chromium driven by Playwright
//! (`tests/browser/run.mjs`, npm `playwright-core`) against the real binary serving the demo.
//! The script checks rendering (queryRenderedFeatures per layer), layer toggling down to the
//! composite tile URL, live entries within 2 s, popups, the entry form, region analysis when
//! the server offers it, and that the page asks nothing of another origin; it prints the time
//! from navigation to first rendered features and saves screenshots in `tests/out/`.

use crate::support::{Server, TEST_ENTRIES, repo_root, require_tool, run};
use std::process::Command;

#[test]
fn hypervision_page_in_chromium() {
    let node = require_tool("node", "apt-get install -y nodejs npm");
    require_tool("chromium", "apt-get install -y chromium");
    let root = repo_root();
    assert!(
        root.join("node_modules/playwright-core/package.json").is_file(),
        "playwright-core is missing from node_modules: run `npm ci` at the repository root (tests/run does)"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let entries = TEST_ENTRIES.to_string();
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", &entries]);
    let out = run(Command::new(node).current_dir(&root).arg("tests/browser/run.mjs").arg(server.url("")));
    println!("{out}");
}
