// The last layers with rows alone (row_tail.cu): once the rows left are few, a layer of the sliced-ELL
// kernel is a chain of dependent steps that costs 14-19 us however few rows it computes (structure mode,
// 1024 x 120, H100), and the merges and launches between layers add to it. But a row's next layer depends
// on nothing but the row itself: so one launch takes each block's rows through every remaining layer in
// shared memory, each output summing its inputs in ascending input order over the layer's output lists
// (SlicedEllLayer::list_ptr), as every engine does, so the bits are the same. Structure mode's layers are
// small (N/16 outputs); general mode's rows layout takes it too where a row of N fits shared memory. A row
// leaves when it dies, or (structure mode) is carried once at the clip where every later layer keeps it
// there (clip_row_kept); counts go
// to the same per-layer counters as the layer kernel's, and the rows alive after the last layer are listed
// for the survivors' ids. Host-callable launchers; the host code stays plain C++.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "challenge/cuda/row_merge.hpp"

namespace spdnn::cuda {

// One layer as rows alone read it: output p sums val[e] x row[pos[e]] for e in [ptr[p], ptr[p + 1]).
template <class Weight>
struct RowTailLayer {
  const int32_t* ptr;
  const int32_t* pos;
  const Weight* val;
  const int32_t* out_weight;  // neurons each output stands for (its group's size); nullptr: one each
  int32_t outputs;
};

template <class Weight>
struct RowTailArgs {
  const RowTailLayer<Weight>* layers;  // device array: layer l at l - from
  int32_t from, to;                    // layers [from, to): `to` is the network's last
  int32_t width;                       // the widest row: in_width and every layer's outputs
  int32_t in_width;                    // positions of the rows before layer `from`
  int64_t stride;                      // floats per feature row
  // The active rows before layer `from`: `*count` of them, listed in `active` (rows of `in`), with
  // their input ids and multiplicities (the inputs each stands for).
  const float* in;
  const int32_t* active;
  const int32_t* count;
  const int32_t* ids;
  const int32_t* mult;  // nullptr: one input a row
  // The rows alive after the last layer, written at the row each came from (into the last layer's side:
  // features, ids) and listed in `out_list`, counts[to] of them.
  float* out;
  int32_t* out_ids;
  int32_t* out_list;
  // Per layer l (the layer kernel's counters): counts[l + 1] rows and inputs[l + 1] inputs alive after it
  // (inputs nullptr: general mode, a row an input), nnz[l] its nonzeros (each output counted for its
  // neurons, times the row's inputs).
  int32_t* counts;
  int32_t* inputs;
  unsigned long long* nnz;
  // carry_at[b] (b in [0, to]): a row with every neuron at the clip after b layers is carried there.
  const char* carry_at;
  CarriedRow* carried;
  int32_t* carried_count;
  float bias, clip;
};

// Rows a block takes (16, 8 or 4) for rows of `width` positions, two buffers of them within
// `shared_limit` bytes; 0 where 4 do not fit.
int row_tail_rows(int32_t width, size_t shared_limit);

// Sets the kernel's shared memory for `rows` x `width` and says how many blocks an SM holds.
template <class Weight>
cudaError_t prepare_row_tail(int rows, int32_t width, int* blocks_per_sm);

// A persistent grid of `blocks` blocks of `rows` rows each, enqueued on `stream`.
template <class Weight>
cudaError_t launch_row_tail(const RowTailArgs<Weight>& args, int rows, int blocks, cudaStream_t stream);

}  // namespace spdnn::cuda
