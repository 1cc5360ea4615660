// Soak on the GPU: a few hundred small problems back to back in one process, on the cuda engine (plain,
// batched, streamed, fp16 weights) and on SparseLinear layers built, run and destroyed; the device memory
// in use and the host heap must not grow. Skips visibly without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <malloc.h>

#include <fmt/format.h>

#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/sparse/sparse_linear.hpp"
#include "support/random_weights.hpp"
#include "support/test_support.hpp"

namespace spdnn {

namespace {

size_t device_free() {
  size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) ADD_FAILURE() << "cudaMemGetInfo";
  return free_bytes;
}

}  // namespace

TEST(SoakGpu, DeviceAndHostMemoryDoNotGrow) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    (void)cudaGetLastError();
    GTEST_SKIP() << "no usable CUDA device";
  }
  test::TempDir cache;
  const auto gpu = make_engine("cuda");
  const auto reference = make_engine("reference");
  auto one_problem = [&](int i) {
    const int32_t n = 16 << (i % 3);
    const Network net = random_network({.neurons = n, .layers = 2 + i % 4, .per_row = 4, .value = 0.25f,
                                        .seed = static_cast<uint64_t>(i)});
    const Features x = random_features(10 + i % 30, n, 0.3, static_cast<uint64_t>(i + 1));
    RunOptions opt;
    opt.batch_inputs = i % 4 == 1 ? 7 : 0;
    opt.stream_weights = i % 4 == 2;
    opt.half_weights = i % 4 == 3;
    EXPECT_EQ(gpu->run(net, x, opt).categories, reference->run(net, x, RunOptions{}).categories) << i;
    SparseLinearOptions lo;
    lo.cache_dir = cache.path();
    lo.tune = false;  // one module per matrix: four matrices, compiled during the warm-up, then loaded
    lo.specialize = i % 3 != 0;
    SparseLinear layer(test::random_weights(24 + i % 4, 40, 0.2, static_cast<uint64_t>(i % 4)), {}, lo);
    const std::vector<float> xs(static_cast<size_t>(layer.cols()) * 8, 0.5f);
    EXPECT_EQ(layer.forward_host(xs, 8).size(), static_cast<size_t>(layer.rows()) * 8);
  };
  for (int i = 0; i < 40; ++i) one_problem(i);  // warm up: contexts, modules in the cache, pools
  const size_t device_before = device_free(), heap_before = (malloc_trim(0), mallinfo2().uordblks);
  for (int i = 40; i < 240; ++i) one_problem(i);
  const size_t device_after = device_free(), heap_after = (malloc_trim(0), mallinfo2().uordblks);
  fmt::print("device free {} -> {} bytes, host heap {} -> {} bytes over 200 problems\n", device_before, device_after,
             heap_before, heap_after);
  EXPECT_GE(device_after + (8u << 20), device_before) << "device memory in use grew";
  EXPECT_LT(heap_after, heap_before + (1u << 20)) << "the host heap grew";
}

}  // namespace spdnn
