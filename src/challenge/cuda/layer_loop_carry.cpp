// Carrying rows at the clip in the cuda engine's structure mode (see layer_loop.hpp and row_merge.hpp).
//
// On the challenge's networks the survivors converge to one row with every neuron at the clip, which
// each later layer maps to itself (clip_row_kept checks that for the network at hand, in the engines'
// arithmetic). From kCarryFrom layers on, the row merges take such rows out of the active list at the
// boundaries where that holds; the host counts them at every later layer and lists them, and the inputs
// merged into them, as survivors with every neuron at the clip. Once no row is left to compute, the layers
// after the next checkpoint do not run at all: these layers, one or a few rows each, were most of the
// structure mode's time at 4096 and 16384 neurons (bench/results/structure_peers_s31_h100.md).
#include <cuda_fp16.h>

#include "challenge/cuda/layer_loop.hpp"
#include "cuda/check.hpp"

namespace spdnn::cuda {

template <class Weight>
bool LayerLoop<Weight>::carries_at(int32_t boundary) const {
  return boundary >= kCarryFrom && boundary < layers_ && static_cast<size_t>(boundary) < clip_kept_.size() &&
         clip_kept_[boundary] != 0;
}

// The carrying merges from kCheckFrom on: after each, a batch with no row left stops (layer_loop_graphs.cpp).
template <class Weight>
std::vector<int32_t> LayerLoop<Weight>::checkpoints() const {
  std::vector<int32_t> at;
  for (int32_t b = kCheckFrom; b < tail_from_; ++b)  // the rows-alone tail stops by itself
    if (merges_after(b) && carries_at(b)) at.push_back(b);
  return at;
}

// The batch's carried rows: counted at every layer after their boundary (all neurons nonzero), reported
// from the layer that left them at the clip on (as the cpu engine does), and added to `survivors` (the
// inputs merged into them are expanded with the rest, expand_merged).
template <class Weight>
void LayerLoop<Weight>::collect_carried(RunResult& result, std::vector<int32_t>& survivors) {
  int32_t entries = 0;
  SPDNN_CUDA_CHECK(cudaMemcpy(&entries, carried_count_.get(), sizeof entries, cudaMemcpyDeviceToHost));
  if (entries <= 0) return;
  std::vector<CarriedRow> carried(entries);
  SPDNN_CUDA_CHECK(cudaMemcpy(carried.data(), carried_.get(), entries * sizeof(CarriedRow), cudaMemcpyDeviceToHost));
  for (const CarriedRow& c : carried) {
    for (int32_t l = c.boundary; l < layers_; ++l) {
      result.layers[l].active_inputs += c.inputs;
      result.layers[l].nnz += int64_t{c.inputs} * n_;
    }
    for (int32_t l = c.boundary - 1; l < layers_; ++l) carried_at_clip_[l] += c.inputs;
    result.categories.push_back(int64_t{c.input} + 1);
    survivors.push_back(c.input);
    if (opt_.keep_features) {
      auto& row = kept_[c.input];
      row.clear();
      for (int32_t j = 0; j < n_; ++j) row.emplace_back(j, net_.clip);
    }
  }
}

template bool LayerLoop<float>::carries_at(int32_t) const;
template bool LayerLoop<__half>::carries_at(int32_t) const;
template std::vector<int32_t> LayerLoop<float>::checkpoints() const;
template std::vector<int32_t> LayerLoop<__half>::checkpoints() const;
template void LayerLoop<float>::collect_carried(RunResult&, std::vector<int32_t>&);
template void LayerLoop<__half>::collect_carried(RunResult&, std::vector<int32_t>&);

}  // namespace spdnn::cuda
