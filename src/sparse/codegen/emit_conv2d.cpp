// Emission of a sparse convolution specialized to one filter (see emit_conv2d.hpp).
#include "sparse/codegen/emit_conv2d.hpp"

#include <fmt/format.h>

#include <set>
#include <unordered_set>

#include "sparse/codegen/emit.hpp"
#include "sparse/codegen/emit_conv2d_ptx.hpp"
#include "sparse/codegen/emit_parts.hpp"
#include "spdnn/error.hpp"

namespace spdnn::codegen {

using detail::Entry, detail::put;

std::optional<std::string> why_invalid_conv2d(const KernelConfig& config) {
  if (auto why = why_invalid(config)) return why;
  if (config.block_groups != 1) return "a convolution runs one row group per block (block_groups = 1)";
  return std::nullopt;
}

Conv2dShape checked_conv2d_filter(const CsrMatrix& w, const std::vector<float>& bias, Conv2dShape filter,
                                  const std::optional<KernelConfig>& config) {
  // Named without an input size, which the filter does not have.
  const Conv2dShape& f = filter;
  const std::string what = fmt::format("sparse conv2d filter K={},C={},R={},S={},stride={},padding={},dilation={}",
                                       f.out_channels, f.channels, f.kernel_h, f.kernel_w, f.stride, f.padding, f.dilation);
  if (f.channels < 1 || f.out_channels < 1 || f.kernel_h < 1 || f.kernel_w < 1)
    throw Error(Errc::usage, what + ": channels, out-channels and the filter's size must be at least 1");
  if (f.stride < 1 || f.dilation < 1) throw Error(Errc::usage, what + ": stride and dilation must be at least 1");
  if (f.padding < 0) throw Error(Errc::usage, what + ": padding must not be negative");
  if (w.rows != f.out_channels || w.cols != f.filter_columns())
    throw Error(Errc::mismatch, fmt::format("{}: the filter is {} x {}, not K x C*R*S = {} x {}", what, w.rows, w.cols,
                                            f.out_channels, f.filter_columns()));
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != f.out_channels)
    throw Error(Errc::mismatch, fmt::format("{}: {} biases for {} out-channels", what, bias.size(), f.out_channels));
  w.validate("sparse filter");
  if (config)
    if (auto why = why_invalid_conv2d(*config))
      throw Error(Errc::usage, fmt::format("kernel config {}: {}", to_string(*config), *why));
  filter.batch = 1;  // the smallest input the filter fits: a valid shape
  filter.height = filter.dilation * (filter.kernel_h - 1) + 1;
  filter.width = filter.dilation * (filter.kernel_w - 1) + 1;
  return filter;
}

namespace {

// The taps of one function (a group, or a slice of one): the value filter column (c, r, t) multiplies for
// the thread's output row b is the input pixel at row offset k = b*stride + r*dilation and column offset
// t*dilation from the thread's corner xj (the pixel at (p*stride - padding, q*stride - padding) of channel
// 0, p the thread's first output row), or 0 outside the image. Each (k, t) has one base pointer, base<k>_<t>:
// the corner's pixel there when it lies inside the image, else `zeros` (a zero-filled image), so that a
// load is one instruction, base + c*H*W as an immediate, with no bounds test of its own (with a predicated
// load and a select, loads were two thirds of a module's instructions at 95%: DLMC group4, 3 a nonzero).
// A pixel is loaded once, into x<c>_<k>_<t>, when the first column that needs it is: with B rows a thread,
// rows b and b' share the load where b*stride + r*dilation = b'*stride + r'*dilation.
class TapLoads {
 public:
  TapLoads(const Conv2dShape& s, int outputs) : s_(s), outputs_(outputs) {}
  TapLoads(const TapLoads&) = delete;  // its hooks point at it
  TapLoads& operator=(const TapLoads&) = delete;

