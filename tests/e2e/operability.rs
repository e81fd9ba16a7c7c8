//! Operating the real binary (issue 22): probes through start-up, a stop within its deadline
//! (requests in flight finished, event streams ended with a reconnect hint, a request held
//! past the grace period abandoned, a second signal obeyed at once), logs without colour
//! codes off a terminal and as JSON lines on request, one request id from the access log to
//! the error body, and `vigie config check`.

use crate::support::{Server, agent, free_port, vigie_bin};
use serde_json::Value;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A `POST /api/entries` whose body is sent in two halves: the server holds the request open
/// in between.
struct HeldPost {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl HeldPost {
    fn open(port: u16, title: &str) -> Self {
        let body = serde_json::json!({"title": title, "severity": 2, "lon": 2.35, "lat": 48.85, "author": "ops"})
            .to_string()
            .into_bytes();
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_mins(1))).unwrap();
        let head = format!(
            "POST /api/entries HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let half = body.len() / 2;
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body[..half]).unwrap();
        stream.flush().unwrap();
        Self { stream, rest: body[half..].to_vec() }
    }

    /// Sends the rest of the body; the answer's status line and body.
    fn finish(mut self) -> (String, String) {
        self.stream.write_all(&self.rest).unwrap();
        let mut answer = String::new();
        let _ = self.stream.read_to_string(&mut answer);
        let status = answer.lines().next().unwrap_or("").to_owned();
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }
}

/// Whether a new connection to the port is refused.
fn refused(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_err()
}

