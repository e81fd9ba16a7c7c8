//! Backups: `vigie backup` of a running embedded store while entries are written, `vigie
//! restore` into a new data directory, and a PostGIS database dumped with `pg_dump` while it
//! serves and restored with `pg_restore` into a new one.

use crate::support::{PNG, PostgisDb, Server, agent, get_json, require_tool, run, vigie_cli, vigie_ok};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Posts an entry; its id.
fn post(server: &Server, n: usize) -> u64 {
    let body = json!({"title": format!("Sauvegarde {n}"), "author": "backup", "severity": 2, "tags": ["crowd"],
        "lon": 2.35 + (n % 100) as f64 * 1e-4, "lat": 48.85});
    let mut r = agent()
        .post(&server.url("/api/entries"))
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    created["id"].as_u64().unwrap()
}

/// Attaches the PNG to an entry; its SHA-256.
fn attach(server: &Server, id: u64) -> String {
    let mut r = agent()
        .post(&server.url(&format!("/api/entries/{id}/attachments?filename=quai.png")))
        .header("content-type", "image/png")
        .send(PNG)
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    v["sha256"].as_str().expect("the attachment's sha256").to_owned()
}

fn sqlite(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db).unwrap()
}

#[test]
fn an_online_backup_restores_every_entry_acknowledged_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, dest, restored) = (tmp.path().join("data"), tmp.path().join("backup"), tmp.path().join("restored"));
    std::fs::create_dir_all(dir.join("notes")).unwrap();
    std::fs::write(dir.join("notes/readme.txt"), "kept beside the database").unwrap();
    let server = Arc::new(Server::start(&dir, &["--anonymous-role", "editor"]));
    let first = post(&server, 0);
    let photo = attach(&server, first);

    // A writer goes on for the whole backup.
    let acked = Arc::new(Mutex::new(vec![first]));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (server, acked, stop) = (server.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 1;
            while !stop.load(Ordering::SeqCst) {
                let id = post(&server, n);
                acked.lock().unwrap().push(id);
                n += 1;
            }
        })
    };
    // The writer stops only when told or when a write fails: then the wait ends and join says why.
    let wait_for = |n: usize| {
        while acked.lock().unwrap().len() < n && !writer.is_finished() {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(40);
    let before: Vec<u64> = acked.lock().unwrap().clone();
    let out = vigie_ok(&["backup", dest.to_str().unwrap()], &dir, &[]);
    let during = acked.lock().unwrap().len();
    wait_for(during + 10);
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(out.starts_with("backed up"), "{out}");

    let manifest: Value = serde_json::from_slice(&std::fs::read(dest.join("manifest.json")).unwrap()).unwrap();
    let paths: Vec<&str> = manifest["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["vigie.db", "notes/readme.txt"], "{manifest}");
    let in_copy = manifest["entries"].as_u64().unwrap();
    assert!(in_copy >= before.len() as u64, "{in_copy} entries in the copy, {} acknowledged before it", before.len());

    // Restored into a new data directory: whole, consistent, and served.
    let out = vigie_ok(&["restore", dest.to_str().unwrap()], &restored, &[]);
    assert!(out.starts_with("restored"), "{out}");
    let db = sqlite(&restored.join("vigie.db"));
    let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let (events, last): (i64, i64) = db
        .query_row("SELECT count(*), max(seq) FROM events WHERE workspace = 'default'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(events, last, "the event sequence has no gap");
    drop(db);
    assert_eq!(std::fs::read_to_string(restored.join("notes/readme.txt")).unwrap(), "kept beside the database");
    let server2 = Server::start(&restored, &["--anonymous-role", "editor"]);
    for id in &before {
        assert_eq!(get_json(&server2.url(&format!("/api/entries/{id}")))["id"], json!(id), "entry {id}");
    }
    let bytes = agent()
        .get(&server2.url(&format!("/api/attachments/{photo}?entry={first}")))
        .call()
        .unwrap()
        .into_body()
        .read_to_vec()
        .unwrap();
    assert_eq!(bytes, PNG, "the photo is in the backup");
    drop(server2);

    // Refusals, each naming what is wrong, and nothing written.
    let (ok, _, both) = vigie_cli(&["restore", dest.to_str().unwrap()], &restored, &[]);
    assert!(!ok && both.contains("a database is already here"), "{both}");
    let (ok, _, both) = vigie_cli(&["backup", dest.to_str().unwrap()], &dir, &[]);
    assert!(!ok && both.contains("not empty"), "{both}");
    let copy = dest.join("vigie.db");
    let mut damaged = std::fs::read(&copy).unwrap();
    let at = damaged.len() / 2;
    damaged[at] ^= 0x40;
    std::fs::write(&copy, damaged).unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    let (ok, _, both) = vigie_cli(&["restore", dest.to_str().unwrap()], &elsewhere, &[]);
    assert!(!ok && both.contains("vigie.db") && both.contains("the backup is damaged"), "{both}");
    assert!(!elsewhere.join("vigie.db").exists());
    std::fs::remove_file(dest.join("manifest.json")).unwrap();
    let (ok, _, both) = vigie_cli(&["restore", dest.to_str().unwrap()], &elsewhere, &[]);
    assert!(!ok && both.contains("no manifest"), "{both}");
}

#[test]
fn a_postgis_database_dumped_while_serving_restores_into_a_new_one() {
    let pg_dump = require_tool("pg_dump", "apt-get install -y postgresql-client");
    let pg_restore = require_tool("pg_restore", "apt-get install -y postgresql-client");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (db, db2) = rt.block_on(async { (PostgisDb::create().await, PostgisDb::create().await) });
    let tmp = tempfile::tempdir().unwrap();
    let env = [("DATABASE_URL", db.url.as_str())];
    let server = Server::start_with_env(tmp.path(), &["--anonymous-role", "editor"], &env);
    let ids: Vec<u64> = (0..5).map(|n| post(&server, n)).collect();
    let photo = attach(&server, ids[0]);
    let (ok, _, both) = vigie_cli(&["backup", tmp.path().join("b").to_str().unwrap()], tmp.path(), &env);
    assert!(!ok && both.contains("pg_dump"), "{both}");

    let dump = tmp.path().join("vigie.dump");
    run(Command::new(&pg_dump).args(["--format=custom", "--no-owner", "--file"]).arg(&dump).arg(&db.url));
    drop(server);
    run(Command::new(&pg_restore).args(["--no-owner", "--exit-on-error", "--dbname", &db2.url]).arg(&dump));

    let env2 = [("DATABASE_URL", db2.url.as_str())];
    let server2 = Server::start_with_env(tmp.path(), &["--anonymous-role", "editor"], &env2);
    for id in &ids {
        assert_eq!(get_json(&server2.url(&format!("/api/entries/{id}")))["id"], json!(id), "entry {id}");
    }
    let bytes = agent()
        .get(&server2.url(&format!("/api/attachments/{photo}?entry={}", ids[0])))
        .call()
        .unwrap()
        .into_body()
        .read_to_vec()
        .unwrap();
    assert_eq!(bytes, PNG);
    assert!(post(&server2, 99) > ids[4], "ids go on after the restored ones");
    drop(server2);
    rt.block_on(async {
        db.drop_db().await;
        db2.drop_db().await;
    });
}
