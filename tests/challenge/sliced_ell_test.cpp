// The CUDA engine's weight layout, checked on the CPU: every row through sliced_ell_row must equal the
// reference engine's layer, bit for bit, whatever the tile size, chunk size and previous order.
#include <gtest/gtest.h>

#include <numeric>

#include "challenge/cuda/sliced_ell.hpp"
#include "core/rng.hpp"
#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/generate.hpp"

namespace spdnn {

namespace {

struct Case {
  int32_t neurons, per_row, tile, chunk;
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
  cuda::SlicedEllLayer s = cuda::build_sliced_ell(inputs_of, in_position, cuda::group_outputs(inputs_of), c.tile, c.chunk);
  ASSERT_EQ(s.tiles(), (n + c.tile - 1) / c.tile);
  for (int32_t ch = 0; ch < s.chunks(); ++ch) ASSERT_LE(s.chunk_size[ch], c.chunk);

  Features x = random_features(40, n, 0.3, 12);
  Network one;
  one.neurons = n, one.bias = net.bias, one.layers = {w};
  RunOptions opt;
  opt.keep_features = true;
  RunResult want = make_engine("reference")->run(one, x, opt);
  int64_t nonzero = 0;
  for (int64_t r = 0; r < x.count(); ++r) {
    std::vector<float> in(n, 0.0f);  // physical order
    for (int64_t p = x.matrix.row_ptr[r]; p < x.matrix.row_ptr[r + 1]; ++p) in[in_position[x.matrix.col_idx[p]]] = x.matrix.values[p];
    std::vector<float> got = cuda::sliced_ell_row(s, in, one.bias, one.clip);
    std::vector<float> expect(n, 0.0f);
    for (int64_t p = want.features->row_ptr[r]; p < want.features->row_ptr[r + 1]; ++p)
      expect[want.features->col_idx[p]] = want.features->values[p];
    for (int32_t p = 0; p < n; ++p) {
      ASSERT_EQ(got[p], expect[s.out_order[p]]) << "row " << r << " position " << p;
      nonzero += got[p] != 0.0f;
    }
  }
  EXPECT_GT(nonzero, 0);
}

INSTANTIATE_TEST_SUITE_P(Layouts, SlicedEll,
                         testing::Values(Case{1024, 32, 256, 1024, true}, Case{4096, 32, 256, 1024, true},
                                         Case{1000, 32, 256, 1024, false}, Case{777, 20, 128, 100, false},
                                         Case{300, 40, 256, 7, false}, Case{64, 64, 32, 16, false}));

TEST(SlicedEllGrouping, RadixNetTilesHaveSmallFootprints) {
  // Columns with identical inputs are grouped, so a 256-output tile of a RadiX-Net layer stages about
  // 16 blocks x 32 residues = 512 inputs, not the ~8192 of 256 scattered columns.
  Network net = radixnet_network({16384, 12, 1});
  for (const CsrMatrix& w : {net.layers[0], net.layers[11]}) {
    std::vector<int32_t> identity(16384);
    std::iota(identity.begin(), identity.end(), 0);
    const CsrMatrix inputs_of = transpose(w);
    cuda::SlicedEllLayer s = cuda::build_sliced_ell(inputs_of, identity, cuda::group_outputs(inputs_of), 256, 1024);
    int64_t staged = 0;
    for (int32_t c = 0; c < s.chunks(); ++c) staged += s.chunk_size[c];
    EXPECT_LE(staged / s.tiles(), 1024);
    EXPECT_EQ(s.chunks(), s.tiles());  // one chunk per tile
  }
}

}  // namespace spdnn
