#!/usr/bin/env bash
# Staffing benchmark (issue 17) through HTTP, at a national command centre's size: 1,300
# officers, 40 directorates, 300 positions, 4 alert levels, 6 weeks of three 8-hour shifts
# (the instance of benches/benches/staffing.rs, written by the staffing_instance binary).
#
# Usage: benches/staffing.sh
# Environment:
#   PORT=18789   port to listen on (127.0.0.1)
#   RUNS=21      requests per measure (the median is reported)
#   KEEP=1       keep the data directory and the server log
#
# Steps:
#   1. cargo build --release -p vigie-tileserver -p vigie-benches --bin vigie --bin staffing_instance
#   2. vigie serve --demo --demo-entries 1000 on the embedded store; the plan and the 1,300
#      officers through the API (PUT /api/staffing/plan, POST /api/staffing/people as CSV);
#      the six weeks filled at "vigilance renforcée" by suggestions, applied and confirmed a
#      week at a time (about 50,000 assignments).
#   3. Measures (median of $RUNS, curl's %{time_total}): the gap report at "crise" over the
#      six weeks, kept and right after a change (applied to the roster in memory, the report
#      computed again); a status change; one assignment asked (rules checked: 201 or 422); a suggestion run at "crise" over the
#      six weeks (not applied); a level change (logged in the operations log before the 201)
#      and the time until another connection's gap report shows it.
#   4. wrk, 64 connections, 10 s, gzip accepted: the gap report the web view asks for
#      (GET /api/staffing/gaps?days=3, the level in effect), and the staffing tile of Paris
#      at z10 (cache on), while an assignment changes twice a second.
set -euo pipefail
trap 'echo "staffing.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${PORT:-18789}
runs=${RUNS:-21}
base="http://127.0.0.1:$port"
data=$(mktemp -d /tmp/vigie-staffing.XXXXXX)
pid=
writer=
cleanup() {
    [[ -n $writer ]] && kill "$writer" 2>/dev/null || true
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    [[ ${KEEP:-0} == 1 ]] || rm -rf "$data"
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "staffing.sh: needs wrk (apt-get install -y wrk)" >&2; exit 2; }
if curl -s -o /dev/null "$base/health"; then
    echo "staffing.sh: something already listens on port $port; set PORT" >&2
    exit 2
fi

echo "== build"
(cd "$root" && cargo build --release -p vigie-tileserver -p vigie-benches --bin vigie --bin staffing_instance)
target=${CARGO_TARGET_DIR:-$root/target}/release
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
VIGIE_LOG=info "$target/vigie" serve --demo --demo-entries 1000 --data-dir "$data" --listen "127.0.0.1:$port" \
    2>"$data/serve.log" >/dev/null &
pid=$!
for _ in $(seq 1 3000); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/health" || true) == 200 ]] && break
    kill -0 "$pid" 2>/dev/null || { tail -20 "$data/serve.log" >&2; exit 1; }
    sleep 0.01
done

