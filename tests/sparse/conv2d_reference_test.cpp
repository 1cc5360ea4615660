// The sparse 3x3 convolution's CPU parts: the float64 direct reference against hand-computed cases and
// against an independent route (im2col, then the sparse linear reference) on seeded random filters of odd
// shapes and on the real pruned ResNet-50 filters; shape checks and their errors.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "spdnn/error.hpp"
#include "spdnn/matrix_io.hpp"
#include "spdnn/sparse/conv2d.hpp"
#include "spdnn/sparse/sparse_linear.hpp"
#include "support/random_weights.hpp"
#include "support/test_support.hpp"

namespace spdnn {
namespace {

std::vector<float> random_values(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(count));
  for (float& v : x) v = value(rng);
  return x;
}

// The convolution the other way: im2col, the sparse linear reference, then NCHW.
std::vector<double> through_im2col(const Conv2dShape& s, const CsrMatrix& w, const std::vector<float>& x,
                                   const std::vector<float>& bias, bool relu) {
  const std::vector<double> columns =
      sparse_linear_reference(w, im2col(s, x), s.batch * s.out_height() * s.out_width(), bias, relu);
  return nchw_from_columns(s, columns);
}

double max_difference(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

TEST(Conv2dReference, HandComputedThreeByThree) {
  // One channel, 3 x 3 input 1..9, padding 1, stride 1; the filter has two nonzeros: the centre (x 2)
  // and the top-left tap (x 1), which reads the pixel up and to the left.
  Conv2dShape s;
  s.height = s.width = 3, s.padding = 1;
  const CsrMatrix w = csr_from_triplets(1, 9, {{0, 0, 1.0f}, {0, 4, 2.0f}}, "w");
  const std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<double> y = conv2d_reference(s, w, x, {}, false);
  const std::vector<double> expected{2, 4, 6, 8, 10 + 1, 12 + 2, 14, 16 + 4, 18 + 5};
  EXPECT_EQ(y, expected);
  // Bias -11 and ReLU; stride 2 without padding leaves one output pixel: 2 * 5 + 1 - 11 = 0.
  EXPECT_EQ(conv2d_reference(s, w, x, {-11.0f}, true),
            (std::vector<double>{0, 0, 0, 0, 0, 3, 3, 9, 12}));
  s.padding = 0, s.stride = 2;
  EXPECT_EQ(conv2d_reference(s, w, x, {-11.0f}, false), std::vector<double>{0});
}

TEST(Conv2dReference, DilationReachesFartherAndTwoChannelsAdd) {
  // 2 channels of 5 x 5, a 3 x 3 filter with dilation 2 and no padding: one output pixel, the corners and
  // centre of each channel's 5 x 5. Tap (c=1, r=2, s=2) is channel 1's bottom-right pixel.
  Conv2dShape s;
  s.channels = 2, s.height = s.width = 5, s.dilation = 2;
  std::vector<float> x(50);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  const CsrMatrix w = csr_from_triplets(1, 18, {{0, 0, 1.0f}, {0, 9 + 8, 1.0f}}, "w");
  EXPECT_EQ(s.out_height(), 1);
  EXPECT_EQ(conv2d_reference(s, w, x, {}, false), std::vector<double>{0 + 49});
}

struct Case {
  int64_t batch, channels, height, width, out_channels, kernel, stride, padding, dilation;
  double density;
};

class Conv2dRoutes : public testing::TestWithParam<Case> {};

TEST_P(Conv2dRoutes, DirectEqualsIm2colThroughTheLinearReference) {
  const Case c = GetParam();
  Conv2dShape s{c.batch, c.channels, c.height, c.width, c.out_channels, c.kernel, c.kernel, c.stride, c.padding, c.dilation};
  const uint32_t seed = static_cast<uint32_t>(c.channels * 131 + c.height * 17 + c.stride);
  const CsrMatrix w = test::random_weights(s.out_channels, s.filter_columns(), c.density, seed);
  const std::vector<float> x = random_values(s.input_size(), seed + 1);
  const std::vector<float> bias = random_values(s.out_channels, seed + 2);
  for (bool relu : {false, true}) {
    const std::vector<double> direct = conv2d_reference(s, w, x, bias, relu);
    ASSERT_EQ(static_cast<int64_t>(direct.size()), s.output_size());
    // Both sum the same products in float64, in different orders: equal to rounding.
    EXPECT_LE(max_difference(direct, through_im2col(s, w, x, bias, relu)), 1e-12) << to_string(s);
  }
}

// Odd channel counts, 1 x 1 up to 56 x 56 images, stride 1 and 2, padding 0 and 1, dilation 2, an empty
// filter and a single nonzero.
INSTANTIATE_TEST_SUITE_P(OddShapes, Conv2dRoutes,
                         testing::Values(Case{1, 3, 7, 7, 5, 3, 1, 1, 1, 0.3}, Case{2, 33, 13, 13, 17, 3, 2, 1, 1, 0.1},
                                         Case{1, 7, 1, 1, 9, 3, 1, 1, 1, 0.5}, Case{3, 5, 13, 11, 3, 3, 2, 0, 1, 0.2},
                                         Case{1, 2, 56, 56, 3, 3, 1, 1, 1, 0.1}, Case{1, 4, 9, 9, 6, 3, 1, 2, 2, 0.3},
                                         Case{2, 6, 7, 7, 4, 1, 1, 0, 1, 0.5}, Case{1, 3, 7, 7, 5, 3, 1, 1, 1, 0.0},
                                         Case{1, 5, 8, 8, 4, 3, 2, 1, 1, 0.02}));

TEST(Conv2dReference, BadShapesAndSizesAreErrorsThatSayWhy) {
  Conv2dShape s;
  s.channels = 2, s.height = s.width = 4, s.out_channels = 3;
  const CsrMatrix w = csr_from_triplets(3, 18, {{0, 0, 1.0f}}, "w");
  const std::vector<float> x(32, 1.0f);
  EXPECT_NO_THROW(validate(s, w, &x));
  Conv2dShape bad = s;
  bad.stride = 0;
  EXPECT_EQ(test::error_from([&] { conv2d_reference(bad, w, x, {}, false); }).code(), Errc::usage);
  bad = s, bad.height = 2;  // a 3 x 3 filter on a 2 x 2 image without padding
  const Error e = test::error_from([&] { conv2d_reference(bad, w, std::vector<float>(16), {}, false); });
  EXPECT_EQ(e.code(), Errc::usage);
  EXPECT_NE(std::string(e.what()).find("larger than the padded input"), std::string::npos) << e.what();
  EXPECT_EQ(test::error_from([&] { conv2d_reference(s, w, std::vector<float>(31), {}, false); }).code(), Errc::mismatch);
  EXPECT_EQ(test::error_from([&] { conv2d_reference(s, w, x, {1.0f, 2.0f}, false); }).code(), Errc::mismatch);
  const CsrMatrix wrong = csr_from_triplets(3, 9, {}, "w");
  EXPECT_EQ(test::error_from([&] { conv2d_reference(s, wrong, x, {}, false); }).code(), Errc::mismatch);
}

// The real pruned ResNet-50 filters (SparseRT's authors, 90% and 95%) with their sample inputs, read as
// PyTorch's weight.reshape(K, C*9): shapes agree, and the two routes agree on the whole layer.
TEST(Conv2dReference, RealResNet50FiltersBothRoutes) {
  SPDNN_REQUIRE_DATA(dir, "sparsert/resnet50_3x3/95");
  for (const char* bg : {"bg1", "bg2"}) {
    SCOPED_TRACE(bg);
    const io::NpyArray filter = io::read_npy(dir / fmt::format("filter_{}.npy.gz", bg));
    const io::NpyArray input = io::read_npy(dir / fmt::format("input_{}.npy.gz", bg));
    ASSERT_EQ(filter.shape.size(), 2u);
    ASSERT_EQ(input.shape.size(), 3u);
    Conv2dShape s;
    s.channels = input.shape[0], s.height = input.shape[1], s.width = input.shape[2];
    s.out_channels = filter.shape[0], s.padding = 1;
    const CsrMatrix w = io::npy_to_csr(filter, bg);
    ASSERT_EQ(w.cols, s.filter_columns());
    EXPECT_NEAR(static_cast<double>(w.nnz()) / static_cast<double>(w.rows * w.cols), 0.04, 0.005);
    const std::vector<double> direct = conv2d_reference(s, w, input.data, {}, true);
    EXPECT_LE(max_difference(direct, through_im2col(s, w, input.data, {}, true)), 1e-9);
    EXPECT_GT(*std::max_element(direct.begin(), direct.end()), 0.0);  // not an all-zero layer
  }
}

}  // namespace
}  // namespace spdnn
