// Exact structure discovery: neurons and inputs that are bound to compute the same values, found so
// that each distinct one is computed once (spdnn run --mode structure).
//
// Two output neurons j1, j2 of layer l are *equivalent* when their weight columns, read through layer
// l-1's equivalence, are the same sequence: the same number of nonzeros, and at each position (input
// neurons ascending) input neurons that are equivalent in layer l-1 and bitwise-equal weights. Inputs
// to layer 1 are arbitrary, so there an input neuron is equivalent only to itself. Equivalent neurons
// receive identical products in the same order and share the bias, so their values are bitwise equal
// for every input, and an engine may compute one of them and read it for all (RadiX-Net layers,
// kron(ones(16,16), E_k), have groups of 16). Nothing is assumed: a network without such columns has
// one neuron per group and runs as before.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spdnn/challenge/network.hpp"

namespace spdnn {

// How an engine computes (`spdnn run --mode`). `automatic` runs `structure` when discovery finds
// enough equivalent neurons to gain (NeuronGroups::pays), `general` otherwise.
enum class Mode { general, structure, automatic };
std::optional<Mode> parse_mode(std::string_view s);  // "general", "structure", "auto"
std::string to_string(Mode m);

// The output neurons of one layer, grouped by equivalence.
struct LayerGroups {
  std::vector<int32_t> group_of;  // per output neuron: its group, 0 .. groups()-1
  std::vector<int32_t> first;     // per group: its lowest neuron; ascending, so groups keep neuron order
  std::vector<int32_t> size;      // per group: how many neurons it has

  int32_t groups() const { return static_cast<int32_t>(first.size()); }
  bool trivial() const { return first.size() == group_of.size(); }  // every neuron on its own
};

struct NeuronGroups {
  std::vector<LayerGroups> layers;  // one per layer
  double seconds = 0.0;             // time the discovery took

  int64_t distinct() const;  // groups summed over layers
  // Whether computing groups instead of neurons is worth it: at most 3/4 of the neurons are distinct.
  bool pays(int32_t neurons) const;
};

// Finds the equivalence of every layer (hash each column through the previous layer's groups, then
// verify candidates exactly). `threads` 0 = all. Throws Error(mismatch) if the network is invalid.
NeuronGroups find_neuron_groups(const Network& net, int threads = 0);

// Per layer boundary b = 0..L (the input of layer b; L: after the last layer): whether a row with every
// neuron at the clip there stays at the clip through every layer after it, bit for bit in the engines'
// arithmetic (each output sums clip x w over its inputs ascending, products rounded before the sum, then
// bias, ReLU and clip). Such a row survives every later layer with all N neurons nonzero, so an engine
// may carry it instead of computing it (GLARE's observation about saturated inputs, here checked
// exactly for the network at hand). All false when the clip is not positive. `threads` 0 = all.
std::vector<char> clip_row_kept(const Network& net, int threads = 0);


// What a run in structure mode found and what it cost (RunResult::structure).
struct StructureReport {
  Mode mode = Mode::general;  // the mode that ran (never automatic)
  std::string reason;         // why that mode (auto's choice, or why an engine could not)
  double discovery_s = 0.0;   // neuron groups, inside preprocess_s
  double row_grouping_s = 0.0;              // finding equal rows between layers, inside inference_s
  std::vector<int32_t> distinct_neurons;    // per layer: groups of output neurons
  std::vector<int64_t> distinct_rows;       // per layer: active rows actually computed after it
  std::vector<int64_t> saturated_rows;      // per layer: active inputs with every neuron at the clip
                                            // (empty where an engine does not count them)
  std::vector<int64_t> carried_at_clip;     // per layer: active inputs not computed there, their row being
                                            // at the clip with every later layer keeping it so (clip_row_kept;
                                            // empty where an engine does not carry them)
};

// An engine's first step in mode structure or auto: discovery, the choice, and the report's first part
// (mode, reason, discovery time, distinct neurons). `groups` is empty when general was chosen. With
// `carry_rows` and structure chosen, `clip_kept` = clip_row_kept(net), its time in the discovery's
// (SPDNN_CLIP_ROWS=0: not computed, for comparisons); empty otherwise.
struct StructurePlan {
  std::optional<NeuronGroups> groups;
  std::vector<char> clip_kept;
  StructureReport report;
};
StructurePlan plan_structure(const Network& net, Mode mode, int threads = 0, bool carry_rows = true);

}  // namespace spdnn
