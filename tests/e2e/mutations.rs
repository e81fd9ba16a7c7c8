//! Every import reader against damaged copies of real files (issue 20, item 3, the short pass
//! CI runs): the départements written by GDAL in each format and the organiser's CSV, then
//! truncated, bit-flipped, overwritten with noise, with a span repeated, with huge numbers
//! spliced in, nested thousands deep, and a KMZ whose document inflates to hundreds of
//! megabytes. Each must give features or a rejection naming the file, within a hang bound, and
//! never a panic. `VIGIE_MUTATIONS` sets the cases per format (default 40).
//!
//! The cases come from a fixed seed: a failure names its case, and the inputs that once failed
//! are kept in `tests/fixtures/mutations/` and read first.

use crate::support::{python, repo_root, require_tool, run};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use vigie_layers::dataset::{DatasetBuilder, Mapping};
use vigie_layers::demo::{Rng, mutate};
use vigie_layers::readers::{ReadOptions, read_path};

/// Longer than any read of these files takes in a debug build: past it, a hang.
const HANG: Duration = Duration::from_secs(20);

/// Reads `path` on a thread of its own: `Ok(features)`, `Err(rejection)`, or a failure of
/// the test for a panic or a read past [`HANG`].
fn read(path: &Path, what: &str) -> Result<usize, String> {
    let owned = path.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(|| {
            let mut builder = DatasetBuilder::new("mutated", Mapping::default());
            read_path(&owned, None, &ReadOptions::default(), &mut builder)
                .map_err(|e| e.to_string())
                .and_then(|()| builder.finish(true).map(|(d, _)| d.features.len()).map_err(|r| r.to_string()))
        });
        let _ = tx.send(outcome);
    });
    // A failing input is kept where it can be looked at, and added to the kept inputs.
    let keep = || {
        let dir = repo_root().join("target/mutation-failures");
        let _ = std::fs::create_dir_all(&dir);
        let kept = dir.join(path.file_name().unwrap_or_default());
        let _ = std::fs::copy(path, &kept);
        kept.display().to_string()
    };
    match rx.recv_timeout(HANG) {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => panic!("{what}: the reader panicked (input kept in {})", keep()),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: no answer within {HANG:?} (input kept in {})", keep())
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: the reading thread died"),
    }
}

/// The real files each reader is given, made once.
fn seeds(dir: &Path) -> Vec<PathBuf> {
    let ogr2ogr = require_tool("ogr2ogr", "apt-get install -y gdal-bin");
    let regions = repo_root().join("../shared/data/france/regions-version-simplifiee.geojson");
    let mut out = vec![regions.clone(), repo_root().join("../shared/data/paris2024/sites-de-competition.csv")];
    for (driver, name) in [
        ("FlatGeobuf", "regions.fgb"),
        ("GPKG", "regions.gpkg"),
        ("ESRI Shapefile", "regions.shp"),
        ("KML", "regions.kml"),
        ("GeoJSONSeq", "regions.geojsonl"),
    ] {
        let path = dir.join(name);
        run(Command::new(&ogr2ogr).args(["-f", driver]).arg(&path).arg(&regions).env("CPL_LOG", "/dev/null"));
        out.push(path);
    }
    out
}

#[test]
fn damaged_files_are_rejected_naming_them_never_a_panic_or_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: usize = std::env::var("VIGIE_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    // Inputs that once failed, first.
    let kept = repo_root().join("tests/fixtures/mutations");
    for f in std::fs::read_dir(&kept).into_iter().flatten().filter_map(Result::ok) {
        let _ = read(&f.path(), &format!("kept input {}", f.path().display()));
    }
    // The demo's generator (SplitMix64): the same cases on every run.
    let mut rng = Rng::new(2024);
    let mut rejected = 0;
    for seed in seeds(tmp.path()) {
        let ext = seed.extension().and_then(|e| e.to_str()).unwrap_or("bin").to_owned();
        let name = seed.file_name().unwrap().to_string_lossy().into_owned();
        assert!(read(&seed, &name).is_ok_and(|n| n > 0), "{name} reads whole before damage");
        let bytes = std::fs::read(&seed).unwrap();
        for n in 0..cases {
            let (damaged, how) = mutate(&bytes, &mut rng);
            let path = tmp.path().join(format!("case-{n}.{ext}"));
            std::fs::write(&path, &damaged).unwrap();
            let what = format!("{name} case {n} ({how})");
            if let Err(reason) = read(&path, &what) {
                rejected += 1;
                // A file with nothing readable left is "no feature found" in the whole file.
                assert!(
                    reason.contains(&format!("case-{n}")) || reason.contains("no feature found"),
                    "{what}: the rejection names the file: {reason}"
                );
            }
        }
    }
    assert!(rejected > 0, "some damage is noticed");

    // A KMZ whose document inflates to 400 MB (a zip bomb): refused or read, in bounded time.
    let bomb = tmp.path().join("bomb.kmz");
    run(Command::new(python())
        .args([
            "-c",
            "import sys, zipfile\n\
         z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\n\
         with z.open('doc.kml', 'w', force_zip64=True) as f:\n\
         \x20   f.write(b'<?xml version=\"1.0\"?><kml xmlns=\"http://www.opengis.net/kml/2.2\"><Document>')\n\
         \x20   block = b'<!-- ' + b'x' * (1 << 20) + b' -->'\n\
         \x20   for _ in range(400): f.write(block)\n\
         \x20   f.write(b'</Document></kml>')\n",
        ])
        .arg(&bomb));
    let _ = read(&bomb, "a KMZ inflating to 400 MB");
}
