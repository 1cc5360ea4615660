// SparseLinear on the GPU (see include/spdnn/sparse_linear.hpp): per column count N, a kernel generated
// for this W is loaded from the on-disk cache or emitted and compiled with NVRTC, a few shapes are timed
// (the winner is remembered in the cache), and anything that fails falls back to the generic CSR kernel
// with the reason in the report.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <utility>

#include "sparse/codegen/emit.hpp"
#include "sparse/codegen/kernel_cache.hpp"
#include "sparse/codegen/nvrtc_compiler.hpp"
#include "cuda/check.hpp"
#include "cuda/dependent_launch.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/device.hpp"
#include "sparse/cuda/generic_kernel.hpp"
#include "cuda/stream.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A loaded generated module.
struct Module {
  cudaLibrary_t library = nullptr;
  cudaKernel_t kernel = nullptr;
  codegen::KernelShape shape;
};

// How a given N is computed: a module and a block width, or the generic kernel.
struct Choice {
  const Module* module = nullptr;  // null: generic
  int threads = 0;
  int column_blocks = 0;  // 0: one block per step of columns
  int blocks_per_sm = 0;  // 0: as many as fit
};

// The whole shape of a generated choice: its module's, with the launch parameters.
codegen::KernelShape shape_of(const Choice& c) {
  codegen::KernelShape s = c.module->shape;
  s.threads = c.threads;
  s.column_blocks = c.column_blocks;
  s.blocks_per_sm = c.blocks_per_sm;
  return s;
}

// The kernel shape of a fixed-shape option for N columns, and the module a shape compiles to (launch
// parameters aside).
codegen::KernelShape kernel_shape(const SparseLinearOptions::Shape& f, int64_t n) {
  if (f.fixed_stride != 0 && f.fixed_stride != 1)
    throw Error(Errc::usage, fmt::format("kernel shape: fixed stride {} (0: N an argument, 1: N compiled in)", f.fixed_stride));
  return {f.rows_per_group, f.cols_per_thread, f.threads,     f.k_slices,     f.column_blocks,
          f.prefetch,       f.max_threads,     f.block_slices, f.block_groups, f.fixed_stride != 0 ? n : 0,
          f.blocks_per_sm};
}
SparseLinearOptions::Shape shape_option(const codegen::KernelShape& s) {
  return {s.rows_per_group, s.cols_per_thread, s.threads,     s.k_slices,     s.column_blocks,
          s.prefetch,       s.max_threads,     s.block_slices, s.block_groups, s.stride > 0 ? 1 : 0,
          s.blocks_per_sm};
}
// rows per group, columns per thread, K slices (cluster), prefetch, launch bound, K slices and row groups
// (block), the compiled-in stride
using ModuleId = std::tuple<int, int, int, int, int, int, int, int64_t>;
ModuleId module_id(const codegen::KernelShape& s) {
  return {s.rows_per_group, s.cols_per_thread, s.k_slices, s.prefetch, s.max_threads, s.block_slices, s.block_groups, s.stride};
}

// Every candidate writes each load of X 32 columns ahead of its multiply-adds. Since the row stride is
// 32 bits (0.3.0), ptxas no longer hoists the loads itself (80-200 registers instead of 255), so the
// source order sets how far they run ahead: at 90% and batch 8, 1024 x 256 went 12.7 -> 8.6 us and
// 14.9 -> 9.1, 128 x 512 11.9 -> 9.2, 256 x 1024 at N = 196 7.9 -> 7.3; 64 columns ahead was no better
// and sometimes worse, and one small layer lost (512 x 128 at N = 784: 3.2 -> 4.0 us).
// (bench/results/sparse_explore_h100.md, item 12.)
constexpr int kCandidatePrefetch = 32;

// How tuning times its candidates, hashed into the key of a remembered choice so that choices made the
// old way are made again: 1 (up to 0.4.0) the best of three rounds of back-to-back calls, 2 (0.4.1) the
// mean of five rounds of CUDA-graph replays.
constexpr uint64_t kTuningMethod = 2;

// The dynamic shared memory of a launch that lets at most `blocks` blocks share an SM: just over what
// blocks + 1 would need each, so that they do not fit (or the kernel's own need, if larger).
int64_t occupancy_limiting_bytes(int blocks, int64_t own, const cudaDeviceProp& prop) {
  if (blocks <= 0) return own;
  const int64_t per_sm = static_cast<int64_t>(prop.sharedMemPerMultiprocessor);
  const int64_t reserved = static_cast<int64_t>(prop.reservedSharedMemPerBlock);
  const int64_t pad = (per_sm / (blocks + 1) - reserved + 128 + 127) / 128 * 128;
  return std::max(own, std::min(pad, static_cast<int64_t>(prop.sharedMemPerBlockOptin)));
}

