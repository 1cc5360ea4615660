// Sparse linear layers of pruned DL models: Y = act(W * X + b) with a sparse W (M x K) and a dense X
// (K x N, row-major: the NCHW input of a 1x1 convolution with N = batch * H * W, or a fully connected
// layer's batch). SparseLinear runs it on the GPU with a kernel generated for this W (SparseRT-style:
// pattern and values compiled in), falling back to a generic CSR kernel with a stated reason. The float64
// reference is the spec that both are checked against.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "spdnn/csr.hpp"
#include "spdnn/sparse/kernel_config.hpp"

namespace spdnn {

// Y (M x N, row-major, float64) = act(W * X + bias); `bias` empty or M values; act = ReLU if `relu`.
std::vector<double> sparse_linear_reference(const CsrMatrix& w, const std::vector<float>& x, int64_t n,
                                            const std::vector<float>& bias, bool relu);

// How far y is from the reference: max |y - ref| / max |ref| (with every |ref| zero, max |y - ref|), the
// figure checked against 1e-5 in fp32. A NaN or infinity in y makes it infinite, so that it fails every
// check instead of being passed over. Throws Error(mismatch) when the sizes differ.
double max_relative_error(const std::vector<float>& y, const std::vector<double>& ref);

// How the on-disk kernel cache is used: not at all, read but never written, or read and written.
enum class KernelCacheMode { off, load_only, on };
KernelCacheMode parse_kernel_cache_mode(const std::string& text);  // "off", "load-only", "on"
const char* to_string(KernelCacheMode mode);

struct SparseLinearOptions {
  bool relu = false;
  bool specialize = true;  // false: always the generic CSR kernel
  KernelCacheMode cache = KernelCacheMode::on;
  std::filesystem::path cache_dir;  // empty: the default (see codegen/kernel_cache.hpp)
  // Larger matrices use the generic kernel. Compile time is about 1 ms per nonzero and candidate shape
  // on one core (large matrices compile in parallel units), paid once per matrix (and per N, with
  // fixed_stride) thanks to the cache.
  int64_t max_unrolled_nnz = 262144;
  bool tune = true;  // time a few kernel configurations on first use of each N (remembered in the cache)
  bool tune_against_generic = true;  // the generic kernel is chosen where tuning finds it faster
  std::vector<std::string> compiler_options;  // extra NVRTC options
  int device = -1;  // -1: the current device
  // Launch with programmatic dependent launch (sm_90 and later): a call may start while the previous
  // kernel of its stream finishes, and waits for it before it reads x or writes y, so results are the
  // same. It hides part of the launch latency that dominates small layers (on an H100, ResNet-50 1x1
  // layers at 95%, batch 1, CUDA graph: 3.7 -> 3.5 us). false: launched as plain stream-ordered kernels.
  bool dependent_launch = true;
  // Compile the column count N into each generated module, so that every load and store of X and Y
  // addresses with an immediate offset (no address arithmetic per load): a module then
  // serves that N only, and a layer used with several N compiles a set for each. false: modules take N
  // as an argument and one compiled set serves every N.
  bool fixed_stride = true;
  // A fixed kernel configuration instead of the tuned one (tests, experiments); see kernel_config.hpp.
  std::optional<KernelConfig> config;
  // Write each group function's body as inline PTX instead of C++ statements: the same code, compiled 2.4
  // times faster or more (codegen/emit_conv2d_ptx.hpp; linear layers where a thread has one column and N
  // is compiled in). On an H100 both forms gave the same bits and times (convolutions: DLMC 95% tuned, 4.8 /
  // 12.2 us at batch 1 / 8, bench/results/conv_inline_ptx_s38_h100.md; linear layers: the SparseLinear
  // GPU tests, bench/results/e2e_s39_pip_h100.md). false: the C++ form.
  bool inline_ptx = true;
};

// What a SparseLinear did to get its kernel, for reports.
struct SparseLinearReport {
  std::string path = "generic";  // "specialized" or "generic"
  std::string reason;            // why generic, when it is
  std::vector<std::string> notes;  // cache problems that were repaired, compiler warnings
  double generate_seconds = 0;   // emitting CUDA source
  double compile_seconds = 0;    // NVRTC (wall time; candidates compile in parallel)
  double tune_seconds = 0;       // timing candidate shapes
  int modules_compiled = 0;
  int cache_hits = 0;            // modules and tuning records read from the cache
  KernelConfig config;           // the chosen configuration, block width included (specialized path)
  std::string cache_dir;
  std::string device;            // the GPU's name
  // What the timed search tried for the last N tuned: each configuration (none: the generic kernel, which
  // wins where it is faster), microseconds per call.
  struct Tried {
    std::optional<KernelConfig> config;
    double microseconds;
  };
  std::vector<Tried> tuning;
};

// The report as a one-line JSON object (path, reason, config, times, cache hits, notes, what tuning
// tried): the CLI's "kernel" field and the Python package's SparseLinear.report().
std::string to_json(const SparseLinearReport& report);

// A sparse linear layer on the GPU. Construction copies W to the device; the kernel for a column count
// N is chosen (generated, compiled or loaded, tuned) on the first forward() or prepare() with that N.
// Throws Error(unsupported) in builds without CUDA and Error(device/out_of_memory) for GPU failures.
class SparseLinear {
 public:
  SparseLinear(CsrMatrix w, std::vector<float> bias, SparseLinearOptions options = {});
  ~SparseLinear();
  SparseLinear(SparseLinear&&) noexcept;
  SparseLinear& operator=(SparseLinear&&) noexcept;

