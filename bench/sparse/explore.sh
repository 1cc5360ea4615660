#!/usr/bin/env bash
# One device call to see what bounds the generated kernels on a few ResNet-50 layers: build for sm_90,
# run the kernel-generation GPU tests, then `spdnn sparse bench` (specialized and generic only) on the
# layers below at batch 1 and 8, with every candidate's tuning trace in the JSON.
# Usage on the device: bench/sparse/explore.sh [extra `spdnn sparse bench` options]   (data: .carry/data)
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
export SPDNN_DATA_DIR=$PWD/.carry/data
if [ "${SKIP_TESTS:-0}" = 1 ]; then
  SKIP_TESTS=1 TARGETS=spdnn_cli bench/challenge/device_run.sh || exit 1
else
  SKIP_TESTS=1 bench/challenge/device_run.sh || exit 1
  build/device/bin/spdnn_gpu_tests --gtest_filter='*Sparse*' >"$out/gpu_sparse_tests.log" 2>&1
  echo "gpu sparse tests exit $? at $SECONDS s"; grep -E "PASSED|FAILED|Failure" "$out/gpu_sparse_tests.log" | head -20
fi
d=$SPDNN_DATA_DIR/dlmc/rn50/magnitude_pruning/${SPARSITY:-0.9}
layers=${LAYERS:-"bottleneck_1_block_group3_1_1 bottleneck_3_block_group3_1_1 bottleneck_1_block_group1_1_1 bottleneck_3_block_group4_1_1 bottleneck_1_block_group4_1_1"}
args=()
for l in $layers; do args+=(--matrices "$d/$l.smtx.gz"); done
build/device/bin/spdnn sparse bench --cache-dir /tmp/spdnn-kernels --paths specialized,generic --batch 1 --batch 8 \
  --max-unroll 262144 "${args[@]}" --json "$out/explore.json" "$@" 2>"$out/explore.log"
echo "bench exit $? at $SECONDS s"; grep compiling "$out/explore.log" | tail -1
python3 - "$out/explore.json" <<'PY'
import json, sys
for c in json.load(open(sys.argv[1]))["cases"]:
    k = c["kernel"]
    print(f"{c['name'][:36]:36} {c['rows']}x{c['cols']} N={c['n']} {k['path']} precompile={k.get('precompile_s', 0):.0f}s "
          f"spec={c['timings']['specialized']['graph_us']:.1f} generic={c['timings']['generic']['graph_us']:.1f} us")
    for t in [t for t in k.get("tuning", []) if not t.get("generic")]:
        print("    " + ",".join(f"{k}={v}" for k, v in t.items() if k != "us") + f": {t['us']:.1f}")
PY
