//! Situation reports (issue 16): a report over the demo data whose PDF, read back with
//! poppler (`pdftotext`, `pdfimages`), carries the region query API's counts for the same
//! period and area, exactly the confirmed severity ≥ 3 entries as significant events, and the
//! map; two editors on one section (one 412, no text lost) and on two (both kept); the
//! workflow by role, immutability once published, a correction with its diff, the Atom feed
//! and the live events; the battle rhythm across a daylight-saving change. On the embedded
//! store and on PostGIS.

use crate::support::{
    PostgisDb, Reply, Server, Told, agent, call, member_token, python, repo_root, require_tool, run, sse, vigie_ok,
};
use serde_json::{Value, json};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The day of the opening ceremony (UTC), inside the demo log's Games.
const FROM: &str = "2024-07-26T04:00:00Z";
const TO: &str = "2024-07-27T04:00:00Z";
/// The last millisecond of the period, as report queries write it.
const TO_INCLUSIVE: &str = "2024-07-27T03:59:59.999Z";
const PARIS: [f64; 4] = [2.22, 48.80, 2.47, 48.92];

fn ok(r: &Reply, what: &str) -> Value {
    assert!((200..300).contains(&r.status), "{what}: {} {}", r.status, String::from_utf8_lossy(&r.body));
    r.json()
}

fn get(server: &Server, path: &str, auth: &str) -> Value {
    ok(&call(server, "GET", path, auth, None, &[]), path)
}

fn told(events: &mpsc::Receiver<Told>, kind: &str, report: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Ok(t) = events.recv_timeout(left)
            && t.kind == kind
            && t.data["report"] == report
        {
            return t.data;
        }
    }
    panic!("no {kind} event for report {report} within 10 s");
}

fn import_departements(dir: &std::path::Path, env: &[(&str, &str)]) {
    let file = repo_root().join("../shared/data/france/departements-version-simplifiee.geojson");
    vigie_ok(&["import", "--layer", "departements", file.to_str().unwrap()], dir, env);
}

/// The text of every page of a PDF (`pdftotext -layout`), split on form feeds.
fn pdf_pages(pdf: &[u8]) -> Vec<String> {
    let tool = require_tool("pdftotext", "apt-get install -y poppler-utils");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.pdf");
    std::fs::write(&file, pdf).unwrap();
    let text = run(Command::new(tool).arg("-layout").arg(&file).arg("-"));
    text.split('\x0c').filter(|p| !p.trim().is_empty()).map(str::to_owned).collect()
}

/// The images of a PDF (`pdfimages -list`): width and height of each.
fn pdf_images(pdf: &[u8]) -> Vec<(u32, u32)> {
    let tool = require_tool("pdfimages", "apt-get install -y poppler-utils");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.pdf");
    std::fs::write(&file, pdf).unwrap();
    run(Command::new(tool).arg("-list").arg(&file))
        .lines()
        .skip(2)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 5 && f[2] == "image").then(|| (f[3].parse().unwrap(), f[4].parse().unwrap()))
        })
        .collect()
}

/// Whether some line holds `label` and then `count` as a whole word.
fn has_row(text: &str, label: &str, count: usize) -> bool {
    text.lines().any(|l| {
        l.find(label).is_some_and(|i| l[i + label.len()..].split_whitespace().next() == Some(&count.to_string()))
    })
}

