//! Territories (issue 15): the property-based leak test. Random territories — a département; a
//! commune with a box beside it; a drawn polygon with a hole and a circle; an API token's box
//! across the border of its (admin) creator's département — and random entries on and near
//! their borders: exactly on vertices, on edges (to ten decimals), 1e-7° to 1e-3° either side,
//! in the holes, at the circle's radius; lines and polygons touching or crossing them. Every
//! route that narrows is then asked as each narrowed identity — the entry list and its search,
//! single entries, revisions, region queries (JSON, CSV), `/api/h3`, OGC items, plain,
//! composite and H3 tiles, the event stream — over the whole territory and over random regions
//! across its border: no feature, count, id or event from outside may show, and nothing inside
//! may be missing. The truth is PostGIS (`ST_Intersects`; `ST_DWithin` on the ellipsoid for
//! circles) over the coordinates vigie holds, read back from it; tiles are decoded by Python
//! `mapbox-vector-tile` (tests/python/check_leaks.py). Then entries move out, move in, change
//! and are deleted, and everything is asked again, the event streams (live, and replayed from
//! the store) included. On SQLite and on PostGIS.
//!
//! Every coordinate is a short decimal, so that vigie, serde_json and PostGIS all hold the same
//! double. The seed is printed; `VIGIE_LEAK_SEED=N` replays a run.

use crate::support::{PostgisDb, Server, agent, member_token, python, repo_root, run, sse, vigie_ok};
use geo::{BoundingRect, Coord, Destination, Geodesic, Geometry, Intersects, LineString, Point, Polygon, Rect};
use geozero::{CoordDimensions, ToWkb};
use serde_json::{Value, json};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What `vigie_cli` gives `--password-stdin`: the password of the accounts made for the test.
const PASSWORD: &str = "a long enough password";
/// Tags the entries carry (`public_order` also selects them into the `public-order` layer).
const TAGS: [&str; 4] = ["public_order", "transport", "health", "crowd"];
/// Words of the entries' titles, searched for with `?q=`.
const WORDS: [&str; 4] = ["alpha", "bravo", "charlie", "delta"];
/// Île-de-France, where the drawn territories and the background entries are.
const IDF: [f64; 4] = [1.45, 48.12, 3.56, 49.24];
/// Most tiles asked per territory part at the fine zoom (where the union of the tiles must
/// hold every entry inside) and at the coarse one.
const FINE_TILES: usize = 36;
const COARSE_TILES: usize = 4;
/// Close-ups per identity: 3×3 tiles at z14 to z18 around a vertex of its border.
const CLOSE_UPS: usize = 4;

#[test]
fn no_territory_leaks_on_sqlite() {
    with_databases(1, |dbs| scenario("sqlite", &[], &dbs[0].url));
}

#[test]
fn no_territory_leaks_on_postgis() {
    with_databases(2, |dbs| scenario("postgis", &[("DATABASE_URL", dbs[1].url.as_str())], &dbs[0].url));
}

/// Runs `f` with `n` fresh PostGIS databases (the truth's, and the store's), dropped after it
/// whether it passed or failed.
fn with_databases(n: usize, f: impl FnOnce(&[PostgisDb])) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dbs: Vec<PostgisDb> = (0..n).map(|_| rt.block_on(PostgisDb::create())).collect();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&dbs)));
    for db in dbs {
        rt.block_on(db.drop_db());
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// SplitMix64: seeded, small, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.unit()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// The run's seed: `VIGIE_LEAK_SEED`, else the clock.
fn seed() -> u64 {
    std::env::var("VIGIE_LEAK_SEED").ok().map_or_else(
        || {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
                % 1_000_000_007
        },
        |s| s.trim().parse().expect("VIGIE_LEAK_SEED is a number"),
    )
}

/// `x` rounded to `places` decimals. Every coordinate the test makes goes through it: a short
/// decimal parses to the same double in every JSON parser on the way (serde_json without
/// `float_roundtrip` is exact only up to 15 significant digits; PostGIS), so the truth is
/// computed on the very numbers vigie holds.
fn dec(x: f64, places: usize) -> f64 {
    format!("{x:.places$}").parse().unwrap()
}

fn at(x: f64, y: f64) -> Coord<f64> {
    Coord { x: dec(x, 10), y: dec(y, 10) }
}

fn rect(w: f64, s: f64, e: f64, n: f64) -> Rect<f64> {
    Rect::new(Coord { x: w, y: s }, Coord { x: e, y: n })
}

fn grown(r: Rect<f64>, by: f64) -> Rect<f64> {
    rect(r.min().x - by, r.min().y - by, r.max().x + by, r.max().y + by)
}

fn overlap(a: Rect<f64>, b: Rect<f64>) -> Option<Rect<f64>> {
    let (w, s) = (a.min().x.max(b.min().x), a.min().y.max(b.min().y));
    let (e, n) = (a.max().x.min(b.max().x), a.max().y.min(b.max().y));
    (w <= e && s <= n).then(|| rect(w, s, e, n))
}

fn bbox_of(g: &Geometry<f64>) -> Rect<f64> {
    g.bounding_rect().expect("a geometry with coordinates")
}

fn geojson_of(g: &Geometry<f64>) -> Value {
    let v = geojson::Value::from(g);
    serde_json::to_value(geojson::Geometry::new(v)).unwrap()
}

fn geometry_of(v: &Value) -> Geometry<f64> {
    let g = geojson::Geometry::from_json_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"));
    Geometry::try_from(g.value).unwrap()
}

/// A region of a territory (or a query region): as the API takes it, and its shape (for a
/// circle, a polygon a little larger, to place tiles; the truth uses the circle).
struct Part {
    label: String,
    region: Value,
    shape: Geometry<f64>,
    /// Centre and radius (metres on the WGS84 ellipsoid) of a circle.
    circle: Option<(f64, f64, f64)>,
}

impl Part {
    fn new(label: String, region: Value, shape: Geometry<f64>) -> Self {
        Self { label, region, shape, circle: None }
    }

    fn boxed(label: String, r: Rect<f64>) -> Self {
        let region = json!({"bbox": [r.min().x, r.min().y, r.max().x, r.max().y]});
        Self::new(label, region, Geometry::Polygon(r.to_polygon()))
    }

    fn circle(label: String, lon: f64, lat: f64, radius_m: f64) -> Self {
        let ring: Vec<Coord<f64>> = (0..=36)
            .map(|i| Geodesic.destination(Point::new(lon, lat), f64::from(i % 36) * 10.0, radius_m * 1.02).0)
            .collect();
        let region = json!({"circle": {"lon": lon, "lat": lat, "radius_m": radius_m}});
        let shape = Geometry::Polygon(Polygon::new(LineString(ring), vec![]));
        Self { label, region, shape, circle: Some((lon, lat, radius_m)) }
    }

    fn bbox(&self) -> Rect<f64> {
        bbox_of(&self.shape)
    }

    /// Every ring (exteriors and holes).
    fn rings(&self) -> Vec<&LineString<f64>> {
        let polygons: Vec<&Polygon<f64>> = match &self.shape {
            Geometry::Polygon(p) => vec![p],
            Geometry::MultiPolygon(mp) => mp.0.iter().collect(),
            other => panic!("a territory part is a polygon: {other:?}"),
        };
        polygons.into_iter().flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors())).collect()
    }
}

/// An identity narrowed to a territory.
struct Who {
    name: String,
    auth: String,
    /// Part indexes per level (a token's own first, then its creator's): a feature is visible
    /// when it meets a part of every level.
    levels: Vec<Vec<usize>>,
    /// Query regions (part indexes) asked about as this identity.
    probes: Vec<usize>,
}

/// One version of an entry: its event name and where it was (`None`: deleted).
struct Ver {
    version: u32,
    kind: &'static str,
    geometry: Option<Geometry<f64>>,
}

struct Logged {
    title: String,
    tags: Vec<String>,
    versions: Vec<Ver>,
}

impl Logged {
    fn last(&self) -> &Ver {
        self.versions.last().unwrap()
    }

    /// The version and geometry of a live entry.
    fn current(&self) -> Option<(u32, &Geometry<f64>)> {
        self.last().geometry.as_ref().map(|g| (self.last().version, g))
    }
}

/// An event as a stream shows it.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
struct Ev {
    entry: u64,
    version: u32,
    kind: String,
    bbox: Option<[f64; 4]>,
}

/// Requests to the server, counted.
struct Http<'a> {
    server: &'a Server,
    count: Cell<usize>,
}

