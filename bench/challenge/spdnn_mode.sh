#!/usr/bin/env bash
# spdnn with `--mode $SPDNN_MODE` (default structure) added to every `run`: give it to the peers kit
# (../shared/peers/run_all.sh) as SPDNN=bench/challenge/spdnn_mode.sh, whose runs take no extra options,
# to measure structure mode beside the peers in the same call. SPDNN_BIN: the binary (default the release build).
bin=${SPDNN_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/release/bin/spdnn}
if [ "${1:-}" = run ]; then
  shift
  exec "$bin" run --mode "${SPDNN_MODE:-structure}" "$@"
fi
exec "$bin" "$@"
