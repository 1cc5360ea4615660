// Merging equal feature rows between layers (see row_merge.hpp): hash each active row (a warp per row),
// sort the hashes (CUB), compare each row bit for bit with the first row of its run of equal hashes, and
// keep only the rows that equal none before them. A hash collision leaves two rows unmerged, never merges
// different rows.
#include <cub/device/device_radix_sort.cuh>

#include "challenge/cuda/row_merge.hpp"
#include "core/hash_mix.hpp"

namespace spdnn::cuda {

namespace {

constexpr uint64_t kNoRow = ~0ull;  // the key of list positions past the count: sorted last

__global__ void hash_rows_kernel(const float* feat, int64_t stride, int32_t width, const int32_t* list,
                                 const int32_t* count, int32_t capacity, uint64_t* keys, int32_t* rows) {
  const int lane = threadIdx.x % 32, warps = gridDim.x * blockDim.x / 32;
  const int32_t n = *count;
  for (int32_t i = (blockIdx.x * blockDim.x + threadIdx.x) / 32; i < capacity; i += warps) {
    if (i >= n) {
      if (lane == 0) keys[i] = kNoRow, rows[i] = -1;
      continue;
    }
    const int32_t row = list[i];
    const auto* v = reinterpret_cast<const uint32_t*>(feat + row * stride);
    uint64_t h = hash_mix(0, static_cast<uint64_t>(lane));
    for (int32_t j = lane; j < width; j += 32) h = hash_mix(h, v[j]);
    for (int offset = 16; offset > 0; offset /= 2) h += __shfl_xor_sync(0xffffffffu, h, offset);  // order-free
    if (lane == 0) keys[i] = h == kNoRow ? h - 1 : h, rows[i] = row;
  }
}

__global__ void merge_runs_kernel(const float* feat, int64_t stride, int32_t width, const int32_t* count,
                                  const uint64_t* keys, const int32_t* rows, const int32_t* ids, int32_t* multiplicity,
                                  MergedInput* log, int32_t* log_count, int32_t* kept, int32_t* kept_count,
                                  ClipCarry carry) {
  const int lane = threadIdx.x % 32, warps = gridDim.x * blockDim.x / 32;
  const int32_t n = *count;
  for (int32_t i = (blockIdx.x * blockDim.x + threadIdx.x) / 32; i < n; i += warps) {
    const uint64_t key = keys[i];
    int32_t first = 0, hi = i;  // the first position of this run of equal keys
    while (first < hi) {
      const int32_t mid = (first + hi) / 2;
      if (keys[mid] < key) first = mid + 1;
      else hi = mid;
    }
    const int32_t row = rows[i], into = rows[first];
    bool equal = first != i;
    if (equal) {
      const auto* a = reinterpret_cast<const uint32_t*>(feat + row * stride);
      const auto* b = reinterpret_cast<const uint32_t*>(feat + into * stride);
      bool same = true;
      for (int32_t j = lane; j < width && same; j += 32) same = a[j] == b[j];
      equal = __all_sync(0xffffffffu, same);
    }
    bool at_clip = false;  // (`equal` is the warp's, so the whole warp looks or none of it)
    if (carry.log != nullptr && !equal) {
      const auto* a = reinterpret_cast<const uint32_t*>(feat + row * stride);
      const uint32_t clip = __float_as_uint(carry.clip);
      bool same = true;
      for (int32_t j = lane; j < width && same; j += 32) same = a[j] == clip;
      at_clip = __all_sync(0xffffffffu, same);
    }
    if (lane != 0) continue;
    if (equal) {
      // Only the first row of a run receives, and it never merges itself, so `row`'s count is final.
      atomicAdd(&multiplicity[into], multiplicity[row]);
      log[atomicAdd(log_count, 1)] = {ids[row], ids[into]};
    } else if (at_clip) {
      carry.log[atomicAdd(carry.count, 1)] = {ids[row], row, 0, carry.boundary};  // inputs: once merges are done
    } else {
      kept[atomicAdd(kept_count, 1)] = row;
    }
  }
}

// The multiplicity of each row carried by the merge just done (the entries without one yet).
__global__ void carried_inputs_kernel(ClipCarry carry, const int32_t* multiplicity) {
  const int32_t n = *carry.count;
  for (int32_t i = threadIdx.x; i < n; i += blockDim.x)
    if (carry.log[i].inputs == 0) carry.log[i].inputs = multiplicity[carry.log[i].row];
}

__global__ void fill_kernel(int32_t* a, int32_t n, int32_t value) {
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) a[i] = value;
}

int warps_grid(int32_t items) { return static_cast<int>(std::min<int64_t>((int64_t{items} + 7) / 8, 65535)); }

}  // namespace

cudaError_t launch_fill(int32_t* a, int32_t n, int32_t value, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  fill_kernel<<<static_cast<int>(std::min<int64_t>((int64_t{n} + 255) / 256, 65535)), 256, 0, stream>>>(a, n, value);
  return cudaGetLastError();
}

size_t row_merge_sort_bytes(int32_t capacity) {
  size_t bytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, bytes, static_cast<const uint64_t*>(nullptr), static_cast<uint64_t*>(nullptr),
                                  static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr), capacity);
  return bytes;
}

cudaError_t launch_row_merge(const float* feat, int64_t stride, int32_t width, int32_t* list, int32_t* count,
                             const int32_t* ids, int32_t* multiplicity, MergedInput* log, int32_t* log_count,
                             const RowMergeScratch& s, const ClipCarry& carry, cudaStream_t stream) {
  if (s.capacity == 0) return cudaSuccess;
  int32_t* kept_count = s.kept + s.capacity;  // `kept` has one word more: the count of kept rows
  cudaError_t e = cudaMemsetAsync(kept_count, 0, sizeof(int32_t), stream);
  if (e != cudaSuccess) return e;
  hash_rows_kernel<<<warps_grid(s.capacity), 256, 0, stream>>>(feat, stride, width, list, count, s.capacity, s.keys, s.rows);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  size_t bytes = s.sort_bytes;
  e = cub::DeviceRadixSort::SortPairs(s.sort_storage, bytes, s.keys, s.keys_sorted, s.rows, s.rows_sorted, s.capacity,
                                      0, 64, stream);
  if (e != cudaSuccess) return e;
  merge_runs_kernel<<<warps_grid(s.capacity), 256, 0, stream>>>(feat, stride, width, count, s.keys_sorted, s.rows_sorted,
                                                                ids, multiplicity, log, log_count, s.kept, kept_count, carry);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  if (carry.log != nullptr) {
    carried_inputs_kernel<<<1, 256, 0, stream>>>(carry, multiplicity);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
  }
  e = cudaMemcpyAsync(list, s.kept, static_cast<size_t>(s.capacity) * sizeof(int32_t), cudaMemcpyDeviceToDevice, stream);
  if (e != cudaSuccess) return e;
  return cudaMemcpyAsync(count, kept_count, sizeof(int32_t), cudaMemcpyDeviceToDevice, stream);
}

}  // namespace spdnn::cuda
