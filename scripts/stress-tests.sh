#!/usr/bin/env bash
# Runs the Python test suite N times in a row (default 20) with a 2-thread busy loop beside it,
# as CI machines are loaded: every test, timing-dependent ones included, must pass every time.
#   ./scripts/stress-tests.sh [N] [pytest args...]     e.g. ./scripts/stress-tests.sh 20 -x
# Prints one line per run and a summary; exits non-zero if any run failed (logs in build/stress/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$EDGEPOWER_ROOT"
runs="${1:-20}"
shift || true
mkdir -p build/stress
busy_pids=()
for _ in 1 2; do
  "$EDGEPOWER_PY" -c 'while True: pass' &
  busy_pids+=($!)
done
trap 'kill "${busy_pids[@]}" 2>/dev/null || true' EXIT
passed=0
for i in $(seq 1 "$runs"); do
  log="build/stress/run-$i.log"
  start=$(date +%s)
  if "$EDGEPOWER_PY" -m pytest tests/python -q -p no:cacheprovider "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    echo "run $i: passed ($(( $(date +%s) - start )) s): $(tail -n 1 "$log")"
  else
    echo "run $i: FAILED ($(( $(date +%s) - start )) s), see $log:"
    grep -E "^(FAILED|ERROR)" "$log" || tail -n 5 "$log"
  fi
done
echo "stress: $passed/$runs runs passed with a 2-thread busy loop beside them"
[ "$passed" -eq "$runs" ]
