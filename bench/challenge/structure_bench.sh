#!/usr/bin/env bash
# Structure mode next to general mode, same engine, same call: generated RadiX-Net networks (seed 1,
# MNIST inputs) and a random network of the same shape (no equivalent neurons: what discovery costs
# where it finds nothing). Two repetitions of each; every structure answer is checked against the
# general one (categories and per-layer counts). Writes OUT/runs/*.json and OUT/structure.json.
# Usage: bench/challenge/structure_bench.sh BUILD_DIR OUT_DIR [ENGINE]   (default engine: cpu)
# NETWORKS="1024x120 1024x480 4096x120 4096x480" and RANDOM_NETWORKS="1024x120" choose the sizes.
set -euo pipefail
build=$1; out=$2; engine=${3:-cpu}
networks=${NETWORKS:-1024x120 1024x480 4096x120 4096x480}
random=${RANDOM_NETWORKS:-1024x120}
spdnn="$build/bin/spdnn"
mkdir -p "$out/runs" "$out/nets"
run() {  # NAME MODE ARGS...
  local name=$1 mode=$2; shift 2
  for rep in 1 2; do
    "$spdnn" run -q --engine "$engine" --mode "$mode" "$@" --json "$out/runs/$name-$mode-$rep.json" >/dev/null
  done
}
for nl in $networks; do
  n=${nl%x*}; l=${nl#*x}
  for mode in general structure; do run "radixnet-$nl" "$mode" --neurons "$n" --layers "$l"; done
done
for nl in $random; do
  n=${nl%x*}; l=${nl#*x}
  [ -f "$out/nets/random-$nl/neuron$n-l$l.spdnn" ] ||
    "$spdnn" generate -q --network random --what network --format bin -n "$n" -l "$l" -o "$out/nets/random-$nl" >/dev/null
  for mode in general structure auto; do run "random-$nl" "$mode" --weights "$out/nets/random-$nl/neuron$n-l$l.spdnn"; done
done
python3 "$(dirname "$0")/summarize_structure.py" "$out/runs" --command "$0 BUILD $engine" > "$out/structure.json"
