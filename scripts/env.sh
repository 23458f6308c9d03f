#!/usr/bin/env bash
# Sourced by the other scripts: makes sure the system packages and the cached virtual
# environment exist, then exports EDGEPOWER_PY (its python). Idempotent and quiet when ready.
set -euo pipefail
EDGEPOWER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export EDGEPOWER_ROOT

# GoogleTest for the C++ tests and Eigen for the deconvolution solver (Debian's libgtest-dev and
# libeigen3-dev; no network fetch at build time).
missing=""
for pkg in libgtest-dev libeigen3-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "[edgepower] installing$missing (apt)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >&2
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >&2
fi

req="$EDGEPOWER_ROOT/requirements/dev.txt"
hash="$( (cat "$req"; python3 --version) | sha256sum | cut -c1-16)"
EDGEPOWER_VENV="${EDGEPOWER_VENV:-$HOME/.cache/edgepower/venv-$hash}"
export EDGEPOWER_VENV
if [ ! -f "$EDGEPOWER_VENV/.ready" ]; then
  echo "[edgepower] creating the virtual environment $EDGEPOWER_VENV (once; torch is ~5 GB)" >&2
  rm -rf "$EDGEPOWER_VENV"
  mkdir -p "$(dirname "$EDGEPOWER_VENV")"
  python3 -m venv "$EDGEPOWER_VENV"
  "$EDGEPOWER_VENV/bin/pip" install -q -r "$req" >&2
  touch "$EDGEPOWER_VENV/.ready"
fi
export EDGEPOWER_PY="$EDGEPOWER_VENV/bin/python"
export PATH="$EDGEPOWER_VENV/bin:$PATH"

# Build and install edgepower itself (incremental: build/ keeps the CMake tree).
echo "[edgepower] building and installing edgepower into the venv" >&2
"$EDGEPOWER_PY" -m pip install -q --no-build-isolation --no-deps "$EDGEPOWER_ROOT" >&2
