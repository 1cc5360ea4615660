// CSR construction, validation and transpose.
#include "spdnn/csr.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "spdnn/error.hpp"

namespace spdnn {

void CsrMatrix::validate(std::string_view what) const {
  auto fail = [&](const std::string& why) { throw Error(Errc::format, fmt::format("{}: {}", what, why)); };
  if (rows < 0 || cols < 0) fail("negative size");
  if (static_cast<int64_t>(row_ptr.size()) != rows + 1) fail("row offsets do not match the row count");
  if (row_ptr.front() != 0 || row_ptr.back() != nnz()) fail("row offsets do not span the entries");
  if (values.size() != col_idx.size()) fail("values and column indices differ in length");
  for (int64_t r = 0; r < rows; ++r) {
    if (row_ptr[r + 1] < row_ptr[r]) fail(fmt::format("row offsets decrease at row {}", r + 1));
    for (int64_t p = row_ptr[r]; p < row_ptr[r + 1]; ++p) {
      if (col_idx[p] < 0 || col_idx[p] >= cols)
        fail(fmt::format("column {} out of range in row {}", int64_t{col_idx[p]} + 1, r + 1));
      if (p > row_ptr[r] && col_idx[p] <= col_idx[p - 1])
        fail(fmt::format("columns not strictly ascending in row {}", r + 1));
    }
  }
}

CsrMatrix csr_from_triplets(int64_t rows, int64_t cols, std::vector<Triplet> entries,
                            std::string_view source) {
  CsrMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.row_ptr.assign(static_cast<size_t>(rows) + 1, 0);
  for (const Triplet& t : entries) {
    if (t.row < 0 || t.row >= rows || t.col < 0 || t.col >= cols)
      throw Error(Errc::range, fmt::format("{}: entry ({}, {}) outside the {} x {} matrix", source,
                                           int64_t{t.row} + 1, int64_t{t.col} + 1, rows, cols));
    ++m.row_ptr[t.row + 1];
  }
  for (int64_t r = 0; r < rows; ++r) m.row_ptr[r + 1] += m.row_ptr[r];

  // Counting sort by row: stable, so rows stay in file order (the official files are column-sorted,
  // which makes every row already ascending and the sort below a no-op check).
  m.col_idx.resize(entries.size());
  m.values.resize(entries.size());
  std::vector<int64_t> next(m.row_ptr.begin(), m.row_ptr.end() - 1);
  for (const Triplet& t : entries) {
    int64_t p = next[t.row]++;
    m.col_idx[p] = t.col;
    m.values[p] = t.value;
  }
  entries = {};  // release before the per-row work

  std::vector<std::pair<int32_t, float>> scratch;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t b = m.row_ptr[r], e = m.row_ptr[r + 1];
    if (!std::is_sorted(m.col_idx.begin() + b, m.col_idx.begin() + e)) {
      scratch.clear();
      for (int64_t p = b; p < e; ++p) scratch.emplace_back(m.col_idx[p], m.values[p]);
      std::stable_sort(scratch.begin(), scratch.end(),
                       [](const auto& x, const auto& y) { return x.first < y.first; });
      for (int64_t p = b; p < e; ++p) std::tie(m.col_idx[p], m.values[p]) = scratch[p - b];
    }
    for (int64_t p = b + 1; p < e; ++p)
      if (m.col_idx[p] == m.col_idx[p - 1])
        throw Error(Errc::format, fmt::format("{}: duplicate entry ({}, {})", source, r + 1,
                                              int64_t{m.col_idx[p]} + 1));
  }
  return m;
}

std::vector<Triplet> csr_to_triplets(const CsrMatrix& m) {
  std::vector<Triplet> out;
  out.reserve(static_cast<size_t>(m.nnz()));
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t p = m.row_ptr[r]; p < m.row_ptr[r + 1]; ++p)
      out.push_back({static_cast<int32_t>(r), m.col_idx[p], m.values[p]});
  return out;
}

CsrMatrix transpose(const CsrMatrix& m) {
  CsrMatrix t;
  t.rows = m.cols;
  t.cols = m.rows;
  t.row_ptr.assign(static_cast<size_t>(t.rows) + 1, 0);
  for (int32_t c : m.col_idx) ++t.row_ptr[c + 1];
  for (int64_t r = 0; r < t.rows; ++r) t.row_ptr[r + 1] += t.row_ptr[r];
  t.col_idx.resize(m.col_idx.size());
  t.values.resize(m.values.size());
  std::vector<int64_t> next(t.row_ptr.begin(), t.row_ptr.end() - 1);
  for (int64_t r = 0; r < m.rows; ++r)  // rows ascending, so each transposed row ascends too
    for (int64_t p = m.row_ptr[r]; p < m.row_ptr[r + 1]; ++p) {
      int64_t q = next[m.col_idx[p]]++;
      t.col_idx[q] = static_cast<int32_t>(r);
      t.values[q] = m.values[p];
    }
  return t;
}

}  // namespace spdnn
