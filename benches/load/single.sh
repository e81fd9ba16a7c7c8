# Sourced by the single-server load checks (herd.sh, auth.sh): the vigie binary to measure, a
# work directory, and a server started in it and killed at exit.
#   source "$here/single.sh" NAME [path/to/vigie]   sets $vigie (built in release unless given),
#                                                    $work; then start_vigie ARGS... sets $pid and
#                                                    waits until $base/health answers 200.
single_name=$1
source "$(dirname "${BASH_SOURCE[0]}")/compare.sh"
vigie=${2:-}
if [[ -z $vigie ]]; then
    (cd "$root" && cargo build --release --locked -p vigie-tileserver)
    vigie=${CARGO_TARGET_DIR:-$root/target}/release/vigie
fi
work=$(mktemp -d)
pid=
cleanup() {
    if [[ -n $pid ]]; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    jobs -p | xargs -r kill 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start_vigie() {
    "$vigie" serve "$@" >/dev/null 2>"$work/vigie.log" &
    pid=$!
    wait_healthy "$single_name" "$base" "$work/vigie.log"
}