// Candidate shapes for a matrix and N, best guess first. With the stride compiled in (fixed_stride, the
// default) every candidate is N's own module; without it, apart from columns per thread (which must divide
// N), wide blocks (only for N > 256), tall groups (N >= 1024), the shapes of several streams per block
// (N >= 384 and 4096) and 8-row groups of large matrices (where N makes few blocks), they do not depend on N, so that one compiled set serves every batch size. More rows per group reuse each X load more and make fewer
// functions (faster compiles); fewer rows make more blocks when N is small. Compile time grows with the
// code, so larger matrices try fewer shapes, and only small ones try several columns per thread (which
// multiplies the code). Split K over a cluster (sm_90 and later) for long rows: a block's time is its
// group's chain of work, so S slices shorten it S times.
std::vector<codegen::KernelShape> candidate_shapes(const CsrMatrix& w, int64_t n, int arch, bool fixed_stride) {
  // Eight rows per group: 256 x 512 at 90% (13,107 nonzeros), N = 784: 8.1 us with 16 rows, 6.1 with 8.
  const std::vector<int> rows = w.nnz() > 16384 ? std::vector<int>{32}
                                : w.nnz() > 4096 ? std::vector<int>{32, 16, 8}
                                                 : std::vector<int>{16, 32, 8};
  const int max_rows = static_cast<int>(std::clamp<int64_t>(w.rows, 1, 128));  // W's rows, within the emitter's limit
  auto groups = [&](int rows) { return codegen::row_groups({rows, 1, 128}, w.rows); };
  std::vector<codegen::KernelShape> shapes;
  auto add = [&](codegen::KernelShape s) {
    s.prefetch = kCandidatePrefetch;
    s.stride = fixed_stride ? n : 0;
    if (std::find(shapes.begin(), shapes.end(), s) == shapes.end()) shapes.push_back(s);
  };
  for (int r : rows) add({std::min(r, max_rows), 1, 128});
  // Eight rows for a large matrix whose 32-row groups would leave most SMs idle: fewer than 64 blocks of
  // 32 rows and 256 columns (W with few rows and long ones, N small). 512 x 2048 at 95%, N = 392 (batch
  // 8): 16 groups x 2 blocks took 19.4 us (the generic kernel 12.9), 8 rows 9.7 us; 16 rows 12.6 (H200,
  // CUDA graph; bench/results/sparse_explore_h100.md, item 20).
  if (w.nnz() > 16384 && groups(32) * ((n + 255) / 256) < 64) add({std::min(8, max_rows), 1, 128});
  if (w.nnz() <= 4096) add({std::min(16, max_rows), 4, 128});
  // Wider blocks (launch bounds of 512 and 1024 threads, 128 and 64 registers): their warps share one
  // instruction stream. With short rows (K <= 512) ptxas keeps within the cap (1024 x 256 at 90%,
  // N = 1568: 17.7 -> 10.5 us; 512 x 256 at N = 6272: 28 -> 21 us); with K = 1024 it spills and loses.
  // 32 rows per group did best in every case measured; large matrices skip these to bound compile time,
  // and so does an N that no block wider than 256 threads would serve (tuning skips blocks of T threads
  // with T * C >= 2N, half of them idle), which is where they cannot pay for their compile.
  if (w.cols <= 512 && w.nnz() <= 32768 && n > 256)
    for (int bound : {512, 1024}) add({std::min(32, max_rows), 1, 128, 1, 0, 0, bound});
  // Taller groups where X is wide. Each group loads, for every column, the rows of X its nonzeros need,
  // so the loads from L2 scale with the number of groups: at batch 8 the 32-row kernels of most layers
  // moved X at 5-6.6 TB/s, about L2's rate. 64 and 128 rows halve and quarter those loads (90% / 95%,
  // CUDA graph, us): 128 x 256 at N = 25088 17.6 -> 10.3 / 13.1 -> 7.7; 512 x 128 at N = 6272 9.4 -> 6.6
  // / 8.0 -> 5.8; 512 x 256 at N = 6272 17.9 -> 12.6 / 13.4 -> 9.8; 1024 x 512 at N = 1568 27.3 -> 21.7
  // / 16.5 -> 12.2. A group's code grows with its rows, so they lose where a block's chain of code sets
  // the time (256 x 1024 at N = 1568: 19.0 -> 28.9) or where few blocks would fill the GPU (small N).
  // (bench/results/sparse_explore_h100.md, item 16.)
  if (n >= 1024 && w.nnz() <= 65536)
    for (int tall : {64, 128})
      if (tall <= max_rows) add({tall, 1, 128});
  // Split K within a block where rows are long (K >= 512) and X wide enough for blocks of 128 columns:
  // 512 threads run the group's code as S streams of 1 / S of it, where one block of one stream of the
  // whole code waited for its instructions (90%, batch 8, CUDA graph, us): 256 x 1024 at N = 1568
  // 19.0 -> 13.6 (S = 4), 2048 x 512 at N = 392 19.7 (generic) -> 13.4 (S = 2), 512 x 2048 at N = 392
  // 21.6 (generic) -> 20.6 (S = 4). 1024 x 512 and 512 x 1024 at N = 1568 did not gain.
  // (bench/results/sparse_explore_h100.md, item 18.)
  if (w.cols >= 512 && n >= 384)
    for (int s : {2, 4}) add({std::min(32, max_rows), 1, 512, 1, 0, 0, 512, s});
  // Two row groups within a block of 512 threads, for the same 256 columns, where X is very wide and W has
  // at least 256 rows and columns: the groups share X through L1 and the SM runs two streams of code
  // (90%, batch 8, N = 6272, CUDA graph, us): 256 x 512 17.0 -> 14.1 (32 rows), 512 x 256 13.1 -> 12.0
  // (64 rows). Six other layers did not gain (item 18).
  if (n >= 4096 && w.rows >= 256 && w.cols >= 256 && w.nnz() <= 65536)
    for (int r : {32, 64}) add({r, 1, 512, 1, 0, 0, 512, 1, 2});
  // Split K over clusters for small N: S slices and R rows per group such that the groups times S
  // about fill the SMs, each slice keeping at least 32 columns and 128 nonzeros.
  int r = std::min(32, max_rows), slices = 1;
  while (slices < 8 && groups(r) * slices * 2 <= 160 && w.cols / (slices * 2) >= 32) slices *= 2;
  while (r > 8 && groups(r / 2) * slices <= 160 && w.nnz() / (groups(r / 2) * slices) >= 128) r /= 2;
  if (arch >= 90 && slices > 1 && w.nnz() / (groups(r) * slices) >= 128) add({r, 1, 128, slices});
  std::erase_if(shapes, [n](const codegen::KernelShape& s) { return n % s.cols_per_thread != 0; });  // whole vectors
  return shapes;
}

