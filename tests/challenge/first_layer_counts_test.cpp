// Structure mode's first layer as counts (first_layer_counts.hpp), on the CPU: the bit-plane counters
// against plain counting, and the plan, applied as the kernel applies it (32 rows of position-major bits
// at a time through BitCounts, then the table), against the feature-major layout the engine otherwise
// runs (column_layer_row, itself checked against the cpu engine), bit for bit.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "challenge/cuda/bit_counts.hpp"
#include "challenge/cuda/column_layout.hpp"
#include "challenge/cuda/first_layer_counts.hpp"
#include "core/rng.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/structure.hpp"

namespace spdnn {
namespace {

TEST(BitCounts, CountEachBitOfTheWordsAdded) {
  gen::Rng rng(7);
  for (int words : {0, 1, 5, 32, cuda::BitCounts::kMax}) {
    cuda::BitCounts c;
    std::vector<int> want(32, 0);
    for (int i = 0; i < words; ++i) {
      const auto w = static_cast<uint32_t>(rng.next()) & static_cast<uint32_t>(rng.next() >> 7);
      c.add(w);
      for (int r = 0; r < 32; ++r) want[r] += (w >> r) & 1u;
    }
    for (int r = 0; r < 32; ++r) ASSERT_EQ(c.count(r), want[r]) << words << " words, bit " << r;
  }
  cuda::BitCounts all;
  for (int i = 0; i < cuda::BitCounts::kMax; ++i) all.add(~0u);
  EXPECT_EQ(all.count(31), cuda::BitCounts::kMax);
}

// The engine's feature-major first-layer candidates (cuda_engine.cpp: structure_first_layer_kernels).
const cuda::LayerKernelConfig kFirst[] = {{64, 256, 16, 0, 0, false, true}, {64, 256, 4, 0, 0, false, true},
                                          {64, 256, 1, 0, 0, false, true}};

TEST(FirstLayerCounts, MatchTheFeatureMajorLayerBitForBit) {
  for (int32_t neurons : {1024, 4096}) {
    SCOPED_TRACE(neurons);
    const Network net = radixnet_network({neurons, 2, 3});
    const NeuronGroups groups = find_neuron_groups(net);
    const cuda::ColumnLayer column = cuda::layout_columns(net.layers[0], {}, kFirst, &groups.layers[0]);
    for (const float value : {1.0f, 0.3f, 7.5f}) {  // 7.5 x 1/16 x 32 passes the clip
      const std::optional<cuda::FirstLayerCounts> plan =
          cuda::plan_first_layer_counts(net.layers[0], &groups.layers[0], column.out_order, value, net.bias, net.clip);
      ASSERT_TRUE(plan.has_value());
      EXPECT_EQ(plan->weight, column.out_weight);
      EXPECT_EQ(plan->table.size(), 33u);  // 32 inputs an output
      // 96 rows of random density: three words of position-major bits, counted as the kernel counts them.
      gen::Rng rng(static_cast<uint64_t>(neurons) + 11);
      const int rows = 96;
      std::vector<std::vector<float>> x(rows, std::vector<float>(neurons, 0.0f));
      std::vector<uint32_t> bits(static_cast<size_t>(neurons) * (rows / 32), 0);  // [position][word]
      for (int r = 0; r < rows; ++r) {
        const double density = (r % 8) / 7.0;
        for (int32_t i = 0; i < neurons; ++i)
          if (rng.uniform() < density) x[r][i] = value, bits[static_cast<size_t>(i) * (rows / 32) + r / 32] |= 1u << (r % 32);
      }
      const int32_t outputs = static_cast<int32_t>(plan->ptr.size()) - 1;
      for (int word = 0; word < rows / 32; ++word) {
        std::vector<cuda::BitCounts> counts(outputs);
        for (int32_t p = 0; p < outputs; ++p)
          for (int32_t e = plan->ptr[p]; e < plan->ptr[p + 1]; ++e) counts[p].add(bits[static_cast<size_t>(plan->pos[e]) * (rows / 32) + word]);
        for (int r = 0; r < 32; ++r) {
          const std::vector<float> want = cuda::column_layer_row(column, x[32 * word + r], net.bias, net.clip);
          ASSERT_EQ(cuda::first_layer_counts_row(*plan, x[32 * word + r]), want);
          for (int32_t p = 0; p < outputs; ++p) ASSERT_EQ(plan->table[counts[p].count(r)], want[p]) << "row " << 32 * word + r << ", output " << p;
        }
      }
    }
  }
}

TEST(FirstLayerCounts, OnlyWhereEveryWeightIsOneValueAndListsAreShort) {
  Network net = radixnet_network({1024, 1, 3});
  const NeuronGroups groups = find_neuron_groups(net);
  const cuda::ColumnLayer column = cuda::layout_columns(net.layers[0], {}, kFirst, &groups.layers[0]);
  ASSERT_TRUE(cuda::plan_first_layer_counts(net.layers[0], &groups.layers[0], column.out_order, 1.0f, net.bias, net.clip));
  net.layers[0].values[5] *= 2.0f;  // one weight off: the sums depend on which inputs are on
  const NeuronGroups changed = find_neuron_groups(net);
  const cuda::ColumnLayer other = cuda::layout_columns(net.layers[0], {}, kFirst, &changed.layers[0]);
  EXPECT_FALSE(cuda::plan_first_layer_counts(net.layers[0], &changed.layers[0], other.out_order, 1.0f, net.bias, net.clip));
  // 64 inputs an output: past what six bit planes count.
  RandomNetworkSpec spec;
  spec.neurons = 200, spec.layers = 1, spec.per_row = 64, spec.value = 0.1f;
  const Network dense = random_network(spec);
  const NeuronGroups none = find_neuron_groups(dense);
  const cuda::ColumnLayer wide = cuda::layout_columns(dense.layers[0], {}, kFirst, &none.layers[0]);
  EXPECT_FALSE(cuda::plan_first_layer_counts(dense.layers[0], &none.layers[0], wide.out_order, 1.0f, dense.bias, dense.clip));
}

}  // namespace
}  // namespace spdnn
