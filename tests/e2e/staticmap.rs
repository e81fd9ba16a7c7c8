//! Static maps (issue 16, item 4): `GET /api/staticmap` draws entries at known places in their
//! theme's colour, leaves empty ground in the background colour, draws a legend, and hides
//! from a member narrowed to a territory what lies outside it — checked by decoding the PNG
//! with Pillow (`tests/python/staticmap_pixels.py`), not with the encoder vigie uses. Bad
//! parameters are refused with their name.

use crate::support::{Server, call, member_token, python, repo_root, run};
use serde_json::{Value, json};
use std::process::Command;

/// The background colour (`styles/hypervision.json`).
const BACKGROUND: [u8; 3] = [0xee, 0xf1, 0xf4];
/// Theme colours of the bundled catalog.
const PUBLIC_ORDER: [u8; 3] = [0x1f, 0x4f, 0xbf];
const HEALTH: [u8; 3] = [0xd6, 0x28, 0x39];

/// Web Mercator x, y (unit sphere) of a WGS84 point.
fn mercator(lon: f64, lat: f64) -> (f64, f64) {
    (lon.to_radians(), lat.to_radians().tan().asinh())
}

/// The pixel of a WGS84 point on an image of `size` whose edges are `bbox` (X-Map-Bbox).
fn pixel_of(bbox: &[f64; 4], size: (u32, u32), lon: f64, lat: f64) -> [u32; 2] {
    let (x0, y0) = mercator(bbox[0], bbox[1]);
    let (x1, y1) = mercator(bbox[2], bbox[3]);
    let (x, y) = mercator(lon, lat);
    let px = (x - x0) / (x1 - x0) * f64::from(size.0);
    let py = (y1 - y) / (y1 - y0) * f64::from(size.1);
    [px.floor() as u32, py.floor() as u32]
}

/// Decodes `png` with Pillow: its size, the colours at `pixels`, and how many pixels of each
/// box are not the background.
fn decode(png: &[u8], pixels: &Value, boxes: &Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let (image, query) = (dir.path().join("map.png"), dir.path().join("query.json"));
    std::fs::write(&image, png).unwrap();
    std::fs::write(&query, json!({"pixels": pixels, "boxes": boxes, "background": BACKGROUND}).to_string()).unwrap();
    let out =
        run(Command::new(python()).arg(repo_root().join("tests/python/staticmap_pixels.py")).arg(&image).arg(&query));
    serde_json::from_str(out.trim()).unwrap()
}

fn near(got: &Value, want: [u8; 3]) -> bool {
    got.as_array()
        .is_some_and(|c| c.iter().zip(want).all(|(g, w)| (g.as_i64().unwrap_or(-999) - i64::from(w)).abs() <= 6))
}

/// The entries: name, lon, lat, tag, severity. A is inside the reader's territory, B and C
/// outside.
const ENTRIES: [(&str, f64, f64, &str, u8); 3] = [
    ("a", 1.880, 47.870, "public_order", 2),
    ("b", 1.935, 47.895, "health", 1),
    ("c", 1.965, 47.845, "public_order", 4),
];
const TERRITORY: [f64; 4] = [1.85, 47.82, 1.91, 47.92];
/// Far from every entry, inside the image and away from its legend, scale bar, north arrow and
/// attribution.
const EMPTY: (f64, f64) = (1.915, 47.835);

