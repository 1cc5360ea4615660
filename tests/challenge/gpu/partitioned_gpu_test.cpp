// Several cuda engines on one problem (the multi-GPU path), run here with parts sharing the GPUs
// that exist: exact categories, per-layer counts and features against the reference engine, rows
// moved by balancing, also between a GPU part and a CPU part. Skipped, visibly, without a GPU.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>

#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/partitioned_engine.hpp"
#include "support/gpu_support.hpp"
#include "support/lopsided_problem.hpp"
#include "support/test_support.hpp"

namespace spdnn {

namespace {

// Parts named "gpu" (GPU k % count) or an engine name.
std::unique_ptr<Engine> partitioned(const std::vector<std::string>& parts, Partitioning mode) {
  std::vector<std::unique_ptr<Engine>> engines;
  int next_gpu = 0;
  for (const auto& p : parts) engines.push_back(p == "gpu" ? make_gpu_engine(next_gpu++ % gpu_count()) : make_engine(p));
  return make_partitioned_engine(std::move(engines), mode);
}

RunResult expect_same_as_reference(Engine& engine, const Network& net, const Features& x, RunOptions opt) {
  opt.keep_features = true;
  const RunResult want = make_engine("reference")->run(net, x, opt);
  RunResult got = engine.run(net, x, opt);
  EXPECT_EQ(got.categories, want.categories);
  EXPECT_EQ(got.layers, want.layers);
  EXPECT_TRUE(got.features && *got.features == *want.features);
  EXPECT_FALSE(want.categories.empty()) << "test problem too easy: nothing survives";
  return got;
}

int64_t rows_moved(const RunResult& r) {
  int64_t moved = 0;
  for (const PartReport& p : r.parts) moved += p.rows_given;
  return moved;
}

}  // namespace

TEST(PartitionedGpu, TwoGpuPartsStaticAndBalanced) {
  SPDNN_REQUIRE_GPU();
  test::Problem p = test::lopsided_problem(1000, 500, 24, 21);
  RunOptions opt;
  opt.device_memory_share = 0.25;
  RunResult st = expect_same_as_reference(*partitioned({"gpu", "gpu"}, Partitioning::static_split), p.net, p.x, opt);
  EXPECT_EQ(rows_moved(st), 0);
  RunResult bal = expect_same_as_reference(*partitioned({"gpu", "gpu"}, Partitioning::balanced), p.net, p.x, opt);
  EXPECT_GT(rows_moved(bal), 0);
  ASSERT_EQ(bal.parts.size(), 2u);
  EXPECT_EQ(bal.parts[0].rows_received, bal.parts[1].rows_given);
}

TEST(PartitionedGpu, RowsMoveBetweenGpuAndCpuParts) {
  SPDNN_REQUIRE_GPU();
  // Rows leave the GPU in its physical neuron order and arrive at the CPU in neuron order, and back.
  for (const auto& parts : {std::vector<std::string>{"cpu", "gpu", "gpu"}, std::vector<std::string>{"gpu", "cpu", "cpu"}}) {
    test::Problem p = test::lopsided_problem(900, 600, 20, 8);
    RunOptions opt;
    opt.device_memory_share = 0.25;
    RunResult r = expect_same_as_reference(*partitioned(parts, Partitioning::balanced), p.net, p.x, opt);
    EXPECT_GT(rows_moved(r), 0);
  }
}

TEST(PartitionedGpu, PartsThatRunInSeveralBatchesKeepTheirRows) {
  SPDNN_REQUIRE_GPU();
  test::Problem p = test::lopsided_problem(700, 350, 12, 4);
  RunOptions opt;
  opt.batch_inputs = 97;  // several batches per part: rows cannot move, the answer stays exact
  RunResult r = expect_same_as_reference(*partitioned({"gpu", "gpu", "gpu"}, Partitioning::balanced), p.net, p.x, opt);
  EXPECT_EQ(rows_moved(r), 0);
}

TEST(PartitionedGpu, RadixNetAgainstOneGpu) {
  SPDNN_REQUIRE_GPU();
  Network net = radixnet_network({1024, 120, 3});
  Features x = challenge_inputs(synthetic_digits(6000, 9), 1024).features;
  const RunResult one = make_gpu_engine(0)->run(net, x, {});
  ASSERT_FALSE(one.categories.empty());
  for (Partitioning mode : {Partitioning::static_split, Partitioning::balanced}) {
    RunOptions opt;
    opt.device_memory_share = 0.3;
    const RunResult r = partitioned({"gpu", "gpu", "gpu"}, mode)->run(net, x, opt);
    EXPECT_EQ(r.categories, one.categories) << to_string(mode);
    EXPECT_EQ(r.layers, one.layers) << to_string(mode);
  }
}

TEST(PartitionedGpu, CliReportsEveryGpu) {
  SPDNN_REQUIRE_GPU();
  test::TempDir dir;
  const auto one = dir / "one.json", two = dir / "two.json";
  const std::string common = "run -q --neurons 1024 --layers 120 --seed 2";
  ASSERT_EQ(test::shell(fmt::format("{} {} --devices 0 --json {}", SPDNN_CLI_PATH, common, one.string())).exit_code, 0);
  const test::Outcome o = test::shell(fmt::format("{} {} --devices 0,0 --json {}", SPDNN_CLI_PATH, common, two.string()));
  ASSERT_EQ(o.exit_code, 0) << o.output;
  const auto a = nlohmann::json::parse(std::ifstream(one)), b = nlohmann::json::parse(std::ifstream(two));
  EXPECT_EQ(a["gpus"], 1);
  EXPECT_EQ(b["gpus"], 2);
  EXPECT_EQ(b["partition"], "balanced");
  ASSERT_EQ(b["per_gpu"].size(), 2u);
  EXPECT_EQ(b["per_gpu"][0]["inputs"].get<int64_t>() + b["per_gpu"][1]["inputs"].get<int64_t>(), 60000);
  EXPECT_EQ(b["categories"], a["categories"]);
  EXPECT_EQ(b["layers"], a["layers"]);
  EXPECT_GE(b["imbalance"].get<double>(), 1.0);
}

}  // namespace spdnn
