//! Shared helpers: test state, in-process requests, the real binary, external tools.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;
use vigie_tileserver::config::{Config, FileConfig, ServeArgs};
use vigie_tileserver::http::{Shared, app};

/// Demo entries used by most tests: enough for dense tiles, quick to seed.
pub const TEST_ENTRIES: usize = 3000;
/// Demo seed used by most tests.
pub const TEST_SEED: u64 = 2024;

/// The smallest PNG: what a photo upload needs.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A configuration on a fresh data directory with the demo.
pub fn demo_config(dir: &Path, entries: usize) -> Config {
    let args = ServeArgs {
        data_dir: Some(dir.to_path_buf()),
        demo: true,
        demo_entries: Some(entries),
        demo_seed: Some(TEST_SEED),
        ..ServeArgs::default()
    };
    Config::resolve(FileConfig::default(), &args).expect("valid test config")
}

/// State over a fresh SQLite store seeded with the demo; keep the directory alive.
pub async fn demo_state(entries: usize) -> (Arc<Shared>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = vigie_tileserver::build_state(demo_config(dir.path(), entries)).await.expect("state builds");
    (state, dir)
}

/// An answer from the router.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends a GET through the router (no socket).
pub async fn get(state: &Arc<Shared>, uri: &str, headers: &[(&str, &str)]) -> Answer {
    request(state, "GET", uri, headers, Vec::new()).await
}

/// A request of any method to the router in-process.
pub async fn request(state: &Arc<Shared>, method: &str, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let mut req = Request::builder().method(method).uri(uri).header("host", "vigie.test:8080");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app(state.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.expect("router answers");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body").to_vec();
    Answer { status, headers, body }
}

/// An HTTP client for the real binary: every status is an answer (not an error), 30 s at most.
pub fn agent() -> ureq::Agent {
    agent_within(Duration::from_secs(30))
}

/// As [`agent`], each request given at most `limit`.
pub fn agent_within(limit: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(limit)).http_status_as_error(false).build().into()
}

/// `GET url` on the real binary, its body parsed as JSON.
pub fn get_json(url: &str) -> serde_json::Value {
    let body = agent().get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}")).into_body().read_to_string();
    serde_json::from_str(&body.unwrap_or_else(|e| panic!("GET {url}: {e}")))
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// The `vigie` binary the tests start: this build's, or the one `VIGIE_TEST_BIN` names (to run
/// a scenario against an earlier version, e.g. to show a regression test fails there).
pub fn vigie_bin() -> PathBuf {
    std::env::var_os("VIGIE_TEST_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_vigie")), PathBuf::from)
}

/// A free TCP port on loopback.
/// Runs `vigie ARGS --data-dir DIR` with `env`, a password on its standard input (for
/// `--password-stdin`); returns whether it succeeded, its standard output, and both outputs.
pub fn vigie_cli(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> (bool, String, String) {
    use std::io::Write as _;
    let mut child = Command::new(vigie_bin())
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that reads no password may have exited already: its stdin is then a broken
    // pipe, which is no failure (one that needed the password fails on its own).
    match child.stdin.take().unwrap().write_all(b"a long enough password\n") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let both = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.success(), stdout, both)
}

