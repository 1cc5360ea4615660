// Inputs picked by id, as a Features of their own, for tests that need a chosen handful of rows.
#pragma once

#include <cstdint>
#include <vector>

#include "spdnn/challenge/features.hpp"

namespace spdnn::test {

// Rows ids[0], ids[1], ... of x (0-based), in that order.
inline Features inputs_at(const Features& x, const std::vector<int64_t>& ids) {
  Features picked;
  picked.matrix.cols = x.matrix.cols;
  for (const int64_t r : ids) {
    const auto cols = x.matrix.row_cols(r);
    const auto values = x.matrix.row_values(r);
    picked.matrix.col_idx.insert(picked.matrix.col_idx.end(), cols.begin(), cols.end());
    picked.matrix.values.insert(picked.matrix.values.end(), values.begin(), values.end());
    picked.matrix.row_ptr.push_back(picked.matrix.nnz());
    ++picked.matrix.rows;
  }
  return picked;
}

}  // namespace spdnn::test
