#!/usr/bin/env bash
# spdnn for the peers kit (../shared/peers/run_all.sh takes a binary path, SPDNN, and no extra options):
#   SPDNN_MODE=structure  every `run` gets --mode structure (its figures replace general's in the summary)
#   SPDNN_MODE=both       every `run` runs as asked (general: the kit's figures), then again with
#                         --mode structure, writing structure-*.json and .cats beside the kit's spdnn-*
#                         files (bench/challenge/summarize_peers_structure.py reads them from results.tgz)
#   SPDNN_MODE=also       every `run` runs as asked, then once for each TAG:BINARY:SETTING of SPDNN_ALSO
#                         (space-separated; BINARY empty: this one; SETTING empty, or settings joined
#                         by '+', each VAR=VALUE for the environment or an option), writing TAG-*.json
#                         and .cats. For example
#                         SPDNN_ALSO="base:/old/spdnn: layers::--layer-times" puts an earlier build and
#                         per-layer times beside this build's figures in one call.
# SPDNN_BIN: the binary (default: the release build).
bin=${SPDNN_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/release/bin/spdnn}
mode=${SPDNN_MODE:-structure}
[ "${1:-}" = run ] || exec "$bin" "$@"
shift
[ "$mode" = both ] || [ "$mode" = also ] || exec "$bin" run --mode "$mode" "$@"
"$bin" run "$@"
rc=$?
renamed() {  # the same run's arguments, its report and answer renamed spdnn-* -> $1-*
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
  exit $rc
fi
for entry in ${SPDNN_ALSO:?SPDNN_MODE=also needs SPDNN_ALSO}; do
  IFS=: read -r tag other setting <<<"$entry"
  renamed "$tag" "$@"
  env=() opt=()
  IFS=+ read -ra settings <<<"$setting"
  for one in "${settings[@]}"; do
    case $one in -*) opt+=("$one") ;; *) env+=("$one") ;; esac
  done
  env "${env[@]}" "${other:-$bin}" run "${opt[@]}" "${args[@]}" >/dev/null 2>&1 || echo "spdnn_mode.sh: $tag run failed" >&2
done
exit $rc
