// A random problem whose first inputs die early: contiguous slices of it lose active rows at
// different rates, which is what balancing between parts must even out.
#pragma once

#include "spdnn/challenge/generate.hpp"

namespace spdnn::test {

struct Problem {
  Network net;
  Features x;
};

// `count` inputs over a 96-neuron network in which about 3/4 of ordinary inputs survive `layers`
// layers; inputs 0..weak-1 are scaled down 20 times, so that they die within the first layers.
inline Problem lopsided_problem(int64_t count, int64_t weak, int32_t layers, uint64_t seed) {
  RandomNetworkSpec spec;
  spec.neurons = 96, spec.layers = layers, spec.per_row = 8, spec.bias = -0.3f, spec.seed = seed;
  spec.random_values = true;
  spec.value = static_cast<float>(1.6 * 0.3 / (8 * 0.2));
  Problem p{random_network(spec), random_features(count, 96, 0.2, seed + 7)};
  for (int64_t r = 0; r < weak; ++r)
    for (int64_t q = p.x.matrix.row_ptr[r]; q < p.x.matrix.row_ptr[r + 1]; ++q) p.x.matrix.values[q] *= 0.05f;
  return p;
}

}  // namespace spdnn::test
