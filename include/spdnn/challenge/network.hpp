// A sparse DNN: L weight layers of N x N, one bias for all neurons, and the clip (32 in the challenge).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "spdnn/csr.hpp"

namespace spdnn {

// Layer l computes Y <- min(max(Y * W(l) + bias, 0), clip). Row i of W(l) is an input neuron and
// column j an output neuron. As in the challenge's MATLAB reference, the bias is added to the nonzeros
// of Y * W(l) only: an output that receives nothing stays zero (with the challenge's negative biases
// this equals adding it everywhere).
struct Network {
  int32_t neurons = 0;
  float bias = 0.0f;
  float clip = 32.0f;
  std::vector<CsrMatrix> layers;

  int32_t num_layers() const { return static_cast<int32_t>(layers.size()); }
  int64_t edges() const;  // total nonzeros of all layers

  // Throws Error(mismatch) if a layer is not neurons x neurons.
  void validate() const;
};

// The challenge's bias for N = 1024 / 4096 / 16384 / 65536; nullopt for other N.
std::optional<float> challenge_bias(int64_t neurons);

}  // namespace spdnn
