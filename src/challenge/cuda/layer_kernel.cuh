// One layer of the challenge on the GPU: sliced-ELL SpMM fused with bias, ReLU, clip, and the
// pruning: the surviving rows are appended to the next active list by the last tile done with them.
//
// Block = one tile of Threads x Per outputs (Per consecutive outputs per thread) x Rows feature rows at a
// time. For each chunk of the tile's footprint, the block stages chunk_size inputs x Rows rows in shared
// memory as [slot][Rows] (so one slot's Rows values are Rows/4 float4 loads), then each thread walks its
// ELL steps: one slot and Per weights a step, each staged value read once for all Per outputs. The grid
// is persistent over rows: gridDim.y blocks per tile stride over the active rows, whose count comes from
// device memory, so layers launch without host round trips.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "challenge/cuda/layer_args.hpp"
#include "cuda/dependent_launch.hpp"

namespace spdnn::cuda {

__device__ __forceinline__ float weight_to_float(float w) { return w; }
__device__ __forceinline__ float weight_to_float(__half w) { return __half2float(w); }

// Products and sums rounded separately (no FMA contraction): the CPU engines' arithmetic, bit for bit.
__device__ __forceinline__ float add_product(float acc, float y, float w) { return __fadd_rn(acc, __fmul_rn(y, w)); }

// A layer's output from its sum: bias, ReLU and clip, the bias added to nonzero sums only (a zero sum
// stays zero, as in the challenge's reference).
__device__ __forceinline__ float activate(float z, float bias, float clip) {
  return z != 0.0f ? fminf(fmaxf(__fadd_rn(z, bias), 0.0f), clip) : 0.0f;
}

// The sum of the threads' counts, added to the layer's nonzeros once a warp.
__device__ __forceinline__ void add_nonzeros(unsigned long long* total, unsigned long long nonzeros) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) nonzeros += __shfl_down_sync(0xffffffffu, nonzeros, offset);
  if (threadIdx.x % 32 == 0 && nonzeros > 0) atomicAdd(total, nonzeros);
}

// Where quad q (rows 4q..4q+3) of staged slot f sits among the slot's Q = Rows/4 float4s. A 128-bit access
// is served 8 threads at a time, 8 float4s over the 32 banks; unswizzled, 8 threads storing consecutive
// slots (16 Q bytes apart) put slots 8/Q apart on the same banks (at 16 rows, a 4-way conflict). XOR-ing q
// with the slot's bits above log2(8/Q) spreads them over all 32 banks; a thread reading one slot reads
// its quads in a permuted order, which costs nothing.
template <int Rows>
__device__ __forceinline__ int staged_quad(int f, int q) {
  constexpr int quads = Rows / 4, shift = quads >= 8 ? 0 : quads == 4 ? 1 : quads == 2 ? 2 : 3;
  return q ^ ((f >> shift) & (quads - 1));
}

// A thread's Per weights of one step, loaded as one vector.
template <class Weight, int Per>
struct alignas(sizeof(Weight) * Per) WeightStep {
  Weight w[Per];
};

// Input `pos` of the row at `base` (-1: past the active rows, 0), from floats or from bits (LayerArgs::in_bits).
template <class Weight>
__device__ __forceinline__ float input_at(const LayerArgs<Weight>& a, int64_t base, int pos) {
  if (base < 0) return 0.0f;
  if (a.in_bits == nullptr) return __ldg(a.in + base + pos);
  return (__ldg(a.in_bits + base + (pos >> 5)) >> (pos & 31)) & 1u ? a.in_value : 0.0f;
}

// Stages one chunk of `size` footprint inputs (positions `map`) for the Rows rows at row_base: one slot per
// thread, all Rows loads in flight at once, then Rows/4 float4 stores.
template <int Rows, int Threads, class Weight>
__device__ __forceinline__ void stage_chunk(const LayerArgs<Weight>& a, const int32_t* map, int size,
                                            const int64_t* row_base, float4* staged4) {
  for (int f = threadIdx.x; f < size; f += Threads) {
    const int pos = map[f];
    float v[Rows];
#pragma unroll
    for (int r = 0; r < Rows; ++r) v[r] = input_at(a, row_base[r], pos);
#pragma unroll
    for (int q = 0; q < Rows / 4; ++q)
      staged4[f * (Rows / 4) + staged_quad<Rows>(f, q)] = make_float4(v[4 * q], v[4 * q + 1], v[4 * q + 2], v[4 * q + 3]);
  }
}

