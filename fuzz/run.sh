#!/usr/bin/env bash
# Coverage-guided fuzzing of the import readers with AFL++ (afl.rs: the stable toolchain
# instruments the build). Each reader is fuzzed for MINUTES (10) from the seeds of
# benches/fuzz.sh; crashes and hangs are kept in $OUT/READER/default/{crashes,hangs}, and a
# line per reader gives what AFL++ measured. Exits 1 when a reader has a crash or a hang.
#   Usage: fuzz/run.sh                      (every reader)
#          MINUTES=2 fuzz/run.sh csv kmz    (some readers, shorter)
#   Replay a kept case: VIGIE_FUZZ_READER=csv fuzz/target/release/vigie-fuzz < FILE
# Environment: MINUTES, OUT (target/afl), JOBS (readers fuzzed at once: one per core).
# Needs: cargo, a C compiler and make (cargo-afl builds AFL++ once), and what benches/fuzz.sh
# needs for the seeds.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
minutes=${MINUTES:-10}
out=${OUT:-$root/target/afl}
jobs=${JOBS:-$(nproc)}
readers=("$@")
[[ ${#readers[@]} -gt 0 ]] || readers=(geojson csv fgb gpkg shp.zip kml kmz)

command -v cargo-afl >/dev/null || cargo install --locked cargo-afl
# Builds AFL++ once for this toolchain (it says so, and fails, when it is built already).
cargo afl config --build >/dev/null 2>&1 || true
(cd "$root/fuzz" && cargo afl build --release --locked >&2)
target=$root/fuzz/target/release/vigie-fuzz
seeds=$(SEEDS_ONLY=1 "$root/benches/fuzz.sh")

declare -A seed=([geojson]=seed.geojson [csv]=seed.csv [fgb]=seed.fgb [gpkg]=seed.gpkg [shp.zip]=seed.zip [kml]=seed.kml [kmz]=seed.kmz)
run() {
  local r=$1
  mkdir -p "$out/$r/in"
  cp "$seeds/${seed[$r]:?unknown reader $r}" "$out/$r/in/"
  AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 VIGIE_FUZZ_READER=$r \
    cargo afl fuzz -i "$out/$r/in" -o "$out/$r" -t 1000 -m none -V $((minutes * 60)) -- "$target" \
    > "$out/$r.log" 2>&1 || { echo "fuzz/run.sh: AFL++ stopped on $r: see $out/$r.log" >&2; return 1; }
}
rm -rf "$out"
mkdir -p "$out"
running=0
for r in "${readers[@]}"; do
  run "$r" &
  running=$((running + 1))
  if [[ $running -ge $jobs ]]; then wait -n; running=$((running - 1)); fi
done
wait

failed=0
printf '%-8s %12s %10s %8s %10s %8s %6s\n' reader execs execs/s paths coverage crashes hangs
for r in "${readers[@]}"; do
  s=$out/$r/default/fuzzer_stats
  v() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$s"; }
  printf '%-8s %12s %10s %8s %10s %8s %6s\n' "$r" "$(v execs_done)" "$(v execs_per_sec)" "$(v corpus_count)" \
    "$(v bitmap_cvg)" "$(v saved_crashes)" "$(v saved_hangs)"
  [[ $(v saved_crashes) == 0 && $(v saved_hangs) == 0 ]] || failed=1
done
exit $failed
