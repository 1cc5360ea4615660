#!/usr/bin/env bash
# Multi-GPU runs of the challenge networks: for each network, one GPU, then every device list in
# $DEVICES with static and balanced partitioning. Every multi-GPU answer is checked against the
# one-GPU answer (categories with `spdnn verify`, per-layer counts from the JSON reports).
# Usage: bench/challenge/scaling_bench.sh BUILD_DIR OUT_DIR [N ...]
#   DEVICES="0,1"      device lists for the multi-GPU runs (a list may repeat a GPU: parts share it)
#   LAYERS="120 480 1920"
set -uo pipefail
build=$1; out=$2; shift 2
sizes=${*:-1024 4096 16384 65536}
layers=${LAYERS:-120 480 1920}
device_lists=${DEVICES:-0,1}
cache=${CACHE:-data/challenge-bench}
spdnn="$build/bin/spdnn"
mkdir -p "$cache" "$out"
first=$(echo "$device_lists" | cut -d, -f1 | cut -d' ' -f1)

same_layers() {  # same per-layer counts and categories count in two JSON reports
  python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
sys.exit(0 if a["layers"] == b["layers"] and a["categories"] == b["categories"] else 1)
PY
}

for n in $sizes; do
  inputs="$cache/sparse-images-$n.spdnn"
  [ -f "$inputs" ] || "$spdnn" generate -q --neurons "$n" --what inputs --format bin --out "$cache" || exit 1
  for l in $layers; do
    base="$out/n$n-l$l"
    "$spdnn" run -q --neurons "$n" --layers "$l" --inputs "$inputs" --devices "$first" \
      --categories "$base-1gpu.categories" --json "$base-1gpu.json" | grep -E "throughput" | sed "s/^/N=$n L=$l 1 GPU: /"
    for list in $device_lists; do
      for mode in static balanced; do
        tag="$base-$(echo "$list" | tr , _)-$mode"
        "$spdnn" run -q --neurons "$n" --layers "$l" --inputs "$inputs" --devices "$list" --partition "$mode" \
          --categories "$tag.categories" --json "$tag.json" | grep -E "throughput|gpus" | tr '\n' ' ' |
          sed "s/^/N=$n L=$l devices $list $mode: /"
        if "$spdnn" verify "$tag.categories" "$base-1gpu.categories" >/dev/null && same_layers "$tag.json" "$base-1gpu.json"; then
          echo " [same answer and layer counts as 1 GPU]"
        else
          echo " [DIFFERS from 1 GPU]"; echo "$tag" >>"$out/differences.txt"
        fi
        rm -f "$tag.categories"
      done
    done
  done
done
