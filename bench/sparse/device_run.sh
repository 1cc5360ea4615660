#!/usr/bin/env bash
# One device call for the pruned-layer work: build for sm_90, run the kernel-generation tests (CPU and
# GPU), then `spdnn sparse bench` over the ResNet-50 1x1 layers of DLMC (and the Transformer set when
# TRANSFORMER=1). Logs and JSON go to $OUT. Data: .carry/data (see README).
# Usage on the device: bench/sparse/device_run.sh [extra `spdnn sparse bench` options]
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
export SPDNN_DATA_DIR=$PWD/.carry/data
SKIP_TESTS=1 bench/challenge/device_run.sh || exit 1
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  ctest --test-dir build/device -j4 --output-on-failure -R "Sparse|Emit|Cache|Kernel|Nvrtc|DlWeights|Dlmc|Npy" >"$out/ctest_sparse.log" 2>&1
  grep -E "tests passed|Failed|\*\*\*" "$out/ctest_sparse.log" | head -30
fi
bin=build/device/bin/spdnn
cache=${KERNEL_CACHE:-/tmp/spdnn-kernels}
if [ "${RN50:-1}" = 1 ]; then
  "$bin" sparse bench --cache-dir "$cache" --json "$out/sparse_rn50_h100.json" "$@" 2>"$out/sparse_rn50.log"
  echo "rn50 bench exit $?"; tail -3 "$out/sparse_rn50.log"
fi
if [ "${TRANSFORMER:-0}" = 1 ]; then
  "$bin" sparse bench --cache-dir "$cache" --default-n 256 \
    --matrices "$SPDNN_DATA_DIR/dlmc/transformer/magnitude_pruning/0.9/*.smtx.gz" \
    --matrices "$SPDNN_DATA_DIR/dlmc/transformer/magnitude_pruning/0.95/*.smtx.gz" \
    --json "$out/sparse_transformer_h100.json" "$@" 2>"$out/sparse_transformer.log"
  echo "transformer bench exit $?"; tail -3 "$out/sparse_transformer.log"
fi
tar czf "$out/logs.tgz" -C "$out" $(cd "$out" && ls *.log 2>/dev/null) 2>/dev/null
