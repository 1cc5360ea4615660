// CUDA source specialized to one sparse weight matrix (SparseRT-style): the sparsity pattern and the
// weight values become immediates of straight-line code, so the kernel reads only X and writes only Y.
// Plain C++ (no CUDA needed): the emitted text is tested on any machine and compiled by NVRTC.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spdnn/csr.hpp"

namespace spdnn::codegen {

// How the generated kernel maps work to threads. Each thread computes `rows_per_group` consecutive
// rows of Y for `cols_per_thread` adjacent columns (loaded as one float/float2/float4), so every X value
// it loads is reused by all nonzeros of those rows in that column of W; grid.y walks the row groups.
// With k_slices = S > 1 (split K), a block is threads / S column lanes by S slices: slice s sums the
// group's products over its share of the group's columns (contiguous, about equal counts of nonzeros)
// into shared memory, and the S partial sums of each output are added in slice order before the bias.
// That shortens each thread's chain of multiply-adds S times and makes S times more blocks: for
// layers with few row groups and long rows (channel-reducing 1x1 convolutions at small N).
inline constexpr int kMaxThreads = 256;  // the generated kernel's launch bound

struct KernelShape {
  int rows_per_group = 16;
  int cols_per_thread = 1;  // 1, 2 or 4 (then N must be a multiple of it)
  int threads = 128;  // a launch parameter: the same module serves every width up to kMaxThreads
  int k_slices = 1;   // 1, 2, 4 or 8; with S > 1, threads must be a multiple of 32 S

  bool operator==(const KernelShape&) const = default;
};

// Dynamic shared memory of a launch of `shape` (split K only).
inline int64_t shared_bytes(const KernelShape& shape) {
  return shape.k_slices > 1 ? int64_t{shape.rows_per_group} * shape.cols_per_thread * shape.threads * 4 : 0;
}

// Throws Error(usage) for a shape the emitter cannot produce.
void validate(const KernelShape& shape);

// The number of row groups (grid.y) of `shape` for a matrix of `rows` rows.
int64_t row_groups(const KernelShape& shape, int64_t rows);

// The kernel's name in the emitted source (extern "C", so NVRTC does not mangle it).
inline constexpr const char* kKernelName = "spdnn_sparse_linear";

// CUDA C++ for Y = act(W * X + bias): X is K x n and Y is M x n, both row-major float32, `n` a kernel
// argument. `bias` is empty or has M values; act is ReLU when `relu`. Values are written as hexadecimal
// float literals, so the generated kernel multiplies by exactly the stored weights.
std::string emit_sparse_linear(const CsrMatrix& w, const std::vector<float>& bias, bool relu,
                               const KernelShape& shape);

}  // namespace spdnn::codegen
