// SparseLinear on the GPU (see include/spdnn/sparse/sparse_linear.hpp). Per column count N: the candidate
// configurations (candidates.cpp) are loaded from the kernel cache or compiled (codegen/module_store),
// loaded on the device (launcher), timed (tuner) and the winner remembered in the cache; anything that
// fails falls back to the generic CSR kernel with the reason in the report.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <chrono>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "cuda/check.hpp"
#include "cuda/device.hpp"
#include "cuda/device_buffer.hpp"
#include "sparse/codegen/emit.hpp"
#include "sparse/codegen/module_store.hpp"
#include "sparse/cuda/launcher.hpp"
#include "sparse/cuda/tuner.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// How tuning times its candidates, hashed into the key of a remembered choice so that choices made the
// old way are made again: 1 (up to 0.4.0) the best of three rounds of back-to-back calls, 2 (0.4.1) the
// mean of five rounds of CUDA-graph replays.
constexpr uint64_t kTuningMethod = 2;

}  // namespace

struct SparseLinear::Impl {
  CsrMatrix w;
  std::vector<float> bias;
  SparseLinearOptions options;
  SparseLinearReport report;
  int arch = 0;
  std::unique_ptr<codegen::ModuleStore> store;
  std::unique_ptr<cuda::Launcher> launcher;
  std::map<int64_t, cuda::Choice> chosen;

  Impl(CsrMatrix w_in, std::vector<float> b, SparseLinearOptions o) : w(std::move(w_in)), bias(std::move(b)), options(std::move(o)) {
    w.validate("sparse linear weights");
    if (!bias.empty() && static_cast<int64_t>(bias.size()) != w.rows)
      throw Error(Errc::mismatch, fmt::format("sparse linear: {} biases for {} rows", bias.size(), w.rows));
    if (options.config) validate(*options.config);
    if (auto why = cuda::why_no_cuda_device()) throw Error(Errc::unsupported, "sparse linear layers need a GPU: " + *why);
    if (options.device >= 0) SPDNN_CUDA_CHECK(cudaSetDevice(options.device));
    arch = cuda::current_device_arch();
    store = std::make_unique<codegen::ModuleStore>(w, bias, options, arch);
    report.cache_dir = store->cache().dir().string();
    report.device = cuda::current_device_name();
    launcher = std::make_unique<cuda::Launcher>(w, bias, options.relu, options.dependent_launch);
  }

  // Loads or compiles the modules of `configs` for N = n (in parallel: NVRTC is thread-safe) and loads the
  // ones that compiled onto the device; the first failure goes to `first_error`.
  std::vector<const cuda::LoadedModule*> obtain(const std::vector<KernelConfig>& configs, int64_t n, std::string* first_error) {
    std::vector<const cuda::LoadedModule*> loaded;
    struct Job {
      KernelConfig config;
      std::string key;
      std::future<codegen::ModuleStore::Built> built;
    };
    std::vector<Job> jobs;
    for (const auto& c : configs) {
      std::string key = store->key(c, n);
      if (const cuda::LoadedModule* m = launcher->find(key)) {
        loaded.push_back(m);
        continue;
      }
      jobs.push_back({c, std::move(key), std::async(std::launch::async, [this, c, n] { return store->obtain(c, n); })});
    }
    const auto wall = Clock::now();
    bool compiled_any = false;
    for (auto& job : jobs) {
      try {
        codegen::ModuleStore::Built b = job.built.get();
        if (!b.note.empty()) report.notes.push_back(b.note);
        if (b.from_cache) ++report.cache_hits;
        else ++report.modules_compiled, compiled_any = true, report.generate_seconds += b.generate_seconds;
        loaded.push_back(&launcher->load(job.key, job.config, codegen::compiled_stride(job.config, n), b.cubin));
      } catch (const Error& e) {
        if (first_error->empty()) *first_error = e.what();
      }
    }
    if (compiled_any) report.compile_seconds += seconds_since(wall);
    return loaded;
  }

  void use_generic(int64_t n, std::string reason) {
    chosen[n] = cuda::Choice{};
    if (report.reason.empty()) report.reason = std::move(reason);
    if (report.path != "specialized") report.path = "generic";
  }

  // The key of the remembered choice for N = n: everything the timing depended on.
  std::string tuning_key(int64_t n, const std::vector<KernelConfig>& candidates) const {
    codegen::KeyHasher h;
    h.text(store->layer());
    h.value(static_cast<uint64_t>(n));
    h.value(static_cast<uint64_t>(arch));
    h.text(store->compiler());
    h.text(SPDNN_VERSION);
    h.value(cuda::kGenericKernelRevision);  // the generic kernel competes in tuning
    h.value(kTuningMethod);
    if (!options.dependent_launch) h.text("no dependent launch");  // timed as it will run
    // A remembered choice stands for the candidates it was chosen among: when they change, the layer is
    // tuned again instead of keeping a choice that never saw the new ones.
    for (const auto& c : candidates) h.text(store->key(c, n));
    return h.hex();
  }