std::string compiler_identity(const SparseLinearOptions& options) {
  std::string id = "nvrtc " + codegen::nvrtc_version();
  for (const auto& o : options.compiler_options) id += " " + o;
  return id;
}

bool too_large(const CsrMatrix& w, const SparseLinearOptions& options) { return w.nnz() > options.max_unrolled_nnz; }

// Larger matrices are compiled as separate units of about kUnitNnz nonzeros, in parallel, and linked:
// NVRTC's time grows about quadratically with one program (26k nonzeros: 22 s; 105k: 150 s and more).
constexpr int64_t kSingleProgramNnz = 32768;
constexpr int64_t kUnitNnz = 8192;

// Emits and compiles one module and stores it in the cache (used by layers and by precompilation).
struct Compiled {
  std::vector<char> cubin;
  double generate_seconds = 0, compile_seconds = 0;
  std::optional<std::string> store_failure;
};
Compiled compile_and_store(const CsrMatrix& w, const std::vector<float>& bias, const SparseLinearOptions& options,
                           const codegen::KernelShape& shape, int arch, const std::string& key, codegen::KernelCache& cache) {
  Compiled c;
  auto t = Clock::now();
  const std::string name = fmt::format("spdnn_sparse_linear_{}.cu", key.substr(0, 12));
  const bool single = w.nnz() <= kSingleProgramNnz;
  std::vector<std::string> compile_options = options.compiler_options;  // the user's, then the shape's
  for (auto& o : single ? codegen::compile_options(shape) : codegen::unit_compile_options(shape))
    compile_options.push_back(std::move(o));
  if (single) {
    const std::string source = codegen::emit_sparse_linear(w, bias, options.relu, shape);
    c.generate_seconds = seconds_since(t);
    t = Clock::now();
    c.cubin = codegen::compile_cuda(source, arch, name, compile_options).cubin;
  } else {
    const auto units = codegen::emit_sparse_linear_units(w, bias, options.relu, shape, kUnitNnz);
    c.generate_seconds = seconds_since(t);
    t = Clock::now();
    c.cubin = codegen::compile_and_link_cuda(units, arch, name, compile_options).cubin;
  }
  c.compile_seconds = seconds_since(t);
  c.store_failure = cache.store(key, c.cubin);
  return c;
}

}  // namespace

