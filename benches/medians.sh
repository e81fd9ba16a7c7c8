#!/usr/bin/env bash
# Prints the median of every criterion bench of the last run, with its 95 % confidence
# interval, read from target/criterion/*/*/new/{benchmark,estimates}.json (needs jq).
#
# Usage: benches/medians.sh   (after cargo bench -p vigie-benches)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${CARGO_TARGET_DIR:-$root/target}/criterion
[[ -d $dir ]] || { echo "medians.sh: no $dir; run cargo bench -p vigie-benches first" >&2; exit 1; }

# Nanoseconds to a readable unit.
human() { awk -v n="$1" 'BEGIN {
    if (n >= 1e9) printf "%.3f s", n / 1e9;
    else if (n >= 1e6) printf "%.2f ms", n / 1e6;
    else if (n >= 1e3) printf "%.1f µs", n / 1e3;
    else printf "%.0f ns", n }'; }

printf '%-45s %12s   %s\n' "bench" "median" "95 % CI of the median"
find "$dir" -path '*/new/benchmark.json' | sort | while read -r b; do
    e=${b%benchmark.json}estimates.json
    id=$(jq -r .full_id "$b")
    read -r m lo hi < <(jq -r '.median | "\(.point_estimate) \(.confidence_interval.lower_bound) \(.confidence_interval.upper_bound)"' "$e")
    printf '%-45s %12s   [%s, %s]\n' "$id" "$(human "$m")" "$(human "$lo")" "$(human "$hi")"
done
