// The official Graph Challenge files (../shared/data/graphchallenge): skipped visibly when absent.
#include <gtest/gtest.h>

#include "spdnn/challenge.hpp"
#include "spdnn/engine.hpp"
#include "spdnn/io.hpp"
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
}

TEST(OfficialData, FullTruthHasTheOfficialCount) {
  SPDNN_REQUIRE_DATA(truth, "graphchallenge/neuron1024-l120-categories.tsv.gz");
  EXPECT_EQ(io::read_categories(truth).size(), 1812u);
}

}  // namespace spdnn
