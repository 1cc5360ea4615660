// The partitioned engine (several engines on slices of the inputs, optionally balanced) against the
// reference engine run alone: categories, per-layer counts and features must be identical for every
// split, and balancing must actually move rows when the slices die at different rates.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "challenge/dist/meeting.hpp"
#include "spdnn/challenge/engine.hpp"
#include "spdnn/error.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/partitioned_engine.hpp"
#include "support/lopsided_problem.hpp"

namespace spdnn {

namespace {

std::unique_ptr<Engine> parts_of(int k, const std::vector<std::string>& names) {
  std::vector<std::unique_ptr<Engine>> parts;
  for (int i = 0; i < k; ++i) parts.push_back(make_engine(names[i % names.size()]));
  return make_partitioned_engine(std::move(parts), Partitioning::balanced);
}

using test::lopsided_problem;
using test::Problem;

struct SplitCase {
  int parts;
  std::string mode;
  std::vector<std::string> engines;
  int64_t inputs, weak;
  int32_t layers;
};

std::string split_name(const testing::TestParamInfo<SplitCase>& info) {
  const SplitCase& c = info.param;
  std::string s = std::to_string(c.parts) + "parts_" + c.mode;
  for (const auto& e : c.engines) s += "_" + e;
  return s + "_in" + std::to_string(c.inputs) + "_weak" + std::to_string(c.weak) + "_L" + std::to_string(c.layers);
}

}  // namespace

class PartitionedVsReference : public testing::TestWithParam<SplitCase> {};

TEST_P(PartitionedVsReference, SameAnswerCountsAndFeatures) {
  const SplitCase& c = GetParam();
  Problem p = lopsided_problem(c.inputs, c.weak, c.layers, 11);
  RunOptions opt;
  opt.keep_features = true;
  opt.threads = 2;
  const RunResult want = make_engine("reference")->run(p.net, p.x, opt);
  std::vector<std::unique_ptr<Engine>> parts;
  for (int i = 0; i < c.parts; ++i) parts.push_back(make_engine(c.engines[i % c.engines.size()]));
  auto engine = make_partitioned_engine(std::move(parts), *parse_partitioning(c.mode));
  int before = 0;
  opt.before_inference = [&] { ++before; };
  const RunResult got = engine->run(p.net, p.x, opt);
  EXPECT_EQ(before, 1);
  EXPECT_EQ(got.categories, want.categories);
  EXPECT_EQ(got.layers, want.layers);
  ASSERT_TRUE(got.features);
  EXPECT_EQ(*got.features, *want.features);
  ASSERT_EQ(got.parts.size(), static_cast<size_t>(c.parts));
  int64_t inputs = 0, survivors = 0, given = 0, received = 0;
  for (const PartReport& r : got.parts)
    inputs += r.inputs, survivors += r.survivors, given += r.rows_given, received += r.rows_received;
  EXPECT_EQ(inputs, c.inputs);
  EXPECT_EQ(survivors, static_cast<int64_t>(want.categories.size()));
  EXPECT_EQ(given, received);
  if (c.mode == "static") EXPECT_EQ(given, 0);
  // Where the slices die at different rates and a cpu part has rows to spare, balancing moves some.
  const bool can_move = std::count(c.engines.begin(), c.engines.end(), "cpu") >= std::min<size_t>(2, c.engines.size());
  if (c.mode == "balanced" && c.parts > 1 && c.weak > 0 && c.inputs >= 100 && can_move) EXPECT_GT(given, 0);
}

// Uneven splits (inputs not divisible by the parts, more parts than inputs), slices that die early,
// parts whose engine cannot move rows (reference) mixed with parts that can.
INSTANTIATE_TEST_SUITE_P(
    Splits, PartitionedVsReference,
    testing::Values(SplitCase{1, "balanced", {"cpu"}, 120, 40, 9}, SplitCase{2, "static", {"cpu"}, 301, 150, 12},
                    SplitCase{2, "balanced", {"cpu"}, 301, 150, 20}, SplitCase{3, "balanced", {"cpu"}, 301, 100, 24},
                    SplitCase{5, "balanced", {"cpu"}, 203, 0, 8}, SplitCase{4, "balanced", {"cpu"}, 3, 1, 6},
                    SplitCase{3, "balanced", {"cpu", "reference"}, 250, 120, 10},
                    SplitCase{3, "static", {"reference", "cpu"}, 250, 120, 10}),
    split_name);

TEST(PartitionedEngine, BalancingMovesRowsFromSlicesThatKeepThem) {
  // Half the inputs die early: without balancing the second part keeps all the survivors.
  Problem p = lopsided_problem(400, 200, 20, 5);
  RunOptions opt;
  opt.threads = 2;
  const RunResult alone = make_engine("cpu")->run(p.net, p.x, opt);
  ASSERT_GT(alone.categories.size(), 20u);
  const RunResult got = parts_of(2, {"cpu"})->run(p.net, p.x, opt);
  EXPECT_EQ(got.categories, alone.categories);
  ASSERT_EQ(got.parts.size(), 2u);
  EXPECT_GT(got.parts[1].rows_given, 0);
  EXPECT_EQ(got.parts[0].rows_received, got.parts[1].rows_given);
  // The last meeting evened the active rows out; later deaths can tilt them only a little.
  const int64_t s0 = got.parts[0].survivors, s1 = got.parts[1].survivors;
  EXPECT_LE(std::abs(s0 - s1), std::max<int64_t>(2, (s0 + s1) / 10)) << s0 << " vs " << s1;
}

TEST(PartitionedEngine, MeetingLayersArePowersOfTwoFromFourBelowTheDepth) {
  EXPECT_EQ(meeting_layers(120), (std::vector<int32_t>{4, 8, 16, 32, 64}));
  EXPECT_EQ(meeting_layers(4), (std::vector<int32_t>{}));
  EXPECT_EQ(meeting_layers(5), (std::vector<int32_t>{4}));
  EXPECT_EQ(parse_partitioning("static"), Partitioning::static_split);
  EXPECT_EQ(parse_partitioning("nope"), std::nullopt);
}

TEST(MeetingPlan, EvensOutWithinOneAndRespectsCapacity) {
  auto p = dist::plan_meeting({10, 0, 2}, {100, 100, 100}, {1, 1, 1}, 0.0);
  EXPECT_EQ(p.give, (std::vector<int64_t>{6, 0, 0}));
  EXPECT_EQ(p.receive, (std::vector<int64_t>{0, 4, 2}));
  // Part 1 can hold only 1 row: the others share the rest.
  p = dist::plan_meeting({9, 0, 0}, {100, 1, 100}, {1, 1, 1}, 0.0);
  EXPECT_EQ(p.receive, (std::vector<int64_t>{0, 1, 4}));
  EXPECT_EQ(p.give, (std::vector<int64_t>{5, 0, 0}));
  // Within tolerance: nothing moves. Absent parts take nothing.
  p = dist::plan_meeting({101, 99}, {1000, 1000}, {1, 1}, 0.05);
  EXPECT_EQ(p.moved, 0);
  p = dist::plan_meeting({8, 0, 0}, {100, 100, 100}, {1, 0, 1}, 0.0);
  EXPECT_EQ(p.receive, (std::vector<int64_t>{0, 0, 4}));
}

namespace {
// A part that fails, before the common start or at the first meeting.
class FailingEngine final : public Engine {
 public:
  explicit FailingEngine(bool at_meeting) : at_meeting_(at_meeting) {}
  std::string name() const override { return "cpu"; }
  std::string device() const override { return "failing test engine"; }
  RunResult run(const Network&, const Features&, const RunOptions& opt) override {
    if (at_meeting_) {
      opt.before_inference();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the others wait at the meeting
    }
    throw Error(Errc::out_of_memory, "GPU out of memory: test");
  }

