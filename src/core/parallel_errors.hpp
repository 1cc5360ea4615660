// Exceptions inside OpenMP regions. An exception that escapes the body of a region ends the process
// (std::terminate), so a bad input or a failed allocation on a worker thread would crash where the same on
// the main thread is a clean error. Each body runs through ParallelErrors::run, which keeps the first
// exception of each slot (a loop index or a thread), and rethrow() after the region rethrows the first
// one in slot order.
#pragma once

#include <cstddef>
#include <exception>
#include <utility>
#include <vector>

namespace spdnn {

class ParallelErrors {
 public:
  explicit ParallelErrors(size_t slots) : errors_(slots) {}

  template <class F>
  void run(size_t slot, F&& body) noexcept {
    try {
      std::forward<F>(body)();
    } catch (...) {
      if (!errors_[slot]) errors_[slot] = std::current_exception();
    }
  }
  bool failed(size_t slot) const { return errors_[slot] != nullptr; }
  void rethrow() const {
    for (const auto& e : errors_)
      if (e) std::rethrow_exception(e);
  }

 private:
  std::vector<std::exception_ptr> errors_;
};

}  // namespace spdnn