impl Http<'_> {
    fn call(
        &self,
        method: &str,
        path: &str,
        auth: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, Vec<u8>) {
        self.count.set(self.count.get() + 1);
        let mut req = ureq::http::Request::builder().method(method).uri(self.server.url(path));
        if !auth.is_empty() {
            req = req.header("authorization", auth);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = match body {
            Some(b) => agent().run(req.header("content-type", "application/json").body(b.to_string()).unwrap()),
            None => agent().run(req.body(()).unwrap()),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        (resp.status().as_u16(), resp.body_mut().read_to_vec().unwrap_or_default())
    }

    fn json(&self, method: &str, path: &str, auth: &str, body: Option<&Value>) -> (u16, Value) {
        let (code, bytes) = self.call(method, path, auth, &[], body);
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A JSON answer that must be 200.
    fn ok(&self, method: &str, path: &str, auth: &str, body: Option<&Value>) -> Value {
        let (code, v) = self.json(method, path, auth, body);
        assert_eq!(code, 200, "{method} {path}: {v}");
        v
    }
}

/// PostGIS, the reference: which positions of the entries meet which parts.
struct Truth {
    conn: sqlx::PgConnection,
    parts_sent: usize,
    positions_sent: HashSet<(u64, u32)>,
}

impl Truth {
    async fn new(url: &str) -> Self {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        for ddl in [
            "CREATE TABLE parts (id int PRIMARY KEY, geom geometry(Geometry, 4326) NOT NULL, radius_m float8)",
            "CREATE TABLE positions (id bigint, version int, geom geometry(Geometry, 4326) NOT NULL, PRIMARY KEY (id, version))",
        ] {
            sqlx::query(ddl).execute(&mut conn).await.unwrap();
        }
        Self { conn, parts_sent: 0, positions_sent: HashSet::new() }
    }

    /// Sends the parts and positions not sent yet; answers, per part, the positions meeting it
    /// (`ST_Intersects`) and how many positions lie exactly on a part's boundary.
    async fn sync(
        &mut self,
        parts: &[Part],
        log: &BTreeMap<u64, Logged>,
    ) -> (HashMap<usize, HashSet<(u64, u32)>>, i64) {
        let wkb = |g: &Geometry<f64>| g.to_wkb(CoordDimensions::xy()).unwrap();
        for (i, p) in parts.iter().enumerate().skip(self.parts_sent) {
            // A circle is its centre and radius: ST_DWithin on the ellipsoid.
            let (shape, radius_m) = match p.circle {
                Some((lon, lat, r)) => (Geometry::Point(Point::new(lon, lat)), Some(r)),
                None => (p.shape.clone(), None),
            };
            sqlx::query("INSERT INTO parts VALUES ($1, ST_SetSRID(ST_GeomFromWKB($2), 4326), $3)")
                .bind(i as i32)
                .bind(wkb(&shape))
                .bind(radius_m)
                .execute(&mut self.conn)
                .await
                .unwrap();
            let valid: bool = sqlx::query_scalar("SELECT ST_IsValid(geom) FROM parts WHERE id = $1")
                .bind(i as i32)
                .fetch_one(&mut self.conn)
                .await
                .unwrap();
            assert!(valid, "{}: not a valid polygon for PostGIS", p.label);
        }
        self.parts_sent = parts.len();
        for (id, e) in log {
            for v in &e.versions {
                let Some(g) = &v.geometry else { continue };
                if self.positions_sent.insert((*id, v.version)) {
                    sqlx::query("INSERT INTO positions VALUES ($1, $2, ST_SetSRID(ST_GeomFromWKB($3), 4326))")
                        .bind(*id as i64)
                        .bind(v.version as i32)
                        .bind(wkb(g))
                        .execute(&mut self.conn)
                        .await
                        .unwrap();
                }
            }
        }
        let rows: Vec<(i32, i64, i32)> = sqlx::query_as(
            "SELECT p.id, e.id, e.version FROM parts p JOIN positions e ON CASE WHEN p.radius_m IS NULL \
             THEN ST_Intersects(p.geom, e.geom) ELSE ST_DWithin(p.geom::geography, e.geom::geography, p.radius_m, true) END",
        )
        .fetch_all(&mut self.conn)
        .await
        .unwrap();
        let mut meets: HashMap<usize, HashSet<(u64, u32)>> = (0..parts.len()).map(|i| (i, HashSet::new())).collect();
        for (p, id, v) in rows {
            meets.get_mut(&(p as usize)).unwrap().insert((id as u64, v as u32));
        }
        let on_border: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM parts p JOIN positions e ON p.radius_m IS NULL AND ST_Intersects(ST_Boundary(p.geom), e.geom)",
        )
        .fetch_one(&mut self.conn)
        .await
        .unwrap();
        (meets, on_border)
    }
}

/// What one backend's run saw, for the summary.
#[derive(Default)]
struct Figures {
    entries: usize,
    tiles: usize,
    tile_features: usize,
    events: usize,
    ids_checked: usize,
    on_border: i64,
}

/// The test's world: the server, the parts, the log as written, and the truth.
struct World<'a> {
    http: Http<'a>,
    admin: String,
    parts: Vec<Part>,
    log: BTreeMap<u64, Logged>,
    meets: HashMap<usize, HashSet<(u64, u32)>>,
    figures: Figures,
    out: PathBuf,
}

impl World<'_> {
    fn inside(&self, who: &Who, id: u64, version: u32) -> bool {
        who.levels.iter().all(|level| level.iter().any(|p| self.meets[p].contains(&(id, version))))
    }

    fn live(&self) -> impl Iterator<Item = (u64, u32, &Geometry<f64>)> {
        self.log.iter().filter_map(|(id, e)| e.current().map(|(v, g)| (*id, v, g)))
    }

    /// The live entries `who` may see.
    fn visible(&self, who: &Who) -> BTreeSet<u64> {
        self.live().filter(|(id, v, _)| self.inside(who, *id, *v)).map(|(id, _, _)| id).collect()
    }

    /// The live entries meeting part `p`.
    fn meeting(&self, p: usize) -> BTreeSet<u64> {
        self.live().filter(|(id, v, _)| self.meets[&p].contains(&(*id, *v))).map(|(id, _, _)| id).collect()
    }

    /// A box holding `who`'s territory: each level's boxes joined, the levels' intersected.
    fn bounds(&self, who: &Who) -> Rect<f64> {
        who.levels
            .iter()
            .map(|level| {
                level.iter().map(|p| self.parts[*p].bbox()).reduce(|a, b| {
                    rect(
                        a.min().x.min(b.min().x),
                        a.min().y.min(b.min().y),
                        a.max().x.max(b.max().x),
                        a.max().y.max(b.max().y),
                    )
                })
            })
            .map(Option::unwrap)
            .reduce(|a, b| overlap(a, b).unwrap_or_else(|| rect(a.min().x, a.min().y, a.min().x, a.min().y)))
            .unwrap()
    }

    /// Records an entry (as the admin); `false` when vigie refuses its geometry (a polygon
    /// vigie finds invalid).
    fn post(&mut self, rng: &mut Rng, geometry: &Geometry<f64>) -> bool {
        let n = self.log.len();
        let tag = *rng.pick(&TAGS);
        let title = format!("Essai {n} {}", rng.pick(&WORDS));
        let body = json!({"title": title, "severity": rng.below(5), "tags": [tag], "geometry": geojson_of(geometry)});
        let (code, e) = self.http.json("POST", "/api/entries", &self.admin, Some(&body));
        if code == 422 && matches!(geometry, Geometry::Polygon(_)) {
            return false;
        }
        assert_eq!(code, 201, "{body}: {e}");
        let held = geometry_of(&e["geometry"]);
        assert_eq!(&held, geometry, "vigie holds the coordinates it was given, to the bit");
        let id = e["id"].as_u64().unwrap();
        let versions = vec![Ver { version: 1, kind: "entry.created", geometry: Some(held) }];
        self.log.insert(id, Logged { title, tags: vec![tag.to_owned()], versions });
        true
    }

    /// Changes an entry (as the admin) with `If-Match`; `None` deletes it.
    fn change(&mut self, id: u64, patch: Option<&Value>) {
        let version = self.log[&id].last().version;
        let if_match = format!("\"{version}\"");
        let headers = [("if-match", if_match.as_str())];
        let path = format!("/api/entries/{id}");
        let (code, bytes) = match patch {
            Some(p) => self.http.call("PATCH", &path, &self.admin, &headers, Some(p)),
            None => self.http.call("DELETE", &path, &self.admin, &headers, None),
        };
        let e: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_eq!(code, 200, "{path} {patch:?}: {e}");
        assert_eq!(e["version"].as_u64(), Some(u64::from(version) + 1), "{e}");
        let logged = self.log.get_mut(&id).unwrap();
        if let Some(t) = e["title"].as_str() {
            t.clone_into(&mut logged.title);
        }
        let (kind, geometry) = if patch.is_some() {
            ("entry.updated", Some(geometry_of(&e["geometry"])))
        } else {
            ("entry.deleted", None)
        };
        logged.versions.push(Ver { version: version + 1, kind, geometry });
    }

    /// The events `who` must be told of, for the versions `keep` selects: a version shows when
    /// the entry meets the territory before or after it; as a removal when not after; with a
    /// box over the positions inside only.
    fn expected_events(&self, who: &Who, keep: &dyn Fn(u64, u32) -> bool) -> Vec<Ev> {
        let mut out = Vec::new();
        for (id, e) in &self.log {
            for (i, v) in e.versions.iter().enumerate() {
                if !keep(*id, v.version) {
                    continue;
                }
                let before =
                    i.checked_sub(1).map(|j| &e.versions[j]).and_then(|b| b.geometry.as_ref().map(|g| (b.version, g)));
                let after = v.geometry.as_ref().map(|g| (v.version, g));
                let shown_before = before.filter(|(ver, _)| self.inside(who, *id, *ver));
                let shown_after = after.filter(|(ver, _)| self.inside(who, *id, *ver));
                let shown: Vec<&Geometry<f64>> = shown_before.into_iter().chain(shown_after).map(|(_, g)| g).collect();
                if shown.is_empty() {
                    continue;
                }
                let b = shown.iter().map(|g| bbox_of(g)).fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |a, r| {
                    [a[0].min(r.min().x), a[1].min(r.min().y), a[2].max(r.max().x), a[3].max(r.max().y)]
                });
                let kind = if shown_after.is_some() { v.kind } else { "entry.deleted" };
                out.push(Ev { entry: *id, version: v.version, kind: kind.to_owned(), bbox: Some(b) });
            }
        }
        out
    }
}

