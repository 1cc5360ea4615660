// The generic CSR kernel (see sparse_kernels.hpp). A block computes one row of Y for blockDim.x columns:
// the row's indices and values are the same for the whole block (broadcast loads, cached), and each
// thread's X loads are coalesced along the row of X. Products and sums are rounded as in the generated
// kernels, in ascending column order.
#include "cuda/sparse_kernels.hpp"

namespace spdnn::cuda {

namespace {

constexpr int kGenericThreads = 128;
constexpr int64_t kMaxGridY = 65535;

__global__ void __launch_bounds__(kGenericThreads)
    generic_sparse_linear(CsrView w, const float* __restrict__ bias, bool relu, const float* __restrict__ x,
                          float* __restrict__ y, int64_t n, int64_t row_offset) {
  const int64_t r = row_offset + blockIdx.y;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= w.rows || j >= n) return;
  const int64_t begin = w.row_ptr[r], end = w.row_ptr[r + 1];
  float acc = 0.0f;
  int64_t p = begin;
  // Four loads in flight before their multiply-adds (which keep the ascending order).
  for (; p + 4 <= end; p += 4) {
    const float x0 = __ldg(x + w.col_idx[p] * n + j), x1 = __ldg(x + w.col_idx[p + 1] * n + j);
    const float x2 = __ldg(x + w.col_idx[p + 2] * n + j), x3 = __ldg(x + w.col_idx[p + 3] * n + j);
    acc = __fmaf_rn(x0, w.values[p], acc);
    acc = __fmaf_rn(x1, w.values[p + 1], acc);
    acc = __fmaf_rn(x2, w.values[p + 2], acc);
    acc = __fmaf_rn(x3, w.values[p + 3], acc);
  }
  for (; p < end; ++p) acc = __fmaf_rn(__ldg(x + w.col_idx[p] * n + j), w.values[p], acc);
  acc = __fadd_rn(acc, bias != nullptr ? bias[r] : 0.0f);
  if (relu && acc < 0.0f) acc = 0.0f;
  y[r * n + j] = acc;
}

}  // namespace

cudaError_t launch_generic_sparse_linear(const CsrView& w, const float* bias, bool relu, const float* x, float* y,
                                  int64_t n, cudaStream_t stream) {
  if (w.rows == 0 || n == 0) return cudaSuccess;
  const unsigned blocks_x = static_cast<unsigned>((n + kGenericThreads - 1) / kGenericThreads);
  for (int64_t r0 = 0; r0 < w.rows; r0 += kMaxGridY) {
    const unsigned blocks_y = static_cast<unsigned>(std::min<int64_t>(kMaxGridY, w.rows - r0));
    generic_sparse_linear<<<dim3(blocks_x, blocks_y), kGenericThreads, 0, stream>>>(w, bias, relu, x, y, n, r0);
    if (const cudaError_t status = cudaGetLastError(); status != cudaSuccess) return status;
  }
  return cudaSuccess;
}

}  // namespace spdnn::cuda
