#!/usr/bin/env bash
# Import benchmark through the real binary: `vigie import` of a 1M-point CSV and a 100 MB
# GeoJSON into a fresh embedded (SQLite) store, against the issue's targets: at least
# 200 000 points/s for the CSV, and peak memory bounded by a streaming read (not proportional
# to the file beyond the dataset itself).
#
# Usage: benches/import.sh [DATA_DIR]   (inputs from benches/import-data.sh, default
#                                       target/bench-data)
# Prints, per file: features, wall time, features/s, the read-and-check and store phases (from
# vigie's summary), peak RSS (GNU time's "Maximum resident set size") and the file size.
# The load average is printed too: other builds on the machine slow the figures down.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=${1:-$root/target/bench-data}
"$root/benches/import-data.sh" "$data" > /dev/null
cargo build --release -p vigie-tileserver --manifest-path "$root/Cargo.toml" 2> /dev/null
vigie=${CARGO_TARGET_DIR:-$root/target}/release/vigie
[[ -x /usr/bin/time ]] || { echo "import.sh: GNU time is required: apt-get install -y time" >&2; exit 2; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
for file in points-1m.csv features-100mb.geojson; do
    store=$(mktemp -d /tmp/vigie-import-bench.XXXXXX)
    out=$(mktemp)
    /usr/bin/time -v "$vigie" import --layer departements --data-dir "$store" "$data/$file" > "$out.stdout" 2> "$out"
    summary=$(cat "$out.stdout")
    rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out")
    size_mb=$(( $(stat -c %s "$data/$file") / 1024 / 1024 ))
    echo "$file ($size_mb MiB): $summary"
    echo "    wall $wall, peak RSS $(( rss_kb / 1024 )) MiB, store $(du -sm "$store" | cut -f1) MiB"
    rm -rf "$store" "$out" "$out.stdout"
done
