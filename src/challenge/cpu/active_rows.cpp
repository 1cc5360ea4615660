#include "challenge/cpu/active_rows.hpp"

#include <algorithm>

namespace spdnn::cpu {

ActiveRows nonempty_rows(const Features& x) {
  ActiveRows y;
  for (int64_t r = 0; r < x.count(); ++r)
    if (x.matrix.row_nnz(r) > 0)
      y.append(r, x.matrix.col_idx.data() + x.matrix.row_ptr[r], x.matrix.values.data() + x.matrix.row_ptr[r],
               x.matrix.row_nnz(r));
  return y;
}

void concatenate(std::vector<ActiveRows>& parts, int64_t chunks, ActiveRows& into, int threads) {
  std::vector<int64_t> row_at(chunks + 1, 0), nnz_at(chunks + 1, 0);
  bool copies = false;
  for (int64_t c = 0; c < chunks; ++c) {
    row_at[c + 1] = row_at[c] + parts[c].rows();
    nnz_at[c + 1] = nnz_at[c] + parts[c].nnz();
    copies = copies || !parts[c].copies.empty();
  }
  into.ids.resize(row_at[chunks]);
  into.row_ptr.resize(row_at[chunks] + 1);
  into.cols.resize(nnz_at[chunks]);
  into.vals.resize(nnz_at[chunks]);
  into.copies.resize(copies ? row_at[chunks] : 0);
  into.row_ptr[0] = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t c = 0; c < chunks; ++c) {
    ActiveRows& part = parts[c];
    std::copy(part.ids.begin(), part.ids.end(), into.ids.begin() + row_at[c]);
    if (copies) std::copy(part.copies.begin(), part.copies.end(), into.copies.begin() + row_at[c]);
    for (int64_t k = 1; k <= part.rows(); ++k) into.row_ptr[row_at[c] + k] = nnz_at[c] + part.row_ptr[k];
    std::copy(part.cols.begin(), part.cols.end(), into.cols.begin() + nnz_at[c]);
    std::copy(part.vals.begin(), part.vals.end(), into.vals.begin() + nnz_at[c]);
  }
}

}  // namespace spdnn::cpu
