# Shared by the load scripts (sourced): one server at a time, started in the background with
# its pid in $pid and its log in $log.

pid=
# Stops the server (SIGTERM, then waits for it).
stop() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    pid=
}
trap stop EXIT

wait_up() { # $1 URL; the server must answer 200 within 600 s
    for _ in $(seq 1 60000); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' "$1" || true) == 200 ]] && return 0
        kill -0 "$pid" 2>/dev/null || { echo "${0##*/}: the server exited; log:" >&2; tail -20 "$log" >&2; exit 1; }
        sleep 0.01
    done
    echo "${0##*/}: $1 did not answer" >&2
    exit 1
}

# seed_points DIR: $entries point entries of the demo, spread over the region, written once
# into DIR by a server on $port (FRESH=1 makes them again); its log in $log.
seed_points() {
    local dir=$1
    if [[ ${FRESH:-0} == 1 || ! -f $dir/.ready ]]; then
        rm -rf "$dir"
        echo "== data: $entries point entries (demo, region spread) into $dir"
        "$vigie" serve --data-dir "$dir" --demo --demo-entries "$entries" --demo-points-only --demo-region \
            --listen "127.0.0.1:$port" 2>"$log" &
        pid=$!
        wait_up "http://127.0.0.1:$port/health"
        stop
        touch "$dir/.ready"
    fi
}
