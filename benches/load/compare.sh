# Sourced by the load scripts that compare servers by medians (auth.sh, logs.sh, and single.sh's
# start): uses $here (benches/load), $conns and $duration.

# The median of space-separated numbers.
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Waits until URL/health answers 200 (60 s at most), else prints LOG and fails the script.
wait_healthy() { # NAME URL LOG
    for _ in $(seq 1 600); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' "$2/health" || true) == 200 ]] && return 0
        sleep 0.1
    done
    echo "$1: vigie did not become healthy on $2 within 60 s; its log:" >&2
    cat "$3" >&2
    exit 1
}

# One wrk run of trace.lua over the paths in PATHS against URL (extra wrk arguments after);
# fails the script on any non-2xx answer (trace.lua counts them in errors). Sets requests,
# duration_us and rps.
trace_rps() { # NAME URL PATHS [wrk args...]
    local name=$1 url=$2 paths=$3 out
    shift 3
    out=$(wrk -t2 -c"$conns" -d"${duration}s" --timeout 10s "$@" -s "$here/trace.lua" "$url" -- "$paths" | grep '^RESULT')
    eval "$(sed 's/^RESULT //' <<<"$out")"
    if ((errors > 0)); then
        echo "$name: $errors errors (non-2xx answers or socket errors)" >&2
        exit 1
    fi
    rps=$(awk -v n="$requests" -v d="$duration_us" 'BEGIN { printf "%.0f", n / (d / 1e6) }')
}
