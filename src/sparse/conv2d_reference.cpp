// Sparse 2-D convolution: shape checks, the float64 direct reference, im2col (see conv2d.hpp).
#include <fmt/format.h>

#include <algorithm>

#include "spdnn/error.hpp"
#include "spdnn/sparse/conv2d.hpp"

namespace spdnn {

std::string to_string(const Conv2dShape& s) {
  return fmt::format("N={},C={},H={},W={},K={},R={},S={},stride={},padding={},dilation={}", s.batch, s.channels,
                     s.height, s.width, s.out_channels, s.kernel_h, s.kernel_w, s.stride, s.padding, s.dilation);
}

std::optional<std::string> why_invalid(const Conv2dShape& s) {
  if (s.batch < 1 || s.channels < 1 || s.height < 1 || s.width < 1 || s.out_channels < 1)
    return "batch, channels, height, width and out-channels must be at least 1";
  if (s.kernel_h < 1 || s.kernel_w < 1) return "the filter must be at least 1 x 1";
  if (s.stride < 1 || s.dilation < 1) return "stride and dilation must be at least 1";
  if (s.padding < 0) return "padding must not be negative";
  if (s.out_height() < 1 || s.out_width() < 1)
    return fmt::format("the filter ({} x {}, dilation {}) is larger than the padded input ({} x {})", s.kernel_h,
                       s.kernel_w, s.dilation, s.height + 2 * s.padding, s.width + 2 * s.padding);
  return std::nullopt;
}

void validate(const Conv2dShape& s, const CsrMatrix& w, const std::vector<float>* x, const std::vector<float>* bias) {
  if (auto why = why_invalid(s)) throw Error(Errc::usage, fmt::format("conv2d {}: {}", to_string(s), *why));
  if (w.rows != s.out_channels || w.cols != s.filter_columns())
    throw Error(Errc::mismatch, fmt::format("conv2d {}: the filter is {} x {}, not K x C*R*S = {} x {}", to_string(s),
                                            w.rows, w.cols, s.out_channels, s.filter_columns()));
  if (x != nullptr && static_cast<int64_t>(x->size()) != s.input_size())
    throw Error(Errc::mismatch, fmt::format("conv2d {}: the input has {} values, not N*C*H*W = {}", to_string(s),
                                            x->size(), s.input_size()));
  if (bias != nullptr && !bias->empty() && static_cast<int64_t>(bias->size()) != s.out_channels)
    throw Error(Errc::mismatch, fmt::format("conv2d {}: {} biases for {} out-channels", to_string(s), bias->size(),
                                            s.out_channels));
}

std::vector<double> conv2d_reference(const Conv2dShape& s, const CsrMatrix& w, const std::vector<float>& x,
                                     const std::vector<float>& bias, bool relu) {
  validate(s, w, &x, &bias);
  const int64_t P = s.out_height(), Q = s.out_width(), RS = s.kernel_h * s.kernel_w;
  std::vector<double> y(static_cast<size_t>(s.output_size()), 0.0);
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t k = 0; k < s.out_channels; ++k) {
      double* out = &y[static_cast<size_t>((n * s.out_channels + k) * P * Q)];
      for (int64_t e = w.row_ptr[k]; e < w.row_ptr[k + 1]; ++e) {
        const int64_t col = w.col_idx[e], c = col / RS, r = col % RS / s.kernel_w, t = col % s.kernel_w;
        const double v = w.values[e];
        const float* in = &x[static_cast<size_t>((n * s.channels + c) * s.height * s.width)];
        for (int64_t p = 0; p < P; ++p) {
          const int64_t h = p * s.stride + r * s.dilation - s.padding;
          if (h < 0 || h >= s.height) continue;
          for (int64_t q = 0; q < Q; ++q) {
            const int64_t wc = q * s.stride + t * s.dilation - s.padding;
            if (wc >= 0 && wc < s.width) out[p * Q + q] += v * in[h * s.width + wc];
          }
        }
      }
      for (int64_t i = 0; i < P * Q; ++i) {
        if (!bias.empty()) out[i] += bias[k];
        if (relu && out[i] < 0.0) out[i] = 0.0;
      }
    }
  return y;
}

std::vector<float> im2col(const Conv2dShape& s, const std::vector<float>& x) {
  if (auto why = why_invalid(s)) throw Error(Errc::usage, fmt::format("conv2d {}: {}", to_string(s), *why));
  if (static_cast<int64_t>(x.size()) != s.input_size())
    throw Error(Errc::mismatch, fmt::format("im2col {}: the input has {} values, not {}", to_string(s), x.size(), s.input_size()));
  const int64_t P = s.out_height(), Q = s.out_width(), cols = s.batch * P * Q;
  std::vector<float> m(static_cast<size_t>(s.filter_columns() * cols), 0.0f);
  for (int64_t c = 0; c < s.channels; ++c)
    for (int64_t r = 0; r < s.kernel_h; ++r)
      for (int64_t t = 0; t < s.kernel_w; ++t) {
        float* row = &m[static_cast<size_t>(((c * s.kernel_h + r) * s.kernel_w + t) * cols)];
        for (int64_t n = 0; n < s.batch; ++n)
          for (int64_t p = 0; p < P; ++p) {
            const int64_t h = p * s.stride + r * s.dilation - s.padding;
            if (h < 0 || h >= s.height) continue;
            for (int64_t q = 0; q < Q; ++q) {
              const int64_t wc = q * s.stride + t * s.dilation - s.padding;
              if (wc >= 0 && wc < s.width)
                row[(n * P + p) * Q + q] = x[static_cast<size_t>(((n * s.channels + c) * s.height + h) * s.width + wc)];
            }
          }
      }
  return m;
}

template <class T>
std::vector<T> nchw_from_columns(const Conv2dShape& s, const std::vector<T>& columns) {
  const int64_t PQ = s.out_height() * s.out_width(), cols = s.batch * PQ;
  if (static_cast<int64_t>(columns.size()) != s.out_channels * cols)
    throw Error(Errc::mismatch, fmt::format("conv2d {}: {} values, not K x N*P*Q = {}", to_string(s), columns.size(),
                                            s.out_channels * cols));
  std::vector<T> y(columns.size());
  for (int64_t k = 0; k < s.out_channels; ++k)
    for (int64_t n = 0; n < s.batch; ++n)
      std::copy_n(&columns[static_cast<size_t>(k * cols + n * PQ)], PQ, &y[static_cast<size_t>((n * s.out_channels + k) * PQ)]);
  return y;
}

template std::vector<float> nchw_from_columns(const Conv2dShape&, const std::vector<float>&);
template std::vector<double> nchw_from_columns(const Conv2dShape&, const std::vector<double>&);

}  // namespace spdnn
