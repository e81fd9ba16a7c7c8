//! The API contract (issue 20, items 1 and 2): the OpenAPI 3.1 document the server makes from
//! its routes passes `openapi-spec-validator`, and `schemathesis` (PyPI), run against the real
//! binary over every operation with generated valid and invalid inputs, finds no 5xx, no answer
//! the document does not describe (status, media type, headers, body schema) and no answer
//! slower than the request timeout. The reference page serves every operation, without script
//! or anything fetched from elsewhere.
//!
//! `VIGIE_CONTRACT_EXAMPLES` sets schemathesis's examples per operation (default 12, CI's short
//! pass; `benches/contract.sh` runs the long one).

use crate::support::{Server, agent, get_json, python, run};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Operations schemathesis leaves out, and why.
const LEFT_OUT: &[(&str, &str)] = &[
    // An event stream never ends by itself: a request would only end at its timeout.
    ("/api/events", "a live stream (tests/e2e/limits.rs, escalation.rs and reports.rs read it)"),
    // They redirect to the identity provider, absent here (tests/e2e/oidc.rs runs one).
    ("/auth/oidc/login", "a redirect to an identity provider"),
    ("/auth/oidc/callback", "the identity provider's redirect back"),
    // Signing out would end the token's... nothing (a token is no session), but signing in
    // with generated names floods the sign-in limit of the loopback client the other
    // operations share: tests/e2e/identity.rs covers both.
    ("/api/session", "sign-in attempts are limited per client"),
];

/// The demo on the loopback: requests without credentials act as its admin, so every
/// operation is open and refusals are the inputs' doing. (Not an API token: schemathesis would
/// revoke it with `DELETE /api/tokens/{id}`, or demote its account, and test 401s from then on.)
fn server(dir: &Path) -> Server {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    // Writes are not limited per identity here: every generated request is the one demo
    // identity's, and the limit has its own test (limits.rs).
    Server::start(&data, &["--demo", "--demo-entries", "300", "--writes-per-second", "0"])
}

#[test]
fn the_document_is_valid_openapi_and_the_server_keeps_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let url = server.url("/api/openapi.json");
    let resp = agent().get(&url).call().unwrap();
    assert_eq!(resp.headers().get("content-type").unwrap(), "application/vnd.oai.openapi+json;version=3.1");
    let doc: Value = serde_json::from_str(&resp.into_body().read_to_string().unwrap()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], server.url(""));
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    run(Command::new(python()).args(["-m", "openapi_spec_validator"]).arg(&file));

    let schemathesis = python().with_file_name("schemathesis");
    assert!(
        schemathesis.exists(),
        "schemathesis is missing from tests/.venv: run tests/run (it installs tests/python/requirements.txt)"
    );
    let examples = std::env::var("VIGIE_CONTRACT_EXAMPLES").unwrap_or_else(|_| "12".into());
    // No made-up credentials (they would only meet 401s): the operations run as the demo's admin.
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(&config, "[generation]\nwith-security-parameters = false\n").unwrap();
    let mut cmd = Command::new(&schemathesis);
    cmd.arg("--config-file")
        .arg(&config)
        .args(["run", &url, "--checks"])
        .arg(
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,\
             response_schema_conformance",
        )
        // One worker: hypothesis fails on its own ("AST constructor recursion depth mismatch")
        // when schemathesis runs it on several threads.
        .args(["--max-examples", &examples, "--seed", "20241126", "--workers", "1"])
        .args(["--request-timeout", "20", "--max-response-time", "15"])
        .args(["--suppress-health-check", "all", "--no-color"]);
    for (path, _why) in LEFT_OUT {
        cmd.args(["--exclude-path", path]);
    }
    let out = cmd.current_dir(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found answers off the contract:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every operation but those left out was tested.
    let operations: usize = doc["paths"].as_object().unwrap().values().map(|i| i.as_object().unwrap().len()).sum();
    let left_out: usize =
        LEFT_OUT.iter().map(|(p, _)| doc["paths"][p].as_object().map_or(0, serde_json::Map::len)).sum();
    // schemathesis leaves out the operation that serves the document it reads.
    let tested = operations - left_out - 1;
    assert!(stdout.contains(&format!("Tested: {tested}\n")), "expected {tested} operations tested:\n{stdout}");
}

#[test]
fn the_reference_page_lists_every_operation_and_fetches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let doc = get_json(&server.url("/api/openapi.json"));
    let resp = agent().get(&server.url("/api/docs")).call().unwrap();
    let csp = resp.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let page = resp.into_body().read_to_string().unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap();
            assert!(page.contains(&format!("id=\"{id}\"")), "{path}: {id} missing from the page");
        }
    }
    // Well-formed enough for Python's HTML parser to find every section, no script, no
    // outside address.
    let script = r#"
import sys, html.parser
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.sections = 0; self.bad = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section": self.sections += 1
        if tag in ("script", "iframe", "img", "link"): self.bad.append(tag)
        for k in ("src", "href"):
            if (a.get(k) or "").startswith(("http:", "https:", "//")) and tag != "a": self.bad.append(a[k])
p = P(); p.feed(sys.stdin.read()); print(p.sections, p.bad)
"#;
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), page.as_bytes()).unwrap();
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let operations: usize = doc["paths"].as_object().unwrap().values().map(|i| i.as_object().unwrap().len()).sum();
    assert_eq!(out.trim(), format!("{operations} []"));
}
