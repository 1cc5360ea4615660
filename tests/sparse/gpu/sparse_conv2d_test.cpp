// SparseConv2d on the GPU against the float64 direct convolution: seeded random filters of odd shapes
// (C, K not multiples of 32; 1, 7, 13 and 56 pixel images; stride 1 and 2; padding 0 and 1; dilation 2;
// an empty filter and a single nonzero; K split within a block and over a cluster), generated (unsplit) and generic kernels
// bit for bit alike, several input
// sizes on one layer, CUDA-graph capture, the fallbacks, and the real pruned ResNet-50 filters. Skipped,
// visibly, without a usable CUDA device.
#include <gtest/gtest.h>

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <cstring>
#include <random>

#include "cuda/device.hpp"
#include "cuda/device_buffer.hpp"
#include "spdnn/error.hpp"
#include "spdnn/matrix_io.hpp"
#include "spdnn/sparse/conv2d.hpp"
#include "spdnn/sparse/sparse_conv2d.hpp"
#include "spdnn/sparse/sparse_linear.hpp"
#include "support/gpu_support.hpp"
#include "support/random_weights.hpp"
#include "support/sparse_layers.hpp"
#include "support/test_support.hpp"

namespace spdnn {
namespace {

using test::bitwise_equal, test::isolated, test::random_values;

struct Case {
  Conv2dShape shape;
  double density;
};

TEST(SparseConv2d, OddShapesMatchFloat64AndTheGenericKernelBitForBit) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  const Case cases[] = {{{1, 3, 7, 7, 5, 3, 3, 1, 1, 1}, 0.3},    {{2, 33, 13, 13, 17, 3, 3, 2, 1, 1}, 0.1},
                        {{1, 7, 1, 1, 9, 3, 3, 1, 1, 1}, 0.5},    {{3, 5, 13, 11, 3, 3, 3, 2, 0, 1}, 0.0},
                        {{1, 19, 56, 56, 35, 3, 3, 1, 1, 1}, 0.1}, {{2, 4, 9, 9, 6, 3, 3, 1, 2, 2}, 0.3},
                        {{2, 40, 14, 14, 70, 1, 1, 2, 0, 1}, 0.2}, {{1, 9, 7, 7, 45, 1, 1, 1, 0, 1}, 0.3}};
  for (size_t i = 0; i < std::size(cases); ++i) {
    const Conv2dShape& s = cases[i].shape;
    SCOPED_TRACE(to_string(s));
    const CsrMatrix w = test::random_weights(s.out_channels, s.filter_columns(), cases[i].density, static_cast<uint32_t>(i + 1));
    const std::vector<float> x = random_values(static_cast<size_t>(s.input_size()), static_cast<uint32_t>(100 + i));
    const std::vector<float> bias = random_values(static_cast<size_t>(s.out_channels), static_cast<uint32_t>(200 + i));
    for (bool relu : {false, true}) {
      SparseConv2d layer(w, i % 2 == 0 ? bias : std::vector<float>{}, s, isolated(dir, relu));
      const std::vector<float> y = layer.forward_host(x, s.batch, s.height, s.width);
      const std::vector<float> generic = layer.forward_host(x, s.batch, s.height, s.width, true);
      const auto want = conv2d_reference(s, w, x, i % 2 == 0 ? bias : std::vector<float>{}, relu);
      EXPECT_LE(max_relative_error(y, want), 1e-5) << layer.report().path << " " << layer.report().reason;
      EXPECT_LE(max_relative_error(generic, want), 1e-5);
      if (w.nnz() > 0) EXPECT_EQ(layer.report().path, "specialized") << layer.report().reason;
      if (slices_of(layer.report().config) == 1) EXPECT_TRUE(bitwise_equal(y, generic)) << "the same sums in the same order";
      // K split within a block (partial sums added in slice order: 2 and 4 slices), and 2 and 4 output rows
      // a thread (the same sums in the same order as one), also split.
      for (const KernelConfig config : {KernelConfig{.rows = 4, .threads = 128, .prefetch = 8, .block_slices = 2},
                                        KernelConfig{.rows = 8, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = 4},
                                        KernelConfig{.rows = 4, .cols = 2, .prefetch = 8}, KernelConfig{.rows = 8, .cols = 4, .prefetch = 8},
                                        KernelConfig{.rows = 4, .cols = 2, .threads = 128, .prefetch = 8, .block_slices = 2},
                                        KernelConfig{.rows = 8, .threads = 128, .cluster_slices = 4, .prefetch = 8},
                                        KernelConfig{.rows = 4, .cols = 2, .threads = 512, .cluster_slices = 2, .prefetch = 8, .bound = 512}}) {
        SparseLinearOptions fixed = isolated(dir, relu);
        fixed.config = config;
        SparseConv2d fixed_layer(w, i % 2 == 0 ? bias : std::vector<float>{}, s, fixed);
        const std::vector<float> got = fixed_layer.forward_host(x, s.batch, s.height, s.width);
        EXPECT_LE(max_relative_error(got, want), 1e-5) << to_string(config);
        if (slices_of(config) == 1) EXPECT_TRUE(bitwise_equal(got, generic)) << to_string(config);
      }
    }
  }
  const Conv2dShape one{2, 6, 8, 8, 4, 3, 3, 1, 1, 1};
  const CsrMatrix single = csr_from_triplets(4, 54, {{2, 40, 0.5f}}, "single nonzero");
  SparseConv2d layer(single, {}, one, isolated(dir, false));
  const std::vector<float> x(static_cast<size_t>(one.input_size()), 1.0f);
  EXPECT_LE(max_relative_error(layer.forward_host(x, 2, 8, 8), conv2d_reference(one, single, x, {}, false)), 0.0);
}

// Inline PTX (emit_conv2d_ptx.hpp) is the C++ form's code written out: the same sums in the same order, so
// the same bits, for whole groups, K split and several output rows a thread.
TEST(SparseConv2d, InlinePtxGivesTheCppFormsBits) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  const Conv2dShape shapes[] = {{2, 33, 13, 13, 17, 3, 3, 2, 1, 1}, {1, 19, 56, 56, 35, 3, 3, 1, 1, 1}, {2, 4, 9, 9, 6, 3, 3, 1, 2, 2}};
  for (size_t i = 0; i < std::size(shapes); ++i) {
    const Conv2dShape& s = shapes[i];
    SCOPED_TRACE(to_string(s));
    const CsrMatrix w = test::random_weights(s.out_channels, s.filter_columns(), 0.2, static_cast<uint32_t>(i + 31));
    const std::vector<float> x = random_values(static_cast<size_t>(s.input_size()), static_cast<uint32_t>(300 + i));
    const std::vector<float> bias = random_values(static_cast<size_t>(s.out_channels), static_cast<uint32_t>(400 + i));
    const auto want = conv2d_reference(s, w, x, bias, true);
    for (const KernelConfig config : {KernelConfig{.rows = 8, .prefetch = 32, .fixed_n = 1},
                                      KernelConfig{.rows = 8, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = 4, .fixed_n = 1},
                                      KernelConfig{.rows = 4, .cols = 2, .threads = 128, .prefetch = 8, .block_slices = 2},
                                      KernelConfig{.rows = 32, .threads = 512, .cluster_slices = 8, .prefetch = 32, .bound = 512, .fixed_n = 1}}) {
      SparseLinearOptions cpp = isolated(dir, true), ptx = isolated(dir, true);
      cpp.config = ptx.config = config;
      cpp.inline_ptx = false;
      ptx.inline_ptx = true;
      SparseConv2d a(w, bias, s, cpp), b(w, bias, s, ptx);
      const std::vector<float> ya = a.forward_host(x, s.batch, s.height, s.width);
      const std::vector<float> yb = b.forward_host(x, s.batch, s.height, s.width);
      EXPECT_EQ(b.report().path, "specialized") << b.report().reason;
      EXPECT_LE(max_relative_error(yb, want), 1e-5) << to_string(config);
      EXPECT_TRUE(bitwise_equal(ya, yb)) << to_string(config);
    }
  }
}

