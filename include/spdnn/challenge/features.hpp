// Input features: one row per input (image), one column per neuron.
#pragma once

#include <cstdint>

#include "spdnn/csr.hpp"

namespace spdnn {

// Row r is input id r + 1 (challenge ids are 1-based). Values are the layer-0 activations.
struct Features {
  CsrMatrix matrix;

  int64_t count() const { return matrix.rows; }
  int64_t neurons() const { return matrix.cols; }
  int64_t nnz() const { return matrix.nnz(); }
};

}  // namespace spdnn
