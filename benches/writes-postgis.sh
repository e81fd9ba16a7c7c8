#!/usr/bin/env bash
# Log writes on PostGIS: `write_load` with 8 and 64 clients against one release `vigie serve
# --demo` on a fresh PostgreSQL database, then through replica A with write-to-visible measured
# on replica B (two processes, one database); then the same with `database.commits_in_flight =
# 2`; then, for scale, the embedded store (SQLite) at 8 and 64 clients. With OLD_VIGIE, the
# PostGIS passes against that binary in the same run.
#
# Usage: benches/writes-postgis.sh [OLD_VIGIE]
# Environment: VIGIE_BENCH_PG (default postgres://postgres@127.0.0.1:5432), SECONDS_EACH
# (default 15), SAMPLES (write-to-visible samples, default 300).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
old=${1:-}
pg=${VIGIE_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
seconds=${SECONDS_EACH:-15}
samples=${SAMPLES:-300}
cargo build --release -p vigie-tileserver -p vigie-benches --manifest-path "$root/Cargo.toml" 2> /dev/null
bin=${CARGO_TARGET_DIR:-$root/target}/release
source "$root/benches/load/compare.sh"   # wait_healthy

db=vigie_writes_bench
pids=()
dirs=()
stop_all() {
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    pids=()
}
trap 'stop_all; rm -rf "${dirs[@]}"' EXIT

fresh_db() {
    psql "$pg/postgres" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    psql "$pg/$db" -q -c "CREATE EXTENSION postgis"
}

# serve BINARY PORT [ARGS...]: a server on the bench database, in the background.
serve() {
    local vigie=$1 port=$2
    shift 2
    local dir
    dir=$(mktemp -d /tmp/vigie-writes.XXXXXX)
    dirs+=("$dir")
    # The per-identity write limit (binaries that have it) would measure itself, not the store.
    local unlimited=()
    "$vigie" serve --help | grep -q -- --writes-per-second && unlimited=(--writes-per-second 0)
    env VIGIE_LOG=warn DATABASE_URL="$pg/$db" ${config:+VIGIE_CONFIG="$config"} "$vigie" serve --listen "127.0.0.1:$port" --data-dir "$dir" \
        "${unlimited[@]}" "$@" 2> "$dir/log" &
    pids+=($!)
    wait_healthy "$vigie" "http://127.0.0.1:$port" "$dir/log"
}

pass() { # LABEL BINARY
    local label=$1 vigie=$2
    for clients in 8 64; do
        fresh_db
        serve "$vigie" 18431 --demo
        echo "== $label, one server, $clients clients"
        "$bin/write_load" http://127.0.0.1:18431 "$clients" "$seconds" "$samples"
        stop_all
    done
    fresh_db
    serve "$vigie" 18431 --demo
    serve "$vigie" 18432 --anonymous-role reader
    echo "== $label, writes through A, write-to-visible on B, 8 clients"
    "$bin/write_load" http://127.0.0.1:18431 8 "$seconds" "$samples" http://127.0.0.1:18432
    stop_all
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores; PostgreSQL $(psql "$pg/postgres" -Atc 'SHOW server_version')"
config=
pass new "$bin/vigie"
config=$(mktemp /tmp/vigie-writes.XXXXXX.toml)
dirs+=("$config")
printf '[database]\ncommits_in_flight = 2\n' > "$config"
pass "new, commits_in_flight = 2" "$bin/vigie"
config=
for clients in 8 64; do
    dir=$(mktemp -d /tmp/vigie-writes.XXXXXX)
    dirs+=("$dir")
    VIGIE_LOG=warn "$bin/vigie" serve --listen 127.0.0.1:18431 --data-dir "$dir" --demo 2> "$dir/log" &
    pids+=($!)
    wait_healthy "$bin/vigie" http://127.0.0.1:18431 "$dir/log"
    echo "== new, embedded store (SQLite), $clients clients"
    "$bin/write_load" http://127.0.0.1:18431 "$clients" "$seconds" "$samples"
    stop_all
done
[[ -n $old ]] && pass old "$old"
psql "$pg/postgres" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
