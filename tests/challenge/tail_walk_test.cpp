// The few-rows tail's arithmetic (src/challenge/cuda/tail_walk.hpp) on the CPU: a packed network run
// layer by layer as tail_kernel.cuh runs it (every output walked through its sliced-ELL steps, the rows
// kept between layers), against the reference engine's answer, per-layer counts and features, bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "challenge/cuda/layer_pack.hpp"
#include "challenge/cuda/tail_walk.hpp"
#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/structure.hpp"
#include "support/input_rows.hpp"
#include "support/planted_groups.hpp"

namespace spdnn {
namespace {

constexpr int kRows = 8, kBatch = 8;  // tail_kernel.cuh's kTailRows and kTailBatch

// Up to `count` inputs of `x` that `net` keeps to the end, then up to `dying` that it does not (by the
// reference engine), in id order within each.
Features pick_inputs(const Network& net, const Features& x, int64_t count, int64_t dying) {
  const std::vector<int64_t> kept = make_engine("reference")->run(net, x, {}).categories;
  std::vector<int64_t> ids;
  for (int64_t id : kept)
    if (static_cast<int64_t>(ids.size()) < count) ids.push_back(id - 1);
  for (int64_t r = 0, dead = 0; r < x.count() && dead < dying; ++r)
    if (!std::binary_search(kept.begin(), kept.end(), r + 1)) ids.push_back(r), ++dead;
  return test::inputs_at(x, ids);
}

// Every layer of `packed` over the (at most kRows) inputs of x, as the tail kernel runs its layers: the
// answer, per-layer counts and the survivors' features in neuron order.
RunResult run_as_tail(const cuda::PackedNetwork& packed, const Network& net, const Features& x) {
  const int32_t n = net.neurons;
  int32_t width = n;  // the first layer reads every neuron
  for (const cuda::BlobLayout& b : packed.layout) width = std::max(width, b.outputs);
  int rows = static_cast<int>(x.count());
  std::vector<float> in(static_cast<size_t>(kRows) * width, 0.0f), out(in.size(), 0.0f);
  int32_t row_at[kRows] = {}, ids[kRows] = {}, mult[kRows] = {}, total[kRows] = {};
  for (int r = 0; r < rows; ++r) {
    row_at[r] = r, ids[r] = r, mult[r] = 1;
    for (int64_t p = x.matrix.row_ptr[r]; p < x.matrix.row_ptr[r + 1]; ++p)
      in[static_cast<size_t>(r) * width + x.matrix.col_idx[p]] = x.matrix.values[p];
  }
  RunResult result;
  result.layers.resize(net.num_layers());
  for (int32_t l = 0; l < net.num_layers(); ++l) {
    const cuda::TailLayer<float> layer = cuda::bind_tail_layer<float>(packed.layout[l], packed.blob[l].data());
    int32_t offset[kRows] = {};
    for (int r = 0; r < rows; ++r) offset[r] = row_at[r] * width, total[r] = 0;
    for (int v = 0; v < layer.outputs; ++v) {
      float acc[kRows];
      cuda::tail_output_sums<kRows, kBatch>(
          layer, v, in.data(), offset, rows, [](float w) { return w; },
          [](float sum, float value, float w) { return sum + value * w; }, acc);
      for (int r = 0; r < rows; ++r) {
        const float z = acc[r];
        const float y = z != 0.0f ? std::min(std::max(z + net.bias, 0.0f), net.clip) : 0.0f;
        out[static_cast<size_t>(r) * width + v] = y;
        if (y != 0.0f) total[r] += layer.out_weight != nullptr ? layer.out_weight[v] : 1;
      }
    }
    unsigned long long nnz = 0;
    int32_t inputs = 0;
    rows = cuda::tail_keep_rows(rows, total, row_at, ids, mult, nnz, inputs);
    result.layers[l] = {inputs, static_cast<int64_t>(nnz)};
    std::swap(in, out);
  }
  CsrMatrix features;
  features.rows = x.count(), features.cols = n;
  std::vector<const float*> survivor(x.count(), nullptr);
  for (int r = 0; r < rows; ++r) {
    result.categories.push_back(ids[r] + 1);
    survivor[ids[r]] = in.data() + static_cast<size_t>(row_at[r]) * width;
  }
  for (int64_t i = 0; i < x.count(); ++i) {
    for (int32_t j = 0; survivor[i] != nullptr && j < n; ++j)
      if (const float v = survivor[i][packed.last_position[j]]; v != 0.0f) features.col_idx.push_back(j), features.values.push_back(v);
    features.row_ptr.push_back(features.nnz());
  }
  result.features = std::move(features);
  return result;
}

class TailWalk : public testing::TestWithParam<int> {};  // outputs per thread

// RadiX-Net in structure mode (groups of 16 neurons), a random network with planted groups of two, and a
// random network without groups (general mode), each layout cut into tiles of several chunks where a
// thread has two outputs: six inputs that survive and two that die, as the tail sees them.
TEST_P(TailWalk, WholeNetworkMatchesTheReference) {
  const int per = GetParam();
  const cuda::LayerKernelConfig kernel{16, 128 / per, per, per == 2 ? 37 : 512};
  const Network planted = test::planted_pairs_network();  // groups of two
  const Network radix = radixnet_network({1024, 14, 2});
  const Network random =
      random_network({.neurons = 300, .layers = 8, .per_row = 12, .value = 0.2f, .random_values = true, .bias = -0.3f, .seed = 7});
  struct Case {
    const Network* net;
    Features x;
    bool structure;
  };
  const Case cases[] = {{&radix, challenge_inputs(synthetic_digits(120, 6), 1024).features, true},
                        {&planted, random_features(150, 200, 0.3, 9), true},
                        {&random, random_features(150, 300, 0.2, 5), false}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.net->neurons);
    const Features few = pick_inputs(*c.net, c.x, 6, 2);
    ASSERT_EQ(few.count(), 8) << "the problem keeps too few or too many inputs";
    const NeuronGroups groups = find_neuron_groups(*c.net);
    const cuda::PackedNetwork packed = cuda::pack_network<float>(*c.net, {}, {&kernel, 1}, c.structure ? &groups : nullptr);
    RunOptions opt;
    opt.keep_features = true;
    const RunResult want = make_engine("reference")->run(*c.net, few, opt);
    const RunResult got = run_as_tail(packed, *c.net, few);
    EXPECT_EQ(got.categories, want.categories);
    EXPECT_EQ(got.layers, want.layers);
    EXPECT_EQ(*got.features, *want.features);
    EXPECT_EQ(want.categories.size(), 6u);
  }
}

INSTANTIATE_TEST_SUITE_P(OutputsPerThread, TailWalk, testing::Values(1, 2, 4));

}  // namespace
}  // namespace spdnn