  // Times every block width of every loaded module, and the generic kernel; remembers the winner.
  void tune(int64_t n, const std::vector<const cuda::LoadedModule*>& loaded, const std::string& key, cuda::Choice* best) {
    const auto t = Clock::now();
    const std::vector<cuda::Choice> choices = cuda::tuning_choices(loaded, n, options.tune_against_generic);
    const auto us = cuda::time_choices(*launcher, choices, w.rows, w.cols, n, &report.notes);
    double best_us = 1e300, generic_us = 1e300;
    report.tuning.clear();
    for (size_t i = 0; i < choices.size(); ++i) {
      if (!us[i]) continue;  // refused
      if (choices[i].module == nullptr) {
        generic_us = *us[i];
        report.tuning.push_back({std::nullopt, *us[i]});
        continue;
      }
      report.tuning.push_back({cuda::config_of(choices[i]), *us[i]});
      if (*us[i] < best_us) best_us = *us[i], *best = choices[i];
    }
    report.tune_seconds += seconds_since(t);
    if (best_us == 1e300) return use_generic(n, "no generated kernel could be launched on this device");
    if (generic_us < best_us) {
      store->cache().store_tuning(key, {std::nullopt, generic_us});
      return use_generic(n, fmt::format("the generic kernel was faster than the generated ones ({:.1f} us vs {:.1f} us)",
                                        generic_us, best_us));
    }
    store->cache().store_tuning(key, {cuda::config_of(*best), best_us});
  }

  // `stream`: the stream of the forward() that asks, which must not be capturing when a kernel is still
  // to be chosen (see below).
  void prepare(int64_t n, cudaStream_t stream = nullptr) {
    if (n <= 0) throw Error(Errc::usage, fmt::format("sparse linear: N = {} columns", n));
    if (chosen.count(n) != 0) return;
    if (!options.specialize) return use_generic(n, "specialization turned off");
    if (w.nnz() > options.max_unrolled_nnz)
      return use_generic(n, fmt::format("{} nonzeros exceed the unroll limit of {}", w.nnz(), options.max_unrolled_nnz));
    if (n > std::numeric_limits<uint32_t>::max())  // the generated code takes the row stride as 32 bits
      return use_generic(n, fmt::format("N = {} columns exceed the generated kernels' 32-bit row stride", n));
    if (codegen::row_groups(KernelConfig{.rows = 32}, w.rows) > 65535)
      return use_generic(n, fmt::format("{} rows are too many row groups for one grid", w.rows));

    std::vector<KernelConfig> configs = sparse_linear_candidates(w, n, arch, options.fixed_stride);
    const std::string key = tuning_key(n, configs);
    std::optional<KernelConfig> remembered;
    if (const auto& fixed = options.config) {
      if (n % fixed->cols != 0)
        throw Error(Errc::usage, fmt::format("kernel config: N = {} is not a multiple of {} columns per thread", n, fixed->cols));
      remembered = *fixed;
      configs = {*fixed};
    } else if (auto t = store->cache().load_tuning(key); t && !t->config) {
      ++report.cache_hits;
      return use_generic(n, fmt::format("the generic kernel was faster than the generated ones ({:.1f} us, remembered)",
                                        t->microseconds));
    } else if (t && n % t->config->cols == 0) {
      ++report.cache_hits;
      remembered = t->config;
      configs = {*t->config};
    } else if (!options.tune) {
      configs.resize(1);
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
    const auto loaded = obtain(configs, n, &error);
    if (loaded.empty()) return use_generic(n, fmt::format("code generation failed: {}", error));
    if (!error.empty()) report.notes.push_back("a candidate kernel failed: " + error);

    cuda::Choice best{loaded.front(), remembered ? remembered->threads : KernelConfig{}.threads};
    if (!remembered && options.tune) {
      tune(n, loaded, key, &best);
      if (chosen.count(n) != 0) return;  // the generic kernel won
    }
    chosen[n] = best;
    report.path = "specialized";
    report.config = cuda::config_of(best);
  }

  void forward(const float* x, float* y, int64_t n, cudaStream_t stream) {
    prepare(n, stream);
    cuda::Choice c = chosen.at(n);
    if (c.module != nullptr && c.module->config.cols > 1) {
      const auto align = static_cast<uintptr_t>(c.module->config.cols * sizeof(float));
      if (reinterpret_cast<uintptr_t>(x) % align != 0 || reinterpret_cast<uintptr_t>(y) % align != 0)
        c = cuda::Choice{};  // vector loads need aligned rows: the generic kernel serves unaligned pointers
    }
    launcher->launch(c, x, y, n, stream);
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
  impl_->launcher->launch(cuda::Choice{}, x, y, n, static_cast<cudaStream_t>(stream));
}
const SparseLinearReport& SparseLinear::report() const { return impl_->report; }

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