/// `vigie config check FILE`: whether it passed, its standard output and its standard error.
fn config_check(file: &Path) -> (bool, String, String) {
    let out = Command::new(vigie_bin()).args(["config", "check"]).arg(file).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn probes_answer_through_start_up_then_say_ready() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    // Enough entries that seeding and loading them takes seconds: start-up is observed.
    let mut child = Command::new(vigie_bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data.path())
        .args(["--demo", "--demo-entries", "100000"])
        .env("VIGIE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let a = agent();
    let started = Instant::now();
    let (mut saw_starting, mut ready) = (false, false);
    while started.elapsed() < Duration::from_mins(3) {
        let Ok(mut live) = a.get(&format!("http://127.0.0.1:{port}/livez")).call() else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        assert_eq!(live.status(), 200, "alive from the moment the address is bound");
        let live: Value = serde_json::from_str(&live.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(live["status"], "alive");
        let mut r = a.get(&format!("http://127.0.0.1:{port}/readyz")).call().unwrap();
        let status = r.status().as_u16();
        let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        if status == 503 {
            assert_eq!(body["phase"], "starting", "{body}");
            assert!(!ready, "never not ready again once ready while serving");
            saw_starting = true;
            // Anything else: 503 problem+json with Retry-After while starting.
            let r = a.get(&format!("http://127.0.0.1:{port}/api/entries?limit=1")).call().unwrap();
            if r.status() == 503 {
                assert_eq!(r.headers().get("content-type").unwrap(), "application/problem+json");
                assert!(r.headers().get("retry-after").is_some());
            }
        } else {
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["status"], "ready");
            assert_eq!(body["phase"], "serving");
            assert_eq!(body["workspaces"]["default"]["ready"], true, "{body}");
            assert_eq!(body["workspaces"]["default"]["change_feed_lag"], 0, "{body}");
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(saw_starting, "/readyz answered 503 'starting' while the index loaded");
    assert!(ready, "/readyz answered 200 once loaded");
}

#[test]
fn a_stop_finishes_requests_in_flight_ends_event_streams_and_keeps_what_it_acknowledged() {
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("stderr.log");
    let mut server = Server::start_logged(
        data.path(),
        &["--demo", "--demo-entries", "200", "--shutdown-grace-ms", "20000", "--shutdown-delay-ms", "3000"],
        &[],
        Some(&log),
    );
    // A live event stream, read raw to see how it ends.
    let mut events = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    events.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(events, "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n").unwrap();
    let mut events = BufReader::new(events);
    let mut line = String::new();
    events.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let held = HeldPost::open(server.port, "written during the stop");
    std::thread::sleep(Duration::from_millis(300));

    let t = Instant::now();
    server.signal("TERM");
    // During the delay: still accepting, but not ready. `kill` returns once the signal is
    // sent; the server's signal task may not have run yet on a busy machine, so /readyz is
    // asked again until it says so (a wait bound well inside the 3 s delay).
    let r = loop {
        let r = agent().get(&server.url("/readyz")).call().unwrap();
        if r.status() == 503 || t.elapsed() > Duration::from_millis(2500) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(r.status(), 503, "not ready once stopping");
    let mut body = String::new();
    r.into_body().into_reader().read_to_string(&mut body).unwrap();
    assert!(body.contains("\"stopping\""), "{body}");
    assert_eq!(agent().get(&server.url("/livez")).call().unwrap().status(), 200, "alive while stopping");
    // The event stream ends with a reconnect hint.
    let mut tail = String::new();
    while events.read_line(&mut tail).is_ok_and(|n| n > 0) {
        if tail.contains("stopping") {
            break;
        }
    }
    assert!(tail.contains("retry: 2000") && tail.contains("stopping"), "stream's last lines: {tail:?}");
    // After the delay the listener closes.
    let closed = Instant::now();
    while !refused(server.port) {
        assert!(closed.elapsed() < Duration::from_secs(10), "the listener closes after the delay");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(t.elapsed() >= Duration::from_secs(3), "accepting until the delay is over");
    // The request in flight is still answered, and the process exits once it is.
    let (status, body) = held.finish();
    assert!(status.contains("201"), "{status}: {body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_u64().unwrap();
    let exit = server.wait_exit(Duration::from_secs(15)).expect("exits once the last request is answered");
    assert!(exit.success(), "{exit:?}");
    assert!(t.elapsed() < Duration::from_secs(15), "long before the 20 s grace period");
    let logged = log_of(&log);
    assert!(logged.contains("every request answered: exiting"), "{logged}");

    // What it acknowledged is there after a restart.
    let again = Server::start(data.path(), &["--demo", "--demo-entries", "200"]);
    let r = agent().get(&again.url(&format!("/api/entries/{id}"))).call().unwrap();
    assert_eq!(r.status(), 200, "entry {id} acknowledged during the stop is kept");
}

#[test]
fn a_request_held_past_the_grace_period_does_not_keep_the_process_and_a_second_signal_exits_at_once() {
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("stderr.log");
    let mut server = Server::start_logged(
        data.path(),
        &["--demo", "--demo-entries", "200", "--shutdown-grace-ms", "1000"],
        &[],
        Some(&log),
    );
    let _held = HeldPost::open(server.port, "never finished");
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    server.signal("TERM");
    let exit = server.wait_exit(Duration::from_secs(20)).expect("exits after the grace period");
    assert!(t.elapsed() >= Duration::from_secs(1), "the grace period was given: {:?}", t.elapsed());
    assert!(exit.success(), "{exit:?}");
    assert!(log_of(&log).contains("grace period over"), "{}", log_of(&log));

    // A grace period of a minute, cut short by a second signal.
    let mut server = Server::start_logged(
        data.path(),
        &["--demo", "--demo-entries", "200", "--shutdown-grace-ms", "60000"],
        &[],
        Some(&log),
    );
    let _held = HeldPost::open(server.port, "never finished either");
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.wait_exit(Duration::ZERO).is_none(), "waits for the request in flight");
    server.signal("INT");
    server.wait_exit(Duration::from_secs(20)).expect("a second signal exits at once");
    assert!(t.elapsed() < Duration::from_secs(30), "not after the minute of grace");
    assert!(log_of(&log).contains("second stop signal"), "{}", log_of(&log));
}

#[test]
fn logs_are_plain_off_a_terminal_json_on_request_and_name_the_request_id_of_error_bodies() {
    let data = tempfile::tempdir().unwrap();
    // Text (the default), written to a file: no colour codes.
    let log = data.path().join("text.log");
    let server = Server::start_logged(data.path(), &["--demo", "--demo-entries", "50"], &[], Some(&log));
    let r = agent().get(&server.url("/api/entries/987654")).header("x-request-id", "lb-req.42").call().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers().get("x-request-id").unwrap(), "lb-req.42", "a proxy's id is kept");
    let body: Value = serde_json::from_str(&r.into_body().read_to_string().unwrap()).unwrap();
    assert_eq!(body["instance"], "urn:vigie:request:lb-req.42", "{body}");
    assert_eq!(body["request_id"], "lb-req.42");
    // The framework's own refusals are problem+json naming the request too.
    let r = agent().delete(&server.url("/catalog")).call().unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers().get("allow").unwrap(), "GET,HEAD");
    assert_eq!(r.headers().get("content-type").unwrap(), "application/problem+json");
    let id = r.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    let body: Value = serde_json::from_str(&r.into_body().read_to_string().unwrap()).unwrap();
    assert_eq!(body["request_id"], id.as_str(), "{body}");
    // A body over max_body_bytes: the server answers 413 once it has read the limit and closes
    // the connection, maybe while the client is still sending (a broken pipe for a client that
    // stops at its first write error): sent by hand, the answer read whatever the writes did.
    let mut big = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    big.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /api/entries HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        2 << 20
    );
    let _ = big.write_all(head.as_bytes()).and_then(|()| big.write_all(&vec![b'a'; 2 << 20]));
    let mut answer = Vec::new();
    let _ = big.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("content-type: application/problem+json"), "{answer}");
    drop(server);
    let text = log_of(&log);
    assert!(!text.contains('\u{1b}'), "no terminal escape codes in a log file");
    let line = text.lines().find(|l| l.contains("lb-req.42")).expect("the access log names the request");
    for part in ["status=404", "route=\"/api/entries/{id}\"", "workspace=\"default\"", "method=GET", "vigie::access"] {
        assert!(line.contains(part), "{part} in {line}");
    }

    // JSON lines: every line an object; the access line of a failed request carries its id.
    let log = data.path().join("json.log");
    let server =
        Server::start_logged(data.path(), &["--log-format", "json", "--demo", "--demo-entries", "50"], &[], Some(&log));
    let r = agent().get(&server.url("/api/entries/987654")).call().unwrap();
    let id = r.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    assert_eq!(id.len(), 16, "a generated id: {id}");
    let body: Value = serde_json::from_str(&r.into_body().read_to_string().unwrap()).unwrap();
    assert_eq!(body["instance"], format!("urn:vigie:request:{id}"));
    drop(server);
    let lines: Vec<Value> = log_of(&log)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(lines.iter().all(|l| l["level"].is_string() && l["timestamp"].is_string()));
    let access = lines.iter().find(|l| l["request_id"] == id.as_str()).expect("the access line of the request");
    assert_eq!(access["target"], "vigie::access");
    assert_eq!(access["status"], 404);
    assert_eq!(access["route"], "/api/entries/{id}");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["workspace"], "default");
    assert!(access["identity"].as_str().is_some_and(|i| i.starts_with("anonymous")), "{access}");
    assert!(access["duration_ms"].as_f64().is_some());
}

