// Host allocation failures, injected: every reader, generator and engine setup is run with operator new
// failing at its (k+1)-th allocation, for k = 0, 1, 2, ... until the call completes. Each k must end in a
// clean error (std::bad_alloc or spdnn::Error, never a crash, a hang or another exception), and leave no
// leak (the sanitize preset runs this binary under ASan); the call then succeeds once allocations do.
// SuiteSparse:GraphBLAS tests its whole suite this way (Test/GB_mex.h).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <new>

#include "fault/failing_allocator.hpp"
#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/io.hpp"
#include "spdnn/error.hpp"
#include "spdnn/matrix_io.hpp"
#include "spdnn/sparse/sparse_linear.hpp"
#include "spdnn/sparse/weights.hpp"
#include "support/test_support.hpp"

namespace {

// One more allocation: throws when it is the one armed to fail.
void count_allocation() {
  auto& left = spdnn::test::allocations_left();
  if (left.load(std::memory_order_relaxed) >= 0 && left.fetch_sub(1) <= 0) {
    spdnn::test::FailAfter::tripped() = true;
    throw std::bad_alloc();
  }
}

void* allocate(std::size_t n) {
  count_allocation();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}

}  // namespace

// Every form of new and delete, so that all of them meet in malloc and free (under ASan, a form left to
// the runtime would pair its new with this file's delete and read as a mismatch).
void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return allocate(n);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void* operator new(std::size_t n, std::align_val_t al) {
  const auto a = static_cast<std::size_t>(al);
  count_allocation();
  if (void* p = std::aligned_alloc(a, (n + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t al) { return operator new(n, al); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace spdnn {

namespace {

// Runs `call` with allocation k failing, for every k until it completes with no allocation refused;
// returns that k (the allocations it makes).
int64_t fail_every_allocation(const std::string& what, const std::function<void()>& call) {
  constexpr int64_t kMost = 200000;
  for (int64_t k = 0; k < kMost; ++k) {
    test::FailAfter::tripped() = false;
    try {
      {
        test::FailAfter armed(k);
        call();
      }
      // Completed. A refused allocation may be absorbed (std::stable_sort falls back to sorting in place
      // when its buffer cannot be had), so only a run that refused nothing ends the search.
      if (!test::FailAfter::tripped()) {
        fmt::print("{}: a clean error at each of {} allocations\n", what, k);
        return k;
      }
      continue;
    } catch (const std::bad_alloc&) {
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::out_of_memory) << what << ", k = " << k << ": " << e.what();
    }
    EXPECT_TRUE(test::FailAfter::tripped()) << what << ", k = " << k << ": failed without a refused allocation";
  }
  ADD_FAILURE() << what << ": did not complete within " << kMost << " allocations";
  return kMost;
}

}  // namespace

TEST(FaultInjection, ReadersFailCleanlyAtEveryAllocation) {
  test::TempDir dir;
  const Network net = random_network({.neurons = 64, .layers = 3, .per_row = 4, .seed = 3});
  const Features x = random_features(40, 64, 0.2, 4);
  std::filesystem::create_directories(dir / "w");
  for (int l = 0; l < 3; ++l) io::write_layer_tsv(dir / "w" / fmt::format("n64-l{}.tsv", l + 1), net.layers[l]);
  io::write_images_tsv(dir / "x.tsv.gz", x);
  io::write_categories(dir / "c.tsv", {1, 5, 9});
  io::save_network_cache(dir / "n.spdnn", net);
  io::save_features_cache(dir / "x.spdnn", x);
  io::write_matrix_market(dir / "m.mtx", net.layers[0]);
  std::ofstream(dir / "w.smtx") << "2, 5, 3\n0 2 3\n4 1 0\n";
  const struct {
    const char* what;
    std::function<void()> call;
  } readers[] = {
      {"read_layer_tsv", [&] { (void)io::read_layer_tsv(dir / "w" / "n64-l1.tsv", 64); }},
      {"load_network (folder)", [&] { (void)io::load_network(dir / "w", 64, 3, -0.3f); }},
      {"read_images_tsv (gzip)", [&] { (void)io::read_images_tsv(dir / "x.tsv.gz", 64); }},
      {"read_categories", [&] { (void)io::read_categories(dir / "c.tsv"); }},
      {"load_network_cache", [&] { (void)io::load_network_cache(dir / "n.spdnn"); }},
      {"load_features_cache", [&] { (void)io::load_features_cache(dir / "x.spdnn"); }},
      {"read_matrix_market", [&] { (void)io::read_matrix_market(dir / "m.mtx"); }},
      {"read_smtx", [&] { (void)io::read_smtx(dir / "w.smtx"); }},
  };
  for (const auto& r : readers) EXPECT_GT(fail_every_allocation(r.what, r.call), 0) << r.what;
}

TEST(FaultInjection, WritersFailCleanlyAndLeaveNoFile) {
  test::TempDir dir;
  const Network net = random_network({.neurons = 64, .layers = 2, .per_row = 4, .seed = 5});
  fail_every_allocation("save_network_cache", [&] { io::save_network_cache(dir / "n.spdnn", net); });
  fail_every_allocation("write_layer_tsv", [&] { io::write_layer_tsv(dir / "l.tsv", net.layers[0]); });
  EXPECT_EQ(io::load_network_cache(dir / "n.spdnn").layers, net.layers);
  for (const auto& f : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(f.path().string().find(".partial-"), std::string::npos) << "left behind: " << f.path();
}

TEST(FaultInjection, GeneratorsFailCleanlyAtEveryAllocation) {
  fail_every_allocation("radixnet_network", [] { (void)radixnet_network({.neurons = 64, .layers = 4, .seed = 1}); });
  fail_every_allocation("random_network", [] { (void)random_network({.neurons = 32, .layers = 2, .per_row = 4}); });
  const SourceImages digits = synthetic_digits(8, 2);
  fail_every_allocation("challenge_inputs", [&] { (void)challenge_inputs(digits, 1024); });
}

TEST(FaultInjection, EnginesFailCleanlyAtEveryAllocation) {
  const Network net = random_network({.neurons = 32, .layers = 3, .per_row = 4, .value = 0.25f, .seed = 7});
  const Features x = random_features(24, 32, 0.3, 8);
  for (const char* name : {"reference", "cpu"}) {
    const auto engine = make_engine(name);
    RunOptions opt;
    opt.threads = 2;
    opt.keep_features = true;
    const RunResult expected = engine->run(net, x, opt);
    fail_every_allocation(std::string("engine ") + name, [&] { (void)engine->run(net, x, opt); });
    // And the engine is still usable: the same answer after all those failures.
    const RunResult again = engine->run(net, x, opt);
    EXPECT_EQ(again.categories, expected.categories) << name;
    EXPECT_EQ(again.features, expected.features) << name;
  }
}

TEST(FaultInjection, SparseLayerReferenceFailsCleanly) {
  const CsrMatrix w = csr_from_triplets(3, 4, {{0, 1, 0.5f}, {2, 3, -1.0f}}, "w");
  const std::vector<float> xv(8, 1.0f);
  fail_every_allocation("sparse_linear_reference", [&] { (void)sparse_linear_reference(w, xv, 2, {}, true); });
}

}  // namespace spdnn
