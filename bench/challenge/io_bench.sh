#!/usr/bin/env bash
# Parsing and cache-loading throughput. Writes bench/results/io_<host>.json (Google Benchmark JSON,
# with the command in its context). Usage: bench/challenge/io_bench.sh [build dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
out=bench/results/io_${SPDNN_BENCH_TAG:-cpu2core}.json
"$build/bin/spdnn_io_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_context=command="bench/challenge/io_bench.sh $build" --benchmark_out="$out" --benchmark_out_format=json
echo "wrote $out"
