// The few-rows tail of a batch: every remaining layer in one block, once a handful of rows is left.
//
// In structure mode the rows converge (RadiX-Net's to one to six distinct rows within about 25 layers),
// and a layer launch then costs 17-35 us of dependent loads, cross-tile atomics and block start-up for
// microseconds of arithmetic. The tail keeps the rows in shared memory instead and runs layer after layer
// in one block: each thread takes outputs of the layer's sliced-ELL layout and walks the same steps in the
// same order as layer_kernel.cuh (so the same bits), rows that die leave between layers, and only the
// counts, the last layer's rows and their ids reach global memory. LayerLoop launches it before a few
// layers; an attempt that finds more rows than it can hold returns and the layer kernels go on, and the
// first one that runs marks the batch done (TailArgs::done), so that later layer kernels, merges and
// attempts return at once.
#pragma once

#include "challenge/cuda/layer_args.hpp"
#include "challenge/cuda/layer_kernel.cuh"
#include "challenge/cuda/tail_walk.hpp"

namespace spdnn::cuda {

inline constexpr int kTailThreads = 512;  // 128 registers a thread: no spills
inline constexpr int kTailRows = 8;       // the most rows a tail takes: a thread's sums are this many registers
inline constexpr int kTailBatch = 8;      // steps whose loads a thread issues together (tail_walk.hpp)

template <class Weight>
__global__ void __launch_bounds__(kTailThreads) tail_kernel(TailArgs<Weight> a) {
  constexpr int MaxRows = kTailRows;
  __shared__ int32_t row_at[MaxRows], ids[MaxRows], mult[MaxRows], total[MaxRows], rows_next;
  __shared__ bool take;
  extern __shared__ float staged[];  // two buffers of max_rows x width: this layer's rows, the next's
  const int t = static_cast<int>(threadIdx.x);
  // One thread decides, before any thread sets the flag it reads.
  if (t == 0) take = *a.done == 0 && a.counts[a.from] <= a.max_rows;
  __syncthreads();
  if (!take) return;
  int rows = a.counts[a.from];
  float* x = staged;
  float* y = staged + static_cast<int64_t>(a.max_rows) * a.width;
  const int32_t in_width = a.layer[a.from - 1].outputs;  // the positions layer `from` reads
  for (int r = 0; r < rows; ++r) {
    const float* row = a.in_feat + static_cast<int64_t>(a.in_list[r]) * a.stride;
    for (int p = t; p < in_width; p += kTailThreads) x[r * a.width + p] = row[p];
  }
  if (t < rows) {
    const int32_t physical = a.in_list[t];
    row_at[t] = t, ids[t] = a.in_ids[physical], mult[t] = a.in_mult != nullptr ? a.in_mult[physical] : 1;
  }
  if (t == 0) *a.done = a.from + 1;  // nonzero: done; the value, for the report
  __syncthreads();
  for (int32_t l = a.from; l < a.layers; ++l) {
    const TailLayer<Weight> L = a.layer[l];
    if (t < MaxRows) total[t] = 0;
    int32_t from_row[MaxRows];  // where each row sits in x (below 2^31: x fits shared memory)
#pragma unroll
    for (int r = 0; r < MaxRows; ++r) from_row[r] = r < rows ? row_at[r] * a.width : 0;
    int nonzero[MaxRows] = {};  // this thread's nonzero outputs of each row, counted for their neurons
    for (int v = t; v < L.outputs; v += kTailThreads) {  // v: a physical output position of the layer
      float acc[MaxRows];
      tail_output_sums<MaxRows, kTailBatch>(
          L, v, x, from_row, rows, [](Weight w) { return weight_to_float(w); },
          [](float sum, float in, float w) { return add_product(sum, in, w); }, acc);
      const int weight = L.out_weight != nullptr ? L.out_weight[v] : 1;
#pragma unroll
      for (int r = 0; r < MaxRows; ++r) {
        if (r >= rows) continue;
        const float out = activate(acc[r], a.bias, a.clip);
        y[r * a.width + v] = out;
        if (out != 0.0f) nonzero[r] += weight;
      }
    }
    __syncthreads();  // total cleared before anyone adds to it
#pragma unroll
    for (int r = 0; r < MaxRows; ++r) {
      const int warp_sum = static_cast<int>(__reduce_add_sync(0xffffffffu, static_cast<unsigned>(nonzero[r])));
      if (t % 32 == 0 && warp_sum > 0) atomicAdd(&total[r], warp_sum);
    }
    __syncthreads();  // every row's total, and every output in y
    if (t == 0) {     // the survivors, in order, and the layer's counts
      unsigned long long layer_nnz = 0;
      int32_t kept_inputs = 0;
      const int kept = tail_keep_rows(rows, total, row_at, ids, mult, layer_nnz, kept_inputs);
      a.counts[l + 1] = kept;
      a.nnz[l] += layer_nnz;
      if (a.inputs != nullptr) a.inputs[l + 1] += kept_inputs;
      rows_next = kept;
    }
    __syncthreads();
    rows = rows_next;
    float* swap = x;
    x = y, y = swap;
  }
  // The last layer's rows, as the layer kernels leave them: rows 0..rows-1 of side `layers`, listed.
  const int32_t out_width = a.layer[a.layers - 1].outputs;
  for (int r = 0; r < rows; ++r) {
    float* row = a.out_feat + static_cast<int64_t>(r) * a.stride;
    for (int p = t; p < out_width; p += kTailThreads) row[p] = x[static_cast<int64_t>(row_at[r]) * a.width + p];
  }
  if (t < rows) {
    a.out_list[t] = t, a.out_ids[t] = ids[t];
    if (a.out_mult != nullptr) a.out_mult[t] = mult[t];
  }
}

}  // namespace spdnn::cuda
