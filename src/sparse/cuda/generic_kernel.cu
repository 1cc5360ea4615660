// The generic CSR kernels (see sparse_kernels.hpp and generic_plan.hpp).
//
// Row split (narrow X): a warp computes one piece of one row for 32 * C * S columns (C adjacent columns
// per lane, loaded as one vector, S such vectors 32 * C columns apart). It reads the piece's indices and
// values 32 at a time, one per lane (coalesced; the next 32 while this round's X loads are in flight),
// hands them round with shuffles (as 32-bit offsets into X, scaled once per lane), and keeps eight loads
// of X in flight before their multiply-adds, which stay in ascending column order. The warp of a row's
// first piece adds the pieces' sums in order, then the bias. The 32-bit offsets, and full rounds without
// predicates, cut the generic kernel's time at N <= 392 by a fifth to a third on an H100 (ResNet-50 1x1
// layers at 90%, batch 1 geometric mean 9.0 -> 7.5 us; bench/results/sparse_explore_h100.md, item 13).
//
// One thread per output (wide X): a block computes one row for 128 columns; the row's indices and values
// are the same for the whole block (broadcast loads), and each thread's X loads are coalesced along the
// row of X, four in flight.
//
// Both wait for the previous kernel of the stream only before they touch X or Y (cuda/dependent_launch.hpp):
// a row split warp reads its piece and its first 32 nonzeros meanwhile, and lets the next kernel launch
// at once. One thread per output does not: its grids are many waves of small blocks, and a trigger in
// each block halved the rate at which the GPU starts them (ResNet-50 at 95%, batch 8, H100: 256 x 64 at
// N = 25088 took 61 us with it, 32 without; 0.9, batch 1, the row split: 6.84 us without, 6.59 with).
#include "sparse/cuda/generic_kernel.hpp"

#include <algorithm>

#include "cuda/dependent_launch.hpp"

namespace spdnn::cuda {

namespace {

constexpr int kThreads = kGenericWarps * 32;
constexpr int kPerOutputThreads = 128;
constexpr int kInFlight = 8;
constexpr int64_t kMaxGridY = 65535;

// One launch, with programmatic dependent launch where `dependent` (see cuda/dependent_launch.hpp).
template <class... Params, class... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, bool dependent, cudaStream_t stream,
                   Args... args) {
  cudaLaunchAttribute attribute = dependent_launch_attribute(dependent);
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...);
}

// Whether every offset into a K x N X fits in 32 bits (both kernels then address X with them).
constexpr bool narrow_offsets(int64_t k, int64_t n) { return k * n <= int64_t{UINT32_MAX}; }

template <int C> struct Vector;
template <> struct Vector<1> { using type = float; };
template <> struct Vector<2> { using type = float2; };
template <> struct Vector<4> { using type = float4; };

template <int C>
__device__ __forceinline__ void load(const float* p, float (&v)[C]) {
  const auto q = __ldg(reinterpret_cast<const typename Vector<C>::type*>(p));
  if constexpr (C == 1) v[0] = q;
  if constexpr (C == 2) v[0] = q.x, v[1] = q.y;
  if constexpr (C == 4) v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
}

template <int C>
__device__ __forceinline__ void store(float* p, const float (&v)[C]) {
  if constexpr (C == 1) *p = v[0];
  if constexpr (C == 2) *reinterpret_cast<float2*>(p) = make_float2(v[0], v[1]);
  if constexpr (C == 4) *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
}

