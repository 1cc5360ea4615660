// A random network with planted groups of equivalent neurons, for the structure-mode layout tests.
#pragma once

#include <vector>

#include "spdnn/challenge/generate.hpp"
#include "spdnn/csr.hpp"

namespace spdnn::test {

// 200 neurons, 6 layers, 10 inputs an output; in every layer columns 0..99 are copied onto 100..199, so
// that neurons j and j + 100 form a group of two with equal weight columns.
inline Network planted_pairs_network() {
  Network planted = random_network({.neurons = 200, .layers = 6, .per_row = 10, .value = 0.2f, .bias = -0.3f, .seed = 4});
  for (CsrMatrix& w : planted.layers) {
    std::vector<Triplet> t;
    for (const Triplet& e : csr_to_triplets(w))
      if (e.col < 100) t.push_back(e), t.push_back({e.row, e.col + 100, e.value});
    w = csr_from_triplets(200, 200, t, "planted");
  }
  return planted;
}

}  // namespace spdnn::test
