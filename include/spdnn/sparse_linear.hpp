// Sparse linear layers of pruned DL models: Y = act(W * X + b) with a sparse W (M x K) and a dense X
// (K x N, row-major: the NCHW input of a 1x1 convolution with N = batch * H * W, or a fully connected
// layer's batch). The float64 reference here is the spec that GPU kernels are checked against.
#pragma once

#include <cstdint>
#include <vector>

#include "spdnn/csr.hpp"

namespace spdnn {

// Y (M x N, row-major, float64) = act(W * X + bias); `bias` empty or M values; act = ReLU if `relu`.
std::vector<double> sparse_linear_reference(const CsrMatrix& w, const std::vector<float>& x, int64_t n,
                                            const std::vector<float>& bias, bool relu);

}  // namespace spdnn
