// The generic sparse convolution (see generic_conv2d_kernel.hpp). A block of 128 threads computes 128
// consecutive output pixels (n, p, q) of one out-channel k: the row's taps and values are the same for
// the whole block (broadcast loads), and neighbouring threads read neighbouring input pixels (coalesced
// along a row of the image, the stride apart). grid.y walks the out-channels.
#include "sparse/cuda/generic_conv2d_kernel.hpp"

#include <algorithm>

#include "cuda/dependent_launch.hpp"

namespace spdnn::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int64_t kMaxGridY = 65535;
constexpr int64_t kMaxGridX = int64_t{1} << 30;

struct Geometry {  // the shape, as the kernel's arguments
  int64_t pixels;  // N * P * Q
  int32_t channels, height, width, out_channels, out_height, out_width, stride, padding, dilation;
};

__global__ void __launch_bounds__(kThreads) generic_conv2d(GenericConv2dView w, Geometry g, const float* __restrict__ bias,
                                                           bool relu, const float* __restrict__ x, float* __restrict__ y) {
  wait_for_prior_grids();
  const int64_t plane = int64_t{g.out_height} * g.out_width;
  for (int64_t k = blockIdx.y; k < g.out_channels; k += gridDim.y) {
    const int64_t first = w.row_ptr[k], last = w.row_ptr[k + 1];
    const float b = bias != nullptr ? bias[k] : 0.0f;
    for (int64_t j = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; j < g.pixels;
         j += static_cast<int64_t>(gridDim.x) * kThreads) {
      const int64_t image = j / plane, pq = j % plane;
      const int h0 = static_cast<int>(pq / g.out_width) * g.stride - g.padding;
      const int w0 = static_cast<int>(pq % g.out_width) * g.stride - g.padding;
      const float* xj = x + image * g.channels * g.height * g.width;
      float acc = 0.0f;
      for (int64_t e = first; e < last; ++e) {
        const FilterTap t = w.taps[e];
        const int row = h0 + t.r * g.dilation, col = w0 + t.s * g.dilation;
        const bool inside = static_cast<unsigned>(row) < static_cast<unsigned>(g.height) &&
                            static_cast<unsigned>(col) < static_cast<unsigned>(g.width);
        const float v = inside ? __ldg(xj + (int64_t{t.channel} * g.height + row) * g.width + col) : 0.0f;
        acc = __fmaf_rn(v, w.values[e], acc);
      }
      float out = __fadd_rn(acc, b);  // + 0 without a bias, as the generated kernel
      if (relu && out < 0.0f) out = 0.0f;
      y[(image * g.out_channels + k) * plane + pq] = out;
    }
  }
}

}  // namespace

std::vector<FilterTap> filter_taps(const CsrMatrix& w, const Conv2dShape& shape) {
  std::vector<FilterTap> taps(w.col_idx.size());
  const int64_t rs = shape.kernel_h * shape.kernel_w;
  for (size_t e = 0; e < taps.size(); ++e) {
    const int64_t col = w.col_idx[e];
    taps[e] = {static_cast<int32_t>(col / rs), static_cast<int16_t>(col / shape.kernel_w % shape.kernel_h),
               static_cast<int16_t>(col % shape.kernel_w)};
  }
  return taps;
}

cudaError_t launch_generic_sparse_conv2d(const GenericConv2dView& w, const Conv2dShape& s, const float* bias, bool relu,
                                         const float* x, float* y, bool dependent, cudaStream_t stream) {
  const Geometry g{s.batch * s.out_height() * s.out_width(),
                   static_cast<int32_t>(s.channels), static_cast<int32_t>(s.height), static_cast<int32_t>(s.width),
                   static_cast<int32_t>(s.out_channels), static_cast<int32_t>(s.out_height()),
                   static_cast<int32_t>(s.out_width()), static_cast<int32_t>(s.stride), static_cast<int32_t>(s.padding),
                   static_cast<int32_t>(s.dilation)};
  if (g.pixels == 0 || s.out_channels == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(std::min((g.pixels + kThreads - 1) / kThreads, kMaxGridX)),
                  static_cast<unsigned>(std::min(s.out_channels, kMaxGridY)));
  cudaLaunchAttribute attribute = dependent_launch_attribute(dependent);
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = dim3(kThreads);
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, generic_conv2d, w, g, bias, relu, x, y);
}

}  // namespace spdnn::cuda
