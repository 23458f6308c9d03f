#!/usr/bin/env bash
# Runs every test: C++ (GoogleTest via ctest, then again under ASan+UBSan and TSan:
# scripts/sanitize.sh), the aarch64 build under qemu-user (scripts/test-aarch64.sh), Python
# (pytest) and the notebooks (executed by pytest in
# tests/python/test_notebooks.py). Sets everything up on a fresh machine first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$EDGEPOWER_ROOT"

echo "== C++ tests (GoogleTest) =="
cmake -S . -B build/tests -G Ninja -DEDGEPOWER_BUILD_TESTS=ON -DEDGEPOWER_BUILD_PYTHON=OFF \
  -DPython_EXECUTABLE="$EDGEPOWER_PY" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/tests -j "$(nproc)"
ctest --test-dir build/tests --output-on-failure -j 2
export EDGEPOWER_RECORD="$EDGEPOWER_ROOT/build/tests/edgepower-record"  # tests/python/test_record.py

echo "== aarch64 (cross-built, under qemu-user; EDGEPOWER_AARCH64=0 skips) =="
if [ "${EDGEPOWER_AARCH64:-1}" != 0 ]; then "$EDGEPOWER_ROOT/scripts/test-aarch64.sh"; fi

# The same suite under ASan+UBSan and TSan (build/asan, build/tsan; incremental after the first
# run). EDGEPOWER_SANITIZERS=0 skips it for a quick local run; CI leaves it on.
if [ "${EDGEPOWER_SANITIZERS:-1}" != 0 ]; then
  "$EDGEPOWER_ROOT/scripts/sanitize.sh"
fi

echo "== Python tests and notebooks (pytest) =="
cd "$EDGEPOWER_ROOT"
"$EDGEPOWER_PY" -m pytest tests/python -q -p no:cacheprovider "$@"
