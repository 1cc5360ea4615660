#!/usr/bin/env bash
# Checks that includes point one way (CI runs it): the shared base (src/{core,io,cuda}, include/spdnn/*.hpp)
# never includes a wing; the wings (challenge, sparse) never include each other; codegen never includes the
# CUDA launcher; nothing in src/ or include/ includes benchmark code.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
# forbid FOLDER_OR_FILES... -- PATTERN: no file under the paths may include a path matching PATTERN.
forbid() {
  local pattern=${*: -1}
  local paths=("${@:1:$#-2}")
  local hits
  hits=$(grep -rnE "#include \"(${pattern})" "${paths[@]}" 2>/dev/null || true)
  if [ -n "$hits" ]; then
    echo "check_layers.sh: includes against the layering (${pattern}):" >&2
    echo "$hits" >&2
    status=1
  fi
}
forbid src/core src/io src/cuda include/spdnn/*.hpp -- 'challenge/|sparse/|spdnn/challenge/|spdnn/sparse/'
forbid src/challenge include/spdnn/challenge -- 'sparse/|spdnn/sparse/'
forbid src/sparse include/spdnn/sparse -- 'challenge/|spdnn/challenge/'
forbid src/sparse/codegen -- 'sparse/cuda/'
forbid src include -- 'harness/'
[ $status -eq 0 ] && echo "check_layers.sh: includes point one way"
exit $status
