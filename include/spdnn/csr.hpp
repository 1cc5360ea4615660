// Compressed sparse row matrix: the storage of weight layers and of feature (input) matrices.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace spdnn {

// One stored entry, 0-based. Readers produce these; csr_from_triplets() builds the matrix.
struct Triplet {
  int32_t row;
  int32_t col;
  float value;
};

// Row offsets are 64-bit: a 60000 x 65536 feature matrix can exceed 2^31 nonzeros.
// Column indices are 32-bit (columns are neurons). Within a row, columns ascend strictly.
struct CsrMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<int64_t> row_ptr{0};  // rows + 1 entries
  std::vector<int32_t> col_idx;     // nnz entries
  std::vector<float> values;        // nnz entries

  int64_t nnz() const { return static_cast<int64_t>(col_idx.size()); }
  int64_t row_nnz(int64_t r) const { return row_ptr[r + 1] - row_ptr[r]; }
  std::span<const int32_t> row_cols(int64_t r) const {
    return {col_idx.data() + row_ptr[r], static_cast<size_t>(row_nnz(r))};
  }
  std::span<const float> row_values(int64_t r) const {
    return {values.data() + row_ptr[r], static_cast<size_t>(row_nnz(r))};
  }

  // Throws Error(format) naming `what` if offsets, indices or sizes are inconsistent.
  void validate(std::string_view what) const;

  bool operator==(const CsrMatrix&) const = default;
};

// Builds a rows x cols matrix from entries in any order. Throws Error(range) for an entry outside the
// matrix and Error(format) for a duplicate entry; `source` names where the entries came from.
CsrMatrix csr_from_triplets(int64_t rows, int64_t cols, std::vector<Triplet> entries,
                            std::string_view source);

// The entries of `m` in row-major order (inverse of csr_from_triplets).
std::vector<Triplet> csr_to_triplets(const CsrMatrix& m);

// The transpose, rows and columns ascending.
CsrMatrix transpose(const CsrMatrix& m);

}  // namespace spdnn
