#!/usr/bin/env bash
# One command from a fresh clone to a tested build: installs what is missing, builds a preset
# (release by default; also debug or sanitize) and runs every test, with the release preset also the Python
# package's (scripts/test_python.sh). Real-data tests use
# $SPDNN_DATA_DIR (default ../shared/data) and skip visibly without it; GPU tests skip without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
./scripts/setup.sh
./scripts/check_layers.sh
./scripts/build.sh "$preset"
ctest --preset "$preset" -j"$(nproc)"
if [ "$preset" = release ]; then
  ./scripts/test_python.sh
fi
