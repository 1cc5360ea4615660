// Seeded random networks and features (the default problem and the tests' fixtures).
#include <fmt/format.h>

#include "core/rng.hpp"
#include "spdnn/error.hpp"
#include "spdnn/challenge/generate.hpp"

namespace spdnn {

Network random_network(const RandomNetworkSpec& spec) {
  if (spec.neurons <= 0 || spec.layers < 0 || spec.per_row <= 0 || spec.per_row > spec.neurons)
    throw Error(Errc::usage, fmt::format("random network: invalid sizes N={} L={} per_row={}", spec.neurons,
                                         spec.layers, spec.per_row));
  gen::Rng rng(spec.seed);
  Network net;
  net.neurons = spec.neurons;
  net.bias = spec.bias;
  const int32_t n = spec.neurons;
  for (int32_t l = 0; l < spec.layers; ++l) {
    // W[i][j] = Band[pr[i]][pc[j]]: row i holds the columns j with pc[j] in pr[i] .. pr[i]+per_row-1.
    std::vector<int32_t> pr = gen::random_permutation(n, rng);
    std::vector<int32_t> pc = gen::random_permutation(n, rng);
    std::vector<int32_t> pc_inv(n);
    for (int32_t j = 0; j < n; ++j) pc_inv[pc[j]] = j;
    std::vector<Triplet> entries;
    entries.reserve(static_cast<size_t>(n) * spec.per_row);
    for (int32_t i = 0; i < n; ++i)
      for (int32_t k = 0; k < spec.per_row; ++k) {
        float v = spec.value;
        if (spec.random_values) v = static_cast<float>(2.0 * spec.value * (1.0 - rng.uniform()));
        entries.push_back({i, pc_inv[(pr[i] + k) % n], v});
      }
    net.layers.push_back(csr_from_triplets(n, n, std::move(entries), "random network"));
  }
  return net;
}

Features random_features(int64_t count, int32_t neurons, double density, uint64_t seed) {
  gen::Rng rng(seed);
  Features x;
  CsrMatrix& m = x.matrix;
  m.rows = count;
  m.cols = neurons;
  m.row_ptr.reserve(static_cast<size_t>(count) + 1);
  for (int64_t r = 0; r < count; ++r) {
    for (int32_t j = 0; j < neurons; ++j)
      if (rng.uniform() < density) m.col_idx.push_back(j), m.values.push_back(1.0f);
    m.row_ptr.push_back(m.nnz());
  }
  return x;
}

}  // namespace spdnn
