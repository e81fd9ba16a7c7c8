//! Our tiles against PostGIS `ST_AsMVT(ST_AsMVTGeom(...))` over the same features: same
//! feature ids per layer, coordinates within one tile unit (tests/python/compare_postgis.py);
//! and our thinned tiles' clusters against what PostGIS counts in their cells.

use crate::support::{PostgisDb, TEST_ENTRIES, TEST_SEED, demo_state, get, python, repo_root, run};
use axum::http::StatusCode;
use geozero::{CoordDimensions, ToWkb};
use sqlx::Connection;
use std::process::Command;
use vigie_layers::Qualification;
use vigie_tileserver::store::Seed;

#[tokio::test(flavor = "multi_thread")]
async fn tiles_match_postgis_st_asmvt() {
    let py = python();
    let db = PostgisDb::create().await;
    let seed = Seed::demo(TEST_SEED, TEST_ENTRIES, false);
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("CREATE TABLE src (layer text NOT NULL, id bigint NOT NULL, geom geometry(Geometry, 3857) NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut rows: Vec<(&str, u64, Vec<u8>)> = Vec::new();
    let wkb = |g: &geo::Geometry<f64>| g.to_wkb(CoordDimensions::xy()).unwrap();
    for p in &seed.perimeters {
        rows.push(("perimeters", p.id, wkb(&p.geometry)));
    }
    for e in seed.entries.iter().filter(|e| e.qualification != Qualification::Refuted) {
        rows.push(("entries", e.id, wkb(&e.geometry)));
        if e.tags.iter().any(|t| t == "crowd") {
            rows.push(("crowd", e.id, wkb(&e.geometry)));
        }
    }
    for v in &seed.venues {
        let g = geo::Geometry::Point(geo::Point::new(v.lon, v.lat));
        rows.push(("venues", vigie_layers::model::venue_feature_id(&v.code), wkb(&g)));
    }
    let mut tx = conn.begin().await.unwrap();
    for (layer, id, g) in &rows {
        sqlx::query("INSERT INTO src VALUES ($1, $2, ST_Transform(ST_SetSRID(ST_GeomFromWKB($3), 4326), 3857))")
            .bind(layer)
            .bind(*id as i64)
            .bind(g)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let (state, _store_dir) = demo_state(TEST_ENTRIES).await;
    let layers = ["venues", "perimeters", "entries", "crowd"];
    let tiles = [(12u32, 2074u32, 1409u32), (13, 4148, 2818), (14, 8299, 5631), (14, 8300, 5631), (16, 33185, 22545)];
    let out = tempfile::tempdir().unwrap();
    for (z, x, y) in tiles {
        // Every feature (budget=off), as ST_AsMVT gives them.
        let ours = get(&state, &format!("/tiles/{}/{z}/{x}/{y}?budget=off", layers.join(",")), &[]).await;
        assert_eq!(ours.status, StatusCode::OK, "{z}/{x}/{y}");
        let mut theirs: Vec<u8> = Vec::new();
        for layer in layers {
            // The reference query, as PostGIS documents it: 4096 extent, 64 buffer, clipped.
            let bytes: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT ST_AsMVT(q, $4, 4096, 'geom', 'id') FROM (
                    SELECT id, ST_AsMVTGeom(geom, ST_TileEnvelope($1, $2, $3), 4096, 64, true) AS geom
                    FROM src WHERE layer = $4 AND geom && ST_TileEnvelope($1, $2, $3, margin => 64.0 / 4096)
                ) q WHERE geom IS NOT NULL",
            )
            .bind(z as i32)
            .bind(x as i32)
            .bind(y as i32)
            .bind(layer)
            .fetch_one(&mut conn)
            .await
            .unwrap();
            // An MVT is a sequence of layers: concatenating per-layer tiles makes the composite.
            theirs.extend(bytes.unwrap_or_default());
        }
        std::fs::write(out.path().join(format!("{z}-{x}-{y}.vigie.mvt")), &ours.body).unwrap();
        std::fs::write(out.path().join(format!("{z}-{x}-{y}.postgis.mvt")), &theirs).unwrap();
    }
    drop(conn);
    db.drop_db().await;
    let report = run(Command::new(&py).arg(repo_root().join("tests/python/compare_postgis.py")).arg(out.path()));
    println!("{report}");
}

/// Thinned tiles against PostGIS: each cluster counts exactly the entries PostGIS finds in its
/// grid cell (`ST_TileEnvelope` at the depth and indices its id names), with the same worst
/// severity, and a tile's clusters count every entry PostGIS finds in the tile. An entry
/// counts at its point, or (a line, an area) at its box's centre brought into the tile.
#[tokio::test(flavor = "multi_thread")]
async fn clusters_count_what_postgis_finds_in_their_cells() {
    use geozero::mvt::{Message, Tile};
    let db = PostgisDb::create().await;
    let seed = Seed::demo(TEST_SEED, TEST_ENTRIES, false);
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("CREATE TABLE e (id bigint NOT NULL, severity int NOT NULL, geom geometry(Geometry, 3857) NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut tx = conn.begin().await.unwrap();
    for e in seed.entries.iter().filter(|e| e.qualification != Qualification::Refuted) {
        sqlx::query("INSERT INTO e VALUES ($1, $2, ST_Transform(ST_SetSRID(ST_GeomFromWKB($3), 4326), 3857))")
            .bind(e.id as i64)
            .bind(i32::from(e.severity))
            .bind(e.geometry.to_wkb(CoordDimensions::xy()).unwrap())
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    // The entries of tile t counted in cell c: (count, worst severity).
    let count = "WITH env AS (SELECT ST_TileEnvelope($1, $2, $3) AS t, ST_TileEnvelope($4, $5, $6) AS c),
        m AS (
            SELECT e.severity,
                CASE WHEN GeometryType(e.geom) = 'POINT' THEN ST_X(e.geom)
                     ELSE LEAST(GREATEST((ST_XMin(e.geom) + ST_XMax(e.geom)) / 2, ST_XMin(t)), ST_XMax(t) - 1e-6) END AS x,
                CASE WHEN GeometryType(e.geom) = 'POINT' THEN ST_Y(e.geom)
                     ELSE LEAST(GREATEST((ST_YMin(e.geom) + ST_YMax(e.geom)) / 2, ST_YMin(t) + 1e-6), ST_YMax(t)) END AS y
            FROM e, env
            WHERE ST_XMin(e.geom) <= ST_XMax(t) AND ST_XMax(e.geom) >= ST_XMin(t)
              AND ST_YMin(e.geom) <= ST_YMax(t) AND ST_YMax(e.geom) >= ST_YMin(t))
        SELECT count(*), max(severity) FROM m, env
        WHERE x >= ST_XMin(c) AND x < ST_XMax(c) AND y > ST_YMin(c) AND y <= ST_YMax(c)";

    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::demo_config(dir.path(), TEST_ENTRIES);
    config.tile_budget.features = 60;
    let state = vigie_tileserver::build_state(config).await.unwrap();
    let mut clusters = 0;
    for (z, x, y) in [(9u32, 259u32, 176u32), (11, 1037, 704), (12, 2074, 1409), (13, 4148, 2818)] {
        let tile = get(&state, &format!("/tiles/entries/{z}/{x}/{y}"), &[]).await;
        assert_eq!(tile.status, StatusCode::OK, "{z}/{x}/{y}");
        assert_eq!(tile.header("vigie-thinned"), Some("entries"), "{z}/{x}/{y} is thinned");
        let decoded = Tile::decode(tile.body.as_slice()).unwrap();
        let layer = &decoded.layers[0];
        let mut total = 0;
        for f in &layer.features {
            let props: std::collections::HashMap<&str, i64> = f
                .tags
                .chunks(2)
                .filter_map(|kv| {
                    let v = &layer.values[kv[1] as usize];
                    Some((layer.keys[kv[0] as usize].as_str(), v.uint_value.map(|u| u as i64).or(v.int_value)?))
                })
                .collect();
            let (level, cx, cy) = vigie_layers::budget::cell_of_id(f.id.unwrap()).expect("a cell id");
            let (n, worst): (i64, Option<i32>) = sqlx::query_as(count)
                .bind(z as i32)
                .bind(x as i32)
                .bind(y as i32)
                .bind(i32::from(level))
                .bind(cx as i32)
                .bind(cy as i32)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(props["point_count"], n, "{z}/{x}/{y}: cell {level}/{cx}/{cy}");
            assert_eq!(props.get("max_severity").copied(), worst.map(i64::from), "{z}/{x}/{y}: cell {level}/{cx}/{cy}");
            total += n;
            clusters += 1;
        }
        let (all, _): (i64, Option<i32>) = sqlx::query_as(count)
            .bind(z as i32)
            .bind(x as i32)
            .bind(y as i32)
            .bind(z as i32)
            .bind(x as i32)
            .bind(y as i32)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(total, all, "{z}/{x}/{y}: the clusters count every entry PostGIS finds in the tile");
    }
    println!("{clusters} clusters counted by PostGIS");
    drop(conn);
    db.drop_db().await;
}
