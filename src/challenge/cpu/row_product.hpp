// One row of one layer: y' = min(max(y * W + bias, 0), clip), the cpu engine's only arithmetic.
//
// The row y is given as a visitor that calls back (i, y[i]) for its nonzeros in ascending input
// neuron i; each output sums its products in that order, starting from 0.0f, exactly as the reference
// engine does, so every path that visits the same nonzeros gets bit-identical features.
#pragma once

#include <algorithm>
#include <cstdint>

#include "challenge/cpu/active_rows.hpp"
#include "spdnn/csr.hpp"

namespace spdnn::cpu {

// Appends the nonzeros of y * W (+ bias, clipped) to out.cols/out.vals; returns how many.
// `dense`: the row touches most outputs, so scan all of them in order instead of tracking the touched.
template <class VisitInputs>
int64_t product_row(VisitInputs visit, const CsrMatrix& w, bool dense, float bias, float clip, Scratch& s,
                    ActiveRows& out) {
  const size_t before = out.cols.size();
  auto emit = [&](int32_t j) {
    const float z = s.acc[j];
    s.acc[j] = 0.0f;
    if (z == 0.0f) return;  // nothing arrived (or it cancelled): no bias, stays zero
    const float v = std::min(std::max(z + bias, 0.0f), clip);
    if (v != 0.0f) out.cols.push_back(j), out.vals.push_back(v);
  };
  if (dense) {
    visit([&](int32_t i, float yi) {
      for (int64_t q = w.row_ptr[i]; q < w.row_ptr[i + 1]; ++q) s.acc[w.col_idx[q]] += yi * w.values[q];
    });
    for (int32_t j = 0; j < w.cols; ++j) emit(j);
  } else {
    visit([&](int32_t i, float yi) {
      for (int64_t q = w.row_ptr[i]; q < w.row_ptr[i + 1]; ++q) {
        const int32_t j = w.col_idx[q];
        s.acc[j] += yi * w.values[q];
        if (!s.touched_mask[j]) s.touched_mask[j] = 1, s.touched.push_back(j);
      }
    });
    std::sort(s.touched.begin(), s.touched.end());
    for (int32_t j : s.touched) emit(j), s.touched_mask[j] = 0;
    s.touched.clear();
  }
  return static_cast<int64_t>(out.cols.size() - before);
}

// Whether a row of `row_nnz` nonzeros touches enough of W's outputs to scan them all.
inline bool touches_most(int64_t row_nnz, const CsrMatrix& w) {
  const double per_row = w.rows > 0 ? static_cast<double>(w.nnz()) / static_cast<double>(w.rows) : 0.0;
  return static_cast<double>(row_nnz) * per_row * 4 > static_cast<double>(w.cols);
}

// The visitor of a row stored as it is (columns are input neurons).
inline auto stored_row(const ActiveRows& y, int64_t r) {
  return [&y, r](auto&& f) {
    for (int64_t p = y.row_ptr[r]; p < y.row_ptr[r + 1]; ++p) f(y.cols[p], y.vals[p]);
  };
}

}  // namespace spdnn::cpu
