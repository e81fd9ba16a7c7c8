//! The operations log through the router: lifecycle, validation, revisions, list filters,
//! attachments, the live stream, and what writes do to tiles.

use crate::support::{Answer, demo_state, get, ids_in_tile};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::StreamExt;
use serde_json::{Value, json};
use sha2::Digest;
use std::sync::Arc;
use tower::ServiceExt;
use vigie_tileserver::http::{Shared, app};

pub async fn send(state: &Arc<Shared>, method: &str, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let mut req = Request::builder().method(method).uri(uri).header("host", "vigie.test");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app(state.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec();
    Answer { status, headers, body }
}

async fn post_json(state: &Arc<Shared>, uri: &str, v: &Value) -> Answer {
    send(
        state,
        "POST",
        uri,
        &[("content-type", "application/json"), ("x-vigie-user", "PC test")],
        v.to_string().into_bytes(),
    )
    .await
}

async fn patch(state: &Arc<Shared>, id: u64, version: &str, v: &Value) -> Answer {
    send(
        state,
        "PATCH",
        &format!("/api/entries/{id}"),
        &[("content-type", "application/json"), ("if-match", version), ("x-vigie-user", "officier B")],
        v.to_string().into_bytes(),
    )
    .await
}

/// Feature ids in a tile (all layers).
async fn tile_ids(state: &Arc<Shared>, uri: &str) -> Vec<u64> {
    let a = get(state, uri, &[]).await;
    if a.status == StatusCode::NO_CONTENT {
        return Vec::new();
    }
    assert_eq!(a.status, StatusCode::OK, "{uri}");
    ids_in_tile(&a.body)
}

fn entry(title: &str, lon: f64, lat: f64) -> Value {
    json!({"title": title, "severity": 2, "tags": ["health", "fan-zone"], "lon": lon, "lat": lat,
           "occurred_at": "2024-08-02T20:15:00+02:00", "links": [{"url": "https://example.org/fiche", "title": "fiche"}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_with_revisions_and_every_status() {
    let (state, _dir) = demo_state(100).await;
    let a = post_json(&state, "/api/entries", &entry("Malaise d'un spectateur", 2.2945, 48.8584)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&a.body));
    let e = a.json();
    let id = e["id"].as_u64().unwrap();
    assert_eq!(a.header("location"), Some(format!("/api/entries/{id}").as_str()));
    assert_eq!(a.header("etag"), Some("\"1\""));
    assert_eq!((e["version"].as_u64(), e["qualification"].as_str()), (Some(1), Some("raw")));
    assert_eq!(e["author"], "PC test");
    assert_eq!(e["occurred_at"], "2024-08-02T18:15:00Z");
    assert_eq!(e["layers"], json!(["entries-h3", "entries", "health"]));

    // Invalid: one 422 listing every field.
    let bad = post_json(
        &state,
        "/api/entries",
        &json!({"title": "", "severity": 5, "geometry": {"type": "Polygon", "coordinates": [[[2.0, 48.0], [2.1, 48.1], [2.1, 48.0], [2.0, 48.1], [2.0, 48.0]]]},
                "links": [{"url": "ftp://x"}], "body": "x".repeat(20_001)}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.header("content-type"), Some("application/problem+json"));
    let fields: Vec<String> =
        bad.json()["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect();
    for f in ["title", "severity", "geometry", "links[0].url", "body"] {
        assert!(fields.contains(&f.to_owned()), "{f} missing from {fields:?}");
    }
    let not_json = send(&state, "POST", "/api/entries", &[("content-type", "text/plain")], b"hi".to_vec()).await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let broken =
        send(&state, "POST", "/api/entries", &[("content-type", "application/json")], b"{\"title\":".to_vec()).await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    let huge =
        send(&state, "POST", "/api/entries", &[("content-type", "application/json")], vec![b' '; 2 * 1024 * 1024])
            .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Edits need If-Match; a stale version is refused; the workflow is enforced.
    let no_if =
        send(&state, "PATCH", &format!("/api/entries/{id}"), &[("content-type", "application/json")], b"{}".to_vec())
            .await;
    assert_eq!(no_if.status, StatusCode::PRECONDITION_REQUIRED);
    let skip = patch(&state, id, "\"1\"", &json!({"qualification": "confirmed"})).await;
    assert_eq!(skip.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(skip.json()["errors"][0]["reason"].as_str().unwrap().contains("in_review"));
    let ok = patch(&state, id, "\"1\"", &json!({"qualification": "in_review", "severity": 4})).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.header("etag"), Some("\"2\""));
    let stale = patch(&state, id, "\"1\"", &json!({"severity": 1})).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert!(stale.json()["detail"].as_str().unwrap().contains("version 2"));
    assert_eq!(patch(&state, id, "\"2\"", &json!({"qualification": "confirmed"})).await.status, StatusCode::OK);
    assert_eq!(patch(&state, 999_999, "\"1\"", &json!({"severity": 1})).await.status, StatusCode::NOT_FOUND);

    // Soft delete, itself a revision; the entry stays readable with its history.
    let del = send(
        &state,
        "DELETE",
        &format!("/api/entries/{id}"),
        &[("if-match", "\"3\""), ("x-vigie-user", "chef")],
        vec![],
    )
    .await;
    assert_eq!(del.status, StatusCode::OK);
    assert_eq!(del.json()["deleted"], true);
    let after = get(&state, &format!("/api/entries/{id}"), &[]).await;
    assert_eq!((after.json()["deleted"].as_bool(), after.json()["version"].as_u64()), (Some(true), Some(4)));
    let revs = get(&state, &format!("/api/entries/{id}/revisions"), &[]).await.json();
    let revs = revs["revisions"].as_array().unwrap();
    let summary: Vec<(u64, &str, &str)> = revs
        .iter()
        .map(|r| (r["version"].as_u64().unwrap(), r["action"].as_str().unwrap(), r["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [(1, "created", "PC test"), (2, "updated", "officier B"), (3, "updated", "officier B"), (4, "deleted", "chef")]
    );
    assert_eq!(revs[1]["changes"]["severity"], json!({"from": 2, "to": 4}));
    assert_eq!(revs[1]["changes"]["qualification"], json!({"from": "raw", "to": "in_review"}));
    assert!(revs[1]["changes"].get("title").is_none(), "only what changed is recorded");
    let gone = patch(&state, id, "\"4\"", &json!({"severity": 1})).await;
    assert_eq!(gone.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(get(&state, "/api/entries/424242", &[]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_show_in_the_next_tile_and_leave_other_tiles_cached() {
    let (state, _dir) = demo_state(100).await;
    // Quai d'Austerlitz: a spot with no demo entry nearby in these z15 tiles.
    let (lon, lat) = (2.3662, 48.8432);
    let here = "/tiles/entries,health/15/16599/11274";
    let far = "/tiles/entries/15/16590/11274";
    let before = tile_ids(&state, here).await;
    tile_ids(&state, far).await;
    let hits = |m: &str| -> u64 {
        m.lines()
            .find(|l| l.starts_with("vigie_tile_cache_hits_total"))
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    let m0 = String::from_utf8(get(&state, "/metrics", &[]).await.body).unwrap();

    let a = post_json(&state, "/api/entries", &entry("Coup de chaleur quai", lon, lat)).await;
    let id = a.json()["id"].as_u64().unwrap();
    let after = tile_ids(&state, here).await;
    assert_eq!(after.iter().filter(|i| **i == id).count(), 2, "in both layers of the cached tile: {after:?}");
    assert_eq!(after.len(), before.len() + 2);
    tile_ids(&state, far).await;
    let m1 = String::from_utf8(get(&state, "/metrics", &[]).await.body).unwrap();
    assert_eq!(hits(&m1), hits(&m0) + 1, "the far tile was not invalidated");

    // Moved far away: gone from the old tile.
    let moved = patch(&state, id, "\"1\"", &json!({"lon": 5.3698, "lat": 43.2965})).await;
    assert_eq!(moved.status, StatusCode::OK);
    assert!(!tile_ids(&state, here).await.contains(&id));
    assert!(tile_ids(&state, "/tiles/entries/12/2109/1500").await.contains(&id), "now in Marseille");

    // Refuted: out of the default layers, back with a filter.
    patch(&state, id, "\"2\"", &json!({"qualification": "in_review"})).await;
    patch(&state, id, "\"3\"", &json!({"qualification": "refuted"})).await;
    assert!(!tile_ids(&state, "/tiles/entries/12/2109/1500").await.contains(&id));
    assert!(tile_ids(&state, "/tiles/entries/12/2109/1500?qualification=all").await.contains(&id));
    // Deleted: out of every layer whatever the filter.
    send(&state, "DELETE", &format!("/api/entries/{id}"), &[("if-match", "\"4\"")], vec![]).await;
    assert!(!tile_ids(&state, "/tiles/entries/12/2109/1500?qualification=all").await.contains(&id));
}

#[tokio::test(flavor = "multi_thread")]
async fn list_filters_text_search_and_cursor_paging() {
    let (state, _dir) = demo_state(1500).await;
    let mut seen = Vec::new();
    let mut next = Some("/api/entries?limit=200&qualification=all".to_owned());
    let mut last_key = (i64::MAX, u64::MAX);
    while let Some(uri) = next {
        let page = get(&state, &uri, &[]).await.json();
        for e in page["entries"].as_array().unwrap() {
            let t = vigie_layers::feature::parse_time_ms(e["occurred_at"].as_str().unwrap()).unwrap();
            let key = (t, e["id"].as_u64().unwrap());
            assert!(key < last_key, "newest first, no repeats");
            last_key = key;
            seen.push(key.1);
        }
        next = page["next"].as_str().map(str::to_owned);
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 1500, "paging visits every entry once");

    let sev = get(&state, "/api/entries?severity=4&limit=500", &[]).await.json();
    assert!(sev["entries"].as_array().unwrap().iter().all(|e| e["severity"] == 4 && e["qualification"] != "refuted"));
    let tagged = get(&state, "/api/entries?tags=cyber&limit=500", &[]).await.json();
    let tagged = tagged["entries"].as_array().unwrap();
    assert!(!tagged.is_empty() && tagged.iter().all(|e| e["tags"].as_array().unwrap().contains(&json!("cyber"))));
    // Marseille: only entries near the Marina and the Vélodrome.
    let bbox = get(&state, "/api/entries?bbox=5.2,43.2,5.5,43.35&limit=500", &[]).await.json();
    let bbox = bbox["entries"].as_array().unwrap();
    assert!(!bbox.is_empty());
    assert!(
        bbox.iter()
            .all(|e| e["title"].as_str().unwrap().contains("Marseille")
                || e["title"].as_str().unwrap().contains("Marina"))
    );
    // Accent-insensitive, prefix, every word.
    let a = post_json(&state, "/api/entries", &json!({"title": "Départ de feu près de l'Hôtel de Ville", "severity": 3, "lon": 2.35, "lat": 48.856, "body": "Fumée épaisse"})).await;
    assert_eq!(a.status, StatusCode::CREATED);
    let found = get(&state, "/api/entries?q=hotel%20EPAIS", &[]).await.json();
    let titles: Vec<&str> = found["entries"].as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Départ de feu près de l'Hôtel de Ville"]);
    assert_eq!(get(&state, "/api/entries?bbox=1,2,3", &[]).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(get(&state, "/api/entries?limit=100000", &[]).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(get(&state, "/api/entries?q=%22%20OR%20*", &[]).await.status, StatusCode::OK, "FTS syntax is quoted");
}

/// A minimal PNG: signature, IHDR, IDAT and IEND chunks of a 1×1 image.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

#[tokio::test(flavor = "multi_thread")]
async fn photos_are_sniffed_content_addressed_and_revisions() {
    let (state, _dir) = demo_state(10).await;
    let id = post_json(&state, "/api/entries", &entry("Photo", 2.35, 48.85)).await.json()["id"].as_u64().unwrap();
    let uri = format!("/api/entries/{id}/attachments?filename=quai.png");
    // The declared type is ignored: the bytes say PNG.
    let a = send(&state, "POST", &uri, &[("content-type", "image/jpeg")], PNG.to_vec()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&a.body));
    let att = a.json();
    assert_eq!(att["media_type"], "image/png");
    let sha = att["sha256"].as_str().unwrap().to_owned();
    let expected = format!("{:x}", sha2::Sha256::digest(PNG));
    assert_eq!(sha, expected, "addressed by the SHA-256 of the bytes");
    assert_eq!(att["entry"]["version"], 2);
    // The same photo again: stored once, attached once.
    let again = send(&state, "POST", &uri, &[], PNG.to_vec()).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.json()["entry"]["attachments"].as_array().unwrap().len(), 1);
    let photo = get(&state, &format!("/api/attachments/{sha}"), &[]).await;
    assert_eq!(photo.status, StatusCode::OK);
    assert_eq!(photo.body, PNG);
    assert_eq!(photo.header("content-type"), Some("image/png"));
    assert_eq!(photo.header("cache-control"), Some("public, max-age=31536000, immutable"));
    assert_eq!(photo.header("x-content-type-options"), Some("nosniff"));
    let etag = photo.header("etag").unwrap().to_owned();
    assert_eq!(
        get(&state, &format!("/api/attachments/{sha}"), &[("if-none-match", &etag)]).await.status,
        StatusCode::NOT_MODIFIED
    );
    // Not an image, too big, unknown.
    let gif = send(&state, "POST", &uri, &[("content-type", "image/png")], b"GIF89a\x01\x00".to_vec()).await;
    assert_eq!(gif.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut big = PNG.to_vec();
    big.resize(10 * 1024 * 1024 + 10, 0);
    assert_eq!(send(&state, "POST", &uri, &[], big).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(get(&state, &format!("/api/attachments/{}", "0".repeat(64)), &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&state, "/api/attachments/..%2F..%2Fetc", &[]).await.status, StatusCode::NOT_FOUND);
    let revs = get(&state, &format!("/api/entries/{id}/revisions"), &[]).await.json();
    assert_eq!(revs["revisions"][1]["action"], "attached");
}

/// Reads `n` SSE events from a streaming body.
async fn read_events(body: Body, n: usize) -> Vec<(u64, String, Value)> {
    let mut stream = body.into_data_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("event within 10 s")
            .expect("stream open")
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut kind, mut data) = (None, String::new(), Value::Null);
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    v.clone_into(&mut kind);
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).unwrap();
                }
            }
            if let Some(id) = id {
                out.push((id, kind, data));
            }
        }
    }
    out
}

async fn open_stream(state: &Arc<Shared>, last_event_id: Option<&str>) -> Body {
    let mut req = Request::get("/api/events").header("host", "vigie.test");
    if let Some(l) = last_event_id {
        req = req.header("last-event-id", l);
    }
    let resp = app(state.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    resp.into_body()
}

#[tokio::test(flavor = "multi_thread")]
async fn live_stream_is_gap_free_and_resumes_after_last_event_id() {
    let (state, _dir) = demo_state(10).await;
    let live = open_stream(&state, None).await;
    let reader = tokio::spawn(read_events(live, 4));
    let mut ids = Vec::new();
    for i in 0..3 {
        let a = post_json(&state, "/api/entries", &entry(&format!("E{i}"), 2.3 + f64::from(i) * 0.01, 48.85)).await;
        ids.push(a.json()["id"].as_u64().unwrap());
    }
    patch(&state, ids[0], "\"1\"", &json!({"severity": 0})).await;
    let events = reader.await.unwrap();
    let summary: Vec<(u64, &str, u64)> =
        events.iter().map(|(s, k, d)| (*s, k.as_str(), d["entry_id"].as_u64().unwrap())).collect();
    assert_eq!(
        summary,
        [
            (1, "entry.created", ids[0]),
            (2, "entry.created", ids[1]),
            (3, "entry.created", ids[2]),
            (4, "entry.updated", ids[0])
        ]
    );
    assert_eq!(events[0].2["layers"], json!(["entries-h3", "entries", "health"]));
    let bbox = events[0].2["bbox"].as_array().unwrap();
    assert_eq!((bbox[0].as_f64(), bbox[1].as_f64()), (Some(2.3), Some(48.85)));

    // A client that saw up to 2 gets 3 and 4 from the store, then the live ones.
    let resumed = open_stream(&state, Some("2")).await;
    let reader = tokio::spawn(read_events(resumed, 3));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    post_json(&state, "/api/entries", &entry("E3", 2.4, 48.86)).await;
    let seqs: Vec<u64> = reader.await.unwrap().iter().map(|e| e.0).collect();
    assert_eq!(seqs, [3, 4, 5]);
    let bad = get(&state, "/api/events?since=abc", &[]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}
