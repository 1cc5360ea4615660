#!/usr/bin/env bash
# Times the generic kernel over the ResNet-50 1x1 layers (batch 1 and 8) under each setting of an
# experiment variable (e.g. SPDNN_EXP_PIECE=32), after checking it against float64 in the generic-kernel GPU test.
# Usage on the device, after `bench/gpu/device_run.sh` built build/device:
#   bench/sparse/experiments/generic_variants.sh OUT_DIR SPARSITY VAR=VALUE...   (- for no variable)
set -uo pipefail
out=$1 sparsity=$2
shift 2
mkdir -p "$out"
bin=build/device/bin/spdnn
for v in "$@"; do
  setting=(); [ "$v" != - ] && setting=($v)
  env "${setting[@]}" build/device/bin/spdnn_gpu_tests --gtest_filter='*GenericKernel*' >"$out/test_${v// /+}.log" 2>&1
  echo "$v test: $(grep -E 'PASSED|FAILED' "$out/test_${v// /+}.log" | head -2 | tr '\n' ' ')"
  start=$SECONDS
  env "${setting[@]}" "$bin" sparse bench --generic --paths generic --rounds 3 --batch 1 --batch 8 \
    --matrices ".carry/data/dlmc/rn50/magnitude_pruning/$sparsity/bottleneck_[13p]*.smtx.gz" \
    --json "$out/generic_${sparsity}_${v// /+}.json" 2>"$out/bench_${v// /+}.log"
  echo "$v bench exit $? in $((SECONDS - start)) s"
done
