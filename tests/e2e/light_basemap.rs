//! The light basemap vigie builds from the official boundaries (`vigie basemap`, and the
//! demo's `--demo-basemap`), read back with PyPI `pmtiles` and `mapbox-vector-tile`; and a
//! raster basemap carried beside an offline pack (`OUT.basemap.pmtiles`), whose every tile is
//! the archive's.

use crate::support::{Server, agent, call, get_json, python, repo_root, run, vigie_cli};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn script(name: &str) -> PathBuf {
    repo_root().join("tests/python").join(name)
}

/// The IGN boundaries of the reference data (régions, départements, Île-de-France communes).
fn boundaries() -> PathBuf {
    repo_root().join("../shared/data/france")
}

/// An archive as PyPI `pmtiles` reads it (`tests/python/read_pmtiles.py`), or one tile of it.
fn read(archive: &Path, tile: Option<&str>) -> Value {
    let mut cmd = Command::new(python());
    cmd.arg(script("read_pmtiles.py")).arg(archive);
    if let Some(t) = tile {
        cmd.args(["--tile", t]);
    }
    serde_json::from_str(&run(&mut cmd)).unwrap()
}

/// The `nom` of every feature of `layer` in a tile read with `--tile`, sorted.
fn noms(tile: &Value, layer: &str) -> Vec<String> {
    let mut n: Vec<String> = tile["layers"][layer]["features"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["properties"]["nom"].as_str().map(str::to_owned))
        .collect();
    n.sort();
    n
}

#[test]
fn the_light_basemap_is_built_from_the_official_boundaries() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = tmp.path().join("france.pmtiles");
    let from = boundaries();
    let (ok, stdout, both) =
        vigie_cli(&["basemap", out.to_str().unwrap(), "--from", from.to_str().unwrap(), "--maxzoom", "9"], &data, &[]);
    assert!(ok, "{both}");
    assert!(stdout.contains("regions (13)") && stdout.contains("departements (96)"), "{stdout}");

    let archive = read(&out, None);
    let meta = &archive["metadata"];
    let layers: Vec<&str> = meta["vector_layers"].as_array().unwrap().iter().filter_map(|l| l["id"].as_str()).collect();
    assert_eq!(layers, ["regions", "departements", "communes"], "{meta}");
    assert!(meta["attribution"].as_str().unwrap().contains("IGN"), "{meta}");
    assert_eq!((archive["header"]["min_zoom"].as_u64(), archive["header"]["max_zoom"].as_u64()), (Some(0), Some(9)));
    // Each level from the zoom it is useful at: régions from 0, départements from 5, communes
    // from 9 (the tiles' features, counted by the reader).
    let tiles = archive["tiles"].as_array().unwrap();
    let at =
        |z: u64, layer: &str| tiles.iter().filter(|t| t["z"] == z && t["layers"][layer].as_u64() > Some(0)).count();
    assert!(at(0, "regions") == 1 && at(0, "departements") == 0 && at(4, "departements") == 0, "{tiles:?}");
    assert!(at(5, "departements") > 0 && at(8, "communes") == 0 && at(9, "communes") > 0);
    // Paris's tile at z9 (259/176), decoded by `mapbox-vector-tile`: the commune of Paris, its
    // département and its région, with their names.
    let paris = read(&out, Some("9/259/176"));
    assert!(noms(&paris, "communes").contains(&"Paris".to_owned()), "{paris}");
    assert!(noms(&paris, "departements").contains(&"Paris".to_owned()), "{paris}");
    assert_eq!(noms(&paris, "regions"), ["Île-de-France"]);
    // Brittany at z5 holds its four départements (Finistère is 29).
    let brest = read(&out, Some("5/15/11"));
    assert!(noms(&brest, "departements").contains(&"Finistère".to_owned()), "{brest}");

    // Wrong inputs: named, nothing written.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let none = tmp.path().join("none.pmtiles");
    let (ok, _, both) = vigie_cli(&["basemap", none.to_str().unwrap(), "--from", empty.to_str().unwrap()], &data, &[]);
    assert!(!ok && both.contains("no boundaries found"), "{both}");
    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("departements.geojson"), r#"{"type": "FeatureCollection", "features": [{"type": "Fea"#)
        .unwrap();
    let (ok, _, both) = vigie_cli(&["basemap", none.to_str().unwrap(), "--from", broken.to_str().unwrap()], &data, &[]);
    assert!(!ok && both.contains("departements.geojson"), "the file at fault is named: {both}");
    assert!(!none.exists() && !tmp.path().join("none.pmtiles.part").exists());
    let (ok, _, both) = vigie_cli(&["basemap", out.to_str().unwrap(), "--from", from.to_str().unwrap()], &data, &[]);
    assert!(!ok && both.contains("exists already"), "{both}");
}

