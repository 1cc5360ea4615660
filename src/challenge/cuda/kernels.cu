// Kernel definitions and their launchers: the layer kernels instantiated from lists of shapes, the
// input densification, the feature-major row selection, and the final gather of survivors' ids.
#include <tuple>

#include "challenge/cuda/column_kernel.cuh"
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
// holds} (column_kernel.cuh; configured as {32 x rows a thread x slices, threads, outputs, held}): groups
// of 16 (RadiX-Net's equal input sets), 4, and single outputs for networks without such groups; four
// slices an item, and 32 held positions, for measurement.
template <int RowsPerThread, int Threads, int Per, int Slices = 1, int Held = 0>
struct ColumnShape {
  static constexpr int rows_per_thread = RowsPerThread, threads = Threads, per = Per, slices = Slices, held = Held;
};
using ColumnShapes = std::tuple<ColumnShape<2, 256, 16>, ColumnShape<2, 256, 4>, ColumnShape<2, 256, 1>,
                                ColumnShape<2, 256, 16, 4>, ColumnShape<2, 256, 16, 1, 32>>;

template <class Weight>
using KernelFn = void (*)(LayerArgs<Weight>);

// Calls f.template operator()<Shape>() for the shape of ColumnShapes that the feature-major `s` configures.
template <class F>
void visit_column_shape(const LayerKernelConfig& s, F&& f) {
  std::apply(
      [&](auto... shape) {
        ((32 * shape.rows_per_thread * shape.slices == s.rows && shape.threads == s.threads &&
                  shape.per == s.outputs_per_thread && shape.held == s.chunk_capacity && s.register_steps == 0
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

// Position-major bits: bit r % 32 of out[col * words + r / 32] for row r's entries (rows share words).
__global__ void densify_column_bits_kernel(const int64_t* row_ptr, const int32_t* cols, int32_t rows, int64_t words,
                                           uint32_t* out) {
  for (int32_t r = blockIdx.x; r < rows; r += gridDim.x)
    for (int64_t p = row_ptr[r] + threadIdx.x; p < row_ptr[r + 1]; p += blockDim.x)
      atomicOr(out + cols[p] * words + r / 32, 1u << (r % 32));
}

__global__ void iota_kernel(int32_t* a, int32_t n) {
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) a[i] = i;
}

__global__ void gather_ids_kernel(const int32_t* list, const int32_t* count, const int32_t* ids, int32_t* out) {
  for (int32_t k = blockIdx.x * blockDim.x + threadIdx.x; k < *count; k += gridDim.x * blockDim.x) out[k] = ids[list[k]];
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

}  // namespace

bool has_layer_kernel(const LayerKernelConfig& config) { return find_kernel<float>(config) != nullptr; }

template <class Weight>
cudaError_t prepare_layer_kernel(const LayerKernelConfig& config, int* blocks_per_sm) {
  KernelFn<Weight> fn = find_kernel<Weight>(config);
  if (fn == nullptr) return cudaErrorInvalidValue;
  const size_t shared = config.shared_bytes();
  cudaError_t e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared));
  if (e != cudaSuccess) return e;
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks_per_sm, fn, config.threads, shared);
}

template <class Weight>
cudaError_t launch_layer_kernel(const LayerKernelConfig& config, const LayerArgs<Weight>& args, int tiles, int grid_rows,
                                bool fused, cudaStream_t stream) {
  KernelFn<Weight> fn = find_kernel<Weight>(config, fused && config.feature_major);
  if (fn == nullptr) return cudaErrorInvalidValue;
  fn<<<dim3(tiles, grid_rows), config.threads, config.shared_bytes(), stream>>>(args);
  return cudaGetLastError();
}

template cudaError_t prepare_layer_kernel<float>(const LayerKernelConfig&, int*);
template cudaError_t prepare_layer_kernel<__half>(const LayerKernelConfig&, int*);
template cudaError_t launch_layer_kernel<float>(const LayerKernelConfig&, const LayerArgs<float>&, int, int, bool, cudaStream_t);
template cudaError_t launch_layer_kernel<__half>(const LayerKernelConfig&, const LayerArgs<__half>&, int, int, bool,
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
  cudaError_t e = cudaMemsetAsync(out, 0, static_cast<size_t>(neurons) * words * sizeof(uint32_t), stream);
  if (e != cudaSuccess) return e;
  densify_column_bits_kernel<<<std::min(rows, 65535), 128, 0, stream>>>(row_ptr, cols, rows, words, out);
  return cudaGetLastError();
}

cudaError_t launch_select_rows(const int32_t* count, int32_t* marks, const int32_t* active, const int32_t* ids_in,
                               int32_t* ids_out, int32_t* next_active, int32_t* next_count, cudaStream_t stream) {
  select_rows_kernel<<<1, kSelectThreads, 0, stream>>>(count, marks, active, ids_in, ids_out, next_active, next_count);
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

}  // namespace spdnn::cuda
