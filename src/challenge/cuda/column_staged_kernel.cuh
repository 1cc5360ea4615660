// The feature-major layer of column_kernel.cuh with its inputs staged: a warp copies the next Steps steps'
// inputs (each a slice's rows at one position: 256 contiguous bytes for 64 live rows) and weights into
// shared memory with bulk copies (cp.async.bulk, one instruction a step, completion counted by an
// mbarrier) while it multiplies the steps it copied before. The direct kernel keeps at most 8 steps'
// loads in flight a warp, in registers, and none while it multiplies; here a warp's next Steps steps are
// always in flight and cost no registers. Same items, order of sums, outputs and marks as column_kernel.
//
// A slice's input rows are the active list's rows k0..k0+63, ascending; rows that died in the layer before
// leave gaps, so a step copies the span from the first row (rounded down to 16 bytes) to the last, and a
// slice spanning more than LayerKernelConfig::kStageSpan rows (or features whose rows are not a multiple
// of 4 floats, or the first layer's bits) reads straight from global memory as column_kernel does.
#pragma once

#include "challenge/cuda/column_kernel.cuh"

// Bulk copies and transaction-counting mbarriers are Hopper's (sm_90): built for an older architecture,
// the helpers trap, and the engine offers these kernels only on devices of compute capability 9 and up.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
#define SPDNN_HOPPER_ASM(...) __trap()
#else
#define SPDNN_HOPPER_ASM(...) asm volatile(__VA_ARGS__)
#endif

