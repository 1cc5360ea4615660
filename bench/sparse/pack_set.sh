#!/usr/bin/env bash
# On the build machine (no GPU needed): compiles every candidate module of one DLMC ResNet-50 set at one batch
# size for sm_90 and packs them with xz, so that a device call loads them instead of compiling. With N compiled
# into the modules (the default), each batch size is a set of its own; compiling dominates a device call
# otherwise (the 0.95 set at batch 1: 267 s on the H200 host's 16 cores; 11 minutes here on 2 cores at batch 8,
# 103 MB of modules, 23 MB packed). Run from the repository root after ./scripts/build.sh.
# Usage: bench/sparse/pack_set.sh SPARSITY BATCH   -> .carry/modules-SPARSITY-bBATCH.tar.xz (data: .carry/data)
set -euo pipefail
sparsity=$1; batch=$2
modules=.carry/modules-$sparsity-b$batch
mkdir -p "$modules"
build/release/bin/spdnn sparse bench --compile-only --arch 90 --batch "$batch" --cache-dir "$modules" \
  --matrices ".carry/data/dlmc/rn50/magnitude_pruning/$sparsity/bottleneck_[13p]*.smtx.gz"
tar cf - -C "$modules" . | xz -T0 -6 >"$modules.tar.xz"
du -sh "$modules" "$modules.tar.xz"
