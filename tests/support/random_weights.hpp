// Seeded random sparse weight matrices for the kernel-generation tests (CPU and GPU).
#pragma once

#include <random>
#include <vector>

#include "spdnn/csr.hpp"

namespace spdnn::test {

// M x K with each entry present with probability `density`, values standard normal.
inline CsrMatrix random_weights(int64_t m, int64_t k, double density, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<float> v(0.0f, 1.0f);
  std::vector<Triplet> t;
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < k; ++c)
      if (u(rng) < density) t.push_back({static_cast<int32_t>(r), static_cast<int32_t>(c), v(rng)});
  return csr_from_triplets(m, k, std::move(t), "random weights");
}

}  // namespace spdnn::test
