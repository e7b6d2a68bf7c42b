# Sourced by the bench scripts: waiting for a server to say where it listens.

# await_url FILE PID: prints the first line a server wrote to FILE (every
# server of the benchmarks prints its URL first), waiting up to 20 s while
# PID runs (valgrind starts slowly); fails if no line came.
await_url() {
    local file="$1" pid="$2" url=""
    for _ in $(seq 400); do
        url="$(head -n1 "$file" 2>/dev/null || true)"
        [[ -n "$url" ]] && { echo "$url"; return 0; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    return 1
}
