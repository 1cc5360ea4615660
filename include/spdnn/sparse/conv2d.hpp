// Sparse 2-D convolutions of pruned DL models, as torch.nn.Conv2d computes them (groups = 1): a pruned
// filter W, K out-channels x C in-channels x R x S, stored as CSR over K rows and C*R*S columns (column
// (c*R + r)*S + s, PyTorch's weight.reshape(K, -1)), applied to an NCHW float32 input. The shape type and
// its checks, the float64 direct convolution that every implementation is checked against, and im2col,
// which turns the convolution into a sparse linear layer (the baseline path, and an independent check).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spdnn/csr.hpp"

namespace spdnn {

struct Conv2dShape {
  int64_t batch = 1;         // N
  int64_t channels = 1;      // C, input channels
  int64_t height = 1;        // H
  int64_t width = 1;         // W
  int64_t out_channels = 1;  // K
  int64_t kernel_h = 3;      // R
  int64_t kernel_w = 3;      // S
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t dilation = 1;

  // torch.nn.Conv2d's output size: (H + 2 padding - dilation (R - 1) - 1) / stride + 1 (P, and Q alike).
  int64_t out_height() const { return (height + 2 * padding - dilation * (kernel_h - 1) - 1) / stride + 1; }
  int64_t out_width() const { return (width + 2 * padding - dilation * (kernel_w - 1) - 1) / stride + 1; }
  int64_t filter_columns() const { return channels * kernel_h * kernel_w; }  // C*R*S
  int64_t input_size() const { return batch * channels * height * width; }
  int64_t output_size() const { return batch * out_channels * out_height() * out_width(); }
  bool operator==(const Conv2dShape&) const = default;
};

// "N=1,C=64,H=56,W=56,K=64,R=3,S=3,stride=1,padding=1,dilation=1", for messages and reports.
std::string to_string(const Conv2dShape& shape);

// Why `shape` is not a convolution (a size below 1, stride or dilation below 1, negative padding, a filter
// larger than the padded input), or nullopt.
std::optional<std::string> why_invalid(const Conv2dShape& shape);

// Throws Error(usage) "conv2d <shape>: <reason>" for an invalid shape, and Error(mismatch) when the
// filter is not K x C*R*S or, where given, x or the bias has the wrong number of values.
void validate(const Conv2dShape& shape, const CsrMatrix& w, const std::vector<float>* x = nullptr,
              const std::vector<float>* bias = nullptr);

// Y (NCHW: N x K x P x Q, float64) = act(conv(X, W) + bias), summed directly over the filter's nonzeros;
// `bias` empty or K values; act = ReLU if `relu`. Zero padding.
std::vector<double> conv2d_reference(const Conv2dShape& shape, const CsrMatrix& w, const std::vector<float>& x,
                                     const std::vector<float>& bias, bool relu);

// The input patches as a (C*R*S) x (N*P*Q) row-major matrix: row (c*R + r)*S + s, column (n*P + p)*Q + q
// holds X[n][c][p*stride + r*dilation - padding][q*stride + s*dilation - padding], 0 outside the input. W
// times it is the convolution as K x (N*P*Q); nchw_from_columns reorders that to NCHW.
std::vector<float> im2col(const Conv2dShape& shape, const std::vector<float>& x);

// K x (N*P*Q) (row-major) to N x K x P x Q.
template <class T>
std::vector<T> nchw_from_columns(const Conv2dShape& shape, const std::vector<T>& columns);

}  // namespace spdnn
