#!/usr/bin/env bash
# What a catalog change costs while the room works: `vigie serve` (release) on the demo with
# ENTRIES point entries; a reader fetches tiles and a writer creates entries without pause while
# an admin adds, changes and removes a layer (PUT/DELETE /api/catalog/layers/...), then stores
# a style of the workspace's own and its own sources (PUT /api/styles/bench, PUT
# /api/sources/config, a source reading the départements from the workspace's folder).
#
# Usage: benches/catalog.sh
# Environment:
#   PORT=18788       port to listen on (127.0.0.1)
#   ENTRIES=25000    demo entries (points only, spread over the region)
#   ROUNDS=3         add + change + remove rounds
#
# Prints, per change: the time until the answer (the new workspace state is built from the
# store and swapped in before it answers), VmRSS before and VmHWM (peak) of the process; the
# time of each style and sources change, and from the first sources change until its dataset
# is served (`/catalog` counts its 96 features); then
# the tiles and writes served during the whole run and how many failed (any status other than
# 200/204 for tiles, 201 for writes). The load average is printed with the figures.
set -euo pipefail
trap 'echo "catalog.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${PORT:-18788}
entries=${ENTRIES:-25000}
rounds=${ROUNDS:-3}
base="http://127.0.0.1:$port"
data=$(mktemp -d /tmp/vigie-catalog.XXXXXX)

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT

if curl -s -o /dev/null "$base/health"; then
    echo "catalog.sh: something already listens on port $port; set PORT" >&2
    exit 2
fi

cargo build --release --locked -p vigie-tileserver --bin vigie --manifest-path "$root/Cargo.toml" >&2
VIGIE_LOG=${VIGIE_LOG:-info} "$root/target/release/vigie" serve --listen "127.0.0.1:$port" --data-dir "$data" \
    --demo --demo-entries "$entries" --demo-points-only --demo-region --writes-per-second 0 2>"$data/server.log" &
server=$!
pids+=("$server")
until curl -sf -o /dev/null "$base/health"; do
    kill -0 "$server" 2>/dev/null || { tail -20 "$data/server.log" >&2; exit 1; }
    sleep 0.1
done

mem() { awk -v k="$1" '$1 == k":" { printf "%.0f MiB", $2 / 1024 }' "/proc/$server/status"; }
now() { date +%s.%N; }

# The room: a reader over a few central-Paris tiles (uncached after each change), a writer.
stop=$data/stop
reader() {
    local ok=0 bad=0 code
    while [[ ! -e $stop ]]; do
        for t in 12/2074/1409 12/2075/1409 13/4149/2818 11/1037/704; do
            code=$(curl -s -o /dev/null -w '%{http_code}' "$base/tiles/entries,public-order/$t.mvt" || echo 000)
            if [[ $code == 200 || $code == 204 ]]; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
        done
    done
    echo "tiles $ok ok $bad failed" >"$data/reader.out"
}
writer() {
    local ok=0 bad=0 code
    while [[ ! -e $stop ]]; do
        code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -H 'x-vigie-user: bench' \
            -d '{"title":"bench","severity":1,"tags":["cyber"],"lon":2.35,"lat":48.85}' "$base/api/entries" || echo 000)
        if [[ $code == 201 ]]; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
    done
    echo "writes $ok ok $bad failed" >"$data/writer.out"
}
reader &
pids+=($!)
writer &
pids+=($!)
sleep 1

layer='{"title":"Bench","title_en":"Bench","theme":"cyber","kind":"entries","tags":["cyber"],"minzoom":8}'
change() {
    local method=$1 body=${2:-} t0 t1 code
    t0=$(now)
    if [[ -n $body ]]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' -X "$method" -H 'content-type: application/json' -d "$body" \
            "$base/api/catalog/layers/bench")
    else
        code=$(curl -s -o /dev/null -w '%{http_code}' -X "$method" "$base/api/catalog/layers/bench")
    fi
    t1=$(now)
    printf '%-6s layer: %s in %.0f ms (VmRSS %s, VmHWM %s)\n' "$method" "$code" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) * 1000 }')" "$(mem VmRSS)" "$(mem VmHWM)"
}
echo "entries: $entries; before any change: VmRSS $(mem VmRSS), VmHWM $(mem VmHWM); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$rounds"); do
    change PUT "$layer"
    sleep 1
    change PUT "${layer/Bench\"/Bench 2\"}"
    sleep 1
    change DELETE
    sleep 1
done

# A workspace's own style and sources, stored while the room works (no state rebuild: the
# styles served and the sources scheduler are replaced in place).
style=$(curl -s "$base/styles/hypervision.json" | python3 -c 'import json,sys; s=json.load(sys.stdin); s["name"]="Bench"; print(json.dumps(s))')
mkdir -p "$data/sources/default"
cp "$root/../shared/data/france/departements.geojson" "$data/sources/default/dep.geojson"
timed() {
    local what=$1 t0 t1 code
    shift
    t0=$(now)
    code=$(curl -s -o /dev/null -w '%{http_code}' "$@")
    t1=$(now)
    printf '%-28s %s in %.0f ms\n' "$what" "$code" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) * 1000 }')"
}
for r in $(seq "$rounds"); do
    timed "PUT style (round $r):" -X PUT -H 'content-type: application/json' -d "$style" "$base/api/styles/bench"
    sleep 1
done
departements() {
    curl -s "$base/catalog" | python3 -c 'import json,sys; print(next(l["features"] for l in json.load(sys.stdin)["layers"] if l["id"] == "departements"))'
}
t0=$(now)
for r in $(seq "$rounds"); do
    sources=$(printf '[[source]]\nid = "dep"\ntitle = "Départements %s"\nowner = "IGN"\nlicence = "Licence Ouverte 2.0"\nlayer = "departements"\npath = "dep.geojson"\nrefresh_s = 0\n' "$r")
    timed "PUT sources (round $r):" -X PUT -H 'content-type: application/toml' --data-binary "$sources" "$base/api/sources/config"
    if [[ $r == 1 ]]; then
        until [[ $(departements) == 96 ]]; do sleep 0.05; done
        printf 'stored source imported and served %.0f ms after the PUT was sent\n' "$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print (b - a) * 1000 }')"
    fi
    sleep 1
done

touch "$stop"
wait "${pids[1]}" "${pids[2]}"
cat "$data/reader.out" "$data/writer.out"
total=$(curl -s "$base/catalog" | python3 -c 'import json,sys; print(next(l["features"] for l in json.load(sys.stdin)["layers"] if l["id"] == "entries"))')
written=$(awk '{print $2}' "$data/writer.out")
echo "entries indexed after the run: $total (expected $((entries + written)))"
echo "states released: $(grep -c 'workspace state released' "$data/server.log" || true) (one per change)"
grep -o 'catalog changed: workspace state rebuilt.*' "$data/server.log" | sed 's/\x1b\[[0-9;]*m//g' | head -20 || true
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"
