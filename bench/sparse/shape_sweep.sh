#!/usr/bin/env bash
# Times fixed kernel shapes (`spdnn sparse run --shape`) on a few matrices, to see what bounds the
# generated kernels: the modules are compiled first, on all cores, then each (matrix, shape) is timed alone.
# Usage: bench/sparse/shape_sweep.sh BUILD_DIR OUT_DIR   (data: .carry/data)
# SHAPES: ROWS,COLS,THREADS,KSLICES,COLUMN_BLOCKS,PREFETCH[,LAUNCH_BOUND[,BLOCK_SLICES[,BLOCK_GROUPS[,FIXED_STRIDE]]]];
# CASES: "SPARSITY/matrix N" lines
# under the rn50 folder.
set -uo pipefail
build=$1; out=$2
mkdir -p "$out"
d=.carry/data/dlmc/rn50/magnitude_pruning
cases=${CASES:-"0.9/bottleneck_1_block_group3_1_1 196
0.9/bottleneck_1_block_group3_1_1 1568
0.9/bottleneck_3_block_group3_1_1 1568"}
shapes=${SHAPES:-"32,1,128,1,0,0 32,1,128,1,0,8 32,1,128,1,0,16 32,1,128,1,0,32"}
cache=$out/cache
# Each module once (its launch width and column blocks are launch parameters, not compiled in), on every
# core: "matrix N R,C,T,K,B,P[,L[,S[,G[,F]]]]" -> "matrix N R,C,32*S*G,K,0,P,L,S,G,F", duplicates dropped.
while read -r m n; do
  for s in $shapes; do
    IFS=, read -r r c _ k _ p l b g f <<<"$s"
    echo "$m $n $r,$c,$((32 * ${b:-1} * ${g:-1})),$k,0,${p:-0},${l:-256},${b:-1},${g:-1},${f:-0}"
  done
done <<<"$cases" | sort -u |
  xargs -P "$(nproc)" -L 1 bash -c '"$0" sparse bench --compile-only --arch 90 --shape "$3" --n "$2" \
    --matrices "'"$d"'/$1.smtx.gz" --cache-dir "'"$cache"'" --jobs 1 >/dev/null 2>&1 || echo "compile failed: $1 $3"' \
    "$build/bin/spdnn"
echo "compiled at $SECONDS s"
k=0
while read -r m n; do
  for s in $shapes; do
    k=$((k + 1))
    "$build/bin/spdnn" sparse run --matrix "$d/$m.smtx.gz" --n "$n" --shape "$s" --cache-dir "$cache" \
      --json "$out/run$k.json" >"$out/run$k.log" 2>&1
  done
done <<<"$cases"
python3 - "$out" <<'PY'
import glob, json, sys
rows = []
for f in glob.glob(sys.argv[1] + "/run*.json"):
    r = json.load(open(f))
    s = r["kernel"].get("shape", {})
    shape = ",".join(str(s.get(k)) for k in ("rows_per_group", "cols_per_thread", "threads", "k_slices", "column_blocks", "prefetch", "max_threads", "block_slices", "block_groups", "fixed_stride", "blocks_per_sm"))
    rows.append((r["matrix"].split("/")[-2] + "/" + r["matrix"].split("/")[-1][:40], r["rows"], r["cols"], r["n"], shape,
                 r["kernel"].get("compile_s", 0), r["graph_us"], r["plain_us"], r["passed"]))
for row in sorted(rows):
    print("%-52s %5d x %5d N=%5d shape=%-26s compile %6.1f s  graph %7.2f us  plain %7.2f us  %s" % row)
PY
