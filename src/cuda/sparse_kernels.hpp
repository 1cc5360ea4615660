// The generic CSR kernel for sparse linear layers: the fallback of the generated kernels and a baseline.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace spdnn::cuda {

struct CsrView {
  const int64_t* row_ptr;
  const int32_t* col_idx;
  const float* values;
  int64_t rows;
};

// y (rows x n) = act(W * x + bias) for row-major x (K x n); `bias` may be null. Returns the launch status.
cudaError_t launch_generic_sparse_linear(const CsrView& w, const float* bias, bool relu, const float* x, float* y,
                                  int64_t n, cudaStream_t stream);

}  // namespace spdnn::cuda
