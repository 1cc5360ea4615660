// One problem over several engines (one per GPU): the inputs are split into contiguous slices, the
// network is duplicated, and the parts run at once, one host thread each.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spdnn/challenge/engine.hpp"

namespace spdnn {

// static_split: each part keeps its slice to the end (the HPEC 2020 scheme). Inputs die at different
//   rates in different slices, so the parts finish at different times.
// balanced: the same slices, and after layers 4, 8, 16, ... the parts meet. Once the total active count
//   has settled (changed by at most 10% since the previous meeting), they move active rows so that each
//   holds the same number; meetings stop with one that finds the count steady (within 1%) or the parts
//   even. Parts whose engine cannot move rows keep theirs.
enum class Partitioning { static_split, balanced };
std::optional<Partitioning> parse_partitioning(std::string_view s);  // "static" | "balanced"
std::string to_string(Partitioning p);

// The layer counts after which balanced parts meet, for a network of `layers` layers.
std::vector<int32_t> meeting_layers(int32_t layers);

// An engine running `parts` concurrently (at least one). Categories, per-layer counts and features are
// those of a single engine; RunResult::parts reports each part.
std::unique_ptr<Engine> make_partitioned_engine(std::vector<std::unique_ptr<Engine>> parts, Partitioning mode);

}  // namespace spdnn
