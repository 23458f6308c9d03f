#!/usr/bin/env bash
# Builds edgepower for aarch64 (Jetson boards) with Debian's cross compiler and runs its tests
# under qemu-user on this (x86_64) machine. Called by scripts/test.sh; runs alone too.
#
#   1. GoogleTest, built from Debian's googletest sources with aarch64-linux-gnu-g++.
#   2. Debian's arm64 Python 3.11 (interpreter, stdlib, headers) and numpy, downloaded with
#      apt-get download and unpacked into build/aarch64/pyroot: nothing arm64 is installed
#      system-wide (only apt's arm64 package lists are added). EDGEPOWER_AARCH64_PYTHON=0 skips
#      it and the module.
#   3. One build (cmake/aarch64-linux-gnu.cmake) of edgepower_core, the GoogleTest suite,
#      edgepower-record (static) and the pybind11 module edgepower._core; ctest runs every
#      test through qemu-aarch64 with EDGEPOWER_EMULATED=1.
#   4. The static recorder end to end under qemu (tests/python/test_record.py, the aarch64
#      case), when a Python with edgepower is at hand ($EDGEPOWER_PY, which test.sh exports).
#   5. The module imported and exercised by the arm64 Python under qemu
#      (tests/aarch64/check_module.py).
#
# Idempotent: installs what is missing (apt), reuses build/aarch64 between runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="$ROOT/build/aarch64"
JOBS="${EDGEPOWER_JOBS:-$(nproc)}"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
say() { echo "[edgepower aarch64 +$((SECONDS - T0))s] $*" >&2; }
T0=$SECONDS

# ---- tools (apt, like scripts/env.sh does for libgtest-dev) ------------------------------------
need=()
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || command -v qemu-aarch64-static >/dev/null || need+=(qemu-user)
[ -f /usr/src/googletest/CMakeLists.txt ] || need+=(googletest)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} (apt)"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >&2
fi
QEMU_BIN="$(command -v qemu-aarch64 || command -v qemu-aarch64-static)"
export EDGEPOWER_EMULATED=1  # tests/cpp/test_sampler.cpp: timing bounds that measure the host

# ---- 1. GoogleTest for aarch64 -------------------------------------------------------------------
gtest_version="$(dpkg-query -W -f='${Version}' googletest 2>/dev/null || echo unknown)"
if [ "$(cat "$B/gtest/.version" 2>/dev/null)" != "$gtest_version" ]; then
  say "building GoogleTest $gtest_version for aarch64"
  rm -rf "$B/gtest" "$B/gtest-build"
  mkdir -p "$B"
  cmake -S /usr/src/googletest -B "$B/gtest-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-linux-gnu.cmake" -DBUILD_GMOCK=OFF -DINSTALL_GTEST=ON \
    -DCMAKE_INSTALL_PREFIX="$B/gtest" >"$B/gtest-configure.log" 2>&1 || { cat "$B/gtest-configure.log"; exit 1; }
  cmake --build "$B/gtest-build" -j "$JOBS" >/dev/null
  cmake --install "$B/gtest-build" >/dev/null
  echo "$gtest_version" > "$B/gtest/.version"
fi

