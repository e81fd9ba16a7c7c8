//! One store test suite, run against both backends: the embedded SQLite store and PostGIS
//! (each on a fresh database). Every behaviour of one must hold for the other.

use crate::support::PostgisDb;
use serde_json::json;
use std::sync::Arc;
use vigie_layers::dataset::{DatasetBuilder, Location, Mapping, Record};
use vigie_layers::feature::QualificationSet;
use vigie_layers::journal::{self, Action};
use vigie_layers::model::Entry;
use vigie_layers::{Qualification, Value};
use vigie_tileserver::store::Synchronous;
use vigie_tileserver::store::postgres::{PgSettings, PgStore};
use vigie_tileserver::store::sqlite::SqliteStore;
use vigie_tileserver::store::{Change, ChangeError, EntryQuery, EventDraft, EventKind, Store};

fn draft(kind: EventKind) -> EventDraft {
    EventDraft { kind, layers: vec!["entries".into()], bbox: Some([2.0, 48.0, 2.0, 48.0]) }
}

fn new_entry(title: &str, lon: f64, lat: f64, t: i64, tags: &[&str]) -> Entry {
    let v = json!({"title": title, "severity": 2, "tags": tags, "lon": lon, "lat": lat, "author": "suite",
                   "body": "Fumée épaisse près de l'Hôtel de Ville", "occurred_at": vigie_layers::feature::format_time_ms(t)});
    journal::validate_new(&v, None, t + 60_000).unwrap().0
}