  // The base pointers of every (k, t) the function's columns [first, last) of `e` use, before its loads.
  void put_bases(fmt::memory_buffer& out, const std::vector<detail::Entry>& e, size_t first, size_t last) const {
    for (const auto& [k, t] : conv_bases(s_, e, first, last, outputs_))
      put(out, "    const float* __restrict__ base{0}_{1} = row_ok{0} && col_ok{1} ? xj + {2} : zeros;\n", k, t,
          k * s_.width + t * s_.dilation);
  }
  // put_products' hooks: the load of a column's pixels not yet loaded, and a pixel's name.
  detail::LoadWriter writer() {
    return [this](fmt::memory_buffer& out, int32_t col) {
      for (int b = 0; b < outputs_; ++b) {
        const Tap p = tap(col, b);
        if (!loaded_.insert(name(p)).second) continue;
        put(out, "    const float {} = __ldg(base{}_{} + {});\n", name(p), p.k, p.t, p.c * s_.height * s_.width);
      }
    };
  }
  detail::ValueName namer() const {
    return [this](int32_t col, int b) { return name(tap(col, b)); };
  }

 private:
  using Tap = ConvTap;
  Tap tap(int32_t col, int b) const { return conv_tap(s_, col, b); }
  static std::string name(const Tap& p) { return fmt::format("x{}_{}_{}", p.c, p.k, p.t); }

