#!/usr/bin/env bash
# spdnn alone, several settings on the same generated files, in one GPU call: cheaper than the peers kit
# (carried_run.sh) when only spdnn's settings are compared. Carried binaries as in carried_run.sh.
# Run (device): NETS="1024x120 16384x480" SETS="base: structure:--mode=structure" \
#   bash bench/challenge/carried_sweep.sh
#   SETS  tag:SETTING+SETTING entries, each ENV=VALUE for the environment or an option of `spdnn run`
#         (--mode=structure); "base:" runs with nothing set. Every entry runs twice and its categories are
#         compared with base's first run, so put base first
#   MNIST the MNIST training images (default .peers/data/train-images-idx3-ubyte.gz)
#   NETWORK radixnet (default) or random (the same shape, no equal neurons: structure mode's overhead)
#   NCU   after each entry's two runs, one more under Nsight Compute (clocks left alone; checkpoints read by
#         the host, SPDNN_DEVICE_STOP=0, since ncu skips the kernel nodes of graphs that can hold
#         conditional nodes): "time" for every kernel's duration (summarize_ncu.py totals them by kernel),
#         else ncu options, e.g. "--section SpeedOfLight --section MemoryWorkloadAnalysis -k regex:column"
# Results in $OUT: TAG-NxL-rR.{json,log,cats}, and a line a run on stdout.
set -uo pipefail
out=${OUT:-out}
bin=${BIN:-$PWD/.carry/bin}/spdnn
data=/tmp/carried-sweep
mkdir -p "$out" "$data"
source bench/challenge/carried_libs.sh "$(dirname "$bin")"
for net in ${NETS:?NxL ...}; do
  N=${net%x*} L=${net#*x}
  [ -f "$data/sparse-images-$N.spdnn" ] ||
    "$bin" generate -q --neurons "$N" --seed 1 --mnist "${MNIST:-.peers/data/train-images-idx3-ubyte.gz}" --what inputs \
      --format bin --out "$data"
  rm -f "$data"/neuron*-l*.spdnn
  "$bin" generate -q --neurons "$N" --layers "$L" --seed 1 --network "${NETWORK:-radixnet}" --what network --format bin \
    --out "$data"
  echo "[$SECONDS s] $net ready"
  for s in ${SETS:-base:}; do
    tag=${s%%:*} env=() opt=()
    IFS=+ read -ra settings <<<"${s#*:}"
    for one in "${settings[@]}"; do
      case $one in -*) opt+=("$one") ;; *) env+=("$one") ;; esac
    done
    for r in 0 1; do
      f=$out/$tag-$net-r$r
      env "${env[@]}" timeout 150 "$bin" run -q --engine cuda "${opt[@]}" --weights "$data/neuron$N-l$L.spdnn" \
        --inputs "$data/sparse-images-$N.spdnn" --json "$f.json" --categories "$f.cats" >"$f.log" 2>&1 ||
        echo "$tag $net r$r FAILED"
      same=$(cmp -s "$f.cats" "$out/base-$net-r0.cats" && echo "same categories" || echo "categories DIFFER")
      echo "[$SECONDS s] $tag $net r$r: $(grep -E 'throughput|categories' "$f.log" | tr '\n' ' ') $same"
    done
    if [ -n "${NCU:-}" ]; then
      command -v ncu >/dev/null || export PATH=$PATH:/usr/local/cuda/bin
      what=(--metrics gpu__time_duration.sum)
      [ "$NCU" = time ] || read -ra what <<<"$NCU"
      f=$out/$tag-$net-ncu
      env "${env[@]}" SPDNN_DEVICE_STOP=0 timeout "${NCU_S:-150}" ncu --clock-control none "${what[@]}" --csv \
        --log-file "$f.csv" "$bin" run -q --engine cuda "${opt[@]}" --weights "$data/neuron$N-l$L.spdnn" \
        --inputs "$data/sparse-images-$N.spdnn" >"$f.log" 2>&1 || echo "$tag $net ncu FAILED (rc $?)"
      echo "[$SECONDS s] $tag $net ncu: $(grep -c . "$f.csv" 2>/dev/null) lines"
    fi
  done
done
