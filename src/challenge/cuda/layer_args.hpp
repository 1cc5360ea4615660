// The shape and the arguments of one layer launch (shared by the host code, the layout and the kernel).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace spdnn::cuda {

// The layer kernel's configuration: feature rows per block pass, threads per block, outputs each thread
// computes, the footprint inputs a tile stages in shared memory at once, and the ELL steps a thread holds
// in registers across row passes. A thread's outputs walk one merged input list (sliced_ell.hpp), so each
// staged value it reads serves all of them. With register_steps = K > 0 the kernel only takes layers
// whose tiles are one chunk of at most K steps, reads each weight once per block instead of once per row
// pass, and stages the next pass asynchronously; 0 reads them at every pass and takes any layer.
// single_chunk: the kernel takes only layers whose tiles are one chunk each (held steps imply it). Wide
// chunks (a whole feature row of structure mode's groups) pay only when they replace many narrow ones.
// feature_major: the features are stored position-major ([position][row]; column_kernel.cuh) and each
// warp computes one group of `outputs_per_thread` outputs over one merged input list (column_layout.hpp)
// for an item of `rows` rows (32 x the rows a thread x the slices an item), a block `threads / 32`
// groups (register_steps is 0; chunk_capacity 32: a warp holds 32 steps' positions, one a lane).
// stage_steps > 0 (feature-major only): a warp copies the inputs and weights of that many steps at a time
// into shared memory by bulk copies, a stage ahead of its multiplies (column_staged_kernel.cuh); 0: it
// reads them straight from global memory. Every layer of a network has the same feature layout, but for
// structure mode's first layer (layer_pack.hpp: first_candidates).
struct LayerKernelConfig {
  int rows = 16;
  int threads = 256;
  int outputs_per_thread = 1;
  int chunk_capacity = 512;
  int register_steps = 0;
  bool single_chunk = false;
  bool feature_major = false;
  int stage_steps = 0;

  // The rows a staged step holds: a slice of 64 rows whose input rows span more (rows that died in the
  // layer before leave gaps) reads its inputs straight from global memory.
  static constexpr int kStageSpan = 88;
  static constexpr int kStages = 2;

  int tile_outputs() const { return (feature_major ? threads / 32 : threads) * outputs_per_thread; }
  // Staged rows: one chunk, or two with held steps (the next pass is staged while this one computes);
  // feature-major: each warp's stages (for fp32 weights, the larger) and their barriers.
  size_t shared_bytes() const {
    if (feature_major)
      return stage_steps == 0 ? 0
                              : static_cast<size_t>(threads / 32) * kStages *
                                    (stage_steps * (kStageSpan + outputs_per_thread) * sizeof(float) + sizeof(uint64_t));
    return static_cast<size_t>(register_steps > 0 ? 2 : 1) * chunk_capacity * rows * sizeof(float);
  }
  bool operator==(const LayerKernelConfig&) const = default;
};

// A layer's output from its sum, as the host emulations of the kernels compute it (layer_kernel.cuh:
// activate is the device's): bias on a nonzero sum only, then ReLU and the clip.
inline float activated(float z, float bias, float clip) { return z != 0.0f ? std::min(std::max(z + bias, 0.0f), clip) : 0.0f; }

template <class Weight>
struct LayerArgs {
  const float* in;            // feature rows, `stride` floats each (physical input order); feature-major:
                              // positions, `stride` floats each (one per row of the batch)
  float* out;                 // output rows, compacted: row k of the active list
  const int32_t* active;      // indices into `in` of the active rows
  const int32_t* count;       // number of active rows (device)
  const int32_t* ids_in;      // input id of each row of `in`
  int32_t* ids_out;           // input id of each row of `out`
  int32_t* next_active;       // the surviving rows of `out`, appended (in no particular order)
  int32_t* next_count;        // their number (zero before the launch)
  int32_t* row_total;         // per row of `out`: nonzeros summed over tiles (zero; reset after use)
  int32_t* tiles_done;        // per row block: tiles finished with it (zero; reset after use)
  unsigned long long* nnz;    // nonzeros of this layer's output (accumulated over its tiles; zero per batch)
  const unsigned long long* in_nnz;  // the previous layer's, this batch; nullptr for the first layer
  const int32_t* tile_chunks;
  const int64_t* chunk_map;
  const int32_t* chunk_size;
  const int64_t* chunk_ell;
  const int32_t* chunk_k;
  const int32_t* map;
  const uint16_t* ell_idx;
  const Weight* ell_val;
  // Feature-major layers (column_layout.hpp): group g's steps are [group_steps[g], group_steps[g + 1]),
  // each one input position and outputs_per_thread weights.
  const int32_t* group_steps;
  const int32_t* step_pos;
  const Weight* step_val;
  const int32_t* out_weight;  // neurons each output stands for (structure mode); nullptr: one each
  // Structure mode's merged rows (row_merge.hpp): the inputs each row of `in` stands for, copied to
  // `mult_out` as rows move, counted in `next_inputs` and weighting `nnz`; nullptr: one each.
  const int32_t* mult_in;
  int32_t* mult_out;
  int32_t* next_inputs;
  // The first layer's input as bits, when every input's nonzeros equal `in_value` (the challenge's
  // binary images; cuda_engine.cpp says when): row k is `in_words` words of `in_bits`, bit j of word w for
  // neuron 32w + j (feature-major: position p is `in_words` words, bit j of word w for row 32w + j), 1/32
  // of the dense floats to clear, fill and read. nullptr: `in` holds the rows.
  const uint32_t* in_bits;
  float in_value;
  int32_t in_words;
  int32_t outputs;            // outputs of this layer (neurons, or groups in structure mode)
  int32_t stride;             // floats per feature row (the network's neurons); feature-major: per position
  float bias, clip;
};

}  // namespace spdnn::cuda
