// Rows moved between engines: from an engine's dense permuted layout to neuron-ordered CSR.
#include "spdnn/challenge/engine.hpp"

namespace spdnn {

void MovedRows::to_neuron_order() {
  if (!layout) return;
  const int64_t n = static_cast<int64_t>(layout->size());
  std::vector<int32_t> position(n);  // physical position of each neuron
  for (int64_t p = 0; p < n; ++p) position[(*layout)[p]] = static_cast<int32_t>(p);
  rows = CsrMatrix{};
  rows.rows = count();
  rows.cols = n;
  for (int64_t k = 0; k < count(); ++k) {
    const float* row = dense.data() + k * n;
    for (int64_t j = 0; j < n; ++j)  // neurons in order: the row comes out sorted
      if (const float v = row[position[j]]; v != 0.0f) rows.col_idx.push_back(static_cast<int32_t>(j)), rows.values.push_back(v);
    rows.row_ptr.push_back(rows.nnz());
  }
  dense = {};
  layout = nullptr;
}

}  // namespace spdnn
