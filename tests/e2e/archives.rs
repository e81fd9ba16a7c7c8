//! Tile archives and offline packs: PMTiles written by Protomaps' own Python library and an
//! MBTiles written by GDAL, served by `vigie` as catalog layers (local files, and a remote
//! archive read with HTTP range requests from a test server), decoded with
//! `mapbox-vector-tile`; and packs written by `vigie export`, read back with PyPI `pmtiles`,
//! each of whose tiles must be the tile the server serves for the same address and filters.

use crate::support::{Server, agent, get_json, python, repo_root, require_tool, run, vigie_cli};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn script(name: &str) -> std::path::PathBuf {
    repo_root().join("tests/python").join(name)
}

/// A range-capable static file server over `dir` (tests/python/range_server.py).
struct RangeServer {
    child: Child,
    port: u16,
}

impl RangeServer {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new(python())
            .arg(script("range_server.py"))
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the range server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = serde_json::from_str::<Value>(&line).expect("the range server's port")["port"].as_u64().unwrap();
        Self { child, port: port as u16 }
    }
}

impl Drop for RangeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tile: status, content type, ETag and body (no gzip asked).
fn tile(server: &Server, path: &str) -> (u16, String, String, Vec<u8>) {
    let mut r = agent().get(&server.url(path)).call().unwrap();
    let header = |n: &str| r.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (ct, etag) = (header("content-type"), header("etag"));
    let status = r.status().as_u16();
    let body = r.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap();
    (status, ct, etag, body)
}

/// The layers of an MVT, decoded by `mapbox-vector-tile`: name → the features' properties.
fn decode(mvt: &[u8], dir: &Path) -> Value {
    let file = dir.join(format!("tile-{:x}.mvt", Sha256::digest(mvt)[0]));
    std::fs::write(&file, mvt).unwrap();
    let out = run(Command::new(python())
        .arg("-c")
        .arg(
            "import json, sys, mapbox_vector_tile as m\n\
         t = m.decode(open(sys.argv[1], 'rb').read())\n\
         print(json.dumps({k: [f['properties'] for f in v['features']] for k, v in t.items()}))",
        )
        .arg(&file));
    serde_json::from_str(&out).unwrap()
}

fn names(layer: &Value) -> Vec<String> {
    let mut n: Vec<String> =
        layer.as_array().into_iter().flatten().filter_map(|p| p["name"].as_str().map(str::to_owned)).collect();
    n.sort();
    n
}

/// The bundled catalog with `extra` layers appended (and `basemap`, when given, named instead
/// of the bundled `fond`, whose archive these tests do not have).
fn catalog_with(dir: &Path, extra: &str, basemap: Option<&str>) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(repo_root().join("data/catalog.toml")).unwrap();
    if let Some(b) = basemap {
        assert!(text.contains("\nbasemap = \"fond\"\n"), "the bundled catalog names its basemap");
        text = text.replace("\nbasemap = \"fond\"\n", &format!("\nbasemap = \"{b}\"\n"));
    }
    let path = dir.join("catalog.toml");
    std::fs::write(&path, format!("{text}\n{extra}")).unwrap();
    path
}

fn archive_layer(id: &str, kind: &str, archive: &str) -> String {
    format!(
        "[[layer]]\nid = \"{id}\"\ntitle = \"{id}\"\ntitle_en = \"{id}\"\ntheme = \"reference\"\nkind = \"{kind}\"\n\
         archive = \"{archive}\"\n\n"
    )
}

