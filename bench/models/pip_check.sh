#!/usr/bin/env bash
# `pip install .` on the GPU machine, as a user runs it, then the package from that install: a GPU
# SparseLinear on a torch CUDA tensor against torch.nn.functional.linear, and the pytest suite run against
# the installed package (not the source tree). The machine has no network: the environment is a venv over
# the system's packages (torch, numpy, scipy, scikit-build-core, nanobind), built without isolation.
# Usage on the device: bash bench/models/pip_check.sh   (logs in $OUT: pip.log, check.log, pytest.log)
# VENV=DIR keeps the environment there, so that later steps of the same call can run the installed package.
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
venv=${VENV:-$(mktemp -d)/venv}
python3 -m venv --system-site-packages "$venv" || exit 1
# Where python3 is itself a virtual environment (the GPU machine's is), --system-site-packages reaches only
# its base interpreter's packages: a .pth file makes python3's own (torch, scikit-build-core) visible too.
python3 -c "import site; print('\n'.join(site.getsitepackages()))" \
  >"$("$venv/bin/python" -c "import site; print(site.getsitepackages()[0])")/outer-site.pth" || exit 1
start=$SECONDS
"$venv/bin/python" -m pip install --no-build-isolation --no-deps --no-index --disable-pip-version-check . \
  >"$out/pip.log" 2>&1 || { tail -20 "$out/pip.log"; exit 1; }
echo "pip install . took $((SECONDS - start)) s"
cd "$(mktemp -d)" || exit 1  # away from the source tree, so that `import spdnn` finds the installed package
"$venv/bin/python" - >"$out/check.log" 2>&1 <<'PY'
import numpy as np, scipy.sparse as sp, torch
import spdnn
w = sp.random(300, 500, density=0.1, format="csr", random_state=1, dtype=np.float32)
layer = spdnn.SparseLinear(w, bias=np.linspace(-1, 1, 300, dtype=np.float32), relu=True)
x = torch.randn(500, 64, device="cuda")
y = layer(x)
ref = torch.relu(torch.from_numpy(w.toarray()).double().cuda() @ x.double() + torch.linspace(-1, 1, 300).double().cuda()[:, None])
print("spdnn", spdnn.__version__, "from", spdnn.__file__)
print("max abs error vs float64:", float((y.double() - ref).abs().max()))
assert float((y.double() - ref).abs().max()) < 1e-4
PY
rc=$?
cat "$out/check.log"
"$venv/bin/python" -m pytest -q -rs -p no:cacheprovider "$OLDPWD/python/tests" >"$out/pytest.log" 2>&1
echo "pytest exit $?: $(tail -1 "$out/pytest.log")"
exit $rc
