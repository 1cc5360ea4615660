#include "challenge/cuda/row_order.hpp"

#include <algorithm>
#include <array>

namespace spdnn::cuda {

void order_rows_by_pattern(const CsrMatrix& x, std::vector<int32_t>& rows) {
  using Key = std::array<uint64_t, kRowOrderBlocks / 64>;
  std::vector<Key> key(rows.size(), Key{});
  for (size_t k = 0; k < rows.size(); ++k)
    for (const int32_t c : x.row_cols(rows[k])) {
      const int64_t block = static_cast<int64_t>(c) * kRowOrderBlocks / std::max<int64_t>(x.cols, 1);
      key[k][block / 64] |= uint64_t{1} << (63 - block % 64);
    }
  std::vector<size_t> order(rows.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key[a] < key[b]; });
  std::vector<int32_t> sorted(rows.size());
  for (size_t k = 0; k < order.size(); ++k) sorted[k] = rows[order[k]];
  rows = std::move(sorted);
}

}  // namespace spdnn::cuda
