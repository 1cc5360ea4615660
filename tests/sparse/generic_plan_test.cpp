// The generic kernel's work plan, checked on the CPU: every nonzero in exactly one piece, a row's pieces
// consecutive in one block and about equal, idle slots empty; and one small case by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "sparse/cuda/generic_plan.hpp"
#include "spdnn/error.hpp"

namespace spdnn {

namespace {

// A matrix whose row r has lengths[r] nonzeros in its first columns.
CsrMatrix rows_of(const std::vector<int>& lengths, int64_t cols) {
  std::vector<Triplet> t;
  for (size_t r = 0; r < lengths.size(); ++r)
    for (int c = 0; c < lengths[r]; ++c) t.push_back({static_cast<int32_t>(r), c, 1.0f});
  return csr_from_triplets(static_cast<int64_t>(lengths.size()), cols, std::move(t), "test rows");
}

void expect_valid(const CsrMatrix& w, const cuda::GenericPlan& plan, int piece_nnz) {
  ASSERT_EQ(plan.slots.size() % static_cast<size_t>(plan.warps), 0u);
  std::vector<int> covered(static_cast<size_t>(w.nnz()), 0);
  std::vector<int> seen(static_cast<size_t>(w.rows), 0);
  int32_t last_row = -1;
  for (int64_t b = 0; b < plan.blocks(); ++b)
    for (int s = 0; s < plan.warps; ++s) {
      const cuda::GenericPiece& p = plan.slots[static_cast<size_t>(b * plan.warps + s)];
      if (p.row < 0) {
        EXPECT_EQ(p.nnz, 0) << "idle slot " << b << "/" << s;
        continue;
      }
      ASSERT_LT(p.row, w.rows);
      EXPECT_GE(p.row, last_row) << "rows in order";
      last_row = p.row;
      ++seen[static_cast<size_t>(p.row)];
      const int64_t len = w.row_nnz(p.row);
      ASSERT_GE(p.first, 0);
      ASSERT_LE(p.first + p.pieces, plan.warps) << "a row's pieces lie in one block";
      EXPECT_EQ(p.pieces, std::clamp<int64_t>((len + piece_nnz - 1) / piece_nnz, 1, plan.warps)) << "row " << p.row;
      EXPECT_LE(p.nnz, (len + p.pieces - 1) / p.pieces);
      EXPECT_GE(p.nnz, len / p.pieces);
      // Its piece index is s - first, and piece q starts where the q earlier ones end.
      const cuda::GenericPiece& lead = plan.slots[static_cast<size_t>(b * plan.warps + p.first)];
      EXPECT_EQ(lead.row, p.row);
      int64_t begin = w.row_ptr[p.row];
      for (int q = p.first; q < s; ++q) begin += plan.slots[static_cast<size_t>(b * plan.warps + q)].nnz;
      EXPECT_EQ(p.begin, begin) << "row " << p.row << " piece " << s - p.first;
      for (int64_t i = p.begin; i < p.begin + p.nnz; ++i) ++covered[static_cast<size_t>(i)];
    }
  for (int64_t r = 0; r < w.rows; ++r)
    EXPECT_EQ(seen[static_cast<size_t>(r)], std::clamp<int64_t>((w.row_nnz(r) + piece_nnz - 1) / piece_nnz, 1, plan.warps))
        << "pieces of row " << r;
  EXPECT_TRUE(std::all_of(covered.begin(), covered.end(), [](int c) { return c == 1; })) << "each nonzero once";
}

}  // namespace

TEST(GenericPlan, SmallCaseByHand) {
  // Rows of 0, 64, 65, 1000 and 3 nonzeros, 8 warps, pieces of 64: the 1000-long row needs all eight
  // warps of a block of its own, so it opens block 1, and row 4 opens block 2.
  const CsrMatrix w = rows_of({0, 64, 65, 1000, 3}, 1000);
  const cuda::GenericPlan plan = cuda::plan_generic(w, 8, 64);
  ASSERT_EQ(plan.blocks(), 3);
  expect_valid(w, plan, 64);
  const auto& s = plan.slots;
  EXPECT_EQ(s[0].row, 0);
  EXPECT_EQ(s[0].nnz, 0);
  EXPECT_EQ(s[1].row, 1);
  EXPECT_EQ(s[1].nnz, 64);
  EXPECT_EQ(s[2].row, 2);
  EXPECT_EQ(s[2].nnz, 32);
  EXPECT_EQ(s[3].nnz, 33);
  EXPECT_EQ(s[3].first, 2);
  EXPECT_EQ(s[3].pieces, 2);
  for (int q = 4; q < 8; ++q) EXPECT_EQ(s[q].row, -1);
  for (int q = 8; q < 16; ++q) {
    EXPECT_EQ(s[q].row, 3);
    EXPECT_EQ(s[q].nnz, 125);
    EXPECT_EQ(s[q].first, 0);
  }
  EXPECT_EQ(s[16].row, 4);
  EXPECT_EQ(s[16].nnz, 3);
}

TEST(GenericPlan, RandomRowLengthsAreCoveredExactly) {
  std::mt19937_64 rng(17);
  for (const int warps : {1, 4, 8}) {
    for (const int piece : {1, 32, 64}) {
      std::vector<int> lengths(300);
      for (auto& l : lengths) l = static_cast<int>(rng() % 5 == 0 ? rng() % 900 : rng() % 80);
      const CsrMatrix w = rows_of(lengths, 900);
      expect_valid(w, cuda::plan_generic(w, warps, piece), piece);
    }
  }
}

TEST(GenericPlan, NoRowsNoBlocksAndBadParametersAreErrors) {
  EXPECT_EQ(cuda::plan_generic(rows_of({}, 5)).blocks(), 0);
  EXPECT_THROW(cuda::plan_generic(rows_of({1}, 5), 0, 64), Error);
  EXPECT_THROW(cuda::plan_generic(rows_of({1}, 5), 8, 0), Error);
}

}  // namespace spdnn
