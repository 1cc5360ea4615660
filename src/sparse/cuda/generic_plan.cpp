// The generic kernel's work plan (see generic_plan.hpp).
#include "sparse/cuda/generic_plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

#include "spdnn/error.hpp"

namespace spdnn::cuda {

GenericPlan plan_generic(const CsrMatrix& w, int warps, int piece_nnz) {
  if (warps < 1 || piece_nnz < 1)
    throw Error(Errc::usage, fmt::format("generic plan: {} warps and pieces of {} nonzeros", warps, piece_nnz));
  if (w.rows > INT32_MAX)  // a piece's nonzeros are within one row, whose columns are 32-bit
    throw Error(Errc::unsupported, fmt::format("generic plan: {} rows are too many", w.rows));
  GenericPlan plan;
  plan.warps = warps;
  int used = warps;  // slots taken in the current block: start with a full one, so that row 0 opens a block
  for (int64_t r = 0; r < w.rows; ++r) {
    const int64_t nnz = w.row_nnz(r);
    const int pieces = static_cast<int>(std::clamp<int64_t>((nnz + piece_nnz - 1) / piece_nnz, 1, warps));
    if (used + pieces > warps) {
      plan.slots.resize(plan.slots.size() + static_cast<size_t>(warps));  // idle slots, row -1
      used = 0;
    }
    const size_t block_start = plan.slots.size() - static_cast<size_t>(warps);
    for (int p = 0; p < pieces; ++p) {
      GenericPiece& s = plan.slots[block_start + static_cast<size_t>(used + p)];
      const int64_t lo = nnz * p / pieces, hi = nnz * (p + 1) / pieces;
      s.begin = w.row_ptr[r] + lo;
      s.nnz = static_cast<int32_t>(hi - lo);
      s.row = static_cast<int32_t>(r);
      s.first = used;
      s.pieces = pieces;
    }
    used += pieces;
  }
  return plan;
}

}  // namespace spdnn::cuda