template <int C, int S>
__global__ void __launch_bounds__(kThreads)
    row_split_sparse_linear(GenericView w, GenericPlanView plan, const float* __restrict__ bias, bool relu,
                            const float* __restrict__ x, float* __restrict__ y, int64_t n, int64_t block_offset) {
  constexpr int kStride = 32 * C;  // columns between a lane's S vectors
  __shared__ float partial[kGenericWarps][kStride * S];
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const GenericPiece piece = plan.slots[(block_offset + blockIdx.y) * kGenericWarps + warp];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kStride * S + lane * C;
  bool live[S];  // with C > 1, n is a multiple of C
#pragma unroll
  for (int s = 0; s < S; ++s) live[s] = j + s * kStride < n;
  float acc[S][C] = {};
  const int64_t end = piece.begin + piece.nnz;
  // 32-bit offsets (generic_strategy: K * N < 2^32): each lane scales its own index by the row stride
  // once per round, so that a load's address is one shuffle and one add. A lane past N reads column 0
  // (in bounds, never stored), so that no full round needs a predicate or a zeroed register.
  const auto stride = static_cast<uint32_t>(n);
  const float* base[S];
#pragma unroll
  for (int s = 0; s < S; ++s) base[s] = x + (live[s] ? j + s * kStride : 0);
  // Each lane holds one of the round's 32 indices and values; the next round's are loaded before this
  // round's X, so that their latency overlaps.
  int32_t next_col = piece.begin + lane < end ? __ldg(w.col_idx + piece.begin + lane) : 0;
  float next_value = piece.begin + lane < end ? __ldg(w.values + piece.begin + lane) : 0.0f;
  allow_dependent_grids();
  wait_for_prior_grids();  // X and Y from here on
  for (int64_t p0 = piece.begin; p0 < end; p0 += 32) {  // the same trip count in every lane
    const int count = static_cast<int>(min(end - p0, int64_t{32}));
    const uint32_t my_offset = static_cast<uint32_t>(next_col) * stride;
    const float my_value = next_value;
    if (p0 + 32 + lane < end) {
      next_col = __ldg(w.col_idx + p0 + 32 + lane);
      next_value = __ldg(w.values + p0 + 32 + lane);
    }
    // kInFlight nonzeros: their loads, then their multiply-adds; kTail: some are past the piece's end.
    auto step = [&]<bool kTail>(int i) {
      float v[kInFlight][S][C];
#pragma unroll
      for (int u = 0; u < kInFlight; ++u) {
        const uint32_t offset = __shfl_sync(0xffffffffu, my_offset, i + u);
#pragma unroll
        for (int s = 0; s < S; ++s) {
          if (!kTail || i + u < count) load<C>(base[s] + offset, v[u][s]);
          else
#pragma unroll
            for (int c = 0; c < C; ++c) v[u][s][c] = 0.0f;
        }
      }
#pragma unroll
      for (int u = 0; u < kInFlight; ++u) {
        const float value = __shfl_sync(0xffffffffu, my_value, i + u);
        if (!kTail || i + u < count)
#pragma unroll
          for (int s = 0; s < S; ++s)
#pragma unroll
            for (int c = 0; c < C; ++c) acc[s][c] = __fmaf_rn(v[u][s][c], value, acc[s][c]);
      }
    };
#pragma unroll
    for (int i = 0; i < 32; i += kInFlight) {  // unrolled: 35 -> 26 us for 512 x 2048 at 90%, N = 392
      if (i + kInFlight <= count) step.template operator()<false>(i);
      else if (i < count) step.template operator()<true>(i);  // uniform across the warp
      else break;
    }
  }
#pragma unroll
  for (int s = 0; s < S; ++s)
#pragma unroll
    for (int c = 0; c < C; ++c) partial[warp][s * kStride + lane * C + c] = acc[s][c];
  __syncthreads();
  if (piece.row < 0 || warp != piece.first) return;
  const float b = bias != nullptr ? bias[piece.row] : 0.0f;
#pragma unroll
  for (int s = 0; s < S; ++s) {
    if (!live[s]) continue;
    for (int q = 1; q < piece.pieces; ++q)
#pragma unroll
      for (int c = 0; c < C; ++c) acc[s][c] = __fadd_rn(acc[s][c], partial[warp + q][s * kStride + lane * C + c]);
#pragma unroll
    for (int c = 0; c < C; ++c) {
      acc[s][c] = __fadd_rn(acc[s][c], b);
      if (relu && acc[s][c] < 0.0f) acc[s][c] = 0.0f;
    }
    store<C>(y + piece.row * n + j + s * kStride, acc[s]);
  }
}

