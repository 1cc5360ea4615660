// One layer of the challenge on the GPU with position-major features (column_layout.hpp): each block
// computes one group of Per outputs for Rows feature rows at a time, RowsPerThread a thread, reading
// each input position straight from global memory, 128 contiguous bytes a warp, and then an ordered
// selection of the surviving rows.
//
// Rows are compacted as in layer_kernel.cuh (output row k is input row active[k]), but the list of the
// next layer's rows keeps their order, so that a warp's 32 rows stay (nearly) contiguous in memory: the
// layer marks each row with a nonzero output, and select_rows (one block, a block-wide scan) lists them
// in order, carries their input ids and clears the marks. Both read the row count from device memory.
#pragma once

#include <cub/block/block_scan.cuh>

#include "challenge/cuda/layer_args.hpp"
#include "challenge/cuda/layer_kernel.cuh"

namespace spdnn::cuda {

template <int RowsPerThread, int Threads, int Per, class Weight>
__global__ void __launch_bounds__(Threads) column_kernel(LayerArgs<Weight> a) {
  static_assert(Threads % 32 == 0, "whole warps");
  constexpr int Rows = RowsPerThread * Threads;
  using Step = WeightStep<Weight, Per>;
  const int group = blockIdx.x, out0 = group * Per;
  const int rows_active = *a.count;
  const int s_begin = a.group_steps[group], s_end = a.group_steps[group + 1];
  const Step* steps = reinterpret_cast<const Step*>(a.step_val);
  const int64_t ld = a.stride;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  unsigned long long nonzeros = 0;
  for (int k0 = blockIdx.y * Rows; k0 < rows_active; k0 += gridDim.y * Rows) {
    // The warp's 32 x RowsPerThread consecutive rows; each load instruction reads 32 consecutive ones.
    int k[RowsPerThread];
    int32_t at[RowsPerThread];  // where each row is in `in`; -1 past the active rows
#pragma unroll
    for (int r = 0; r < RowsPerThread; ++r) {
      k[r] = k0 + (warp * RowsPerThread + r) * 32 + lane;
      at[r] = k[r] < rows_active ? a.active[k[r]] : -1;
    }
    float acc[RowsPerThread][Per];
#pragma unroll
    for (int r = 0; r < RowsPerThread; ++r)
#pragma unroll
      for (int j = 0; j < Per; ++j) acc[r][j] = 0.0f;
#pragma unroll 4
    for (int s = s_begin; s < s_end; ++s) {
      const float* column = a.in + static_cast<int64_t>(__ldg(a.step_pos + s)) * ld;
      const Step w = steps[s];
#pragma unroll
      for (int r = 0; r < RowsPerThread; ++r) {
        const float x = at[r] >= 0 ? __ldg(column + at[r]) : 0.0f;
#pragma unroll
        for (int j = 0; j < Per; ++j) acc[r][j] = add_product(acc[r][j], x, weight_to_float(w.w[j]));
      }
    }
#pragma unroll
    for (int r = 0; r < RowsPerThread; ++r) {
      if (at[r] < 0) continue;
      int nonzero = 0;
#pragma unroll
      for (int j = 0; j < Per; ++j) {
        if (out0 + j >= a.outputs) break;
        const float z = acc[r][j];
        const float y = z != 0.0f ? fminf(fmaxf(__fadd_rn(z, a.bias), 0.0f), a.clip) : 0.0f;
        a.out[static_cast<int64_t>(out0 + j) * ld + k[r]] = y;
        nonzero += y != 0.0f;
      }
      // A racy mark is enough: every writer writes 1, and select_rows reads it after the launch.
      if (nonzero > 0) {
        if (a.row_total[k[r]] == 0) a.row_total[k[r]] = 1;
        nonzeros += static_cast<unsigned long long>(nonzero);
      }
    }
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) nonzeros += __shfl_down_sync(0xffffffffu, nonzeros, offset);
  if (lane == 0 && nonzeros > 0) atomicAdd(a.nnz, nonzeros);
}

// After a feature-major layer of `*count` rows: next_active = the marked rows in ascending order,
// *next_count = their number, ids_out[k] = ids_in[active[k]] for every row, and the marks cleared.
// One block of SelectThreads threads walks the rows SelectThreads x 4 at a time.
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
