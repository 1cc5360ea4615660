#!/usr/bin/env bash
# Everything one GPU session needs, in one call: build for sm_90, run the whole test suite (GPU tests
# included), then the challenge benchmark for the sizes given. Logs and JSON go to $OUT.
# Usage on the device: bench/challenge/device_run.sh [N ...]     (data: .carry/data, see README)
#   PYTHON=1     also build the Python extension and run the pytest suite against it (GPU tests included)
#   STRUCTURE="1024x120 16384x480 ..."  also structure_bench.sh with the cuda engine on those networks
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
export SPDNN_DATA_DIR=$PWD/.carry/data
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv >"$out/gpu.txt" 2>&1
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cmake -S . -B build/device -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DSPDNN_DATA_DIR="$SPDNN_DATA_DIR" -DSPDNN_BUILD_PYTHON="${PYTHON:-0}" >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
  # TARGETS (e.g. spdnn_cli) builds less when the tests are not run.
  cmake --build build/device -j16 ${TARGETS:+--target $TARGETS} >"$out/build.log" 2>&1 ||
    { grep -E "error" -A3 "$out/build.log" | head -40; exit 1; }
  echo "built in $SECONDS s"
fi
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  ctest --test-dir build/device -j4 --output-on-failure >"$out/ctest.log" 2>&1
  grep -E "tests passed|Failed|\*\*\*" "$out/ctest.log" | head -30
fi
if [ "${PYTHON:-0}" = 1 ]; then
  # The package as installed: python/spdnn plus the extension just built, in a scratch folder.
  pkg=$(mktemp -d) && cp -r python/spdnn "$pkg/" && cp build/device/python/_spdnn*.so "$pkg/spdnn/"
  PYTHONPATH="$pkg" python3 -m pytest -q -rs python/tests >"$out/pytest.log" 2>&1
  tail -15 "$out/pytest.log"
fi
if [ -n "${STRUCTURE:-}" ]; then
  NETWORKS="$STRUCTURE" RANDOM_NETWORKS="${STRUCTURE_RANDOM:-1024x120}" \
    bench/challenge/structure_bench.sh build/device "$out/structure" cuda 2>&1 | tail -5
  rm -rf "$out/structure/nets"
fi
if [ $# -gt 0 ]; then
  bench/challenge/challenge_bench.sh build/device "$out/bench" "$@" 2>&1 | tee "$out/bench.log"
  python3 bench/challenge/summarize.py "$out/bench" "$out/challenge_h100.json" "${COMMIT:-unknown}" \
    "bench/challenge/device_run.sh $*" | tee "$out/summary.md"
  tar czf "$out/bench.tgz" -C "$out" bench && rm -rf "$out/bench"
fi
