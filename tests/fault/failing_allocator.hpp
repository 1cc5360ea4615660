// A global operator new that fails after k allocations (the test binary's own: replacing it affects the
// whole process). Armed around one call at a time; every other allocation, gtest's included, is normal.
#pragma once

#include <atomic>
#include <cstdint>

namespace spdnn::test {

// Allocations left before the next one throws std::bad_alloc; negative: never.
inline std::atomic<int64_t>& allocations_left() {
  static std::atomic<int64_t> left{-1};
  return left;
}

// Arms the allocator for one scope: the (k+1)-th allocation in it, on any thread, fails.
class FailAfter {
 public:
  explicit FailAfter(int64_t k) { allocations_left() = k; }
  ~FailAfter() { allocations_left() = -1; }
  FailAfter(const FailAfter&) = delete;
  FailAfter& operator=(const FailAfter&) = delete;
  // Whether an allocation was refused since it was last cleared.
  static std::atomic<bool>& tripped() {
    static std::atomic<bool> t{false};
    return t;
  }
};

}  // namespace spdnn::test
