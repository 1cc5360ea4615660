// Kernel definitions and their launchers: the layer kernels instantiated from lists of shapes, the
// input densification, the feature-major row selection, and the final gather of survivors' ids.
#include <climits>
#include <tuple>

#include "challenge/cuda/column_kernel.cuh"
#include "challenge/cuda/column_staged_kernel.cuh"
#include "challenge/cuda/kernels.hpp"
#include "challenge/cuda/layer_kernel.cuh"

namespace spdnn::cuda {

namespace {

template <int Rows, int Threads, int Per, int RegSteps = 0>
struct Shape {
  static constexpr int rows = Rows, threads = Threads, per = Per, register_steps = RegSteps;
};
// The instantiated layer kernels {rows, threads, outputs per thread, register steps}: the engine's
// candidates (cuda_engine.cpp; 1024 threads: whole_row_kernel) and the shapes measured beside them
// (SPDNN_LAYER_KERNEL forces one).
using Shapes = std::tuple<Shape<16, 256, 1>, Shape<16, 256, 1, 32>, Shape<16, 1024, 1>, Shape<8, 1024, 1>,
                          Shape<4, 1024, 1>, Shape<32, 256, 1>, Shape<16, 128, 1, 32>, Shape<16, 128, 2>,
                          Shape<16, 64, 4>, Shape<16, 256, 4>, Shape<8, 128, 4>, Shape<32, 64, 2>>;

// The feature-major kernels {rows a thread, threads, outputs a group, slices an item, positions a warp
// holds, steps a warp stages} (column_kernel.cuh, column_staged_kernel.cuh; configured as {32 x rows a
// thread x slices, threads, outputs, held, ..., stage steps}): groups of 16 (RadiX-Net's equal input
// sets), 4, and single outputs for networks without such groups, read directly or staged; four slices an
// item, and 32 held positions, for measurement.
template <int RowsPerThread, int Threads, int Per, int Slices = 1, int Held = 0, int Staged = 0>
struct ColumnShape {
  static constexpr int rows_per_thread = RowsPerThread, threads = Threads, per = Per, slices = Slices, held = Held,
                       staged = Staged;
};
using ColumnShapes = std::tuple<ColumnShape<2, 256, 16>, ColumnShape<2, 256, 4>, ColumnShape<2, 256, 1>,
                                ColumnShape<2, 256, 16, 1, 0, 16>, ColumnShape<2, 256, 4, 1, 0, 16>,
                                ColumnShape<2, 256, 1, 1, 0, 16>, ColumnShape<2, 256, 16, 4>, ColumnShape<2, 256, 16, 1, 32>>;

template <class Weight>
using KernelFn = void (*)(LayerArgs<Weight>);

// Calls f.template operator()<Shape>() for the shape of ColumnShapes that the feature-major `s` configures.
template <class F>
void visit_column_shape(const LayerKernelConfig& s, F&& f) {
  std::apply(
      [&](auto... shape) {
        ((32 * shape.rows_per_thread * shape.slices == s.rows && shape.threads == s.threads &&
                  shape.per == s.outputs_per_thread && shape.held == s.chunk_capacity && shape.staged == s.stage_steps &&
                  s.register_steps == 0
              ? f.template operator()<decltype(shape)>()
              : void()),
         ...);
      },
      ColumnShapes{});
}

// fused: the feature-major kernel that multiply-adds with one rounding (exact_products.hpp).
template <class Weight>
KernelFn<Weight> find_kernel(const LayerKernelConfig& s, bool fused = false) {
  KernelFn<Weight> fn = nullptr;
  if (s.feature_major) {
    visit_column_shape(s, [&]<class Shape>() {
      constexpr int R = Shape::rows_per_thread, T = Shape::threads, P = Shape::per, S = Shape::slices;
      constexpr bool Held = Shape::held != 0;
      if constexpr (Shape::staged > 0)
        fn = fused ? &column_staged_kernel<R, T, P, Shape::staged, true, Weight>
                   : &column_staged_kernel<R, T, P, Shape::staged, false, Weight>;
      else
        fn = fused ? &column_kernel<R, T, P, S, Held, true, Weight> : &column_kernel<R, T, P, S, Held, false, Weight>;
    });
    return fn;
  }
  std::apply(
      [&](auto... shape) {
        ((shape.rows == s.rows && shape.threads == s.threads && shape.per == s.outputs_per_thread &&
                  shape.register_steps == s.register_steps
              ? void(fn = &layer_kernel<decltype(shape)::rows, decltype(shape)::threads, decltype(shape)::per,
                                        decltype(shape)::register_steps, Weight>)
              : void()),
         ...);
      },
      Shapes{});
  return fn;
}

__global__ void densify_kernel(const int64_t* row_ptr, const int32_t* cols, const float* vals, int32_t rows,
                               int32_t neurons, float* out) {
  for (int32_t r = blockIdx.x; r < rows; r += gridDim.x)
    for (int64_t p = row_ptr[r] + threadIdx.x; p < row_ptr[r + 1]; p += blockDim.x)
      out[static_cast<int64_t>(r) * neurons + cols[p]] = vals[p];
}

// Columns ascend within a row, so the entries of one word are consecutive: the first of them writes it.
__global__ void densify_bits_kernel(const int64_t* row_ptr, const int32_t* cols, int32_t rows, int32_t words,
                                    uint32_t* out) {
  for (int32_t r = blockIdx.x; r < rows; r += gridDim.x)
    for (int64_t p = row_ptr[r] + threadIdx.x; p < row_ptr[r + 1]; p += blockDim.x) {
      const int32_t word = cols[p] >> 5;
      if (p > row_ptr[r] && cols[p - 1] >> 5 == word) continue;
      uint32_t bits = 0;
      for (int64_t q = p; q < row_ptr[r + 1] && cols[q] >> 5 == word; ++q) bits |= 1u << (cols[q] & 31);
      out[static_cast<int64_t>(r) * words + word] = bits;
    }
}

// Position-major (LayerArgs::stride = ld rows a position): out[col * ld + r] = row r's entry.
__global__ void densify_columns_kernel(const int64_t* row_ptr, const int32_t* cols, const float* vals, int32_t rows,
                                       int64_t ld, float* out) {
  for (int32_t r = blockIdx.x; r < rows; r += gridDim.x)
    for (int64_t p = row_ptr[r] + threadIdx.x; p < row_ptr[r + 1]; p += blockDim.x) out[cols[p] * ld + r] = vals[p];
}

// Position-major bits: bit r % 32 of out[p * words + r / 32] for each entry (r, p), each word written once
// with no global atomics (one atomicOr an entry took 5.3 ms for 392 M entries at 65536 neurons; this made
// the whole inference 2.5% faster there, H100, bench/results/general_designs_s30_h100.md). A
// block takes 256 rows (8 words, a warp's 32 rows a word) and kBitsChunks chunks of kBitsChunk positions;
// a lane finds its row's first entry in the block's positions by binary search (columns ascend within a
// row), then a warp reads each of its rows' entries in a chunk coalesced, 128 at a time, sets their bits in
// shared memory, and moves the row's cursor on. The chunk goes out as 32 contiguous bytes a position.
inline constexpr int kBitsRows = 256, kBitsChunk = 1024, kBitsChunks = 8, kBitsPad = 4;
__global__ void __launch_bounds__(kBitsRows) densify_column_bits_kernel(const int64_t* row_ptr, const int32_t* cols, int32_t rows,
                                                                        int32_t neurons, int32_t words, uint32_t* out) {
  constexpr int Words = kBitsRows / 32, Batch = 4;
  // tile[w][p]: word w of chunk position p. The pad puts a warp's stores (4 positions x 8 words) on 32 banks.
  __shared__ uint32_t tile[Words][kBitsChunk + kBitsPad];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int w0 = blockIdx.x * Words;
  const int32_t p_begin = blockIdx.y * kBitsChunk * kBitsChunks;
  const int32_t p_end = min(neurons, p_begin + kBitsChunk * kBitsChunks);
  const int32_t r = blockIdx.x * kBitsRows + threadIdx.x;  // this lane's row
  int64_t cursor = 0, row_end = 0;
  if (r < rows) {
    int64_t lo = row_ptr[r], hi = row_ptr[r + 1];
    row_end = hi;
    while (lo < hi) {  // the first entry at or after p_begin
      const int64_t mid = lo + (hi - lo) / 2;
      if (__ldg(cols + mid) < p_begin) lo = mid + 1;
      else hi = mid;
    }
    cursor = lo;
  }
  for (int i = threadIdx.x; i < Words * (kBitsChunk + kBitsPad); i += kBitsRows) (&tile[0][0])[i] = 0;
  __syncthreads();
  for (int32_t c0 = p_begin; c0 < p_end; c0 += kBitsChunk) {
    const int32_t c1 = min(p_end, c0 + kBitsChunk);
    for (int j = 0; j < 32; ++j) {  // the warp's rows, one at a time
      int64_t q = __shfl_sync(0xffffffffu, cursor, j);
      const int64_t end = __shfl_sync(0xffffffffu, row_end, j);
      while (q < end) {  // entries q.. of row j while they fall in the chunk, Batch x 32 loads in flight
        int32_t c[Batch];
#pragma unroll
        for (int u = 0; u < Batch; ++u) c[u] = q + u * 32 + lane < end ? __ldg(cols + q + u * 32 + lane) : INT_MAX;
        int taken = 0;
#pragma unroll
        for (int u = 0; u < Batch; ++u) {
          const bool in = c[u] < c1;  // a prefix of the entries: columns ascend
          if (in) atomicOr(&tile[warp][c[u] - c0], 1u << j);
          taken += __popc(__ballot_sync(0xffffffffu, in));
        }
        q += taken;
        if (taken < Batch * 32) break;
      }
      if (lane == j) cursor = q;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < Words * kBitsChunk; i += kBitsRows) {
      const int p = i / Words, w = i % Words;
      if (c0 + p < c1 && w0 + w < words) out[static_cast<int64_t>(c0 + p) * words + w0 + w] = tile[w][p];
      tile[w][p] = 0;
    }
    __syncthreads();
  }
}

__global__ void iota_kernel(int32_t* a, int32_t n) {
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) a[i] = i;
}

__global__ void gather_ids_kernel(const int32_t* list, const int32_t* count, const int32_t* ids, int32_t* out) {
  for (int32_t k = blockIdx.x * blockDim.x + threadIdx.x; k < *count; k += gridDim.x * blockDim.x) out[k] = ids[list[k]];
}

// A 32 x 32 tile of (rows, positions) through shared memory: read 32 rows of a position (128 bytes),
// written as 32 positions of a row. The padded column keeps both passes free of bank conflicts. Each
// nonzero read is counted for the neurons its position stands for (`weight`; nullptr: one each) into
// `nnz`: the layer's count, which the column kernel, counting each output once, leaves to this pass.
constexpr int kTransposeTile = 32, kTransposeRows = 8;
__global__ void __launch_bounds__(kTransposeTile * kTransposeRows)
    columns_to_rows_kernel(const float* __restrict__ in, int64_t ld, int32_t positions, const int32_t* count,
                           float* __restrict__ out, int32_t stride, const int32_t* weight, unsigned long long* nnz) {
  __shared__ float tile[kTransposeTile][kTransposeTile + 1];
  const int32_t rows = *count, k0 = blockIdx.x * kTransposeTile, p0 = blockIdx.y * kTransposeTile;
  if (k0 >= rows) return;  // block-uniform
  unsigned long long nonzeros = 0;
  for (int j = threadIdx.y; j < kTransposeTile; j += kTransposeRows) {
    const int32_t p = p0 + j, k = k0 + static_cast<int32_t>(threadIdx.x);
    if (p < positions && k < rows) {
      const float v = __ldcs(in + p * ld + k);
      tile[j][threadIdx.x] = v;
      if (v != 0.0f) nonzeros += weight == nullptr ? 1 : static_cast<unsigned long long>(__ldg(weight + p));
    }
  }
  for (int offset = 16; offset > 0; offset /= 2) nonzeros += __shfl_down_sync(0xffffffffu, nonzeros, offset);
  if (threadIdx.x == 0 && nonzeros > 0) atomicAdd(nnz, nonzeros);
  __syncthreads();
  for (int j = threadIdx.y; j < kTransposeTile; j += kTransposeRows) {
    const int32_t k = k0 + j, p = p0 + static_cast<int32_t>(threadIdx.x);
    if (p < positions && k < rows) out[static_cast<int64_t>(k) * stride + p] = tile[threadIdx.x][j];
  }
}

// Scatter: dst row index[k] = src row k. Gather: dst row k = src row index[k].
template <bool Scatter>
__global__ void copy_rows_kernel(const float* src, float* dst, const int32_t* index, int32_t rows, int32_t neurons) {
  for (int32_t k = blockIdx.x; k < rows; k += gridDim.x) {
    const float* from = src + static_cast<int64_t>(Scatter ? k : index[k]) * neurons;
    float* to = dst + static_cast<int64_t>(Scatter ? index[k] : k) * neurons;
    for (int32_t j = threadIdx.x; j < neurons; j += blockDim.x) to[j] = from[j];
  }
}

int blocks_for(int64_t n, int threads) { return static_cast<int>(std::min<int64_t>((n + threads - 1) / threads, 65535)); }

__global__ void set_rows_left_kernel(cudaGraphConditionalHandle handle, const int32_t* count) {
  cudaGraphSetConditional(handle, *count > 0 ? 1u : 0u);
}

}  // namespace

