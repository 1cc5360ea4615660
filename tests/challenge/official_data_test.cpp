// The official Graph Challenge files (../shared/data/graphchallenge): skipped visibly when absent.
#include <gtest/gtest.h>

#include "spdnn/challenge/challenge.hpp"
#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/generate.hpp"

#include <algorithm>
#include <iostream>
#include "spdnn/challenge/io.hpp"
#include "support/test_support.hpp"

namespace spdnn {

TEST(OfficialData, Network1024HasThirtyTwoPerRowAndColumn) {
  SPDNN_REQUIRE_DATA(weights, "graphchallenge/neuron1024");
  Network net = io::load_network(weights, 1024, 120, std::nullopt);
  EXPECT_EQ(net.bias, -0.3f);
  EXPECT_EQ(net.edges(), int64_t{32} * 1024 * 120);
  for (const CsrMatrix& w : {net.layers[0], net.layers[59], net.layers[119]}) {
    CsrMatrix t = transpose(w);
    for (int64_t i = 0; i < 1024; ++i) {
      ASSERT_EQ(w.row_nnz(i), 32);
      ASSERT_EQ(t.row_nnz(i), 32);
    }
    for (float v : w.values) ASSERT_EQ(v, 0.0625f);
  }
}

TEST(OfficialData, First1200ImagesGiveTheNineteenOfficialCategories) {
  SPDNN_REQUIRE_DATA(root, "graphchallenge");
  SPDNN_REQUIRE_DATA(images, "graphchallenge/sparse-images-1024-first1200.tsv.gz");
  Network net = io::load_network(root / "neuron1024", 0, 0, std::nullopt);
  ASSERT_EQ(net.num_layers(), 120);
  Features x = io::read_images_tsv(images, 1024);
  EXPECT_EQ(x.count(), 1200);
  auto truth = io::read_categories(root / "neuron1024-l120-categories-first1200.tsv.gz");
  ASSERT_EQ(truth.size(), 19u);

  RunResult ref = make_engine("reference")->run(net, x, {});
  EXPECT_EQ(ref.categories, truth);
  // DATA.md: active rows fall 1200 -> 1098 -> 786 -> 415 -> 195 -> 98; layer 6 has 30464 nonzeros
  // when each output sums in ascending input order.
  EXPECT_EQ(ref.layers[0].active_inputs, 1098);
  EXPECT_EQ(ref.layers[1].active_inputs, 786);
  EXPECT_EQ(ref.layers[4].active_inputs, 98);
  EXPECT_EQ(ref.layers[5].nnz, 30464);
  EXPECT_EQ(ref.layers[119].active_inputs, 19);

  RunResult cpu = make_engine("cpu")->run(net, x, {});
  EXPECT_EQ(cpu.categories, truth);
  EXPECT_EQ(cpu.layers, ref.layers);

  // Structure mode finds the official layers' neuron groups (64 of 16; 32 of 32 in every 6th layer)
  // and gives the same answer and counts; the 19 survivors end saturated, carried at the clip (every
  // official layer keeps the row at the clip there), none computed.
  RunOptions structure;
  structure.mode = Mode::structure;
  RunResult st = make_engine("cpu")->run(net, x, structure);
  EXPECT_EQ(st.categories, truth);
  EXPECT_EQ(st.layers, ref.layers);
  ASSERT_TRUE(st.structure);
  for (int32_t l = 0; l < 120; ++l) ASSERT_EQ(st.structure->distinct_neurons[l], l % 6 == 5 ? 32 : 64) << l;
  EXPECT_EQ(st.structure->distinct_rows.back(), 0);
  EXPECT_EQ(st.structure->saturated_rows.back(), 19);
  EXPECT_EQ(st.structure->carried_at_clip.back(), 19);
}

TEST(OfficialData, FullTruthHasTheOfficialCount) {
  SPDNN_REQUIRE_DATA(truth, "graphchallenge/neuron1024-l120-categories.tsv.gz");
  EXPECT_EQ(io::read_categories(truth).size(), 1812u);
}

}  // namespace spdnn

namespace spdnn {

TEST(OfficialData, FirstPeriodOfGeneratedRadixNetEqualsTheOfficialLayers) {
  SPDNN_REQUIRE_DATA(weights, "graphchallenge/neuron1024");
  Network official = io::load_network(weights, 1024, 8, std::nullopt);
  for (int32_t l = 1; l <= 6; ++l) EXPECT_EQ(radixnet_layer({1024, 120, 1}, l), official.layers[l - 1]) << "layer " << l;
  // Layer 7 starts the first permuted period: the official permutation is not reproducible.
  EXPECT_NE(radixnet_layer({1024, 120, 1}, 7), official.layers[6]);
}

TEST(OfficialData, MnistInputsMatchTheOfficialImages) {
  SPDNN_REQUIRE_DATA(mnist, "mnist/train-images-idx3-ubyte.gz");
  SPDNN_REQUIRE_DATA(images, "graphchallenge/sparse-images-1024-first1200.tsv.gz");
  io::MnistImages m = io::read_mnist_images(mnist);
  ASSERT_EQ(m.count, 60000);
  GeneratedInputs g = challenge_inputs({m.count, m.rows, m.cols, std::move(m.pixels)}, 1024);
  EXPECT_EQ(g.features.nnz(), 6374505);  // the official total, by the order-statistic threshold
  EXPECT_NEAR(g.threshold, 184.65, 0.1);
  Features official = io::read_images_tsv(images, 1024);
  int64_t differ = 0;
  for (int64_t r = 0; r < 1200; ++r) {
    auto a = official.matrix.row_cols(r), b = g.features.matrix.row_cols(r);
    std::vector<int32_t> sym;
    std::set_symmetric_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(sym));
    differ += static_cast<int64_t>(sym.size());
  }
  const double agree = 1.0 - static_cast<double>(differ) / (1200.0 * 1024);
  EXPECT_GE(agree, 0.999) << "pixels differing: " << differ;
  std::cout << "[ info ] generated vs official first 1200 images: " << agree * 100 << "% of pixels agree\n";
}

}  // namespace spdnn
