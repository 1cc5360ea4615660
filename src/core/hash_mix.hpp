// One step of the 64-bit hash that structure discovery (neuron columns, on the host) and row merging
// (feature rows, on the GPU) fold their sequences with: boost's hash_combine, then a SplitMix64 round.
// Host and device share it, so one definition serves both.
#pragma once

#include <cstdint>

#include "core/host_device.hpp"

namespace spdnn {

SPDNN_HOST_DEVICE inline uint64_t hash_mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 31);
}

}  // namespace spdnn
