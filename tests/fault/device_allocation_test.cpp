// Device memory running out at every allocation in turn (cuda/allocation_faults.hpp): a cuda engine run
// (general, structure, streamed weights) and a SparseLinear fail with Error(out_of_memory) naming the
// allocation, leave no device memory behind, and the next run gives the right answer. Skipped, visibly,
// without a usable CUDA device.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <functional>

#include "cuda/allocation_faults.hpp"
#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/sparse_linear.hpp"
#include "support/random_weights.hpp"
#include "support/test_support.hpp"

namespace spdnn {

namespace {

size_t device_free_bytes() {
  size_t free_bytes = 0, total = 0;
  cudaMemGetInfo(&free_bytes, &total);
  return free_bytes;
}

// Device memory lost since `before` (the driver rounds, so a few MiB are tolerated; a leak per failed
// attempt would lose far more over the attempts made).
size_t lost_since(size_t before) {
  const size_t now = device_free_bytes();
  return before > now ? before - now : 0;
}

// Runs `attempt` with the k-th device allocation failing, k = 1, 2, ... until it succeeds; each failure
// must be out_of_memory naming what was allocated. Returns how many failed.
int fail_each_allocation(const std::function<void()>& attempt) {
  int failures = 0;
  for (int64_t k = 1; k <= 500; ++k) {
    cuda::fail_device_allocation(k);
    try {
      attempt();
      cuda::fail_device_allocation(0);
      return failures;
    } catch (const Error& e) {
      cuda::fail_device_allocation(0);
      EXPECT_EQ(e.code(), Errc::out_of_memory) << e.what();
      EXPECT_NE(std::string(e.what()).find("GPU out of memory: allocating"), std::string::npos) << e.what();
      ++failures;
    }
  }
  ADD_FAILURE() << "still failing after 500 allocations";
  return failures;
}

bool gpu_present() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    (void)cudaGetLastError();
    return false;
  }
  return true;
}

}  // namespace

TEST(DeviceAllocationFaults, CudaEngineFailsCleanlyAtEveryAllocation) {
  if (!gpu_present()) GTEST_SKIP() << "no usable CUDA device";
  auto gpu = make_engine("cuda");
  const Network net = radixnet_network({1024, 12, 3});
  const Features x = challenge_inputs(synthetic_digits(300, 2), 1024).features;
  RunOptions base;
  base.keep_features = true;
  const RunResult want = make_engine("cpu")->run(net, x, base);
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    RunOptions opt = base;
    opt.mode = variant == 1 ? Mode::structure : Mode::general;
    opt.stream_weights = variant == 2;
    (void)gpu->run(net, x, opt);  // modules loaded, so the free memory below is the steady state
    const size_t before = device_free_bytes();
    RunResult got;
    const int failures = fail_each_allocation([&] { got = gpu->run(net, x, opt); });
    EXPECT_GE(failures, 10);  // weights, features, lists, counters, inputs
    EXPECT_EQ(got.categories, want.categories);
    EXPECT_EQ(got.layers, want.layers);
    ASSERT_TRUE(got.features);
    EXPECT_EQ(*got.features, *want.features);
    EXPECT_LE(lost_since(before), size_t{8} << 20);
  }
}

TEST(DeviceAllocationFaults, SparseLinearFailsCleanlyAtEveryAllocation) {
  if (!gpu_present()) GTEST_SKIP() << "no usable CUDA device";
  test::TempDir dir;
  const CsrMatrix w = test::random_weights(96, 160, 0.1, 3);
  const std::vector<float> bias(96, 0.25f), x(160 * 40, 0.5f);
  SparseLinearOptions o;
  o.relu = true, o.cache_dir = dir.path(), o.tune = false;
  const std::vector<float> want = SparseLinear(w, bias, o).forward_host(x, 40);  // fills the kernel cache
  const size_t before = device_free_bytes();
  std::vector<float> got;
  const int failures = fail_each_allocation([&] { got = SparseLinear(w, bias, o).forward_host(x, 40); });
  EXPECT_GE(failures, 3);  // weights, bias, x, y
  EXPECT_EQ(got, want);
  EXPECT_LE(lost_since(before), size_t{8} << 20);
}

}  // namespace spdnn
