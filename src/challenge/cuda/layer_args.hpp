// The arguments of one layer launch (shared by the host code and the kernel).
#pragma once

#include <cstdint>

namespace spdnn::cuda {

template <class Weight>
struct LayerArgs {
  const float* in;            // feature rows, `stride` floats each (physical input order)
  float* out;                 // output rows, compacted: row k of the active list
  const int32_t* active;      // indices into `in` of the active rows
  const int32_t* count;       // number of active rows (device)
  const int32_t* ids_in;      // input id of each row of `in`
  int32_t* ids_out;           // input id of each row of `out`
  int32_t* next_active;       // the surviving rows of `out`, appended (in no particular order)
  int32_t* next_count;        // their number (zero before the launch)
  int32_t* row_total;         // per row of `out`: nonzeros summed over tiles (zero; reset after use)
  int32_t* tiles_done;        // per row block: tiles finished with it (zero; reset after use)
  unsigned long long* nnz;    // nonzeros of this layer's output (accumulated)
  const int32_t* tile_chunks;
  const int64_t* chunk_map;
  const int32_t* chunk_size;
  const int64_t* chunk_ell;
  const int32_t* chunk_k;
  const int32_t* map;
  const uint16_t* ell_idx;
  const Weight* ell_val;
  const int32_t* out_weight;  // neurons each output stands for (structure mode); nullptr: one each
  int32_t outputs;            // outputs of this layer (neurons, or groups in structure mode)
  int32_t stride;             // floats per feature row (the network's neurons)
  float bias, clip;
};

}  // namespace spdnn::cuda