TEST(SparseConv2d, OneLayerServesSeveralInputSizes) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  Conv2dShape filter{1, 12, 1, 1, 20, 3, 3, 2, 1, 1};
  const CsrMatrix w = test::random_weights(20, 12 * 9, 0.2, 7);
  const std::vector<float> bias = random_values(20, 8);
  SparseConv2d layer(w, bias, filter, isolated(dir, true));
  for (auto [batch, h, wd] : {std::tuple{1, 13, 13}, {4, 7, 9}, {1, 13, 13}, {2, 1, 1}}) {
    const Conv2dShape s = layer.shape(batch, h, wd);
    const std::vector<float> x = random_values(static_cast<size_t>(s.input_size()), static_cast<uint32_t>(batch * h));
    EXPECT_LE(max_relative_error(layer.forward_host(x, batch, h, wd), conv2d_reference(s, w, x, bias, true)), 1e-5)
        << to_string(s);
  }
  EXPECT_EQ(layer.report().path, "specialized") << layer.report().reason;
}

TEST(SparseConv2d, FallsBackToTheGenericKernelWithAReason) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  const Conv2dShape s{2, 10, 9, 9, 12, 3, 3, 1, 1, 1};
  const CsrMatrix w = test::random_weights(12, 90, 0.3, 9);
  const std::vector<float> x = random_values(static_cast<size_t>(s.input_size()), 10);
  const auto want = conv2d_reference(s, w, x, {}, false);
  SparseLinearOptions off = isolated(dir, false);
  off.specialize = false;
  SparseLinearOptions small = isolated(dir, false);
  small.max_unrolled_nnz = 10;
  for (const SparseLinearOptions& o : {off, small}) {
    SparseConv2d layer(w, {}, s, o);
    EXPECT_LE(max_relative_error(layer.forward_host(x, 2, 9, 9), want), 1e-5);
    EXPECT_EQ(layer.report().path, "generic");
    EXPECT_FALSE(layer.report().reason.empty());
  }
  SparseLinearOptions fixed = isolated(dir, false);
  fixed.config = KernelConfig{.rows = 4, .block_groups = 2};
  EXPECT_EQ(test::error_from([&] { SparseConv2d(w, {}, s, fixed); }).code(), Errc::usage);
}

