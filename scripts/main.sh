#!/usr/bin/env bash
# The main job: set up on a fresh machine, then run edgepower on the built-in default.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$EDGEPOWER_ROOT"
mkdir -p results
exec edgepower profile vgg11 --out results/vgg11 "$@"