namespace spdnn::cuda {

__device__ __forceinline__ uint32_t shared_address(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void barrier_init(uint64_t* bar) {
  SPDNN_HOPPER_ASM("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(shared_address(bar)) : "memory");
}
// The stage's one arrival, and the bytes its copies will bring.
__device__ __forceinline__ void barrier_expect_bytes(uint64_t* bar, uint32_t bytes) {
  SPDNN_HOPPER_ASM("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void barrier_wait(uint64_t* bar, uint32_t phase) {
  uint32_t done = 0;
  do {
    SPDNN_HOPPER_ASM(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}"
        : "=r"(done)
        : "r"(shared_address(bar)), "r"(phase)
        : "memory");
  } while (done == 0);
}
// `bytes` (a multiple of 16, both addresses 16-byte aligned) from global to shared memory, counted on `bar`.
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  SPDNN_HOPPER_ASM("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                   shared_address(dst)),
               "l"(src), "r"(bytes), "r"(shared_address(bar))
               : "memory");
}

// One item of a warp (a group of outputs for a slice of rows) and how its inputs are read.
template <int RowsPerThread>
struct StagedItem {
  int64_t item = -1;                 // -1: the warp has no more
  int s_begin = 0, s_end = 0, out0 = 0, k0 = 0;
  int32_t at[RowsPerThread];         // the thread's input rows (row 0 where not live)
  bool live[RowsPerThread];
  int32_t base = 0, span_bytes = 0;  // staged: the rows copied a step (from `base`); 0: read directly
};

// Steps [s, s + n) of the item: staged steps copied into stage `st` (positions loaded a lane a step).
template <int Per, class Weight, int RowsPerThread>
__device__ __forceinline__ void issue_stage(const LayerArgs<Weight>& a, const StagedItem<RowsPerThread>& it, int s, int n,
                                            float* feats, void* weights, uint64_t* bar) {
  using Step = WeightStep<Weight, Per>;
  constexpr bool StageWeights = sizeof(Step) % 16 == 0;
  const int lane = threadIdx.x % 32;
  const int32_t pos = lane < n ? __ldg(a.step_pos + s + lane) : 0;
  // The stage's last reads (generic proxy) are done before the copies (async proxy) overwrite it.
  __syncwarp();
  SPDNN_HOPPER_ASM("fence.proxy.async.shared::cta;" ::: "memory");
  if (lane == 0)
    barrier_expect_bytes(bar, static_cast<uint32_t>(n * it.span_bytes) + (StageWeights ? n * static_cast<uint32_t>(sizeof(Step)) : 0u));
  __syncwarp();
  if (lane < n) {
    const char* column = mad_wide(pos, a.stride * static_cast<int32_t>(sizeof(float)), reinterpret_cast<const char*>(a.in));
    bulk_copy(feats + lane * LayerKernelConfig::kStageSpan, column + static_cast<int64_t>(it.base) * sizeof(float),
              static_cast<uint32_t>(it.span_bytes), bar);
  }
  if constexpr (StageWeights)
    if (lane == 0 && n > 0)
      bulk_copy(weights, reinterpret_cast<const Step*>(a.step_val) + s, static_cast<uint32_t>(n * sizeof(Step)), bar);
}

// Steps [s, s + n) of a staged item from stage memory into acc, ascending; Skip as in accumulate_steps.
template <int RowsPerThread, int Per, bool Skip, bool Fused, class Weight>
__device__ __forceinline__ void add_staged_steps(const LayerArgs<Weight>& a, const StagedItem<RowsPerThread>& it, int s, int n,
                                                 const float* feats, const void* weights, float (&acc)[RowsPerThread][Per]) {
  using Step = WeightStep<Weight, Per>;
  constexpr bool StageWeights = sizeof(Step) % 16 == 0;
  int index[RowsPerThread];
#pragma unroll
  for (int r = 0; r < RowsPerThread; ++r) index[r] = it.live[r] ? it.at[r] - it.base : 0;
#pragma unroll 4
  for (int u = 0; u < n; ++u) {
    float x[RowsPerThread];
#pragma unroll
    for (int r = 0; r < RowsPerThread; ++r) x[r] = feats[u * LayerKernelConfig::kStageSpan + index[r]];
    if (Skip && !any_nonzero(x)) continue;
    float w[Per];
    if constexpr (StageWeights) load_step(static_cast<const Step*>(weights) + u, w, PlainLoad{});
    else load_step(reinterpret_cast<const Step*>(a.step_val) + s + u, w);
#pragma unroll
    for (int j = 0; j < Per; ++j)
#pragma unroll
      for (int r = 0; r < RowsPerThread; ++r)
        acc[r][j] = Fused ? __fmaf_rn(x[r], w[j], acc[r][j]) : add_product(acc[r][j], x[r], w[j]);
  }
}

// Two blocks an SM: 106 KB of stages a block (8 warps x 2 stages x 16 steps x (88 rows + 16 weights) x 4
// bytes), 128 registers a thread.
template <int RowsPerThread, int Threads, int Per, int Steps, bool Fused, class Weight>
__global__ void __launch_bounds__(Threads, 2) column_staged_kernel(LayerArgs<Weight> a) {
  static_assert(Threads % 32 == 0 && Steps >= 1 && Steps <= 32, "whole warps, a lane a step");
  constexpr int Warps = Threads / 32, Rows = 32 * RowsPerThread, Stages = LayerKernelConfig::kStages;
  constexpr int Span = LayerKernelConfig::kStageSpan;
  static_assert(Span % 4 == 0 && Span >= Rows + 4, "a stage step holds a slice and its alignment in 16-byte units");
  // A stage: Steps x Span floats, then (16-byte steps) Steps weight steps; sized for fp32 weights, as
  // LayerKernelConfig::shared_bytes() allocates.
  constexpr int StageFloats = Steps * (Span + Per);
  extern __shared__ __align__(16) float stage_memory[];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  float* stages = stage_memory + warp * Stages * StageFloats;
  uint64_t* bars = reinterpret_cast<uint64_t*>(stage_memory + Warps * Stages * StageFloats) + warp * Stages;
  if (lane == 0)
    for (int st = 0; st < Stages; ++st) barrier_init(bars + st);
  SPDNN_HOPPER_ASM("fence.mbarrier_init.release.cluster;" ::: "memory");
  __syncwarp();

  const int groups = (a.outputs + Per - 1) / Per, tiles = (groups + Warps - 1) / Warps;
  const int rows_active = *a.count;
  const int slices = (rows_active + Rows - 1) / Rows;
  const int64_t items = static_cast<int64_t>(slices) * tiles;
  const bool sparse_in = sparse_inputs(a, rows_active);
  const bool stageable = a.in_bits == nullptr && a.stride % 4 == 0;
  unsigned long long nonzeros = 0;

  // The warp's next item from `item` on (items whose group is past the last are skipped), with its rows.
  auto find_item = [&](int64_t item) {
    StagedItem<RowsPerThread> it;
    for (; item < items; item += gridDim.x) {
      const int group = static_cast<int>(item % tiles) * Warps + warp;
      if (group >= groups) continue;
      it.item = item;
      it.k0 = static_cast<int>(item / tiles) * Rows;
      it.s_begin = a.group_steps[group], it.s_end = a.group_steps[group + 1], it.out0 = group * Per;
      int32_t lo = INT_MAX, hi = -1;
#pragma unroll
      for (int r = 0; r < RowsPerThread; ++r) {
        const int k = it.k0 + 32 * r + lane;
        it.live[r] = k < rows_active;
        it.at[r] = it.live[r] ? a.active[k] : 0;
        if (it.live[r]) lo = min(lo, it.at[r]), hi = max(hi, it.at[r]);
      }
      lo = __reduce_min_sync(0xffffffffu, lo), hi = __reduce_max_sync(0xffffffffu, hi);
      it.base = lo & ~3;
      const int32_t span = (hi - it.base + 4) & ~3;
      it.span_bytes = stageable && span <= Span ? span * static_cast<int32_t>(sizeof(float)) : 0;
      break;
    }
    return it;
  };

  // Tasks are (item, Steps steps of its group); task t uses stage t % Stages. The next task's copies are
  // issued before this one's multiplies. A direct task fills no stage, so each stage keeps its own phase.
  StagedItem<RowsPerThread> cur = find_item(blockIdx.x), nxt;
  int s = cur.s_begin;
  if (cur.item >= 0 && cur.span_bytes > 0)
    issue_stage<Per>(a, cur, s, min(Steps, cur.s_end - s), stages, stages + Steps * Span, bars);
  float acc[RowsPerThread][Per];
#pragma unroll
  for (int r = 0; r < RowsPerThread; ++r)
#pragma unroll
    for (int j = 0; j < Per; ++j) acc[r][j] = 0.0f;
  uint32_t phases = 0;  // bit st: the parity of stage st's next completion
  for (uint32_t t = 0; cur.item >= 0; ++t) {
    const int n = min(Steps, cur.s_end - s);
    const bool last = s + n >= cur.s_end;  // an item with no steps is one task of none
    // The next task: this item's next steps, or the warp's next item's first.
    float* next_feats = stages + ((t + 1) % Stages) * StageFloats;
    uint64_t* next_bar = bars + (t + 1) % Stages;
    int s_next = s + n;
    if (!last) {
      if (cur.span_bytes > 0)
        issue_stage<Per>(a, cur, s_next, min(Steps, cur.s_end - s_next), next_feats, next_feats + Steps * Span, next_bar);
    } else {
      nxt = find_item(cur.item + gridDim.x);
      s_next = nxt.s_begin;
      if (nxt.item >= 0 && nxt.span_bytes > 0)
        issue_stage<Per>(a, nxt, s_next, min(Steps, nxt.s_end - s_next), next_feats, next_feats + Steps * Span, next_bar);
    }
    if (cur.span_bytes > 0) {
      const float* feats = stages + (t % Stages) * StageFloats;
      barrier_wait(bars + t % Stages, (phases >> (t % Stages)) & 1u);
      phases ^= 1u << (t % Stages);
      if (sparse_in) add_staged_steps<RowsPerThread, Per, true, Fused>(a, cur, s, n, feats, feats + Steps * Span, acc);
      else add_staged_steps<RowsPerThread, Per, false, Fused>(a, cur, s, n, feats, feats + Steps * Span, acc);
    } else if (a.in_bits != nullptr) {
      accumulate_group<RowsPerThread, Per, true, true, false, Fused>(a, s, s + n, cur.k0, cur.at, cur.live, acc);
    } else if (sparse_in) {
      accumulate_group<RowsPerThread, Per, false, true, false, Fused>(a, s, s + n, cur.k0, cur.at, cur.live, acc);
    } else {
      accumulate_group<RowsPerThread, Per, false, false, false, Fused>(a, s, s + n, cur.k0, cur.at, cur.live, acc);
    }
    if (last) {
      finish_item(a, acc, cur.out0, cur.k0, cur.live, nonzeros);
#pragma unroll
      for (int r = 0; r < RowsPerThread; ++r)
#pragma unroll
        for (int j = 0; j < Per; ++j) acc[r][j] = 0.0f;
      cur = nxt;
    }
    s = s_next;
  }
  add_nonzeros(a.nnz, nonzeros);
}

}  // namespace spdnn::cuda
