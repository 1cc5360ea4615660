// The pieces every emitted kernel is written from (emit.cpp: sparse linear; emit_conv2d.cpp: sparse
// convolution): exact float literals, a row group's nonzeros by column, its accumulators, its loads with
// their multiply-adds, and its stores.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "spdnn/csr.hpp"

namespace spdnn::codegen::detail {

template <class... Args>
void put(fmt::memory_buffer& out, fmt::format_string<Args...> format, Args&&... args) {
  fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
}

// An exact float literal: hexadecimal for finite values, the bit pattern otherwise.
void append_float(fmt::memory_buffer& out, float v);

// The load, multiply-add and store of C adjacent columns, written out as scalar statements: the front
// end of NVRTC compiles these several times faster than calls of inline helpers.
inline constexpr const char* kLoadType[] = {"", "float", "float2", "", "float4"};
inline constexpr const char* kComponent[] = {"x", "y", "z", "w"};

// The offset, in floats, of row `row` of X or Y from a thread's first element: a literal when the stride
// is compiled in (ptxas folds it into the load's or store's immediate), else a product with the argument n.
std::string row_offset(int64_t row, int64_t stride);

// One (column, row within the group, value) per nonzero of a row group, by ascending column.
struct Entry {
  int32_t col, row;
  float value;
};
std::vector<Entry> group_entries(const CsrMatrix& w, int64_t r0, int64_t r1);

// Entry positions splitting e into `slices` runs of whole columns with about equal numbers of entries
// (split K: slice s computes entries [b[s], b[s + 1])).
std::vector<size_t> slice_bounds(const std::vector<Entry>& e, int slices);

// Declares the accumulators a<row>_<c> of `rows` rows.
void put_accumulators(fmt::memory_buffer& out, int64_t rows, int c_count);

// Writes the statement that loads column `col` of X into v<col> (c_count 1: a float).
using LoadWriter = std::function<void(fmt::memory_buffer& out, int32_t col)>;

// The name of the value that multiplies column `col` for a thread's output c (c < c_count).
using ValueName = std::function<std::string(int32_t col, int c)>;

// The order of a function's statements: load(col) once per distinct column of entries [first, last), and
// products(begin, end) for the entries of each column in turn, each column's load `prefetch` columns ahead
// of its products (emit_parts.cpp says why). Every emitted form (C++ statements, PTX) follows it.
void walk_columns(const std::vector<Entry>& e, size_t first, size_t last, int prefetch,
                  const std::function<void(int32_t col)>& load, const std::function<void(size_t, size_t)>& products);

// One load per distinct column of entries [first, last), each followed by the multiply-adds of every row
// that has a nonzero there (the reuse), loads written `prefetch` columns ahead (walk_columns). The
// load is `xj + row_offset(col, stride)` into v<col> (a float, or a vector of c_count adjacent columns whose
// components multiply), or what `load` writes when given, the values then named by `name`.
void put_products(fmt::memory_buffer& out, const std::vector<Entry>& e, size_t first, size_t last, int c_count,
                  int prefetch, int64_t stride, const LoadWriter* load = nullptr, const ValueName* name = nullptr);

// Split K over a cluster (cluster_slices > 1): cluster_sync(), a cluster-wide barrier that publishes the
// partial sums written before it, and cluster_map(p, rank), the same shared address in block `rank`.
void put_cluster_helpers(fmt::memory_buffer& out);

// Bias (a rounded add, as the reference), activation and one vector store of row `r` (accumulator a) at
// yj + row_offset(r, stride).
void put_store(fmt::memory_buffer& out, const std::vector<float>& bias, int64_t r, int64_t a, int c_count,
               int64_t stride);

}  // namespace spdnn::codegen::detail
