// The benchmark harness in a build without CUDA: every use is a clear error.
#include "harness/conv_bench.hpp"
#include "harness/sparse_bench.hpp"
#include "spdnn/error.hpp"

namespace spdnn {

namespace {
[[noreturn]] void unavailable() {
  throw Error(Errc::unsupported, "timing sparse layers needs a GPU build of spdnn (configure with SPDNN_ENABLE_CUDA=ON)");
}
}  // namespace

SparseBenchResult bench_sparse_linear(const CsrMatrix&, int64_t, const SparseBenchOptions&) { unavailable(); }
SparseBenchTiming time_sparse_linear(SparseLinear&, int64_t, int, int) { unavailable(); }
ConvBenchResult bench_sparse_conv2d(const CsrMatrix&, const Conv2dShape&, const SparseBenchOptions&) { unavailable(); }
SparseBenchTiming time_sparse_conv2d(SparseConv2d&, const Conv2dShape&, int, int) { unavailable(); }

}  // namespace spdnn