struct SparseLinear::Impl {
  CsrMatrix w;
  std::vector<float> bias;
  SparseLinearOptions options;
  SparseLinearReport report;
  int device = 0;
  int arch = 0;
  cudaDeviceProp prop{};
  std::string layer;
  std::string compiler_id;
  codegen::KernelCache cache;
  cuda::DeviceBuffer<int64_t> row_ptr;
  struct DevicePlan {  // a work plan of the generic kernel, on the device
    cuda::DeviceBuffer<cuda::GenericPiece> slots;
    int64_t blocks = 0;
    cuda::GenericPlanView view() const { return {slots.get(), blocks}; }
  } narrow_plan, wide_plan;
  cuda::DeviceBuffer<int32_t> col_idx;
  cuda::DeviceBuffer<float> values, bias_d;
  std::map<ModuleId, Module> modules;
  std::map<int64_t, Choice> chosen;

  Impl(CsrMatrix w_in, std::vector<float> b, SparseLinearOptions o)
      : w(std::move(w_in)), bias(std::move(b)), options(std::move(o)), cache(options.cache_dir, options.cache) {
    w.validate("sparse linear weights");
    if (!bias.empty() && static_cast<int64_t>(bias.size()) != w.rows)
      throw Error(Errc::mismatch, fmt::format("sparse linear: {} biases for {} rows", bias.size(), w.rows));
    if (const auto& f = options.shape) codegen::validate(kernel_shape(*f, 0));
    if (auto why = cuda::why_no_cuda_device()) throw Error(Errc::unsupported, "sparse linear layers need a GPU: " + *why);
    if (options.device >= 0) SPDNN_CUDA_CHECK(cudaSetDevice(options.device));
    SPDNN_CUDA_CHECK(cudaGetDevice(&device));
    SPDNN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    arch = prop.major * 10 + prop.minor;
    layer = codegen::layer_key(w, bias, options.relu);
    compiler_id = compiler_identity(options);
    report.cache_dir = cache.dir().string();
    row_ptr.allocate(w.row_ptr.size(), "sparse weights (row offsets)");
    col_idx.allocate(w.col_idx.size(), "sparse weights (column indices)");
    values.allocate(w.values.size(), "sparse weights (values)");
    bias_d.allocate(bias.size(), "bias");
    auto upload = [](auto& buffer, const auto& host) {
      if (!host.empty())
        SPDNN_CUDA_CHECK(cudaMemcpy(buffer.get(), host.data(), host.size() * sizeof(host[0]), cudaMemcpyHostToDevice));
    };
    upload(row_ptr, w.row_ptr);
    upload(col_idx, w.col_idx);
    upload(values, w.values);
    upload(bias_d, bias);
    for (auto [plan, piece_nnz] :
         {std::pair{&narrow_plan, cuda::kNarrowPieceNnz}, {&wide_plan, cuda::kWidePieceNnz}}) {
      const cuda::GenericPlan host = cuda::plan_generic(w, cuda::kGenericWarps, piece_nnz);
      plan->blocks = host.blocks();
      plan->slots.allocate(host.slots.size(), "generic kernel plan");
      upload(plan->slots, host.slots);
    }
  }

  ~Impl() {
    for (auto& [_, m] : modules)
      if (m.library != nullptr) cudaLibraryUnload(m.library);
  }

  cuda::GenericView view() const {
    return {row_ptr.get(), col_idx.get(), values.get(), w.rows, w.cols, narrow_plan.view(), wide_plan.view()};
  }

