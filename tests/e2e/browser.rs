//! The hypervision page in a real browser: Debian's Chromium driven by Playwright
//! (`tests/browser/*.mjs`, npm `playwright-core`) against the real binary serving the demo.
//!
//! `run.mjs` (anonymous demo) checks rendering (queryRenderedFeatures per layer), layer
//! toggling down to the composite tile URL, live entries within 2 s, popups, the entry form,
//! region analysis when the server offers it, and that the page asks nothing of another
//! origin; it prints the time from navigation to first rendered features and saves
//! screenshots in `tests/out/`.
//!
//! `clusters.mjs` (anonymous demo, a small tile budget) checks the clusters of thinned tiles:
//! drawn by the cluster layers only (never as entries), their counts adding up, labelled,
//! following their layer's toggle, a click zooming in without a popup, raw entries again at z16,
//! raw tiles (`budget=off`, never asked by the page) bigger than thinned ones.
//!
//! `signin.mjs` (`--require-sign-in`, accounts made with `vigie user add`) checks the sign-in
//! dialog before any data, wrong passwords and throttling, entries authored by the signed-in
//! account with the CSRF token, a revoked session bringing the dialog back, sign-out refusing
//! the old cookie, and a reader offered neither entry creation nor qualification.
//!
//! `sso.mjs` (`--require-sign-in` and `[auth.oidc]` pointing at the test provider
//! `tests/oidc/provider.mjs`, npm `oidc-provider`) checks the SSO button of the dialog, the trip
//! through the provider's login page (PKCE, state, nonce) back to where the sign-in started,
//! signed in as a reader, the map, sign-out, and a second sign-in without the login page.
//!
//! `territory.mjs` (`--require-sign-in`, a reader narrowed to a box by an admin's API token)
//! checks the territory's outline and grey mask (the box as its hole, drawn under the log's
//! layers, seen in the pixels), the map fitted to it unless the link carries a view, the
//! legend, and all of it gone once the admin gives the whole workspace back.
//!
//! `escalation.mjs` (`--require-sign-in`, `pp` a child of `default`, a contributor of `pp` and
//! an editor of `default` in two browsers) checks the entry popup between workspaces: escalating
//! to the parent and the copy there, the copy's banner with qualification and comments but no
//! editing, de-escalating (the copy deleted, both popups following), a refused escalation's
//! reason, sending down to a checked child and recalling it.
//!
//! `reports.mjs` (`--require-sign-in`, two editors in two browsers, an admin's API token for the
//! settings and the checks through the API) checks the situation reports' dialog: the list and
//! its search, a report's sections beside its compiled figures (the API's total), presence
//! shown live, a conflict on one section shown with both texts and resolved without losing
//! either, two sections saved at once, the workflow followed live by the other page up to
//! publication (read-only), the PDF preview and a correction's diff.

use crate::support::{
    OidcProvider, Server, TEST_ENTRIES, free_port, member_token, repo_root, require_tool, run, vigie_bin, vigie_ok,
};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The analyst of the sign-in scenario: name and password (at least 12 characters).
const ANALYST: (&str, &str) = ("alice", "alice-mot-de-passe-analyste");
/// The reader of the sign-in scenario.
const READER: (&str, &str) = ("rita", "rita-mot-de-passe-lectrice");
/// The two editors of the reports scenario, each in their own browser.
const EDITOR_A: (&str, &str) = ("anna", "anna-mot-de-passe-editrice");
const EDITOR_B: (&str, &str) = ("bruno", "bruno-mot-de-passe-editeur");

/// Node, after checking that Chromium and playwright-core are there (failing, never skipping).
pub(crate) fn browser_tools() -> PathBuf {
    let node = require_tool("node", "apt-get install -y nodejs npm");
    require_tool("chromium", "apt-get install -y chromium");
    assert!(
        repo_root().join("node_modules/playwright-core/package.json").is_file(),
        "playwright-core is missing from node_modules: run `npm ci` at the repository root (tests/run does)"
    );
    node
}

/// `vigie user add NAME --role ROLE --password-stdin` on `data_dir`, before the server starts.
fn add_account(data_dir: &Path, (name, password): (&str, &str), role: &str) {
    add_member(data_dir, (name, password), role, "default");
}

