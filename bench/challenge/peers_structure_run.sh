#!/usr/bin/env bash
# One GPU call: build spdnn (its CLI, Python extension and GPU tests) for sm_90 into build/device (unless
# there; PYTHON=0: no Python extension or tests), run the GPU tests named by GTEST and the Python tests, then the peers kit (../shared/peers, prepared into .peers) with spdnn in general and structure
# mode (spdnn_mode.sh SPDNN_MODE=both). Takes .peers (and .carry/data/graphchallenge for the Python data
# test) along. Usage on the device: bench/challenge/peers_structure_run.sh [NxL ...]; results in $OUT.
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
export SPDNN_DATA_DIR=$PWD/.carry/data
python=${PYTHON:-1}
PYTHON=$python bash bench/challenge/device_build.sh "$out" spdnn_cli spdnn_gpu_tests || exit 1
if [ -n "${GTEST:-}" ]; then  # GPU tests by filter, e.g. GTEST='DeviceAllocationFaults*'
  build/device/bin/spdnn_gpu_tests --gtest_filter="$GTEST" >"$out/gtest.log" 2>&1
  grep -E "^\[ +(OK|FAILED|SKIPPED|PASSED) |Failure|Expected|Which" "$out/gtest.log" | head -20
fi
if [ -n "${SANITIZE:-}" ]; then  # compute-sanitizer tools over GPU tests, e.g. SANITIZE='CudaEngine.RadixNet*'
  for tool in memcheck racecheck synccheck; do
    timeout 120 compute-sanitizer --tool $tool --error-exitcode 3 build/device/bin/spdnn_gpu_tests \
      --gtest_filter="$SANITIZE" >"$out/sanitize-$tool.log" 2>&1
    echo "compute-sanitizer $tool: rc $? $(grep -E "ERROR SUMMARY" "$out/sanitize-$tool.log" | tail -1)"
  done
fi
if [ "$python" = 1 ]; then
  pkg=$(mktemp -d) && cp -r python/spdnn "$pkg/" && cp build/device/python/_spdnn*.so "$pkg/spdnn/"
  PYTHONPATH="$pkg" python3 -X faulthandler -m pytest -q -rs ${PYTEST_ARGS:-python/tests} >"$out/pytest.log" 2>&1
  tail -12 "$out/pytest.log"
fi
if [ "${DIAG:-0}" = 1 ]; then  # where loading the official layers from Python crashed (session 18)
  code="import spdnn; print(spdnn.Network.load('$SPDNN_DATA_DIR/graphchallenge/neuron1024'))"
  PYTHONPATH="$pkg" timeout 60 gdb -batch -ex run -ex bt --args python3 -c "$code" >"$out/diag.log" 2>&1 ||
    PYTHONPATH="$pkg" timeout 60 python3 -X faulthandler -c "$code" >>"$out/diag.log" 2>&1
  grep -E "^#[0-9]|Network\(|Error|signal" "$out/diag.log" | head -25
fi
[ "${PEERS:-1}" = 1 ] || exit 0
SPDNN_BIN=$PWD/build/device/bin/spdnn SPDNN=$PWD/bench/challenge/spdnn_mode.sh SPDNN_MODE=both OUT="$out/peers" \
  BUDGET=$(( ${LIMIT:-590} - SECONDS - 40 )) bash .peers/run_all.sh "$@" 2>&1 | tail -25
