#!/usr/bin/env bash
# On the device: builds the CLI for sm_90, unpacks the modules of bench/sparse/pack_set.sh and times one DLMC
# ResNet-50 set at one batch size with every path (`spdnn sparse bench`); what is missing from the archive is
# compiled there. Carry .carry/modules-SPARSITY-bBATCH.tar.xz, .carry/data/dlmc/rn50_batchsizes.txt and
# .carry/data/dlmc/rn50/magnitude_pruning/SPARSITY (several sets seldom fit the 64 MiB a call carries).
# Usage: bench/sparse/run_packed_set.sh SPARSITY BATCH [more `spdnn sparse bench` options]   (JSON and log in $OUT)
set -uo pipefail
sparsity=$1; batch=$2; shift 2
out=${OUT:-out}
mkdir -p "$out"
OUT=/tmp/device_build TARGETS=spdnn_cli SKIP_TESTS=1 bench/challenge/device_run.sh || exit 1
cache=/tmp/modules-$sparsity-b$batch
mkdir -p "$cache"
tar xJf ".carry/modules-$sparsity-b$batch.tar.xz" -C "$cache" && echo "unpacked $(ls "$cache" | wc -l) modules at $SECONDS s"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | grep -oiE '[a-z][0-9]{2,4}' | head -1 | tr 'A-Z' 'a-z')  # h200, h100
json=$out/sparse_rn50_${sparsity}_b${batch}_${gpu:-gpu}.json
SPDNN_DATA_DIR=$PWD/.carry/data build/device/bin/spdnn sparse bench --cache-dir "$cache" --batch "$batch" --json "$json" \
  --matrices ".carry/data/dlmc/rn50/magnitude_pruning/$sparsity/bottleneck_[13p]*.smtx.gz" "$@" 2>"$out/bench_${sparsity}_b$batch.log"
echo "bench exit $? at $SECONDS s"
python3 bench/sparse/summarize.py "$json"
