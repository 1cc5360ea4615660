#!/usr/bin/env bash
# spdnn for the peers kit (../shared/peers/run_all.sh takes a binary path, SPDNN, and no extra options):
#   SPDNN_MODE=structure  every `run` gets --mode structure (its figures replace general's in the summary)
#   SPDNN_MODE=both       every `run` runs as asked (general: the kit's figures), then again with
#                         --mode structure, writing structure-*.json and .cats beside the kit's spdnn-*
#                         files (bench/challenge/summarize_peers_structure.py reads them from results.tgz)
# SPDNN_BIN: the binary (default: the release build).
bin=${SPDNN_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/release/bin/spdnn}
mode=${SPDNN_MODE:-structure}
[ "${1:-}" = run ] || exec "$bin" "$@"
shift
[ "$mode" = both ] || exec "$bin" run --mode "$mode" "$@"
"$bin" run "$@"
rc=$?
args=() prev=
for a in "$@"; do  # the same run, its report and answer renamed spdnn-* -> structure-*
  case $prev in --json | --categories) a="$(dirname "$a")/$(basename "$a" | sed 's/^spdnn-/structure-/')" ;; esac
  args+=("$a") prev=$a
done
"$bin" run --mode structure "${args[@]}" >/dev/null 2>&1 || echo "spdnn_mode.sh: structure run failed" >&2
exit $rc