bool has_layer_kernel(const LayerKernelConfig& config) { return find_kernel<float>(config) != nullptr; }

// Both the fused and the separately rounded kernel of a feature-major shape (either may launch).
template <class Weight>
cudaError_t prepare_layer_kernel(const LayerKernelConfig& config, int* blocks_per_sm) {
  KernelFn<Weight> fn = find_kernel<Weight>(config);
  if (fn == nullptr) return cudaErrorInvalidValue;
  const int shared = static_cast<int>(config.shared_bytes());
  cudaError_t e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, shared);
  if (e == cudaSuccess && config.feature_major)
    e = cudaFuncSetAttribute(find_kernel<Weight>(config, true), cudaFuncAttributeMaxDynamicSharedMemorySize, shared);
  if (e != cudaSuccess) return e;
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks_per_sm, fn, config.threads, shared);
}

template <class Weight>
cudaError_t launch_layer_kernel(const LayerKernelConfig& config, const LayerArgs<Weight>& args, int tiles, int grid_rows,
                                bool fused, bool dependent, cudaStream_t stream) {
  KernelFn<Weight> fn = find_kernel<Weight>(config, fused && config.feature_major);
  if (fn == nullptr) return cudaErrorInvalidValue;
  if (config.feature_major || !dependent) {
    fn<<<dim3(tiles, grid_rows), config.threads, config.shared_bytes(), stream>>>(args);
    return cudaGetLastError();
  }
  cudaLaunchAttribute attribute = dependent_launch_attribute(true);
  cudaLaunchConfig_t launch{};
  launch.gridDim = dim3(tiles, grid_rows);
  launch.blockDim = dim3(config.threads);
  launch.dynamicSmemBytes = config.shared_bytes();
  launch.stream = stream;
  launch.attrs = &attribute;
  launch.numAttrs = 1;
  return cudaLaunchKernelEx(&launch, fn, args);
}

