#!/usr/bin/env bash
# Times fixed kernel shapes (`spdnn sparse run --shape`) on a few matrices, all compiled at once in the
# background (one process each), to see what bounds the generated kernels.
# Usage: bench/sparse/shape_sweep.sh BUILD_DIR OUT_DIR   (data: .carry/data)
set -uo pipefail
build=$1; out=$2
mkdir -p "$out"
d=.carry/data/dlmc/rn50/magnitude_pruning
cases=(
  "$d/0.9/bottleneck_1_block_group3_1_1.smtx.gz 196"
  "$d/0.9/bottleneck_1_block_group3_1_1.smtx.gz 1568"
  "$d/0.95/bottleneck_1_block_group_projection_block_group3.smtx.gz 196"
  "$d/0.9/bottleneck_3_block_group3_1_1.smtx.gz 196"
)
shapes=${SHAPES:-"32,1,64,1 32,1,256,8 32,1,128,4 16,1,64,1 8,1,64,1 4,1,64,1 8,1,256,8"}
k=0
for c in "${cases[@]}"; do
  set -- $c
  for s in $shapes; do
    k=$((k + 1))
    ( "$build/bin/spdnn" sparse run --matrix "$1" --n "$2" --shape "$s" --cache-dir "$out/cache$k" \
        --json "$out/run$k.json" >"$out/run$k.log" 2>&1; rm -rf "$out/cache$k" ) &
  done
done
wait
python3 - "$out" <<'PY'
import glob, json, sys
rows = []
for f in glob.glob(sys.argv[1] + "/run*.json"):
    r = json.load(open(f))
    k = r["kernel"]
    s = k.get("shape", {})
    rows.append((r["matrix"].split("/")[-2] + "/" + r["matrix"].split("/")[-1][:40], r["rows"], r["cols"], r["n"],
                 f"{s.get('rows_per_group')},{s.get('cols_per_thread')},{s.get('threads')},{s.get('k_slices')}",
                 k.get("compile_s", 0), r["graph_us"], r["plain_us"], r["passed"]))
for row in sorted(rows):
    print("%-52s %5d x %5d N=%5d shape=%-12s compile %6.1f s  graph %7.2f us  plain %7.2f us  %s" % row)
PY
