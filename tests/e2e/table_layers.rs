//! PostGIS table layers: 2M reference points served with `ST_AsMVT` through vigie give the same
//! features as the standard `ST_AsMVT(ST_AsMVTGeom(…))` query on the table, mix with in-memory
//! layers in composite tiles, take filters as bound parameters, and a table without a GiST
//! index is reported at start.

use crate::support::{PostgisDb, Server};
use geozero::mvt::{Message, Tile};
use serde_json::Value;
use sqlx::Connection;
use std::collections::BTreeSet;

fn ids(bytes: &[u8], layer: &str) -> BTreeSet<u64> {
    if bytes.is_empty() {
        return BTreeSet::new();
    }
    let tile = Tile::decode(bytes).unwrap();
    tile.layers.iter().filter(|l| l.name == layer).flat_map(|l| l.features.iter().filter_map(|f| f.id)).collect()
}

#[test]
fn two_million_rows_served_from_postgis() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(PostgisDb::create());
    let mut conn = rt.block_on(sqlx::PgConnection::connect(&db.url)).unwrap();
    for sql in [
        "CREATE TABLE ref_points (id bigint PRIMARY KEY, geom geometry(Point, 4326) NOT NULL, name text, severity int, at timestamptz)",
        "INSERT INTO ref_points SELECT i, ST_SetSRID(ST_MakePoint(1.45 + random() * 1.7, 48.1 + random() * 1.15), 4326), \
         'p' || i, i % 5, '2024-07-24'::timestamptz + (i % 47) * interval '1 day' FROM generate_series(1, 2000000) i",
        "CREATE INDEX ref_points_geom ON ref_points USING gist (geom)",
        "ANALYZE ref_points",
        "CREATE TABLE unindexed (gid int PRIMARY KEY, shape geometry(Point, 4326))",
        "INSERT INTO unindexed VALUES (1, ST_SetSRID(ST_MakePoint(2.35, 48.85), 4326))",
    ] {
        rt.block_on(sqlx::query(sql).execute(&mut conn)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(
        &catalog,
        format!(
            "{}\n[[layer]]\nid = \"big\"\ntitle = \"Référence\"\ntitle_en = \"Reference\"\ntheme = \"reference\"\nkind = \"table\"\n\
             [layer.postgis]\ntable = \"public.ref_points\"\nid_column = \"id\"\nproperties = [\"name\", \"severity\"]\n\
             time_column = \"at\"\nseverity_column = \"severity\"\n\
             [[layer]]\nid = \"slow\"\ntitle = \"Sans index\"\ntitle_en = \"Unindexed\"\ntheme = \"reference\"\nkind = \"table\"\n\
             [layer.postgis]\ntable = \"unindexed\"\ngeometry_column = \"shape\"\nid_column = \"gid\"\n",
            vigie_layers::catalog::BUNDLED_CATALOG
        ),
    )
    .unwrap();
    let log = dir.path().join("vigie.log");
    let server = Server::start_logged(
        dir.path(),
        &["--demo", "--demo-entries", "100", "--catalog", catalog.to_str().unwrap()],
        &[("DATABASE_URL", db.url.as_str())],
        Some(&log),
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("no GiST index") && logged.contains("slow"), "missing-index warning:\n{logged}");
    assert!(!logged.contains("postgres://"), "no connection string in the log");

    let get = |path: &str| -> (u16, Vec<u8>) {
        let r = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .get(&server.url(path))
            .call()
            .unwrap();
        (r.status().as_u16(), r.into_body().read_to_vec().unwrap())
    };
    // The reference: the documented ST_AsMVT query on the same table.
    let mut reference = |z: i32, x: i32, y: i32, extra: &str| -> BTreeSet<u64> {
        let sql = format!(
            "SELECT ST_AsMVT(q, 'big', 4096, 'geom', 'id') FROM (SELECT id, ST_AsMVTGeom(ST_Transform(geom, 3857), \
             ST_TileEnvelope($1, $2, $3), 4096, 64, true) AS geom FROM ref_points \
             WHERE geom && ST_Transform(ST_TileEnvelope($1, $2, $3, margin => 64.0 / 4096), 4326) {extra}) q WHERE geom IS NOT NULL"
        );
        let bytes: Option<Vec<u8>> =
            rt.block_on(sqlx::query_scalar(&sql).bind(z).bind(x).bind(y).fetch_one(&mut conn)).unwrap();
        ids(&bytes.unwrap_or_default(), "big")
    };
    for (z, x, y) in [(12, 2074, 1409), (14, 8297, 5634), (10, 518, 352)] {
        let (status, body) = get(&format!("/tiles/big/{z}/{x}/{y}"));
        assert_eq!(status, 200);
        let ours = ids(&body, "big");
        let theirs = reference(z, x, y, "");
        assert!(
            !ours.is_empty() && ours == theirs,
            "{z}/{x}/{y}: vigie {} features, PostGIS {}",
            ours.len(),
            theirs.len()
        );
    }
    // Filters are bound parameters.
    let (_, filtered) = get("/tiles/big/12/2074/1409?severity=3&from=2024-08-01T00:00:00Z&to=2024-08-05T00:00:00Z");
    let expected = reference(
        12,
        2074,
        1409,
        "AND severity >= 3 AND at >= '2024-08-01T00:00:00Z' AND at <= '2024-08-05T00:00:00Z'",
    );
    assert_eq!(ids(&filtered, "big"), expected);
    assert!(!expected.is_empty());
    // Composite with in-memory layers, in request order.
    let (_, composite) = get("/tiles/venues,big,perimeters/12/2074/1409");
    let names: Vec<String> = Tile::decode(composite.as_slice()).unwrap().layers.into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["venues", "big", "perimeters"]);
    // TileJSON and catalog describe the table's columns; region queries refuse table layers.
    let tj: Value = serde_json::from_slice(&get("/tiles/big").1).unwrap();
    assert_eq!(tj["vector_layers"][0]["fields"]["severity"], "Number");
    assert_eq!(tj["vector_layers"][0]["fields"]["name"], "String");
    let (status, body) = get("/api/query?bbox=2,48,3,49&layers=big");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert_eq!(get("/tiles/slow/12/2074/1409").0, 200);
    drop(server);
    drop(conn);
    rt.block_on(db.drop_db());
}
