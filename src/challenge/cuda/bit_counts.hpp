// Thirty-two counters of 0..63 in six bit planes: bit r of plane b is bit b of counter r. Adding a word
// adds its bit r to counter r for all 32 at once (a ripple of ANDs and XORs through the planes), so
// counting how many of an output's inputs are on, for the 32 rows of a word of position-major bits,
// costs 12 operations an input instead of 32 additions (first_layer_counts.hpp). Shared by the kernel
// and the CPU tests.
#pragma once

#include <cstdint>

#include "core/host_device.hpp"

namespace spdnn::cuda {

struct BitCounts {
  static constexpr int kPlanes = 6;
  static constexpr int kMax = (1 << kPlanes) - 1;  // counts past this wrap: callers add at most kMax words
  uint32_t plane[kPlanes] = {};

  SPDNN_HOST_DEVICE void add(uint32_t word) {
    uint32_t carry = word;
    for (int b = 0; b < kPlanes; ++b) {
      const uint32_t next = plane[b] & carry;
      plane[b] ^= carry;
      carry = next;
    }
  }
  SPDNN_HOST_DEVICE int count(int r) const {
    int k = 0;
    for (int b = 0; b < kPlanes; ++b) k |= static_cast<int>((plane[b] >> r) & 1u) << b;
    return k;
  }
};

}  // namespace spdnn::cuda
