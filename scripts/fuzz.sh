#!/usr/bin/env bash
# Fuzzes the native parsers with libFuzzer (ASan + UBSan) for a bounded time each:
#   fuzz_power_log     EdgeProfiler power log parser (csrc/core/sensors/edgeprofiler_log)
#   fuzz_replay_trace  replay sensor: format detection, both formats, play and loop
#   fuzz_trace_csv     edgepower trace CSV inside the replay sensor
# then the Python stage (tests/fuzz/python/, atheris if requirements/fuzz.txt installs, else the
# random-mutation fallback of harness.py), the same time each:
#   fuzz_py_trace_csv     edgepower.trace.read_trace (pandas + line-by-line reader)
#   fuzz_py_replay        create_sensor("replay:path=...") and reads, from Python
#   fuzz_py_edgeprofiler  edgepower.edgeprofiler.map_power_to_layers on a fuzzed raw folder
#   fuzz_py_sensor_spec   sensor spec strings through create_sensor
# Usage: scripts/fuzz.sh [seconds per target, default 60] [target ...]
# EDGEPOWER_FUZZ_PY=0 skips the Python stage, EDGEPOWER_FUZZ_NATIVE=0 the native one.
# Seeds: tests/fuzz/corpus/<name>/ (kept in git); inputs the fuzzer finds go to
# build/fuzz/corpus/<name>/, crashes to build/fuzz/artifacts/. Exits 1 if any target found a
# crash: turn it into a GoogleTest regression test (tests/cpp/test_fuzz_regressions.cpp) and
# keep the input under tests/fuzz/regressions/<name>/. Needs clang (apt-get install clang).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_EACH="${1:-60}"
shift || true
TARGETS=() PY_TARGETS=()
for t in "$@"; do case "$t" in fuzz_py_*) PY_TARGETS+=("$t") ;; *) TARGETS+=("$t") ;; esac; done
if [ $# -eq 0 ]; then
  [ "${EDGEPOWER_FUZZ_NATIVE:-1}" != 0 ] && TARGETS=(fuzz_power_log fuzz_replay_trace fuzz_trace_csv)
  [ "${EDGEPOWER_FUZZ_PY:-1}" != 0 ] && PY_TARGETS=(fuzz_py_trace_csv fuzz_py_replay fuzz_py_edgeprofiler fuzz_py_sensor_spec)
fi
status=0
B="$ROOT/build/fuzz"

python_stage() {
  # The venv of the tests (scripts/env.sh builds and installs edgepower into it), plus atheris.
  source "$ROOT/scripts/env.sh"
  if ! "$EDGEPOWER_PY" -c "import atheris" 2>/dev/null; then
    "$EDGEPOWER_PY" -m pip install -q -r "$ROOT/requirements/fuzz.txt" >&2 \
      || echo "[fuzz] atheris did not install: the Python targets run the random-mutation fallback" >&2
  fi
  for t in "${PY_TARGETS[@]}"; do
    name="${t#fuzz_}"
    mkdir -p "$B/corpus/$name" "$B/artifacts"
    echo "== $t: ${SECONDS_EACH} s =="
    start=$(date +%s)
    if nice -n 10 "$EDGEPOWER_PY" "$ROOT/tests/fuzz/python/$t.py" "$SECONDS_EACH" "$B/corpus/$name" \
         "$ROOT/tests/fuzz/corpus/$name" "$B/artifacts" >"$B/$name.log" 2>&1; then
      echo "   no finding; $(grep -E '^stat::number_of_executed_units' "$B/$name.log" | awk '{print $2}') runs" \
           "($(grep -m1 -o 'engine [a-z]*' "$B/$name.log" | cut -d' ' -f2)), $(( $(date +%s) - start )) s"
    else
      status=1
      echo "   FINDING: see $B/$name.log; inputs: $(ls "$B/artifacts" | grep "^$name-" | tr '\n' ' ')"
      grep -E 'Error|Exception|FINDING' "$B/$name.log" | tail -5 || true
    fi
  done
  # Every kept input of every Python target, replayed: tests/python/test_fuzz_regressions.py does
  # the same in the normal test run.
}

if [ ${#TARGETS[@]} -eq 0 ]; then
  [ ${#PY_TARGETS[@]} -gt 0 ] && python_stage
  exit $status
fi

if ! command -v clang++ >/dev/null 2>&1; then
  echo "[fuzz] installing clang (apt)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang >&2
fi

cmake -S "$ROOT" -B "$B" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEDGEPOWER_BUILD_FUZZERS=ON -DEDGEPOWER_BUILD_TESTS=OFF -DEDGEPOWER_BUILD_PYTHON=OFF >/dev/null
cmake --build "$B" -j "${EDGEPOWER_JOBS:-$(nproc)}" --target "${TARGETS[@]}"

export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
mkdir -p "$B/artifacts"
for t in "${TARGETS[@]}"; do
  name="${t#fuzz_}"
  mkdir -p "$B/corpus/$name"
  echo "== $t: ${SECONDS_EACH} s =="
  start=$(date +%s)
  if "$B/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="$B/artifacts/$name-" "$B/corpus/$name" "$ROOT/tests/fuzz/corpus/$name" \
       >"$B/$name.log" 2>&1; then
    echo "   no crash; $(grep -E '^stat::number_of_executed_units' "$B/$name.log" | awk '{print $2}') runs," \
         "corpus $(ls "$B/corpus/$name" | wc -l) files, $(( $(date +%s) - start )) s"
  else
    status=1
    echo "   CRASH: see $B/$name.log; inputs: $(ls "$B/artifacts" | grep "^$name-" | tr '\n' ' ')"
    grep -E 'ERROR|runtime error|SUMMARY' "$B/$name.log" | head -5 || true
  fi
done
[ ${#PY_TARGETS[@]} -gt 0 ] && python_stage
exit $status
