#!/usr/bin/env bash
# Python 3.8 (JetPack 5's Python; NVIDIA's torch wheels there are cp38): installs edgepower into a
# 3.8 virtual environment the way a user does, `pip install .` with build isolation (its build
# requirements come from PyPI), and runs the tests that need no torch (the others skip).
# Called by scripts/test.sh; a machine without Python 3.8 skips it and says so.
# Python: $EDGEPOWER_PY38, else python3.8 on PATH, else pyenv's 3.8.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
works() { [ -n "$1" ] && "$1" -c 'import sys; assert sys.version_info[:2] == (3, 8)' >/dev/null 2>&1; }
py38="${EDGEPOWER_PY38:-}"
if ! works "$py38"; then py38="$(command -v python3.8 || true)"; fi   # a pyenv shim may not work
if ! works "$py38"; then py38="$(ls -d "$HOME"/.pyenv/versions/3.8.*/bin/python 2>/dev/null | tail -n 1 || true)"; fi
if ! works "$py38"; then py38=""; fi
if [ -z "$py38" ]; then
  echo "[py38] SKIPPED: no Python 3.8 here (set EDGEPOWER_PY38=/path/to/python3.8)" >&2
  exit 0
fi
req="$root/requirements/py38.txt"
hash="$( (cat "$req"; "$py38" --version) | sha256sum | cut -c1-16)"
venv="$HOME/.cache/edgepower/venv-py38-$hash"
start=$(date +%s)
if [ ! -f "$venv/.ready" ]; then
  echo "[py38] creating $venv ($("$py38" --version))" >&2
  rm -rf "$venv"
  "$py38" -m venv "$venv"
  "$venv/bin/pip" install -q -r "$req" >&2
  touch "$venv/.ready"
fi
echo "[py38] pip install . into $venv (build isolation)" >&2
"$venv/bin/pip" install -q --no-deps --force-reinstall "$root" >&2
cd "$root/tests/python"
# From tests/python, the repository's python/ folder is not on the path: the installed package is tested.
"$venv/bin/python" -c "import edgepower, sys; assert edgepower.__file__.startswith('$venv'), edgepower.__file__; print('[py38] edgepower', edgepower.__version__, 'on Python', sys.version.split()[0])"
status=0
"$venv/bin/python" -m pytest -q -p no:cacheprovider -m "not slow" \
  test_energy.py test_clock.py test_timeline.py test_sampler.py test_monitor.py test_cli.py test_cli_monitor.py test_trace_reader.py test_sensors_replay.py \
  test_sensors_hardware.py test_sensors_nvml.py test_edgeprofiler.py test_architecture.py "$@" || status=$?
echo "[py38] done in $(( $(date +%s) - start )) s" >&2
exit $status
