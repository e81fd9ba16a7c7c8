#!/usr/bin/env bash
# The fuzzing bench (issue 20, item 3): every import reader against CASES (1,000,000) damaged
# files, in release, with the failed cases kept in target/fuzz-failures. See
# benches/src/bin/fuzz.rs for what fails a case.
#   Usage: benches/fuzz.sh                      (every reader, a million cases each)
#          CASES=20000 benches/fuzz.sh csv kmz  (a quick pass over some readers)
#          benches/fuzz.sh --replay kml 1234    (remake and read one case)
#          SEEDS_ONLY=1 benches/fuzz.sh         (make the seeds only: fuzz/run.sh starts from them)
# Environment: CASES, JOBS (one per core), SEED (2024), WORK (/dev/shm/vigie-fuzz when
# /dev/shm exists: each case is written as a file), SEEDS (where the seeds are made).
# Needs: cargo, ogr2ogr (gdal-bin), python3, ../shared/data.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=$root/../shared/data
command -v ogr2ogr >/dev/null || { echo "benches/fuzz.sh: ogr2ogr not found: apt-get install -y gdal-bin" >&2; exit 2; }
seeds=${SEEDS:-$root/target/fuzz-seeds}
work=${WORK:-$([ -d /dev/shm ] && echo /dev/shm/vigie-fuzz || echo "${TMPDIR:-/tmp}/vigie-fuzz")}
target=${CARGO_TARGET_DIR:-$root/target}

# The seeds: small real files (fuzzers go further from small inputs). Two régions, Corse and
# Île-de-France (16 KB of GeoJSON), written by GDAL in each format; the organiser's CSV's first
# 15 venues.
rm -rf "$seeds"
mkdir -p "$seeds"
regions=$data/france/regions-version-simplifiee.geojson
ogr() { ogr2ogr -f "$1" "$seeds/$2" "$regions" -where "code IN ('11','94')" -nln seed; }
ogr GeoJSON seed.geojson
ogr GeoJSONSeq seed.geojsonl
ogr FlatGeobuf seed.fgb
ogr GPKG seed.gpkg
ogr "ESRI Shapefile" seed.shp
ogr KML seed.kml
head -n 16 "$data/paris2024/sites-de-competition.csv" > "$seeds/seed.csv"
python3 - "$seeds" <<'PY'
import sys, zipfile, pathlib
d = pathlib.Path(sys.argv[1])
with zipfile.ZipFile(d / "seed.kmz", "w", zipfile.ZIP_DEFLATED) as z:
    z.write(d / "seed.kml", "doc.kml")
with zipfile.ZipFile(d / "seed.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for ext in ("shp", "dbf", "shx", "prj"):
        z.write(d / f"seed.{ext}", f"regions.{ext}")
PY

[[ -z ${SEEDS_ONLY:-} ]] || { echo "$seeds"; exit 0; }
(cd "$root" && cargo build --release --locked -p vigie-benches --bin fuzz >&2)
args=("$@")
exec "$target/release/fuzz" "$seeds" --cases "${CASES:-1000000}" --jobs "${JOBS:-$(nproc)}" --seed "${SEED:-2024}" \
    --keep "$root/target/fuzz-failures" --work "$work" "${args[@]}"
