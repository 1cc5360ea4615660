// The on-disk kernel cache: keys that change with everything a module's code depends on, files verified
// on load and rebuilt when damaged, modes, and tuning records. Plain C++, no GPU.
#include <gtest/gtest.h>

#include <fstream>

#include "sparse/codegen/kernel_cache.hpp"
#include "spdnn/error.hpp"
#include "support/test_support.hpp"

namespace spdnn::codegen {

namespace {

CsrMatrix small_matrix() {
  // 3 x 5: row 1 empty; column 2 shared by rows 0 and 2.
  return csr_from_triplets(3, 5, {{0, 2, 0.75f}, {0, 4, -1.5f}, {2, 2, 3.0f}, {2, 0, -0.125f}}, "small");
}

}  // namespace

TEST(CacheKey, ChangesWithEverythingTheCodeDependsOn) {
  const CsrMatrix w = small_matrix();
  const std::string base = layer_key(w, {}, false);
  EXPECT_EQ(base.size(), 32u);
  EXPECT_EQ(base, layer_key(small_matrix(), {}, false)) << "deterministic";
  CsrMatrix value = w;
  value.values[1] = -1.4999999f;
  CsrMatrix pattern = w;
  pattern.col_idx[0] = 3;
  EXPECT_NE(base, layer_key(value, {}, false));
  EXPECT_NE(base, layer_key(pattern, {}, false));
  EXPECT_NE(base, layer_key(w, {0, 0, 0}, false));
  EXPECT_NE(base, layer_key(w, {}, true));
  const std::string m = module_key(base, {16, 1, 128}, 196, 90, "nvrtc 13.0");
  EXPECT_EQ(m, module_key(base, {16, 1, 256}, 196, 90, "nvrtc 13.0")) << "the block width is a launch parameter";
  EXPECT_NE(m, module_key(base, {8, 1, 128}, 196, 90, "nvrtc 13.0"));
  EXPECT_NE(m, module_key(base, {16, 2, 128}, 196, 90, "nvrtc 13.0"));
  EXPECT_NE(m, module_key(base, {16, 1, 128, 4}, 196, 90, "nvrtc 13.0"));
  EXPECT_NE(module_key(base, {16, 1, 128, 4}, 196, 90, "nvrtc 13.0"), module_key(base, {16, 1, 128, 8}, 196, 90, "nvrtc 13.0"));
  EXPECT_NE(m, module_key(base, {.rows = 16, .bound = 512}, 196, 90, "nvrtc 13.0")) << "the launch bound";
  EXPECT_NE(module_key(base, {.rows = 16, .bound = 512}, 196, 90, "nvrtc 13.0"), module_key(base, {.rows = 16, .bound = 1024}, 196, 90, "nvrtc 13.0"));
  EXPECT_NE(module_key(base, {.rows = 16, .bound = 512}, 196, 90, "nvrtc 13.0"),
            module_key(base, {.rows = 16, .bound = 512, .block_slices = 4}, 196, 90, "nvrtc 13.0")) << "K slices within a block";
  EXPECT_NE(module_key(base, {.rows = 16, .bound = 512, .block_slices = 2}, 196, 90, "nvrtc 13.0"),
            module_key(base, {.rows = 16, .bound = 512, .block_groups = 2}, 196, 90, "nvrtc 13.0")) << "row groups within a block";
  EXPECT_NE(m, module_key(base, {.rows = 16, .fixed_n = 1}, 1568, 90, "nvrtc 13.0")) << "a compiled-in stride";
  EXPECT_NE(module_key(base, {.rows = 16, .fixed_n = 1}, 1568, 90, "nvrtc 13.0"),
            module_key(base, {.rows = 16, .fixed_n = 1}, 1569, 90, "nvrtc 13.0")) << "another N";
  EXPECT_EQ(m, module_key(base, {16, 1, 128}, 1568, 90, "nvrtc 13.0")) << "N is not compiled in: one module for every N";
  EXPECT_NE(m, module_key(base, {16, 1, 128}, 196, 100, "nvrtc 13.0"));
  EXPECT_NE(m, module_key(base, {16, 1, 128}, 196, 90, "nvrtc 13.1"));
}

TEST(KernelCache, RoundTripAndVerification) {
  test::TempDir dir;
  KernelCache cache(dir.path(), KernelCacheMode::on);
  const std::string key = layer_key(small_matrix(), {}, false);
  const std::vector<char> module{'c', 'u', 'b', 'i', 'n', '\0', '\x7f'};
  std::string problem;
  EXPECT_FALSE(cache.load(key, &problem).has_value());
  EXPECT_TRUE(problem.empty()) << "a miss is not a problem";
  ASSERT_FALSE(cache.store(key, module).has_value());
  auto loaded = cache.load(key, &problem);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(*loaded, module);

  // A flipped payload byte fails the checksum; the file is deleted so that it gets rebuilt.
  {
    std::fstream f(cache.module_path(key), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x00');
  }
  EXPECT_FALSE(cache.load(key, &problem).has_value());
  EXPECT_NE(problem.find("checksum"), std::string::npos) << problem;
  EXPECT_NE(problem.find(cache.module_path(key).string()), std::string::npos) << problem;
  EXPECT_FALSE(fs::exists(cache.module_path(key)));

  // Truncated, and a file renamed to another key.
  ASSERT_FALSE(cache.store(key, module).has_value());
  fs::resize_file(cache.module_path(key), 20);
  EXPECT_FALSE(cache.load(key, &problem).has_value());
  EXPECT_NE(problem.find("truncated"), std::string::npos) << problem;
  const std::string other = layer_key(small_matrix(), {}, true);
  ASSERT_FALSE(cache.store(other, module).has_value());
  fs::copy_file(cache.module_path(other), cache.module_path(key), fs::copy_options::overwrite_existing);
  EXPECT_FALSE(cache.load(key, &problem).has_value());
  EXPECT_NE(problem.find("another kernel"), std::string::npos) << problem;
}

TEST(KernelCache, ModesAndTuningRecords) {
  test::TempDir dir;
  const std::string key = layer_key(small_matrix(), {}, false);
  KernelCache on(dir.path(), KernelCacheMode::on);
  for (const KernelConfig c : {KernelConfig{.rows = 32, .threads = 256, .cluster_slices = 8},
                               KernelConfig{.rows = 16, .threads = 512, .bound = 1024},
                               KernelConfig{.rows = 32, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = 4},
                               KernelConfig{.rows = 32, .threads = 512, .prefetch = 32, .bound = 512, .block_groups = 4},
                               KernelConfig{.rows = 64, .cols = 2, .prefetch = 32, .fixed_n = 1}}) {
    on.store_tuning(key, {c, 3.25});
    auto t = on.load_tuning(key);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->config, c);
    EXPECT_DOUBLE_EQ(t->microseconds, 3.25);
  }
  // A record of spdnn 0.4 (positional fields) is not read: the layer is tuned again.
  std::ofstream(on.tuning_path(key)) << "spdnn-tuning " << key << " 16 2 64 3.0 1 0 32 256 1 1 0 0\n";
  EXPECT_FALSE(on.load_tuning(key).has_value());
  // Nor is a damaged one.
  std::ofstream(on.tuning_path(key)) << "spdnn-tuning2 " << key << " 3.0 rows=16,cols=3\n";
  EXPECT_FALSE(on.load_tuning(key).has_value());
  std::ofstream(on.tuning_path(key)) << "spdnn-tuning2 " << key << " 3.0\n";
  EXPECT_FALSE(on.load_tuning(key).has_value());
  // The generic kernel won: a record without a configuration.
  on.store_tuning(key, {std::nullopt, 2.5});
  auto t = on.load_tuning(key);
  ASSERT_TRUE(t.has_value());
  EXPECT_FALSE(t->config.has_value());
  EXPECT_DOUBLE_EQ(t->microseconds, 2.5);
  ASSERT_FALSE(on.store(key, {'x'}).has_value());

  KernelCache load_only(dir.path(), KernelCacheMode::load_only);
  std::string problem;
  EXPECT_TRUE(load_only.load(key, &problem).has_value());
  const std::string other = layer_key(small_matrix(), {1, 2, 3}, false);
  EXPECT_FALSE(load_only.store(other, {'y'}).has_value());
  EXPECT_FALSE(fs::exists(load_only.module_path(other))) << "load-only never writes";

  KernelCache off(dir.path(), KernelCacheMode::off);
  EXPECT_FALSE(off.load(key, &problem).has_value()) << "off never reads";
  EXPECT_FALSE(off.load_tuning(key).has_value());

  std::ofstream(on.tuning_path(other)) << "spdnn-tuning2 " << key << " 2.0 rows=8\n";
  EXPECT_FALSE(on.load_tuning(other).has_value()) << "a record names its own key";
  EXPECT_EQ(parse_kernel_cache_mode("load-only"), KernelCacheMode::load_only);
  EXPECT_THROW(parse_kernel_cache_mode("maybe"), Error);
}

}  // namespace spdnn::codegen
