#!/usr/bin/env bash
# One device call for the sparse convolutions (#29): build for sm_90, run the convolution GPU tests (C++
# and, with PYTEST=1, Python), then `spdnn sparse conv bench` (precompiling first, on all cores) with the
# given options, e.g. --sparsity 0.9,0.95 --batch 1,8. Logs and JSON go to $OUT; summarize_conv.py turns
# the JSON into the results table. Data: .carry/data/dlmc and .carry/data/sparsert (carry both).
# Usage on the device: bench/sparse/conv_device_run.sh [spdnn sparse conv bench options]
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
export SPDNN_DATA_DIR=$PWD/.carry/data
nvidia-smi --query-gpu=name,memory.total --format=csv >"$out/gpu.txt" 2>&1
PYTHON=${PYTEST:-0} bash bench/challenge/device_build.sh "$out" spdnn_cli spdnn_gpu_tests || exit 1
grep -i "cudnn" "$out/configure.log" | head -3
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  build/device/bin/spdnn_gpu_tests --gtest_filter='SparseConv2d*:Conv2dEmitted*:SparseLinear*' >"$out/gtest_conv.log" 2>&1
  grep -E "^\[  (PASSED|FAILED|SKIPPED) |tests ran" "$out/gtest_conv.log" | head -30
fi
if [ "${PYTEST:-0}" = 1 ]; then
  pkg=$(mktemp -d) && cp -r python/spdnn "$pkg/" && cp build/device/python/_spdnn*.so "$pkg/spdnn/"
  PYTHONPATH="$pkg" python3 -m pytest -q -rs python/tests/test_sparse_gpu.py python/tests/test_torch_gpu.py \
    >"$out/pytest.log" 2>&1
  tail -8 "$out/pytest.log"
fi
if [ "${BENCH:-1}" = 1 ]; then
  build/device/bin/spdnn sparse conv bench --cache-dir "${KERNEL_CACHE:-/tmp/spdnn-kernels}" --json "$out/sparse_conv.json" "$@" \
    2>"$out/sparse_conv.log"
  echo "conv bench exit $?"; tail -4 "$out/sparse_conv.log"
fi