  void launch(const Choice& c, const float* x, float* y, int64_t n, cudaStream_t stream) const {
    if (c.module == nullptr) {
      SPDNN_CUDA_CHECK(cuda::launch_generic_sparse_linear(view(), bias.empty() ? nullptr : bias_d.get(), options.relu, x, y, n,
                                                          options.dependent_launch, stream));
      SPDNN_CUDA_SYNC_IF_DEBUG("generic sparse_linear kernel");
      return;
    }
    const codegen::KernelShape s = shape_of(c);
    if (s.stride != 0 && s.stride != n)  // choices are made per N: reaching this is a bug in spdnn
      throw Error(Errc::usage, fmt::format("sparse linear: a module compiled for N = {} launched with N = {}", s.stride, n));
    const int64_t columns_per_block = static_cast<int64_t>(codegen::lanes(s)) * s.cols_per_thread;
    const int64_t steps = (n + columns_per_block - 1) / columns_per_block;
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(static_cast<unsigned>(s.column_blocks > 0 ? std::min<int64_t>(s.column_blocks, steps) : steps),
                          static_cast<unsigned>(codegen::grid_rows(s, w.rows)));
    config.blockDim = dim3(static_cast<unsigned>(s.threads));
    config.dynamicSmemBytes = static_cast<size_t>(occupancy_limiting_bytes(s.blocks_per_sm, codegen::shared_bytes(s), prop));
    config.stream = stream;
    cudaLaunchAttribute attributes[2] = {cuda::dependent_launch_attribute(options.dependent_launch)};
    config.attrs = attributes;
    config.numAttrs = 1;
    if (s.k_slices > 1) {  // the S slices of a group form a cluster
      cudaLaunchAttribute& cluster = attributes[config.numAttrs++];
      cluster.id = cudaLaunchAttributeClusterDimension;
      cluster.val.clusterDim.x = 1;
      cluster.val.clusterDim.y = static_cast<unsigned>(s.k_slices);
      cluster.val.clusterDim.z = 1;
    }
    long long n_arg = n;
    void* args[] = {const_cast<float**>(&x), &y, &n_arg};
    SPDNN_CUDA_CHECK(cudaLaunchKernelExC(&config, reinterpret_cast<const void*>(c.module->kernel), args));
    SPDNN_CUDA_SYNC_IF_DEBUG("generated sparse_linear kernel");
  }

  // The module for `shape`, from the cache or compiled now. Throws Error on compile or load failure.
  struct Built {
    std::vector<char> cubin;
    bool from_cache = false;
    double generate_seconds = 0, compile_seconds = 0;
    std::string note;
  };
  Built build(const codegen::KernelShape& shape, const std::string& key) {
    Built b;
    std::string problem;
    if (auto cubin = cache.load(key, &problem)) {
      b.cubin = std::move(*cubin);
      b.from_cache = true;
      return b;
    }
    b.note = problem;
    Compiled c = compile_and_store(w, bias, options, shape, arch, key, cache);
    b.cubin = std::move(c.cubin);
    b.generate_seconds = c.generate_seconds;
    b.compile_seconds = c.compile_seconds;
    if (c.store_failure) b.note += (b.note.empty() ? "" : "; ") + *c.store_failure;
    return b;
  }

  const Module& load_module(const codegen::KernelShape& shape, std::vector<char> cubin) {
    Module m;
    m.shape = shape;
    m.shape.threads = 0;
    SPDNN_CUDA_CHECK(cudaLibraryLoadData(&m.library, cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0));
    cudaError_t status = cudaLibraryGetKernel(&m.kernel, m.library, codegen::kKernelName);
    if (status == cudaSuccess)  // split K's partial sums, or the shared memory that limits blocks per SM
      status = cudaKernelSetAttributeForDevice(m.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(prop.sharedMemPerBlockOptin), device);
    if (status != cudaSuccess) {
      cudaLibraryUnload(m.library);
      cuda::check(status, "loading a generated kernel", __FILE__, __LINE__);
    }
    return modules[module_id(shape)] = m;
  }

  // Builds the candidates (in parallel: NVRTC is thread-safe) and loads the ones that compiled.
  std::vector<const Module*> obtain(const std::vector<codegen::KernelShape>& shapes, std::string* first_error) {
    std::vector<const Module*> loaded;
    std::vector<std::pair<codegen::KernelShape, std::future<Built>>> jobs;
    for (const auto& s : shapes) {
      if (auto it = modules.find(module_id(s)); it != modules.end()) {
        loaded.push_back(&it->second);
        continue;
      }
      const std::string key = codegen::module_key(layer, s, arch, compiler_id);
      jobs.emplace_back(s, std::async(std::launch::async, [this, s, key] { return build(s, key); }));
    }
    const auto wall = Clock::now();
    bool compiled_any = false;
    for (auto& [shape, job] : jobs) {
      try {
        Built b = job.get();
        if (!b.note.empty()) report.notes.push_back(b.note);
        if (b.from_cache) ++report.cache_hits;
        else ++report.modules_compiled, compiled_any = true, report.generate_seconds += b.generate_seconds;
        loaded.push_back(&load_module(shape, std::move(b.cubin)));
      } catch (const Error& e) {
        if (first_error->empty()) *first_error = e.what();
      }
    }
    if (compiled_any) report.compile_seconds += seconds_since(wall);
    return loaded;
  }