#[test]
fn the_demo_draws_its_basemap_once_given_the_boundaries() {
    let tmp = tempfile::tempdir().unwrap();
    // Without the boundaries: the bundled catalog's basemap is listed as unavailable, saying why.
    let bare = Server::start(&tmp.path().join("bare"), &["--demo", "--demo-entries", "200"]);
    let catalog = get_json(&bare.url("/catalog"));
    assert_eq!(catalog["basemap"], "fond");
    let fond = catalog["layers"].as_array().unwrap().iter().find(|l| l["id"] == "fond").unwrap().clone();
    assert!(fond["unavailable"].as_str().unwrap().contains("fond.pmtiles"), "{fond}");
    assert_eq!(agent().get(&bare.url("/tiles/fond/5/16/11.mvt")).call().unwrap().status(), 503);
    drop(bare);

    // With them: built at first start into the archives folder, served, and the départements
    // imported for the region tool.
    let data = tmp.path().join("data");
    let from = boundaries();
    let args = ["--demo", "--demo-entries", "200", "--demo-basemap", from.to_str().unwrap()];
    let server = Server::start(&data, &args);
    let archive = data.join("archives/fond.pmtiles");
    assert!(archive.exists());
    let catalog = get_json(&server.url("/catalog"));
    let layer = |id: &str| catalog["layers"].as_array().unwrap().iter().find(|l| l["id"] == id).unwrap().clone();
    assert!(layer("fond").get("unavailable").is_none(), "{}", layer("fond"));
    assert_eq!(layer("fond")["format"], "mvt");
    assert_eq!(layer("departements")["features"], 96, "the départements are imported");
    let tj = get_json(&server.url("/tiles/fond"));
    assert!(tj["attribution"].as_str().unwrap().contains("IGN"), "{tj}");
    // The served tile is the archive's.
    let mut r = agent().get(&server.url("/tiles/fond/5/16/11.mvt")).call().unwrap();
    assert_eq!(r.status(), 200);
    let body = r.body_mut().read_to_vec().unwrap();
    let stored = read(&archive, None);
    let entry = stored["tiles"].as_array().unwrap().iter().find(|t| t["z"] == 5 && t["x"] == 16 && t["y"] == 11);
    assert_eq!(entry.unwrap()["sha256"].as_str().unwrap(), format!("{:x}", Sha256::digest(&body)));
    // A region query by département works in the demo now.
    let q =
        call(&server, "POST", "/api/query", "", Some(&json!({"area": "departements:75", "layers": ["venues"]})), &[]);
    assert_eq!(q.status, 200, "{}", String::from_utf8_lossy(&q.body));
    assert_eq!(q.json()["numberMatched"], 19, "the venues in Paris");
    drop(server);

    // Started again: the archive is not built twice.
    let modified = std::fs::metadata(&archive).unwrap().modified().unwrap();
    let again = Server::start(&data, &args);
    assert_eq!(std::fs::metadata(&archive).unwrap().modified().unwrap(), modified);
    drop(again);
}