# ---- 2. Debian's arm64 Python and numpy, unpacked ------------------------------------------------
WITH_PYTHON="${EDGEPOWER_AARCH64_PYTHON:-1}"
PYROOT="$B/pyroot"
PY_ARM="$B/python3.11-aarch64"
python_args=(-DEDGEPOWER_BUILD_PYTHON=OFF)
if [ "$WITH_PYTHON" != 0 ]; then
  PY_HOST="${EDGEPOWER_PY:-python3}"
  PB_DIR="$("$PY_HOST" -m pybind11 --cmakedir 2>/dev/null || true)"
  if [ -z "$PB_DIR" ]; then
    say "error: $PY_HOST has no pybind11 (pip install pybind11), needed for the aarch64 module;"
    say "       or set EDGEPOWER_AARCH64_PYTHON=0 to skip the module"
    exit 1
  fi
  PKGS="python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libpython3.11-dev libc6 libgcc-s1
   libstdc++6 libexpat1 zlib1g libffi8 libbz2-1.0 liblzma5 libuuid1 libcrypt1 python3-numpy libblas3
   liblapack3 libgfortran5"
  if [ ! -f "$PYROOT/.ready" ]; then
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
      say "adding Debian's arm64 architecture to apt (package lists only; nothing arm64 is installed)"
      $SUDO dpkg --add-architecture arm64
      $SUDO apt-get update -qq >&2
    fi
    say "downloading Debian's arm64 Python 3.11 and numpy into $PYROOT"
    rm -rf "$B/debs" "$PYROOT"
    mkdir -p "$B/debs" "$PYROOT"
    # shellcheck disable=SC2046
    download() { (cd "$B/debs" && apt-get download -qq $(for p in $PKGS; do echo "$p:arm64"; done)); }
    download 2>/dev/null || { $SUDO apt-get update -qq >&2; download; }
    for deb in "$B"/debs/*.deb; do dpkg -x "$deb" "$PYROOT"; done
    # Debian picks BLAS/LAPACK with update-alternatives at install time; unpacked, link them.
    ln -sf blas/libblas.so.3 "$PYROOT/usr/lib/aarch64-linux-gnu/libblas.so.3"
    ln -sf lapack/liblapack.so.3 "$PYROOT/usr/lib/aarch64-linux-gnu/liblapack.so.3"
    ls "$B/debs" > "$PYROOT/.ready"
  fi
  printf '#!/bin/sh\nexec %s -L %s %s/usr/bin/python3.11 "$@"\n' "$QEMU_BIN" "$PYROOT" "$PYROOT" > "$PY_ARM"
  chmod +x "$PY_ARM"
  # FindPython asks the arm64 interpreter (through qemu) for its version and module suffix; the
  # headers come from the unpacked root (pyconfig.h includes <aarch64-linux-gnu/python3.11/...>).
  python_args=(-DEDGEPOWER_BUILD_PYTHON=ON -DPython_EXECUTABLE="$PY_ARM"
    -DPython_INCLUDE_DIR="$PYROOT/usr/include/python3.11" -DCMAKE_FIND_ROOT_PATH="$PYROOT"
    -DCMAKE_CXX_FLAGS="-idirafter $PYROOT/usr/include" -Dpybind11_DIR="$PB_DIR")
fi

# ---- 3. core, tests, recorder, module; ctest under qemu ----------------------------------------
say "building edgepower for aarch64 in $B/edgepower"
cmake -S "$ROOT" -B "$B/edgepower" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGEPOWER_BUILD_TESTS=ON -DGTest_DIR="$B/gtest/lib/cmake/GTest" \
  -DEigen3_DIR=/usr/share/eigen3/cmake \
  -DEDGEPOWER_STATIC_RECORDER=ON -DEDGEPOWER_WITH_TORCH=OFF "${python_args[@]}" >/dev/null
cmake --build "$B/edgepower" -j "$JOBS"
# The recorder is the file JetPack 4 users copy to the board: aarch64, static (no C library
# version to match), so it also runs under qemu without the cross sysroot (step 4).
aarch64-linux-gnu-readelf -h "$B/edgepower/edgepower-record" | grep -q AArch64 \
  || { say "error: edgepower-record was not built for aarch64"; exit 1; }
if aarch64-linux-gnu-readelf -l "$B/edgepower/edgepower-record" | grep -q "program interpreter"; then
  say "error: edgepower-record is not statically linked"; exit 1
fi
say "running the GoogleTest suite under $QEMU_BIN"
ctest --test-dir "$B/edgepower" --output-on-failure -j 2

# ---- 4. the recorder end to end under qemu -------------------------------------------------------
if [ -n "${EDGEPOWER_PY:-}" ]; then
  say "recorder end to end under qemu (tests/python/test_record.py, aarch64)"
  (cd "$ROOT" && EDGEPOWER_RECORD_AARCH64="$B/edgepower/edgepower-record" \
    EDGEPOWER_QEMU_AARCH64="$QEMU_BIN" \
    "$EDGEPOWER_PY" -m pytest tests/python/test_record.py -k aarch64 -q -p no:cacheprovider -rs)
else
  say "skipping the recorder end to end under qemu: no EDGEPOWER_PY (scripts/test.sh sets it)"
fi

# ---- 5. the module under the arm64 Python --------------------------------------------------------
if [ "$WITH_PYTHON" != 0 ]; then
  rm -rf "$B/pypkg"
  mkdir -p "$B/pypkg"
  cp -r "$ROOT/python/edgepower" "$B/pypkg/"
  cp "$B"/edgepower/_core.cpython-311-aarch64-linux-gnu.so "$B/pypkg/edgepower/"
  say "importing edgepower._core with Debian's arm64 Python under qemu (tests/aarch64/check_module.py)"
  "$QEMU_BIN" -L "$PYROOT" -E PYTHONPATH="$B/pypkg" "$PYROOT/usr/bin/python3.11" "$ROOT/tests/aarch64/check_module.py"
else
  say "skipped the aarch64 Python module (EDGEPOWER_AARCH64_PYTHON=0)"
fi
say "done in $((SECONDS - T0)) s"
