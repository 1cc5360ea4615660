// The feature-major layout (column_layout.hpp), checked on the CPU: every row through column_layer_row
// must equal the reference engine's layer, bit for bit, for every group size and previous order.
#include <gtest/gtest.h>

#include <set>

#include "challenge/cuda/column_layout.hpp"
#include "challenge/cuda/sliced_ell.hpp"
#include "core/rng.hpp"
#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/error.hpp"
#include "support/layer_rows.hpp"

namespace spdnn {

namespace {

struct Case {
  int32_t neurons, per_row, per;
  bool radixnet;
};

class ColumnLayout : public testing::TestWithParam<Case> {};

cuda::LayerKernelConfig columns(int per) { return {512, 256, per, 0, 0, false, true}; }

}  // namespace

TEST_P(ColumnLayout, RowsMatchTheReferenceLayerExactly) {
  const Case& c = GetParam();
  Network net = c.radixnet ? radixnet_network({c.neurons, 8, 3})
                           : random_network({.neurons = c.neurons, .layers = 2, .per_row = c.per_row, .value = 0.1f,
                                             .random_values = true, .bias = -0.2f, .seed = 11});
  if (c.radixnet) {  // RadiX-Net's pattern with varied values: a group's outputs share an input list, not weights
    gen::Rng values(7);
    for (float& v : net.layers.back().values) v *= static_cast<float>(0.5 + values.uniform());
  }
  const int32_t n = c.neurons;
  gen::Rng rng(5);  // a random previous order: inputs read from scattered positions
  const std::vector<int32_t> prev_order = gen::random_permutation(n, rng);
  std::vector<int32_t> in_position(n);
  for (int32_t p = 0; p < n; ++p) in_position[prev_order[p]] = p;
  const CsrMatrix& w = net.layers.back();
  const CsrMatrix inputs_of = transpose(w);
  const cuda::ColumnLayer layer = cuda::build_column_layer(inputs_of, in_position, cuda::group_outputs(inputs_of), columns(c.per));
  ASSERT_EQ(layer.groups(), (n + c.per - 1) / c.per);
  ASSERT_EQ(layer.step_val.size(), layer.step_pos.size() * c.per);
  // Each step is a distinct input, ascending by input id within a group (the summation order).
  for (int32_t g = 0; g < layer.groups(); ++g)
    for (int32_t s = layer.group_steps[g] + 1; s < layer.group_steps[g + 1]; ++s)
      ASSERT_LT(prev_order[layer.step_pos[s - 1]], prev_order[layer.step_pos[s]]);

  test::expect_rows_match_reference(w, net.bias, random_features(40, n, 0.3, 12), in_position, layer.out_order,
                                    [&](const std::vector<float>& in, float bias, float clip) {
                                      return cuda::column_layer_row(layer, in, bias, clip);
                                    });
}

INSTANTIATE_TEST_SUITE_P(Groups, ColumnLayout,
                         testing::Values(Case{1024, 32, 16, true}, Case{4096, 32, 4, true}, Case{1024, 32, 1, true},
                                         Case{1000, 32, 1, false}, Case{777, 20, 16, false}, Case{300, 40, 4, false},
                                         Case{61, 30, 16, false}));

TEST(ColumnLayoutChoice, RadixNetGroupsSixteenOutputsAndRandomNetworksOne) {
  // RadiX-Net's 16 columns of one input set make a group of 16 that pads nothing; random columns do not.
  const cuda::LayerKernelConfig kernels[] = {columns(16), columns(4), columns(1)};
  const Network radix = radixnet_network({4096, 12, 1});
  for (const CsrMatrix& w : {radix.layers[0], radix.layers[11]}) {
    const cuda::ColumnLayer layer = cuda::layout_columns(w, {}, kernels);
    EXPECT_EQ(layer.kernel, kernels[0]);
    EXPECT_EQ(static_cast<int64_t>(layer.step_pos.size()) * 16, w.nnz());
  }
  const Network random = random_network({.neurons = 2000, .layers = 1, .per_row = 16, .value = 0.1f, .seed = 4});
  const cuda::ColumnLayer layer = cuda::layout_columns(random.layers[0], {}, kernels);
  EXPECT_NE(layer.kernel, kernels[0]);
}

TEST(ColumnLayoutChoice, OnlyNetworksWhoseOutputsShareInputsGoFeatureMajor) {
  EXPECT_TRUE(cuda::groups_share_inputs(radixnet_network({4096, 12, 1})));
  // Columns of 32 inputs drawn at random: four of them read about 128 inputs.
  gen::Rng rng(3);
  std::vector<Triplet> scattered;
  for (int32_t j = 0; j < 2048; ++j) {
    std::set<int32_t> inputs;
    while (inputs.size() < 32) inputs.insert(static_cast<int32_t>(rng.below(2048)));
    for (int32_t i : inputs) scattered.push_back({i, j, 0.1f});
  }
  Network random;
  random.neurons = 2048;
  random.layers = {csr_from_triplets(2048, 2048, scattered, "scattered")};
  EXPECT_FALSE(cuda::groups_share_inputs(random));
  EXPECT_FALSE(cuda::groups_share_inputs(Network{}));
}

TEST(ColumnLayoutChoice, NeedsAFeatureMajorKernel) {
  const Network radix = radixnet_network({1024, 1, 1});
  const CsrMatrix t = transpose(radix.layers[0]);
  EXPECT_THROW(cuda::build_column_layer(t, {}, cuda::group_outputs(t), cuda::LayerKernelConfig{}), Error);
}

}  // namespace spdnn
