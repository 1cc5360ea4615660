// KernelConfig, the one configuration type of the generated kernels: its text form, its checks, and the
// candidate rules that produce configurations (all plain C++, no GPU).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "spdnn/error.hpp"
#include "spdnn/sparse/kernel_config.hpp"
#include "spdnn/sparse/sparse_linear.hpp"
#include "support/random_weights.hpp"
#include "support/test_support.hpp"

namespace spdnn {

namespace {

std::string usage_error(std::string_view text) {
  try {
    parse_kernel_config(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::usage) << text;
    return e.what();
  }
  ADD_FAILURE() << "'" << text << "' parsed";
  return {};
}

}  // namespace

TEST(KernelConfig, TextRoundTripsEveryField) {
  const KernelConfig defaults;
  EXPECT_EQ(to_string(defaults),
            "rows=16,cols=1,threads=128,cluster_slices=1,prefetch=0,bound=256,block_slices=1,block_groups=1,fixed_n=0");
  EXPECT_EQ(parse_kernel_config(""), defaults) << "no field named: every default";
  // Each field set through the table, one at a time, to a value that is valid on its own.
  const std::pair<std::string_view, int> values[] = {{"rows", 32},          {"cols", 2},   {"threads", 64},
                                                     {"cluster_slices", 4}, {"prefetch", 32}, {"bound", 512},
                                                     {"block_slices", 2},   {"block_groups", 2}, {"fixed_n", 1}};
  ASSERT_EQ(std::size(values), kKernelConfigFields.size());
  std::set<std::string> texts;
  for (const auto& [name, value] : values) {
    const KernelConfig c = parse_kernel_config(std::string(name) + "=" + std::to_string(value));
    EXPECT_NE(c, defaults) << name;
    EXPECT_EQ(parse_kernel_config(to_string(c)), c) << name;
    texts.insert(to_string(c));
  }
  EXPECT_EQ(texts.size(), std::size(values)) << "every field shows in the text";
  const KernelConfig c = parse_kernel_config("fixed_n=1,rows=32,threads=512,bound=512,block_slices=4,prefetch=32");
  EXPECT_EQ(c, (KernelConfig{.rows = 32, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = 4, .fixed_n = 1}));
}

TEST(KernelConfig, BadTextNamesThePairAndTheFields) {
  EXPECT_NE(usage_error("rows=8,bogus=1").find("unknown field 'bogus'"), std::string::npos);
  EXPECT_NE(usage_error("rows=8,bogus=1").find("fields: rows, cols"), std::string::npos);
  EXPECT_NE(usage_error("rows=8,rows=16").find("'rows' given twice"), std::string::npos);
  EXPECT_NE(usage_error("rows=").find("'' is not an integer"), std::string::npos);
  EXPECT_NE(usage_error("rows=3x").find("'3x' is not an integer"), std::string::npos);
  EXPECT_NE(usage_error("rows").find("expected name=value"), std::string::npos);
  EXPECT_NE(usage_error("rows=8,").find("expected name=value"), std::string::npos) << "an empty pair";
}

TEST(KernelConfig, ChecksSayWhy) {
  auto why = [](const KernelConfig& c) { return why_invalid(c).value_or("valid"); };
  EXPECT_EQ(why({}), "valid");
  EXPECT_EQ(why({.rows = 0}), "0 rows per group (1..128)");
  EXPECT_EQ(why({.rows = 129}), "129 rows per group (1..128)");
  EXPECT_EQ(why({.cols = 3}), "3 columns per thread (1, 2 or 4)");
  EXPECT_EQ(why({.threads = 100}), "100 threads per block (a multiple of 32, at most the bound 256)");
  EXPECT_EQ(why({.threads = 512}), "512 threads per block (a multiple of 32, at most the bound 256)");
  EXPECT_EQ(why({.bound = 384}), "a launch bound of 384 threads (256, 512 or 1024)");
  EXPECT_EQ(why({.rows = 64, .cols = 4}), "64 x 4 accumulators per thread exceed 128");
  EXPECT_EQ(why({.cluster_slices = 3}), "3 K slices over a cluster (1, 2, 4 or 8)");
  EXPECT_EQ(why({.rows = 64, .cluster_slices = 2}), "split K holds at most 32 partial sums per thread, not 64 x 1");
  EXPECT_EQ(why({.prefetch = 65}), "a prefetch of 65 loads (0..64)");
  EXPECT_EQ(why({.threads = 512, .cluster_slices = 2, .bound = 512, .block_slices = 2}),
            "K is split over a cluster or within a block, not both");
  EXPECT_EQ(why({.threads = 512, .bound = 512, .block_slices = 2, .block_groups = 2}), "row groups within a block do not split K");
  EXPECT_EQ(why({.threads = 64, .block_slices = 4}), "64 threads do not make 4 sets of whole warps");
  EXPECT_EQ(why({.fixed_n = 2}), "fixed_n = 2 (0: N an argument, 1: N compiled in)");
  EXPECT_EQ(std::string(test::error_from([] { validate({.cols = 3}); }).what()),
            "kernel config rows=16,cols=3,threads=128,cluster_slices=1,prefetch=0,bound=256,block_slices=1,block_groups=1,"
            "fixed_n=0: 3 columns per thread (1, 2 or 4)");
}

TEST(KernelConfig, AModuleIsItsConfigurationWithoutLaunchParameters) {
  const KernelConfig c{.rows = 32, .threads = 512, .bound = 512, .block_slices = 4};
  const KernelConfig m = module_of(c);
  EXPECT_EQ(m.threads, KernelConfig{}.threads) << "the block width is a launch parameter";
  EXPECT_EQ(m.block_slices, 4);
  EXPECT_EQ(module_of(KernelConfig{.rows = 32, .threads = 64}), module_of(KernelConfig{.rows = 32, .threads = 256}));
  int launch = 0;
  for (const auto& f : kKernelConfigFields) launch += f.launch;
  EXPECT_EQ(launch, 1) << "threads alone: column loops and blocks kept apart were removed (0.5)";
}

// The candidate rules give valid configurations, all with the same prefetch and N compiled in, each once;
// a random matrix with long rows at a wide N meets most rules at once.
TEST(KernelConfig, CandidateRulesGiveValidDistinctConfigurations) {
  for (const auto& [rows, cols, density, n] : {std::tuple{256, 1024, 0.1, int64_t{1568}}, std::tuple{512, 256, 0.1, int64_t{6272}},
                                               std::tuple{37, 53, 0.5, int64_t{49}}, std::tuple{2048, 512, 0.05, int64_t{392}}}) {
    const CsrMatrix w = test::random_weights(rows, cols, density, 7);
    const auto configs = sparse_linear_candidates(w, n, 90);
    ASSERT_FALSE(configs.empty());
    std::set<std::string> seen;
    for (const auto& c : configs) {
      EXPECT_FALSE(why_invalid(c).has_value()) << to_string(c) << ": " << why_invalid(c).value_or("");
      EXPECT_EQ(c.prefetch, 32);
      EXPECT_EQ(c.fixed_n, 1);
      EXPECT_EQ(n % c.cols, 0);
      EXPECT_TRUE(seen.insert(to_string(c)).second) << "twice: " << to_string(c);
    }
  }
  // Before sm_90 there are no clusters.
  for (const auto& c : sparse_linear_candidates(test::random_weights(256, 1024, 0.1, 7), 196, 80)) EXPECT_EQ(c.cluster_slices, 1);
  bool cluster = false;
  for (const auto& c : sparse_linear_candidates(test::random_weights(256, 1024, 0.1, 7), 196, 90)) cluster |= c.cluster_slices > 1;
  EXPECT_TRUE(cluster) << "long rows at small N split K over a cluster on sm_90";
}

// An untuned layer keeps its first candidate's width where that fills the SMs, else halves it down to 128
// threads: the measured cases (132 SMs; DLMC 512 x 4608, 8-row groups split 4 ways: 64 row groups, a block
// covers threads / 4 pixels) and the limits.
TEST(KernelConfig, UntunedWidthFillsTheSmsOrSpreadsTheWork) {
  const KernelConfig split{.rows = 8, .threads = 512, .bound = 512, .block_slices = 4};
  auto grid = [](int64_t pixels) {
    return [pixels](int threads) { return 64 * ((pixels + threads / 4 - 1) / (threads / 4)); };
  };
  EXPECT_EQ(untuned_threads(split, 132, grid(8 * 49)), 512) << "batch 8: 256 blocks at 512 threads";
  EXPECT_EQ(untuned_threads(split, 132, grid(49)), 128) << "batch 1: 64 blocks at 512 and 256, 128 at 128";
  EXPECT_EQ(untuned_threads(split, 2, grid(49)), 512) << "a small GPU is filled at once";
  const KernelConfig plain{.rows = 32};  // 128 threads: never below
  EXPECT_EQ(untuned_threads(plain, 132, [](int) { return int64_t{1}; }), 128);
  const KernelConfig eight{.rows = 4, .threads = 1024, .bound = 1024, .block_slices = 8};  // sets of 32 at 256
  EXPECT_EQ(untuned_threads(eight, 132, [](int) { return int64_t{1}; }), 256) << "whole warps per set";
}

}  // namespace spdnn
