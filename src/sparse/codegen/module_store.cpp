// The compiled modules of one layer (see module_store.hpp).
#include "sparse/codegen/module_store.hpp"

#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <utility>

#include "sparse/codegen/emit.hpp"
#include "sparse/codegen/emit_conv2d.hpp"
#include "sparse/codegen/nvrtc_compiler.hpp"

namespace spdnn::codegen {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Larger matrices are compiled as separate units of about kUnitNnz nonzeros, in parallel, and linked:
// NVRTC's time grows about quadratically with one program (26k nonzeros: 22 s; 105k: 150 s and more).
constexpr int64_t kSingleProgramNnz = 32768;
constexpr int64_t kUnitNnz = 8192;
// Convolutions are cut finer. A 128 x 1152 filter at 90% (15k nonzeros, 32 rows a group) took 14.4 s of
// CPU as one program and 8.6 s as units of 4096 (5.3 s wall on two cores, 14.7 before). Units cost each
// group function an ABI frame (ptxas: 72-80 bytes of spills at entry and exit, against none in one
// program), once per call of thousands of multiply-adds; linear layers, whose kernels take a few
// microseconds, keep the measured thresholds above.
constexpr int64_t kConvSingleProgramNnz = 4096;
constexpr int64_t kConvUnitNnz = 4096;

}  // namespace

ModuleStore::ModuleStore(const CsrMatrix& w, const std::vector<float>& bias, const SparseLinearOptions& options, int arch,
                         std::optional<Conv2dShape> conv)
    : w_(w),
      bias_(bias),
      relu_(options.relu),
      conv_(std::move(conv)),
      user_options_(options.compiler_options),
      arch_(arch),
      layer_(layer_key(w, bias, options.relu)),
      cache_(options.cache_dir, options.cache) {
  compiler_ = "nvrtc " + nvrtc_version();
  for (const auto& o : options.compiler_options) compiler_ += " " + o;
  // Inline PTX changes what a layer's functions are written as, so it keys their modules.
  inline_ptx_ = options.inline_ptx;
  if (inline_ptx_) compiler_ += " inline-ptx";
  if (conv_) conv_->batch = 1;  // one module serves every batch
  if (conv_) layer_ += fmt::format(" conv2d {} revision {}", to_string(*conv_), kConv2dEmitRevision);
}

std::string ModuleStore::key(const KernelConfig& config, int64_t n) const {
  return module_key(layer_, config, conv_ ? 1 : n, arch_, compiler_);  // a convolution's shape is in layer_
}

bool ModuleStore::cached(const KernelConfig& config, int64_t n) const {
  return std::ifstream(cache_.module_path(key(config, n))).good();
}

ModuleStore::Built ModuleStore::obtain(const KernelConfig& config, int64_t n) {
  const std::string k = key(config, n);
  Built b;
  if (auto cubin = cache_.load(k, &b.note)) {
    b.cubin = std::move(*cubin);
    b.from_cache = true;
    return b;
  }
  auto t = Clock::now();
  const std::string name = fmt::format("spdnn_sparse_{}_{}.cu", conv_ ? "conv2d" : "linear", k.substr(0, 12));
  const bool single = w_.nnz() <= (conv_ ? kConvSingleProgramNnz : kSingleProgramNnz);
  const int64_t unit_nnz = conv_ ? kConvUnitNnz : kUnitNnz;
  std::vector<std::string> options = user_options_;  // the user's, then the configuration's
  for (auto& o : single ? compile_options(config) : unit_compile_options(config)) options.push_back(std::move(o));
  if (single) {
    const std::string source = conv_ ? emit_sparse_conv2d(w_, bias_, relu_, *conv_, config, inline_ptx_)
                                     : emit_sparse_linear(w_, bias_, relu_, config, n, inline_ptx_);
    b.generate_seconds = seconds_since(t);
    t = Clock::now();
    b.cubin = compile_cuda(source, arch_, name, options).cubin;
  } else {
    const auto units = conv_ ? emit_sparse_conv2d_units(w_, bias_, relu_, *conv_, config, unit_nnz, inline_ptx_)
                             : emit_sparse_linear_units(w_, bias_, relu_, config, unit_nnz, n, inline_ptx_);
    b.generate_seconds = seconds_since(t);
    t = Clock::now();
    b.cubin = compile_and_link_cuda(units, arch_, name, options).cubin;
  }
  b.compile_seconds = seconds_since(t);
  if (auto failure = cache_.store(k, b.cubin)) b.note += (b.note.empty() ? "" : "; ") + *failure;
  return b;
}

}  // namespace spdnn::codegen
