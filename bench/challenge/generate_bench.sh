#!/usr/bin/env bash
# Generation throughput for every challenge N: a 120-layer RadiX-Net network and the 60000 MNIST
# inputs, each written as spdnn's binary cache (time includes writing). Writes
# bench/results/generate_<tag>.json. Usage: bench/challenge/generate_bench.sh [build dir] [scratch dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
scratch=${2:-data/generate-bench}
out=bench/results/generate_${SPDNN_BENCH_TAG:-cpu2core}.json
mkdir -p "$scratch"
rows=()
for n in 1024 4096 16384 65536; do
  for what in network inputs; do
    rm -f "$scratch"/*.spdnn
    t0=$(date +%s.%N)
    "$build/bin/spdnn" generate -q --neurons "$n" --layers 120 --what "$what" --format bin --out "$scratch" >"$scratch/log.txt"
    t1=$(date +%s.%N)
    bytes=$(stat -c %s "$scratch"/*.spdnn)
    secs=$(echo "$t1 - $t0" | bc -l)
    rows+=("$(printf '{"neurons": %d, "what": "%s", "seconds": %.3f, "bytes": %d, "MB_per_s": %.1f, "log": "%s"}' \
      "$n" "$what" "$secs" "$bytes" "$(echo "$bytes / $secs / 1000000" | bc -l)" "$(tr -d '\n"' <"$scratch/log.txt")")")
    echo "${rows[-1]}"
  done
done
rm -rf "$scratch"
{
  printf '{\n  "command": "bench/challenge/generate_bench.sh %s",\n  "host": "%s",\n  "cpus": %d,\n  "runs": [\n' "$build" "$(uname -n)" "$(nproc)"
  (IFS=$'\n'; echo "${rows[*]}" | sed 's/^/    /; $!s/$/,/')
  printf '  ]\n}\n'
} >"$out"
echo "wrote $out"
