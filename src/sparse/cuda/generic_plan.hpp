// The work plan of the generic CSR kernel, built on the host once per layer.
//
// A block of kGenericWarps warps computes rows of Y for one tile of columns; each warp takes one piece
// of one row: up to about piece_nnz consecutive nonzeros, so that a long row is shared by several warps
// of the same block instead of setting the time of the whole launch (magnitude-pruned layers have rows
// six times longer than their mean). A row's pieces are consecutive warp slots of one block, and the
// warp of its first piece adds their sums in order, so results do not depend on scheduling.
//
// Plain C++ (no CUDA) so that it is tested on machines without a GPU.
#pragma once

#include <cstdint>
#include <vector>

#include "spdnn/csr.hpp"

namespace spdnn::cuda {

inline constexpr int kGenericWarps = 8;
// Pieces of at most 64 nonzeros where lanes load 2 or 4 columns (the wide plan), of at most 32 where
// they load one (the narrow plan: N < 256, or X and Y not aligned to a vector): there a round of loads
// is cheap and more, shorter pieces shorten the launch (ResNet-50 1x1
// layers on an H100, generic kernel, batch 1 geometric means: 9.4 -> 9.1 us at 90%, 6.8 -> 6.3 us at
// 95%; at N = 392, 32 lost: 26.0 -> 27.4 us for 512 x 2048 at 90%).
inline constexpr int kWidePieceNnz = 64;
inline constexpr int kNarrowPieceNnz = 32;

// One warp's share of one row.
struct GenericPiece {
  int64_t begin = 0;  // first nonzero (index into col_idx / values)
  int32_t nnz = 0;    // nonzeros of the piece (0 for an empty row: the output is act(bias))
  int32_t row = -1;   // -1: an idle warp slot
  int32_t first = 0;  // warp slot, in this block, of the row's first piece
  int32_t pieces = 0; // pieces of the row
};

struct GenericPlan {
  int warps = kGenericWarps;
  std::vector<GenericPiece> slots;  // blocks * warps, block-major

  int64_t blocks() const { return static_cast<int64_t>(slots.size()) / warps; }
};

// Row r is cut into min(warps, ceil(nnz / piece_nnz)) pieces of about equal size (at least one), placed
// in row order; a row whose pieces do not fit in the rest of a block starts the next one.
GenericPlan plan_generic(const CsrMatrix& w, int warps = kGenericWarps, int piece_nnz = kWidePieceNnz);

}  // namespace spdnn::cuda
