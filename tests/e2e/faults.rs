//! PostgreSQL stopped under load: requests get 503 problem+json, `/health` says degraded and
//! `/readyz` not ready (`/livez` still alive), vigie reconnects by itself when the database is
//! back, and no acknowledged write is lost. The test runs its own throwaway PostgreSQL cluster
//! (initdb in a temporary directory) so stopping it disturbs nothing else.

use crate::support::{Server, agent, free_port, get_json, require_tool};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A private PostgreSQL cluster run as the `postgres` system user.
struct Cluster {
    dir: PathBuf,
    port: u16,
}

fn as_postgres(args: &[&str]) -> std::process::Output {
    let runuser = require_tool("runuser", "apt-get install -y util-linux");
    Command::new(runuser).args(["-u", "postgres", "--"]).args(args).output().expect("runuser runs")
}

impl Cluster {
    fn create(root: &Path) -> Self {
        assert!(
            Path::new(PG_BIN).join("initdb").is_file(),
            "PostgreSQL 15 server binaries are required: apt-get install -y postgresql-15"
        );
        let dir = root.join("pgdata");
        std::fs::create_dir_all(&dir).unwrap();
        let chown = Command::new("chown").args(["-R", "postgres:postgres"]).arg(root).status().unwrap();
        assert!(chown.success(), "chown of the cluster directory (the test runs as root, the cluster as postgres)");
        let out =
            as_postgres(&[&format!("{PG_BIN}/initdb"), "-D", dir.to_str().unwrap(), "-A", "trust", "-U", "postgres"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let c = Self { dir, port: free_port() };
        c.start();
        c
    }

    fn start(&self) {
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.display());
        let log = self.dir.join("log");
        let out = as_postgres(&[
            &format!("{PG_BIN}/pg_ctl"),
            "-D",
            self.dir.to_str().unwrap(),
            "-o",
            &opts,
            "-l",
            log.to_str().unwrap(),
            "-w",
            "start",
        ]);
        assert!(out.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn stop(&self) {
        let out =
            as_postgres(&[&format!("{PG_BIN}/pg_ctl"), "-D", self.dir.to_str().unwrap(), "-m", "fast", "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ =
            as_postgres(&[&format!("{PG_BIN}/pg_ctl"), "-D", self.dir.to_str().unwrap(), "-m", "immediate", "stop"]);
    }
}

#[test]
fn database_outage_gives_503_then_recovers_without_losing_acknowledged_writes() {
    let root = tempfile::tempdir().unwrap();
    let cluster = Cluster::create(root.path());
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("stderr.log");
    let url = cluster.url();
    let server = Server::start_logged(
        data.path(),
        &["--demo", "--demo-entries", "200"],
        &[("DATABASE_URL", url.as_str())],
        Some(&log),
    );

    // Writers keep posting through the outage; every 201 is recorded.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<u64>::new()));
    let statuses = Arc::new(Mutex::new(Vec::<u16>::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, ack, st, url) =
                (stop.clone(), acknowledged.clone(), statuses.clone(), server.url("/api/entries"));
            std::thread::spawn(move || {
                let a = agent();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let body =
                        json!({"title": format!("w{w} #{i}"), "severity": 1, "lon": 2.35, "lat": 48.85, "author": "t"});
                    match a.post(&url).header("content-type", "application/json").send(body.to_string()) {
                        Ok(mut r) => {
                            let status = r.status().as_u16();
                            let text = r.body_mut().read_to_string().unwrap_or_default();
                            if status == 201 {
                                let v: Value = serde_json::from_str(&text).unwrap();
                                ack.lock().unwrap().push(v["id"].as_u64().unwrap());
                            } else {
                                assert!(!text.contains("postgres://"), "no connection string in answers: {text}");
                            }
                            st.lock().unwrap().push(status);
                        }
                        Err(e) => panic!("vigie itself must keep answering: {e}"),
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    cluster.stop();
    // While the database is down: 503 problem+json, and health degraded.
    std::thread::sleep(Duration::from_millis(1500));
    let mut r = agent().get(&server.url("/health")).call().unwrap();
    assert_eq!(r.status(), 503);
    let health: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(health["status"], "degraded");
    // The probes: alive, not ready (a load balancer sends its requests elsewhere).
    assert_eq!(agent().get(&server.url("/livez")).call().unwrap().status(), 200);
    let mut r = agent().get(&server.url("/readyz")).call().unwrap();
    assert_eq!(r.status(), 503);
    let ready: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert!(ready["reasons"].to_string().contains("store"), "{ready}");
    let mut r = agent().get(&server.url("/api/entries?limit=1")).call().unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers().get("content-type").unwrap(), "application/problem+json");
    assert!(r.headers().get("retry-after").is_some());
    let body = r.body_mut().read_to_string().unwrap();
    assert!(!body.contains("postgres://") && !body.contains("SELECT"), "{body}");
    // Tiles come from memory: they keep working without the database.
    assert_eq!(agent().get(&server.url("/tiles/venues/0/0/0")).call().unwrap().status(), 200);
    // The outage lasts until a write has been refused (a write waits up to the pool's 5 s for
    // a connection, and a failed group is retried creation by creation): how long that takes
    // depends on the machine, so wait for it rather than for a fixed time.
    let down = Instant::now();
    while !statuses.lock().unwrap().contains(&503) {
        assert!(down.elapsed() < Duration::from_mins(1), "no write was refused during the outage");
        std::thread::sleep(Duration::from_millis(100));
    }

    cluster.start();
    let back = Instant::now();
    loop {
        let r = agent().get(&server.url("/health")).call().unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(30), "vigie reconnects by itself");
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("healthy again {:?} after PostgreSQL restarted", back.elapsed());
    assert_eq!(agent().get(&server.url("/readyz")).call().unwrap().status(), 200, "ready again");
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let st = statuses.lock().unwrap().clone();
    assert!(st.contains(&503), "some writes met the outage");
    assert!(
        st.iter().all(|s| *s == 201 || *s == 503),
        "only 201 or 503: {:?}",
        st.iter().filter(|s| **s != 201 && **s != 503).collect::<Vec<_>>()
    );
    assert!(st.iter().rev().take(10).all(|s| *s == 201), "writes succeed again");
    // Every acknowledged write is in the database and in the index.
    let ack = acknowledged.lock().unwrap().clone();
    for id in &ack {
        let r = agent().get(&server.url(&format!("/api/entries/{id}"))).call().unwrap();
        assert_eq!(r.status(), 200, "acknowledged entry {id} lost");
    }
    let cat = get_json(&server.url("/catalog"));
    let entries =
        cat["layers"].as_array().unwrap().iter().find(|l| l["id"] == "entries").unwrap()["features"].as_u64().unwrap();
    assert_eq!(entries, 200 + ack.len() as u64, "index = seed + acknowledged writes");
    drop(server);
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!logged.contains("postgres://"), "no connection string in the logs");
}
