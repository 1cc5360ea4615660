#!/usr/bin/env bash
# Fuzzes every reader of outside data: builds the `fuzz` preset (clang, libFuzzer, ASan + UBSan) and runs
# each target of tests/fuzz for SECONDS (default 30), on all cores, from its seed corpus
# (tests/fuzz/corpus/<target>; what it learns goes to build/fuzz/corpus/<target>). Prints one line per
# target (executions, coverage, corpus) and exits 1 on any finding, whose input is kept as
# build/fuzz/findings/<target>-crash-... (reproduce: build/fuzz/bin/fuzz_<target> FILE).
# Usage: scripts/fuzz.sh [SECONDS [TARGET ...]]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then  # every target of tests/fuzz/CMakeLists.txt
  read -r -a targets <<<"$(sed -n '/set(SPDNN_FUZZ_TARGETS/,/)/p' tests/fuzz/CMakeLists.txt |
                           sed 's/set(SPDNN_FUZZ_TARGETS//; s/)//' | tr '\n' ' ')"
fi
for t in "${targets[@]}"; do
  [ -d "tests/fuzz/corpus/$t" ] || { echo "fuzz.sh: no seed corpus tests/fuzz/corpus/$t" >&2; exit 1; }
done
./scripts/setup.sh fuzz
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "${targets[@]/#/fuzz_}" >/dev/null
mkdir -p build/fuzz/findings build/fuzz/logs
for t in "${targets[@]}"; do mkdir -p "build/fuzz/corpus/$t"; done
run_one() {
  local t=$1 seconds=$2
  # Leak checks are off: LeakSanitizer here fails at exit now and then ("Can't open /proc/<pid>/task"),
  # which would read as a finding; the sanitize preset's test suite checks for leaks instead.
  ASAN_OPTIONS=detect_leaks=0 build/fuzz/bin/fuzz_"$t" -detect_leaks=0 -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="build/fuzz/findings/$t-" "build/fuzz/corpus/$t" "tests/fuzz/corpus/$t" \
    >"build/fuzz/logs/$t.log" 2>&1
  local status=$?
  local runs cov units
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build/fuzz/logs/$t.log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "build/fuzz/logs/$t.log" | tail -1 | grep -o '[0-9]*' || echo 0)
  units=$(find "build/fuzz/corpus/$t" "tests/fuzz/corpus/$t" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    echo "fuzz $t: ${runs:-0} executions in ${seconds} s, coverage ${cov:-0} edges, corpus ${units}: ok"
  else
    echo "fuzz $t: FINDING after ${runs:-0} executions (build/fuzz/logs/$t.log):"
    grep -E 'ERROR|SUMMARY|terminate|what\(\)' "build/fuzz/logs/$t.log" | head -5
    return 1
  fi
}
export -f run_one
failed=0
printf '%s\n' "${targets[@]}" | xargs -P "$(nproc)" -I{} bash -c 'run_one {} '"$seconds" || failed=1
exit $failed
