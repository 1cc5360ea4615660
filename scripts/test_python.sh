#!/usr/bin/env bash
# The Python package as a user installs it: a virtual environment in build/venv, `pip install .[plot,test]`
# (which builds the extension through the project's CMake; the build tree build/python/ is reused), then
# its pytest suite. Real-data tests find ../shared/data (or $SPDNN_DATA_DIR); GPU tests skip without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=build/venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check ".[plot,test]"
"$venv/bin/python" -m pytest -q -rs python/tests
