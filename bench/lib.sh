# Sourced by the bench scripts (after `cd "$ROOT"`): what several of them do.

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

# need_descriptors N: fails, saying so, unless this shell may open N
# connections (and a hundred more descriptors).
need_descriptors() {
    [[ $(ulimit -n) -ge $(($1 + 100)) ]] && return 0
    echo "ulimit -n is $(ulimit -n); $1 connections need $(($1 + 100))" >&2
    return 1
}

# cpu_ticks PID: the user and kernel CPU time PID has used, in clock ticks
# (`getconf CLK_TCK` a second).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# steal_ticks: CPU time the hypervisor gave other guests while this
# machine's CPUs wanted it (`steal` in /proc/stat, all CPUs), in clock ticks.
steal_ticks() { awk '/^cpu / {print $9}' /proc/stat; }

# release_tether: sets BIN to the tether binary: as given in the
# environment, else the release build (built first).
release_tether() {
    if [[ -z "${BIN:-}" ]]; then
        cargo build --quiet --release -p tether-ws-cli
        BIN="$PWD/target/release/tether"
    fi
}
