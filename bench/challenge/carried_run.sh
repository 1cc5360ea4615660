#!/usr/bin/env bash
# One GPU call with binaries built on a workstation and carried (no build on the device): the GPU tests,
# then the peers kit (../shared/peers, prepared into .peers) with this spdnn and, beside it in the same
# call on the same files, other builds or settings (spdnn_mode.sh SPDNN_MODE=also). Results in $OUT.
#
# Prepare (workstation; sm_90, no MPI, so that the device needs no MPI libraries):
#   cmake -S . -B build/nompi -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPDNN_ENABLE_MPI=OFF \
#     -DSPDNN_BUILD_BENCH=OFF -DSPDNN_BUILD_PYTHON=OFF && ninja -C build/nompi spdnn_cli spdnn_gpu_tests
#   mkdir -p .carry/bin && strip -o .carry/bin/spdnn build/nompi/bin/spdnn
#   strip -o .carry/bin/spdnn_gpu_tests build/nompi/bin/spdnn_gpu_tests     # optional: TESTS=0 skips them
#   cp -r ../shared/data/graphchallenge .carry/data/                         # the official subset's tests
# and carry .carry and .peers (64 MiB in all; libraries the device lacks come from .peers/lib).
# Run (device): COMMIT=abc1234 ALSO="tag:BINARY:SETTING ..." bash bench/challenge/carried_run.sh NxL ...
#   ALSO    entries of SPDNN_ALSO (spdnn_mode.sh): e.g. "old:$PWD/.carry/old/spdnn: nofma::SPDNN_EXACT_FMA=0
#           layers::--layer-times"; default: per-layer times of this build
#   GTEST   the GPU tests to run (default: the cuda engine's); TESTS=0: none
#   LIMIT   seconds the call may take (default 570)
#   PACK=1  at the end, $OUT holds one file, all.tgz, with everything (the device tool brings back at most 8
#           files: this script leaves 6, gpu.txt, gtest.log, peers/{results.tgz,run.log,summary.json,summary.md},
#           so a caller that adds files of its own sets PACK=1 and writes them before it calls this)
set -uo pipefail
out=${OUT:-out}
bin=${BIN:-$PWD/.carry/bin}
mkdir -p "$out"
pack() {
  [ "${PACK:-0}" = 1 ] || return 0
  local all
  all=$(mktemp --suffix=.tgz) && tar czf "$all" -C "$out" . && find "$out" -mindepth 1 -delete && mv "$all" "$out/all.tgz"
}
trap pack EXIT
source bench/challenge/carried_libs.sh "$bin"
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader | tee "$out/gpu.txt"
if [ "${TESTS:-1}" = 1 ] && [ -x "$bin/spdnn_gpu_tests" ]; then
  SPDNN_DATA_DIR=$PWD/.carry/data timeout 200 "$bin/spdnn_gpu_tests" \
    --gtest_filter="${GTEST:-CudaEngine*:*CudaVsReference*}" >"$out/gtest.log" 2>&1
  echo "gtest rc $?"
  grep -E "^\[ +(FAILED|SKIPPED|PASSED) |Failure|tests ran" "$out/gtest.log" | head -20
  echo "tests done at $SECONDS s"
fi
[ "$#" -gt 0 ] || exit 0
SPDNN_BIN=$bin/spdnn SPDNN_MODE=also SPDNN_ALSO=${ALSO:-"layers::--layer-times"} \
  SPDNN=$PWD/bench/challenge/spdnn_mode.sh OUT="$out/peers" COMMIT=${COMMIT:-unknown} \
  BUDGET=$(( ${LIMIT:-570} - SECONDS - 20 )) bash .peers/run_all.sh "$@" 2>&1 | tail -40
echo "done at $SECONDS s"
