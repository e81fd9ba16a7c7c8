#!/usr/bin/env bash
# The reproduction of issue 21, as a check: a room of users opening the same view.
#   Usage: benches/load/herd.sh [path/to/vigie]     (default: builds and runs target/release/vigie)
#
# Starts `vigie serve --demo` (25,000 entries, tile cache on, fresh store), then for $DURATION
# seconds runs wrk -t2 -c64 with tiles-herd.lua (every connection walks the same 2,000 composite
# tiles entries,venues,perimeters,entries-h3 over Paris, z11-15), and meanwhile:
#   - GET /health every 0.2 s: each must answer 200 within 2 s;
#   - POST /api/entries in the middle of the run: it must answer 201 within 5 s, and the next
#     z15 composite tile holding it must contain its id (decoded by mapbox-vector-tile).
# Prints wrk's figures, the health answers, and renders per distinct tile from /metrics; exits
# 1 on any failure (0 requests, an error, a hung health check or write, a missing entry).
# Environment: DURATION (10), CONNS (64), PORT (18871), PYTHON (tests/.venv/bin/python).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
duration=${DURATION:-10}
conns=${CONNS:-64}
port=${PORT:-18871}
base=http://127.0.0.1:$port
python=${PYTHON:-$root/tests/.venv/bin/python}
for tool in wrk curl; do
    command -v "$tool" >/dev/null || { echo "herd.sh: $tool is missing (apt-get install -y $tool)" >&2; exit 2; }
done
"$python" -c 'import mapbox_vector_tile' 2>/dev/null \
    || { echo "herd.sh: $python lacks mapbox-vector-tile: run tests/run once (it makes tests/.venv)" >&2; exit 2; }
source "$root/benches/load/single.sh" herd.sh "${1:-}"
start_vigie --demo --data-dir "$work/data" --listen "127.0.0.1:$port"
echo "== $("$vigie" --version 2>/dev/null || echo vigie) on $base, demo loaded; wrk -t2 -c$conns -d${duration}s"

fail=0
# Health every 0.2 s during the run.
(
    ok=0 bad=0
    end=$((SECONDS + duration))
    while ((SECONDS < end)); do
        code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$base/health" || true)
        [[ $code != 000 ]] || code="no answer within 2 s"
        if [[ $code == 200 ]]; then ok=$((ok + 1)); else bad=$((bad + 1)); echo "   /health: $code" >&2; fi
        sleep 0.2
    done
    echo "$ok $bad" >"$work/health"
) &
health=$!
# One write in the middle of the run, then the tile holding it.
(
    sleep "$((duration / 2))"
    body='{"title":"Herd check","severity":3,"tags":["public-order"],"lon":2.3522,"lat":48.8566,"occurred_at":"2024-08-02T20:15:00+02:00"}'
    answer=$(curl -s -m 5 -w '\n%{http_code}' -H 'content-type: application/json' -H 'x-vigie-user: herd.sh' \
        -d "$body" "$base/api/entries" || true)
    code=${answer##*$'\n'}
    id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"${answer%$'\n'*}" | head -1)
    # z15 tile of 2.3522, 48.8566: 16598/11273.
    curl -s -m 5 -o "$work/tile.mvt" "$base/tiles/entries,venues,perimeters,entries-h3/15/16598/11273" || true
    found=$("$python" - "$work/tile.mvt" "${id:-0}" <<'PY'
import os, sys, mapbox_vector_tile
data = open(sys.argv[1], "rb").read() if os.path.exists(sys.argv[1]) else b""
tile = mapbox_vector_tile.decode(data) if data else {}
ids = {f.get("id") for layer in tile.values() for f in layer["features"]}
print("yes" if int(sys.argv[2]) in ids else "no")
PY
)
    [[ $code != 000 ]] || code="none within 5 s"
    echo "${code// /_} ${id:-none} $found" >"$work/write"
) &
write=$!

out=$(wrk -t2 -c"$conns" -d"${duration}s" --timeout 10s --latency -s "$root/benches/load/tiles-herd.lua" "$base" 2>&1) || true
echo "$out" | sed 's/^/   /'
wait "$health" "$write" || true
read -r h_ok h_bad <"$work/health"
read -r w_code w_id w_found <"$work/write"
metrics=$(curl -s -m 5 "$base/metrics" || true)
misses=$(awk '$1 == "vigie_tile_cache_misses_total" { print $2 }' <<<"$metrics")
joins=$(awk '$1 == "vigie_tile_render_joins_total" { print $2 }' <<<"$metrics")
requests=$(awk '/requests in/ { print $1 }' <<<"$out")
echo "== /health during the run: $h_ok answered 200, $h_bad did not"
echo "== write during the run: status $w_code, entry $w_id in the next z15 tile: $w_found"
if [[ -n $misses && -n $joins ]]; then
    echo "== renders: $((${misses%.*} - ${joins%.*})) for at most 2000 distinct tiles; $joins requests waited for another's render"
fi
[[ ${requests:-0} -gt 0 ]] || { echo "FAIL: no request completed" >&2; fail=1; }
grep -qE 'Socket errors|Non-2xx' <<<"$out" && { echo "FAIL: wrk saw errors" >&2; fail=1; }
[[ $h_bad == 0 && $h_ok -gt 0 ]] || { echo "FAIL: /health did not answer every time" >&2; fail=1; }
[[ $w_code == 201 && $w_found == yes ]] || { echo "FAIL: the write did not answer 201 or is not in the next tile" >&2; fail=1; }
curl -s -m 2 -o /dev/null "$base/health" || { echo "FAIL: /health no longer answers after the run" >&2; fail=1; }
((fail == 0)) && echo "== PASS"
exit "$fail"