#[test]
fn a_static_map_draws_the_entries_in_their_theme_colours_and_narrows_to_the_territory() {
    let dir = tempfile::tempdir().unwrap();
    let admin = member_token(dir.path(), &[], "nadia", "default", "admin");
    let reader = member_token(dir.path(), &[], "paul", "default", "reader");
    let server = Server::start(dir.path(), &["--demo", "--demo-entries", "0", "--require-sign-in"]);
    for (name, lon, lat, tag, severity) in ENTRIES {
        let entry =
            json!({"title": format!("entrée {name}"), "severity": severity, "tags": [tag], "lon": lon, "lat": lat});
        let created = call(&server, "POST", "/api/entries", &admin, Some(&entry), &[]);
        assert_eq!(created.status, 201, "{}", created.json());
    }
    let (w, h) = (800u32, 600u32);
    let path = format!("/api/staticmap?bbox=1.85,47.82,2.00,47.92&layers=public-order,health&width={w}&height={h}");

    let map = |auth: &str| {
        let a = call(&server, "GET", &path, auth, None, &[]);
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        assert_eq!(a.header("content-type"), Some("image/png"));
        assert_eq!(a.header("cache-control"), Some("private, max-age=60"));
        let bbox: Vec<f64> = a.header("x-map-bbox").unwrap().split(',').map(|v| v.parse().unwrap()).collect();
        let bbox: [f64; 4] = bbox.try_into().unwrap();
        // The region is inside the image's box (with its margin).
        assert!(bbox[0] < 1.85 && bbox[1] < 47.82 && bbox[2] > 2.0 && bbox[3] > 47.92, "{bbox:?}");
        let mut pixels = serde_json::Map::new();
        for (name, lon, lat, ..) in ENTRIES {
            pixels.insert(name.into(), json!(pixel_of(&bbox, (w, h), lon, lat)));
        }
        pixels.insert("empty".into(), json!(pixel_of(&bbox, (w, h), EMPTY.0, EMPTY.1)));
        // The legend panel is at the top left; the middle of the image's top edge is map.
        let boxes = json!({"legend": [8, 8, 120, 60], "top_middle": [w / 2 - 30, 0, w / 2 + 30, 20]});
        let decoded = decode(&a.body, &Value::Object(pixels), &boxes);
        (a, decoded)
    };

    let (whole, seen) = map(&admin);
    assert_eq!(seen["format"], "PNG");
    assert_eq!(seen["size"], json!([w, h]), "{seen}");
    let px = &seen["pixels"];
    assert!(near(&px["a"], PUBLIC_ORDER), "entry a in the public order colour: {seen}");
    assert!(near(&px["b"], HEALTH), "entry b in the health colour: {seen}");
    assert!(near(&px["c"], PUBLIC_ORDER), "entry c in the public order colour: {seen}");
    assert!(near(&px["empty"], BACKGROUND), "empty ground is background: {seen}");
    assert!(seen["boxes"]["legend"].as_u64().unwrap() > 500, "the legend is drawn: {seen}");
    assert_eq!(seen["boxes"]["top_middle"], 0, "nothing drawn where nothing is: {seen}");

    // Asked again unchanged: the same ETag, and 304 when the client has it.
    let etag = whole.header("etag").unwrap().to_owned();
    let again = call(&server, "GET", &path, &admin, None, &[("if-none-match", &etag)]);
    assert_eq!(again.status, 304);

    // A reader narrowed to a territory holding only entry a.
    let body = json!({"role": "reader", "territory": [{"bbox": TERRITORY}]});
    assert_eq!(call(&server, "PUT", "/api/members/paul", &admin, Some(&body), &[]).status, 204);
    let (narrowed, seen) = map(&reader);
    let px = &seen["pixels"];
    assert!(near(&px["a"], PUBLIC_ORDER), "inside the territory: drawn: {seen}");
    assert!(near(&px["b"], BACKGROUND), "outside the territory: not drawn: {seen}");
    assert!(near(&px["c"], BACKGROUND), "outside the territory: not drawn: {seen}");
    assert_ne!(narrowed.header("etag"), whole.header("etag"));

    // The default layers (venues, perimeters, H3, the visible themes) draw too, under /w/{ws}.
    let d = call(
        &server,
        "GET",
        "/w/default/api/staticmap?bbox=1.85,47.82,2.00,47.92&width=300&height=200",
        &admin,
        None,
        &[],
    );
    assert_eq!(d.status, 200, "{}", String::from_utf8_lossy(&d.body));
    let seen = decode(&d.body, &json!({}), &json!({}));
    assert_eq!(seen["size"], json!([300, 200]));

    // Bad parameters: 400 naming them.
    for (query, needle) in [
        ("bbox=1.85,47.82,2.00,47.92&width=5000", "width = 5000"),
        ("bbox=1.85,47.82,2.00,47.92&height=10", "height = 10"),
        ("bbox=1.85,47.82,2.00,47.92&width=wide", "width = 'wide'"),
        ("layers=health", "give exactly one region among bbox"),
        ("bbox=1.85,47.82,2.00", "bbox"),
        ("bbox=1.85,47.82,2.00,47.92&severity=9", "severity"),
        ("bbox=1.85,47.82,2.00,47.92&lang=de", "lang"),
    ] {
        let a = call(&server, "GET", &format!("/api/staticmap?{query}"), &admin, None, &[]);
        assert_eq!(a.status, 400, "{query}");
        assert_eq!(a.header("content-type"), Some("application/problem+json"), "{query}");
        let detail = a.json()["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.contains(needle), "{query}: {detail}");
    }
    let unknown = call(&server, "GET", "/api/staticmap?bbox=1.85,47.82,2.00,47.92&layers=nope", &admin, None, &[]);
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["detail"].as_str().unwrap().contains("nope"));
}
