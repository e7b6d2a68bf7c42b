#!/usr/bin/env bash
# Fuzz tether-proto with cargo-fuzz (libFuzzer, nightly toolchain).
#
#   scripts/fuzz.sh                 every target for 60 s (the test command gives each 30 s)
#   scripts/fuzz.sh --seconds 900 connection inflate
#   scripts/fuzz.sh --runs 10000000 --seconds 7200   the long run: stop at 10 M executions
#
# New inputs go to target/fuzz-corpus/TARGET (the committed seeds in
# fuzz/corpus/TARGET are only read). A crash fails the run and its input is
# copied to fuzz/regressions/TARGET/, which `cargo test` replays from then on.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/install.sh
source scripts/lib/install.sh  # cargo_install_tool

seconds=60
runs_limit=-1
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs_limit=$2; shift 2 ;;
    -*) echo "usage: scripts/fuzz.sh [--seconds N] [--runs N] [TARGET...]" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=(frame_header connection client_handshake server_handshake inflate)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "[fuzz] installing cargo-fuzz" >&2
  cargo_install_tool --locked cargo-fuzz
fi

summary=()
for t in "${targets[@]}"; do
  mkdir -p "target/fuzz-corpus/$t" "fuzz/regressions/$t"
  log="target/fuzz-corpus/$t.log"
  echo "[fuzz] $t for ${seconds}s" >&2
  if ! (cd fuzz && cargo +nightly fuzz run "$t" "../target/fuzz-corpus/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -runs="$runs_limit" -print_final_stats=1 -rss_limit_mb=2048) >"$log" 2>&1; then
    tail -40 "$log" >&2
    for crash in fuzz/artifacts/"$t"/*; do
      [[ -f "$crash" ]] && cp "$crash" "fuzz/regressions/$t/" && echo "[fuzz] kept $crash in fuzz/regressions/$t/" >&2
    done
    echo "[fuzz] $t: CRASH (see $log)" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' | tail -1)
  summary+=("$t: ${runs:-?} executions in ${took:-$seconds}s, no crash")
done
printf '[fuzz] %s\n' "${summary[@]}"
