// Consecutive feature-major layers in one launch (LayerLoop::enqueue_window), so that a slice of rows goes
// through them while its features are still in L2. Layer by layer, every layer's features make a round
// trip through DRAM (at 65536 neurons and 2000 rows, 0.5 GB each way), which bounds the steady state
// (docs/challenge-engine.md).
//
// Items are (slice, layer, tile), taken in ticket order (an atomic counter) in waves of `wave` slices,
// layer by layer within a wave (window_item, layer_args.hpp). An item of layer j > 0 waits (one thread
// spinning) until every tile of layer j - 1 has finished its slice, since a row's outputs depend only on
// the same row of the previous layer. Every item it waits for holds an earlier ticket, taken by a block
// that is running and that waits only for still earlier ones, so the window always progresses, however
// many blocks are resident.
//
// Rows keep their place, so slice s's items read and write only rows [s Rows, (s + 1) Rows), and side
// j % 2 is free for layer j + 1 to write once layer j of the slice is done, which layer j + 1 waits for
// anyway. Inputs are read through L2 (ld.global.cg): rows written in this launch by another SM must not
// come from a stale L1 line. The arithmetic, the summation order and the outputs are column_kernel's.
#pragma once

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include "challenge/cuda/column_kernel.cuh"
#include "challenge/cuda/layer_args.hpp"

