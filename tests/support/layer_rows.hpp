// The CUDA engine's weight layouts checked on the CPU: a layout's emulated rows (sliced_ell_row,
// column_layer_row) against the reference engine's layer, bit for bit.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/network.hpp"

namespace spdnn::test {

// Runs `x` through the one-layer network `w` (with `bias`) on the reference engine, and each row of `x`
// through `row_of(in, bias, clip)`, `in` holding the row at the physical positions `in_position`. Position
// p of each result must equal neuron out_order[p] bit for bit; some output must be nonzero.
template <class RowOf>
void expect_rows_match_reference(const CsrMatrix& w, float bias, const Features& x, const std::vector<int32_t>& in_position,
                                 const std::vector<int32_t>& out_order, RowOf row_of) {
  const auto n = static_cast<int32_t>(w.cols);
  Network one;
  one.neurons = n, one.bias = bias, one.layers = {w};
  RunOptions opt;
  opt.keep_features = true;
  const RunResult want = make_engine("reference")->run(one, x, opt);
  int64_t nonzero = 0;
  for (int64_t r = 0; r < x.count(); ++r) {
    std::vector<float> in(n, 0.0f);
    for (int64_t p = x.matrix.row_ptr[r]; p < x.matrix.row_ptr[r + 1]; ++p) in[in_position[x.matrix.col_idx[p]]] = x.matrix.values[p];
    const std::vector<float> got = row_of(in, one.bias, one.clip);
    std::vector<float> expect(n, 0.0f);
    for (int64_t p = want.features->row_ptr[r]; p < want.features->row_ptr[r + 1]; ++p)
      expect[want.features->col_idx[p]] = want.features->values[p];
    for (int32_t p = 0; p < n; ++p) {
      ASSERT_EQ(got[p], expect[out_order[p]]) << "row " << r << " position " << p;
      nonzero += got[p] != 0.0f;
    }
  }
  EXPECT_GT(nonzero, 0);
}

}  // namespace spdnn::test
