// Progress lines on a terminal (stderr), at most ~10 updates a second; silent when stderr is not a
// terminal, so logs and pipes stay clean.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include <fmt/format.h>

namespace spdnn::app {

class TerminalProgress {
 public:
  explicit TerminalProgress(bool enabled) : enabled_(enabled && ::isatty(STDERR_FILENO)) {}
  ~TerminalProgress() { done(); }

  void update(const std::string& label, int64_t done, int64_t total) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    fmt::print(stderr, "\r\033[K{} {}/{} ({:.0f}%)", label, done, total, total ? 100.0 * done / total : 100.0);
    std::fflush(stderr);
    shown_ = true;
  }
  // Clears the line so the next output starts clean.
  void done() {
    if (shown_) fmt::print(stderr, "\r\033[K"), std::fflush(stderr);
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace spdnn::app
