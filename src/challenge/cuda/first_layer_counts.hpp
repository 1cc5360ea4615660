// Structure mode's first layer as counts (first_layer_counts.cu). Where every input entry has one value v
// (the challenge's images, which the first layer reads as bits) and every weight of the layer's computed
// outputs is one value w (RadiX-Net: 1/16), an output's sum depends only on how many of its inputs are on:
// k of them, added in ascending order as every engine adds, give S_k = S_(k-1) + fl(v x w), the same bits
// whichever k they are (inputs that are off add nothing). So the layer is a table of activate(S_k) and, per
// row and output, a count of on bits: 32 rows at a time in bit planes (bit_counts.hpp), about 12
// operations an input where the feature-major kernel spends 32 additions, with the outputs written
// straight into the rows the next layer reads (no feature-major copy, no transpose). Opt-in
// (SPDNN_FIRST_LAYER=counts) until it has run on a GPU (built in session 40 while none was lent).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "spdnn/challenge/structure.hpp"
#include "spdnn/csr.hpp"

namespace spdnn::cuda {

struct FirstLayerCounts {
  std::vector<int32_t> ptr;  // physical output positions + 1
  std::vector<int32_t> pos;  // each output's inputs (neurons: the bits' positions), ascending
  std::vector<float> table;  // table[k]: the output when k of its inputs are on (k up to the longest list)
  std::vector<int32_t> weight;  // per physical output position, the neurons it stands for; empty: one each
};

// The plan for layer `w` (with its groups, or nullptr) whose outputs sit in `out_order` (physical position ->
// output), for inputs of value `in_value`; nullopt where the layer does not qualify (its computed outputs'
// weights are not one value, or an output has more inputs than a bit-plane counter holds).
std::optional<FirstLayerCounts> plan_first_layer_counts(const CsrMatrix& w, const LayerGroups* groups,
                                                        const std::vector<int32_t>& out_order, float in_value,
                                                        float bias, float clip);

// One row through the plan (for tests): `in` by neuron, each entry 0 or the plan's input value; the
// result by physical output position.
std::vector<float> first_layer_counts_row(const FirstLayerCounts& plan, const std::vector<float>& in);

struct FirstCountsArgs {
  const uint32_t* bits;  // position-major: position p's rows are `words` words, bit r % 32 of word r / 32
  int32_t words;         // a multiple of 8 (a slice of 256 rows is 32 bytes a position)
  const int32_t* ptr;
  const int32_t* pos;
  const int32_t* out_weight;  // neurons each output stands for; nullptr: one each
  const float* table;
  int32_t table_size;  // at most 64
  int32_t outputs;
  int32_t rows;  // the batch's rows: row k is input k (the first layer's active list is 0..rows-1)
  float* out;    // row k's output p at out[k * stride + p]
  int32_t stride;
  int32_t* marks;           // marks[k] = 1 where row k has a nonzero output (select_rows lists them)
  unsigned long long* nnz;  // the layer's nonzeros, each output counted for its neurons
};

// A grid of as many blocks as fit on `multiprocessors` SMs, over slices of 256 rows x 32 outputs.
cudaError_t launch_first_layer_counts(const FirstCountsArgs& args, int multiprocessors, cudaStream_t stream);

}  // namespace spdnn::cuda
