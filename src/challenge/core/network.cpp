// Network sizes and the challenge's per-N constants.
#include "spdnn/challenge/network.hpp"

#include <fmt/format.h>

#include "spdnn/error.hpp"

namespace spdnn {

int64_t Network::edges() const {
  int64_t e = 0;
  for (const CsrMatrix& w : layers) e += w.nnz();
  return e;
}

void Network::validate() const {
  if (neurons <= 0) throw Error(Errc::mismatch, fmt::format("network: {} neurons", neurons));
  for (size_t l = 0; l < layers.size(); ++l)
    if (layers[l].rows != neurons || layers[l].cols != neurons)
      throw Error(Errc::mismatch, fmt::format("network: layer {} is {} x {}, expected {} x {}", l + 1,
                                              layers[l].rows, layers[l].cols, neurons, neurons));
}

std::optional<float> challenge_bias(int64_t neurons) {
  switch (neurons) {
    case 1024: return -0.30f;
    case 4096: return -0.35f;
    case 16384: return -0.40f;
    case 65536: return -0.45f;
    default: return std::nullopt;
  }
}

}  // namespace spdnn
