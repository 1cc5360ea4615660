// The order of a batch's input rows, for feature-major layers (column_kernel.cuh): a warp's step is
// skipped when its slice of 64 rows is all zero at that input position, and rows keep their order through
// the layers, so rows whose nonzeros sit in the same places, put next to each other, make more steps
// skippable. On MNIST-like inputs (bench/challenge/row_order_sim.py) the zero steps of a slice go from
// 43% in id order to 56% sorted by the key below. Any order gives the same answer; only speed changes.
//
// Plain C++ (no CUDA) so that it is tested on machines without a GPU.
#pragma once

#include <cstdint>
#include <vector>

#include "spdnn/csr.hpp"

namespace spdnn::cuda {

// Position blocks of the sort key: the positions are cut into this many contiguous blocks.
inline constexpr int kRowOrderBlocks = 256;

// Sorts `rows` (row ids of x) by which of kRowOrderBlocks contiguous blocks of positions hold a
// nonzero, read as a binary number with block 0 the most significant bit; ties keep their order.
void order_rows_by_pattern(const CsrMatrix& x, std::vector<int32_t>& rows);

}  // namespace spdnn::cuda
