#!/usr/bin/env bash
# What the access log and request ids cost on the hot path: warm composite tiles from servers
# that differ only there, in the same run.
#   Usage: benches/load/logs.sh NEW [OLD]     (release binaries: NEW with the access log, and
#                                              optionally OLD, a build without it)
#
# Starts, each with `--demo` (ENTRIES entries) in its own store and its log (standard error) to a
# file as under a service manager:
#   default  NEW, default log level (an access line for each failed request only)
#   all      NEW with VIGIE_LOG=info,vigie::access=debug (an access line for every request)
#   json     the same as JSON lines (--log-format json)
#   off      NEW with VIGIE_LOG=info,vigie::access=off (request ids, timing, no access line)
#   old      OLD (when given), default log level
# Warms each one's tile cache with one pass over the composite tiles of trace.txt
# (entries,venues,perimeters,entries-h3), then runs ROUNDS rounds of wrk (CONNS connections,
# DURATION s) per server, rotating the order each round. Any non-2xx answer fails the run.
# Prints requests/s per round, the median per server and each median's ratio to `default`, and
# the bytes of log each server wrote per request.
# Environment: ROUNDS (5), DURATION (8), CONNS (32), ENTRIES (25000), PORT (18880 to 18884).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/benches/load
source "$here/compare.sh"
new=${1:?usage: benches/load/logs.sh NEW [OLD]}
old=${2:-}
rounds=${ROUNDS:-5}
duration=${DURATION:-8}
conns=${CONNS:-32}
entries=${ENTRIES:-25000}
port=${PORT:-18880}
for tool in wrk curl; do
    command -v "$tool" >/dev/null || { echo "logs.sh: $tool is missing (apt-get install -y $tool)" >&2; exit 2; }
done
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

modes=(default all json off)
[[ -n $old ]] && modes+=(old)
declare -A base
start() { # mode binary port env-or-empty extra-args...
    local mode=$1 bin=$2 p=$3 env=$4
    shift 4
    mkdir -p "$work/$mode"
    env ${env:+"$env"} "$bin" serve "$@" --demo --demo-entries "$entries" --data-dir "$work/$mode" \
        --listen "127.0.0.1:$p" >/dev/null 2>"$work/$mode.log" &
    pids+=($!)
    base[$mode]=http://127.0.0.1:$p
    wait_healthy "logs.sh: $mode" "${base[$mode]}" "$work/$mode.log"
}
start default "$new" "$port" ""
start all "$new" $((port + 1)) "VIGIE_LOG=info,vigie::access=debug"
start json "$new" $((port + 2)) "VIGIE_LOG=info,vigie::access=debug" --log-format json
start off "$new" $((port + 3)) "VIGIE_LOG=info,vigie::access=off"
[[ -n $old ]] && start old "$old" $((port + 4)) ""

sed 's|^|/tiles/entries,venues,perimeters,entries-h3/|' "$here/trace.txt" >"$work/paths.txt"
for mode in "${modes[@]}"; do
    sed "s|^|${base[$mode]}|" "$work/paths.txt" | xargs -P 2 -I{} curl -s -o /dev/null {}
done
echo "== $("$new" --version) on ${modes[*]}, $entries demo entries; $(wc -l <"$work/paths.txt") composite tiles, caches warm"
echo "== wrk -t2 -c$conns -d${duration}s, $rounds rounds, order rotated each round"

declare -A results served logbytes
for mode in "${modes[@]}"; do served[$mode]=0; done
n=${#modes[@]}
for ((r = 0; r < rounds; r++)); do
    line="round $((r + 1)):"
    for ((k = 0; k < n; k++)); do
        mode=${modes[$(((r + k) % n))]}
        before=$(stat -c %s "$work/$mode.log")
        trace_rps "logs.sh: $mode" "${base[$mode]}" "$work/paths.txt"
        results[$mode]+="$rps "
        logbytes[$mode]=$((${logbytes[$mode]:-0} + $(stat -c %s "$work/$mode.log") - before))
        served[$mode]=$((${served[$mode]} + requests))
        line+=" $mode $rps"
    done
    echo "$line"
done
ref=$(median "${results[default]}")
for mode in "${modes[@]}"; do
    m=$(median "${results[$mode]}")
    per=$(awk -v b="${logbytes[$mode]}" -v n="${served[$mode]}" 'BEGIN {printf "%.0f", (n > 0) ? b / n : 0}')
    printf '%-7s median %8.0f req/s   %s x default   log %s bytes/request\n' "$mode" "$m" \
        "$(awk -v a="$m" -v b="$ref" 'BEGIN {printf "%.3f", a / b}')" "$per"
done