  // A candidate's calls captured into a graph for timing (cuda/stream.hpp), after one direct call. A
  // cluster launch the device refuses (cudaErrorClusterOutOfResources and the like: the GPU is shared,
  // or partitioned) fails that call, and drops the candidate with a note instead of failing the layer;
  // errors that persist (the context is broken) are rethrown.
  static constexpr int kCallsPerTiming = 20;
  std::unique_ptr<cuda::CapturedCalls> capture(const Choice& c, const float* x, float* y, int64_t n, cudaStream_t stream) {
    auto enqueue = [this, c, x, y, n](cudaStream_t s) { launch(c, x, y, n, s); };
    const bool cluster = c.module != nullptr && c.module->shape.k_slices > 1;
    try {
      enqueue(stream);
      if (cluster) SPDNN_CUDA_CHECK(cudaStreamSynchronize(stream));  // a refused launch fails here
      return std::make_unique<cuda::CapturedCalls>(enqueue, stream, kCallsPerTiming);
    } catch (const Error& e) {
      if (!cluster || cudaDeviceSynchronize() != cudaSuccess) throw;
      (void)cudaGetLastError();
      report.notes.push_back(fmt::format("a split-K candidate ({} K slices, {} threads) could not be launched: {}",
                                         c.module->shape.k_slices, c.threads, e.what()));
      return nullptr;
    }
  }

  void use_generic(int64_t n, std::string reason) {
    chosen[n] = Choice{};
    if (report.reason.empty()) report.reason = std::move(reason);
    if (report.path != "specialized") report.path = "generic";
  }

  // `stream`: the stream of the forward() that asks, which must not be capturing when a kernel is still
  // to be chosen (see below).
  void prepare(int64_t n, cudaStream_t stream = nullptr) {
    if (n <= 0) throw Error(Errc::usage, fmt::format("sparse linear: N = {} columns", n));
    if (chosen.count(n) != 0) return;
    if (!options.specialize) return use_generic(n, "specialization turned off");
    if (too_large(w, options))
      return use_generic(n, fmt::format("{} nonzeros exceed the unroll limit of {}", w.nnz(), options.max_unrolled_nnz));
    if (n > std::numeric_limits<uint32_t>::max())  // the generated code takes the row stride as 32 bits
      return use_generic(n, fmt::format("N = {} columns exceed the generated kernels' 32-bit row stride", n));
    if (codegen::row_groups({32, 1, 128}, w.rows) > 65535)
      return use_generic(n, fmt::format("{} rows are too many row groups for one grid", w.rows));

    codegen::KeyHasher tuning_hasher;
    tuning_hasher.text(layer);
    tuning_hasher.value(static_cast<uint64_t>(n));
    tuning_hasher.value(static_cast<uint64_t>(arch));
    tuning_hasher.text(compiler_id);
    tuning_hasher.text(SPDNN_VERSION);
    tuning_hasher.value(cuda::kGenericKernelRevision);  // the generic kernel competes in tuning
    tuning_hasher.value(kTuningMethod);
    if (!options.dependent_launch) tuning_hasher.text("no dependent launch");  // timed as it will run
    // A remembered choice stands for the candidates it was chosen among: when they change (tall groups
    // were added without a change of version, which would have made every compiled module stale), the
    // layer is tuned again instead of keeping a choice that never saw the new ones.
    std::vector<codegen::KernelShape> shapes = candidate_shapes(w, n, arch, options.fixed_stride);
    for (const auto& s : shapes) tuning_hasher.text(codegen::module_key(layer, s, arch, compiler_id));
    const std::string tuning_key = tuning_hasher.hex();

    std::optional<codegen::KernelShape> remembered;
    if (const auto& f = options.shape) {
      remembered = kernel_shape(*f, n);
      codegen::validate(*remembered);
      if (n % remembered->cols_per_thread != 0)
        throw Error(Errc::usage, fmt::format("kernel shape: N = {} is not a multiple of {} columns per thread", n,
                                             remembered->cols_per_thread));
      shapes = {*remembered};
    } else if (auto t = cache.load_tuning(tuning_key); t && !t->shape) {
      ++report.cache_hits;
      return use_generic(n, fmt::format("the generic kernel was faster than the generated ones ({:.1f} us, remembered)",
                                        t->microseconds));
    } else if (t && n % t->shape->cols_per_thread == 0 && (t->shape->stride == 0 || t->shape->stride == n)) {
      ++report.cache_hits;
      remembered = t->shape;
      shapes = {*t->shape};
    } else if (!options.tune) {
      shapes.resize(1);
    }
    // Choosing loads modules, allocates, times and synchronizes: calls that a stream capture forbids, and
    // that would invalidate the caller's graph. So a first forward() inside a capture is refused, with the
    // remedy, before any of them, and the capture stays usable.
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(stream, &capturing) != cudaSuccess || capturing != cudaStreamCaptureStatusNone) {
      (void)cudaGetLastError();
      throw Error(Errc::usage, fmt::format("sparse linear: the kernel for N = {} is chosen on its first use, which "
                                           "cannot happen inside a CUDA graph capture; call prepare({}) before "
                                           "capturing", n, n));
    }
    std::string error;
    const auto loaded = obtain(shapes, &error);
    if (loaded.empty()) return use_generic(n, fmt::format("code generation failed: {}", error));
    if (!error.empty()) report.notes.push_back("a candidate kernel failed: " + error);