namespace spdnn::cuda {

__device__ __forceinline__ int32_t load_acquire(const int32_t* p) {
  int32_t v;
  asm volatile("ld.acquire.gpu.global.s32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

template <int RowsPerThread, int Threads, int Per, bool Fused, class Weight>
__global__ void __launch_bounds__(Threads, 3) column_window_kernel(WindowArgs<Weight> w) {
  static_assert(Threads % 32 == 0 && Per <= 32, "whole warps");
  constexpr int Warps = Threads / 32, Rows = 32 * RowsPerThread;
  __shared__ unsigned long long item_s, nnz_s;
  __shared__ uint32_t marks_s[RowsPerThread];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int groups = (w.outputs + Per - 1) / Per, tiles = (groups + Warps - 1) / Warps;
  const int rows = *w.rows;
  const int slices = (rows + Rows - 1) / Rows;
  const unsigned long long items = window_items(slices, w.wave, w.layers, tiles);
  const int32_t stride_bytes = w.stride * static_cast<int32_t>(sizeof(float));
  for (;;) {
    if (threadIdx.x == 0) item_s = atomicAdd(w.ticket, 1ull), nnz_s = 0;
    if (threadIdx.x < RowsPerThread) marks_s[threadIdx.x] = 0;
    __syncthreads();
    const unsigned long long item = item_s;
    if (item >= items) break;  // block-uniform
    const auto [s, j, tile] = window_item(item, w.wave, w.layers, tiles);
    const int k0 = s * Rows;
    if (s < slices) {  // the last wave may be short
      int32_t* done = w.done + static_cast<int64_t>(j) * w.max_slices + s;
      if (j > 0 && threadIdx.x == 0)
        while (load_acquire(done - w.max_slices) < tiles) __nanosleep(64);
      __syncthreads();
      if (const int group = tile * Warps + warp; group < groups) {
        const WindowLayer<Weight> layer = w.layer[j];
        // (A ternary, not side[j % 2]: a parameter array indexed at run time is copied to local memory.)
        const char* in = reinterpret_cast<const char*>(j % 2 == 0 ? w.side[0] : w.side[1]);
        float* out = j % 2 == 0 ? w.side[1] : w.side[0];
        int32_t at[RowsPerThread];
        bool live[RowsPerThread];
#pragma unroll
        for (int r = 0; r < RowsPerThread; ++r) {
          const int k = k0 + 32 * r + lane;
          live[r] = k < rows;
          at[r] = live[r] ? k : k0;  // rows past the last read the slice's first (never stored): no row of
                                     // another slice, which may be a layer ahead
        }
        float acc[RowsPerThread][Per];
#pragma unroll
        for (int r = 0; r < RowsPerThread; ++r)
#pragma unroll
          for (int i = 0; i < Per; ++i) acc[r][i] = 0.0f;
        accumulate_steps<RowsPerThread, Per, false, Fused>(
            reinterpret_cast<const WeightStep<Weight, Per>*>(layer.step_val), layer.group_steps[group],
            layer.group_steps[group + 1], [&](int step) { return __ldg(layer.step_pos + step); },
            [&](int32_t pos, float (&x)[RowsPerThread]) {
              const char* column = mad_wide(pos, stride_bytes, in);
#pragma unroll
              for (int r = 0; r < RowsPerThread; ++r)
                x[r] = __ldcg(reinterpret_cast<const float*>(mad_wide(at[r], static_cast<int32_t>(sizeof(float)), column)));
            },
            acc);
        int nonzero[RowsPerThread];
        store_outputs<RowsPerThread, Per>(acc, out, w.stride, group * Per, w.outputs, k0, live, w.bias, w.clip,
                                          nonzero);
        unsigned long long count = 0;
#pragma unroll
        for (int r = 0; r < RowsPerThread; ++r) {
          const uint32_t any = __ballot_sync(0xffffffffu, nonzero[r] > 0);
          if (lane == 0 && any != 0u) atomicOr(&marks_s[r], any);
          count += static_cast<unsigned long long>(nonzero[r]);
        }
#pragma unroll
        for (int offset = 16; offset > 0; offset /= 2) count += __shfl_down_sync(0xffffffffu, count, offset);
        if (lane == 0 && count > 0) atomicAdd(&nnz_s, count);
      }
      __syncthreads();  // the block's outputs are stored and counted
      if (threadIdx.x == 0) {
        if (nnz_s > 0) atomicAdd(w.nnz + j, nnz_s);
#pragma unroll
        for (int r = 0; r < RowsPerThread; ++r)  // nonzero only where a live row is, so within mark_words
          if (marks_s[r] != 0u) atomicOr(w.marks + static_cast<int64_t>(j) * w.mark_words + k0 / 32 + r, marks_s[r]);
        __threadfence();  // the outputs before the count that releases them
        atomicAdd(done, 1);
      }
    }
    __syncthreads();  // everyone has read item_s before it is taken again
  }
}

// After a window: counts[j] = the rows with a nonzero output after layer j (one block a layer).
inline constexpr int kWindowCountThreads = 256;
__global__ void __launch_bounds__(kWindowCountThreads) window_counts_kernel(const uint32_t* marks, int32_t mark_words,
                                                                             const int32_t* rows, int32_t* counts) {
  using Reduce = cub::BlockReduce<int, kWindowCountThreads>;
  __shared__ typename Reduce::TempStorage reduce;
  const uint32_t* m = marks + static_cast<int64_t>(blockIdx.x) * mark_words;
  const int words = (*rows + 31) / 32;
  int c = 0;
  for (int i = threadIdx.x; i < words; i += kWindowCountThreads) c += __popc(m[i]);
  c = Reduce(reduce).Sum(c);
  if (threadIdx.x == 0) counts[blockIdx.x] = c;
}

// After a window: next_active = the rows marked by its last layer, in order (as select_rows_kernel lists
// them), and ids_out = ids_in for every row of the window (rows kept their place). One block.
__global__ void __launch_bounds__(kSelectThreads) window_rows_kernel(const uint32_t* marks, const int32_t* rows,
                                                                     const int32_t* ids_in, int32_t* ids_out,
                                                                     int32_t* next_active) {
  using Scan = cub::BlockScan<int, kSelectThreads>;
  __shared__ typename Scan::TempStorage scan;
  __shared__ int base;
  const int n = *rows, words = (n + 31) / 32;
  if (threadIdx.x == 0) base = 0;
  __syncthreads();
  for (int w0 = 0; w0 < words; w0 += kSelectThreads) {
    const int i = w0 + static_cast<int>(threadIdx.x);
    const uint32_t m = i < words ? marks[i] : 0u;
    int offset = 0, total = 0;
    Scan(scan).ExclusiveSum(__popc(m), offset, total);
    int at = base + offset;
    for (uint32_t b = m; b != 0u; b &= b - 1u) next_active[at++] = 32 * i + __ffs(b) - 1;
    __syncthreads();  // everyone has used `base` and the scan storage
    if (threadIdx.x == 0) base += total;
    __syncthreads();
  }
  if (ids_out != ids_in)
    for (int k = threadIdx.x; k < n; k += kSelectThreads) ids_out[k] = ids_in[k];
}

}  // namespace spdnn::cuda
