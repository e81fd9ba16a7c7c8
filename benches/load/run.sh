#!/usr/bin/env bash
# The load benchmark: vigie against Martin and PostGIS on the same data, the same tiles and the
# same machine, in one run.   Usage: benches/load/run.sh       (documented in benches/README.md)
#
#  1. Builds vigie (release) and, once, Martin 1.14.0 from crates.io into $MARTIN_ROOT, outside
#     the repository.
#  2. Data (made once, kept in $WORK; FRESH=1 remakes it): 1M synthetic point entries around the
#     Paris 2024 venues, spread over the region (`--demo-region`: 30 % within a few hundred
#     metres of the day's venues, 70 % kilometres away), and the départements
#     (../shared/data/france/departements.geojson):
#       - into vigie's embedded store (SQLite) in $WORK/sqlite;
#       - into vigie on PostGIS, database $DB (the same seed gives the same entries);
#       - into a PostGIS table `load_entries` (Web Mercator points, GiST index) made from vigie's
#         PostGIS store: the entries the `entries` layer shows (not deleted, not refuted) with
#         the same ten properties, formatted as vigie formats them.
#  3. Servers, each alone on the machine while it is measured:
#       vigie-mem      vigie on its embedded store, in-memory `entries` layer
#       vigie-pg-mem   vigie on PostGIS, the same in-memory layer
#       vigie-table    vigie on PostGIS, table layer `entries-table` over `load_entries`
#                      (ST_AsMVT, the way Martin serves tables)
#       martin         Martin 1.14.0 on `load_entries`
#     All with extent 4096 and buffer 64 px. Three passes:
#       cold    no tile cache (vigie --cache-size-mb 0, Martin cache_size_mb 0), each
#               connection starting at its own place in the trace;
#       warm    a 2 GiB cache filled by one pass over the trace first;
#       shared  a 2 GiB cache, empty at the start of each run (the server is restarted), and
#               every connection replaying the same trace from the same start (wrk with one
#               thread per connection): what a room of users opening the same view does.
#               For vigie, its /metrics before and after give the renders per distinct tile
#               (1.0 when concurrent misses of a tile share one render).
#     vigie's tiles are asked raw (`budget=off`): every feature, as Martin sends them (tile
#     budgets and their clusters are measured by webview.sh).
#  4. Same features: before any timing, every 3rd tile (z10+) of the trace from each server,
#     decoded by check.py: equal feature ids and properties, or the run stops (the comparison
#     would be void).
#  5. Load: wrk (Debian), on 127.0.0.1, replaying the recorded trace (trace.txt, made by
#     trace.py: a 1280x800 map flying over Ile-de-France, z8 to z16) split in zoom bands
#     z8-11 / z12-14 / z15-16, at 1, 8 and 64 connections, $DURATION seconds each.
#  6. The database's floor: the same tiles' ST_AsMVT(ST_AsMVTGeom(...)) alone, with pgbench at the
#     same connection counts.
#  7. Prints requests/s, p50 and p99 by band, errors, bytes per tile and resident memory per
#     server, and the ratios vigie/Martin; writes them to $WORK/results.tsv and
#     $WORK/results.md.
#
# Environment: WORK (/tmp/vigie-load), ENTRIES (1000000), DURATION (8 s per run), CONNS
# ("1 8 64"), DB (vigie_load), PGURL (postgres://postgres@127.0.0.1:5432), MARTIN_ROOT
# ($HOME/.cache/vigie-bench/martin), FRESH=1 (remake the data), SERVERS (all four,
# space-separated; "" for the database's floor alone), PASSES ("cold warm shared"), FLOOR=0
# (skip the database's floor; with SERVERS=vigie-mem the PostGIS data is then not made),
# APPEND=1 (add to the previous results.tsv: rerun one server), PYTHON (tests/.venv/bin/python),
# VIGIE_LOG (info,vigie::access=warn: vigie's log level, failed requests only in its access log).
# Needs: cargo, wrk, psql/createdb/pgbench (PostgreSQL 15 + PostGIS 3 running), python3 with
# mapbox-vector-tile (tests/.venv, made by tests/run), curl.
# Takes about 25-35 minutes on 2 cores with the data made, plus ~10 minutes to make it and
# ~10 minutes to build Martin the first time.
set -euo pipefail
trap 'echo "load/run.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/benches/load
work=${WORK:-/tmp/vigie-load}
entries=${ENTRIES:-1000000}
duration=${DURATION:-8}
conns=${CONNS:-"1 8 64"}
db=${DB:-vigie_load}
pgurl=${PGURL:-postgres://postgres@127.0.0.1:5432}
martin_root=${MARTIN_ROOT:-$HOME/.cache/vigie-bench/martin}
servers=${SERVERS-"vigie-mem vigie-pg-mem vigie-table martin"}
passes=${PASSES-"cold warm shared"}
floor=${FLOOR:-1}
# Failed requests only in the access log: hundreds of thousands of tile requests a minute would
# write gigabytes of it (what the access log costs a request: benches/load/logs.sh).
export VIGIE_LOG=${VIGIE_LOG:-info,vigie::access=warn}
# PostGIS is needed for every server but vigie-mem, and for the floor.
pg_needed=$floor
for s in $servers; do [[ $s == vigie-mem ]] || pg_needed=1; done
python=${PYTHON:-$root/tests/.venv/bin/python}
departements=$root/../shared/data/france/departements.geojson
port=18870
base=http://127.0.0.1:$port
mkdir -p "$work/logs"

for tool in cargo wrk curl $( ((pg_needed)) && echo psql createdb pgbench); do
    command -v "$tool" >/dev/null || { echo "load/run.sh: $tool is missing (wrk: apt-get install -y wrk)" >&2; exit 2; }
done
"$python" -c 'import mapbox_vector_tile' 2>/dev/null \
    || { echo "load/run.sh: $python lacks mapbox-vector-tile: run tests/run once (it makes tests/.venv)" >&2; exit 2; }
[[ -f $departements ]] || { echo "load/run.sh: $departements not found" >&2; exit 2; }
if curl -s -o /dev/null "$base/"; then
    echo "load/run.sh: something already listens on port $port" >&2
    exit 2
fi

echo "== build"
(cd "$root" && cargo build --release --locked -p vigie-tileserver)
vigie=${CARGO_TARGET_DIR:-$root/target}/release/vigie
martin=$martin_root/bin/martin
if [[ " $servers " == *" martin "* && ! -x $martin ]]; then
    echo "== building Martin 1.14.0 into $martin_root (once)"
    cargo install martin --version 1.14.0 --locked --no-default-features --features postgres \
        --root "$martin_root" --target-dir "$martin_root/target"
fi
[[ " $servers " != *" martin "* ]] || "$martin" --version

# shellcheck source=lib.sh
source "$here/lib.sh"

sql() { psql "$pgurl/$db" -v ON_ERROR_STOP=1 -qAtX "$@"; }

# The database must be idle between runs: a request wrk gave up on may still run in PostgreSQL.
wait_db_idle() {
    ((pg_needed)) || return 0
    for _ in $(seq 1 600); do
        [[ $(sql -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()") == 0 ]] && return 0
        sleep 0.5
    done
    echo "load/run.sh: queries still running in $db after 300 s" >&2
}

# --- 2. data -----------------------------------------------------------------------------------
# Each part is made once; a marker file says it is complete (a half-made part is made again).
if [[ ${FRESH:-0} == 1 ]]; then
    rm -rf "$work/sqlite" "$work"/.ready-*
fi
seed=(--demo --demo-entries "$entries" --demo-points-only --demo-region)
# seed_store NAME STORE-ARGS...: the demo entries into one store, then the départements.
seed_store() {
    local name=$1 t0
    shift
    log=$work/logs/seed-$name.log
    t0=$(date +%s.%N)
    "$vigie" serve "${seed[@]}" "$@" --listen "127.0.0.1:$port" 2>"$log" &
    pid=$!
    wait_up "$base/health"
    stop
    echo "   $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
    "$vigie" import --layer departements "$@" "$departements" | tail -1
}
if [[ ! -f $work/.ready-sqlite ]]; then
    rm -rf "$work/sqlite"
    echo "== data: $entries entries into vigie's embedded store"
    seed_store sqlite --data-dir "$work/sqlite"
    touch "$work/.ready-sqlite"
fi
if ((pg_needed)) && [[ ! -f $work/.ready-pg ]]; then
    psql "$pgurl/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
    createdb -h 127.0.0.1 -U postgres "$db"
    sql -c "CREATE EXTENSION postgis"
    # Bounded queries: a tile wrk gave up on does not run for ever.
    sql -c "ALTER DATABASE $db SET statement_timeout = '60s'"
    echo "== data: the same entries into vigie on PostGIS ($db)"
    seed_store pg --database-url "$pgurl/$db"
    rm -f "$work/.ready-table"
    touch "$work/.ready-pg"
fi
if ((pg_needed)) && [[ ! -f $work/.ready-table ]]; then
    echo "== data: PostGIS table load_entries"
    sql <<'SQL'
DROP TABLE IF EXISTS load_entries;
CREATE TABLE load_entries AS
SELECT id,
       title,
       tags ->> 0 AS theme,
       (SELECT string_agg(t, ',' ORDER BY n) FROM jsonb_array_elements_text(tags) WITH ORDINALITY AS a(t, n)) AS tags,
       severity::integer AS severity,
       qualification,
       to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS occurred_at,
       location,
       source,
       author,
       version,
       ST_Transform(geom, 3857)::geometry(Point, 3857) AS geom
FROM entries
WHERE NOT deleted AND qualification <> 'refuted';
ALTER TABLE load_entries ADD PRIMARY KEY (id);
CREATE INDEX load_entries_geom ON load_entries USING gist (geom);
VACUUM ANALYZE load_entries;
SQL
    echo "   $(sql -c 'SELECT count(*) FROM load_entries') rows"
    touch "$work/.ready-table"
fi

# vigie's catalog for the PostGIS runs: the bundled one plus the table layer.
catalog=$work/catalog.toml
cp "$root/data/catalog.toml" "$catalog"
cat >>"$catalog" <<'TOML'

[[layer]]
id = "entries-table"
title = "Main courante (table PostGIS)"
title_en = "Operations log (PostGIS table)"
description = "The load benchmark's table load_entries, served with ST_AsMVT."
theme = "main_courante"
kind = "table"
minzoom = 5
[layer.postgis]
table = "public.load_entries"
id_column = "id"
properties = ["title", "theme", "tags", "severity", "qualification", "occurred_at", "location", "source", "author", "version"]
TOML

martin_config() {
    cat >"$work/martin.yaml" <<YAML
listen_addresses: '127.0.0.1:$port'
postgres:
  connection_string: '$pgurl/$db'
  pool_size: 20
  auto_publish: false
  tables:
    load_entries:
      schema: public
      table: load_entries
      srid: 3857
      geometry_column: geom
      id_column: id
      geometry_type: POINT
      extent: 4096
      buffer: 64
      clip_geom: true
      minzoom: 5
      properties:
        title: text
        theme: text
        tags: text
        severity: int4
        qualification: text
        occurred_at: text
        location: text
        source: text
        author: text
        version: int4
YAML
}

# start SERVER CACHE_MB: starts one server on $port; sets $pid, $log, $tiles (URL template)
# and $layer (its MVT layer name).
start() {
    local server=$1 cache=$2
    log=$work/logs/$server-$cache.log
    case $server in
        vigie-mem)
            "$vigie" serve --data-dir "$work/sqlite" --anonymous-role reader --cache-size-mb "$cache" --listen "127.0.0.1:$port" 2>"$log" &
            tiles="$base/tiles/entries/{z}/{x}/{y}?budget=off"
            layer=entries ;;
        vigie-pg-mem | vigie-table)
            "$vigie" serve --database-url "$pgurl/$db" --anonymous-role reader --catalog "$catalog" --cache-size-mb "$cache" \
                --listen "127.0.0.1:$port" 2>"$log" &
            if [[ $server == vigie-pg-mem ]]; then
                tiles="$base/tiles/entries/{z}/{x}/{y}?budget=off"
                layer=entries
            else
                tiles="$base/tiles/entries-table/{z}/{x}/{y}?budget=off"
                layer=entries-table
            fi ;;
        martin)
            martin_config
            "$martin" --config "$work/martin.yaml" --cache-size "$cache" 2>"$log" >&2 &
            tiles="$base/load_entries/{z}/{x}/{y}"
            layer=load_entries ;;
    esac
    pid=$!
    wait_up "$base/health"
}

paths_for() { # $1 URL template → path file per band: $work/paths-$server-$band.txt
    local server=$1 template=${2#"$base"} name lo hi
    for b in "z8-11 8 11" "z12-14 12 14" "z15-16 15 16"; do
        read -r name lo hi <<<"$b"
        awk -F/ -v lo="$lo" -v hi="$hi" -v t="$template" '$1 >= lo && $1 <= hi {
            p = t; sub(/\{z\}/, $1, p); sub(/\{x\}/, $2, p); sub(/\{y\}/, $3, p); print p }' \
            "$here/trace.txt" >"$work/paths-$server-$name.txt"
    done
}

rss() { awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { printf "%d %d", r / 1024, h / 1024 }' "/proc/$pid/status"; }

results=$work/results.tsv
# APPEND=1 adds to the last run's results (a later row replaces an earlier one in the report).
if [[ ${APPEND:-0} != 1 || ! -f $results ]]; then
    echo -e "server\tpass\tconns\tband\trequests\tseconds\trps\tp50_ms\tp99_ms\tmax_ms\terrors\tbytes_per_response\trss_mib\thwm_mib\tdistinct\trenders" >"$results"
fi

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== trace: $(wc -l <"$here/trace.txt") tiles ($(for b in "8 11" "12 14" "15 16"; do set -- $b; awk -F/ -v lo="$1" -v hi="$2" '$1>=lo && $1<=hi' "$here/trace.txt" | wc -l; done | paste -sd/) in z8-11/z12-14/z15-16)"

# --- 4. same features --------------------------------------------------------------------------
echo "== same features (every 3rd tile of z10+, decoded by check.py)"
# One server at a time (they share the port): each one's tiles into a folder, then compared.
check_dir=$work/check
rm -rf "$check_dir"
mkdir -p "$check_dir"
fetch_args=()
# shellcheck disable=SC2086
(($(wc -w <<<"$servers") > 1)) || echo "   one server: nothing to compare (bytes per tile kept from the last full run)"
for server in $( (($(wc -w <<<"$servers") > 1)) && echo $servers); do
    start "$server" 0
    awk -F/ '$1 >= 10' "$here/trace.txt" | awk 'NR % 3 == 1' | while IFS=/ read -r z x y; do
        mkdir -p "$check_dir/$server/$z/$x"
        url=${tiles/\{z\}/$z}; url=${url/\{x\}/$x}; url=${url/\{y\}/$y}
        curl -sf -o "$check_dir/$server/$z/$x/$y" "$url" || { echo "load/run.sh: $server: $url failed" >&2; exit 1; }
    done
    stop
    wait_db_idle
    fetch_args+=("$server=file://$check_dir/$server/{z}/{x}/{y}:$layer")
done
if [[ ${#fetch_args[@]} -gt 1 ]]; then
    "$python" "$here/check.py" "$here/trace.txt" 3 "${fetch_args[@]}" | tee "$work/check.txt"
    grep '^BYTES' "$work/check.txt" >"$work/bytes.txt" || true
fi

# --- 5. load -----------------------------------------------------------------------------------
# Tiles vigie rendered so far (misses that did not wait for another request's render); "" for
# Martin, which does not count them.
renders_so_far() {
    [[ $1 == vigie* ]] || return 0
    curl -s "$base/metrics" | awk '$1 == "vigie_tile_cache_misses_total" { m = $2 }
        $1 == "vigie_tile_render_joins_total" { j = $2 } END { printf "%d", m - j }'
}

for pass in $passes; do
    cache=0
    [[ $pass != cold ]] && cache=2048
    for server in $servers; do
        start "$server" "$cache"
        used=0 # the process has served no measured run yet
        paths_for "$server" "$tiles"
        if [[ $pass == warm ]]; then
            cat "$work"/paths-"$server"-*.txt | sed "s|^|$base|" | xargs -P 2 -I{} curl -s -o /dev/null {}
        fi
        for c in $conns; do
            threads=$((c < 2 ? 1 : 2))
            replay=()
            if [[ $pass == shared ]]; then
                threads=$c
                replay=(shared)
            fi
            for band in z8-11 z12-14 z15-16; do
                if [[ $pass == shared && $used == 1 ]]; then
                    # A cold cache for every run: a fresh process.
                    stop
                    wait_db_idle
                    start "$server" "$cache"
                fi
                used=1
                wait_db_idle
                before=$(renders_so_far "$server")
                out=$(wrk -t "$threads" -c "$c" -d "${duration}s" --timeout 60s -s "$here/trace.lua" "$base" \
                    -- "$work/paths-$server-$band.txt" "${replay[@]}" | grep '^RESULT' || true)
                [[ -n $out ]] || { echo "load/run.sh: wrk printed no result for $server $band" >&2; exit 1; }
                eval "$(sed 's/^RESULT //' <<<"$out")"
                renders=
                [[ -z $before ]] || renders=$(($(renders_so_far "$server") - before))
                read -r rss_mib hwm_mib <<<"$(rss)"
                line=$(awk -v s="$server" -v p="$pass" -v c="$c" -v b="$band" -v n="$requests" -v d="$duration_us" \
                    -v p50="$p50_us" -v p99="$p99_us" -v mx="$max_us" -v e="$errors" -v by="$bytes" -v r="$rss_mib" -v h="$hwm_mib" \
                    -v dt="$distinct" -v rn="$renders" \
                    'BEGIN { printf "%s\t%s\t%d\t%s\t%d\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%d\t%.0f\t%d\t%d\t%d\t%s", s, p, c, b, n, d / 1e6,
                        n / (d / 1e6), p50 / 1000, p99 / 1000, mx / 1000, e, (n ? by / n : 0), r, h, dt, rn }')
                echo "$line" >>"$results"
                printf '%-13s %-6s c=%-3s %-7s %8s req/s  p50 %8s ms  p99 %8s ms  errors %s%s\n' \
                    "$server" "$pass" "$c" "$band" "$(cut -f7 <<<"$line")" "$(cut -f8 <<<"$line")" "$(cut -f9 <<<"$line")" "$errors" \
                    "${renders:+  renders $renders for $distinct distinct tiles}"
            done
        done
        stop
        wait_db_idle
    done
done

# --- 6. the database's floor: ST_AsMVT alone -----------------------------------------------------
if ((floor)); then
echo "== PostGIS floor: ST_AsMVT of the same tiles with pgbench"
sql <<'SQL'
DROP TABLE IF EXISTS load_trace;
CREATE TABLE load_trace (band text, i integer, z integer, x integer, y integer, PRIMARY KEY (band, i));
SQL
for b in "z8-11 8 11" "z12-14 12 14" "z15-16 15 16"; do
    read -r name lo hi <<<"$b"
    awk -F/ -v lo="$lo" -v hi="$hi" -v n="$name" '$1 >= lo && $1 <= hi { i++; print n "," i "," $1 "," $2 "," $3 }' "$here/trace.txt" \
        | sql -c "COPY load_trace FROM STDIN WITH (FORMAT csv)"
done
for b in z8-11 z12-14 z15-16; do
    count=$(sql -c "SELECT count(*) FROM load_trace WHERE band = '$b'")
    cat >"$work/floor-$b.sql" <<SQL
\set i random(1, $count)
SELECT z, x, y FROM load_trace WHERE band = '$b' AND i = :i \gset
SELECT length(ST_AsMVT(q, 'load_entries', 4096, 'geom', 'id')) FROM (
  SELECT id, title, theme, tags, severity, qualification, occurred_at, location, source, author, version,
         ST_AsMVTGeom(geom, ST_TileEnvelope(:z, :x, :y), 4096, 64, true) AS geom
  FROM load_entries WHERE geom && ST_TileEnvelope(:z, :x, :y, margin => 64.0 / 4096)
) q WHERE geom IS NOT NULL;
SQL
    for c in $conns; do
        wait_db_idle
        rm -f "$work"/pgbench_log.*
        (cd "$work" && pgbench -h 127.0.0.1 -U postgres -n -c "$c" -j "$((c < 2 ? 1 : 2))" -T "$duration" -l \
            -f "$work/floor-$b.sql" "$db" >"$work/logs/pgbench-$b-$c.log" 2>&1) || true
        # Log lines: client, transaction, latency (us), ...
        line=$(cat "$work"/pgbench_log.* 2>/dev/null | awk '{ print $3 }' | sort -n | awk -v b="$b" -v c="$c" -v d="$duration" '
            { v[NR] = $1 }
            END {
                n = NR; i50 = int(n * 0.5); i99 = int(n * 0.99)
                if (i50 < 1) i50 = 1
                if (i99 < 1) i99 = 1
                printf "postgis-floor\tcold\t%d\t%s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t0\t0\t0\t0", c, b, n, d, n / d,
                    v[i50] / 1000, v[i99] / 1000, v[n] / 1000
            }')
        echo "$line" >>"$results"
        printf '%-13s %-5s c=%-3s %-7s %8s req/s  p50 %8s ms  p99 %8s ms\n' postgis-floor cold "$c" "$b" \
            "$(cut -f7 <<<"$line")" "$(cut -f8 <<<"$line")" "$(cut -f9 <<<"$line")"
    done
done
rm -f "$work"/pgbench_log.*
fi

# --- 7. report ---------------------------------------------------------------------------------
"$python" "$here/report.py" "$results" $([[ -f $work/bytes.txt ]] && echo "$work/bytes.txt") | tee "$work/results.md"
echo "== results: $results, $work/results.md; logs in $work/logs"
