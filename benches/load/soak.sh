#!/usr/bin/env bash
# The soak (issue 20, item 5): mixed load against vigie on its embedded store over 1M point
# entries, for MINUTES (30) at CONNS (64) connections: 80 % tiles of the recorded flight (the
# web view's composite), 10 % region queries, 5 % writes, 5 % log pages, SSE (50) live event
# streams, and the départements imported every minute. Prints a line per sixth of the run and
# the verdicts (no 5xx; memory drift after warm-up < 5 %; no open-file growth; p99 of the last
# window within 20 % of the first), and exits 1 when one fails.
#   Usage: benches/load/soak.sh              (the 30-minute run)
#          MINUTES=5 benches/load/soak.sh    (the quick check)
# Environment: WORK (/tmp/vigie-load; the store is made once in $WORK/soak, FRESH=1 remakes
# it), ENTRIES (1000000), MINUTES, CONNS, SSE, PORT (8098).
# Needs: cargo, curl, ../shared/data/france/departements.geojson.
set -euo pipefail
export VIGIE_LOG=${VIGIE_LOG:-info,vigie::access=warn}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/benches/load
work=${WORK:-/tmp/vigie-load}
entries=${ENTRIES:-1000000}
minutes=${MINUTES:-30}
conns=${CONNS:-64}
sse=${SSE:-50}
port=${PORT:-8098}
base=http://127.0.0.1:$port
departements=$root/../shared/data/france/departements.geojson
[[ -f $departements ]] || { echo "load/soak.sh: $departements not found" >&2; exit 2; }
mkdir -p "$work/logs"
target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release --locked -p vigie-tileserver -p vigie-benches --bin vigie --bin soak >&2)
vigie=$target/release/vigie

# shellcheck source=lib.sh
source "$here/lib.sh"
log=$work/logs/soak-seed.log
seed_points "$work/soak"

log=$work/logs/soak.log
# The demo on the loopback: requests without credentials act as the identity they name in
# X-Vigie-User, so each client is someone (writes and event streams are limited per identity).
"$vigie" serve --data-dir "$work/soak" --demo --listen "127.0.0.1:$port" 2>"$log" &
pid=$!
wait_up "$base/health"
echo "== machine: $(nproc) cores; server log $log"
"$target/release/soak" "$base" "$pid" "$here/trace.txt" --minutes "$minutes" --connections "$conns" --sse "$sse" \
    --import "$departements" --import-layer departements
