// The float64 reference of a sparse linear layer (see sparse_linear.hpp).
#include <fmt/format.h>

#include "spdnn/error.hpp"
#include "spdnn/sparse_linear.hpp"

namespace spdnn {

std::vector<double> sparse_linear_reference(const CsrMatrix& w, const std::vector<float>& x, int64_t n,
                                            const std::vector<float>& bias, bool relu) {
  if (static_cast<int64_t>(x.size()) != w.cols * n)
    throw Error(Errc::mismatch, fmt::format("sparse linear: X has {} values, W is {} x {} and N = {}", x.size(), w.rows, w.cols, n));
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != w.rows)
    throw Error(Errc::mismatch, fmt::format("sparse linear: {} biases for {} rows", bias.size(), w.rows));
  std::vector<double> y(static_cast<size_t>(w.rows * n), 0.0);
  for (int64_t r = 0; r < w.rows; ++r) {
    double* out = &y[r * n];
    for (int64_t p = w.row_ptr[r]; p < w.row_ptr[r + 1]; ++p) {
      const double v = w.values[p];
      const float* in = &x[static_cast<size_t>(w.col_idx[p]) * n];
      for (int64_t j = 0; j < n; ++j) out[j] += v * in[j];
    }
    for (int64_t j = 0; j < n; ++j) {
      if (!bias.empty()) out[j] += bias[r];
      if (relu && out[j] < 0.0) out[j] = 0.0;
    }
  }
  return y;
}

}  // namespace spdnn
