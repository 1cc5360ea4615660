#!/usr/bin/env bash
# One device call for the multi-GPU work: build, the engine / partitioned / CLI tests, then
# bench/challenge/scaling_bench.sh. Usage on the device: bench/challenge/partition_device_run.sh [N ...]
#   DEVICES (default: "0,0" with one GPU, else "0,1,...,K-1"), LAYERS as in scaling_bench.sh,
#   LARGEST=65536 adds that network at LAYERS_LARGEST (default 120). Results: $OUT/scaling.{json,md}.
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0
SKIP_TESTS=1 bench/challenge/device_run.sh || exit 1
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  ctest --test-dir build/device -j2 --output-on-failure -R "Partition|Meeting|CudaEngine|CudaVsReference|Cli" \
    >"$out/ctest.log" 2>&1
  grep -E "tests passed|Failed|\*\*\*|Skipped|Not Run" "$out/ctest.log" | head -30
fi
gpus=$(nvidia-smi -L | wc -l)
if [ -z "${DEVICES:-}" ]; then
  if [ "$gpus" -le 1 ]; then DEVICES="0,0"; else DEVICES=$(seq -s, 0 $((gpus - 1))); fi
fi
export DEVICES
echo "GPUs: $gpus; device lists: $DEVICES"
if [ $# -gt 0 ]; then
  bench/challenge/scaling_bench.sh build/device "$out/scaling" "$@" 2>&1 | tee -a "$out/scaling.log"
  # The largest network at L = 120 only (LAYERS_65536 overrides), where time allows.
  if [ -n "${LARGEST:-}" ]; then
    LAYERS=${LAYERS_LARGEST:-120} bench/challenge/scaling_bench.sh build/device "$out/scaling" "$LARGEST" 2>&1 | tee -a "$out/scaling.log"
  fi
  python3 bench/challenge/summarize_scaling.py "$out/scaling" "$out/scaling.json" \
    "${COMMAND:-bench/challenge/partition_device_run.sh $*}" >"$out/scaling.md"
  tar czf "$out/scaling.tgz" -C "$out" scaling && rm -rf "$out/scaling"
fi