#[test]
fn archives_written_by_other_tools_are_served_as_layers() {
    let ogr2ogr = require_tool("ogr2ogr", "apt-get install gdal-bin");
    let tmp = tempfile::tempdir().unwrap();
    let archives = tmp.path().join("archives");
    std::fs::create_dir_all(&archives).unwrap();
    // A vector and a raster PMTiles by PyPI `pmtiles`' writer.
    let made: Value = serde_json::from_str(&run(Command::new(python())
        .arg(script("make_pmtiles.py"))
        .arg(archives.join("places.pmtiles"))))
    .unwrap();
    assert!(made["tiles"].as_array().is_some_and(|t| t.len() >= 7), "{made}");
    run(Command::new(python()).arg(script("make_pmtiles.py")).arg(archives.join("raster.pmtiles")).arg("--raster"));
    // An MBTiles by GDAL's MBTiles driver, from the same three places.
    let geojson = tmp.path().join("places.geojson");
    std::fs::write(
        &geojson,
        r#"{"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": "Paris"}, "geometry": {"type": "Point", "coordinates": [2.3522, 48.8566]}},
            {"type": "Feature", "properties": {"name": "Lyon"}, "geometry": {"type": "Point", "coordinates": [4.8357, 45.764]}},
            {"type": "Feature", "properties": {"name": "Marseille"}, "geometry": {"type": "Point", "coordinates": [5.3698, 43.2965]}}]}"#,
    )
    .unwrap();
    run(Command::new(ogr2ogr)
        .args(["-f", "MBTILES", "-dsco", "MINZOOM=0", "-dsco", "MAXZOOM=6"])
        .arg(archives.join("places.mbtiles"))
        .arg(&geojson));
    let remote = RangeServer::start(&archives);

    let catalog = catalog_with(
        tmp.path(),
        &[
            archive_layer("places", "pmtiles", "places.pmtiles"),
            archive_layer("places-mb", "mbtiles", "places.mbtiles"),
            archive_layer("shade", "pmtiles", "raster.pmtiles"),
            archive_layer("remote", "pmtiles", &format!("http://127.0.0.1:{}/places.pmtiles", remote.port)),
            archive_layer("later", "pmtiles", "later.pmtiles"),
        ]
        .concat(),
        Some("places"),
    );
    let config = tmp.path().join("vigie.toml");
    std::fs::write(&config, format!("[archives]\ndir = \"{}\"\nallow_private_urls = true\n", archives.display()))
        .unwrap();
    let data = tmp.path().join("data");
    let server =
        Server::start(&data, &["--demo", "--catalog", catalog.to_str().unwrap(), "--config", config.to_str().unwrap()]);

    // Paris's tile at z5, as the writer stored it.
    let (status, ct, etag, paris) = tile(&server, "/tiles/places/5/16/11.mvt");
    assert_eq!((status, ct.as_str()), (200, "application/vnd.mapbox-vector-tile"));
    let stored: Value = serde_json::from_str(&run(Command::new(python())
        .arg(script("read_pmtiles.py"))
        .arg(archives.join("places.pmtiles"))))
    .unwrap();
    let entry = stored["tiles"].as_array().unwrap().iter().find(|t| t["z"] == 5 && t["x"] == 16 && t["y"] == 11);
    assert_eq!(
        entry.expect("the archive holds 5/16/11")["sha256"].as_str().unwrap(),
        format!("{:x}", Sha256::digest(&paris)),
        "the served tile is the archive's, decompressed"
    );
    assert_eq!(names(&decode(&paris, tmp.path())["places"]), ["Lyon", "Marseille", "Paris"]);
    // Revalidation, and tiles the archive cannot hold: outside its zooms, outside its bounds.
    let r = agent().get(&server.url("/tiles/places/5/16/11.mvt")).header("If-None-Match", &etag).call().unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(tile(&server, "/tiles/places/7/64/44.mvt").0, 204, "above the archive's maxzoom");
    assert_eq!(tile(&server, "/tiles/places/5/0/0.mvt").0, 204, "outside the archive's bounds");

    // TileJSON from the archive's metadata.
    let tj: Value = get_json(&server.url("/tiles/places"));
    assert_eq!(tj["vector_layers"][0]["id"], "places", "{tj}");
    assert_eq!(tj["maxzoom"], 6);
    assert!(tj["attribution"].as_str().unwrap().contains("© test fixture"), "{tj}");
    assert!(tj["tiles"][0].as_str().unwrap().ends_with("/tiles/places/{z}/{x}/{y}.mvt"));

    // An archive's layer and a live layer in one MVT body.
    let (status, _, _, both) = tile(&server, "/tiles/places,venues/6/32/22.mvt");
    assert_eq!(status, 200);
    let decoded = decode(&both, tmp.path());
    assert!(decoded["places"].is_array() && decoded["venues"].is_array(), "{decoded}");

    // GDAL's MBTiles: rows counted from the south, tiles gzipped, the layer named after the file.
    let (status, _, _, mb) = tile(&server, "/tiles/places-mb/5/16/11.mvt");
    assert_eq!(status, 200);
    let decoded = decode(&mb, tmp.path());
    assert_eq!(names(&decoded["places"]), ["Lyon", "Marseille", "Paris"], "{decoded}");
    let tj: Value = get_json(&server.url("/tiles/places-mb"));
    assert!(tj["vector_layers"].as_array().unwrap().iter().any(|l| l["id"] == "places"), "{tj}");

    // A raster archive: its images as stored, alone (never in a composite).
    let (status, ct, _, png) = tile(&server, "/tiles/shade/2/2/1.png");
    assert_eq!((status, ct.as_str()), (200, "image/png"));
    assert!(png.starts_with(b"\x89PNG"));
    let r = agent().get(&server.url("/tiles/shade,venues/2/2/1.png")).call().unwrap();
    assert_eq!(r.status(), 400);
    let tj: Value = get_json(&server.url("/tiles/shade"));
    assert!(tj["tiles"][0].as_str().unwrap().ends_with("/tiles/shade/{z}/{x}/{y}.png"), "{tj}");

    // The same archive over HTTP range requests.
    let (status, _, _, far) = tile(&server, "/tiles/remote/5/16/11.mvt");
    assert_eq!(status, 200);
    assert_eq!(far, paris, "the remote archive's tile is the local one's");
    let stats = get_json(&format!("http://127.0.0.1:{}/__stats", remote.port));
    assert!(stats["ranges"].as_u64().unwrap() >= 2, "header and tile read by range requests: {stats}");

    // A pack carries the workspace's vector basemap under its layers, drawn in greys by its style.
    let pack = tmp.path().join("base.pmtiles");
    let config_arg = config.to_str().unwrap();
    // Venues over Paris at z5-6, with the catalog's basemap or without it.
    let export = |out: &Path, extra: &[&str]| {
        let mut args = vec!["export", out.to_str().unwrap(), "--layers", "venues", "--bbox", "2.2,48.8,2.5,48.95"];
        args.extend(["--minzoom", "5", "--maxzoom", "6", "--config", config_arg]);
        args.extend(extra);
        let (ok, _, both) = vigie_cli(&args, &data, &[]);
        assert!(ok, "{both}");
    };
    export(&pack, &[]);
    let read = pack_matches_server(&server, &pack, "places,venues", "");
    assert_eq!(read["metadata"]["vigie"]["layers"], serde_json::json!(["places", "venues"]));
    assert!(read["tiles"].as_array().unwrap().iter().any(|t| t["layers"]["places"].as_u64() > Some(0)), "{read}");
    let style: Value = serde_json::from_slice(&std::fs::read(tmp.path().join("base.style.json")).unwrap()).unwrap();
    let layers = style["layers"].as_array().unwrap();
    assert_eq!(layers[1]["source-layer"], "places", "the basemap right above the background: {style}");
    export(&tmp.path().join("bare.pmtiles"), &["--no-basemap"]);
    pack_matches_server(&server, &tmp.path().join("bare.pmtiles"), "venues", "");

    // An archive not there yet answers 503 naming it, then is served once it arrives.
    let r = agent().get(&server.url("/tiles/later/5/16/11.mvt")).call().unwrap();
    assert_eq!(r.status(), 503);
    let problem: Value = serde_json::from_str(&r.into_body().read_to_string().unwrap()).unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("later.pmtiles"), "{problem}");
    std::fs::copy(archives.join("places.pmtiles"), archives.join("later.pmtiles")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, _, body) = tile(&server, "/tiles/later/5/16/11.mvt");
        if status == 200 {
            assert_eq!(body, paris);
            break;
        }
        assert!(Instant::now() < deadline, "the archive was not opened again within 30 s");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn archive_paths_stay_in_the_archives_folder() {
    let tmp = tempfile::tempdir().unwrap();
    for (archive, expected) in [
        ("../outside.pmtiles", "stays in it"),
        ("/etc/passwd", "stays in it"),
        ("ftp://example.org/a.pmtiles", "only http:// and https://"),
    ] {
        let catalog = catalog_with(tmp.path(), &archive_layer("bad", "pmtiles", archive), None);
        let (ok, _, both) = vigie_cli(&["catalog", "import", catalog.to_str().unwrap()], &tmp.path().join("data"), &[]);
        assert!(!ok && both.contains(expected), "{archive}: {both}");
    }
    let catalog = catalog_with(tmp.path(), &archive_layer("bad", "mbtiles", "https://example.org/a.mbtiles"), None);
    let (ok, _, both) = vigie_cli(&["catalog", "import", catalog.to_str().unwrap()], &tmp.path().join("data"), &[]);
    assert!(!ok && both.contains("must be a local file"), "{both}");
}

