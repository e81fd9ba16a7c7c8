#!/usr/bin/env bash
# Situation-report benchmark (issue 16) through HTTP, against the issue's targets: a report
# for the whole of Île-de-France over 24 h of a 1M-entry log compiled to the draft in ≤ 1 s,
# and to the PDF in ≤ 3 s.
#
# Usage: benches/reports.sh
# Environment:
#   PORT=18788        port to listen on (127.0.0.1)
#   ENTRIES=1000000   demo point entries, spread over the region (--demo-region)
#   RUNS=11           requests per measure (the median is reported)
#   KEEP=1            keep the data directory and the server log
#
# Steps:
#   1. cargo build --release -p vigie-tileserver
#   2. vigie import --layer departements (the simplified départements of ../shared/data), then
#      vigie serve --demo --demo-entries $ENTRIES --demo-points-only --demo-region (seeding the
#      embedded store, indexing); wait for /health.
#   3. PUT /api/reports/settings: area = the outline of Île-de-France (région 11 of the
#      simplified régions of ../shared/data), one 1024 × 768 map of it with the default
#      layers; POST /api/reports for 24 h of the Games
#      (2024-08-01T04:00Z to 2024-08-02T04:00Z).
#   4. $RUNS × GET /api/reports/{id}/compiled (a draft: compiled live — figures by theme,
#      severity, qualification and département against the previous 24 h, significant events,
#      hotspots over the 7 days before, sources), median of curl's %{time_total};
#      $RUNS × GET /api/reports/{id}/pdf (compiles, draws the map, typesets), median; one
#      POST …/status validated after review (freezes: compiles, draws and stores the map), and
#      $RUNS × GET …/pdf of the validated report (frozen parts: map read back, typesetting).
set -euo pipefail
trap 'echo "reports.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${PORT:-18788}
entries=${ENTRIES:-1000000}
runs=${RUNS:-11}
base="http://127.0.0.1:$port"
data=$(mktemp -d /tmp/vigie-reports.XXXXXX)
pid=
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    [[ ${KEEP:-0} == 1 ]] || rm -rf "$data"
}
trap cleanup EXIT

if curl -s -o /dev/null "$base/health"; then
    echo "reports.sh: something already listens on port $port; set PORT" >&2
    exit 2
fi

echo "== build"
(cd "$root" && cargo build --release -p vigie-tileserver)
bin=${CARGO_TARGET_DIR:-$root/target}/release/vigie
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

"$bin" import --data-dir "$data" --layer departements \
    "$root/../shared/data/france/departements-version-simplifiee.geojson" >/dev/null
echo "== seeding $entries entries"
VIGIE_LOG=info "$bin" serve --demo --demo-entries "$entries" --demo-points-only --demo-region \
    --data-dir "$data" --listen "127.0.0.1:$port" 2>"$data/serve.log" &
pid=$!
for _ in $(seq 1 90000); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/health" || true) == 200 ]] && break
    kill -0 "$pid" 2>/dev/null || { tail -20 "$data/serve.log" >&2; exit 1; }
    sleep 0.01
done

api() { curl -sf -H 'content-type: application/json' -H 'x-vigie-user: bench' "$@"; }
# The area: Île-de-France's outline (région 11 of the simplified régions).
python3 -c '
import json, sys
regions = json.load(open(sys.argv[1]))
idf = next(f for f in regions["features"] if f["properties"]["code"] == "11")
print(json.dumps({"area": {"geometry": idf["geometry"]},
                  "maps": [{"title": "Île-de-France", "width": 1024, "height": 768}]}))
' "$root/../shared/data/france/regions-version-simplifiee.geojson" >"$data/settings.json"
api -X PUT "$base/api/reports/settings" --data-binary "@$data/settings.json" >/dev/null
id=$(api -X POST "$base/api/reports" \
    -d '{"title": "Bench IdF 24 h", "from": "2024-08-01T04:00:00Z", "to": "2024-08-02T04:00:00Z"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

# Median of $runs timings (seconds) of GET $1, after one warm-up; prints "median min max".
measure() {
    local url=$1 times=()
    curl -sf -o /dev/null "$url"
    for _ in $(seq 1 "$runs"); do
        times+=("$(curl -sf -o /dev/null -w '%{time_total}' "$url")")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%.3f %.3f %.3f", a[int((NR + 1) / 2)], a[1], a[NR] }'
}

summary=$(curl -sf "$base/api/reports/$id/compiled" | python3 -c '
import json, sys
c = json.load(sys.stdin)
f = c["figures"]
print("entries in the period %d, previous %d, %d départements, %d significant events (+%d), %d hotspots of %d cells tested"
      % (f["total"], f["previous_total"], len(f["by_departement"]), len(c["significant"]), c["significant_more"],
         len(c["hotspots"]), c["hotspot_cells_tested"]))')
read -r compile_med compile_min compile_max <<<"$(measure "$base/api/reports/$id/compiled")"
read -r pdf_med pdf_min pdf_max <<<"$(measure "$base/api/reports/$id/pdf")"
pdf_bytes=$(curl -sf "$base/api/reports/$id/pdf" | wc -c)
api -X POST "$base/api/reports/$id/status" -d '{"to": "review"}' >/dev/null
freeze=$(api -o /dev/null -w '%{time_total}' -X POST "$base/api/reports/$id/status" -d '{"to": "validated"}')
read -r frozen_med frozen_min frozen_max <<<"$(measure "$base/api/reports/$id/pdf")"
rss_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")

echo "== $entries entries; report $id: $summary"
printf '%-40s %8s %8s %8s  %s\n' "measure (s, $runs runs)" median min max target
printf '%-40s %8s %8s %8s  %s\n' "draft compiled (GET …/compiled)" "$compile_med" "$compile_min" "$compile_max" "≤ 1 s"
printf '%-40s %8s %8s %8s  %s\n' "draft PDF (GET …/pdf, $pdf_bytes B)" "$pdf_med" "$pdf_min" "$pdf_max" "≤ 3 s"
printf '%-40s %8s %8s %8s\n' "validation (freeze, map stored)" "$freeze" "-" "-"
printf '%-40s %8s %8s %8s\n' "validated PDF (frozen parts)" "$frozen_med" "$frozen_min" "$frozen_max"
echo "== peak resident memory: $((rss_kb / 1024)) MiB; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