// One ELL step: the staged slot's Rows values times the thread's Per weights, into acc.
template <int Rows, int Per, class Weight>
__device__ __forceinline__ void add_step(float (&acc)[Rows][Per], const float4* staged4, int slot,
                                         const WeightStep<Weight, Per>& step) {
  float w[Per];
#pragma unroll
  for (int j = 0; j < Per; ++j) w[j] = weight_to_float(step.w[j]);
  const float4* s = staged4 + slot * (Rows / 4);
#pragma unroll
  for (int v = 0; v < Rows / 4; ++v) {
    const float4 x = s[staged_quad<Rows>(slot, v)];
#pragma unroll
    for (int j = 0; j < Per; ++j) {
      acc[4 * v + 0][j] = add_product(acc[4 * v + 0][j], x.x, w[j]);
      acc[4 * v + 1][j] = add_product(acc[4 * v + 1][j], x.y, w[j]);
      acc[4 * v + 2][j] = add_product(acc[4 * v + 2][j], x.z, w[j]);
      acc[4 * v + 3][j] = add_product(acc[4 * v + 3][j], x.w, w[j]);
    }
  }
}

// Blocks an SM must hold (the register cap): four 256-thread blocks of the one-output kernel at 16 rows
// (64 registers; its shared memory allows four), two at 32 rows (fewer spill), two with held steps (128
// registers, no spills: 32 steps, 16 accumulators). Others: the compiler's choice.
constexpr int min_blocks(int rows, int threads, int per, int register_steps) {
  if (register_steps > 0) return 512 / threads;
  return per == 1 ? (rows <= 16 ? 1024 : 512) / threads : 1;
}

