// A convolution group function's body as inline PTX (see emit_conv2d_ptx.hpp).
#include "sparse/codegen/emit_conv2d_ptx.hpp"

#include <limits>
#include <set>
#include <string>

#include "sparse/codegen/ptx_parts.hpp"

namespace spdnn::codegen {

using detail::Entry, detail::ptx_float, detail::PtxStatement, detail::put;

ConvTap conv_tap(const Conv2dShape& s, int32_t col, int b) {
  const int64_t r = col / s.kernel_w % s.kernel_h;
  return {col / (s.kernel_h * s.kernel_w), b * s.stride + r * s.dilation, col % s.kernel_w};
}

std::set<int64_t> conv_row_offsets(const Conv2dShape& s, int outputs) {
  std::set<int64_t> offsets;
  for (int b = 0; b < outputs; ++b)
    for (int64_t r = 0; r < s.kernel_h; ++r) offsets.insert(b * s.stride + r * s.dilation);
  return offsets;
}

std::set<std::pair<int64_t, int64_t>> conv_bases(const Conv2dShape& s, const std::vector<Entry>& e, size_t first,
                                                 size_t last, int outputs) {
  std::set<std::pair<int64_t, int64_t>> bases;
  for (size_t i = first; i < last; ++i)
    for (int b = 0; b < outputs; ++b) {
      const ConvTap tap = conv_tap(s, e[i].col, b);
      bases.insert({tap.k, tap.t});
    }
  return bases;
}

int64_t conv_store_offset(const Conv2dShape& s, int64_t r, int b) {
  return r * s.out_height() * s.out_width() + b * s.out_width();
}

std::optional<int64_t> conv_row_guard(const Conv2dShape& s, int outputs, int b) {
  if (s.out_height() % outputs == 0 || b == 0) return std::nullopt;
  return (s.out_height() - b) * s.stride - s.padding;
}

bool conv2d_fits_ptx(const Conv2dShape& s, const KernelConfig& config) {
  const int64_t plane = s.height * s.width, out_plane = s.out_height() * s.out_width();
  const int64_t largest = std::max({s.channels * plane + (config.cols * s.stride + s.kernel_h * s.dilation) * s.width,
                                    s.out_channels * out_plane + config.cols * s.out_width()});
  return largest * 4 <= std::numeric_limits<int32_t>::max();
}

void put_conv2d_ptx(fmt::memory_buffer& out, const std::vector<Entry>& e, size_t first, size_t last, int64_t rows,
                    const Conv2dShape& s, const KernelConfig& config, const PtxSums& sums) {
  const int B = config.cols;
  PtxStatement ptx(3);  // %%vd0 xj, %%vd1 zeros, %%vd2 yj or part
  detail::PtxRegisters &f = ptx.f, &rd = ptx.rd, &p = ptx.p, &r = ptx.r;
  auto line = [&ptx](std::string_view text) { ptx.line(text); };
  line("cvta.to.global.u64 %%vd0, %0;");
  line("cvta.to.global.u64 %%vd1, %1;");
  // Bounds tests of the rows and columns the taps reach (unsigned: negative is out too), as C++ writes them.
  for (int64_t k : conv_row_offsets(s, B)) {
    const std::string t = r.fresh();
    line(fmt::format("add.s32 {}, %3, {};", t, k));
    line(fmt::format("setp.lt.u32 {}, {}, {};", p(fmt::format("row{}", k)), t, s.height));
  }
  for (int64_t t = 0; t < s.kernel_w; ++t) {
    const std::string v = r.fresh();
    line(fmt::format("add.s32 {}, %4, {};", v, t * s.dilation));
    line(fmt::format("setp.lt.u32 {}, {}, {};", p(fmt::format("col{}", t)), v, s.width));
  }
  ptx.zero_accumulators(rows, B);
  // Base pointers: the corner's pixel at (k, t), or the zeros.
  for (const auto& [k, t] : conv_bases(s, e, first, last, B)) {
    const std::string inside = p.fresh(), corner = rd.fresh();
    line(fmt::format("and.pred {}, {}, {};", inside, p(fmt::format("row{}", k)), p(fmt::format("col{}", t))));
    line(fmt::format("add.s64 {}, %%vd0, {};", corner, (k * s.width + t * s.dilation) * 4));
    line(fmt::format("selp.b64 {}, {}, %%vd1, {};", rd(fmt::format("base{}_{}", k, t)), corner, inside));
  }
  auto pixel = [](const ConvTap& tap) { return fmt::format("x{}_{}_{}", tap.c, tap.k, tap.t); };
  std::set<std::string> loaded;
  detail::walk_columns(
      e, first, last, config.prefetch,
      [&](int32_t col) {
        for (int b = 0; b < B; ++b) {
          const ConvTap tap = conv_tap(s, col, b);
          if (!loaded.insert(pixel(tap)).second) continue;
          line(fmt::format("ld.global.nc.f32 {}, [{}+{}];", f(pixel(tap)), rd(fmt::format("base{}_{}", tap.k, tap.t)),
                           tap.c * s.height * s.width * 4));
        }
      },
      [&](size_t begin, size_t end) {
        for (size_t i = begin; i < end; ++i)
          for (int b = 0; b < B; ++b) {
            const std::string acc = ptx.acc(e[i].row, b);
            line(fmt::format("fma.rn.f32 {0}, {1}, {2}, {0};", acc, f(pixel(conv_tap(s, e[i].col, b))), ptx_float(e[i].value)));
          }
      });
  if (sums.partial) {
    ptx.put_partial_sums(rows, B, "%2", "%5", "%%vd2");
  } else {
    ptx.put_stores(rows, B, "%%vd2", "%2",
                   {.bias = [&](int64_t a) { return sums.bias->empty() ? 0.0f : (*sums.bias)[sums.r0 + a]; },
                    .relu = sums.relu,
                    .offset = [&](int64_t a, int b) { return conv_store_offset(s, sums.r0 + a, b); },
                    .guard = [&](int b) { return conv_row_guard(s, B, b); },
                    .guard_operand = "%3"});
  }
  ptx.write(out, fmt::format("\"l\"(xj), \"l\"(zeros), \"l\"({}), \"r\"(h0), \"r\"(w0){}", sums.partial ? "part" : "yj",
                             sums.partial ? ", \"r\"(lanes)" : ""));
}

}  // namespace spdnn::codegen
