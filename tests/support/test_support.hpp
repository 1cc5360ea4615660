// Shared helpers for spdnn's tests: the real-data folder, temporary folders, running the CLI.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <string>

#include "spdnn/error.hpp"

namespace spdnn::test {

namespace fs = std::filesystem;

// The real data (../shared/data): $SPDNN_DATA_DIR, else the folder CMake found at configure time.
inline std::optional<fs::path> data_dir() {
  const char* env = std::getenv("SPDNN_DATA_DIR");
  std::string dir = env != nullptr ? env : SPDNN_TEST_DATA_DIR;
  if (dir.empty() || !fs::is_directory(dir)) return std::nullopt;
  return fs::path(dir);
}

// Skips the test, visibly, when the real data (or a file in it) is absent.
#define SPDNN_REQUIRE_DATA(var, relative)                                                           \
  auto var##_root = ::spdnn::test::data_dir();                                                      \
  if (!var##_root) GTEST_SKIP() << "real data not found: set SPDNN_DATA_DIR (e.g. ../shared/data)"; \
  const ::std::filesystem::path var = *var##_root / (relative);                                     \
  if (!::std::filesystem::exists(var)) GTEST_SKIP() << "real data file not found: " << var

// Sets an environment variable for a scope, restoring what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// The spdnn::Error that `f` throws; if it throws none, a test failure and an Error saying so.
template <class F>
Error error_from(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no spdnn::Error was thrown";
  return Error(Errc::usage, "(nothing thrown)");
}

// Whether `e`'s message contains `part` (use with EXPECT_TRUE(...) << e.what()).
inline bool says(const Error& e, const std::string& part) { return std::string(e.what()).find(part) != std::string::npos; }

// A fresh folder under the system temp dir, removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("spdnn-test-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// A shell command's exit code and its stdout and stderr together.
struct Outcome {
  int exit_code;
  std::string output;
};

inline Outcome shell(const std::string& cmd) {
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace spdnn::test
