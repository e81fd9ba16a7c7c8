#!/usr/bin/env bash
# Tile archives and offline packs, measured (issue 19), one command:
#   1. an offline pack of Île-de-France, z8-14, every live layer of the catalog, over the
#      1M-entry dataset (`vigie export`, time, tiles/s, archive size, peak memory);
#   2. that pack served as a PMTiles layer by vigie and by Martin (its `pmtiles` source), same
#      archive, same tile list, warm, wrk at 1, 8 and 64 connections, run alternately;
#   3. with PG=1: the same entries in a PostGIS store (vigie's PostgreSQL store, seeded by
#      `vigie serve --demo` on DATABASE_URL), the log's layer of Île-de-France z8-14 copied
#      by `martin-cp` (Martin's table source on `entries`, to MBTiles) and exported by
#      `vigie export` from that store, side by side.
#
# Usage: benches/archives.sh WORKDIR
#   WORKDIR   kept between runs: the 1M-entry store is seeded once (about 2 minutes)
# Environment:
#   VIGIE_BIN=PATH     the vigie binary (default: target/release/vigie, built if missing)
#   MARTIN=PATH        Martin 1.14.0 built with its pmtiles feature (default:
#                      $HOME/.cache/vigie-bench/martin-pm/bin/martin, built once with
#                      cargo install if missing, about 25 minutes)
#   ENTRIES=1000000    demo entries (points only, spread over the region: the load benchmark's)
#   DURATION=10s       each wrk run
#   PORT=18791         vigie's port; Martin listens on PORT+1
#   PG=1               also part 3; PG_ADMIN (default postgres://postgres@127.0.0.1:5432/postgres)
#                      names the server, where a database vigie_archives_bench is made once
# Figures: benches/README.md, "Tile archives and offline packs".
set -euo pipefail
trap 'echo "archives.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:?usage: benches/archives.sh WORKDIR}
mkdir -p "$work"
work=$(cd "$work" && pwd)
entries=${ENTRIES:-1000000}
duration=${DURATION:-10s}
port=${PORT:-18791}
mport=$((port + 1))
bin=${VIGIE_BIN:-$root/target/release/vigie}
martin=${MARTIN:-$HOME/.cache/vigie-bench/martin-pm/bin/martin}
python=${VIGIE_TEST_PYTHON:-$root/tests/.venv/bin/python}
idf=1.44,48.12,3.56,49.24

if [[ ! -x $bin ]]; then
    (cd "$root" && cargo build --release --locked -p vigie-tileserver --bin vigie)
fi
if [[ ! -x $martin ]]; then
    root_dir=$(dirname "$(dirname "$martin")")
    cargo install martin --version 1.14.0 --locked --no-default-features --features postgres,pmtiles,mbtiles \
        --root "$root_dir" --target-dir "$root_dir/target"
fi
command -v wrk >/dev/null || { echo "archives.sh: wrk is needed (apt-get install wrk)" >&2; exit 2; }

wait_for() { # URL
    for _ in $(seq 1 6000); do
        curl -fs -o /dev/null "$1" && return 0
        sleep 0.05
    done
    echo "archives.sh: $1 did not answer" >&2
    return 1
}

# 1. The store, seeded once.
data=$work/data
if [[ ! -f $data/vigie.db ]]; then
    echo "== seeding $entries entries into $data"
    "$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" \
        --demo --demo-entries "$entries" --demo-points-only --demo-region 2>"$work/seed.log" &
    pid=$!
    wait_for "http://127.0.0.1:$port/health"
    kill -TERM $pid
    wait $pid || true
fi