 private:
  bool at_meeting_;
};
}  // namespace

TEST(PartitionedEngine, OnePartFailingFailsTheRunWithItsMessage) {
  Problem p = lopsided_problem(200, 100, 10, 3);
  for (bool at_meeting : {false, true}) {
    std::vector<std::unique_ptr<Engine>> parts;
    parts.push_back(make_engine("cpu"));
    parts.push_back(std::make_unique<FailingEngine>(at_meeting));
    parts.push_back(make_engine("cpu"));
    auto engine = make_partitioned_engine(std::move(parts), Partitioning::balanced);
    try {
      engine->run(p.net, p.x, {});
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::out_of_memory);
      EXPECT_NE(std::string(e.what()).find("part 2 of 3 (failing test engine): GPU out of memory"), std::string::npos) << e.what();
    }
  }
}

}  // namespace spdnn

namespace spdnn {

TEST(MovedRows, DenseRowsInALayoutComeOutInNeuronOrder) {
  MovedRows m;
  m.ids = {7, 9};
  m.layout = std::make_shared<const std::vector<int32_t>>(std::vector<int32_t>{2, 0, 1});
  m.dense = {1.f, 0.f, 3.f,    // neuron 2 = 1, neuron 0 = 0, neuron 1 = 3
             0.f, 0.f, 0.f};   // an empty row
  m.to_neuron_order();
  EXPECT_FALSE(m.is_dense());
  EXPECT_EQ(m.rows.rows, 2);
  EXPECT_EQ(m.rows.cols, 3);
  EXPECT_EQ(m.rows.row_ptr, (std::vector<int64_t>{0, 2, 2}));
  EXPECT_EQ(m.rows.col_idx, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(m.rows.values, (std::vector<float>{3.f, 1.f}));
}

// Three parts meet twice with the same counts (the second meeting is settled): part 0 gives 2 rows,
// dense; part 1 gives 1 row as CSR; part 2 receives all three. Mixed sources arrive in neuron order.
TEST(Meeting, DenseRowsStayDenseBetweenEqualLayoutsAndMixedOnesConvert) {
  for (bool mixed : {false, true}) {
    dist::Meeting m(3, 0.0);
    const auto layout = std::make_shared<const std::vector<int32_t>>(std::vector<int32_t>{1, 0});
    MovedRows got;
    auto part = [&](int k) {
      const std::vector<int64_t> active{mixed ? 5 : 4, mixed ? 4 : 2, 0};
      ASSERT_EQ(m.plan(k, active[k], 100).give, 0);  // first meeting: nothing moves yet
      const ExchangePlan p = m.plan(k, active[k], 100);
      if (p.give > 0) {
        MovedRows out;
        if (k == 0) {
          out.ids = {10, 11};
          out.layout = layout;
          out.dense = {5.f, 6.f, 0.f, 8.f};  // rows (n0=6, n1=5) and (n0=8)
        } else {
          out.ids = {20};
          out.rows = csr_from_triplets(1, 2, {{0, 0, 2.f}}, "row");
        }
        ASSERT_EQ(out.count(), p.give);
        m.deposit(k, std::move(out));
      }
      if (p.receive > 0) got = m.collect(k);
    };
    std::thread t1(part, 1), t2(part, 2);
    part(0);
    t1.join(), t2.join();
    if (!mixed) {
      ASSERT_TRUE(got.is_dense());
      EXPECT_EQ(got.ids, (std::vector<int64_t>{10, 11}));
      EXPECT_EQ(got.dense, (std::vector<float>{5.f, 6.f, 0.f, 8.f}));
    } else {
      ASSERT_FALSE(got.is_dense());
      EXPECT_EQ(got.ids, (std::vector<int64_t>{10, 11, 20}));
      EXPECT_EQ(got.rows.row_ptr, (std::vector<int64_t>{0, 2, 3, 4}));
      EXPECT_EQ(got.rows.col_idx, (std::vector<int32_t>{0, 1, 0, 0}));
      EXPECT_EQ(got.rows.values, (std::vector<float>{6.f, 5.f, 8.f, 2.f}));
    }
  }
}

}  // namespace spdnn