template cudaError_t prepare_layer_kernel<float>(const LayerKernelConfig&, int*);
template cudaError_t prepare_layer_kernel<__half>(const LayerKernelConfig&, int*);
template cudaError_t launch_layer_kernel<float>(const LayerKernelConfig&, const LayerArgs<float>&, int, int, bool, bool,
                                                cudaStream_t);
template cudaError_t launch_layer_kernel<__half>(const LayerKernelConfig&, const LayerArgs<__half>&, int, int, bool, bool,
                                                 cudaStream_t);

cudaError_t launch_densify(const int64_t* row_ptr, const int32_t* cols, const float* vals, int32_t rows,
                           int32_t neurons, float* out, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  densify_kernel<<<std::min(rows, 65535), 128, 0, stream>>>(row_ptr, cols, vals, rows, neurons, out);
  return cudaGetLastError();
}

cudaError_t launch_densify_bits(const int64_t* row_ptr, const int32_t* cols, int32_t rows, int32_t words, uint32_t* out,
                                cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  cudaError_t e = cudaMemsetAsync(out, 0, static_cast<size_t>(rows) * words * sizeof(uint32_t), stream);
  if (e != cudaSuccess) return e;
  densify_bits_kernel<<<std::min(rows, 65535), 128, 0, stream>>>(row_ptr, cols, rows, words, out);
  return cudaGetLastError();
}

