// The feature-major input order (src/challenge/cuda/row_order.hpp): rows sorted by which position blocks
// hold nonzeros, block 0 first, ties in their order, every row kept once.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "challenge/cuda/row_order.hpp"
#include "spdnn/challenge/generate.hpp"

namespace spdnn {
namespace {

CsrMatrix rows_with(int64_t cols, const std::vector<std::vector<int32_t>>& entries) {
  std::vector<Triplet> t;
  for (size_t r = 0; r < entries.size(); ++r)
    for (int32_t c : entries[r]) t.push_back({static_cast<int32_t>(r), c, 1.0f});
  return csr_from_triplets(static_cast<int64_t>(entries.size()), cols, t, "rows");
}

// 512 positions: blocks of two. A nonzero in block 0 is the most significant bit, so those rows come last;
// rows with equal patterns keep their order; an empty pattern sorts first.
TEST(RowOrder, SortsByBlockPatternMostSignificantFirst) {
  const CsrMatrix x = rows_with(512, {{500}, {0}, {501, 511}, {1}, {}, {0, 500}, {2}});
  std::vector<int32_t> rows{0, 1, 2, 3, 4, 5, 6};
  cuda::order_rows_by_pattern(x, rows);
  // keys: row 4 none; row 0 and 2 blocks 250 (2: also 255); row 6 block 1; rows 1, 3 block 0; row 5 blocks 0, 250
  EXPECT_EQ(rows, (std::vector<int32_t>{4, 0, 2, 6, 1, 3, 5}));
}

// Fewer positions than blocks, and a subset of the rows: a permutation of the subset.
TEST(RowOrder, KeepsEveryRowOnce) {
  const Features f = random_features(300, 100, 0.1, 3);
  std::vector<int32_t> rows;
  for (int32_t r = 0; r < 300; r += 3) rows.push_back(r);
  std::vector<int32_t> ordered = rows;
  cuda::order_rows_by_pattern(f.matrix, ordered);
  EXPECT_NE(ordered, rows);
  std::sort(ordered.begin(), ordered.end());
  EXPECT_EQ(ordered, rows);
}

}  // namespace
}  // namespace spdnn
