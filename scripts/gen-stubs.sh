#!/usr/bin/env bash
# Regenerates python/edgepower/_core/*.pyi (the type stubs of the native module) with
# pybind11-stubgen from the built edgepower._core. Run after changing a binding:
#   PYTHONPATH=python scripts/gen-stubs.sh          (with build/dev's _core*.so copied into python/edgepower)
#   scripts/gen-stubs.sh                            (with edgepower installed in the active python)
# tests/python/test_stubs.py fails when the committed stubs differ from what this generates,
# and checks them against the module with mypy.stubtest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${EDGEPOWER_PY:-python3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$py" -m pybind11_stubgen edgepower._core -o "$tmp" --exit-code
mkdir -p "$root/python/edgepower/_core"
rm -f "$root/python/edgepower/_core/"*.pyi
cp "$tmp/edgepower/_core/"*.pyi "$root/python/edgepower/_core/"
echo "wrote $(ls "$root/python/edgepower/_core/"*.pyi | tr '\n' ' ')"
