#!/usr/bin/env bash
# Identity on the hot path: warm tiles asked anonymously, with an API token and with a session
# cookie, from the same server in the same run.   Usage: benches/load/auth.sh [path/to/vigie]
#                                                  (default: builds and runs target/release/vigie)
#
# Starts `vigie serve --demo` on loopback (the anonymous demo identity is let in, and tokens and
# sessions work as on any deployment), creates an account with `vigie user add`, a reader token
# with `vigie token create`, and a session with POST /api/session. Warms the tile cache with one
# pass over the composite tiles of the trace (entries,venues,perimeters,entries-h3, z8-16), then
# runs ROUNDS rounds of wrk (CONNS connections, DURATION s) per mode — anonymous, bearer,
# cookie — rotating the order each round so drift of the machine hits every mode alike. Each
# run must answer only 200/204 (a 401 would mean the credential was not accepted: the run
# fails). Prints requests/s per round, the median per mode, and each median's ratio to
# anonymous.
# Environment: ROUNDS (5), DURATION (8), CONNS (32), ENTRIES (25000), PORT (18872).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/benches/load
rounds=${ROUNDS:-5}
duration=${DURATION:-8}
conns=${CONNS:-32}
entries=${ENTRIES:-25000}
port=${PORT:-18872}
base=http://127.0.0.1:$port
for tool in wrk curl; do
    command -v "$tool" >/dev/null || { echo "auth.sh: $tool is missing (apt-get install -y $tool)" >&2; exit 2; }
done
source "$here/single.sh" auth.sh "${1:-}"

password='bench password for auth.sh'
"$vigie" user add bench --role reader --password-stdin --data-dir "$work/data" <<<"$password" >/dev/null
token=$("$vigie" token create --user bench --name wrk --data-dir "$work/data" 2>/dev/null)
start_vigie --demo --demo-entries "$entries" --data-dir "$work/data" --listen "127.0.0.1:$port"
cookie=$(curl -s -D - -o /dev/null -H 'content-type: application/json' \
    -d "{\"name\":\"bench\",\"password\":\"$password\"}" "$base/api/session" \
    | sed -n 's/^[Ss]et-[Cc]ookie: \(vigie_session=[^;]*\).*/\1/p')
[[ -n $cookie ]] || { echo "auth.sh: sign-in failed" >&2; exit 1; }
for check in "" "Authorization: Bearer $token" "Cookie: $cookie"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' ${check:+-H "$check"} "$base/api/me")
    [[ $code == 200 ]] || { echo "auth.sh: /api/me answered $code with '${check%%:*}'" >&2; exit 1; }
done

sed 's|^|/tiles/entries,venues,perimeters,entries-h3/|' "$here/trace.txt" >"$work/paths.txt"
sed "s|^|$base|" "$work/paths.txt" | xargs -P 2 -I{} curl -s -o /dev/null {}
echo "== $("$vigie" --version) on $base, $entries demo entries; $(wc -l <"$work/paths.txt") composite tiles, cache warm"
echo "== wrk -t2 -c$conns -d${duration}s, $rounds rounds, order rotated each round"

modes=(anonymous bearer cookie)
declare -A header=([anonymous]="" [bearer]="Authorization: Bearer $token" [cookie]="Cookie: $cookie")
declare -A results
for ((r = 0; r < rounds; r++)); do
    line="round $((r + 1)):"
    for ((k = 0; k < 3; k++)); do
        mode=${modes[$(((r + k) % 3))]}
        trace_rps "auth.sh: $mode" "$base" "$work/paths.txt" ${header[$mode]:+-H "${header[$mode]}"}
        results[$mode]+="$rps "
        line+="  $mode $rps/s"
    done
    echo "$line"
done
base_rps=$(median "${results[anonymous]}")
for mode in "${modes[@]}"; do
    m=$(median "${results[$mode]}")
    awk -v m="$m" -v b="$base_rps" -v mode="$mode" 'BEGIN { printf "median %-9s %8.0f req/s   %.3f x anonymous\n", mode, m, m / b }'
done
