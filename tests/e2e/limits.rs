//! Limits that keep one client from holding the real server (issue 20): a request body that
//! stalls is cut off with 408 and its connection closed, writes are limited per identity
//! (429 with Retry-After, others unaffected), and so are live event streams; each refusal is a
//! problem+json naming its setting.

use crate::support::{Server, agent, get_json};
use serde_json::{Value, json};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A demo server on `dir` with `settings` in its configuration file.
fn server_with(dir: &Path, settings: &str) -> Server {
    let config = dir.join("vigie.toml");
    std::fs::write(&config, settings).unwrap();
    Server::start(&dir.join("data"), &["--demo", "--demo-entries", "100", "--config", config.to_str().unwrap()])
}

/// The status line and body of a whole answer read from `stream` until it closes.
fn answer_of(stream: &mut TcpStream) -> (String, Value) {
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the connection stayed open: {e}"),
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    // A chunked body: its JSON is between the first chunk size and the end.
    let json = body.find('{').and_then(|a| body.rfind('}').map(|b| &body[a..=b])).unwrap_or("null");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

#[test]
fn a_request_body_that_stalls_is_cut_off_and_its_connection_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), "body_read_timeout_ms = 1000\n");
    let mut slow = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /api/entries HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n",
        server.port
    );
    slow.write_all(head.as_bytes()).unwrap();
    slow.write_all(br#"{"title": "half"#).unwrap();
    let started = Instant::now();
    // Others are served meanwhile.
    assert_eq!(agent().get(&server.url("/health")).call().unwrap().status(), 200);
    let (status, problem) = answer_of(&mut slow);
    assert!(status.starts_with("HTTP/1.1 408"), "{status}: {problem}");
    assert!(problem["detail"].as_str().unwrap_or_default().contains("body_read_timeout_ms"), "{problem}");
    assert!(started.elapsed() >= Duration::from_millis(900), "not before the timeout: {:?}", started.elapsed());
    // Nothing was written.
    let list: Value = get_json(&server.url("/api/entries?q=half"));
    assert_eq!(list["count"], 0, "{list}");
    // A body sent without pausing goes through.
    let r = agent()
        .post(&server.url("/api/entries"))
        .content_type("application/json")
        .send(json!({"title": "whole", "severity": 2, "lon": 2.35, "lat": 48.85, "author": "ops"}).to_string())
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[test]
fn writes_are_limited_per_identity() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), "writes_per_second = 0.5\nwrite_burst = 3\n");
    // The demo's anonymous identity on loopback names itself with X-Vigie-User.
    let post = |who: &str, n: usize| {
        agent()
            .post(&server.url("/api/entries"))
            .header("X-Vigie-User", who)
            .content_type("application/json")
            .send(json!({"title": format!("{who} {n}"), "severity": 1, "lon": 2.35, "lat": 48.85}).to_string())
            .unwrap()
    };
    for n in 0..3 {
        assert_eq!(post("alice", n).status(), 201, "within the burst");
    }
    let mut refused = post("alice", 3);
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(refused.headers().get("content-type").unwrap(), "application/problem+json");
    let problem: Value = serde_json::from_str(&refused.body_mut().read_to_string().unwrap()).unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("writes_per_second") && detail.contains("write_burst"), "{problem}");
    // Another identity has its own allowance; reads are not counted.
    assert_eq!(post("bob", 0).status(), 201);
    assert_eq!(agent().get(&server.url("/api/entries")).header("X-Vigie-User", "alice").call().unwrap().status(), 200);
    // After Retry-After, alice may write again.
    std::thread::sleep(Duration::from_secs(retry));
    assert_eq!(post("alice", 4).status(), 201);
}

#[test]
fn event_streams_are_limited_per_identity_and_freed_when_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), "event_streams_per_identity = 2\n");
    let open = || {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n").unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        (String::from_utf8_lossy(&head).into_owned(), s)
    };
    let (first, one) = open();
    let (second, _two) = open();
    assert!(first.ends_with("200") && second.ends_with("200"), "{first} {second}");
    let mut third = agent().get(&server.url("/api/events")).call().unwrap();
    assert_eq!(third.status(), 429);
    let problem: Value = serde_json::from_str(&third.body_mut().read_to_string().unwrap()).unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("event_streams_per_identity = 2"), "{problem}");
    // Another identity is not held back.
    let other = agent().get(&server.url("/api/events")).header("X-Vigie-User", "wall-display").call().unwrap();
    assert_eq!(other.status(), 200);
    drop(other);
    // A closed stream frees its slot (once the server notices: at the latest, its next
    // keep-alive comment).
    drop(one);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (status, _s) = open();
        if status.ends_with("200") {
            break;
        }
        assert!(Instant::now() < deadline, "the closed stream's slot was not freed within 40 s");
        std::thread::sleep(Duration::from_millis(500));
    }
}
