#!/usr/bin/env bash
# One command from a fresh clone to an answer: installs what is missing, builds, and runs
# `spdnn run` with any arguments given (none: the default problem).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh release >/dev/null
exec ./build/release/bin/spdnn run "$@"