// Asynchronous staging (cp.async, sm_80+): one float from global to shared memory, zero-filled when the
// row is past the active ones, so no register holds it and the next row pass loads while this one computes.
__device__ __forceinline__ void copy_async4(float* to, const float* from, bool valid) {
  const unsigned shared = static_cast<unsigned>(__cvta_generic_to_shared(to));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(shared), "l"(from), "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void async_wait_all_but_last() { asm volatile("cp.async.wait_group 1;\n" ::); }

// stage_chunk's layout ([slot][Rows], quads swizzled), by asynchronous copies (bits: stage_chunk's loads;
// the buffer is free, the previous pass that read it having ended with a barrier).
template <int Rows, int Threads, class Weight>
__device__ __forceinline__ void stage_chunk_async(const LayerArgs<Weight>& a, const int32_t* map, int size,
                                                  const int64_t* row_base, float4* staged4) {
  if (a.in_bits != nullptr) return stage_chunk<Rows, Threads>(a, map, size, row_base, staged4);
  const float* in = a.in;
  float* staged = reinterpret_cast<float*>(staged4);
  for (int f = threadIdx.x; f < size; f += Threads) {
    const int pos = map[f];
#pragma unroll
    for (int r = 0; r < Rows; ++r)
      copy_async4(staged + (f * (Rows / 4) + staged_quad<Rows>(f, r / 4)) * 4 + r % 4,
                  row_base[r] >= 0 ? in + row_base[r] + pos : in, row_base[r] >= 0);
  }
}

// The end of a row pass: bias (on nonzero sums only, as the reference), ReLU, clip, the outputs written
// and each row's nonzeros counted. A row survives if any tile produced a nonzero in it. Tiles add their
// counts to row_total; the last tile to finish this row block (threadFenceReduction pattern) appends the
// survivors to the next active list and resets the counters for the next layer. No separate compaction
// pass. Ends with a barrier, so row_nnz and the staged rows are free for the next pass.
template <int Rows, int Per, class Weight>
__device__ __forceinline__ void finish_rows(const LayerArgs<Weight>& a, const float (&acc)[Rows][Per], int k0,
                                            int rows_active, int out0, int* row_nnz) {
  const int tile = blockIdx.x, o = threadIdx.x;
  const unsigned lane = threadIdx.x % 32;
#pragma unroll
  for (int r = 0; r < Rows; ++r) {
    const int k = k0 + r;
    int nonzero = 0;  // of the thread's outputs in row k, counted for every neuron each stands for
#pragma unroll
    for (int j = 0; j < Per; ++j) {
      const int out_pos = out0 + j;
      if (k < rows_active && out_pos < a.outputs) {
        const float y = activate(acc[r][j], a.bias, a.clip);
        a.out[static_cast<int64_t>(k) * a.stride + out_pos] = y;
        // In structure mode an output counts for its group's neurons.
        if (y != 0.0f) nonzero += a.out_weight == nullptr ? 1 : a.out_weight[out_pos];
      }
    }
    const int warp_nnz = static_cast<int>(__reduce_add_sync(0xffffffffu, static_cast<unsigned>(nonzero)));
    if (lane == 0 && warp_nnz > 0) atomicAdd(&row_nnz[r], warp_nnz);
  }
  __syncthreads();  // row_nnz complete
  if (gridDim.x == 1) {
    // One tile: the block has every output of its rows, so it lists the survivors itself, without the
    // round trips of the counters below (what a layer of few rows waits for).
    if (o < Rows && k0 + o < rows_active) {
      a.ids_out[k0 + o] = a.ids_in[a.active[k0 + o]];
      const int inputs = a.mult_in != nullptr ? a.mult_in[a.active[k0 + o]] : 1;
      if (a.mult_in != nullptr) a.mult_out[k0 + o] = inputs;
      if (row_nnz[o] > 0) {
        a.next_active[atomicAdd(a.next_count, 1)] = k0 + o;
        atomicAdd(a.nnz, static_cast<unsigned long long>(row_nnz[o]) * static_cast<unsigned long long>(inputs));
        if (a.next_inputs != nullptr) atomicAdd(a.next_inputs, inputs);
      }
    }
    __syncthreads();  // row_nnz read before the next pass resets it
    return;
  }
  if (o < Rows && k0 + o < rows_active) {
    if (row_nnz[o] > 0) atomicAdd(&a.row_total[k0 + o], row_nnz[o]);
    if (tile == 0) {
      a.ids_out[k0 + o] = a.ids_in[a.active[k0 + o]];
      if (a.mult_in != nullptr) a.mult_out[k0 + o] = a.mult_in[a.active[k0 + o]];
    }
  }
  __threadfence();  // this tile's row_total updates are visible before it counts itself done
  __shared__ bool last_tile;
  __syncthreads();
  if (o == 0) last_tile = atomicAdd(&a.tiles_done[k0 / Rows], 1) == static_cast<int>(gridDim.x) - 1;
  __syncthreads();
  if (last_tile) {
    __threadfence();  // see every other tile's row_total
    if (o < Rows && k0 + o < rows_active) {
      const int total = atomicExch(&a.row_total[k0 + o], 0);
      if (total > 0) {
        a.next_active[atomicAdd(a.next_count, 1)] = k0 + o;
        const int inputs = a.mult_in != nullptr ? a.mult_in[a.active[k0 + o]] : 1;
        atomicAdd(a.nnz, static_cast<unsigned long long>(total) * static_cast<unsigned long long>(inputs));
        if (a.next_inputs != nullptr) atomicAdd(a.next_inputs, inputs);
      }
    }
    if (o == 0) a.tiles_done[k0 / Rows] = 0;
  }
  __syncthreads();  // row_nnz and the staged rows read before the next pass resets them
}

// RegSteps = 0: every row pass stages the tile's footprint chunk by chunk and reads the ELL steps from
// memory. RegSteps = K > 0: the layout gave each tile one chunk of at most K steps (sliced_ell.hpp:
// fits_kernel); the thread loads them into registers once and reuses them for every row pass, so a layer
// reads its weights once per block instead of once per Rows rows, and the next pass's rows are staged
// by asynchronous copies into a second buffer while this pass computes.
template <int Rows, int Threads, int Per, int RegSteps, class Weight>
__global__ void __launch_bounds__(Threads, min_blocks(Rows, Threads, Per, RegSteps)) layer_kernel(LayerArgs<Weight> a) {
  static_assert(Rows % 4 == 0 && ((Rows / 4) & (Rows / 4 - 1)) == 0 && Rows <= 32,
                "rows are staged as 1, 2, 4 or 8 float4s");
  static_assert(Threads % 32 == 0 && Threads >= Rows, "whole warps (the nonzero count is a warp sum), a thread per row");
  constexpr int TileOutputs = Threads * Per;
  using Step = WeightStep<Weight, Per>;
  extern __shared__ float4 staged4[];  // [chunk slot][Rows / 4], twice with RegSteps > 0
  __shared__ int row_nnz[Rows];
  __shared__ int64_t row_base[2][Rows];  // offset of each row in `in`; -1 past the active rows

  const int tile = blockIdx.x, o = threadIdx.x;
  const int out0 = tile * TileOutputs + o * Per;  // the thread's first output position
  // Launched as a programmatic dependent (LayerLoop, sm_90+): everything below reads the previous layer's
  // results. With rows for one pass only, the blocks that have them let the next layer's grid launch
  // now (the others exit at once, which counts the same), so its launch overlaps this layer's chain of
  // loads; with more rows the grid's later waves need the slots, and the next one waits for its end.
  wait_for_prior_grids();
  const int rows_active = *a.count;
  if (rows_active <= Rows && blockIdx.y == 0) allow_dependent_grids();
  const int c_begin = a.tile_chunks[tile], c_end = a.tile_chunks[tile + 1];
  const int pass = gridDim.y * Rows;
  auto set_row_base = [&](int k0, int b) {
    const int32_t row_length = a.in_bits != nullptr ? a.in_words : a.stride;
    if (o < Rows) row_base[b][o] = k0 + o < rows_active ? static_cast<int64_t>(a.active[k0 + o]) * row_length : -1;
  };

  if constexpr (RegSteps > 0) {
    // The tile's one chunk (none when its outputs read nothing): `held` steps, in registers.
    const bool has_chunk = c_end > c_begin;
    const int held = has_chunk ? a.chunk_k[c_begin] : 0, size = has_chunk ? a.chunk_size[c_begin] : 0;
    const int32_t* map = a.map + (has_chunk ? a.chunk_map[c_begin] : 0);
    const uint16_t* idx = a.ell_idx + (has_chunk ? a.chunk_ell[c_begin] : 0);
    const Step* val = reinterpret_cast<const Step*>(a.ell_val + (has_chunk ? a.chunk_ell[c_begin] * Per : 0));
    int held_slot[RegSteps];
    Step held_step[RegSteps];
#pragma unroll
    for (int q = 0; q < RegSteps; ++q)
      if (q < held) held_slot[q] = idx[q * Threads + o], held_step[q] = val[q * Threads + o];
    auto buffer = [&](int which) { return staged4 + which * size * (Rows / 4); };

    int k0 = blockIdx.y * Rows, b = 0;
    if (k0 < rows_active) {
      set_row_base(k0, 0);
      __syncthreads();  // row_base ready for the staging copies
      stage_chunk_async<Rows, Threads>(a, map, size, row_base[0], buffer(0));
    }
    async_commit();
    for (; k0 < rows_active; k0 += pass, b ^= 1) {
      if (o < Rows) row_nnz[o] = 0;
      if (k0 + pass < rows_active) set_row_base(k0 + pass, b ^ 1);
      __syncthreads();  // the next pass's row_base ready
      if (k0 + pass < rows_active) stage_chunk_async<Rows, Threads>(a, map, size, row_base[b ^ 1], buffer(b ^ 1));
      async_commit();
      async_wait_all_but_last();  // this thread's copies for this pass have landed...
      __syncthreads();            // ...and everyone's
      float acc[Rows][Per];
#pragma unroll
      for (int r = 0; r < Rows; ++r)
#pragma unroll
        for (int j = 0; j < Per; ++j) acc[r][j] = 0.0f;
      const float4* staged = buffer(b);
#pragma unroll
      for (int q = 0; q < RegSteps; ++q)
        if (q < held) add_step<Rows, Per>(acc, staged, held_slot[q], held_step[q]);
      finish_rows<Rows, Per>(a, acc, k0, rows_active, out0, row_nnz);
    }
  } else {
    for (int k0 = blockIdx.y * Rows; k0 < rows_active; k0 += pass) {
      if (o < Rows) row_nnz[o] = 0;
      set_row_base(k0, 0);
      __syncthreads();  // row_base ready for the staging loads
      float acc[Rows][Per];
#pragma unroll
      for (int r = 0; r < Rows; ++r)
#pragma unroll
        for (int j = 0; j < Per; ++j) acc[r][j] = 0.0f;
      for (int c = c_begin; c < c_end; ++c) {
        stage_chunk<Rows, Threads>(a, a.map + a.chunk_map[c], a.chunk_size[c], row_base[0], staged4);
        __syncthreads();  // staged chunk complete before any thread reads it
        const int width = a.chunk_k[c];
        const uint16_t* idx = a.ell_idx + a.chunk_ell[c];
        const Step* val = reinterpret_cast<const Step*>(a.ell_val + a.chunk_ell[c] * Per);
        // The steps' loads a batch at a time, all in flight before their multiplies: with few rows a
        // layer is the chain of these loads, one round trip a batch instead of one every step or two.
        constexpr int Batch = Per >= 8 ? 1 : 8 / Per;
        int q = 0;
        for (; q + Batch <= width; q += Batch) {
          int slot[Batch];
          Step step[Batch];
#pragma unroll
          for (int u = 0; u < Batch; ++u) slot[u] = idx[(q + u) * Threads + o], step[u] = val[(q + u) * Threads + o];
#pragma unroll
          for (int u = 0; u < Batch; ++u) add_step<Rows, Per>(acc, staged4, slot[u], step[u]);
        }
        for (; q < width; ++q) add_step<Rows, Per>(acc, staged4, idx[q * Threads + o], val[q * Threads + o]);
        __syncthreads();  // everyone done reading before the next chunk overwrites it
      }
      finish_rows<Rows, Per>(a, acc, k0, rows_active, out0, row_nnz);
    }
  }
}

}  // namespace spdnn::cuda