/// Every tile of a pack, as PyPI `pmtiles` reads it, equals the tile the server serves for
/// the same address, layers and filters.
fn pack_matches_server(server: &Server, pack: &Path, layers: &str, filters: &str) -> Value {
    let read: Value =
        serde_json::from_str(&run(Command::new(python()).arg(script("read_pmtiles.py")).arg(pack))).unwrap();
    let tiles = read["tiles"].as_array().unwrap();
    assert!(!tiles.is_empty(), "the pack holds tiles: {read}");
    for t in tiles {
        let q = if filters.is_empty() { String::new() } else { format!("?{filters}") };
        let (status, _, _, body) = tile(server, &format!("/tiles/{layers}/{}/{}/{}.mvt{q}", t["z"], t["x"], t["y"]));
        assert_eq!(status, 200, "{t}");
        assert_eq!(t["sha256"].as_str().unwrap(), format!("{:x}", Sha256::digest(&body)), "tile {t}");
    }
    read
}

#[test]
fn an_offline_pack_holds_the_tiles_the_server_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &["--demo"]);
    let layers = "perimeters,venues,entries";
    let pack = tmp.path().join("paris.pmtiles");
    let (ok, stdout, both) = vigie_cli(
        &[
            "export",
            pack.to_str().unwrap(),
            "--layers",
            layers,
            "--bbox",
            "2.22,48.81,2.47,48.91",
            "--minzoom",
            "10",
            "--maxzoom",
            "13",
        ],
        &data,
        &[],
    );
    assert!(ok, "{both}");
    assert!(stdout.contains("tiles"), "{stdout}");
    let read = pack_matches_server(&server, &pack, layers, "");
    let meta = &read["metadata"];
    assert_eq!(meta["vigie"]["layers"], serde_json::json!(["perimeters", "venues", "entries"]), "{meta}");
    assert!(meta["vigie"]["exported_by"].as_str().unwrap().starts_with("command line"), "{meta}");
    assert_eq!(read["header"]["min_zoom"], 10);
    assert_eq!(read["header"]["max_zoom"], 13);
    let ids: Vec<&str> = meta["vector_layers"].as_array().unwrap().iter().filter_map(|l| l["id"].as_str()).collect();
    assert_eq!(ids, ["perimeters", "venues", "entries"]);
    // Its style reads the pack and draws only its layers.
    let style: Value = serde_json::from_slice(&std::fs::read(tmp.path().join("paris.style.json")).unwrap()).unwrap();
    assert_eq!(style["sources"]["vigie"]["url"], "pmtiles://paris.pmtiles");
    let drawn: Vec<&str> =
        style["layers"].as_array().unwrap().iter().filter_map(|l| l["source-layer"].as_str()).collect();
    assert!(!drawn.is_empty() && drawn.iter().all(|l| layers.split(',').any(|x| x == *l)), "{drawn:?}");
    assert!(drawn.contains(&"entries"), "the log's entries are drawn: {drawn:?}");
    let hidden: Vec<&Value> =
        style["layers"].as_array().unwrap().iter().filter(|l| l["layout"]["visibility"] == "none").collect();
    assert!(hidden.is_empty(), "every layer of the pack is drawn: {hidden:?}");

    // Filters are the tile URL's, and the pack says which.
    let severe = tmp.path().join("severe.pmtiles");
    let (ok, _, both) = vigie_cli(
        &[
            "export",
            severe.to_str().unwrap(),
            "--layers",
            "entries",
            "--bbox",
            "2.22,48.81,2.47,48.91",
            "--minzoom",
            "11",
            "--maxzoom",
            "12",
            "--filters",
            "severity=4",
        ],
        &data,
        &[],
    );
    assert!(ok, "{both}");
    let read = pack_matches_server(&server, &severe, "entries", "severity=4");
    assert!(read["metadata"]["vigie"]["filters"].as_str().unwrap().contains("severity=4"), "{read}");

    // Too large: refused before any work, nothing written.
    let big = tmp.path().join("big.pmtiles");
    let (ok, _, both) = vigie_cli(
        &["export", big.to_str().unwrap(), "--layers", "entries", "--bbox", "-5,41,10,51", "--maxzoom", "16"],
        &data,
        &[],
    );
    assert!(!ok && both.contains("more than the limit"), "{both}");
    assert!(!big.exists() && !tmp.path().join("big.pmtiles.part").exists());
}

