// Emission of a sparse convolution specialized to one filter (see emit_conv2d.hpp).
#include "sparse/codegen/emit_conv2d.hpp"

#include <fmt/format.h>

#include "sparse/codegen/emit.hpp"
#include "sparse/codegen/emit_parts.hpp"
#include "spdnn/error.hpp"

namespace spdnn::codegen {

using detail::Entry, detail::put;

std::optional<std::string> why_invalid_conv2d(const KernelConfig& config) {
  if (auto why = why_invalid(config)) return why;
  if (config.cols != 1) return "a convolution thread computes one output pixel (cols = 1)";
  if (config.cluster_slices != 1 || config.block_groups != 1)
    return "a convolution splits K within a block only, and runs one row group per block (cluster_slices, "
           "block_groups = 1)";
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

// Loads filter column (c, r, s) as the input pixel it reads from the thread's corner xj (the pixel at
// (p*stride - padding, q*stride - padding) of channel 0), or 0 outside the image: row_ok<r> and col_ok<s>
// are the thread's bounds tests.
detail::LoadWriter tap_loads(const Conv2dShape& s) {
  return [s](fmt::memory_buffer& out, int32_t col) {
    const int64_t c = col / (s.kernel_h * s.kernel_w), r = col / s.kernel_w % s.kernel_h, t = col % s.kernel_w;
    const int64_t offset = c * s.height * s.width + r * s.dilation * s.width + t * s.dilation;
    put(out, "    const float v{} = row_ok{} && col_ok{} ? __ldg(xj + {}ll) : 0.0f;\n", col, r, t, offset);
  };
}

constexpr std::string_view kStatic = "static __device__ __noinline__ ";
constexpr std::string_view kExtern = "extern \"C\" __device__ __noinline__ ";
constexpr std::string_view kDeclare = "extern \"C\" __device__ ";

std::string group_signature(int64_t g) {
  return fmt::format("void group{}(const float* __restrict__ xj, float* __restrict__ yj, int h0, int w0)", g);
}
// Split K (block_slices = S): slice s of group g writes its partial sums to part[a * lanes] (row a), and
// the finish of the group adds the S slices' sums of rows a with a % S == s in slice order.
std::string slice_signature(int64_t g, int slice) {
  return fmt::format("void group{}_{}(const float* __restrict__ xj, float* part, int h0, int w0, int lanes)", g, slice);
}
std::string finish_signature(int64_t g) {
  return fmt::format("void finish{}(const float* part, float* __restrict__ yj, int lanes, unsigned s)", g);
}

// The bounds tests of the taps' rows and columns (unsigned: negative is out too).
void put_bounds_tests(fmt::memory_buffer& out, const Conv2dShape& s) {
  for (int64_t r = 0; r < s.kernel_h; ++r)
    put(out, "    const bool row_ok{} = static_cast<unsigned>(h0 + {}) < {}u;\n", r, r * s.dilation, s.height);
  for (int64_t t = 0; t < s.kernel_w; ++t)
    put(out, "    const bool col_ok{} = static_cast<unsigned>(w0 + {}) < {}u;\n", t, t * s.dilation, s.width);
}

// Row group g: its out-channels' sums over the group's filter columns, then bias, act and the stores (one
// output plane, P*Q floats, apart); `linkage` "static ..." in one program, "extern \"C\" ..." in units.
void put_conv_group(fmt::memory_buffer& out, const CsrMatrix& w, const std::vector<float>& bias, const Conv2dShape& s,
                    const KernelConfig& config, int64_t g, std::string_view linkage) {
  const int64_t r0 = g * config.rows, r1 = std::min<int64_t>(w.rows, r0 + config.rows);
  const std::vector<Entry> e = detail::group_entries(w, r0, r1);
  const detail::LoadWriter load = tap_loads(s);
  const int slices = config.block_slices;
  const int64_t plane = s.out_height() * s.out_width();
  if (slices == 1) {
    put(out, "{}{} {{\n", linkage, group_signature(g));
    put_bounds_tests(out, s);
    detail::put_accumulators(out, r1 - r0, 1);
    detail::put_products(out, e, 0, e.size(), 1, config.prefetch, 0, &load);
    for (int64_t r = r0; r < r1; ++r) detail::put_store(out, bias, r, r - r0, 1, plane);
    put(out, "}}\n");
    return;
  }
  const std::vector<size_t> bounds = detail::slice_bounds(e, slices);
  for (int sl = 0; sl < slices; ++sl) {
    put(out, "{}{} {{\n", linkage, slice_signature(g, sl));
    put_bounds_tests(out, s);
    detail::put_accumulators(out, r1 - r0, 1);
    detail::put_products(out, e, bounds[sl], bounds[sl + 1], 1, config.prefetch, 0, &load);
    for (int64_t a = 0; a < r1 - r0; ++a) put(out, "    part[{0} * lanes] = a{0}_0;\n", a);
    put(out, "}}\n");
  }
  put(out, "{}{} {{\n", linkage, finish_signature(g));
  for (int sl = 0; sl < slices; ++sl) put(out, "  const float* p{0} = part + {0} * {1} * lanes;\n", sl, config.rows);
  for (int64_t a = 0; a < r1 - r0; ++a) {
    put(out, "  if (s == {}) {{\n    float a{}_0 = p0[{} * lanes]", a % slices, a, a);
    for (int sl = 1; sl < slices; ++sl) put(out, " + p{}[{} * lanes]", sl, a);
    put(out, ";\n");
    detail::put_store(out, bias, r0 + a, a, 1, plane);
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
  put(out, "// {} out-channels per group, {} K slices within a block, {} loads ahead, at most {} threads per block; one\n"
           "// output pixel a thread.\n",
      config.rows, config.block_slices, config.prefetch, config.bound);
  put(out, "static __device__ __forceinline__ float act(float a) {{ return {}; }}\n", relu ? "a < 0.0f ? 0.0f : a" : "a");
}

void put_kernel(fmt::memory_buffer& out, const Conv2dShape& s, const KernelConfig& config, int64_t groups) {
  const int64_t P = s.out_height(), Q = s.out_width();
  put(out, "extern \"C\" __global__ void __launch_bounds__({}) {}(const float* __restrict__ x, float* __restrict__ y,\n"
           "                                                        unsigned images) {{\n",
      config.bound, kConv2dKernelName);
  // As the linear kernel: under programmatic dependent launch, wait for the previous grid before reading X.
  put(out, "#if __CUDA_ARCH__ >= 900\n  asm volatile(\"griddepcontrol.wait;\" ::: \"memory\");\n#endif\n");
  put(out, "  const long long pixels = static_cast<long long>(images) * {}ll;\n", P * Q);
  const int slices = config.block_slices;
  if (slices > 1) {
    // Split K within a block, as the linear kernel does: the threads form S sets of `lanes` (set s the warps
    // w with w % S == s), set s runs slice s of the block's group for the same pixels; after a barrier each
    // set finishes its rows from the S partial sums. Every thread runs the loop equally often (the test does
    // not depend on the lane), so all reach each barrier.
    put(out, "  extern __shared__ float spdnn_part[];\n");
    put(out, "  const int lanes = blockDim.x / {};\n", slices);
    put(out, "  const unsigned warp = threadIdx.x / 32, s = warp % {0}, lane = warp / {0} * 32 + threadIdx.x % 32;\n", slices);
    put(out, "  float* part = spdnn_part + s * {} * lanes + lane;\n", config.rows);
    put(out, "  for (long long j = static_cast<long long>(blockIdx.x) * lanes + lane; j - lane < pixels;\n"
             "       j += static_cast<long long>(gridDim.x) * lanes) {{\n");
    put(out, "    const bool live = j < pixels;\n");
  } else {
    put(out, "  for (long long j = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; j < pixels;\n"
             "       j += static_cast<long long>(gridDim.x) * blockDim.x) {{\n");
  }
  // The pixel's image and place; its corner in the (unpadded) input, which may lie outside it.
  put(out, "    const unsigned image = static_cast<unsigned>(j / {0}), pq = static_cast<unsigned>(j % {0});\n", P * Q);
  put(out, "    const int h0 = static_cast<int>(pq / {0}u) * {1} - {2}, w0 = static_cast<int>(pq % {0}u) * {1} - {2};\n", Q,
      s.stride, s.padding);
  put(out, "    const float* xj = x + image * {}ll + h0 * {}ll + w0;\n", s.channels * s.height * s.width, s.width);
  put(out, "    float* yj = y + image * {}ll + pq;\n", s.out_channels * P * Q);
  if (slices > 1) {
    put(out, "    if (live) switch (blockIdx.y) {{\n");
    for (int64_t g = 0; g < groups; ++g) {
      put(out, "    case {}: switch (s) {{", g);
      for (int sl = 0; sl < slices; ++sl) put(out, " case {1}: group{0}_{1}(xj, part, h0, w0, lanes); break;", g, sl);
      put(out, " }} break;\n");
    }
    put(out, "    }}\n    __syncthreads();\n    if (live) switch (blockIdx.y) {{\n");
    for (int64_t g = 0; g < groups; ++g) put(out, "    case {0}: finish{0}(spdnn_part + lane, yj, lanes, s); break;\n", g);
    put(out, "    }}\n    __syncthreads();  // the sums are read before the next step overwrites them\n  }}\n}}\n");
    return;
  }
  put(out, "    switch (blockIdx.y) {{\n");
  for (int64_t g = 0; g < groups; ++g) put(out, "    case {0}: group{0}(xj, yj, h0, w0); break;\n", g);
  put(out, "    }}\n  }}\n}}\n");
}

}  // namespace

std::string emit_sparse_conv2d(const CsrMatrix& w, const std::vector<float>& bias, bool relu, const Conv2dShape& s,
                               const KernelConfig& config) {
  check_inputs(w, bias, s, config);
  const int64_t groups = row_groups(config, w.rows);
  fmt::memory_buffer out;
  put_preamble(out, w, relu, s, config);
  for (int64_t g = 0; g < groups; ++g) put_conv_group(out, w, bias, s, config, g, kStatic);
  put_kernel(out, s, config, groups);
  return fmt::to_string(out);
}

std::vector<std::string> emit_sparse_conv2d_units(const CsrMatrix& w, const std::vector<float>& bias, bool relu,
                                                  const Conv2dShape& s, const KernelConfig& config, int64_t unit_nnz) {
  check_inputs(w, bias, s, config);
  const int64_t groups = row_groups(config, w.rows);
  std::vector<std::string> units;
  fmt::memory_buffer out;
  put_preamble(out, w, relu, s, config);
  for (int64_t g = 0; g < groups; ++g) {
    if (config.block_slices == 1) {
      put(out, "{}{};\n", kDeclare, group_signature(g));
      continue;
    }
    for (int sl = 0; sl < config.block_slices; ++sl) put(out, "{}{};\n", kDeclare, slice_signature(g, sl));
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
      put_conv_group(out, w, bias, s, config, g++, kExtern);
    } while (g < groups && nnz < unit_nnz);
    units.push_back(fmt::to_string(out));
  }
  return units;
}

}  // namespace spdnn::codegen