async fn suite(store: Arc<dyn Store>) {
    let backend = store.backend();
    // Seed and read back the demo.
    assert!(store.is_empty().await.unwrap(), "{backend}");
    let seed = vigie_tileserver::store::Seed::demo(7, 300, false);
    store.seed(&seed).await.unwrap();
    assert!(!store.is_empty().await.unwrap());
    assert_eq!(store.venues().await.unwrap(), seed.venues, "{backend}: venues round-trip");
    assert_eq!(store.perimeters().await.unwrap(), seed.perimeters, "{backend}: perimeters round-trip");
    let mut entries = Vec::new();
    assert_eq!(store.for_each_entry(&mut |e| entries.push(e)).await.unwrap(), 300);
    entries.sort_by_key(|e| e.id);
    assert_eq!(entries, seed.entries, "{backend}: entries round-trip");

    // Writes: ids after the seed, gap-free events, revisions, stale versions refused.
    let t0 = 1_722_000_000_000;
    let a = store
        .create_entry(new_entry("Colis suspect", 2.35, 48.85, t0, &["public_order"]), draft(EventKind::Created))
        .await
        .unwrap();
    let b = store
        .create_entry(new_entry("Malaise", 5.37, 43.29, t0 + 1000, &["health", "vip"]), draft(EventKind::Created))
        .await
        .unwrap();
    assert_eq!((a.entry.id, b.entry.id), (301, 302), "{backend}");
    assert_eq!((a.event.seq, b.event.seq), (1, 2), "{backend}");
    let stale = store
        .change_entry(a.entry.id, &|cur: &Entry| {
            if cur.version != 7 {
                return Err(ChangeError::Stale { current: cur.version });
            }
            unreachable!()
        })
        .await;
    assert!(matches!(stale, Err(ChangeError::Stale { current: 1 })), "{backend}");
    let vocab = vigie_layers::model::ThemeVocabulary::default();
    let changed = store
        .change_entry(a.entry.id, &|cur: &Entry| {
            let (entry, revision) =
                journal::apply_patch(cur, &json!({"qualification": "in_review", "severity": 4}), "chef", t0, &vocab)
                    .map_err(|_| ChangeError::NoChange)?;
            Ok(Change { entry, revision, event: draft(EventKind::Updated) })
        })
        .await
        .unwrap();
    assert_eq!((changed.entry.version, changed.event.seq, changed.event.actor.as_str()), (2, 3, "chef"));
    assert_eq!(changed.previous.as_ref().unwrap().version, 1);
    assert!(matches!(
        store.change_entry(9999, &|_: &Entry| Err(ChangeError::NoChange)).await,
        Err(ChangeError::NotFound)
    ));
    let revs = store.revisions(a.entry.id).await.unwrap();
    assert_eq!(
        revs.iter().map(|r| (r.version, r.action)).collect::<Vec<_>>(),
        [(1, Action::Created), (2, Action::Updated)]
    );
    assert_eq!(revs[1].changes["qualification"], json!({"from": "raw", "to": "in_review"}));
    let stored = store.entry(a.entry.id).await.unwrap().unwrap();
    assert_eq!(stored.qualification, Qualification::InReview);
    assert_eq!(stored, changed.entry, "{backend}: the stored entry is the committed one");
    let events = store.events_after(0, 10).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(events[2].kind, EventKind::Updated);
    assert_eq!(events[0].bbox, Some([2.0, 48.0, 2.0, 48.0]));
    assert_eq!(store.last_event_seq().await.unwrap(), 3);
    assert_eq!(store.events_after(2, 10).await.unwrap().len(), 1);

    // The list: filters, bbox, accent-insensitive text, keyset paging.
    let q = |f: &dyn Fn(&mut EntryQuery)| {
        let mut q = EntryQuery { limit: 1000, ..EntryQuery::default() };
        f(&mut q);
        q
    };
    let near_paris = store.list_entries(&q(&|q| q.bbox = Some([2.3, 48.8, 2.4, 48.9]))).await.unwrap();
    assert!(
        near_paris.iter().any(|e| e.id == a.entry.id) && near_paris.iter().all(|e| e.id != b.entry.id),
        "{backend}: bbox"
    );
    let vip = store.list_entries(&q(&|q| q.tags = vec!["vip".into()])).await.unwrap();
    assert!(
        vip.iter().any(|e| e.id == b.entry.id) && vip.iter().all(|e| e.tags.contains(&"vip".to_owned())),
        "{backend}: tags"
    );
    let severe = store.list_entries(&q(&|q| q.min_severity = Some(4))).await.unwrap();
    assert!(severe.iter().all(|e| e.severity == 4) && severe.iter().any(|e| e.id == a.entry.id));
    let found = store.list_entries(&q(&|q| q.text = Some("HOTEL fumee".into()))).await.unwrap();
    assert_eq!(
        found.iter().map(|e| e.id).collect::<Vec<_>>(),
        [b.entry.id, a.entry.id],
        "{backend}: text search, newest first"
    );
    let in_review =
        store.list_entries(&q(&|q| q.qualifications = QualificationSet::of([Qualification::InReview]))).await.unwrap();
    assert!(in_review.iter().all(|e| e.qualification == Qualification::InReview));
    let window = store
        .list_entries(&q(&|q| {
            q.from_ms = Some(t0);
            q.to_ms = Some(t0 + 500);
        }))
        .await
        .unwrap();
    assert_eq!(window.iter().map(|e| e.id).collect::<Vec<_>>(), [a.entry.id], "{backend}: time window");
    let antimeridian = store.list_entries(&q(&|q| q.bbox = Some([179.0, -20.0, -179.0, -10.0]))).await.unwrap();
    assert!(antimeridian.is_empty());
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store.list_entries(&EntryQuery { before, limit: 37, ..EntryQuery::default() }).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|e| (e.occurred_at, e.id));
        seen.extend(page.iter().map(|e| e.id));
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!((seen.len(), sorted.len()), (302, 302), "{backend}: paging visits each entry once");

    // Attachments are content-addressed and stored once.
    store.put_attachment("ab".repeat(32).as_str(), "image/png", b"png bytes").await.unwrap();
    store.put_attachment("ab".repeat(32).as_str(), "image/png", b"png bytes").await.unwrap();
    let att = store.attachment(&"ab".repeat(32)).await.unwrap().unwrap();
    assert_eq!((att.media_type.as_str(), att.bytes.as_slice()), ("image/png", b"png bytes".as_slice()));
    assert!(store.attachment(&"cd".repeat(32)).await.unwrap().is_none());

    // Datasets: replaced whole, versions increase, values typed by the schema.
    let dataset = |n: usize| {
        let mut bld = DatasetBuilder::new("probe", Mapping { time: Some("date".into()), ..Mapping::default() });
        for i in 0..n {
            bld.push(
                Location { file: "t".into(), position: format!("feature {i}") },
                Record {
                    geometry: geo::Geometry::Point(geo::Point::new(2.0 + i as f64 * 0.01, 48.0)),
                    props: vec![
                        ("code".into(), Value::text(format!("2{}", char::from(b'A' + (i % 2) as u8)))),
                        ("n".into(), Value::Int(i as i64)),
                        ("x".into(), Value::Float(0.5)),
                        ("date".into(), Value::text("2024-07-26")),
                    ],
                },
            );
        }
        bld.finish(false).unwrap().0
    };
    let v1 = store.replace_dataset(&dataset(10), "probe.geojson").await.unwrap();
    let v2 = store.replace_dataset(&dataset(4), "probe.geojson").await.unwrap();
    assert_eq!((v1.version, v2.version, v2.feature_count), (1, 2, 4), "{backend}");
    let infos = store.datasets().await.unwrap();
    assert_eq!(
        infos,
        vec![v2.clone()]
            .into_iter()
            .map(|mut i| {
                i.imported_at_ms = infos[0].imported_at_ms;
                i
            })
            .collect::<Vec<_>>()
    );
    let features = store.dataset_features(&v2).await.unwrap();
    assert_eq!(features, dataset(4).features, "{backend}: dataset features round-trip");
    let replaced = store.dataset_features(&v1).await;
    assert!(replaced.as_ref().map_or(true, Vec::is_empty), "{backend}: a replaced version has no feature left");
    assert_eq!(features[1].props[0], Value::text("2B"));
    assert_eq!(features[0].time_ms, Some(1_721_952_000_000));

    // A group of creations commits whole or not at all (a row the schema refuses, here a
    // severity out of range, fails the group and leaves no entry, revision or event).
    let group = |titles: &[&str]| -> Vec<(Entry, EventDraft)> {
        titles.iter().map(|t| (new_entry(t, 2.35, 48.86, t0 + 5000, &["crowd"]), draft(EventKind::Created))).collect()
    };
    let mut bad = group(&["un", "deux", "trois"]);
    bad[1].0.severity = 9;
    assert!(store.create_entries(&bad).await.is_err(), "{backend}: a refused row fails the group");
    assert_eq!(store.last_event_seq().await.unwrap(), 3, "{backend}: no event of a failed group");
    assert!(store.entry(303).await.unwrap().is_none(), "{backend}: no entry of a failed group");
    let commits = store.create_entries(&group(&["un", "deux", "trois"])).await.unwrap();
    assert_eq!(
        commits.iter().map(|c| (c.entry.id, c.event.seq, c.event.entry_id, c.entry.title.as_str())).collect::<Vec<_>>(),
        [(303, 4, 303, "un"), (304, 5, 304, "deux"), (305, 6, 305, "trois")],
        "{backend}: a group is numbered in order"
    );
    let events = store.events_after(3, 10).await.unwrap();
    let key =
        |e: &vigie_tileserver::store::Event| (e.seq, e.entry_id, e.kind, e.version, e.actor.clone(), e.layers.clone());
    assert_eq!(
        events.iter().map(key).collect::<Vec<_>>(),
        commits.iter().map(|c| key(&c.event)).collect::<Vec<_>>(),
        "{backend}: group events"
    );
    for c in &commits {
        assert_eq!(store.entry(c.entry.id).await.unwrap().as_ref(), Some(&c.entry), "{backend}");
        assert_eq!(store.revisions(c.entry.id).await.unwrap().len(), 1, "{backend}: creation revision");
    }
    store.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), "suite", Synchronous::Normal).await.unwrap();
    suite(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgis_store() {
    let db = PostgisDb::create().await;
    let settings = PgSettings { url: db.url.clone(), pool_size: 4, statement_timeout_ms: 10_000, commits_in_flight: 1 };
    let store = PgStore::open(&settings, "suite").await.unwrap();
    suite(Arc::new(store.clone())).await;
    // The suite imported a dataset twice: the first version's table was dropped.
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT relname::text FROM pg_class WHERE relkind = 'r' AND relname ~ '^dataset_features_'")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let current: Vec<String> =
        sqlx::query_scalar("SELECT features_table FROM datasets").fetch_all(store.pool()).await.unwrap();
    assert_eq!(tables, current, "one table per dataset, the current version's");
    store.pool().close().await;
    db.drop_db().await;
}

/// Many groups of creations in flight at once on PostGIS (four, from 16 writers): every id and
/// event seq once, gap-free, each entry's event numbered as its commit says.
#[tokio::test(flavor = "multi_thread")]
async fn postgis_groups_in_flight_number_without_gaps() {
    let db = PostgisDb::create().await;
    let settings =
        PgSettings { url: db.url.clone(), pool_size: 16, statement_timeout_ms: 10_000, commits_in_flight: 4 };
    let store: Arc<dyn Store> = Arc::new(PgStore::open(&settings, "groups").await.unwrap());
    assert_eq!(store.commits_in_flight(), 4);
    let t0 = 1_722_000_000_000;
    let tasks: Vec<_> = (0..16i64)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut groups = Vec::new();
                for g in 0..20 {
                    let group: Vec<_> = (0..=(w + g) % 5)
                        .map(|i| {
                            let e = new_entry(&format!("w{w} g{g} #{i}"), 2.35, 48.86, t0 + i, &["crowd"]);
                            (e, draft(EventKind::Created))
                        })
                        .collect();
                    groups.push(store.create_entries(&group).await.unwrap());
                }
                groups
            })
        })
        .collect();
    let mut groups = Vec::new();
    for t in tasks {
        groups.extend(t.await.unwrap());
    }
    // Within a group, ids and seqs follow the group's order, both by one.
    for group in &groups {
        assert!(
            group.windows(2).all(|c| c[1].entry.id == c[0].entry.id + 1 && c[1].event.seq == c[0].event.seq + 1),
            "a group numbered in one run"
        );
    }
    let commits: Vec<_> = groups.into_iter().flatten().collect();
    let n = commits.len() as u64;
    let mut ids: Vec<u64> = commits.iter().map(|c| c.entry.id).collect();
    let mut seqs: Vec<u64> = commits.iter().map(|c| c.event.seq).collect();
    ids.sort_unstable();
    seqs.sort_unstable();
    assert_eq!(ids, (1..=n).collect::<Vec<_>>());
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
    let events = store.events_after(0, n as usize + 10).await.unwrap();
    assert_eq!(events.len() as u64, n);
    for c in &commits {
        let e = &events[c.event.seq as usize - 1];
        assert_eq!((e.seq, e.entry_id, e.version), (c.event.seq, c.entry.id, 1));
        assert_eq!(store.entry(c.entry.id).await.unwrap().as_ref(), Some(&c.entry));
    }
    db.drop_db().await;
}

