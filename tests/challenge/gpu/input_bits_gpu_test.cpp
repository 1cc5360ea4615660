// The first layer's position-major input bits (launch_densify_column_bits) against a CPU construction, word
// for word: partial tiles of rows and chunks of positions, empty rows, a full row, rows with more entries
// in one chunk than a warp reads at once. Skipped, visibly, without a usable CUDA device.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "challenge/cuda/kernels.hpp"
#include "core/rng.hpp"
#include "cuda/device_buffer.hpp"
#include "support/gpu_support.hpp"

namespace spdnn {

namespace {

struct Rows {
  std::vector<int64_t> ptr{0};
  std::vector<int32_t> cols;
};

// Row r: empty every 97th row, every column in row 5, columns 3000..3299 (one chunk, 300 entries) in row
// 6, otherwise each column with probability `density`; columns ascend.
Rows random_rows(int32_t rows, int32_t neurons, double density, uint64_t seed) {
  gen::Rng rng(seed);
  Rows m;
  for (int32_t r = 0; r < rows; ++r) {
    for (int32_t c = 0; c < neurons; ++c) {
      const bool set = r % 97 == 0 ? false : r == 5 ? true : r == 6 ? c >= 3000 && c < 3300 : rng.uniform() < density;
      if (set) m.cols.push_back(c);
    }
    m.ptr.push_back(static_cast<int64_t>(m.cols.size()));
  }
  return m;
}

// What every written word must hold (words at or past the rows' last 256-row tile are never written).
void expect_bits_match(int32_t rows, int32_t neurons, int32_t words, double density, uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << rows << " rows, " << neurons << " positions, " << words << " words");
  const Rows m = random_rows(rows, neurons, density, seed);
  std::vector<uint32_t> want(static_cast<size_t>(neurons) * words, 0);
  for (int32_t r = 0; r < rows; ++r)
    for (int64_t q = m.ptr[r]; q < m.ptr[r + 1]; ++q) want[static_cast<size_t>(m.cols[q]) * words + r / 32] |= 1u << (r % 32);

  cuda::DeviceBuffer<int64_t> ptr(m.ptr.size(), "row offsets");
  cuda::DeviceBuffer<int32_t> cols(std::max<size_t>(m.cols.size(), 1), "columns");
  cuda::DeviceBuffer<uint32_t> out(want.size(), "bits");
  ASSERT_EQ(cudaMemcpy(ptr.get(), m.ptr.data(), m.ptr.size() * sizeof(int64_t), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(cols.get(), m.cols.data(), m.cols.size() * sizeof(int32_t), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemset(out.get(), 0xa5, want.size() * sizeof(uint32_t)), cudaSuccess);  // stale words must be overwritten
  ASSERT_EQ(cuda::launch_densify_column_bits(ptr.get(), cols.get(), rows, neurons, words, out.get(), nullptr), cudaSuccess);
  std::vector<uint32_t> got(want.size());
  ASSERT_EQ(cudaMemcpy(got.data(), out.get(), got.size() * sizeof(uint32_t), cudaMemcpyDeviceToHost), cudaSuccess);

  const int32_t written = std::min(words, (rows + 255) / 256 * 8);
  int64_t wrong = 0;
  for (int32_t p = 0; p < neurons; ++p)
    for (int32_t w = 0; w < words; ++w) {
      const size_t i = static_cast<size_t>(p) * words + w;
      const uint32_t expected = w < written ? want[i] : 0xa5a5a5a5u;
      if (got[i] != expected && wrong++ < 5)
        ADD_FAILURE() << "position " << p << " word " << w << ": " << std::hex << got[i] << " instead of " << expected;
    }
  EXPECT_EQ(wrong, 0);
}

}  // namespace

TEST(InputBits, PositionMajorBitsMatchTheCpu) {
  SPDNN_REQUIRE_GPU();
  expect_bits_match(700, 9000, 24, 0.1, 1);     // words padded to whole tiles: 3 tiles, 2 position ranges
  expect_bits_match(700, 9000, 22, 0.3, 2);     // words as the rows need them: the last tile's extra words not written
  expect_bits_match(1100, 1024, 48, 0.05, 3);   // one chunk; the 8 words past the rows' tiles left as they were
  expect_bits_match(256, 20000, 8, 0.02, 4);    // one tile, three position ranges, the last one short
  expect_bits_match(31, 100, 8, 0.5, 5);        // fewer rows and positions than a tile and a chunk
}

}  // namespace spdnn
