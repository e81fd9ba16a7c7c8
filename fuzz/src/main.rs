//! Coverage-guided fuzzing of the import readers (issue 20, item 3) with AFL++ through afl.rs,
//! which instruments on the stable toolchain. One target for every reader, chosen by
//! `VIGIE_FUZZ_READER`: `geojson`, `csv`, `fgb`, `kml` and `kmz` read the input from memory;
//! `gpkg` and `shp.zip` (a zipped Shapefile: the `.shp`, `.dbf` and `.shx` in one input) from
//! a file it is written to. `fuzz/run.sh` builds it, makes the seeds and runs AFL++.
//!
//! A case crashes (AFL++ keeps it in `crashes/`) when the reader panics, when a rejection does
//! not name the file, or when it allocates past its limit (256 MiB above the process's size at
//! start, `RLIMIT_DATA`: the allocation fails and the process aborts); AFL++'s `-t 1000` makes
//! a read over 1 s a hang (`hangs/`).

use std::io::Cursor;
use std::path::Path;
use vigie_layers::dataset::{DatasetBuilder, Mapping};
use vigie_layers::readers::{self, ReadError, ReadOptions};

/// What one case may allocate above the process's size at start.
const ALLOCATION_LIMIT: u64 = 256 << 20;

/// The name every case is read under, which every rejection must mention.
const NAME: &str = "fuzzed-case";

fn main() {
    let reader = std::env::var("VIGIE_FUZZ_READER")
        .expect("VIGIE_FUZZ_READER: one of geojson, csv, fgb, kml, kmz, gpkg, shp.zip");
    let scratch = std::env::temp_dir().join(format!("vigie-afl-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("a scratch folder");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let data_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmData:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let limit = data_kb * 1024 + ALLOCATION_LIMIT;
    rustix::process::setrlimit(
        rustix::process::Resource::Data,
        rustix::process::Rlimit { current: Some(limit), maximum: Some(limit) },
    )
    .expect("setting the data limit");
    afl::fuzz_nohook!(|data: &[u8]| {
        let mut builder = DatasetBuilder::new("fuzzed", Mapping::default());
        let outcome = read(&reader, data, &scratch, &mut builder)
            .map_err(|e| e.to_string())
            .and_then(|()| builder.finish(true).map(|_| ()).map_err(|r| r.to_string()));
        if let Err(reason) = outcome {
            assert!(
                reason.contains(NAME) || reason.contains("no feature found"),
                "the rejection does not name the file: {reason}"
            );
        }
    });
}

fn read(reader: &str, data: &[u8], scratch: &Path, builder: &mut DatasetBuilder) -> Result<(), ReadError> {
    let options = ReadOptions::default();
    match reader {
        "geojson" => readers::geojson::read_with(Cursor::new(data), NAME, &options, builder),
        "csv" => readers::csv::read(Cursor::new(data), NAME, &options, builder),
        "fgb" => readers::flatgeobuf::read(Cursor::new(data), NAME, &options, builder),
        "kml" => readers::kml::read(Cursor::new(data), NAME, builder),
        "kmz" => readers::kml::read_kmz(Cursor::new(data), NAME, builder),
        "gpkg" | "shp.zip" => {
            let ext = if reader == "gpkg" { "gpkg" } else { "zip" };
            let path = scratch.join(format!("{NAME}.{ext}"));
            std::fs::write(&path, data).expect("writing the case");
            readers::read_path(&path, None, &options, builder)
        }
        other => panic!("VIGIE_FUZZ_READER: unknown reader '{other}'"),
    }
}
