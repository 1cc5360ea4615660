// `mpirun -np P spdnn run`: inputs partitioned over ranks give exactly the single-process answer and
// per-layer counts; uneven splits, ranks without survivors, and a failing job. Skipped, visibly, in
// builds without MPI.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>

#include "spdnn/challenge/dist.hpp"
#include "support/test_support.hpp"

namespace spdnn {

namespace {

using test::Outcome;
using test::shell;

// `spdnn run ARGS` on `ranks` processes (1: no mpirun); returns the JSON report.
nlohmann::json run_ranks(int ranks, const std::string& args, const std::filesystem::path& json) {
  std::string cmd = fmt::format("{} run -q --engine cpu --threads 1 {} --json {}", SPDNN_CLI_PATH, args, json.string());
  if (ranks > 1) cmd = fmt::format("{} --allow-run-as-root --oversubscribe -np {} {}", SPDNN_MPIEXEC, ranks, cmd);
  Outcome o = shell(cmd);
  EXPECT_EQ(o.exit_code, 0) << cmd << "\n" << o.output;
  std::ifstream in(json);
  return nlohmann::json::parse(in);
}

#define SPDNN_REQUIRE_MPI() \
  if (!dist::built_with_mpi()) GTEST_SKIP() << "this build has no MPI (apt-get install libopenmpi-dev)"

}  // namespace

TEST(Mpi, RanksReproduceTheSingleProcessAnswerAndCounts) {
  SPDNN_REQUIRE_MPI();
  test::TempDir dir;
  // A generated RadiX-Net problem (MNIST inputs if found, synthetic digits otherwise): 60000 inputs.
  const std::string args = "--neurons 1024 --layers 16";
  nlohmann::json one = run_ranks(1, args + " --categories " + (dir / "c1.tsv").string(), dir / "r1.json");
  ASSERT_GT(one["categories"]["count"].get<int>(), 0);
  for (int ranks : {2, 3}) {
    SCOPED_TRACE(ranks);
    auto cats = dir / fmt::format("c{}.tsv", ranks);
    nlohmann::json many = run_ranks(ranks, args + " --categories " + cats.string(), dir / fmt::format("r{}.json", ranks));
    EXPECT_EQ(many["ranks"], ranks);
    EXPECT_EQ(many["categories"], one["categories"]);
    EXPECT_EQ(many["layers"], one["layers"]);
    EXPECT_EQ(shell(fmt::format("cmp {} {}", (dir / "c1.tsv").string(), cats.string())).exit_code, 0);
    int64_t inputs = 0;
    for (const auto& r : many["per_rank"]) inputs += r["inputs"].get<int64_t>();
    EXPECT_EQ(inputs, 60000);
    EXPECT_GE(many["imbalance"].get<double>(), 1.0);
  }
}

TEST(Mpi, UnevenSplitAndRanksWithoutSurvivorsOnTheOfficialSubset) {
  SPDNN_REQUIRE_MPI();
  SPDNN_REQUIRE_DATA(root, "graphchallenge");
  SPDNN_REQUIRE_DATA(images, "graphchallenge/sparse-images-1024-first1200.tsv.gz");
  test::TempDir dir;
  const std::string args = fmt::format("--data {} --inputs {} --truth {} --layers 120", root.string(), images.string(),
                                       (root / "neuron1024-l120-categories-first1200.tsv.gz").string());
  nlohmann::json one = run_ranks(1, args, dir / "r1.json");
  // 7 ranks: slices of 171 and 172 inputs. The official categories start 287, 295, 386, ...: rank 0
  // (inputs 1-171) has no survivors, rank 1 (172-342) exactly two.
  nlohmann::json many = run_ranks(7, args, dir / "r7.json");
  EXPECT_TRUE(many["verification"]["passed"].get<bool>());
  EXPECT_EQ(many["categories"]["count"], 19);
  EXPECT_EQ(many["layers"], one["layers"]);
  ASSERT_EQ(many["per_rank"].size(), 7u);
  EXPECT_EQ(many["per_rank"][0]["inputs"], 171);
  EXPECT_EQ(many["per_rank"][0]["survivors"], 0);
  EXPECT_EQ(many["per_rank"][1]["survivors"], 2);
}

TEST(Mpi, AFailingJobExitsNonZeroWithTheRanksMessage) {
  SPDNN_REQUIRE_MPI();
  Outcome o = shell(fmt::format("timeout 60 {} --allow-run-as-root --oversubscribe -np 2 {} run -q --weights /nonexistent/w --inputs x.tsv",
                                SPDNN_MPIEXEC, SPDNN_CLI_PATH));
  EXPECT_NE(o.exit_code, 0);
  EXPECT_NE(o.exit_code, 124) << "the job hung";
  EXPECT_NE(o.output.find("spdnn: error: rank 0: /nonexistent/w: no such weights folder"), std::string::npos) << o.output;
}

}  // namespace spdnn
