// Fault injection for the tests of device-memory exhaustion: make the k-th device allocation from now
// fail as if the GPU were out of memory, wherever it happens (every one goes through DeviceBuffer).
#pragma once

#include <atomic>
#include <cstdint>

namespace spdnn::cuda {

namespace detail {
inline std::atomic<int64_t> allocations_until_failure{0};  // 0: no failure planned
}

// The k-th device allocation from now (k >= 1) fails; 0 cancels a planned failure.
inline void fail_device_allocation(int64_t k) { detail::allocations_until_failure.store(k); }

// Called by each device allocation: true for the one chosen to fail.
inline bool device_allocation_should_fail() {
  int64_t left = detail::allocations_until_failure.load();
  while (left > 0 && !detail::allocations_until_failure.compare_exchange_weak(left, left - 1)) {
  }
  return left == 1;
}

}  // namespace spdnn::cuda