cudaError_t launch_densify_columns(const int64_t* row_ptr, const int32_t* cols, const float* vals, int32_t rows,
                                   int32_t neurons, int64_t ld, float* out, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  cudaError_t e = cudaMemsetAsync(out, 0, static_cast<size_t>(neurons) * ld * sizeof(float), stream);
  if (e != cudaSuccess) return e;
  densify_columns_kernel<<<std::min(rows, 65535), 128, 0, stream>>>(row_ptr, cols, vals, rows, ld, out);
  return cudaGetLastError();
}

cudaError_t launch_densify_column_bits(const int64_t* row_ptr, const int32_t* cols, int32_t rows, int32_t neurons,
                                       int32_t words, uint32_t* out, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  const dim3 grid((rows + kBitsRows - 1) / kBitsRows, (neurons + kBitsChunk * kBitsChunks - 1) / (kBitsChunk * kBitsChunks));
  densify_column_bits_kernel<<<grid, kBitsRows, 0, stream>>>(row_ptr, cols, rows, neurons, words, out);
  return cudaGetLastError();
}

cudaError_t launch_select_rows(const int32_t* count, int32_t* marks, const int32_t* active, const int32_t* ids_in,
                               int32_t* ids_out, int32_t* next_active, int32_t* next_count, cudaStream_t stream) {
  select_rows_kernel<<<1, kSelectThreads, 0, stream>>>(count, marks, active, ids_in, ids_out, next_active, next_count);
  return cudaGetLastError();
}

