// Step 1 of the cuda engine: every layer of a network in sliced ELL (sliced_ell.hpp) or the feature-major
// layout (column_layout.hpp), packed into one blob per layer (layer_blob.hpp), ready to be copied to the
// device whole or streamed a layer at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "challenge/cuda/first_layer_counts.hpp"
#include "challenge/cuda/layer_blob.hpp"
#include "spdnn/challenge/network.hpp"
#include "spdnn/challenge/structure.hpp"

namespace spdnn::cuda {

struct PackedNetwork {
  std::vector<std::vector<unsigned char>> blob;  // one per layer
  std::vector<BlobLayout> layout;                // one per layer
  std::vector<size_t> offset;                    // layers + 1: each layer's byte offset when all are resident
  size_t max_blob = 0;                           // the largest layer (a streaming slot)
  bool exact = true;                             // every weight survived the conversion to the weight type
  std::vector<int32_t> last_position;            // per neuron: where the last layer put its value
  std::vector<int32_t> last_order;               // the last layer's output order (position -> output)
  bool first_columns = false;                    // structure mode's first layer is feature-major (first_candidates)
  std::vector<int32_t> first_order;              // ... its output order (position -> output), when it is
  std::optional<FirstLayerCounts> first_counts;  // ... and it runs as counts (first_layer_counts.hpp; the engine says when)
  // The physical output order after each layer count asked for (balancing meetings move rows in neuron
  // order, so they need it).
  std::map<int32_t, std::shared_ptr<const std::vector<int32_t>>> order_after;

  size_t total_bytes() const { return offset.back(); }
};

// Packs `net` with weights as Weight (float or __half), each layer for the kernel of `candidates` that
// suits it (sliced_ell.hpp: choose_layer_kernel), in parallel over ranges of layers (OpenMP). Feature-major
// candidates (all or none of them) give every layer the column layout (column_layout.hpp). With `groups` (structure mode),
// each layer computes one output per group of equivalent neurons (sliced_ell.hpp: layout_layer); orders
// are then over groups, and balancing meetings (order_after) are not supported. `first_candidates`
// (feature-major, structure mode only): the first layer takes the column layout over its groups, in the
// order the sliced-ELL layout would give them (the engine transposes its output for the next layer).
// `output_lists`: the sliced-ELL layers also carry their output lists, for rows alone.
template <class Weight>
PackedNetwork pack_network(const Network& net, const std::vector<int32_t>& keep_order_after,
                           std::span<const LayerKernelConfig> candidates, const NeuronGroups* groups = nullptr,
                           std::span<const LayerKernelConfig> first_candidates = {}, bool output_lists = false);

}  // namespace spdnn::cuda
