// Every CPU engine against the reference engine on seeded random problems, plus hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>

#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/generate.hpp"

namespace spdnn {

namespace {

struct Case {
  int32_t neurons, layers, per_row;
  double density;
  float bias;
  bool random_values;
  int threads;
  uint64_t seed;
  int64_t inputs = 300;
};

std::string case_name(const testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  std::string s = "N" + std::to_string(c.neurons) + "_L" + std::to_string(c.layers) + "_k" +
                  std::to_string(c.per_row) + "_d" + std::to_string(static_cast<int>(c.density * 100)) + "_b" +
                  std::to_string(static_cast<int>(std::lround(c.bias * 100 + 1000))) + (c.random_values ? "_rand" : "_const") +
                  "_t" + std::to_string(c.threads) + "_in" + std::to_string(c.inputs) + "_s" + std::to_string(c.seed);
  return s;
}

// The weight value that puts a typical output near the threshold, so some inputs live and some die.
float threshold_value(const Case& c) {
  return static_cast<float>(1.3 * std::abs(c.bias) / (c.per_row * c.density));
}

}  // namespace

class EngineVsReference : public testing::TestWithParam<Case> {};

TEST_P(EngineVsReference, CategoriesCountsAndFeaturesMatch) {
  const Case& c = GetParam();
  RandomNetworkSpec spec;
  spec.neurons = c.neurons;
  spec.layers = c.layers;
  spec.per_row = c.per_row;
  spec.value = threshold_value(c);
  spec.random_values = c.random_values;
  spec.bias = c.bias;
  spec.seed = c.seed;
  Network net = random_network(spec);
  Features x = random_features(c.inputs, c.neurons, c.density, c.seed + 100);
  RunOptions opt;
  opt.keep_features = true;
  opt.threads = c.threads;
  RunResult want = make_engine("reference")->run(net, x, opt);
  ASSERT_EQ(want.layers.size(), static_cast<size_t>(c.layers));

  for (const char* name : {"cpu"}) {
    SCOPED_TRACE(name);
    RunResult got = make_engine(name)->run(net, x, opt);
    EXPECT_EQ(got.categories, want.categories);
    EXPECT_EQ(got.layers, want.layers);
    ASSERT_TRUE(got.features && want.features);
    EXPECT_EQ(*got.features, *want.features);  // bit-identical: same summation order
  }
}

// Sizes that are not multiples of anything, one input, deep and shallow networks, thread counts.
INSTANTIATE_TEST_SUITE_P(
    Random, EngineVsReference,
    testing::Values(Case{64, 5, 4, 0.2, -0.3f, false, 1, 1}, Case{97, 12, 7, 0.15, -0.25f, true, 2, 2},
                    Case{333, 8, 16, 0.1, -0.3f, false, 3, 3}, Case{1024, 20, 32, 0.1, -0.3f, false, 2, 4},
                    Case{1024, 30, 32, 0.27, -0.3f, true, 2, 5, 200}, Case{4096, 6, 32, 0.05, -0.35f, false, 2, 6, 100},
                    Case{50, 40, 3, 0.3, -0.1f, true, 2, 7}, Case{128, 10, 8, 0.2, -0.3f, false, 2, 8, 1}),
    case_name);

// The random suite must exercise survivors and deaths: guard against a generator change that makes
// every case trivial (an engine returning nothing would then pass).
TEST(EngineVsReferenceCoverage, SomeInputsSurviveAndSomeDie) {
  RandomNetworkSpec spec;
  spec.neurons = 97, spec.layers = 12, spec.per_row = 7, spec.random_values = true, spec.bias = -0.25f, spec.seed = 2;
  spec.value = static_cast<float>(1.3 * 0.25 / (7 * 0.15));
  RunResult r = make_engine("cpu")->run(random_network(spec), random_features(300, 97, 0.15, 102), {});
  EXPECT_GT(r.categories.size(), 0u);
  EXPECT_LT(r.categories.size(), 300u);
}

// y0 = [1, 1]; W = [[1, 0], [1, 1]] (rows are inputs): z = [2, 1]; bias -0.5 -> [1.5, 0.5].
// Layer 2 (same W): z = [2.0, 0.5]; -> [1.5, 0.0]. Input 2 = [0, 0] stays zero; input 3 = [0, 0.25]:
// layer 1 z = [0.25, 0.25] -> [0, 0]: dies in layer 1.
TEST(ReferenceEngine, HandComputedTwoByTwo) {
  Network net;
  net.neurons = 2;
  net.bias = -0.5f;
  CsrMatrix w = csr_from_triplets(2, 2, {{0, 0, 1.f}, {1, 0, 1.f}, {1, 1, 1.f}}, "w");
  net.layers = {w, w};
  Features x;
  x.matrix = csr_from_triplets(3, 2, {{0, 0, 1.f}, {0, 1, 1.f}, {2, 1, 0.25f}}, "x");
  for (const char* name : {"reference", "cpu"}) {
    SCOPED_TRACE(name);
    RunOptions opt;
    opt.keep_features = true;
    RunResult r = make_engine(name)->run(net, x, opt);
    EXPECT_EQ(r.categories, (std::vector<int64_t>{1}));
    EXPECT_EQ(r.layers, (std::vector<LayerStats>{{1, 2}, {1, 1}}));
    EXPECT_EQ(r.features->row_ptr, (std::vector<int64_t>{0, 1, 1, 1}));
    EXPECT_EQ(r.features->col_idx, (std::vector<int32_t>{0}));
    EXPECT_EQ(r.features->values, (std::vector<float>{1.5f}));
  }
}

// Clip at 32: 64 inputs of 1 with weight 1 give 64 - 0.5 -> 32.
TEST(ReferenceEngine, ClipsAtThirtyTwo) {
  Network net;
  net.neurons = 64;
  net.bias = -0.5f;
  std::vector<Triplet> all;
  for (int32_t i = 0; i < 64; ++i) all.push_back({i, 0, 1.f});
  net.layers = {csr_from_triplets(64, 64, all, "w")};
  Features x;
  std::vector<Triplet> ones;
  for (int32_t i = 0; i < 64; ++i) ones.push_back({0, i, 1.f});
  x.matrix = csr_from_triplets(1, 64, ones, "x");
  for (const char* name : {"reference", "cpu"}) {
    RunOptions opt;
    opt.keep_features = true;
    RunResult r = make_engine(name)->run(net, x, opt);
    EXPECT_EQ(r.features->values, (std::vector<float>{32.f})) << name;
  }
}

TEST(Engines, AllDieAndAllSaturate) {
  RandomNetworkSpec spec;
  spec.neurons = 200, spec.layers = 6, spec.per_row = 10, spec.value = 0.1f;
  Features x = random_features(50, 200, 0.2, 9);
  spec.bias = -100.f;  // nothing survives layer 1
  for (const char* name : {"reference", "cpu"}) {
    RunResult r = make_engine(name)->run(random_network(spec), x, {});
    EXPECT_TRUE(r.categories.empty()) << name;
    EXPECT_EQ(r.layers[0].active_inputs, 0) << name;
  }
  spec.bias = 100.f;  // everything reached saturates at the clip
  for (const char* name : {"reference", "cpu"}) {
    RunOptions opt;
    opt.keep_features = true;
    RunResult r = make_engine(name)->run(random_network(spec), x, opt);
    EXPECT_EQ(r.categories.size(), 50u) << name;
    EXPECT_EQ(r.layers.back().nnz, 50 * 200) << name;
    for (float v : r.features->values) ASSERT_EQ(v, 32.f);
  }
}

TEST(Engines, ZeroLayersReturnsNonEmptyInputs) {
  Network net;
  net.neurons = 8;
  Features x;
  x.matrix = csr_from_triplets(3, 8, {{0, 1, 1.f}, {2, 7, 1.f}}, "x");
  for (const char* name : {"reference", "cpu"})
    EXPECT_EQ(make_engine(name)->run(net, x, {}).categories, (std::vector<int64_t>{1, 3})) << name;
}

TEST(Engines, UnknownNameIsAnError) { EXPECT_ANY_THROW(make_engine("nope")); }

}  // namespace spdnn
