// General matrix files, shared by both products: MatrixMarket coordinate files and NumPy .npy arrays.
// Every reader accepts gzip-compressed files transparently and throws Error naming file and line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "spdnn/csr.hpp"

namespace spdnn::io {

namespace fs = std::filesystem;

// ---- MatrixMarket coordinate (real or pattern; general) ---------------------------------------------
// Pattern entries read as `pattern_value`.
CsrMatrix read_matrix_market(const fs::path& path, float pattern_value = 1.0f);
void write_matrix_market(const fs::path& path, const CsrMatrix& m, bool pattern = false);

// .npy version 1.x/2.x, little-endian float32 ('<f4'), C order; any number of dimensions.
struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};
NpyArray read_npy(const fs::path& path);
// A 2-D array as CSR, zeros dropped (a pruned weight matrix stored dense).
CsrMatrix npy_to_csr(const NpyArray& a, const std::string& name);

}  // namespace spdnn::io
