//! Several workspaces in one process (the national centre, a prefecture…): each has its own
//! log and members, is served under `/w/{id}`, and sees nothing of the others; a workspace
//! created while the server runs is served within seconds.

use crate::support::{Server, agent, member_token as token, vigie_ok as vigie};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
    let mut r = r.unwrap();
    let code = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (code, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn get(server: &Server, path: &str, auth: &str) -> (u16, Value) {
    answer(agent().get(&server.url(path)).header("authorization", auth).call())
}

fn post(server: &Server, path: &str, auth: &str, body: &Value) -> (u16, Value) {
    answer(
        agent()
            .post(&server.url(path))
            .header("authorization", auth)
            .header("content-type", "application/json")
            .send(body.to_string()),
    )
}

fn titles(v: &Value) -> Vec<String> {
    v["entries"].as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn workspaces_are_isolated_and_new_ones_are_served_without_restart_sqlite() {
    scenario(&[]);
}

#[test]
fn workspaces_are_isolated_and_new_ones_are_served_without_restart_postgis() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(crate::support::PostgisDb::create());
    scenario(&[("DATABASE_URL", db.url.as_str())]);
    rt.block_on(db.drop_db());
}

fn scenario(env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let national = token(d, env, "cheffe", "default", "analyst");
    let typo = Command::new(crate::support::vigie_bin())
        .args(["user", "add", "x", "--workspace", "typo", "--data-dir"])
        .arg(d)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(!typo.status.success());
    assert!(String::from_utf8_lossy(&typo.stderr).contains("no workspace 'typo'"));
    assert_eq!(vigie(&["workspace", "list"], d, env), "default", "a typo never creates a workspace");
    vigie(&["workspace", "add", "pp"], d, env);
    let prefecture = token(d, env, "paul", "pp", "contributor");
    let server = Server::start_with_env(d, &["--demo", "--demo-entries", "300", "--require-sign-in"], env);

    // Each member sees their workspace, and the other answers 404 without naming itself.
    assert_eq!(get(&server, "/catalog", &national).0, 200);
    assert_eq!(get(&server, "/w/default/catalog", &national).0, 200);
    assert_eq!(get(&server, "/w/pp/catalog", &prefecture).0, 200);
    let (code, body) = get(&server, "/w/pp/catalog", &national);
    assert_eq!(code, 404, "{body}");
    assert_eq!(get(&server, "/catalog", &prefecture).0, 404);
    let (code, body) = get(&server, "/w/nowhere/catalog", &national);
    assert_eq!(code, 404);
    assert!(!body.to_string().contains("nowhere"));

    // The prefecture's log is its own.
    let entry = json!({"title": "Manifestation non déclarée", "severity": 2, "tags": ["public_order"], "lon": 2.3125, "lat": 48.8637});
    let (code, created) = post(&server, "/w/pp/api/entries", &prefecture, &entry);
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["author"], "token:t");
    assert_eq!(created["url"], format!("/w/pp/api/entries/{}", created["id"]), "links stay in the workspace");
    let (_, tilejson) = get(&server, "/w/pp/tiles/entries", &prefecture);
    let tiles = tilejson["tiles"][0].as_str().unwrap();
    assert!(tiles.contains("/w/pp/tiles/entries/{z}/{x}/{y}"), "{tiles}");
    let (_, primary_tilejson) = get(&server, "/tiles/entries", &national);
    assert!(!primary_tilejson["tiles"][0].as_str().unwrap().contains("/w/"), "the primary's links are at the root");
    let (_, pp_list) = get(&server, "/w/pp/api/entries?limit=500", &prefecture);
    assert_eq!(titles(&pp_list), ["Manifestation non déclarée"], "only its own entry");
    let (_, national_list) = get(&server, "/api/entries?q=Manifestation%20non&limit=500", &national);
    assert!(!titles(&national_list).iter().any(|t| t == "Manifestation non déclarée"), "not in the national log");
    let (_, pp_catalog) = get(&server, "/w/pp/catalog", &prefecture);
    let count = |c: &Value, id: &str| {
        c["layers"].as_array().unwrap().iter().find(|l| l["id"] == id).unwrap()["features"].clone()
    };
    assert_eq!(count(&pp_catalog, "venues"), 0, "no demo venues in a new workspace");
    assert_eq!(count(&pp_catalog, "entries"), 1);
    let (_, national_catalog) = get(&server, "/catalog", &national);
    assert_eq!(count(&national_catalog, "venues"), 44);

    // A workspace created while the server runs is served within seconds.
    vigie(&["workspace", "add", "bdr"], d, env);
    let bdr = token(d, env, "bea", "bdr", "reader");
    let t0 = Instant::now();
    loop {
        let (code, _) = get(&server, "/w/bdr/catalog", &bdr);
        if code == 200 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "bdr not served after 10 s: {code}");
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("new workspace served after {:?}", t0.elapsed());
    assert_eq!(get(&server, "/w/pp/catalog", &bdr).0, 404);
}
