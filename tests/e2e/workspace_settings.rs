//! A workspace's own sources and styles, edited by its admins while the server runs: stored
//! per workspace, checked before anything is stored (422 naming each problem), run or served at
//! once, kept across a restart, and bounded by what the operator allows (files under the
//! workspace's folder, no link out of it, no private address).

use crate::support::{
    PostgisDb, Server, agent, member_token as token, repo_root, run, vigie_cli as vigie, vigie_ok as ok,
};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

/// Status, body (JSON, else text) and ETag.
fn call(
    server: &Server,
    method: &str,
    path: &str,
    auth: &str,
    body: Option<(&str, String)>,
    if_match: Option<&str>,
) -> (u16, Value, String) {
    let mut req = ureq::http::Request::builder().method(method).uri(server.url(path)).header("authorization", auth);
    if let Some(v) = if_match {
        req = req.header("if-match", v);
    }
    let resp = match body {
        Some((media, b)) => agent().run(req.header("content-type", media).body(b).unwrap()),
        None => agent().run(req.body(()).unwrap()),
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let code = resp.status().as_u16();
    let etag = resp.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (code, serde_json::from_str(&text).unwrap_or(Value::String(text)), etag)
}

fn source_entry(id: &str, layer: &str, location: &str) -> String {
    format!(
        "\n[[source]]\nid = \"{id}\"\ntitle = \"Source {id}\"\nowner = \"Préfecture\"\nlicence = \"Licence Ouverte 2.0\"\nlayer = \"{layer}\"\nrefresh_s = 0\n{location}\n"
    )
}

fn within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !check() {
        assert!(t0.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    t0.elapsed()
}

fn status<'a>(all: &'a Value, id: &str) -> &'a Value {
    all["sources"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("no source {id}: {all}"))
}

fn features(catalog: &Value, layer: &str) -> u64 {
    catalog["layers"].as_array().unwrap().iter().find(|l| l["id"] == layer).unwrap()["features"].as_u64().unwrap()
}

#[test]
fn a_workspace_runs_its_own_sources_and_serves_its_own_styles_sqlite() {
    scenario(&[]);
}

#[test]
fn a_workspace_runs_its_own_sources_and_serves_its_own_styles_postgis() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(PostgisDb::create());
    scenario(&[("DATABASE_URL", db.url.as_str())]);
    rt.block_on(db.drop_db());
}