TEST(SparseConv2d, ASecondLayerLoadsItsKernelsFromTheCache) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  const Conv2dShape s{1, 16, 14, 14, 24, 3, 3, 1, 1, 1};
  const CsrMatrix w = test::random_weights(24, 144, 0.1, 11);
  const std::vector<float> x = random_values(static_cast<size_t>(s.input_size()), 12);
  SparseConv2d first(w, {}, s, isolated(dir, false));
  first.prepare(1, 14, 14);
  EXPECT_GT(first.report().modules_compiled, 0);
  SparseConv2d second(w, {}, s, isolated(dir, false));
  EXPECT_LE(max_relative_error(second.forward_host(x, 1, 14, 14), conv2d_reference(s, w, x, {}, false)), 1e-5);
  EXPECT_EQ(second.report().modules_compiled, 0);
  EXPECT_GT(second.report().cache_hits, 0);
  EXPECT_EQ(second.report().config, first.report().config);
}

// Layers of both kinds compiled together: their first calls then load every module from the cache.
TEST(SparseConv2d, PrecompiledLayersOnlyLoad) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  const Conv2dShape s{2, 12, 9, 9, 20, 3, 3, 1, 1, 1};
  const CsrMatrix wc = test::random_weights(20, 108, 0.2, 31), wl = test::random_weights(30, 20, 0.3, 32);
  SparseConv2d conv(wc, {}, s, isolated(dir, false));
  SparseLinear linear(wl, {}, isolated(dir, true));
  const size_t compiled = precompile_layers({{nullptr, &conv, {{2, 9, 9}, {1, 9, 9}}}, {&linear, nullptr, {{81, 0, 0}}}});
  EXPECT_GE(compiled, 2u);
  EXPECT_EQ(precompile_layers({{nullptr, &conv, {{2, 9, 9}}}}), 0u) << "all cached";
  conv.prepare(2, 9, 9);
  linear.prepare(81);
  EXPECT_EQ(conv.report().modules_compiled, 0);
  EXPECT_EQ(linear.report().modules_compiled, 0);
  EXPECT_GT(conv.report().cache_hits, 0);
  EXPECT_EQ(test::error_from([&] { precompile_layers({{&linear, &conv, {}}}); }).code(), Errc::usage);
}

