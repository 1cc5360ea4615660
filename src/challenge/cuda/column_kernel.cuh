// One layer of the challenge on the GPU with position-major features (column_layout.hpp), and the
// ordered selection of the surviving rows after it.
//
// Work items are (slice of Rows = 32 x RowsPerThread rows, tile of Threads / 32 groups): each warp computes
// one group of Per outputs for the slice, a lane per row and RowsPerThread rows a lane, reading each input
// position's 32 rows as 128 contiguous bytes straight from global memory (column_staged_kernel.cuh
// stages them in shared memory instead, and uses this file's helpers for the rest). The grid is
// persistent and walks the items slice by slice, so every group reading a slice's inputs runs while that
// slice (16 MB at 65536 neurons and 64 rows) is in L2: an input read by two groups comes from DRAM once.
// A warp issues the loads of 8 steps before it multiplies them, to keep loads in flight.
//
// Rows are compacted as in layer_kernel.cuh (output row k is input row active[k]), but the next layer's
// list keeps their order, so that a warp's 32 rows stay (nearly) contiguous: the layer marks each row with
// a nonzero output, and select_rows (one block, a block-wide scan) lists them in order, carries their
// input ids and clears the marks. Both read the row count from device memory.
//
// The first layer may read its inputs as bits (LayerArgs::in_bits): position p's rows are in_words words,
// a warp's 32 rows one word, so a step loads 4 bytes a warp instead of 128.
#pragma once

#include <cub/block/block_scan.cuh>

#include "challenge/cuda/layer_args.hpp"
#include "challenge/cuda/layer_kernel.cuh"

