// The generic direct sparse convolution over the filter's nonzeros: the fallback of the generated
// convolution kernels (filters too large to unroll, failed generation, or slower in tuning) and a
// baseline. Its sums are those of the generated kernel, bit for bit: each output is fmaf over the
// filter row's nonzeros in ascending column order (a tap outside the image multiplies 0), then the
// rounded bias add and the activation.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "spdnn/csr.hpp"
#include "spdnn/sparse/conv2d.hpp"

namespace spdnn::cuda {

// A nonzero's filter column (c*R + r)*S + s, decoded once on the host.
struct FilterTap {
  int32_t channel;
  int16_t r, s;
};
std::vector<FilterTap> filter_taps(const CsrMatrix& w, const Conv2dShape& shape);

// The filter on the device.
struct GenericConv2dView {
  const int64_t* row_ptr;  // K + 1
  const FilterTap* taps;   // one per nonzero
  const float* values;
};

// y (NCHW, N x K x P x Q) = act(conv(x, W) + bias) for NCHW x of `shape`; `bias` may be null.
// `dependent`: launched with programmatic dependent launch (cuda/dependent_launch.hpp). Returns the launch
// status.
cudaError_t launch_generic_sparse_conv2d(const GenericConv2dView& w, const Conv2dShape& shape, const float* bias, bool relu,
                                         const float* x, float* y, bool dependent, cudaStream_t stream);

}  // namespace spdnn::cuda
