// The cpu engine's structure path (spdnn run --mode structure): each group of equivalent neurons
// computed once, and active rows that have become bitwise equal computed once, with the same
// features, categories and per-layer counts as the general path.
#pragma once

#include <chrono>

#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/structure.hpp"

namespace spdnn::cpu {

// `groups` = find_neuron_groups(net); `started` is when preprocessing began (discovery included), so
// that preprocess_s covers it. `report` arrives with the discovery filled in and leaves completed.
// `clip_kept` (clip_row_kept; empty: none, as with balancing meetings, which move rows): rows at the clip
// before a layer where it is true are carried, not computed.
RunResult run_structure(const Network& net, const Features& x, const RunOptions& opt, const NeuronGroups& groups,
                        const std::vector<char>& clip_kept, StructureReport report,
                        std::chrono::steady_clock::time_point started);

}  // namespace spdnn::cpu
