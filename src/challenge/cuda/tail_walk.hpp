// The few-rows tail's arithmetic (tail_kernel.cuh) in plain C++, shared by the kernel and its CPU test
// (tests/challenge/tail_walk_test.cpp), so that the walk of the sliced-ELL layout and the bookkeeping
// between layers are checked against the reference engine on machines without a GPU.
#pragma once

#include <cstdint>

#include "challenge/cuda/layer_args.hpp"
#include "core/host_device.hpp"

namespace spdnn::cuda {

// The sums of output position v of layer L over rows r < rows (row r at x + offset[r]), walking the output's
// sliced-ELL steps in the layer kernel's order (its tile's chunks in turn, each chunk's steps in order:
// ascending input id) and padding steps included (their weight is 0, which adds nothing to a sum that
// starts at +0). Batch steps' slots, positions and weights are loaded before they are used, so that
// their loads are in flight together. `to_float` converts a weight and `add_product(acc, x, w)` is
// acc + x * w rounded apart (the device's intrinsics, or the host's plain arithmetic).
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <int MaxRows, int Batch, class Weight, class ToFloat, class AddProduct>
SPDNN_HOST_DEVICE inline void tail_output_sums(const TailLayer<Weight>& L, int v, const float* x, const int32_t (&offset)[MaxRows],
                                               int rows, ToFloat to_float, AddProduct add_product, float (&acc)[MaxRows]) {
  const int tile_outputs = L.threads * L.per;
  const int tile = v / tile_outputs, o = v % tile_outputs / L.per, j = v % L.per;
  for (int r = 0; r < MaxRows; ++r) acc[r] = 0.0f;
  for (int c = L.tile_chunks[tile]; c < L.tile_chunks[tile + 1]; ++c) {
    const int32_t* map = L.map + L.chunk_map[c];
    const int64_t first = L.chunk_ell[c] + o;
    const int steps = L.chunk_k[c];
    for (int q0 = 0; q0 < steps; q0 += Batch) {
      int32_t pos[Batch];
      float w[Batch];
#pragma unroll
      for (int u = 0; u < Batch; ++u) {  // past the chunk's steps: its last step again, never used
        const int64_t step = first + static_cast<int64_t>(q0 + u < steps ? q0 + u : steps - 1) * L.threads;
        pos[u] = L.ell_idx[step];
        w[u] = to_float(L.ell_val[step * L.per + j]);
      }
#pragma unroll
      for (int u = 0; u < Batch; ++u) pos[u] = map[pos[u]];
#pragma unroll
      for (int u = 0; u < Batch; ++u) {
        if (q0 + u >= steps) break;
#pragma unroll
        for (int r = 0; r < MaxRows; ++r)
          if (r < rows) acc[r] = add_product(acc[r], x[offset[r] + pos[u]], w[u]);
      }
    }
  }
}

// After a layer of `rows` rows whose nonzero outputs, counted for the neurons they stand for, are
// total[r]: the rows with any move to the front in order (row_at[k], ids[k], mult[k] of the k-th kept
// row; row_at[k] = its row r in the layer's output), `layer_nnz` gets the layer's nonzeros over every input the
// rows stand for (mult), `kept_inputs` the inputs the kept rows stand for. Returns the kept rows.
SPDNN_HOST_DEVICE inline int tail_keep_rows(int rows, const int32_t* total, int32_t* row_at, int32_t* ids, int32_t* mult,
                                            unsigned long long& layer_nnz, int32_t& kept_inputs) {
  int kept = 0;
  layer_nnz = 0, kept_inputs = 0;
  for (int r = 0; r < rows; ++r) {
    layer_nnz += static_cast<unsigned long long>(total[r]) * static_cast<unsigned long long>(mult[r]);
    if (total[r] == 0) continue;
    row_at[kept] = r, ids[kept] = ids[r], mult[kept] = mult[r], kept_inputs += mult[r];
    ++kept;
  }
  return kept;
}

}  // namespace spdnn::cuda