  Conv2dShape s_;
  int outputs_;
  std::unordered_set<std::string> loaded_;
};

constexpr std::string_view kStatic = "static __device__ __noinline__ ";
constexpr std::string_view kExtern = "extern \"C\" __device__ __noinline__ ";
constexpr std::string_view kDeclare = "extern \"C\" __device__ ";

std::string group_signature(int64_t g) {
  return fmt::format("void group{}(const float* __restrict__ xj, const float* __restrict__ zeros, float* __restrict__ yj, "
                     "int h0, int w0)", g);
}
// Split K (block_slices or cluster_slices = S): slice s of group g writes its partial sums to part[a * lanes]
// (row a), and the finish of the group adds the S slices' sums of rows a with a % S == s in slice order.
std::string slice_signature(int64_t g, int slice) {
  return fmt::format("void group{}_{}(const float* __restrict__ xj, const float* __restrict__ zeros, float* part, int h0, "
                     "int w0, int lanes)", g, slice);
}
std::string finish_signature(int64_t g) {
  return fmt::format("void finish{}(const float* part, float* __restrict__ yj, int h0, int lanes, unsigned s)", g);
}

// The bounds tests of the taps' rows (each distinct offset of B output rows) and columns (unsigned:
// negative is out too).
void put_bounds_tests(fmt::memory_buffer& out, const Conv2dShape& s, int outputs) {
  for (int64_t k : conv_row_offsets(s, outputs)) put(out, "    const bool row_ok{0} = static_cast<unsigned>(h0 + {0}) < {1}u;\n", k, s.height);
  for (int64_t t = 0; t < s.kernel_w; ++t)
    put(out, "    const bool col_ok{} = static_cast<unsigned>(w0 + {}) < {}u;\n", t, t * s.dilation, s.width);
}

// Bias (a rounded add, as the reference), activation and the store of output row b of group row a (out-channel
// r): one output plane apart per out-channel, Q floats per row; a row past the last (P not a multiple of B)
// is not stored.
void put_conv_store(fmt::memory_buffer& out, const std::vector<float>& bias, const Conv2dShape& s, int outputs,
                    int64_t r, int64_t a, int b) {
  put(out, "    {{ const float b = ");
  detail::append_float(out, bias.empty() ? 0.0f : bias[r]);
  put(out, "; a{0}_{1} = act(__fadd_rn(a{0}_{1}, b));", a, b);
  if (const auto limit = conv_row_guard(s, outputs, b)) put(out, " if (h0 < {})", *limit);  // row p0 + b < P
  put(out, " yj[{}ull] = a{}_{}; }}\n", conv_store_offset(s, r, b), a, b);
}

// Row group g: its out-channels' sums over the group's filter columns, then bias, act and the stores (one
// output plane, P*Q floats, apart); `linkage` "static ..." in one program, "extern \"C\" ..." in units.
// With `ptx`, each group (or slice) function's body is one inline PTX statement (emit_conv2d_ptx.hpp).
void put_conv_group(fmt::memory_buffer& out, const CsrMatrix& w, const std::vector<float>& bias, bool relu,
                    const Conv2dShape& s, const KernelConfig& config, int64_t g, std::string_view linkage, bool ptx) {
  const int64_t r0 = g * config.rows, r1 = std::min<int64_t>(w.rows, r0 + config.rows);
  const std::vector<Entry> e = detail::group_entries(w, r0, r1);
  const int slices = slices_of(config), B = config.cols;
  auto products = [&](size_t first, size_t last) {
    put_bounds_tests(out, s, B);
    detail::put_accumulators(out, r1 - r0, B);
    TapLoads taps(s, B);  // loads are shared within one function only
    taps.put_bases(out, e, first, last);
    const detail::LoadWriter load = taps.writer();
    const detail::ValueName name = taps.namer();
    detail::put_products(out, e, first, last, B, config.prefetch, 0, &load, &name);
  };
  if (slices == 1) {
    put(out, "{}{} {{\n", linkage, group_signature(g));
    if (ptx) {
      put_conv2d_ptx(out, e, 0, e.size(), r1 - r0, s, config, {.bias = &bias, .relu = relu, .r0 = r0});
    } else {
      products(0, e.size());
      for (int64_t r = r0; r < r1; ++r)
        for (int b = 0; b < B; ++b) put_conv_store(out, bias, s, B, r, r - r0, b);
    }
    put(out, "}}\n");
    return;
  }
  // Partial sums of slice sl: row a's output b at part[(a*B + b) * lanes].
  const std::vector<size_t> bounds = detail::slice_bounds(e, slices);
  for (int sl = 0; sl < slices; ++sl) {
    put(out, "{}{} {{\n", linkage, slice_signature(g, sl));
    if (ptx) {
      put_conv2d_ptx(out, e, bounds[sl], bounds[sl + 1], r1 - r0, s, config, {.partial = true});
    } else {
      products(bounds[sl], bounds[sl + 1]);
      for (int64_t a = 0; a < r1 - r0; ++a)
        for (int b = 0; b < B; ++b) put(out, "    part[{} * lanes] = a{}_{};\n", a * B + b, a, b);
    }
    put(out, "}}\n");
  }
  put(out, "{}{} {{\n", linkage, finish_signature(g));
  // The slices' sums: the S blocks' of the cluster (`part` this thread's place in each), or the S sets of
  // threads' of the block (`part` slice 0's).
  for (int sl = 0; sl < slices; ++sl)
    if (config.cluster_slices > 1)
      put(out, "  const float* p{0} = cluster_map(part, {0});\n", sl);
    else
      put(out, "  const float* p{0} = part + {0} * {1} * lanes;\n", sl, config.rows * B);
  for (int64_t a = 0; a < r1 - r0; ++a) {
    put(out, "  if (s == {}) {{\n", a % slices);
    for (int b = 0; b < B; ++b) {
      put(out, "    float a{}_{} = p0[{} * lanes]", a, b, a * B + b);
      for (int sl = 1; sl < slices; ++sl) put(out, " + p{}[{} * lanes]", sl, a * B + b);
      put(out, ";\n");
      put_conv_store(out, bias, s, B, r0 + a, a, b);
    }
    put(out, "  }}\n");
  }
  put(out, "}}\n");
}

void check_inputs(const CsrMatrix& w, const std::vector<float>& bias, const Conv2dShape& s, const KernelConfig& config) {
  validate(s, w, nullptr, &bias);
  w.validate("sparse filter");
  if (auto why = why_invalid_conv2d(config))
    throw Error(Errc::usage, fmt::format("kernel config {}: {}", to_string(config), *why));
}

void put_preamble(fmt::memory_buffer& out, const CsrMatrix& w, bool relu, const Conv2dShape& s, const KernelConfig& config) {
  put(out, "// Generated by spdnn {}: Y = {}(conv(X, W) + b), {}, a filter with {} nonzeros;\n", SPDNN_VERSION,
      relu ? "relu" : "", to_string(s), w.nnz());
  put(out, "// {} out-channels per group, {} K slices {}, {} columns loaded ahead, at most {} threads per\n"
           "// block; {} output rows a thread.\n",
      config.rows, slices_of(config), config.cluster_slices > 1 ? "over a cluster" : "within a block", config.prefetch,
      config.bound, config.cols);
  put(out, "static __device__ __forceinline__ float act(float a) {{ return {}; }}\n", relu ? "a < 0.0f ? 0.0f : a" : "a");
  if (config.cluster_slices > 1) detail::put_cluster_helpers(out);
}

// One step of a kernel with K split S ways (over a cluster or within a block): each slice s runs its part of
// the group `group` names, then `barrier`, then slice s finishes its rows of the group from the partial sums
// at `sums` (what finish<g> reads as `part`).
void put_split_step(fmt::memory_buffer& out, int64_t groups, int slices, std::string_view group, std::string_view barrier,
                    std::string_view sums) {
  put(out, "    if (live) switch ({}) {{\n", group);
  for (int64_t g = 0; g < groups; ++g) {
    put(out, "    case {}: switch (s) {{", g);
    for (int sl = 0; sl < slices; ++sl) put(out, " case {1}: group{0}_{1}(xj, zeros, part, h0, w0, lanes); break;", g, sl);
    put(out, " }} break;\n");
  }
  put(out, "    }}\n    {}\n    if (live) switch ({}) {{\n", barrier, group);
  for (int64_t g = 0; g < groups; ++g) put(out, "    case {0}: finish{0}({1}, yj, h0, lanes, s); break;\n", g, sums);
  put(out, "    }}\n");
}

void put_kernel(fmt::memory_buffer& out, const Conv2dShape& s, const KernelConfig& config, int64_t groups) {
  const int64_t Q = s.out_width(), B = config.cols, row_blocks = conv2d_row_blocks(s, config);
  put(out, "extern \"C\" __global__ void __launch_bounds__({}) {}(const float* __restrict__ x, float* __restrict__ y,\n"
           "                                                        unsigned images, const float* __restrict__ zeros) {{\n",
      config.bound, kConv2dKernelName);
  // As the linear kernel: under programmatic dependent launch, wait for the previous grid before reading X.
  put(out, "#if __CUDA_ARCH__ >= 900\n  asm volatile(\"griddepcontrol.wait;\" ::: \"memory\");\n#endif\n");
  // A thread's item: B vertically adjacent output pixels (n, p0 + b, q), b < B.
  put(out, "  const long long items = static_cast<long long>(images) * {}ll;\n", row_blocks * Q);
  const int slices = config.block_slices, cluster = config.cluster_slices;
  if (cluster > 1) {
    // Split K over a cluster, as the linear kernel does: grid.y = groups * S in clusters of (1, S, 1), block s
    // of a cluster slice s of its group for the same pixels; each writes its partial sums to its shared
    // memory (two buffers, alternating steps, so one cluster barrier a step suffices), and after the barrier
    // finishes its rows from all S blocks' sums. Every thread of the cluster runs the loop equally often
    // (the same blockIdx.x), so all reach each barrier.
    put(out, "  extern __shared__ float spdnn_part[];\n");
    put(out, "  const unsigned g = blockIdx.y / {0}, s = blockIdx.y % {0};\n", cluster);
    put(out, "  const int lanes = blockDim.x;\n  int buffer = 0;\n");
    put(out, "  for (long long j = static_cast<long long>(blockIdx.x) * lanes + threadIdx.x; j - threadIdx.x < items;\n"
             "       j += static_cast<long long>(gridDim.x) * lanes, buffer ^= 1) {{\n");
    put(out, "    const bool live = j < items;\n");
    put(out, "    float* part = spdnn_part + buffer * {} * lanes + threadIdx.x;\n", config.rows * config.cols);
  } else if (slices > 1) {
    // Split K within a block, as the linear kernel does: the threads form S sets of `lanes` (set s the warps
    // w with w % S == s), set s runs slice s of the block's group for the same pixels; after a barrier each
    // set finishes its rows from the S partial sums. Every thread runs the loop equally often (the test does
    // not depend on the lane), so all reach each barrier.
    put(out, "  extern __shared__ float spdnn_part[];\n");
    put(out, "  const int lanes = blockDim.x / {};\n", slices);
    put(out, "  const unsigned warp = threadIdx.x / 32, s = warp % {0}, lane = warp / {0} * 32 + threadIdx.x % 32;\n", slices);
    put(out, "  float* part = spdnn_part + s * {} * lanes + lane;\n", config.rows * config.cols);
    put(out, "  for (long long j = static_cast<long long>(blockIdx.x) * lanes + lane; j - lane < items;\n"
             "       j += static_cast<long long>(gridDim.x) * lanes) {{\n");
    put(out, "    const bool live = j < items;\n");
  } else {
    put(out, "  for (long long j = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; j < items;\n"
             "       j += static_cast<long long>(gridDim.x) * blockDim.x) {{\n");
  }
  // The item's image and first pixel; its corner in the (unpadded) input, which may lie outside it.
  put(out, "    const unsigned image = static_cast<unsigned>(j / {0}), pq = static_cast<unsigned>(j % {0});\n", row_blocks * Q);
  put(out, "    const int h0 = static_cast<int>(pq / {0}u) * {1} - {3}, w0 = static_cast<int>(pq % {0}u) * {2} - {3};\n", Q,
      B * s.stride, s.stride, s.padding);
  put(out, "    const float* xj = x + image * {}ll + h0 * {}ll + w0;\n", s.channels * s.height * s.width, s.width);
  if (B == 1)
    put(out, "    float* yj = y + image * {}ll + pq;\n", s.out_channels * s.out_height() * Q);
  else
    put(out, "    float* yj = y + image * {}ll + pq / {}u * {}u + pq % {}u;\n", s.out_channels * s.out_height() * Q, Q, B * Q, Q);
  if (cluster > 1) {
    put_split_step(out, groups, cluster, "g", "cluster_sync();", "part");
    put(out, "  }}\n  cluster_sync();  // the other blocks may still read this block's sums\n}}\n");
    return;
  }
  if (slices > 1) {
    put_split_step(out, groups, slices, "blockIdx.y", "__syncthreads();", "spdnn_part + lane");
    put(out, "    __syncthreads();  // the sums are read before the next step overwrites them\n  }}\n}}\n");
    return;
  }
  put(out, "    switch (blockIdx.y) {{\n");
  for (int64_t g = 0; g < groups; ++g) put(out, "    case {0}: group{0}(xj, zeros, yj, h0, w0); break;\n", g);
  put(out, "    }}\n  }}\n}}\n");
}

}  // namespace