/// Features of a GeoJSON FeatureCollection file, by their `code`.
fn features_of(path: &Path) -> Vec<(String, Geometry<f64>)> {
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["properties"]["code"].as_str().unwrap().to_owned(), geometry_of(&f["geometry"])))
        .collect()
}

/// A star-shaped polygon around a random point of Île-de-France, with a smaller star-shaped
/// hole inside (every angular gap of the outer ring is under 90°, so a hole within half of its
/// smallest radius stays inside).
fn drawn_polygon(rng: &mut Rng) -> Polygon<f64> {
    let (cx, cy) = (dec(rng.range(1.8, 3.2), 4), dec(rng.range(48.4, 49.0), 4));
    let star = |rng: &mut Rng, n: usize, r: f64, spread: f64, centre: (f64, f64)| -> Vec<Coord<f64>> {
        let step = std::f64::consts::TAU / n as f64;
        let mut ring: Vec<Coord<f64>> = (0..n)
            .map(|i| {
                let a = step * (i as f64 + rng.range(-0.3, 0.3));
                let d = r * rng.range(1.0 - spread, 1.0);
                Coord { x: dec(centre.0 + d * a.cos(), 6), y: dec(centre.1 + d * a.sin(), 6) }
            })
            .collect();
        ring.push(ring[0]);
        ring
    };
    let r = rng.range(0.03, 0.08);
    let n = 7 + rng.below(8);
    let outer = star(rng, n, r, 0.4, (cx, cy));
    let hole_r = r * 0.6 * rng.range(0.2, 0.35);
    let m = 5 + rng.below(4);
    let centre = (cx + rng.range(-0.05, 0.05) * r, cy + rng.range(-0.05, 0.05) * r);
    let mut hole = star(rng, m, hole_r, 0.3, centre);
    hole.reverse();
    Polygon::new(LineString(outer), vec![LineString(hole)])
}

/// Entries on and near the boundary of `part` (its vertices within `window` when given):
/// exactly on vertices and edges, a hair (1e-7°) to 1e-3° off either side, lines and
/// triangles touching a vertex or crossing the boundary, and triangles just beside it.
fn near_border(rng: &mut Rng, part: &Part, window: Option<Rect<f64>>, n: usize) -> Vec<Geometry<f64>> {
    let rings = part.rings();
    // Edges (a, b) with `a` in the window; the first half of the picks by ring (holes and
    // islands get their share), the rest by edge.
    let edges: Vec<Vec<(Coord<f64>, Coord<f64>)>> = rings
        .iter()
        .map(|r| {
            r.lines()
                .map(|l| (l.start, l.end))
                .filter(|(a, _)| window.is_none_or(|w| w.intersects(&Point(*a))))
                .collect::<Vec<_>>()
        })
        .filter(|e: &Vec<_>| !e.is_empty())
        .collect();
    assert!(!edges.is_empty(), "{}: no vertex in {window:?}", part.label);
    let all: Vec<(Coord<f64>, Coord<f64>)> = edges.iter().flatten().copied().collect();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (a, b) = if i % 2 == 0 {
            let ring = rng.below(edges.len());
            *rng.pick(&edges[ring])
        } else {
            *rng.pick(&all)
        };
        let on_edge = |rng: &mut Rng| {
            let t = if rng.below(2) == 0 { 0.5 } else { rng.unit() };
            at(a.x + t * (b.x - a.x), a.y + t * (b.y - a.y))
        };
        let dir = |rng: &mut Rng| {
            let angle = rng.range(0.0, std::f64::consts::TAU);
            (angle.cos(), angle.sin())
        };
        let g = match rng.below(100) {
            // Exactly on a vertex.
            0..20 => Geometry::Point(Point(a)),
            // On an edge (its midpoint or anywhere), to ten decimals.
            20..35 => Geometry::Point(Point(on_edge(rng))),
            // A hair to a thousandth of a degree off a vertex or an edge point.
            35..70 => {
                let base = if rng.below(2) == 0 { a } else { on_edge(rng) };
                let m = 10f64.powf(rng.range(-7.0, -3.0));
                let (dx, dy) = dir(rng);
                Geometry::Point(Point(at(base.x + m * dx, base.y + m * dy)))
            }
            // A line from a vertex, or across it.
            70..82 => {
                let d = 10f64.powf(rng.range(-3.0, -2.0));
                let (dx, dy) = dir(rng);
                let start = if rng.below(2) == 0 { a } else { at(a.x - d * dx, a.y - d * dy) };
                Geometry::LineString(LineString(vec![start, at(a.x + d * dx, a.y + d * dy)]))
            }
            // A triangle with a corner on a vertex, or the same a little off it.
            _ => {
                let (d1, d2) = (10f64.powf(rng.range(-3.0, -2.0)), 10f64.powf(rng.range(-3.0, -2.0)));
                let a1 = rng.range(0.0, std::f64::consts::TAU);
                let a2 = a1 + rng.range(0.6, 2.4);
                let off = if rng.below(2) == 0 { (0.0, 0.0) } else { (rng.range(-1e-3, 1e-3), rng.range(-1e-3, 1e-3)) };
                let c = at(a.x + off.0, a.y + off.1);
                let ring = vec![
                    c,
                    at(c.x + d1 * a1.cos(), c.y + d1 * a1.sin()),
                    at(c.x + d2 * a2.cos(), c.y + d2 * a2.sin()),
                    c,
                ];
                Geometry::Polygon(Polygon::new(LineString(ring), vec![]))
            }
        };
        out.push(g);
    }
    out
}

/// Entries on and near a circle: at its radius (to ten decimals) or 1e-7 to 1e-3 of it either
/// side, lines across it, triangles with a corner near it.
fn near_circle(rng: &mut Rng, (lon, lat, radius_m): (f64, f64, f64), n: usize) -> Vec<Geometry<f64>> {
    let centre = Point::new(lon, lat);
    let at_bearing = |bearing: f64, d: f64| {
        let p = Geodesic.destination(centre, bearing, d);
        at(p.x(), p.y())
    };
    (0..n)
        .map(|_| {
            let bearing = rng.range(0.0, 360.0);
            let off = if rng.below(4) == 0 {
                0.0
            } else {
                10f64.powf(rng.range(-7.0, -3.0)) * if rng.below(2) == 0 { -1.0 } else { 1.0 }
            };
            match rng.below(10) {
                0..6 => Geometry::Point(Point(at_bearing(bearing, radius_m * (1.0 + off)))),
                6..8 => {
                    let d = 10f64.powf(rng.range(-3.0, -1.5));
                    let (a, b) = (at_bearing(bearing, radius_m * (1.0 - d)), at_bearing(bearing, radius_m * (1.0 + d)));
                    Geometry::LineString(LineString(vec![a, b]))
                }
                _ => {
                    let c = at_bearing(bearing, radius_m * (1.0 + off));
                    let d = radius_m * 10f64.powf(rng.range(-2.0, -1.0));
                    let (b1, b2) = (bearing + rng.range(-60.0, -20.0), bearing + rng.range(20.0, 60.0));
                    let (p1, p2) = (Geodesic.destination(Point(c), b1, d), Geodesic.destination(Point(c), b2, d));
                    let ring = vec![c, at(p1.x(), p1.y()), at(p2.x(), p2.y()), c];
                    Geometry::Polygon(Polygon::new(LineString(ring), vec![]))
                }
            }
        })
        .collect()
}

/// Random points in a box (or in the boxes of a part's holes).
fn scatter(rng: &mut Rng, r: Rect<f64>, n: usize) -> Vec<Geometry<f64>> {
    (0..n)
        .map(|_| Geometry::Point(Point(at(rng.range(r.min().x, r.max().x), rng.range(r.min().y, r.max().y)))))
        .collect()
}

