#!/usr/bin/env bash
# One GPU call for the layer kernel: build spdnn and its GPU tests for sm_90 into build/device, run the GPU
# tests named by GTEST, then on each network (generated RadiX-Net, seed 1, MNIST inputs from
# .carry/data/mnist) every layer-kernel shape of SHAPES twice (SPDNN_LAYER_KERNEL; "auto" is the engine's
# own choice; "structure": that choice in --mode structure, rows merged; "SHAPE+VAR=VALUE": with that
# environment setting, e.g. structure+SPDNN_INPUT_BITS=0), the shapes of LAYER_SHAPES once more with
# --layer-times, and, for the networks listed in NCU, Nsight Compute on one steady-state layer (NCU_LAYER,
# default L/2) with each shape of NCU_SHAPES (default: 16,256,1 and 16,64,4; "structure" in that mode):
# NCU_COUNT launches (default 1) of the kernels matching NCU_KERNELS (default layer_kernel; "." for every
# kernel, merges included), with NCU_SECTIONS. Every run writes its JSON report and categories.
# Usage on the device: bench/challenge/kernel_run.sh NxL ...   (results in $OUT; summarize_kernels.py)
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out/runs"
export SPDNN_DATA_DIR=$PWD/.carry/data
limit=${LIMIT:-590}
PYTHON=0 bash bench/challenge/device_build.sh "$out" spdnn_cli spdnn_gpu_tests || exit 1
spdnn=$PWD/build/device/bin/spdnn
if [ -n "${GTEST:-}" ]; then
  build/device/bin/spdnn_gpu_tests --gtest_filter="$GTEST" >"$out/gtest.log" 2>&1
  grep -E "^\[ +(FAILED|SKIPPED|PASSED) |Failure|Expected|Which|tests ran" "$out/gtest.log" | head -20
  echo "GPU tests done at $SECONDS s"
fi
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv,noheader >"$out/gpu.txt"
data=/tmp/kernel-run
file_tag() { local t=${1//,/-}; t=${t//+/-}; echo "${t//=/-}"; }
mkdir -p "$data"
shapes=${SHAPES:-"16,256,1 16,64,4 structure 8,128,4 32,64,2 16,256,4"}
for net in "$@"; do
  n=${net%x*} l=${net#*x}
  [ $((limit - SECONDS)) -gt 60 ] || { echo "skip $net: $((limit - SECONDS)) s left"; continue; }
  [ -f "$data/sparse-images-$n.spdnn" ] ||
    "$spdnn" generate -q --neurons "$n" --seed 1 --mnist "$SPDNN_DATA_DIR/mnist/train-images-idx3-ubyte.gz" --what inputs --format bin --out "$data" || exit 1
  rm -f "$data"/neuron*-l*.spdnn
  "$spdnn" generate -q --neurons "$n" --layers "$l" --seed 1 --what network --format bin --out "$data" || exit 1
  run() {  # shape[+VAR=VALUE] tag [extra options]
    local token=$1 tag=$2
    shift 2
    local shape=${token%%+*} setting=
    [[ "$token" == *+* ]] && setting=${token#*+}
    local mode=general
    [ "$shape" = structure ] && mode=structure
    env ${setting:+"$setting"} SPDNN_LAYER_KERNEL=$([ "$shape" = auto ] || [ "$shape" = structure ] || echo "$shape") \
      timeout 200 "$spdnn" run -q \
      --engine cuda --mode "$mode" \
      --weights "$data/neuron$n-l$l.spdnn" --inputs "$data/sparse-images-$n.spdnn" \
      --json "$out/runs/$net-$(file_tag "$token")-$tag.json" --categories "$out/runs/$net-$(file_tag "$token")-$tag.cats" "$@" |
      grep -E "throughput" | sed "s/^/$net $token $tag: /"
  }
  for shape in $shapes; do
    for rep in 1 2; do run "$shape" "rep$rep"; done
    [[ " ${LAYER_SHAPES:-16,256,1 16,64,4} " == *" $shape "* ]] && run "$shape" layers --layer-times >/dev/null
  done
  if [[ " ${NCU:-} " == *" $net "* ]] && [ $((limit - SECONDS)) -gt 90 ]; then
    sections=()
    for section in ${NCU_SECTIONS:-SpeedOfLight MemoryWorkloadAnalysis ComputeWorkloadAnalysis WarpStateStats Occupancy LaunchStats SchedulerStats}; do
      sections+=(--section "$section")
    done
    for shape in ${NCU_SHAPES:-16,256,1 16,64,4}; do
      mode=general
      [ "$shape" = structure ] && mode=structure
      SPDNN_CUDA_GRAPHS=0 SPDNN_LAYER_KERNEL=$([ "$shape" = auto ] || [ "$shape" = structure ] || echo "$shape") timeout 150 \
        ncu --kernel-name "regex:${NCU_KERNELS:-layer_kernel}" --launch-skip "${NCU_LAYER:-$((l / 2))}" \
        --launch-count "${NCU_COUNT:-1}" "${sections[@]}" \
        "$spdnn" run -q --engine cuda --mode "$mode" --weights "$data/neuron$n-l$l.spdnn" \
        --inputs "$data/sparse-images-$n.spdnn" >"$out/ncu-$net-$(file_tag "$shape").txt" 2>&1
      echo "ncu $net $shape: rc $?"
    done
  fi
done
tar czf "$out/runs.tgz" -C "$out" runs && rm -rf "$out/runs"  # one file: the tool returns few files
echo "done at $SECONDS s"
