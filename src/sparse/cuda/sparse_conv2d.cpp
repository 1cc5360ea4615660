// SparseConv2d on the GPU (see include/spdnn/sparse/sparse_conv2d.hpp). Per input size (batch, height,
// width): the candidate configurations (candidates.cpp) for that shape are loaded from the kernel cache
// or compiled (a ModuleStore per size; its modules serve every batch), loaded on the device (conv2d_launcher), timed against the
// generic kernel and the winner remembered (kernel_choice); anything that fails falls back to the generic
// kernel with the reason in the report.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <limits>
#include <map>
#include <memory>
#include <tuple>
#include <utility>

#include "cuda/check.hpp"
#include "cuda/device.hpp"
#include "cuda/device_buffer.hpp"
#include "sparse/codegen/emit.hpp"
#include "sparse/codegen/emit_conv2d.hpp"
#include "sparse/codegen/module_store.hpp"
#include "sparse/cuda/conv2d_launcher.hpp"
#include "sparse/cuda/kernel_choice.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/sparse_conv2d.hpp"

namespace spdnn {

namespace {

// Bumped when the generic convolution kernel's speed changes, so that remembered choices between it and
// the generated kernels are made again.
constexpr uint64_t kGenericConv2dRevision = 1;

// The kernels index within an image and plane with 32 bits (and the batch with 32 unsigned bits).
constexpr int64_t kMaxExtent = std::numeric_limits<int32_t>::max();

}  // namespace

struct SparseConv2d::Impl {
  using Size = std::tuple<int64_t, int64_t, int64_t>;  // batch, height, width
  struct Prepared {
    std::unique_ptr<codegen::ModuleStore> store;  // the modules of this size
    cuda::Choice choice;
  };

  CsrMatrix w;
  std::vector<float> bias;
  Conv2dShape filter;
  SparseLinearOptions options;
  SparseLinearReport report;
  int arch = 0;
  std::unique_ptr<cuda::Conv2dLauncher> launcher;
  std::map<Size, Prepared> prepared;

  Impl(CsrMatrix w_in, std::vector<float> b, Conv2dShape f, SparseLinearOptions o)
      : w(std::move(w_in)), bias(std::move(b)), filter(f), options(std::move(o)) {
    filter = codegen::checked_conv2d_filter(w, bias, filter, options.config);
    if (auto why = cuda::why_no_cuda_device()) throw Error(Errc::unsupported, "sparse convolutions need a GPU: " + *why);
    if (options.device >= 0) SPDNN_CUDA_CHECK(cudaSetDevice(options.device));
    arch = cuda::current_device_arch();
    report.cache_dir = codegen::KernelCache(options.cache_dir, options.cache).dir().string();
    report.device = cuda::current_device_name();
    launcher = std::make_unique<cuda::Conv2dLauncher>(w, bias, filter, options.relu, options.dependent_launch);
  }

  Conv2dShape shape(int64_t batch, int64_t height, int64_t width) const {
    Conv2dShape s = filter;
    s.batch = batch, s.height = height, s.width = width;
    if (auto why = why_invalid(s)) throw Error(Errc::usage, fmt::format("conv2d {}: {}", to_string(s), *why));
    for (int64_t extent : {s.batch, s.channels, s.height + 2 * s.padding, s.width + 2 * s.padding, s.out_channels,
                           s.out_height() * s.out_width()})
      if (extent > kMaxExtent)
        throw Error(Errc::usage, fmt::format("conv2d {}: a size beyond the kernels' 32-bit indexing", to_string(s)));
    return s;
  }

  // Why this size takes the generic kernel whatever tuning would say, or nothing.
  std::optional<std::string> why_generic(const Conv2dShape& s) const {
    if (!options.specialize) return "specialization turned off";
    if (w.nnz() > options.max_unrolled_nnz)
      return fmt::format("{} nonzeros exceed the unroll limit of {}", w.nnz(), options.max_unrolled_nnz);
    if (w.rows > 65535)  // row groups of any candidate, down to one row, fit grid.y
      return fmt::format("{} out-channels are too many row groups for one grid", w.rows);
    if (s.batch * s.out_height() * s.out_width() == 0) return "no output pixels";
    return std::nullopt;
  }

  void use(const cuda::Choice& c, std::string reason) {
    if (c.module != nullptr) {
      report.path = "specialized";
      report.config = cuda::config_of(c);
      return;
    }
    if (report.reason.empty()) report.reason = std::move(reason);
    if (report.path != "specialized") report.path = "generic";
  }

