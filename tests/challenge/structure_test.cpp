// Structure discovery and the structure mode of the cpu engine.
//  - Neuron groups against a brute-force pairwise comparison of dense columns, and against the
//    RadiX-Net facts of DATA.md (groups of 16, or of 32 where the circulant's two diagonals meet).
//  - Structure mode against the reference engine: categories, per-layer counts and features identical,
//    on RadiX-Net, random networks (nothing found), planted duplicate columns, planted duplicate inputs,
//    and split between balanced parts that move merged rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <numeric>

#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/partitioned_engine.hpp"
#include "spdnn/challenge/structure.hpp"
#include "support/lopsided_problem.hpp"

namespace spdnn {

namespace {

// Layer l as dense columns: col[j][i] = W(i, j) (0 where absent).
std::vector<std::vector<float>> dense_columns(const CsrMatrix& w) {
  std::vector<std::vector<float>> c(w.cols, std::vector<float>(w.rows, 0.0f));
  for (int64_t i = 0; i < w.rows; ++i)
    for (int64_t p = w.row_ptr[i]; p < w.row_ptr[i + 1]; ++p) c[w.col_idx[p]][i] = w.values[p];
  return c;
}

// The definition, pair by pair: j1 ~ j2 iff their nonzero sequences (input neurons ascending) have the
// same length and, position by position, equivalent input neurons and bitwise-equal weights.
std::vector<std::vector<int32_t>> brute_force_groups(const Network& net) {
  std::vector<std::vector<int32_t>> out;
  std::vector<int32_t> prev(net.neurons);
  std::iota(prev.begin(), prev.end(), 0);
  for (const CsrMatrix& w : net.layers) {
    const auto c = dense_columns(w);
    auto sequence = [&](int32_t j) {
      std::vector<std::pair<int32_t, uint32_t>> s;
      for (int32_t i = 0; i < net.neurons; ++i)
        if (std::bit_cast<uint32_t>(c[j][i]) != 0) s.push_back({prev[i], std::bit_cast<uint32_t>(c[j][i])});
      return s;
    };
    std::vector<int32_t> group(net.neurons, -1);
    int32_t groups = 0;
    for (int32_t j = 0; j < net.neurons; ++j) {
      for (int32_t k = 0; k < j && group[j] < 0; ++k)
        if (sequence(k) == sequence(j)) group[j] = group[k];
      if (group[j] < 0) group[j] = groups++;
    }
    out.push_back(group);
    prev = group;
  }
  return out;
}

// Copies column `from` of layer l onto column `to` (same rows, same values).
void plant_duplicate_column(Network& net, int32_t l, int32_t from, int32_t to) {
  std::vector<Triplet> t;
  for (const Triplet& e : csr_to_triplets(net.layers[l]))
    if (e.col != to) t.push_back(e);
  for (const Triplet& e : csr_to_triplets(net.layers[l]))
    if (e.col == from) t.push_back({e.row, to, e.value});
  net.layers[l] = csr_from_triplets(net.neurons, net.neurons, t, "planted");
}

Network small_random(int32_t n, int32_t layers, uint64_t seed) {
  RandomNetworkSpec spec;
  spec.neurons = n, spec.layers = layers, spec.per_row = 6, spec.random_values = false, spec.bias = -0.3f, spec.seed = seed;
  spec.value = static_cast<float>(1.5 * 0.3 / (6 * 0.2));
  return random_network(spec);
}

RunResult run(const std::string& engine, const Network& net, const Features& x, Mode mode, int threads = 2) {
  RunOptions opt;
  opt.keep_features = true;
  opt.threads = threads;
  opt.mode = mode;
  return make_engine(engine)->run(net, x, opt);
}

void expect_same_answer(const RunResult& got, const RunResult& want) {
  EXPECT_EQ(got.categories, want.categories);
  EXPECT_EQ(got.layers, want.layers);
  ASSERT_TRUE(got.features && want.features);
  EXPECT_EQ(*got.features, *want.features);
}

}  // namespace

TEST(NeuronGroups, MatchBruteForceOnRandomPlantedAndRadixNet) {
  Network planted = small_random(40, 5, 3);
  plant_duplicate_column(planted, 0, 3, 17);
  plant_duplicate_column(planted, 0, 3, 30);
  plant_duplicate_column(planted, 2, 8, 9);
  Network values = small_random(48, 4, 4);  // same rows as another column, a different value: not a duplicate
  plant_duplicate_column(values, 1, 5, 6);
  for (int64_t p = values.layers[1].row_ptr[0]; p < values.layers[1].nnz(); ++p)
    if (values.layers[1].col_idx[p] == 6) {
      values.layers[1].values[p] *= 2.0f;
      break;
    }
  // Equivalent only through the previous layer's groups: layer 1's columns 20 and 21 read inputs 3 and
  // 35, and 17 and 35, with the same weights; 17 is a duplicate of 3 in layer 0.
  Network through = planted;
  {
    std::vector<Triplet> e;
    for (const Triplet& x : csr_to_triplets(through.layers[1]))
      if (x.col != 20 && x.col != 21) e.push_back(x);
    for (auto [col, first] : {std::pair{20, 3}, std::pair{21, 17}}) e.push_back({first, col, 0.5f}), e.push_back({35, col, 0.25f});
    through.layers[1] = csr_from_triplets(40, 40, e, "through groups");
    const auto want = brute_force_groups(through);
    EXPECT_EQ(want[1][20], want[1][21]);
  }
  for (const Network* net : {&planted, &values, &through}) {
    const NeuronGroups g = find_neuron_groups(*net, 2);
    const auto want = brute_force_groups(*net);
    ASSERT_EQ(g.layers.size(), want.size());
    for (size_t l = 0; l < want.size(); ++l) EXPECT_EQ(g.layers[l].group_of, want[l]) << "layer " << l + 1;
  }
  const NeuronGroups g = find_neuron_groups(planted, 1);
  EXPECT_EQ(g.layers[0].groups(), 38);
  EXPECT_EQ(g.layers[0].size[g.layers[0].group_of[3]], 3);
  EXPECT_EQ(g.layers[0].first[g.layers[0].group_of[30]], 3);

  const Network radix = radixnet_network({64, 10, 5});
  const NeuronGroups rg = find_neuron_groups(radix, 2);
  const auto want = brute_force_groups(radix);
  for (size_t l = 0; l < want.size(); ++l) EXPECT_EQ(rg.layers[l].group_of, want[l]) << "layer " << l + 1;
}

// DATA.md: M = N / 16 groups of 16 in every layer, except k = D - 1 (p = M / 2), where columns j and
// j + M/2 have the same rows too: M / 2 groups of 32.
TEST(NeuronGroups, RadixNetHasTheDocumentedGroups) {
  const int32_t n = 1024, m = n / 16, d = 6;
  const NeuronGroups g = find_neuron_groups(radixnet_network({n, 3 * d, 1}), 2);
  for (int32_t l = 0; l < 3 * d; ++l) {
    const bool half = l % d == d - 1;
    EXPECT_EQ(g.layers[l].groups(), half ? m / 2 : m) << "layer " << l + 1;
    for (int32_t s : g.layers[l].size) ASSERT_EQ(s, half ? 32 : 16);
  }
  EXPECT_TRUE(g.pays(n));
  EXPECT_FALSE(find_neuron_groups(small_random(64, 6, 2)).pays(64));
}

TEST(NeuronGroups, RandomNetworkHasNone) {
  const NeuronGroups g = find_neuron_groups(small_random(200, 8, 9));
  for (const LayerGroups& l : g.layers) EXPECT_TRUE(l.trivial());
}

TEST(StructureMode, RadixNetMatchesReference) {
  const Network net = radixnet_network({1024, 24, 3});
  const Features x = challenge_inputs(synthetic_digits(300, 4), 1024).features;
  const RunResult want = run("reference", net, x, Mode::general);
  ASSERT_GT(want.categories.size(), 0u);
  ASSERT_LT(want.categories.size(), 300u);
  for (int threads : {1, 2, 3}) {
    const RunResult got = run("cpu", net, x, Mode::structure, threads);
    expect_same_answer(got, want);
    ASSERT_TRUE(got.structure);
    EXPECT_EQ(got.structure->mode, Mode::structure);
    EXPECT_EQ(got.structure->distinct_neurons.front(), 64);
    // Survivors converge: fewer rows are computed than inputs are active.
    EXPECT_LT(got.structure->distinct_rows.back(), want.layers.back().active_inputs);
  }
  const RunResult automatic = run("cpu", net, x, Mode::automatic);
  EXPECT_EQ(automatic.structure->mode, Mode::structure);
  expect_same_answer(automatic, want);
}

TEST(StructureMode, RandomNetworkFindsNothingAndAutoRunsGeneral) {
  RandomNetworkSpec spec;
  spec.neurons = 97, spec.layers = 12, spec.per_row = 7, spec.random_values = true, spec.bias = -0.25f, spec.seed = 2;
  spec.value = static_cast<float>(1.3 * 0.25 / (7 * 0.15));
  const Network net = random_network(spec);
  const Features x = random_features(300, 97, 0.15, 102);
  const RunResult want = run("reference", net, x, Mode::general);
  const RunResult got = run("cpu", net, x, Mode::structure);
  expect_same_answer(got, want);
  for (int32_t d : got.structure->distinct_neurons) EXPECT_EQ(d, 97);
  const RunResult automatic = run("cpu", net, x, Mode::automatic);
  expect_same_answer(automatic, want);
  ASSERT_TRUE(automatic.structure);
  EXPECT_EQ(automatic.structure->mode, Mode::general);
  EXPECT_NE(automatic.structure->reason.find("100.0% of neurons are distinct"), std::string::npos);
}

TEST(StructureMode, PlantedDuplicateColumnsAndInputs) {
  Network net = small_random(120, 10, 7);
  for (int32_t l = 0; l < 10; ++l)
    for (int32_t j = 1; j < 40; ++j) plant_duplicate_column(net, l, 0, j * 3 % 120);
  Features x = random_features(200, 120, 0.2, 8);
  // Inputs 50..99 repeat inputs 0..49 (and 150 repeats 7): equal from the start.
  std::vector<Triplet> t;
  for (const Triplet& e : csr_to_triplets(x.matrix)) {
    if (e.row >= 50 && e.row < 100) continue;
    t.push_back(e);
    if (e.row < 50) t.push_back({e.row + 50, e.col, e.value});
  }
  std::erase_if(t, [](const Triplet& e) { return e.row == 150; });
  for (const Triplet& e : csr_to_triplets(x.matrix))
    if (e.row == 7) t.push_back({150, e.col, e.value});
  x.matrix = csr_from_triplets(200, 120, t, "planted inputs");
  const RunResult want = run("reference", net, x, Mode::general);
  ASSERT_GT(want.categories.size(), 10u);
  const RunResult got = run("cpu", net, x, Mode::structure);
  expect_same_answer(got, want);
  EXPECT_LT(got.structure->distinct_neurons.front(), 120);
  EXPECT_LE(got.structure->distinct_rows.front(), want.layers.front().active_inputs - 20);
}

TEST(StructureMode, SaturatedRowsAreCounted) {
  RandomNetworkSpec spec;
  spec.neurons = 64, spec.layers = 4, spec.per_row = 8, spec.value = 1.0f, spec.bias = 100.f;
  const Network net = random_network(spec);
  const Features x = random_features(30, 64, 0.3, 5);
  const RunResult got = run("cpu", net, x, Mode::structure);
  expect_same_answer(got, run("reference", net, x, Mode::general));
  EXPECT_EQ(got.structure->saturated_rows.back(), 30);
  // Every layer keeps the row at the clip (bias 100): the merged row is carried, none computed.
  EXPECT_EQ(got.structure->carried_at_clip.back(), 30);
  EXPECT_EQ(got.structure->distinct_rows.back(), 0);
}

// Balanced parts move rows that stand for several inputs: they leave as their members, one by one.
TEST(StructureMode, BalancedPartsMoveMergedRows) {
  test::Problem p = test::lopsided_problem(400, 150, 24, 13);
  // Every input after 150 repeated 3 times over (rows 151.. are copies of 150.. in a cycle of 50):
  // the strong part has many equal rows to move.
  std::vector<Triplet> t;
  for (const Triplet& e : csr_to_triplets(p.x.matrix))
    if (e.row < 200) t.push_back(e);
  for (const Triplet& e : csr_to_triplets(p.x.matrix))
    if (e.row >= 150 && e.row < 200)
      for (int32_t k = 1; k < 5; ++k) t.push_back({e.row + 50 * k, e.col, e.value});
  p.x.matrix = csr_from_triplets(400, 96, t, "repeated inputs");
  for (int32_t l = 0; l < 24; ++l) plant_duplicate_column(p.net, l, 1, 50);
  const RunResult want = run("reference", p.net, p.x, Mode::general);
  ASSERT_GT(want.categories.size(), 100u);
  for (int parts : {2, 3}) {
    std::vector<std::unique_ptr<Engine>> engines;
    for (int k = 0; k < parts; ++k) engines.push_back(make_engine("cpu"));
    auto engine = make_partitioned_engine(std::move(engines), Partitioning::balanced);
    EXPECT_TRUE(engine->has_structure_mode());
    RunOptions opt;
    opt.keep_features = true, opt.threads = 2, opt.mode = Mode::structure;
    const RunResult got = engine->run(p.net, p.x, opt);
    expect_same_answer(got, want);
    int64_t given = 0;
    for (const PartReport& r : got.parts) given += r.rows_given;
    EXPECT_GT(given, 0) << parts << " parts";
    ASSERT_TRUE(got.structure);
    EXPECT_EQ(got.structure->distinct_neurons.front(), 95);
  }
}

// A RadiX-Net network with two layers that do not keep the row at the clip: layer 5 (0-based) with one
// column a quarter of its weight (32 x 32 x 0.015625 - 0.3 < 32), layer 9 with every weight halved
// (32 - 0.3 after the bias).
Network radixnet_with_leaks() {
  Network net = radixnet_network({1024, 12, 3});
  for (size_t q = 0; q < net.layers[5].values.size(); ++q)
    if (net.layers[5].col_idx[q] == 3) net.layers[5].values[q] *= 0.25f;
  for (float& v : net.layers[9].values) v *= 0.5f;
  return net;
}

// Whether layer l alone takes one input at the clip in every neuron to the same, by the reference engine.
bool reference_keeps_clip_row(const Network& net, int32_t l) {
  Network one{net.neurons, net.bias, net.clip, {net.layers[l]}};
  std::vector<Triplet> t;
  for (int32_t j = 0; j < net.neurons; ++j) t.push_back({0, j, net.clip});
  Features x;
  x.matrix = csr_from_triplets(1, net.neurons, t, "the row at the clip");
  RunOptions opt;
  opt.keep_features = true;
  const RunResult r = make_engine("reference")->run(one, x, opt);
  return r.features->nnz() == net.neurons &&
         std::all_of(r.features->values.begin(), r.features->values.end(), [&](float v) { return v == net.clip; });
}

// clip_row_kept: boundary b is kept when every layer from b on keeps the row at the clip, each layer
// decided by the reference engine on that one row; a zero sum (a column with no inputs) and a clip of
// zero keep nothing.
TEST(ClipRowKept, MatchesTheReferenceLayerByLayer) {
  const Network net = radixnet_with_leaks();
  std::vector<char> want(net.num_layers() + 1, 1);
  for (int32_t l = net.num_layers() - 1; l >= 0; --l) want[l] = reference_keeps_clip_row(net, l) && want[l + 1];
  EXPECT_EQ(clip_row_kept(net, 2), want);
  EXPECT_EQ(std::count(want.begin(), want.end(), 1), 3);  // after layer 9: boundaries 10, 11, 12
  const std::vector<char> radix = clip_row_kept(radixnet_network({1024, 12, 3}));
  EXPECT_TRUE(std::all_of(radix.begin(), radix.end(), [](char c) { return c == 1; }));
  Network empty_column = radixnet_network({1024, 4, 1});
  for (size_t q = 0; q < empty_column.layers[2].values.size(); ++q)
    if (empty_column.layers[2].col_idx[q] == 7) empty_column.layers[2].values[q] = 0.0f;
  EXPECT_EQ(clip_row_kept(empty_column), (std::vector<char>{0, 0, 0, 1, 1}));
  Network no_clip = radixnet_network({1024, 3, 1});
  no_clip.clip = 0.0f;
  EXPECT_EQ(clip_row_kept(no_clip), (std::vector<char>{0, 0, 0, 0}));
}

// Rows at the clip carried (structure mode): on RadiX-Net 1024 x 100 with a layer (40) that does not keep
// the row at the clip, rows are carried only after it, and every survivor is at the end; the reference's
// answer, counts and features.
TEST(StructureMode, RowsAtTheClipAreCarriedOnlyWhereEveryLaterLayerKeepsThem) {
  Network net = radixnet_network({1024, 100, 7});
  for (size_t q = 0; q < net.layers[40].values.size(); ++q)
    if (net.layers[40].col_idx[q] == 3) net.layers[40].values[q] *= 0.25f;
  const Features x = challenge_inputs(synthetic_digits(300, 8), 1024).features;
  const RunResult want = run("reference", net, x, Mode::general);
  ASSERT_GT(want.categories.size(), 10u);
  const RunResult got = run("cpu", net, x, Mode::structure);
  expect_same_answer(got, want);
  const std::vector<int64_t>& carried = got.structure->carried_at_clip;
  ASSERT_EQ(carried.size(), 100u);
  EXPECT_EQ(carried[39], 0);
  EXPECT_EQ(carried.back(), want.layers.back().active_inputs);
  EXPECT_EQ(got.structure->distinct_rows.back(), 0);
}

TEST(StructureMode, ModeNamesRoundTrip) {
  for (Mode m : {Mode::general, Mode::structure, Mode::automatic}) EXPECT_EQ(parse_mode(to_string(m)), m);
  EXPECT_FALSE(parse_mode("fast"));
  EXPECT_FALSE(make_engine("reference")->has_structure_mode());
  EXPECT_TRUE(make_engine("cpu")->has_structure_mode());
}

}  // namespace spdnn
