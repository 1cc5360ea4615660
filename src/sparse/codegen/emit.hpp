// CUDA source specialized to one sparse weight matrix (SparseRT-style): the sparsity pattern and the
// weight values become immediates of straight-line code, so the kernel reads only X and writes only Y.
// Plain C++ (no CUDA needed): the emitted text is tested on any machine and compiled by NVRTC.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spdnn/csr.hpp"
#include "spdnn/sparse/kernel_config.hpp"

namespace spdnn::codegen {

// How the generated kernel maps work to threads (KernelConfig). Each thread computes `rows` consecutive
// rows of Y for `cols` adjacent columns (loaded as one float/float2/float4), so every X value
// it loads is reused by all nonzeros of those rows in that column of W; grid.y walks the row groups.
//
// A block's time is set by the chain of loads and multiply-adds of its group, not by how many columns
// it serves (bench/results/sparse_explore_h100.md: 256 x 1024 at 90% took 22 us at N = 196 and at
// N = 1568), so long groups at small N leave most SMs idle. These options change the work per block:
// - split K across a thread-block cluster (cluster_slices = S > 1, sm_90): the S blocks of a cluster each
//   take one slice of the group's columns (contiguous, about equal numbers of nonzeros), write their
//   partial sums to shared memory, and after a cluster barrier block s adds the S partial sums of rows
//   a = s (mod S) in slice order (through distributed shared memory) and stores them. This pays at
//   small N (22 -> 9 us above);
// - split K within a block (block_slices = S > 1): the block's threads form S sets of
//   threads / S, each set a slice of the group's columns for the same columns of X; the partial sums are
//   added in slice order through shared memory, as with clusters. A block of 512 threads with S = 4 covers
//   128 columns of X with four instruction streams of a quarter of the group's code each, where one
//   stream of the whole code made the SM wait for its instructions (256 x 1024 at 90%, N = 1568:
//   19.0 -> 13.6 us);
// - several row groups within a block (block_groups = G > 1): G sets of threads / G threads, each running
//   its own row group for the same columns of X, so that the X they share can be read from L2 once and
//   then hit in L1, and the SM runs G instruction streams (it paid on 2 of 8 layers tried: 256 x 512 at
//   N = 6272, 17.0 -> 14.1 us).
// Another raises the launch bound: bound = 512 or 1024 caps the registers at 128 or 64 and lets a
// block be that wide. The profile of 256 x 1024 at 90% (ncu, N = 1568: 82% of stalls waiting for
// instructions, 255 registers) says a block runs at the pace its code arrives, and the warps of a block
// share that stream, so wider blocks do more work per instruction fetched. Where ptxas keeps its hoisted
// loads within the cap this pays (1024 x 256 at 90%, N = 1568: 17.7 -> 10.5 us with 512 threads); for
// K = 1024 it spills and loses (24.7 -> 39 us), so it is tuned, not fixed.

// Bumped whenever what the emitter writes changes, so that compiled modules are keyed by it
// (codegen/kernel_cache.hpp) and a module of an earlier emitter is rebuilt, not loaded: a module from
// before revision 1 has no wait for the previous grid and would race under dependent launch. Before
// this constant only spdnn's version keyed the emitted code. 1: waits for the previous grid (0.4.0).
inline constexpr uint64_t kEmitRevision = 1;

// Dynamic shared memory of a launch of `config`: split K over a cluster double-buffers each thread's
// partial sums, so that one cluster barrier per step of columns suffices; split K within a block keeps one
// buffer between two block barriers.
inline int64_t shared_bytes(const KernelConfig& config) {
  const int64_t sums = int64_t{config.rows} * config.cols * config.threads * 4;
  return config.cluster_slices > 1 ? 2 * sums : config.block_slices > 1 ? sums : 0;
}

// The threads of each set of a block (thread_sets): the block's columns are lanes(config) * cols.
inline int lanes(const KernelConfig& config) { return config.threads / thread_sets(config); }

// grid.y of a launch: the row groups (over G per block), times the blocks of a cluster.
int64_t grid_rows(const KernelConfig& config, int64_t rows);

// The row stride compiled into a module of `config` for the call's N: N when config.fixed_n (then 1..2^32 - 1,
// else Error(usage)), else 0 (N is the kernel's argument).
int64_t compiled_stride(const KernelConfig& config, int64_t n);

// The number of row groups (grid.y) of `config` for a matrix of `rows` rows.
int64_t row_groups(const KernelConfig& config, int64_t rows);

// The kernel's name in the emitted source (extern "C", so NVRTC does not mangle it).
inline constexpr const char* kKernelName = "spdnn_sparse_linear";

// CUDA C++ for Y = act(W * X + bias): X is K x n and Y is M x n, both row-major float32, `n` a kernel
// argument, which must equal the `n` given here when config.fixed_n compiles it in (else `n` is unused).
// `bias` is empty or has M values; act is ReLU when `relu`. Values are written as hexadecimal float
// literals, so the generated kernel multiplies by exactly the stored weights. With `inline_ptx`, the group
// functions' bodies are inline PTX (the same code, compiled faster; as emit_conv2d_ptx.hpp) where a thread
// has one column, N is compiled in and every offset fits PTX's immediates.
std::string emit_sparse_linear(const CsrMatrix& w, const std::vector<float>& bias, bool relu,
                               const KernelConfig& config, int64_t n = 0, bool inline_ptx = false);

// The same kernel as separately compiled units, for matrices too large for one NVRTC program (whose
// compile time grows about quadratically with its source: 4x the nonzeros took 12x longer): units[0]
// holds the kernel and declarations of the group functions, each later unit whole groups of about
// `unit_nnz` nonzeros in all (extern "C" device functions). Compiled with -rdc and linked (nvJitLink),
// they also compile in parallel.
std::vector<std::string> emit_sparse_linear_units(const CsrMatrix& w, const std::vector<float>& bias, bool relu,
                                                  const KernelConfig& config, int64_t unit_nnz, int64_t n = 0,
                                                  bool inline_ptx = false);

// NVRTC options for the source of emit_sparse_linear: with N compiled in (fixed_n), ptxas at -O1. At its
// default -O3 ptxas moved each load of X down to just before its first multiply-add (a median of 8
// instructions apart instead of the 32 columns ahead that the source writes, once the offsets were
// literals: it then schedules for fewer registers), and the kernels waited on every load (128 x 512 at
// 90%, N = 6272, 64 rows, on an H200: 9.6 us with N an argument, 42.3 with N compiled in). At -O1 it keeps
// the written order (a median of 256 instructions apart), with the same instructions and about as many
// registers as with N an argument (7.6 us).
std::vector<std::string> compile_options(const KernelConfig& config);

// NVRTC options for every unit of emit_sparse_linear_units: compile_options, and the register cap of the
// launch bound (-maxrregcount), which the kernel's unit gets from __launch_bounds__ and the others must
// share for nvJitLink to link their calls.
std::vector<std::string> unit_compile_options(const KernelConfig& config);

}  // namespace spdnn::codegen
