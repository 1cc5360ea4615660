#!/usr/bin/env bash
# Times fixed kernel configurations (`spdnn sparse run --config`) on a few matrices, to see what bounds the
# generated kernels: the modules are compiled first, on all cores, then each (matrix, config) is timed alone.
# Usage: bench/sparse/config_sweep.sh BUILD_DIR OUT_DIR   (data: .carry/data)
# CONFIGS: space-separated --config strings (include/spdnn/sparse/kernel_config.hpp);
# CASES: "SPARSITY/matrix N" lines under the rn50 folder.
set -uo pipefail
build=$1; out=$2
mkdir -p "$out"
d=.carry/data/dlmc/rn50/magnitude_pruning
cases=${CASES:-"0.9/bottleneck_1_block_group3_1_1 196
0.9/bottleneck_1_block_group3_1_1 1568
0.9/bottleneck_3_block_group3_1_1 1568"}
configs=${CONFIGS:-"rows=32 rows=32,prefetch=8 rows=32,prefetch=16 rows=32,prefetch=32"}
cache=$out/cache
# Each module once, on every core (the block width is a launch parameter: configurations that differ only
# in it share a module, which the second compile finds cached).
while read -r m n; do
  for c in $configs; do echo "$m $n $c"; done
done <<<"$cases" | sort -u |
  xargs -P "$(nproc)" -L 1 bash -c '"$0" sparse bench --compile-only --arch 90 --config "$3" --n "$2" \
    --matrices "'"$d"'/$1.smtx.gz" --cache-dir "'"$cache"'" --jobs 1 >/dev/null 2>&1 || echo "compile failed: $1 $3"' \
    "$build/bin/spdnn"
echo "compiled at $SECONDS s"
k=0
while read -r m n; do
  for c in $configs; do
    k=$((k + 1))
    "$build/bin/spdnn" sparse run --matrix "$d/$m.smtx.gz" --n "$n" --config "$c" --cache-dir "$cache" \
      --json "$out/run$k.json" >"$out/run$k.log" 2>&1
  done
done <<<"$cases"
python3 - "$out" <<'PY'
import glob, json, sys
rows = []
for f in glob.glob(sys.argv[1] + "/run*.json"):
    r = json.load(open(f))
    c = ",".join(f"{k}={v}" for k, v in r["kernel"].get("config", {}).items())
    rows.append((r["matrix"].split("/")[-2] + "/" + r["matrix"].split("/")[-1][:40], r["rows"], r["cols"], r["n"], c,
                 r["kernel"].get("compile_s", 0), r["graph_us"], r["plain_us"], r["passed"]))
for row in sorted(rows):
    print("%-52s %5d x %5d N=%5d %s  compile %6.1f s  graph %7.2f us  plain %7.2f us  %s" % row)
PY
