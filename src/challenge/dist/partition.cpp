// Static partitioning of the inputs over ranks.
#include <algorithm>

#include "spdnn/challenge/dist.hpp"

namespace spdnn::dist {

Slice slice_of(int64_t count, int rank, int ranks) {
  return {count * rank / ranks, count * (rank + 1) / ranks};
}

Features take_rows(const Features& x, Slice s) {
  const CsrMatrix& m = x.matrix;
  Features out;
  CsrMatrix& o = out.matrix;
  o.rows = s.end - s.begin;
  o.cols = m.cols;
  const int64_t first = m.row_ptr[s.begin], last = m.row_ptr[s.end];
  o.row_ptr.resize(static_cast<size_t>(o.rows) + 1);
  for (int64_t r = 0; r <= o.rows; ++r) o.row_ptr[r] = m.row_ptr[s.begin + r] - first;
  o.col_idx.assign(m.col_idx.begin() + first, m.col_idx.begin() + last);
  o.values.assign(m.values.begin() + first, m.values.begin() + last);
  return out;
}

}  // namespace spdnn::dist
