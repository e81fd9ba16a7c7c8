//! The embedded store's volume full (issue 20): the real binary on a small tmpfs of its own,
//! filled by another file. Writes are refused with a 507 problem+json saying what to do (never
//! a 500, never a half-written entry), reads go on, writes resume by themselves once there is
//! space, and the database passes `PRAGMA integrity_check` with every acknowledged entry in
//! it. Mounting needs root, as the Debian package test does (`tests/run` says so).

use crate::support::{Server, agent, python, run};
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs mounted at a path, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "vigie-disk-full"])
            .arg(at)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs at {} (the test needs root): {}",
            at.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the volume of `path` with one file until the disk is full; its size.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0x5au8; 256 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let _ = f.sync_all();
    written
}

/// `POST /api/entries` of an entry with a 20,000-character body: status and answer.
fn post(server: &Server, n: usize) -> (u16, Value) {
    let body = json!({
        "title": format!("Entrée {n}"),
        "body": "Main courante. ".repeat(1333),
        "severity": 2,
        "tags": ["crowd"],
        "lon": 2.36,
        "lat": 48.92,
    });
    let mut r = agent()
        .post(&server.url("/api/entries"))
        .header("content-type", "application/json")
        .header("x-vigie-user", &format!("writer-{}", n % 8))
        .send(body.to_string())
        .unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_str(&r.body_mut().read_to_string().unwrap_or_default()).unwrap_or(Value::Null))
}

#[test]
fn a_full_disk_refuses_writes_clearly_and_they_resume_when_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let volume = Tmpfs::mount(&tmp.path().join("volume"), "48m");
    let data = volume.0.join("data");
    let server = Server::start(&data, &["--demo", "--demo-entries", "200"]);
    let mut acknowledged = Vec::new();
    for n in 0..10 {
        let (status, e) = post(&server, n);
        assert_eq!(status, 201, "{e}");
        acknowledged.push(e["id"].as_u64().unwrap());
    }

    // Another file takes every byte left; writes go on until the store needs a page more.
    let filler = volume.0.join("filler");
    assert!(fill(&filler) > 0);
    let mut refused = None;
    for n in 10..2000 {
        match post(&server, n) {
            (201, e) => acknowledged.push(e["id"].as_u64().unwrap()),
            (507, problem) => {
                refused = Some(problem);
                break;
            }
            (status, other) => panic!("write {n} on a full disk answered {status}: {other}"),
        }
    }
    let problem = refused.expect("a write was refused before 2,000 entries of 20 KB");
    assert_eq!(problem["status"], 507, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("disk is full"), "{problem}");
    // Reads go on.
    let r = agent().get(&server.url("/tiles/crowd/12/2074/1407")).call().unwrap();
    assert!(matches!(r.status().as_u16(), 200 | 204), "{}", r.status());
    let r = agent().get(&server.url(&format!("/api/entries/{}", acknowledged[0]))).call().unwrap();
    assert_eq!(r.status(), 200);

    // Space again: writes resume without a restart.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, e) = post(&server, 5000);
        if status == 201 {
            acknowledged.push(e["id"].as_u64().unwrap());
            break;
        }
        assert!(status == 507 && Instant::now() < deadline, "writes did not resume: {status} {e}");
        std::thread::sleep(Duration::from_millis(500));
    }

    // Killed, then checked by SQLite itself: intact, every acknowledged entry in it, and no
    // entry written through the API (the demo's are seeded without events) lacking its event.
    server.kill();
    let db = data.join("vigie.db");
    let check = run(Command::new(python())
        .arg("-c")
        .arg(
            "import json, sqlite3, sys\n\
         c = sqlite3.connect(sys.argv[1])\n\
         ok = c.execute('PRAGMA integrity_check').fetchone()[0]\n\
         ids = [r[0] for r in c.execute('SELECT id FROM entries')]\n\
         orphans = c.execute(\"SELECT count(*) FROM entries e WHERE e.id >= ? AND NOT EXISTS \
         (SELECT 1 FROM events v WHERE v.entry_id = e.id)\", (int(sys.argv[2]),)).fetchone()[0]\n\
         print(json.dumps({'integrity': ok, 'ids': ids, 'orphans': orphans}))",
        )
        .arg(&db)
        .arg(acknowledged[0].to_string()));
    let check: Value = serde_json::from_str(&check).unwrap();
    assert_eq!(check["integrity"], "ok", "{}", check["integrity"]);
    assert_eq!(check["orphans"], 0);
    let stored: std::collections::BTreeSet<u64> =
        check["ids"].as_array().unwrap().iter().filter_map(Value::as_u64).collect();
    let lost: Vec<&u64> = acknowledged.iter().filter(|id| !stored.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged entries lost: {lost:?}");
}