namespace spdnn::cuda {

// a * b + c with a 32 x 32 -> 64-bit product, as one instruction: written in C++, the compiler folds a
// row's offset into the 64-bit product and spends six instructions a load on it.
__device__ __forceinline__ const char* mad_wide(int32_t a, int32_t b, const char* c) {
  const char* d;
  asm("mad.wide.s32 %0, %1, %2, %3;" : "=l"(d) : "r"(a), "r"(b), "l"(c));
  return d;
}

// L2 residency: a layer's features pass through L2 (0.5 to 14 GB a layer at 65536 neurons), while its
// weights (9 MB there) are read again for every slice of rows. Features are
// loaded and stored evict-first and weights loaded evict-last, so the stream does not push the weights
// out: 179.3 against 183.8 ms at 65536 x 120, 43.24 against 43.9 ms at 16384 x 120 (H100, same call,
// bench/results/general_designs_s29_h100.md).
__device__ __forceinline__ float load_streamed(const float* p) {
  float v;
  asm("ld.global.cs.nc.f32 %0, [%1];" : "=f"(v) : "l"(p));
  return v;
}
__device__ __forceinline__ uint4 load_kept(const uint4* p) {
  uint64_t keep;
  uint4 v;
  asm("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(keep));
  asm("ld.global.nc.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, [%4], %5;"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p), "l"(keep));
  return v;
}

// Row k0 + 32 r + lane's value at position `pos`, for each of the thread's rows (`at[r]`: where the row is
// in `in`; rows past the active ones read row 0, a value the caller never stores, so the loads need no
// predicate; `live[r]`: the row is active). A position is stride x 4 bytes, below 2^31 for any batch
// whose features fit a GPU.
template <int RowsPerThread, bool Bits, class Weight>
__device__ __forceinline__ void load_position(const LayerArgs<Weight>& a, int32_t pos, int k0, const int32_t (&at)[RowsPerThread],
                                              const bool (&live)[RowsPerThread], float (&x)[RowsPerThread]) {
  if constexpr (Bits) {  // the first layer: active rows are 0..count-1, so row k's bit is bit k of the position
    const uint32_t* words = a.in_bits + static_cast<int64_t>(pos) * a.in_words + k0 / 32;
#pragma unroll
    for (int r = 0; r < RowsPerThread; ++r)
      x[r] = live[r] && (__ldg(words + r) >> (threadIdx.x % 32)) & 1u ? a.in_value : 0.0f;
  } else {
    const char* column = mad_wide(pos, a.stride * static_cast<int32_t>(sizeof(float)), reinterpret_cast<const char*>(a.in));
#pragma unroll
    for (int r = 0; r < RowsPerThread; ++r)
      x[r] = load_streamed(reinterpret_cast<const float*>(mad_wide(at[r], static_cast<int32_t>(sizeof(float)), column)));
  }
}

// 16-byte loads of weights: from global memory, kept in L2 (the default); plain (the staged kernel's copies
// in shared memory).
struct KeptLoad {
  __device__ __forceinline__ uint4 operator()(const uint4* p) const { return load_kept(p); }
};
struct PlainLoad {
  __device__ __forceinline__ uint4 operator()(const uint4* p) const { return *p; }
};

// One step's Per weights, in 16-byte loads where the step is a multiple of 16 bytes (scalar loads cost 16
// instructions a step at Per = 16, as many as a quarter of the multiplies).
template <class Weight, int Per, class Load16 = KeptLoad>
__device__ __forceinline__ void load_step(const WeightStep<Weight, Per>* step, float (&w)[Per], Load16 load16 = {}) {
  constexpr int Bytes = sizeof(WeightStep<Weight, Per>);
  if constexpr (Bytes % 16 == 0) {
    uint4 raw[Bytes / 16];
#pragma unroll
    for (int i = 0; i < Bytes / 16; ++i) raw[i] = load16(reinterpret_cast<const uint4*>(step) + i);
    const Weight* values = reinterpret_cast<const Weight*>(raw);
#pragma unroll
    for (int j = 0; j < Per; ++j) w[j] = weight_to_float(values[j]);
  } else {
#pragma unroll
    for (int j = 0; j < Per; ++j) w[j] = weight_to_float(step->w[j]);
  }
}

// Whether any of the warp's rows has a nonzero input (the same answer in every lane).
template <int RowsPerThread>
__device__ __forceinline__ bool any_nonzero(const float (&x)[RowsPerThread]) {
  bool any = false;
#pragma unroll
  for (int r = 0; r < RowsPerThread; ++r) any |= x[r] != 0.0f;
  return __any_sync(0xffffffffu, any);
}

// Fused: one rounding a multiply-add, for layers whose products are exact (exact_products.hpp): the same
// bits as a rounded product and a rounded sum, in half the instructions.
template <int RowsPerThread, int Per, bool Fused, class Weight>
__device__ __forceinline__ void add_column_step(float (&acc)[RowsPerThread][Per], const float (&x)[RowsPerThread],
                                                const WeightStep<Weight, Per>* step) {
  float w[Per];
  load_step(step, w);
#pragma unroll
  for (int j = 0; j < Per; ++j)
#pragma unroll
    for (int r = 0; r < RowsPerThread; ++r)
      acc[r][j] = Fused ? __fmaf_rn(x[r], w[j], acc[r][j]) : add_product(acc[r][j], x[r], w[j]);
}

// Steps [s, s_end) of one group into acc, ascending (the summation order), 8 steps' loads at a time;
// `position(step)` is the step's input position and `load(position, x)` reads the thread's rows there.
// (Loading the next four steps' inputs while multiplying these four, with positions read four at once,
// measured 16% slower at 16384 and 65536 neurons, H100.)
// Skip: a step whose inputs are zero on all the warp's rows adds nothing (0 x w is a signed zero, and a
// sum that starts at +0 is never -0, so adding it changes no bit), and the warp votes to skip it.
template <int RowsPerThread, int Per, bool Skip, bool Fused, class Weight, class Position, class Load>
__device__ __forceinline__ void accumulate_steps(const WeightStep<Weight, Per>* steps, int s, int s_end, Position position,
                                                 Load load, float (&acc)[RowsPerThread][Per]) {
  constexpr int Ahead = 8;
  for (; s + Ahead <= s_end; s += Ahead) {
    float x[Ahead][RowsPerThread];
#pragma unroll
    for (int u = 0; u < Ahead; ++u) load(position(s + u), x[u]);
#pragma unroll
    for (int u = 0; u < Ahead; ++u)
      if (!Skip || any_nonzero(x[u])) add_column_step<RowsPerThread, Per, Fused>(acc, x[u], steps + s + u);
  }
  for (; s < s_end; ++s) {
    float x[RowsPerThread];
    load(position(s), x);
    if (!Skip || any_nonzero(x)) add_column_step<RowsPerThread, Per, Fused>(acc, x, steps + s);
  }
}

// HeldPositions: the warp loads 32 steps' positions at once, one a lane, and shuffles each to every lane,
// so that a batch's input loads wait for no position load (0.91-0.97x: SPDNN_LAYER_KERNEL=
// columns,64,256,16,32, bench/results/general_peers_designs_h100.md).
template <int RowsPerThread, int Per, bool Bits, bool Skip, bool HeldPositions, bool Fused, class Weight>
__device__ __forceinline__ void accumulate_group(const LayerArgs<Weight>& a, int s, int s_end, int k0,
                                                 const int32_t (&at)[RowsPerThread], const bool (&live)[RowsPerThread],
                                                 float (&acc)[RowsPerThread][Per]) {
  const auto* steps = reinterpret_cast<const WeightStep<Weight, Per>*>(a.step_val);
  auto load = [&](int32_t pos, float (&x)[RowsPerThread]) { load_position<RowsPerThread, Bits>(a, pos, k0, at, live, x); };
  if constexpr (HeldPositions) {
    for (int c = s; c < s_end; c += 32) {
      const int n = min(32, s_end - c);  // warp-uniform
      const int32_t held = threadIdx.x % 32 < n ? __ldg(a.step_pos + c + threadIdx.x % 32) : 0;
      accumulate_steps<RowsPerThread, Per, Skip, Fused>(
          steps, c, c + n, [&](int step) { return __shfl_sync(0xffffffffu, held, step - c); }, load, acc);
    }
  } else {
    accumulate_steps<RowsPerThread, Per, Skip, Fused>(steps, s, s_end, [&](int step) { return __ldg(a.step_pos + step); }, load,
                                                      acc);
  }
}

// The bias, ReLU and clip of the thread's sums (a zero sum stays zero: the bias goes to the product's
// nonzeros, as in the challenge), stored at row k0 + 32 r + lane of positions out0, out0 + 1, ... of `out`
// (`ld` floats a position); nonzero[r]: row r's nonzero outputs (0 for rows that are not live).
template <int RowsPerThread, int Per>
__device__ __forceinline__ void store_outputs(const float (&acc)[RowsPerThread][Per], float* out, int64_t ld, int out0,
                                              int outputs, int k0, const bool (&live)[RowsPerThread], float bias, float clip,
                                              int (&nonzero)[RowsPerThread]) {
#pragma unroll
  for (int r = 0; r < RowsPerThread; ++r) {
    nonzero[r] = 0;
    if (!live[r]) continue;
    const int k = k0 + 32 * r + static_cast<int>(threadIdx.x % 32);
#pragma unroll
    for (int j = 0; j < Per; ++j) {
      if (out0 + j >= outputs) break;
      const float y = activate(acc[r][j], bias, clip);
      __stcs(out + static_cast<int64_t>(out0 + j) * ld + k, y);
      nonzero[r] += y != 0.0f;
    }
  }
}

// The item's outputs stored, each row with a nonzero output marked for select_rows_kernel, and their
// nonzeros added to the thread's count.
template <int RowsPerThread, int Per, class Weight>
__device__ __forceinline__ void finish_item(const LayerArgs<Weight>& a, const float (&acc)[RowsPerThread][Per], int out0, int k0,
                                            const bool (&live)[RowsPerThread], unsigned long long& nonzeros) {
  int nonzero[RowsPerThread];
  store_outputs<RowsPerThread, Per>(acc, a.out, a.stride, out0, a.outputs, k0, live, a.bias, a.clip, nonzero);
#pragma unroll
  for (int r = 0; r < RowsPerThread; ++r) {
    const int k = k0 + 32 * r + static_cast<int>(threadIdx.x % 32);
    // A racy mark is enough: every writer writes 1, and select_rows reads it after the launch.
    if (nonzero[r] > 0) {
      if (a.row_total[k] == 0) a.row_total[k] = 1;
      nonzeros += static_cast<unsigned long long>(nonzero[r]);
    }
  }
}

// A layer votes on its steps (Skip) below 1 / kSkipBelow of its inputs nonzero.
inline constexpr unsigned long long kSkipBelow = 4;

// Inputs sparse enough for skipping all-zero steps to pay (the first layer's bits always are): below
// 1 / kSkipBelow of the active rows' values nonzero (layers are N x N, so a row has `outputs` inputs).
// Where inputs are denser the vote costs more than it saves: about 4 of a step's 80 instructions.
template <class Weight>
__device__ __forceinline__ bool sparse_inputs(const LayerArgs<Weight>& a, int rows_active) {
  return a.in_nnz != nullptr && *a.in_nnz * kSkipBelow < static_cast<unsigned long long>(rows_active) * a.outputs;
}

// Slices > 1: an item is Slices consecutive slices of one tile, so a warp walks its group's steps Slices
// times from L1 and loads the next slice's row list while it computes this one. Measured slower (four
// slices: 0.93x at 16384 x 480, 0.71x at 65536 x 120, H100; 108 registers, and an item's rows no longer
// fit L2 together), kept instantiated for measurement.
// Three blocks an SM: at most 80 registers (the vote's loop asked 118, which would leave two blocks, and
// spills only outside the loops). Four (64 registers) spill 45 instructions into the 8-step loop.
template <int RowsPerThread, int Threads, int Per, int Slices, bool HeldPositions, bool Fused, class Weight>
__global__ void __launch_bounds__(Threads, 3) column_kernel(LayerArgs<Weight> a) {
  static_assert(Threads % 32 == 0 && Slices >= 1, "whole warps, at least one slice an item");
  constexpr int Warps = Threads / 32, Rows = 32 * RowsPerThread;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int groups = (a.outputs + Per - 1) / Per, tiles = (groups + Warps - 1) / Warps;
  const int rows_active = *a.count;
  const int slices = (rows_active + Rows - 1) / Rows;
  const int64_t items = static_cast<int64_t>((slices + Slices - 1) / Slices) * tiles;
  const bool sparse_in = sparse_inputs(a, rows_active);
  unsigned long long nonzeros = 0;
  auto row_list = [&](int k0, int32_t (&at)[RowsPerThread]) {
#pragma unroll
    for (int r = 0; r < RowsPerThread; ++r) at[r] = k0 + 32 * r + lane < rows_active ? a.active[k0 + 32 * r + lane] : 0;
  };
  for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const int first = static_cast<int>(item / tiles) * Slices, group = static_cast<int>(item % tiles) * Warps + warp;
    if (group >= groups) continue;  // warp-uniform, and the loop has no block barrier
    const int s_begin = a.group_steps[group], s_end = a.group_steps[group + 1], out0 = group * Per;
    int32_t at[RowsPerThread];
    row_list(first * Rows, at);
#pragma unroll
    for (int sub = 0; sub < Slices; ++sub) {
      const int k0 = (first + sub) * Rows;
      if (first + sub >= slices) break;
      int32_t at_next[RowsPerThread];
      if (Slices > 1) row_list(k0 + Rows, at_next);
      bool live[RowsPerThread];
#pragma unroll
      for (int r = 0; r < RowsPerThread; ++r) live[r] = k0 + 32 * r + lane < rows_active;
      float acc[RowsPerThread][Per];
#pragma unroll
      for (int r = 0; r < RowsPerThread; ++r)
#pragma unroll
        for (int j = 0; j < Per; ++j) acc[r][j] = 0.0f;
      if (a.in_bits != nullptr) accumulate_group<RowsPerThread, Per, true, true, HeldPositions, Fused>(a, s_begin, s_end, k0, at, live, acc);
      else if (sparse_in) accumulate_group<RowsPerThread, Per, false, true, HeldPositions, Fused>(a, s_begin, s_end, k0, at, live, acc);
      else accumulate_group<RowsPerThread, Per, false, false, HeldPositions, Fused>(a, s_begin, s_end, k0, at, live, acc);
      finish_item(a, acc, out0, k0, live, nonzeros);
      if (Slices > 1)
#pragma unroll
        for (int r = 0; r < RowsPerThread; ++r) at[r] = at_next[r];
    }
  }
  add_nonzeros(a.nnz, nonzeros);
}

