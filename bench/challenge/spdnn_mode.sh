#!/usr/bin/env bash
# spdnn for the peers kit (../shared/peers/run_all.sh takes a binary path, SPDNN, and no extra options):
#   SPDNN_MODE=structure  every `run` gets --mode structure (its figures replace general's in the summary)
#   SPDNN_MODE=both       every `run` runs as asked (general: the kit's figures), then again with
#                         --mode structure, writing structure-*.json and .cats beside the kit's spdnn-*
#                         files (bench/challenge/summarize_peers_structure.py reads them from results.tgz)
#   SPDNN_MODE=base       every `run` runs as asked, then again with the binary SPDNN_BASE_BIN (an earlier
#                         build: before and after in one call), writing base-*.json and .cats; the first
#                         repetition once more with --layer-times, writing layers-*.json
# SPDNN_BIN: the binary (default: the release build).
bin=${SPDNN_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/release/bin/spdnn}
mode=${SPDNN_MODE:-structure}
[ "${1:-}" = run ] || exec "$bin" "$@"
shift
[ "$mode" = both ] || [ "$mode" = base ] || exec "$bin" run --mode "$mode" "$@"
"$bin" run "$@"
rc=$?
renamed() {  # the same run, its report and answer renamed spdnn-* -> $1-*
  local prev= a
  args=()
  for a in "${@:2}"; do
    case $prev in --json | --categories) a="$(dirname "$a")/$(basename "$a" | sed "s/^spdnn-/$1-/")" ;; esac
    args+=("$a") prev=$a
  done
}
if [ "$mode" = both ]; then
  renamed structure "$@"
  "$bin" run --mode structure "${args[@]}" >/dev/null 2>&1 || echo "spdnn_mode.sh: structure run failed" >&2
else
  renamed base "$@"
  "${SPDNN_BASE_BIN:?SPDNN_MODE=base needs SPDNN_BASE_BIN}" run "${args[@]}" >/dev/null 2>&1 ||
    echo "spdnn_mode.sh: base run failed" >&2
  if [[ " $* " == *-r0.json* ]]; then
    renamed layers "$@"
    "$bin" run --layer-times "${args[@]}" >/dev/null 2>&1 || echo "spdnn_mode.sh: layer-times run failed" >&2
  fi
fi
exit $rc