#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn scenario(env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let files = d.join("files");
    let config = d.join("vigie.toml");
    std::fs::write(&config, format!("[workspace_sources]\ndir = {:?}\n", files.display().to_string())).unwrap();
    let cfg = config.to_str().unwrap();

    ok(&["workspace", "add", "pp"], d, env);
    let admin = token(d, env, "ana", "pp", "admin");
    let reader = token(d, env, "rita", "pp", "reader");
    let national = token(d, env, "nadia", "default", "admin");
    // The prefecture's folder: the départements, and a link to a file outside the folder.
    let departements = repo_root().join("../shared/data/france/departements.geojson");
    std::fs::create_dir_all(files.join("pp")).unwrap();
    std::fs::copy(&departements, files.join("pp/dep.geojson")).unwrap();
    std::fs::copy(&departements, d.join("secret.geojson")).unwrap();
    std::os::unix::fs::symlink(d.join("secret.geojson"), files.join("pp/escape.geojson")).unwrap();

    let args = ["-c", cfg, "--demo", "--demo-entries", "50", "--require-sign-in"];
    let server = Server::start_with_env(d, &args, env);

    // Sources --------------------------------------------------------------------------------
    let (code, text, etag) = call(&server, "GET", "/w/pp/api/sources/config", &admin, None, None);
    assert_eq!((code, text, etag.as_str()), (200, Value::String(String::new()), "\"0\""), "nothing stored yet");
    assert_eq!(call(&server, "GET", "/w/pp/api/sources/config", &reader, None, None).0, 403, "admins only");
    assert_eq!(call(&server, "GET", "/w/pp/api/sources/config", &national, None, None).0, 404, "not a member");

    // Everything wrong is named, and nothing is stored.
    let bad = [
        source_entry("up", "departements", "path = \"../default/x.geojson\""),
        source_entry("abs", "departements", "path = \"/etc/passwd\"\nformat = \"csv\""),
        source_entry("internal", "departements", "url = \"http://127.0.0.1:9/x.geojson\""),
        source_entry("meta", "departements", "url = \"http://[fe80::1]/x.geojson\""),
        source_entry("typo", "nowhere", "path = \"dep.geojson\""),
    ]
    .concat();
    let toml = |s: &str| Some(("application/toml", s.to_owned()));
    let (code, problem, _) = call(&server, "PUT", "/w/pp/api/sources/config", &admin, toml(&bad), None);
    assert_eq!(code, 422, "{problem}");
    let reasons = |id: &str| -> String {
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["field"] == format!("source[{id}]"))
            .map(|e| e["reason"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    assert!(reasons("up").contains("stay in it"), "{problem}");
    assert!(reasons("abs").contains("no leading '/'"), "{problem}");
    assert!(reasons("internal").contains("not a public address"), "{problem}");
    assert!(reasons("meta").contains("not a public address"), "{problem}");
    assert!(reasons("typo").contains("layer 'nowhere' is not in the catalog"), "{problem}");
    assert!(!problem.to_string().contains(&files.display().to_string()), "no server path in the answer: {problem}");
    let (code, problem, _) = call(&server, "PUT", "/w/pp/api/sources/config", &admin, toml("[[source]\nid ="), None);
    assert_eq!(code, 422);
    assert!(problem["detail"].as_str().unwrap().contains("line 1"), "{problem}");
    assert_eq!(
        call(&server, "PUT", "/w/pp/api/sources/config", &admin, Some(("application/json", "{}".into())), None).0,
        415
    );
    assert_eq!(call(&server, "PUT", "/w/pp/api/sources/config", &reader, toml(""), None).0, 403);
    assert_eq!(call(&server, "GET", "/w/pp/api/sources/config", &admin, None, None).2, "\"0\"", "still nothing stored");

    // Two more dataset layers (one source per dataset), added at run time.
    for id in ["secret", "feed"] {
        let layer = json!({"title": id, "title_en": id, "theme": "reference", "kind": "dataset", "dataset": id});
        let body = Some(("application/json", layer.to_string()));
        let (code, body, _) = call(&server, "PUT", &format!("/w/pp/api/catalog/layers/{id}"), &admin, body, None);
        assert_eq!(code, 201, "{body}");
    }
    let good = [
        source_entry("dep", "departements", "path = \"dep.geojson\"\n[source.mapping]\ntitle = \"nom\""),
        source_entry("link", "secret", "path = \"escape.geojson\""),
        // A name that resolves to a loopback address is refused when fetched (no rebinding).
        source_entry("named", "feed", "url = \"http://localhost:9/x.geojson\""),
    ];
    let (code, body, etag) =
        call(&server, "PUT", "/w/pp/api/sources/config", &admin, toml(&good.concat()), Some("\"0\""));
    assert_eq!((code, etag.as_str()), (200, "\"1\""), "{body}");
    assert_eq!(body["version"], 1);
    let took = within(Duration::from_secs(30), "the three runs", || {
        let (_, s, _) = call(&server, "GET", "/w/pp/api/sources", &reader, None, None);
        ["dep", "link", "named"].iter().all(|id| status(&s, id)["runs"].as_u64().unwrap_or(0) >= 1)
    });
    println!("stored sources ran {took:?} after the PUT");
    let (_, s, _) = call(&server, "GET", "/w/pp/api/sources", &reader, None, None);
    assert_eq!(status(&s, "dep")["origin"], "workspace");
    assert_eq!(status(&s, "dep")["location"], "dep.geojson", "shown as written, not the server path");
    assert_eq!(status(&s, "dep")["last_run"]["outcome"], "imported", "{s}");
    assert_eq!(status(&s, "link")["last_run"]["outcome"], "failed", "{s}");
    assert!(status(&s, "link")["last_run"]["error"].as_str().unwrap().contains("leads outside"), "{s}");
    assert_eq!(status(&s, "named")["last_run"]["outcome"], "failed", "{s}");
    assert!(status(&s, "named")["last_run"]["error"].as_str().unwrap().contains("no public address"), "{s}");
    let (_, pp_catalog, _) = call(&server, "GET", "/w/pp/catalog", &reader, None, None);
    assert_eq!(features(&pp_catalog, "departements"), 96, "the prefecture's dataset");
    assert_eq!(features(&pp_catalog, "secret"), 0, "nothing read through the link");
    let (_, national_catalog, _) = call(&server, "GET", "/catalog", &national, None, None);
    assert_eq!(features(&national_catalog, "departements"), 0, "the national centre's own dataset is untouched");
    let (_, national_sources, _) = call(&server, "GET", "/api/sources", &national, None, None);
    assert_eq!(national_sources["sources"].as_array().unwrap().len(), 0, "{national_sources}");

    // A stale If-Match, then the CLI: export, and import picked up by the running server.
    let (code, _, _) = call(&server, "PUT", "/w/pp/api/sources/config", &admin, toml(""), Some("\"0\""));
    assert_eq!(code, 412);
    let exported = ok(&["sources", "export", "-c", cfg, "--workspace", "pp"], d, env);
    assert_eq!(exported.trim(), good.concat().trim());
    let next = d.join("next.toml");
    std::fs::write(&next, &good[0]).unwrap();
    let (success, _, text) =
        vigie(&["sources", "import", next.to_str().unwrap(), "-c", cfg, "--workspace", "pp"], d, env);
    assert!(success && text.contains("version 2"), "{text}");
    std::fs::write(&next, source_entry("up", "departements", "path = \"../x.geojson\"")).unwrap();
    let (success, _, text) =
        vigie(&["sources", "import", next.to_str().unwrap(), "-c", cfg, "--workspace", "pp"], d, env);
    assert!(!success && text.contains("up: path '../x.geojson'") && text.contains("nothing was stored"), "{text}");
    let took = within(Duration::from_secs(10), "the imported sources served", || {
        let (_, s, _) = call(&server, "GET", "/w/pp/api/sources", &reader, None, None);
        s["version"] == 2 && s["sources"].as_array().unwrap().len() == 1
    });
    println!("sources imported with the CLI served after {took:?}");

    // A second replica on the same store that leaves the stored sources to the first: it lists
    // them as run elsewhere and serves what the first imported.
    let replica_config = d.join("replica.toml");
    let replica_toml = format!("[workspace_sources]\ndir = {:?}\nrun = false\n", files.display().to_string());
    std::fs::write(&replica_config, replica_toml).unwrap();
    let replica_args = ["-c", replica_config.to_str().unwrap(), "--require-sign-in"];
    let replica = Server::start_with_env(d, &replica_args, env);
    let (_, s, _) = call(&replica, "GET", "/w/pp/api/sources", &reader, None, None);
    assert_eq!((status(&s, "dep")["state"].as_str(), status(&s, "dep")["runs"].as_u64()), (Some("elsewhere"), Some(0)));
    let (_, replica_catalog, _) = call(&replica, "GET", "/w/pp/catalog", &reader, None, None);
    assert_eq!(features(&replica_catalog, "departements"), 96);
    drop(replica);

    // Styles ---------------------------------------------------------------------------------
    let (code, list, _) = call(&server, "GET", "/w/pp/styles", &reader, None, None);
    assert_eq!(code, 200, "{list}");
    let origins = |l: &Value| -> Vec<(String, String)> {
        l["styles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["id"].as_str().unwrap().to_owned(), s["origin"].as_str().unwrap().to_owned()))
            .collect()
    };
    assert_eq!(origins(&list), [("hypervision".into(), "server".into()), ("wall".into(), "server".into())]);
    let mut style: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("styles/hypervision.json")).unwrap()).unwrap();
    let background = style["layers"].as_array_mut().unwrap().iter_mut().find(|l| l["type"] == "background").unwrap();
    background["paint"]["background-color"] = json!("#102030");
    let json_body = |v: &Value| Some(("application/json", v.to_string()));
    let (code, body, etag) = call(&server, "PUT", "/w/pp/api/styles/hypervision", &admin, json_body(&style), None);
    assert_eq!((code, etag.as_str()), (200, "\"1\""), "overriding a server style: {body}");
    let (code, body, _) = call(&server, "PUT", "/w/pp/api/styles/night", &admin, json_body(&style), None);
    assert_eq!(code, 201, "{body}");
    let (_, served, _) = call(&server, "GET", "/w/pp/styles/hypervision.json", &reader, None, None);
    assert!(served.to_string().contains("#102030"), "the workspace's own style");
    let url = served["sources"]["vigie"]["url"].as_str().unwrap();
    assert!(url.contains("/w/pp/tiles/"), "vigie:// URLs point into the workspace: {url}");
    let (_, national_style, _) = call(&server, "GET", "/styles/hypervision.json", &national, None, None);
    assert!(!national_style.to_string().contains("#102030"), "the national centre keeps the server style");
    // What is served passes the style specification's reference validator.
    let validator = repo_root().join("node_modules/.bin/gl-style-validate");
    assert!(validator.is_file(), "gl-style-validate is missing: run `npm ci` (tests/run does)");
    for id in ["hypervision", "night"] {
        let (_, served, _) = call(&server, "GET", &format!("/w/pp/styles/{id}.json"), &reader, None, None);
        let path = d.join(format!("{id}.json"));
        std::fs::write(&path, served.to_string()).unwrap();
        run(Command::new(&validator).arg(&path));
    }
    let mut broken = style.clone();
    broken["version"] = json!(7);
    broken["layers"].as_array_mut().unwrap()[1]["source"] = json!("osm");
    let (code, problem, _) = call(&server, "PUT", "/w/pp/api/styles/broken", &admin, json_body(&broken), None);
    assert_eq!(code, 422, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("version must be 8") && detail.contains("source 'osm' is not in the style's sources"),
        "{detail}"
    );
    assert_eq!(call(&server, "PUT", "/w/pp/api/styles/Bad%20Id", &admin, json_body(&style), None).0, 422);
    assert_eq!(call(&server, "PUT", "/w/pp/api/styles/x", &reader, json_body(&style), None).0, 403);
    assert_eq!(call(&server, "PUT", "/w/pp/api/styles/x", &admin, json_body(&style), Some("\"1\"")).0, 412);
    assert_eq!(call(&server, "DELETE", "/w/pp/api/styles/wall", &admin, None, None).0, 404, "a server style stays");
    let (code, _, etag) = call(&server, "DELETE", "/w/pp/api/styles/hypervision", &admin, None, None);
    assert_eq!((code, etag.as_str()), (200, "\"3\""));
    let (_, served, _) = call(&server, "GET", "/w/pp/styles/hypervision.json", &reader, None, None);
    assert!(!served.to_string().contains("#102030"), "the server style is served again");
    let (_, audit, _) = call(&server, "GET", "/w/pp/api/audit?limit=100", &admin, None, None);
    let actions: Vec<&str> = audit["rows"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["sources.replace", "style.put", "style.delete"] {
        assert!(actions.contains(&a), "{a} audited: {actions:?}");
    }

    // A restart serves what was stored.
    drop(server);
    let server = Server::start_with_env(d, &args, env);
    let (_, list, _) = call(&server, "GET", "/w/pp/styles", &reader, None, None);
    assert!(origins(&list).contains(&("night".into(), "workspace".into())), "{list}");
    let (_, s, _) = call(&server, "GET", "/w/pp/api/sources", &reader, None, None);
    assert_eq!((s["version"].as_u64(), s["sources"].as_array().unwrap().len()), (Some(2), 1), "{s}");
    let (_, pp_catalog, _) = call(&server, "GET", "/w/pp/catalog", &reader, None, None);
    assert_eq!(features(&pp_catalog, "departements"), 96);
}
