#!/usr/bin/env bash
# The 12 challenge networks on the GPU: generated RadiX-Net networks (seed 1) with MNIST-regenerated
# inputs. Every GPU answer is checked with `spdnn verify` against the cpu engine's categories for the
# same N and seed, computed once and cached. The cpu engine runs at the same L where that is affordable
# (N * L <= $CPU_WORK_MAX), else at L = 120: the categories do not depend on L (every survivor is
# saturated, ../shared/docs/DATA.md); each result records the L that verified it. The cpu reference
# runs in the background while the GPU runs (they time themselves with device events).
# Usage: bench/challenge/challenge_bench.sh BUILD_DIR OUT_DIR [N ...]   (default N: 1024 4096 16384 65536)
set -uo pipefail
build=$1; out=$2; shift 2
sizes=${*:-1024 4096 16384 65536}
layers=${LAYERS:-120 480 1920}
cpu_work_max=${CPU_WORK_MAX:-7864320}   # 4096 x 1920
cache=${CACHE:-data/challenge-bench}
spdnn="$build/bin/spdnn"
mkdir -p "$cache" "$out"
pack() { tar czf "$out.partial.tgz" -C "$out" . 2>/dev/null; }

ref_layers() { if [ $(($1 * $2)) -le "$cpu_work_max" ]; then echo "$2"; else echo 120; fi; }

for n in $sizes; do
  inputs="$cache/sparse-images-$n.spdnn"
  [ -f "$inputs" ] || "$spdnn" generate -q --neurons "$n" --what inputs --format bin --out "$cache" || exit 1
  # cpu references needed for this N, in the background
  refs=$(for l in $layers; do ref_layers "$n" "$l"; done | sort -un)
  (
    for rl in $refs; do
      truth="$cache/cpu-n$n-l$rl.tsv"
      [ -f "$truth" ] || "$spdnn" run -q --engine cpu --neurons "$n" --layers "$rl" --inputs "$inputs" \
        --categories "$truth.tmp" --json "$out/cpu-n$n-l$rl.json" >/dev/null && mv "$truth.tmp" "$truth"
    done
  ) &
  cpu_pid=$!
  for l in $layers; do
    "$spdnn" run -q --engine cuda --neurons "$n" --layers "$l" --inputs "$inputs" ${GPU_FLAGS:-} \
      --categories "$out/gpu-n$n-l$l.categories" --json "$out/gpu-n$n-l$l.json" | grep -E "throughput|categories"
    pack
  done
  wait "$cpu_pid"
  for l in $layers; do
    rl=$(ref_layers "$n" "$l")
    if "$spdnn" verify "$out/gpu-n$n-l$l.categories" "$cache/cpu-n$n-l$rl.tsv" >/dev/null; then r=passed; else r=FAILED; fi
    echo "$r $rl" >"$out/gpu-n$n-l$l.verified"
    echo "N=$n L=$l: $r against cpu L=$rl"
  done
  pack
done
