// Structure mode's first layer as counts (see first_layer_counts.hpp).
//
// A warp takes a slice of 256 rows (8 words of bits a position, 32 contiguous bytes) and 32 outputs, a
// lane an output: it adds the slice's words at each of its inputs into eight sets of bit-plane counters
// (bit_counts.hpp), then writes each of the 256 rows' output as the table's entry for its count, the
// warp's 32 lanes writing 32 consecutive floats of one row. Items are slice-major, so the tiles of a slice
// run together while its bits (32 bytes a position) are in L2.
#include <algorithm>

#include "challenge/cuda/bit_counts.hpp"
#include "challenge/cuda/first_layer_counts.hpp"
#include "challenge/cuda/layer_kernel.cuh"

namespace spdnn::cuda {

namespace {

constexpr int kThreads = 256, kWarps = kThreads / 32;
constexpr int kSliceRows = 256, kSliceWords = kSliceRows / 32;

__global__ void __launch_bounds__(kThreads) first_layer_counts_kernel(FirstCountsArgs a) {
  __shared__ float table[BitCounts::kMax + 1];
  for (int i = threadIdx.x; i < a.table_size; i += kThreads) table[i] = a.table[i];
  __syncthreads();
  const int lane = threadIdx.x % 32;
  const int tiles = (a.outputs + 31) / 32, slices = (a.rows + kSliceRows - 1) / kSliceRows;
  const int64_t items = int64_t{tiles} * slices;
  for (int64_t item = int64_t{blockIdx.x} * kWarps + threadIdx.x / 32; item < items; item += int64_t{gridDim.x} * kWarps) {
    const int slice = static_cast<int>(item / tiles), tile = static_cast<int>(item % tiles);
    const int p = tile * 32 + lane;
    const bool valid = p < a.outputs;
    BitCounts counts[kSliceWords];
    if (valid) {
      const int end = a.ptr[p + 1];
      for (int e = a.ptr[p]; e < end; ++e) {
        const uint4* at = reinterpret_cast<const uint4*>(a.bits + int64_t{a.pos[e]} * a.words + slice * kSliceWords);
        const uint4 lo = __ldg(at), hi = __ldg(at + 1);
        counts[0].add(lo.x), counts[1].add(lo.y), counts[2].add(lo.z), counts[3].add(lo.w);
        counts[4].add(hi.x), counts[5].add(hi.y), counts[6].add(hi.z), counts[7].add(hi.w);
      }
    }
    const int neurons = !valid ? 0 : a.out_weight != nullptr ? a.out_weight[p] : 1;
    unsigned long long nonzeros = 0;
#pragma unroll
    for (int j = 0; j < kSliceWords; ++j) {  // unrolled: the counters stay in registers
      for (int r = 0; r < 32; ++r) {
        const int row = slice * kSliceRows + j * 32 + r;
        if (row >= a.rows) break;  // the same row for the whole warp
        const float y = table[counts[j].count(r)];
        if (valid) a.out[int64_t{row} * a.stride + p] = y;
        const bool on = valid && y != 0.0f;
        nonzeros += on ? neurons : 0;
        if (__any_sync(0xffffffffu, on) && lane == 0) a.marks[row] = 1;
      }
    }
    add_nonzeros(a.nnz, nonzeros);
  }
}

}  // namespace

cudaError_t launch_first_layer_counts(const FirstCountsArgs& args, int multiprocessors, cudaStream_t stream) {
  if (args.rows == 0 || args.outputs == 0) return cudaSuccess;
  if (args.table_size > BitCounts::kMax + 1 || args.words % kSliceWords != 0) return cudaErrorInvalidValue;
  int per_sm = 0;
  cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, first_layer_counts_kernel, kThreads, 0);
  if (e != cudaSuccess) return e;
  first_layer_counts_kernel<<<std::max(1, per_sm) * multiprocessors, kThreads, 0, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace spdnn::cuda
