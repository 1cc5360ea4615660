// SparseLinear on the GPU against the float64 reference: seeded random matrices of odd shapes and
// sparsities, the real MobileNet weights, the kernel cache (second process, corrupted file) and the
// fallbacks. Skipped, visibly, without a usable CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cuda_runtime.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <random>
#include <tuple>

#include "cuda/device_buffer.hpp"
#include "sparse/cuda/generic_kernel.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/weights.hpp"
#include "spdnn/sparse/sparse_linear.hpp"
#include "support/gpu_support.hpp"
#include "support/random_weights.hpp"
#include "support/sparse_layers.hpp"
#include "support/test_support.hpp"

namespace spdnn {

namespace fs = std::filesystem;

namespace {

using test::isolated, test::random_values, test::random_weights;

// A random M x K layer without bias, an N-column input for it and the float64 answer.
struct LayerCase {
  CsrMatrix w;
  std::vector<float> x;
  std::vector<double> ref;
};
LayerCase layer_case(int64_t m, int64_t k, double density, uint64_t seed, int64_t n, bool relu) {
  LayerCase c{random_weights(m, k, density, seed), random_values(static_cast<size_t>(k * n), seed + 1), {}};
  c.ref = sparse_linear_reference(c.w, c.x, n, {}, relu);
  return c;
}


}  // namespace

struct RandomCase {
  int64_t m, k;
  double density;
  bool bias, relu;
};

class SparseLinearRandom : public ::testing::TestWithParam<RandomCase> {};

TEST_P(SparseLinearRandom, SpecializedAndGenericMatchFloat64) {
  SPDNN_REQUIRE_GPU();
  const RandomCase c = GetParam();
  test::TempDir dir;
  const CsrMatrix w = random_weights(c.m, c.k, c.density, static_cast<uint64_t>(c.m * 131 + c.k));
  const std::vector<float> bias = c.bias ? random_values(static_cast<size_t>(c.m), 9) : std::vector<float>{};
  SparseLinear layer(w, bias, isolated(dir, c.relu));
  for (int64_t n : {1, 7, 49, 256}) {
    const std::vector<float> x = random_values(static_cast<size_t>(c.k * n), static_cast<uint64_t>(n));
    const std::vector<double> ref = sparse_linear_reference(w, x, n, bias, c.relu);
    EXPECT_LE(max_relative_error(layer.forward_host(x, n), ref), 1e-5) << "specialized, N = " << n;
    EXPECT_LE(max_relative_error(layer.forward_host(x, n, true), ref), 1e-5) << "generic, N = " << n;
  }
  EXPECT_EQ(layer.report().path, "specialized") << layer.report().reason;
  EXPECT_EQ(layer.report().config.fixed_n, 1) << "by default N is compiled into each N's modules";
  // Modules that take N as an argument: one set serves every N.
  {
    SparseLinearOptions o = isolated(dir, c.relu);
    o.fixed_stride = false;
    SparseLinear by_argument(w, bias, o);
    for (int64_t n : {1, 7, 49, 256}) {
      const std::vector<float> x = random_values(static_cast<size_t>(c.k * n), static_cast<uint64_t>(n + 2));
      EXPECT_LE(max_relative_error(by_argument.forward_host(x, n), sparse_linear_reference(w, x, n, bias, c.relu)), 1e-5)
          << "N an argument, N = " << n;
    }
    EXPECT_EQ(by_argument.report().config.fixed_n, 0);
  }
  // By default the generic kernel competes in the tuning and wins only where it was timed faster.
  {
    SparseLinearOptions o = isolated(dir, c.relu);
    o.tune_against_generic = true;
    test::TempDir own;
    o.cache_dir = own.path();
    SparseLinear competing(w, bias, o);
    const std::vector<float> x = random_values(static_cast<size_t>(c.k * 49), 49);
    EXPECT_LE(max_relative_error(competing.forward_host(x, 49), sparse_linear_reference(w, x, 49, bias, c.relu)), 1e-5);
    const auto& tried = competing.report().tuning;
    const auto generic = std::find_if(tried.begin(), tried.end(), [](const auto& t) { return !t.config; });
    ASSERT_NE(generic, tried.end()) << "the generic kernel was timed";
    const bool generated_faster = std::any_of(tried.begin(), tried.end(), [&](const auto& t) {
      return t.config && t.microseconds <= generic->microseconds;
    });
    EXPECT_EQ(competing.report().path, generated_faster ? "specialized" : "generic") << competing.report().reason;
  }
  // Whatever the tuning picked: split K over clusters of 4 and of 8 blocks (2 columns per thread), and
  // within blocks; row groups within blocks; launch bounds of 512 and 1024 threads, blocks that wide
  // (ptxas may spill: still exact); tall groups of 64 and 128 rows (a last group cut short where M is not
  // a multiple); and several of these with N compiled in, which one layer then compiles once per N.
  for (const KernelConfig config : {KernelConfig{.rows = 16, .cluster_slices = 4},
                                    KernelConfig{.rows = 8, .cols = 2, .threads = 256, .cluster_slices = 8},
                                    KernelConfig{.rows = 16, .threads = 32, .cluster_slices = 4},
                                    KernelConfig{.rows = 8, .cols = 2, .threads = 64, .cluster_slices = 8},
                                    KernelConfig{.rows = 16, .threads = 32},
                                    KernelConfig{.rows = 4, .cols = 4, .threads = 64},
                                    KernelConfig{.rows = 32, .threads = 512, .bound = 512},
                                    KernelConfig{.rows = 16, .cols = 2, .threads = 1024, .bound = 1024},
                                    KernelConfig{.rows = 8, .threads = 1024, .cluster_slices = 4, .bound = 1024},
                                    KernelConfig{.rows = 64}, KernelConfig{.rows = 128, .threads = 64},
                                    KernelConfig{.rows = 64, .cols = 2, .threads = 256, .prefetch = 32},
                                    KernelConfig{.rows = 32, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = 4},
                                    KernelConfig{.rows = 16, .cols = 2, .threads = 256, .prefetch = 8, .block_slices = 2},
                                    KernelConfig{.rows = 8, .threads = 512, .bound = 1024, .block_slices = 8},
                                    KernelConfig{.rows = 64, .threads = 256, .prefetch = 32, .bound = 512, .block_slices = 4},
                                    KernelConfig{.rows = 8, .threads = 512, .prefetch = 32, .bound = 512, .block_groups = 4},
                                    KernelConfig{.rows = 16, .cols = 2, .threads = 256, .block_groups = 2},
                                    KernelConfig{.rows = 4, .threads = 1024, .prefetch = 8, .bound = 1024, .block_groups = 8},
                                    KernelConfig{.rows = 16, .cluster_slices = 4, .fixed_n = 1},
                                    KernelConfig{.rows = 4, .cols = 4, .threads = 64, .fixed_n = 1},
                                    KernelConfig{.rows = 32, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = 4, .fixed_n = 1},
                                    KernelConfig{.rows = 8, .threads = 512, .prefetch = 32, .bound = 512, .block_groups = 4, .fixed_n = 1},
                                    KernelConfig{.rows = 64, .cols = 2, .threads = 256, .prefetch = 32, .fixed_n = 1},
                                    KernelConfig{.rows = 16, .threads = 1024, .prefetch = 16, .bound = 1024, .block_slices = 8, .fixed_n = 1},
                                    KernelConfig{.rows = 32, .prefetch = 32, .fixed_n = 1},
                                    KernelConfig{.rows = 8, .threads = 256, .cluster_slices = 2, .fixed_n = 1},
                                    KernelConfig{.rows = 16, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = 4}}) {
    SparseLinearOptions o = isolated(dir, c.relu);
    o.config = config;
    SparseLinear split(w, bias, o);
    for (int64_t n : {1, 8, 50, 256}) {
      if (n % config.cols != 0) continue;
      const std::vector<float> x = random_values(static_cast<size_t>(c.k * n), static_cast<uint64_t>(n + 1));
      const std::vector<double> ref = sparse_linear_reference(w, x, n, bias, c.relu);
      EXPECT_LE(max_relative_error(split.forward_host(x, n), ref), 1e-5)
          << to_string(config) << ", N = " << n;
    }
    EXPECT_EQ(split.report().config, config) << "the fixed configuration ran, block width included";
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, SparseLinearRandom,
                         ::testing::Values(RandomCase{1, 1, 1.0, false, false},     // a single nonzero
                                           RandomCase{37, 53, 0.5, true, true},     // odd shape, 50%
                                           RandomCase{64, 256, 0.1, false, true},   // ResNet-like, 90%
                                           RandomCase{200, 77, 0.01, true, false},  // 99%: many empty rows
                                           RandomCase{130, 300, 0.05, true, true},  // 95%
                                           RandomCase{9, 40, 0.0, true, true}),     // no nonzeros at all
                         [](const ::testing::TestParamInfo<RandomCase>& info) {
                           const RandomCase& c = info.param;
                           return fmt::format("m{}_k{}_density{}{}{}", c.m, c.k, static_cast<int>(c.density * 100),
                                              c.bias ? "_bias" : "", c.relu ? "_relu" : "");
                         });

TEST(SparseLinear, RealMobileNetWeights) {
  SPDNN_REQUIRE_GPU();
  SPDNN_REQUIRE_DATA(weights, "sparsert/mobilenet/contraction_1x1_3.npy.gz");
  SPDNN_REQUIRE_DATA(bias_file, "sparsert/mobilenet/contraction_1x1_3_bias.npy.gz");
  const CsrMatrix w = io::npy_to_csr(io::read_npy(weights), weights.string());
  const std::vector<float> bias = io::read_npy(bias_file).data;
  test::TempDir dir;
  SparseLinear layer(w, bias, isolated(dir, true));
  for (int64_t n : {196, 784}) {
    const std::vector<float> x = random_values(static_cast<size_t>(w.cols * n), 3);
    EXPECT_LE(max_relative_error(layer.forward_host(x, n), sparse_linear_reference(w, x, n, bias, true)), 1e-5) << n;
  }
  EXPECT_EQ(layer.report().path, "specialized") << layer.report().reason;
}

TEST(SparseLinear, CacheServesASecondLayerAndRebuildsACorruptedFile) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  const auto [w, x, ref] = layer_case(48, 96, 0.1, 4, 64, true);
  {
    SparseLinear first(w, {}, isolated(dir, true));
    EXPECT_LE(max_relative_error(first.forward_host(x, 64), ref), 1e-5);
    EXPECT_GE(first.report().modules_compiled, 1);
  }
  SparseLinear second(w, {}, isolated(dir, true));
  EXPECT_LE(max_relative_error(second.forward_host(x, 64), ref), 1e-5);
  EXPECT_EQ(second.report().modules_compiled, 0);
  EXPECT_GE(second.report().cache_hits, 2) << "the tuning record and the chosen module";

  for (const auto& entry : fs::directory_iterator(dir.path()))
    if (entry.path().extension() == ".cubin") {
      std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(100);
      f.put('\x5a');
      f.put('\xa5');
    }
  SparseLinear third(w, {}, isolated(dir, true));
  EXPECT_LE(max_relative_error(third.forward_host(x, 64), ref), 1e-5);
  EXPECT_EQ(third.report().modules_compiled, 1) << "the corrupted module is rebuilt";
  ASSERT_FALSE(third.report().notes.empty());
  EXPECT_NE(third.report().notes.front().find("rebuilt"), std::string::npos) << third.report().notes.front();
}

TEST(SparseLinear, SecondProcessLoadsInsteadOfCompiling) {
  SPDNN_REQUIRE_GPU();
  SPDNN_REQUIRE_DATA(matrix, "dlmc/rn50/magnitude_pruning/0.95/bottleneck_1_block_group1_1_1.smtx.gz");
  test::TempDir dir;
  auto run = [&](const std::string& json) {
    return test::shell(fmt::format("{} sparse run --matrix {} --n 3136 --relu --cache-dir {} --json {}", SPDNN_CLI_PATH,
                                   matrix.string(), dir.path().string(), (dir / json).string()));
  };
  const auto first = run("first.json");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto second = run("second.json");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  const auto a = nlohmann::json::parse(std::ifstream(dir / "first.json"));
  const auto b = nlohmann::json::parse(std::ifstream(dir / "second.json"));
  EXPECT_EQ(a["kernel"]["path"], "specialized");
  EXPECT_GE(a["kernel"]["modules_compiled"].get<int>(), 1);
  EXPECT_EQ(b["kernel"]["modules_compiled"].get<int>(), 0) << second.output;
  EXPECT_GE(b["kernel"]["cache_hits"].get<int>(), 2);
  EXPECT_TRUE(b["passed"].get<bool>());
}

TEST(SparseLinear, FallsBackToTheGenericKernelWithAReason) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  const auto [w, x, ref] = layer_case(33, 65, 0.2, 6, 50, false);

