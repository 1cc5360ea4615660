// The candidate rules of the generated kernels (src/sparse/candidates.cpp): which configurations are tried
// for which matrix and N. Plain C++, no GPU.
#include <gtest/gtest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "sparse/codegen/emit_conv2d.hpp"
#include "spdnn/sparse/kernel_config.hpp"
#include "spdnn/sparse/sparse_conv2d.hpp"
#include "spdnn/sparse/sparse_linear.hpp"
#include "support/random_weights.hpp"

namespace spdnn {

using test::random_weights;

namespace {
// The candidates for W and N, each checked to be a configuration the emitter accepts.
std::vector<KernelConfig> checked_candidates(const CsrMatrix& w, int64_t n) {
  auto configs = sparse_linear_candidates(w, n, 90);
  for (const auto& c : configs) validate(c);
  return configs;
}
}  // namespace

// Tall groups (64 and 128 rows) are tried where X is wide (N >= 1024) and the matrix small enough to
// compile them (<= 65536 nonzeros); every candidate is a shape the emitter accepts.
TEST(Candidates, TallGroupsWhereXIsWide) {
  auto tallest = [](const CsrMatrix& w, int64_t n) {
    int rows = 0;
    for (const auto& s : checked_candidates(w, n)) rows = std::max(rows, s.rows);
    return rows;
  };
  const CsrMatrix w = random_weights(256, 128, 0.1, 7);
  EXPECT_EQ(tallest(w, 6272), 128);
  EXPECT_EQ(tallest(w, 1024), 128);
  EXPECT_EQ(tallest(w, 784), 32) << "narrow X: no tall groups";
  EXPECT_EQ(tallest(random_weights(100, 128, 0.1, 7), 6272), 64) << "fewer rows than 128";
  EXPECT_EQ(tallest(random_weights(40, 128, 0.1, 7), 6272), 32) << "fewer rows than 64";
  const CsrMatrix big = random_weights(512, 1600, 0.1, 7);
  ASSERT_GT(big.nnz(), 65536);
  EXPECT_EQ(tallest(big, 6272), 32) << "too large to compile them";
}

// An untuned layer runs the first candidate: 8-row groups where 32-row groups would make fewer than 64
// blocks of 256 columns (a large matrix at small N), else the rows chosen by size.
TEST(Candidates, EightRowsFirstWhereThirtyTwoLeaveSmsIdle) {
  auto first_rows = [](int64_t rows, int64_t cols, int64_t n) {
    return checked_candidates(random_weights(rows, cols, 0.1, 7), n).front().rows;
  };
  EXPECT_EQ(first_rows(256, 1024, 196), 8) << "8 groups of 32 rows";
  EXPECT_EQ(first_rows(1024, 512, 196), 8) << "32 groups";
  EXPECT_EQ(first_rows(512, 2048, 392), 8) << "16 groups x 2 column tiles";
  EXPECT_EQ(first_rows(256, 1024, 1568), 8) << "8 groups x 7 column tiles";
  EXPECT_EQ(first_rows(2048, 512, 392), 32) << "64 groups x 2 column tiles";
  EXPECT_EQ(first_rows(1024, 512, 1568), 32) << "32 groups x 7 column tiles";
  EXPECT_EQ(first_rows(128, 512, 784), 32) << "6.5k nonzeros: small enough for 32-row groups";
  // Each configuration is still tried once.
  const auto all = checked_candidates(random_weights(256, 1024, 0.1, 7), 196);
  for (const auto& c : all) EXPECT_EQ(std::count(all.begin(), all.end(), c), 1) << to_string(c);
}

// Split K within a block (2 and 4 slices of 512 threads) is tried where rows are long (K >= 512) and
// X is wide enough (N >= 384).
TEST(Candidates, SplitWithinABlockWhereRowsAreLong) {
  auto block_slices = [](const CsrMatrix& w, int64_t n) {
    std::vector<int> s;
    for (const auto& c : checked_candidates(w, n))
      if (c.block_slices > 1) s.push_back(c.block_slices);
    return s;
  };
  EXPECT_EQ(block_slices(random_weights(256, 1024, 0.1, 7), 1568), (std::vector<int>{2, 4}));
  EXPECT_EQ(block_slices(random_weights(2048, 512, 0.1, 7), 392), (std::vector<int>{2, 4}));
  EXPECT_TRUE(block_slices(random_weights(256, 1024, 0.1, 7), 196).empty()) << "narrow X";
  EXPECT_TRUE(block_slices(random_weights(1024, 256, 0.1, 7), 1568).empty()) << "short rows";
}

// Eight rows per group are tried for a large matrix (over 16384 nonzeros, where only 32 rows are tried
// otherwise) when its 32-row groups would make fewer than 64 blocks of 256 columns.
TEST(Candidates, EightRowsWhereFewGroupsWouldIdleTheGPU) {
  auto row_counts = [](const CsrMatrix& w, int64_t n) {
    std::set<int> rows;
    for (const auto& c : checked_candidates(w, n))
      if (c.cluster_slices == 1) rows.insert(c.rows);
    return rows;
  };
  const CsrMatrix wide = random_weights(512, 2048, 0.05, 7);  // 16 groups of 32 rows
  ASSERT_GT(wide.nnz(), 16384);
  EXPECT_TRUE(row_counts(wide, 392).contains(8)) << "16 groups x 2 blocks";
  EXPECT_TRUE(row_counts(wide, 49).contains(8)) << "16 groups x 1 block";
  EXPECT_FALSE(row_counts(wide, 1568).contains(8)) << "16 groups x 7 blocks";
  EXPECT_FALSE(row_counts(random_weights(2048, 1024, 0.05, 7), 392).contains(8)) << "64 groups x 2 blocks";
}

// Two row groups within a block are tried where X is very wide (N >= 4096) and W at least 256 x 256.
TEST(Candidates, RowGroupsWithinABlockWhereXIsVeryWide) {
  auto paired = [](const CsrMatrix& w, int64_t n) {
    std::vector<int> rows;
    for (const auto& c : sparse_linear_candidates(w, n, 90))
      if (c.block_groups == 2) rows.push_back(c.rows);
    return rows;
  };
  EXPECT_EQ(paired(random_weights(512, 256, 0.1, 7), 6272), (std::vector<int>{32, 64}));
  EXPECT_TRUE(paired(random_weights(512, 256, 0.1, 7), 1568).empty()) << "narrower X";
  EXPECT_TRUE(paired(random_weights(256, 64, 0.1, 7), 25088).empty()) << "short rows";
  EXPECT_TRUE(paired(random_weights(128, 512, 0.1, 7), 6272).empty()) << "few rows";
}

// By default every candidate compiles the call's N in; asked not to, none does.
TEST(Candidates, CompileTheStrideInUnlessAskedNotTo) {
  const CsrMatrix w = random_weights(256, 1024, 0.1, 7);
  for (int64_t n : {1, 196, 1568}) {
    const auto fixed = sparse_linear_candidates(w, n, 90);
    const auto by_argument = sparse_linear_candidates(w, n, 90, false);
    ASSERT_EQ(fixed.size(), by_argument.size()) << "the same shapes either way";
    for (size_t i = 0; i < fixed.size(); ++i) {
      EXPECT_EQ(fixed[i].fixed_n, 1) << n;
      EXPECT_EQ(by_argument[i].fixed_n, 0) << n;
      KernelConfig same = by_argument[i];
      same.fixed_n = 1;
      EXPECT_EQ(fixed[i], same);
    }
  }
}

// A convolution's candidates: configurations its emitter accepts (one pixel a thread), rows by the
// filter's size, 8 rows where 32-row groups would leave most SMs idle, 2 rows and 8 and 4 rows split 4 ways
// where even 8-row groups make few blocks, 32 rows split 4 ways for long rows, N's schedule (ptxas -O1).
// Written "rows", "rows/S" (K split within a block) and "rows@S" (over a cluster: only where
// SPDNN_CONV_CLUSTER=1 asks, for long rows over at most 2048 pixels on sm_90).
TEST(Candidates, ConvolutionsTryRowsTheirEmitterAccepts) {
  using Names = std::set<std::string>;
  auto rows_of = [](const CsrMatrix& w, const Conv2dShape& s) {
    Names rows;
    for (const KernelConfig& c : sparse_conv2d_candidates(w, s, 90)) {
      EXPECT_EQ(codegen::why_invalid_conv2d(c), std::nullopt) << to_string(c);
      EXPECT_EQ(c.fixed_n, 1);
      EXPECT_TRUE(slices_of(c) == 1 || c.threads == 512) << to_string(c);
      rows.insert(c.block_slices > 1     ? fmt::format("{}/{}", c.rows, c.block_slices)
                  : c.cluster_slices > 1 ? fmt::format("{}@{}", c.rows, c.cluster_slices)
                                         : std::to_string(c.rows));
    }
    return rows;
  };
  // 512 x 512 x 3 x 3 at 90% (236k nonzeros, 460 a row): 32 rows by size, halved to 8 so that a function
  // holds at most 4096 nonzeros (32-row groups split 4 ways keep their 32); at batch 1 on 7 x 7 pixels 64
  // groups of 8 rows make 64 blocks, so 2 rows and 8 and 4 rows split too; at batch 8 on 7 x 7, 256 blocks
  // of 8 rows are still few; at batch 8 on 28 x 28 there are blocks enough.
  const CsrMatrix big = random_weights(512, 4608, 0.1, 3);
  EXPECT_EQ(rows_of(big, {1, 512, 7, 7, 512, 3, 3, 1, 1, 1}), (Names{"2", "8", "8/4", "4/4"}));
  EXPECT_EQ(rows_of(big, {8, 512, 7, 7, 512, 3, 3, 1, 1, 1}), (Names{"2", "8", "8/4", "4/4", "32/4"}));
  EXPECT_EQ(rows_of(big, {8, 512, 28, 28, 512, 3, 3, 1, 1, 1}), (Names{"8", "32/4"}));
  setenv("SPDNN_CONV_CLUSTER", "1", 1);
  EXPECT_EQ(rows_of(big, {8, 512, 7, 7, 512, 3, 3, 1, 1, 1}), (Names{"2", "8", "8/4", "4/4", "32/4", "32@8", "32@4"}));
  EXPECT_EQ(rows_of(big, {8, 512, 28, 28, 512, 3, 3, 1, 1, 1}), (Names{"8", "32/4"}));  // 6272 pixels
  EXPECT_EQ(sparse_conv2d_candidates(big, {8, 512, 7, 7, 512, 3, 3, 1, 1, 1}, 80).size(), 5u);  // no clusters before sm_90
  unsetenv("SPDNN_CONV_CLUSTER");
  // At 98% (92 a row) the 32 rows fit: 2.9k nonzeros a function.
  EXPECT_EQ(rows_of(random_weights(512, 4608, 0.02, 3), {8, 512, 28, 28, 512, 3, 3, 1, 1, 1}), (Names{"32", "32/4"}));
  // An untuned layer runs the first candidate: with few blocks, 8-row groups where they make at least one
  // block per SM of an H100 (132), else 2-row groups; with enough blocks, rows by size.
  const KernelConfig first = sparse_conv2d_candidates(big, {1, 512, 7, 7, 512, 3, 3, 1, 1, 1}, 90).front();
  EXPECT_EQ(first.rows, 2) << "64 blocks of 8-row groups";
  EXPECT_EQ(first.block_slices, 1);
  const KernelConfig eight = sparse_conv2d_candidates(big, {8, 512, 7, 7, 512, 3, 3, 1, 1, 1}, 90).front();
  EXPECT_EQ(eight.rows, 8) << "256 blocks of 8-row groups";
  EXPECT_EQ(eight.block_slices, 1);
  const CsrMatrix first_layers = random_weights(64, 576, 0.05, 3);  // 64 x 64 x 3 x 3 on 56 x 56: 200 blocks
  EXPECT_EQ(sparse_conv2d_candidates(first_layers, {1, 64, 56, 56, 64, 3, 3, 1, 1, 1}, 90).front().rows, 8);
  EXPECT_EQ(sparse_conv2d_candidates(big, {8, 512, 28, 28, 512, 3, 3, 1, 1, 1}, 90).front().rows, 8);
  // A small filter tries 16, 32 and 8 rows, capped at its 12 out-channels (and 2 rows: 2 x 1 blocks).
  EXPECT_EQ(rows_of(random_weights(12, 90, 0.3, 4), {2, 10, 9, 9, 12, 3, 3, 1, 1, 1}), (Names{"2", "8", "12"}));
  EXPECT_FALSE(sparse_conv2d_candidates(random_weights(3, 27, 0.0, 5), {1, 3, 5, 5, 3, 3, 3, 1, 1, 1}, 90).empty());
}

}  // namespace spdnn
