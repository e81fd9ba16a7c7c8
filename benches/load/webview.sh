#!/usr/bin/env bash
# Tile budgets under load (issue 18): the composite tile the web view asks for when it opens
# (its default visible layers: venues, perimeters and the five default theme layers), replayed
# over the recorded flight (trace.txt, z8-16) against vigie on its embedded store, cold (no
# tile cache), each connection at its own place in the trace; once with the tile budget (what
# the web view gets) and once raw (budget=off), at 1, 8 and 64 connections.
#   Usage: benches/load/webview.sh        (documented in benches/README.md, "Tile budgets")
# Prints, per pass: requests/s, p50/p99/max latency, errors, mean and largest response bytes
# (the largest over every tile of the trace, fetched once with curl), peak resident memory.
# Environment: WORK (/tmp/vigie-load; the store is made once in $WORK/webview, FRESH=1 remakes
# it), ENTRIES (1000000), DURATION (10 s per run), CONNS ("1 8 64"), PASSES ("budget raw").
# Needs: cargo, wrk, curl.
set -euo pipefail
# Failed requests only in the access log: hundreds of thousands of tile requests a minute would
# write gigabytes of it (what the access log costs a request: benches/load/logs.sh).
export VIGIE_LOG=${VIGIE_LOG:-info,vigie::access=warn}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/benches/load
work=${WORK:-/tmp/vigie-load}
entries=${ENTRIES:-1000000}
duration=${DURATION:-10}
conns=${CONNS:-"1 8 64"}
passes=${PASSES:-"budget raw"}
port=${PORT:-8097}
base=http://127.0.0.1:$port
layers=venues,perimeters,public-order,transport,health,fire-rescue,crowd
mkdir -p "$work/logs"
target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release --locked -p vigie-tileserver >&2)
vigie=$target/release/vigie

# shellcheck source=lib.sh
source "$here/lib.sh"
log=$work/logs/webview-seed.log

seed_points "$work/webview"

echo "== machine: $(nproc) cores; trace: $(wc -l <"$here/trace.txt") tiles z8-16; composite $layers"
printf '%-6s %5s %9s %8s %8s %9s %6s %11s %11s %8s\n' pass conns req/s p50_ms p99_ms max_ms errors mean_bytes max_bytes hwm_mib
for pass in $passes; do
    query=""
    [[ $pass == raw ]] && query="?budget=off"
    log=$work/logs/webview-$pass.log
    "$vigie" serve --data-dir "$work/webview" --anonymous-role reader --cache-size-mb 0 --listen "127.0.0.1:$port" \
        2>"$log" &
    pid=$!
    wait_up "$base/health"
    awk -v q="$query" -v l="$layers" -F/ 'NF == 3 { printf "/tiles/%s/%s/%s/%s%s\n", l, $1, $2, $3, q }' \
        "$here/trace.txt" >"$work/webview-$pass.txt"
    # The largest response over the whole trace (once, one connection).
    largest=$(sed "s|^|$base|" "$work/webview-$pass.txt" | xargs -P 2 -n 1 curl -s -o /dev/null -w '%{size_download}\n' |
        sort -n | tail -1)
    for c in $conns; do
        threads=$((c < 2 ? 1 : 2))
        out=$(wrk -t "$threads" -c "$c" -d "${duration}s" --timeout 60s -s "$here/trace.lua" "$base" \
            -- "$work/webview-$pass.txt" 2>&1 | grep '^RESULT' || true)
        [[ -n $out ]] || { echo "webview.sh: wrk printed no result" >&2; exit 1; }
        hwm=$(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$pid/status")
        echo "$out" | awk -v pass="$pass" -v c="$c" -v largest="$largest" -v hwm="$hwm" '{
            for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            printf "%-6s %5d %9.1f %8.1f %8.1f %9.1f %6d %11d %11d %8d\n", pass, c,
                v["requests"] / (v["duration_us"] / 1e6), v["p50_us"] / 1e3, v["p99_us"] / 1e3, v["max_us"] / 1e3,
                v["errors"], v["bytes"] / (v["requests"] ? v["requests"] : 1), largest, hwm }'
    done
    stop
done
