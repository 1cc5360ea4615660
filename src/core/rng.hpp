// A portable random source: std::mt19937_64 (fully specified by the standard) with our own bounded
// integers and permutations, because library distributions and shuffles may differ between
// standard libraries and versions, and generated data must be identical everywhere.
#pragma once

#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace spdnn::gen {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  uint64_t next() { return engine_(); }
  // Uniform in [0, n), by rejection (no modulo bias).
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do v = engine_();
    while (v >= limit);
    return v % n;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

 private:
  std::mt19937_64 engine_;
};

// A uniformly random permutation of 0..n-1 (Fisher-Yates, from the top).
inline std::vector<int32_t> random_permutation(int32_t n, Rng& rng) {
  std::vector<int32_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  for (int32_t i = n - 1; i > 0; --i) std::swap(p[i], p[rng.below(static_cast<uint64_t>(i) + 1)]);
  return p;
}

}  // namespace spdnn::gen
