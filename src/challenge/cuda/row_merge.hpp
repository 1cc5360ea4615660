// Structure mode on the GPU: active feature rows that have become bitwise equal are merged between layers,
// so that each distinct row is computed once (spdnn/challenge/structure.hpp). Two rows equal after a layer
// stay equal at every later layer, so one of them stands for both from then on: it carries the number of
// inputs it stands for (its multiplicity, which the layer kernel counts), and the merge is logged so that
// the answer, counts and features are expanded to every input at the end. Host-callable launchers of
// kernels in row_merge.cu; the host code stays plain C++.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace spdnn::cuda {

// One input merged into another: `input` is computed by `into`'s row from then on.
struct MergedInput {
  int32_t input, into;
};

// A distinct row taken out of the active list at layer boundary `boundary` (the input of that layer)
// because every neuron of it is at the clip and every later layer keeps it there (clip_row_kept):
// it survives, with `inputs` inputs (its multiplicity once the merge is done), and is not computed again.
struct CarriedRow {
  int32_t input, row, inputs, boundary;
};

// Carrying rows at the clip during one merge: rows kept by the merge that are at `clip` leave the list
// into `log` (`*count` entries). `log` nullptr: none are carried.
struct ClipCarry {
  CarriedRow* log = nullptr;
  int32_t* count = nullptr;
  float clip = 0.0f;
  int32_t boundary = 0;
};

// Device buffers of one merge step, for up to `capacity` active rows (LayerLoop owns them). Between
// merges every slot of the table is free (launch_row_merge_clear once, then each merge frees its own).
struct RowMergeScratch {
  uint64_t* table_keys;   // table_size slots: a row hash, or free
  int32_t* table_first;   // table_size slots: the list position of the first row that claimed the slot
  int32_t* slot;          // capacity: each listed row's slot
  int32_t* kept;          // the rows that stay active, compacted (capacity + 1: the last word counts them)
  int32_t table_size;     // a power of two, at least twice the capacity (row_merge_table_size)
  int32_t capacity;
};

// a[0..n) = value (multiplicities start at 1).
cudaError_t launch_fill(int32_t* a, int32_t n, int32_t value, cudaStream_t stream);

// The slots of the table for `capacity` rows.
int32_t row_merge_table_size(int32_t capacity);

// Frees every slot of the table (once, before the first merge).
cudaError_t launch_row_merge_clear(const RowMergeScratch& scratch, cudaStream_t stream);

// Merges the `*count` rows listed in `list` (rows of `feat`, `stride` floats, compared over their first
// `width`): rows with equal hashes are compared bit for bit with the first of them to claim the hash, and an equal
// one leaves the list, adds its multiplicity to that row's, and appends (its input id, the other's) to
// `log` (`*log_count` entries). `list` and `*count` are rewritten with the rows that stay, in no
// particular order; with `carry`, kept rows at the clip leave the list into its log instead (a warp
// stops reading a row at its first value off the clip). Enqueued on `stream` without host
// synchronization (graph capture allowed).
cudaError_t launch_row_merge(const float* feat, int64_t stride, int32_t width, int32_t* list, int32_t* count,
                             const int32_t* ids, int32_t* multiplicity, MergedInput* log, int32_t* log_count,
                             const RowMergeScratch& scratch, const ClipCarry& carry, cudaStream_t stream);

}  // namespace spdnn::cuda
