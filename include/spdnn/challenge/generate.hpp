// Generated problems: seeded, and identical on every machine for the same seed.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "spdnn/challenge/features.hpp"
#include "spdnn/challenge/network.hpp"

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

// ---- RadiX-Net: the challenge's network structure (../shared/docs/DATA.md) ------------------------
// N = 16 * 2^D (D >= 1); M = N / 16. Base layer k (p = 2^k): W[i][j] = 1/16 iff
// ((i mod M) - (j mod M)) mod M is 0 or p. Layer l (1-based) uses k = (l-1) mod D; in period
// q = (l-1) / D >= 1 its rows are permuted by a seeded random permutation shared by the period.
struct RadixNetSpec {
  int32_t neurons = 1024;
  int32_t layers = 120;
  uint64_t seed = 1;
};
// Throws Error(usage) unless N = 16 * 2^D with D >= 1.
void check_radixnet_size(int64_t neurons);
// Layer l (1-based) alone, so huge networks can be generated one layer at a time.
CsrMatrix radixnet_layer(const RadixNetSpec& spec, int32_t layer);
// The whole network, with the challenge bias for N (or -0.3 - 0.05 * log4(N / 1024) off the table).
Network radixnet_network(const RadixNetSpec& spec);
float radixnet_bias(int64_t neurons);

// ---- Challenge inputs (../shared/docs/DATA.md) -----------------------------------------------------
// Source images (e.g. MNIST: 28 x 28, 0..255) are upsampled to n x n, n = sqrt(N), by periodic
// trigonometric interpolation (MATLAB interpft) along rows then columns; a pixel is on iff its value
// exceeds a threshold T, chosen as the order statistic that turns on exactly `target_nnz` pixels
// (ties at T permitting). Neurons are numbered column-major: neuron = c * n + r (0-based).
struct SourceImages {
  int64_t count = 0;
  int32_t rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, row-major per image
};

struct GeneratedInputs {
  Features features;
  double threshold = 0.0;
  int64_t target_nnz = 0;
};

// The official input nonzero totals (60000 images), or nullopt for other N.
std::optional<int64_t> official_input_nnz(int64_t neurons);
// Target for `count` images: the official total scaled by count / 60000, or 10.375% of pixels.
int64_t input_target_nnz(int64_t neurons, int64_t count);
// The first `count` images of `src` (all when 0) at N = n * n neurons.
GeneratedInputs challenge_inputs(const SourceImages& src, int32_t neurons, int64_t count = 0);
// Seeded digit-like 28 x 28 images (1-3 soft strokes each): the stand-in when MNIST is absent.
SourceImages synthetic_digits(int64_t count, uint64_t seed);

// count x neurons binary features, each entry on with probability `density`.
Features random_features(int64_t count, int32_t neurons, double density, uint64_t seed);

}  // namespace spdnn
