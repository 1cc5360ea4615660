#!/usr/bin/env bash
# One device call that compares kernel configurations of one convolution: builds spdnn for sm_90, runs
# `spdnn sparse conv run --config C` for each configuration given in $CONFIGS (separated by spaces) on
# each filter in $FILTERS (a path under .carry/data, then ":" and the image size), then, with NCU=1, profiles
# the first configuration's kernel on the first filter with ncu. Lines of "kernel" and "time" per run go
# to $OUT/sweep.log. Usage on the device: bench/sparse/conv_sweep.sh [spdnn sparse conv run options]
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
export SPDNN_DATA_DIR=$PWD/.carry/data
bash bench/challenge/device_build.sh "$out" spdnn_cli || exit 1
cache=${KERNEL_CACHE:-/tmp/spdnn-kernels}
for spec in $FILTERS; do
  file=${spec%%:*} size=${spec##*:}
  for config in $CONFIGS; do
    echo "== $file $size $config $*" >>"$out/sweep.log"
    build/device/bin/spdnn sparse conv run --filter "$SPDNN_DATA_DIR/$file" --size "$size" --cache-dir "$cache" \
      --config "$config" "$@" 2>&1 | grep -E "^(kernel|check|time) " >>"$out/sweep.log"
  done
done
cat "$out/sweep.log"
if [ "${NCU:-0}" = 1 ]; then
  set -- $FILTERS && first=$1 && set -- $CONFIGS && config=$1
  ncu --kernel-name spdnn_sparse_conv2d --launch-skip 10 --launch-count 1 --section SpeedOfLight \
    --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats --section SchedulerStats \
    --section InstructionStats build/device/bin/spdnn sparse conv run --filter "$SPDNN_DATA_DIR/${first%%:*}" \
    --size "${first##*:}" --cache-dir "$cache" --config "$config" "$@" >"$out/ncu.txt" 2>&1
  grep -E "Throughput|Hit Rate|Occupancy|Registers|Issue Slot|Eligible|Stall|Warp Cycles|Executed Ipc" "$out/ncu.txt" | head -40
fi
