// The pieces every emitted kernel is written from (see emit_parts.hpp).
#include "sparse/codegen/emit_parts.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace spdnn::codegen::detail {

void append_float(fmt::memory_buffer& out, float v) {
  if (std::isfinite(v))
    fmt::format_to(std::back_inserter(out), "{:a}f", v);
  else
    fmt::format_to(std::back_inserter(out), "__int_as_float(0x{:08x})", std::bit_cast<uint32_t>(v));
}

// The offset, in floats, of row `row` of X or Y from a thread's first element: a literal when the stride
// is compiled in (ptxas folds it into the load's or store's immediate), else a product with the argument n.
std::string row_offset(int64_t row, int64_t stride) {
  return stride > 0 ? fmt::format("{}ull", row * stride) : fmt::format("{}ull * n", row);
}

std::vector<Entry> group_entries(const CsrMatrix& w, int64_t r0, int64_t r1) {
  std::vector<Entry> e;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t p = w.row_ptr[r]; p < w.row_ptr[r + 1]; ++p) e.push_back({w.col_idx[p], static_cast<int32_t>(r - r0), w.values[p]});
  std::stable_sort(e.begin(), e.end(), [](const Entry& a, const Entry& b) { return a.col < b.col; });
  return e;
}

std::vector<size_t> slice_bounds(const std::vector<Entry>& e, int slices) {
  std::vector<size_t> b{0};
  for (int s = 1; s < slices; ++s) {
    size_t at = std::max(b.back(), e.size() * s / slices);
    while (at > b.back() && at < e.size() && e[at].col == e[at - 1].col) ++at;  // keep a column whole
    b.push_back(std::min(at, e.size()));
  }
  b.push_back(e.size());
  return b;
}

// Declares the accumulators a<row>_<c> of `rows` rows.
void put_accumulators(fmt::memory_buffer& out, int64_t rows, int c_count) {
  put(out, "    float");
  for (int64_t r = 0; r < rows; ++r)
    for (int c = 0; c < c_count; ++c) put(out, "{} a{}_{} = 0.0f", r == 0 && c == 0 ? "" : ",", r, c);
  put(out, ";\n");
}

// One load per distinct column of entries [first, last), each followed by the multiply-adds of every
// row that has a nonzero there (the reuse). With prefetch = D > 0, the load of the D-th next column is
// written before the multiply-adds of the current one, so that a thread has D loads in flight. While
// addresses were 64-bit products, ptxas hoisted the loads itself (255 registers) and the depth changed
// nothing measured; with the 32-bit stride it leaves them where they are written, and a depth of 32
// pays (the layer's candidates use it: src/sparse/cuda/sparse_linear.cpp).
void walk_columns(const std::vector<Entry>& e, size_t first, size_t last, int prefetch,
                  const std::function<void(int32_t col)>& load, const std::function<void(size_t, size_t)>& products) {
  std::vector<size_t> starts;  // the first entry of each distinct column
  for (size_t i = first; i < last; ++i)
    if (i == first || e[i].col != e[i - 1].col) starts.push_back(i);
  starts.push_back(last);
  const size_t columns = starts.size() - 1;
  const size_t ahead = prefetch > 0 ? static_cast<size_t>(prefetch) : 0;
  if (ahead > 0)
    for (size_t k = 0; k < std::min(ahead, columns); ++k) load(e[starts[k]].col);
  for (size_t k = 0; k < columns; ++k) {
    if (ahead == 0) load(e[starts[k]].col);
    else if (k + ahead < columns) load(e[starts[k + ahead]].col);
    products(starts[k], starts[k + 1]);
  }
}

void put_products(fmt::memory_buffer& out, const std::vector<Entry>& e, size_t first, size_t last, int c_count,
                  int prefetch, int64_t stride, const LoadWriter* writer, const ValueName* name) {
  auto load = [&](int32_t col) {
    if (writer != nullptr)
      (*writer)(out, col);
    else if (c_count == 1)
      put(out, "    const float v{} = __ldg(xj + {});\n", col, row_offset(col, stride));
    else
      put(out, "    const {0} v{1} = __ldg(reinterpret_cast<const {0}*>(xj + {2}));\n", kLoadType[c_count], col,
          row_offset(col, stride));
  };
  walk_columns(e, first, last, prefetch, load, [&](size_t begin, size_t end) {
    put(out, "   ");
    for (size_t i = begin; i < end; ++i)
      for (int c = 0; c < c_count; ++c) {
        if (name != nullptr)
          put(out, " a{}_{} = __fmaf_rn({}, ", e[i].row, c, (*name)(e[i].col, c));
        else
          put(out, " a{0}_{1} = __fmaf_rn(v{2}{3}{4}, ", e[i].row, c, e[i].col, c_count == 1 ? "" : ".",
              c_count == 1 ? "" : kComponent[c]);
        append_float(out, e[i].value);
        put(out, ", a{}_{});", e[i].row, c);
      }
    put(out, "\n");
  });
}

void put_cluster_helpers(fmt::memory_buffer& out) {
  out.append(std::string_view(
      "// Cluster barrier (release/acquire: partial sums written before it are visible after it), and\n"
      "// the address of the same shared variable in block `rank` of the cluster.\n"
      "static __device__ __forceinline__ void cluster_sync() {\n"
      "  asm volatile(\"barrier.cluster.arrive.release;\\n\\tbarrier.cluster.wait.acquire;\" ::: \"memory\");\n"
      "}\n"
      "static __device__ __forceinline__ const float* cluster_map(const float* p, unsigned rank) {\n"
      "  unsigned long long q;\n"
      "  asm(\"mapa.u64 %0, %1, %2;\" : \"=l\"(q) : \"l\"(p), \"r\"(rank));\n"
      "  return reinterpret_cast<const float*>(q);\n"
      "}\n"));
}

// Bias (a rounded add, as the reference), activation and one vector store of row `r` (accumulator a).
void put_store(fmt::memory_buffer& out, const std::vector<float>& bias, int64_t r, int64_t a, int c_count,
               int64_t stride) {
  put(out, "    {{ const float b = ");
  append_float(out, bias.empty() ? 0.0f : bias[r]);
  put(out, ";");
  for (int c = 0; c < c_count; ++c) put(out, " a{0}_{1} = act(__fadd_rn(a{0}_{1}, b));", a, c);
  if (c_count == 1) {
    put(out, " yj[{}] = a{}_0; }}\n", row_offset(r, stride), a);
  } else {
    put(out, " *reinterpret_cast<{}*>(yj + {}) = make_{}(", kLoadType[c_count], row_offset(r, stride), kLoadType[c_count]);
    for (int c = 0; c < c_count; ++c) put(out, "{}a{}_{}", c ? ", " : "", a, c);
    put(out, "); }}\n");
  }
}

}  // namespace spdnn::codegen::detail