#[test]
fn packs_asked_through_the_api_hold_what_the_asker_may_see() {
    use crate::support::call;
    let (dir, tokens) =
        crate::territories::with_departements(&[("nadia", "admin"), ("paul", "reader"), ("rita", "reader")]);
    let [admin, paul, rita]: [String; 3] = tokens.try_into().unwrap();
    let server = Server::start(
        dir.path(),
        &["--demo", "--demo-entries", "5000", "--demo-points-only", "--demo-region", "--require-sign-in"],
    );
    let json_of = |method: &str, path: &str, auth: &str, body: Option<&Value>| {
        let r = call(&server, method, path, auth, body, &[]);
        (r.status, serde_json::from_slice::<Value>(&r.body).unwrap_or(Value::Null))
    };
    let narrowed = serde_json::json!({"role": "reader", "territory": [{"area": "departements:93"}]});
    assert_eq!(json_of("PUT", "/api/members/paul", &admin, Some(&narrowed)).0, 204);

    // Wrong requests are refused before any work, naming what to fix.
    for (body, status, needle) in [
        (serde_json::json!({"layers": "nope", "bbox": "2,48,3,49", "minzoom": 8, "maxzoom": 9}), 404, "unknown layer"),
        (serde_json::json!({"layers": "entries", "minzoom": 8, "maxzoom": 9}), 400, "exactly one of bbox"),
        (serde_json::json!({"layers": "entries", "bbox": "2,48,3,49", "minzoom": 9, "maxzoom": 8}), 400, "minzoom"),
        (serde_json::json!({"layers": "entries", "bbox": "-5,41,10,51", "minzoom": 0, "maxzoom": 16}), 413, "limit"),
        (
            serde_json::json!({"layers": "entries", "bbox": "2,48,3,49", "minzoom": 8, "maxzoom": 9, "x": 1}),
            400,
            "unknown field",
        ),
    ] {
        let (code, problem) = json_of("POST", "/api/exports", &paul, Some(&body));
        assert_eq!(code, status, "{body}: {problem}");
        assert!(problem["detail"].as_str().unwrap_or_default().contains(needle), "{body}: {problem}");
    }

    // Paul's pack of département 93.
    let ask = serde_json::json!({"layers": "entries", "area": "departements:93", "minzoom": 10, "maxzoom": 12});
    let (code, job) = json_of("POST", "/api/exports", &paul, Some(&ask));
    assert_eq!(code, 202, "{job}");
    let link = job["links"]["self"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_mins(1);
    let done = loop {
        let (_, now) = json_of("GET", &link, &paul, None);
        assert!(now["done"].as_u64() <= now["total"].as_u64(), "{now}");
        if now["status"] != "running" {
            break now;
        }
        assert!(Instant::now() < deadline, "the export did not finish within a minute: {now}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["done"], done["total"]);
    // Seen by its owner and the admins only.
    assert_eq!(json_of("GET", &link, &rita, None).0, 404);
    assert_eq!(json_of("GET", &link, &admin, None).0, 200);
    let (_, listed) = json_of("GET", "/api/exports", &rita, None);
    assert_eq!(listed["exports"], serde_json::json!([]), "{listed}");
    let pack = call(&server, "GET", &format!("{link}/pack"), &paul, None, &[]);
    assert_eq!(pack.status, 200);
    assert_eq!(pack.header("content-type"), Some("application/vnd.pmtiles"));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("93.pmtiles");
    std::fs::write(&file, &pack.body).unwrap();
    let read: Value =
        serde_json::from_str(&run(Command::new(python()).arg(script("read_pmtiles.py")).arg(&file))).unwrap();
    assert_eq!(read["metadata"]["vigie"]["territory"], true, "{}", read["metadata"]);
    // Paul's API token asked for it (as the audit trail names it).
    assert!(read["metadata"]["vigie"]["exported_by"].as_str().unwrap().starts_with("token:t#"), "{}", read["metadata"]);
    // Each tile is Paul's tile; the whole workspace's differs somewhere (entries outside 93).
    let tiles = read["tiles"].as_array().unwrap();
    assert!(!tiles.is_empty());
    let mut narrower = 0;
    for t in tiles {
        let path = format!("/tiles/entries/{}/{}/{}.mvt", t["z"], t["x"], t["y"]);
        let own = call(&server, "GET", &path, &paul, None, &[]);
        assert_eq!(t["sha256"].as_str().unwrap(), format!("{:x}", Sha256::digest(&own.body)), "{path}");
        let whole = call(&server, "GET", &path, &admin, None, &[]);
        narrower += usize::from(whole.body != own.body);
    }
    assert!(narrower > 0, "the territory narrows the pack");
    let style = json_of("GET", &format!("{link}/style"), &paul, None).1;
    assert!(style["sources"]["vigie"]["url"].as_str().unwrap().starts_with("pmtiles://vigie-default-"), "{style}");

    // Removed: gone, with its file.
    assert_eq!(call(&server, "DELETE", &link, &paul, None, &[]).status, 204);
    assert_eq!(json_of("GET", &link, &paul, None).0, 404);
    let exports = dir.path().join("exports/default");
    let left: Vec<_> = std::fs::read_dir(&exports).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
}
