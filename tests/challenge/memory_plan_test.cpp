// The cuda engine's memory plan, without a GPU: resident or streamed weights, the batch size, and the
// one-line error when nothing fits.
#include <gtest/gtest.h>

#include <string>

#include "challenge/cuda/memory_plan.hpp"
#include "support/test_support.hpp"
#include "spdnn/error.hpp"

namespace spdnn::cuda {

namespace {
constexpr size_t kMiB = size_t{1} << 20, kGiB = size_t{1} << 30;
}  // namespace

TEST(MemoryPlan, WeightsStayResidentWhenTheyFitBesideABatch) {
  const RunOptions opt;
  // N = 1024: a row of features is 2 x 4 KiB; 60000 rows and 100 MiB of weights fit in 8 GiB.
  const MemoryPlan p = plan_memory(8 * kGiB, 100 * kMiB, kMiB, 1024, 60000, 60000 * 100, opt);
  EXPECT_FALSE(p.weights_streamed);
  EXPECT_EQ(p.weight_device_bytes, 100 * kMiB);
  EXPECT_EQ(p.batch, 60000) << "never more than the inputs";
  EXPECT_EQ(p.batches, 1);
}

TEST(MemoryPlan, WeightsStreamWhenTheyDoNotFitOrWhenAsked) {
  RunOptions opt;
  const MemoryPlan big = plan_memory(2 * kGiB, 3 * kGiB, 10 * kMiB, 1024, 60000, 60000 * 100, opt);
  EXPECT_TRUE(big.weights_streamed);
  EXPECT_EQ(big.weight_device_bytes, 20 * kMiB) << "two layer slots";
  opt.stream_weights = true;
  EXPECT_TRUE(plan_memory(8 * kGiB, 100 * kMiB, kMiB, 1024, 100, 100, opt).weights_streamed);
}

TEST(MemoryPlan, BatchesFromWhatIsLeftOrForced) {
  RunOptions opt;
  // N = 65536 with 1000 nonzeros per input: a row costs two feature rows (512 KiB), its lists and ids
  // (17 bytes) and twice its CSR input (16,016 bytes), and its bits (8 KiB) when the inputs go as bits. 4096 rows do not fit beside 64 MiB of weights, so
  // they stream (two 1 MiB slots) and the batch takes what the 256 MiB reserve leaves.
  const size_t free_bytes = kGiB + 256 * kMiB + 64 * kMiB;
  const MemoryPlan p = plan_memory(free_bytes, 64 * kMiB, kMiB, 65536, 60000, 60000 * 1000, opt);
  EXPECT_TRUE(p.weights_streamed);
  EXPECT_EQ(p.batch, static_cast<int64_t>((free_bytes - 2 * kMiB - 256 * kMiB) / (2 * 65536 * 4 + 17 + 16016)));
  EXPECT_EQ(plan_memory(free_bytes, 64 * kMiB, kMiB, 65536, 60000, 60000 * 1000, opt, true).batch,
            static_cast<int64_t>((free_bytes - 2 * kMiB - 256 * kMiB) / (2 * 65536 * 4 + 8192 + 17 + 16016)));
  EXPECT_EQ(p.batches, (60000 + p.batch - 1) / p.batch);
  opt.batch_inputs = 777;
  EXPECT_EQ(plan_memory(8 * kGiB, kMiB, kMiB, 1024, 60000, 60000, opt).batch, 777);
  EXPECT_EQ(plan_memory(8 * kGiB, kMiB, kMiB, 1024, 0, 0, opt).batches, 0) << "no input can be active";
  // Engines sharing a GPU plan with their share of it.
  RunOptions half;
  half.device_memory_share = 0.5;
  EXPECT_LT(plan_memory(4 * kGiB, kMiB, kMiB, 65536, 60000, 60000, half).batch,
            plan_memory(4 * kGiB, kMiB, kMiB, 65536, 60000, 60000, RunOptions{}).batch);
}

TEST(MemoryPlan, NothingFitsIsAnErrorNamingTheSizes) {
  const Error e = test::error_from([] { plan_memory(300 * kMiB, 10 * kGiB, 200 * kMiB, 1024, 10, 10, RunOptions{}); });
  EXPECT_EQ(e.code(), Errc::out_of_memory);
  EXPECT_TRUE(test::says(e, "400.0 MiB of weights (two streamed layers)")) << e.what();
}

}  // namespace spdnn::cuda
