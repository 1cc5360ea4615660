// A convolution group function's body as one inline PTX statement (emit_conv2d.cpp writes the function
// around it): the same bounds tests, base pointers, loads, multiply-adds and stores as its C++ statements,
// in the same order (walk_columns), so ptxas writes the same code, but NVRTC's front end, two thirds of
// the compile time of straight-line C++, has only a string to pass on. A 512 x 4608 filter at 95% (8-row
// groups split 4 ways, a unit of 4.4k multiply-adds): 1.34 s -> 0.51 s of NVRTC, the same frames and
// spills in ptxas's report (session 37, the 2-core workstation).
//
// Operands of the statement: %0 xj, %1 zeros, %2 yj (or part, K split), %3 h0, %4 w0, %5 lanes (K split).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "sparse/codegen/emit_parts.hpp"
#include "spdnn/sparse/conv2d.hpp"
#include "spdnn/sparse/kernel_config.hpp"

namespace spdnn::codegen {

// Filter column `col` for a thread's output row b: channel c, row offset k = b*stride + r*dilation from the
// thread's corner, filter column t (emit_conv2d.cpp: one base pointer per (k, t)).
struct ConvTap {
  int64_t c, k, t;
};
ConvTap conv_tap(const Conv2dShape& s, int32_t col, int b);

// The row offsets k that B output rows a thread reach (each bounds-tested once), and the (k, t) base
// pointers that entries [first, last) of a function use: what both emitted forms declare.
std::set<int64_t> conv_row_offsets(const Conv2dShape& s, int outputs);
std::set<std::pair<int64_t, int64_t>> conv_bases(const Conv2dShape& s, const std::vector<detail::Entry>& e, size_t first,
                                                 size_t last, int outputs);

// Where output row b of a thread (of B) and out-channel r lies from the thread's yj, in floats, and the
// bound h0 must stay below for that row to exist (p0 + b < P), where some thread's last rows lie past the
// image (B does not divide P): the stores both emitted forms write.
int64_t conv_store_offset(const Conv2dShape& s, int64_t r, int b);
std::optional<int64_t> conv_row_guard(const Conv2dShape& s, int outputs, int b);

// Whether every offset of `shape`'s loads and stores fits PTX's 32-bit immediates (else C++ statements).
bool conv2d_fits_ptx(const Conv2dShape& shape, const KernelConfig& config);

// What a function does with its sums: bias (empty: none), act and the stores of out-channels r0.. to yj
// (whole groups), or each sum to part[(a * B + b) * lanes] (a slice of a group whose K is split).
struct PtxSums {
  bool partial = false;
  const std::vector<float>* bias = nullptr;
  bool relu = false;
  int64_t r0 = 0;
};

// The asm statement computing entries [first, last) of `e` (rows of the group's `rows` out-channels) for
// one thread's B = config.cols output rows, then `sums`.
void put_conv2d_ptx(fmt::memory_buffer& out, const std::vector<detail::Entry>& e, size_t first, size_t last,
                    int64_t rows, const Conv2dShape& s, const KernelConfig& config, const PtxSums& sums);

}  // namespace spdnn::codegen