api() { curl -sf -H 'content-type: application/json' -H 'x-vigie-user: chef' "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
venues=$(curl -sf "$base/ogc/collections/venues/items?limit=1000" | json '" ".join(f["properties"]["code"] for f in d["features"])')
# shellcheck disable=SC2086
"$target/staffing_instance" "$data" $venues
version=$(curl -sf "$base/api/staffing" | json 'd["plan_version"]')
api -X PUT -H "if-match: \"$version\"" "$base/api/staffing/plan" --data-binary "@$data/plan.json" >/dev/null
curl -sf -H 'content-type: text/csv' -X POST "$base/api/staffing/people" --data-binary "@$data/people.csv" >/dev/null
day=$(python3 -c 'import datetime; print(datetime.date.today() + datetime.timedelta(days=1))')
echo "== filling six weeks from $day at 'vigilance renforcée'"
t0=$(date +%s.%N)
for week in 0 1 2 3 4 5; do
    from=$(python3 -c "import datetime; print(datetime.date.fromisoformat('$day') + datetime.timedelta(days=7*$week))")
    ids=$(api -X POST "$base/api/staffing/suggestions" \
        -d "{\"level\": \"vigilance renforcée\", \"from\": \"$from\", \"days\": 7, \"apply\": true}" | json 'json.dumps({"ids": d["applied"]})')
    echo "$ids" | api -X POST "$base/api/staffing/assignments/confirm" --data-binary @- >/dev/null
done
fill=$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")
count=$(curl -sf "$base/api/staffing/assignments?from=$day&days=42" | json 'len(d["assignments"])')
echo "== $count assignments in $fill s"

# Median, min, max of $runs timings (seconds) of a command printing curl's %{time_total}.
stats() { sort -n | awk '{ a[NR] = $1 } END { printf "%.4f %.4f %.4f", a[int((NR + 1) / 2)], a[1], a[NR] }'; }
gaps="$base/api/staffing/gaps?level=crise&from=$day&days=42&limit=100"
curl -sf -o /dev/null "$gaps"
read -r warm_med warm_min warm_max <<<"$(for _ in $(seq 1 "$runs"); do curl -sf -o /dev/null -w '%{time_total}\n' "$gaps"; done | stats)"
summary=$(curl -sf "$gaps" | json '"needed %d, confirmed %d, short %d in %d slots; one level up: %d more short" % (d["totals"]["needed"], d["totals"]["confirmed"], d["totals"]["short"], d["gaps_total"], d["raise"]["extra_short"])')
# After a change: one declined then confirmed again, then the report (the roster read again).
aid=$(curl -sf "$base/api/staffing/assignments?from=$day&days=1" | json 'd["assignments"][0]["id"]')
pairs=$(for i in $(seq 1 "$runs"); do
    status=$([[ $((i % 2)) == 1 ]] && echo declined || echo confirmed)
    p=$(api -o /dev/null -w '%{time_total}' -X PATCH "$base/api/staffing/assignments/$aid" -d "{\"status\": \"$status\"}")
    echo "$p $(curl -sf -o /dev/null -w '%{time_total}' "$gaps")"
done)
read -r patch_med patch_min patch_max <<<"$(echo "$pairs" | cut -d' ' -f1 | stats)"
read -r cold_med cold_min cold_max <<<"$(echo "$pairs" | cut -d' ' -f2 | stats)"
# One assignment: an officer on a shift four weeks ahead (201, or 422 with the rules it breaks),
# then removed (not timed).
far=$(python3 -c "import datetime; print(datetime.date.fromisoformat('$day') + datetime.timedelta(days=30))")
read -r assign_med assign_min assign_max <<<"$(for i in $(seq 1 "$runs"); do
    n=$((i * 37 % 1300 + 1))
    # Officer n and position k share a directorate when n and k are equal modulo 40.
    p=$(printf 'o%05d' "$n")
    pos=$(printf 'p%04d' $(((n - 1) % 40 + 1)))
    out=$(api -w ' %{time_total}' -X POST "$base/api/staffing/assignments" \
        -d "{\"person\": \"$p\", \"position\": \"$pos\", \"day\": \"$far\", \"shift\": \"nuit\", \"status\": \"proposed\"}" || true)
    echo "${out##* }"
    id=$(echo "${out% *}" | python3 -c 'import json,sys
try: print(json.load(sys.stdin).get("id") or "")
except Exception: print("")')
    [[ -n $id ]] && curl -sf -o /dev/null -X DELETE "$base/api/staffing/assignments/$id"
done | stats)"
suggest=$(api -o /dev/null -w '%{time_total}' -X POST "$base/api/staffing/suggestions" -d "{\"level\": \"crise\", \"from\": \"$day\", \"days\": 42}")
open=$(api -X POST "$base/api/staffing/suggestions" -d "{\"level\": \"crise\", \"from\": \"$day\", \"days\": 42}" | json '"%d open slots, %d filled" % (d["open"], d["filled"])')
# A level change: the 201 (entry logged), then until another connection's report shows it.
level_times=$(for level in crise veille crise veille crise veille crise veille crise veille crise; do
    t=$(date +%s.%N)
    api -o /dev/null -X POST "$base/api/staffing/level" -d "{\"level\": \"$level\", \"reason\": \"bench\"}"
    t1=$(date +%s.%N)
    until [[ $(curl -sf "$base/api/staffing/gaps?days=1&limit=0" | json 'd["level"]["name"]') == "$level" ]]; do :; done
    t2=$(date +%s.%N)
    python3 -c "print(f'{$t1 - $t:.4f} {$t2 - $t:.4f}')"
done)
read -r level_med _ _ <<<"$(echo "$level_times" | cut -d' ' -f1 | stats)"
read -r seen_med _ seen_max <<<"$(echo "$level_times" | cut -d' ' -f2 | stats)"

echo "== $summary"
printf '%-58s %8s %8s %8s  %s\n' "measure (s, $runs runs)" median min max target
printf '%-58s %8s %8s %8s  %s\n' "gap report, crise, 6 weeks (answer kept)" "$warm_med" "$warm_min" "$warm_max" "≤ 0.050"
printf '%-58s %8s %8s %8s\n' "a status change (write, applied in memory, announced)" "$patch_med" "$patch_min" "$patch_max"
printf '%-58s %8s %8s %8s  %s\n' "gap report right after it (computed again)" "$cold_med" "$cold_min" "$cold_max" "≤ 0.050"
printf '%-58s %8s %8s %8s\n' "one assignment asked (rules checked: 201 or 422)" "$assign_med" "$assign_min" "$assign_max"
printf '%-58s %8s %8s %8s  %s\n' "suggestion run, crise, 6 weeks ($open)" "$suggest" - - "≤ 2"
printf '%-58s %8s %8s %8s\n' "level change, 201 with its log entry" "$level_med" - -
printf '%-58s %8s %8s %8s  %s\n' "level change seen by another connection's gap report" "$seen_med" - "$seen_max" "≤ 1"

echo "== wrk, 64 connections, 10 s, one assignment change a second meanwhile"
(while true; do
    api -o /dev/null -X PATCH "$base/api/staffing/assignments/$aid" -d '{"status": "declined"}' || true
    api -o /dev/null -X PATCH "$base/api/staffing/assignments/$aid" -d '{"status": "confirmed"}' || true
    sleep 1
done) &
writer=$!
wrk -t2 -c64 -d10s --latency -H 'Accept-Encoding: gzip' "$base/api/staffing/gaps?days=3" | grep -E 'Requests/sec|50%|99%|Non-2xx' | sed 's/^/  gaps  /'
wrk -t2 -c64 -d10s --latency -H 'Accept-Encoding: gzip' "$base/tiles/staffing/10/518/352" | grep -E 'Requests/sec|50%|99%|Non-2xx' | sed 's/^/  tiles /'
rss_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
echo "== peak resident memory: $((rss_kb / 1024)) MiB; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
