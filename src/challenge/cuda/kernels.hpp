// Host-callable launchers of the engine's kernels (defined in kernels.cu), so that the host code is
// plain C++: every function returns the CUDA status of its launch.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "challenge/cuda/layer_args.hpp"

namespace spdnn::cuda {

// False if no kernel is instantiated for the configuration (its layout, rows, threads and outputs per thread).
bool has_layer_kernel(const LayerKernelConfig& config);
// Raises the kernel's dynamic shared memory limit and returns how many blocks fit on one SM.
template <class Weight>
cudaError_t prepare_layer_kernel(const LayerKernelConfig& config, int* blocks_per_sm);
// fused: a feature-major layer whose products are exact (exact_products.hpp) multiply-adds with one rounding.
// dependent: a sliced-ELL layer launches as a programmatic dependent of the kernel before it
// (cuda/dependent_launch.hpp; compute capability 9.0 and up).
template <class Weight>
cudaError_t launch_layer_kernel(const LayerKernelConfig& config, const LayerArgs<Weight>& args, int tiles, int grid_rows,
                                bool fused, bool dependent, cudaStream_t stream);

cudaError_t launch_densify(const int64_t* row_ptr, const int32_t* cols, const float* vals, int32_t rows,
                           int32_t neurons, float* out, cudaStream_t stream);
// The rows as bits (LayerArgs::in_bits): `words` words a row, cleared, then a bit set per entry.
cudaError_t launch_densify_bits(const int64_t* row_ptr, const int32_t* cols, int32_t rows, int32_t words, uint32_t* out,
                                cudaStream_t stream);
// The rows position-major for feature-major layers: `neurons` positions of `ld` floats, cleared, then filled.
cudaError_t launch_densify_columns(const int64_t* row_ptr, const int32_t* cols, const float* vals, int32_t rows,
                                   int32_t neurons, int64_t ld, float* out, cudaStream_t stream);
// Position-major bits (column_kernel.cuh): `neurons` positions of `words` words, a bit per entry; every word
// of the first (rows + 255) / 256 x 8 written, the rest left as they are (no row reads them).
cudaError_t launch_densify_column_bits(const int64_t* row_ptr, const int32_t* cols, int32_t rows, int32_t neurons,
                                       int32_t words, uint32_t* out, cudaStream_t stream);
// After a feature-major layer (column_kernel.cuh: select_rows_kernel): the marked rows, in order.
cudaError_t launch_select_rows(const int32_t* count, int32_t* marks, const int32_t* active, const int32_t* ids_in,
                               int32_t* ids_out, int32_t* next_active, int32_t* next_count, cudaStream_t stream);
// Feature-major features (`positions` positions of `ld` floats) into rows of `stride` floats, for the
// first `*count` rows (device memory; `capacity` bounds the grid): row k's position p = in[p * ld + k];
// the nonzeros read, each counted `weight[p]` times (nullptr: once), are added to `*nnz`.
cudaError_t launch_columns_to_rows(const float* in, int64_t ld, int32_t positions, const int32_t* count, int32_t capacity,
                                   float* out, int32_t stride, const int32_t* weight, unsigned long long* nnz,
                                   cudaStream_t stream);
cudaError_t launch_iota(int32_t* a, int32_t n, cudaStream_t stream);
// Rows of `neurons` floats: scatter writes dst row index[k] = src row k; gather dst row k = src row index[k].
cudaError_t launch_copy_rows(const float* src, float* dst, const int32_t* index, int32_t rows, int32_t neurons,
                             bool scatter, cudaStream_t stream);
// out[k] = ids[list[k]] for k < *count (count in device memory); `capacity` bounds the grid.
cudaError_t launch_gather_ids(const int32_t* list, const int32_t* count, const int32_t* ids, int32_t* out,
                              int32_t capacity, cudaStream_t stream);

// Graph nodes that stop a batch on the device (conditional nodes, CUDA 12.4): after `dependency`, a
// one-thread kernel sets a new IF condition to whether any of `*count` rows are left, and an IF node after
// it runs `*body` (returned empty, to be filled) only then; `*branch` is the IF node.
cudaError_t add_rows_left_branch(cudaGraph_t graph, cudaGraphNode_t dependency, const int32_t* count, cudaGraphNode_t* branch,
                                 cudaGraph_t* body);
}  // namespace spdnn::cuda