fn in_holes(rng: &mut Rng, part: &Part, n: usize) -> Vec<Geometry<f64>> {
    let holes: Vec<Rect<f64>> = match &part.shape {
        Geometry::Polygon(p) => p.interiors().iter().filter_map(BoundingRect::bounding_rect).collect(),
        Geometry::MultiPolygon(mp) => {
            mp.0.iter().flat_map(Polygon::interiors).filter_map(BoundingRect::bounding_rect).collect()
        }
        _ => Vec::new(),
    };
    if holes.is_empty() {
        return Vec::new();
    }
    (0..n)
        .flat_map(|_| {
            let hole = *rng.pick(&holes);
            scatter(rng, hole, 1)
        })
        .collect()
}

/// A vertex of `part`'s boundary within `window`.
fn vertex_in(rng: &mut Rng, part: &Part, window: Rect<f64>) -> Coord<f64> {
    let vertices: Vec<Coord<f64>> =
        part.rings().iter().flat_map(|r| r.coords().copied()).filter(|c| window.intersects(&Point(*c))).collect();
    *rng.pick(&vertices)
}

/// A box near a boundary vertex of `part` (within `window`), `half` degrees each way at most.
fn box_near(rng: &mut Rng, part: &Part, window: Rect<f64>, half: (f64, f64)) -> Rect<f64> {
    let v = vertex_in(rng, part, window);
    let (hw, hh) = (rng.range(half.0, half.1), rng.range(half.0, half.1));
    rect(
        dec(v.x - hw, 4),
        dec(v.y - hh, 4),
        dec(v.x + hw * rng.range(0.3, 1.0), 4),
        dec(v.y + hh * rng.range(0.3, 1.0), 4),
    )
}

/// A quadrilateral around a boundary vertex of `part`.
fn quad_near(rng: &mut Rng, part: &Part, window: Rect<f64>) -> Polygon<f64> {
    let b = box_near(rng, part, window, (0.005, 0.04));
    let c = b.center();
    let ring: Vec<Coord<f64>> = (0..4)
        .map(|i| {
            let a = f64::from(i) * std::f64::consts::FRAC_PI_2 + rng.range(-0.4, 0.4);
            let r = rng.range(0.4, 1.0) * b.width().max(b.height());
            Coord { x: dec(c.x + r * a.cos(), 6), y: dec(c.y + r * a.sin(), 6) }
        })
        .collect();
    let mut ring = ring;
    ring.push(ring[0]);
    Polygon::new(LineString(ring), vec![])
}

/// Tile x, y of a point at zoom z.
fn tile_xy(lon: f64, lat: f64, z: u32) -> (f64, f64) {
    let n = f64::from(1u32 << z);
    let x = (lon + 180.0) / 360.0 * n;
    let y = (1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n;
    (x, y)
}

/// A tile's box in longitude/latitude.
fn tile_rect(z: u32, x: u32, y: u32) -> Rect<f64> {
    let n = f64::from(1u32 << z);
    let lon = |x: u32| f64::from(x) / n * 360.0 - 180.0;
    let lat = |y: u32| (std::f64::consts::PI * (1.0 - 2.0 * f64::from(y) / n)).sinh().atan().to_degrees();
    rect(lon(x), lat(y + 1), lon(x + 1), lat(y))
}

fn tiles_over(r: Rect<f64>, z: u32) -> Vec<Tile> {
    let last = f64::from((1u32 << z) - 1);
    let (x0, y0) = tile_xy(r.min().x, r.max().y, z);
    let (x1, y1) = tile_xy(r.max().x, r.min().y, z);
    let (x0, y0, x1, y1) = (x0.clamp(0.0, last), y0.clamp(0.0, last), x1.clamp(0.0, last), y1.clamp(0.0, last));
    let mut out = Vec::new();
    for x in (x0 as u32)..=(x1 as u32) {
        for y in (y0 as u32)..=(y1 as u32) {
            out.push((z, x, y));
        }
    }
    out
}

/// The highest zoom (5, the entries' minzoom, to 16) at which `r` takes at most `most` tiles.
fn zoom_for(r: Rect<f64>, most: usize) -> u32 {
    (5..=16).rev().find(|z| tiles_over(r, *z).len() <= most).unwrap_or(5)
}

/// Entry counts per H3 cell at resolution `r`, each entry in the cell vigie's aggregates keep
/// for it (the parent of its representative point's finest cell).
fn cell_counts<'g>(geometries: impl Iterator<Item = &'g Geometry<f64>>, r: u8) -> BTreeMap<u64, u64> {
    let res = h3o::Resolution::try_from(r).unwrap();
    let mut out = BTreeMap::new();
    for g in geometries {
        let p = vigie_layers::h3::representative_point(g).unwrap();
        let cell = vigie_layers::h3::cell_of(p.x, p.y, vigie_layers::h3::FINEST).unwrap().parent(res).unwrap();
        *out.entry(u64::from(cell)).or_insert(0) += 1;
    }
    out
}

/// Counts per cell of an `/api/h3` answer.
fn cells_of(answer: &Value) -> BTreeMap<u64, u64> {
    answer["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (u64::from(c["cell"].as_str().unwrap().parse::<h3o::CellIndex>().unwrap()), c["count"].as_u64().unwrap())
        })
        .collect()
}

fn ids_of(features: &Value) -> Vec<u64> {
    features.as_array().unwrap().iter().map(|f| f["id"].as_u64().unwrap()).collect()
}

/// Ids of a CSV export (`layer,id,…`).
fn csv_ids(text: &str) -> Vec<u64> {
    let mut lines = text.lines();
    assert!(lines.next().is_some_and(|h| h.starts_with("layer,id,")), "{}", &text[..text.len().min(200)]);
    lines.filter(|l| !l.is_empty()).map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect()
}

/// The events of the stream (from `since` when given) as the model writes them.
fn listen(server: &Server, auth: &str, since: Option<u64>) -> mpsc::Receiver<Ev> {
    let path = since.map_or_else(|| "/api/events".to_owned(), |s| format!("/api/events?since={s}"));
    let told = sse(server, &path, auth);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for t in told {
            let d = t.data;
            let bbox = d["bbox"].as_array().map(|b| {
                let v: Vec<f64> = b.iter().map(|x| x.as_f64().unwrap()).collect();
                [v[0], v[1], v[2], v[3]]
            });
            let ev = Ev {
                entry: d["entry_id"].as_u64().unwrap(),
                version: d["version"].as_u64().unwrap() as u32,
                kind: t.kind,
                bbox,
            };
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    rx
}

/// Events of a stream until `want` came and then a second went by without one (anything
/// more would be a leak), or until `limit`.
fn collect(rx: &mpsc::Receiver<Ev>, want: usize, limit: Duration) -> Vec<Ev> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    loop {
        let wait =
            if got.len() >= want { Duration::from_secs(1) } else { deadline.saturating_duration_since(Instant::now()) };
        match rx.recv_timeout(wait) {
            Ok(e) => got.push(e),
            Err(_) => break,
        }
    }
    got
}

/// Compares the events a stream gave with the model; a failure says which were leaks.
fn compare_events(world: &World, who: &Who, what: &str, mut got: Vec<Ev>, mut want: Vec<Ev>) {
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if got == want {
        return;
    }
    let extra: Vec<String> = got
        .iter()
        .filter(|e| !want.contains(e))
        .map(|e| {
            let e_in = world.log.get(&e.entry).map(|l| {
                l.versions.iter().filter(|v| v.geometry.is_some() && world.inside(who, e.entry, v.version)).count()
            });
            format!("{e:?} (versions inside: {e_in:?})")
        })
        .collect();
    let missing: Vec<&Ev> = want.iter().filter(|e| !got.contains(e)).collect();
    panic!(
        "{} ({what}): {} events, {} expected\nLEAKED or wrong ({}): {extra:#?}\nmissing ({}): {missing:#?}",
        who.name,
        got.len(),
        want.len(),
        extra.len(),
        missing.len()
    );
}

/// What PostGIS says of an entry: its geometry and the parts of `who`'s territory it meets.
fn describe(world: &World, who: &Who, id: u64) -> String {
    let e = &world.log[&id];
    let (version, g) = e.current().unwrap();
    let meets: Vec<&str> = who
        .levels
        .iter()
        .flatten()
        .filter(|p| world.meets[p].contains(&(id, version)))
        .map(|p| world.parts[*p].label.as_str())
        .collect();
    format!("entry {id} v{version} {} meets, for PostGIS, {meets:?}", geojson_of(g))
}