/// A PostGIS store made before datasets had a table per version (migrations 1 to 8, features in
/// one shared table, two versions of a dataset there): it opens, its current version is moved
/// to a table of its own and served, and the next import replaces it.
#[tokio::test(flavor = "multi_thread")]
async fn a_postgis_store_from_before_dataset_tables_migrates() {
    use vigie_tileserver::store::codec::migrator;
    let db = PostgisDb::create().await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    migrator(&vigie_tileserver::store::postgres::MIGRATIONS[..8]).run(&pool).await.unwrap();
    let sites = |name: &str| {
        let mut bld = DatasetBuilder::new("sites", Mapping::default());
        bld.push(
            Location { file: "t".into(), position: "feature 0".into() },
            Record {
                geometry: geo::Geometry::Point(geo::Point::new(2.0, 48.0)),
                props: vec![("nom".into(), Value::text(name))],
            },
        );
        bld.finish(false).unwrap().0
    };
    let schema = serde_json::to_string(&sites("x").schema.fields).unwrap();
    sqlx::query("INSERT INTO workspaces (id, title) VALUES ('old', 'old')").execute(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO datasets (workspace, id, version, schema, source, imported_at, feature_count) VALUES \
         ('old', 'sites', 2, $1::jsonb, 'sites.csv', now(), 2)",
    )
    .bind(schema)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO dataset_features (workspace, dataset, version, id, geom, props, time, severity, tags) VALUES \
         ('old', 'sites', 1, 1, ST_SetSRID(ST_MakePoint(1, 1), 4326), '[\"v1\"]', NULL, NULL, '[]'), \
         ('old', 'sites', 2, 2, ST_SetSRID(ST_MakePoint(2.35, 48.85), 4326), '[\"Bercy\"]', '2024-07-26T10:00:00Z', 3, '[\"crowd\"]'), \
         ('old', 'sites', 2, 1, ST_SetSRID(ST_MakePoint(2.29, 48.86), 4326), '[\"Trocadéro\"]', NULL, NULL, '[]')",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let settings = PgSettings { url: db.url.clone(), pool_size: 4, statement_timeout_ms: 10_000, commits_in_flight: 1 };
    let store = PgStore::open(&settings, "old").await.expect("an older store opens");
    let infos = store.datasets().await.unwrap();
    assert_eq!((infos.len(), infos[0].version, infos[0].feature_count), (1, 2, 2));
    let features = store.dataset_features(&infos[0]).await.unwrap();
    assert_eq!(features.iter().map(|f| f.id).collect::<Vec<_>>(), [1, 2], "the current version, in id order");
    assert_eq!(features[0].props, [Value::text("Trocadéro")]);
    assert_eq!((features[1].time_ms, features[1].severity), (Some(1_721_988_000_000), Some(3)));
    assert_eq!(features[1].tags, ["crowd"]);
    assert_eq!(features[1].geometry, geo::Geometry::Point(geo::Point::new(2.35, 48.85)));
    let v3 = store.replace_dataset(&sites("Nouveau"), "sites.csv").await.unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(store.dataset_features(&v3).await.unwrap().len(), 1);
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_class WHERE relname ~ '^dataset_features'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(tables, 2, "the shared table is gone, the migrated version's table dropped: one table and its key");
    store.pool().close().await;
    db.drop_db().await;
}

/// Two workspaces of one embedded store write at the same time, each through its own writer
/// connection to the same file (as `vigie serve` does for every workspace, and a `vigie`
/// command beside it): every write succeeds. A deferred transaction upgrading to a write while
/// the other connection held the lock failed at once with "database is locked" (seen as a 500
/// in the workspaces test); write transactions now begin immediate and wait for the lock.
#[tokio::test(flavor = "multi_thread")]
async fn two_workspaces_write_to_one_sqlite_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut writers = Vec::new();
    for ws in ["default", "pp"] {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path(), ws, Synchronous::Normal).await.unwrap());
        for task in 0..4 {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..150 {
                    let e = new_entry(&format!("{ws} {task} {i}"), 2.35, 48.85, 1_722_000_000_000, &["cyber"]);
                    store
                        .create_entries(&[(e, draft(EventKind::Created))])
                        .await
                        .unwrap_or_else(|e| panic!("{ws}: {e}"));
                }
            }));
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    for ws in ["default", "pp"] {
        let store = SqliteStore::open(dir.path(), ws, Synchronous::Normal).await.unwrap();
        assert_eq!(store.last_event_seq().await.unwrap(), 600, "{ws}");
    }
}