#[test]
fn a_report_over_the_demo_log_prints_the_query_apis_counts_and_the_significant_events() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let admin = member_token(d, &[], "nadia", "default", "admin");
    let editor = member_token(d, &[], "edith", "default", "editor");
    import_departements(d, &[]);
    let server = Server::start(d, &["--demo", "--demo-entries", "4000", "--require-sign-in"]);
    // One significant event of our own, with a link, inside the period.
    let entry = json!({
        "title": "Mouvement de foule quai de la Seine", "severity": 4, "tags": ["public_order"],
        "lon": 2.3100, "lat": 48.8610, "occurred_at": "2024-07-26T18:30:00Z",
        "links": [{"url": "https://example.org/flash/1", "title": "Flash COZ"}],
    });
    let mine = ok(&call(&server, "POST", "/api/entries", &admin, Some(&entry), &[]), "entry")["id"].as_u64().unwrap();
    for (version, q) in [("\"1\"", "in_review"), ("\"2\"", "confirmed")] {
        let patch = json!({"qualification": q});
        let path = format!("/api/entries/{mine}");
        ok(&call(&server, "PATCH", &path, &admin, Some(&patch), &[("if-match", version)]), q);
    }

    // Its photo, a JPEG made by Pillow.
    let jpeg = dir.path().join("photo.jpg");
    run(Command::new(python()).arg("-c").arg(format!(
        "from PIL import Image; Image.new('RGB', (64, 48), (200, 30, 40)).save('{}', 'JPEG')",
        jpeg.display()
    )));
    let req = ureq::http::Request::builder()
        .method("POST")
        .uri(server.url(&format!("/api/entries/{mine}/attachments")))
        .header("authorization", &admin)
        .header("content-type", "image/jpeg");
    let attached = agent().run(req.body(std::fs::read(&jpeg).unwrap()).unwrap()).unwrap();
    assert_eq!(attached.status().as_u16(), 201);

    let settings = json!({
        "classification": "DIFFUSION RESTREINTE",
        "maps": [{"title": "Paris intra-muros", "region": {"bbox": PARIS}, "width": 1024, "height": 768}],
    });
    ok(&call(&server, "PUT", "/api/reports/settings", &admin, Some(&settings), &[]), "settings");
    let created = call(
        &server,
        "POST",
        "/api/reports",
        &editor,
        Some(&json!({"title": "Point de situation — cérémonie d'ouverture", "from": FROM, "to": TO})),
        &[],
    );
    assert_eq!(created.status, 201, "{}", created.json());
    let id = created.json()["id"].as_u64().unwrap();

    // The compiled figures are the region query API's, asked independently.
    let c = get(&server, &format!("/api/reports/{id}/compiled"), &editor);
    assert_eq!(c["frozen"], false);
    let q = format!(
        "/api/query?bbox=-180,-90,180,90&layers=entries&qualification=all&limit=1&from={FROM}&to={TO_INCLUSIVE}"
    );
    let api = get(&server, &q, &admin);
    let total = api["numberMatched"].as_u64().unwrap();
    assert!(total > 50, "a day of the Games has entries: {total}");
    assert_eq!(c["figures"]["total"], total);
    for (table, summary) in [("by_theme", "by_theme"), ("by_qualification", "by_qualification")] {
        let mut rows: Vec<(String, u64)> = c["figures"][table]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["count"].as_u64().unwrap() > 0)
            .map(|r| (r["key"].as_str().unwrap().to_owned(), r["count"].as_u64().unwrap()))
            .collect();
        let want: Vec<(String, u64)> = api["summary"][summary]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        rows.sort();
        assert_eq!(rows, want, "{table}");
    }
    // Every figure links to the query that gives it.
    let linked = get(&server, c["figures"]["query"].as_str().unwrap(), &admin);
    assert_eq!(linked["numberMatched"], total);
    let deps = c["figures"]["by_departement"].as_array().unwrap();
    assert!(deps.iter().any(|r| r["key"] == "75"), "Paris has entries: {deps:?}");
    for r in deps {
        let n = get(&server, r["query"].as_str().unwrap(), &admin)["numberMatched"].as_u64().unwrap();
        assert_eq!(r["count"].as_u64().unwrap(), n, "{r}");
    }
    // Significant events: exactly the confirmed entries at severity 3 or more of the period.
    let sq = format!(
        "/api/query?bbox=-180,-90,180,90&layers=entries&severity=3&qualification=confirmed&limit=10000&from={FROM}&to={TO_INCLUSIVE}"
    );
    let mut want: Vec<u64> =
        get(&server, &sq, &admin)["features"].as_array().unwrap().iter().map(|f| f["id"].as_u64().unwrap()).collect();
    want.sort_unstable();
    let mut got: Vec<u64> = c["significant"].as_array().unwrap().iter().map(|s| s["id"].as_u64().unwrap()).collect();
    got.sort_unstable();
    assert!(want.contains(&mine) && want.len() > 1, "{want:?}");
    assert_eq!(got, want);
    let ours = c["significant"].as_array().unwrap().iter().find(|s| s["id"] == mine).unwrap();
    assert_eq!(ours["links"][0][0], "https://example.org/flash/1");

    // The PDF, read by poppler: marking on every page, page numbers, the figures, the events,
    // the map.
    let pdf = call(&server, "GET", &format!("/api/reports/{id}/pdf"), &editor, None, &[]);
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.header("content-type"), Some("application/pdf"));
    let pages = pdf_pages(&pdf.body);
    assert!(pages.len() >= 2, "{} pages", pages.len());
    for (i, p) in pages.iter().enumerate() {
        assert!(p.contains("DIFFUSION RESTREINTE"), "marking on page {}", i + 1);
        assert!(p.contains(&format!("Page {} / {}", i + 1, pages.len())), "page number on page {}", i + 1);
    }
    let text = pages.join("\n");
    assert!(text.contains("Point de situation — cérémonie"), "the title, accents and all");
    assert!(text.contains(&format!("Entrées de la main courante sur la période : {total}")), "the total");
    for r in c["figures"]["by_theme"].as_array().unwrap().iter().chain(deps) {
        let (label, count) = (r["label"].as_str().unwrap(), r["count"].as_u64().unwrap() as usize);
        assert!(has_row(&text, label, count), "row '{label}' {count} in the PDF");
    }
    for id in &want {
        assert!(text.contains(&format!("#{id} ")), "significant entry #{id} in the PDF");
    }
    // And no other entry listed as significant: every "#N " printed is one of them.
    let printed: Vec<u64> =
        text.split('#').skip(1).filter_map(|s| s.split_once(' ').and_then(|(n, _)| n.parse().ok())).collect();
    assert!(printed.iter().all(|id| want.contains(id)), "{printed:?} vs {want:?}");
    assert!(text.contains("État : brouillon"), "a draft says so");
    // Staffing: the demo plan at the lowest level over the three shifts after the period.
    let plan = get(&server, "/api/staffing", &admin)["plan"]["positions"].clone();
    let per_shift: u64 = plan.as_array().unwrap().iter().map(|p| p["needs"][0].as_u64().unwrap()).sum();
    assert_eq!(
        (c["staffing"]["level"].as_str(), c["staffing"]["needed"].as_u64()),
        (Some("veille"), Some(3 * per_shift))
    );
    assert!(text.contains("Niveau d'alerte en fin de période : veille."), "the staffing part is printed");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(&format!("{} personnes requises, 0 confirmées, {} manquantes", 3 * per_shift, 3 * per_shift)),
        "its figures"
    );
    let images = pdf_images(&pdf.body);
    assert!(images.contains(&(1024, 768)), "the map is in the PDF: {images:?}");
    assert!(images.contains(&(64, 48)), "the significant event's photo is in the PDF: {images:?}");

    // The HTML page is self-contained: the map inline, no script, nothing fetched.
    let html = call(&server, "GET", &format!("/api/reports/{id}/html"), &editor, None, &[]);
    assert_eq!(html.status, 200);
    let page = String::from_utf8(html.body.clone()).unwrap();
    assert!(page.contains("data:image/png;base64,"));
    assert!(!page.contains("<script"));
    assert!(page.contains("DIFFUSION RESTREINTE"));
    assert!(html.header("content-security-policy").unwrap().contains("default-src 'none'"));
    // The map on its own.
    let map = call(&server, "GET", &format!("/api/reports/{id}/maps/0"), &editor, None, &[]);
    assert_eq!((map.status, map.header("content-type")), (200, Some("image/png")));
}