fn add_member(data_dir: &Path, (name, password): (&str, &str), role: &str, workspace: &str) {
    let mut child = Command::new(vigie_bin())
        .args(["user", "add", name, "--role", role, "--workspace", workspace, "--password-stdin", "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigie user add starts");
    child.stdin.take().expect("piped stdin").write_all(format!("{password}\n").as_bytes()).expect("password written");
    let out = child.wait_with_output().expect("vigie user add ends");
    assert!(
        out.status.success(),
        "vigie user add {name} --role {role} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a browser scenario against the anonymous loopback demo (`TEST_ENTRIES` entries).
fn demo_scenario(script: &str) {
    demo_scenario_with(script, &[]);
}

/// As [`demo_scenario`], with `extra` arguments to `vigie serve`.
fn demo_scenario_with(script: &str, extra: &[&str]) {
    let node = browser_tools();
    let dir = tempfile::tempdir().expect("temp dir");
    let entries = TEST_ENTRIES.to_string();
    let args: Vec<&str> = ["--demo", "--demo-entries", &entries].into_iter().chain(extra.iter().copied()).collect();
    let server = Server::start(dir.path(), &args);
    let out = run(Command::new(node).current_dir(repo_root()).arg(script).arg(server.url("")));
    println!("{out}");
}

#[test]
fn hypervision_page_in_chromium() {
    demo_scenario("tests/browser/run.mjs");
}

/// Most features of one tile in the clusters scenario: 50 for each of the 8 layers the page
/// shows at first, fewer than a z12 tile over Paris holds of each entry layer (up to 180),
/// more than any z16 tile holds of one (25 at most).
const CLUSTER_TILE_MAX_FEATURES: &str = "400";

/// Clusters of thinned tiles in the web view (`clusters.mjs`), on a server whose tile budget
/// thins the demo at city zooms: clusters drawn on their own layers only and adding up, raw
/// tiles bigger, clusters following their layer's toggle, a click zooming into one with no
/// popup, raw entries back at z16, and wall mode drawing them too.
#[test]
fn clusters_in_chromium() {
    demo_scenario_with("tests/browser/clusters.mjs", &["--tile-max-features", CLUSTER_TILE_MAX_FEATURES]);
}

#[test]
fn sign_in_in_chromium() {
    let node = browser_tools();
    let dir = tempfile::tempdir().expect("temp dir");
    add_account(dir.path(), ANALYST, "analyst");
    add_account(dir.path(), READER, "reader");
    let entries = TEST_ENTRIES.to_string();
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", &entries, "--require-sign-in"]);
    let out = run(Command::new(node)
        .current_dir(repo_root())
        .arg("tests/browser/signin.mjs")
        .arg(server.url(""))
        .env("VIGIE_TEST_ANALYST", format!("{}:{}", ANALYST.0, ANALYST.1))
        .env("VIGIE_TEST_READER", format!("{}:{}", READER.0, READER.1)));
    println!("{out}");
}

/// A reader narrowed to a territory (`territory.mjs`): an admin, through an API token, sets it
/// and then clears it with `PUT /api/members/{name}` while the scenario watches the page.
#[test]
fn territory_in_chromium() {
    let node = browser_tools();
    let dir = tempfile::tempdir().expect("temp dir");
    add_account(dir.path(), READER, "reader");
    let admin = member_token(dir.path(), &[], "nadia", "default", "admin");
    let entries = TEST_ENTRIES.to_string();
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", &entries, "--require-sign-in"]);
    let out = run(Command::new(node)
        .current_dir(repo_root())
        .arg("tests/browser/territory.mjs")
        .arg(server.url(""))
        .env("VIGIE_TEST_READER", format!("{}:{}", READER.0, READER.1))
        .env("VIGIE_TEST_ADMIN_TOKEN", admin));
    println!("{out}");
}

/// The password `member_token` gives its accounts (`support::vigie_cli` feeds it on stdin).
const CLI_PASSWORD: &str = "a long enough password";

/// Escalation in the entry popup (`escalation.mjs`): a contributor of the prefecture `pp`
/// (child of `default`) and an editor of the national room, each signed in in their own
/// browser, with an API token each for the scenario's checks through the API.
#[test]
fn escalation_in_chromium() {
    let node = browser_tools();
    let dir = tempfile::tempdir().expect("temp dir");
    let national = member_token(dir.path(), &[], "cheffe", "default", "editor");
    vigie_ok(&["workspace", "add", "pp", "--parent", "default"], dir.path(), &[]);
    let officer = member_token(dir.path(), &[], "paul", "pp", "contributor");
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", "200", "--require-sign-in"]);
    let out = run(Command::new(node)
        .current_dir(repo_root())
        .arg("tests/browser/escalation.mjs")
        .arg(server.url(""))
        .env("VIGIE_TEST_PP", format!("paul:{CLI_PASSWORD}"))
        .env("VIGIE_TEST_PP_TOKEN", officer)
        .env("VIGIE_TEST_NATIONAL", format!("cheffe:{CLI_PASSWORD}"))
        .env("VIGIE_TEST_NATIONAL_TOKEN", national));
    println!("{out}");
}

/// Situation reports in the web view (`reports.mjs`): two editors signed in side by side on a
/// report the admin makes through the API (with their token, as the report settings), over a
/// day of the demo log.
#[test]
fn reports_in_chromium() {
    let node = browser_tools();
    let dir = tempfile::tempdir().expect("temp dir");
    add_account(dir.path(), EDITOR_A, "editor");
    add_account(dir.path(), EDITOR_B, "editor");
    let admin = member_token(dir.path(), &[], "nadia", "default", "admin");
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", "2000", "--require-sign-in"]);
    let out = run(Command::new(node)
        .current_dir(repo_root())
        .arg("tests/browser/reports.mjs")
        .arg(server.url(""))
        .env("VIGIE_TEST_ADMIN_TOKEN", admin)
        .env("VIGIE_TEST_EDITOR_A", format!("{}:{}", EDITOR_A.0, EDITOR_A.1))
        .env("VIGIE_TEST_EDITOR_B", format!("{}:{}", EDITOR_B.0, EDITOR_B.1)));
    println!("{out}");
}

#[test]
fn sso_sign_in_in_chromium() {
    let node = browser_tools();
    // The provider must know vigie's callback before vigie starts: vigie's port comes first.
    let port = free_port();
    let provider = OidcProvider::start(&format!("http://127.0.0.1:{port}/auth/oidc/callback"));
    let dir = tempfile::tempdir().expect("temp dir");
    let entries = TEST_ENTRIES.to_string();
    let mut args = provider.vigie_args(dir.path());
    args.extend(["--demo", "--demo-entries", &entries, "--require-sign-in"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_on(port, dir.path(), &args, &provider.env(), None);
    let out = run(Command::new(node)
        .current_dir(repo_root())
        .arg("tests/browser/sso.mjs")
        .arg(server.url(""))
        .arg(&provider.issuer));
    println!("{out}");
}

/// The web view of a workspace other than the primary (`/w/pp/`): signed in as one of its
/// members, every request the page makes stays in that workspace.
#[test]
fn a_workspace_web_view_stays_in_its_workspace() {
    let node = browser_tools();
    let dir = tempfile::tempdir().expect("temp dir");
    let out =
        Command::new(vigie_bin()).args(["workspace", "add", "pp", "--data-dir"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    add_member(dir.path(), ANALYST, "analyst", "pp");
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", "500", "--require-sign-in"]);
    let out = run(Command::new(node)
        .current_dir(repo_root())
        .arg("tests/browser/workspace.mjs")
        .arg(server.url(""))
        .env("VIGIE_TEST_ANALYST", format!("{}:{}", ANALYST.0, ANALYST.1)));
    println!("{out}");
}

/// The catalog editor (`catalog.mjs`, the demo identity being admin on loopback): a theme and an
/// entries layer created in the dialog show in the layer panel, the map style and the composite
/// tile URL without a reload; an invalid id, a theme still in use and a stale version are refused
/// with the server's reason in the dialog; changes made elsewhere reach the page through the
/// event stream; deleting both leaves the catalog as it started.
#[test]
fn catalog_editor_in_chromium() {
    demo_scenario("tests/browser/catalog.mjs");
}

/// The "Sources & styles" dialog (`settings.mjs`, the demo identity being admin on loopback):
/// sources refused with every problem shown by source and nothing stored, a source saved and
/// its failed run shown by the dialog's polling, a stale version answered 412 with the text
/// typed kept, styles uploaded (from a file, pasted), refused with the server's detail and
/// deleted, and the map taking the workspace's own "hypervision" style without a reload.
#[test]
fn sources_and_styles_dialog_in_chromium() {
    demo_scenario("tests/browser/settings.mjs");
}

/// Staffing in the web view (`staffing.mjs`, the demo identity being admin on loopback, so a
/// staffing manager): the "Armement" dialog's grid against the gap report, an officer dragged
/// onto a cell and one of another directorate refused with the rule in the dialog, a level
/// change followed live by a second page (badge, totals and the map's staffing layer), and the
/// suggestions proposed then confirmed.
#[test]
fn staffing_in_chromium() {
    let node = browser_tools();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", "2000"]);
    let out = run(Command::new(node).current_dir(repo_root()).arg("tests/browser/staffing.mjs").arg(server.url("")));
    println!("{out}");
}