#[test]
fn config_check_accepts_a_valid_file_and_names_what_is_wrong_in_others() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "listen = \"0.0.0.0:9000\"\ndata_dir = \"/var/lib/vigie\"\nshutdown_grace_ms = 10000\n[auth]\nanonymous_role = \"reader\"\n").unwrap();
    let (ok, out, err) = config_check(&good);
    assert!(ok, "{out}{err}");
    assert!(out.contains("valid configuration") && out.contains("0.0.0.0:9000"), "{out}");

    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "listen = \"127.0.0.1:9000\"\n\ncache_sise_mb = 64\n").unwrap();
    let (ok, _, err) = config_check(&typo);
    assert!(!ok);
    assert!(err.contains("typo.toml") && err.contains("cache_sise_mb") && err.contains("line 3"), "{err}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "workspace = \"two words\"\n").unwrap();
    let (ok, _, err) = config_check(&bad);
    assert!(!ok);
    assert!(err.contains("workspace"), "{err}");

    let missing = dir.path().join("catalog.toml");
    std::fs::write(&bad, format!("catalog = \"{}\"\n", missing.display())).unwrap();
    let (ok, _, err) = config_check(&bad);
    assert!(!ok);
    assert!(err.contains("catalog.toml"), "{err}");
}

/// A client that opens a connection and sends part of a request's headers gets it closed once
/// `--header-read-timeout-ms` is past; others are served meanwhile. (Before, the connection
/// stayed open for good: the HTTP loop set no timer.)
#[test]
fn a_client_that_never_finishes_its_headers_loses_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--header-read-timeout-ms", "1000"]);
    let mut slow = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").unwrap();
    // A wait bound: hyper checks its timer every so often, not at the millisecond.
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = Instant::now();
    let r = agent().get(&server.url("/health")).call().unwrap();
    assert_eq!(r.status(), 200, "others are served while it hangs");
    let mut answer = Vec::new();
    match slow.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the slow connection was still open after {:?}: {e}", started.elapsed()),
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || text.starts_with("HTTP/1.1 408"), "closed, or told it timed out: {text}");
    assert!(started.elapsed() >= Duration::from_millis(900), "not before the timeout: {:?}", started.elapsed());
}
