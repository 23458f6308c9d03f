#!/usr/bin/env bash
# The main job: set up on a fresh machine, then run edgepower on the built-in default.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$EDGEPOWER_ROOT"
mkdir -p results
exec edgepower monitor --sensor "square:low=2,high=8,period=0.1" --duration 5 -o results/trace.csv "$@"
