// Challenge-level helpers: verification against a truth, throughput, the default problem.
#pragma once

#include <cstdint>
#include <vector>

#include "spdnn/challenge/features.hpp"
#include "spdnn/challenge/network.hpp"

namespace spdnn {

struct Verification {
  bool passed = false;
  int64_t missing = 0;  // in the truth, not in the answer
  int64_t extra = 0;    // in the answer, not in the truth
};

// Both lists ascending (as written by the challenge and returned by engines).
Verification verify_categories(const std::vector<int64_t>& answer, const std::vector<int64_t>& truth);

// The challenge metric: inputs x network edges / seconds, in TeraEdges/s.
double teraedges_per_s(int64_t inputs, int64_t edges, double seconds);

}  // namespace spdnn