  SparseLinearOptions broken = isolated(dir, false);
  broken.compiler_options = {"--no-such-nvrtc-option"};
  SparseLinear a(w, {}, broken);
  EXPECT_LE(max_relative_error(a.forward_host(x, 50), ref), 1e-5);
  EXPECT_EQ(a.report().path, "generic");
  EXPECT_NE(a.report().reason.find("code generation failed"), std::string::npos) << a.report().reason;

  SparseLinearOptions small = isolated(dir, false);
  small.max_unrolled_nnz = 10;
  SparseLinear b(w, {}, small);
  EXPECT_LE(max_relative_error(b.forward_host(x, 50), ref), 1e-5);
  EXPECT_NE(b.report().reason.find("unroll limit"), std::string::npos) << b.report().reason;

  SparseLinearOptions load_only = isolated(dir, false);
  load_only.cache = KernelCacheMode::load_only;
  test::TempDir empty;
  load_only.cache_dir = empty.path();
  SparseLinear c(w, {}, load_only);
  EXPECT_LE(max_relative_error(c.forward_host(x, 50), ref), 1e-5);
  EXPECT_EQ(c.report().path, "specialized");
  EXPECT_TRUE(fs::is_empty(empty.path())) << "load-only compiled in memory and wrote nothing";
}

