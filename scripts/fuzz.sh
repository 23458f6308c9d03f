#!/usr/bin/env bash
# Fuzzes the native parsers with libFuzzer (ASan + UBSan) for a bounded time each:
#   fuzz_power_log     EdgeProfiler power log parser (csrc/core/sensors/edgeprofiler_log)
#   fuzz_replay_trace  replay sensor: format detection, both formats, play and loop
#   fuzz_trace_csv     edgepower trace CSV inside the replay sensor
# Usage: scripts/fuzz.sh [seconds per target, default 60] [target ...]
# Seeds: tests/fuzz/corpus/<name>/ (kept in git); inputs the fuzzer finds go to
# build/fuzz/corpus/<name>/, crashes to build/fuzz/artifacts/. Exits 1 if any target found a
# crash: turn it into a GoogleTest regression test (tests/cpp/test_fuzz_regressions.cpp) and
# keep the input under tests/fuzz/regressions/<name>/. Needs clang (apt-get install clang).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_EACH="${1:-60}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(fuzz_power_log fuzz_replay_trace fuzz_trace_csv)

if ! command -v clang++ >/dev/null 2>&1; then
  echo "[fuzz] installing clang (apt)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang >&2
fi

B="$ROOT/build/fuzz"
cmake -S "$ROOT" -B "$B" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEDGEPOWER_BUILD_FUZZERS=ON -DEDGEPOWER_BUILD_TESTS=OFF -DEDGEPOWER_BUILD_PYTHON=OFF >/dev/null
cmake --build "$B" -j "${EDGEPOWER_JOBS:-$(nproc)}" --target "${TARGETS[@]}"

export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
mkdir -p "$B/artifacts"
status=0
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
exit $status
