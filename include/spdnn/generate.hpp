// Generated problems: seeded, and identical on every machine for the same seed.
#pragma once

#include <cstdint>

#include "spdnn/features.hpp"
#include "spdnn/network.hpp"

namespace spdnn {

struct RandomNetworkSpec {
  int32_t neurons = 1024;
  int32_t layers = 120;
  int32_t per_row = 32;        // nonzeros in every row and every column of every layer
  float value = 1.0f / 16;     // every weight, unless random_values
  bool random_values = false;  // weights uniform in (0, 2 * value] instead
  float bias = -0.30f;
  uint64_t seed = 1;
};

// Each layer is a band matrix (row i holds columns i .. i+per_row-1, mod N) with rows and columns
// permuted at random: exactly per_row nonzeros in every row and column.
Network random_network(const RandomNetworkSpec& spec);

// count x neurons binary features, each entry on with probability `density`.
Features random_features(int64_t count, int32_t neurons, double density, uint64_t seed);

}  // namespace spdnn
