#!/usr/bin/env bash
# Sparse convolutions (#29) on the device with binaries built on a workstation and carried (no build on
# the device, which takes minutes of the call): GPU tests, then `spdnn sparse conv bench` steps. Results in
# $OUT as one all.tgz, packed after each step (a call cut short still brings back what was done).
#
# Prepare (workstation): the nompi build of bench/challenge/carried_run.sh, then
#   mkdir -p .carry/bin && strip -o .carry/bin/spdnn build/nompi/bin/spdnn
#   strip -o .carry/bin/spdnn_gpu_tests build/nompi/bin/spdnn_gpu_tests
#   for s in 0.9 0.95; do mkdir -p .carry/data/dlmc/rn50/magnitude_pruning/$s
#     cp ../shared/data/dlmc/rn50/magnitude_pruning/$s/bottleneck_2_* .carry/data/dlmc/rn50/magnitude_pruning/$s/; done
#   cp ../shared/data/dlmc/rn50_batchsizes.txt .carry/data/dlmc/ && mkdir -p .carry/data/sparsert
#   cp -r ../shared/data/sparsert/resnet50_3x3 .carry/data/sparsert/
# and carry .carry/bin, .carry/data/dlmc, .carry/data/sparsert (and .carry/kernels.tgz, below).
# Run (device): STEPS="tests compile95 dlmc95" bash bench/sparse/carried_conv_run.sh
#   tests      the convolution and SparseLinear GPU tests (about 200 s: the real filters compile; TESTS
#              gives another gtest filter)
#   compileNN  the tuned DLMC NN% set's modules into the kernel cache, on all cores, no timing (NN = 90, 95)
#   dlmcNN     the tuned DLMC NN% set at batch 1 and 8 against cuDNN (generic and im2col left out;
#              SPDNN_CONV_CLUSTER=1 lets tuning try K split over a cluster, candidates.cpp)
#   untunedNN  the same with each layer's first candidate
#   sparsert   the real SparseRT filters at 90% and 95%, every path (or SPARSERT_PATHS="specialized cudnn_fp32 ...")
#   ptx        inline PTX against the C++ form: its GPU test (bit for bit), then the SparseRT filters untuned
#              in both forms (specialized path, every output checked against float64)
#   sweep      `spdnn sparse conv run --config C` for each C in $CONFIGS on each filter of $FILTERS (a path
#              under .carry/data, ":" and the image size), with $SWEEP_ARGS (e.g. "--batch 8 --relu"); e.g.
#              FILTERS="dlmc/rn50/magnitude_pruning/0.9/bottleneck_2_block_group4_1_1.smtx.gz:7"
#              CONFIGS="rows=8,threads=256,prefetch=32,fixed_n=1 rows=32,threads=512,bound=512,cluster_slices=8,prefetch=32,fixed_n=1"
# Tuning compiles 94 modules for the 95% set: 429 s on the 2-core workstation (829 s of CPU, 104 MB, 36 MB
# gzipped), so fill the cache there and carry it:
#   spdnn sparse conv bench --set dlmc --sparsity 0.95 --batch 1 8 --compile-only --arch 90 --cache-dir /tmp/k
#   tar czf .carry/kernels.tgz -C /tmp/k .        # unpacked into the cache here when present
# (the device took more than 300 s for the same set before candidates were capped at 4096 nonzeros a
# function). The cache ($KERNEL_CACHE, default /tmp/spdnn-kernels) also stays on a warm machine, so a
# compile step in one call and the bench in the next split the work. STEP_S caps each step (seconds).
# INLINE_PTX=0 runs the compile, dlmc, untuned and sparsert steps with --no-inline-ptx (the C++ form; the
# default inline PTX compiles the DLMC 90% set, tuned, in 314 s on the 2-core workstation, about a minute
# on the device's 16 cores).
set -uo pipefail
R=${OUT:-out}
out=$(mktemp -d)
bin=${BIN:-$PWD/.carry/bin}
cache=${KERNEL_CACHE:-/tmp/spdnn-kernels}
mkdir -p "$R"
pack() { tar czf "$R/all.tgz" -C "$out" .; }
mkdir -p "$cache" && [ -f .carry/kernels.tgz ] && tar xzf .carry/kernels.tgz -C "$cache"
source bench/challenge/carried_libs.sh "$bin" >/dev/null
export SPDNN_DATA_DIR=$PWD/.carry/data
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader | tee "$out/gpu.txt"
form=(); [ "${INLINE_PTX:-1}" = 0 ] && form=(--no-inline-ptx)
run_bench() {  # name, then spdnn sparse conv bench options
  local name=$1; shift
  timeout "${STEP_S:-300}" "$bin/spdnn" sparse conv bench --rounds 3 --cache-dir "$cache" --json "$out/$name.json" "$@" \
    >"$out/$name.log" 2>&1
  echo "[$SECONDS s] $name exit $?: $(tail -1 "$out/$name.log")"
  pack
}
bench() { run_bench "$@" "${form[@]}"; }  # in the form INLINE_PTX asks for
level() { [ "$1" = 90 ] && echo 0.9 || echo "0.$1"; }  # a step's percentage as the data folder names it
dlmc=(--set dlmc --batch 1 8 --paths specialized cudnn_fp32 cudnn_tf32 cudnn_fp16)
for step in ${STEPS:-tests dlmc95}; do
  case $step in
    tests)
      timeout "${STEP_S:-300}" "$bin/spdnn_gpu_tests" --gtest_filter="${TESTS:-SparseConv2d*:Conv2dEmitted*:SparseLinear*}" \
        >"$out/gtest.log" 2>&1
      echo "[$SECONDS s] tests exit $?"; grep -E "^\[ +(FAILED|SKIPPED|PASSED) |tests ran" "$out/gtest.log" | head -20
      pack ;;
    compile90 | compile95) bench "$step" --set dlmc --sparsity "$(level "${step#compile}")" --batch 1 8 --compile-only ;;
    dlmc90 | dlmc95) bench "$step" "${dlmc[@]}" --sparsity "$(level "${step#dlmc}")" ;;
    untuned90 | untuned95) bench "$step" "${dlmc[@]}" --sparsity "$(level "${step#untuned}")" --no-tune ;;
    sparsert) bench sparsert --set sparsert --sparsity 0.9 0.95 --batch 1 8 ${SPARSERT_PATHS:+--paths $SPARSERT_PATHS} ;;
    ptx)
      timeout "${STEP_S:-300}" "$bin/spdnn_gpu_tests" --gtest_filter='SparseConv2d.InlinePtx*' >"$out/gtest_ptx.log" 2>&1
      echo "[$SECONDS s] ptx test exit $?"
      for f in cpp ptx; do
        extra=(--inline-ptx); [ $f = cpp ] && extra=(--no-inline-ptx)
        run_bench "sparsert_$f" --set sparsert --sparsity 0.9 0.95 --batch 1 8 --no-tune --paths specialized "${extra[@]}"
      done ;;
    sweep)
      for spec in $FILTERS; do
        for config in $CONFIGS; do
          echo "== ${spec} $config ${SWEEP_ARGS:-}" >>"$out/sweep.log"
          timeout 60 "$bin/spdnn" sparse conv run --filter "$SPDNN_DATA_DIR/${spec%%:*}" --size "${spec##*:}" \
            --cache-dir "$cache" --config "$config" ${SWEEP_ARGS:-} 2>&1 | grep -E "^(kernel|check|time)|rror" >>"$out/sweep.log"
        done
      done
      echo "[$SECONDS s] sweep"; grep -E "^==|^time" "$out/sweep.log" | paste - - | cut -c1-200
      pack ;;
    *) echo "unknown step $step" ;;
  esac
done
pack
