// SparseLinear and SparseConv2d in a build without CUDA: every use is a clear error (the float64 references
// still work).
#include <fmt/format.h>

#include "sparse/codegen/emit_conv2d.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/sparse_conv2d.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn {

struct SparseLinear::Impl {};
struct SparseConv2d::Impl {};

namespace {
[[noreturn]] void unavailable(const char* what = "sparse linear layers") {
  throw Error(Errc::unsupported, fmt::format("{} need a GPU build of spdnn (configure with SPDNN_ENABLE_CUDA=ON)", what));
}
[[noreturn]] void conv_unavailable() { unavailable("sparse convolutions"); }
}  // namespace

SparseLinear::SparseLinear(CsrMatrix, std::vector<float>, SparseLinearOptions) { unavailable(); }
SparseLinear::~SparseLinear() = default;
SparseLinear::SparseLinear(SparseLinear&&) noexcept = default;
SparseLinear& SparseLinear::operator=(SparseLinear&&) noexcept = default;
int64_t SparseLinear::rows() const { unavailable(); }
int64_t SparseLinear::cols() const { unavailable(); }
const CsrMatrix& SparseLinear::weights() const { unavailable(); }
const std::vector<float>& SparseLinear::bias() const { unavailable(); }
const SparseLinearOptions& SparseLinear::options() const { unavailable(); }
void SparseLinear::prepare(int64_t) { unavailable(); }
void SparseLinear::forward(const float*, float*, int64_t, void*) { unavailable(); }
void SparseLinear::forward_generic(const float*, float*, int64_t, void*) const { unavailable(); }
const SparseLinearReport& SparseLinear::report() const { unavailable(); }
std::vector<float> SparseLinear::forward_host(const std::vector<float>&, int64_t, bool) { unavailable(); }
std::vector<double> precompile_sparse_linears(const std::vector<PrecompileLayer>&, int, const SparseLinearOptions&, unsigned,
                                              const std::function<void(size_t, size_t)>&) {
  unavailable();
}
int current_gpu_arch() { unavailable(); }

SparseConv2d::SparseConv2d(CsrMatrix w, std::vector<float> bias, Conv2dShape filter, SparseLinearOptions options) {
  codegen::checked_conv2d_filter(w, bias, filter, options.config);  // bad input is reported as such first
  conv_unavailable();
}
SparseConv2d::~SparseConv2d() = default;
SparseConv2d::SparseConv2d(SparseConv2d&&) noexcept = default;
SparseConv2d& SparseConv2d::operator=(SparseConv2d&&) noexcept = default;
const Conv2dShape& SparseConv2d::filter() const { conv_unavailable(); }
const CsrMatrix& SparseConv2d::weights() const { conv_unavailable(); }
const std::vector<float>& SparseConv2d::bias() const { conv_unavailable(); }
const SparseLinearOptions& SparseConv2d::options() const { conv_unavailable(); }
Conv2dShape SparseConv2d::shape(int64_t, int64_t, int64_t) const { conv_unavailable(); }
void SparseConv2d::prepare(int64_t, int64_t, int64_t) { conv_unavailable(); }
void SparseConv2d::forward(const float*, float*, int64_t, int64_t, int64_t, void*) { conv_unavailable(); }
void SparseConv2d::forward_generic(const float*, float*, int64_t, int64_t, int64_t, void*) const { conv_unavailable(); }
std::vector<float> SparseConv2d::forward_host(const std::vector<float>&, int64_t, int64_t, int64_t, bool) { conv_unavailable(); }
const SparseLinearReport& SparseConv2d::report() const { conv_unavailable(); }
size_t precompile_layers(const std::vector<LayerSizes>& layers, unsigned, const std::function<void(size_t, size_t)>&) {
  if (layers.empty()) return 0;  // nothing to compile, as in a GPU build
  conv_unavailable();
}
std::vector<double> precompile_sparse_conv2ds(const std::vector<PrecompileConv2d>&, int, const SparseLinearOptions&, unsigned,
                                              const std::function<void(size_t, size_t)>&) {
  conv_unavailable();
}

}  // namespace spdnn
