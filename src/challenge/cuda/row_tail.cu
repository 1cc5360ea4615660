// Structure mode's last layers with rows alone (see row_tail.hpp).
//
// A block holds Rows rows in shared memory as [position][Rows] (a float4 is four rows of one position) and
// takes them through every remaining layer: item (p, q) is output p for rows 4q..4q+3, one float4 read
// and four multiply-adds a step of p's list. At the end of a layer the warps sum each row's nonzeros and
// note whether every value sat at the clip; the first warp, a lane a row, then drops each row (dead),
// counts it (one atomic a counter for the block's rows), carries it (at the clip where carry_at says
// every later layer keeps it) or, after the last layer, lists it. The grid is persistent over groups of
// Rows rows: a group whose rows all stop early frees its block for the next. Fewer rows a block (wider
// rows) get more threads, so that a layer's items still spread over many warps.
#include <cuda_fp16.h>

#include <algorithm>

#include "challenge/cuda/layer_kernel.cuh"
#include "challenge/cuda/row_tail.hpp"

namespace spdnn::cuda {

namespace {

// Shared memory of a block: two buffers of rows x width floats (this layer's inputs and outputs).
size_t shared_bytes(int rows, int32_t width) { return 2 * static_cast<size_t>(rows) * width * sizeof(float); }

// The sum over the lanes whose item has the same quad (lane % quads: items are consecutive in (p, q)).
template <int Quads>
__device__ __forceinline__ int quad_sum(int v) {
#pragma unroll
  for (int offset = 16; offset >= Quads; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Threads a block for Rows rows: 16 -> 256, 8 -> 512, 4 -> 1024.
constexpr int threads_for(int rows) { return 4096 / rows; }

template <int Rows, class Weight>
__global__ void __launch_bounds__(threads_for(Rows)) row_tail_kernel(RowTailArgs<Weight> a) {
  constexpr int Quads = Rows / 4, kThreads = threads_for(Rows);
  static_assert(Rows <= 32, "the first warp decides for the rows, a lane each");
  extern __shared__ float4 buffers[];  // two of [width][Quads]
  __shared__ int row_nnz[Rows], off_clip[Rows], row_at[Rows], row_inputs[Rows];
  __shared__ bool alive[Rows];
  const int t = threadIdx.x, lane = t % 32;
  const int active_rows = *a.count;
  for (int k0 = blockIdx.x * Rows; k0 < active_rows; k0 += gridDim.x * Rows) {
    if (t < Rows) {
      const int k = k0 + t;
      alive[t] = k < active_rows;
      row_at[t] = k < active_rows ? a.active[k] : -1;
      row_inputs[t] = k < active_rows ? (a.mult != nullptr ? a.mult[row_at[t]] : 1) : 0;
    }
    __syncthreads();
    {  // the rows before layer `from`, each read along its row
      float* x = reinterpret_cast<float*>(buffers);
      for (int i = t; i < Rows * a.in_width; i += kThreads) {
        const int r = i / a.in_width, p = i - r * a.in_width;
        x[p * Rows + r] = row_at[r] >= 0 ? a.in[row_at[r] * a.stride + p] : 0.0f;
      }
    }
    int cur = 0;
    for (int l = a.from; l < a.to; ++l) {
      const RowTailLayer<Weight> layer = a.layers[l - a.from];
      if (t < Rows) row_nnz[t] = 0, off_clip[t] = 0;
      __syncthreads();  // the rows in, the counters reset
      const float4* in = buffers + cur * a.width * Quads;
      float4* out = buffers + (cur ^ 1) * a.width * Quads;
      const int items = layer.outputs * Quads;
      for (int base = t - lane; base < items; base += kThreads) {  // whole warps, for the sums below
        const int item = base + lane, p = item / Quads, q = item % Quads;
        int nonzeros[4] = {0, 0, 0, 0}, off[4] = {0, 0, 0, 0};
        if (item < items) {
          float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
          const int e_end = layer.ptr[p + 1];
#pragma unroll 4
          for (int e = layer.ptr[p]; e < e_end; ++e) {
            const float4 v = in[layer.pos[e] * Quads + q];
            const float w = weight_to_float(layer.val[e]);
            acc[0] = add_product(acc[0], v.x, w), acc[1] = add_product(acc[1], v.y, w);
            acc[2] = add_product(acc[2], v.z, w), acc[3] = add_product(acc[3], v.w, w);
          }
          const float4 y = make_float4(activate(acc[0], a.bias, a.clip), activate(acc[1], a.bias, a.clip),
                                       activate(acc[2], a.bias, a.clip), activate(acc[3], a.bias, a.clip));
          out[p * Quads + q] = y;
          const int neurons = layer.out_weight != nullptr ? layer.out_weight[p] : 1;
          const float ys[4] = {y.x, y.y, y.z, y.w};
#pragma unroll
          for (int c = 0; c < 4; ++c) nonzeros[c] = ys[c] != 0.0f ? neurons : 0, off[c] = ys[c] != a.clip;
        }
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int n = quad_sum<Quads>(nonzeros[c]), o = quad_sum<Quads>(off[c]);
          if (lane < Quads) {
            if (n > 0) atomicAdd(&row_nnz[4 * lane + c], n);
            if (o > 0) off_clip[4 * lane + c] = 1;
          }
        }
      }
      __syncthreads();  // the layer's outputs and counts complete
      if (t < 32) {  // the first warp, a lane a row
        const bool counted = t < Rows && alive[t] && row_nnz[t] > 0;
        if (t < Rows && alive[t] && !counted) alive[t] = false;  // dead: every later layer gives zeros
        const unsigned mask = __ballot_sync(0xffffffffu, counted);
        const unsigned inputs = counted ? static_cast<unsigned>(row_inputs[t]) : 0u;
        unsigned long long nonzeros = counted ? static_cast<unsigned long long>(row_nnz[t]) * inputs : 0ull;
#pragma unroll
        for (int offset = 16; offset > 0; offset /= 2) nonzeros += __shfl_xor_sync(0xffffffffu, nonzeros, offset);
        const unsigned inputs_sum = __reduce_add_sync(0xffffffffu, inputs);
        int first = 0;
        if (t == 0 && mask != 0) {
          first = atomicAdd(a.counts + l + 1, __popc(mask));
          if (a.inputs != nullptr) atomicAdd(a.inputs + l + 1, static_cast<int>(inputs_sum));
          atomicAdd(a.nnz + l, nonzeros);
        }
        first = __shfl_sync(0xffffffffu, first, 0);
        if (counted) {
          if (l + 1 == a.to) {
            a.out_list[first + __popc(mask & ((1u << t) - 1u))] = row_at[t];
          } else if (off_clip[t] == 0 && a.carry_at[l + 1]) {
            a.carried[atomicAdd(a.carried_count, 1)] = CarriedRow{a.ids[row_at[t]], row_at[t], row_inputs[t], l + 1};
            alive[t] = false;
          }
        }
      }
      cur ^= 1;
      if (__syncthreads_or(t < Rows && alive[t]) == 0) break;  // every row of the group stopped
    }
    // The rows still alive have run every layer: their features and ids where the last layer's side has them.
    const int last_width = a.layers[a.to - 1 - a.from].outputs;
    const float* x = reinterpret_cast<const float*>(buffers + cur * a.width * Quads);
    for (int i = t; i < Rows * last_width; i += kThreads) {
      const int r = i / last_width, p = i - r * last_width;
      if (alive[r]) a.out[row_at[r] * a.stride + p] = x[p * Rows + r];
    }
    if (t < Rows && alive[t]) a.out_ids[row_at[t]] = a.ids[row_at[t]];
    __syncthreads();  // the buffers and row state are free for the next group
  }
}

// Dynamic shared memory past 48 KB must be asked for; the kernels below ask for what `rows` x `width` needs.
template <class Weight>
const void* kernel_for(int rows) {
  switch (rows) {
    case 16: return reinterpret_cast<const void*>(row_tail_kernel<16, Weight>);
    case 8: return reinterpret_cast<const void*>(row_tail_kernel<8, Weight>);
    case 4: return reinterpret_cast<const void*>(row_tail_kernel<4, Weight>);
    default: return nullptr;
  }
}

}  // namespace

int row_tail_rows(int32_t width, size_t shared_limit) {
  // 16 rows while a block stays within 64 KB (three an SM), then fewer rows before less occupancy.
  if (shared_bytes(16, width) <= std::min<size_t>(shared_limit, 64 * 1024)) return 16;
  if (shared_bytes(8, width) <= std::min<size_t>(shared_limit, 128 * 1024)) return 8;
  if (shared_bytes(4, width) + 1024 <= shared_limit) return 4;
  return 0;
}

template <class Weight>
cudaError_t prepare_row_tail(int rows, int32_t width, int* blocks_per_sm) {
  const void* kernel = kernel_for<Weight>(rows);
  if (kernel == nullptr) return cudaErrorInvalidValue;
  const size_t shared = shared_bytes(rows, width);
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared));
  if (e != cudaSuccess) return e;
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks_per_sm, kernel, threads_for(rows), shared);
}

template <class Weight>
cudaError_t launch_row_tail(const RowTailArgs<Weight>& args, int rows, int blocks, cudaStream_t stream) {
  const size_t shared = shared_bytes(rows, args.width);
  switch (rows) {
    case 16: row_tail_kernel<16, Weight><<<blocks, threads_for(16), shared, stream>>>(args); break;
    case 8: row_tail_kernel<8, Weight><<<blocks, threads_for(8), shared, stream>>>(args); break;
    case 4: row_tail_kernel<4, Weight><<<blocks, threads_for(4), shared, stream>>>(args); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

template cudaError_t prepare_row_tail<float>(int, int32_t, int*);
template cudaError_t prepare_row_tail<__half>(int, int32_t, int*);
template cudaError_t launch_row_tail<float>(const RowTailArgs<float>&, int, int, cudaStream_t);
template cudaError_t launch_row_tail<__half>(const RowTailArgs<__half>&, int, int, cudaStream_t);

}  // namespace spdnn::cuda
