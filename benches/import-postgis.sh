#!/usr/bin/env bash
# Import into PostGIS, side by side in one run on the same PostgreSQL: `vigie import` of the
# 1M-point CSV and of the 100 MB GeoJSON (benches/import-data.sh) against `ogr2ogr -f PostgreSQL`
# with COPY on, and optionally an older vigie binary. Each import goes into a fresh database.
#
# Usage: benches/import-postgis.sh [DATA_DIR] [OLD_VIGIE]
#   DATA_DIR   inputs from benches/import-data.sh (default target/bench-data)
#   OLD_VIGIE  a vigie binary built from an earlier commit, measured in the same run
# Environment: VIGIE_BENCH_PG (default postgres://postgres@127.0.0.1:5432), ROUNDS (default 3).
# Prints one line per import: tool, file, features, wall seconds, features/s, peak RSS.
# ogr2ogr runs twice: with `-lco SPATIAL_INDEX=NONE` (rows and a key only, what vigie writes: it
# indexes the features in memory) and with its defaults (a GiST index built after the rows).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=${1:-$root/target/bench-data}
old=${2:-}
pg=${VIGIE_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
rounds=${ROUNDS:-3}
"$root/benches/import-data.sh" "$data" > /dev/null
cargo build --release -p vigie-tileserver --manifest-path "$root/Cargo.toml" 2> /dev/null
vigie=${CARGO_TARGET_DIR:-$root/target}/release/vigie
for tool in /usr/bin/time ogr2ogr psql; do
    command -v "$tool" > /dev/null || { echo "import-postgis.sh: $tool is required (apt-get install -y time gdal-bin postgresql-client)" >&2; exit 2; }
done

fresh_db() {
    psql "$pg/postgres" -q -c "DROP DATABASE IF EXISTS vigie_import_bench" -c "CREATE DATABASE vigie_import_bench"
    psql "$pg/vigie_import_bench" -q -c "CREATE EXTENSION postgis"
    psql "$pg/postgres" -q -c "CHECKPOINT"
}

# run LABEL FILE FEATURES COMMAND...: one timed import into a fresh database.
run() {
    local label=$1 file=$2 features=$3
    shift 3
    fresh_db
    local out
    out=$(mktemp)
    /usr/bin/time -v "$@" > /dev/null 2> "$out" || { cat "$out" >&2; exit 1; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$out")
    rss=$(awk -F': ' '/Maximum resident set size/ {print int($2 / 1024)}' "$out")
    printf '%-8s %-24s %9d features %7.2f s %9.0f features/s  peak RSS %5d MiB\n' \
        "$label" "$file" "$features" "$wall" "$(echo "$features / $wall" | bc -l)" "$rss"
    rm -f "$out"
}

# The command of one import into the fresh database.
vigie_cmd() { # BINARY FILE STORE_DIR
    cmd=("$1" import --layer departements --data-dir "$3" --database-url "$pg/vigie_import_bench" "$data/$2")
}
ogr_cmd() { # FILE SPATIAL_INDEX
    cmd=(ogr2ogr --config PG_USE_COPY YES -f PostgreSQL "PG:dbname=vigie_import_bench host=127.0.0.1 user=postgres"
        "$data/$1" -nln features -lco "SPATIAL_INDEX=$2" -lco GEOMETRY_NAME=geom)
    [[ $1 == *.csv ]] && cmd+=(-oo SEPARATOR=SEMICOLON -oo X_POSSIBLE_NAMES=longitude -oo Y_POSSIBLE_NAMES=latitude -a_srs EPSG:4326)
    return 0
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores; PostgreSQL $(psql "$pg/postgres" -Atc 'SHOW server_version')"
declare -A count=([points-1m.csv]=1000000 [features-100mb.geojson]=$(grep -c '"type":"Feature"' "$data/features-100mb.geojson"))
store=$(mktemp -d /tmp/vigie-import-pg.XXXXXX)
trap 'rm -rf "$store"' EXIT
for round in $(seq "$rounds"); do
    echo "round $round"
    for file in points-1m.csv features-100mb.geojson; do
        vigie_cmd "$vigie" "$file" "$store"
        run vigie "$file" "${count[$file]}" "${cmd[@]}"
        if [[ -n $old ]]; then
            vigie_cmd "$old" "$file" "$store"
            run old "$file" "${count[$file]}" "${cmd[@]}"
        fi
        ogr_cmd "$file" NONE
        run ogr2ogr "$file" "${count[$file]}" "${cmd[@]}"
        ogr_cmd "$file" GIST
        run ogr+gist "$file" "${count[$file]}" "${cmd[@]}"
    done
done
psql "$pg/postgres" -q -c "DROP DATABASE IF EXISTS vigie_import_bench"
