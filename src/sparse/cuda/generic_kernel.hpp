// The generic CSR kernel for sparse linear layers: the fallback of the generated kernels and a baseline.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "sparse/cuda/generic_plan.hpp"

namespace spdnn::cuda {

// A plan on the device (plan_generic: blocks * kGenericWarps pieces).
struct GenericPlanView {
  const GenericPiece* slots;
  int64_t blocks;
};

// A layer's nonzeros on the device and its two plans: pieces of kNarrowPieceNnz for one column per
// lane, of kWidePieceNnz for 2 or 4.
struct GenericView {
  const int64_t* row_ptr;
  const int32_t* col_idx;
  const float* values;
  int64_t rows, cols;
  GenericPlanView narrow, wide;
};

// How the generic kernel computes one call. Up to kRowSplitMaxN columns, warps share the rows (the
// plan's pieces), so that a long row does not set the time: on an H100, 2048 x 512 at 90% with N = 49
// (longest row 318 nonzeros, mean 51) took 23.5 us with one thread per output and 10.5 us split. Wider,
// one thread per output, which was as fast or faster from N = 784 on (ResNet-50 1x1 layers at 90%;
// bench/results/sparse_explore_h100.md, items 10-11). Row split loads 4 or 2 adjacent columns per lane
// from N = 256 on where N is a multiple and X and Y are aligned to it (N = 392: 32 us with 4, 44 us with
// 1); from 33 to 64 columns a lane loads two columns 32 apart, so one warp covers the tile (N = 49:
// 8.9 -> 7.9 us for 512 x 2048 at 90%; at N = 196, four such columns lost, 8.7 -> 10.6 us for 256 x 1024).
inline constexpr int64_t kRowSplitMaxN = 512;
struct GenericStrategy {
  bool row_split;
  int columns_per_lane;
  int strides;  // vectors per lane, 32 * columns_per_lane columns apart
};
// Row split also needs K * N < 2^32 (its offsets into X are 32 bits).
GenericStrategy generic_strategy(const float* x, const float* y, int64_t k, int64_t n);

// Bumped when the generic kernel's speed changes, so that remembered choices between it and the generated
// kernels (tuning records) are made again; the compiled modules stay valid. 2: 32-bit offsets into X.
// 3: one thread per output without an early trigger of the next kernel (twice as fast for 256 x 64 at
// N = 25088 as at spdnn 0.4.0's first commit, f647954).
inline constexpr uint64_t kGenericKernelRevision = 3;

// y (rows x n) = act(W * x + bias) for row-major x (K x n); `bias` may be null. `dependent`: launched
// with programmatic dependent launch (cuda/dependent_launch.hpp). Returns the launch status.
cudaError_t launch_generic_sparse_linear(const GenericView& w, const float* bias, bool relu, const float* x, float* y,
                                         int64_t n, bool dependent, cudaStream_t stream);

}  // namespace spdnn::cuda