// Untuned, a layer runs the generic kernel below kUntunedGenericBelowN columns (most lanes of a generated
// kernel would idle) and its first candidate from there on; a tuned layer still compiles and times.
TEST(SparseLinear, UntunedNarrowInputsTakeTheGenericKernel) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  SparseLinearOptions untuned = isolated(dir, true);
  untuned.tune = false;
  for (int64_t n : {int64_t{1}, int64_t{8}, kUntunedGenericBelowN - 1, kUntunedGenericBelowN}) {
    const auto [w, x, ref] = layer_case(70, 300, 0.1, 8, n, true);
    SparseLinear layer(w, {}, untuned);
    EXPECT_LE(max_relative_error(layer.forward_host(x, n), ref), 1e-5) << "N = " << n;
    const bool narrow = n < kUntunedGenericBelowN;
    EXPECT_EQ(layer.report().path, narrow ? "generic" : "specialized") << "N = " << n << ": " << layer.report().reason;
    if (narrow) EXPECT_NE(layer.report().reason.find("untuned at N = "), std::string::npos) << layer.report().reason;
  }
  const auto [w, x, ref] = layer_case(70, 300, 0.1, 8, 8, true);
  SparseLinear tuned(w, {}, isolated(dir, true));
  EXPECT_LE(max_relative_error(tuned.forward_host(x, 8), ref), 1e-5);
  EXPECT_EQ(tuned.report().path, "specialized") << tuned.report().reason;
}

