#!/usr/bin/env bash
# Installs what spdnn needs to build and test, from Debian/Ubuntu packages. Idempotent: installs only what
# is missing, so a second run does nothing. Works as root or through sudo. `setup.sh fuzz` adds clang with
# libFuzzer and its OpenMP (scripts/fuzz.sh).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config   # toolchain (CMake >= 3.25: Debian 12, Ubuntu 24.04)
  zlib1g-dev                                      # gzip-compressed inputs
  libcli11-dev libfmt-dev nlohmann-json3-dev      # the CLI, messages, JSON reports
  libgtest-dev libgmock-dev libbenchmark-dev      # tests and benchmarks
  openmpi-bin libopenmpi-dev                      # multi-process runs (mpirun)
  python3 python3-venv python3-dev                # the Python package (pip install .; its tests in a venv)
)
if [ "${1:-}" = fuzz ]; then
  packages+=(clang libclang-rt-14-dev libomp-14-dev)   # the fuzz preset: libFuzzer, ASan, OpenMP for clang
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup.sh: not root and no sudo: cannot install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "setup.sh: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
