// RadiX-Net networks, the structure of every Graph Challenge network (../shared/docs/DATA.md).
// The first period (D layers) equals the official files exactly; later periods permute rows with
// seeded permutations, since the official generator's random stream is unknown.
#include <bit>
#include <cmath>
#include <fmt/format.h>

#include "core/parallel_errors.hpp"
#include "core/rng.hpp"
#include "spdnn/error.hpp"
#include "spdnn/challenge/generate.hpp"

namespace spdnn {

namespace {

// One independent stream per period, so any layer can be generated alone (splitmix64 of the seed
// and the period decorrelates neighbouring seeds).
uint64_t period_seed(uint64_t seed, int64_t period) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(period + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

void check_radixnet_size(int64_t neurons) {
  if (neurons < 32 || neurons % 16 != 0 || !std::has_single_bit(static_cast<uint64_t>(neurons / 16)) ||
      neurons > (int64_t{1} << 30))
    throw Error(Errc::usage, fmt::format("RadiX-Net needs N = 16 * 2^D with D >= 1 (1024, 4096, 16384, 65536, ...); got {}", neurons));
}

float radixnet_bias(int64_t neurons) {
  if (auto b = challenge_bias(neurons)) return *b;
  // The table steps by -0.05 per factor 4 of N; extend it the same way.
  return static_cast<float>(-0.30 - 0.05 * std::log2(static_cast<double>(neurons) / 1024.0) / 2.0);
}

CsrMatrix radixnet_layer(const RadixNetSpec& spec, int32_t layer) {
  check_radixnet_size(spec.neurons);
  const int32_t n = spec.neurons, m = n / 16;
  const int32_t d = std::countr_zero(static_cast<uint32_t>(m));
  const int32_t k = (layer - 1) % d, period = (layer - 1) / d;
  const int32_t p = 1 << k;

  // Row r of the base layer: columns j with (j mod M) in {r mod M, r mod M - p}, in each of the 16
  // blocks of M columns. Row i of W is row perm[i] of the base layer.
  std::vector<int32_t> perm;
  if (period > 0) {
    gen::Rng rng(period_seed(spec.seed, period));
    perm = gen::random_permutation(n, rng);
  }
  CsrMatrix w;
  w.rows = w.cols = n;
  w.row_ptr.resize(static_cast<size_t>(n) + 1);
  w.col_idx.resize(static_cast<size_t>(n) * 32);
  w.values.assign(static_cast<size_t>(n) * 32, 1.0f / 16);
  for (int32_t i = 0; i < n; ++i) {
    const int32_t r = (period > 0 ? perm[i] : i) % m;
    int32_t lo = r, hi = (r - p + m) % m;  // the two residues, ascending
    if (lo > hi) std::swap(lo, hi);
    int32_t* out = &w.col_idx[static_cast<size_t>(i) * 32];
    for (int32_t a = 0; a < 16; ++a) out[2 * a] = a * m + lo, out[2 * a + 1] = a * m + hi;
    w.row_ptr[i + 1] = int64_t{i + 1} * 32;
  }
  return w;
}

Network radixnet_network(const RadixNetSpec& spec) {
  check_radixnet_size(spec.neurons);
  Network net;
  net.neurons = spec.neurons;
  net.bias = radixnet_bias(spec.neurons);
  net.layers.resize(spec.layers);
  ParallelErrors errors(spec.layers);
#pragma omp parallel for schedule(dynamic, 1)
  for (int32_t l = 0; l < spec.layers; ++l) errors.run(l, [&] { net.layers[l] = radixnet_layer(spec, l + 1); });
  errors.rethrow();
  return net;
}

}  // namespace spdnn