std::string emit_sparse_conv2d(const CsrMatrix& w, const std::vector<float>& bias, bool relu, const Conv2dShape& s,
                               const KernelConfig& config, bool inline_ptx) {
  check_inputs(w, bias, s, config);
  const int64_t groups = row_groups(config, w.rows);
  const bool ptx = inline_ptx && conv2d_fits_ptx(s, config);
  fmt::memory_buffer out;
  put_preamble(out, w, relu, s, config);
  for (int64_t g = 0; g < groups; ++g) put_conv_group(out, w, bias, relu, s, config, g, kStatic, ptx);
  put_kernel(out, s, config, groups);
  return fmt::to_string(out);
}

std::vector<std::string> emit_sparse_conv2d_units(const CsrMatrix& w, const std::vector<float>& bias, bool relu,
                                                  const Conv2dShape& s, const KernelConfig& config, int64_t unit_nnz,
                                                  bool inline_ptx) {
  check_inputs(w, bias, s, config);
  const int64_t groups = row_groups(config, w.rows);
  const bool ptx = inline_ptx && conv2d_fits_ptx(s, config);
  std::vector<std::string> units;
  fmt::memory_buffer out;
  put_preamble(out, w, relu, s, config);
  for (int64_t g = 0; g < groups; ++g) {
    if (slices_of(config) == 1) {
      put(out, "{}{};\n", kDeclare, group_signature(g));
      continue;
    }
    for (int sl = 0; sl < slices_of(config); ++sl) put(out, "{}{};\n", kDeclare, slice_signature(g, sl));
    put(out, "{}{};\n", kDeclare, finish_signature(g));
  }
  put_kernel(out, s, config, groups);
  units.push_back(fmt::to_string(out));
  for (int64_t g = 0; g < groups;) {  // whole groups, in order, until a unit holds about unit_nnz nonzeros
    out.clear();
    put_preamble(out, w, relu, s, config);
    int64_t nnz = 0;
    do {
      const int64_t r0 = g * config.rows, r1 = std::min<int64_t>(w.rows, r0 + config.rows);
      nnz += w.row_ptr[r1] - w.row_ptr[r0];
      put_conv_group(out, w, bias, relu, s, config, g++, kExtern, ptx);
    } while (g < groups && nnz < unit_nnz);
    units.push_back(fmt::to_string(out));
  }
  return units;
}

}  // namespace spdnn::codegen