#[test]
fn reports_are_written_together_and_published_once_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    together(dir.path(), &[], None);
}

#[test]
fn reports_are_written_together_and_published_once_postgis() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(PostgisDb::create());
    let (dir, replica) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    together(dir.path(), &[("DATABASE_URL", db.url.as_str())], Some(replica.path()));
    rt.block_on(db.drop_db());
}

fn section<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["sections"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap()
}

fn write(server: &Server, auth: &str, report: u64, id: &str, body: &str, base: u64) -> Reply {
    let b = json!({"body": body, "base_version": base});
    call(server, "PUT", &format!("/api/reports/{report}/sections/{id}"), auth, Some(&b), &[])
}

fn step(server: &Server, auth: &str, report: u64, to: &str) -> Reply {
    call(server, "POST", &format!("/api/reports/{report}/status"), auth, Some(&json!({"to": to})), &[])
}

/// Two editors and an analyst on one report; with `replica`, a second server on the same
/// database, whose event stream and presences must follow what happens on the first.
fn together(d: &std::path::Path, env: &[(&str, &str)], replica: Option<&std::path::Path>) {
    let admin = member_token(d, env, "nadia", "default", "admin");
    let edith = member_token(d, env, "edith", "default", "editor");
    let emile = member_token(d, env, "emile", "default", "editor");
    let anna = member_token(d, env, "anna", "default", "analyst");
    let rene = member_token(d, env, "rene", "default", "reader");
    let server = Server::start_with_env(d, &["--demo", "--demo-entries", "500", "--require-sign-in"], env);
    let settings = json!({
        "classification": "DIFFUSION RESTREINTE",
        "desks": {"transport": ["anna"]},
        "sections": [
            {"id": "synthesis", "title": "Synthèse", "owner": {"role": "editor"}},
            {"id": "transport", "title": "Transports", "owner": {"desk": "transport"}},
            {"id": "health", "title": "Santé", "owner": {"role": "analyst"}},
        ],
        "maps": [],
    });
    ok(&call(&server, "PUT", "/api/reports/settings", &admin, Some(&settings), &[]), "settings");
    assert_eq!(get(&server, "/api/me", &edith)["can"]["report"], true, "editors start and publish reports");
    assert_eq!(get(&server, "/api/me", &anna)["can"]["report"], false);
    let events = sse(&server, "/api/events", &rene);
    let other = replica.map(|r| Server::start_with_env(r, &["--require-sign-in"], env));
    let far = other.as_ref().map(|b| sse(b, "/api/events", &rene));
    let body = json!({"from": FROM, "to": TO});
    let id = ok(&call(&server, "POST", "/api/reports", &edith, Some(&body), &[]), "create")["id"].as_u64().unwrap();
    assert_eq!(call(&server, "POST", "/api/reports", &anna, Some(&body), &[]).status, 403, "editors start reports");
    told(&events, "report.created", id);
    if let Some(far) = &far {
        assert_eq!(told(far, "report.created", id)["by"], "edith", "told on the other replica");
    }

    // Presence: who edits which section, told to the others.
    let here = json!({"section": "health"});
    assert_eq!(call(&server, "POST", &format!("/api/reports/{id}/presence"), &anna, Some(&here), &[]).status, 204);
    let p = told(&events, "report.presence", id);
    assert_eq!(p["present"], json!([{"who": "anna", "section": "health"}]));
    assert_eq!(get(&server, &format!("/api/reports/{id}"), &rene)["presence"][0]["who"], "anna");
    if let (Some(b), Some(far)) = (&other, &far) {
        assert_eq!(told(far, "report.presence", id)["present"], json!([{"who": "anna", "section": "health"}]));
        assert_eq!(get(b, &format!("/api/reports/{id}"), &rene)["presence"][0]["who"], "anna", "the replica knows");
    }

    // Two editors on the same section: one 412 with both texts, no text lost.
    let r = get(&server, &format!("/api/reports/{id}"), &edith);
    assert_eq!(section(&r, "synthesis")["version"], 0);
    assert_eq!(section(&r, "synthesis")["may_write"], true);
    let first =
        write(&server, &edith, id, "synthesis", "Situation calme.\nAffluence forte aux abords du Trocadéro.", 0);
    assert_eq!(first.status, 200, "{}", first.json());
    let second = write(&server, &emile, id, "synthesis", "Nuit sans incident majeur.", 0);
    assert_eq!(second.status, 412);
    assert_eq!(second.header("content-type"), Some("application/problem+json"));
    let conflict = second.json();
    assert_eq!(conflict["current"]["body"], "Situation calme.\nAffluence forte aux abords du Trocadéro.");
    assert_eq!(conflict["current"]["updated_by"], "edith");
    assert_eq!(conflict["yours"]["body"], "Nuit sans incident majeur.");
    let r = get(&server, &format!("/api/reports/{id}"), &emile);
    assert_eq!(section(&r, "synthesis")["body"], "Situation calme.\nAffluence forte aux abords du Trocadéro.");
    let merged = "Situation calme.\nAffluence forte aux abords du Trocadéro.\nNuit sans incident majeur.";
    assert_eq!(write(&server, &emile, id, "synthesis", merged, 1).status, 200);
    told(&events, "report.section", id);

    // Different sections at once: both kept. Owners only (a desk, a role), editors always.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| write(&server, &anna, id, "transport", "RER B interrompu 40 min.", 0).status);
        let b = s.spawn(|| write(&server, &edith, id, "health", "Deux évacuations sanitaires.", 0).status);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a, b), (200, 200));
    let r = get(&server, &format!("/api/reports/{id}"), &rene);
    assert_eq!(section(&r, "transport")["body"], "RER B interrompu 40 min.");
    assert_eq!(section(&r, "health")["body"], "Deux évacuations sanitaires.");
    assert_eq!(section(&r, "synthesis")["body"], merged);
    assert_eq!(write(&server, &anna, id, "synthesis", "x", 2).status, 403, "the synthesis is the editors'");
    assert_eq!(write(&server, &rene, id, "health", "x", 1).status, 403, "readers read");

    // The workflow, by role; the figures freeze at validation.
    assert_eq!(step(&server, &rene, id, "review").status, 403);
    assert_eq!(step(&server, &edith, id, "published").status, 409, "one step at a time");
    ok(&step(&server, &anna, id, "review"), "to review");
    assert_eq!(step(&server, &anna, id, "validated").status, 403, "only editors validate");
    ok(&step(&server, &edith, id, "validated"), "validate");
    let frozen = get(&server, &format!("/api/reports/{id}/compiled"), &rene);
    assert_eq!(frozen["frozen"], true);
    assert_eq!(write(&server, &edith, id, "health", "trop tard", 1).status, 409, "validated: text closed");
    // An entry recorded afterwards in the period does not change the frozen figures.
    let late = json!({"title": "Signalement tardif", "severity": 1, "tags": ["health"], "lon": 2.35, "lat": 48.85,
        "occurred_at": "2024-07-26T12:00:00Z"});
    ok(&call(&server, "POST", "/api/entries", &admin, Some(&late), &[]), "late entry");
    assert_eq!(get(&server, &format!("/api/reports/{id}/compiled"), &rene)["figures"], frozen["figures"]);
    let published = ok(&step(&server, &edith, id, "published"), "publish");
    assert_eq!(published["history"].as_array().unwrap().len(), 4, "{published}");
    assert_eq!(published["history"][3]["by"], "edith");
    let e = told(&events, "report.published", id);
    assert_eq!(e["by"], "edith");
    if let Some(far) = &far {
        assert_eq!(told(far, "report.published", id)["by"], "edith", "published, told on the other replica");
    }

    // Published is immutable.
    assert_eq!(step(&server, &edith, id, "review").status, 409);
    assert_eq!(write(&server, &edith, id, "synthesis", "réécrit", 3).status, 409);

    // A correction: a new edition, its text copied, its figures live; published with the
    // diff of text and figures.
    let fix = call(&server, "POST", &format!("/api/reports/{id}/correct"), &edith, None, &[]);
    assert_eq!(fix.status, 201, "{}", fix.json());
    let fix = fix.json();
    let fid = fix["id"].as_u64().unwrap();
    assert_eq!((fix["edition"].as_u64(), fix["supersedes"].as_u64()), (Some(2), Some(id)));
    assert_eq!(call(&server, "POST", &format!("/api/reports/{id}/correct"), &emile, None, &[]).status, 409);
    let r = get(&server, &format!("/api/reports/{fid}"), &edith);
    assert_eq!(section(&r, "synthesis")["body"], merged);
    let corrected =
        "Situation calme.\nAffluence forte aux abords du Trocadéro et du pont d'Iéna.\nNuit sans incident majeur.";
    assert_eq!(write(&server, &edith, fid, "synthesis", corrected, 0).status, 200);
    let diff = get(&server, &format!("/api/reports/{fid}/diff"), &rene);
    assert_eq!(diff["against"], id);
    let lines = &diff["sections"][0][1];
    assert!(
        lines
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["op"] == "-" && l["text"] == "Affluence forte aux abords du Trocadéro.")
    );
    assert!(
        lines
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["op"] == "+" && l["text"] == "Affluence forte aux abords du Trocadéro et du pont d'Iéna.")
    );
    let totals = diff["figures"].as_array().unwrap().iter().find(|f| f[0] == "Total").expect("the late entry counts");
    assert_eq!(totals[3].as_u64().unwrap(), totals[2].as_u64().unwrap() + 1);
    for to in ["review", "validated", "published"] {
        ok(&step(&server, &edith, fid, to), to);
    }
    assert_eq!(get(&server, &format!("/api/reports/{id}"), &rene)["superseded_by"], fid);
    let pdf = call(&server, "GET", &format!("/api/reports/{fid}/pdf"), &rene, None, &[]);
    let text = pdf_pages(&pdf.body).join("\n");
    assert!(text.contains(&format!("Corrections par rapport au rapport n° {id}")), "the diff is printed");
    assert!(text.contains("pont d'Iéna"));
    assert!(text.contains("Publié le") && text.contains("par edith"), "who published it, and when");

    // The feed, the list and its search.
    let feed = call(&server, "GET", "/api/reports/feed.atom", &rene, None, &[]);
    assert_eq!(feed.header("content-type"), Some("application/atom+xml; charset=utf-8"));
    let xml = String::from_utf8(feed.body).unwrap();
    assert_eq!(xml.matches("<entry>").count(), 2, "{xml}");
    assert!(xml.contains(&format!("/api/reports/{fid}/pdf")));
    let found = get(&server, "/api/reports?q=IÉNA&status=published", &rene);
    let ids: Vec<u64> = found["reports"].as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![fid], "the text search finds the correction only (case-insensitive)");
    let in_period = get(&server, "/api/reports?from=2024-07-26T10:00:00Z&to=2024-07-26T11:00:00Z", &rene);
    assert_eq!(in_period["reports"].as_array().unwrap().len(), 2);
    assert!(
        get(&server, "/api/reports?from=2024-08-01T00:00:00Z&to=2024-08-02T00:00:00Z", &rene)["reports"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A member narrowed below the workspace's territory does not see the reports.
    let narrowed = json!({"role": "reader", "territory": [{"bbox": [2.3, 48.8, 2.4, 48.9]}]});
    assert_eq!(call(&server, "PUT", "/api/members/rene", &admin, Some(&narrowed), &[]).status, 204);
    assert_eq!(call(&server, "GET", "/api/reports", &rene, None, &[]).status, 403);
}

#[test]
fn the_battle_rhythm_keeps_local_time_across_daylight_saving_and_drafts_the_next_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let admin = member_token(d, &[], "nadia", "default", "admin");
    let server = Server::start(d, &["--demo", "--demo-entries", "0", "--require-sign-in"]);
    let rhythm = json!({"timezone": "Europe/Paris", "times": ["22:00", "06:00", "13:00"]});
    ok(&call(&server, "PUT", "/api/reports/settings", &admin, Some(&rhythm), &[]), "settings");
    // Spring 2027: clocks go forward on 28 March; autumn: back on 31 October.
    let s = get(&server, "/api/reports/schedule?from=2027-03-27T00:00:00Z&to=2027-03-29T00:00:00Z", &admin);
    let due: Vec<&str> = s["due"].as_array().unwrap().iter().map(|d| d["due_at"].as_str().unwrap()).collect();
    assert_eq!(
        due,
        [
            "2027-03-27T05:00:00.000Z",
            "2027-03-27T12:00:00.000Z",
            "2027-03-27T21:00:00.000Z",
            "2027-03-28T04:00:00.000Z",
            "2027-03-28T11:00:00.000Z",
            "2027-03-28T20:00:00.000Z",
        ]
    );
    assert_eq!(s["due"][3]["local"], "2027-03-28T06:00:00+02:00");
    assert_eq!(s["due"][3]["period_start"], "2027-03-27T21:00:00.000Z", "since 22:00 the day before");
    let s = get(&server, "/api/reports/schedule?from=2027-10-30T22:00:00Z&to=2027-10-31T20:00:00Z", &admin);
    let local: Vec<&str> = s["due"].as_array().unwrap().iter().map(|d| d["local"].as_str().unwrap()).collect();
    assert_eq!(local, ["2027-10-31T06:00:00+01:00", "2027-10-31T13:00:00+01:00"]);
    assert_eq!(s["due"][0]["period_start"], "2027-10-30T20:00:00.000Z", "22:00 summer time, a 9-hour night");

    // The next due time already has its draft, covering the time since the previous one.
    let now = get(&server, "/api/reports/schedule", &admin);
    let next = now["due"][0]["due_at"].as_str().unwrap().to_owned();
    let drafts = get(&server, "/api/reports?status=draft", &admin);
    let scheduled: Vec<&Value> =
        drafts["reports"].as_array().unwrap().iter().filter(|r| r["due_at"] == next.as_str()).collect();
    assert_eq!(scheduled.len(), 1, "{drafts}");
    assert_eq!(scheduled[0]["kind"], "scheduled");
    assert_eq!(scheduled[0]["period"]["end"], next.as_str());
    assert_eq!(scheduled[0]["period"]["start"], now["due"][0]["period_start"]);

    // Bad settings are refused field by field.
    let bad = json!({"timezone": "Europe/Lutece", "times": ["25:00"], "area": {"area": "departements:999"}});
    let r = call(&server, "PUT", "/api/reports/settings", &admin, Some(&bad), &[]);
    assert_eq!(r.status, 422);
    let fields: Vec<String> =
        r.json()["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect();
    assert!(fields.contains(&"timezone".to_owned()) && fields.contains(&"area".to_owned()), "{fields:?}");
}
