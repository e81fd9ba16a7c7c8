#!/usr/bin/env bash
# Start-up benchmark of `vigie serve` through HTTP, against the issue's targets:
# 1 000 000 point entries loaded and served within 10 s of start, under 1 GB resident memory,
# and a cold z12 tile over central Paris under 5 ms.
#
# Usage: benches/startup.sh [DATA_DIR]
#   DATA_DIR  a directory that does not exist yet or is empty (default: a fresh
#             mktemp -d /tmp/vigie-startup.XXXXXX, removed at the end unless KEEP=1)
# Environment:
#   PORT=18787        port to listen on (127.0.0.1)
#   ENTRIES=1000000   demo entries (points only)
#   KEEP=1            keep the data directory and the server logs
#   VIGIE_BIN=PATH    measure this binary instead of building one (another commit's build)
# The seed run may take 900 s plus 1 s per 5,000 entries, the restart 300 s plus 1 s per 20,000.
#
# Steps:
#   1. cargo build --release -p vigie-tileserver
#   2. seed run: vigie serve --demo --demo-entries $ENTRIES --demo-points-only on the empty
#      store (writes the entries into the embedded SQLite store, then indexes them); time until
#      GET /health answers 200; stop with SIGTERM.
#   3. measured run: vigie serve on the existing store (no seeding). From process start: time
#      until /health answers 200, then GET /tiles/entries/12/2074/1409.mvt (first request: a
#      cold, uncached render) until it answers 200; VmRSS and VmHWM from /proc/PID/status right
#      after; then the same tile again (a cache hit). Tile times are curl's %{time_total}.
# Readiness is polled every 10 ms, so start-up times are +-10 ms. The load average is printed
# with the figures: other builds on the machine slow them down.
set -euo pipefail
trap 'echo "startup.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${PORT:-18787}
entries=${ENTRIES:-1000000}
base="http://127.0.0.1:$port"
tile_path="/tiles/entries/12/2074/1409.mvt"

