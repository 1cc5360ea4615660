// The emitted sparse convolution (codegen/emit_conv2d.hpp) run on the GPU against the float64 direct
// convolution: seeded random filters of odd shapes and the real pruned ResNet-50 filters with their inputs,
// compiled by NVRTC, loaded and launched directly (sparse_conv2d_test.cpp tests the same through SparseConv2d). Skipped,
// visibly, without a usable CUDA device.
#include <gtest/gtest.h>

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <random>

#include "cuda/check.hpp"
#include "cuda/device.hpp"
#include "cuda/device_buffer.hpp"
#include "sparse/codegen/emit.hpp"
#include "sparse/codegen/emit_conv2d.hpp"
#include "sparse/codegen/nvrtc_compiler.hpp"
#include "spdnn/error.hpp"
#include "spdnn/matrix_io.hpp"
#include "spdnn/sparse/conv2d.hpp"
#include "spdnn/sparse/sparse_linear.hpp"
#include "support/gpu_support.hpp"
#include "support/random_weights.hpp"
#include "support/sparse_layers.hpp"
#include "support/test_support.hpp"

namespace spdnn {
namespace {

// Y from the emitted kernel for `config`, launched with `threads` a block.
std::vector<float> run_emitted(const Conv2dShape& s, const CsrMatrix& w, const std::vector<float>& bias, bool relu,
                               const std::vector<float>& x, const KernelConfig& config, int threads) {
  // Large filters as linked units, as SparseConv2d compiles them: one program of the real 90% filters
  // (59k nonzeros) took NVRTC minutes, which timed this test out on an H100.
  const codegen::CompiledModule m =
      w.nnz() <= 4096 ? codegen::compile_cuda(codegen::emit_sparse_conv2d(w, bias, relu, s, config), cuda::current_device_arch(), "conv.cu")
                      : codegen::compile_and_link_cuda(codegen::emit_sparse_conv2d_units(w, bias, relu, s, config, 4096),
                                                       cuda::current_device_arch(), "conv.cu", codegen::unit_compile_options(config));
  cudaLibrary_t library = nullptr;
  cudaKernel_t kernel = nullptr;
  SPDNN_CUDA_CHECK(cudaLibraryLoadData(&library, m.cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0));
  SPDNN_CUDA_CHECK(cudaLibraryGetKernel(&kernel, library, codegen::kConv2dKernelName));
  cuda::DeviceBuffer<float> dx, dy, zeros;
  dx.allocate(x.size(), "conv input");
  zeros.allocate(static_cast<size_t>(codegen::conv2d_zeros(s)), "conv zero padding");
  SPDNN_CUDA_CHECK(cudaMemset(zeros.get(), 0, zeros.size() * sizeof(float)));
  dy.allocate(static_cast<size_t>(s.output_size()), "conv output");
  SPDNN_CUDA_CHECK(cudaMemcpy(dx.get(), x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice));
  SPDNN_CUDA_CHECK(cudaMemset(dy.get(), 0xff, static_cast<size_t>(s.output_size()) * sizeof(float)));  // NaN: unwritten
  const int64_t pixels = s.batch * s.out_height() * s.out_width();
  cudaLaunchConfig_t launch{};
  launch.gridDim = dim3(static_cast<unsigned>((pixels + threads - 1) / threads),
                        static_cast<unsigned>(codegen::row_groups(config, s.out_channels)));
  launch.blockDim = dim3(static_cast<unsigned>(threads));
  const float* xp = dx.get();
  float* yp = dy.get();
  unsigned images = static_cast<unsigned>(s.batch);
  const float* zp = zeros.get();
  void* args[] = {&xp, &yp, &images, &zp};
  SPDNN_CUDA_CHECK(cudaLaunchKernelExC(&launch, reinterpret_cast<const void*>(kernel), args));
  std::vector<float> y(static_cast<size_t>(s.output_size()));
  SPDNN_CUDA_CHECK(cudaMemcpy(y.data(), dy.get(), y.size() * sizeof(float), cudaMemcpyDeviceToHost));
  SPDNN_CUDA_CHECK(cudaLibraryUnload(library));
  return y;
}

TEST(Conv2dEmittedGpu, OddShapesMatchFloat64) {
  SPDNN_REQUIRE_GPU();
  // C and K not multiples of 32; 1 x 1, 7 x 7, 13 x 13 and 56 x 56 images; stride 1 and 2; padding 0 and
  // 1; dilation 2; an empty filter and a single nonzero; a block wider than the pixels.
  const Conv2dShape shapes[] = {{1, 3, 7, 7, 5, 3, 3, 1, 1, 1},   {2, 33, 13, 13, 17, 3, 3, 2, 1, 1},
                                {1, 7, 1, 1, 9, 3, 3, 1, 1, 1},   {3, 5, 13, 11, 3, 3, 3, 2, 0, 1},
                                {1, 19, 56, 56, 35, 3, 3, 1, 1, 1}, {1, 4, 9, 9, 6, 3, 3, 1, 2, 2}};
  const double densities[] = {0.3, 0.1, 0.5, 0.0, 0.1, 0.3};
  for (size_t i = 0; i < std::size(shapes); ++i) {
    const Conv2dShape& s = shapes[i];
    SCOPED_TRACE(to_string(s));
    const CsrMatrix w = test::random_weights(s.out_channels, s.filter_columns(), densities[i], static_cast<uint32_t>(i + 1));
    std::mt19937 rng(static_cast<uint32_t>(100 + i));
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(s.input_size())), bias(static_cast<size_t>(s.out_channels));
    for (float& v : x) v = value(rng);
    for (float& b : bias) b = value(rng);
    for (int rows : {1, 4, 16})
      for (bool relu : {false, true}) {
        const std::vector<float> y = run_emitted(s, w, bias, relu, x, {.rows = rows, .prefetch = 8}, 128);
        EXPECT_LE(max_relative_error(y, conv2d_reference(s, w, x, bias, relu)), 1e-5) << "rows " << rows;
      }
  }
  const Conv2dShape one{2, 6, 8, 8, 4, 3, 3, 1, 1, 1};
  const CsrMatrix single = csr_from_triplets(4, 54, {{2, 40, 0.5f}}, "single nonzero");
  const std::vector<float> x(static_cast<size_t>(one.input_size()), 1.0f);
  EXPECT_LE(max_relative_error(run_emitted(one, single, {}, false, x, {.rows = 4}, 64), conv2d_reference(one, single, x, {}, false)), 0.0);
}

// The real pruned ResNet-50 3x3 filters (SparseRT's authors) with their sample inputs, batch 1, padding 1.
TEST(Conv2dEmittedGpu, RealResNet50FiltersMatchFloat64) {
  SPDNN_REQUIRE_GPU();
  SPDNN_REQUIRE_DATA(root, "sparsert/resnet50_3x3");
  for (const char* sparsity : {"90", "95"})
    for (const char* bg : {"bg1", "bg2", "bg3"}) {
      SCOPED_TRACE(fmt::format("{} {}", sparsity, bg));
      const auto [s, w, input] = test::sparsert_filter(root, sparsity, bg);
      const std::vector<double> want = conv2d_reference(s, w, input, {}, true);
      for (int rows : {8, 32})
        EXPECT_LE(max_relative_error(run_emitted(s, w, {}, true, input, {.rows = rows, .prefetch = 16}, 128), want), 1e-5)
            << "rows " << rows;
    }
}

}  // namespace
}  // namespace spdnn
