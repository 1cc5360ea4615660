// The cuda engine against the reference engine (skipped, visibly, without a usable CUDA device).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <tuple>

#include "spdnn/challenge/engine.hpp"
#include "spdnn/error.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/io.hpp"
#include "support/test_support.hpp"

namespace spdnn {

namespace {

std::unique_ptr<Engine> cuda_or_skip_reason(std::string& why) {
  try {
    return make_engine("cuda");
  } catch (const std::exception& e) {
    why = e.what();
    return nullptr;
  }
}

#define SPDNN_REQUIRE_CUDA(engine)                                         \
  std::string engine##_why;                                                \
  auto engine = cuda_or_skip_reason(engine##_why);                         \
  if (!engine) GTEST_SKIP() << "no usable CUDA device: " << engine##_why

// Runs the cuda engine with `opt` and expects exactly the reference's categories, per-layer counts
// and final features.
void expect_same_as_reference(Engine& gpu, const Network& net, const Features& x, RunOptions opt,
                              bool expect_survivors = true) {
  opt.keep_features = true;
  RunResult want = make_engine("reference")->run(net, x, opt);
  RunResult got = gpu.run(net, x, opt);
  EXPECT_EQ(got.categories, want.categories);
  EXPECT_EQ(got.layers, want.layers);
  ASSERT_TRUE(got.features.has_value());
  EXPECT_EQ(*got.features, *want.features);
  if (expect_survivors) EXPECT_FALSE(want.categories.empty()) << "test problem too easy: nothing survives";
  ASSERT_TRUE(got.execution.has_value());
}

struct Case {
  int32_t neurons, layers, per_row;
  double density;
  int64_t inputs;
  bool random_values;
  double strength;  // weight scale: chosen (with the cpu engine) so that some inputs survive
};

class CudaVsReference : public testing::TestWithParam<Case> {};

// What every forced kernel shape runs: RadiX-Net 1024 x 25 on `digits` synthetic digits, and a random
// 777-neuron network with random values, whose merged input lists pad.
struct ShapeProblems {
  Network radix = radixnet_network({1024, 25, 7});
  Features x;
  Network random;
  Features rx = random_features(333, 777, 0.2, 22);
  explicit ShapeProblems(int64_t digits) : x(challenge_inputs(synthetic_digits(digits, 8), 1024).features) {
    RandomNetworkSpec spec;
    spec.neurons = 777, spec.layers = 12, spec.per_row = 20, spec.random_values = true, spec.bias = -0.3f, spec.seed = 21;
    spec.value = static_cast<float>(1.5 * 0.3 / (20 * 0.2));
    random = random_network(spec);
  }
};

}  // namespace

TEST_P(CudaVsReference, ExactCategoriesCountsAndFeatures) {
  SPDNN_REQUIRE_CUDA(gpu);
  const Case& c = GetParam();
  RandomNetworkSpec spec;
  spec.neurons = c.neurons, spec.layers = c.layers, spec.per_row = c.per_row, spec.random_values = c.random_values;
  spec.bias = -0.3f, spec.seed = 21;
  spec.value = static_cast<float>(c.strength * 0.3 / (c.per_row * c.density));
  Network net = random_network(spec);
  Features x = random_features(c.inputs, c.neurons, c.density, 22);
  if (c.random_values)  // inputs of several values: dense input rows (binary ones go as bits)
    for (size_t k = 0; k < x.matrix.values.size(); ++k) x.matrix.values[k] = 0.5f + static_cast<float>(k * 7919 % 1000) / 1000.0f;
  expect_same_as_reference(*gpu, net, x, {}, c.inputs > 1);
}

// N not a multiple of the 256-output tile, odd row counts, many chunks (N large with random columns).
INSTANTIATE_TEST_SUITE_P(Random, CudaVsReference,
                         testing::Values(Case{1000, 20, 32, 0.15, 500, false, 1.4}, Case{777, 12, 20, 0.2, 333, true, 1.5},
                                         Case{4096, 10, 32, 0.1, 200, false, 1.2}, Case{300, 30, 40, 0.2, 1, true, 1.7},
                                         Case{16384, 4, 32, 0.05, 50, true, 1.1}),
                         [](const testing::TestParamInfo<Case>& i) {
                           const Case& c = i.param;
                           return "N" + std::to_string(c.neurons) + "_L" + std::to_string(c.layers) + "_k" +
                                  std::to_string(c.per_row) + "_in" + std::to_string(c.inputs) +
                                  (c.random_values ? "_rand" : "_const");
                         });

TEST(CudaEngine, AllDieAndAllSaturate) {
  SPDNN_REQUIRE_CUDA(gpu);
  RandomNetworkSpec spec;
  spec.neurons = 500, spec.layers = 6, spec.per_row = 10, spec.value = 0.1f;
  Features x = random_features(100, 500, 0.2, 9);
  spec.bias = -100.f;
  RunResult dead = gpu->run(random_network(spec), x, {});
  EXPECT_TRUE(dead.categories.empty());
  EXPECT_EQ(dead.layers[0].active_inputs, 0);
  spec.bias = 100.f;
  expect_same_as_reference(*gpu, random_network(spec), x, {});
}

TEST(CudaEngine, RadixNetWithSyntheticDigits) {
  SPDNN_REQUIRE_CUDA(gpu);
  Network net = radixnet_network({4096, 40, 5});
  Features x = challenge_inputs(synthetic_digits(400, 6), 4096).features;
  expect_same_as_reference(*gpu, net, x, {});
}

TEST(CudaEngine, ForcedBatchingStreamingAndHalfWeights) {
  SPDNN_REQUIRE_CUDA(gpu);
  Network net = radixnet_network({1024, 25, 7});
  Features x = challenge_inputs(synthetic_digits(300, 8), 1024).features;
  RunOptions batched;
  batched.batch_inputs = 37;
  expect_same_as_reference(*gpu, net, x, batched);
  RunOptions streamed;
  streamed.stream_weights = true;
  expect_same_as_reference(*gpu, net, x, streamed);
  RunOptions both = batched;
  both.stream_weights = true;
  both.half_weights = true;
  expect_same_as_reference(*gpu, net, x, both);
  RunResult r = gpu->run(net, x, both);
  EXPECT_EQ(r.execution->batches, (300 + 36) / 37);
  EXPECT_TRUE(r.execution->weights_streamed);
  EXPECT_TRUE(r.execution->half_weights);
  EXPECT_TRUE(r.execution->half_weights_exact);  // 1/16 is exact in fp16
}

// Every instantiated layer kernel (SPDNN_LAYER_KERNEL forces one on every layer it fits): several outputs
// a thread over merged input lists, padded where the lists differ (random values, scattered columns),
// steps held in registers, also with batches and fp16 weights, and in structure mode.
TEST(CudaEngine, EveryKernelShapeMatchesTheReference) {
  SPDNN_REQUIRE_CUDA(gpu);
  const ShapeProblems problems(300);
  const auto& [radix, x, random, rx] = problems;
  const std::pair<const char*, const char*> shapes[] = {
      {"16,256,1", "16 rows x 256 threads x 1 output, 512-input chunks ("},
      {"16,256,1,512,32", "16 rows x 256 threads x 1 output, 32 steps in registers, 512-input chunks ("},
      {"16,1024,1,1024", "16 rows x 1024 threads x 1 output, 1024-input chunks ("},
      {"8,1024,1,4096", "8 rows x 1024 threads x 1 output, 4096-input chunks ("},
      {"4,1024,1,64", "4 rows x 1024 threads x 1 output, 64-input chunks ("},
      {"32,256,1", "32 rows x 256 threads x 1 output, 512-input chunks ("},
      {"16,128,1,512,32", "16 rows x 128 threads x 1 output, 32 steps in registers, 512-input chunks ("},
      {"16,128,2", "16 rows x 128 threads x 2 outputs"},
      {"16,64,4", "16 rows x 64 threads x 4 outputs"},
      {"16,256,4", "16 rows x 256 threads x 4 outputs"},
      {"8,128,4", "8 rows x 128 threads x 4 outputs"},
      {"32,64,2", "32 rows x 64 threads x 2 outputs"}};
  for (auto [shape, text] : shapes) {
    SCOPED_TRACE(shape);
    test::ScopedEnv force("SPDNN_LAYER_KERNEL", shape);
    RunOptions batched;
    batched.batch_inputs = 37;
    batched.half_weights = true;
    expect_same_as_reference(*gpu, radix, x, batched);
    expect_same_as_reference(*gpu, random, rx, {});
    RunOptions structure;
    structure.mode = Mode::structure;
    expect_same_as_reference(*gpu, radix, x, structure);
    const std::string kernel = gpu->run(radix, x, {}).execution->kernel;
    EXPECT_NE(kernel.find(text), std::string::npos) << kernel;
  }
  test::ScopedEnv bad("SPDNN_LAYER_KERNEL", "16,100,3");
  EXPECT_EQ(test::error_from([&] { gpu->run(radix, x, {}); }).code(), Errc::usage);
}

// Position-major features (SPDNN_LAYER_KERNEL=columns, or one feature-major shape, read directly or
// staged by bulk copies): the reference's answer, counts and features bit for bit on RadiX-Net (groups of
// 16) with batches, streamed and fp16 weights, on random networks of odd sizes (groups of 4 or single
// outputs, padded where lists differ), when every row dies, and past a RadiX-Net period at 16384 neurons;
// structure mode keeps its layout.
TEST(CudaEngine, FeatureMajorLayoutMatchesTheReference) {
  SPDNN_REQUIRE_CUDA(gpu);
  const ShapeProblems problems(1100);
  const auto& [radix, x, random, rx] = problems;
  const std::pair<const char*, const char*> shapes[] = {
      {"columns", "feature-major 64 rows x 256 threads x 16 outputs a group, 16 steps staged a warp (25 layers)"},
      {"columns,64,256,16", "feature-major 64 rows x 256 threads x 16 outputs a group (25 layers)"},
      {"columns,64,256,4", "feature-major 64 rows x 256 threads x 4 outputs a group (25 layers)"},
      {"columns,64,256,1", "feature-major 64 rows x 256 threads x 1 output a group (25 layers)"},
      {"columns,256,256,16", "feature-major 256 rows x 256 threads x 16 outputs a group (25 layers)"},
      {"columns,64,256,16,32", "feature-major 64 rows x 256 threads x 16 outputs a group, 32 positions held a warp (25 layers)"},
      {"columns,64,256,16,0,16", "feature-major 64 rows x 256 threads x 16 outputs a group, 16 steps staged a warp (25 layers)"},
      {"columns,64,256,4,0,16", "feature-major 64 rows x 256 threads x 4 outputs a group, 16 steps staged a warp (25 layers)"},
      {"columns,64,256,1,0,16", "feature-major 64 rows x 256 threads x 1 output a group, 16 steps staged a warp (25 layers)"}};
  for (auto [shape, text] : shapes) {
    SCOPED_TRACE(shape);
    test::ScopedEnv force("SPDNN_LAYER_KERNEL", shape);
    expect_same_as_reference(*gpu, radix, x, {});
    RunOptions batched;
    batched.batch_inputs = 537;  // rows past a 512-row pass, a short last batch
    batched.half_weights = true;
    expect_same_as_reference(*gpu, radix, x, batched);
    RunOptions streamed;
    streamed.stream_weights = true;
    expect_same_as_reference(*gpu, radix, x, streamed);
    expect_same_as_reference(*gpu, random, rx, {});
    // Binary inputs go to the first layer as bits unless SPDNN_INPUT_BITS=0.
    // RadiX-Net's weights are 1/16 and its bias negative: every layer multiply-adds with one rounding.
    EXPECT_EQ(gpu->run(radix, x, {}).execution->kernel,
              std::string(text) + "; fp32 weights, inputs as bits, exact fused multiply-adds (25 layers)");
    {
      test::ScopedEnv dense("SPDNN_INPUT_BITS", "0");  // the first layer's inputs unknown: rounded apart
      expect_same_as_reference(*gpu, radix, x, batched);
      EXPECT_EQ(gpu->run(radix, x, {}).execution->kernel,
                std::string(text) + "; fp32 weights, exact fused multiply-adds (24 layers)");
    }
    {
      test::ScopedEnv apart("SPDNN_EXACT_FMA", "0");
      expect_same_as_reference(*gpu, radix, x, {});
      EXPECT_EQ(gpu->run(radix, x, {}).execution->kernel.find("fused"), std::string::npos);
    }
    RunOptions structure;
    structure.mode = Mode::structure;
    expect_same_as_reference(*gpu, radix, x, structure);
    // Structure mode keeps its own kernels: sliced ELL after a feature-major first layer of its own.
    const std::string kernel = gpu->run(radix, x, structure).execution->kernel;
    EXPECT_TRUE(kernel.starts_with("sliced-ELL ")) << kernel;
    EXPECT_NE(kernel.find(", first layer feature-major 64 rows x 256 threads x "), std::string::npos) << kernel;
  }
  test::ScopedEnv force("SPDNN_LAYER_KERNEL", "columns");
  // Random columns pad too much in groups of 16 (padded_work): smaller groups.
  EXPECT_EQ(gpu->run(random, rx, {}).execution->kernel.find("16 outputs"), std::string::npos);
  RandomNetworkSpec dying;
  dying.neurons = 500, dying.layers = 6, dying.per_row = 10, dying.value = 0.1f, dying.bias = -100.f;
  const RunResult dead = gpu->run(random_network(dying), random_features(100, 500, 0.2, 9), {});
  EXPECT_TRUE(dead.categories.empty());
  EXPECT_EQ(dead.layers[0].active_inputs, 0);
  const Network wide = radixnet_network({16384, 14, 3});
  expect_same_as_reference(*gpu, wide, challenge_inputs(synthetic_digits(160, 5), 16384).features, {});
  test::ScopedEnv automatic("SPDNN_LAYER_KERNEL", "");  // the engine's choice: by the layers' size
  EXPECT_NE(gpu->run(wide, challenge_inputs(synthetic_digits(10, 5), 16384).features, {}).execution->kernel.find("feature-major"),
            std::string::npos);
  EXPECT_EQ(gpu->run(radix, x, {}).execution->kernel.find("feature-major"), std::string::npos);
  test::ScopedEnv bad("SPDNN_LAYER_KERNEL", "columns,64,256,3");
  EXPECT_EQ(test::error_from([&] { gpu->run(radix, x, {}); }).code(), Errc::usage);
}

// Inputs whose entries all have one value go to the first layer as bits when asked (SPDNN_INPUT_BITS=1):
// the same answer as dense rows, for the general and the register-holding kernels, and the report says
// which ran; inputs of two values stay dense.
TEST(CudaEngine, InputsAsBitsMatchDenseInputs) {
  SPDNN_REQUIRE_CUDA(gpu);
  const Network radix = radixnet_network({1024, 14, 5});
  Features x = challenge_inputs(synthetic_digits(300, 9), 1024).features;
  for (float& v : x.matrix.values) v = 1.5f;
  for (const char* shape : {"", "16,256,1,512,32"}) {
    SCOPED_TRACE(shape);
    test::ScopedEnv force("SPDNN_LAYER_KERNEL", shape);
    expect_same_as_reference(*gpu, radix, x, {});
    EXPECT_EQ(gpu->run(radix, x, {}).execution->kernel.find("bits"), std::string::npos);
    test::ScopedEnv bits("SPDNN_INPUT_BITS", "1");
    expect_same_as_reference(*gpu, radix, x, {});
    EXPECT_NE(gpu->run(radix, x, {}).execution->kernel.find(", inputs as bits"), std::string::npos);
  }
  test::ScopedEnv bits("SPDNN_INPUT_BITS", "1");
  x.matrix.values[5] = 0.5f;  // two values: dense
  expect_same_as_reference(*gpu, radix, x, {});
  EXPECT_EQ(gpu->run(radix, x, {}).execution->kernel.find("bits"), std::string::npos);
}

// Power-of-two weights of both signs and several exponents (cancelling sums) on a random network: fused
// multiply-adds give the reference's bits where the bias bounds the inputs from below (every layer), and
// with a zero bias only the first layer, whose binary inputs are known, fuses.
TEST(CudaEngine, FusedMultiplyAddsMatchTheReferenceWherePowersOfTwo) {
  SPDNN_REQUIRE_CUDA(gpu);
  test::ScopedEnv force("SPDNN_LAYER_KERNEL", "columns");
  RandomNetworkSpec spec;
  spec.neurons = 640, spec.layers = 10, spec.per_row = 24, spec.random_values = true, spec.bias = -0.3f, spec.seed = 31;
  spec.value = 0.2f;
  Network net = random_network(spec);
  for (CsrMatrix& w : net.layers)
    for (size_t k = 0; k < w.values.size(); ++k)  // +-2^-2 .. 2^-4, three in four positive
      w.values[k] = std::ldexp(k % 4 == 3 ? -1.0f : 1.0f, -2 - static_cast<int>(k * 7919 % 3));
  const Features x = random_features(900, 640, 0.15, 32);
  expect_same_as_reference(*gpu, net, x, {});
  EXPECT_NE(gpu->run(net, x, {}).execution->kernel.find("exact fused multiply-adds (10 layers)"), std::string::npos);
  net.bias = 0.0f;
  expect_same_as_reference(*gpu, net, x, {}, false);
  EXPECT_NE(gpu->run(net, x, {}).execution->kernel.find("exact fused multiply-adds (1 layer)"), std::string::npos);
  for (CsrMatrix& w : net.layers) w.values[0] = 0.3f;  // not a power of two: no layer fuses
  net.bias = -0.3f;
  expect_same_as_reference(*gpu, net, x, {}, false);
  EXPECT_EQ(gpu->run(net, x, {}).execution->kernel.find("fused"), std::string::npos);
}

TEST(CudaEngine, LayerTimesAreReportedWhenAsked) {
  SPDNN_REQUIRE_CUDA(gpu);
  const Network net = radixnet_network({1024, 12, 2});
  const Features x = challenge_inputs(synthetic_digits(200, 3), 1024).features;
  EXPECT_TRUE(gpu->run(net, x, {}).layer_seconds.empty());
  RunOptions opt;
  opt.layer_times = true;
  opt.batch_inputs = 90;  // three batches: each layer's time is their sum
  const RunResult r = gpu->run(net, x, opt);
  ASSERT_EQ(r.layer_seconds.size(), 12u);
  double sum = 0.0;
  for (double s : r.layer_seconds) EXPECT_GT(s, 0.0), sum += s;
  EXPECT_LE(sum, r.inference_s * 1.01);
}

TEST(CudaEngine, HalfWeightsThatRoundAreReported) {
  SPDNN_REQUIRE_CUDA(gpu);
  Network net = random_network({.neurons = 256, .layers = 3, .per_row = 8, .value = 0.1f, .random_values = true, .seed = 3});
  RunOptions opt;
  opt.half_weights = true;
  RunResult r = gpu->run(net, random_features(20, 256, 0.3, 4), opt);
  EXPECT_FALSE(r.execution->half_weights_exact);
}

TEST(CudaEngine, OfficialFirst1200Images) {
  SPDNN_REQUIRE_CUDA(gpu);
  SPDNN_REQUIRE_DATA(root, "graphchallenge");
  SPDNN_REQUIRE_DATA(images, "graphchallenge/sparse-images-1024-first1200.tsv.gz");
  Network net = io::load_network(root / "neuron1024", 0, 0, std::nullopt);
  Features x = io::read_images_tsv(images, 1024);
  const std::vector<int64_t> want = io::read_categories(root / "neuron1024-l120-categories-first1200.tsv.gz");
  const std::vector<LayerStats> layers = make_engine("reference")->run(net, x, {}).layers;
  // General mode, then structure mode plain, with rows alone and with the first layer as counts, then
  // general mode with rows alone (session 40's opt-in designs, on the official data).
  struct Setting {
    Mode mode;
    const char *row_tail, *first_layer;
  };
  for (const Setting s : {Setting{Mode::general, nullptr, nullptr}, Setting{Mode::structure, nullptr, nullptr},
                          Setting{Mode::structure, "2", "counts"}, Setting{Mode::structure, "8", nullptr},
                          Setting{Mode::general, "4", nullptr}}) {
    SCOPED_TRACE(testing::Message() << (s.mode == Mode::general ? "general" : "structure") << ", rows alone from "
                                    << (s.row_tail ? s.row_tail : "-") << ", first layer " << (s.first_layer ? s.first_layer : "-"));
    if (s.row_tail) setenv("SPDNN_ROW_TAIL", s.row_tail, 1);
    if (s.first_layer) setenv("SPDNN_FIRST_LAYER", s.first_layer, 1);
    RunOptions opt;
    opt.mode = s.mode;
    const RunResult r = gpu->run(net, x, opt);
    unsetenv("SPDNN_ROW_TAIL");
    unsetenv("SPDNN_FIRST_LAYER");
    EXPECT_EQ(r.categories, want);
    EXPECT_EQ(r.categories.size(), 19u);
    EXPECT_EQ(r.layers, layers);
  }
}

}  // namespace spdnn

namespace spdnn {

// A batch far beyond device memory: an error that names the allocation, not an abort, and the
// engine (and device) still work afterwards.
// Structure mode on the GPU: one output per group of equivalent neurons and equal rows merged, the
// reference's answer, counts and features bit for bit, also with forced batches, streamed weights and fp16
// weights, and on a network with nothing to find (where auto runs general). The challenge's inputs (one
// value) go to a feature-major first layer as bits; inputs of several values (variant 4) to a sliced-ELL one.
TEST(CudaEngine, StructureModeMatchesTheReference) {
  SPDNN_REQUIRE_CUDA(gpu);
  const Network radix = radixnet_network({1024, 30, 7});
  const Features x = challenge_inputs(synthetic_digits(500, 8), 1024).features;
  Features valued = x;
  for (size_t e = 0; e < valued.matrix.values.size(); ++e) valued.matrix.values[e] = e % 3 == 0 ? 0.5f : 1.0f;
  for (int variant = 0; variant < 5; ++variant) {
    SCOPED_TRACE(variant);
    RunOptions opt;
    opt.mode = Mode::structure;
    if (variant == 1) opt.batch_inputs = 96;
    if (variant == 2) opt.stream_weights = true;
    if (variant == 3) opt.half_weights = true;
    const Features& in = variant == 4 ? valued : x;
    expect_same_as_reference(*gpu, radix, in, opt);
    const RunResult r = gpu->run(radix, in, opt);
    EXPECT_EQ(r.execution->kernel.find("first layer feature-major 64 rows") != std::string::npos, variant != 4)
        << r.execution->kernel;
    ASSERT_TRUE(r.structure);
    EXPECT_EQ(r.structure->mode, Mode::structure);
    EXPECT_EQ(r.structure->distinct_neurons.front(), 64);
    ASSERT_EQ(r.structure->distinct_rows.size(), 30u);  // rows merged: fewer rows than active inputs
    EXPECT_LT(r.structure->distinct_rows.back(), r.layers.back().active_inputs);
    EXPECT_NE(r.execution->kernel.find("one output per neuron group"), std::string::npos);
  }
  RandomNetworkSpec spec;
  spec.neurons = 500, spec.layers = 10, spec.per_row = 12, spec.random_values = true, spec.value = 0.12f;
  const Network random = random_network(spec);
  const Features rx = random_features(300, 500, 0.2, 4);
  RunOptions opt;
  opt.mode = Mode::automatic;
  expect_same_as_reference(*gpu, random, rx, opt, false);
  EXPECT_EQ(gpu->run(random, rx, opt).structure->mode, Mode::general);
}

// The first layer as counts of on inputs (SPDNN_FIRST_LAYER=counts, first_layer_counts.hpp): the
// reference's answer, counts and features bit for bit over several 256-row slices and a partial last one,
// forced batches, 4096 neurons, and with rows alone right after it (SPDNN_ROW_TAIL=1).
TEST(CudaEngine, StructureModeFirstLayerAsCountsMatchesTheReference) {
  SPDNN_REQUIRE_CUDA(gpu);
  setenv("SPDNN_FIRST_LAYER", "counts", 1);
  for (const int32_t neurons : {1024, 4096}) {
    const Network radix = radixnet_network({neurons, 12, 7});
    const Features many = challenge_inputs(synthetic_digits(2500, 8), neurons).features;
    for (int variant = 0; variant < 3; ++variant) {
      SCOPED_TRACE(testing::Message() << neurons << " neurons, variant " << variant);
      RunOptions opt;
      opt.mode = Mode::structure;
      if (variant == 1) opt.batch_inputs = 700;
      if (variant == 2) setenv("SPDNN_ROW_TAIL", "1", 1);
      expect_same_as_reference(*gpu, radix, many, opt);
      const RunResult r = gpu->run(radix, many, opt);
      unsetenv("SPDNN_ROW_TAIL");
      EXPECT_NE(r.execution->kernel.find("first layer as counts of on inputs"), std::string::npos) << r.execution->kernel;
    }
  }
  unsetenv("SPDNN_FIRST_LAYER");
}

// Structure mode at 16384 neurons, past the first RadiX-Net period (layer 11 on: inputs permuted): the
// layers whose narrow tiles would be several chunks stage whole rows of 1024 groups (whole_row_kernel),
// bit for bit the reference's (those layers one at a time: SPDNN_ROW_TAIL=0, no rows alone).
TEST(CudaEngine, StructureModeWholeRowKernelMatchesTheReference) {
  SPDNN_REQUIRE_CUDA(gpu);
  setenv("SPDNN_ROW_TAIL", "0", 1);
  const Network radix = radixnet_network({16384, 24, 3});
  const Features x = challenge_inputs(synthetic_digits(160, 5), 16384).features;
  RunOptions opt;
  opt.mode = Mode::structure;
  expect_same_as_reference(*gpu, radix, x, opt);
  opt.batch_inputs = 50;
  expect_same_as_reference(*gpu, radix, x, opt);
  const RunResult r = gpu->run(radix, x, opt);
  EXPECT_NE(r.execution->kernel.find("16 rows x 1024 threads x 1 output, 1024-input chunks ("), std::string::npos)
      << r.execution->kernel;
  unsetenv("SPDNN_ROW_TAIL");
}

// Rows at the clip carried (structure mode, clip_row_kept), by the merges (the default) or rows alone
// (SPDNN_ROW_TAIL=8): on RadiX-Net 1024 x 100 every survivor is carried by the end; the merges' batch stops
// before the last layers. With layer 40 not keeping the row at the clip, nothing is carried before it
// (the merges: before the first carrying merge after it, 48, reported from layer 47 on). The reference's
// answer, counts and features bit for bit, also in forced batches, with layer times (no rows alone then)
// and with the graph stopping itself or the host reading the counts (SPDNN_DEVICE_STOP=0).
TEST(CudaEngine, StructureModeCarriesRowsAtTheClip) {
  SPDNN_REQUIRE_CUDA(gpu);
  for (const bool alone : {false, true}) {
    SCOPED_TRACE(alone ? "rows alone" : "merges");
    setenv("SPDNN_ROW_TAIL", alone ? "8" : "0", 1);
    Network net = radixnet_network({1024, 100, 7});
    const Features x = challenge_inputs(synthetic_digits(300, 8), 1024).features;
    for (int variant = 0; variant < 4; ++variant) {
      SCOPED_TRACE(variant);
      RunOptions opt;
      opt.mode = Mode::structure;
      if (variant == 1) opt.batch_inputs = 96;
      if (variant == 2) opt.layer_times = true;  // the host reads the counts at checkpoints (events need it)
      if (variant == 3) setenv("SPDNN_DEVICE_STOP", "0", 1);
      expect_same_as_reference(*gpu, net, x, opt);
      const RunResult r = gpu->run(net, x, opt);
      unsetenv("SPDNN_DEVICE_STOP");
      const std::string& kernel = r.execution->kernel;
      EXPECT_EQ(kernel.find("stop on the device") != std::string::npos, !alone && variant <= 1) << kernel;
      EXPECT_EQ(kernel.find("rows alone from layer 9 (16 a block)") != std::string::npos, alone && variant != 2) << kernel;
      ASSERT_TRUE(r.structure);
      const std::vector<int64_t>& carried = r.structure->carried_at_clip;
      ASSERT_EQ(carried.size(), 100u);
      EXPECT_EQ(carried.back(), r.layers.back().active_inputs);
      EXPECT_EQ(r.structure->distinct_rows.back(), 0);
      EXPECT_EQ(carried[6], 0);  // nothing carried before 8 layers
      EXPECT_NE(kernel.find("rows at the clip carried"), std::string::npos) << kernel;
      if (variant == 2) {
        ASSERT_EQ(r.layer_seconds.size(), 100u);
        EXPECT_EQ(r.layer_seconds.back(), 0.0);  // stopped: every row carried
        EXPECT_GT(r.layer_seconds.front(), 0.0);
      }
    }
    for (size_t q = 0; q < net.layers[40].values.size(); ++q)
      if (net.layers[40].col_idx[q] == 3) net.layers[40].values[q] *= 0.25f;
    RunOptions opt;
    opt.mode = Mode::structure;
    expect_same_as_reference(*gpu, net, x, opt);
    const RunResult r = gpu->run(net, x, opt);
    const std::vector<int64_t>& carried = r.structure->carried_at_clip;
    ASSERT_EQ(carried.size(), 100u);
    EXPECT_EQ(carried[alone ? 39 : 46], 0);
    if (!alone) EXPECT_GT(carried[47], 0);
    EXPECT_EQ(carried.back(), r.layers.back().active_inputs);
    setenv("SPDNN_CLIP_ROWS", "0", 1);
    const RunResult plain = gpu->run(net, x, opt);
    unsetenv("SPDNN_CLIP_ROWS");
    EXPECT_TRUE(plain.structure->carried_at_clip.empty());
    EXPECT_EQ(plain.categories, r.categories);
    EXPECT_EQ(plain.layers, r.layers);
    EXPECT_GT(plain.structure->distinct_rows.back(), 0);
    unsetenv("SPDNN_ROW_TAIL");
  }
}

// Rows alone (row_tail.hpp) from several layers on, against the reference bit for bit: 16 rows a block
// (1024 neurons: 64 groups), 8 (16384: 1024 groups, past the first RadiX-Net period) and 4 (65536: 4096
// groups); forced batches, fp16 weights, inputs of several values (a sliced-ELL first layer), features kept.
TEST(CudaEngine, StructureModeRowsAloneMatchTheReference) {
  SPDNN_REQUIRE_CUDA(gpu);
  struct Problem {
    int32_t neurons, layers, inputs, rows;
  };
  for (const Problem p : {Problem{1024, 40, 400, 16}, Problem{16384, 16, 120, 8}, Problem{65536, 6, 40, 4}}) {
    const Network net = radixnet_network({p.neurons, p.layers, 5});
    const Features x = challenge_inputs(synthetic_digits(p.inputs, 8), p.neurons).features;
    Features valued = x;
    for (size_t e = 0; e < valued.matrix.values.size(); ++e) valued.matrix.values[e] = e % 3 == 0 ? 0.5f : 1.0f;
    for (const int from : {1, 3, 8}) {
      if (from >= p.layers) continue;
      setenv("SPDNN_ROW_TAIL", std::to_string(from).c_str(), 1);
      for (int variant = 0; variant < 4; ++variant) {
        SCOPED_TRACE(testing::Message() << p.neurons << " neurons, from layer " << from + 1 << ", variant " << variant);
        RunOptions opt;
        opt.mode = Mode::structure;
        if (variant == 1) opt.batch_inputs = p.inputs / 3 + 1;
        if (variant == 2) opt.half_weights = true;
        expect_same_as_reference(*gpu, net, variant == 3 ? valued : x, opt);
        const RunResult r = gpu->run(net, variant == 3 ? valued : x, opt);
        const std::string shape = "rows alone from layer " + std::to_string(from + 1) + " (" + std::to_string(p.rows) + " a block)";
        EXPECT_NE(r.execution->kernel.find(shape), std::string::npos)
            << r.execution->kernel;
      }
    }
  }
  unsetenv("SPDNN_ROW_TAIL");
}


// Rows alone in general mode (the rows layout: sliced-ELL layers), against the reference bit for bit:
// RadiX-Net 1024 x 40 (8 rows a block), a random network of 3000 neurons with random values (4 rows a
// block), forced batches and fp16 weights (RadiX-Net's 1/16 is exact); where rows are feature-major (4096-neuron RadiX-Net) it does
// not apply and the run is the usual one.
TEST(CudaEngine, GeneralModeRowsAloneMatchTheReference) {
  SPDNN_REQUIRE_CUDA(gpu);
  RandomNetworkSpec spec;
  spec.neurons = 3000, spec.layers = 20, spec.per_row = 24, spec.random_values = true, spec.value = 0.09f, spec.seed = 3;
  const Network random = random_network(spec);
  const Network radix = radixnet_network({1024, 40, 5});
  const Network wide = radixnet_network({4096, 12, 5});
  const Features x1024 = challenge_inputs(synthetic_digits(300, 8), 1024).features;
  const Features x4096 = challenge_inputs(synthetic_digits(200, 8), 4096).features;
  const Features xr = random_features(200, 3000, 0.2, 4);
  setenv("SPDNN_ROW_TAIL", "3", 1);
  for (const auto& [net, x, rows] : {std::tuple{&radix, &x1024, 8}, std::tuple{&random, &xr, 4}, std::tuple{&wide, &x4096, 0}}) {
    for (int variant = 0; variant < 3; ++variant) {
      SCOPED_TRACE(testing::Message() << net->neurons << " neurons, variant " << variant);
      RunOptions opt;
      if (variant == 1) opt.batch_inputs = 70;
      if (variant == 2 && net == &random) continue;  // its random values round in fp16
      if (variant == 2) opt.half_weights = true;
      expect_same_as_reference(*gpu, *net, *x, opt, net != &random);
      const std::string kernel = gpu->run(*net, *x, opt).execution->kernel;
      const std::string shape = "rows alone from layer 4 (" + std::to_string(rows) + " a block)";
      EXPECT_EQ(kernel.find(shape) != std::string::npos, rows > 0) << kernel;
    }
  }
  unsetenv("SPDNN_ROW_TAIL");
}

TEST(CudaEngine, OutOfDeviceMemoryIsAnErrorNamingTheAllocation) {
  SPDNN_REQUIRE_CUDA(gpu);
  Network net = radixnet_network({65536, 2, 1});
  Features x;
  x.matrix.rows = 400000;  // 2 x 400000 x 65536 x 4 bytes of features: about 210 GB
  x.matrix.cols = 65536;
  for (int64_t r = 0; r < x.matrix.rows; ++r) {
    x.matrix.col_idx.push_back(static_cast<int32_t>(r % 65536));
    x.matrix.values.push_back(1.0f);
    x.matrix.row_ptr.push_back(r + 1);
  }
  RunOptions opt;
  opt.batch_inputs = x.matrix.rows;
  const Error e = test::error_from([&] { gpu->run(net, x, opt); });
  EXPECT_EQ(e.code(), Errc::out_of_memory) << e.what();
  EXPECT_TRUE(test::says(e, "features")) << e.what();
  Network small = radixnet_network({1024, 10, 2});
  Features y = challenge_inputs(synthetic_digits(100, 3), 1024).features;
  expect_same_as_reference(*gpu, small, y, {});
}

}  // namespace spdnn
