// Soak: a few hundred small problems back to back in one process, on both CPU engines, with files read
// and written between them; the host memory in use must not grow. (GPU engines and SparseLinear:
// soak_gpu_test.cpp.) Under ASan the allocator's own bookkeeping hides the figure, and LeakSanitizer
// checks the same thing at exit instead.
#include <gtest/gtest.h>
#include <malloc.h>

#include <fmt/format.h>

#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/io.hpp"
#include "spdnn/sparse/sparse_linear.hpp"
#include "support/test_support.hpp"

namespace spdnn {

namespace {

// Bytes of heap in use (glibc's count of what malloc handed out and was not freed).
size_t heap_in_use() {
  malloc_trim(0);
  return mallinfo2().uordblks;
}

}  // namespace

TEST(Soak, HostMemoryDoesNotGrowOverHundredsOfProblems) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "under ASan the heap figure is the sanitizer's; LeakSanitizer checks for leaks at exit";
#endif
  test::TempDir dir;
  const auto reference = make_engine("reference");
  const auto cpu = make_engine("cpu");
  auto one_problem = [&](int i) {
    const int32_t n = 16 << (i % 3);  // 16, 32, 64 neurons
    const Network net = random_network({.neurons = n, .layers = 2 + i % 4, .per_row = 4, .value = 0.25f,
                                        .seed = static_cast<uint64_t>(i)});
    const Features x = random_features(10 + i % 30, n, 0.3, static_cast<uint64_t>(i + 1));
    RunOptions opt;
    opt.threads = 2;
    opt.keep_features = i % 2 == 0;
    const RunResult a = (i % 2 == 0 ? *reference : *cpu).run(net, x, opt);
    io::save_network_cache(dir / "n.spdnn", net);
    io::write_categories(dir / "c.tsv", a.categories);
    EXPECT_EQ(io::load_network_cache(dir / "n.spdnn").layers, net.layers);
    EXPECT_EQ(io::read_categories(dir / "c.tsv"), a.categories);
    const CsrMatrix w = net.layers[0];
    (void)sparse_linear_reference(w, std::vector<float>(static_cast<size_t>(n) * 3, 1.0f), 3, {}, true);
  };
  for (int i = 0; i < 60; ++i) one_problem(i);  // warm up: thread pools, allocator arenas, caches
  const size_t before = heap_in_use();
  for (int i = 60; i < 360; ++i) one_problem(i);
  const size_t after = heap_in_use();
  fmt::print("heap in use after 60 problems: {} bytes; after 360: {} bytes\n", before, after);
  EXPECT_LT(after, before + (256u << 10)) << "the heap grew over 300 problems";
}

}  // namespace spdnn
