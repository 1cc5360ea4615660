// SparseConv2d's checks that need no GPU: a bad geometry, filter, bias or kernel configuration is an error
// of its own kind before any device is touched, and without a GPU (or in a build without CUDA) a valid
// layer is Error(unsupported) saying so. The layer's results are tested on the GPU
// (gpu/sparse_conv2d_test.cpp).
#include <gtest/gtest.h>

#include "spdnn/error.hpp"
#include "spdnn/sparse/sparse_conv2d.hpp"
#include "support/random_weights.hpp"
#include "support/test_support.hpp"
#ifdef SPDNN_HAVE_CUDA
#include "cuda/device.hpp"
#endif

namespace spdnn {
namespace {

const Conv2dShape kFilter{1, 4, 1, 1, 6, 3, 3, 1, 1, 1};  // 4 -> 6 channels, 3 x 3, padding 1

Errc construct(const CsrMatrix& w, std::vector<float> bias, Conv2dShape filter, SparseLinearOptions options = {}) {
  return test::error_from([&] { SparseConv2d(w, std::move(bias), filter, options); }).code();
}

TEST(SparseConv2dChecks, BadGeometryFilterBiasAndConfigComeFirst) {
  const CsrMatrix w = test::random_weights(6, 36, 0.5, 1);
  EXPECT_EQ(construct(test::random_weights(6, 35, 0.5, 1), {}, kFilter), Errc::mismatch) << "not K x C*R*S";
  EXPECT_EQ(construct(test::random_weights(5, 36, 0.5, 1), {}, kFilter), Errc::mismatch) << "K rows";
  EXPECT_EQ(construct(w, std::vector<float>(5, 0.0f), kFilter), Errc::mismatch) << "5 biases for 6 out-channels";
  Conv2dShape bad = kFilter;
  bad.stride = 0;
  EXPECT_EQ(construct(w, {}, bad), Errc::usage);
  bad = kFilter;
  bad.padding = -1;
  EXPECT_EQ(construct(w, {}, bad), Errc::usage);
  SparseLinearOptions split;
  split.config = KernelConfig{.rows = 4, .threads = 256, .block_groups = 2};
  EXPECT_EQ(construct(w, {}, kFilter, split), Errc::usage) << "the convolution emitter runs one row group a block";
}

TEST(SparseConv2dChecks, WithoutAGpuAValidLayerSaysSo) {
#ifdef SPDNN_HAVE_CUDA
  if (!cuda::why_no_cuda_device()) GTEST_SKIP() << "a GPU is present: gpu/sparse_conv2d_test.cpp covers the layer";
#endif
  const Error e = test::error_from([] { SparseConv2d(test::random_weights(6, 36, 0.5, 1), {}, kFilter); });
  EXPECT_EQ(e.code(), Errc::unsupported);
  EXPECT_TRUE(test::says(e, "GPU")) << e.what();
}

}  // namespace
}  // namespace spdnn
