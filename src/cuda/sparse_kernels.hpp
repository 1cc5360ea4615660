// The generic CSR kernel for sparse linear layers: the fallback of the generated kernels and a baseline.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/generic_plan.hpp"

namespace spdnn::cuda {

// A layer's nonzeros on the device and its plan (plan_generic: blocks * kGenericWarps pieces).
struct GenericView {
  const int32_t* col_idx;
  const float* values;
  const GenericPiece* slots;
  int64_t blocks;
};

// Adjacent columns per lane the kernel uses for this call: 4 or 2 where N is a multiple and x and y are
// aligned to it (vector loads), and N spans at least two tiles of 32 lanes; else 1.
int generic_columns_per_lane(const float* x, const float* y, int64_t n);

// y (rows x n) = act(W * x + bias) for row-major x (K x n); `bias` may be null. Returns the launch status.
cudaError_t launch_generic_sparse_linear(const GenericView& w, const float* bias, bool relu, const float* x, float* y,
                                         int64_t n, cudaStream_t stream);

}  // namespace spdnn::cuda
