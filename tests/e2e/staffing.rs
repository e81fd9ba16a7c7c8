//! Liaison-officer staffing (issue 17) through the real binary: the CSV roster (every bad row
//! named, nothing taken), the plan, assignments refused with the rules they break, one seat per
//! person and shift under concurrent managers, unavailability in the gap report, suggestions
//! that keep every rule, confirmation, exports read by libraries we did not write (Python
//! `icalendar`, `csv`), and a level change recorded in the log and seen by a second client's
//! gap report and staffing tiles (decoded by `mapbox-vector-tile`) within a second — on the
//! embedded store and on two PostGIS replicas; a scheduled change logged once.

use crate::support::{PostgisDb, Reply, Server, Told, agent, call, member_token, python, run, sse};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A Monday well in the future: no shift of the window has started.
const DAY: &str = "2030-01-07";

fn ok(r: &Reply, what: &str) -> Value {
    assert!((200..300).contains(&r.status), "{what}: {} {}", r.status, String::from_utf8_lossy(&r.body));
    if r.body.is_empty() { Value::Null } else { r.json() }
}

fn get(server: &Server, path: &str, auth: &str) -> Value {
    ok(&call(server, "GET", path, auth, None, &[]), path)
}

fn post(server: &Server, path: &str, auth: &str, body: &Value) -> Reply {
    call(server, "POST", path, auth, Some(body), &[])
}

/// A body of another media type (a CSV roster).
fn post_text(server: &Server, path: &str, auth: &str, media: &str, text: &str) -> Reply {
    let req = ureq::http::Request::builder()
        .method("POST")
        .uri(server.url(path))
        .header("authorization", auth)
        .header("content-type", media);
    let mut resp = agent().run(req.body(text.to_owned()).unwrap()).unwrap();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    Reply { status: resp.status().as_u16(), headers, body: resp.body_mut().read_to_vec().unwrap_or_default() }
}

fn assign(server: &Server, auth: &str, person: &str, position: &str, shift: &str) -> Reply {
    post(
        server,
        "/api/staffing/assignments",
        auth,
        &json!({"person": person, "position": position, "day": DAY, "shift": shift}),
    )
}

fn rules_of(r: &Reply) -> Vec<String> {
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    r.json()["breaches"].as_array().unwrap().iter().map(|b| b["rule"].as_str().unwrap().to_owned()).collect()
}

fn gaps(server: &Server, auth: &str, query: &str) -> Value {
    get(server, &format!("/api/staffing/gaps?from={DAY}&{query}"), auth)
}

/// The `staffing` event saying `what` (waiting at most 10 s).
fn told(events: &mpsc::Receiver<Told>, what: &str) -> Told {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Ok(t) = events.recv_timeout(left)
            && t.kind == "staffing"
            && t.data["what"] == what
        {
            return t;
        }
    }
    panic!("no staffing event '{what}' within 10 s");
}

/// The staffing features of a tile, decoded by `mapbox-vector-tile`, and when it arrived.
fn tile_features(server: &Server, auth: &str) -> (Vec<Value>, Instant) {
    let r = call(server, "GET", "/tiles/staffing/0/0/0", auth, None, &[]);
    let got = Instant::now();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.mvt");
    std::fs::write(&file, &r.body).unwrap();
    let out = run(Command::new(python())
        .arg("-c")
        .arg(
            "import json, sys, mapbox_vector_tile\n\
         t = mapbox_vector_tile.decode(open(sys.argv[1], 'rb').read())\n\
         print(json.dumps([f['properties'] for f in t['staffing']['features']]))",
        )
        .arg(&file));
    (serde_json::from_str(&out).unwrap(), got)
}

const PLAN: &str = r#"{
    "levels": ["veille", "vigilance renforcée", "crise", "crise majeure"],
    "rules": {"min_rest_hours": 11, "max_week_hours": 48},
    "positions": [
        {"id": "pn", "title": "Officier de liaison DGPN", "directorate": "DGPN", "needs": [1, 1, 2, 2]},
        {"id": "secours", "title": "Secours", "directorate": "SAMU", "skills": ["secourisme"],
         "place": {"point": [2.3522, 48.8566], "label": "PC Hôtel de Ville"}, "needs": [0, 1, 1, 2]}
    ]
}"#;

#[test]
fn staffing_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    room(dir.path(), &[], None);
}

