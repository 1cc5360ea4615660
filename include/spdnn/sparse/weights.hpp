// Pruned DL weights: DLMC .smtx sparsity patterns (and, through matrix_io.hpp, dense .npy arrays).
#pragma once

#include <cstdint>
#include <filesystem>

#include "spdnn/csr.hpp"
#include "spdnn/matrix_io.hpp"

namespace spdnn::io {

// .smtx: line 1 `rows, cols, nnz`; line 2 the rows+1 CSR offsets; line 3 the nnz column indices. It
// has no values: each entry gets a seeded value +-k/1024, k in [256, 1024), nonzero and exact in fp16.
CsrMatrix read_smtx(const fs::path& path, uint64_t seed = 1);

}  // namespace spdnn::io
