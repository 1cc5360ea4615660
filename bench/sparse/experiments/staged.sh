#!/usr/bin/env bash
# X staged through shared memory (bench/results/sparse_explore_h100.md, experiment 8), outside spdnn:
# needs the emitter of staged_x_in_shared_memory.patch (on commit 417a7f7: `git apply` it, rebuild
# build/device) and an emit_source that sets shape.stage_rows and shape.tile_warps (arguments 6 and 7).
# Each variant is timed by cubin_harness with its stage rows and warps per row group.
# Usage: bench/sparse/experiments/staged.sh EMIT_SOURCE OUT_DIR
set -uo pipefail
emit=$1; out=$2; w=$(mktemp -d); mkdir -p "$out"
d=.carry/data/dlmc/rn50/magnitude_pruning/0.9
nvcc -O2 -arch=sm_90 bench/sparse/experiments/cubin_harness.cu -lcuda -o "$w/harness" || exit 1
cases="bottleneck_1_block_group3_1_1 1024 256 1568
bottleneck_3_block_group3_1_1 256 1024 1568
bottleneck_1_block_group1_1_1 256 64 25088"
while read -r m k rows n; do
  for r in 8 16 32; do for kc in 32 64 128 256; do for tw in 1 2 4 8; do
    "$emit" "$d/$m.smtx.gz" $r 1 "$w/${m}__${k}_${rows}_${n}_r${r}_k${kc}_w${tw}.cu" 1 $kc $tw
  done; done; done
done <<<"$cases"
ls "$w"/*.cu | xargs -P 16 -I{} sh -c 'nvcc -arch=sm_90 -cubin -o "${1%.cu}.cubin" "$1" >/dev/null 2>&1' _ {}
for c in "$w"/*.cubin; do
  b=$(basename "$c" .cubin); IFS=_ read -r k rows n r kc tw <<<"${b#*__}"; r=${r#r}; kc=${kc#k}; tw=${tw#w}
  for per in 1 2 4; do t=$((32 * tw * per)); [ $t -le 1024 ] &&
    "$w/harness" "$c" "$k" "$rows" "$n" $t $(( (rows + r - 1) / r )) 1 "$kc" "$tw"; done
done | sed "s|$w/||" | tee "$out/staged.txt"