#[test]
fn staffing_on_two_postgis_replicas() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(PostgisDb::create());
    let (dir, replica) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    room(dir.path(), &[("DATABASE_URL", db.url.as_str())], Some(replica.path()));
    rt.block_on(db.drop_db());
}

fn room(d: &std::path::Path, env: &[(&str, &str)], replica: Option<&std::path::Path>) {
    let chef = member_token(d, env, "chef", "default", "staffing_manager");
    let rene = member_token(d, env, "rene", "default", "reader");
    let edith = member_token(d, env, "edith", "default", "editor");
    let server = Server::start_with_env(d, &["--demo", "--demo-entries", "200", "--require-sign-in"], env);
    let other = replica.map(|r| Server::start_with_env(r, &["--require-sign-in"], env));
    let far = other.as_ref().unwrap_or(&server);

    // The demo's plan and officers; readers see them, without contacts.
    let o = get(&server, "/api/staffing", &rene);
    assert_eq!((o["people"].as_u64(), o["plan"]["positions"].as_array().unwrap().len()), (Some(160), 40));
    assert_eq!((o["level"]["name"].as_str(), o["can_manage"].as_bool()), (Some("veille"), Some(false)));
    let people = get(&server, "/api/staffing/people", &rene)["people"].as_array().unwrap().clone();
    assert!(people[0].get("phone").is_none(), "contacts are the managers'");
    assert!(get(&server, "/api/staffing/people", &chef)["people"][0]["phone"].is_string());
    let level = json!({"level": "crise", "reason": "test"});
    assert_eq!(post(&server, "/api/staffing/level", &edith, &level).status, 403, "staffing managers only");

    // A bad roster: every bad row named by line and field, nobody imported.
    let bad = "id,name,directorate,skills,phone,email\n\
               m1,Marie Secours,SAMU,secourisme,,marie@samu.fr\n\
               bad id,Paul,SAMU,,,\n\
               m3,Luc,,radio,,luc\n\
               m1,Marie Bis,SAMU,,,\n";
    let r = post_text(&server, "/api/staffing/people", &chef, "text/csv", bad);
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let fields: Vec<String> =
        r.json()["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect();
    assert_eq!(fields, ["line 3: id", "line 4: directorate", "line 4: email", "line 5: id"], "{}", r.json());
    assert_eq!(get(&server, "/api/staffing", &rene)["people"], 160, "nothing imported");
    let good = "id;name;directorate;skills;phone;email\n\
                m1;Marie Secours;SAMU;secourisme;01 40 00 00 01;marie@samu.fr\n\
                m2;Paul Brancard;SAMU;;;\n";
    let r = post_text(&server, "/api/staffing/people", &chef, "text/csv", good);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(get(&server, "/api/staffing", &rene)["people"], 162);

    // The plan: checked field by field, then stored under If-Match.
    let version = o["plan_version"].as_u64().unwrap().to_string();
    let wrong = json!({"levels": ["a"], "positions": [{"id": "x", "title": "X", "needs": [1, 2]}]});
    let r = call(&server, "PUT", "/api/staffing/plan", &chef, Some(&wrong), &[("if-match", &version)]);
    assert_eq!(r.status, 422);
    let plan: Value = serde_json::from_str(PLAN).unwrap();
    let stale = call(&server, "PUT", "/api/staffing/plan", &chef, Some(&plan), &[("if-match", "\"999\"")]);
    assert_eq!(stale.status, 412);
    ok(&call(&server, "PUT", "/api/staffing/plan", &chef, Some(&plan), &[("if-match", &version)]), "plan");

    // The gap report over one day at the lowest level: the DGPN desk, three shifts.
    let g = gaps(&server, &rene, "days=1&level=veille");
    assert_eq!((g["totals"]["needed"].as_u64(), g["totals"]["short"].as_u64()), (Some(3), Some(3)));
    assert_eq!(g["raise"]["extra_short"], 3, "one level up the rescue desk opens");
    assert_eq!(g["raise"]["opening"], json!(["secours"]));

    // Assignments: allowed, then refused with the rule each breaks.
    let a = assign(&server, &chef, "o00001", "pn", "matin");
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(rules_of(&assign(&server, &chef, "o00001", "pn", "soir")), ["rest"]);
    assert_eq!(rules_of(&assign(&server, &chef, "o00001", "pn", "matin")), ["overlap"]);
    assert_eq!(rules_of(&assign(&server, &chef, "o00002", "pn", "soir")), ["directorate"]);
    assert_eq!(rules_of(&assign(&server, &chef, "m2", "secours", "soir")), ["skills"]);
    assert_eq!(assign(&server, &rene, "o00009", "pn", "soir").status, 403);
    assert_eq!(gaps(&server, &rene, "days=1&level=veille")["totals"]["short"], 2);

    // Two managers put the same officer on the same shift at once (on two replicas when there
    // are two): one seat per person and shift, whatever the timing.
    let (x, y) = std::thread::scope(|s| {
        let x = s.spawn(|| assign(&server, &chef, "o00009", "pn", "nuit").status);
        let y = s.spawn(|| {
            let b = json!({"person": "o00009", "position": "pn", "day": DAY, "shift": "nuit"});
            post(far, "/api/staffing/assignments", &chef, &b).status
        });
        (x.join().unwrap(), y.join().unwrap())
    });
    let mut both = [x, y];
    both.sort_unstable();
    assert!(both == [201, 409] || both == [201, 422], "one seat: {both:?}");

    // Away on the morning shift: the assignment no longer counts.
    let away = json!({"start": format!("{DAY}T04:00:00Z"), "end": format!("{DAY}T08:00:00Z"), "reason": "formation"});
    ok(&post(&server, "/api/staffing/people/o00001/unavailability", &chef, &away), "away");
    let g = gaps(&server, &rene, "days=1&level=veille");
    let morning =
        g["gaps"].as_array().unwrap().iter().find(|x| x["shift"] == "matin").expect("the morning is short again");
    assert_eq!((morning["unavailable"].as_u64(), morning["confirmed"].as_u64()), (Some(1), Some(0)));

    // Suggestions at "crise" over three days: proposals that keep every rule, then confirmed.
    let s = ok(
        &post(
            &server,
            "/api/staffing/suggestions",
            &chef,
            &json!({"level": "crise", "from": DAY, "days": 3, "apply": true}),
        ),
        "suggestions",
    );
    let applied: Vec<u64> = s["applied"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(applied.len() >= 10, "{s}");
    assert_eq!(applied.len() as u64, s["filled"].as_u64().unwrap());
    let list = get(&server, &format!("/api/staffing/assignments?from={DAY}&days=3"), &rene)["assignments"].clone();
    let mut by_person: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    for a in list.as_array().unwrap().iter().filter(|a| a["status"] != "declined") {
        let ms = |k: &str| vigie_layers::feature::parse_time_ms(a[k].as_str().unwrap()).unwrap();
        by_person.entry(a["person"].as_str().unwrap().to_owned()).or_default().push((ms("start"), ms("end")));
    }
    let away_end = vigie_layers::feature::parse_time_ms(&format!("{DAY}T08:00:00Z")).unwrap();
    for (person, mut shifts) in by_person {
        shifts.sort_unstable();
        for w in shifts.windows(2) {
            assert!(w[1].0 - w[0].1 >= 11 * 3_600_000, "{person}: {:?} then {:?}", w[0], w[1]);
        }
        if person == "o00001" {
            assert!(shifts.iter().filter(|s| s.0 < away_end).count() <= 1, "nothing new while away");
        }
    }
    let c = ok(&post(&server, "/api/staffing/assignments/confirm", &chef, &json!({"ids": applied})), "confirm");
    assert_eq!(c["confirmed"].as_u64(), Some(applied.len() as u64));
    let after = gaps(&server, &rene, "days=3&level=crise");
    assert_eq!(after["totals"]["proposed"], 0);

    // Exports: a person's shifts as iCalendar, read by Python's icalendar; CSV by Python's csv.
    let ics = call(&server, "GET", "/api/staffing/people/o00009/calendar.ics", &rene, None, &[]);
    assert_eq!(ics.header("content-type"), Some("text/calendar; charset=utf-8"));
    let mine: Vec<&Value> =
        list.as_array().unwrap().iter().filter(|a| a["person"] == "o00009" && a["status"] != "declined").collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("o.ics"), &ics.body).unwrap();
    let events: Vec<Vec<String>> = serde_json::from_str(&run(Command::new(python()).arg("-c").arg(
        "import json, sys, icalendar\n\
         cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())\n\
         print(json.dumps([[str(e['UID']), e.decoded('DTSTART').strftime('%Y-%m-%dT%H:%M:%SZ'), str(e['SUMMARY'])] for e in cal.walk('VEVENT')]))",
    ).arg(dir.path().join("o.ics"))))
    .unwrap();
    assert_eq!(events.len(), mine.len(), "{events:?}");
    for a in mine {
        let start = a["start"].as_str().unwrap().replace(".000Z", "Z");
        assert!(
            events.iter().any(|e| e[0] == format!("default-{}@vigie", a["id"]) && e[1] == start),
            "{a} in {events:?}"
        );
    }
    let csv =
        call(&server, "GET", &format!("/api/staffing/gaps?format=csv&level=crise&from={DAY}&days=3"), &rene, None, &[]);
    std::fs::write(dir.path().join("g.csv"), &csv.body).unwrap();
    let rows: usize = run(Command::new(python())
        .arg("-c")
        .arg("import csv, sys; print(len(list(csv.DictReader(open(sys.argv[1], encoding='utf-8')))))")
        .arg(dir.path().join("g.csv")))
    .trim()
    .parse()
    .unwrap();
    assert_eq!(rows as u64, after["gaps_total"].as_u64().unwrap());
    let roster =
        call(&server, "GET", &format!("/api/staffing/roster.csv?directorate=DGPN&from={DAY}&days=3"), &rene, None, &[]);
    let text = String::from_utf8(roster.body).unwrap();
    assert!(text.lines().count() > 3 && text.lines().skip(1).all(|l| l.contains(",DGPN,")), "{text}");
    assert!(text.lines().skip(1).all(|l| l.ends_with(",,")), "no contacts for a reader: {text}");

    // A level change, seen by a second client (on the other replica when there is one): the
    // event, the gap report, the staffing tiles; recorded in the log.
    let events = sse(far, "/api/events", &rene);
    let before = gaps(far, &rene, "days=3")["totals"]["needed"].as_u64().unwrap();
    assert_eq!(tile_features(far, &rene).0.iter().filter(|f| f["level"] == "veille").count(), 2, "two places");
    let sent = Instant::now();
    let change =
        post(&server, "/api/staffing/level", &chef, &json!({"level": "crise majeure", "reason": "Alerte attentat"}));
    assert_eq!(change.status, 201, "{}", String::from_utf8_lossy(&change.body));
    let t = told(&events, "level");
    let mut seen = None;
    while sent.elapsed() < Duration::from_secs(1) {
        let g = gaps(far, &rene, "days=3");
        if g["level"]["name"] == "crise majeure" {
            seen = Some((sent.elapsed(), g));
            break;
        }
    }
    let (latency, g) = seen.expect("the second client's gap report shows the new level within 1 s");
    assert!(g["totals"]["needed"].as_u64().unwrap() > before, "more people needed");
    let (tiles, got) = tile_features(far, &rene);
    let tile_latency = got.duration_since(sent);
    println!(
        "level change: event after {:?}, gap report after {latency:?}, tile after {tile_latency:?}",
        t.at.duration_since(sent)
    );
    assert!(tile_latency < Duration::from_secs(1), "the second client's staffing tile within 1 s: {tile_latency:?}");
    assert!(tiles.iter().all(|f| f["level"] == "crise majeure"), "{tiles:?}");
    assert!(tiles.iter().any(|f| f["coverage"] == "short" && f["short"].as_i64().unwrap() > 0), "{tiles:?}");
    let entry = change.json()["change"]["entry"].as_u64().expect("logged before the answer");
    let e = get(far, &format!("/api/entries/{entry}"), &rene);
    assert_eq!(e["title"], "Niveau d'alerte : crise majeure (était veille)");
    assert_eq!((e["qualification"].as_str(), e["tags"][0].as_str()), (Some("confirmed"), Some("niveau_alerte")));

    // A change scheduled in 3 s: in effect then, logged once although both replicas tick.
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let at = at.format(&time::format_description::well_known::Rfc3339).unwrap();
    let s = ok(
        &post(&server, "/api/staffing/level", &chef, &json!({"level": "crise", "reason": "Décrue", "at": at})),
        "scheduled",
    );
    assert_eq!(s["scheduled"], true);
    let later = json!({"level": "veille", "reason": "Fin", "at": "2031-01-01T00:00:00Z"});
    let later = ok(&post(&server, "/api/staffing/level", &chef, &later), "later")["change"]["id"].as_u64().unwrap();
    assert_eq!(call(&server, "DELETE", &format!("/api/staffing/level/{later}"), &chef, None, &[]).status, 204);
    told(&events, "level");
    let deadline = Instant::now() + Duration::from_secs(15);
    let logged = loop {
        let o = get(far, "/api/staffing", &rene);
        if o["level"]["name"] == "crise" && o["level"]["since"]["entry"].is_u64() {
            break o;
        }
        assert!(Instant::now() < deadline, "the scheduled change took effect: {o}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(logged["scheduled"].as_array().unwrap().is_empty(), "the withdrawn change is gone");
    std::thread::sleep(Duration::from_secs(3));
    let q = get(&server, "/api/entries?limit=100&qualification=all", &rene);
    let titles: Vec<&str> = q["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["title"].as_str())
        .filter(|t| t.starts_with("Niveau d'alerte"))
        .collect();
    assert_eq!(
        titles,
        ["Niveau d'alerte : crise (était crise majeure)", "Niveau d'alerte : crise majeure (était veille)"],
        "once each"
    );
}

/// The roster a replica keeps in memory after its own changes (applied there, not read back)
/// is the one the store holds: every kind of change, then a fresh read compared.
#[tokio::test]
async fn changes_applied_in_memory_match_the_store() {
    use vigie_tileserver::staffing::Staffing;
    use vigie_tileserver::staffing::store::{Change, NewAssignment, Outcome};
    use vigie_tileserver::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(
        vigie_tileserver::store::sqlite::SqliteStore::open(
            dir.path(),
            "default",
            vigie_tileserver::store::Synchronous::Normal,
        )
        .await
        .unwrap(),
    );
    let plan: vigie_staffing::Plan = serde_json::from_str(PLAN).unwrap();
    store.put_document(vigie_tileserver::staffing::PLAN_DOCUMENT, 0, PLAN, "test").await.unwrap();
    let staffing =
        Staffing::new(store.clone(), "default", vigie_tileserver::tiles::TileCache::new(1 << 20), Vec::new());
    let (_, people) = vigie_staffing::demo::instance(
        &mut {
            let mut rng = vigie_layers::demo::Rng::new(3);
            move || rng.next_u64()
        },
        &vigie_staffing::demo::Size { people: 20, directorates: 2, positions: 2, skills: 1 },
        &[],
    );
    let shift = plan.pattern().unwrap().shift("2030-01-07".parse().unwrap(), "matin").unwrap();
    let new = |person: &str, position: &str| NewAssignment {
        person: person.into(),
        position: position.into(),
        day: shift.day.clone(),
        shift: shift.name.clone(),
        start: shift.start,
        end: shift.end,
        status: vigie_staffing::Status::Proposed,
    };
    staffing.write(&Change::People(&people), "people", "t").await.unwrap();
    staffing.roster().await.unwrap(); // in memory from here on
    let assigned = [new("o00001", "pn"), new("o00003", "pn")];
    let Outcome::Done { ids, .. } = staffing.write(&Change::Assign(&assigned), "assignments", "t").await.unwrap()
    else {
        panic!("assigned")
    };
    let changes = [
        Change::Confirm(&ids[..1]),
        Change::Status { id: ids[1], from: vigie_staffing::Status::Proposed, to: vigie_staffing::Status::Declined },
        Change::Away { person: "o00002", start: shift.start, end: shift.end, reason: "congé" },
        Change::Level { level: 2, name: "crise", at: 5, reason: "r" },
        Change::LevelLogged { id: 1, entry: 0 },
        Change::LevelLogged { id: 1, entry: 42 },
        Change::RemovePerson("o00003"),
        Change::RemoveAssignment(ids[0]),
        Change::RemoveAway(1),
    ];
    for change in &changes {
        let before = staffing.roster().await.unwrap();
        assert!(matches!(staffing.write(change, "test", "t").await.unwrap(), Outcome::Done { .. }), "{change:?}");
        let mine = staffing.roster().await.unwrap();
        assert!(!std::sync::Arc::ptr_eq(&before, &mine), "{change:?}: a new roster");
        let rows = store.staffing().load("default").await.unwrap();
        let r = &mine.roster;
        assert_eq!(r.version, rows.version, "{change:?}");
        let mut people = rows.people.clone();
        people.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(r.people, people, "{change:?}");
        assert_eq!(r.unavailable, rows.unavailable, "{change:?}");
        let mut a = r.assignments.clone();
        a.sort_by_key(|x| x.id);
        assert_eq!(a, rows.assignments, "{change:?}");
        assert_eq!(r.levels, rows.levels, "{change:?}");
    }
}