#[test]
fn a_raster_basemap_comes_beside_the_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let archives = tmp.path().join("archives");
    std::fs::create_dir_all(&archives).unwrap();
    run(Command::new(python()).arg(script("make_pmtiles.py")).arg(archives.join("raster.pmtiles")).arg("--raster"));
    let mut text = std::fs::read_to_string(repo_root().join("data/catalog.toml")).unwrap();
    text = text.replace("\nbasemap = \"fond\"\n", "\nbasemap = \"shade\"\n");
    text.push_str(
        "\n[[layer]]\nid = \"shade\"\ntitle = \"shade\"\ntitle_en = \"shade\"\ntheme = \"reference\"\nkind = \"pmtiles\"\n\
         archive = \"raster.pmtiles\"\n",
    );
    let catalog = tmp.path().join("catalog.toml");
    std::fs::write(&catalog, text).unwrap();
    let config = tmp.path().join("vigie.toml");
    std::fs::write(&config, format!("[archives]\ndir = \"{}\"\n", archives.display())).unwrap();
    let data = tmp.path().join("data");
    let (catalog, config) = (catalog.to_str().unwrap(), config.to_str().unwrap());
    let server = Server::start(&data, &["--demo", "--demo-entries", "200", "--catalog", catalog, "--config", config]);

    // Venues over Paris at z2-4: the raster archive holds z0-3.
    let pack = tmp.path().join("paris.pmtiles");
    let (ok, stdout, both) = vigie_cli(
        &[
            "export",
            pack.to_str().unwrap(),
            "--layers",
            "venues",
            "--bbox",
            "2.2,48.8,2.5,48.95",
            "--minzoom",
            "2",
            "--maxzoom",
            "4",
            "--config",
            config,
        ],
        &data,
        &[],
    );
    assert!(ok, "{both}");
    let beside = tmp.path().join("paris.basemap.pmtiles");
    assert!(stdout.contains("paris.basemap.pmtiles"), "{stdout}");
    let raster = read(&beside, None);
    assert_eq!(raster["header"]["tile_type"], "png", "{}", raster["header"]);
    let tiles = raster["tiles"].as_array().unwrap();
    let mut zooms: Vec<u64> = tiles.iter().filter_map(|t| t["z"].as_u64()).collect();
    zooms.dedup();
    assert_eq!(zooms, [2, 3], "the archive's tiles of the pack's area, none where it has none: {tiles:?}");
    for t in tiles {
        let mut r =
            agent().get(&server.url(&format!("/tiles/shade/{}/{}/{}.png", t["z"], t["x"], t["y"]))).call().unwrap();
        assert_eq!(r.status(), 200);
        let png = r.body_mut().read_to_vec().unwrap();
        assert_eq!(t["sha256"].as_str().unwrap(), format!("{:x}", Sha256::digest(&png)), "{t}");
    }
    // The pack says it has one, and its style draws it in greys under the layers.
    assert_eq!(read(&pack, None)["metadata"]["vigie"]["basemap"]["layer"], "shade");
    let style: Value = serde_json::from_slice(&std::fs::read(tmp.path().join("paris.style.json")).unwrap()).unwrap();
    assert_eq!(style["sources"]["basemap"]["url"], "pmtiles://paris.basemap.pmtiles", "{style}");
    assert_eq!(style["layers"][1]["id"], "basemap-raster", "right above the background: {style}");
    assert_eq!(style["layers"][1]["paint"]["raster-saturation"], -1);
    // --no-basemap: no second archive.
    let bare = tmp.path().join("bare.pmtiles");
    let (ok, _, both) = vigie_cli(
        &["export", bare.to_str().unwrap(), "--layers", "venues", "--bbox", "2.2,48.8,2.5,48.95", "--minzoom", "2"]
            .into_iter()
            .chain(["--maxzoom", "3", "--no-basemap", "--config", config])
            .collect::<Vec<_>>(),
        &data,
        &[],
    );
    assert!(ok, "{both}");
    assert!(!tmp.path().join("bare.basemap.pmtiles").exists());

    // Through the API: a second download link, the same tiles.
    let ask = json!({"layers": "venues", "bbox": "2.2,48.8,2.5,48.95", "minzoom": 2, "maxzoom": 4});
    let r = call(&server, "POST", "/api/exports", "", Some(&ask), &[]);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let job: Value = serde_json::from_slice(&r.body).unwrap();
    let link = job["links"]["self"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_mins(1);
    let done = loop {
        let now: Value = serde_json::from_slice(&call(&server, "GET", &link, "", None, &[]).body).unwrap();
        if now["status"] != "running" {
            break now;
        }
        assert!(Instant::now() < deadline, "the export did not finish within a minute: {now}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(done["status"], "done", "{done}");
    assert!(done["written"]["basemap"]["bytes"].as_u64() > Some(0), "{done}");
    let download = call(&server, "GET", done["links"]["basemap"].as_str().unwrap(), "", None, &[]);
    assert_eq!(download.status, 200);
    assert!(download.header("content-disposition").unwrap().contains(".basemap.pmtiles"));
    let file = tmp.path().join("api.basemap.pmtiles");
    std::fs::write(&file, &download.body).unwrap();
    let sums = |v: &Value| -> Vec<String> {
        v["tiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| format!("{}/{}/{} {}", t["z"], t["x"], t["y"], t["sha256"]))
            .collect()
    };
    assert_eq!(sums(&read(&file, None)), sums(&raster));
    // Removed with its pack.
    assert_eq!(call(&server, "DELETE", &link, "", None, &[]).status, 204);
    let left: Vec<_> = std::fs::read_dir(data.join("exports/default"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
