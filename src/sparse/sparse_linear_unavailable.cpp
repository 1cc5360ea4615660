// SparseLinear in a build without CUDA: every use is a clear error (the float64 reference still works).
#include "spdnn/error.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn {

struct SparseLinear::Impl {};

namespace {
[[noreturn]] void unavailable() {
  throw Error(Errc::unsupported, "sparse linear layers need a GPU build of spdnn (configure with SPDNN_ENABLE_CUDA=ON)");
}
}  // namespace

SparseLinear::SparseLinear(CsrMatrix, std::vector<float>, SparseLinearOptions) { unavailable(); }
SparseLinear::~SparseLinear() = default;
SparseLinear::SparseLinear(SparseLinear&&) noexcept = default;
SparseLinear& SparseLinear::operator=(SparseLinear&&) noexcept = default;
int64_t SparseLinear::rows() const { unavailable(); }
int64_t SparseLinear::cols() const { unavailable(); }
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

}  // namespace spdnn
