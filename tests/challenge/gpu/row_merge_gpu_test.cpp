// The structure mode's row merge (launch_row_merge) against a CPU grouping of rows by their bits: every
// group of bitwise-equal rows leaves exactly one row, which carries the group's multiplicity, and the
// log sends every other row's input to it; rows that differ in one bit (0.0 and -0.0, one ULP) stay
// apart; a group at the clip is carried instead of kept. One pattern holds half the rows (every warp
// claims the same slot) and thousands of others share the table (probing). Merges run again on their
// own result and on a fresh list, to show the table is left free. Skipped, visibly, without a GPU.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "challenge/cuda/row_merge.hpp"
#include "core/rng.hpp"
#include "cuda/device_buffer.hpp"
#include "support/gpu_support.hpp"

namespace spdnn {

namespace {

constexpr int32_t kWidth = 40, kStride = 48, kCapacity = 6000;
constexpr float kClip = 32.0f;
constexpr int32_t kBoundary = 17;

using Bits = std::vector<uint32_t>;

Bits bits_of(const float* row) {
  Bits b(kWidth);
  std::memcpy(b.data(), row, kWidth * sizeof(float));
  return b;
}

// Rows of the batch: pattern 0 (half of them), pattern 1 (every value at the clip), patterns 2 and 3
// (equal but for 0.0 / -0.0 in one place), 4 and 5 (one ULP apart), and 2500 others.
std::vector<float> make_rows(gen::Rng& rng) {
  std::vector<std::vector<float>> patterns(2506, std::vector<float>(kWidth));
  for (auto& p : patterns)
    for (float& v : p) v = rng.uniform() < 0.3 ? 0.0f : static_cast<float>(rng.below(1000)) / 8.0f;
  patterns[1].assign(kWidth, kClip);
  patterns[3] = patterns[2], patterns[2][7] = 0.0f, patterns[3][7] = -0.0f;
  patterns[5] = patterns[4], patterns[5][kWidth - 1] = std::nextafter(patterns[4][kWidth - 1], 1e9f);
  std::vector<float> feat(static_cast<size_t>(kCapacity) * kStride, 7.0f);  // past the width: never compared
  for (int32_t r = 0; r < kCapacity; ++r) {
    const uint64_t pick = rng.below(100);
    const size_t p = pick < 50 ? 0 : pick < 53 ? 1 : pick < 57 ? 2 + (pick - 53) : 2 + rng.below(patterns.size() - 2);
    std::copy(patterns[p].begin(), patterns[p].end(), feat.begin() + static_cast<size_t>(r) * kStride);
  }
  return feat;
}

struct MergeResult {
  std::vector<int32_t> list, mult;
  std::vector<cuda::MergedInput> log;
  std::vector<cuda::CarriedRow> carried;
};

class RowMergeOnDevice {
 public:
  explicit RowMergeOnDevice(const std::vector<float>& feat)
      : feat_(feat.size(), "rows"),
        list_(kCapacity, "list"),
        count_(1, "count"),
        ids_(kCapacity, "ids"),
        mult_(kCapacity, "multiplicities"),
        log_(kCapacity, "log"),
        log_count_(1, "log count"),
        carried_(kCapacity, "carried"),
        carried_count_(1, "carried count"),
        table_keys_(cuda::row_merge_table_size(kCapacity), "table keys"),
        table_first_(cuda::row_merge_table_size(kCapacity), "table first rows"),
        slot_(kCapacity, "slots"),
        kept_(kCapacity + 1, "kept") {
    scratch_ = {table_keys_.get(), table_first_.get(), slot_.get(), kept_.get(), cuda::row_merge_table_size(kCapacity), kCapacity};
    EXPECT_EQ(cudaMemcpy(feat_.get(), feat.data(), feat.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    std::vector<int32_t> ids(kCapacity);
    for (int32_t r = 0; r < kCapacity; ++r) ids[r] = 1000 + r;
    EXPECT_EQ(cudaMemcpy(ids_.get(), ids.data(), kCapacity * sizeof(int32_t), cudaMemcpyHostToDevice), cudaSuccess);
    EXPECT_EQ(cudaMemset(log_count_.get(), 0, sizeof(int32_t)), cudaSuccess);
    EXPECT_EQ(cudaMemset(carried_count_.get(), 0, sizeof(int32_t)), cudaSuccess);
    EXPECT_EQ(cuda::launch_row_merge_clear(scratch_, nullptr), cudaSuccess);
  }

  void set(const std::vector<int32_t>& list, const std::vector<int32_t>& mult) {
    const auto n = static_cast<int32_t>(list.size());
    EXPECT_EQ(cudaMemcpy(list_.get(), list.data(), n * sizeof(int32_t), cudaMemcpyHostToDevice), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(count_.get(), &n, sizeof n, cudaMemcpyHostToDevice), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(mult_.get(), mult.data(), kCapacity * sizeof(int32_t), cudaMemcpyHostToDevice), cudaSuccess);
  }

  MergeResult merge(bool carry) {
    const cuda::ClipCarry c = carry ? cuda::ClipCarry{carried_.get(), carried_count_.get(), kClip, kBoundary} : cuda::ClipCarry{};
    EXPECT_EQ(cuda::launch_row_merge(feat_.get(), kStride, kWidth, list_.get(), count_.get(), ids_.get(), mult_.get(),
                                     log_.get(), log_count_.get(), scratch_, c, nullptr),
              cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    MergeResult r;
    int32_t n = 0, logged = 0, carried = 0;
    EXPECT_EQ(cudaMemcpy(&n, count_.get(), sizeof n, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(&logged, log_count_.get(), sizeof logged, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(&carried, carried_count_.get(), sizeof carried, cudaMemcpyDeviceToHost), cudaSuccess);
    r.list.resize(n), r.mult.resize(kCapacity), r.log.resize(logged), r.carried.resize(carried);
    EXPECT_EQ(cudaMemcpy(r.list.data(), list_.get(), n * sizeof(int32_t), cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(r.mult.data(), mult_.get(), kCapacity * sizeof(int32_t), cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(r.log.data(), log_.get(), logged * sizeof(cuda::MergedInput), cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(r.carried.data(), carried_.get(), carried * sizeof(cuda::CarriedRow), cudaMemcpyDeviceToHost),
              cudaSuccess);
    return r;
  }

  void reset_logs() {
    EXPECT_EQ(cudaMemset(log_count_.get(), 0, sizeof(int32_t)), cudaSuccess);
    EXPECT_EQ(cudaMemset(carried_count_.get(), 0, sizeof(int32_t)), cudaSuccess);
  }

 private:
  cuda::DeviceBuffer<float> feat_;
  cuda::DeviceBuffer<int32_t> list_, count_, ids_, mult_;
  cuda::DeviceBuffer<cuda::MergedInput> log_;
  cuda::DeviceBuffer<int32_t> log_count_;
  cuda::DeviceBuffer<cuda::CarriedRow> carried_;
  cuda::DeviceBuffer<int32_t> carried_count_;
  cuda::DeviceBuffer<uint64_t> table_keys_;
  cuda::DeviceBuffer<int32_t> table_first_, slot_, kept_;
  cuda::RowMergeScratch scratch_{};
};

// Checks one merge of `list` (rows with multiplicities `mult`) against the grouping of the rows' bits.
void expect_merge_groups_rows(const std::vector<float>& feat, const std::vector<int32_t>& list, const std::vector<int32_t>& mult,
                              const MergeResult& got, bool carry) {
  std::map<Bits, std::vector<int32_t>> groups;
  for (int32_t row : list) groups[bits_of(&feat[static_cast<size_t>(row) * kStride])].push_back(row);
  const Bits at_clip = bits_of(std::vector<float>(kWidth, kClip).data());
  std::map<int32_t, int32_t> into;  // merged input -> the input it went into
  for (const cuda::MergedInput& m : got.log) EXPECT_TRUE(into.emplace(m.input, m.into).second) << "input " << m.input << " merged twice";
  std::map<int32_t, int32_t> kept_rows;
  for (int32_t row : got.list) EXPECT_TRUE(kept_rows.emplace(row, 0).second) << "row " << row << " kept twice";
  size_t expected_kept = 0, expected_logged = 0;
  for (const auto& [bits, rows] : groups) {
    int32_t total = 0, stays = -1;
    for (int32_t row : rows) {
      total += mult[row];
      if (!into.count(1000 + row)) {
        EXPECT_EQ(stays, -1) << "two rows of one group left unmerged: " << stays << " and " << row;
        stays = row;
      }
    }
    ASSERT_NE(stays, -1) << "a group of " << rows.size() << " rows merged away entirely";
    for (int32_t row : rows)
      if (row != stays) EXPECT_EQ(into[1000 + row], 1000 + stays) << "row " << row << " merged into another group's row";
    EXPECT_EQ(got.mult[stays], total) << "group of " << rows.size() << " rows";
    expected_logged += rows.size() - 1;
    if (carry && bits == at_clip) {
      EXPECT_FALSE(kept_rows.count(stays)) << "a row at the clip stayed in the list";
      ASSERT_EQ(got.carried.size(), 1u);
      EXPECT_EQ(got.carried[0].input, 1000 + stays);
      EXPECT_EQ(got.carried[0].row, stays);
      EXPECT_EQ(got.carried[0].inputs, total);
      EXPECT_EQ(got.carried[0].boundary, kBoundary);
    } else {
      EXPECT_TRUE(kept_rows.count(stays)) << "the row standing for a group left the list";
      ++expected_kept;
    }
  }
  EXPECT_EQ(got.list.size(), expected_kept);
  EXPECT_EQ(got.log.size(), expected_logged);
  if (!carry) EXPECT_TRUE(got.carried.empty());
}

}  // namespace

TEST(RowMerge, MergesExactlyTheBitwiseEqualRows) {
  SPDNN_REQUIRE_GPU();
  gen::Rng rng(29);
  const std::vector<float> feat = make_rows(rng);
  // Listed in a random order, a sixth of the rows not listed (rows of earlier merges or dead ones).
  std::vector<int32_t> list = gen::random_permutation(kCapacity, rng);
  list.resize(kCapacity - kCapacity / 6);
  std::vector<int32_t> mult(kCapacity);
  for (int32_t& m : mult) m = 1 + static_cast<int32_t>(rng.below(3));
  for (bool carry : {false, true}) {
    SCOPED_TRACE(carry ? "carrying rows at the clip" : "no carrying");
    RowMergeOnDevice device(feat);
    device.set(list, mult);
    const MergeResult first = device.merge(carry);
    expect_merge_groups_rows(feat, list, mult, first, carry);
    EXPECT_GT(first.list.size(), 1000u);  // the distinct patterns listed (about 1440)
    // The merge's own result has nothing left to merge; the table is free again for a fresh list.
    device.reset_logs();
    const MergeResult again = device.merge(false);
    EXPECT_TRUE(again.log.empty());
    EXPECT_EQ(again.list.size(), first.list.size());
    device.reset_logs();
    device.set(list, mult);
    expect_merge_groups_rows(feat, list, mult, device.merge(carry), carry);
  }
}

TEST(RowMerge, EmptyAndSingleRowLists) {
  SPDNN_REQUIRE_GPU();
  gen::Rng rng(30);
  const std::vector<float> feat = make_rows(rng);
  const std::vector<int32_t> mult(kCapacity, 1);
  RowMergeOnDevice device(feat);
  device.set({}, mult);
  const MergeResult none = device.merge(true);
  EXPECT_TRUE(none.list.empty() && none.log.empty() && none.carried.empty());
  device.set({kCapacity - 1}, mult);
  const MergeResult one = device.merge(false);
  EXPECT_EQ(one.list, std::vector<int32_t>{kCapacity - 1});
  EXPECT_TRUE(one.log.empty());
}

}  // namespace spdnn
