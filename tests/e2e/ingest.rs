//! Source ingestion on real data: the IGN départements converted by GDAL (`ogr2ogr`) to every
//! supported format and to Lambert-93 / Web Mercator must import to the same 96 features; the
//! organiser's messy CSV must be read whole; bad files must be rejected with where and why and
//! leave the store as it was (also when the import is killed mid-write); sources files are
//! checked entry by entry and refreshed by the server in the background.

use crate::support::{PostgisDb, Server, get, repo_root, require_tool, run};
use geo::orient::{Direction, Orient};
use geo::{GeodesicArea, Geometry};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use vigie_tileserver::store::Store;
use vigie_tileserver::store::Synchronous;
use vigie_tileserver::store::postgres::{PgSettings, PgStore};
use vigie_tileserver::store::sqlite::SqliteStore;

fn departements() -> PathBuf {
    repo_root().join("../shared/data/france/departements.geojson")
}

fn organiser_csv() -> PathBuf {
    repo_root().join("../shared/data/paris2024/sites-de-competition.csv")
}

fn vigie() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigie"))
}

/// Runs `vigie import`; returns (success, stdout, stderr).
fn import(data_dir: &Path, layer: &str, file: &Path, extra: &[&str]) -> (bool, String, String) {
    let out = vigie()
        .args(["import", "--layer", layer, "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .arg(file)
        .env("VIGIE_LOG", "warn")
        .output()
        .expect("vigie runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The stored version and features of a dataset.
async fn stored(
    data_dir: &Path,
    dataset: &str,
) -> Option<(u64, Vec<vigie_layers::dataset::DatasetFeature>, Vec<String>)> {
    let store = SqliteStore::open(data_dir, "default", Synchronous::default()).await.expect("store opens");
    let info = store.datasets().await.unwrap().into_iter().find(|i| i.id == dataset)?;
    let fields = info.schema.fields.iter().map(|f| f.name.clone()).collect();
    Some((info.version, store.dataset_features(&info).await.unwrap(), fields))
}

/// code → (polygon parts, geodesic area m², name) of a stored départements dataset.
fn by_code(
    features: &[vigie_layers::dataset::DatasetFeature],
    fields: &[String],
) -> BTreeMap<String, (usize, f64, String)> {
    let code_i = fields.iter().position(|f| f == "code").expect("a code field");
    let nom_i = fields.iter().position(|f| f == "nom").expect("a nom field");
    features
        .iter()
        .map(|f| {
            let code = match &f.props[code_i] {
                vigie_layers::Value::Text(s) => s.to_string(),
                other => panic!("code must stay text, got {other:?}"),
            };
            let nom = match &f.props[nom_i] {
                vigie_layers::Value::Text(s) => s.to_string(),
                other => panic!("nom must be text, got {other:?}"),
            };
            // Oriented first: a clockwise exterior ring (the IGN file has them) would otherwise
            // measure the rest of the Earth.
            let (parts, area) = match &f.geometry {
                Geometry::Polygon(p) => (1, p.orient(Direction::Default).geodesic_area_unsigned()),
                Geometry::MultiPolygon(mp) => (mp.0.len(), mp.orient(Direction::Default).geodesic_area_unsigned()),
                other => panic!("{code}: not a polygon: {other:?}"),
            };
            (code, (parts, area, nom))
        })
        .collect()
}

fn ogr2ogr(args: &[&str]) {
    let tool = require_tool("ogr2ogr", "apt-get install -y gdal-bin");
    run(Command::new(tool).args(args).arg(departements()).env("CPL_LOG", "/dev/null"));
}

#[tokio::test(flavor = "multi_thread")]
async fn departements_in_every_format_and_crs_import_to_the_same_96_features() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |name: &str| tmp.path().join(name).display().to_string();
    std::fs::create_dir_all(tmp.path().join("shp")).unwrap();
    std::fs::create_dir_all(tmp.path().join("l93-shp")).unwrap();
    ogr2ogr(&["-f", "GPKG", &t("dep.gpkg")]);
    ogr2ogr(&["-f", "FlatGeobuf", &t("dep.fgb")]);
    ogr2ogr(&["-f", "ESRI Shapefile", &t("shp/dep.shp")]);
    ogr2ogr(&["-f", "ESRI Shapefile", &t("dep.shp.zip")]);
    ogr2ogr(&["-f", "KML", &t("dep.kml")]);
    // KMZ: the KML zipped as doc.kml (Python's zipfile, deflated).
    run(Command::new("python3").args([
        "-c",
        "import sys, zipfile; zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED).write(sys.argv[1], 'doc.kml')",
        &t("dep.kml"),
        &t("dep.kmz"),
    ]));
    ogr2ogr(&["-f", "GeoJSONSeq", &t("dep.geojsonl")]);
    ogr2ogr(&["-f", "GeoJSONSeq", "-lco", "RS=YES", &t("dep.geojsons")]);
    ogr2ogr(&["-f", "CSV", "-lco", "GEOMETRY=AS_WKT", &t("dep-wkt.csv")]);
    ogr2ogr(&["-f", "GeoJSON", "-t_srs", "EPSG:2154", &t("l93.geojson")]);
    ogr2ogr(&["-f", "ESRI Shapefile", "-t_srs", "EPSG:2154", &t("l93-shp/dep.shp")]);
    ogr2ogr(&["-f", "GPKG", "-t_srs", "EPSG:2154", &t("l93.gpkg")]);
    ogr2ogr(&["-f", "FlatGeobuf", "-t_srs", "EPSG:2154", &t("l93.fgb")]);
    ogr2ogr(&["-f", "GeoJSON", "-t_srs", "EPSG:3857", &t("wm.geojson")]);
    // The variants really are what they claim: GDAL wrote a crs member and an ESRI .prj.
    let l93 = std::fs::read_to_string(t("l93.geojson")).unwrap();
    assert!(l93[..400].contains("EPSG::2154"), "{}", &l93[..400]);
    assert!(std::fs::read_to_string(t("l93-shp/dep.prj")).unwrap().contains("Lambert"));
    assert!(!tmp.path().join("shp/dep.cpg").exists() || std::fs::read(t("shp/dep.dbf")).unwrap()[29] != 0);

    let reference_dir = tmp.path().join("ref-store");
    let (ok, out, err) = import(&reference_dir, "departements", &departements(), &[]);
    assert!(ok, "{out}{err}");
    let (_, features, fields) = stored(&reference_dir, "departements").await.unwrap();
    assert_eq!(features.len(), 96);
    let reference = by_code(&features, &fields);
    assert_eq!(reference.len(), 96, "96 distinct codes");
    assert!(reference.contains_key("2A") && reference.contains_key("2B") && reference.contains_key("01"));
    assert_eq!(reference["07"].2, "Ardèche");
    // Paris is about 105 km² (INSEE): the measure itself is right.
    assert!((1.0e8..1.1e8).contains(&reference["75"].1), "{}", reference["75"].1);
    let multi = features.iter().filter(|f| matches!(f.geometry, Geometry::MultiPolygon(_))).count();
    assert!(multi > 10, "MultiPolygons kept as such: {multi}");

    let variants: &[(&str, &str)] = &[
        ("GeoPackage", "dep.gpkg"),
        ("FlatGeobuf", "dep.fgb"),
        ("Shapefile folder", "shp"),
        ("Shapefile .shp", "shp/dep.shp"),
        ("Shapefile zip", "dep.shp.zip"),
        ("KML", "dep.kml"),
        ("KMZ", "dep.kmz"),
        ("newline-delimited GeoJSON", "dep.geojsonl"),
        ("GeoJSON text sequence", "dep.geojsons"),
        ("CSV with WKT", "dep-wkt.csv"),
        ("Lambert-93 GeoJSON (crs member)", "l93.geojson"),
        ("Lambert-93 Shapefile (.prj)", "l93-shp"),
        ("Lambert-93 GeoPackage (srs)", "l93.gpkg"),
        ("Lambert-93 FlatGeobuf (header)", "l93.fgb"),
        ("Web Mercator GeoJSON", "wm.geojson"),
    ];
    let mut version = 0;
    let data_dir = tmp.path().join("store");
    for (what, file) in variants {
        let (ok, out, err) = import(&data_dir, "departements", &tmp.path().join(file), &[]);
        assert!(ok, "{what}: {out}{err}");
        let (v, features, fields) = stored(&data_dir, "departements").await.unwrap();
        assert_eq!(v, version + 1, "{what}: a new version");
        version = v;
        assert_eq!(features.len(), 96, "{what}");
        let got = by_code(&features, &fields);
        assert_eq!(got.keys().collect::<Vec<_>>(), reference.keys().collect::<Vec<_>>(), "{what}: codes");
        for (code, (parts, area, nom)) in &got {
            let (ref_parts, ref_area, ref_nom) = &reference[code];
            assert_eq!(parts, ref_parts, "{what}: {code} polygon parts");
            assert_eq!(nom, ref_nom, "{what}: {code} name (text encoding)");
            let rel = (area - ref_area).abs() / ref_area;
            assert!(rel < 0.001, "{what}: {code} area {area:.0} m² vs {ref_area:.0} m² ({:.4} %)", rel * 100.0);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_organisers_csv_is_read_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, out, err) = import(tmp.path(), "departements", &organiser_csv(), &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("63 feature(s) imported"), "{out}");
    let (_, features, fields) = stored(tmp.path(), "departements").await.unwrap();
    assert_eq!(features.len(), 63);
    let code_i = fields.iter().position(|f| f == "code_site").unwrap();
    assert!(!fields.contains(&"latitude".to_owned()), "coordinate columns become the geometry: {fields:?}");
    assert!(fields.contains(&"point_geo".to_owned()) && fields.contains(&"sports".to_owned()));
    let point = |code: &str| -> Vec<(f64, f64)> {
        features
            .iter()
            .filter(|f| f.props[code_i] == vigie_layers::Value::text(code))
            .map(|f| match f.geometry {
                Geometry::Point(p) => (p.x(), p.y()),
                ref g => panic!("{code}: {g:?}"),
            })
            .collect()
    };
    // Teahupo'o, written with decimal commas: -17,86693;-149,25208.
    let tah = point("TAH");
    assert_eq!(tah.len(), 1);
    assert!((tah[0].0 + 149.252_08).abs() < 1e-9 && (tah[0].1 + 17.866_93).abs() < 1e-9, "{tah:?}");
    // AQC mixes a decimal comma (latitude) and a point in point_geo; the Olympic and
    // Paralympic rows of one site share the place.
    for (x, y) in point("AQC") {
        assert!((x - 2.355_78).abs() < 1e-9 && (y - 48.923_723).abs() < 1e-9);
    }
    // Every other row is in metropolitan France (no row lost or misread as 0,0).
    let in_france = features
        .iter()
        .filter(|f| matches!(f.geometry, Geometry::Point(p) if (-5.5..10.0).contains(&p.x()) && (41.0..51.5).contains(&p.y())))
        .count();
    assert_eq!(in_france, 62);
}

/// A CSV of `rows` data rows; the rows whose data line number is in `bad` get a latitude that is
/// not a number.
fn synthetic_csv(path: &Path, rows: usize, bad: &[usize]) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(w, "id;nom;latitude;longitude").unwrap();
    for i in 1..=rows {
        let line = i + 1;
        let lat = if bad.contains(&line) { "48,8x".to_owned() } else { format!("{},{:04}", 43 + i % 7, i % 10_000) };
        writeln!(w, "{i};site {i};{lat};{}.{:04}", i % 7, i % 9_973).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_files_are_rejected_with_where_and_why_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("store");
    let (ok, out, err) = import(&data_dir, "departements", &departements(), &[]);
    assert!(ok, "{out}{err}");
    let before = stored(&data_dir, "departements").await.unwrap();
    assert_eq!((before.0, before.1.len()), (1, 96));
    let unchanged = || async { stored(&data_dir, "departements").await.map(|(v, f, _)| (v, f.len())) };

    // A truncated GeoJSON.
    let text = std::fs::read(departements()).unwrap();
    let cut = tmp.path().join("cut.geojson");
    std::fs::write(&cut, &text[..text.len() * 3 / 5]).unwrap();
    let (ok, _, err) = import(&data_dir, "departements", &cut, &[]);
    assert!(!ok);
    assert!(err.contains("import rejected, nothing was changed") && err.contains("cut.geojson, feature "), "{err}");
    assert!(err.contains("truncated") && err.contains(" line "), "{err}");
    assert_eq!(unchanged().await, Some((1, 96)));

    // A 50,000-row CSV with a bad coordinate on line 40,000.
    let csv = tmp.path().join("sites.csv");
    synthetic_csv(&csv, 50_000, &[40_000]);
    let (ok, _, err) = import(&data_dir, "departements", &csv, &[]);
    assert!(!ok);
    assert!(err.contains("50000 record(s) read, 1 problem(s)"), "{err}");
    assert!(err.contains("sites.csv, line 40000: latitude: '48,8x' is not a number"), "{err}");
    assert_eq!(unchanged().await, Some((1, 96)));

    // The same with --skip-invalid: the valid rows go in and the report says which was left.
    let report = tmp.path().join("report.json");
    let (ok, out, err) =
        import(&data_dir, "departements", &csv, &["--skip-invalid", "--report", report.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("49999 feature(s) imported"), "{out}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["problem_count"], 1);
    assert_eq!(r["problems"][0]["position"], "line 40000");
    assert_eq!(r["problems"][0]["field"], "latitude");
    assert_eq!(unchanged().await, Some((2, 49_999)));

    // More than 100 problems: the first 100 are listed, the rest counted.
    let many = tmp.path().join("many.csv");
    synthetic_csv(&many, 1_000, &(2..=151).collect::<Vec<_>>());
    let (ok, _, err) = import(&data_dir, "departements", &many, &[]);
    assert!(!ok);
    assert!(err.contains("1000 record(s) read, 150 problem(s)") && err.contains("… and 50 more"), "{err}");
    assert_eq!(err.matches("is not a number").count(), 100, "{err}");
    assert_eq!(unchanged().await, Some((2, 49_999)));

    // A Shapefile without its .dbf.
    let shp_dir = tmp.path().join("nodbf");
    std::fs::create_dir_all(&shp_dir).unwrap();
    ogr2ogr(&["-f", "ESRI Shapefile", shp_dir.join("dep.shp").to_str().unwrap()]);
    std::fs::remove_file(shp_dir.join("dep.dbf")).unwrap();
    let (ok, _, err) = import(&data_dir, "departements", &shp_dir.join("dep.shp"), &[]);
    assert!(!ok);
    assert!(err.contains("dep.shp: dep.dbf is missing"), "{err}");
    let (ok, _, err) = import(&data_dir, "departements", &shp_dir, &[]);
    assert!(!ok && err.contains("dep.dbf is missing"), "a folder too: {err}");
    assert_eq!(unchanged().await, Some((2, 49_999)));

    // Coordinates in metres without a CRS: the problem says to give one.
    let l93 = tmp.path().join("l93.geojson");
    ogr2ogr(&["-f", "GeoJSON", "-t_srs", "EPSG:2154", "-lco", "WRITE_NAME=NO", l93.to_str().unwrap()]);
    let text = std::fs::read_to_string(&l93).unwrap();
    let start = text.find("\"crs\"").unwrap();
    let end = start + text[start..].find("},\n").unwrap() + 3;
    let no_crs = tmp.path().join("l93-no-crs.geojson");
    std::fs::write(&no_crs, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let (ok, _, err) = import(&data_dir, "departements", &no_crs, &[]);
    assert!(!ok && err.contains("give --crs"), "{err}");
    let (ok, out, err) = import(&data_dir, "departements", &no_crs, &["--crs", "EPSG:2154"]);
    assert!(ok && out.contains("96 feature(s)"), "{out}{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_uploads_reject_with_422_and_accept_raw_or_multipart() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::support::demo_config(dir.path(), 100);
    let state = vigie_tileserver::build_state(config).await.unwrap();
    let csv = dir.path().join("sites.csv");
    synthetic_csv(&csv, 50_000, &[40_000]);
    let body = std::fs::read(&csv).unwrap();
    let r = crate::journal::send(
        &state,
        "POST",
        "/api/layers/departements/import",
        &[("content-type", "text/csv")],
        body.clone(),
    )
    .await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let p = r.json();
    assert_eq!((p["read"].as_u64(), p["problem_count"].as_u64()), (Some(50_000), Some(1)));
    assert_eq!(p["problems"][0]["position"], "line 40000");
    assert_eq!(p["problems"][0]["field"], "latitude");
    assert!(state.store.datasets().await.unwrap().is_empty(), "nothing imported");

    let r = crate::journal::send(
        &state,
        "POST",
        "/api/layers/departements/import?skip_invalid=true",
        &[("content-type", "text/csv")],
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!((r.json()["features"].as_u64(), r.json()["problem_count"].as_u64()), (Some(49_999), Some(1)));

    // Multipart, as a browser form sends a file: the départements replace the sites, and the
    // engine has them when the answer comes.
    let geojson = std::fs::read(departements()).unwrap();
    let boundary = "vigieboundary7MA4YWxkTrZu0gW";
    let mut form = Vec::new();
    write!(form, "--{boundary}\r\nContent-Disposition: form-data; name=\"crs\"\r\n\r\nEPSG:4326\r\n").unwrap();
    write!(
        form,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"departements.geojson\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .unwrap();
    form.extend_from_slice(&geojson);
    write!(form, "\r\n--{boundary}--\r\n").unwrap();
    let r = crate::journal::send(
        &state,
        "POST",
        "/api/layers/departements/import",
        &[("content-type", &format!("multipart/form-data; boundary={boundary}"))],
        form,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["version"], 2);
    let catalog = get(&state, "/catalog", &[]).await.json();
    let layer = catalog["layers"].as_array().unwrap().iter().find(|l| l["id"] == "departements").unwrap().clone();
    assert_eq!(layer["features"], 96);

    // Wrong layer, wrong format, unreadable file.
    let r = crate::journal::send(
        &state,
        "POST",
        "/api/layers/nowhere/import",
        &[("content-type", "text/csv")],
        b"a".to_vec(),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = crate::journal::send(
        &state,
        "POST",
        "/api/layers/venues/import",
        &[("content-type", "text/csv")],
        b"a".to_vec(),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = crate::journal::send(
        &state,
        "POST",
        "/api/layers/departements/import",
        &[("content-type", "application/vnd.ms-excel")],
        b"xx".to_vec(),
    )
    .await;
    assert_eq!(r.status, 415);
    let r = crate::journal::send(
        &state,
        "POST",
        "/api/layers/departements/import",
        &[("content-type", "application/flatgeobuf")],
        b"not a flatgeobuf".to_vec(),
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(r.json()["detail"].as_str().unwrap().contains("not a FlatGeobuf file"), "{}", r.json());
    assert_eq!(state.store.datasets().await.unwrap()[0].version, 2, "still the départements");
}

#[test]
fn kill_9_during_the_store_write_leaves_the_previous_version() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("store");
    let (ok, out, err) = import(&data_dir, "departements", &departements(), &[]);
    assert!(ok, "{out}{err}");
    let big = tmp.path().join("big.csv");
    synthetic_csv(&big, 2_000_000, &[]);
    let wal = data_dir.join(format!("{}-wal", vigie_tileserver::store::sqlite::DB_FILE));
    let wal_size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    let wal_before = wal_size();
    let mut child = vigie()
        .args(["import", "--layer", "departements", "--data-dir"])
        .arg(&data_dir)
        .arg(&big)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the new version is being written (the write-ahead log grows by megabytes),
    // then kill at once: the transaction is open, nothing is committed.
    let deadline = Instant::now() + Duration::from_mins(5);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "the import finished before it could be killed mid-write");
        if wal_size() > wal_before + 8 * 1024 * 1024 {
            break;
        }
        assert!(Instant::now() < deadline, "the import never started writing");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (version, features, _) = rt.block_on(stored(&data_dir, "departements")).unwrap();
    assert_eq!((version, features.len()), (1, 96), "the previous version is intact");
    drop(rt);
    // And it is what a server serves.
    let server = Server::start(&data_dir, &["--anonymous-role", "reader"]);
    let catalog: Value = get_json(&server.url("/catalog"));
    let layer = catalog["layers"].as_array().unwrap().iter().find(|l| l["id"] == "departements").unwrap().clone();
    assert_eq!(layer["features"], 96);
}

/// The PostGIS store: an import streams its features with COPY into a table of its own, in one
/// transaction with the switch of the dataset to it. Killed mid-COPY (the server is seen copying
/// rows in `pg_stat_progress_copy`), it leaves the previous version served whole, readers see
/// the previous version throughout, and no table of the new version is left behind; the next
/// import succeeds and drops the replaced version's table.
#[test]
fn kill_9_during_a_postgis_copy_leaves_the_previous_version() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(PostgisDb::create());
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("store");
    let url = ["--database-url", db.url.as_str()];
    let (ok, out, err) = import(&data_dir, "departements", &departements(), &url);
    assert!(ok, "{out}{err}");
    let settings = PgSettings { url: db.url.clone(), pool_size: 4, statement_timeout_ms: 10_000, commits_in_flight: 1 };
    let store = rt.block_on(PgStore::open(&settings, "default")).unwrap();
    let current = || {
        rt.block_on(async {
            let info = store.datasets().await.unwrap().into_iter().find(|i| i.id == "departements").unwrap();
            let features = store.dataset_features(&info).await.unwrap();
            (info.version, features.len())
        })
    };
    let tables = || -> Vec<String> {
        rt.block_on(
            sqlx::query_scalar(
                "SELECT relname::text FROM pg_class WHERE relkind = 'r' AND relname LIKE 'dataset\\_features\\_%' ORDER BY 1",
            )
            .fetch_all(store.pool()),
        )
        .unwrap()
    };
    assert_eq!(current(), (1, 96));
    let first_table = tables();
    assert_eq!(first_table.len(), 1, "one table for the one version");

    let big = tmp.path().join("big.csv");
    synthetic_csv(&big, 2_000_000, &[]);
    let mut child = vigie()
        .args(["import", "--layer", "departements", "--data-dir"])
        .arg(&data_dir)
        .args(url)
        .arg(&big)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let copied = || -> i64 {
        rt.block_on(
            sqlx::query_scalar("SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy")
                .fetch_one(store.pool()),
        )
        .unwrap()
    };
    let deadline = Instant::now() + Duration::from_mins(5);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "the import finished before it could be killed mid-copy");
        if copied() > 100_000 {
            break;
        }
        assert!(Instant::now() < deadline, "the import never started copying");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(current(), (1, 96), "readers see the previous version while the next one is copied");
    child.kill().unwrap();
    child.wait().unwrap();
    // The server ends the backend when it finds the client gone: its transaction rolls back.
    let deadline = Instant::now() + Duration::from_secs(30);
    while copied() > 0 {
        assert!(Instant::now() < deadline, "the killed import's COPY never ended");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(current(), (1, 96), "the previous version is intact");
    assert_eq!(tables(), first_table, "nothing of the killed import is left");
    let server = Server::start(&data_dir, &["--anonymous-role", "reader", "--database-url", &db.url]);
    let catalog: Value = get_json(&server.url("/catalog"));
    let layer = catalog["layers"].as_array().unwrap().iter().find(|l| l["id"] == "departements").unwrap().clone();
    assert_eq!(layer["features"], 96);
    drop(server);

    // The next import goes through; the replaced version's table is dropped.
    let small = tmp.path().join("small.csv");
    synthetic_csv(&small, 1_000, &[]);
    let (ok, out, err) = import(&data_dir, "departements", &small, &url);
    assert!(ok, "{out}{err}");
    assert_eq!(current(), (2, 1_000));
    let after = tables();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, first_table);
    rt.block_on(store.pool().close());
    rt.block_on(db.drop_db());
}

// ---------------------------------------------------------------------------------------------
// Sources

/// A catalog with the bundled layers plus `n` dataset layers `src-0` … `src-{n-1}`.
fn catalog_with(dir: &Path, n: usize) -> PathBuf {
    let mut text = vigie_layers::catalog::BUNDLED_CATALOG.to_owned();
    for i in 0..n {
        writeln!(
            text,
            "\n[[layer]]\nid = \"src-{i}\"\ntitle = \"Source {i}\"\ntitle_en = \"Source {i}\"\ntheme = \"reference\"\nkind = \"dataset\"\ndataset = \"src-{i}\""
        )
        .unwrap();
    }
    let path = dir.join("catalog.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn points_geojson(seed: usize, n: usize) -> String {
    let features: Vec<Value> = (0..n)
        .map(|k| {
            let x = 2.0 + ((seed * 31 + k * 7) % 100) as f64 / 100.0;
            let y = 48.5 + ((seed * 17 + k * 13) % 100) as f64 / 200.0;
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]}, "properties": {"n": k, "name": format!("p{k}")}})
        })
        .collect();
    json!({"type": "FeatureCollection", "features": features}).to_string()
}

/// A tiny HTTP server on loopback: answers GET with `body` and an ETag, 304 to a matching
/// If-None-Match, and counts requests and conditional ones. `hold` makes it accept and never
/// answer (a source that times out).
struct Origin {
    port: u16,
    requests: Arc<AtomicUsize>,
    conditional: Arc<AtomicUsize>,
}

impl Origin {
    fn start(body: Vec<u8>, content_type: &'static str, hold: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (requests, conditional) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (r, c) = (requests.clone(), conditional.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                r.fetch_add(1, Ordering::SeqCst);
                if hold {
                    held.push(stream);
                    continue;
                }
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut matched = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if line.to_ascii_lowercase().starts_with("if-none-match:") {
                        c.fetch_add(1, Ordering::SeqCst);
                        matched = line.contains("\"v1\"");
                    }
                }
                let head = if matched {
                    "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned()
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                };
                let _ = stream.write_all(head.as_bytes());
                if !matched {
                    let _ = stream.write_all(&body);
                }
            }
        });
        Self { port, requests, conditional }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Writes `text` as `dir/sources.toml` and a configuration file `dir/name` naming it and
/// `catalog`; returns the configuration file.
fn config_with_sources(dir: &Path, name: &str, catalog: &Path, text: &str) -> PathBuf {
    let sources = dir.join("sources.toml");
    std::fs::write(&sources, text).unwrap();
    let config = dir.join(name);
    std::fs::write(
        &config,
        format!("catalog = {:?}\nsources = {:?}\n", catalog.display().to_string(), sources.display().to_string()),
    )
    .unwrap();
    config
}

fn source_entry(id: &str, layer: &str, location: &str, extra: &str) -> String {
    format!(
        "\n[[source]]\nid = \"{id}\"\ntitle = \"Source {id}\"\nowner = \"Test\"\nlicence = \"Licence Ouverte 2.0\"\nlayer = \"{layer}\"\n{location}\n{extra}\n"
    )
}

fn get_json(url: &str) -> Value {
    let text = ureq::get(url).call().unwrap().into_body().read_to_string().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"))
}

fn sources_json(server: &Server) -> Value {
    get_json(&server.url("/api/sources"))
}

fn source<'a>(all: &'a Value, id: &str) -> &'a Value {
    all["sources"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("no source {id}: {all}"))
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sources_check_names_what_is_wrong_with_each_entry() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("ok.geojson"), points_geojson(1, 3)).unwrap();
    let mut text = String::from("[defaults]\nrefresh_s = 900\n");
    text += &source_entry("ok", "src-0", "path = \"ok.geojson\"", "[source.mapping]\ntitle = \"name\"");
    text += &source_entry("typo", "src-1", "path = \"ok.geojson\"", "refresh_every = 5");
    text += &source_entry("nolayer", "missing-layer", "path = \"ok.geojson\"", "");
    text += &source_entry("nofile", "src-2", "path = \"absent.csv\"", "");
    text += &source_entry("badurl", "src-3", "url = \"ftp://example.org/a.geojson\"", "format = \"xlsx\"");
    let sources = tmp.path().join("sources.toml");
    std::fs::write(&sources, text).unwrap();
    let catalog = catalog_with(tmp.path(), 4);
    let out =
        vigie().args(["sources", "check", "--sources"]).arg(&sources).arg("--catalog").arg(&catalog).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("ok       ok: layer 'src-0'") && stdout.contains("every 900 s"), "{stdout}");
    for needle in [
        "invalid  typo:",
        "unknown field `refresh_every`",
        "layer 'missing-layer' is not in the catalog",
        "absent.csv does not exist",
        "ftp://example.org/a.geojson' must start with http:// or https://",
        "unsupported format 'xlsx'",
        "5 source(s): 1 valid, 4 invalid",
    ] {
        assert!(stdout.contains(needle), "{needle}:\n{stdout}");
    }
    // The bundled example is valid against the bundled catalog (its paths are checked too).
    let out = vigie()
        .args(["sources", "check", "--sources"])
        .arg(repo_root().join("data/sources.example.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn sources_refresh_in_the_background_with_conditional_get() {
    let tmp = tempfile::tempdir().unwrap();
    let catalog = catalog_with(tmp.path(), 5);
    let local = tmp.path().join("local.geojson");
    std::fs::write(&local, points_geojson(1, 20)).unwrap();
    let origin = Origin::start(points_geojson(2, 30).into_bytes(), "application/geo+json", false);
    let silent = Origin::start(Vec::new(), "", true);
    let bad_csv = tmp.path().join("bad.csv");
    std::fs::write(&bad_csv, "lat;lon;n\n48,8;2,3;1\nabc;2,3;2\n").unwrap();
    let mut text = String::from("[defaults]\nrefresh_s = 1\nconcurrency = 2\n");
    text += &source_entry("local", "src-0", &format!("path = {:?}", local.display().to_string()), "");
    // No extension in the URL: the format comes from the Content-Type.
    text += &source_entry("remote", "src-1", &format!("url = {:?}", origin.url("/api/records")), "");
    text += &source_entry("rejected", "src-2", &format!("path = {:?}", bad_csv.display().to_string()), "");
    text += &source_entry(
        "silent",
        "src-3",
        &format!("url = {:?}", silent.url("/x.geojson")),
        "timeout_s = 2\nrefresh_s = 3600",
    );
    text += &source_entry("toolarge", "src-4", &format!("url = {:?}", origin.url("/big.geojson")), "max_bytes = 100");
    let config = config_with_sources(tmp.path(), "vigie.toml", &catalog, &text);
    let data_dir = tmp.path().join("store");
    let server = Server::start(&data_dir, &["-c", config.to_str().unwrap(), "--anonymous-role", "reader"]);
    // Start-up did not wait for the source that never answers.
    let at_start = sources_json(&server);
    assert!(source(&at_start, "silent")["last_run"].is_null(), "{at_start}");

    wait_for("two runs of every refreshing source", Duration::from_mins(1), || {
        let all = sources_json(&server);
        ["local", "remote", "rejected", "toolarge"].iter().all(|id| source(&all, id)["runs"].as_u64().unwrap_or(0) >= 2)
    });
    let all = sources_json(&server);
    let local_s = source(&all, "local");
    assert_eq!(local_s["imports"], 1, "unchanged file, one import: {local_s}");
    assert_eq!(local_s["last_run"]["outcome"], "unchanged");
    let remote = source(&all, "remote");
    assert_eq!(remote["imports"], 1, "{remote}");
    assert_eq!(remote["last_run"]["outcome"], "unchanged");
    assert!(origin.conditional.load(Ordering::SeqCst) >= 1, "the second GET is conditional");
    let too_large = source(&all, "toolarge");
    assert_eq!(too_large["last_run"]["outcome"], "failed", "{too_large}");
    assert!(too_large["last_run"]["error"].as_str().unwrap().contains("more than max_bytes = 100"), "{too_large}");
    let rejected = source(&all, "rejected");
    assert_eq!(rejected["last_run"]["outcome"], "rejected");
    assert_eq!(rejected["last_run"]["problems"][0]["position"], "line 3");
    assert_eq!(rejected["last_run"]["problems"][0]["field"], "lat");
    wait_for("the silent source to time out", Duration::from_secs(30), || {
        source(&sources_json(&server), "silent")["last_run"]["outcome"] == "failed"
    });
    let silent_run = source(&sources_json(&server), "silent")["last_run"].clone();
    assert!(silent_run["error"].as_str().unwrap().contains("timeout"), "{silent_run}");
    assert_eq!(silent.requests.load(Ordering::SeqCst), 1, "refresh_s = 3600: one request");

    let catalog_json: Value = get_json(&server.url("/catalog"));
    let features = |id: &str| {
        catalog_json["layers"].as_array().unwrap().iter().find(|l| l["id"] == id).unwrap()["features"].as_u64()
    };
    assert_eq!((features("src-0"), features("src-1"), features("src-2")), (Some(20), Some(30), Some(0)));

    // A new file is picked up at the next refresh (modification time and size).
    std::fs::write(&local, points_geojson(1, 25)).unwrap();
    wait_for("the new local version", Duration::from_secs(30), || {
        source(&sources_json(&server), "local")["imports"] == 2
    });
    let c: Value = get_json(&server.url("/catalog"));
    let n = c["layers"].as_array().unwrap().iter().find(|l| l["id"] == "src-0").unwrap()["features"].clone();
    assert_eq!(n, 25);
    drop(server);
    // A restart does not import unchanged sources again (the state is kept in the data dir).
    let server = Server::start(&data_dir, &["-c", config.to_str().unwrap(), "--anonymous-role", "reader"]);
    wait_for("a run after restart", Duration::from_secs(30), || {
        source(&sources_json(&server), "local")["runs"].as_u64().unwrap_or(0) >= 1
    });
    assert_eq!(source(&sources_json(&server), "local")["last_run"]["outcome"], "unchanged");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_invalidates_only_the_tiles_of_changed_features() {
    let tmp = tempfile::tempdir().unwrap();
    let catalog = catalog_with(tmp.path(), 1);
    let file = tmp.path().join("dep.geojson");
    std::fs::copy(departements(), &file).unwrap();
    let sources = tmp.path().join("sources.toml");
    std::fs::write(
        &sources,
        source_entry("dep", "src-0", &format!("path = {:?}", file.display().to_string()), "refresh_s = 1"),
    )
    .unwrap();
    let mut config = crate::support::demo_config(&tmp.path().join("store"), 10);
    config.catalog = Some(catalog);
    config.sources = Some(sources);
    let state = vigie_tileserver::build_state(config).await.unwrap();
    let imported = || async {
        let s = get(&state, "/api/sources", &[]).await.json();
        s["sources"][0]["imports"].as_u64().unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_mins(1);
    while imported().await < 1 {
        assert!(Instant::now() < deadline, "first import");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Cache a zoom-7 tile over Corsica (2A) and one over Brittany (29).
    let key = |x: u64, y: u64| {
        vigie_tileserver::tiles::TileKey::new(
            vigie_tileserver::tiles::LayerSet::new(["src-0"]),
            &vigie_tileserver::http::filters::parse_filter(None, state.engine.vocabulary(), vigie_tileserver::now_ms())
                .unwrap(),
            vigie_layers::TileCoord::new(7, x, y).unwrap(),
        )
    };
    let (corsica, brittany) = ("/tiles/src-0/7/67/47", "/tiles/src-0/7/62/44");
    for t in [corsica, brittany] {
        assert_eq!(get(&state, t, &[]).await.status, 200, "{t}");
    }
    assert!(state.cache.get(&key(67, 47)).is_some() && state.cache.get(&key(62, 44)).is_some(), "both cached");
    let invalidated_before = state.cache.invalidated_total();
    // Rename Corse-du-Sud in the file: one feature changes.
    let text = std::fs::read_to_string(&file).unwrap().replace("\"Corse-du-Sud\"", "\"Corse du Sud (modifié)\"");
    std::fs::write(&file, text).unwrap();
    while imported().await < 2 {
        assert!(Instant::now() < deadline, "second import");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = get(&state, "/api/sources", &[]).await.json();
    assert_eq!(s["sources"][0]["last_run"]["outcome"], "imported", "{s}");
    assert_eq!(state.cache.invalidated_total() - invalidated_before, 1, "one cached tile held the changed feature");
    assert!(state.cache.get(&key(67, 47)).is_none(), "the Corsica tile was dropped");
    assert!(state.cache.get(&key(62, 44)).is_some(), "the Brittany tile stays cached");
    let r = get(&state, corsica, &[]).await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("modifi"), "the new name is served");
}

#[test]
fn a_hundred_and_twenty_sources_do_not_slow_start_up_or_tiles() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 120;
    let catalog = catalog_with(tmp.path(), n + 1);
    let files = tmp.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let mut text = String::from("[defaults]\nrefresh_s = 600\nconcurrency = 2\n");
    for i in 0..n {
        let f = files.join(format!("s{i}.geojson"));
        std::fs::write(&f, points_geojson(i, 200)).unwrap();
        text +=
            &source_entry(&format!("s{i}"), &format!("src-{i}"), &format!("path = {:?}", f.display().to_string()), "");
    }
    // One source that never answers holds a refresh slot for its whole timeout.
    let silent = Origin::start(Vec::new(), "", true);
    text += &source_entry(
        "silent",
        &format!("src-{n}"),
        &format!("url = {:?}", silent.url("/x.geojson")),
        "timeout_s = 20",
    );
    let with_sources = config_with_sources(tmp.path(), "with.toml", &catalog, &text);
    let without_sources = tmp.path().join("without.toml");
    std::fs::write(&without_sources, format!("catalog = {:?}\n", catalog.display().to_string())).unwrap();

    let t = Instant::now();
    let plain = Server::start(
        &tmp.path().join("store-a"),
        &["-c", without_sources.to_str().unwrap(), "--anonymous-role", "reader"],
    );
    let plain_s = t.elapsed().as_secs_f64();
    drop(plain);
    let t = Instant::now();
    let server = Server::start(
        &tmp.path().join("store-b"),
        &["-c", with_sources.to_str().unwrap(), "--anonymous-role", "reader"],
    );
    let start_s = t.elapsed().as_secs_f64();
    let first = sources_json(&server);
    let done = |all: &Value| {
        all["sources"].as_array().unwrap().iter().filter(|s| s["last_run"]["outcome"] == "imported").count()
    };
    // Start-up did not wait: refreshes run behind it, and the silent one has not finished.
    assert!(source(&first, "silent")["last_run"].is_null(), "{}", source(&first, "silent"));
    let at_start = done(&first);
    // Tiles answer while the sources refresh.
    let agent = ureq::Agent::new_with_defaults();
    let mut tiles = 0;
    let mut slowest_ms = 0u128;
    let deadline = Instant::now() + Duration::from_mins(2);
    loop {
        let all = sources_json(&server);
        let finished = done(&all);
        for (z, x, y) in [(7, 64, 44), (9, 259, 176), (5, 16, 11)] {
            let t = Instant::now();
            let r = agent.get(&server.url(&format!("/tiles/src-0,src-1,src-7/{z}/{x}/{y}"))).call().unwrap();
            assert!(r.status() == 200 || r.status() == 204, "{}", r.status());
            slowest_ms = slowest_ms.max(t.elapsed().as_millis());
            tiles += 1;
        }
        if finished == n {
            break;
        }
        assert!(Instant::now() < deadline, "only {finished} of {n} sources imported: {all}");
    }
    let all_s = t.elapsed().as_secs_f64();
    let silent_now = source(&sources_json(&server), "silent")["last_run"].clone();
    eprintln!(
        "120 sources: healthy in {start_s:.2} s (without sources {plain_s:.2} s), {at_start} imported at start-up, \
         all {n} imported {all_s:.1} s after launch; {tiles} tiles served meanwhile, slowest {slowest_ms} ms; silent source: {silent_now}"
    );
    let catalog_json: Value = get_json(&server.url("/catalog"));
    let with_200 = catalog_json["layers"].as_array().unwrap().iter().filter(|l| l["features"] == 200).count();
    assert_eq!(with_200, n, "every source's 200 points are served");
}

#[test]
fn the_sources_doc_documents_every_key() {
    let doc = std::fs::read_to_string(repo_root().join("docs/sources.md")).unwrap();
    for key in [
        "id",
        "title",
        "owner",
        "licence",
        "layer",
        "format",
        "path",
        "url",
        "crs",
        "refresh_s",
        "timeout_s",
        "max_bytes",
        "skip_invalid",
        "table",
        "mapping",
        "csv",
        "concurrency",
    ] {
        assert!(doc.contains(&format!("`{key}`")), "docs/sources.md documents `{key}`");
    }
    assert!(doc.contains("vigie sources check") && doc.contains("/api/sources"));
}

/// Issue 20, item 6: `kill -9` while a source refresh writes its new version. The refresh runs
/// in the server, on its schedule, through the import path; what is its own is the source's
/// state kept in the data directory (what it last imported). Killed in the middle of the store
/// write (the write-ahead log is seen growing by megabytes), the previous version is served
/// whole after the restart, and the restarted server imports the new version by itself: the
/// state did not record, before the crash, a version that was never committed.
#[test]
fn kill_9_during_a_source_refresh_keeps_the_previous_version_and_the_restart_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let catalog = catalog_with(tmp.path(), 1);
    let file = tmp.path().join("sites.csv");
    synthetic_csv(&file, 1_000, &[]);
    let entry = source_entry("sites", "src-0", &format!("path = {:?}", file.display().to_string()), "");
    let config =
        config_with_sources(tmp.path(), "vigie.toml", &catalog, &format!("[defaults]\nrefresh_s = 1\n{entry}"));
    let data_dir = tmp.path().join("store");
    let args = ["-c", config.to_str().unwrap(), "--anonymous-role", "reader"];
    let features = |server: &Server| {
        let c: Value = get_json(&server.url("/catalog"));
        c["layers"].as_array().unwrap().iter().find(|l| l["id"] == "src-0").unwrap()["features"].as_u64()
    };
    let server = Server::start(&data_dir, &args);
    wait_for("the first version", Duration::from_mins(1), || features(&server) == Some(1_000));

    // The new version: 300,000 rows, put in place at once (a rename), as a publisher would.
    let next = tmp.path().join("next.csv");
    synthetic_csv(&next, 300_000, &[]);
    let wal = data_dir.join(format!("{}-wal", vigie_tileserver::store::sqlite::DB_FILE));
    let wal_size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    let wal_before = wal_size();
    std::fs::rename(&next, &file).unwrap();
    wait_for("the refresh to write", Duration::from_mins(3), || wal_size() > wal_before + 4 * 1024 * 1024);
    assert_ne!(features(&server), Some(300_000), "the refresh committed before it could be killed mid-write");
    server.kill();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (version, stored_features, _) = rt.block_on(stored(&data_dir, "src-0")).unwrap();
    assert_eq!((version, stored_features.len()), (1, 1_000), "the previous version is intact");
    drop(rt);
    let server = Server::start(&data_dir, &args);
    let at_restart = features(&server);
    assert!(matches!(at_restart, Some(1_000 | 300_000)), "one whole version is served: {at_restart:?}");
    wait_for("the restarted server to import the new version", Duration::from_mins(3), || {
        features(&server) == Some(300_000)
    });
    // Its run is recorded as an import (the catalog may show the version a moment before).
    wait_for("the run's record", Duration::from_secs(30), || {
        source(&sources_json(&server), "sites")["last_run"]["outcome"] == "imported"
    });
    drop(server);
    let conn = rusqlite::Connection::open(data_dir.join(vigie_tileserver::store::sqlite::DB_FILE)).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}
