// Structure mode's first layer from position-major bits, a lane a word (first_layer_words.hpp).
//
// The feature-major kernel (column_kernel.cuh) gives each lane one row of a 32-row word: a warp loads a
// step's word and every lane keeps one bit of it, so a load and its position serve one multiply-add a
// lane. Here a lane takes the whole word, 32 rows, and a warp 32 consecutive words (1024 rows) of one
// group: each load serves 32 additions, and the 32 sums stay in registers. Every input is `in_value` or 0,
// so a step adds in_value x w (rounded once, as the reference rounds each product) to the rows whose bit is
// set and leaves the others (adding the +0 product of a 0 input changes no sum: a sum that starts at +0 is
// never -0). Where the layer's products are exact (fused), that is the fused multiply-add's value too.
// The sums are taken over the group's steps in ascending order, as every engine does: the same bits.
// Outputs and marks are those of column_kernel.cuh, so select_rows and the transpose follow unchanged.
#include <cuda_fp16.h>

#include "challenge/cuda/first_layer_words.hpp"
#include "challenge/cuda/layer_kernel.cuh"

namespace spdnn::cuda {

namespace {

constexpr int kThreads = 256, kAhead = 8;

template <class Weight>
__global__ void __launch_bounds__(kThreads) first_layer_words_kernel(LayerArgs<Weight> a) {
  const int lane = threadIdx.x % 32;
  const int rows_active = *a.count, groups = a.outputs;
  const int slices = (rows_active + 1023) / 1024;
  const int64_t items = static_cast<int64_t>(slices) * groups;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kThreads / 32);
  unsigned long long nonzeros = 0;
  // Consecutive warps take the groups of one slice, whose bits (128 bytes a position) stay in L2.
  for (int64_t item = blockIdx.x * (kThreads / 32) + threadIdx.x / 32; item < items; item += warps) {
    const int slice = static_cast<int>(item / groups), group = static_cast<int>(item % groups);
    const int word = slice * 32 + lane, k0 = word * 32;  // the lane's rows: k0 .. k0 + 31
    const bool live = k0 < rows_active;
    const uint32_t* bits = a.in_bits + word;
    float acc[32];
#pragma unroll
    for (int r = 0; r < 32; ++r) acc[r] = 0.0f;
    auto add = [&](uint32_t set, float product) {
#pragma unroll
      for (int r = 0; r < 32; ++r)
        if ((set >> r) & 1u) acc[r] = __fadd_rn(acc[r], product);
    };
    int s = a.group_steps[group];
    const int s_end = a.group_steps[group + 1];
    for (; s + kAhead <= s_end; s += kAhead) {  // the loads of kAhead steps in flight at once
      uint32_t set[kAhead];
#pragma unroll
      for (int u = 0; u < kAhead; ++u)
        set[u] = live ? __ldg(bits + static_cast<int64_t>(__ldg(a.step_pos + s + u)) * a.in_words) : 0u;
#pragma unroll
      for (int u = 0; u < kAhead; ++u) add(set[u], __fmul_rn(a.in_value, weight_to_float(a.step_val[s + u])));
    }
    for (; s < s_end; ++s) {
      const uint32_t set = live ? __ldg(bits + static_cast<int64_t>(__ldg(a.step_pos + s)) * a.in_words) : 0u;
      add(set, __fmul_rn(a.in_value, weight_to_float(a.step_val[s])));
    }
    if (!live) continue;
    float* out = a.out + static_cast<int64_t>(group) * a.stride + k0;
#pragma unroll
    for (int r = 0; r < 32; ++r) {
      if (k0 + r >= rows_active) break;
      const float y = activate(acc[r], a.bias, a.clip);
      __stcs(out + r, y);
      if (y != 0.0f) {
        ++nonzeros;
        if (a.row_total[k0 + r] == 0) a.row_total[k0 + r] = 1;  // a racy mark: every writer writes 1
      }
    }
  }
  add_nonzeros(a.nnz, nonzeros);
}

}  // namespace

template <class Weight>
cudaError_t launch_first_layer_words(const LayerArgs<Weight>& args, int multiprocessors, cudaStream_t stream) {
  int per_sm = 0;
  cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, first_layer_words_kernel<Weight>, kThreads, 0);
  if (e != cudaSuccess) return e;
  first_layer_words_kernel<Weight><<<std::max(1, per_sm) * multiprocessors, kThreads, 0, stream>>>(args);
  return cudaGetLastError();
}

template cudaError_t launch_first_layer_words<float>(const LayerArgs<float>&, int, cudaStream_t);
template cudaError_t launch_first_layer_words<__half>(const LayerArgs<__half>&, int, cudaStream_t);

}  // namespace spdnn::cuda