# 2. The pack: every live layer drawn at z8-14 (the catalog's, archives and h3 aside).
layers=$("$bin" catalog export --json --data-dir "$data" | "$python" -c '
import json, sys
c = json.load(sys.stdin)
print(",".join(l["id"] for l in c["layers"] if l["kind"] not in ("h3", "table", "pmtiles", "mbtiles")))')
pack=$work/idf.pmtiles
rm -f "$pack" "$work/idf.style.json"
echo "== vigie export: Île-de-France ($idf), z8-14, layers $layers"
VIGIE_LOG=warn /usr/bin/time -f "export: %e s wall, %U s user, %S s system, %M KiB peak resident" \
    "$bin" export "$pack" --layers "$layers" --bbox "$idf" --minzoom 8 --maxzoom 14 --data-dir "$data" \
    2>&1 | tail -n 2
ls -l "$pack" | awk '{print "pack: " $5 " bytes"}'

# 3. The pack served: vigie (a pmtiles layer) and Martin (a pmtiles source), same tile list.
"$python" "$root/tests/python/read_pmtiles.py" "$pack" >"$work/pack.json"
"$python" -c '
import json, sys
for t in json.load(open(sys.argv[1]))["tiles"]:
    print("/{}/%d/%d/%d" % (t["z"], t["x"], t["y"]))' "$work/pack.json" >"$work/paths.tmpl"
sed 's|^/{}|/tiles/pack|' "$work/paths.tmpl" >"$work/vigie-paths.txt"
sed 's|^/{}|/idf|' "$work/paths.tmpl" >"$work/martin-paths.txt"
echo "tiles in the pack: $(wc -l <"$work/vigie-paths.txt")"

serve=$work/serve
mkdir -p "$serve/archives"
cp "$pack" "$serve/archives/idf.pmtiles"
cat "$root/data/catalog.toml" >"$serve/catalog.toml"
printf '\n[[layer]]\nid = "pack"\ntitle = "Pack"\ntitle_en = "Pack"\ntheme = "reference"\nkind = "pmtiles"\narchive = "idf.pmtiles"\n' \
    >>"$serve/catalog.toml"
printf '[archives]\ndir = "%s"\n' "$serve/archives" >"$serve/vigie.toml"
"$bin" serve --data-dir "$serve/data" --listen "127.0.0.1:$port" --catalog "$serve/catalog.toml" \
    --config "$serve/vigie.toml" --anonymous-role reader 2>"$work/vigie.log" &
vpid=$!
"$martin" --listen-addresses "127.0.0.1:$mport" "$serve/archives/idf.pmtiles" 2>"$work/martin.log" >&2 &
mpid=$!
trap 'kill $vpid $mpid 2>/dev/null || true' EXIT
wait_for "http://127.0.0.1:$port/health"
wait_for "http://127.0.0.1:$mport/catalog"

run() { # NAME URL PATHS CONNECTIONS
    local threads=$(($4 < 2 ? 1 : 2))
    wrk -t"$threads" -c"$4" -d"$duration" -H 'Accept-Encoding: gzip' -s "$root/benches/load/trace.lua" "$2" -- "$3" |
        grep RESULT | sed "s/^RESULT/$1 c=$4/"
}
# Warm both: every tile once.
run vigie-warmup "http://127.0.0.1:$port" "$work/vigie-paths.txt" 2 >/dev/null
run martin-warmup "http://127.0.0.1:$mport" "$work/martin-paths.txt" 2 >/dev/null
for c in 1 8 64; do
    for round in 1 2; do
        run "vigie#$round" "http://127.0.0.1:$port" "$work/vigie-paths.txt" "$c"
        run "martin#$round" "http://127.0.0.1:$mport" "$work/martin-paths.txt" "$c"
    done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# 4. martin-cp against vigie export on the same PostGIS table (PG=1).
[[ ${PG:-0} == 1 ]] || exit 0
kill $vpid $mpid 2>/dev/null || true
wait $vpid $mpid 2>/dev/null || true
admin=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
db=${admin%/*}/vigie_archives_bench
martin_cp=$(dirname "$martin")/martin-cp
if ! psql "$admin" -Atc "SELECT 1 FROM pg_database WHERE datname = 'vigie_archives_bench'" | grep -q 1; then
    echo "== seeding $entries entries into PostGIS ($db)"
    psql "$admin" -qc "CREATE DATABASE vigie_archives_bench"
    DATABASE_URL=$db "$bin" serve --data-dir "$work/pg" --listen "127.0.0.1:$port" \
        --demo --demo-entries "$entries" --demo-points-only --demo-region 2>"$work/pg-seed.log" &
    pid=$!
    wait_for "http://127.0.0.1:$port/health"
    kill -TERM $pid
    wait $pid || true
    psql "$db" -qc "VACUUM ANALYZE entries"
fi
rm -f "$work/martin-cp.mbtiles" "$work/entries.pmtiles"
echo "== martin-cp: entries, Île-de-France z8-14, 4 connections, to MBTiles"
/usr/bin/time -f "martin-cp: %e s wall, %U s user, %S s system, %M KiB peak resident" \
    "$martin_cp" --source entries --output-file "$work/martin-cp.mbtiles" --mbtiles-type flat \
    --concurrency 4 --bbox "$idf" --min-zoom 8 --max-zoom 14 "$db" 2>&1 | tail -n 2
ls -l "$work/martin-cp.mbtiles" | awk '{print "martin-cp: " $5 " bytes"}'
echo "martin-cp tiles: $(sqlite3 "$work/martin-cp.mbtiles" 'SELECT COUNT(*) FROM tiles' 2>/dev/null || echo '?')"
echo "== vigie export: entries, Île-de-France z8-14, from the same PostGIS store"
DATABASE_URL=$db VIGIE_LOG=warn /usr/bin/time -f "vigie export: %e s wall, %U s user, %S s system, %M KiB peak resident" \
    "$bin" export "$work/entries.pmtiles" --layers entries --bbox "$idf" --minzoom 8 --maxzoom 14 \
    --data-dir "$work/pg" 2>&1 | tail -n 2
ls -l "$work/entries.pmtiles" | awk '{print "vigie export: " $5 " bytes"}'

