// Timing one sparse linear layer on the GPU by every path: spdnn's generated and generic kernels, cuBLAS
// (strict fp32, TF32, fp16 tensor cores) on the dense equivalent, and cuSPARSE SpMM. All paths run in one
// process on the same X, interleaved over rounds, each timed both as back-to-back calls and as a CUDA
// graph of calls; the median round is reported. Each path's output is checked against the float64
// reference.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn {

// The paths by name.
inline const std::vector<std::string>& sparse_bench_paths() {
  static const std::vector<std::string> paths{"specialized", "generic", "cublas_fp32", "cublas_tf32", "cublas_fp16", "cusparse"};
  return paths;
}

struct SparseBenchOptions {
  std::vector<std::string> paths = sparse_bench_paths();
  int rounds = 5;
  int calls = 200;  // per timing (back-to-back) and per graph
  uint64_t seed = 1;
  SparseLinearOptions linear;  // for the specialized path (bias/ReLU are off: all paths compute W * X)
};

struct SparseBenchTiming {
  std::string path;
  double plain_us = 0;  // median over rounds of the mean time per call, back to back
  double graph_us = 0;  // the same, replaying a CUDA graph of `calls` calls
  double max_rel_error = 0;  // max |y - ref| / max |ref| against float64
  std::string error;         // the path could not run (e.g. out of memory); the timings are then 0
  std::string note;          // what the path chose, where it chooses (a library's algorithm)
};

struct SparseBenchResult {
  std::string device;  // the GPU's name
  int64_t rows = 0, cols = 0, nnz = 0, n = 0;
  SparseLinearReport report;  // how the specialized kernel was obtained
  std::vector<SparseBenchTiming> timings;
};

SparseBenchResult bench_sparse_linear(const CsrMatrix& w, int64_t n, const SparseBenchOptions& options);

// Times one prepared layer alone (its chosen kernel, with its bias and activation), as above.
SparseBenchTiming time_sparse_linear(SparseLinear& layer, int64_t n, int rounds = 5, int calls = 200);

}  // namespace spdnn