/// [`vigie_cli`] that must succeed: its standard output, trimmed.
pub fn vigie_ok(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> String {
    let (success, stdout, both) = vigie_cli(args, dir, env);
    assert!(success, "vigie {args:?}: {both}");
    stdout.trim().to_owned()
}

/// A member of `workspace` with `role` (a local account `user`) and an API token of theirs,
/// as an `Authorization` header value.
pub fn member_token(dir: &Path, env: &[(&str, &str)], user: &str, workspace: &str, role: &str) -> String {
    vigie_ok(&["user", "add", user, "--role", role, "--workspace", workspace, "--password-stdin"], dir, env);
    let args = ["token", "create", "--user", user, "--name", "t", "--role", role, "--workspace", workspace];
    format!("Bearer {}", vigie_ok(&args, dir, env))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The real `vigie` binary, killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    /// Starts `vigie serve` with extra arguments and waits until `/health` answers 200.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(data_dir, extra, &[])
    }

    /// As [`Self::start`], with environment variables (e.g. `DATABASE_URL`).
    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_logged(data_dir, extra, env, None)
    }

    /// As [`Self::start_with_env`], writing the server's log (stderr, info level) to `log`.
    pub fn start_logged(data_dir: &Path, extra: &[&str], env: &[(&str, &str)], log: Option<&Path>) -> Self {
        Self::start_on(free_port(), data_dir, extra, env, log)
    }

    /// As [`Self::start_logged`], on a port chosen beforehand (an OpenID provider must know
    /// the redirect URI before vigie starts).
    pub fn start_on(port: u16, data_dir: &Path, extra: &[&str], env: &[(&str, &str)], log: Option<&Path>) -> Self {
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(vigie_bin())
            .args(["serve", "--listen", &listen, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().copied())
            .env("VIGIE_LOG", if log.is_some() { "info" } else { "warn" })
            .stdout(Stdio::null())
            .stderr(log.map_or_else(Stdio::inherit, |p| Stdio::from(std::fs::File::create(p).expect("log file"))))
            .spawn()
            .expect("vigie starts");
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_mins(1);
        while Instant::now() < deadline {
            if let Ok(r) = ureq::get(&server.url("/health")).call()
                && r.status() == 200
            {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("vigie did not become healthy on {listen} within 60 s");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The process id (to read its threads' stacks).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the process a signal (`TERM`, `INT`), as an operator or a platform would.
    pub fn signal(&self, name: &str) {
        run(Command::new("kill").arg(format!("-{name}")).arg(self.pid().to_string()));
    }

    /// Waits up to `limit` for the process to exit; its exit status, or `None` when it still
    /// runs.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Feature ids of every layer of a tile of the real binary (none for a 204).
pub fn tile_ids(server: &Server, path: &str) -> Vec<u64> {
    let r = agent().get(&server.url(path)).call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
    if r.status() == 204 {
        return Vec::new();
    }
    assert_eq!(r.status(), 200, "GET {path}");
    ids_in_tile(&r.into_body().read_to_vec().unwrap())
}

/// Feature ids of every layer of an MVT body.
pub fn ids_in_tile(mvt: &[u8]) -> Vec<u64> {
    use geozero::mvt::{Message, Tile};
    Tile::decode(mvt).expect("valid MVT").layers.iter().flat_map(|l| l.features.iter().filter_map(|f| f.id)).collect()
}

/// Path of an external tool, or a failure saying what to install. Never a skip.
pub fn require_tool(name: &str, install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("`{name}` is required by this test and was not found: {install} (tests/run and .ci/run install it)")
    })
}

/// The Python of the test venv (`tests/.venv`, made by `tests/run`) with mapbox-vector-tile,
/// shapely and h3.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("VIGIE_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let p = repo_root().join("tests/.venv/bin/python");
    assert!(
        p.is_file(),
        "the test Python venv is missing at {}: run tests/run (it creates it from tests/python/requirements.txt)",
        p.display()
    );
    p
}

/// Runs a command, failing the test with its output when it exits non-zero. Returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{cmd:?} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}", out.status);
    stdout
}

/// A fresh PostGIS database for one test, dropped at the end. The server comes from
/// `VIGIE_TEST_DATABASE_URL` (default: local PostgreSQL, user postgres); `tests/run` sets it up.
pub struct PostgisDb {
    admin: String,
    name: String,
    pub url: String,
}

impl PostgisDb {
    /// Creates the database and the postgis extension in it. Fails (never skips) when the
    /// server or PostGIS is missing.
    pub async fn create() -> Self {
        use sqlx::Connection;
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let admin = std::env::var("VIGIE_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name =
            format!("vigie_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is required (VIGIE_TEST_DATABASE_URL or local postgres@127.0.0.1:5432): {e}")
        });
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut conn).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        let mut db = sqlx::PgConnection::connect(&url).await.expect("connect to the test database");
        sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis")
            .execute(&mut db)
            .await
            .unwrap_or_else(|e| panic!("PostGIS is required: apt-get install -y postgresql-15-postgis-3 ({e})"));
        Self { admin, name, url }
    }

    /// Drops the database.
    pub async fn drop_db(self) {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin).await {
            let _ =
                sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut conn).await;
        }
    }
}

/// The test OpenID provider (`tests/oidc/provider.mjs`, npm `oidc-provider`), killed when
/// dropped. Besides OpenID Connect it answers test-only requests to sign tokens with its own key
/// (`/test/sign`), with its public key as an HMAC secret (`/test/sign-hmac`) or with a key it
/// does not publish (`/test/sign-unknown-key`).
pub struct OidcProvider {
    child: Child,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub audience: String,
    pub redirect_uri: String,
}

