//! The parsers of outside text other than import files (issue 20, item 3): the configuration
//! file, the catalog, the sources file, the tile and log filters, region queries (query string
//! and JSON body) and territories, each given damaged copies of real inputs with the same
//! mutations as the import files (`mutations.rs`). Each must answer: a value, or a rejection
//! that says where (the file for the files; a problem+json with a detail for requests), never a
//! panic, a 5xx or a hang. `VIGIE_PARSER_CASES` sets the cases per input (default 150).

use crate::support::{TEST_ENTRIES, demo_state, repo_root, request};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;
use vigie_layers::demo::{Rng, mutate};
use vigie_tileserver::config::{Config, ServeArgs};

/// Past it, a hang.
const HANG: Duration = Duration::from_secs(20);

fn cases() -> usize {
    std::env::var("VIGIE_PARSER_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(150)
}

/// Runs `parse` on a thread of its own: a failure of the test for a panic or a hang.
fn bounded<T: Send + 'static>(what: &str, parse: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)));
    });
    match rx.recv_timeout(HANG) {
        Ok(Ok(v)) => v,
        Ok(Err(_)) => panic!("{what}: the parser panicked"),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no answer within {HANG:?}"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: the parsing thread died"),
    }
}

/// Damaged copies of `seed` written to `dir/name`, each given to `check` with what was done.
fn each_case(seed: &[u8], dir: &Path, name: &str, mut check: impl FnMut(&Path, &str)) {
    let mut rng = Rng::new(0x0134_DAE6 ^ seed.len() as u64);
    let path = dir.join(name);
    for case in 0..cases() {
        let (bytes, done) = mutate(seed, &mut rng);
        std::fs::write(&path, &bytes).unwrap();
        check(&path, &format!("{name} case {case} ({done})"));
    }
}

#[test]
fn damaged_configuration_catalog_and_sources_files_are_rejected_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root();
    let (mut read, mut refused) = (0, 0);
    // The configuration file the Debian package installs: every key documented.
    let config = std::fs::read(root.join("packaging/deb/vigie.toml")).unwrap();
    each_case(&config, dir.path(), "vigie.toml", |path, what| {
        let args = ServeArgs { config: Some(path.to_owned()), ..ServeArgs::default() };
        match bounded(what, move || Config::load(&args).map_err(|e| format!("{e:#}"))) {
            Ok(_) => read += 1,
            Err(e) => {
                assert!(e.contains("vigie.toml"), "{what}: the rejection does not name the file: {e}");
                refused += 1;
            }
        }
    });
    // The bundled catalog, as TOML and as JSON.
    let catalog_text = std::fs::read(root.join("data/catalog.toml")).unwrap();
    let catalog = vigie_layers::Catalog::parse(&String::from_utf8_lossy(&catalog_text), "catalog.toml").unwrap();
    let json = catalog.to_json().into_bytes();
    for (seed, name) in [(&catalog_text, "catalog.toml"), (&json, "catalog.json")] {
        each_case(seed, dir.path(), name, |path, what| {
            let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
            let json = Path::new(name).extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
            let parsed = bounded(what, move || {
                let c = if json {
                    vigie_layers::Catalog::from_json(&text, "catalog.json")
                } else {
                    vigie_layers::Catalog::parse(&text, "catalog.toml")
                };
                c.map(|_| ()).map_err(|e| e.to_string())
            });
            match parsed {
                Ok(()) => read += 1,
                Err(e) => {
                    assert!(e.contains(name), "{what}: the rejection does not name the file: {e}");
                    refused += 1;
                }
            }
        });
    }
    // The sources example, checked against the bundled catalog.
    let sources = std::fs::read(root.join("data/sources.example.toml")).unwrap();
    each_case(&sources, dir.path(), "sources.toml", |path, what| {
        let (path, catalog) = (path.to_owned(), catalog.clone());
        let checked = bounded(what, move || {
            let mut claims = vigie_tileserver::ingest::sources::config::Claims::default();
            vigie_tileserver::ingest::sources::config::load(&path, &catalog, false, &mut claims)
                .map(|c| c.has_problems())
                .map_err(|e| e.to_string())
        });
        match checked {
            Ok(_) => read += 1,
            Err(e) => {
                assert!(e.contains("sources.toml"), "{what}: the rejection does not name the file: {e}");
                refused += 1;
            }
        }
    });
    // The cases reach both outcomes: the damage is not all caught by one check at the door.
    assert!(read > 0 && refused > 0, "read {read}, refused {refused}");
}

