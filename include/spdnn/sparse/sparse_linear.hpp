// Sparse linear layers of pruned DL models: Y = act(W * X + b) with a sparse W (M x K) and a dense X
// (K x N, row-major: the NCHW input of a 1x1 convolution with N = batch * H * W, or a fully connected
// layer's batch). SparseLinear runs it on the GPU with a kernel generated for this W (SparseRT-style:
// pattern and values compiled in), falling back to a generic CSR kernel with a stated reason. The float64
// reference is the spec that both are checked against.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "spdnn/csr.hpp"

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
  bool tune = true;  // time a few kernel shapes on first use of each N (remembered in the cache)
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
  // A fixed kernel shape instead of the tuned one (tests, experiments): rows per group (1..128), columns per
  // thread (1, 2, 4), threads per block, K slices (1, 2, 4, 8: blocks of a cluster, sm_90 and later),
  // blocks along the columns (each looping over its share; 0: one block per threads x columns), loads
  // issued ahead of their use (0..64), the launch bound (256, 512, 1024: registers <= 65536 / bound), K
  // slices within a block (1, 2, 4, 8: sets of threads / S threads, each a slice, for the same columns), row
  // groups within a block (1, 2, 4, 8: sets of threads / G threads, each a group, for the same columns),
  // whether the call's N is compiled in (1) or an argument (0), as fixed_stride above, and at most how many
  // blocks share an SM (0: as many as fit; else the launch reserves shared memory to keep the rest out).
  struct Shape {
    int rows_per_group = 16, cols_per_thread = 1, threads = 128, k_slices = 1, column_blocks = 0, prefetch = 0,
        max_threads = 256, block_slices = 1, block_groups = 1, fixed_stride = 0, blocks_per_sm = 0;
    bool operator==(const Shape&) const = default;
  };
  std::optional<Shape> shape;
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
  SparseLinearOptions::Shape shape;  // the chosen shape, block width included (specialized path)
  std::string cache_dir;
  // What the timed search tried for the last N tuned: each shape and block width (none: the generic
  // kernel, which wins where it is faster), microseconds per call.
  struct Tried {
    std::optional<SparseLinearOptions::Shape> shape;
    double microseconds;
  };
  std::vector<Tried> tuning;
};

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

// Compiles, without a GPU, the candidate kernels that SparseLinear would try for (w, bias, n) on a GPU of
// compute capability `arch` (90 for H100), or only options.shape when set, into the cache of `options`
// (whose mode must be on), so that layers built later load instead of compiling. Thread-safe; returns
// the compile seconds spent (0 when everything was cached or the matrix takes the generic kernel).
double precompile_sparse_linear(const CsrMatrix& w, const std::vector<float>& bias, int64_t n, int arch,
                                const SparseLinearOptions& options);

// The kernel shapes (launch parameters aside) that SparseLinear compiles and times for (w, n) on a GPU of
// compute capability `arch`; each is one module, so that they can be compiled in parallel.
std::vector<SparseLinearOptions::Shape> sparse_linear_candidates(const CsrMatrix& w, int64_t n, int arch,
                                                                 bool fixed_stride = true);

// The current GPU's compute capability as a number (90 for sm_90).
int current_gpu_arch();

}  // namespace spdnn
