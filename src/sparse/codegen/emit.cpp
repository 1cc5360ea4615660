// Emission of a kernel specialized to one sparse weight matrix (see emit.hpp).
#include "sparse/codegen/emit.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <iterator>
#include <string>
#include <utility>

#include "spdnn/error.hpp"

namespace spdnn::codegen {

int64_t compiled_stride(const KernelConfig& config, int64_t n) {
  if (config.fixed_n == 0) return 0;
  if (n < 1 || n > int64_t{UINT32_MAX})
    throw Error(Errc::usage, fmt::format("generated kernel: N = {} compiled in (1..2^32 - 1)", n));
  return n;
}

int64_t row_groups(const KernelConfig& config, int64_t rows) {
  return (rows + config.rows - 1) / config.rows;
}

int64_t grid_rows(const KernelConfig& config, int64_t rows) {
  return (row_groups(config, rows) + config.block_groups - 1) / config.block_groups * config.cluster_slices;
}

namespace {

// An exact float literal: hexadecimal for finite values, the bit pattern otherwise.
void append_float(fmt::memory_buffer& out, float v) {
  if (std::isfinite(v))
    fmt::format_to(std::back_inserter(out), "{:a}f", v);
  else
    fmt::format_to(std::back_inserter(out), "__int_as_float(0x{:08x})", std::bit_cast<uint32_t>(v));
}

// The load, multiply-add and store of C adjacent columns, written out as scalar statements: the front
// end of NVRTC compiles these several times faster than calls of inline helpers.
constexpr const char* kLoadType[] = {"", "float", "float2", "", "float4"};
constexpr const char* kComponent[] = {"x", "y", "z", "w"};

template <class... Args>
void put(fmt::memory_buffer& out, fmt::format_string<Args...> format, Args&&... args) {
  fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
}

// The offset, in floats, of row `row` of X or Y from a thread's first element: a literal when the stride
// is compiled in (ptxas folds it into the load's or store's immediate), else a product with the argument n.
std::string row_offset(int64_t row, int64_t stride) {
  return stride > 0 ? fmt::format("{}ull", row * stride) : fmt::format("{}ull * n", row);
}

}  // namespace

namespace {

// One (column, row within the group, value) per nonzero of a row group, by ascending column.
struct Entry {
  int32_t col, row;
  float value;
};
std::vector<Entry> group_entries(const CsrMatrix& w, int64_t r0, int64_t r1) {
  std::vector<Entry> e;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t p = w.row_ptr[r]; p < w.row_ptr[r + 1]; ++p) e.push_back({w.col_idx[p], static_cast<int32_t>(r - r0), w.values[p]});
  std::stable_sort(e.begin(), e.end(), [](const Entry& a, const Entry& b) { return a.col < b.col; });
  return e;
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
void put_products(fmt::memory_buffer& out, const std::vector<Entry>& e, size_t first, size_t last, int c_count,
                  int prefetch, int64_t stride) {
  std::vector<size_t> starts;  // the first entry of each distinct column
  for (size_t i = first; i < last; ++i)
    if (i == first || e[i].col != e[i - 1].col) starts.push_back(i);
  starts.push_back(last);
  const size_t columns = starts.size() - 1;
  auto load = [&](size_t k) {
    const int32_t col = e[starts[k]].col;
    if (c_count == 1)
      put(out, "    const float v{} = __ldg(xj + {});\n", col, row_offset(col, stride));
    else
      put(out, "    const {0} v{1} = __ldg(reinterpret_cast<const {0}*>(xj + {2}));\n", kLoadType[c_count], col,
          row_offset(col, stride));
  };
  const size_t ahead = prefetch > 0 ? static_cast<size_t>(prefetch) : 0;
  if (ahead > 0)
    for (size_t k = 0; k < std::min(ahead, columns); ++k) load(k);
  for (size_t k = 0; k < columns; ++k) {
    if (ahead == 0) load(k);
    else if (k + ahead < columns) load(k + ahead);
    put(out, "   ");
    for (size_t i = starts[k]; i < starts[k + 1]; ++i)
      for (int c = 0; c < c_count; ++c) {
        put(out, " a{0}_{1} = __fmaf_rn(v{2}{3}{4}, ", e[i].row, c, e[i].col, c_count == 1 ? "" : ".", c_count == 1 ? "" : kComponent[c]);
        append_float(out, e[i].value);
        put(out, ", a{}_{});", e[i].row, c);
      }
    put(out, "\n");
  }
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

// Entry positions splitting e into `slices` runs of whole columns with about equal numbers of entries.
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

}  // namespace

namespace {

void check_inputs(const CsrMatrix& w, const std::vector<float>& bias, const KernelConfig& config) {
  validate(config);
  w.validate("sparse weights");
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != w.rows)
    throw Error(Errc::mismatch, fmt::format("sparse linear: {} biases for {} rows", bias.size(), w.rows));
}

// The rows [r0, r1) of group g.
std::pair<int64_t, int64_t> group_rows(const KernelConfig& config, const CsrMatrix& w, int64_t g) {
  const int64_t r0 = g * config.rows;
  return {r0, std::min<int64_t>(w.rows, r0 + config.rows)};
}

// The functions of one row group, and their signatures (shared by definitions and declarations).
std::string group_signature(int64_t g) {
  return fmt::format("void group{}(const float* __restrict__ xj, float* __restrict__ yj, unsigned n)", g);
}
std::string slice_signature(int64_t g, int slice) {
  return fmt::format("void group{}_{}(const float* __restrict__ xj, float* part, unsigned n, int lanes)", g, slice);
}
std::string finish_signature(int64_t g) {
  return fmt::format("void finish{}(const float* part, float* __restrict__ yj, unsigned n, int lanes, unsigned s)", g);
}

// What every unit starts with: the header comment, act() and, split K over a cluster, its helpers.
void put_preamble(fmt::memory_buffer& out, const CsrMatrix& w, bool relu, const KernelConfig& config, int64_t stride) {
  put(out, "// Generated by spdnn {}: Y = {}(W * X + b) for a {} x {} W with {} nonzeros.\n", SPDNN_VERSION,
      relu ? "relu" : "", w.rows, w.cols, w.nnz());
  put(out, "// {} rows per group{}, {} columns per thread, {} K slices{}, {} loads ahead, at most {} threads per block;\n"
      "// each group is a function of its own, because ptxas's time grows quadratically with the size of one function.\n",
      config.rows, config.block_groups > 1 ? fmt::format(" ({} groups per block)", config.block_groups) : "",
      config.cols, slices_of(config),
      config.block_slices > 1 ? " within a block" : config.cluster_slices > 1 ? " over a cluster" : "", config.prefetch,
      config.bound);
  if (stride > 0)
    put(out, "// The row stride of X and Y is compiled in: the kernel serves N = {} only.\n", stride);
  put(out, "static __device__ __forceinline__ float act(float a) {{ return {}; }}\n",
      relu ? "a < 0.0f ? 0.0f : a" : "a");
  if (config.cluster_slices > 1)
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

// Row group g (and, split K, each slice of its columns and the sum): functions of their own, with
// `linkage` ("static ..." in one program, "extern \"C\" ..." in units linked together).
void put_group(fmt::memory_buffer& out, const CsrMatrix& w, const std::vector<float>& bias, const KernelConfig& config, int64_t stride,
               int64_t g, std::string_view linkage) {
  const int c_count = config.cols, slices = slices_of(config);
  const auto [r0, r1] = group_rows(config, w, g);
  const std::vector<Entry> e = group_entries(w, r0, r1);
  if (slices == 1) {
    put(out, "{}{} {{\n", linkage, group_signature(g));
    put_accumulators(out, r1 - r0, c_count);
    put_products(out, e, 0, e.size(), c_count, config.prefetch, stride);
    for (int64_t r = r0; r < r1; ++r) put_store(out, bias, r, r - r0, c_count, stride);
    put(out, "}}\n");
    return;
  }
  // Slice s writes partial sum (row a, component c) to part[(a * C + c) * lanes]; `part` is this
  // block's buffer for this step, offset by the thread's lane.
  const std::vector<size_t> bounds = slice_bounds(e, slices);
  for (int sl = 0; sl < slices; ++sl) {
    put(out, "{}{} {{\n", linkage, slice_signature(g, sl));
    put_accumulators(out, r1 - r0, c_count);
    put_products(out, e, bounds[sl], bounds[sl + 1], c_count, config.prefetch, stride);
    for (int64_t a = 0; a < r1 - r0; ++a)
      for (int c = 0; c < c_count; ++c) put(out, "    part[{} * lanes] = a{}_{};\n", a * c_count + c, a, c);
    put(out, "}}\n");
  }
  // The sums, in slice order, from the S blocks of the cluster (or the S sets of threads of the block,
  // `part` then pointing at slice 0's sums); slice s finishes the rows a with a % S == s.
  put(out, "{}{} {{\n", linkage, finish_signature(g));
  for (int sl = 0; sl < slices; ++sl)
    if (config.cluster_slices > 1)
      put(out, "  const float* p{0} = cluster_map(part, {0});\n", sl);
    else
      put(out, "  const float* p{0} = part + {0} * {1} * lanes;\n", sl, int64_t{config.rows} * c_count);
  for (int64_t a = 0; a < r1 - r0; ++a) {
    put(out, "  if (s == {}) {{\n", a % slices);
    put(out, "    float");
    for (int c = 0; c < c_count; ++c) {
      put(out, "{} a{}_{} = p0[{} * lanes]", c ? "," : "", a, c, a * c_count + c);
      for (int sl = 1; sl < slices; ++sl) put(out, " + p{}[{} * lanes]", sl, a * c_count + c);
    }
    put(out, ";\n");
    put_store(out, bias, r0 + a, a, c_count, stride);
    put(out, "  }}\n");
  }
  put(out, "}}\n");
}

// The S sets of whole warps of a block that runs several streams: `lanes` threads each (set s the warps
// w with w % S == s, lane its thread's place among them), `more` declared with them, and the step of
// columns of the grid.
void put_thread_sets(fmt::memory_buffer& out, int sets, int c_count, const std::string& more) {
  put(out, "  const int lanes = blockDim.x / {};\n", sets);
  put(out, "  const unsigned warp = threadIdx.x / 32{1}, lane = warp / {0} * 32 + threadIdx.x % 32;\n", sets, more);
  put(out, "  const long long step = static_cast<long long>(gridDim.x) * lanes * {0};\n", c_count);
}
// The loop of such a block over its steps of columns, j the first column of this thread.
void put_column_loop(fmt::memory_buffer& out, int c_count) {
  put(out, "  for (long long j = static_cast<long long>(blockIdx.x) * lanes * {0} + lane * {0}; j - lane * {0} < n; j += step) {{\n",
      c_count);
}

// Split K, wherever the slices run: a live thread calls slice s of group `group` (writing its partial
// sums at `part`), and after the barrier the finish of its group (reading the S sums from `sums`).
void put_slice_calls(fmt::memory_buffer& out, std::string_view group, int64_t groups, int slices) {
  put(out, "    if (live) switch ({}) {{\n", group);
  for (int64_t g = 0; g < groups; ++g) {
    put(out, "    case {}: switch (s) {{", g);
    for (int sl = 0; sl < slices; ++sl) put(out, " case {1}: group{0}_{1}(x + j, part, stride, lanes); break;", g, sl);
    put(out, " }} break;\n");
  }
  put(out, "    }}\n");
}
void put_finish_calls(fmt::memory_buffer& out, std::string_view group, std::string_view sums, int64_t groups) {
  put(out, "    if (live) switch ({}) {{\n", group);
  for (int64_t g = 0; g < groups; ++g) put(out, "    case {0}: finish{0}({1}, y + j, stride, lanes, s); break;\n", g, sums);
  put(out, "    }}\n");
}

// Split K within a block: the threads form S sets of `lanes` threads (set s the warps w with w % S == s,
// so the slice is uniform per warp; which warps form a set did not change the time, item 18); set s runs
// slice s of the block's group for the same columns as the other sets, and after a barrier every set
// finishes its share of the rows from the S partial sums.
void put_block_split_loop(fmt::memory_buffer& out, const KernelConfig& config, int64_t groups) {
  const int c_count = config.cols, slices = config.block_slices;
  const int64_t per_thread = int64_t{config.rows} * c_count;
  put(out, "  extern __shared__ float spdnn_part[];\n");
  put_thread_sets(out, slices, c_count, ", s = warp % " + std::to_string(slices));
  put(out, "  float* part = spdnn_part + s * {} * lanes + lane;\n", per_thread);
  // Every thread runs the loop the same number of times (the test does not depend on the lane), so all
  // reach each barrier.
  put_column_loop(out, c_count);
  put(out, "    const bool live = j < n;\n");
  put_slice_calls(out, "blockIdx.y", groups, slices);
  put(out, "    __syncthreads();\n");
  put_finish_calls(out, "blockIdx.y", "spdnn_part + lane", groups);
  out.append(std::string_view("    __syncthreads();  // the sums are read before the next step overwrites them\n  }\n}\n"));
}

// Several row groups within a block: the threads form G sets of `lanes` threads (whole warps, set s the
// warps w with w % G == s), set s runs row group blockIdx.y * G + s for the block's columns. No barrier:
// the sets share only the X they read, through L1.
void put_block_groups_loop(fmt::memory_buffer& out, const KernelConfig& config, int64_t groups) {
  const int c_count = config.cols, sets = config.block_groups;
  put_thread_sets(out, sets, c_count, "");
  put(out, "  const unsigned g = blockIdx.y * {0} + warp % {0};\n", sets);
  put_column_loop(out, c_count);
  out.append(std::string_view(
      "    if (j >= n) return;\n"
      "    switch (g) {\n"));
  for (int64_t g = 0; g < groups; ++g) put(out, "    case {0}: group{0}(x + j, y + j, stride); break;\n", g);
  out.append(std::string_view("    }\n  }\n}\n"));
}

// The kernel: which group (and slice) a block runs, and the loop over its columns.
void put_kernel(fmt::memory_buffer& out, const KernelConfig& config, int64_t groups) {
  const int c_count = config.cols, slices = slices_of(config);
  const int64_t per_thread = int64_t{config.rows} * c_count;  // partial sums per slice and lane
  // The block width is a launch parameter (tuned without recompiling), at most the launch bound. Each block
  // walks the columns in steps of gridDim.x * blockDim.x * C (one step when grid.x covers them).
  put(out, "extern \"C\" __global__ void __launch_bounds__({}) {}(const float* __restrict__ x, float* __restrict__ y, long long n) {{\n",
      config.bound, kKernelName);
  // Launched with programmatic dependent launch (src/cuda/dependent_launch.hpp), a kernel waits here for the
  // previous one in its stream before it reads X or writes Y. It does not let the next kernel launch early:
  // that kernel's blocks then took SM slots beside this one's and the generated kernels lost (ResNet-50 at
  // 95%, batch 1, CUDA graph: 3.8 -> 4.0 us, against 3.7 -> 3.5 us for waiting alone).
  out.append(std::string_view(
      "#if __CUDA_ARCH__ >= 900\n"
      "  asm volatile(\"griddepcontrol.wait;\" ::: \"memory\");\n"
      "#endif\n"));
  // The group functions take the row stride as 32 bits (the launcher keeps N below 2^32), so that each
  // address is one widening multiply-add (IMAD.WIDE.U32) instead of the three or four instructions of a
  // 64-bit product: those were a third of the instructions the kernels wait for (256 x 1024 at 90%: 37k
  // address instructions beside 26k multiply-adds).
  put(out, "  const unsigned stride = static_cast<unsigned>(n);\n");
  if (config.block_slices > 1) {
    put_block_split_loop(out, config, groups);
    return;
  }
  if (config.block_groups > 1) {
    put_block_groups_loop(out, config, groups);
    return;
  }
  put(out, "  const long long step = static_cast<long long>(gridDim.x) * blockDim.x * {0};\n"
      "  const long long first = static_cast<long long>(blockIdx.x) * blockDim.x * {0};\n", c_count);
  if (slices == 1) {
    put(out, "  for (long long j = first + threadIdx.x * {}; j - threadIdx.x * {} < n; j += step) {{\n", c_count, c_count);
    out.append(std::string_view(
        "    if (j >= n) return;\n"
        "    switch (blockIdx.y) {\n"));
    for (int64_t g = 0; g < groups; ++g) put(out, "    case {0}: group{0}(x + j, y + j, stride); break;\n", g);
    out.append(std::string_view("    }\n  }\n}\n"));
    return;
  }
  // grid.y = groups * S and clusters of (1, S, 1): a cluster is one group, its block s the slice s.
  // Every thread of the cluster reaches each barrier, the same number of times (same blockIdx.x).
  put(out, "  extern __shared__ float spdnn_part[];\n");
  put(out, "  const unsigned g = blockIdx.y / {0}, s = blockIdx.y % {0};\n", slices);
  put(out, "  const int lanes = blockDim.x;\n");
  put(out, "  int buffer = 0;\n");
  put(out, "  for (long long j = first + threadIdx.x * {}; j - threadIdx.x * {} < n; j += step, buffer ^= 1) {{\n", c_count, c_count);
  put(out, "    const bool live = j < n;\n");
  put(out, "    float* part = spdnn_part + buffer * {} * lanes + threadIdx.x;\n", per_thread);
  put_slice_calls(out, "g", groups, slices);
  put(out, "    cluster_sync();\n");
  put_finish_calls(out, "g", "part", groups);
  out.append(std::string_view("  }\n  cluster_sync();  // the other blocks may still read this block's sums\n}\n"));
}

constexpr std::string_view kStatic = "static __device__ __noinline__ ";
constexpr std::string_view kExtern = "extern \"C\" __device__ __noinline__ ";
constexpr std::string_view kDeclare = "extern \"C\" __device__ ";

}  // namespace

std::string emit_sparse_linear(const CsrMatrix& w, const std::vector<float>& bias, bool relu,
                               const KernelConfig& config, int64_t n) {
  const int64_t stride = compiled_stride(config, n);
  check_inputs(w, bias, config);
  fmt::memory_buffer out;
  put_preamble(out, w, relu, config, stride);
  const int64_t groups = row_groups(config, w.rows);
  for (int64_t g = 0; g < groups; ++g) put_group(out, w, bias, config, stride, g, kStatic);
  put_kernel(out, config, groups);
  return fmt::to_string(out);
}

std::vector<std::string> compile_options(const KernelConfig& config) {
  if (config.fixed_n != 0) return {"--ptxas-options=-O1"};
  return {};
}

std::vector<std::string> unit_compile_options(const KernelConfig& config) {
  std::vector<std::string> options = compile_options(config);
  if (config.bound > 256)  // 255 registers, as ptxas gives the bound of 256 anyway
    options.push_back(fmt::format("-maxrregcount={}", 65536 / config.bound));
  return options;
}

std::vector<std::string> emit_sparse_linear_units(const CsrMatrix& w, const std::vector<float>& bias, bool relu,
                                                  const KernelConfig& config, int64_t unit_nnz, int64_t n) {
  const int64_t stride = compiled_stride(config, n);
  check_inputs(w, bias, config);
  const int64_t groups = row_groups(config, w.rows);
  std::vector<std::string> units;
  fmt::memory_buffer out;
  put_preamble(out, w, relu, config, stride);
  for (int64_t g = 0; g < groups; ++g) {
    if (slices_of(config) == 1) {
      put(out, "{}{};\n", kDeclare, group_signature(g));  // extern "C" __device__
    } else {
      for (int sl = 0; sl < slices_of(config); ++sl) put(out, "{}{};\n", kDeclare, slice_signature(g, sl));
      put(out, "{}{};\n", kDeclare, finish_signature(g));
    }
  }
  put_kernel(out, config, groups);
  units.push_back(fmt::to_string(out));
  // Whole groups, in order, until a unit holds about unit_nnz nonzeros.
  for (int64_t g = 0; g < groups;) {
    out.clear();
    put_preamble(out, w, relu, config, stride);
    int64_t nnz = 0;
    do {
      const auto [r0, r1] = group_rows(config, w, g);
      nnz += w.row_ptr[r1] - w.row_ptr[r0];
      put_group(out, w, bias, config, stride, g++, kExtern);
    } while (g < groups && nnz < unit_nnz);
    units.push_back(fmt::to_string(out));
  }
  return units;
}

}  // namespace spdnn::codegen