/// Keeps a mutated query string a valid request target: bytes outside the URI's characters
/// are percent-encoded (the server gets them as a client's library would send them).
fn as_target(path: &str, query: &[u8]) -> String {
    let mut out = format!("{path}?");
    for &b in query {
        if b.is_ascii_alphanumeric() || b"&=,.:_%+-/*~!$'()".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_filters_region_queries_and_territories_get_4xx_naming_the_problem() {
    let (state, _dir) = demo_state(TEST_ENTRIES).await;
    crate::regions::import(&state, "departements", &crate::regions::departements_path()).await;
    let box_ = "bbox=2.2,48.8,2.4,48.9";
    let filters = "from=2024-07-26T18:00:00%2B02:00&to=2024-08-11T23:00:00Z&tags=public_order,crowd&severity=2&qualification=raw,confirmed&budget=on";
    let gets = [
        ("/tiles/venues,public-order/12/2074/1409", filters.to_owned()),
        ("/tiles/public-order", format!("last=6h&{filters}")),
        ("/api/query", format!("{box_}&layers=public-order&last=6h&limit=100&interval=1h")),
        ("/api/query", "circle=2.35,48.85,1500&severity=1&buffer_m=200&format=csv".to_owned()),
        ("/api/query", "area=departements:93&layers=public-order,venues".to_owned()),
        ("/api/query", "h3=871fb4670ffffff,871fb4671ffffff&qualification=all".to_owned()),
        ("/api/h3", format!("layer=public-order&res=7&{box_}&{filters}")),
        ("/api/entries", format!("{box_}&q=foule&limit=20&tags=crowd&at=2024-08-01T12:00:00Z")),
    ];
    let posts = [
        (
            "POST",
            "/api/query",
            r#"{"geometry": {"type": "Polygon", "coordinates": [[[2.2, 48.8], [2.4, 48.8], [2.4, 48.9], [2.2, 48.9], [2.2, 48.8]]]}, "layers": ["public-order"], "buffer_m": 100, "severity": 1, "limit": 50}"#,
        ),
        (
            "POST",
            "/api/query",
            r#"{"circle": {"lon": 2.35, "lat": 48.85, "radius_m": 1500}, "from": "2024-07-26T00:00:00Z", "tags": ["crowd"]}"#,
        ),
        ("POST", "/api/query", r#"{"area": {"layer": "departements", "code": "93"}, "interval": "1d"}"#),
        (
            "PUT",
            "/api/workspace/territory",
            r#"{"territory": [{"area": "departements:93"}, {"area": "departements:75", "buffer_m": 500}]}"#,
        ),
    ];
    let mut statuses = std::collections::BTreeMap::new();
    let check = |what: &str, a: &crate::support::Answer| {
        assert!(a.status.as_u16() < 500, "{what}: {} {}", a.status, String::from_utf8_lossy(&a.body));
        if a.status.is_client_error() {
            assert_eq!(a.header("content-type"), Some("application/problem+json"), "{what}");
            let detail = a.json()["detail"].as_str().unwrap_or_default().to_owned();
            assert!(!detail.is_empty(), "{what}: a refusal without a detail");
        }
    };
    for (path, query) in &gets {
        let mut rng = Rng::new(7 ^ query.len() as u64);
        let seed = get_ok(&state, &as_target(path, query.as_bytes())).await;
        assert!(seed < 300, "{path}?{query}: the undamaged request is refused ({seed})");
        for case in 0..cases() {
            let (mut bytes, done) = mutate(query.as_bytes(), &mut rng);
            // A request line is at most 64 KiB (the HTTP library's bound, and hyper's): a
            // longer one never reaches a handler.
            bytes.truncate(16 * 1024);
            let target = as_target(path, &bytes);
            let what = format!("GET {path} case {case} ({done})");
            let a = tokio::time::timeout(HANG, request(&state, "GET", &target, &[], Vec::new()))
                .await
                .unwrap_or_else(|_| panic!("{what}: no answer within {HANG:?}"));
            check(&what, &a);
            *statuses.entry(a.status.as_u16()).or_insert(0) += 1;
        }
    }
    for (method, path, body) in posts {
        let mut rng = Rng::new(0xB ^ body.len() as u64);
        let json = [("content-type", "application/json")];
        let seed = request(&state, method, path, &json, body.as_bytes().to_vec()).await;
        assert!(
            seed.status.is_success(),
            "{method} {path}: the undamaged body is refused: {}",
            String::from_utf8_lossy(&seed.body)
        );
        for case in 0..cases() {
            let (bytes, done) = mutate(body.as_bytes(), &mut rng);
            let what = format!("{method} {path} case {case} ({done})");
            // Each case is someone else: writes are limited per identity.
            let who = format!("fuzz-{case}");
            let headers = [json[0], ("x-vigie-user", who.as_str())];
            let a = tokio::time::timeout(HANG, request(&state, method, path, &headers, bytes))
                .await
                .unwrap_or_else(|_| panic!("{what}: no answer within {HANG:?}"));
            check(&what, &a);
            *statuses.entry(a.status.as_u16()).or_insert(0) += 1;
        }
    }
    // Both outcomes are reached.
    assert!(statuses.keys().any(|s| *s < 300) && statuses.keys().any(|s| *s >= 400), "{statuses:?}");
    println!("statuses over every damaged request: {statuses:?}");
}

async fn get_ok(state: &std::sync::Arc<vigie_tileserver::http::Shared>, target: &str) -> u16 {
    request(state, "GET", target, &[], Vec::new()).await.status.as_u16()
}
