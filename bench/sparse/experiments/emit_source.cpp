// Writes the CUDA source spdnn generates for one DLMC matrix and shape (values seeded with 42, ReLU), for
// cubin_harness. Build from the repository root after building build/release:
//   g++ -std=c++20 -O1 -Iinclude -Isrc -DSPDNN_VERSION='"x"' bench/sparse/experiments/emit_source.cpp \
//     build/release/src/libspdnn.a -lfmt -lz -fopenmp -o emit_source
// Usage: emit_source MATRIX.smtx.gz ROWS_PER_GROUP COLS_PER_THREAD OUT.cu [K_SLICES]
#include <cstdlib>
#include <fstream>

#include "codegen/emit.hpp"
#include "spdnn/io.hpp"

int main(int argc, char** argv) {
  if (argc < 5) return 2;
  const spdnn::CsrMatrix w = spdnn::io::read_smtx(argv[1], 42);
  spdnn::codegen::KernelShape s;
  s.rows_per_group = std::atoi(argv[2]);
  s.cols_per_thread = std::atoi(argv[3]);
  if (argc > 5) s.k_slices = std::atoi(argv[5]);
  std::ofstream(argv[4]) << spdnn::codegen::emit_sparse_linear(w, {}, true, s);
}