  const Prepared& prepare(int64_t batch, int64_t height, int64_t width, cudaStream_t stream = nullptr) {
    const Size size{batch, height, width};
    if (auto it = prepared.find(size); it != prepared.end()) return it->second;
    const Conv2dShape s = shape(batch, height, width);
    if (auto why = why_generic(s)) {
      use(cuda::Choice{}, *why);
      return prepared[size];
    }
    Prepared p;
    p.store = std::make_unique<codegen::ModuleStore>(w, bias, options, arch, s);
    const int64_t pixels = s.batch * s.out_height() * s.out_width();
    cuda::KernelRequest request{
        .store = p.store.get(),
        .slots = {[this](const std::string& key) { return launcher->modules().find(key); },
                  [this, s](const std::string& key, const KernelConfig& c, const std::vector<char>& cubin)
                      -> const cuda::LoadedModule& {
                    launcher->reserve_zeros(s);  // what a generated kernel reads in the padding (not captured)
                    return launcher->modules().load(key, c, 0, cubin);
                  }},
        .launch = [this, s](const cuda::Choice& c, const float* x, float* y, cudaStream_t st) { launcher->launch(c, s, x, y, st); },
        .grid = [this, s](const KernelConfig& c) { return launcher->grid(c, s); },
        .candidates = sparse_conv2d_candidates(w, s, arch),
        .tuning_key = {},
        .n = pixels,
        .x_size = static_cast<size_t>(s.input_size()),
        .y_size = static_cast<size_t>(s.output_size()),
        .stream = stream,
        .what = fmt::format("sparse conv2d: the kernel for input {} x {} x {} x {} is chosen on its first use", batch,
                            s.channels, height, width),
        .remedy = fmt::format("prepare({}, {}, {})", batch, height, width),
        .untuned_generic = {}};
    request.tuning_key = cuda::tuning_key(*p.store, pixels, options, request.candidates, kGenericConv2dRevision);
    std::string reason;
    p.choice = cuda::choose_kernel(options, request, &report, &reason);
    use(p.choice, std::move(reason));
    return prepared[size] = std::move(p);
  }
};

SparseConv2d::SparseConv2d(CsrMatrix w, std::vector<float> bias, Conv2dShape filter, SparseLinearOptions options)
    : impl_(std::make_unique<Impl>(std::move(w), std::move(bias), filter, std::move(options))) {}
SparseConv2d::~SparseConv2d() = default;
SparseConv2d::SparseConv2d(SparseConv2d&&) noexcept = default;
SparseConv2d& SparseConv2d::operator=(SparseConv2d&&) noexcept = default;

const Conv2dShape& SparseConv2d::filter() const { return impl_->filter; }
const CsrMatrix& SparseConv2d::weights() const { return impl_->w; }
const std::vector<float>& SparseConv2d::bias() const { return impl_->bias; }
const SparseLinearOptions& SparseConv2d::options() const { return impl_->options; }
Conv2dShape SparseConv2d::shape(int64_t batch, int64_t height, int64_t width) const {
  return impl_->shape(batch, height, width);
}
void SparseConv2d::prepare(int64_t batch, int64_t height, int64_t width) { impl_->prepare(batch, height, width); }

void SparseConv2d::forward(const float* x, float* y, int64_t batch, int64_t height, int64_t width, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  const cuda::Choice c = impl_->prepare(batch, height, width, s).choice;
  impl_->launcher->launch(c, impl_->shape(batch, height, width), x, y, s);
}

void SparseConv2d::forward_generic(const float* x, float* y, int64_t batch, int64_t height, int64_t width,
                                   void* stream) const {
  impl_->launcher->launch(cuda::Choice{}, impl_->shape(batch, height, width), x, y, static_cast<cudaStream_t>(stream));
}

const SparseLinearReport& SparseConv2d::report() const { return impl_->report; }

std::vector<float> SparseConv2d::forward_host(const std::vector<float>& x, int64_t batch, int64_t height, int64_t width,
                                              bool generic) {
  const Conv2dShape s = shape(batch, height, width);
  if (static_cast<int64_t>(x.size()) != s.input_size())
    throw Error(Errc::mismatch, fmt::format("sparse conv2d: X has {} values, {} needs {}", x.size(), to_string(s), s.input_size()));
  cuda::DeviceBuffer<float> x_d;
  x_d.upload(x, "sparse conv2d input (NCHW)");
  cuda::DeviceBuffer<float> y_d(static_cast<size_t>(s.output_size()), "sparse conv2d output (NKPQ)");
  if (generic) forward_generic(x_d.get(), y_d.get(), batch, height, width);
  else forward(x_d.get(), y_d.get(), batch, height, width);
  std::vector<float> y(y_d.size());
  if (!y.empty()) SPDNN_CUDA_CHECK(cudaMemcpy(y.data(), y_d.get(), y.size() * sizeof(float), cudaMemcpyDeviceToHost));
  return y;
}

}  // namespace spdnn
