//! Stores made by earlier versions open, migrate and serve with this one. Each folder of
//! `tests/fixtures/stores` holds the stores one version made (`make.sh` with that version's
//! binary: the demo, an entry posted through the API, a dataset imported), as SQL text: the
//! SQLite file and the PostGIS database are rebuilt from them, then served by this binary.

use crate::support::{PostgisDb, Server, agent, get_json, ids_in_tile, repo_root};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The versions kept, oldest first.
fn versions() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo_root().join("tests/fixtures/stores"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("sqlite.sql.gz").is_file())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no stores of earlier versions in tests/fixtures/stores");
    dirs
}

fn gunzip(path: &std::path::Path) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut text).unwrap();
    text
}

/// What the version's store holds, read before this binary touches it: the live entries and
/// the id of the one posted through the API.
struct Expected {
    entries: u64,
    posted: u64,
}

/// Served by this binary: the entries (count, the posted one, its tile, a text search), the
/// imported dataset layer, then a new write numbered after the old ones.
fn check(server: &Server, expected: &Expected, version: &str) {
    let catalog = get_json(&server.url("/catalog"));
    let count =
        |id: &str| catalog["layers"].as_array().unwrap().iter().find(|l| l["id"] == id).map(|l| l["features"].clone());
    assert_eq!(count("entries"), Some(json!(expected.entries)), "{version}: every entry indexed");
    assert_eq!(count("points"), Some(json!(5)), "{version}: the imported dataset");
    let found = get_json(&server.url("/api/entries?q=avant%20mise"));
    let ids: Vec<u64> = found["entries"].as_array().unwrap().iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [expected.posted], "{version}: found by text: {found}");
    let entry = get_json(&server.url(&format!("/api/entries/{}", expected.posted)));
    assert_eq!((entry["title"].as_str(), entry["severity"].as_u64()), (Some("Avant la mise à jour"), Some(3)));
    let tile = agent().get(&server.url("/tiles/crowd/14/8299/5631")).call().unwrap().into_body().read_to_vec().unwrap();
    assert!(ids_in_tile(&tile).contains(&expected.posted), "{version}: in its tile");
    let mut r = agent()
        .post(&server.url("/api/entries"))
        .header("content-type", "application/json")
        .send(
            json!({"title": "Après la mise à jour", "author": "upgrade", "severity": 1, "tags": ["crowd"], "lon": 2.36, "lat": 48.92})
                .to_string(),
        )
        .unwrap();
    assert_eq!(r.status(), 201, "{version}");
    let created: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert!(created["id"].as_u64().unwrap() > expected.posted, "{version}: ids go on after the old ones");
}

#[test]
fn sqlite_stores_of_earlier_versions_open_and_serve() {
    for dir in versions() {
        let version = dir.file_name().unwrap().to_string_lossy().into_owned();
        let tmp = tempfile::tempdir().unwrap();
        let conn = rusqlite::Connection::open(tmp.path().join("vigie.db")).unwrap();
        conn.execute_batch(&gunzip(&dir.join("sqlite.sql.gz"))).unwrap();
        let entries: u64 = conn.query_row("SELECT count(*) FROM entries WHERE NOT deleted", [], |r| r.get(0)).unwrap();
        let posted: u64 =
            conn.query_row("SELECT id FROM entries WHERE title = 'Avant la mise à jour'", [], |r| r.get(0)).unwrap();
        drop(conn);
        let server = Server::start(tmp.path(), &["--anonymous-role", "contributor"]);
        check(&server, &Expected { entries, posted }, &version);
    }
}

/// Runs SQL text in the database with `psql`, stopping at the first error.
fn psql(url: &str, sql: &str, what: &str) {
    let mut psql = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", url])
        .stdin(Stdio::piped())
        .spawn()
        .expect("psql is required (apt-get install -y postgresql-client)");
    psql.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
    assert!(psql.wait().unwrap().success(), "{what}");
}

/// Serves a restored PostGIS database with this binary and checks it (see [`check`]).
fn serve_postgis(rt: &tokio::runtime::Runtime, db: &PostgisDb, version: &str) {
    let (entries, posted) = rt.block_on(async {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let entries: i64 =
            sqlx::query_scalar("SELECT count(*) FROM entries WHERE NOT deleted").fetch_one(&pool).await.unwrap();
        let posted: i64 = sqlx::query_scalar("SELECT id FROM entries WHERE title = 'Avant la mise à jour'")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        (entries as u64, posted as u64)
    });
    let tmp = tempfile::tempdir().unwrap();
    let server =
        Server::start_with_env(tmp.path(), &["--anonymous-role", "contributor"], &[("DATABASE_URL", db.url.as_str())]);
    check(&server, &Expected { entries, posted }, version);
}

#[test]
fn postgis_databases_of_earlier_versions_open_and_serve() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for dir in versions() {
        let version = dir.file_name().unwrap().to_string_lossy().into_owned();
        let db = rt.block_on(PostgisDb::create());
        psql(&db.url, &gunzip(&dir.join("postgis.sql.gz")), &format!("{version}: the dump restores"));
        serve_postgis(&rt, &db, &version);
        rt.block_on(db.drop_db());
    }
}

/// Migration 0009 was shipped in two texts: 84488e2 to a5a8ade ran the first, 338f279 edited a
/// comment of it, and sqlx checksums comments. The kept text is 338f279's (the test above runs
/// it on the oldest store). A database migrated by the earlier text is made here the way those
/// versions made it (the oldest kept store, then that text of 0009 run and recorded as sqlx
/// records it) and must open, migrate and serve; its record then holds the kept text's checksum.
#[test]
fn a_postgis_database_migrated_by_the_other_text_of_a_migration_opens() {
    use sha2::Digest;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let oldest = &versions()[0];
    let kept = std::fs::read_to_string(repo_root().join("migrations/postgres/0009_dataset_tables.sql")).unwrap();
    // The whole of 338f279's edit, undone.
    let edited = kept.replacen("a quarter of a COPY's time", "a third of a COPY's time", 1);
    assert_ne!(edited, kept);
    let db = rt.block_on(PostgisDb::create());
    psql(&db.url, &gunzip(&oldest.join("postgis.sql.gz")), "the oldest dump restores");
    psql(&db.url, &format!("BEGIN;\n{edited}\nCOMMIT;"), "the earlier 0009 runs");
    let checksum = |text: &str| sha2::Sha384::digest(text.as_bytes()).to_vec();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9, 'dataset_tables', true, $1, 1)",
        )
        .bind(checksum(&edited))
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    });
    serve_postgis(&rt, &db, "84488e2");
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let recorded: Vec<u8> = sqlx::query_scalar("SELECT checksum FROM _sqlx_migrations WHERE version = 9")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(recorded, checksum(&kept), "the record now names the kept text");
        pool.close().await;
    });
    rt.block_on(db.drop_db());
}
