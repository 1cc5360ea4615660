// The compiled modules of one layer, a sparse linear layer or a sparse convolution of one input shape:
// loaded from the on-disk kernel cache, or emitted, compiled with NVRTC and stored. Needs no GPU (the build machine fills a cache for a GPU server with it). Thread-safe for
// distinct configurations: candidates compile in parallel.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sparse/codegen/kernel_cache.hpp"
#include "spdnn/csr.hpp"
#include "spdnn/sparse/conv2d.hpp"
#include "spdnn/sparse/kernel_config.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn::codegen {

class ModuleStore {
 public:
  // Keeps references to w and bias, which must outlive the store. With `conv`, the modules are the
  // convolution of that shape (emit_conv2d.hpp; its batch is the kernel's argument, so any batch will
  // do), and the n of key() and obtain() is unused.
  ModuleStore(const CsrMatrix& w, const std::vector<float>& bias, const SparseLinearOptions& options, int arch,
              std::optional<Conv2dShape> conv = std::nullopt);

  // The module of `config` for N = n (a linear layer's n matters only with fixed_n): its cache key.
  std::string key(const KernelConfig& config, int64_t n) const;
  bool cached(const KernelConfig& config, int64_t n) const;

  struct Built {
    std::vector<char> cubin;
    bool from_cache = false;
    double generate_seconds = 0, compile_seconds = 0;
    std::string note;  // a damaged cache file that was rebuilt, a failure to store
  };
  // From the cache, else emitted, compiled and stored. Throws Error when emission or NVRTC fails.
  Built obtain(const KernelConfig& config, int64_t n);

  const std::string& layer() const { return layer_; }
  const std::string& compiler() const { return compiler_; }
  KernelCache& cache() { return cache_; }
  int arch() const { return arch_; }

 private:
  const CsrMatrix& w_;
  const std::vector<float>& bias_;
  bool relu_, inline_ptx_ = false;
  std::optional<Conv2dShape> conv_;
  std::vector<std::string> user_options_;
  int arch_;
  std::string layer_, compiler_;
  KernelCache cache_;
};

}  // namespace spdnn::codegen
