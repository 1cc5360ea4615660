// The CUDA engine's weight layout, checked on the CPU: every row through sliced_ell_row must equal the
// reference engine's layer, bit for bit, whatever the tile size, outputs per thread, chunk size and
// previous order.
#include <gtest/gtest.h>

#include <cstdlib>
#include <numeric>
#include <optional>
#include <set>
#include <string>

#include "challenge/cuda/column_layout.hpp"
#include "challenge/cuda/layer_loop.hpp"
#include "challenge/cuda/sliced_ell.hpp"
#include "core/rng.hpp"
#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/structure.hpp"
#include "support/layer_rows.hpp"
#include "support/test_support.hpp"

namespace spdnn {

namespace {

// A 4096-neuron layer whose columns each read 32 inputs drawn at random (no two columns share an input
// set, and a tile's footprint is most of the layer).
CsrMatrix scattered_layer(uint64_t seed) {
  gen::Rng rng(seed);
  std::vector<Triplet> scattered;
  for (int32_t j = 0; j < 4096; ++j) {
    std::set<int32_t> rows;
    while (rows.size() < 32) rows.insert(static_cast<int32_t>(rng.below(4096)));
    for (int32_t i : rows) scattered.push_back({i, j, 0.1f});
  }
  return csr_from_triplets(4096, 4096, scattered, "scattered");
}

struct Case {
  int32_t neurons, per_row, threads, per, chunk;
  bool radixnet;
};

class SlicedEll : public testing::TestWithParam<Case> {};

}  // namespace

TEST_P(SlicedEll, RowsMatchTheReferenceLayerExactly) {
  const Case& c = GetParam();
  Network net = c.radixnet ? radixnet_network({c.neurons, 8, 3})
                           : random_network({.neurons = c.neurons, .layers = 2, .per_row = c.per_row, .value = 0.1f,
                                             .random_values = true, .bias = -0.2f, .seed = 11});
  const int32_t n = c.neurons;
  // A random previous order, so inputs are staged from scattered physical positions.
  gen::Rng rng(5);
  std::vector<int32_t> prev_order = gen::random_permutation(n, rng), in_position(n);
  for (int32_t p = 0; p < n; ++p) in_position[prev_order[p]] = p;
  const CsrMatrix& w = net.layers.back();
  const CsrMatrix inputs_of = transpose(w);
  const cuda::LayerKernelConfig kernel{16, c.threads, c.per, c.chunk};
  cuda::SlicedEllLayer s = cuda::build_sliced_ell(inputs_of, in_position, cuda::group_outputs(inputs_of), kernel);
  ASSERT_EQ(s.tiles(), (n + kernel.tile_outputs() - 1) / kernel.tile_outputs());
  for (int32_t ch = 0; ch < s.chunks(); ++ch) ASSERT_LE(s.chunk_size[ch], c.chunk);

  test::expect_rows_match_reference(w, net.bias, random_features(40, n, 0.3, 12), in_position, s.out_order,
                                    [&](const std::vector<float>& in, float bias, float clip) {
                                      return cuda::sliced_ell_row(s, in, bias, clip);
                                    });
}

INSTANTIATE_TEST_SUITE_P(Layouts, SlicedEll,
                         testing::Values(Case{1024, 32, 256, 1, 1024, true}, Case{4096, 32, 256, 1, 1024, true},
                                         Case{1000, 32, 256, 1, 1024, false}, Case{777, 20, 128, 1, 100, false},
                                         Case{300, 40, 256, 1, 7, false}, Case{64, 64, 32, 1, 16, false},
                                         // Several outputs a thread: merged lists, padded where they differ.
                                         Case{4096, 32, 64, 4, 512, true}, Case{1024, 32, 32, 2, 100, true},
                                         Case{777, 20, 64, 4, 100, false}, Case{300, 40, 32, 2, 7, false},
                                         Case{61, 30, 32, 4, 16, false}));

// SPDNN_ROW_TAIL, the layer rows go alone from (layer_loop.hpp): a count, 0 for never, unset for the
// default; anything else is a usage error that names the variable.
TEST(RowTailStart, ReadsALayerCountOrSaysWhatIsWrong) {
  unsetenv("SPDNN_ROW_TAIL");
  EXPECT_EQ(cuda::row_tail_start(), cuda::kRowTailFrom);
  setenv("SPDNN_ROW_TAIL", "8", 1);
  EXPECT_EQ(cuda::row_tail_start(), 8);
  setenv("SPDNN_ROW_TAIL", "0", 1);
  EXPECT_EQ(cuda::row_tail_start(), 0);
  for (const char* bad : {"eight", "8x", "-2", " 8"}) {
    setenv("SPDNN_ROW_TAIL", bad, 1);
    const Error e = test::error_from([] { cuda::row_tail_start(); });
    EXPECT_EQ(e.code(), Errc::usage) << bad;
    EXPECT_NE(std::string(e.what()).find("SPDNN_ROW_TAIL"), std::string::npos) << e.what();
  }
  unsetenv("SPDNN_ROW_TAIL");
}

// General mode's output lists (what rows alone walk without groups, row_tail.hpp): a random layer read
// from a permuted previous order, each output's list the reference layer's bits; none unless asked for.
TEST(SlicedEllOutputLists, GeneralLayersMatchTheReferenceLayerExactly) {
  const Network net = random_network({.neurons = 777, .layers = 2, .per_row = 20, .value = 0.1f, .random_values = true,
                                      .bias = -0.2f, .seed = 11});
  gen::Rng rng(5);
  const std::vector<int32_t> prev_order = gen::random_permutation(777, rng);
  std::vector<int32_t> in_position(777);
  for (int32_t p = 0; p < 777; ++p) in_position[prev_order[p]] = p;
  const cuda::LayerKernelConfig kernel{16, 128, 1, 100};
  const CsrMatrix& w = net.layers.back();
  const cuda::SlicedEllLayer s = cuda::layout_layer(w, prev_order, nullptr, nullptr, {&kernel, 1}, true);
  ASSERT_EQ(s.list_ptr.size(), 778u);
  EXPECT_EQ(s.list_pos.size(), static_cast<size_t>(w.nnz()));
  test::expect_rows_match_reference(w, net.bias, random_features(40, 777, 0.3, 12), in_position, s.out_order,
                                    [&](const std::vector<float>& in, float bias, float clip) {
                                      return cuda::output_lists_row(s, in, bias, clip);
                                    });
  EXPECT_TRUE(cuda::layout_layer(w, prev_order, nullptr, nullptr, {&kernel, 1}).list_ptr.empty());
}

TEST(SlicedEllKernelChoice, RadixNetGetsFourOutputsAThreadAndRandomNetworksOne) {
  // RadiX-Net columns come in groups of 16 with one input set, so 4 outputs a thread pad nothing; with
  // columns of 32 inputs drawn at random, their merged lists are about 4 times longer, and the one-output
  // kernel is chosen. (random_network's band matrices are not that: neighbouring columns share 31 inputs.)
  const cuda::LayerKernelConfig kernels[] = {{16, 64, 4, 512}, {16, 256, 1, 512}};
  const Network radix = radixnet_network({4096, 12, 1});
  for (const CsrMatrix& w : {radix.layers[0], radix.layers[11]}) {
    const CsrMatrix t = transpose(w);
    const std::vector<int32_t> order = cuda::group_outputs(t);
    EXPECT_EQ(cuda::padded_work(t, order, 1), t.nnz());
    EXPECT_EQ(cuda::padded_work(t, order, 4), t.nnz());
    EXPECT_EQ(cuda::choose_layer_kernel(t, order, kernels), kernels[0]);
  }
  const CsrMatrix t = transpose(scattered_layer(3));
  const std::vector<int32_t> order = cuda::group_outputs(t);
  EXPECT_GT(cuda::padded_work(t, order, 4), 3 * t.nnz());
  EXPECT_EQ(cuda::choose_layer_kernel(t, order, kernels), kernels[1]);
}

TEST(SlicedEllKernelChoice, RegistersHoldStepsOnlyWhereEachTileIsOneShortChunk) {
  // A RadiX-Net tile is one chunk of 32 steps a thread: the kernel holding 32 steps in registers takes it,
  // one holding 16 does not. Scattered columns need several chunks a tile: the next candidate takes them,
  // and with none left that is an error, not a layout the kernel would misread.
  const cuda::LayerKernelConfig held{16, 256, 1, 512, 32}, short_held{16, 256, 1, 512, 16}, general{16, 256, 1, 512, 0};
  const cuda::LayerKernelConfig held_first[] = {held, general}, short_first[] = {short_held, general};
  const Network radix = radixnet_network({4096, 12, 1});
  for (const CsrMatrix& w : {radix.layers[0], radix.layers[11]}) {
    const cuda::SlicedEllLayer s = cuda::layout_layer(w, {}, nullptr, nullptr, held_first);
    EXPECT_EQ(s.kernel, held);
    EXPECT_TRUE(cuda::fits_kernel(s));
    EXPECT_EQ(s.chunks(), s.tiles());
    EXPECT_EQ(s.max_chunk_k(), 32);
    EXPECT_EQ(cuda::layout_layer(w, {}, nullptr, nullptr, short_first).kernel, general);
  }
  const CsrMatrix w = scattered_layer(5);
  const cuda::SlicedEllLayer s = cuda::layout_layer(w, {}, nullptr, nullptr, held_first);
  EXPECT_EQ(s.kernel, general);
  EXPECT_GT(s.chunks(), s.tiles());
  EXPECT_EQ(test::error_from([&] { cuda::layout_layer(w, {}, nullptr, nullptr, {&held, 1}); }).code(), Errc::unsupported);
}

TEST(SlicedEllKernelChoice, StructureModeTilesAreOneChunkOfPositions) {
  // In structure mode a RadiX-Net tile of 256 group outputs reads 16 times as many input neurons as
  // positions (each previous group at one position): chunks are cut by positions, so a tile is one chunk
  // of 32 steps a thread, with no padding, and the kernel holding 32 steps in registers takes it.
  const Network net = radixnet_network({4096, 3, 1});
  const NeuronGroups groups = find_neuron_groups(net);
  const cuda::LayerKernelConfig held{16, 256, 1, 512, 32}, general{16, 256, 1, 512, 0};
  const cuda::LayerKernelConfig both[] = {held, general};
  std::vector<int32_t> previous;
  for (int32_t l = 0; l < net.num_layers(); ++l) {
    const LayerGroups* before = l > 0 ? &groups.layers[l - 1] : nullptr;
    const cuda::SlicedEllLayer s = cuda::layout_layer(net.layers[l], previous, before, &groups.layers[l], both);
    if (before != nullptr) {
      EXPECT_EQ(s.chunks(), s.tiles()) << "layer " << l + 1;
      EXPECT_EQ(s.max_chunk_k(), 32);
      EXPECT_EQ(s.kernel, held);
    }
    previous = s.out_order;
  }
}

TEST(SlicedEllKernelChoice, WholeRowKernelFitsTheWidthInSharedMemory) {
  const auto at = [](int32_t width) { return cuda::whole_row_kernel(width).value(); };
  EXPECT_EQ(at(1024), (cuda::LayerKernelConfig{16, 1024, 1, 1024, 0, true}));
  EXPECT_EQ(at(1500), (cuda::LayerKernelConfig{16, 1024, 1, 2048, 0, true}));
  EXPECT_EQ(at(4096), (cuda::LayerKernelConfig{8, 1024, 1, 4096, 0, true}));
  EXPECT_EQ(at(8192), (cuda::LayerKernelConfig{4, 1024, 1, 8192, 0, true}));
  for (int32_t width : {1, 1024, 3000, 8192}) EXPECT_LE(at(width).shared_bytes(), 128u * 1024);
  EXPECT_FALSE(cuda::whole_row_kernel(8193).has_value());
  // A device that lets a block have 99 KB (consumer GPUs): fewer rows, and no whole rows past 4096.
  EXPECT_EQ(cuda::whole_row_kernel(1024, 99 * 1024).value(), (cuda::LayerKernelConfig{16, 1024, 1, 1024, 0, true}));
  EXPECT_EQ(cuda::whole_row_kernel(2048, 99 * 1024).value(), (cuda::LayerKernelConfig{8, 1024, 1, 2048, 0, true}));
  EXPECT_EQ(cuda::whole_row_kernel(4096, 99 * 1024).value(), (cuda::LayerKernelConfig{4, 1024, 1, 4096, 0, true}));
  EXPECT_FALSE(cuda::whole_row_kernel(8192, 99 * 1024).has_value());
}

TEST(SlicedEllKernelChoice, StructureModePermutedLayersStageWholeRows) {
  // 16384 neurons: 1024 groups, and from layer 11 on (the second RadiX-Net period) each layer's inputs
  // permuted, so from layer 12 a 256-output tile's input ids fall at scattered positions and take about
  // ten 512-slot chunks of some 90 padded steps. With the engine's structure-mode candidates, layers
  // 2-11 keep narrow single chunks, layer 12 gets the whole-row kernel as one chunk of 32 steps a thread,
  // and the first, whose 16384 inputs are not grouped, needs several narrow chunks.
  const Network net = radixnet_network({16384, 12, 1});
  const NeuronGroups groups = find_neuron_groups(net);
  const cuda::LayerKernelConfig wide = cuda::whole_row_kernel(1024).value(), general{16, 256, 1, 512, 0},
                                single{16, 256, 1, 512, 0, true};
  const cuda::LayerKernelConfig candidates[] = {single, wide, general};
  std::vector<int32_t> previous;
  for (int32_t l = 0; l < net.num_layers(); ++l) {
    SCOPED_TRACE(l + 1);
    const LayerGroups* before = l > 0 ? &groups.layers[l - 1] : nullptr;
    const cuda::SlicedEllLayer s = cuda::layout_layer(net.layers[l], previous, before, &groups.layers[l], candidates);
    EXPECT_TRUE(cuda::fits_kernel(s));
    EXPECT_EQ(s.kernel, l == 0 ? general : l < 11 ? single : wide);
    if (l > 0) EXPECT_EQ(s.chunks(), s.tiles());
    if (l == 11) {
      EXPECT_EQ(s.chunks(), 1);
      EXPECT_EQ(s.max_chunk_k(), 32);
      const cuda::SlicedEllLayer narrow = cuda::layout_layer(net.layers[l], previous, before, &groups.layers[l], {&general, 1});
      EXPECT_GT(narrow.chunks(), 5 * narrow.tiles());
    }
    previous = s.out_order;
  }
}

TEST(SlicedEllGrouping, RadixNetTilesHaveSmallFootprints) {
  // Columns with identical inputs are grouped, so a 256-output tile of a RadiX-Net layer stages about
  // 16 blocks x 32 residues = 512 inputs, not the ~8192 of 256 scattered columns.
  Network net = radixnet_network({16384, 12, 1});
  for (const CsrMatrix& w : {net.layers[0], net.layers[11]}) {
    std::vector<int32_t> identity(16384);
    std::iota(identity.begin(), identity.end(), 0);
    const CsrMatrix inputs_of = transpose(w);
    cuda::SlicedEllLayer s = cuda::build_sliced_ell(inputs_of, identity, cuda::group_outputs(inputs_of), {16, 256, 1, 1024});
    int64_t staged = 0;
    for (int32_t c = 0; c < s.chunks(); ++c) staged += s.chunk_size[c];
    EXPECT_LE(staged / s.tiles(), 1024);
    EXPECT_EQ(s.chunks(), s.tiles());  // one chunk per tile
  }
}

// Structure mode's layouts through a whole network, as the kernel computes them: each layer has one output
// per group, reads its inputs through the previous layer's groups (one staged slot per position) and
// counts each nonzero output for its group's neurons. Features, per-layer counts and categories must
// equal the cpu engine's. With a feature-major first layer (the engine's, on inputs as bits), layer 1 is
// the column layout over its groups, and the sliced-ELL layers after it read its outputs where it put them.
// Each layer's output lists (what rows alone walk, row_tail.hpp) give the same bits as its sliced ELL.
class SlicedEllStructure : public testing::TestWithParam<std::tuple<int, bool>> {};  // outputs per thread, first layer

TEST_P(SlicedEllStructure, WholeNetworkMatchesTheCpuEngine) {
  const auto [per, columns_first] = GetParam();
  // With 2 outputs a thread, chunks of 37 positions: tiles of several chunks, cut by positions.
  const cuda::LayerKernelConfig kernel{16, 128 / per, per, per == 2 ? 37 : 512};
  // The engine's feature-major candidates: groups of 16, 4 and 1 outputs.
  const cuda::LayerKernelConfig first[] = {{64, 256, 16, 0, 0, false, true}, {64, 256, 4, 0, 0, false, true},
                                           {64, 256, 1, 0, 0, false, true}};
  Network planted = random_network({.neurons = 200, .layers = 6, .per_row = 10, .value = 0.2f, .bias = -0.3f, .seed = 4});
  for (CsrMatrix& w : planted.layers) {  // columns 0..99 copied onto 100..199: groups of two
    std::vector<Triplet> t;
    for (const Triplet& e : csr_to_triplets(w))
      if (e.col < 100) t.push_back(e), t.push_back({e.row, e.col + 100, e.value});
    w = csr_from_triplets(200, 200, t, "planted");
  }
  const Network radix = radixnet_network({1024, 14, 2});
  const Features radix_x = challenge_inputs(synthetic_digits(120, 6), 1024).features;
  const Features planted_x = random_features(150, 200, 0.3, 9);
  for (auto [net, x] : {std::pair<const Network*, const Features*>{&radix, &radix_x}, {&planted, &planted_x}}) {
    const int32_t n = net->neurons;
    const NeuronGroups groups = find_neuron_groups(*net);
    std::vector<cuda::SlicedEllLayer> layouts;
    std::vector<int32_t> previous;
    std::optional<cuda::ColumnLayer> column;
    if (columns_first) {
      column = cuda::layout_columns(net->layers[0], {}, first, &groups.layers[0]);
      EXPECT_EQ(column->neurons, groups.layers[0].groups());
      EXPECT_EQ(column->out_order,
                cuda::layout_layer(net->layers[0], {}, nullptr, &groups.layers[0], {&kernel, 1}).out_order);
    }
    for (int32_t l = 0; l < net->num_layers(); ++l) {
      const LayerGroups* before = l > 0 ? &groups.layers[l - 1] : nullptr;
      layouts.push_back(cuda::layout_layer(net->layers[l], previous, before, &groups.layers[l], {&kernel, 1}, true));
      EXPECT_EQ(layouts.back().neurons, groups.layers[l].groups());
      if (before != nullptr)  // a slot per position: never more than the previous layer's groups
        for (int32_t c = 0; c < layouts.back().chunks(); ++c) ASSERT_LE(layouts.back().chunk_size[c], before->groups());
      previous = layouts.back().out_order;
    }
    const std::vector<int32_t> last = cuda::input_positions(n, previous, &groups.layers.back());
    RunOptions opt;
    opt.keep_features = true;
    const RunResult want = make_engine("cpu")->run(*net, *x, opt);
    std::vector<LayerStats> got(static_cast<size_t>(net->num_layers()));
    std::vector<int64_t> categories;
    for (int64_t r = 0; r < x->count(); ++r) {
      std::vector<float> row(n, 0.0f);
      for (int64_t p = x->matrix.row_ptr[r]; p < x->matrix.row_ptr[r + 1]; ++p) row[x->matrix.col_idx[p]] = x->matrix.values[p];
      for (int32_t l = 0; l < net->num_layers(); ++l) {
        const bool col = l == 0 && column;
        // The output lists (what rows alone walk, row_tail.hpp) give the kernel's bits.
        const std::vector<float> alone =
            l > 0 ? cuda::output_lists_row(layouts[l], row, net->bias, net->clip) : std::vector<float>{};
        row = col ? cuda::column_layer_row(*column, row, net->bias, net->clip)
                  : cuda::sliced_ell_row(layouts[l], row, net->bias, net->clip);
        if (l > 0) ASSERT_EQ(alone, row) << "input " << r + 1 << ", layer " << l + 1;
        const std::vector<int32_t>& weight = col ? column->out_weight : layouts[l].out_weight;
        int64_t nnz = 0;
        for (size_t p = 0; p < row.size(); ++p) nnz += row[p] != 0.0f ? weight[p] : 0;
        got[l].nnz += nnz, got[l].active_inputs += nnz > 0;
      }
      std::vector<float> expect(n, 0.0f);
      for (int64_t p = want.features->row_ptr[r]; p < want.features->row_ptr[r + 1]; ++p)
        expect[want.features->col_idx[p]] = want.features->values[p];
      bool alive = false;
      for (int32_t j = 0; j < n; ++j) {
        ASSERT_EQ(row[last[j]], expect[j]) << "input " << r + 1 << ", neuron " << j;
        alive = alive || expect[j] != 0.0f;
      }
      if (alive) categories.push_back(r + 1);
    }
    EXPECT_EQ(got, want.layers);
    EXPECT_EQ(categories, want.categories);
    EXPECT_GT(want.categories.size(), 0u);
    EXPECT_LT(want.categories.size(), static_cast<size_t>(x->count()));
  }
}

INSTANTIATE_TEST_SUITE_P(OutputsPerThread, SlicedEllStructure, testing::Combine(testing::Values(1, 2, 4), testing::Bool()));

}  // namespace spdnn
