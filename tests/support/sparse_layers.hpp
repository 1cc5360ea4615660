// What the generated-kernel tests share (CPU and GPU): seeded values, the options of a layer that always
// takes a generated kernel, and the real pruned ResNet-50 3x3 filters of SparseRT's authors.
#pragma once

#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "spdnn/csr.hpp"
#include "spdnn/matrix_io.hpp"
#include "spdnn/sparse/conv2d.hpp"
#include "spdnn/sparse/sparse_linear.hpp"
#include "support/test_support.hpp"

namespace spdnn::test {

// `count` values uniform in [-1, 1), seeded.
inline std::vector<float> random_values(size_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(count);
  for (auto& v : x) v = u(rng);
  return x;
}

// Whether two outputs hold the same bits (the same sums in the same order).
inline bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Options of a layer with its own cache that always takes a generated kernel (so that a test exercises
// it whether or not the generic kernel would be faster).
inline SparseLinearOptions isolated(const TempDir& dir, bool relu) {
  SparseLinearOptions o;
  o.relu = relu;
  o.cache_dir = dir.path();
  o.tune_against_generic = false;
  return o;
}

// A SparseRT filter (<root>/<sparsity>/filter_<bg>.npy.gz, out x in*9) with its sample input (C x H x W),
// as their driver convolves them: batch 1, padding 1.
struct SparseRtFilter {
  Conv2dShape shape;
  CsrMatrix w;
  std::vector<float> input;
};
inline SparseRtFilter sparsert_filter(const std::filesystem::path& root, const std::string& sparsity, const std::string& bg) {
  const io::NpyArray filter = io::read_npy(root / sparsity / fmt::format("filter_{}.npy.gz", bg));
  io::NpyArray input = io::read_npy(root / sparsity / fmt::format("input_{}.npy.gz", bg));
  SparseRtFilter f;
  f.shape.channels = input.shape[0], f.shape.height = input.shape[1], f.shape.width = input.shape[2];
  f.shape.out_channels = filter.shape[0], f.shape.padding = 1;
  f.w = io::npy_to_csr(filter, bg);
  f.input = std::move(input.data);
  return f;
}

}  // namespace spdnn::test
