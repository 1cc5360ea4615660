#!/usr/bin/env bash
# Launch bounds and block widths of the generated kernel, outside spdnn (bench/results/sparse_explore_h100.md,
# experiments 6 and 7): for each matrix, the source spdnn emits for 16 and 32 rows per group, compiled
# with __launch_bounds__(256), (256, 2), (512) and (1024), timed by cubin_harness at every block width
# the bound allows. Run on the device from the repository root after bench/gpu/device_run.sh (build/device).
# Usage: bench/sparse/experiments/launch_bounds.sh OUT_DIR
set -uo pipefail
out=$1; w=$(mktemp -d); mkdir -p "$out"
here=bench/sparse/experiments
d=.carry/data/dlmc/rn50/magnitude_pruning/0.9
g++ -std=c++20 -O1 -Iinclude -Isrc -DSPDNN_VERSION='"x"' $here/emit_source.cpp build/device/src/libspdnn.a -lfmt -lz -fopenmp \
  -o "$w/emit_source" || exit 1
nvcc -O2 -arch=sm_90 $here/cubin_harness.cu -lcuda -o "$w/harness" || exit 1
# matrix K M N (N: batch 8)
cases="bottleneck_3_block_group3_1_1 256 1024 1568
bottleneck_1_block_group1_1_1 256 64 25088
bottleneck_1_block_group2_1_1 512 128 6272
bottleneck_projection_block_group_projection_block_group2 256 512 6272
bottleneck_3_block_group1_1_1 64 256 25088
bottleneck_1_block_group3_1_1 1024 256 1568"
while read -r m k rows n; do
  for r in 16 32; do
    "$w/emit_source" "$d/$m.smtx.gz" $r 1 "$w/src.cu"
    for lb in 256,1 256,2 512,1 1024,1; do
      sed "s/__launch_bounds__(256)/__launch_bounds__($lb)/" "$w/src.cu" >"$w/${m}__${k}_${rows}_${n}_r${r}_lb${lb/,/x}.cu"
    done
  done
done <<<"$cases"
ls "$w"/*.cu | xargs -P 16 -I{} sh -c 'nvcc -arch=sm_90 -cubin -o "${1%.cu}.cubin" "$1" >/dev/null 2>&1' _ {}
for c in "$w"/*.cubin; do
  b=$(basename "$c" .cubin); IFS=_ read -r k rows n r lb <<<"${b#*__}"; r=${r#r}; bound=${lb#lb}; bound=${bound%x*}
  for t in 64 128 256 512 1024; do
    [ $t -le "$bound" ] && "$w/harness" "$c" "$k" "$rows" "$n" $t $(( (rows + r - 1) / r )) 1
  done
done | sed "s|$w/||" | tee "$out/launch_bounds.txt"
