// Merging equal feature rows between layers (see row_merge.hpp): hash each active row (a warp per row)
// into an open-addressing table whose slots hold one hash and the list position of the first row that
// claimed it, compare each row bit for bit with that row, and keep only the rows that equal none before
// them. The work follows the active count, not the batch's capacity (a sort of every slot of the batch
// cost more than the layers once few rows were left). A hash collision leaves two rows unmerged, never
// merges different rows.
#include <algorithm>

#include "challenge/cuda/row_merge.hpp"
#include "core/hash_mix.hpp"

namespace spdnn::cuda {

namespace {

constexpr uint64_t kEmpty = ~0ull;  // the key of a free slot (no row hashes to it)

// Hashes row list[i] with the warp: the lanes' hashes are summed, so that the order they finish in does
// not matter.
__device__ uint64_t row_hash(const uint32_t* v, int32_t width, int lane) {
  uint64_t h = hash_mix(0, static_cast<uint64_t>(lane));
  for (int32_t j = lane; j < width; j += 32) h = hash_mix(h, v[j]);
  for (int offset = 16; offset > 0; offset /= 2) h += __shfl_xor_sync(0xffffffffu, h, offset);
  return h == kEmpty ? h - 1 : h;
}

// Each listed row claims the slot of its hash (linear probing; the table has at least twice as many slots
// as rows, so a free one is always found): the first to claim it stands for the rows that hash there.
__global__ void claim_slots_kernel(const float* feat, int64_t stride, int32_t width, const int32_t* list,
                                   const int32_t* count, RowMergeScratch s) {
  const int lane = threadIdx.x % 32, warps = gridDim.x * blockDim.x / 32;
  const int32_t n = *count;
  const uint32_t mask = static_cast<uint32_t>(s.table_size - 1);
  for (int32_t i = (blockIdx.x * blockDim.x + threadIdx.x) / 32; i < n; i += warps) {
    const uint64_t h = row_hash(reinterpret_cast<const uint32_t*>(feat + list[i] * stride), width, lane);
    if (lane != 0) continue;
    for (uint32_t slot = static_cast<uint32_t>(h) & mask;; slot = (slot + 1) & mask) {
      // A plain read first: rows that converged hash alike, and most find their slot claimed already.
      uint64_t seen = *reinterpret_cast<volatile const uint64_t*>(s.table_keys + slot);
      if (seen == kEmpty) {
        seen = atomicCAS(reinterpret_cast<unsigned long long*>(s.table_keys + slot), kEmpty, h);
        if (seen == kEmpty) s.table_first[slot] = i;
      }
      if (seen == kEmpty || seen == h) {
        s.slot[i] = static_cast<int32_t>(slot);
        break;
      }
    }
  }
}

__global__ void merge_rows_kernel(const float* feat, int64_t stride, int32_t width, const int32_t* list,
                                  const int32_t* count, const int32_t* ids, int32_t* multiplicity, MergedInput* log,
                                  int32_t* log_count, RowMergeScratch s, ClipCarry carry) {
  const int lane = threadIdx.x % 32, warps = gridDim.x * blockDim.x / 32;
  const int32_t n = *count;
  int32_t* kept_count = s.kept + s.capacity;
  for (int32_t i = (blockIdx.x * blockDim.x + threadIdx.x) / 32; i < n; i += warps) {
    const int32_t first = s.table_first[s.slot[i]];
    const int32_t row = list[i], into = list[first];
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
      // Only the first row of a slot receives, and it never merges itself, so `row`'s count is final.
      atomicAdd(&multiplicity[into], multiplicity[row]);
      log[atomicAdd(log_count, 1)] = {ids[row], ids[into]};
    } else if (at_clip) {
      carry.log[atomicAdd(carry.count, 1)] = {ids[row], row, 0, carry.boundary};  // inputs: once merges are done
    } else {
      s.kept[atomicAdd(kept_count, 1)] = row;
    }
  }
}

// The merge's end: the slots it claimed are freed for the next one, and the kept rows become the list
// (the count follows, once every thread has read the old one).
__global__ void finish_merge_kernel(int32_t* list, const int32_t* count, RowMergeScratch s) {
  const int32_t n = *count, kept = s.kept[s.capacity];
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    s.table_keys[s.slot[i]] = kEmpty;
    if (i < kept) list[i] = s.kept[i];
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

// Grid-stride kernels over the active rows: enough blocks to fill the GPU when every row is active, few
// enough that a launch over a handful of rows costs little.
int grid_for(int32_t items, int items_per_block) {
  return static_cast<int>(std::clamp<int64_t>((int64_t{items} + items_per_block - 1) / items_per_block, 1, 2048));
}

}  // namespace

cudaError_t launch_fill(int32_t* a, int32_t n, int32_t value, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  fill_kernel<<<static_cast<int>(std::min<int64_t>((int64_t{n} + 255) / 256, 65535)), 256, 0, stream>>>(a, n, value);
  return cudaGetLastError();
}

int32_t row_merge_table_size(int32_t capacity) {
  int32_t size = 64;
  while (size < 2 * int64_t{capacity}) size *= 2;
  return size;
}

cudaError_t launch_row_merge_clear(const RowMergeScratch& s, cudaStream_t stream) {
  return cudaMemsetAsync(s.table_keys, 0xff, static_cast<size_t>(s.table_size) * sizeof(uint64_t), stream);  // kEmpty
}

cudaError_t launch_row_merge(const float* feat, int64_t stride, int32_t width, int32_t* list, int32_t* count,
                             const int32_t* ids, int32_t* multiplicity, MergedInput* log, int32_t* log_count,
                             const RowMergeScratch& s, const ClipCarry& carry, cudaStream_t stream) {
  if (s.capacity == 0) return cudaSuccess;
  cudaError_t e = cudaMemsetAsync(s.kept + s.capacity, 0, sizeof(int32_t), stream);  // the count of kept rows
  if (e != cudaSuccess) return e;
  const int warp_grid = grid_for(s.capacity, 8);
  claim_slots_kernel<<<warp_grid, 256, 0, stream>>>(feat, stride, width, list, count, s);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  merge_rows_kernel<<<warp_grid, 256, 0, stream>>>(feat, stride, width, list, count, ids, multiplicity, log, log_count, s,
                                                   carry);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  if (carry.log != nullptr) {
    carried_inputs_kernel<<<1, 256, 0, stream>>>(carry, multiplicity);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
  }
  finish_merge_kernel<<<grid_for(s.capacity, 256), 256, 0, stream>>>(list, count, s);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  return cudaMemcpyAsync(count, s.kept + s.capacity, sizeof(int32_t), cudaMemcpyDeviceToDevice, stream);
}

}  // namespace spdnn::cuda
