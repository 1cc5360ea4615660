#!/usr/bin/env bash
# Two MPI ranks sharing one GPU against one process on the same GPU: same categories and per-layer
# counts, and what the split costs. Usage: bench/challenge/mpi_shared_gpu.sh BUILD_DIR OUT_DIR N L
set -euo pipefail
build=$1; out=$2; n=$3; l=$4
mkdir -p "$out" data/mpi-bench
inputs=data/mpi-bench/sparse-images-$n.spdnn
[ -f "$inputs" ] || "$build/bin/spdnn" generate -q --neurons "$n" --what inputs --format bin --out data/mpi-bench
"$build/bin/spdnn" run -q --engine cuda --neurons "$n" --layers "$l" --inputs "$inputs" --json "$out/one-n$n-l$l.json" >/dev/null
mpirun --allow-run-as-root --oversubscribe -np 2 "$build/bin/spdnn" run -q --engine cuda --neurons "$n" --layers "$l" \
  --inputs "$inputs" --json "$out/two-n$n-l$l.json" >/dev/null
python3 - "$out/one-n$n-l$l.json" "$out/two-n$n-l$l.json" <<'PY'
import json, sys
one, two = (json.load(open(f)) for f in sys.argv[1:3])
same = one["categories"] == two["categories"] and one["layers"] == two["layers"]
print(f"N={one['network']['neurons']} L={one['network']['layers']}: 1 process {one['teraedges_per_s']:.1f} TE/s, "
      f"2 ranks on one GPU {two['teraedges_per_s']:.1f} TE/s, imbalance {two['imbalance']:.2f}, "
      f"categories {two['categories']['count']}, identical to 1 process: {same}")
print("per rank:", [(r["inputs"], r["survivors"], round(r["inference_s"], 4)) for r in two["per_rank"]])
PY