    Choice best{loaded.front(), remembered ? remembered->threads : 128, remembered ? remembered->column_blocks : 0,
                remembered ? remembered->blocks_per_sm : 0};
    if (!remembered && options.tune) {
      const auto t = Clock::now();
      cuda::DeviceBuffer<float> x(static_cast<size_t>(w.cols * n), "tuning input (K x N)");
      cuda::DeviceBuffer<float> y(static_cast<size_t>(w.rows * n), "tuning output (M x N)");
      if (x.size() != 0) SPDNN_CUDA_CHECK(cudaMemset(x.get(), 0, x.size() * sizeof(float)));
      // Every candidate block width of every module, then the generic kernel (it competes too: for some
      // large matrices it is faster at small N). Column loops (fewer blocks along the columns) are left to
      // --shape: on an H100 they were slower in every case tried (bench/results/sparse_explore_h100.md).
      std::vector<Choice> choices;
      for (const Module* m : loaded)
        for (int threads : {64, 128, 256, 512, 1024}) {
          if (threads > m->shape.max_threads) break;
          const int lanes = threads / codegen::thread_sets(m->shape);  // the block's columns, over C
          if (lanes % 32 != 0) continue;
          if (threads > 64 && static_cast<int64_t>(lanes) * m->shape.cols_per_thread >= 2 * n) continue;  // idle lanes
          // Blocks kept apart (blocks_per_sm) are left to --shape, like column loops: spreading the blocks
          // over the SMs changed no time measured (sparse_explore_h100.md, item 19).
          choices.push_back(Choice{m, threads, 0});
        }
      if (options.tune_against_generic) choices.push_back(Choice{});
      // Each candidate is timed as CUDA-graph replays, kTuningRounds of them interleaved, and scored by
      // their mean. Replays leave out the host's launch cost, which for small layers varied more than the
      // candidates differ (256 x 64 at 95%, N = 3136: 3.3-5.4 us back to back, 2.7-3.0 in a graph). The
      // mean, not the best, because a kernel's time can change within a process: 128 x 512 at 90%, N =
      // 784, 32 rows per group took 9.4 us in one round and 6.6 in the next (9.2 whenever it ran alone),
      // and the best of three rounds picked it over a steady 5.6 us kernel (sparse_explore_h100.md, 15).
      constexpr int kTuningRounds = 5;
      cuda::Stream stream;
      std::vector<std::unique_ptr<cuda::CapturedCalls>> timers;
      for (const Choice& c : choices) timers.push_back(capture(c, x.get(), y.get(), n, stream.s));
      std::vector<double> us(choices.size(), 0.0);
      for (int round = 0; round < kTuningRounds; ++round)
        for (size_t i = 0; i < choices.size(); ++i)
          if (timers[i]) {
            if (round == 0) timers[i]->replay();  // warm up
            us[i] += timers[i]->time_us() / kTuningRounds;
          }
      double best_us = 1e300, generic_us = 1e300;
      report.tuning.clear();
      bool any = false;
      for (size_t i = 0; i < choices.size(); ++i) {
        if (!timers[i]) continue;  // refused
        if (choices[i].module == nullptr) {
          generic_us = us[i];
          report.tuning.push_back({std::nullopt, us[i]});
          continue;
        }
        report.tuning.push_back({shape_option(shape_of(choices[i])), us[i]});
        if (us[i] < best_us) best_us = us[i], best = choices[i], any = true;
      }
      timers.clear();
      SPDNN_CUDA_CHECK(cudaDeviceSynchronize());
      report.tune_seconds += seconds_since(t);
      if (!any) return use_generic(n, "no generated kernel could be launched on this device");
      if (generic_us < best_us) {
        cache.store_tuning(tuning_key, {std::nullopt, generic_us});
        return use_generic(n, fmt::format("the generic kernel was faster than the generated ones ({:.1f} us vs {:.1f} us)",
                                          generic_us, best_us));
      }
      cache.store_tuning(tuning_key, {shape_of(best), best_us});
    }
    chosen[n] = best;
    report.path = "specialized";
    report.shape = shape_option(shape_of(best));
  }

  void forward(const float* x, float* y, int64_t n, cudaStream_t stream) {
    prepare(n, stream);
    Choice c = chosen.at(n);
    if (c.module != nullptr && c.module->shape.cols_per_thread > 1) {
      const auto align = static_cast<uintptr_t>(c.module->shape.cols_per_thread * sizeof(float));
      if (reinterpret_cast<uintptr_t>(x) % align != 0 || reinterpret_cast<uintptr_t>(y) % align != 0)
        c = Choice{};  // vector loads need aligned rows: the generic kernel serves unaligned pointers
    }
    launch(c, x, y, n, stream);
  }
};

