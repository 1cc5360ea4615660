// im2col on the GPU (see im2col.hpp): a thread per element of the patch matrix, consecutive threads along
// a row (consecutive output pixels), so that writes coalesce and reads follow the image's rows.
#include "harness/im2col.hpp"

#include <algorithm>
#include <cstdint>

namespace spdnn::bench {

namespace {

struct Geometry {
  int64_t columns, rows;  // N*P*Q and C*R*S
  int64_t channels, height, width, kernel_h, kernel_w, out_height, out_width, stride, padding, dilation;
};

__global__ void im2col_kernel(Geometry g, const float* __restrict__ x, float* __restrict__ columns) {
  const int64_t total = g.rows * g.columns;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / g.columns, column = i % g.columns;
    const int64_t c = row / (g.kernel_h * g.kernel_w), r = row / g.kernel_w % g.kernel_h, s = row % g.kernel_w;
    const int64_t plane = g.out_height * g.out_width, n = column / plane, pq = column % plane;
    const int64_t h = pq / g.out_width * g.stride + r * g.dilation - g.padding;
    const int64_t w = pq % g.out_width * g.stride + s * g.dilation - g.padding;
    const bool inside = h >= 0 && h < g.height && w >= 0 && w < g.width;
    columns[i] = inside ? x[((n * g.channels + c) * g.height + h) * g.width + w] : 0.0f;
  }
}

}  // namespace

cudaError_t launch_im2col(const Conv2dShape& s, const float* x, float* columns, cudaStream_t stream) {
  const Geometry g{s.batch * s.out_height() * s.out_width(), s.filter_columns(), s.channels, s.height, s.width,
                   s.kernel_h, s.kernel_w, s.out_height(), s.out_width(), s.stride, s.padding, s.dilation};
  const int64_t total = g.rows * g.columns;
  if (total == 0) return cudaSuccess;
  const int threads = 256;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>((total + threads - 1) / threads, int64_t{1} << 20));
  im2col_kernel<<<blocks, threads, 0, stream>>>(g, x, columns);
  return cudaGetLastError();
}

}  // namespace spdnn::bench