// kNarrow: K * N < 2^32, so that an address is one 32-bit multiply-add (as in the row split).
template <bool kNarrow>
__global__ void __launch_bounds__(kPerOutputThreads)
    per_output_sparse_linear(GenericView w, const float* __restrict__ bias, bool relu, const float* __restrict__ x,
                             float* __restrict__ y, int64_t n, int64_t row_offset) {
  const int64_t r = row_offset + blockIdx.y;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  wait_for_prior_grids();  // X and Y from here on; no early trigger (see the top of this file)
  if (r >= w.rows || j >= n) return;
  const float* xj = x + j;
  auto at = [&](int32_t col) {
    return __ldg(kNarrow ? xj + static_cast<uint32_t>(col) * static_cast<uint32_t>(n) : xj + col * n);
  };
  const int64_t begin = w.row_ptr[r], end = w.row_ptr[r + 1];
  float acc = 0.0f;
  int64_t p = begin;
  for (; p + 4 <= end; p += 4) {
    const float x0 = at(w.col_idx[p]), x1 = at(w.col_idx[p + 1]), x2 = at(w.col_idx[p + 2]), x3 = at(w.col_idx[p + 3]);
    acc = __fmaf_rn(x0, w.values[p], acc);
    acc = __fmaf_rn(x1, w.values[p + 1], acc);
    acc = __fmaf_rn(x2, w.values[p + 2], acc);
    acc = __fmaf_rn(x3, w.values[p + 3], acc);
  }
  for (; p < end; ++p) acc = __fmaf_rn(at(w.col_idx[p]), w.values[p], acc);
  acc = __fadd_rn(acc, bias != nullptr ? bias[r] : 0.0f);
  if (relu && acc < 0.0f) acc = 0.0f;
  y[r * n + j] = acc;
}

cudaError_t launch_per_output(const GenericView& w, const float* bias, bool relu, const float* x, float* y, int64_t n,
                              bool dependent, cudaStream_t stream) {
  const auto blocks_x = static_cast<unsigned>((n + kPerOutputThreads - 1) / kPerOutputThreads);
  const auto kernel = narrow_offsets(w.cols, n) ? per_output_sparse_linear<true> : per_output_sparse_linear<false>;
  for (int64_t r0 = 0; r0 < w.rows; r0 += kMaxGridY) {
    const auto blocks_y = static_cast<unsigned>(std::min<int64_t>(kMaxGridY, w.rows - r0));
    const cudaError_t status =
        launch(kernel, dim3(blocks_x, blocks_y), dim3(kPerOutputThreads), dependent, stream, w, bias, relu, x, y, n, r0);
    if (status != cudaSuccess) return status;
  }
  return cudaSuccess;
}

template <int C, int S>
cudaError_t launch_row_split(const GenericView& w, const float* bias, bool relu, const float* x, float* y, int64_t n,
                             bool dependent, cudaStream_t stream) {
  const auto tiles = static_cast<unsigned>((n + 32 * C * S - 1) / (32 * C * S));
  const GenericPlanView plan = C == 1 ? w.narrow : w.wide;
  for (int64_t b0 = 0; b0 < plan.blocks; b0 += kMaxGridY) {
    const auto blocks = static_cast<unsigned>(std::min<int64_t>(kMaxGridY, plan.blocks - b0));
    const cudaError_t status = launch(row_split_sparse_linear<C, S>, dim3(tiles, blocks), dim3(kThreads), dependent,
                                      stream, w, plan, bias, relu, x, y, n, b0);
    if (status != cudaSuccess) return status;
  }
  return cudaSuccess;
}

}  // namespace

GenericStrategy generic_strategy(const float* x, const float* y, int64_t k, int64_t n) {
  if (n > kRowSplitMaxN || !narrow_offsets(k, n)) return {false, 1, 1};
  auto fits = [&](int c) {  // whole, aligned vectors
    const auto align = static_cast<uintptr_t>(c * sizeof(float));
    return n % c == 0 && reinterpret_cast<uintptr_t>(x) % align == 0 && reinterpret_cast<uintptr_t>(y) % align == 0;
  };
  const int c = n < 256 ? 1 : fits(4) ? 4 : fits(2) ? 2 : 1;
  return {true, c, c == 1 && n > 32 && n <= 64 ? 2 : 1};
}

cudaError_t launch_generic_sparse_linear(const GenericView& w, const float* bias, bool relu, const float* x, float* y,
                                         int64_t n, bool dependent, cudaStream_t stream) {
  if (w.rows == 0 || n == 0) return cudaSuccess;
  const GenericStrategy strategy = generic_strategy(x, y, w.cols, n);
  if (!strategy.row_split) return launch_per_output(w, bias, relu, x, y, n, dependent, stream);
  if (strategy.strides == 2) return launch_row_split<1, 2>(w, bias, relu, x, y, n, dependent, stream);  // only with one column
  switch (strategy.columns_per_lane) {
    case 4: return launch_row_split<4, 1>(w, bias, relu, x, y, n, dependent, stream);
    case 2: return launch_row_split<2, 1>(w, bias, relu, x, y, n, dependent, stream);
    default: return launch_row_split<1, 1>(w, bias, relu, x, y, n, dependent, stream);
  }
}

}  // namespace spdnn::cuda