/// Fails, naming each entry that leaked (shown, outside) or is missing (inside, not shown),
/// when an answer's ids are not the truth's.
fn same(world: &World, who: &Who, what: &str, got: &BTreeSet<u64>, want: &BTreeSet<u64>) {
    if got == want {
        return;
    }
    let visible = world.visible(who);
    let mut lines = Vec::new();
    for id in got.difference(want) {
        let why = if visible.contains(id) {
            "shown but outside the request's region"
        } else {
            "LEAK: shown, outside the territory"
        };
        lines.push(format!("{why}: {}", describe(world, who, *id)));
    }
    for id in want.difference(got) {
        lines.push(format!("missing, inside: {}", describe(world, who, *id)));
    }
    panic!("{} — {what}: {} ids, {} expected\n{}", who.name, got.len(), want.len(), lines.join("\n"));
}

/// Every narrowing JSON route as `who`, against the truth.
fn check_routes(world: &mut World, who: &Who, rng: &mut Rng, every_id: bool) {
    let http = &world.http;
    let auth = who.auth.as_str();
    let visible = world.visible(who);
    let name = &who.name;

    // The entry list, paged to its end, and its search.
    for (query, want) in [
        (format!("limit={}", 17 + rng.below(40)), visible.clone()),
        (
            format!("q={}&limit={}", WORDS[1], 5 + rng.below(20)),
            visible.iter().copied().filter(|id| world.log[id].title.ends_with(WORDS[1])).collect(),
        ),
    ] {
        let mut listed = Vec::new();
        let mut next = Some(format!("/api/entries?{query}"));
        while let Some(path) = next {
            let page = http.ok("GET", &path, auth, None);
            for e in page["entries"].as_array().unwrap() {
                let id = e["id"].as_u64().unwrap();
                assert!(visible.contains(&id), "LEAK {name}: {path} lists {}", describe(world, who, id));
                assert_eq!(Some(&geometry_of(&e["geometry"])), world.log[&id].current().map(|c| c.1));
                listed.push(id);
            }
            next = page["next"].as_str().map(str::to_owned);
        }
        let set: BTreeSet<u64> = listed.iter().copied().collect();
        assert_eq!(set.len(), listed.len(), "{name}: an entry twice in /api/entries?{query}");
        same(world, who, &format!("/api/entries?{query}"), &set, &want);
    }

    // Single entries, their revisions and OGC items: outside, they do not exist.
    let ids: Vec<u64> = if every_id {
        world.log.keys().copied().collect()
    } else {
        let keys: Vec<u64> = world.log.keys().copied().collect();
        let mut some: BTreeSet<u64> =
            world.log.iter().filter(|(_, e)| e.versions.len() > 1).map(|(id, _)| *id).collect();
        some.extend((0..30).map(|_| *rng.pick(&keys)));
        some.into_iter().collect()
    };
    for id in &ids {
        let e = &world.log[id];
        if e.current().is_none() {
            // Deleted: gone from OGC; and never shown when it was outside.
            let (code, _) = http.call("GET", &format!("/ogc/collections/entries/items/{id}"), auth, &[], None);
            assert_eq!(code, 404, "{name}: deleted entry {id} in OGC");
            let last = &e.versions[e.versions.len() - 2];
            if !world.inside(who, *id, last.version) {
                let (code, _) = http.call("GET", &format!("/api/entries/{id}"), auth, &[], None);
                assert_eq!(code, 404, "LEAK {name}: deleted entry {id}, outside, answers");
            }
            continue;
        }
        let inside = visible.contains(id);
        let want = if inside { 200 } else { 404 };
        for path in [format!("/api/entries/{id}"), format!("/ogc/collections/entries/items/{id}")] {
            let (code, body) = http.call("GET", &path, auth, &[], None);
            assert_eq!(
                code,
                want,
                "{}{name}: GET {path} ({}): {}",
                if inside { "" } else { "LEAK " },
                String::from_utf8_lossy(&body),
                describe(world, who, *id)
            );
        }
        let (code, revisions) = http.json("GET", &format!("/api/entries/{id}/revisions"), auth, None);
        let (leak, what) = (if inside { "" } else { "LEAK " }, describe(world, who, *id));
        assert_eq!(code, want, "{leak}{name}: revisions of {id}: {revisions}: {what}");
        if inside {
            // No position outside in the history: each shown is a version's, inside.
            for r in revisions["revisions"].as_array().unwrap() {
                let Some(change) = r["changes"].get("geometry") else { continue };
                for side in ["from", "to"] {
                    if change[side].is_null() {
                        continue;
                    }
                    let g = geometry_of(&change[side]);
                    let ok =
                        e.versions.iter().any(|v| v.geometry.as_ref() == Some(&g) && world.inside(who, *id, v.version));
                    assert!(
                        ok,
                        "LEAK {name}: revision {} of entry {id} shows {side} a position outside: {change}",
                        r["version"]
                    );
                }
            }
        }
    }
    world.figures.ids_checked += ids.len();

    // Region queries (JSON, a short page, CSV both ways), OGC items and /api/h3 over each probe.
    for &p in &who.probes {
        let want: BTreeSet<u64> = visible.intersection(&world.meeting(p)).copied().collect();
        let part = &world.parts[p];
        let label = &part.label;
        let mut body = part.region.clone();
        body["layers"] = json!(["entries"]);
        body["limit"] = json!(10_000);
        let answer = http.ok("POST", "/api/query", auth, Some(&body));
        let got: BTreeSet<u64> = ids_of(&answer["features"]).into_iter().collect();
        for id in &got {
            assert!(visible.contains(id), "LEAK {name}: /api/query over {label} gives entry {id}, outside");
        }
        same(world, who, &format!("/api/query over {label}"), &got, &want);
        assert_eq!(answer["numberMatched"].as_u64(), Some(want.len() as u64), "{name}: numberMatched over {label}");
        body["limit"] = json!(5);
        let short = http.ok("POST", "/api/query", auth, Some(&body));
        assert_eq!(
            short["numberMatched"].as_u64(),
            Some(want.len() as u64),
            "{name}: numberMatched, short page, {label}"
        );
        assert!(ids_of(&short["features"]).iter().all(|id| want.contains(id)), "LEAK {name}: short page over {label}");
        body["limit"] = json!(10_000);
        body["format"] = json!("csv");
        let (code, csv) = http.call("POST", "/api/query", auth, &[], Some(&body));
        assert_eq!(code, 200, "{name}: CSV over {label}");
        let rows: BTreeSet<u64> = csv_ids(&String::from_utf8(csv).unwrap()).into_iter().collect();
        same(world, who, &format!("CSV export over {label}"), &rows, &want);

        let b = part.bbox();
        let bbox = format!("{},{},{},{}", b.min().x, b.min().y, b.max().x, b.max().y);
        let is_box = part.region.get("bbox").is_some();
        if is_box {
            let (code, csv) =
                http.call("GET", &format!("/api/query?bbox={bbox}&limit=10000"), auth, &[("accept", "text/csv")], None);
            assert_eq!(code, 200);
            let rows: BTreeSet<u64> = csv_ids(&String::from_utf8(csv).unwrap()).into_iter().collect();
            same(world, who, &format!("GET CSV (Accept) over {label}"), &rows, &want);

            // OGC items in the box, paged by a random limit: numberMatched on every page.
            let limit = 7 + rng.below(30);
            let mut offset = 0;
            let mut items = Vec::new();
            loop {
                let page = http.ok(
                    "GET",
                    &format!("/ogc/collections/entries/items?bbox={bbox}&limit={limit}&offset={offset}"),
                    auth,
                    None,
                );
                assert_eq!(
                    page["numberMatched"].as_u64(),
                    Some(want.len() as u64),
                    "{name}: OGC numberMatched in {label}"
                );
                let ids = ids_of(&page["features"]);
                if ids.is_empty() {
                    break;
                }
                items.extend(ids);
                offset += limit;
            }
            let set: BTreeSet<u64> = items.iter().copied().collect();
            assert_eq!(set.len(), items.len(), "{name}: an OGC item twice in {label}");
            same(world, who, &format!("OGC items in {label}"), &set, &want);

            // The list's own box (a box filter on the store, then the territory).
            let listed = http.ok("GET", &format!("/api/entries?bbox={bbox}&limit=500"), auth, None);
            let listed: BTreeSet<u64> = ids_of(&listed["entries"]).into_iter().collect();
            for id in &listed {
                assert!(
                    visible.contains(id),
                    "LEAK {name}: /api/entries?bbox={bbox} lists {}",
                    describe(world, who, *id)
                );
            }
            let inner = grown(b, -1e-6);
            for id in want
                .iter()
                .filter(|id| matches!(world.log[id].current(), Some((_, Geometry::Point(p))) if inner.intersects(p)))
            {
                assert!(listed.contains(id), "{name}: /api/entries?bbox={bbox} misses entry {id}");
            }
        }

        // H3 counts over the probe (a box, an area or a circle).
        let query = if is_box {
            format!("bbox={bbox}")
        } else if let Some(area) = part.region["area"].as_str() {
            format!("area={area}")
        } else if let Some((lon, lat, r)) = part.circle {
            format!("circle={lon},{lat},{r}")
        } else {
            continue;
        };
        let r = 4 + rng.below(6) as u8;
        let path = format!("/api/h3?layer=entries&res={r}&{query}");
        let got = http.ok("GET", &path, auth, None);
        let expected = cell_counts(want.iter().map(|id| world.log[id].current().unwrap().1), r);
        assert_eq!(got["total"].as_u64(), Some(want.len() as u64), "{name}: {path} total");
        assert_eq!(cells_of(&got), expected, "{name}: {path} per cell");
    }

    // H3 counts over the whole territory.
    let r = 4 + rng.below(6) as u8;
    let path = format!("/api/h3?layer=entries&res={r}");
    let got = http.ok("GET", &path, auth, None);
    let expected = cell_counts(visible.iter().map(|id| world.log[id].current().unwrap().1), r);
    assert_eq!(got["total"].as_u64(), Some(visible.len() as u64), "{name}: {path} total");
    assert_eq!(cells_of(&got), expected, "{name}: {path} per cell");

    // OGC items, the whole collection, paged.
    let limit = 11 + rng.below(60);
    let mut offset = 0;
    let mut items = BTreeSet::new();
    loop {
        let page = http.ok("GET", &format!("/ogc/collections/entries/items?limit={limit}&offset={offset}"), auth, None);
        assert_eq!(page["numberMatched"].as_u64(), Some(visible.len() as u64), "{name}: OGC numberMatched");
        let ids = ids_of(&page["features"]);
        for id in &ids {
            assert!(visible.contains(id), "LEAK {name}: OGC items list {}", describe(world, who, *id));
            assert!(items.insert(*id), "{name}: OGC item {id} twice");
        }
        if ids.is_empty() {
            break;
        }
        offset += limit;
    }
    same(world, who, "OGC items", &items, &visible);
}