cudaError_t launch_columns_to_rows(const float* in, int64_t ld, int32_t positions, const int32_t* count, int32_t capacity,
                                   float* out, int32_t stride, const int32_t* weight, unsigned long long* nnz,
                                   cudaStream_t stream) {
  if (capacity == 0 || positions == 0) return cudaSuccess;
  const dim3 grid((capacity + kTransposeTile - 1) / kTransposeTile, (positions + kTransposeTile - 1) / kTransposeTile);
  columns_to_rows_kernel<<<grid, dim3(kTransposeTile, kTransposeRows), 0, stream>>>(in, ld, positions, count, out, stride,
                                                                                   weight, nnz);
  return cudaGetLastError();
}

cudaError_t launch_iota(int32_t* a, int32_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  iota_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(a, n);
  return cudaGetLastError();
}

cudaError_t launch_copy_rows(const float* src, float* dst, const int32_t* index, int32_t rows, int32_t neurons,
                             bool scatter, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  if (scatter) copy_rows_kernel<true><<<std::min(rows, 65535), 256, 0, stream>>>(src, dst, index, rows, neurons);
  else copy_rows_kernel<false><<<std::min(rows, 65535), 256, 0, stream>>>(src, dst, index, rows, neurons);
  return cudaGetLastError();
}

cudaError_t launch_gather_ids(const int32_t* list, const int32_t* count, const int32_t* ids, int32_t* out,
                              int32_t capacity, cudaStream_t stream) {
  gather_ids_kernel<<<std::max(1, blocks_for(capacity, 256)), 256, 0, stream>>>(list, count, ids, out);
  return cudaGetLastError();
}

cudaError_t add_rows_left_branch(cudaGraph_t graph, cudaGraphNode_t dependency, const int32_t* count, cudaGraphNode_t* branch,
                                 cudaGraph_t* body) {
  cudaGraphConditionalHandle handle{};
  cudaError_t e = cudaGraphConditionalHandleCreate(&handle, graph, 0, cudaGraphCondAssignDefault);
  if (e != cudaSuccess) return e;
  void* args[] = {&handle, &count};
  cudaKernelNodeParams kernel{};
  kernel.func = reinterpret_cast<void*>(set_rows_left_kernel);
  kernel.gridDim = dim3(1), kernel.blockDim = dim3(1), kernel.kernelParams = args;
  cudaGraphNode_t set = nullptr;
  if ((e = cudaGraphAddKernelNode(&set, graph, &dependency, dependency != nullptr ? 1 : 0, &kernel)) != cudaSuccess) return e;
  cudaGraphNodeParams node{};
  node.type = cudaGraphNodeTypeConditional;
  node.conditional.handle = handle;
  node.conditional.type = cudaGraphCondTypeIf;
  node.conditional.size = 1;
  if ((e = cudaGraphAddNode(branch, graph, &set, nullptr, 1, &node)) != cudaSuccess) return e;
  *body = node.conditional.phGraph_out[0];
  return cudaSuccess;
}

}  // namespace spdnn::cuda