impl OidcProvider {
    /// Starts the provider for a vigie whose callback is `redirect_uri`.
    pub fn start(redirect_uri: &str) -> Self {
        use std::io::BufRead as _;
        let node = require_tool("node", "apt-get install -y nodejs npm");
        let root = repo_root();
        assert!(
            root.join("node_modules/oidc-provider/package.json").is_file(),
            "oidc-provider is missing from node_modules: run `npm ci` at the repository root (tests/run does)"
        );
        let port = free_port().to_string();
        let mut child = Command::new(node)
            .current_dir(&root)
            .args(["tests/oidc/provider.mjs", "--port", &port, "--redirect", redirect_uri])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("provider output");
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("the test provider did not start ({e}): {line}"));
        let text = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("no {k} in {line}")).to_owned();
        Self {
            child,
            issuer: text("issuer"),
            client_id: text("client_id"),
            client_secret: text("client_secret"),
            audience: text("audience"),
            redirect_uri: redirect_uri.to_owned(),
        }
    }

    /// `vigie serve` arguments for this provider: a configuration file written in `dir`.
    pub fn vigie_args(&self, dir: &Path) -> Vec<String> {
        let path = dir.join("vigie-oidc.toml");
        std::fs::write(
            &path,
            format!(
                "[auth.oidc]\nissuer = {:?}\nclient_id = {:?}\naudience = {:?}\nredirect_uri = {:?}\ndefault_role = \"reader\"\n",
                self.issuer, self.client_id, self.audience, self.redirect_uri
            ),
        )
        .expect("config written");
        vec!["-c".into(), path.display().to_string()]
    }

    /// The environment vigie needs (the client secret).
    pub fn env(&self) -> [(&'static str, &str); 1] {
        [("VIGIE_OIDC_CLIENT_SECRET", self.client_secret.as_str())]
    }

    /// A token signed by the provider's test endpoint `path` (`/test/sign`, `/test/sign-hmac`,
    /// `/test/sign-unknown-key`) with these header fields and claims.
    pub fn sign(&self, path: &str, header: &serde_json::Value, claims: &serde_json::Value) -> String {
        let body = serde_json::json!({ "header": header, "claims": claims }).to_string();
        let mut r = agent()
            .post(&format!("{}{path}", self.issuer))
            .header("content-type", "application/json")
            .send(body)
            .expect("provider answers");
        assert_eq!(r.status(), 200, "{path}");
        r.body_mut().read_to_string().expect("token").trim().to_owned()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An event of the live stream as a client read it: its type, its data and when it came.
#[derive(Debug, Clone)]
pub struct Told {
    /// `entry.created`, `entry.updated`, `entry.deleted`.
    pub kind: String,
    /// The event's JSON data.
    pub data: serde_json::Value,
    /// When the client read it.
    pub at: Instant,
}

/// The events `auth` is told at `path` (an event-stream route of `server`) from now on, read
/// by a thread into the channel.
pub fn sse(server: &Server, path: &str, auth: &str) -> std::sync::mpsc::Receiver<Told> {
    use std::io::BufRead as _;
    let (tx, rx) = std::sync::mpsc::channel();
    // A stream stays open for as long as the test listens.
    let resp =
        agent_within(Duration::from_mins(10)).get(&server.url(path)).header("authorization", auth).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{path}");
    std::thread::spawn(move || {
        let mut kind = String::new();
        for line in std::io::BufReader::new(resp.into_body().into_reader()).lines() {
            let Ok(line) = line else { return };
            if let Some(k) = line.strip_prefix("event: ") {
                k.clone_into(&mut kind);
            } else if let Some(d) = line.strip_prefix("data: ") {
                let told = Told { kind: kind.clone(), data: serde_json::from_str(d).unwrap(), at: Instant::now() };
                if tx.send(told).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// An answer of the real server, read whole.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// The body as JSON (null when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// `method path` on the real server with `auth`, a JSON body and extra headers.
pub fn call(
    server: &Server,
    method: &str,
    path: &str,
    auth: &str,
    body: Option<&serde_json::Value>,
    extra: &[(&str, &str)],
) -> Reply {
    let mut req = Request::builder().method(method).uri(server.url(path));
    // No credentials at all when `auth` is empty (the demo identity on loopback).
    if !auth.is_empty() {
        req = req.header("authorization", auth);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = match body {
        Some(b) => agent().run(req.header("content-type", "application/json").body(b.to_string()).unwrap()),
        None => agent().run(req.body(()).unwrap()),
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    Reply { status: resp.status().as_u16(), headers, body: resp.body_mut().read_to_vec().unwrap_or_default() }
}
