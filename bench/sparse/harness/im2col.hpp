// im2col on the GPU, for the convolution benchmark's im2col path: the patches of an NCHW input as the
// (C*R*S) x (N*P*Q) row-major matrix of spdnn::im2col (conv2d.hpp), which a SparseLinear of the filter
// turns into the convolution, K x (N*P*Q). It shows what the direct kernels gain by never building it.
#pragma once

#include <cuda_runtime.h>

#include "spdnn/sparse/conv2d.hpp"

namespace spdnn::bench {

// Writes the patches of x (NCHW of `shape`) to `columns`; returns the launch status.
cudaError_t launch_im2col(const Conv2dShape& shape, const float* x, float* columns, cudaStream_t stream);

}  // namespace spdnn::bench
