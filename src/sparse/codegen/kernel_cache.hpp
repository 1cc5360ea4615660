// The on-disk cache of generated kernels. A compiled module is stored under a key that hashes everything
// its code depends on (the weights, bias and activation, the kernel configuration, spdnn's version and the
// emitter's revision, NVRTC's version, the GPU architecture); the file repeats the key and carries a
// checksum, so a stale, truncated or corrupted file is detected on load and rebuilt, never trusted. Tuning choices are remembered beside
// the modules, per matrix and column count. Plain C++: tested on any machine.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sparse/codegen/emit.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn::codegen {

namespace fs = std::filesystem;

// A 128-bit content hash (two independent 64-bit FNV-1a-style lanes with a final mix). Not
// cryptographic: it names cache entries, and each entry also stores its full key for verification.
class KeyHasher {
 public:
  void bytes(const void* data, size_t n);
  template <class T>
  void values(const std::vector<T>& v) {
    value(static_cast<uint64_t>(v.size()));
    bytes(v.data(), v.size() * sizeof(T));
  }
  void value(uint64_t v) { bytes(&v, sizeof v); }
  void text(std::string_view s) {
    value(s.size());
    bytes(s.data(), s.size());
  }
  std::string hex() const;  // 32 hexadecimal digits
  uint64_t value64() const;  // the first 64 bits of hex()

 private:
  uint64_t a_ = 0xcbf29ce484222325ull, b_ = 0x84222325cbf29ce4ull;
};

// The key of one matrix's layer (weights, bias, activation): shared by all of its kernel configurations.
std::string layer_key(const CsrMatrix& w, const std::vector<float>& bias, bool relu);
// The key of one compiled module: the layer's, the text of the module's configuration (module_of) and, with
// fixed_n, the N compiled in, the compile options, the architecture and the compiler.
std::string module_key(std::string_view layer, const KernelConfig& config, int64_t n, int arch, std::string_view compiler);

// The folder used when none is given: $SPDNN_KERNEL_CACHE, else $XDG_CACHE_HOME/spdnn/kernels, else
// ~/.cache/spdnn/kernels, else a folder under the system's temporary directory.
fs::path default_cache_dir();

class KernelCache {
 public:
  KernelCache(fs::path dir, KernelCacheMode mode);

  KernelCacheMode mode() const { return mode_; }
  const fs::path& dir() const { return dir_; }

  // The stored module for `key`, or nothing. A file that exists but fails verification is reported in
  // `problem` (one line naming the file) and deleted when the mode allows writing.
  std::optional<std::vector<char>> load(const std::string& key, std::string* problem);
  // Stores a module (atomically: a temporary file renamed into place). No-op unless the mode is `on`;
  // failures to write are returned as a one-line message, not thrown (the kernel still works).
  std::optional<std::string> store(const std::string& key, const std::vector<char>& module);

  // Tuning record: the best configuration and its measured time for (layer, n, arch).
  struct Tuned {
    std::optional<KernelConfig> config;  // none: the generic kernel was faster than every generated one
    double microseconds = 0;
  };
  std::optional<Tuned> load_tuning(const std::string& key);
  void store_tuning(const std::string& key, const Tuned& tuned);

  fs::path module_path(const std::string& key) const { return dir_ / (key + ".cubin"); }
  fs::path tuning_path(const std::string& key) const { return dir_ / (key + ".tune"); }

 private:
  bool reads() const { return mode_ != KernelCacheMode::off; }
  bool writes() const { return mode_ == KernelCacheMode::on; }
  std::optional<std::string> write_atomically(const fs::path& path, const std::string& bytes);

  fs::path dir_;
  KernelCacheMode mode_;
};

}  // namespace spdnn::codegen
