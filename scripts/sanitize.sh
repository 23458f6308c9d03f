#!/usr/bin/env bash
# The GoogleTest suite under AddressSanitizer + UndefinedBehaviorSanitizer (build/asan) and under
# ThreadSanitizer (build/tsan). Build directories are reused between runs (incremental). Every
# sanitizer report fails the run: ASan/UBSan/TSan halt on the first error (halt_on_error=1, and
# UBSan is compiled with -fno-sanitize-recover=all, see CMakeLists.txt).
# Usage: scripts/sanitize.sh [asan|tsan ...]   (default: both). Called by scripts/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KINDS=("$@")
[ ${#KINDS[@]} -eq 0 ] && KINDS=(asan tsan)
JOBS="${EDGEPOWER_JOBS:-$(nproc)}"

export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"

for kind in "${KINDS[@]}"; do
  case "$kind" in
    asan) flags="address,undefined" ;;
    tsan) flags="thread" ;;
    *) echo "unknown sanitizer '$kind': use asan or tsan" >&2; exit 2 ;;
  esac
  echo "== C++ tests under $kind ($flags) =="
  start=$(date +%s)
  cmake -S "$ROOT" -B "$ROOT/build/$kind" -G Ninja -DEDGEPOWER_BUILD_TESTS=ON -DEDGEPOWER_BUILD_PYTHON=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGEPOWER_SANITIZE="$flags" >/dev/null
  cmake --build "$ROOT/build/$kind" -j "$JOBS"
  ctest --test-dir "$ROOT/build/$kind" --output-on-failure -j 2
  echo "== $kind: $(( $(date +%s) - start )) s =="
done
