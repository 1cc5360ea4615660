#!/usr/bin/env bash
# The GPU scripts' first step: builds spdnn for sm_90 into build/device, configuring only once (a warm
# machine keeps build outputs between calls, so a later call rebuilds just what changed). PYTHON=1 adds
# the Python extension (_spdnn).
# Usage on the device: bench/challenge/device_build.sh OUT TARGET ...   (logs: OUT/configure.log, build.log)
set -uo pipefail
out=$1
shift
python=${PYTHON:-0}
targets=("$@")
[ "$python" = 1 ] && targets+=(_spdnn)
{ [ -f build/device/build.ninja ] && [ "$python" != 1 ]; } ||
  cmake -S . -B build/device -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DSPDNN_BUILD_BENCH=OFF -DSPDNN_BUILD_PYTHON="$([ "$python" = 1 ] && echo ON || echo OFF)" \
    -DSPDNN_DATA_DIR="${SPDNN_DATA_DIR:-}" >"$out/configure.log" 2>&1 &&
  cmake --build build/device -j16 --target "${targets[@]}" >"$out/build.log" 2>&1 ||
  { grep -E "error" -A3 "$out/build.log" | head -30; exit 1; }
echo "built in $SECONDS s"