if [[ $# -ge 1 ]]; then
    data=$1
    if [[ -e $data && -n $(ls -A "$data") ]]; then
        echo "startup.sh: $data is not empty; give a new or empty directory" >&2
        exit 2
    fi
    mkdir -p "$data"
    created=0
else
    data=$(mktemp -d /tmp/vigie-startup.XXXXXX)
    created=1
fi
logs=$data.logs
mkdir -p "$logs"

pid=
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    if [[ ${KEEP:-0} != 1 ]]; then
        [[ $created == 1 ]] && rm -rf "$data"
        rm -rf "$logs"
    fi
}
trap cleanup EXIT

if curl -s -o /dev/null "$base/health"; then
    echo "startup.sh: something already listens on port $port; set PORT" >&2
    exit 2
fi

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# Waits until GET $1 answers 200 while the server is alive; gives up after $2 seconds.
wait_200() {
    local url=$1 limit=$2 start
    start=$(now)
    until [[ $(curl -s -o /dev/null -w '%{http_code}' "$url" || true) == 200 ]]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "startup.sh: vigie exited before $url answered; log:" >&2
            tail -20 "$logs"/*.log >&2
            exit 1
        fi
        if (($(awk -v a="$start" -v b="$(now)" -v l="$limit" 'BEGIN { print (b - a > l) }'))); then
            echo "startup.sh: $url did not answer 200 within $limit s" >&2
            exit 1
        fi
        sleep 0.01
    done
}

stop() {
    kill -TERM "$pid"
    wait "$pid" || true
    pid=
}

# Field $3 (e.g. seconds) of the last line of log $1 containing $2, colour codes removed;
# empty when there is no such line.
log_field() {
    sed 's/\x1b\[[0-9;]*m//g' "$1" | grep "$2" | tail -1 | grep -o "$3=[0-9.]*" | head -1 | cut -d= -f2 || true
}

if [[ -n ${VIGIE_BIN:-} ]]; then
    bin=$VIGIE_BIN
else
    echo "== build"
    (cd "$root" && cargo build --release -p vigie-tileserver)
    bin=${CARGO_TARGET_DIR:-$root/target}/release/vigie
fi

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== seed run: $entries point entries into $data"
t_seed0=$(now)
VIGIE_LOG=info "$bin" serve --demo --demo-entries "$entries" --demo-points-only \
    --data-dir "$data" --listen "127.0.0.1:$port" 2>"$logs/seed.log" &
pid=$!
wait_200 "$base/health" $((900 + entries / 5000))
t_seed=$(now)
stop
seed_write=$(log_field "$logs/seed.log" "demo data written" seconds)
seed_index=$(log_field "$logs/seed.log" "index loaded" seconds)
store_size=$(du -sh "$data" | cut -f1)

echo "== measured run: existing store, no seeding"
t0=$(now)
VIGIE_LOG=info "$bin" serve --data-dir "$data" --anonymous-role reader --listen "127.0.0.1:$port" 2>"$logs/serve.log" &
pid=$!
wait_200 "$base/health" $((300 + entries / 20000))
t_health=$(now)
cold=$(curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}' "$base$tile_path")
t_tile=$(now)
read -r cold_code cold_s cold_bytes <<<"$cold"
if [[ $cold_code != 200 ]]; then
    echo "startup.sh: $tile_path answered $cold_code" >&2
    exit 1
fi
rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
hit=$(curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}' "$base$tile_path")
read -r hit_code hit_s hit_bytes <<<"$hit"
indexed=$(log_field "$logs/serve.log" "index loaded" entries)
index_s=$(log_field "$logs/serve.log" "index loaded" seconds)
stop

ready_s=$(secs "$t0" "$t_tile")
two() { if [[ -n $1 ]]; then awk -v s="$1" 'BEGIN { printf "%.2f", s }'; else echo "?"; fi; }
ms() { awk -v s="$1" 'BEGIN { printf "%.2f", s * 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
# "1 GB" is 10^9 bytes = 976 562 KiB (VmRSS and VmHWM are in KiB).
verdict() { if (($(awk -v a="$1" -v b="$2" 'BEGIN { print (a < b) }'))); then echo met; else echo "NOT met"; fi; }

echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%-52s %14s  %s\n' "measure" "value" "target"
printf '%-52s %14s  %s\n' "seed run: start -> /health 200 (write + index)" "$(secs "$t_seed0" "$t_seed") s" ""
printf '%-52s %14s  %s\n' "  of which writing the store (log)" "$(two "$seed_write") s" ""
printf '%-52s %14s  %s\n' "  of which loading the index (log)" "$(two "$seed_index") s" ""
printf '%-52s %14s  %s\n' "store size on disk" "$store_size" ""
printf '%-52s %14s  %s\n' "entries indexed on restart" "${indexed:-?}" "$entries"
printf '%-52s %14s  %s\n' "restart: start -> /health 200" "$(secs "$t0" "$t_health") s" ""
printf '%-52s %14s  %s\n' "  of which loading the index from the store (log)" "$(two "$index_s") s" ""
printf '%-52s %14s  %s\n' "restart: start -> /health 200 and z12 tile 200" "$ready_s s" \
    "< 10 s: $(verdict "$ready_s" 10)"
printf '%-52s %14s  %s\n' "VmRSS after the first tile" "$(mib "$rss_kb") MiB" \
    "< 1 GB: $(verdict "$rss_kb" 976562)"
printf '%-52s %14s  %s\n' "VmHWM (peak RSS) after the first tile" "$(mib "$hwm_kb") MiB" \
    "< 1 GB: $(verdict "$hwm_kb" 976562)"
printf '%-52s %14s  %s\n' "z12 tile $tile_path, cold (curl)" "$(ms "$cold_s") ms" \
    "< 5 ms: $(verdict "$cold_s" 0.005) ($cold_bytes bytes)"
printf '%-52s %14s  %s\n' "z12 tile, second request, cache hit (curl)" "$(ms "$hit_s") ms" \
    "($hit_code, $hit_bytes bytes)"
