# Sourced by the carried_*.sh scripts: the shared libraries that the carried binaries in $1 need and the
# device lacks, taken from .peers/lib (the peers kit's), on LD_LIBRARY_PATH.
mkdir -p /tmp/carried-libs
for b in "$1"/*; do
  ldd "$b" 2>/dev/null | awk '/not found/{print $1}' | while read -r l; do
    [ -e "$PWD/.peers/lib/$l" ] && ln -sf "$PWD/.peers/lib/$l" "/tmp/carried-libs/$l"
  done
done
export LD_LIBRARY_PATH=/tmp/carried-libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