// The linear layers' inline-PTX form (the default) gives the C++ form's bits: whole groups, K split within a block and over a cluster, one program and (over 32768
// nonzeros) linked units.
TEST(SparseLinear, InlinePtxGivesTheCppFormsBits) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  for (const auto& [m, k, n] : {std::tuple{int64_t{70}, int64_t{300}, int64_t{49}}, std::tuple{int64_t{300}, int64_t{1200}, int64_t{196}}}) {
    const auto [w, x, ref] = layer_case(m, k, 0.1, 21, n, true);
    for (const KernelConfig config : {KernelConfig{.rows = 8, .prefetch = 32, .fixed_n = 1},
                                      KernelConfig{.rows = 16, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = 4, .fixed_n = 1},
                                      KernelConfig{.rows = 8, .threads = 256, .cluster_slices = 2, .prefetch = 8, .fixed_n = 1}}) {
      SparseLinearOptions o = isolated(dir, true);
      o.config = config;
      o.inline_ptx = false;
      SparseLinear cpp(w, {}, o);
      const std::vector<float> y_cpp = cpp.forward_host(x, n);
      o.inline_ptx = true;
      SparseLinear ptx(w, {}, o);
      const std::vector<float> y_ptx = ptx.forward_host(x, n);
      EXPECT_EQ(ptx.report().path, "specialized") << ptx.report().reason;
      EXPECT_EQ(ptx.report().modules_compiled, 1) << "its own module, not the C++ form's";
      EXPECT_LE(max_relative_error(y_ptx, ref), 1e-5) << to_string(config) << ", " << m << " x " << k;
      EXPECT_TRUE(test::bitwise_equal(y_cpp, y_ptx)) << to_string(config) << ", " << m << " x " << k;
    }
  }
}

