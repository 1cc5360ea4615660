// Timing one sparse convolution on the GPU by every path: spdnn's generated and generic direct kernels,
// spdnn's SparseLinear on an explicit im2col, and cuDNN's dense convolution (strict fp32 with tensor cores
// off, TF32, fp16 tensor cores in NHWC), found at run time. All paths run in one process on the same X,
// interleaved over rounds, each timed as back-to-back calls and as a CUDA graph of calls (the median round
// reported), and each path's output is checked against the float64 direct convolution.
#pragma once

#include <string>
#include <vector>

#include "harness/sparse_bench.hpp"
#include "spdnn/sparse/conv2d.hpp"
#include "spdnn/sparse/sparse_conv2d.hpp"

namespace spdnn {

inline const std::vector<std::string>& conv_bench_paths() {
  static const std::vector<std::string> paths{"specialized", "generic", "im2col", "cudnn_fp32", "cudnn_tf32", "cudnn_fp16"};
  return paths;
}

struct ConvBenchResult {
  std::string device;  // the GPU's name
  Conv2dShape shape;
  int64_t nnz = 0;
  SparseLinearReport report;  // how the specialized kernel was obtained
  std::string cudnn;          // the cuDNN used ("cuDNN 9.19.0 (...)"), or why the cuDNN paths are missing
  std::vector<SparseBenchTiming> timings;
};

// options.paths names paths of conv_bench_paths(); options.linear configures spdnn's kernels (bias and
// ReLU off: every path computes conv(X, W)).
ConvBenchResult bench_sparse_conv2d(const CsrMatrix& w, const Conv2dShape& shape, const SparseBenchOptions& options);

// Times one prepared convolution alone (its chosen kernel, with its bias and activation), as above.
SparseBenchTiming time_sparse_conv2d(SparseConv2d& layer, const Conv2dShape& shape, int rounds = 5, int calls = 200);

}  // namespace spdnn