/// z, x, y.
type Tile = (u32, u32, u32);

/// A tile asked as an identity (`None`: the admin, asked first to fill the cache).
struct TileAsk {
    who: Option<usize>,
    z: u32,
    x: u32,
    y: u32,
    layers: &'static str,
    file: String,
    /// At the fine zoom of one of the identity's parts, over `region`: the union of the tiles
    /// must hold every entry drawn there.
    fine: Option<Rect<f64>>,
}

/// Every tile over each identity's territory at two zooms, plain and composite, decoded by
/// mapbox-vector-tile: no feature outside, point positions right, H3 counts those of the
/// entries inside, and at the fine zoom nothing inside missing.
fn check_tiles(world: &mut World, whos: &[Who], rng: &mut Rng, round: u32) {
    let dir = world.out.join(format!("tiles-{round}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut asks = Vec::new();
    for (w, who) in whos.iter().enumerate() {
        let bounds = world.bounds(who);
        let mut tiles: Vec<(Tile, Option<Rect<f64>>)> = Vec::new();
        for &p in &who.levels[0] {
            let Some(region) = overlap(grown(world.parts[p].bbox(), 1e-9), bounds) else { continue };
            let (fine, coarse) = (zoom_for(region, FINE_TILES), zoom_for(region, COARSE_TILES));
            tiles.extend(tiles_over(region, fine).into_iter().map(|t| (t, Some(region))));
            if coarse < fine {
                tiles.extend(tiles_over(region, coarse).into_iter().map(|t| (t, None)));
            }
        }
        // Close up (z14 to z18) on border vertices: the tile holding one and those around it.
        for _ in 0..CLOSE_UPS {
            let v = vertex_in(rng, &world.parts[who.levels[0][0]], bounds);
            let z = 14 + rng.below(5) as u32;
            let (x, y) = tile_xy(v.x, v.y, z);
            let (x, y) = (x as u32, y as u32);
            let region = overlap(tile_rect(z, x, y), bounds);
            for (dx, dy) in (0..9).map(|i| (i % 3, i / 3)) {
                tiles.push(((z, (x + dx).saturating_sub(1), (y + dy).saturating_sub(1)), region));
            }
        }
        {
            for ((z, x, y), fine) in tiles {
                for layers in ["entries", "entries-h3,public-order,entries"] {
                    if layers != "entries" {
                        asks.push(TileAsk { who: None, z, x, y, layers, file: String::new(), fine: None });
                    }
                    asks.push(TileAsk { who: Some(w), z, x, y, layers, file: String::new(), fine });
                }
            }
        }
    }
    let mut index = Vec::new();
    for (i, ask) in asks.iter_mut().enumerate() {
        let auth = ask.who.map_or(world.admin.as_str(), |w| whos[w].auth.as_str());
        let path = format!("/tiles/{}/{}/{}/{}", ask.layers, ask.z, ask.x, ask.y);
        let (code, bytes) = world.http.call("GET", &path, auth, &[], None);
        assert!(matches!(code, 200 | 204), "{path}: {code}");
        if code == 200 && ask.who.is_some() {
            ask.file = format!("{i}.mvt");
            std::fs::write(dir.join(&ask.file), bytes).unwrap();
            index.push(json!({"file": ask.file, "z": ask.z, "x": ask.x, "y": ask.y}));
        }
    }
    std::fs::write(dir.join("tiles.json"), Value::Array(index).to_string()).unwrap();
    let report = run(Command::new(python()).arg(repo_root().join("tests/python/check_leaks.py")).arg(&dir));
    let decoded: Value = serde_json::from_str(report.trim()).unwrap();
    let by_file: HashMap<&str, &Value> =
        decoded["tiles"].as_array().unwrap().iter().map(|t| (t["file"].as_str().unwrap(), &t["layers"])).collect();

    let visible: Vec<BTreeSet<u64>> = whos.iter().map(|w| world.visible(w)).collect();
    let mut h3_expected: HashMap<(usize, u8), BTreeMap<u64, u64>> = HashMap::new();
    let mut fine_union: HashMap<(usize, u32, [u64; 4]), BTreeSet<u64>> = HashMap::new();
    for ask in asks.iter().filter(|a| a.who.is_some()) {
        let w = ask.who.unwrap();
        let name = &whos[w].name;
        let key = ask.fine.map(|r| (w, ask.z, [r.min().x, r.min().y, r.max().x, r.max().y].map(f64::to_bits)));
        if let Some(k) = key {
            fine_union.entry(k).or_default();
        }
        if ask.file.is_empty() {
            continue;
        }
        world.figures.tiles += 1;
        let tile = format!("{} {}/{}/{}", ask.layers, ask.z, ask.x, ask.y);
        let layers = by_file[ask.file.as_str()].as_object().unwrap();
        for (layer, features) in layers {
            let features = features.as_array().unwrap();
            world.figures.tile_features += features.len();
            match layer.as_str() {
                "entries" | "public-order" => {
                    for f in features {
                        let id = f["id"].as_u64().unwrap();
                        assert!(
                            visible[w].contains(&id),
                            "LEAK {name}: tile {tile} layer {layer} holds {}",
                            describe(world, &whos[w], id)
                        );
                        let e = &world.log[&id];
                        if layer == "public-order" {
                            assert!(
                                e.tags.iter().any(|t| t == "public_order"),
                                "{tile}: entry {id} is not public_order"
                            );
                        }
                        let (_, g) = e.current().unwrap();
                        if let (Some(pt), Geometry::Point(p)) = (f["point"].as_array(), g) {
                            let (tx, ty) = tile_xy(p.x(), p.y(), ask.z);
                            let (px, py) = ((tx - f64::from(ask.x)) * 4096.0, (ty - f64::from(ask.y)) * 4096.0);
                            let (dx, dy) = (pt[0].as_f64().unwrap() - px, pt[1].as_f64().unwrap() - py);
                            assert!(dx.abs() <= 1.0 && dy.abs() <= 1.0, "{tile}: entry {id} drawn {dx},{dy} units off");
                        }
                        if let Some(k) = key {
                            fine_union.get_mut(&k).unwrap().insert(id);
                        }
                    }
                }
                "entries-h3" => {
                    let r = vigie_layers::h3::resolution_for_zoom(ask.z as u8, 3, 10);
                    let expected = h3_expected.entry((w, r)).or_insert_with(|| {
                        cell_counts(visible[w].iter().map(|id| world.log[id].current().unwrap().1), r)
                    });
                    for f in features {
                        let cell = f["id"].as_u64().unwrap();
                        let count = f["count"].as_u64().unwrap();
                        let want = expected.get(&cell).copied().unwrap_or(0);
                        if count != want {
                            // Every entry that is or was in the cell, inside or not.
                            let held: Vec<String> = world
                                .log
                                .iter()
                                .flat_map(|(id, e)| e.versions.iter().map(move |v| (id, v)))
                                .filter(|(_, v)| {
                                    v.geometry
                                        .as_ref()
                                        .is_some_and(|g| cell_counts(std::iter::once(g), r).contains_key(&cell))
                                })
                                .map(|(id, v)| {
                                    let now = world.log[id]
                                        .current()
                                        .map_or("deleted".into(), |_| describe(world, &whos[w], *id));
                                    let then = world.inside(&whos[w], *id, v.version);
                                    format!(
                                        "entry {id} at v{} {} (inside: {then}); now {now}",
                                        v.version,
                                        geojson_of(v.geometry.as_ref().unwrap())
                                    )
                                })
                                .collect();
                            let leak = if count > want { "LEAK " } else { "" };
                            panic!(
                                "{leak}{name}: tile {tile} counts {count} in cell {cell:x}, {want} inside: {held:#?}"
                            );
                        }
                    }
                }
                other => panic!("{tile}: unexpected layer {other}"),
            }
        }
    }
    // At the fine zoom, nothing inside is missing: every point in the region, every line or
    // polygon wholly in it and large enough to draw (8 tile units).
    for ((w, z, r), union) in &fine_union {
        let region = rect(f64::from_bits(r[0]), f64::from_bits(r[1]), f64::from_bits(r[2]), f64::from_bits(r[3]));
        let unit = 360.0 / f64::from(1u32 << z) / 4096.0;
        for id in &visible[*w] {
            let g = world.log[id].current().unwrap().1;
            let b = bbox_of(g);
            let drawn = match g {
                Geometry::Point(p) => region.intersects(p),
                _ => overlap(b, region) == Some(b) && b.width().max(b.height()) >= 8.0 * unit,
            };
            assert!(
                !drawn || union.contains(id),
                "{}: missing from the z{z} tiles: {}",
                whos[*w].name,
                describe(world, &whos[*w], *id)
            );
        }
    }
}

/// Checks a replayed stream (`?since=0`) of each identity against the whole history.
fn check_replay(world: &mut World, server: &Server, whos: &[Who]) {
    let streams: Vec<mpsc::Receiver<Ev>> = whos.iter().map(|w| listen(server, &w.auth, Some(0))).collect();
    for (who, rx) in whos.iter().zip(&streams) {
        let want = world.expected_events(who, &|_, _| true);
        let got = collect(rx, want.len(), Duration::from_mins(1));
        world.figures.events += got.len();
        compare_events(world, who, "replayed from ?since=0", got, want);
    }
}

/// The model against the admin's view (the whole workspace): a wrong model fails here, not
/// as a leak.
fn check_model(world: &World) {
    let mut listed = BTreeSet::new();
    let mut next = Some("/api/entries?limit=500".to_owned());
    while let Some(path) = next {
        let page = world.http.ok("GET", &path, &world.admin, None);
        listed.extend(ids_of(&page["entries"]));
        next = page["next"].as_str().map(str::to_owned);
    }
    let all: BTreeSet<u64> = world.live().map(|(id, _, _)| id).collect();
    assert_eq!(listed, all, "the admin lists every live entry");
    let h3 = world.http.ok("GET", "/api/h3?layer=entries&res=7", &world.admin, None);
    assert_eq!(cells_of(&h3), cell_counts(world.live().map(|(_, _, g)| g), 7), "the model's H3 cells are vigie's");
}

/// The areas vigie resolves are the files' features, to the bit: the truth uses the
/// territory vigie uses.
fn check_areas(world: &World) {
    let mut layers: HashMap<String, Value> = HashMap::new();
    for part in &world.parts {
        let Some((layer, code)) = part.region["area"].as_str().and_then(|a| a.split_once(':')) else { continue };
        let items = layers.entry(layer.to_owned()).or_insert_with(|| {
            world.http.ok("GET", &format!("/ogc/collections/{layer}/items?limit=10000"), &world.admin, None)
        });
        let held: Vec<Geometry<f64>> = items["features"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["properties"]["code"] == code)
            .map(|f| geometry_of(&f["geometry"]))
            .collect();
        assert_eq!(held, vec![part.shape.clone()], "{}: vigie's area is the file's", part.label);
    }
}

/// Signs `name` in and makes an API token of theirs narrowed to `territory`.
fn token_of(server: &Server, name: &str, territory: &Value) -> String {
    let mut signed = agent()
        .post(&server.url("/api/session"))
        .header("content-type", "application/json")
        .send(json!({"name": name, "password": PASSWORD}).to_string())
        .unwrap();
    assert_eq!(signed.status(), 200, "{name} signs in");
    let cookie = signed.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    let me: Value = serde_json::from_str(&signed.body_mut().read_to_string().unwrap()).unwrap();
    let mut made = agent()
        .post(&server.url("/api/tokens"))
        .header("content-type", "application/json")
        .header("cookie", &cookie)
        .header("x-csrf-token", me["csrf"].as_str().unwrap())
        .send(json!({"name": "leak", "role": "reader", "territory": territory}).to_string())
        .unwrap();
    let body = made.body_mut().read_to_string().unwrap();
    assert_eq!(made.status(), 201, "{body}");
    format!("Bearer {}", serde_json::from_str::<Value>(&body).unwrap()["token"].as_str().unwrap())
}

#[expect(clippy::too_many_lines, reason = "one scenario, step by step")]
fn scenario(backend: &str, env: &[(&str, &str)], truth_url: &str) {
    let t0 = Instant::now();
    let seed = seed();
    println!("territory_leaks[{backend}]: seed {seed} (VIGIE_LEAK_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = repo_root().join("../shared/data/france");
    let departements_file = data.join("departements.geojson");
    let communes_dir = data.join("communes-idf");
    vigie_ok(&["import", "--layer", "departements", departements_file.to_str().unwrap()], d, env);
    vigie_ok(&["import", "--layer", "communes", communes_dir.to_str().unwrap()], d, env);
    let admin = member_token(d, env, "leak-admin", "default", "admin");
    let member_names = ["m-dep", "m-com", "m-drawn"];
    let member_auth: Vec<String> = member_names.iter().map(|n| member_token(d, env, n, "default", "reader")).collect();
    // Tokens are made by admins: one narrowed to the département makes the narrowed token.
    member_token(d, env, "m-chief", "default", "admin");
    let server = Server::start_with_env(d, &["--require-sign-in"], env);
    let out = tempfile::tempdir().unwrap();
    let mut world = World {
        http: Http { server: &server, count: Cell::new(0) },
        admin,
        parts: Vec::new(),
        log: BTreeMap::new(),
        meets: HashMap::new(),
        figures: Figures::default(),
        out: out.path().to_path_buf(),
    };

    let departements = features_of(&departements_file);
    let mut communes: Vec<(String, Geometry<f64>)> = Vec::new();
    for f in std::fs::read_dir(&communes_dir).unwrap() {
        communes.extend(features_of(&f.unwrap().path()));
    }
    communes.sort_by(|a, b| a.0.cmp(&b.0));

    // The territories: a département; a commune and a box elsewhere in Île-de-France; a drawn
    // polygon with a hole; an API token's box across the département's border.
    let area = |layer: &str, (code, shape): &(String, Geometry<f64>)| {
        Part::new(format!("{layer} {code}"), json!({"area": format!("{layer}:{code}")}), shape.clone())
    };
    let com_code = {
        let c = rng.pick(&communes);
        world.parts.push(area("departements", rng.pick(&departements)));
        world.parts.push(area("communes", c));
        c.0.clone()
    };
    let (bx, by) = (rng.range(IDF[0], IDF[2] - 0.1), rng.range(IDF[1], IDF[3] - 0.1));
    let boxed = rect(dec(bx, 4), dec(by, 4), dec(bx + rng.range(0.02, 0.1), 4), dec(by + rng.range(0.02, 0.1), 4));
    world.parts.push(Part::boxed("a box".into(), boxed));
    let drawn = Geometry::Polygon(drawn_polygon(&mut rng));
    let region = json!({"geometry": geojson_of(&drawn)});
    world.parts.push(Part::new("a drawn polygon with a hole".into(), region, drawn));
    let token_box = box_near(&mut rng, &world.parts[0], world.parts[0].bbox(), (0.04, 0.15));
    world.parts.push(Part::boxed("the token's box".into(), token_box));
    let (clon, clat) = (dec(rng.range(IDF[0] + 0.1, IDF[2] - 0.1), 5), dec(rng.range(IDF[1] + 0.1, IDF[3] - 0.1), 5));
    world.parts.push(Part::circle("a circle".into(), clon, clat, dec(rng.range(300.0, 4000.0), 1)));
    let territories = [vec![0], vec![1, 2], vec![3, 5]];
    for (name, t) in member_names.iter().zip(&territories) {
        let regions: Vec<Value> = t.iter().map(|p| world.parts[*p].region.clone()).collect();
        let body = json!({"role": "reader", "territory": regions});
        let (code, v) = world.http.json("PUT", &format!("/api/members/{name}"), &world.admin, Some(&body));
        assert_eq!(code, 204, "{name}: {body}: {v}");
    }
    let body = json!({"role": "admin", "territory": [world.parts[0].region]});
    let (code, v) = world.http.json("PUT", "/api/members/m-chief", &world.admin, Some(&body));
    assert_eq!(code, 204, "m-chief: {v}");
    let token = token_of(&server, "m-chief", &json!([world.parts[4].region]));
    let mut whos: Vec<Who> = member_names
        .iter()
        .zip(member_auth)
        .zip(&territories)
        .map(|((n, auth), t)| Who { name: format!("member {n}"), auth, levels: vec![t.clone()], probes: Vec::new() })
        .collect();
    whos.push(Who { name: "m-chief's token".into(), auth: token, levels: vec![vec![4], vec![0]], probes: Vec::new() });
    // Credentials are cached for half a second: wait until each identity has its territory.
    let deadline = Instant::now() + Duration::from_secs(10);
    for who in &whos {
        while world.http.ok("GET", "/api/me", &who.auth, None)["territory"].is_null() {
            assert!(Instant::now() < deadline, "{}: no territory after 10 s", who.name);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    // Query regions per identity: its territory's box, a box and a quadrilateral across its
    // border, an area (its département, a commune of the same département, or a département
    // of Île-de-France).
    let idf_deps: Vec<&(String, Geometry<f64>)> = departements
        .iter()
        .filter(|(c, _)| ["75", "77", "78", "91", "92", "93", "94", "95"].contains(&c.as_str()))
        .collect();
    for (w, who) in whos.iter_mut().enumerate() {
        let first = who.levels[0][0];
        let bounds = world.bounds(who);
        let g = grown(bounds, 0.01);
        let whole = rect(dec(g.min().x, 4), dec(g.min().y, 4), dec(g.max().x, 4), dec(g.max().y, 4));
        world.parts.push(Part::boxed(format!("{}'s box", who.name), whole));
        let near = box_near(&mut rng, &world.parts[first], bounds, (0.005, 0.06));
        world.parts.push(Part::boxed(format!("a box across {}'s border", who.name), near));
        let quad = Geometry::Polygon(quad_near(&mut rng, &world.parts[first], bounds));
        let region = json!({"geometry": geojson_of(&quad)});
        world.parts.push(Part::new(format!("a quadrilateral across {}'s border", who.name), region, quad));
        let v = vertex_in(&mut rng, &world.parts[first], bounds);
        world.parts.push(Part::circle(
            format!("a circle on {}'s border", who.name),
            v.x,
            v.y,
            dec(rng.range(100.0, 2000.0), 1),
        ));
        let n = world.parts.len();
        who.probes = vec![n - 4, n - 3, n - 2, n - 1];
        match w {
            0 | 3 => who.probes.push(0),
            1 => {
                let same: Vec<&(String, Geometry<f64>)> =
                    communes.iter().filter(|(c, _)| c[..2] == com_code[..2]).collect();
                let commune = same[rng.below(same.len())];
                world.parts.push(area("communes", commune));
                who.probes.push(n);
            }
            _ => {
                let dep = idf_deps[rng.below(idf_deps.len())];
                world.parts.push(area("departements", dep));
                who.probes.push(n);
            }
        }
    }

    // The entries: on and near every border (the département's within the token's box too),
    // in the holes, scattered over each part's box and over Île-de-France.
    let mut geometries = Vec::new();
    for (p, n, holes, window) in [
        (0, 80, 6, None),
        (1, 50, 0, None),
        (2, 24, 0, None),
        (3, 60, 16, None),
        (0, 24, 0, Some(token_box)),
        (4, 24, 0, None),
    ] {
        let part = &world.parts[p];
        geometries.extend(near_border(&mut rng, part, window, n));
        geometries.extend(in_holes(&mut rng, part, holes));
        geometries.extend(scatter(&mut rng, grown(window.unwrap_or_else(|| part.bbox()), 0.01), 8));
    }
    geometries.extend(near_circle(&mut rng, world.parts[5].circle.unwrap(), 40));
    geometries.extend(scatter(&mut rng, grown(world.parts[5].bbox(), 0.01), 8));
    geometries.extend(scatter(&mut rng, rect(IDF[0], IDF[1], IDF[2], IDF[3]), 16));
    let mut refused = 0;
    for g in geometries {
        if !world.post(&mut rng, &g) {
            refused += 1;
        }
    }
    world.figures.entries = world.log.len();
    let mut truth = rt.block_on(Truth::new(truth_url));
    (world.meets, world.figures.on_border) = rt.block_on(truth.sync(&world.parts, &world.log));
    let posted = t0.elapsed();
    for who in &whos {
        let labels: Vec<Vec<&str>> =
            who.levels.iter().map(|l| l.iter().map(|p| world.parts[*p].label.as_str()).collect()).collect();
        println!("  {}: {labels:?}, {} of {} entries inside", who.name, world.visible(who).len(), world.log.len());
    }

    // Round 1: every route as every identity.
    check_areas(&world);
    check_model(&world);
    for who in &whos {
        check_routes(&mut world, who, &mut rng, true);
    }
    check_tiles(&mut world, &whos, &mut rng, 1);
    check_replay(&mut world, &server, &whos);
    let round1 = t0.elapsed();

    // Changes: entries leave each member's territory, others come onto the département's
    // vertices, titles change inside and outside, entries inside and outside are deleted. The
    // live streams, opened before, must tell each identity of exactly what concerns it.
    let marks: HashMap<u64, u32> = world.log.iter().map(|(id, e)| (*id, e.last().version)).collect();
    let live: Vec<mpsc::Receiver<Ev>> = whos.iter().map(|w| listen(&server, &w.auth, None)).collect();
    let mut used = BTreeSet::new();
    let mut pick_point = |world: &World, rng: &mut Rng, who: &Who, inside: bool| -> u64 {
        let visible = world.visible(who);
        let candidates: Vec<u64> = world
            .live()
            .filter(|(id, _, g)| {
                matches!(g, Geometry::Point(_)) && visible.contains(id) == inside && !used.contains(id)
            })
            .map(|(id, _, _)| id)
            .collect();
        let id = *rng.pick(&candidates);
        used.insert(id);
        id
    };
    let point = |x: f64, y: f64| json!({"geometry": {"type": "Point", "coordinates": [x, y]}});
    let mut changes = 0;
    for who in &whos[..3] {
        let b = world.bounds(who);
        for _ in 0..2 {
            let id = pick_point(&world, &mut rng, who, true);
            let (lon, lat) = (dec(b.max().x + rng.range(0.02, 0.2), 6), dec(rng.range(b.min().y, b.max().y), 6));
            world.change(id, Some(&point(lon, lat)));
            changes += 1;
        }
    }
    let dep_vertices: Vec<Coord<f64>> = world.parts[0].rings().iter().flat_map(|r| r.coords().copied()).collect();
    for _ in 0..3 {
        let id = pick_point(&world, &mut rng, &whos[0], false);
        let v = *rng.pick(&dep_vertices);
        world.change(id, Some(&point(v.x, v.y)));
        changes += 1;
    }
    for inside in [true, false] {
        let id = pick_point(&world, &mut rng, &whos[1], inside);
        let title = format!("{} (modifié) {}", world.log[&id].title, WORDS[1]);
        world.change(id, Some(&json!({"title": title})));
        let id = pick_point(&world, &mut rng, &whos[2], inside);
        world.change(id, None);
        changes += 2;
    }
    (world.meets, world.figures.on_border) = rt.block_on(truth.sync(&world.parts, &world.log));
    for (who, rx) in whos.iter().zip(&live) {
        let want = world.expected_events(who, &|id, v| marks.get(&id).is_none_or(|m| v > *m));
        let got = collect(rx, want.len(), Duration::from_secs(30));
        world.figures.events += got.len();
        compare_events(&world, who, "live, while entries changed", got, want);
    }
    // Moved in: the history shows where the entry is, never where it came from.
    for (id, e) in &world.log {
        if e.versions.len() == 2
            && e.versions[1].geometry.is_some()
            && world.inside(&whos[0], *id, 2)
            && !world.inside(&whos[0], *id, 1)
        {
            let revs = world.http.ok("GET", &format!("/api/entries/{id}/revisions"), &whos[0].auth, None);
            let change = &revs["revisions"][1]["changes"]["geometry"];
            assert!(
                change["from"].is_null() && !change["hidden"].is_null(),
                "LEAK: entry {id} moved in tells whence: {change}"
            );
        }
    }

    // Round 2: everything again, the replayed streams holding the whole history.
    check_model(&world);
    for who in &whos {
        check_routes(&mut world, who, &mut rng, false);
    }
    check_tiles(&mut world, &whos, &mut rng, 2);
    check_replay(&mut world, &server, &whos);

    let f = &world.figures;
    println!(
        "territory_leaks[{backend}]: seed {seed}; {} entries ({refused} polygons refused as invalid; {} positions exactly on a \
         border), {changes} changes; {} requests, {} tiles decoded ({} features), {} single entries asked, {} events \
         checked; entries posted at {:.1} s, round 1 done at {:.1} s, all in {:.1} s",
        f.entries,
        f.on_border,
        world.http.count.get(),
        f.tiles,
        f.tile_features,
        f.ids_checked,
        f.events,
        posted.as_secs_f64(),
        round1.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}
