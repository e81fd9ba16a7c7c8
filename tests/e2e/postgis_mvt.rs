//! Our tiles against PostGIS `ST_AsMVT(ST_AsMVTGeom(...))` over the same features: same
//! feature ids per layer, coordinates within one tile unit (tests/python/compare_postgis.py).

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
        let ours = get(&state, &format!("/tiles/{}/{z}/{x}/{y}", layers.join(",")), &[]).await;
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
