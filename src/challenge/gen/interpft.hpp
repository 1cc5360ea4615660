// Periodic trigonometric interpolation (MATLAB interpft) as a matrix. Internal to src/gen.
#pragma once

#include <cstdint>
#include <vector>

namespace spdnn {

// The n x m row-major matrix A with y = A x equal to interpft(x, n) for real x of length m < n.
std::vector<double> interpft_matrix(int32_t m, int32_t n);

}  // namespace spdnn
