#!/usr/bin/env bash
# The 12 challenge networks on the GPU: generated RadiX-Net networks (seed 1) with MNIST-regenerated
# inputs, each run verified against the cpu engine's categories (computed once per N and L, cached).
# The cpu engine runs at the same L where that is affordable (N * L <= $CPU_WORK_MAX), else at
# L = 120: the categories do not depend on L (every survivor is saturated, ../shared/docs/DATA.md),
# and the report says which L verified each run.
# Usage: bench/gpu/challenge_bench.sh BUILD_DIR OUT_DIR [N ...]   (default N: 1024 4096 16384 65536)
set -uo pipefail
build=$1; out=$2; shift 2
sizes=${*:-1024 4096 16384 65536}
layers=${LAYERS:-120 480 1920}
cpu_work_max=${CPU_WORK_MAX:-7864320}   # 4096 x 1920
cache=${CACHE:-data/challenge-bench}
spdnn="$build/bin/spdnn"
mkdir -p "$cache" "$out"
for n in $sizes; do
  inputs="$cache/sparse-images-$n.spdnn"
  [ -f "$inputs" ] || "$spdnn" generate -q --neurons "$n" --what inputs --format bin --out "$cache" || exit 1
  for l in $layers; do
    ref_l=$l
    [ $((n * l)) -le "$cpu_work_max" ] || ref_l=120
    truth="$cache/cpu-n$n-l$ref_l.tsv"
    if [ ! -f "$truth" ]; then
      "$spdnn" run -q --engine cpu --neurons "$n" --layers "$ref_l" --inputs "$inputs" --categories "$truth" \
        --json "$out/cpu-n$n-l$ref_l.json" >/dev/null || exit 1
    fi
    "$spdnn" run -q --engine cuda --neurons "$n" --layers "$l" --inputs "$inputs" --truth "$truth" ${GPU_FLAGS:-} \
      --json "$out/gpu-n$n-l$l.json" | grep -E "throughput|categories|verified"
    echo "N=$n L=$l verified against cpu L=$ref_l"
    echo "$ref_l" >"$out/gpu-n$n-l$l.verified-layers"
  done
done