  int64_t rows() const;
  int64_t cols() const;
  const CsrMatrix& weights() const;
  const std::vector<float>& bias() const;
  const SparseLinearOptions& options() const;
  void prepare(int64_t n);
  // y (M x n) = act(W * x + b) for device pointers; `stream` is a cudaStream_t (nullptr: default).
  // Asynchronous, and capturable into a CUDA graph, once prepared for n: a first call for an n inside a
  // capture throws Error(usage) and leaves the capture intact.
  void forward(const float* x, float* y, int64_t n, void* stream = nullptr);
  // Convenience for host data: copies x (K x n) to the device, runs forward(), returns y (M x n).
  std::vector<float> forward_host(const std::vector<float>& x, int64_t n, bool generic = false);
  // The generic CSR kernel alone (the fallback; also a benchmark baseline).
  void forward_generic(const float* x, float* y, int64_t n, void* stream = nullptr) const;
  const SparseLinearReport& report() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Compiles, without a GPU, the candidate kernels that SparseLinear would try on a GPU of compute capability
// `arch` (90 for H100), or only options.config when set, into the cache of `options` (whose mode must be
// on), so that layers built later load instead of compiling: for each layer (weights, bias) every N of
// `ns`, one module per task on `jobs` threads (0: all cores), largest matrices first. `progress` is called
// with (0, modules in all) before the first and (modules done, modules in all) after each. Returns each
// layer's compile seconds (0 where everything was cached or the matrix takes the generic kernel). A fixed config the emitter cannot produce is
// Error(usage); a candidate that fails to compile is left for the layer, which falls back with the reason.
struct PrecompileLayer {
  const CsrMatrix* w = nullptr;
  const std::vector<float>* bias = nullptr;  // null: no bias
  std::vector<int64_t> ns;
};
std::vector<double> precompile_sparse_linears(const std::vector<PrecompileLayer>& layers, int arch,
                                              const SparseLinearOptions& options, unsigned jobs = 0,
                                              const std::function<void(size_t, size_t)>& progress = {});

// The kernel configurations (block widths aside) that SparseLinear compiles and times for (w, n) on a GPU
// of compute capability `arch`, best guess first; each is one module. With fixed_stride every one compiles
// N in. Plain C++ (src/sparse/candidates.cpp: a table of rules with the measurements behind them).
std::vector<KernelConfig> sparse_linear_candidates(const CsrMatrix& w, int64_t n, int arch, bool fixed_stride = true);

// Without tuning a layer runs its first candidate, except below this many columns, where it runs the
// generic kernel: a generated kernel gives each thread one column, so at N < 64 most lanes of its blocks
// idle, while the generic kernel's lanes share each row's nonzeros. DLMC ResNet-50 1x1 layers at 90%,
// N = 49 (H200, bench/results/sparse_rn50_0.9_b1_h200.json): first candidate 9.7-30.0 us, generic 4.8-8.8,
// and tuning chose the generic kernel (or tied with it) in all four shapes.
inline constexpr int64_t kUntunedGenericBelowN = 64;

// The current GPU's compute capability as a number (90 for sm_90).
int current_gpu_arch();

}  // namespace spdnn