// After a feature-major layer of `*count` rows: next_active = the marked rows in ascending order,
// *next_count = their number, ids_out[k] = ids_in[active[k]] for every row, and the marks cleared.
// One block walks the rows kSelectThreads x 4 at a time.
inline constexpr int kSelectThreads = 1024;
__global__ void __launch_bounds__(kSelectThreads) select_rows_kernel(const int32_t* count, int32_t* marks, const int32_t* active,
                                                                     const int32_t* ids_in, int32_t* ids_out,
                                                                     int32_t* next_active, int32_t* next_count) {
  constexpr int Items = 4;
  using Scan = cub::BlockScan<int, kSelectThreads>;
  __shared__ typename Scan::TempStorage scan;
  __shared__ int base;
  const int rows = *count;
  if (threadIdx.x == 0) base = 0;
  __syncthreads();
  for (int k0 = 0; k0 < rows; k0 += kSelectThreads * Items) {
    int keep[Items], offset[Items], total = 0;
#pragma unroll
    for (int i = 0; i < Items; ++i) {
      const int k = k0 + threadIdx.x * Items + i;
      keep[i] = 0;
      if (k < rows) {
        keep[i] = marks[k] != 0;
        marks[k] = 0;
        ids_out[k] = ids_in[active[k]];
      }
    }
    Scan(scan).ExclusiveSum(keep, offset, total);
#pragma unroll
    for (int i = 0; i < Items; ++i)
      if (keep[i]) next_active[base + offset[i]] = k0 + threadIdx.x * Items + i;
    __syncthreads();  // everyone has used `base` and the scan storage
    if (threadIdx.x == 0) base += total;
    __syncthreads();
  }
  if (threadIdx.x == 0) *next_count = base;
}

}  // namespace spdnn::cuda