SparseLinear::SparseLinear(CsrMatrix w, std::vector<float> bias, SparseLinearOptions options)
    : impl_(std::make_unique<Impl>(std::move(w), std::move(bias), std::move(options))) {}
SparseLinear::~SparseLinear() = default;
SparseLinear::SparseLinear(SparseLinear&&) noexcept = default;
SparseLinear& SparseLinear::operator=(SparseLinear&&) noexcept = default;
int64_t SparseLinear::rows() const { return impl_->w.rows; }
int64_t SparseLinear::cols() const { return impl_->w.cols; }
void SparseLinear::prepare(int64_t n) { impl_->prepare(n); }
void SparseLinear::forward(const float* x, float* y, int64_t n, void* stream) {
  impl_->forward(x, y, n, static_cast<cudaStream_t>(stream));
}
void SparseLinear::forward_generic(const float* x, float* y, int64_t n, void* stream) const {
  impl_->launch(Choice{}, x, y, n, static_cast<cudaStream_t>(stream));
}
const SparseLinearReport& SparseLinear::report() const { return impl_->report; }

double precompile_sparse_linear(const CsrMatrix& w, const std::vector<float>& bias, int64_t n, int arch,
                                const SparseLinearOptions& options) {
  if (options.cache != KernelCacheMode::on)
    throw Error(Errc::usage, "precompiling kernels needs the kernel cache in mode 'on'");
  if (options.shape) codegen::validate(kernel_shape(*options.shape, 0));  // the caller's error, not a fallback
  if (!options.specialize || too_large(w, options) || n <= 0) return 0;
  codegen::KernelCache cache(options.cache_dir, options.cache);
  const std::string layer = codegen::layer_key(w, bias, options.relu);
  const std::string compiler = compiler_identity(options);
  const std::vector<codegen::KernelShape> shapes =
      options.shape ? std::vector{kernel_shape(*options.shape, n)} : candidate_shapes(w, n, arch, options.fixed_stride);
  double seconds = 0;
  for (const auto& shape : shapes) {
    const std::string key = codegen::module_key(layer, shape, arch, compiler);
    if (std::ifstream(cache.module_path(key)).good()) continue;
    const auto t = Clock::now();
    try {
      (void)compile_and_store(w, bias, options, shape, arch, key, cache);
    } catch (const Error&) {
      // Left for the layer itself, which falls back and reports the reason.
    }
    seconds += seconds_since(t);
  }
  return seconds;
}

std::vector<SparseLinearOptions::Shape> sparse_linear_candidates(const CsrMatrix& w, int64_t n, int arch,
                                                                 bool fixed_stride) {
  std::vector<SparseLinearOptions::Shape> out;
  for (const auto& s : candidate_shapes(w, n, arch, fixed_stride)) out.push_back(shape_option(s));
  return out;
}

int current_gpu_arch() { return cuda::current_device_arch(); }

std::vector<float> SparseLinear::forward_host(const std::vector<float>& x, int64_t n, bool generic) {
  if (n <= 0 || static_cast<int64_t>(x.size()) != cols() * n)
    throw Error(Errc::mismatch, fmt::format("sparse linear: X has {} values, W has {} columns and N = {}", x.size(), cols(), n));
  cuda::DeviceBuffer<float> x_d(x.size(), "sparse linear input (K x N)");
  cuda::DeviceBuffer<float> y_d(static_cast<size_t>(rows() * n), "sparse linear output (M x N)");
  if (!x.empty()) SPDNN_CUDA_CHECK(cudaMemcpy(x_d.get(), x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice));
  if (generic) forward_generic(x_d.get(), y_d.get(), n);
  else forward(x_d.get(), y_d.get(), n);
  std::vector<float> y(y_d.size());
  if (!y.empty()) SPDNN_CUDA_CHECK(cudaMemcpy(y.data(), y_d.get(), y.size() * sizeof(float), cudaMemcpyDeviceToHost));
  return y;
}

}  // namespace spdnn
