// SparseLinear on the GPU (see include/spdnn/sparse/sparse_linear.hpp). Per column count N: the candidate
// configurations (candidates.cpp) are loaded from the kernel cache or compiled (codegen/module_store),
// loaded on the device (launcher), timed (tuner) and the winner remembered in the cache; anything that
// fails falls back to the generic CSR kernel with the reason in the report.
#include <cuda_runtime.h>
#include <fmt/format.h>

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
#include "sparse/cuda/kernel_choice.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn {

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

  void use_generic(int64_t n, std::string reason) {
    chosen[n] = cuda::Choice{};
    if (report.reason.empty()) report.reason = std::move(reason);
    if (report.path != "specialized") report.path = "generic";
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

    if (options.config && n % options.config->cols != 0)
      throw Error(Errc::usage, fmt::format("kernel config: N = {} is not a multiple of {} columns per thread", n,
                                           options.config->cols));
    cuda::KernelRequest request{
        .store = store.get(),
        .slots = {[this](const std::string& key) { return launcher->modules().find(key); },
                  [this, n](const std::string& key, const KernelConfig& c, const std::vector<char>& cubin)
                      -> const cuda::LoadedModule& { return launcher->modules().load(key, c, codegen::compiled_stride(c, n), cubin); }},
        .launch = [this, n](const cuda::Choice& c, const float* x, float* y, cudaStream_t s) { launcher->launch(c, x, y, n, s); },
        .grid = [this, n](const KernelConfig& c) { return launcher->grid(c, n); },
        .candidates = sparse_linear_candidates(w, n, arch, options.fixed_stride),
        .tuning_key = {},
        .n = n,
        .x_size = static_cast<size_t>(w.cols * n),
        .y_size = static_cast<size_t>(w.rows * n),
        .stream = stream,
        .what = fmt::format("sparse linear: the kernel for N = {} is chosen on its first use", n),
        .remedy = fmt::format("prepare({})", n),
        .untuned_generic = n < kUntunedGenericBelowN
                               ? fmt::format("untuned at N = {} < {} columns, where the generic kernel keeps its lanes busy",
                                             n, kUntunedGenericBelowN)
                               : std::string()};
    request.tuning_key = cuda::tuning_key(*store, n, options, request.candidates, cuda::kGenericKernelRevision);
    std::string reason;
    const cuda::Choice best = cuda::choose_kernel(options, request, &report, &reason);
    if (best.module == nullptr) return use_generic(n, std::move(reason));
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
const CsrMatrix& SparseLinear::weights() const { return impl_->w; }
const std::vector<float>& SparseLinear::bias() const { return impl_->bias; }
const SparseLinearOptions& SparseLinear::options() const { return impl_->options; }
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
  cuda::DeviceBuffer<float> x_d;
  x_d.upload(x, "sparse linear input (K x N)");
  cuda::DeviceBuffer<float> y_d(static_cast<size_t>(rows() * n), "sparse linear output (M x N)");
  if (generic) forward_generic(x_d.get(), y_d.get(), n);
  else forward(x_d.get(), y_d.get(), n);
  std::vector<float> y(y_d.size());
  if (!y.empty()) SPDNN_CUDA_CHECK(cudaMemcpy(y.data(), y_d.get(), y.size() * sizeof(float), cudaMemcpyDeviceToHost));
  return y;
}

}  // namespace spdnn
