#!/usr/bin/env bash
# One GPU call for the whole-model benchmark: build spdnn with its Python extension for sm_90
# (bench/challenge/device_build.sh), optionally run the PyTorch GPU tests (PYTEST=1), then e2e.py with the
# given arguments, reading MobileNet's weights from .carry/data/sparsert/mobilenet (carry it along).
# Usage on the device: SPDNN_COMMIT=<commit> bench/models/device_run.sh [e2e.py options]; the report in $OUT/e2e.json
# (summarize.py turns it into a table). One call holds about one model and sparsity: ResNet-50 at 95%
# compiled for about 430 s cold on 16 cores untuned (--no-tune), several times that tuned. The kernel
# cache lies in build/device/kernels, so a call cut short leaves what it compiled to the next call on the
# same (warm) machine.
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
export SPDNN_DATA_DIR=$PWD/.carry/data PYTHONUNBUFFERED=1
export SPDNN_KERNEL_CACHE=${SPDNN_KERNEL_CACHE:-$PWD/build/device/kernels}
PYTHON=1 bash bench/challenge/device_build.sh "$out" spdnn_cli || exit 1
pkg=$(mktemp -d) && cp -r python/spdnn "$pkg/" && cp build/device/python/_spdnn*.so "$pkg/spdnn/" || exit 1
if [ "${PYTEST:-0}" = 1 ]; then
  PYTHONPATH="$pkg" python3 -m pytest -q -rs python/tests/test_torch_gpu.py python/tests/test_torch_cpu.py \
    >"$out/pytest.log" 2>&1
  tail -5 "$out/pytest.log"
fi
PYTHONPATH="$pkg" python3 bench/models/e2e.py --json "$out/e2e.json" \
  --mobilenet-weights "$SPDNN_DATA_DIR/sparsert/mobilenet" --command "bench/models/device_run.sh $*" "$@"