TEST(SparseConv2d, ForwardIsCapturedIntoAGraphOncePrepared) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  const Conv2dShape s{2, 8, 10, 10, 8, 3, 3, 1, 1, 1};
  const CsrMatrix w = test::random_weights(8, 72, 0.3, 13);
  SparseConv2d layer(w, {}, s, isolated(dir, true));
  const std::vector<float> x = random_values(static_cast<size_t>(s.input_size()), 14);
  cuda::DeviceBuffer<float> x_d(x.size(), "test X"), y_d(static_cast<size_t>(s.output_size()), "test Y");
  ASSERT_EQ(cudaMemcpy(x_d.get(), x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
  const Error refused = test::error_from([&] { layer.forward(x_d.get(), y_d.get(), 2, 10, 10, stream); });
  EXPECT_EQ(refused.code(), Errc::usage);
  EXPECT_TRUE(test::says(refused, "prepare(2, 10, 10)")) << refused.what();
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess) << "the refusal broke the capture";
  cudaGraphDestroy(graph);

  layer.prepare(2, 10, 10);
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
  layer.forward(x_d.get(), y_d.get(), 2, 10, 10, stream);
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaMemset(y_d.get(), 0xff, y_d.size() * sizeof(float)), cudaSuccess);  // NaNs unless overwritten
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  std::vector<float> y(y_d.size());
  ASSERT_EQ(cudaMemcpy(y.data(), y_d.get(), y.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  EXPECT_LE(max_relative_error(y, conv2d_reference(s, w, x, {}, true)), 1e-5);
}

TEST(SparseConv2d, BadSizesAreErrors) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  const Conv2dShape s{1, 4, 8, 8, 6, 3, 3, 1, 0, 1};
  const CsrMatrix w = test::random_weights(6, 36, 0.5, 15);
  SparseConv2d layer(w, {}, s, isolated(dir, false));
  EXPECT_EQ(test::error_from([&] { layer.forward_host(std::vector<float>(10), 1, 8, 8); }).code(), Errc::mismatch);
  EXPECT_EQ(test::error_from([&] { layer.prepare(1, 2, 2); }).code(), Errc::usage) << "the filter is larger than the image";
  EXPECT_EQ(test::error_from([&] { layer.prepare(0, 8, 8); }).code(), Errc::usage);
}

// The real pruned ResNet-50 3x3 filters (SparseRT's authors) with their sample inputs, batch 1, padding 1.
TEST(SparseConv2d, RealResNet50FiltersMatchFloat64) {
  SPDNN_REQUIRE_GPU();
  SPDNN_REQUIRE_DATA(root, "sparsert/resnet50_3x3");
  test::TempDir dir;
  for (const char* sparsity : {"90", "95"})
    for (const char* bg : {"bg1", "bg2", "bg3"}) {
      SCOPED_TRACE(fmt::format("{} {}", sparsity, bg));
      const auto [s, w, input] = test::sparsert_filter(root, sparsity, bg);
      SparseConv2d layer(w, {}, s, isolated(dir, true));
      const std::vector<float> y = layer.forward_host(input, 1, s.height, s.width);
      EXPECT_LE(max_relative_error(y, conv2d_reference(s, w, input, {}, true)), 1e-5);
      EXPECT_EQ(layer.report().path, "specialized") << layer.report().reason;
      if (layer.report().config.block_slices == 1)
        EXPECT_TRUE(bitwise_equal(y, layer.forward_host(input, 1, s.height, s.width, true)));
    }
}

}  // namespace
}  // namespace spdnn
