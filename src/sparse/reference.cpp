// The float64 reference of a sparse linear layer (see sparse_linear.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "spdnn/error.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

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

double max_relative_error(const std::vector<float>& y, const std::vector<double>& ref) {
  if (y.size() != ref.size())
    throw Error(Errc::mismatch, fmt::format("relative error: {} values against a reference of {}", y.size(), ref.size()));
  double diff = 0, scale = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (!std::isfinite(y[i])) return std::numeric_limits<double>::infinity();
    diff = std::max(diff, std::abs(static_cast<double>(y[i]) - ref[i]));
    scale = std::max(scale, std::abs(ref[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

}  // namespace spdnn