// Above 32768 nonzeros the kernel is compiled as separate units and linked: same answers.
TEST(SparseLinear, LargeMatricesCompileInLinkedUnits) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  const auto [w, x, ref] = layer_case(300, 400, 0.3, 12, 49, true);
  ASSERT_GT(w.nnz(), 32768);
  for (const int slices : {1, 2}) {
    SparseLinearOptions o = isolated(dir, true);
    o.config = KernelConfig{.rows = 32, .threads = 64, .cluster_slices = slices};
    SparseLinear layer(w, {}, o);
    EXPECT_LE(max_relative_error(layer.forward_host(x, 49), ref), 1e-5) << slices << " K slices";
    EXPECT_EQ(layer.report().path, "specialized") << layer.report().reason;
  }
}

// The generic kernel: up to 512 columns, long rows shared among the warps of a block with 1, 2 or 4
// adjacent columns per lane (by N and by the alignment of X and Y), two columns 32 apart from 33 to 64;
// above 512, one thread per output. Rows of 0 to about 2700 nonzeros, N on both sides of each threshold,
// and pointers one float off alignment.
TEST(SparseLinear, GenericKernelSplitsLongRowsAtAnyWidthAndAlignment) {
  SPDNN_REQUIRE_GPU();
  std::mt19937_64 rng(23);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  const int64_t m = 300, k = 3000;
  std::vector<Triplet> t;
  for (int32_t r = 0; r < m; ++r) {
    // Every 37th row 90% full (eight pieces of ~340), every 11th empty, the rest 0..79 nonzeros.
    const double density = r % 37 == 0 ? 0.9 : r % 11 == 0 ? 0.0 : static_cast<double>(rng() % 80) / k;
    for (int32_t c = 0; c < k; ++c)
      if (std::generate_canonical<double, 53>(rng) < density) t.push_back({r, c, value(rng)});
  }
  const CsrMatrix w = csr_from_triplets(m, k, std::move(t), "lopsided rows");
  const std::vector<float> bias = random_values(static_cast<size_t>(m), 5);
  SparseLinearOptions o;
  o.specialize = false;
  o.cache = KernelCacheMode::off;
  o.relu = true;
  SparseLinear layer(w, bias, o);
  for (int64_t n : {1, 32, 33, 49, 64, 65, 130, 255, 256, 258, 392, 512, 513, 1000}) {
    const std::vector<float> x = random_values(static_cast<size_t>(k * n), static_cast<uint64_t>(n) + 40);
    EXPECT_LE(max_relative_error(layer.forward_host(x, n), sparse_linear_reference(w, x, n, bias, true)), 1e-5) << "N = " << n;
  }
  EXPECT_EQ(layer.report().path, "generic");

  const int64_t n = 256;
  const std::vector<float> x = random_values(static_cast<size_t>(k * n), 77);
  cuda::DeviceBuffer<float> x_buffer(x.size() + 1, "test X"), y_buffer(static_cast<size_t>(m * n + 1), "test Y");
  float *x_d = x_buffer.get(), *y_d = y_buffer.get();
  EXPECT_TRUE(cuda::generic_strategy(x_d, y_d, k, 1000).row_split == false);
  EXPECT_TRUE(cuda::generic_strategy(x_d, y_d, int64_t{1} << 24, 256).row_split == false) << "32-bit offsets into X";
  EXPECT_EQ(cuda::generic_strategy(x_d, y_d, k, 258).columns_per_lane, 2);
  EXPECT_EQ(cuda::generic_strategy(x_d, y_d, k, 33).strides, 2);
  EXPECT_EQ(cuda::generic_strategy(x_d, y_d, k, 64).strides, 2);
  EXPECT_EQ(cuda::generic_strategy(x_d, y_d, k, 65).strides, 1);
  EXPECT_EQ(cuda::generic_strategy(x_d, y_d, k, n).columns_per_lane, 4);
  EXPECT_EQ(cuda::generic_strategy(x_d + 1, y_d + 1, k, n).columns_per_lane, 1) << "X and Y one float off alignment";
  ASSERT_EQ(cudaMemcpy(x_d + 1, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  layer.forward(x_d + 1, y_d + 1, n);
  std::vector<float> y(static_cast<size_t>(m * n));
  ASSERT_EQ(cudaMemcpy(y.data(), y_d + 1, y.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_LE(max_relative_error(y, sparse_linear_reference(w, x, n, bias, true)), 1e-5) << "unaligned";
}

// Layers launched back to back with programmatic dependent launch (the default), ping-ponging between
// two buffers, so that each call reads what the previous one wrote and overwrites what it read: a
// generated kernel with split K (a cluster launch as well), the generic kernel at both of its widths,
// and a tuned generated kernel, on a stream of their own and on the default stream, against float64
// layer by layer (each layer's answer rounded to float, as the GPU stores it).
TEST(SparseLinear, DependentLaunchesWaitForThePreviousLayer) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  const int64_t size = 192;
  std::vector<CsrMatrix> w;
  std::vector<std::vector<float>> bias;
  for (uint64_t i = 0; i < 3; ++i) {
    w.push_back(random_weights(size, size, 0.08, 90 + i));
    bias.push_back(random_values(static_cast<size_t>(size), 95 + i));
  }
  SparseLinearOptions split = isolated(dir, true), generic = isolated(dir, true), tuned = isolated(dir, true);
  split.config = KernelConfig{.rows = 16, .cluster_slices = 4};
  generic.specialize = false;
  std::vector<SparseLinear> layers;
  layers.emplace_back(w[0], bias[0], split);
  layers.emplace_back(w[1], bias[1], generic);
  layers.emplace_back(w[2], bias[2], tuned);
  for (int64_t n : {49, 600}) {
    for (auto& l : layers) l.prepare(n);
    for (bool own_stream : {true, false}) {
      const std::vector<float> x = random_values(static_cast<size_t>(size * n), static_cast<uint64_t>(n) + 3);
      cuda::DeviceBuffer<float> p(x.size(), "test P"), q(x.size(), "test Q");
      ASSERT_EQ(cudaMemcpy(p.get(), x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
      cudaStream_t stream = nullptr;
      if (own_stream) ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
      std::vector<float> expected = x;
      float *in = p.get(), *out = q.get();
      for (int step = 0; step < 9; ++step) {
        const size_t l = static_cast<size_t>(step % 3);
        layers[l].forward(in, out, n, stream);
        const std::vector<double> ref = sparse_linear_reference(w[l], expected, n, bias[l], true);
        std::transform(ref.begin(), ref.end(), expected.begin(), [](double v) { return static_cast<float>(v); });
        std::swap(in, out);
      }
      std::vector<float> y(x.size());
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      ASSERT_EQ(cudaMemcpy(y.data(), in, y.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
      if (own_stream) cudaStreamDestroy(stream);
      EXPECT_LE(max_relative_error(y, std::vector<double>(expected.begin(), expected.end())), 1e-5)
          << "N = " << n << (own_stream ? ", own stream" : ", default stream");
    }
  }
  EXPECT_EQ(layers[0].report().path, "specialized") << layers[0].report().reason;
  EXPECT_EQ(layers[0].report().config.cluster_slices, 4);
  EXPECT_EQ(layers[1].report().path, "generic");
  EXPECT_EQ(layers[2].report().path, "specialized") << layers[2].report().reason;
}

// A user's CUDA graph: a first forward() for an N inside a capture is refused (choosing its kernel needs
// calls a capture forbids) and leaves the capture usable; once prepared, a generated layer and a generic
// one (which has nothing to choose, so needs no prepare) capture, and the replayed graph gives float64's
// answer for the two layers in a row.
TEST(SparseLinear, ForwardIsCapturedIntoAGraphOncePrepared) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  const int64_t m = 96, k = 80, n = 45;
  const CsrMatrix w1 = random_weights(m, k, 0.1, 61), w2 = random_weights(k, m, 0.2, 62);
  const std::vector<float> b1 = random_values(static_cast<size_t>(m), 63), b2 = random_values(static_cast<size_t>(k), 64);
  SparseLinearOptions generic = isolated(dir, true);
  generic.specialize = false;
  SparseLinear first(w1, b1, isolated(dir, true)), second(w2, b2, generic);
  const std::vector<float> x = random_values(static_cast<size_t>(k * n), 65);
  cuda::DeviceBuffer<float> x_d(x.size(), "test X"), h_d(static_cast<size_t>(m * n), "test H"), y_d(x.size(), "test Y");
  ASSERT_EQ(cudaMemcpy(x_d.get(), x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  cudaGraph_t graph = nullptr;

  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
  try {
    first.forward(x_d.get(), h_d.get(), n, stream);
    ADD_FAILURE() << "a first forward() inside a capture was not refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::usage);
    EXPECT_NE(std::string(e.what()).find("prepare(45)"), std::string::npos) << e.what();
  }
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess) << "the refusal broke the capture";
  cudaGraphDestroy(graph);

  first.prepare(n);
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
  first.forward(x_d.get(), h_d.get(), n, stream);
  second.forward(h_d.get(), y_d.get(), n, stream);
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaMemset(y_d.get(), 0xff, x.size() * sizeof(float)), cudaSuccess);  // NaNs unless overwritten
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  std::vector<float> y(x.size());
  ASSERT_EQ(cudaMemcpy(y.data(), y_d.get(), y.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);

  const std::vector<double> h = sparse_linear_reference(w1, x, n, b1, true);
  const std::vector<double> ref = sparse_linear_reference(w2, std::vector<float>(h.begin(), h.end()), n, b2, true);
  EXPECT_LE(max_relative_error(y, ref), 1e-5);
  EXPECT_EQ(first.report().path, "specialized") << first.report().reason;
  EXPECT_EQ(second.report().path, "generic");
}

TEST(SparseLinear, BadSizesAreErrors) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  const CsrMatrix w = random_weights(8, 8, 0.5, 8);
  EXPECT_THROW(SparseLinear(w, std::vector<float>(7, 0.0f), isolated(dir, false)), Error);
  SparseLinear layer(w, {}, isolated(dir, false));
  EXPECT_THROW(layer.forward_host(std::vector<float>(10), 2), Error);
}

}  // namespace spdnn
